/* walk.c - the parallel directory walker: the caller and up to threads - 1
 * tasks on an exec pool share a LIFO queue of directories, list each with
 * getdents64 and stat entries with fstatat relative to the open directory. */
#include "hone/io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hone/exec.h"
#include "io/internal.h"

/* The kernel's record, which glibc 2.36 does not declare. */
struct dirent64_k {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* A directory on the path from the root to a queued directory. Children
 * share their parent's chain, so it is reference-counted. */
typedef struct anc {
    uint64_t dev, ino;
    struct anc *parent;
    atomic_int refs;
} anc;

typedef struct item {
    struct item *next;
    char *path; /* "" for the root */
    uint64_t dev, ino;
    anc *chain; /* includes this directory itself */
    int depth;  /* of the directory: 0 for the root */
} item;

typedef struct walker {
    const hone_io_walk_opts *o;
    int lazy; /* see hone__io_walk */
    const hone_allocator *a;
    int rootfd;
    uint64_t root_dev;
    char root_real[PATH_MAX]; /* only with follow_symlinks */
    size_t root_real_len;

    /* Workers never block on the queue: one whose queue is empty ends,
     * and pushing a directory starts a new worker task while fewer than
     * `limit` run. A blocked worker could otherwise hold a pool thread that
     * a helping wait elsewhere (a callback hashing on the same pool) needs,
     * and deadlock. */
    pthread_mutex_t mu;
    item *stack;
    unsigned running; /* workers in flight, the calling thread included */
    unsigned limit;   /* the thread count */
    hone_scope *scope; /* NULL: the calling thread walks alone */
    int stop;          /* a status != 0 stops every worker */
    hone_io_walk_stats stats;
} walker;

static int worker_task(void *arg, hone_task *task);

static void anc_release(const hone_allocator *a, anc *n) {
    while (n && atomic_fetch_sub(&n->refs, 1) == 1) {
        anc *p = n->parent;
        hone_free(a, n);
        n = p;
    }
}

static void item_free(const hone_allocator *a, item *it) {
    if (!it) return;
    anc_release(a, it->chain);
    hone_free(a, it->path);
    hone_free(a, it);
}

static void set_stop(walker *w, int status) {
    pthread_mutex_lock(&w->mu);
    if (!w->stop) w->stop = status;
    pthread_mutex_unlock(&w->mu);
}

static void report_error(walker *w, hone_io_walk_stats *st, const char *path, int status,
                         int sys_errno) {
    st->errors++;
    if (w->o->on_error) {
        w->o->on_error(w->o->ctx, path, status, sys_errno);
    } else {
        hone_log(HONE_LOG_WARN, "io", "%s: %s", *path ? path : ".",
                 sys_errno ? strerror(sys_errno) : hone_strerror(status));
    }
}

static int excluded(const hone_io_walk_opts *o, const char *path) {
    for (size_t i = 0; i < o->n_exclude; i++)
        if (hone_io_glob_match(o->exclude[i], path)) return 1;
    return 0;
}

static int included(const hone_io_walk_opts *o, const char *path) {
    if (!o->n_include) return 1;
    for (size_t i = 0; i < o->n_include; i++)
        if (hone_io_glob_match(o->include[i], path)) return 1;
    return 0;
}

static hone_io_type type_of(mode_t m) {
    if (S_ISREG(m)) return HONE_IO_FILE;
    if (S_ISDIR(m)) return HONE_IO_DIR;
    if (S_ISLNK(m)) return HONE_IO_SYMLINK;
    return HONE_IO_OTHER;
}

/* Resolves the link at `rel` and says whether its target is inside the
 * root. realpath() with a caller buffer does not allocate. */
static int link_inside(walker *w, const char *rel) {
    char abs[PATH_MAX], res[PATH_MAX];
    int n = snprintf(abs, sizeof abs, "%s/%s", w->root_real, rel);
    if (n < 0 || (size_t)n >= sizeof abs) return 0;
    if (!realpath(abs, res)) return 0;
    size_t rl = w->root_real_len;
    if (rl == 1) return 1; /* the root is "/" */
    return !strncmp(res, w->root_real, rl) && (res[rl] == '\0' || res[rl] == '/');
}

static int on_path(const anc *c, uint64_t dev, uint64_t ino) {
    for (; c; c = c->parent)
        if (c->dev == dev && c->ino == ino) return 1;
    return 0;
}

static int push_dir(walker *w, const item *parent, const char *path, size_t len,
                    const struct stat *sb) {
    item *it = hone_calloc(w->a, 1, sizeof *it);
    anc *n = hone_malloc(w->a, sizeof *n);
    char *p = hone_strndup(w->a, path, len);
    if (!it || !n || !p) {
        hone_free(w->a, it);
        hone_free(w->a, n);
        hone_free(w->a, p);
        return HONE_ENOMEM;
    }
    n->dev = (uint64_t)sb->st_dev;
    n->ino = (uint64_t)sb->st_ino;
    n->parent = parent->chain;
    atomic_init(&n->refs, 1);
    atomic_fetch_add(&parent->chain->refs, 1);
    it->path = p;
    it->dev = n->dev;
    it->ino = n->ino;
    it->chain = n;
    it->depth = parent->depth + 1;
    pthread_mutex_lock(&w->mu);
    it->next = w->stack;
    w->stack = it;
    int spawn = w->scope && w->running < w->limit;
    if (spawn) w->running++;
    pthread_mutex_unlock(&w->mu);
    /* Outside the lock: the pool may run the task at once on this thread.
     * A refused spawn is harmless, this thread's worker takes the item. */
    if (spawn && hone_scope_spawn(w->scope, worker_task, w) != HONE_OK) {
        pthread_mutex_lock(&w->mu);
        w->running--;
        pthread_mutex_unlock(&w->mu);
    }
    return HONE_OK;
}

/* Handles one name found in directory `it` (open as dfd). Returns a
 * negative status to stop the walk. */
static int visit(walker *w, hone_io_walk_stats *st, const item *it, int dfd, const char *name,
                 size_t nlen, unsigned d_type, hone_buf *pb) {
    const hone_io_walk_opts *o = w->o;
    size_t plen = strlen(it->path);
    hone_buf_clear(pb);
    if (hone_buf_reserve(pb, plen + 1 + nlen)) return HONE_ENOMEM;
    if (plen) {
        memcpy(pb->data, it->path, plen);
        pb->data[plen++] = '/';
    }
    memcpy(pb->data + plen, name, nlen + 1);
    pb->len = plen + nlen;
    const char *path = pb->data;

    if (w->lazy && d_type == DT_REG) {
        /* The caller stats the file itself (see hone__io_walk). */
        if ((o->n_exclude && excluded(o, path)) || !included(o, path)) {
            st->excluded++;
            return 0;
        }
        st->files++;
        hone_io_entry e = {.path = path, .name = path + plen, .type = HONE_IO_FILE,
                           .depth = it->depth + 1, .dirfd = dfd};
        int rc = o->on_entry(o->ctx, &e);
        return rc < 0 ? rc : 0;
    }

    struct stat sb;
    if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
        /* An entry removed since it was listed is not an error. */
        if (errno != ENOENT) report_error(w, st, path, hone_status_from_errno(errno), errno);
        return 0;
    }
    hone_io_type t = type_of(sb.st_mode);
    if (t == HONE_IO_SYMLINK && o->follow_symlinks) {
        struct stat tb;
        if (fstatat(dfd, name, &tb, 0) == 0) {
            if (link_inside(w, path)) {
                sb = tb;
                t = type_of(sb.st_mode);
            } else {
                st->outside++;
            }
        }
    }
    if (o->n_exclude && excluded(o, path)) {
        st->excluded++;
        return 0;
    }
    hone_io_entry e = {.path = path,
                       .name = path + plen,
                       .type = t,
                       .depth = it->depth + 1,
                       .dev = (uint64_t)sb.st_dev,
                       .ino = (uint64_t)sb.st_ino,
                       .size = (uint64_t)sb.st_size,
                       .mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec,
                       .ctime_ns = (int64_t)sb.st_ctim.tv_sec * 1000000000 + sb.st_ctim.tv_nsec,
                       .mode = (uint32_t)sb.st_mode,
                       .dirfd = dfd};
    if (t == HONE_IO_DIR) {
        st->dirs++;
        int descend = 1;
        if (o->one_file_system && (uint64_t)sb.st_dev != w->root_dev) {
            st->mounts++;
            descend = 0;
        } else if (on_path(it->chain, e.dev, e.ino)) {
            /* Only a followed link (or a bind mount) can lead back to a
             * directory on its own path; entering it would never end. */
            st->loops++;
            return 0;
        }
        if (o->report_dirs) {
            int rc = o->on_entry(o->ctx, &e);
            if (rc < 0) return rc;
            if (rc == HONE_IO_WALK_PRUNE) descend = 0;
        }
        return descend ? push_dir(w, it, path, pb->len, &sb) : 0;
    }
    if (!included(o, path)) {
        st->excluded++;
        return 0;
    }
    if (t == HONE_IO_FILE) {
        st->files++;
        st->bytes += e.size;
    } else if (t == HONE_IO_SYMLINK) {
        st->symlinks++;
    } else {
        st->other++;
    }
    int rc = o->on_entry(o->ctx, &e);
    return rc < 0 ? rc : 0;
}

