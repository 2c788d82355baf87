/* file.c - hashing files, pipes and stdin in constant memory: large
 * sequential read()s or mmap, with posix_fadvise/madvise hints. */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash/hash_internal.h"

/* read() size: 256 KiB to 1 MiB measured best on the development machine
 * (the buffer stays in L2 between the copy and the hash); see
 * docs/design/hash.md. */
#define DEFAULT_BUF_SIZE ((size_t)512 << 10)
/* For one thread, read() into a 512 KiB buffer measured 15-25% faster than
 * mmap for files in the page cache with the 16-lane kernel, and still at
 * least as fast as every mmap variant (MADV_SEQUENTIAL, MADV_HUGEPAGE,
 * MAP_POPULATE, MADV_POPULATE_READ) and than a 2 MiB huge-page buffer with
 * the 32-lane one: the copy leaves each block in L2 for the hash (see
 * docs/design/hash.md). Multi-threaded BLAKE3 of a regular file from this
 * size has each thread pread its own parts of the tree
 * (hone__b3_update_fd_mt), which keeps that advantage in parallel. */
uint64_t hone__hash_auto_mt_min = (uint64_t)4 << 20; /* tests lower it */
/* Mapped input is hashed in slices this large (except multi-threaded
 * BLAKE3, which gets the whole map so its tree splits across threads), so
 * drop_cache can release what is done. */
#define MAP_SLICE ((size_t)64 << 20)

static int errno_status(int e) {
    if (e == EISDIR) return HONE_EINVAL;
    return hone_status_from_errno(e);
}

static int ensure_buf(hone_hash *h, size_t size) {
    if (h->iobuf && h->iobuf_size >= size) return HONE_OK;
    uint8_t *nb = hone_malloc(h->alloc, size);
    if (!nb) return HONE_ENOMEM;
    hone_free(h->alloc, h->iobuf);
    h->iobuf = nb;
    h->iobuf_size = size;
    return HONE_OK;
}

static int read_loop(hone_hash *h, int fd, const hone_hash_file_opts *o, int regular,
                     uint64_t start, uint64_t *nbytes) {
    size_t size = o->buf_size ? o->buf_size : DEFAULT_BUF_SIZE;
    int rc = ensure_buf(h, size);
    if (rc) return rc;
    if (regular && !o->no_fadvise) posix_fadvise(fd, (off_t)start, 0, POSIX_FADV_SEQUENTIAL);
    uint64_t dropped = start;
    for (;;) {
        ssize_t n = read(fd, h->iobuf, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno_status(errno);
        }
        if (n == 0) break;
        rc = hone_hash_update(h, h->iobuf, (size_t)n);
        if (rc) return rc;
        *nbytes += (uint64_t)n;
        if (regular && o->drop_cache && start + *nbytes - dropped >= MAP_SLICE) {
            posix_fadvise(fd, (off_t)dropped, (off_t)(start + *nbytes - dropped),
                          POSIX_FADV_DONTNEED);
            dropped = start + *nbytes;
        }
    }
    if (regular && o->drop_cache)
        posix_fadvise(fd, (off_t)dropped, 0, POSIX_FADV_DONTNEED);
    return HONE_OK;
}

/* Hashes [off, off+len) of fd through a mapping. Returns 1 if the file
 * could not be mapped (the caller reads instead), else a status. */
static int map_hash(hone_hash *h, int fd, const hone_hash_file_opts *o, uint64_t off,
                    uint64_t len, uint64_t *nbytes) {
    long page = sysconf(_SC_PAGESIZE);
    uint64_t base = off - off % (uint64_t)page;
    size_t delta = (size_t)(off - base);
    size_t map_len = (size_t)(len + delta);
    if ((uint64_t)map_len != len + delta) return 1;
    void *m = mmap(NULL, map_len, PROT_READ, MAP_PRIVATE, fd, (off_t)base);
    if (m == MAP_FAILED) return 1;
    if (!o->no_fadvise) madvise(m, map_len, MADV_SEQUENTIAL);
    const uint8_t *p = (const uint8_t *)m + delta;
    int rc = HONE_OK;
    size_t slice = (h->algo == HONE_HASH_BLAKE3 && h->u.b3.threads > 1) ? (size_t)len : MAP_SLICE;
    for (uint64_t done = 0; done < len && !rc;) {
        size_t n = (size_t)(len - done < slice ? len - done : slice);
        rc = hone_hash_update(h, p + done, n);
        if (!rc) {
            done += n;
            *nbytes += n;
            if (o->drop_cache)
                posix_fadvise(fd, (off_t)(off + done - n), (off_t)n, POSIX_FADV_DONTNEED);
        }
    }
    munmap(m, map_len);
    if (!rc && lseek(fd, (off_t)(off + len), SEEK_SET) < 0) rc = errno_status(errno);
    return rc;
}

int hone_hash_update_fd(hone_hash *h, int fd, const hone_hash_file_opts *opts, uint64_t *nbytes) {
    uint64_t count = 0;
    if (nbytes) *nbytes = 0;
    if (!h || fd < 0) return HONE_EINVAL;
    if (h->finalized) return HONE_ESTATE;
    hone_hash_file_opts o = {0};
    if (opts) o = *opts;
    struct stat st;
    if (fstat(fd, &st) < 0) return errno_status(errno);
    if (S_ISDIR(st.st_mode)) return HONE_EINVAL;
    int regular = S_ISREG(st.st_mode);
    uint64_t start = 0;
    int rc = 1;
    if (regular && o.io != HONE_HASH_IO_READ) {
        off_t cur = lseek(fd, 0, SEEK_CUR);
        if (cur >= 0 && (uint64_t)st.st_size > (uint64_t)cur) {
            start = (uint64_t)cur;
            uint64_t len = (uint64_t)st.st_size - start;
            int mt_blake3 = h->algo == HONE_HASH_BLAKE3 && h->u.b3.threads > 1;
            if (o.io == HONE_HASH_IO_MMAP) {
                rc = map_hash(h, fd, &o, start, len, &count);
            } else if (mt_blake3 && len >= hone__hash_auto_mt_min) {
                rc = hone__b3_update_fd_mt(&h->u.b3, fd, start, len, h->alloc, &count);
                if (!rc && lseek(fd, (off_t)(start + count), SEEK_SET) < 0) rc = errno_status(errno);
                if (!rc) rc = 1; /* read the rest */
            }
            start += count;
        }
    }
    /* After a mapping, read on from its end: a file that grew meanwhile is
     * hashed to its new end, as read() alone would. */
    if (rc == 1 || rc == HONE_OK) {
        if (rc == HONE_OK) o.no_fadvise = 1;
        uint64_t more = 0;
        rc = read_loop(h, fd, &o, regular, start, &more);
        count += more;
    }
    if (nbytes) *nbytes = count;
    return rc;
}

int hone_hash_path(hone_hash *h, const char *path, const hone_hash_file_opts *opts,
                   uint8_t *out, size_t out_len, uint64_t *nbytes) {
    if (nbytes) *nbytes = 0;
    if (!h || !path || !out) return HONE_EINVAL;
    int rc = hone_hash_reset(h);
    if (rc) return rc;
    int fd;
    do {
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return errno_status(errno);
    rc = hone_hash_update_fd(h, fd, opts, nbytes);
    close(fd);
    if (rc) return rc;
    return hone_hash_final(h, out, out_len);
}
