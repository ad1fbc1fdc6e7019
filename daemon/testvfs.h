/* testvfs.h: a SQLite VFS for tests that keeps every write in memory until
 * the file is fsync'ed, so that kill -9 of the process loses exactly what
 * a power loss would: whatever was written but not yet synced.
 *
 * kahunad installs it, as the default VFS, only when the environment has
 * KAHUNA_TEST_LOSE_UNSYNCED=1 (the fault-injection tests of issue 5). It
 * wraps the real "unix" VFS:
 *  - xWrite and xTruncate of a named file go to an in-memory overlay of
 *    dirty blocks, one overlay per file (keyed by its canonical path) that
 *    every connection of the process shares; xRead and xFileSize see the
 *    overlay first, so the process itself sees its writes at once.
 *  - xSync writes the overlay out to the real file, then fsyncs it. A file
 *    the process has not synced is, on disk, as it was at the last sync.
 *  - Creating and deleting files, and the directory entries, take effect
 *    at once (as if the directory were fsync'ed every time).
 *  - Locks and the WAL-index (-shm, xShm*) are the real VFS's, untouched;
 *    memory mapping is off (xFetch maps nothing, so reads go through xRead).
 *  - Temporary files (no name, or delete-on-close) pass straight through.
 *  - When the last writable handle of a file closes with unsynced data, the
 *    data is written to the real file without fsync: the OS may write back
 *    what a closed file left in its cache, and code that reads a file with
 *    plain read(2) after SQLite closed it (snapshot files) must see it.
 * It assumes that no other process writes the same files meanwhile (the
 * data dir lock of kahunad guarantees that). */
#ifndef KAHUNA_TESTVFS_H
#define KAHUNA_TESTVFS_H

#include <stdint.h>

/* The name the shim is registered under. */
#define TESTVFS_NAME "kahuna-lose-unsynced"

/* When KAHUNA_TEST_LOSE_UNSYNCED is "1", installs the shim (testvfs_install)
 * and logs a warning that this is a test mode; otherwise does nothing.
 * Call once, before any database is opened. Returns 0, or KAHUNA_EIO after
 * logging why the shim could not be installed. */
int testvfs_install_if_asked(void);

/* Registers the shim as SQLite's default VFS, on top of "unix". Safe to
 * call more than once (later calls do nothing). Returns 0 or KAHUNA_EIO. */
int testvfs_install(void);

/* Bytes held in the overlays of all open files and not yet synced (whole
 * blocks), for tests that check that the shim holds something back. */
uint64_t testvfs_unsynced_bytes(void);

#endif
