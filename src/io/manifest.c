/* manifest.c - building manifests of a tree (walk, index lookups, parallel
 * hashing, index update), writing them as sha256sum/b3sum lines or JSON,
 * parsing them back, and comparing a tree or another manifest with one. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hone/hash.h"
#include "hone/mem.h"
#include "io/internal.h"

struct hone_io_manifest {
    const hone_allocator *a;
    hone_hash_algo algo;
    size_t dlen;
    size_t n;
    hone_io_manifest_entry *e; /* sorted by path */
    /* A built manifest's paths live in these arenas (one per walk thread);
     * a parsed one's are each their own allocation (narenas 0). */
    hone_arena **arenas;
    size_t narenas;
};

static int64_t ts_ns(const struct timespec *t) { return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec; }

static int new_manifest(hone_io_manifest **out, const hone_allocator *a, hone_hash_algo algo,
                        size_t cap) {
    hone_io_manifest *m = hone_calloc(a, 1, sizeof *m);
    if (!m) return HONE_ENOMEM;
    m->a = a;
    m->algo = algo;
    m->dlen = hone_hash_digest_len(algo);
    if (cap && !(m->e = hone_calloc(a, cap, sizeof *m->e))) {
        hone_free(a, m);
        return HONE_ENOMEM;
    }
    *out = m;
    return HONE_OK;
}

void hone_io_manifest_free(hone_io_manifest *m) {
    if (!m) return;
    if (m->arenas) {
        for (size_t i = 0; i < m->narenas; i++) hone_arena_free(m->arenas[i]);
        hone_free(m->a, m->arenas);
    } else {
        for (size_t i = 0; i < m->n; i++) hone_free(m->a, (void *)m->e[i].path);
    }
    hone_free(m->a, m->e);
    hone_free(m->a, m);
}

size_t hone_io_manifest_count(const hone_io_manifest *m) { return m ? m->n : 0; }
const hone_io_manifest_entry *hone_io_manifest_entry_at(const hone_io_manifest *m, size_t i) {
    return m && i < m->n ? &m->e[i] : NULL;
}
const char *hone_io_manifest_algo(const hone_io_manifest *m) {
    return m ? hone_hash_name(m->algo) : NULL;
}
size_t hone_io_manifest_digest_len(const hone_io_manifest *m) { return m ? m->dlen : 0; }

const hone_io_manifest_entry *hone_io_manifest_find(const hone_io_manifest *m, const char *path) {
    if (!m || !path) return NULL;
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->e[mid].path, path);
        if (c == 0) return &m->e[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const char *hone_io_change_name(hone_io_change c) {
    switch (c) {
    case HONE_IO_SAME: return "same";
    case HONE_IO_MODIFIED: return "modified";
    case HONE_IO_MISSING: return "missing";
    case HONE_IO_EXTRA: return "extra";
    case HONE_IO_UNREADABLE: return "unreadable";
    case HONE_IO_MOVED: return "moved";
    }
    return "unknown";
}

int hone_io_default_index_dir(char **out, const hone_allocator *alloc, hone_error *err) {
    /* The index lives with hone's other caches. */
    return hone_cache_dir(out, alloc, err);
}

/* ------------------------------------------------------------------ */
/* Build                                                               */
/* ------------------------------------------------------------------ */

enum { F_CACHED = 1, F_HASHED, F_UNREADABLE };

/* A file met by the walk. Its path lives in its thread's arena. */
typedef struct fitem {
    const char *path;
    size_t plen;
    hone_file_id st;
    int state;
    int status, sys_errno; /* for F_UNREADABLE */
    uint8_t digest[HONE_HASH_MAX_DIGEST];
} fitem;

typedef struct bad_path {
    char *path;
    int status, sys_errno;
} bad_path;

/* What each walk thread keeps: its hasher, its index reader (one read
 * transaction for the whole run), its own list of files and an arena for
 * their paths (so the walk takes no lock and makes no allocation per
 * file), counters, a key buffer that starts with the root's real path, and
 * a read buffer for small files. Made on a thread's first file and freed
 * by the building thread once the walk is over. */
typedef struct tstate {
    struct tstate *next;
    hone_hash *h;
    hone__filecache_reader *rd; /* NULL without a usable index */
    hone_arena *paths;
    fitem *items;
    size_t n, cap;
    uint64_t hashed, hashed_bytes, racy;
    int no_noatime; /* O_NOATIME was refused once: not tried again */
    hone_buf key;
    size_t key0; /* length of "<root_real>/" at the start of key */
    unsigned char buf[65536];
} tstate;

/* A sort key: the first 16 bytes of the path, big-endian and zero-padded,
 * so most comparisons are two integer compares instead of a strcmp. */
typedef struct skey {
    uint64_t k0, k1;
    fitem *f;
} skey;

/* A file left out of the manifest, known by its last path component (a
 * cheap first test) and its device and inode. */
typedef struct skip_file {
    char *name;
    uint64_t dev, ino;
} skip_file;

typedef struct builder {
    const hone_io_manifest_opts *o;
    const hone_allocator *a;
    hone_hash_algo algo;
    size_t dlen;
    int rootfd;
    const char *root_real;
    hone_filecache *ix; /* the index */
    int64_t stamp;      /* the run's, for the racy rule */
    pthread_key_t tkey;

    pthread_mutex_t mu; /* guards threads and bad */
    tstate *threads;
    bad_path *bad; /* directories the walk could not read */
    size_t nbad, capbad;
    int oom;
    atomic_int corrupt;

    /* Files never listed: the index's own (index, lock, moved-aside copy),
     * even when the index lies inside the tree, and opts->exclude_files. */
    struct skip_file *skips;
    size_t nskips;

    fitem **order; /* every thread's items, sorted by path, after the walk */
    size_t n;

    /* Only kept up to date when there is a progress callback: shared
     * counters bounce a cache line between the walk's threads. */
    atomic_uint_fast64_t seen_files, seen_bytes, done_files, done_bytes;
    uint64_t t0;
    pthread_mutex_t progress_mu;
    atomic_uint_fast64_t last_progress;
} builder;

static int64_t default_clock(void *ctx) {
    (void)ctx;
    struct timespec t;
    clock_gettime(CLOCK_REALTIME_COARSE, &t);
    return ts_ns(&t);
}

static void maybe_progress(builder *b, int force) {
    const hone_io_manifest_opts *o = b->o;
    if (!o->progress) return;
    uint64_t now = hone_monotonic_ns();
    if (force) {
        pthread_mutex_lock(&b->progress_mu);
    } else {
        if (now - atomic_load(&b->last_progress) < 100000000u) return;
        if (pthread_mutex_trylock(&b->progress_mu) != 0) return;
        if (now - atomic_load(&b->last_progress) < 100000000u) {
            pthread_mutex_unlock(&b->progress_mu);
            return;
        }
    }
    atomic_store(&b->last_progress, now);
    hone_io_progress p = {atomic_load(&b->done_files), atomic_load(&b->seen_files),
                          atomic_load(&b->done_bytes), atomic_load(&b->seen_bytes), now - b->t0};
    o->progress(o->progress_ctx, &p);
    pthread_mutex_unlock(&b->progress_mu);
}

static void unreadable(fitem *f, int status, int sys_errno) {
    f->state = F_UNREADABLE, f->status = status, f->sys_errno = sys_errno;
}

/* Hashes the open file fd into f. With `known` set, f holds the walk's
 * stat of the file and it must still be that regular file (device and
 * inode), so a path changed in between (say, a directory swapped for a
 * link) cannot lead outside the root; without it (a file the walk did not
 * stat) it must be a regular file. Either way f->st becomes the stat of
 * what is read. Closes fd. */
static void hash_fd(builder *b, tstate *t, int fd, fitem *f, int known) {
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        unreadable(f, hone_status_from_errno(errno), errno);
        close(fd);
        return;
    }
    if (!S_ISREG(sb.st_mode) ||
        (known && ((uint64_t)sb.st_dev != f->st.dev || (uint64_t)sb.st_ino != f->st.ino))) {
        unreadable(f, HONE_EIO, 0);
        close(fd);
        return;
    }
    hone_file_id_from_stat(&f->st, &sb);
    if (!known && b->o->progress) atomic_fetch_add(&b->seen_bytes, f->st.size);
    uint64_t nb = 0;
    int rc = hone_hash_reset(t->h), e = 0;
    if (!rc && (size_t)sb.st_size < sizeof t->buf) {
        /* Small files, the common case in a tree, are read here in one
         * read(): hone_hash_update_fd() would also seek, advise the kernel
         * and read again to see the end, which for a 4 KiB file costs more
         * than the hashing. A short read that has reached the size stat
         * gave means the end; a file that reports size 0 (procfs, sysfs,
         * FUSE with direct_io) is read until read() returns 0, since such
         * files hand out their content a page or a record at a time. */
        for (;;) {
            ssize_t n = read(fd, t->buf, sizeof t->buf);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                e = errno;
                rc = hone_status_from_errno(e);
                break;
            }
            if (n > 0 && (rc = hone_hash_update(t->h, t->buf, (size_t)n))) break;
            nb += (uint64_t)n;
            if (n == 0 || ((size_t)n < sizeof t->buf && sb.st_size > 0 && nb >= (uint64_t)sb.st_size))
                break;
        }
    } else if (!rc) {
        rc = hone_hash_update_fd(t->h, fd, NULL, &nb);
        e = errno;
    }
    if (!rc) rc = hone_hash_final(t->h, f->digest, b->dlen);
    close(fd);
    if (rc) {
        unreadable(f, rc, rc == HONE_ENOMEM ? 0 : e);
        return;
    }
    f->state = F_HASHED;
    t->hashed++;
    t->hashed_bytes += nb;
    if (b->o->progress) atomic_fetch_add(&b->done_bytes, nb);
}

