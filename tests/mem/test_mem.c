/* test_mem.c - object pool (distinct objects, reuse, stats, threads),
 * interner (stable pointers, equality by pointer, threads) and arena
 * (alignment, reset reuses memory, oversized requests). */
#include "test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void objpool_basic(void **state) {
    hone_objpool *p;
    hone_objpool_opts o = {.obj_size = 60, .cache_size = 8, .slab_objects = 32};
    assert_int_equal(hone_objpool_new(&p, &o), HONE_OK);
    enum { N = 1000 };
    unsigned char **objs = calloc(N, sizeof *objs);
    for (int i = 0; i < N; i++) {
        objs[i] = hone_objpool_get(p);
        assert_non_null(objs[i]);
        assert_int_equal((uintptr_t)objs[i] % 16, 0);
        memset(objs[i], i & 0xff, 60);
    }
    /* Distinct and not overlapping: every byte still holds its pattern. */
    for (int i = 0; i < N; i++)
        for (int k = 0; k < 60; k++) assert_int_equal(objs[i][k], i & 0xff);
    hone_objpool_stats st;
    hone_objpool_stats_get(p, &st);
    assert_int_equal(st.gets, N);
    assert_int_equal(st.in_use, N);
    assert_true(st.capacity >= N);
    assert_int_equal(st.slabs, (st.capacity + 31) / 32);
    for (int i = 0; i < N; i++) hone_objpool_put(p, objs[i]);
    hone_objpool_put(p, NULL);
    hone_objpool_stats_get(p, &st);
    assert_int_equal(st.puts, N);
    assert_int_equal(st.in_use, 0);
    uint64_t slabs = st.slabs;
    /* Reuse: getting them all again makes no new slab. */
    for (int i = 0; i < N; i++) objs[i] = hone_objpool_get(p);
    hone_objpool_stats_get(p, &st);
    assert_int_equal(st.slabs, slabs);
    assert_true(st.cache_hits > 0);
    hone_objpool_free(p); /* objects still out are freed with the pool */
    free(objs);
    hone_objpool_free(NULL);
    assert_int_equal(hone_objpool_new(&p, NULL), HONE_EINVAL);
    hone_objpool_opts z = {0};
    assert_int_equal(hone_objpool_new(&p, &z), HONE_EINVAL);
}

/* Sizes that are a multiple of 64 get objects on their own cache lines. */
static void objpool_line_aligned(void **state) {
    for (size_t size = 64; size <= 192; size += 64) {
        hone_objpool *p;
        hone_objpool_opts o = {.obj_size = size, .slab_objects = 7};
        assert_int_equal(hone_objpool_new(&p, &o), HONE_OK);
        for (int i = 0; i < 30; i++) {
            unsigned char *x = hone_objpool_get(p);
            assert_non_null(x);
            assert_int_equal((uintptr_t)x % 64, 0);
            memset(x, 0xab, size); /* the whole object is ours (ASan checks) */
        }
        hone_objpool_free(p);
    }
}

static void *objpool_worker(void *arg) {
    hone_objpool *p = arg;
    uint64_t *held[16];
    uint64_t me = (uint64_t)(uintptr_t)pthread_self();
    for (int round = 0; round < 2000; round++) {
        for (int i = 0; i < 16; i++) {
            held[i] = hone_objpool_get(p);
            assert_non_null(held[i]);
            held[i][0] = me;
            held[i][1] = (uint64_t)i;
        }
        for (int i = 0; i < 16; i++) {
            assert_true(held[i][0] == me && held[i][1] == (uint64_t)i);
            hone_objpool_put(p, held[i]);
        }
    }
    return NULL;
}

static void objpool_threads(void **state) {
    hone_objpool *p;
    hone_objpool_opts o = {.obj_size = 64};
    assert_int_equal(hone_objpool_new(&p, &o), HONE_OK);
    pthread_t th[4];
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, objpool_worker, p);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    hone_objpool_stats st;
    hone_objpool_stats_get(p, &st);
    assert_int_equal(st.gets, 4 * 2000 * 16);
    assert_int_equal(st.puts, 4 * 2000 * 16);
    hone_objpool_free(p);
}

