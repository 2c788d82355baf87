/* index.c - the incremental index of manifests: an LMDB file mapping the
 * absolute path of each file hashed to its identity (device, inode, size,
 * mtime, ctime), algorithm, digest and the stamp of the run that stored
 * it, with a magic record so that foreign or corrupt files are rebuilt. */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/internal.h"

/* The magic record: its key sorts before every path (which start with
 * '/'), its value names the format, its version and byte order. Bump the
 * version when the entry layout changes; old indexes are then rebuilt. */
static const char MAGIC_KEY[] = "\001hone.io.index";
#define MAGIC_VALUE "hone-io-index v2 " /* followed by the byte-order probe */
#define ENTRY_VERSION 2

struct hone__io_index {
    const hone_allocator *a;
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn;
    char *path;
    int fresh; /* an empty database: the magic record is still to write */
};

/* An entry's fixed part, stored as bytes in native order (the magic
 * record's probe rejects an index written with another byte order). The
 * digest follows, then a checksum (entry_sum) of everything before it, so a
 * damaged entry is detected rather than trusted. */
typedef struct entry_head {
    uint8_t version, algo, dlen, pad[5];
    uint64_t dev, ino, size;
    int64_t mtime_ns, ctime_ns, stamp_ns;
} entry_head;

/* The word loop both hashes below share: 8 bytes at a time, the tail
 * zero-padded. */
static uint64_t mix_words(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 0x9e3779b97f4a7c15u ^ n, w;
    for (; n >= 8; s += 8, n -= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdu;
        h ^= h >> 32;
    }
    if (n) {
        w = 0;
        memcpy(&w, s, n);
        h = (h ^ w) * 0xff51afd7ed558ccdu;
    }
    return h;
}

/* The entry checksum: a multiply-xorshift over 8-byte words (the entry
 * is a multiple of 8 bytes long except perhaps its digest's tail), about
 * eight times faster than byte-wise FNV-1a, which mattered because every
 * warm lookup checks it. It detects damage, not tampering. */
static uint64_t entry_sum(const void *p, size_t n) {
    uint64_t h = mix_words(p, n);
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53u;
    return h ^ (h >> 29);
}

static int lmdb_status(int rc) {
    switch (rc) {
    case 0: return HONE_OK;
    case ENOMEM: return HONE_ENOMEM;
    case EACCES: return HONE_EACCES;
    case MDB_NOTFOUND: return HONE_ENOTFOUND;
    case MDB_INVALID:
    case MDB_CORRUPTED:
    case MDB_VERSION_MISMATCH:
    case MDB_PAGE_NOTFOUND: return HONE_ECORRUPT;
    case MDB_MAP_FULL: return HONE_ERANGE;
    case MDB_KEYEXIST: return HONE_EEXIST;
    default: return rc > 0 ? hone_status_from_errno(rc) : HONE_EIO;
    }
}

static int magic_value(char *buf, size_t n) {
    uint32_t probe = 0x01020304u;
    size_t ml = sizeof MAGIC_VALUE - 1;
    if (n < ml + sizeof probe) return 0;
    memcpy(buf, MAGIC_VALUE, ml);
    memcpy(buf + ml, &probe, sizeof probe);
    return (int)(ml + sizeof probe);
}

/* ------------------------------------------------------------------ */
/* Validating the file before LMDB reads it                            */
/* ------------------------------------------------------------------ */

/* LMDB reads its file through a memory map and trusts every byte: a file
 * shorter than its meta pages say faults with SIGBUS, and a garbage page
 * sends it through wild offsets (SIGSEGV, SIGFPE, its own assertions).
 * So before LMDB reads anything but the meta pages, the file is checked
 * against LMDB 0.9's on-disk format (lmdb/mdb.c, MDB_DATA_VERSION 1): the
 * meta pages with pread, then, inside the write transaction that opens
 * the index (which holds LMDB's writer lock, so no commit can change the
 * file meanwhile), every page of both meta pages' trees (the main
 * database and the free-page database) through the map, now known to be
 * backed by the file: each page's number, type and bounds, each node's
 * offset and size within its page, each child and overflow page within
 * the file and met once, leaves all at the recorded depth, and the
 * recorded page and entry counts. A file that passes can be read by LMDB
 * without a fault; its entries are then checked by their checksums.
 * Both trees are checked because which one a reader uses depends on the
 * lock file as well as on the meta pages. It costs one pass over the
 * pages of the index, which a warm build reads anyway. Pages written by
 * another hone process after this check are LMDB's own writing and are
 * trusted. */