static int open_flags(const builder *b) {
    return O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (b->o->follow_symlinks ? 0 : O_NOFOLLOW);
}

/* Opens a file to hash with `flags`. O_NOATIME spares the kernel an inode update per
 * file read (relatime still writes atime once a day, or when it is older
 * than mtime); it is refused (EPERM) on files of other owners without
 * CAP_FOWNER, and then this thread stops asking for it. */
static int open_file(const builder *b, tstate *t, int dirfd, const char *name, int flags) {
#ifdef O_NOATIME
    if (!t->no_noatime) {
        int fd = openat(dirfd, name, flags | O_NOATIME);
        if (fd >= 0 || errno != EPERM) return fd;
        t->no_noatime = 1;
    }
#else
    (void)t;
#endif
    (void)b;
    return openat(dirfd, name, flags);
}

static void tstate_free(const hone_allocator *a, tstate *t) {
    hone__filecache_reader_end(t->rd);
    hone_hash_free(t->h);
    hone_arena_free(t->paths);
    hone_free(a, t->items);
    hone_buf_free(&t->key);
    hone_free(a, t);
}

static tstate *thread_state(builder *b) {
    tstate *t = pthread_getspecific(b->tkey);
    if (t) return t;
    t = hone_calloc(b->a, 1, sizeof *t);
    if (!t) return NULL;
    hone_buf_init(&t->key, b->a);
    hone_hash_opts ho = {.alloc = b->a};
    hone_arena_opts ao = {.alloc = b->a};
    int rc = hone_hash_new(&t->h, b->algo, &ho);
    if (!rc) rc = hone_arena_new(&t->paths, &ao);
    if (!rc) rc = hone_buf_puts(&t->key, b->root_real);
    /* "/" + "a" is "//a", not a key any other root makes for "/a". */
    if (!rc && strcmp(b->root_real, "/") != 0) rc = hone_buf_puts(&t->key, "/");
    t->key0 = t->key.len;
    /* A reader that cannot start (other than for memory) only costs this
     * thread its cache hits. */
    if (!rc && b->ix && hone__filecache_reader_begin(b->ix, &t->rd) == HONE_ENOMEM) rc = HONE_ENOMEM;
    if (rc || pthread_setspecific(b->tkey, t) != 0) {
        tstate_free(b->a, t);
        return NULL;
    }
    pthread_mutex_lock(&b->mu);
    t->next = b->threads;
    b->threads = t;
    pthread_mutex_unlock(&b->mu);
    return t;
}

/* Looks f (whose key is in t->key) up in the index. Returns 1 when the
 * index holds a trusted digest for exactly the stat in f->st (copied into
 * f), HONE_ENOMEM, else 0. With *have_stat clear the file has not been
 * stat'ed yet: then a miss returns 0 at once, and a hit stats the file
 * (fstatat on its directory, not following links; *have_stat is then set)
 * before comparing; *gone is set when it has vanished since it was
 * listed, and an error leaves f unreadable. */
static int from_index(builder *b, tstate *t, const hone_io_entry *e, fitem *f, int *have_stat,
                      int *gone) {
    if (!t->rd || atomic_load(&b->corrupt)) return 0;
    hone__filecache_entry ent;
    size_t dirlen = t->key0 + (size_t)(e->name - e->path);
    int r = hone__filecache_find(t->rd, t->key.data, t->key.len, dirlen, &ent);
    if (r == HONE_ENOMEM) return r;
    if (r == HONE__FILECACHE_BAD_ENTRY) atomic_store(&b->corrupt, 1);
    /* An entry made with another algorithm is a miss, replaced after. */
    if (r != 1 || !hone__io_index_digest(ent.value, ent.vlen, (int)b->algo, b->dlen, f->digest))
        return 0;
    if (!*have_stat) {
        struct stat sb;
        if (fstatat(e->dirfd, e->name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT) *gone = 1;
            else unreadable(f, hone_status_from_errno(errno), errno);
            return 0;
        }
        /* Listed as a file but something else now: as if the walk had
         * seen that, it is not part of the manifest. */
        if (!S_ISREG(sb.st_mode)) {
            *gone = 1;
            return 0;
        }
        hone_file_id_from_stat(&f->st, &sb);
        *have_stat = 1;
        if (b->o->progress) atomic_fetch_add(&b->seen_bytes, f->st.size);
    }
    /* The file cache's verdict: the same identity, and not racy (the
     * entry's stamp a granule after the file's mtime, at the granularity
     * the file's own mtime shows or the configured one if coarser). */
    int v = hone__filecache_verdict(b->ix, &ent, &f->st, b->stamp);
    if (v == HONE_FILECACHE_HIT) return 1;
    if (v == HONE_FILECACHE_RACY) t->racy++;
    return 0;
}

/* The walk's callback, on the walk's threads: looks the file up in the
 * index and hashes it unless a trusted entry has its digest, so walking
 * and hashing overlap and each file is opened relative to its directory.
 * The walk runs lazily (hone__io_walk): a file listed as regular arrives
 * without a stat, so a file with no index entry costs open, fstat, read
 * and close, and one with an entry costs one fstatat. */
/* Whether the entry is a file never to list: a name compare first, so
 * other files cost nothing, then device and inode, so the very file is
 * caught whatever path leads to it (a link, a bind mount) and a namesake
 * elsewhere in the tree is not. */
static int is_skipped(const builder *b, const hone_io_entry *e) {
    int stated = 0;
    struct stat sb;
    for (size_t i = 0; i < b->nskips; i++) {
        if (strcmp(e->name, b->skips[i].name) != 0) continue;
        if (!stated && fstatat(e->dirfd, e->name, &sb, AT_SYMLINK_NOFOLLOW) != 0) return 0;
        stated = 1;
        if ((uint64_t)sb.st_dev == b->skips[i].dev && (uint64_t)sb.st_ino == b->skips[i].ino) return 1;
    }
    return 0;
}

/* Adds the file at path (if it exists) to the files never listed. */
static int add_skip(builder *b, const char *path, int follow) {
    struct stat sb;
    if ((follow ? stat(path, &sb) : lstat(path, &sb)) != 0 || !S_ISREG(sb.st_mode)) return HONE_OK;
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    if (!*name) return HONE_OK;
    skip_file *ns = hone_realloc(b->a, b->skips, (b->nskips + 1) * sizeof *ns);
    if (!ns) return HONE_ENOMEM;
    b->skips = ns;
    char *nm = hone_strdup(b->a, name);
    if (!nm) return HONE_ENOMEM;
    b->skips[b->nskips++] = (skip_file){nm, (uint64_t)sb.st_dev, (uint64_t)sb.st_ino};
    return HONE_OK;
}

