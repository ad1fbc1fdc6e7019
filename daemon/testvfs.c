/* testvfs.c: the "lost unsynced writes" fault of the fault-injection tests:
 * a SQLite VFS that holds every write in memory until fsync, so that
 * kill -9 loses what a power loss would (testvfs.h says what it does).
 *
 * The overlay. One tv_node per file (canonical path), shared by every
 * handle the process has open on it. It holds:
 *  - size: the file's size as the process sees it (xFileSize);
 *  - blocks: the dirty blocks of TV_BLOCK bytes, sorted by index, each the
 *    full current content of its part of the file (a partial write first
 *    reads the rest of the block from beneath the overlay);
 *  - base: the length of the real file's content that still counts. Below
 *    base, a byte outside the dirty blocks is the real file's; from base
 *    on, it is zero. A truncation lowers base (the real file is cut only at
 *    the next sync), so a file cut and then extended reads zeros where the
 *    real file still has its old bytes;
 *  - real_size: how long the real file is, as the last write-out left it.
 * Invariants: base <= size; base <= real_size; no dirty block starts at
 * or past size; inside a dirty block, the bytes at or past size are zero.
 *
 * Write-out (at xSync, or when the last writable handle closes): cut the
 * real file to base if it is longer, write the dirty blocks (the last one
 * clipped to size), set the real file's length to size, forget the blocks;
 * then base = real_size = size. Only a sync then fsyncs (outside the node's
 * lock, so that other threads' writes to the overlay go on meanwhile; what
 * they write is not covered by that fsync, as with a real file). Writes go
 * through a writable handle: the caller's, else any writable handle of the
 * node. Read-only handles refuse xWrite and xTruncate, so a node has dirty
 * data only while one of its handles is writable -- the last one to close
 * writes it out.
 *
 * Locking: tv_mu guards the registry (the list of nodes, each node's refs
 * and unlinked flag); a node's mu guards its overlay and its list of
 * handles. Order: tv_mu, then a node's mu. Real-file I/O on a node's data
 * happens under its mu, except the fsync of a sync. */
#include "testvfs.h"
#include "errors.h"
#include "log.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define TV_BLOCK 4096
#define TV_ENV "KAHUNA_TEST_LOSE_UNSYNCED"

typedef struct tv_block {
    sqlite3_int64 idx;             /* offset idx * TV_BLOCK */
    unsigned char *data;           /* TV_BLOCK bytes, malloc'd */
} tv_block;

typedef struct tv_file tv_file;
typedef struct tv_node tv_node;

struct tv_node {
    tv_node *next;                 /* registry list (tv_mu) */
    char *path;                    /* canonical path: the registry key */
    int refs;                      /* open handles (tv_mu) */
    int unlinked;                  /* deleted while open; out of the registry (tv_mu) */
    pthread_mutex_t mu;            /* guards the rest */
    tv_file *files;                /* open handles */
    sqlite3_int64 size, base, real_size;
    int dirty;                     /* something to write out */
    tv_block *blocks;
    size_t nblocks, cap;
};

struct tv_file {
    sqlite3_file base;             /* pMethods = &tv_io; must come first */
    sqlite3_file *real;            /* the real VFS's file, right after this struct */
    tv_node *node;                 /* NULL: a temporary file, passed through */
    int writable;
    tv_file *next;                 /* in node->files (node->mu) */
};

/* where the real file starts inside our sqlite3_file allocation */
#define TV_REAL_OFFSET ((sizeof(tv_file) + 15) & ~(size_t)15)

static pthread_mutex_t tv_mu = PTHREAD_MUTEX_INITIALIZER;
static tv_node *tv_nodes;
static int tv_installed;
static sqlite3_vfs *tv_real;       /* "unix" */
static sqlite3_vfs tv_vfs;
static const sqlite3_io_methods tv_io;

/* ---- registry ---- */

/* The key of a file: realpath() of its directory + its last component
 * (the file itself may not exist yet). When the directory cannot be
 * resolved, the name as it is. NULL: out of memory. */