#define LM_MAGIC 0xBEEFC0DEu
#define LM_DATA_VERSION 1u
#define LM_HDR 16 /* page header: pgno (8), pad (2), flags (2), lower (2), upper (2) */
#define LM_P_BRANCH 0x01u
#define LM_P_LEAF 0x02u
#define LM_P_OVERFLOW 0x04u
#define LM_P_META 0x08u
#define LM_P_IGNORED 0x8010u /* P_DIRTY, P_KEEP: in-memory marks */
#define LM_F_BIGDATA 0x01u
#define LM_NODE 8 /* node header: lo (2), hi (2), flags (2), ksize (2) */
#define LM_INVALID UINT64_MAX
#define LM_MAX_DEPTH 32 /* LMDB's CURSOR_STACK */

typedef struct lm_db {
    uint32_t pad; /* the page size, in the free database's record */
    uint16_t flags, depth;
    uint64_t branch_pages, leaf_pages, overflow_pages, entries, root;
} lm_db;

typedef struct lm_meta {
    uint32_t magic, version;
    uint64_t address, mapsize;
    lm_db dbs[2]; /* free pages, main */
    uint64_t last_pg, txnid;
} lm_meta;

_Static_assert(sizeof(lm_db) == 48 && sizeof(lm_meta) == 136, "LMDB 0.9 meta layout");