static int on_file(void *ctx, const hone_io_entry *e) {
    builder *b = ctx;
    if (e->type != HONE_IO_FILE) return 0;
    if (b->nskips && is_skipped(b, e)) return 0;
    tstate *t = thread_state(b);
    if (!t) return HONE_ENOMEM;
    int have_stat = e->mode != 0, gone = 0;
    if (b->o->progress) {
        atomic_fetch_add(&b->seen_files, 1);
        if (have_stat) atomic_fetch_add(&b->seen_bytes, e->size);
    }
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 256;
        fitem *ni = hone_realloc(b->a, t->items, nc * sizeof *ni);
        if (!ni) return HONE_ENOMEM;
        t->items = ni;
        t->cap = nc;
    }
    fitem *f = &t->items[t->n];
    f->state = 0;
    f->st = (hone_file_id){e->dev, e->ino, e->size, e->mtime_ns, e->ctime_ns};
    size_t pl = strlen(e->path);
    t->key.len = t->key0;
    if (hone_buf_append(&t->key, e->path, pl)) return HONE_ENOMEM;
    int cached = from_index(b, t, e, f, &have_stat, &gone);
    if (cached < 0) return cached;
    if (cached) {
        f->state = F_CACHED;
    } else if (gone) {
        return 0;
    } else if (f->state != F_UNREADABLE) {
        /* A file listed as regular and not stat'ed by the walk is never
         * opened through a link, even with follow_symlinks: a link swapped
         * in since the listing could point outside the root, and nothing
         * would compare what is read with what the walk saw. */
        int fl = open_flags(b) | (e->mode == 0 ? O_NOFOLLOW : 0);
        int fd = open_file(b, t, e->dirfd, e->name, fl);
        if (fd < 0 && !have_stat && errno == ENOENT) return 0; /* vanished since listed */
        if (fd < 0) unreadable(f, hone_status_from_errno(errno), errno);
        else hash_fd(b, t, fd, f, have_stat);
        if (f->state == F_UNREADABLE && f->status == HONE_ENOMEM) return HONE_ENOMEM;
    }
    char *p = hone_arena_alloc(t->paths, pl + 1, 1);
    if (!p) return HONE_ENOMEM;
    memcpy(p, e->path, pl + 1);
    f->path = p;
    f->plen = pl;
    t->n++;
    if (b->o->progress) {
        atomic_fetch_add(&b->done_files, 1);
        maybe_progress(b, 0);
    }
    return 0;
}

static void on_walk_error(void *ctx, const char *path, int status, int sys_errno) {
    builder *b = ctx;
    char *p = hone_strdup(b->a, path);
    pthread_mutex_lock(&b->mu);
    if (p && b->nbad == b->capbad) {
        size_t nc = b->capbad ? b->capbad * 2 : 16;
        bad_path *nb = hone_realloc(b->a, b->bad, nc * sizeof *nb);
        if (nb) b->bad = nb, b->capbad = nc;
    }
    if (p && b->nbad < b->capbad) {
        b->bad[b->nbad++] = (bad_path){p, status, sys_errno};
    } else {
        hone_free(b->a, p);
        b->oom = 1;
    }
    pthread_mutex_unlock(&b->mu);
}

static void make_skey(skey *k, fitem *f) {
    unsigned char c[16] = {0};
    const char *p = f->path;
    for (size_t i = 0; i < 16 && p[i]; i++) c[i] = (unsigned char)p[i];
    uint64_t x = 0, y = 0;
    for (int i = 0; i < 8; i++) x = x << 8 | c[i], y = y << 8 | c[8 + i];
    k->k0 = x, k->k1 = y, k->f = f;
}

/* Bytewise order, what `LC_ALL=C sort` gives. Equal prefixes whose last
 * byte is not NUL mean both paths are longer than 16 bytes. */
static inline int skey_less(const skey *a, const skey *b) {
    if (a->k0 != b->k0) return a->k0 < b->k0;
    if (a->k1 != b->k1) return a->k1 < b->k1;
    if ((a->k1 & 0xff) == 0) return 0;
    return strcmp(a->f->path + 16, b->f->path + 16) < 0;
}

/* A stable bottom-up merge sort with the comparison inlined: about twice
 * as fast as qsort() here, whose indirect call per comparison dominated. */
static void sort_skeys(skey *k, skey *tmp, size_t n) {
    /* Runs of 8 by insertion sort first. */
    for (size_t lo = 0; lo < n; lo += 8) {
        size_t hi = lo + 8 < n ? lo + 8 : n;
        for (size_t i = lo + 1; i < hi; i++) {
            skey x = k[i];
            size_t j = i;
            for (; j > lo && skey_less(&x, &k[j - 1]); j--) k[j] = k[j - 1];
            k[j] = x;
        }
    }
    skey *src = k, *dst = tmp;
    for (size_t w = 8; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) dst[o++] = skey_less(&src[j], &src[i]) ? src[j++] : src[i++];
            while (i < mid) dst[o++] = src[i++];
            while (j < hi) dst[o++] = src[j++];
        }
        skey *t = src;
        src = dst, dst = t;
    }
    if (src != k) memcpy(k, src, n * sizeof *k);
}

static int cmp_bad(const void *x, const void *y) {
    return strcmp(((const bad_path *)x)->path, ((const bad_path *)y)->path);
}

/* Gathers every thread's items into b->order, sorted by path. */
static int sort_items(builder *b) {
    size_t n = 0;
    for (tstate *t = b->threads; t; t = t->next) n += t->n;
    if (!n) return HONE_OK;
    skey *k = hone_malloc(b->a, 2 * n * sizeof *k);
    b->order = hone_malloc(b->a, n * sizeof *b->order);
    if (!k || !b->order) {
        hone_free(b->a, k);
        return HONE_ENOMEM;
    }
    size_t i = 0;
    for (tstate *t = b->threads; t; t = t->next)
        for (size_t j = 0; j < t->n; j++) make_skey(&k[i++], &t->items[j]);
    sort_skeys(k, k + n, n);
    for (i = 0; i < n; i++) b->order[i] = k[i].f;
    b->n = n;
    hone_free(b->a, k);
    return HONE_OK;
}

static void report_unreadable(const hone_io_manifest_opts *o, const char *path, int status,
                              int sys_errno) {
    if (o->on_unreadable) {
        o->on_unreadable(o->unreadable_ctx, path, status, sys_errno);
    } else {
        hone_log(HONE_LOG_WARN, "io", "%s: %s", *path ? path : ".",
                 sys_errno ? strerror(sys_errno) : hone_strerror(status));
    }
}

/* After a damaged entry was met, digests taken from the index earlier in
 * the run are not trusted either: those files are read now. Rare, so it
 * runs on the calling thread. */
static int rehash_cached(builder *b) {
    tstate *t = hone_calloc(b->a, 1, sizeof *t);
    hone_hash_opts ho = {.alloc = b->a};
    if (!t || hone_hash_new(&t->h, b->algo, &ho)) {
        hone_free(b->a, t);
        return HONE_ENOMEM;
    }
    int rc = HONE_OK;
    for (size_t i = 0; i < b->n && !rc; i++) {
        fitem *f = b->order[i];
        if (f->state != F_CACHED) continue;
        int fd = openat(b->rootfd, f->path, open_flags(b));
        if (fd < 0) unreadable(f, hone_status_from_errno(errno), errno);
        else hash_fd(b, t, fd, f, 1);
        if (f->state == F_UNREADABLE && f->status == HONE_ENOMEM) rc = HONE_ENOMEM;
    }
    tstate_free(b->a, t);
    return rc;
}

/* Whether the sorted items hold the path rest[0..len). */
static int item_exists(void *ctx, const char *rest, size_t len) {
    const builder *b = ctx;
    size_t lo = 0, hi = b->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *p = b->order[mid]->path;
        size_t pl = b->order[mid]->plen;
        int c = memcmp(p, rest, pl < len ? pl : len);
        if (c == 0) c = pl < len ? -1 : pl > len;
        if (c == 0) return 1;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}

