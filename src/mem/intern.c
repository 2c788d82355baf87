/* intern.c - a thread-safe string interner: sharded open-addressing
 * tables whose strings live in append-only chunks, so pointers are stable. */
#include "hone/mem.h"

#include <pthread.h>
#include <string.h>

#define SHARDS 16

typedef struct entry {
    uint64_t hash; /* 0: empty slot (real hashes are forced nonzero) */
    const char *str;
    size_t len;
} entry;

typedef struct chunk {
    struct chunk *next;
    size_t used, size;
    char data[];
} chunk;

typedef struct shard {
    pthread_mutex_t mu;
    entry *tab;
    size_t cap, count; /* cap is a power of two or 0 */
    chunk *chunks;
    char pad[64];
} shard;

struct hone_interner {
    const hone_allocator *alloc;
    shard shards[SHARDS];
};

/* FNV-1a, then a final mix so the top bits (the shard) are well spread. */
static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h ? h : 1;
}

int hone_interner_new(hone_interner **out, const hone_interner_opts *opts) {
    if (!out) return HONE_EINVAL;
    *out = NULL;
    const hone_allocator *a = opts ? opts->alloc : NULL;
    hone_interner *in = hone_calloc(a, 1, sizeof *in);
    if (!in) return HONE_ENOMEM;
    in->alloc = a;
    for (int i = 0; i < SHARDS; i++) pthread_mutex_init(&in->shards[i].mu, NULL);
    *out = in;
    return HONE_OK;
}

static const entry *find(const shard *sh, uint64_t h, const char *s, size_t len) {
    if (!sh->cap) return NULL;
    for (size_t i = h & (sh->cap - 1);; i = (i + 1) & (sh->cap - 1)) {
        const entry *e = &sh->tab[i];
        if (!e->hash) return NULL;
        if (e->hash == h && e->len == len && !memcmp(e->str, s, len)) return e;
    }
}

static void place(entry *tab, size_t cap, entry e) {
    size_t i = e.hash & (cap - 1);
    while (tab[i].hash) i = (i + 1) & (cap - 1);
    tab[i] = e;
}

/* Caller holds the shard lock. Makes room for one more entry. */
static int grow(const hone_allocator *a, shard *sh) {
    if ((sh->count + 1) * 10 <= sh->cap * 7) return HONE_OK;
    size_t cap = sh->cap ? sh->cap * 2 : 64;
    entry *t = hone_calloc(a, cap, sizeof *t);
    if (!t) return HONE_ENOMEM;
    for (size_t i = 0; i < sh->cap; i++)
        if (sh->tab[i].hash) place(t, cap, sh->tab[i]);
    hone_free(a, sh->tab);
    sh->tab = t;
    sh->cap = cap;
    return HONE_OK;
}

static char *store(const hone_allocator *a, shard *sh, const char *s, size_t len) {
    chunk *c = sh->chunks;
    if (!c || c->size - c->used < len + 1) {
        size_t size = len + 1 > 4096 ? len + 1 : 4096;
        c = hone_malloc(a, sizeof *c + size);
        if (!c) return NULL;
        c->size = size;
        c->used = 0;
        c->next = sh->chunks;
        sh->chunks = c;
    }
    char *d = c->data + c->used;
    memcpy(d, s, len);
    d[len] = 0;
    c->used += len + 1;
    return d;
}

int hone_intern(hone_interner *in, const char *s, size_t len, const char **out) {
    if (out) *out = NULL;
    if (!in || !out || (!s && len)) return HONE_EINVAL;
    if (!s) s = "";
    uint64_t h = hash_bytes(s, len);
    shard *sh = &in->shards[h >> 60];
    pthread_mutex_lock(&sh->mu);
    const entry *e = find(sh, h, s, len);
    int rc = HONE_OK;
    if (e) {
        *out = e->str;
    } else if ((rc = grow(in->alloc, sh)) == HONE_OK) {
        char *d = store(in->alloc, sh, s, len);
        if (d) {
            place(sh->tab, sh->cap, (entry){h, d, len});
            sh->count++;
            *out = d;
        } else {
            rc = HONE_ENOMEM;
        }
    }
    pthread_mutex_unlock(&sh->mu);
    return rc;
}

const char *hone_intern_lookup(hone_interner *in, const char *s, size_t len) {
    if (!in || (!s && len)) return NULL;
    if (!s) s = "";
    uint64_t h = hash_bytes(s, len);
    shard *sh = &in->shards[h >> 60];
    pthread_mutex_lock(&sh->mu);
    const entry *e = find(sh, h, s, len);
    const char *r = e ? e->str : NULL;
    pthread_mutex_unlock(&sh->mu);
    return r;
}

size_t hone_interner_count(hone_interner *in) {
    size_t n = 0;
    for (int i = 0; in && i < SHARDS; i++) {
        pthread_mutex_lock(&in->shards[i].mu);
        n += in->shards[i].count;
        pthread_mutex_unlock(&in->shards[i].mu);
    }
    return n;
}

void hone_interner_free(hone_interner *in) {
    if (!in) return;
    for (int i = 0; i < SHARDS; i++) {
        shard *sh = &in->shards[i];
        for (chunk *c = sh->chunks, *n; c; c = n) {
            n = c->next;
            hone_free(in->alloc, c);
        }
        hone_free(in->alloc, sh->tab);
        pthread_mutex_destroy(&sh->mu);
    }
    hone_free(in->alloc, in);
}