/* Objects taken on one thread and returned on another (what a thread pool
 * does with its jobs): the returning thread's cache spills them back, and
 * every object handed out afterwards is still distinct from every other
 * one out at the same time. */
enum { XN = 3000 };
typedef struct xfer {
    hone_objpool *p;
    void **objs;
} xfer;

static void *put_all(void *arg) {
    xfer *x = arg;
    for (int i = 0; i < XN; i++) hone_objpool_put(x->p, x->objs[i]);
    return NULL;
}

static int cmp_ptr(const void *a, const void *b) {
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return x < y ? -1 : x > y;
}

static void objpool_cross_thread(void **state) {
    for (size_t cache = 0; cache <= 16; cache += 16) { /* default and 16 */
        hone_objpool *p;
        hone_objpool_opts o = {.obj_size = 24, .cache_size = cache, .slab_objects = 100};
        assert_int_equal(hone_objpool_new(&p, &o), HONE_OK);
        void **objs = calloc(XN, sizeof *objs);
        xfer x = {p, objs};
        for (int round = 0; round < 4; round++) {
            for (int i = 0; i < XN; i++) {
                objs[i] = hone_objpool_get(p);
                assert_non_null(objs[i]);
            }
            qsort(objs, XN, sizeof *objs, cmp_ptr);
            for (int i = 1; i < XN; i++) assert_ptr_not_equal(objs[i - 1], objs[i]);
            pthread_t th;
            assert_int_equal(pthread_create(&th, NULL, put_all, &x), 0);
            pthread_join(th, NULL);
        }
        hone_objpool_stats st;
        hone_objpool_stats_get(p, &st);
        assert_int_equal(st.gets, 4 * XN);
        assert_int_equal(st.puts, 4 * XN);
        /* Returned objects are reused: at most one cache's worth of objects
         * per exited thread is stranded, so capacity stays near XN. */
        assert_true(st.capacity <= XN + 4 * 64 + 100);
        free(objs);
        hone_objpool_free(p);
    }
}

/* More pools than a thread has cache slots, and slots left by freed pools
 * being reclaimed. */
static void objpool_many_pools(void **state) {
    hone_objpool *ps[6];
    hone_objpool_opts o = {.obj_size = 32};
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 6; i++) assert_int_equal(hone_objpool_new(&ps[i], &o), HONE_OK);
        for (int i = 0; i < 6; i++) {
            void *a = hone_objpool_get(ps[i]);
            void *b = hone_objpool_get(ps[i]);
            assert_non_null(a);
            assert_ptr_not_equal(a, b);
            hone_objpool_put(ps[i], a);
            hone_objpool_put(ps[i], b);
            hone_objpool_stats st;
            hone_objpool_stats_get(ps[i], &st);
            assert_int_equal(st.gets, 2);
            assert_int_equal(st.puts, 2);
        }
        for (int i = 0; i < 6; i++) hone_objpool_free(ps[i]);
    }
}