static char *tv_canonical(const char *name)
{
    const char *slash = strrchr(name, '/');
    const char *file = slash ? slash + 1 : name;
    char *dir = slash ? (slash == name ? strdup("/") : strndup(name, (size_t)(slash - name)))
                      : strdup(".");
    if (!dir)
        return NULL;
    char *real = realpath(dir, NULL);
    free(dir);
    if (!real)
        return strdup(name);
    size_t a = strlen(real), b = strlen(file);
    char *out = malloc(a + b + 2);
    if (out) {
        memcpy(out, real, a);
        if (a == 0 || real[a - 1] != '/')
            out[a++] = '/';
        memcpy(out + a, file, b + 1);
    }
    free(real);
    return out;
}

static tv_node *tv_registry_find(const char *path)
{
    for (tv_node *n = tv_nodes; n; n = n->next)
        if (strcmp(n->path, path) == 0)
            return n;
    return NULL;
}

static void tv_registry_remove(tv_node *n)
{
    for (tv_node **p = &tv_nodes; *p; p = &(*p)->next)
        if (*p == n) {
            *p = n->next;
            n->next = NULL;
            return;
        }
}

static void tv_blocks_drop(tv_node *n, size_t from)
{
    for (size_t i = from; i < n->nblocks; i++)
        free(n->blocks[i].data);
    n->nblocks = from;
}

static void tv_node_free(tv_node *n)
{
    tv_blocks_drop(n, 0);
    free(n->blocks);
    pthread_mutex_destroy(&n->mu);
    free(n->path);
    free(n);
}

/* A writable handle of n, or NULL. Under n->mu. */
static tv_file *tv_node_writable(tv_node *n)
{
    for (tv_file *f = n->files; f; f = f->next)
        if (f->writable)
            return f;
    return NULL;
}

/* ---- the overlay ---- */

/* Index of the first block with idx >= want; *found when it is want. */
static size_t tv_blk_search(const tv_node *n, sqlite3_int64 want, int *found)
{
    size_t lo = 0, hi = n->nblocks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (n->blocks[mid].idx < want)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < n->nblocks && n->blocks[lo].idx == want;
    return lo;
}

/* Reads [off, off + amt) of what lies beneath the overlay: the real file
 * below base, zeros from base on. */
static int tv_under_read(tv_node *n, sqlite3_file *real, unsigned char *buf, int amt, sqlite3_int64 off)
{
    int have = 0;
    if (off < n->base)
        have = n->base - off < amt ? (int)(n->base - off) : amt;
    if (have > 0) {
        int rc = real->pMethods->xRead(real, buf, have, off);
        /* SHORT_READ: the real file is shorter than base after all (it
         * zero-fills the rest, which is what a hole reads as) */
        if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ)
            return rc;
    }
    memset(buf + have, 0, (size_t)(amt - have));
    return SQLITE_OK;
}

/* The dirty block idx; made when absent, from what lies beneath the overlay
 * unless whole (the caller then overwrites all of it). NULL with *rc set on
 * failure. */
static unsigned char *tv_blk_get(tv_node *n, sqlite3_file *real, sqlite3_int64 idx, int whole, int *rc)
{
    int found = 0;
    size_t pos = tv_blk_search(n, idx, &found);
    if (found)
        return n->blocks[pos].data;
    if (n->nblocks == n->cap) {
        size_t cap = n->cap ? 2 * n->cap : 16;
        tv_block *b = realloc(n->blocks, cap * sizeof *b);
        if (!b) {
            *rc = SQLITE_IOERR_NOMEM;
            return NULL;
        }
        n->blocks = b;
        n->cap = cap;
    }
    unsigned char *d = malloc(TV_BLOCK);
    if (!d) {
        *rc = SQLITE_IOERR_NOMEM;
        return NULL;
    }
    if (!whole && (*rc = tv_under_read(n, real, d, TV_BLOCK, idx * TV_BLOCK)) != SQLITE_OK) {
        free(d);
        return NULL;
    }
    memmove(n->blocks + pos + 1, n->blocks + pos, (n->nblocks - pos) * sizeof *n->blocks);
    n->blocks[pos].idx = idx;
    n->blocks[pos].data = d;
    n->nblocks++;
    return d;
}

