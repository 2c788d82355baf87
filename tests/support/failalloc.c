/* failalloc.c - the failing allocator and the out-of-memory loop. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

static int should_fail(failalloc *fa) {
    long n = __atomic_add_fetch(&fa->calls, 1, __ATOMIC_RELAXED);
    if (fa->fail_at && n == fa->fail_at) {
        __atomic_add_fetch(&fa->failures, 1, __ATOMIC_RELAXED);
        return 1;
    }
    return 0;
}

static void *fa_malloc(void *ctx, size_t n) {
    failalloc *fa = ctx;
    if (should_fail(fa)) return NULL;
    void *p = malloc(n);
    if (p) __atomic_add_fetch(&fa->live, 1, __ATOMIC_RELAXED);
    return p;
}

static void *fa_realloc(void *ctx, void *ptr, size_t n) {
    failalloc *fa = ctx;
    if (should_fail(fa)) return NULL;
    void *p = realloc(ptr, n);
    if (p && !ptr) __atomic_add_fetch(&fa->live, 1, __ATOMIC_RELAXED);
    return p;
}

static void fa_free(void *ctx, void *ptr) {
    failalloc *fa = ctx;
    if (!ptr) return;
    __atomic_sub_fetch(&fa->live, 1, __ATOMIC_RELAXED);
    free(ptr);
}

void failalloc_init(failalloc *fa, long fail_at) {
    fa->alloc.malloc = fa_malloc;
    fa->alloc.realloc = fa_realloc;
    fa->alloc.free = fa_free;
    fa->alloc.ctx = fa;
    fa->fail_at = fail_at;
    fa->calls = 0;
    fa->failures = 0;
    fa->live = 0;
}

long failalloc_loop(const char *name, failalloc_fn fn, void *ctx) {
    for (long n = 1; n < 1000000; n++) {
        failalloc fa;
        failalloc_init(&fa, n);
        hone_allocator_set_default(&fa.alloc);
        int rc = fn(&fa.alloc, ctx);
        hone_allocator_set_default(NULL);
        if (fa.live != 0)
            fail_msg("%s: with allocation %ld failing, %ld block(s) leaked (status %s)", name, n,
                     fa.live, hone_status_name(rc));
        if (fa.failures == 0) {
            if (rc != HONE_OK)
                fail_msg("%s: without any failed allocation it returned %s, expected HONE_OK", name,
                         hone_status_name(rc));
            return fa.calls;
        }
        if (rc != HONE_ENOMEM && rc != HONE_OK)
            fail_msg("%s: with allocation %ld failing it returned %s, expected HONE_ENOMEM", name, n,
                     hone_status_name(rc));
    }
    fail_msg("%s: did not complete within a million allocations", name);
    return -1;
}