static void interner_basic(void **state) {
    hone_interner *in;
    assert_int_equal(hone_interner_new(&in, NULL), HONE_OK);
    const char *a, *b, *c, *e;
    char buf[16] = "hello";
    assert_int_equal(hone_intern(in, "hello", 5, &a), HONE_OK);
    assert_int_equal(hone_intern(in, buf, 5, &b), HONE_OK);
    assert_ptr_equal(a, b);
    assert_ptr_not_equal(a, buf);
    assert_string_equal(a, "hello");
    assert_int_equal(hone_intern(in, "hell", 4, &c), HONE_OK);
    assert_ptr_not_equal(a, c);
    assert_string_equal(c, "hell");
    /* Embedded NULs count: length is part of the key. */
    assert_int_equal(hone_intern(in, "a\0b", 3, &e), HONE_OK);
    assert_int_equal(memcmp(e, "a\0b", 4), 0);
    assert_ptr_not_equal(e, hone_intern_lookup(in, "a", 1));
    assert_ptr_equal(hone_intern_lookup(in, "hello", 5), a);
    assert_null(hone_intern_lookup(in, "nope", 4));
    const char *empty;
    assert_int_equal(hone_intern(in, NULL, 0, &empty), HONE_OK);
    assert_string_equal(empty, "");
    assert_int_equal(hone_interner_count(in), 4);
    /* Many strings: pointers handed out earlier stay valid and equal. */
    char s[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(s, sizeof s, "key-%d", i);
        const char *p;
        assert_int_equal(hone_intern(in, s, strlen(s), &p), HONE_OK);
    }
    assert_ptr_equal(hone_intern_lookup(in, "hello", 5), a);
    assert_string_equal(a, "hello");
    assert_int_equal(hone_interner_count(in), 20004);
    assert_int_equal(hone_intern(in, NULL, 3, &a), HONE_EINVAL);
    hone_interner_free(in);
    hone_interner_free(NULL);
}

typedef struct ictx {
    hone_interner *in;
    const char **out;
} ictx;

static void *intern_worker(void *arg) {
    ictx *c = arg;
    char s[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(s, sizeof s, "shared-%d", i);
        assert_int_equal(hone_intern(c->in, s, strlen(s), &c->out[i]), HONE_OK);
    }
    return NULL;
}

static void interner_threads(void **state) {
    hone_interner *in;
    assert_int_equal(hone_interner_new(&in, NULL), HONE_OK);
    ictx c[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        c[i].in = in;
        c[i].out = calloc(3000, sizeof(char *));
        pthread_create(&th[i], NULL, intern_worker, &c[i]);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int k = 0; k < 3000; k++)
        for (int i = 1; i < 4; i++) assert_ptr_equal(c[i].out[k], c[0].out[k]);
    assert_int_equal(hone_interner_count(in), 3000);
    for (int i = 0; i < 4; i++) free(c[i].out);
    hone_interner_free(in);
}

static void arena_basic(void **state) {
    hone_arena *a;
    hone_arena_opts o = {.chunk_size = 1024};
    assert_int_equal(hone_arena_new(&a, &o), HONE_OK);
    void *first = hone_arena_alloc(a, 10, 0);
    assert_non_null(first);
    assert_int_equal((uintptr_t)first % 16, 0);
    for (size_t al = 1; al <= 4096; al *= 2) {
        void *p = hone_arena_alloc(a, 3, al);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % al, 0);
    }
    assert_null(hone_arena_alloc(a, 8, 3));
    assert_null(hone_arena_alloc(a, 8, 8192));
    /* Oversized: its own chunk, released by reset. */
    char *big = hone_arena_alloc(a, 100000, 8);
    assert_non_null(big);
    memset(big, 1, 100000);
    size_t before = hone_arena_reserved(a);
    assert_true(hone_arena_used(a) >= 100010);
    hone_arena_reset(a);
    assert_int_equal(hone_arena_used(a), 0);
    assert_true(hone_arena_reserved(a) < before);
    size_t kept = hone_arena_reserved(a);
    /* After reset the same memory comes back, without allocating. */
    assert_ptr_equal(hone_arena_alloc(a, 10, 0), first);
    for (int i = 0; i < 50; i++) assert_non_null(hone_arena_alloc(a, 40, 8));
    assert_true(hone_arena_reserved(a) >= kept);
    hone_arena_reset(a);
    assert_ptr_equal(hone_arena_alloc(a, 10, 0), first);
    hone_arena_free(a);
    hone_arena_free(NULL);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(objpool_basic),     cmocka_unit_test(objpool_threads),
        cmocka_unit_test(objpool_many_pools), cmocka_unit_test(objpool_cross_thread),
        cmocka_unit_test(objpool_line_aligned), cmocka_unit_test(interner_basic),
        cmocka_unit_test(interner_threads),  cmocka_unit_test(arena_basic),
};
HONE_TEST_MAIN(tests)