static int process(walker *w, hone_io_walk_stats *st, const item *it, char *dbuf, size_t dcap,
                   hone_buf *pb) {
    const char *shown = it->path;
    int dfd;
    if (!*it->path) {
        dfd = dup(w->rootfd);
    } else {
        /* Opened by path from the root, then checked to be the directory
         * listed in its parent: a directory swapped for a link (or moved)
         * in between is refused rather than followed out of the root. */
        int fl = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (w->o->follow_symlinks ? 0 : O_NOFOLLOW);
        dfd = openat(w->rootfd, it->path, fl);
    }
    if (dfd < 0) {
        report_error(w, st, shown, hone_status_from_errno(errno), errno);
        return 0;
    }
    struct stat sb;
    if (fstat(dfd, &sb) != 0 || (uint64_t)sb.st_dev != it->dev || (uint64_t)sb.st_ino != it->ino) {
        close(dfd);
        report_error(w, st, shown, HONE_EIO, 0);
        return 0;
    }
    int rc = 0;
    for (;;) {
        long n = syscall(SYS_getdents64, dfd, dbuf, dcap);
        if (n < 0) {
            report_error(w, st, shown, hone_status_from_errno(errno), errno);
            break;
        }
        if (n == 0) break;
        for (long off = 0; off < n && rc == 0;) {
            struct dirent64_k *d = (struct dirent64_k *)(dbuf + off);
            off += d->d_reclen;
            const char *nm = d->d_name;
            if (nm[0] == '.' && (nm[1] == '\0' || (nm[1] == '.' && nm[2] == '\0'))) continue;
            /* d_reclen pads the name with NULs: strlen is still needed. */
            rc = visit(w, st, it, dfd, nm, strlen(nm), d->d_type, pb);
        }
        if (rc) break;
        pthread_mutex_lock(&w->mu);
        int stop = w->stop;
        pthread_mutex_unlock(&w->mu);
        if (stop) break;
    }
    close(dfd);
    return rc;
}