static void index_store(builder *b, int reset, int64_t stamp, hone_buf *key, uint64_t hashed,
                        hone_io_manifest_stats *st) {
    hone_filecache *ix = b->ix;
    const hone_io_manifest_opts *o = b->o;
    uint64_t mine = 0;
    size_t maxk = hone__filecache_max_key(ix), rl = strlen(b->root_real);
    for (size_t i = 0; i < b->n; i++)
        if (b->order[i]->state != F_UNREADABLE && rl + 1 + b->order[i]->plen <= maxk) mine++;
    /* Entries of files no longer in the tree are dropped, but only after
     * a complete walk: with globs, -x or unreadable directories, files the
     * walk did not see may still exist. Every file seen has an entry after
     * the puts, so when the index holds no more entries than that, there is
     * nothing to drop and the scan is skipped. */
    int complete = !o->n_include && !o->n_exclude && !o->one_file_system && !b->nbad;
    uint64_t before = hone__filecache_entries(ix);
    /* The warm case: nothing hashed, nothing to drop. No write transaction
     * (and so no writer's lock and no sync) at all. */
    if (!reset && !hashed && (!complete || before == mine)) return;
    int rc = hone__filecache_begin(ix);
    if (!rc && reset) rc = hone__filecache_reset(ix);
    /* Into an empty index (a first or rebuilt one) the sorted puts are
     * appends: LMDB then fills pages in order without searching. */
    int append = !rc && hone__filecache_entries(ix) == 0;
    for (size_t i = 0; i < b->n && !rc; i++) {
        fitem *f = b->order[i];
        if (f->state != F_HASHED) continue;
        key->len = 0;
        if ((rc = hone_buf_puts(key, b->root_real))) break;
        if (rl != 1 && (rc = hone_buf_puts(key, "/"))) break;
        if ((rc = hone_buf_append(key, f->path, f->plen))) break;
        uint8_t val[HONE__IO_INDEX_VALUE_MAX];
        size_t vl = hone__io_index_value(val, (int)b->algo, f->digest, b->dlen);
        rc = hone__filecache_put(ix, key->data, key->len, &f->st, stamp, val, vl, append);
    }
    if (!rc && !reset && complete && hone__filecache_entries(ix) > mine) {
        hone_buf_clear(key);
        if (!(rc = hone_buf_printf(key, "%s/", rl == 1 ? "" : b->root_real)))
            rc = hone__filecache_prune(ix, key->data, key->len, item_exists, b, &st->pruned);
    }
    if (!rc) rc = hone__filecache_commit(ix);
    else hone__filecache_abort(ix);
    if (rc) hone_log(HONE_LOG_WARN, "io", "could not update the index: %s", hone_strerror(rc));
}

static void builder_free(builder *b) {
    for (size_t i = 0; i < b->nskips; i++) hone_free(b->a, b->skips[i].name);
    hone_free(b->a, b->skips);
    for (size_t i = 0; i < b->nbad; i++) hone_free(b->a, b->bad[i].path);
    hone_free(b->a, b->bad);
    hone_free(b->a, b->order);
    while (b->threads) {
        tstate *t = b->threads;
        b->threads = t->next;
        tstate_free(b->a, t);
    }
}

/* Opens the index as the options say; a failure other than memory only
 * means building without it. */
static int open_index(builder *b, hone_io_manifest_stats *st) {
    char *dir = NULL;
    int rc;
    hone_error ierr;
    if (b->o->index_dir) rc = (dir = hone_strdup(b->a, b->o->index_dir)) ? HONE_OK : HONE_ENOMEM;
    else rc = hone_io_default_index_dir(&dir, b->a, &ierr);
    if (!rc) rc = hone__io_index_open(&b->ix, dir, b->a, b->o, &st->index_rebuilt, &ierr);
    if (!rc) {
        static const char *const suffix[] = {"", "-lock", ".corrupt"};
        hone_buf p;
        hone_buf_init(&p, b->a);
        for (int i = 0; i < 3 && !rc; i++) {
            hone_buf_clear(&p);
            rc = hone_buf_printf(&p, "%s/%s%s", dir, HONE__IO_INDEX_FILE, suffix[i]);
            if (!rc) rc = add_skip(b, p.data, 0);
        }
        hone_buf_free(&p);
    }
    hone_free(b->a, dir);
    if (rc == HONE_ENOMEM) return rc;
    if (rc) hone_log(HONE_LOG_WARN, "io", "%s; hashing every file", ierr.msg);
    return HONE_OK;
}

/* Hands the threads' path arenas over to m, whose entries point into
 * them. */
static int give_arenas(builder *b, hone_io_manifest *m) {
    size_t n = 0;
    for (tstate *t = b->threads; t; t = t->next) n++;
    if (!n) return HONE_OK;
    if (!(m->arenas = hone_calloc(b->a, n, sizeof *m->arenas))) return HONE_ENOMEM;
    for (tstate *t = b->threads; t; t = t->next) {
        m->arenas[m->narenas++] = t->paths;
        t->paths = NULL;
    }
    return HONE_OK;
}

