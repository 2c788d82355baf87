/* failalloc.h - an allocator that fails its Nth allocation and counts what
 * is still allocated, for the out-of-memory loops every module runs. */
#ifndef HONE_FAILALLOC_H
#define HONE_FAILALLOC_H

#include "hone/core.h"

typedef struct failalloc {
    hone_allocator alloc; /* pass &fa.alloc to the code under test */
    long fail_at;         /* 1-based allocation to fail; 0 = never */
    long calls;           /* allocations attempted (malloc, and realloc that grow) */
    long failures;        /* allocations failed on purpose */
    long live;            /* blocks allocated and not yet freed */
} failalloc;

/* Sets up fa to fail its fail_at-th allocation (0: never). Thread-safe
 * counting, so threaded code may use it. */
void failalloc_init(failalloc *fa, long fail_at);

/* A call under test: does its work with allocator `a` (which is also the
 * process default while it runs), frees everything it made, and returns
 * HONE_OK, or the status of the call that failed. */
typedef int (*failalloc_fn)(const hone_allocator *a, void *ctx);

/* The out-of-memory loop: runs fn with allocation N failing, for N = 1,
 * 2, 3, ... until a run completes without reaching allocation N. Every run
 * in which an allocation failed must return HONE_ENOMEM (or HONE_OK if the
 * code recovered) and leave no block allocated; a violation fails the
 * current cmocka test with the call's name, N, and both values. Returns the
 * number of allocations the successful run made. */
long failalloc_loop(const char *name, failalloc_fn fn, void *ctx);

#endif