static uint16_t rd16(const unsigned char *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static uint64_t rd64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Decodes and checks a meta page (psize bytes or at least its header and
 * record); the file must hold size bytes. */
static int meta_ok(const unsigned char *pg, uint64_t pgno, uint64_t psize, uint64_t size,
                   lm_meta *m) {
    if (rd64(pg) != pgno || !(rd16(pg + 10) & LM_P_META)) return 0;
    memcpy(m, pg + LM_HDR, sizeof *m);
    if (m->magic != LM_MAGIC || m->version != LM_DATA_VERSION || m->dbs[0].pad != psize) return 0;
    if (m->last_pg < 1 || m->last_pg >= size / psize) return 0;
    return 1;
}

static uint64_t os_page_size(void) {
    long ps = sysconf(_SC_PAGESIZE);
    return ps > 0 ? (uint64_t)ps : 4096;
}

/* Before LMDB opens the file: it must be a regular file, empty (LMDB then
 * makes a new database) or with two good meta pages whose last page lies
 * inside it. Returns HONE_OK or HONE_ECORRUPT. */
static int precheck(const char *path) {
    struct stat sb;
    char lock[4096];
    snprintf(lock, sizeof lock, "%s-lock", path);
    if (lstat(lock, &sb) == 0 && !S_ISREG(sb.st_mode)) return HONE_ECORRUPT;
    if (lstat(path, &sb) != 0) return errno == ENOENT ? HONE_OK : HONE_ECORRUPT;
    if (!S_ISREG(sb.st_mode)) return HONE_ECORRUPT;
    if (sb.st_size == 0) return HONE_OK;
    uint64_t ps = os_page_size();
    if ((uint64_t)sb.st_size < 2 * ps) return HONE_ECORRUPT;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return HONE_ECORRUPT;
    unsigned char pg[LM_HDR + sizeof(lm_meta)];
    lm_meta m;
    int ok = 1;
    for (uint64_t i = 0; i < 2 && ok; i++)
        ok = pread(fd, pg, sizeof pg, (off_t)(i * ps)) == (ssize_t)sizeof pg &&
             meta_ok(pg, i, ps, (uint64_t)sb.st_size, &m);
    close(fd);
    return ok ? HONE_OK : HONE_ECORRUPT;
}

typedef struct lm_walk {
    const unsigned char *map;
    uint64_t psize, npages;
    uint8_t *seen; /* one byte per page of the file: met in this tree */
    int free_db;
    uint64_t branch, leaf, overflow, entries;
} lm_walk;

/* Checks the subtree at pgno, whose leaves are `level` - 1 levels down. */
static int walk_page(lm_walk *w, uint64_t pgno, unsigned level) {
    if (pgno < 2 || pgno >= w->npages || w->seen[pgno]) return 0;
    w->seen[pgno] = 1;
    const unsigned char *pg = w->map + pgno * w->psize;
    uint16_t flags = rd16(pg + 10) & (uint16_t)~LM_P_IGNORED, lower = rd16(pg + 12),
             upper = rd16(pg + 14);
    int branch = level > 1;
    if (rd64(pg) != pgno || flags != (branch ? LM_P_BRANCH : LM_P_LEAF)) return 0;
    if (lower < LM_HDR || (lower & 1) || upper > w->psize || lower > upper) return 0;
    unsigned n = (unsigned)(lower - LM_HDR) / 2;
    if (n < (branch ? 2u : 1u)) return 0;
    if (branch) w->branch++;
    else w->leaf++;
    for (unsigned i = 0; i < n; i++) {
        uint64_t off = rd16(pg + LM_HDR + 2 * i);
        if (off < upper || (off & 1) || off + LM_NODE > w->psize) return 0;
        const unsigned char *nd = pg + off;
        uint64_t lo = rd16(nd), hi = rd16(nd + 2), nflags = rd16(nd + 4), ks = rd16(nd + 6);
        if (off + LM_NODE + ks > w->psize) return 0;
        if (branch) {
            if (!walk_page(w, lo | hi << 16 | nflags << 32, level - 1)) return 0;
            continue;
        }
        uint64_t dsz = lo | hi << 16;
        const unsigned char *data = nd + LM_NODE + ks;
        if (nflags & ~(uint64_t)LM_F_BIGDATA) return 0; /* no sub-databases, no duplicates */
        if (nflags & LM_F_BIGDATA) {
            if (off + LM_NODE + ks + 8 > w->psize) return 0;
            uint64_t op = rd64(data);
            if (op < 2 || op >= w->npages) return 0;
            const unsigned char *opg = w->map + op * w->psize;
            uint32_t pages;
            memcpy(&pages, opg + 12, 4);
            if (rd64(opg) != op || !(rd16(opg + 10) & LM_P_OVERFLOW) || pages < 1 ||
                pages > w->npages - op || LM_HDR + dsz > (uint64_t)pages * w->psize)
                return 0;
            for (uint64_t k = op; k < op + pages; k++) {
                if (w->seen[k]) return 0;
                w->seen[k] = 1;
            }
            w->overflow += pages;
            data = opg + LM_HDR;
        } else if (off + LM_NODE + ks + dsz > w->psize) {
            return 0;
        }
        if (w->free_db) {
            /* A free-page record: a transaction id, then a count and that
             * many page numbers, which LMDB reads without checking. */
            if (ks != 8 || dsz < 8 || dsz % 8) return 0;
            uint64_t cnt = rd64(data);
            if (cnt > dsz / 8 - 1) return 0;
            for (uint64_t k = 1; k <= cnt; k++) {
                uint64_t fp = rd64(data + 8 * k);
                if (fp < 2 || fp >= w->npages) return 0;
            }
        } else if (ks == 0) {
            return 0;
        }
        w->entries++;
    }
    return 1;
}

/* Checks one database tree of a meta page, with its counts. */
static int tree_ok(lm_walk *w, const lm_db *db, int free_db) {
    w->free_db = free_db;
    w->branch = w->leaf = w->overflow = w->entries = 0;
    if (!free_db && db->flags != 0) return 0; /* hone's database has no flags */
    if (db->root == LM_INVALID)
        return db->depth == 0 && db->entries == 0 && db->branch_pages == 0 && db->leaf_pages == 0 &&
               db->overflow_pages == 0;
    if (db->depth < 1 || db->depth > LM_MAX_DEPTH || !walk_page(w, db->root, db->depth)) return 0;
    return w->branch == db->branch_pages && w->leaf == db->leaf_pages &&
           w->overflow == db->overflow_pages && w->entries == db->entries;
}

/* Checks both meta pages and their trees through the open environment's
 * map (see above). Returns HONE_OK, HONE_ECORRUPT or HONE_ENOMEM. */
static int validate(hone__io_index *ix) {
    int fd;
    struct stat sb;
    if (mdb_env_get_fd(ix->env, &fd) != 0 || fstat(fd, &sb) != 0) return HONE_ECORRUPT;
    uint64_t ps = os_page_size(), size = (uint64_t)sb.st_size;
    if (size < 2 * ps || size > SIZE_MAX) return HONE_ECORRUPT;
    /* A map of its own, of exactly the file's size (LMDB does not say
     * where its map is): every page read below lies inside the file. */
    void *mp = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
    if (mp == MAP_FAILED) return errno == ENOMEM ? HONE_ENOMEM : HONE_ECORRUPT;
    const unsigned char *map = mp;
    lm_meta m[2];
    uint64_t most = 0;
    int ok = 1;
    for (int i = 0; i < 2 && ok; i++) {
        ok = meta_ok(map + (uint64_t)i * ps, (uint64_t)i, ps, size, &m[i]);
        if (ok && m[i].last_pg + 1 > most) most = m[i].last_pg + 1;
    }
    uint8_t *seen = ok ? hone_malloc(ix->a, most) : NULL;
    if (ok && !seen) {
        munmap(mp, (size_t)size);
        return HONE_ENOMEM;
    }
    for (int i = 0; i < 2 && ok; i++) {
        lm_walk w = {map, ps, m[i].last_pg + 1, seen, 0, 0, 0, 0, 0};
        for (int d = 0; d < 2 && ok; d++) {
            memset(seen, 0, most);
            ok = tree_ok(&w, &m[i].dbs[d], d == 0);
        }
    }
    hone_free(ix->a, seen);
    munmap(mp, (size_t)size);
    return ok ? HONE_OK : HONE_ECORRUPT;
}

/* Opens the environment and checks the magic record; writes it into an
 * empty database. Returns HONE_ECORRUPT for anything not hone's. */
static int try_open(hone__io_index *ix) {
    if (precheck(ix->path)) return HONE_ECORRUPT;
    int rc = mdb_env_create(&ix->env);
    if (rc) return lmdb_status(rc);
    /* 1 GiB of address space; the file grows only as entries are added. */
    mdb_env_set_mapsize(ix->env, (size_t)1 << 30);
    /* MDB_NOMETASYNC: one sync per commit instead of two. LMDB keeps the
     * database intact (a crash can only undo the last commit, which for a
     * cache means re-hashing), and the saved sync is a few milliseconds
     * of a 20,000-file cold build. */
    rc = mdb_env_open(ix->env, ix->path, MDB_NOSUBDIR | MDB_NOTLS | MDB_NOMETASYNC, 0644);
    if (rc) goto fail;
    MDB_txn *txn;
    rc = mdb_txn_begin(ix->env, NULL, 0, &txn);
    if (rc) goto fail;
    int vrc = validate(ix);
    if (vrc) {
        mdb_txn_abort(txn);
        mdb_env_close(ix->env);
        ix->env = NULL;
        return vrc;
    }
    rc = mdb_dbi_open(txn, NULL, 0, &ix->dbi);
    if (rc) {
        mdb_txn_abort(txn);
        goto fail;
    }
    char want[64];
    int wl = magic_value(want, sizeof want);
    MDB_val k = {sizeof MAGIC_KEY - 1, (void *)MAGIC_KEY}, v;
    rc = mdb_get(txn, ix->dbi, &k, &v);
    if (rc == MDB_NOTFOUND) {
        MDB_stat st;
        mdb_stat(txn, ix->dbi, &st);
        if (st.ms_entries != 0) {
            mdb_txn_abort(txn);
            rc = MDB_INVALID; /* entries without hone's record: foreign */
            goto fail;
        }
        /* The magic record is written with the first write pass rather
         * than in a commit (and a sync) of its own; an index left empty
         * without it is still recognised as empty, not as foreign. The
         * dbi handle stays usable once this transaction ends. */
        ix->fresh = 1;
        rc = mdb_txn_commit(txn);
        if (rc) goto fail;
        return HONE_OK;
    }
    if (rc) {
        mdb_txn_abort(txn);
        goto fail;
    }
    int ok = v.mv_size == (size_t)wl && !memcmp(v.mv_data, want, (size_t)wl);
    mdb_txn_abort(txn);
    if (!ok) {
        rc = MDB_VERSION_MISMATCH;
        goto fail;
    }
    return HONE_OK;
fail:
    mdb_env_close(ix->env);
    ix->env = NULL;
    return lmdb_status(rc);
}

static int mkdir_p(char *path) {
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        int r = mkdir(path, 0755);
        *p = '/';
        if (r && errno != EEXIST) return -1;
    }
    if (mkdir(path, 0755) && errno != EEXIST) return -1;
    return 0;
}