int hone_io_manifest_build(hone_io_manifest **out, const char *root,
                           const hone_io_manifest_opts *opts, hone_io_manifest_stats *stats,
                           hone_error *err) {
    static const hone_io_manifest_opts zero;
    const hone_io_manifest_opts *o = opts ? opts : &zero;
    hone_io_manifest_stats st0, *st = stats ? stats : &st0;
    memset(st, 0, sizeof *st);
    if (!out) return hone_error_set(err, HONE_EINVAL, "hone_io_manifest_build: out is NULL");
    *out = NULL;
    hone_hash_algo algo = o->algorithm ? o->algorithm : HONE_HASH_SHA256;
    if (o->algorithm && !hone_hash_info_of(o->algorithm))
        return hone_error_set(err, HONE_EINVAL, "algorithm %d: expected one of hone_hash_algo",
                              (int)o->algorithm);
    if (o->algo) {
        hone_hash_algo named;
        int rc = hone_hash_from_name(o->algo, &named, err);
        if (rc) return rc;
        if (o->algorithm && named != o->algorithm)
            return hone_error_set(err, HONE_EINVAL, "algo \"%s\" and algorithm %s disagree", o->algo,
                                  hone_hash_name(o->algorithm));
        algo = named;
    }
    uint64_t t_start = hone_monotonic_ns();
    int64_t (*clock_fn)(void *) = o->clock_ns ? o->clock_ns : default_clock;
    /* Taken before anything is stat'ed or read: see from_index(). */
    int64_t stamp = clock_fn(o->clock_ctx);

    builder b;
    memset(&b, 0, sizeof b);
    b.o = o;
    b.a = o->alloc;
    b.algo = algo;
    b.dlen = hone_hash_digest_len(algo);
    b.rootfd = -1;
    b.stamp = stamp;
    if (pthread_key_create(&b.tkey, NULL) != 0)
        return hone_error_set(err, HONE_EBUSY, "out of thread-specific keys");
    pthread_mutex_init(&b.mu, NULL);
    pthread_mutex_init(&b.progress_mu, NULL);
    hone_buf key;
    hone_buf_init(&key, b.a);
    char root_real[PATH_MAX];
    int rc = hone__io_open_root(root, &b.rootfd, err);
    if (rc) goto done;
    if (!realpath(root, root_real)) {
        rc = hone_error_set(err, hone_status_from_errno(errno), "%s: cannot resolve: %s", root,
                            strerror(errno));
        goto done;
    }
    b.root_real = root_real;
    b.t0 = hone_monotonic_ns();
    if (!o->no_index && (rc = open_index(&b, st))) {
        rc = hone_error_set(err, rc, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < o->n_exclude_files && !rc; i++)
        if (o->exclude_files[i] && (rc = add_skip(&b, o->exclude_files[i], 1)))
            rc = hone_error_set(err, rc, "out of memory");
    if (rc) goto done;
    uint64_t t1 = hone_monotonic_ns();
    st->open_ns = t1 - b.t0;

    hone_io_walk_opts wo = {.alloc = b.a,
                            .threads = o->threads,
                            .include = o->include,
                            .n_include = o->n_include,
                            .exclude = o->exclude,
                            .n_exclude = o->n_exclude,
                            .follow_symlinks = o->follow_symlinks,
                            .one_file_system = o->one_file_system,
                            .on_entry = on_file,
                            .on_error = on_walk_error,
                            .ctx = &b};
    rc = hone__io_walk(root, &wo, 1, NULL, err);
    /* The walk's threads are gone; this thread's state is freed below. */
    pthread_setspecific(b.tkey, NULL);
    uint64_t t2 = hone_monotonic_ns();
    st->walk_ns = t2 - t1;
    if (!rc && b.oom) rc = hone_error_set(err, HONE_ENOMEM, "out of memory");
    if (!rc && (rc = sort_items(&b))) hone_error_set(err, rc, "out of memory");
    if (rc) goto done;
    if (b.nbad) qsort(b.bad, b.nbad, sizeof *b.bad, cmp_bad);
    uint64_t t3 = hone_monotonic_ns();
    st->sort_ns = t3 - t2;
    int corrupt = atomic_load(&b.corrupt);
    if (corrupt) {
        hone_log(HONE_LOG_WARN, "io",
                 "the index holds a damaged entry; not trusting it and rebuilding it");
        st->index_rebuilt = 1;
        if ((rc = rehash_cached(&b))) {
            rc = hone_error_set(err, rc, "out of memory");
            goto done;
        }
    }
    maybe_progress(&b, 1);
    uint64_t racy = 0;
    for (tstate *t = b.threads; t; t = t->next) {
        racy += t->racy;
        st->hashed += t->hashed;
        st->hashed_bytes += t->hashed_bytes;
    }
    if (corrupt) {
        /* rehash_cached counted into its own state: count the files it
         * read as hashed too. */
        st->hashed = 0, st->hashed_bytes = 0;
        for (size_t i = 0; i < b.n; i++)
            if (b.order[i]->state == F_HASHED) st->hashed++, st->hashed_bytes += b.order[i]->st.size;
    }
    st->racy = corrupt ? 0 : racy;
    if (b.ix) index_store(&b, corrupt, stamp, &key, st->hashed, st);
    uint64_t t4 = hone_monotonic_ns();
    st->store_ns = t4 - t3;

    /* The manifest takes the path arenas over from the threads. */
    hone_io_manifest *m;
    if ((rc = new_manifest(&m, b.a, algo, b.n))) {
        rc = hone_error_set(err, rc, "out of memory");
        goto done;
    }
    if ((rc = give_arenas(&b, m))) {
        hone_io_manifest_free(m);
        rc = hone_error_set(err, rc, "out of memory");
        goto done;
    }
    size_t ib = 0;
    for (size_t i = 0; i < b.n; i++) {
        fitem *f = b.order[i];
        /* Unreadable directories and files are reported in path order. */
        while (ib < b.nbad && strcmp(b.bad[ib].path, f->path) < 0) {
            report_unreadable(o, b.bad[ib].path, b.bad[ib].status, b.bad[ib].sys_errno);
            st->unreadable++, ib++;
        }
        if (f->state == F_UNREADABLE) {
            report_unreadable(o, f->path, f->status, f->sys_errno);
            st->unreadable++;
            continue;
        }
        if (f->state == F_CACHED) st->cached++;
        hone_io_manifest_entry *e = &m->e[m->n++];
        e->path = f->path;
        memcpy(e->digest, f->digest, b.dlen);
        e->size = f->st.size;
        e->mtime_ns = f->st.mtime_ns;
        st->files++;
        st->bytes += e->size;
    }
    for (; ib < b.nbad; ib++) {
        report_unreadable(o, b.bad[ib].path, b.bad[ib].status, b.bad[ib].sys_errno);
        st->unreadable++;
    }
    *out = m;
    st->make_ns = hone_monotonic_ns() - t4;
done:
    builder_free(&b);
    hone_filecache_free(b.ix);
    hone_buf_free(&key);
    if (b.rootfd >= 0) close(b.rootfd);
    pthread_key_delete(b.tkey);
    pthread_mutex_destroy(&b.mu);
    pthread_mutex_destroy(&b.progress_mu);
    if (!rc) st->total_ns = hone_monotonic_ns() - t_start;
    return rc;
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */
/* ------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s, or 0. Strict, as JSON readers
 * (jansson) are: no overlong forms, no surrogates, nothing past U+10FFFF. */
static size_t utf8_len(const unsigned char *s) {
    if (s[0] < 0x80) return 1;
    size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 && s[0] < 0xf0 ? 3 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2 : 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
        return 0;
    return n;
}

static int json_str(hone_buf *b, const char *s) {
    if (hone_buf_puts(b, "\"")) return HONE_ENOMEM;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = utf8_len(p);
        if (!n) return HONE_EINVAL;
        int rc;
        if (*p == '"' || *p == '\\') rc = hone_buf_printf(b, "\\%c", *p);
        else if (*p < 0x20) rc = hone_buf_printf(b, "\\u%04x", *p);
        else rc = hone_buf_append(b, p, n);
        if (rc) return rc;
        p += n;
    }
    return hone_buf_puts(b, "\"");
}

static int format_json(const hone_io_manifest *m, hone_buf *out) {
    int rc = hone_buf_printf(out, "{\"algo\":\"%s\",\"files\":[", hone_hash_name(m->algo));
    char hex[2 * HONE_IO_DIGEST_MAX + 1];
    for (size_t i = 0; i < m->n && !rc; i++) {
        const hone_io_manifest_entry *e = &m->e[i];
        hone_hash_hex(e->digest, m->dlen, hex);
        rc = hone_buf_puts(out, i ? ",\n{\"path\":" : "\n{\"path\":");
        if (!rc) rc = json_str(out, e->path);
        if (!rc) rc = hone_buf_printf(out, ",\"digest\":\"%s\"", hex);
        if (!rc && e->size != UINT64_MAX)
            rc = hone_buf_printf(out, ",\"size\":%llu", (unsigned long long)e->size);
        if (!rc && e->mtime_ns != INT64_MIN)
            rc = hone_buf_printf(out, ",\"mtime_ns\":%lld", (long long)e->mtime_ns);
        if (!rc) rc = hone_buf_puts(out, "}");
    }
    if (!rc) rc = hone_buf_puts(out, "\n]}\n");
    return rc;
}

int hone_io_manifest_format_to(const hone_io_manifest *m, hone_io_manifest_format format,
                               hone_buf *out) {
    if (!m || !out) return HONE_EINVAL;
    size_t keep = out->len;
    int rc = HONE_OK;
    if (format == HONE_IO_MANIFEST_JSON) {
        rc = format_json(m, out);
    } else if (format == HONE_IO_MANIFEST_SUM) {
        for (size_t i = 0; i < m->n && !rc; i++)
            rc = hone_hash_format_line(out, m->algo, HONE_HASH_STYLE_GNU, m->e[i].digest,
                                       m->e[i].path);
    } else {
        return HONE_EINVAL;
    }
    if (rc) {
        out->len = keep;
        if (out->data) out->data[keep] = '\0';
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Parsing                                                             */
/* ------------------------------------------------------------------ */

typedef struct pentry {
    hone_io_manifest_entry e;
    uint64_t line;
} pentry;

static int cmp_pentry(const void *x, const void *y) {
    return strcmp(((const pentry *)x)->e.path, ((const pentry *)y)->e.path);
}

/* Turns parsed entries into a manifest (sorting, rejecting duplicates);
 * frees pe in every case. */
static int finish_parse(hone_io_manifest **out, const hone_allocator *a, hone_hash_algo algo,
                        pentry *pe, size_t n, hone_error *err) {
    if (n) qsort(pe, n, sizeof *pe, cmp_pentry);
    int rc = HONE_OK;
    for (size_t i = 1; i < n && !rc; i++)
        if (!strcmp(pe[i - 1].e.path, pe[i].e.path)) {
            uint64_t l1 = pe[i - 1].line < pe[i].line ? pe[i - 1].line : pe[i].line;
            uint64_t l2 = pe[i - 1].line < pe[i].line ? pe[i].line : pe[i - 1].line;
            rc = hone_error_set(err, HONE_EPARSE, "line %llu: '%s' is listed twice (also on line %llu)",
                                (unsigned long long)l2, pe[i].e.path, (unsigned long long)l1);
            if (err) err->line = l2;
        }
    hone_io_manifest *m = NULL;
    if (!rc && (rc = new_manifest(&m, a, algo, n))) hone_error_set(err, rc, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (m) m->e[m->n++] = pe[i].e;
        else hone_free(a, (void *)pe[i].e.path);
    }
    hone_free(a, pe);
    *out = m;
    return rc;
}

static int grow(const hone_allocator *a, pentry **pe, size_t *cap, size_t n) {
    if (n < *cap) return HONE_OK;
    size_t nc = *cap ? *cap * 2 : 64;
    pentry *np = hone_realloc(a, *pe, nc * sizeof *np);
    if (!np) return HONE_ENOMEM;
    *pe = np;
    *cap = nc;
    return HONE_OK;
}

static void free_pentries(const hone_allocator *a, pentry *pe, size_t n) {
    for (size_t i = 0; i < n; i++) hone_free(a, (void *)pe[i].e.path);
    hone_free(a, pe);
}

/* The path as a manifest stores it: without a leading "./". */
static const char *norm_path(const char *p) {
    while (p[0] == '.' && p[1] == '/') p += 2;
    return p;
}

static int parse_json(hone_io_manifest **out, const char *text, size_t len, const hone_allocator *a,
                      hone_error *err) {
    json_error_t je;
    json_t *root = json_loadb(text, len, 0, &je);
    if (!root) {
        /* offset -1: this parser never reported one, and keeps not doing so. */
        return hone_error_set_at(err, HONE_EPARSE, je.line, je.column, -1,
                                 "line %d: invalid JSON: %s", je.line, je.text);
    }
    pentry *pe = NULL;
    size_t n = 0, cap = 0;
    int rc = HONE_OK;
    hone_hash_algo algo;
    json_t *ja = json_object_get(root, "algo"), *files = json_object_get(root, "files");
    if (!json_is_string(ja) || !json_is_array(files)) {
        rc = hone_error_set(err, HONE_EPARSE,
                            "JSON manifest: expected an object with \"algo\" (string) and \"files\" (array)");
        goto out;
    }
    if ((rc = hone_hash_from_name(json_string_value(ja), &algo, err))) {
        rc = HONE_EPARSE;
        goto out;
    }
    size_t dlen = hone_hash_digest_len(algo), i;
    json_t *f;
    json_array_foreach(files, i, f) {
        json_t *jp = json_object_get(f, "path"), *jd = json_object_get(f, "digest");
        json_t *js = json_object_get(f, "size"), *jm = json_object_get(f, "mtime_ns");
        const char *hex = json_string_value(jd);
        if (!json_is_string(jp) || !hex || strlen(hex) != 2 * dlen ||
            (js && (!json_is_integer(js) || json_integer_value(js) < 0)) ||
            (jm && !json_is_integer(jm))) {
            rc = hone_error_set(err, HONE_EPARSE,
                                "JSON manifest: files[%zu]: expected \"path\", a %zu-digit hex "
                                "\"digest\", an integer \"size\" of 0 or more and an integer "
                                "\"mtime_ns\"",
                                i, 2 * dlen);
            goto out;
        }
        if ((rc = grow(a, &pe, &cap, n))) goto oom;
        pentry *p = &pe[n];
        memset(p, 0, sizeof *p);
        if (hone_hash_unhex(hex, p->e.digest, dlen)) {
            rc = hone_error_set(err, HONE_EPARSE, "JSON manifest: files[%zu]: digest '%s' is not hex", i, hex);
            goto out;
        }
        p->e.size = js ? (uint64_t)json_integer_value(js) : UINT64_MAX;
        p->e.mtime_ns = jm ? (int64_t)json_integer_value(jm) : INT64_MIN;
        p->line = i + 1;
        if (!(p->e.path = hone_strdup(a, norm_path(json_string_value(jp))))) goto oom;
        n++;
    }
    json_decref(root);
    return finish_parse(out, a, algo, pe, n, err);
oom:
    rc = hone_error_set(err, HONE_ENOMEM, "out of memory");
out:
    json_decref(root);
    free_pentries(a, pe, n);
    return rc;
}

/* Guesses the algorithm of an untagged list from its first digest. */
static hone_hash_algo guess_algo(const char *line, size_t len) {
    size_t h = 0;
    if (len && line[0] == '\\') line++, len--;
    while (h < len && ((line[h] >= '0' && line[h] <= '9') || (line[h] >= 'a' && line[h] <= 'f') ||
                       (line[h] >= 'A' && line[h] <= 'F')))
        h++;
    return h == 32 ? HONE_HASH_XXH3_128 : h == 16 ? HONE_HASH_XXH3_64 : HONE_HASH_SHA256;
}

int hone_io_manifest_parse(hone_io_manifest **out, const char *text, size_t len, const char *algo,
                           const hone_allocator *alloc, hone_error *err) {
    if (!out || (!text && len)) return hone_error_set(err, HONE_EINVAL, "hone_io_manifest_parse: NULL argument");
    *out = NULL;
    hone_hash_algo def = HONE_HASH_SHA256;
    int have_def = 0;
    if (algo) {
        int rc = hone_hash_from_name(algo, &def, err);
        if (rc) return rc;
        have_def = 1;
    }
    size_t s = 0;
    while (s < len && (text[s] == ' ' || text[s] == '\t' || text[s] == '\n' || text[s] == '\r')) s++;
    if (s < len && text[s] == '{') return parse_json(out, text, len, alloc, err);

    pentry *pe = NULL;
    size_t n = 0, cap = 0;
    hone_buf name;
    hone_buf_init(&name, alloc);
    int rc = HONE_OK, have_algo = 0;
    hone_hash_algo seen = def;
    uint64_t lineno = 0;
    for (size_t pos = 0; pos < len;) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - line) : len - pos;
        pos += ll + (nl ? 1 : 0);
        lineno++;
        /* GNU sha256sum -c skips comment lines; no digest line starts
         * with '#' (a hex digit or the escape's backslash comes first).
         * A final CR is left to the line parser, which drops it as
         * coreutils does, except on an untagged BLAKE3 line, where b3sum
         * writes a CR in a name unescaped. */
        if (ll == 0 || line[0] == '#' || (ll == 1 && line[0] == '\r')) continue;
        if (!have_def) def = guess_algo(line, ll), have_def = 1;
        hone_hash_line hl;
        hone_buf_clear(&name);
        rc = hone_hash_parse_line(line, ll, def, &hl, &name, err);
        if (rc == HONE_ENOMEM) goto oom;
        if (rc) {
            if (err) {
                char msg[sizeof err->msg];
                snprintf(msg, sizeof msg, "%s", err->msg);
                uint64_t col = err->col;
                hone_error_set(err, HONE_EPARSE, "line %llu: %s", (unsigned long long)lineno, msg);
                err->line = lineno, err->col = col;
            }
            rc = HONE_EPARSE;
            goto fail;
        }
        if (have_algo && hl.algo != seen) {
            rc = hone_error_set(err, HONE_EPARSE, "line %llu: a %s digest in a list of %s digests",
                                (unsigned long long)lineno, hone_hash_name(hl.algo), hone_hash_name(seen));
            if (err) err->line = lineno;
            goto fail;
        }
        seen = hl.algo, have_algo = 1;
        if (grow(alloc, &pe, &cap, n)) goto oom;
        pentry *p = &pe[n];
        memset(p, 0, sizeof *p);
        memcpy(p->e.digest, hl.digest, hl.digest_len);
        p->e.size = UINT64_MAX;
        p->e.mtime_ns = INT64_MIN;
        p->line = lineno;
        if (!(p->e.path = hone_strdup(alloc, norm_path(name.data ? name.data : "")))) goto oom;
        n++;
    }
    hone_buf_free(&name);
    return finish_parse(out, alloc, seen, pe, n, err);
oom:
    rc = hone_error_set(err, HONE_ENOMEM, "out of memory");
fail:
    hone_buf_free(&name);
    free_pentries(alloc, pe, n);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Comparing                                                           */
/* ------------------------------------------------------------------ */

int hone_io_path_selected(const char *path, const char *const *include, size_t n_include,
                          const char *const *exclude, size_t n_exclude) {
    if (!path) return 0;
    if (n_exclude) {
        /* The walk tests each directory on the way down and does not
         * enter an excluded one: test every prefix ending at a '/'. */
        char buf[4096];
        size_t len = strlen(path);
        for (size_t k = 0; k <= len; k++) {
            if (path[k] != '/' && path[k] != '\0') continue;
            const char *p = path;
            char *heap = NULL;
            if (path[k] == '/') {
                if (k < sizeof buf) {
                    memcpy(buf, path, k);
                    buf[k] = '\0';
                    p = buf;
                } else if ((heap = hone_malloc(NULL, k + 1))) {
                    memcpy(heap, path, k);
                    heap[k] = '\0';
                    p = heap;
                } else {
                    continue; /* out of memory: the whole path is still tested */
                }
            }
            int hit = 0;
            for (size_t x = 0; x < n_exclude && !hit; x++) hit = hone_io_glob_match(exclude[x], p);
            hone_free(NULL, heap);
            if (hit) return 0;
        }
    }
    if (!n_include) return 1;
    for (size_t x = 0; x < n_include; x++)
        if (hone_io_glob_match(include[x], path)) return 1;
    return 0;
}

const char *hone_io_manifest_algo_from_name(const char *path) {
    if (!path) return NULL;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    static const struct {
        const char *name;
        int whole; /* the whole base name, not a suffix */
        const char *algo;
    } names[] = {{"SHA256SUMS", 1, "sha256"}, {"B3SUMS", 1, "blake3"},     {".sha256", 0, "sha256"},
                 {".sha256sum", 0, "sha256"}, {".sha256sums", 0, "sha256"}, {".b3", 0, "blake3"},
                 {".b3sum", 0, "blake3"},     {".b3sums", 0, "blake3"},     {".blake3", 0, "blake3"},
                 {".xxh3", 0, "xxh3"},        {".xxh128", 0, "xxh128"}};
    size_t bl = strlen(base);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t nl = strlen(names[i].name);
        if (names[i].whole ? bl != nl : bl <= nl) continue;
        if (!strncasecmp(base + bl - nl, names[i].name, nl)) return names[i].algo;
    }
    return NULL;
}

static void note(hone_io_check_summary *s, hone_io_change c, hone_io_change_fn fn, void *ctx,
                 const char *path, int report) {
    switch (c) {
    case HONE_IO_SAME: s->same++; break;
    case HONE_IO_MODIFIED: s->modified++; break;
    case HONE_IO_MISSING: s->missing++; break;
    case HONE_IO_EXTRA: s->extra++; break;
    case HONE_IO_UNREADABLE: s->unreadable++; break;
    case HONE_IO_MOVED: s->moved++; break;
    }
    if (fn && report) fn(ctx, c, path);
}

/* Whether path is an unreadable entry or lies under an unreadable
 * directory. The list is short in practice, so a scan does. */
static int under_bad(const bad_path *bad, size_t n, const char *path) {
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(bad[i].path);
        if (l == 0 || (!strncmp(bad[i].path, path, l) && (path[l] == '\0' || path[l] == '/')))
            return 1;
    }
    return 0;
}

