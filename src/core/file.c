/* file.c - replace a file atomically: readers, and a crash, see either the
 * old content or the complete new content, never a mix. */
#include "hone/core.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int io_error(hone_error *err, const char *what, const char *path, int e) {
    return hone_error_set(err, hone_status_from_errno(e), "%s %s: %s", what, path, strerror(e));
}

int hone_file_write_atomic(const char *path, const void *data, size_t len, hone_error *err) {
    if (!path || !*path || (!data && len)) return hone_error_set(err, HONE_EINVAL, "no file path given");
    size_t plen = strlen(path);
    char *tmp = hone_malloc(NULL, plen + 16);
    char *dircopy = hone_strdup(NULL, path);
    if (!tmp || !dircopy) {
        hone_free(NULL, tmp);
        hone_free(NULL, dircopy);
        return hone_error_set(err, HONE_ENOMEM, "out of memory writing %s", path);
    }
    /* The temporary file sits next to the target so that rename() stays
     * within one file system and is atomic; mkstemp gives each writer its
     * own, so concurrent writers of one path cannot mix their bytes. */
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    int rc = HONE_OK;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        rc = io_error(err, "cannot create a temporary file beside", path, errno);
        goto out;
    }
    /* The replacement keeps the mode of the file it replaces; a new file
     * gets 0644, as a plain open(2) under the usual umask would. */
    struct stat st;
    mode_t mode = stat(path, &st) == 0 ? (st.st_mode & 07777) : 0644;
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            rc = io_error(err, "cannot write", tmp, w < 0 ? errno : EIO);
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    if (!rc && fchmod(fd, mode)) rc = io_error(err, "cannot set the mode of", tmp, errno);
    if (!rc && fsync(fd)) rc = io_error(err, "cannot fsync", tmp, errno);
    if (close(fd) && !rc) rc = io_error(err, "cannot close", tmp, errno);
    if (!rc && rename(tmp, path)) rc = io_error(err, "cannot rename onto", path, errno);
    if (rc) {
        unlink(tmp);
        goto out;
    }
    /* The rename is durable only once the directory entry is on disk. */
    int dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) && errno != EINVAL) rc = io_error(err, "cannot fsync the directory of", path, errno);
        close(dfd);
    }
out:
    hone_free(NULL, tmp);
    hone_free(NULL, dircopy);
    return rc;
}