/* Writes the overlay out through w (a writable real file), without fsync
 * (see the top of the file). Under n->mu. On failure the overlay is kept
 * whole, so that reads stay right. */
static int tv_write_out(tv_node *n, sqlite3_file *w)
{
    if (!n->dirty)
        return SQLITE_OK;
    int rc;
    if (n->real_size > n->base) {
        if ((rc = w->pMethods->xTruncate(w, n->base)) != SQLITE_OK)
            return rc;
        n->real_size = n->base;
    }
    for (size_t i = 0; i < n->nblocks; i++) {
        sqlite3_int64 off = n->blocks[i].idx * TV_BLOCK;
        int len = n->size - off < TV_BLOCK ? (int)(n->size - off) : TV_BLOCK;
        if ((rc = w->pMethods->xWrite(w, n->blocks[i].data, len, off)) != SQLITE_OK)
            return rc;
        if (off + len > n->real_size)
            n->real_size = off + len;
    }
    if (n->real_size != n->size) {
        if ((rc = w->pMethods->xTruncate(w, n->size)) != SQLITE_OK)
            return rc;
        n->real_size = n->size;
    }
    tv_blocks_drop(n, 0);
    n->base = n->size;
    n->dirty = 0;
    return SQLITE_OK;
}

/* ---- sqlite3_io_methods ---- */

static int tv_close(sqlite3_file *pf)
{
    tv_file *f = (tv_file *)pf;
    tv_node *n = f->node;
    int rc = SQLITE_OK;
    if (n) {
        pthread_mutex_lock(&tv_mu);
        pthread_mutex_lock(&n->mu);
        for (tv_file **p = &n->files; *p; p = &(*p)->next)
            if (*p == f) {
                *p = f->next;
                break;
            }
        if (n->dirty && f->writable && !n->unlinked && !tv_node_writable(n))
            rc = tv_write_out(n, f->real);
        if (rc != SQLITE_OK)
            log_error("testvfs", "%s: writing out unsynced data at close failed (SQLite code %d); "
                      "it is lost: check the disk", n->path, rc);
        int last = --n->refs == 0;
        if (last && !n->unlinked)
            tv_registry_remove(n);
        pthread_mutex_unlock(&n->mu);
        pthread_mutex_unlock(&tv_mu);
        if (last)
            tv_node_free(n);
        f->node = NULL;
    }
    int rc2 = f->real->pMethods->xClose(f->real);
    return rc != SQLITE_OK ? rc : rc2;
}

static int tv_read(sqlite3_file *pf, void *buf, int amt, sqlite3_int64 off)
{
    tv_file *f = (tv_file *)pf;
    tv_node *n = f->node;
    if (!n)
        return f->real->pMethods->xRead(f->real, buf, amt, off);
    unsigned char *out = buf;
    int rc = SQLITE_OK;
    pthread_mutex_lock(&n->mu);
    int avail = off >= n->size ? 0 : n->size - off < amt ? (int)(n->size - off) : amt;
    int done = 0;
    while (done < avail && rc == SQLITE_OK) {
        sqlite3_int64 pos = off + done;
        sqlite3_int64 idx = pos / TV_BLOCK;
        int in = (int)(pos % TV_BLOCK);
        int found = 0;
        size_t at = tv_blk_search(n, idx, &found);
        int k;
        if (found) {
            k = TV_BLOCK - in < avail - done ? TV_BLOCK - in : avail - done;
            memcpy(out + done, n->blocks[at].data + in, (size_t)k);
        } else {
            /* a clean run: up to the next dirty block */
            sqlite3_int64 end = off + avail;
            if (at < n->nblocks && n->blocks[at].idx * TV_BLOCK < end)
                end = n->blocks[at].idx * TV_BLOCK;
            k = (int)(end - pos);
            rc = tv_under_read(n, f->real, out + done, k, pos);
        }
        done += k;
    }
    pthread_mutex_unlock(&n->mu);
    if (rc != SQLITE_OK)
        return rc;
    if (avail < amt) {
        memset(out + avail, 0, (size_t)(amt - avail));
        return SQLITE_IOERR_SHORT_READ;
    }
    return SQLITE_OK;
}

