/* fsync.c: fsync of a file or of the directory that names it (fsync.h). */
#include "fsync.h"
#include "errors.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int fsync_path(const char *path, int is_dir)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | (is_dir ? O_DIRECTORY : 0));
    int rc = 0;
    if (fd < 0 || fsync(fd) != 0) {
        log_error("storage", "cannot fsync %s: %s; check the disk holding the data dir", path,
                  strerror(errno));
        rc = KAHUNA_EIO;
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

int fsync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash)
        dir = strdup(".");
    else if (slash == path)
        dir = strdup("/");
    else
        dir = strndup(path, (size_t)(slash - path));
    if (!dir)
        return KAHUNA_ENOMEM;
    int rc = fsync_path(dir, 1);
    free(dir);
    return rc;
}