/* What one comparison merges: two sorted manifests, for a check the
 * sorted paths the build could not read, and the globs both sides are
 * held to. */
typedef struct merge_in {
    const hone_io_manifest *a, *b;
    const bad_path *bad;
    size_t nbad;
    const char *const *inc, *const *exc;
    size_t ninc, nexc;
} merge_in;

#define NO_ENTRY SIZE_MAX

/* Called once per path in path order: the change, the entry of a and of
 * b it concerns (NO_ENTRY for none) and the path. */
typedef void (*visit_fn)(void *ctx, hone_io_change c, size_t ia, size_t ib, const char *path);

static int selected(const merge_in *in, const char *path) {
    return (!in->ninc && !in->nexc) || hone_io_path_selected(path, in->inc, in->ninc, in->exc, in->nexc);
}

/* The one merge of check and diff: the streams a (expected), b (found)
 * and the unreadable paths, in path order. */
static void merge(const merge_in *in, visit_fn visit, void *ctx) {
    const hone_io_manifest *a = in->a, *b = in->b;
    size_t i = 0, j = 0, k = 0;
    while (i < a->n || j < b->n || k < in->nbad) {
        if (i < a->n && !selected(in, a->e[i].path)) {
            i++;
            continue;
        }
        if (j < b->n && !selected(in, b->e[j].path)) {
            j++;
            continue;
        }
        const char *pa = i < a->n ? a->e[i].path : NULL;
        const char *pb = j < b->n ? b->e[j].path : NULL;
        const char *pk = k < in->nbad ? in->bad[k].path : NULL;
        const char *min = pa;
        if (pb && (!min || strcmp(pb, min) < 0)) min = pb;
        if (pk && (!min || strcmp(pk, min) < 0)) min = pk;
        int ina = pa && !strcmp(pa, min), inb = pb && !strcmp(pb, min), ink = pk && !strcmp(pk, min);
        if (ink) {
            /* An unreadable directory is reported once; the files it
             * hides that the manifest lists are unreadable too. */
            visit(ctx, HONE_IO_UNREADABLE, ina ? i : NO_ENTRY, NO_ENTRY, pk);
            if (ina) i++;
            if (inb) j++;
            k++;
        } else if (ina && inb) {
            int same = !memcmp(a->e[i].digest, b->e[j].digest, a->dlen);
            visit(ctx, same ? HONE_IO_SAME : HONE_IO_MODIFIED, i, j, pa);
            i++, j++;
        } else if (ina) {
            visit(ctx, under_bad(in->bad, in->nbad, pa) ? HONE_IO_UNREADABLE : HONE_IO_MISSING, i,
                  NO_ENTRY, pa);
            i++;
        } else {
            visit(ctx, HONE_IO_EXTRA, NO_ENTRY, j, pb);
            j++;
        }
    }
}