int hone__io_index_open(hone__io_index **out, const char *dir, const hone_allocator *a,
                        int *rebuilt, hone_error *err) {
    *out = NULL;
    hone__io_index *ix = hone_calloc(a, 1, sizeof *ix);
    hone_buf p;
    hone_buf_init(&p, a);
    if (!ix || hone_buf_printf(&p, "%s/%s", dir, HONE__IO_INDEX_FILE)) {
        hone_free(a, ix);
        hone_buf_free(&p);
        return hone_error_set(err, HONE_ENOMEM, "out of memory");
    }
    ix->a = a;
    ix->path = p.data;
    char *d = hone_strdup(a, dir);
    if (!d) {
        hone__io_index_close(ix);
        return hone_error_set(err, HONE_ENOMEM, "out of memory");
    }
    int mk = mkdir_p(d);
    int mkerr = errno;
    hone_free(a, d);
    if (mk) {
        int st = hone_status_from_errno(mkerr);
        hone_error_set(err, st, "%s: cannot create the index directory: %s", dir, strerror(mkerr));
        hone__io_index_close(ix);
        return st;
    }
    int rc = try_open(ix);
    if (rc == HONE_ECORRUPT) {
        /* Moved aside rather than deleted, for a post-mortem; a previous
         * one is replaced. Whatever stands in the way (a directory, a
         * FIFO) goes too, and so does the lock file, which LMDB remakes. */
        hone_buf aside;
        hone_buf_init(&aside, a);
        if (hone_buf_printf(&aside, "%s.corrupt", ix->path)) {
            hone_buf_free(&aside);
            hone__io_index_close(ix);
            return hone_error_set(err, HONE_ENOMEM, "out of memory");
        }
        hone_log(HONE_LOG_WARN, "io",
                 "%s: not a valid hone index (corrupt, foreign or another version); moved to %s "
                 "and rebuilding it",
                 ix->path, aside.data);
        if (rebuilt) *rebuilt = 1;
        if (rename(ix->path, aside.data) != 0) {
            unlink(aside.data);
            rmdir(aside.data);
            if (rename(ix->path, aside.data) != 0) unlink(ix->path);
        }
        hone_buf_free(&aside);
        char lock[4096];
        snprintf(lock, sizeof lock, "%s-lock", ix->path);
        if (unlink(lock) != 0) rmdir(lock);
        rc = try_open(ix);
    }
    if (rc) {
        hone_error_set(err, rc, "%s: cannot open the index: %s", ix->path, hone_strerror(rc));
        hone__io_index_close(ix);
        return rc;
    }
    *out = ix;
    return HONE_OK;
}

