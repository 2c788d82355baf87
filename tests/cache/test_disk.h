/* test_disk.h - what the disk tier's tests share: a temporary directory
 * removed at the end, raw LMDB access to the tier's file (to damage it the
 * way a disk or another program would), and a log sink that keeps lines. */
#ifndef HONE_TESTS_TEST_DISK_H
#define HONE_TESTS_TEST_DISK_H

#include <ftw.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/disk.h"
#include "test.h"
#include "tmpdir.h"

static char g_dir[256];

static inline void dir_make(void) { assert_int_equal(hone_test_tmpdir(g_dir, sizeof g_dir, "disk-test"), 0); }

static inline void dir_remove(void) {
    hone_test_rmtree(g_dir);
    g_dir[0] = '\0';
}

/* g_dir/name, in a static buffer per call site's copy. */
static inline void dir_path(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", g_dir, name); }

/* Raw LMDB: the file opened as LMDB sees it, one write transaction. */
typedef struct raw {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
} raw;

static inline void raw_open(raw *r, const char *path) {
    assert_int_equal(mdb_env_create(&r->env), 0);
    assert_int_equal(mdb_env_set_mapsize(r->env, (size_t)64 << 20), 0);
    assert_int_equal(mdb_env_open(r->env, path, MDB_NOSUBDIR | MDB_NOTLS, 0644), 0);
    assert_int_equal(mdb_txn_begin(r->env, NULL, 0, &r->txn), 0);
    assert_int_equal(mdb_dbi_open(r->txn, NULL, 0, &r->dbi), 0);
}

static inline void raw_close(raw *r) {
    assert_int_equal(mdb_txn_commit(r->txn), 0);
    mdb_env_close(r->env);
}

/* The LMDB key the tier stores key under. */
static inline size_t raw_key(unsigned char *out, const void *key, size_t klen, int hashed) {
    if (!hashed) {
        out[0] = HONE__DISK_ENTRY_PREFIX;
        memcpy(out + 1, key, klen);
        return klen + 1;
    }
    out[0] = HONE__DISK_HASHED_PREFIX;
    assert_int_equal(hone_hash_oneshot(HONE_HASH_BLAKE3, key, klen, out + 1, 32), 0);
    return 33;
}

/* Counts the records whose key starts with prefix. */
static inline size_t raw_count(raw *r, unsigned char prefix) {
    MDB_cursor *c;
    assert_int_equal(mdb_cursor_open(r->txn, r->dbi, &c), 0);
    MDB_val k, v;
    size_t n = 0;
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); !rc; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
        if (k.mv_size && ((unsigned char *)k.mv_data)[0] == prefix) n++;
    mdb_cursor_close(c);
    return n;
}

/* Log lines kept for assertions. */
static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_log[8192];

static inline void log_keep(void *ctx, hone_log_level level, const char *module, const char *msg) {
    (void)ctx, (void)level, (void)module;
    pthread_mutex_lock(&g_log_mu);
    size_t l = strlen(g_log);
    snprintf(g_log + l, sizeof g_log - l, "%s\n", msg);
    pthread_mutex_unlock(&g_log_mu);
}

static inline void log_capture(void) {
    g_log[0] = '\0';
    hone_log_set_sink(log_keep, NULL);
}

static inline void log_release(void) { hone_log_set_sink(NULL, NULL); }

#endif
