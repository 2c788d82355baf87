/* file.c - hashing files, pipes and stdin in constant memory: large
 * sequential read()s or mmap (guarded, so a file that shrinks is an error,
 * not a SIGBUS), with posix_fadvise/madvise hints. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string.h>

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

/* ------------------------------------------------------------------ */
/* Guarding mappings against a file that shrinks                       */
/* ------------------------------------------------------------------ */

/* Reading a page of a mapping that lies past the end of its file (another
 * process truncated it) raises SIGBUS, which kills the process. Choices,
 * and why this one (docs/design/hash.md, "mmap and files that shrink"):
 * checking the size before and after (re-fstat) leaves the window between
 * the check and the read; sigsetjmp/siglongjmp on the faulting thread (the
 * LMDB users' way) cannot reach the pool threads a multi-threaded BLAKE3
 * hash runs on, and jumping out of them would leave the pool mid-task;
 * dropping mmap would drop --io mmap. So the mappings being hashed are
 * registered here, and a process-wide SIGBUS handler, installed on first
 * use of mmap, that finds the faulting address in one of them maps zero
 * pages over the rest of that mapping (mmap MAP_FIXED is one system call,
 * safe in a handler), notes the hit, and returns: the faulting read, on
 * whatever thread, goes on with zeros, and map_hash() then reports
 * HONE_EIO. A SIGBUS anywhere else goes to the handler that was there
 * before (or kills the process, as it would have). If the program installs
 * its own handler later, the next mapping installs this one again, in
 * front of it. */
#define GUARD_SLOTS 64
static struct guard_slot {
    atomic_int used;
    atomic_uintptr_t start; /* 0: not active; stored last, cleared first */
    atomic_uintptr_t end;
    atomic_int hit;
} guards[GUARD_SLOTS];
static struct sigaction old_bus;
static uintptr_t page_mask;
static pthread_mutex_t bus_lock = PTHREAD_MUTEX_INITIALIZER;

void (*hone__hash_map_hook)(int fd, uint64_t off, uint64_t len);

static void on_sigbus(int sig, siginfo_t *si, void *uc) {
    int saved = errno;
    uintptr_t a = (uintptr_t)si->si_addr;
    for (size_t i = 0; si->si_code > 0 && i < GUARD_SLOTS; i++) {
        uintptr_t s = atomic_load(&guards[i].start);
        if (!s) continue;
        uintptr_t e = atomic_load(&guards[i].end);
        if (a < s || a >= e) continue;
        uintptr_t page = a & page_mask;
        void *r = mmap((void *)page, e - page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                       -1, 0);
        if (r != MAP_FAILED) {
            atomic_store(&guards[i].hit, 1);
            errno = saved;
            return;
        }
        break;
    }
    /* Not one of ours: whoever had SIGBUS before gets it. */
    if (old_bus.sa_flags & SA_SIGINFO) {
        old_bus.sa_sigaction(sig, si, uc);
    } else if (old_bus.sa_handler != SIG_DFL && old_bus.sa_handler != SIG_IGN) {
        old_bus.sa_handler(sig);
    } else {
        /* Default action: for a fault, returning runs the access again,
         * which now kills the process as it would have; a sent SIGBUS is
         * raised again (delivered when this handler returns). */
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigemptyset(&dfl.sa_mask);
        sigaction(SIGBUS, &dfl, NULL);
        if (si->si_code <= 0) raise(SIGBUS);
    }
    errno = saved;
}

/* Makes sure on_sigbus is SIGBUS's handler: installs it on first use, and
 * again if the program has installed another since (that one becomes the
 * handler faults outside our mappings go to). Returns whether it is. */
static int arm_bus(void) {
    pthread_mutex_lock(&bus_lock);
    int ok = 0;
    struct sigaction cur;
    if (!page_mask) {
        long page = sysconf(_SC_PAGESIZE);
        if (page > 0) page_mask = ~((uintptr_t)page - 1);
    }
    if (page_mask && sigaction(SIGBUS, NULL, &cur) == 0) {
        ok = (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_sigbus;
        if (!ok) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_sigaction = on_sigbus;
            sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
            sigemptyset(&sa.sa_mask);
            old_bus = cur;
            ok = sigaction(SIGBUS, &sa, NULL) == 0;
        }
    }
    pthread_mutex_unlock(&bus_lock);
    return ok;
}

/* Registers [m, m+len) for the handler; -1 if it cannot be guarded (the
 * handler cannot be installed, or every slot is in use). */
static int guard_add(void *m, size_t len) {
    if (!arm_bus()) return -1;
    for (int i = 0; i < GUARD_SLOTS; i++) {
        int z = 0;
        if (!atomic_compare_exchange_strong(&guards[i].used, &z, 1)) continue;
        atomic_store(&guards[i].hit, 0);
        atomic_store(&guards[i].end, (uintptr_t)m + len);
        atomic_store(&guards[i].start, (uintptr_t)m);
        return i;
    }
    return -1;
}

/* Unregisters slot i; returns whether the handler caught a read past the
 * end of the file in it. */
static int guard_remove(int i) {
    atomic_store(&guards[i].start, 0);
    int hit = atomic_load(&guards[i].hit);
    atomic_store(&guards[i].used, 0);
    return hit;
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
    int slot = guard_add(m, map_len);
    if (slot < 0) {
        munmap(m, map_len);
        return 1;
    }
    if (hone__hash_map_hook) hone__hash_map_hook(fd, off, len);
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
    int shrank = guard_remove(slot);
    munmap(m, map_len);
    /* A shrink that stays inside the last page reads zeros without a
     * fault: the size afterwards catches it. */
    struct stat st;
    if (!rc && (shrank || (fstat(fd, &st) == 0 && (uint64_t)st.st_size < off + len))) rc = HONE_EIO;
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