static int tv_write(sqlite3_file *pf, const void *buf, int amt, sqlite3_int64 off)
{
    tv_file *f = (tv_file *)pf;
    tv_node *n = f->node;
    if (!n)
        return f->real->pMethods->xWrite(f->real, buf, amt, off);
    if (!f->writable)
        return SQLITE_IOERR_WRITE;
    const unsigned char *in = buf;
    int rc = SQLITE_OK;
    pthread_mutex_lock(&n->mu);
    int done = 0;
    while (done < amt) {
        sqlite3_int64 pos = off + done;
        int at = (int)(pos % TV_BLOCK);
        int k = TV_BLOCK - at < amt - done ? TV_BLOCK - at : amt - done;
        unsigned char *d = tv_blk_get(n, f->real, pos / TV_BLOCK, at == 0 && k == TV_BLOCK, &rc);
        if (!d)
            break;
        memcpy(d + at, in + done, (size_t)k);
        done += k;
        if (pos + k > n->size)
            n->size = pos + k;
        n->dirty = 1;
    }
    pthread_mutex_unlock(&n->mu);
    return rc;
}

static int tv_truncate(sqlite3_file *pf, sqlite3_int64 size)
{
    tv_file *f = (tv_file *)pf;
    tv_node *n = f->node;
    if (!n)
        return f->real->pMethods->xTruncate(f->real, size);
    if (!f->writable || size < 0)
        return SQLITE_IOERR_TRUNCATE;
    pthread_mutex_lock(&n->mu);
    if (size < n->size) {
        int found = 0;
        /* blocks wholly at or past the new end go; the one it cuts keeps
         * zeros past it */
        tv_blocks_drop(n, tv_blk_search(n, (size + TV_BLOCK - 1) / TV_BLOCK, &found));
        size_t at = tv_blk_search(n, size / TV_BLOCK, &found);
        if (found && size % TV_BLOCK)
            memset(n->blocks[at].data + size % TV_BLOCK, 0, (size_t)(TV_BLOCK - size % TV_BLOCK));
        if (size < n->base)
            n->base = size;
    }
    if (size != n->size) {
        n->size = size;
        n->dirty = 1;
    }
    pthread_mutex_unlock(&n->mu);
    return SQLITE_OK;
}

static int tv_sync(sqlite3_file *pf, int flags)
{
    tv_file *f = (tv_file *)pf;
    tv_node *n = f->node;
    if (n) {
        int rc = SQLITE_OK;
        pthread_mutex_lock(&n->mu);
        if (n->dirty) {
            tv_file *w = f->writable ? f : tv_node_writable(n);
            /* none: only a file deleted while open keeps dirty data
             * without a writable handle; nobody will read it again */
            if (w)
                rc = tv_write_out(n, w->real);
        }
        pthread_mutex_unlock(&n->mu);
        if (rc != SQLITE_OK)
            return rc;
    }
    return f->real->pMethods->xSync(f->real, flags);
}

static int tv_file_size(sqlite3_file *pf, sqlite3_int64 *size)
{
    tv_file *f = (tv_file *)pf;
    tv_node *n = f->node;
    if (!n)
        return f->real->pMethods->xFileSize(f->real, size);
    pthread_mutex_lock(&n->mu);
    *size = n->size;
    pthread_mutex_unlock(&n->mu);
    return SQLITE_OK;
}

static int tv_lock(sqlite3_file *pf, int level)
{
    tv_file *f = (tv_file *)pf;
    return f->real->pMethods->xLock(f->real, level);
}

static int tv_unlock(sqlite3_file *pf, int level)
{
    tv_file *f = (tv_file *)pf;
    return f->real->pMethods->xUnlock(f->real, level);
}