/* Move detection: the first merge lists the missing entries and the
 * extra files; those whose digest is unique on both sides pair up. */
typedef struct dref {
    const uint8_t *d;
    size_t dlen, idx;
} dref;

typedef struct mv_pair {
    size_t ia, ib;
} mv_pair;

typedef struct moves {
    const hone_allocator *al;
    dref *miss, *extra;
    size_t nmiss, nextra, capmiss, capextra;
    int oom;
    mv_pair *pairs; /* sorted by ib */
    size_t *from;   /* the paired ia, sorted */
    size_t npairs;
} moves;

static void push_ref(moves *m, dref **v, size_t *n, size_t *cap, const uint8_t *d, size_t dlen,
                     size_t idx) {
    if (m->oom) return;
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        dref *nv = hone_realloc(m->al, *v, nc * sizeof *nv);
        if (!nv) {
            m->oom = 1;
            return;
        }
        *v = nv, *cap = nc;
    }
    (*v)[(*n)++] = (dref){d, dlen, idx};
}

typedef struct collect_ctx {
    moves *m;
    const hone_io_manifest *a, *b;
} collect_ctx;

static void collect(void *ctx, hone_io_change c, size_t ia, size_t ib, const char *path) {
    collect_ctx *cc = ctx;
    (void)path;
    if (c == HONE_IO_MISSING)
        push_ref(cc->m, &cc->m->miss, &cc->m->nmiss, &cc->m->capmiss, cc->a->e[ia].digest, cc->a->dlen, ia);
    else if (c == HONE_IO_EXTRA)
        push_ref(cc->m, &cc->m->extra, &cc->m->nextra, &cc->m->capextra, cc->b->e[ib].digest,
                 cc->b->dlen, ib);
}

static int cmp_dref(const void *x, const void *y) {
    const dref *p = x, *q = y;
    int c = memcmp(p->d, q->d, p->dlen);
    return c ? c : (p->idx > q->idx) - (p->idx < q->idx);
}
static int cmp_pair_ib(const void *x, const void *y) {
    const mv_pair *p = x, *q = y;
    return (p->ib > q->ib) - (p->ib < q->ib);
}
static int cmp_size(const void *x, const void *y) {
    size_t p = *(const size_t *)x, q = *(const size_t *)y;
    return (p > q) - (p < q);
}

static void moves_free(moves *m) {
    hone_free(m->al, m->miss);
    hone_free(m->al, m->extra);
    hone_free(m->al, m->pairs);
    hone_free(m->al, m->from);
}

