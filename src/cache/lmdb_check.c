/* lmdb_check.c - what hone's LMDB stores share: LMDB's return codes as
 * hone statuses, and the check of a database file against LMDB's on-disk
 * format before LMDB is allowed to read it, so that a damaged or hostile
 * file is refused instead of crashing the process. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/lmdb_check.h"

int hone__lmdb_status(int rc) {
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

/* ------------------------------------------------------------------ */
/* Validating the file before LMDB reads it                            */
/* ------------------------------------------------------------------ */

/* LMDB reads its file through a memory map and trusts every byte: a file
 * shorter than its meta pages say faults with SIGBUS, and a garbage page
 * sends it through wild offsets (SIGSEGV, SIGFPE, its own assertions).
 * So before LMDB reads anything but the meta pages, the file is checked
 * against LMDB 0.9's on-disk format (lmdb/mdb.c, MDB_DATA_VERSION 1): the
 * meta pages with pread, then, inside the write transaction that opens
 * the store (which holds LMDB's writer lock, so no commit can change the
 * file meanwhile), every page of both meta pages' trees (the main
 * database and the free-page database) through the map, now known to be
 * backed by the file: each page's number, type and bounds, each node's
 * offset and size within its page, each child and overflow page within
 * the file and met once, leaves all at the recorded depth, and the
 * recorded page and entry counts. A file that passes can be read by LMDB
 * without a fault; its entries are then checked by their checksums.
 * Both trees are checked because which one a reader uses depends on the
 * lock file as well as on the meta pages. It costs one pass over the
 * pages of the file, which a warm reader reads anyway. Pages written by
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
int hone__lmdb_precheck(const char *path) {
    struct stat sb;
    char lock[4096];
    snprintf(lock, sizeof lock, "%s-lock", path);
    if (lstat(lock, &sb) == 0 && !S_ISREG(sb.st_mode)) return HONE_ECORRUPT;
    /* A file that cannot be looked at (a directory on the way without
     * search permission, a file where a directory should be) is not a
     * damaged database: it must not be moved aside. */
    if (lstat(path, &sb) != 0) return errno == ENOENT ? HONE_OK : hone_status_from_errno(errno);
    if (!S_ISREG(sb.st_mode)) return HONE_ECORRUPT;
    if (sb.st_size == 0) return HONE_OK;
    uint64_t ps = os_page_size();
    if ((uint64_t)sb.st_size < 2 * ps) return HONE_ECORRUPT;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return errno == EACCES || errno == EPERM ? HONE_EACCES : HONE_ECORRUPT;
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
int hone__lmdb_validate(MDB_env *env, const hone_allocator *a) {
    int fd;
    struct stat sb;
    if (mdb_env_get_fd(env, &fd) != 0 || fstat(fd, &sb) != 0) return HONE_ECORRUPT;
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
    uint8_t *seen = ok ? hone_malloc(a, most) : NULL;
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
    hone_free(a, seen);
    munmap(mp, (size_t)size);
    return ok ? HONE_OK : HONE_ECORRUPT;
}


