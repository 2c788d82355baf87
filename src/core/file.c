/* file.c - replace a file atomically: readers, and a crash, see either the
 * old content or the complete new content, never a mix. */
#include "hone/core.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static int io_error(hone_error *err, const char *what, const char *path, int e) {
    return hone_error_set(err, hone_status_from_errno(e), "%s %s: %s", what, path, strerror(e));
}

/* The file a path names once its symlinks are followed, into out (PATH_MAX
 * bytes): a symlink is written through, not replaced by a regular file, as
 * `cmd > link` does. A dangling link names the file it would create. More
 * than 40 links (the kernel's own limit) is ELOOP. */
static int resolve(const char *path, char *out) {
    char cur[PATH_MAX], link[PATH_MAX];
    if (snprintf(cur, sizeof cur, "%s", path) >= (int)sizeof cur) return ENAMETOOLONG;
    for (int hops = 0;; hops++) {
        struct stat st;
        if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode)) break;
        if (hops == 40) return ELOOP;
        ssize_t n = readlink(cur, link, sizeof link - 1);
        if (n < 0) return errno;
        link[n] = '\0';
        if (link[0] == '/') {
            memcpy(cur, link, (size_t)n + 1);
        } else {
            /* Relative to the directory that holds the link. */
            char *slash = strrchr(cur, '/');
            size_t keep = slash ? (size_t)(slash - cur) + 1 : 0;
            if (keep + (size_t)n >= sizeof cur) return ENAMETOOLONG;
            memcpy(cur + keep, link, (size_t)n + 1);
        }
    }
    memcpy(out, cur, strlen(cur) + 1);
    return 0;
}

/* Writes len bytes to an open fd, resuming after signals and short writes. */
static int write_all(int fd, const void *data, size_t len) {
    const char *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return w < 0 ? errno : EIO;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* A temporary file of ours is "<name>.tmp.<pid>.<random>". One whose
 * writer is gone (killed mid-write: its rename never happened) is removed
 * the next time the same file is written; one whose pid is alive, or that
 * was written on another host with the same pid, is left alone. */
static void remove_stale(const char *target) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", target);
    char *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : target;
    if (slash) *(slash == dir ? slash + 1 : slash) = '\0';
    else snprintf(dir, sizeof dir, ".");
    char prefix[NAME_MAX + 8];
    int pl = snprintf(prefix, sizeof prefix, "%s.tmp.", base);
    if (pl <= 0 || pl >= (int)sizeof prefix) return;
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, prefix, (size_t)pl) != 0) continue;
        char *end;
        long pid = strtol(e->d_name + pl, &end, 10);
        if (pid <= 0 || *end != '.' || strlen(end + 1) != 8) continue;
        if (pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

int hone_file_write_atomic(const char *path, const void *data, size_t len, hone_error *err) {
    if (!path || !*path || (!data && len)) return hone_error_set(err, HONE_EINVAL, "no file path given");
    char target[PATH_MAX];
    int e = resolve(path, target);
    if (e) return io_error(err, "cannot follow", path, e);
    struct stat st;
    int exists = stat(target, &st) == 0;
    if (exists && !S_ISREG(st.st_mode)) {
        /* A pipe or a terminal (/dev/stdout, a FIFO) takes the bytes as
         * they come: there is nothing to replace, and replacing the device
         * node itself (as root could) would be the bug. */
        if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
            int fd = open(target, O_WRONLY | O_CLOEXEC | O_NOCTTY);
            if (fd < 0) return io_error(err, "cannot open", path, errno);
            e = write_all(fd, data, len);
            if (close(fd) && !e) e = errno;
            return e ? io_error(err, "cannot write", path, e) : HONE_OK;
        }
        return hone_error_set(err, S_ISDIR(st.st_mode) ? HONE_EEXIST : HONE_EINVAL,
                              "%s is %s: expected a regular file, a pipe or a terminal", path,
                              S_ISDIR(st.st_mode) ? "a directory" : "not a regular file");
    }
    remove_stale(target);
    /* The temporary file sits next to the target so that rename() stays
     * within one file system and is atomic; each writer has its own name,
     * so concurrent writers of one path cannot mix their bytes. A new file
     * is created 0666 less the umask, as a shell's `>` creates it; a
     * replacement keeps the mode of the file it replaces. */
    char tmp[PATH_MAX];
    int fd = -1;
    for (int tries = 0; fd < 0 && tries < 100; tries++) {
        uint32_t r = 0;
        if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
            r = (uint32_t)(hone_monotonic_ns() ^ ((uint64_t)tries << 20));
        if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%08x", target, (long)getpid(), r) >= (int)sizeof tmp)
            return io_error(err, "cannot create a temporary file beside", path, ENAMETOOLONG);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, exists ? 0600 : 0666);
        if (fd < 0 && errno != EEXIST)
            return io_error(err, "cannot create a temporary file beside", path, errno);
    }
    if (fd < 0) return io_error(err, "cannot create a temporary file beside", path, EEXIST);
    int rc = HONE_OK;
    e = write_all(fd, data, len);
    if (e) rc = io_error(err, "cannot write", tmp, e);
    if (!rc && exists && fchmod(fd, st.st_mode & 07777))
        rc = io_error(err, "cannot set the mode of", tmp, errno);
    if (!rc && fsync(fd)) rc = io_error(err, "cannot fsync", tmp, errno);
    if (close(fd) && !rc) rc = io_error(err, "cannot close", tmp, errno);
    if (!rc && rename(tmp, target)) rc = io_error(err, "cannot rename onto", path, errno);
    if (rc) {
        unlink(tmp);
        return rc;
    }
    /* The rename is durable only once the directory entry is on disk. */
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", target);
    char *slash = strrchr(dir, '/');
    if (slash) *(slash == dir ? slash + 1 : slash) = '\0';
    else snprintf(dir, sizeof dir, ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) && errno != EINVAL) rc = io_error(err, "cannot fsync the directory of", path, errno);
        close(dfd);
    }
    return rc;
}

int hone_mkdir_p(const char *path) {
    char p[PATH_MAX];
    struct stat sb;
    if (!path || !*path) {
        errno = ENOENT;
        return hone_status_from_errno(errno);
    }
    if (snprintf(p, sizeof p, "%s", path) >= (int)sizeof p) {
        errno = ENAMETOOLONG;
        return hone_status_from_errno(errno);
    }
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        int r = mkdir(p, 0755);
        *s = '/';
        if (r && errno != EEXIST) return hone_status_from_errno(errno);
    }
    if (mkdir(p, 0755) && errno != EEXIST) return hone_status_from_errno(errno);
    /* EEXIST is not enough: a file of that name is no directory. */
    if (stat(p, &sb) != 0) return hone_status_from_errno(errno);
    if (!S_ISDIR(sb.st_mode)) {
        errno = ENOTDIR;
        return hone_status_from_errno(errno);
    }
    return HONE_OK;
}