void hone__io_index_close(hone__io_index *ix) {
    if (!ix) return;
    if (ix->txn) mdb_txn_abort(ix->txn);
    if (ix->env) mdb_env_close(ix->env);
    hone_free(ix->a, ix->path);
    hone_free(ix->a, ix);
}

size_t hone__io_index_max_key(const hone__io_index *ix) {
    return (size_t)mdb_env_get_maxkeysize(ix->env);
}

/* A file of the directory a reader has loaded: its name and its value,
 * both pointing into LMDB's map (valid while the read transaction lives). */
typedef struct dent {
    const char *name;
    size_t nlen;
    MDB_val v;
    uint64_t h;
} dent;

struct hone__io_reader {
    hone__io_index *ix;
    MDB_txn *txn;
    MDB_cursor *cur;
    int loaded;          /* dir holds the prefix whose entries are in ents */
    hone_buf dir;        /* "<root>/<dir>/" */
    dent *ents;
    size_t n, cap;
    uint32_t *tab;       /* open addressing: index + 1 into ents, 0 empty */
    size_t tcap;         /* slots allocated */
    size_t mask;         /* slots in use - 1: a power of two, at least 2n */
};

int hone__io_index_reader(hone__io_index *ix, hone__io_reader **out) {
    *out = NULL;
    hone__io_reader *r = hone_calloc(ix->a, 1, sizeof *r);
    if (!r) return HONE_ENOMEM;
    r->ix = ix;
    hone_buf_init(&r->dir, ix->a);
    int rc = lmdb_status(mdb_txn_begin(ix->env, NULL, MDB_RDONLY, &r->txn));
    if (!rc && (rc = lmdb_status(mdb_cursor_open(r->txn, ix->dbi, &r->cur)))) mdb_txn_abort(r->txn);
    if (rc) {
        hone_free(ix->a, r);
        return rc;
    }
    *out = r;
    return HONE_OK;
}