static int tv_check_reserved(sqlite3_file *pf, int *out)
{
    tv_file *f = (tv_file *)pf;
    return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int tv_file_control(sqlite3_file *pf, int op, void *arg)
{
    tv_file *f = (tv_file *)pf;
    if (f->node) {
        switch (op) {
        case SQLITE_FCNTL_MMAP_SIZE:
            /* never map: reads of a mapping would bypass the overlay */
            *(sqlite3_int64 *)arg = 0;
            return SQLITE_OK;
        case SQLITE_FCNTL_SIZE_HINT:
        case SQLITE_FCNTL_CHUNK_SIZE:
            /* hints that would grow the real file behind the overlay */
            return SQLITE_OK;
        default:
            break;
        }
    }
    int rc = f->real->pMethods->xFileControl(f->real, op, arg);
    if (op == SQLITE_FCNTL_VFSNAME && rc == SQLITE_OK) {
        char **name = arg;
        char *z = sqlite3_mprintf("%s/%s", TESTVFS_NAME, *name ? *name : "");
        sqlite3_free(*name);
        *name = z;
        if (!z)
            return SQLITE_NOMEM;
    }
    return rc;
}

static int tv_sector_size(sqlite3_file *pf)
{
    tv_file *f = (tv_file *)pf;
    return f->real->pMethods->xSectorSize(f->real);
}

static int tv_device_characteristics(sqlite3_file *pf)
{
    tv_file *f = (tv_file *)pf;
    int c = f->real->pMethods->xDeviceCharacteristics(f->real);
    /* batch-atomic writes would go to the real file directly */
    return f->node ? c & ~SQLITE_IOCAP_BATCH_ATOMIC : c;
}

static int tv_shm_map(sqlite3_file *pf, int region, int size, int extend, void volatile **pp)
{
    tv_file *f = (tv_file *)pf;
    if (f->real->pMethods->iVersion < 2)
        return SQLITE_IOERR_SHMMAP;
    return f->real->pMethods->xShmMap(f->real, region, size, extend, pp);
}

static int tv_shm_lock(sqlite3_file *pf, int offset, int n, int flags)
{
    tv_file *f = (tv_file *)pf;
    if (f->real->pMethods->iVersion < 2)
        return SQLITE_IOERR_SHMLOCK;
    return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

static void tv_shm_barrier(sqlite3_file *pf)
{
    tv_file *f = (tv_file *)pf;
    if (f->real->pMethods->iVersion >= 2)
        f->real->pMethods->xShmBarrier(f->real);
}

static int tv_shm_unmap(sqlite3_file *pf, int delete_flag)
{
    tv_file *f = (tv_file *)pf;
    if (f->real->pMethods->iVersion < 2)
        return SQLITE_OK;
    return f->real->pMethods->xShmUnmap(f->real, delete_flag);
}

static int tv_fetch(sqlite3_file *pf, sqlite3_int64 off, int amt, void **pp)
{
    tv_file *f = (tv_file *)pf;
    *pp = NULL;                    /* no mapping: SQLite reads with xRead */
    if (f->node || f->real->pMethods->iVersion < 3)
        return SQLITE_OK;
    return f->real->pMethods->xFetch(f->real, off, amt, pp);
}

static int tv_unfetch(sqlite3_file *pf, sqlite3_int64 off, void *p)
{
    tv_file *f = (tv_file *)pf;
    if (f->node || f->real->pMethods->iVersion < 3)
        return SQLITE_OK;
    return f->real->pMethods->xUnfetch(f->real, off, p);
}

static const sqlite3_io_methods tv_io = {
    3,
    tv_close,
    tv_read,
    tv_write,
    tv_truncate,
    tv_sync,
    tv_file_size,
    tv_lock,
    tv_unlock,
    tv_check_reserved,
    tv_file_control,
    tv_sector_size,
    tv_device_characteristics,
    tv_shm_map,
    tv_shm_lock,
    tv_shm_barrier,
    tv_shm_unmap,
    tv_fetch,
    tv_unfetch,
};

/* ---- sqlite3_vfs ---- */

/* Joins f to the node of name (made when none is open). */
static int tv_attach(tv_file *f, const char *name)
{
    char *path = tv_canonical(name);
    if (!path)
        return SQLITE_NOMEM;
    int rc = SQLITE_OK;
    pthread_mutex_lock(&tv_mu);
    tv_node *n = tv_registry_find(path);
    if (n) {
        free(path);
    } else {
        sqlite3_int64 size = 0;
        if ((rc = f->real->pMethods->xFileSize(f->real, &size)) != SQLITE_OK) {
            pthread_mutex_unlock(&tv_mu);
            free(path);
            return rc;
        }
        n = calloc(1, sizeof *n);
        if (!n || pthread_mutex_init(&n->mu, NULL) != 0) {
            pthread_mutex_unlock(&tv_mu);
            free(n);
            free(path);
            return SQLITE_NOMEM;
        }
        n->path = path;
        n->size = n->base = n->real_size = size;
        n->next = tv_nodes;
        tv_nodes = n;
    }
    n->refs++;
    pthread_mutex_lock(&n->mu);
    f->next = n->files;
    n->files = f;
    pthread_mutex_unlock(&n->mu);
    f->node = n;
    pthread_mutex_unlock(&tv_mu);
    return SQLITE_OK;
}

static int tv_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *pf, int flags, int *out_flags)
{
    (void)vfs;
    tv_file *f = (tv_file *)pf;
    memset(f, 0, sizeof *f);
    f->real = (sqlite3_file *)((char *)pf + TV_REAL_OFFSET);
    int got = 0;
    int rc = tv_real->xOpen(tv_real, name, f->real, flags, &got);
    if (rc != SQLITE_OK) {
        if (f->real->pMethods)
            (void)f->real->pMethods->xClose(f->real);   /* already failing */
        return rc;                 /* our pMethods stays NULL */
    }
    f->writable = (got & SQLITE_OPEN_READWRITE) != 0;
    if (name && !(flags & SQLITE_OPEN_DELETEONCLOSE) && (rc = tv_attach(f, name)) != SQLITE_OK) {
        (void)f->real->pMethods->xClose(f->real);       /* already failing */
        return rc;
    }
    if (out_flags)
        *out_flags = got;
    f->base.pMethods = &tv_io;
    return SQLITE_OK;
}

static int tv_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    (void)vfs;
    char *path = tv_canonical(name);
    if (!path)
        return SQLITE_IOERR_NOMEM;
    pthread_mutex_lock(&tv_mu);
    int rc = tv_real->xDelete(tv_real, name, sync_dir);
    tv_node *n = tv_registry_find(path);
    if (n && (rc == SQLITE_OK || rc == SQLITE_IOERR_DELETE_NOENT)) {
        /* handles still open keep the old file's content (as an unlinked
         * inode would); a new open starts from the new file */
        tv_registry_remove(n);
        n->unlinked = 1;
    }
    pthread_mutex_unlock(&tv_mu);
    free(path);
    return rc;
}