/* Takes directories off the queue until it is empty (or the walk stops),
 * then ends; the caller counted this worker in w->running. */
static void worker(walker *w) {
    hone_io_walk_stats st = {0};
    hone_buf pb;
    hone_buf_init(&pb, w->a);
    size_t dcap = 32768;
    /* The dirent buffer is aligned for struct dirent64_k. */
    char *dbuf = hone_malloc(w->a, dcap);
    if (!dbuf) set_stop(w, HONE_ENOMEM);
    for (;;) {
        pthread_mutex_lock(&w->mu);
        if (w->stop || !w->stack) {
            w->running--;
            pthread_mutex_unlock(&w->mu);
            break;
        }
        item *it = w->stack;
        w->stack = it->next;
        pthread_mutex_unlock(&w->mu);

        int rc = process(w, &st, it, dbuf, dcap, &pb);
        item_free(w->a, it);
        if (rc) set_stop(w, rc);
    }
    hone_free(w->a, dbuf);
    hone_buf_free(&pb);
    pthread_mutex_lock(&w->mu);
    hone_io_walk_stats *t = &w->stats;
    t->files += st.files, t->dirs += st.dirs, t->symlinks += st.symlinks, t->other += st.other;
    t->bytes += st.bytes, t->errors += st.errors, t->excluded += st.excluded;
    t->loops += st.loops, t->outside += st.outside, t->mounts += st.mounts;
    pthread_mutex_unlock(&w->mu);
}