void hone__io_index_reader_end(hone__io_reader *r) {
    if (!r) return;
    mdb_cursor_close(r->cur);
    mdb_txn_abort(r->txn);
    hone_buf_free(&r->dir);
    hone_free(r->ix->a, r->ents);
    hone_free(r->ix->a, r->tab);
    hone_free(r->ix->a, r);
}

static uint64_t name_hash(const char *s, size_t n) {
    uint64_t h = mix_words(s, n);
    return h ^ (h >> 29);
}

/* Reads the entries of one directory (keys "<prefix><name>" with no '/'
 * in name) with a cursor, in key order, skipping each subdirectory's
 * range with one seek, and indexes them by name. One sequential scan per
 * directory replaces a B-tree descent (and its key compares along long
 * shared prefixes) per file. */
static int load_dir(hone__io_reader *r, const char *prefix, size_t plen) {
    hone__io_index *ix = r->ix;
    r->loaded = 0;
    r->n = 0;
    hone_buf_clear(&r->dir);
    if (hone_buf_append(&r->dir, prefix, plen)) return HONE_ENOMEM;
    size_t maxk = hone__io_index_max_key(ix);
    char seek[1024];
    MDB_val k = {plen, (void *)prefix}, v;
    int rc = plen <= maxk ? mdb_cursor_get(r->cur, &k, &v, MDB_SET_RANGE) : MDB_NOTFOUND;
    while (rc == 0) {
        if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0) break;
        const char *rest = (const char *)k.mv_data + plen;
        size_t rl = k.mv_size - plen;
        const char *sl = memchr(rest, '/', rl);
        if (sl) {
            /* "<prefix>sub/..." : go on at "<prefix>sub0", '0' being the
             * byte after '/', past everything under sub. */
            size_t sk = (size_t)(sl - (const char *)k.mv_data);
            if (sk + 1 > sizeof seek) {
                rc = mdb_cursor_get(r->cur, &k, &v, MDB_NEXT);
                continue;
            }
            memcpy(seek, k.mv_data, sk);
            seek[sk] = '/' + 1;
            k = (MDB_val){sk + 1, seek};
            rc = mdb_cursor_get(r->cur, &k, &v, MDB_SET_RANGE);
            continue;
        }
        if (r->n == r->cap) {
            size_t nc = r->cap ? r->cap * 2 : 256;
            dent *ne = hone_realloc(ix->a, r->ents, nc * sizeof *ne);
            if (!ne) return HONE_ENOMEM;
            r->ents = ne;
            r->cap = nc;
        }
        r->ents[r->n++] = (dent){rest, rl, v, name_hash(rest, rl)};
        rc = mdb_cursor_get(r->cur, &k, &v, MDB_NEXT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_status(rc);
    size_t tc = 16;
    while (tc < 2 * r->n) tc *= 2;
    if (tc > r->tcap) {
        uint32_t *nt = hone_malloc(ix->a, tc * sizeof *nt);
        if (!nt) return HONE_ENOMEM;
        hone_free(ix->a, r->tab);
        r->tab = nt;
        r->tcap = tc;
    }
    /* The table in use is the first tc slots of what is allocated: a
     * bigger directory earlier may have left a bigger allocation. */
    r->mask = tc - 1;
    memset(r->tab, 0, tc * sizeof *r->tab);
    for (size_t i = 0; i < r->n; i++) {
        size_t j = (size_t)r->ents[i].h & r->mask;
        while (r->tab[j]) j = (j + 1) & r->mask;
        r->tab[j] = (uint32_t)(i + 1);
    }
    r->loaded = 1;
    return HONE_OK;
}

/* Checks and decodes a stored entry; see hone__io_index_get. */
static int decode(const MDB_val *v, int algo, size_t dlen, hone__io_fstat *st, uint8_t *digest,
                  int64_t *stamp_ns) {
    entry_head h;
    if (v->mv_size < sizeof h + 8) return HONE__IO_BAD_ENTRY;
    memcpy(&h, v->mv_data, sizeof h);
    if (h.version != ENTRY_VERSION || v->mv_size != sizeof h + h.dlen + 8) return HONE__IO_BAD_ENTRY;
    uint64_t sum;
    memcpy(&sum, (const char *)v->mv_data + sizeof h + h.dlen, 8);
    if (sum != entry_sum(v->mv_data, sizeof h + h.dlen)) return HONE__IO_BAD_ENTRY;
    if (h.algo != algo || h.dlen != dlen) return 0;
    *st = (hone__io_fstat){h.dev, h.ino, h.size, h.mtime_ns, h.ctime_ns};
    memcpy(digest, (const char *)v->mv_data + sizeof h, dlen);
    *stamp_ns = h.stamp_ns;
    return 1;
}

int hone__io_index_get(hone__io_reader *r, const char *key, size_t klen, size_t dirlen, int algo,
                       size_t dlen, hone__io_fstat *st, uint8_t *digest, int64_t *stamp_ns) {
    hone__io_index *ix = r->ix;
    if (klen == 0 || klen > hone__io_index_max_key(ix) || dirlen > klen) return 0;
    if (!r->loaded || r->dir.len != dirlen || memcmp(r->dir.data, key, dirlen) != 0) {
        int rc = load_dir(r, key, dirlen);
        if (rc == HONE_ENOMEM) return rc;
        if (rc) {
            /* The scan failed (rare): one plain lookup instead. */
            MDB_val k = {klen, (void *)key}, v;
            if (mdb_get(r->txn, ix->dbi, &k, &v) != 0) return 0;
            return decode(&v, algo, dlen, st, digest, stamp_ns);
        }
    }
    const char *name = key + dirlen;
    size_t nlen = klen - dirlen;
    uint64_t h = name_hash(name, nlen);
    for (size_t j = (size_t)h & r->mask; r->tab[j]; j = (j + 1) & r->mask) {
        const dent *d = &r->ents[r->tab[j] - 1];
        if (d->h == h && d->nlen == nlen && !memcmp(d->name, name, nlen))
            return decode(&d->v, algo, dlen, st, digest, stamp_ns);
    }
    return 0;
}

int hone__io_index_begin_write(hone__io_index *ix) {
    if (ix->txn) return HONE_ESTATE;
    int rc = lmdb_status(mdb_txn_begin(ix->env, NULL, 0, &ix->txn));
    if (!rc && ix->fresh) {
        char want[64];
        int wl = magic_value(want, sizeof want);
        MDB_val k = {sizeof MAGIC_KEY - 1, (void *)MAGIC_KEY}, mv = {(size_t)wl, want};
        rc = lmdb_status(mdb_put(ix->txn, ix->dbi, &k, &mv, 0));
        if (rc) hone__io_index_abort(ix);
    }
    return rc;
}

int hone__io_index_put(hone__io_index *ix, const char *key, size_t klen, int algo,
                       const hone__io_fstat *st, const uint8_t *digest, size_t dlen,
                       int64_t stamp_ns, int append) {
    if (!ix->txn) return HONE_ESTATE;
    if (klen == 0 || klen > hone__io_index_max_key(ix) || dlen > 255) return HONE_OK;
    unsigned char buf[sizeof(entry_head) + 256 + 8];
    entry_head h;
    memset(&h, 0, sizeof h);
    h.version = ENTRY_VERSION;
    h.algo = (uint8_t)algo;
    h.dlen = (uint8_t)dlen;
    h.dev = st->dev, h.ino = st->ino, h.size = st->size;
    h.mtime_ns = st->mtime_ns, h.ctime_ns = st->ctime_ns, h.stamp_ns = stamp_ns;
    memcpy(buf, &h, sizeof h);
    memcpy(buf + sizeof h, digest, dlen);
    uint64_t sum = entry_sum(buf, sizeof h + dlen);
    memcpy(buf + sizeof h + dlen, &sum, 8);
    MDB_val k = {klen, (void *)key}, v = {sizeof h + dlen + 8, buf};
    return lmdb_status(mdb_put(ix->txn, ix->dbi, &k, &v, append ? MDB_APPEND : 0));
}

int hone__io_index_commit(hone__io_index *ix) {
    if (!ix->txn) return HONE_ESTATE;
    int rc = mdb_txn_commit(ix->txn);
    ix->txn = NULL;
    if (rc == 0) ix->fresh = 0;
    return lmdb_status(rc);
}

void hone__io_index_abort(hone__io_index *ix) {
    if (ix->txn) mdb_txn_abort(ix->txn);
    ix->txn = NULL;
}

int hone__io_index_reset(hone__io_index *ix) {
    if (!ix->txn) return HONE_ESTATE;
    int rc = mdb_drop(ix->txn, ix->dbi, 0);
    if (rc) return lmdb_status(rc);
    char want[64];
    int wl = magic_value(want, sizeof want);
    MDB_val k = {sizeof MAGIC_KEY - 1, (void *)MAGIC_KEY}, mv = {(size_t)wl, want};
    return lmdb_status(mdb_put(ix->txn, ix->dbi, &k, &mv, 0));
}

int hone__io_index_prune(hone__io_index *ix, const char *prefix, size_t plen,
                         int (*keep)(void *ctx, const char *rest, size_t len), void *ctx,
                         uint64_t *pruned) {
    if (!ix->txn) return HONE_ESTATE;
    MDB_cursor *c;
    int rc = mdb_cursor_open(ix->txn, ix->dbi, &c);
    if (rc) return lmdb_status(rc);
    MDB_val k = {plen, (void *)prefix}, v;
    /* Keys sort bytewise, so the entries under prefix are one range. */
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size >= plen && !memcmp(k.mv_data, prefix, plen)) {
        if (!keep(ctx, (const char *)k.mv_data + plen, k.mv_size - plen)) {
            if ((rc = mdb_cursor_del(c, 0))) break;
            if (pruned) (*pruned)++;
        }
        /* After a delete, MDB_NEXT returns the entry that followed it. */
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND || rc == 0 ? HONE_OK : lmdb_status(rc);
}

uint64_t hone__io_index_entries(hone__io_index *ix) {
    MDB_stat st;
    MDB_txn *txn = ix->txn;
    /* Outside a write pass a short read transaction gives the count, so a
     * warm run can see that it has nothing to write without taking the
     * writer's lock. */
    if (!txn && mdb_txn_begin(ix->env, NULL, MDB_RDONLY, &txn) != 0) return UINT64_MAX;
    int rc = mdb_stat(txn, ix->dbi, &st);
    if (txn != ix->txn) mdb_txn_abort(txn);
    if (rc != 0) return UINT64_MAX;
    return st.ms_entries ? (uint64_t)st.ms_entries - 1 : 0; /* less the magic record */
}