/* Finds the moves of the comparison `in`. Returns HONE_OK or HONE_ENOMEM. */
static int find_moves(const merge_in *in, moves *m) {
    const hone_io_manifest *a = in->a, *b = in->b;
    collect_ctx cc = {m, a, b};
    merge(in, collect, &cc);
    if (m->oom) return HONE_ENOMEM;
    if (!m->nmiss || !m->nextra) return HONE_OK;
    size_t most = m->nmiss < m->nextra ? m->nmiss : m->nextra;
    if (!(m->pairs = hone_calloc(m->al, most, sizeof *m->pairs)) ||
        !(m->from = hone_calloc(m->al, most, sizeof *m->from)))
        return HONE_ENOMEM;
    qsort(m->miss, m->nmiss, sizeof *m->miss, cmp_dref);
    qsort(m->extra, m->nextra, sizeof *m->extra, cmp_dref);
    /* Empty content is everywhere alike: never a move. */
    uint8_t empty[HONE_HASH_MAX_DIGEST] = {0};
    int have_empty = hone_hash_oneshot(a->algo, "", 0, empty, a->dlen) == HONE_OK;
    size_t x = 0, y = 0;
    while (x < m->nmiss && y < m->nextra) {
        int c = memcmp(m->miss[x].d, m->extra[y].d, a->dlen);
        size_t x1 = x + 1, y1 = y + 1;
        if (c == 0) {
            while (x1 < m->nmiss && !memcmp(m->miss[x1].d, m->miss[x].d, a->dlen)) x1++;
            while (y1 < m->nextra && !memcmp(m->extra[y1].d, m->extra[y].d, a->dlen)) y1++;
            const hone_io_manifest_entry *ea = &a->e[m->miss[x].idx], *eb = &b->e[m->extra[y].idx];
            int sizes_agree = ea->size == UINT64_MAX || eb->size == UINT64_MAX || ea->size == eb->size;
            int is_empty = have_empty && !memcmp(ea->digest, empty, a->dlen);
            if (x1 - x == 1 && y1 - y == 1 && sizes_agree && !is_empty) {
                m->pairs[m->npairs] = (mv_pair){m->miss[x].idx, m->extra[y].idx};
                m->from[m->npairs++] = m->miss[x].idx;
            }
            x = x1, y = y1;
        } else if (c < 0) {
            x++;
        } else {
            y++;
        }
    }
    qsort(m->pairs, m->npairs, sizeof *m->pairs, cmp_pair_ib);
    qsort(m->from, m->npairs, sizeof *m->from, cmp_size);
    return HONE_OK;
}

/* The reporting pass. */
typedef struct report_ctx {
    const merge_in *in;
    const moves *m; /* NULL: no move detection */
    size_t next_pair, next_from;
    hone_io_check_summary *s;
    hone_io_change_fn on_change;
    hone_io_move_fn on_move;
    void *ctx;
    int report_same;
    /* check only: the caller's unreadable callback, for each bad path. */
    const hone_io_manifest_opts *opts;
    const bad_path *bad;
    size_t nbad;
} report_ctx;

static void report(void *ctx, hone_io_change c, size_t ia, size_t ib, const char *path) {
    report_ctx *r = ctx;
    const moves *m = r->m;
    if (m && c == HONE_IO_MISSING) {
        /* Indices arrive in increasing order: a cursor finds the paired. */
        while (r->next_from < m->npairs && m->from[r->next_from] < ia) r->next_from++;
        if (r->next_from < m->npairs && m->from[r->next_from] == ia) return; /* reported as moved */
    }
    if (m && c == HONE_IO_EXTRA) {
        while (r->next_pair < m->npairs && m->pairs[r->next_pair].ib < ib) r->next_pair++;
        if (r->next_pair < m->npairs && m->pairs[r->next_pair].ib == ib) {
            r->s->moved++;
            r->on_move(r->ctx, r->in->a->e[m->pairs[r->next_pair].ia].path, path);
            return;
        }
    }
    if (c == HONE_IO_UNREADABLE && r->opts && r->opts->on_unreadable) {
        for (size_t k = 0; k < r->nbad; k++)
            if (!strcmp(r->bad[k].path, path)) {
                r->opts->on_unreadable(r->opts->unreadable_ctx, path, r->bad[k].status,
                                       r->bad[k].sys_errno);
                break;
            }
    }
    note(r->s, c, r->on_change, r->ctx, path, c != HONE_IO_SAME || r->report_same);
}

/* Runs the comparison: finds moves (when on_move is set), then reports. */
static int compare(const merge_in *in, const hone_allocator *al, report_ctx *r, hone_error *err) {
    moves m = {.al = al};
    if (r->on_move) {
        if (find_moves(in, &m)) {
            moves_free(&m);
            return hone_error_set(err, HONE_ENOMEM, "out of memory");
        }
        r->m = &m;
    }
    r->in = in;
    merge(in, report, r);
    moves_free(&m);
    r->m = NULL;
    return HONE_OK;
}

int hone_io_manifest_diff_ex(const hone_io_manifest *a, const hone_io_manifest *b,
                             const hone_io_diff_opts *opts, hone_io_check_summary *summary,
                             hone_error *err) {
    hone_io_check_summary s0, *s = summary ? summary : &s0;
    memset(s, 0, sizeof *s);
    hone_io_diff_opts o = {0};
    if (opts) o = *opts;
    if (!a || !b) return hone_error_set(err, HONE_EINVAL, "hone_io_manifest_diff: NULL manifest");
    if (a->algo != b->algo)
        return hone_error_set(err, HONE_EINVAL, "cannot compare a %s manifest with a %s manifest",
                              hone_hash_name(a->algo), hone_hash_name(b->algo));
    merge_in in = {.a = a, .b = b, .inc = o.include, .ninc = o.n_include, .exc = o.exclude,
                   .nexc = o.n_exclude};
    report_ctx r = {.s = s, .on_change = o.on_change, .on_move = o.on_move, .ctx = o.ctx,
                    .report_same = o.report_same};
    return compare(&in, o.alloc, &r, err);
}

int hone_io_manifest_diff(const hone_io_manifest *a, const hone_io_manifest *b, int report_same,
                          hone_io_change_fn on_change, void *ctx, hone_io_check_summary *summary,
                          hone_error *err) {
    hone_io_diff_opts o = {.report_same = report_same, .on_change = on_change, .ctx = ctx};
    return hone_io_manifest_diff_ex(a, b, &o, summary, err);
}

typedef struct check_ctx {
    const hone_allocator *a;
    bad_path *bad;
    size_t n, cap;
    int oom;
} check_ctx;

static void check_unreadable(void *ctx, const char *path, int status, int sys_errno) {
    check_ctx *c = ctx;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 16;
        bad_path *nb = hone_realloc(c->a, c->bad, nc * sizeof *nb);
        if (!nb) {
            c->oom = 1;
            return;
        }
        c->bad = nb, c->cap = nc;
    }
    char *p = hone_strdup(c->a, path);
    if (!p) {
        c->oom = 1;
        return;
    }
    c->bad[c->n++] = (bad_path){p, status, sys_errno};
}

int hone_io_manifest_check_moves(const hone_io_manifest *expected, const char *root,
                                 const hone_io_manifest_opts *opts, hone_io_change_fn on_change,
                                 hone_io_move_fn on_move, void *ctx,
                                 hone_io_check_summary *summary, hone_io_manifest_stats *stats,
                                 hone_error *err) {
    hone_io_check_summary s0, *s = summary ? summary : &s0;
    memset(s, 0, sizeof *s);
    if (!expected) return hone_error_set(err, HONE_EINVAL, "hone_io_manifest_check: NULL manifest");
    hone_io_manifest_opts o;
    if (opts) o = *opts;
    else memset(&o, 0, sizeof o);
    o.algo = hone_hash_name(expected->algo);
    check_ctx cc = {.a = o.alloc};
    o.on_unreadable = check_unreadable;
    o.unreadable_ctx = &cc;
    hone_io_manifest *actual = NULL;
    int rc = hone_io_manifest_build(&actual, root, &o, stats, err);
    if (!rc && cc.oom) rc = hone_error_set(err, HONE_ENOMEM, "out of memory");
    if (!rc) {
        /* The build reports unreadable paths in walk order. */
        if (cc.n) qsort(cc.bad, cc.n, sizeof *cc.bad, cmp_bad);
        merge_in in = {.a = expected, .b = actual, .bad = cc.bad, .nbad = cc.n, .inc = o.include,
                       .ninc = o.n_include, .exc = o.exclude, .nexc = o.n_exclude};
        report_ctx r = {.s = s, .on_change = on_change, .on_move = on_move, .ctx = ctx,
                        .opts = opts, .bad = cc.bad, .nbad = cc.n};
        rc = compare(&in, o.alloc, &r, err);
    }
    for (size_t i = 0; i < cc.n; i++) hone_free(cc.a, cc.bad[i].path);
    hone_free(cc.a, cc.bad);
    hone_io_manifest_free(actual);
    return rc;
}

int hone_io_manifest_check(const hone_io_manifest *expected, const char *root,
                           const hone_io_manifest_opts *opts, hone_io_change_fn on_change,
                           void *ctx, hone_io_check_summary *summary,
                           hone_io_manifest_stats *stats, hone_error *err) {
    return hone_io_manifest_check_moves(expected, root, opts, on_change, NULL, ctx, summary, stats,
                                        err);
}