static int worker_task(void *arg, hone_task *task) {
    (void)task;
    worker(arg);
    return HONE_OK;
}

unsigned hone__io_default_threads(unsigned requested) {
    if (requested) return requested > 64 ? 64 : requested;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 2) n = 2;
    if (n > 8) n = 8;
    return (unsigned)n;
}

int hone__io_open_root(const char *root, int *fd, hone_error *err) {
    if (!root || !*root) return hone_error_set(err, HONE_EINVAL, "empty root path: expected a directory");
    *fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*fd >= 0) return HONE_OK;
    int e = errno;
    if (e == ENOTDIR)
        return hone_error_set(err, HONE_EINVAL, "%s: not a directory: expected a directory", root);
    return hone_error_set(err, hone_status_from_errno(e), "%s: cannot open directory: %s", root,
                          strerror(e));
}

int hone_io_walk(const char *root, const hone_io_walk_opts *opts, hone_io_walk_stats *stats,
                 hone_error *err) {
    return hone__io_walk(root, opts, 0, stats, err);
}

int hone__io_walk(const char *root, const hone_io_walk_opts *opts, int lazy_files,
                  hone_io_walk_stats *stats, hone_error *err) {
    if (stats) memset(stats, 0, sizeof *stats);
    if (!opts || !opts->on_entry)
        return hone_error_set(err, HONE_EINVAL, "hone_io_walk: on_entry callback is required");
    walker *w = hone_calloc(opts->alloc, 1, sizeof *w);
    if (!w) return hone_error_set(err, HONE_ENOMEM, "out of memory");
    w->o = opts;
    w->lazy = lazy_files;
    w->a = opts->alloc;
    int rc = hone__io_open_root(root, &w->rootfd, err);
    if (rc) {
        hone_free(opts->alloc, w);
        return rc;
    }
    struct stat sb;
    if (fstat(w->rootfd, &sb) != 0) {
        rc = hone_error_set(err, hone_status_from_errno(errno), "%s: cannot stat: %s", root,
                            strerror(errno));
        goto out_fd;
    }
    w->root_dev = (uint64_t)sb.st_dev;
    if (opts->follow_symlinks) {
        if (!realpath(root, w->root_real)) {
            rc = hone_error_set(err, hone_status_from_errno(errno), "%s: cannot resolve: %s", root,
                                strerror(errno));
            goto out_fd;
        }
        w->root_real_len = strlen(w->root_real);
    }
    item *first = hone_calloc(w->a, 1, sizeof *first);
    anc *chain = hone_malloc(w->a, sizeof *chain);
    char *empty = hone_strdup(w->a, "");
    if (!first || !chain || !empty) {
        hone_free(w->a, first);
        hone_free(w->a, chain);
        hone_free(w->a, empty);
        rc = hone_error_set(err, HONE_ENOMEM, "out of memory");
        goto out_fd;
    }
    chain->dev = w->root_dev;
    chain->ino = (uint64_t)sb.st_ino;
    chain->parent = NULL;
    atomic_init(&chain->refs, 1);
    first->path = empty;
    first->dev = chain->dev;
    first->ino = chain->ino;
    first->chain = chain;
    w->stack = first;

    pthread_mutex_init(&w->mu, NULL);
    w->limit = hone__io_default_threads(opts->threads);
    /* The calling thread is one of the workers; without a pool or a scope
     * it walks alone, which is only slower. */
    if (w->limit > 1) {
        hone_pool *pool = opts->pool ? opts->pool : hone_pool_default();
        if (pool && hone_scope_new(&w->scope, pool) != HONE_OK) w->scope = NULL;
    }
    w->running = 1;
    worker(w);
    /* Every worker task has ended once this returns (from a pool worker it
     * helps run tasks meanwhile); the tasks always return HONE_OK. */
    hone_scope_free(w->scope);
    while (w->stack) {
        item *it = w->stack;
        w->stack = it->next;
        item_free(w->a, it);
    }
    rc = w->stop;
    if (rc == HONE_ENOMEM) hone_error_set(err, rc, "out of memory");
    else if (rc) hone_error_set(err, rc, "walk stopped by the callback: %s", hone_strerror(rc));
    if (stats) *stats = w->stats;
    pthread_mutex_destroy(&w->mu);
out_fd:
    close(w->rootfd);
    hone_free(opts->alloc, w);
    return rc;
}