static int tv_access(sqlite3_vfs *vfs, const char *name, int flags, int *res)
{
    (void)vfs;
    if (flags == SQLITE_ACCESS_EXISTS) {
        /* like the unix VFS: an empty file does not count; the size is
         * the overlay's */
        char *path = tv_canonical(name);
        if (!path)
            return SQLITE_IOERR_NOMEM;
        int open = 0;
        pthread_mutex_lock(&tv_mu);
        tv_node *n = tv_registry_find(path);
        if (n) {
            open = 1;
            pthread_mutex_lock(&n->mu);
            *res = n->size > 0;
            pthread_mutex_unlock(&n->mu);
        }
        pthread_mutex_unlock(&tv_mu);
        free(path);
        if (open)
            return SQLITE_OK;
    }
    return tv_real->xAccess(tv_real, name, flags, res);
}

static int tv_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void)vfs;
    return tv_real->xFullPathname(tv_real, name, n, out);
}

static void *tv_dl_open(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return tv_real->xDlOpen(tv_real, name);
}

static void tv_dl_error(sqlite3_vfs *vfs, int n, char *msg)
{
    (void)vfs;
    tv_real->xDlError(tv_real, n, msg);
}

static void (*tv_dl_sym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
    (void)vfs;
    return tv_real->xDlSym(tv_real, h, sym);
}

