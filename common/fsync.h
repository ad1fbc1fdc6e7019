/* fsync.h: making files and directory entries durable.
 *
 * A new or renamed file survives a power loss only once both the file and
 * the directory that names it are fsync'ed. These helpers do that and log
 * one line (with what to do next) when the disk refuses. */
#ifndef KAHUNA_FSYNC_H
#define KAHUNA_FSYNC_H

/* fsyncs the file (or, with is_dir, the directory) at path.
 * Returns 0, or KAHUNA_EIO after logging why. */
int fsync_path(const char *path, int is_dir);

/* fsyncs the directory that holds path ("." for a bare name).
 * Returns 0, KAHUNA_EIO after logging, or KAHUNA_ENOMEM. */
int fsync_parent_dir(const char *path);

#endif
