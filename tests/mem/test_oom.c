/* test_oom.c - out-of-memory loops over the memory helpers: object pool,
 * interner and arena fail cleanly and leak nothing. */
#include "test.h"

#include <stdio.h>
#include <string.h>

static int objpool_run(const hone_allocator *a, void *ctx) {
    hone_objpool_opts o = {.obj_size = 64, .slab_objects = 100, .alloc = a};
    hone_objpool *p;
    int rc = hone_objpool_new(&p, &o);
    if (rc) return rc;
    void *objs[450];
    int n = 0;
    for (; n < 450; n++) {
        objs[n] = hone_objpool_get(p);
        if (!objs[n]) {
            rc = HONE_ENOMEM;
            break;
        }
    }
    for (int i = 0; i < n; i++) hone_objpool_put(p, objs[i]);
    hone_objpool_free(p);
    return rc;
}

static int interner_run(const hone_allocator *a, void *ctx) {
    hone_interner_opts o = {.alloc = a};
    hone_interner *in;
    int rc = hone_interner_new(&in, &o);
    if (rc) return rc;
    char s[32];
    for (int i = 0; i < 600 && !rc; i++) {
        snprintf(s, sizeof s, "string-%d", i);
        const char *p;
        rc = hone_intern(in, s, strlen(s), &p);
        if (!rc && strcmp(p, s)) rc = HONE_EFAIL;
    }
    hone_interner_free(in);
    return rc;
}

static int arena_run(const hone_allocator *a, void *ctx) {
    hone_arena_opts o = {.chunk_size = 512, .alloc = a};
    hone_arena *ar;
    int rc = hone_arena_new(&ar, &o);
    if (rc) return rc;
    for (int round = 0; round < 2 && !rc; round++) {
        for (int i = 0; i < 40 && !rc; i++)
            if (!hone_arena_alloc(ar, 100, 16)) rc = HONE_ENOMEM;
        if (!rc && !hone_arena_alloc(ar, 5000, 64)) rc = HONE_ENOMEM;
        hone_arena_reset(ar);
    }
    hone_arena_free(ar);
    return rc;
}

static void oom_objpool(void **state) { failalloc_loop("objpool", objpool_run, NULL); }
static void oom_interner(void **state) { failalloc_loop("interner", interner_run, NULL); }
static void oom_arena(void **state) { failalloc_loop("arena", arena_run, NULL); }

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(oom_objpool),
        cmocka_unit_test(oom_interner),
        cmocka_unit_test(oom_arena),
};
HONE_TEST_MAIN(tests)