static void tv_dl_close(sqlite3_vfs *vfs, void *h)
{
    (void)vfs;
    tv_real->xDlClose(tv_real, h);
}

static int tv_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return tv_real->xRandomness(tv_real, n, out);
}

static int tv_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return tv_real->xSleep(tv_real, us);
}

static int tv_current_time(sqlite3_vfs *vfs, double *out)
{
    (void)vfs;
    return tv_real->xCurrentTime(tv_real, out);
}

static int tv_get_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return tv_real->xGetLastError ? tv_real->xGetLastError(tv_real, n, out) : 0;
}

static int tv_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    return tv_real->xCurrentTimeInt64(tv_real, out);
}

static int tv_set_system_call(sqlite3_vfs *vfs, const char *name, sqlite3_syscall_ptr p)
{
    (void)vfs;
    return tv_real->xSetSystemCall(tv_real, name, p);
}

static sqlite3_syscall_ptr tv_get_system_call(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return tv_real->xGetSystemCall(tv_real, name);
}

static const char *tv_next_system_call(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return tv_real->xNextSystemCall(tv_real, name);
}

int testvfs_install(void)
{
    int rc = 0;
    pthread_mutex_lock(&tv_mu);
    if (!tv_installed) {
        sqlite3_vfs *real = sqlite3_vfs_find("unix");
        if (!real || real->iVersion < 3) {
            rc = KAHUNA_EIO;
        } else {
            tv_real = real;
            memset(&tv_vfs, 0, sizeof tv_vfs);
            tv_vfs.iVersion = 3;
            tv_vfs.szOsFile = (int)TV_REAL_OFFSET + real->szOsFile;
            tv_vfs.mxPathname = real->mxPathname;
            tv_vfs.zName = TESTVFS_NAME;
            tv_vfs.xOpen = tv_open;
            tv_vfs.xDelete = tv_delete;
            tv_vfs.xAccess = tv_access;
            tv_vfs.xFullPathname = tv_full_pathname;
            tv_vfs.xDlOpen = tv_dl_open;
            tv_vfs.xDlError = tv_dl_error;
            tv_vfs.xDlSym = tv_dl_sym;
            tv_vfs.xDlClose = tv_dl_close;
            tv_vfs.xRandomness = tv_randomness;
            tv_vfs.xSleep = tv_sleep;
            tv_vfs.xCurrentTime = tv_current_time;
            tv_vfs.xGetLastError = tv_get_last_error;
            tv_vfs.xCurrentTimeInt64 = tv_current_time_int64;
            tv_vfs.xSetSystemCall = tv_set_system_call;
            tv_vfs.xGetSystemCall = tv_get_system_call;
            tv_vfs.xNextSystemCall = tv_next_system_call;
            if (sqlite3_vfs_register(&tv_vfs, 1) != SQLITE_OK)
                rc = KAHUNA_EIO;
            else
                tv_installed = 1;
        }
    }
    pthread_mutex_unlock(&tv_mu);
    return rc;
}

int testvfs_install_if_asked(void)
{
    const char *v = getenv(TV_ENV);
    if (!v || strcmp(v, "1") != 0)
        return 0;
    if (testvfs_install() != 0) {
        log_error("testvfs", "%s=1 but the test VFS cannot be installed (this SQLite has no "
                  "\"unix\" VFS of version 3); unset %s", TV_ENV, TV_ENV);
        return KAHUNA_EIO;
    }
    log_warn("testvfs", "TEST MODE (%s=1): SQLite writes stay in memory until fsync'ed, so a "
             "kill -9 loses them as a power loss would; never run a real node like this", TV_ENV);
    return 0;
}

uint64_t testvfs_unsynced_bytes(void)
{
    uint64_t total = 0;
    pthread_mutex_lock(&tv_mu);
    for (tv_node *n = tv_nodes; n; n = n->next) {
        pthread_mutex_lock(&n->mu);
        total += (uint64_t)n->nblocks * TV_BLOCK;
        pthread_mutex_unlock(&n->mu);
    }
    pthread_mutex_unlock(&tv_mu);
    return total;
}
