/* blake3.c - BLAKE3 from its specification: the portable compression
 * function, run-time choice of the SIMD many-chunk path, the chunk state,
 * the tree (optionally split into tasks on an exec pool) and the incremental
 * hasher with extendable output. */
#include "hash/blake3_impl.h"
#include "hash/blake3_sched.h"

#include <errno.h>
#include <unistd.h>

#include "hone/core.h"
#include "hone/exec.h"

const uint32_t hone__b3_iv[8] = {0x6A09E667UL, 0xBB67AE85UL, 0x3C6EF372UL, 0xA54FF53AUL,
                                 0x510E527FUL, 0x9B05688CUL, 0x1F83D9ABUL, 0x5BE0CD19UL};


/* ------------------------------------------------------------------ */
/* Portable compression                                                */
/* ------------------------------------------------------------------ */

static inline uint32_t rotr32(uint32_t w, unsigned c) { return (w >> c) | (w << (32 - c)); }

B3_INLINE void g(uint32_t *state, size_t a, size_t b, size_t c, size_t d, uint32_t x,
                     uint32_t y) {
    state[a] = state[a] + state[b] + x;
    state[d] = rotr32(state[d] ^ state[a], 16);
    state[c] = state[c] + state[d];
    state[b] = rotr32(state[b] ^ state[c], 12);
    state[a] = state[a] + state[b] + y;
    state[d] = rotr32(state[d] ^ state[a], 8);
    state[c] = state[c] + state[d];
    state[b] = rotr32(state[b] ^ state[c], 7);
}

B3_INLINE void round_fn(uint32_t state[16], const uint32_t *msg, size_t round) {
    const uint8_t *s = b3_sched[round];
    /* Columns, then diagonals. */
    g(state, 0, 4, 8, 12, msg[s[0]], msg[s[1]]);
    g(state, 1, 5, 9, 13, msg[s[2]], msg[s[3]]);
    g(state, 2, 6, 10, 14, msg[s[4]], msg[s[5]]);
    g(state, 3, 7, 11, 15, msg[s[6]], msg[s[7]]);
    g(state, 0, 5, 10, 15, msg[s[8]], msg[s[9]]);
    g(state, 1, 6, 11, 12, msg[s[10]], msg[s[11]]);
    g(state, 2, 7, 8, 13, msg[s[12]], msg[s[13]]);
    g(state, 3, 4, 9, 14, msg[s[14]], msg[s[15]]);
}

static inline void compress_pre(uint32_t state[16], const uint32_t cv[8],
                                const uint8_t block[B3_BLOCK_LEN], uint8_t block_len,
                                uint64_t counter, uint8_t flags) {
    uint32_t m[16];
    for (int i = 0; i < 16; i++) m[i] = hone__b3_load32(block + 4 * i);
    for (int i = 0; i < 8; i++) state[i] = cv[i];
    for (int i = 0; i < 4; i++) state[8 + i] = hone__b3_iv[i];
    state[12] = (uint32_t)counter;
    state[13] = (uint32_t)(counter >> 32);
    state[14] = (uint32_t)block_len;
    state[15] = (uint32_t)flags;
    B3_ROUNDS(round_fn, state, m);
}

void hone__b3_compress_in_place(uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
                                uint8_t block_len, uint64_t counter, uint8_t flags) {
    uint32_t state[16];
    compress_pre(state, cv, block, block_len, counter, flags);
    for (int i = 0; i < 8; i++) cv[i] = state[i] ^ state[i + 8];
}

void hone__b3_compress_xof(const uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
                           uint8_t block_len, uint64_t counter, uint8_t flags,
                           uint8_t out[64]) {
    uint32_t state[16];
    compress_pre(state, cv, block, block_len, counter, flags);
    for (int i = 0; i < 8; i++) {
        hone__b3_store32(out + 4 * i, state[i] ^ state[i + 8]);
        hone__b3_store32(out + 32 + 4 * i, state[i + 8] ^ cv[i]);
    }
}

static void hash_one_portable(const uint8_t *input, size_t blocks, const uint32_t key[8],
                              uint64_t counter, uint8_t flags, uint8_t flags_start,
                              uint8_t flags_end, uint8_t out[B3_OUT_LEN]) {
    uint32_t cv[8];
    memcpy(cv, key, sizeof cv);
    uint8_t block_flags = flags | flags_start;
    while (blocks > 0) {
        if (blocks == 1) block_flags |= flags_end;
        hone__b3_compress_in_place(cv, input, B3_BLOCK_LEN, counter, block_flags);
        input += B3_BLOCK_LEN;
        blocks--;
        block_flags = flags;
    }
    hone__b3_store_cv(out, cv);
}

void hone__b3_hash_many_portable(const uint8_t *const *inputs, size_t num_inputs, size_t blocks,
                                 const uint32_t key[8], uint64_t counter, bool increment_counter,
                                 uint8_t flags, uint8_t flags_start, uint8_t flags_end,
                                 uint8_t *out) {
    for (size_t i = 0; i < num_inputs; i++) {
        hash_one_portable(inputs[i], blocks, key, counter, flags, flags_start, flags_end,
                          out + i * B3_OUT_LEN);
        if (increment_counter) counter++;
    }
}

/* ------------------------------------------------------------------ */
/* Choosing a path                                                     */
/* ------------------------------------------------------------------ */

static const hone__b3_impl impl_portable = {"portable", 1, hone__b3_hash_many_portable};
#if defined(__x86_64__)
#define HONE_B3_X86 1
static const hone__b3_impl impl_sse41 = {"sse41", 4, hone__b3_hash_many_sse41};
static const hone__b3_impl impl_avx2 = {"avx2", 16, hone__b3_hash_many_avx2};
static const hone__b3_impl impl_avx512 = {"avx512", 32, hone__b3_hash_many_avx512};
#endif

const hone__b3_impl *hone__b3_select(void) {
#ifdef HONE_B3_X86
    uint32_t f = hone_cpu_features();
    if ((f & (HONE_CPU_AVX512F | HONE_CPU_AVX512VL)) == (HONE_CPU_AVX512F | HONE_CPU_AVX512VL) &&
        (f & HONE_CPU_AVX2))
        return &impl_avx512;
    if (f & HONE_CPU_AVX2) return &impl_avx2;
    if (f & HONE_CPU_SSE41) return &impl_sse41;
#endif
    return &impl_portable;
}

const hone__b3_impl *hone__b3_impl_named(const char *name) {
    const hone__b3_impl *all[] = {
        &impl_portable,
#ifdef HONE_B3_X86
        &impl_sse41, &impl_avx2, &impl_avx512,
#endif
    };
    uint32_t need[] = {0,
#ifdef HONE_B3_X86
                       HONE_CPU_SSE41, HONE_CPU_SSE41 | HONE_CPU_AVX2,
                       HONE_CPU_SSE41 | HONE_CPU_AVX2 | HONE_CPU_AVX512F | HONE_CPU_AVX512VL
#endif
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (!strcmp(all[i]->name, name)) return hone_cpu_has(need[i]) ? all[i] : NULL;
    return NULL;
}

const char *hone_hash_blake3_impl(void) { return hone__b3_select()->name; }

/* ------------------------------------------------------------------ */
/* Chunk state and output                                              */
/* ------------------------------------------------------------------ */

static void chunk_init(hone__b3_chunk *c, const uint32_t key[8], uint8_t flags) {
    memcpy(c->cv, key, sizeof c->cv);
    c->chunk_counter = 0;
    memset(c->buf, 0, sizeof c->buf);
    c->buf_len = 0;
    c->blocks_compressed = 0;
    c->flags = flags;
}

static void chunk_reset(hone__b3_chunk *c, const uint32_t key[8], uint64_t chunk_counter) {
    memcpy(c->cv, key, sizeof c->cv);
    c->chunk_counter = chunk_counter;
    c->blocks_compressed = 0;
    memset(c->buf, 0, sizeof c->buf);
    c->buf_len = 0;
}

static size_t chunk_len(const hone__b3_chunk *c) {
    return B3_BLOCK_LEN * (size_t)c->blocks_compressed + c->buf_len;
}

static uint8_t chunk_start_flag(const hone__b3_chunk *c) {
    return c->blocks_compressed == 0 ? B3_CHUNK_START : 0;
}

static size_t chunk_fill_buf(hone__b3_chunk *c, const uint8_t *input, size_t len) {
    size_t take = B3_BLOCK_LEN - (size_t)c->buf_len;
    if (take > len) take = len;
    memcpy(c->buf + c->buf_len, input, take);
    c->buf_len += (uint8_t)take;
    return take;
}

static void chunk_update(hone__b3_chunk *c, const uint8_t *input, size_t len) {
    if (c->buf_len > 0) {
        size_t take = chunk_fill_buf(c, input, len);
        input += take;
        len -= take;
        /* The buffered block is compressed only when more input follows:
         * the last block of a chunk needs CHUNK_END (and maybe ROOT). */
        if (len > 0) {
            hone__b3_compress_in_place(c->cv, c->buf, B3_BLOCK_LEN, c->chunk_counter,
                                       c->flags | chunk_start_flag(c));
            c->blocks_compressed++;
            c->buf_len = 0;
            memset(c->buf, 0, sizeof c->buf);
        }
    }
    while (len > B3_BLOCK_LEN) {
        hone__b3_compress_in_place(c->cv, input, B3_BLOCK_LEN, c->chunk_counter,
                                   c->flags | chunk_start_flag(c));
        c->blocks_compressed++;
        input += B3_BLOCK_LEN;
        len -= B3_BLOCK_LEN;
    }
    chunk_fill_buf(c, input, len);
}

/* The inputs of a compression not yet done: enough to produce either a
 * chaining value or, as the root, any amount of output. */
typedef struct output {
    uint32_t cv[8];
    uint8_t block[B3_BLOCK_LEN];
    uint8_t block_len;
    uint64_t counter;
    uint8_t flags;
} output;

static output make_output(const uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
                          uint8_t block_len, uint64_t counter, uint8_t flags) {
    output o;
    memcpy(o.cv, cv, sizeof o.cv);
    memcpy(o.block, block, B3_BLOCK_LEN);
    o.block_len = block_len;
    o.counter = counter;
    o.flags = flags;
    return o;
}

static void output_cv(const output *o, uint8_t cv_bytes[B3_OUT_LEN]) {
    uint32_t cv[8];
    memcpy(cv, o->cv, sizeof cv);
    hone__b3_compress_in_place(cv, o->block, o->block_len, o->counter, o->flags);
    hone__b3_store_cv(cv_bytes, cv);
}

static void output_root_bytes(const output *o, uint64_t seek, uint8_t *out, size_t out_len) {
    uint64_t block_counter = seek / 64;
    size_t offset = (size_t)(seek % 64);
    uint8_t wide[64];
    while (out_len > 0) {
        hone__b3_compress_xof(o->cv, o->block, o->block_len, block_counter, o->flags | B3_ROOT,
                              wide);
        size_t n = 64 - offset;
        if (n > out_len) n = out_len;
        memcpy(out, wide + offset, n);
        out += n;
        out_len -= n;
        block_counter++;
        offset = 0;
    }
}

static output chunk_output(const hone__b3_chunk *c) {
    uint8_t block_flags = c->flags | chunk_start_flag(c) | B3_CHUNK_END;
    return make_output(c->cv, c->buf, c->buf_len, c->chunk_counter, block_flags);
}

static output parent_output(const uint8_t block[B3_BLOCK_LEN], const uint32_t key[8],
                            uint8_t flags) {
    return make_output(key, block, B3_BLOCK_LEN, 0, flags | B3_PARENT);
}

/* ------------------------------------------------------------------ */
/* The tree over a contiguous input                                    */
/* ------------------------------------------------------------------ */

static uint64_t round_down_pow2(uint64_t x) {
    return x == 0 ? 0 : (uint64_t)1 << (63 - __builtin_clzll(x | 1));
}

/* The length of the left subtree of an input of `len` bytes (more than one
 * chunk): the largest power-of-two number of chunks that leaves at least
 * one byte for the right. */
static size_t left_len(size_t len) {
    size_t full_chunks = (len - 1) / B3_CHUNK_LEN;
    return (size_t)round_down_pow2(full_chunks) * B3_CHUNK_LEN;
}

/* Hashes up to `degree` chunks (the last may be partial) side by side.
 * Returns the number of chaining values written to out. */
static size_t compress_chunks(const hone__b3_impl *impl, const uint8_t *input, size_t len,
                              const uint32_t key[8], uint64_t chunk_counter, uint8_t flags,
                              uint8_t *out) {
    const uint8_t *ptrs[B3_MAX_SIMD_DEGREE];
    size_t n = 0;
    while (len - n * B3_CHUNK_LEN >= B3_CHUNK_LEN) {
        ptrs[n] = input + n * B3_CHUNK_LEN;
        n++;
    }
    /* Whole chunks go side by side; a partial tail through a chunk state. */
    impl->hash_many(ptrs, n, B3_CHUNK_LEN / B3_BLOCK_LEN, key, chunk_counter, true, flags,
                    B3_CHUNK_START, B3_CHUNK_END, out);
    size_t done = n * B3_CHUNK_LEN;
    if (len > done) {
        hone__b3_chunk c;
        chunk_init(&c, key, flags);
        c.chunk_counter = chunk_counter + n;
        chunk_update(&c, input + done, len - done);
        output o = chunk_output(&c);
        output_cv(&o, out + n * B3_OUT_LEN);
        n++;
    }
    return n;
}

/* Hashes pairs of chaining values into parents, side by side. An odd last
 * value is passed up as it is. Returns the number written to out. */
static size_t compress_parents(const hone__b3_impl *impl, const uint8_t *cvs, size_t n,
                               const uint32_t key[8], uint8_t flags, uint8_t *out) {
    const uint8_t *ptrs[B3_MAX_SIMD_DEGREE];
    size_t pairs = 0;
    while (n - 2 * pairs >= 2) {
        ptrs[pairs] = cvs + pairs * 2 * B3_OUT_LEN;
        pairs++;
    }
    impl->hash_many(ptrs, pairs, 1, key, 0, false, flags | B3_PARENT, 0, 0, out);
    if (n > 2 * pairs) {
        memcpy(out + pairs * B3_OUT_LEN, cvs + pairs * 2 * B3_OUT_LEN, B3_OUT_LEN);
        return pairs + 1;
    }
    return pairs;
}

/* Minimum bytes for the right side of a split whose left side goes to
 * another thread: below this, starting a thread costs more than it saves.
 * A variable so tests can lower it and run the threaded tree on the small
 * official vectors. */
size_t hone__b3_mt_min_split = (size_t)1 << 20;

static size_t compress_subtree_wide(const hone__b3_impl *impl, const uint8_t *input, size_t len,
                                    const uint32_t key[8], uint64_t chunk_counter, uint8_t flags,
                                    unsigned threads, hone_pool *pool, uint8_t *out);

typedef struct subtree_job {
    const hone__b3_impl *impl;
    const uint8_t *input;
    size_t len;
    const uint32_t *key;
    uint64_t chunk_counter;
    uint8_t flags;
    unsigned threads;
    hone_pool *pool;
    uint8_t *out;
    size_t n_out;
} subtree_job;

static int subtree_task(void *arg, hone_task *task) {
    (void)task;
    subtree_job *j = arg;
    j->n_out = compress_subtree_wide(j->impl, j->input, j->len, j->key, j->chunk_counter,
                                     j->flags, j->threads, j->pool, j->out);
    return HONE_OK;
}

/* Hashes a whole subtree of more than zero bytes (a power of two number of
 * chunks, or the final part of the input) into at most max(degree, 2)
 * chaining values, splitting it in two recursively so the SIMD width is
 * used on the leaves. With threads > 1 the left half becomes a task on
 * `pool` (NULL: the default pool) with half the thread budget, and the
 * right half runs here with the rest, so at most `threads` subtrees are in
 * flight. A task that cannot be queued leaves its half to this thread. */
static size_t compress_subtree_wide(const hone__b3_impl *impl, const uint8_t *input, size_t len,
                                    const uint32_t key[8], uint64_t chunk_counter, uint8_t flags,
                                    unsigned threads, hone_pool *pool, uint8_t *out) {
    if (len <= impl->degree * B3_CHUNK_LEN)
        return compress_chunks(impl, input, len, key, chunk_counter, flags, out);
    size_t l_len = left_len(len);
    size_t r_len = len - l_len;
    uint64_t r_counter = chunk_counter + (uint64_t)(l_len / B3_CHUNK_LEN);

    uint8_t cvs[2 * B3_MAX_SIMD_DEGREE * B3_OUT_LEN];
    size_t degree = impl->degree;
    /* With degree 1 the left side still returns two values (it is more
     * than one chunk), so the right side's values start after two. */
    if (l_len > B3_CHUNK_LEN && degree == 1) degree = 2;
    uint8_t *r_cvs = cvs + degree * B3_OUT_LEN;

    size_t l_n = 0, r_n;
    hone_scope *scope = NULL;
    subtree_job job;
    if (threads > 1 && r_len >= hone__b3_mt_min_split) {
        if (!pool) pool = hone_pool_default();
        unsigned l_threads = threads / 2;
        job = (subtree_job){impl, input, l_len, key, chunk_counter, flags, l_threads, pool, cvs, 0};
        if (pool && hone_scope_new(&scope, pool) == HONE_OK) {
            if (hone_scope_spawn(scope, subtree_task, &job) == HONE_OK) {
                threads -= l_threads;
            } else {
                hone_scope_free(scope);
                scope = NULL;
            }
        }
    }
    if (!scope) l_n = compress_subtree_wide(impl, input, l_len, key, chunk_counter, flags,
                                            threads, pool, cvs);
    r_n = compress_subtree_wide(impl, input + l_len, r_len, key, r_counter, flags, threads, pool,
                                r_cvs);
    if (scope) {
        /* From a worker this runs queued tasks while it waits. */
        hone_scope_free(scope);
        l_n = job.n_out;
    }
    if (l_n == 1) {
        /* Only with degree 1: the two values are already the children. */
        memcpy(out, cvs, 2 * B3_OUT_LEN);
        return 2;
    }
    return compress_parents(impl, cvs, l_n + r_n, key, flags, out);
}

/* Hashes a subtree of more than one chunk down to the two chaining values
 * of its root's children. */
static void compress_subtree_to_parent_node(const hone__b3_impl *impl, const uint8_t *input,
                                            size_t len, const uint32_t key[8],
                                            uint64_t chunk_counter, uint8_t flags,
                                            unsigned threads, hone_pool *pool,
                                            uint8_t out[2 * B3_OUT_LEN]) {
    uint8_t cvs[2 * B3_MAX_SIMD_DEGREE * B3_OUT_LEN];
    size_t n = compress_subtree_wide(impl, input, len, key, chunk_counter, flags, threads, pool,
                                     cvs);
    uint8_t tmp[B3_MAX_SIMD_DEGREE * B3_OUT_LEN];
    while (n > 2) {
        n = compress_parents(impl, cvs, n, key, flags, tmp);
        memcpy(cvs, tmp, n * B3_OUT_LEN);
    }
    memcpy(out, cvs, 2 * B3_OUT_LEN);
}

/* ------------------------------------------------------------------ */
/* The incremental hasher                                              */
/* ------------------------------------------------------------------ */

static void hasher_init_base(hone__b3 *s, const uint32_t key[8], uint8_t flags) {
    memcpy(s->key, key, sizeof s->key);
    chunk_init(&s->chunk, key, flags);
    s->cv_stack_len = 0;
    s->impl = hone__b3_select();
    s->threads = 0;
    s->pool = NULL;
}

void hone__b3_init(hone__b3 *s) { hasher_init_base(s, hone__b3_iv, 0); }

void hone__b3_init_keyed(hone__b3 *s, const uint8_t key[B3_KEY_LEN]) {
    uint32_t kw[8];
    hone__b3_load_key(kw, key);
    hasher_init_base(s, kw, B3_KEYED_HASH);
}

void hone__b3_init_derive_key(hone__b3 *s, const char *context) {
    hone__b3 ctx;
    hasher_init_base(&ctx, hone__b3_iv, B3_DERIVE_KEY_CONTEXT);
    hone__b3_update(&ctx, context, strlen(context));
    uint8_t ck[B3_KEY_LEN];
    hone__b3_finalize_seek(&ctx, 0, ck, sizeof ck);
    uint32_t kw[8];
    hone__b3_load_key(kw, ck);
    hasher_init_base(s, kw, B3_DERIVE_KEY_MATERIAL);
}

void hone__b3_reset(hone__b3 *s) {
    chunk_reset(&s->chunk, s->key, 0);
    s->cv_stack_len = 0;
    s->impl = hone__b3_select();
}

/* Merges the stack down to popcount(total_chunks) entries: the completed
 * subtrees of a tree of that many chunks. Done before a push, not after,
 * so the last value stays unmerged until we know it is not the root. */
static void merge_cv_stack(hone__b3 *s, uint64_t total_chunks) {
    size_t post = (size_t)__builtin_popcountll(total_chunks);
    while (s->cv_stack_len > post) {
        uint8_t *parent = s->cv_stack + (s->cv_stack_len - 2) * B3_OUT_LEN;
        output o = parent_output(parent, s->key, s->chunk.flags);
        output_cv(&o, parent);
        s->cv_stack_len--;
    }
}

static void push_cv(hone__b3 *s, const uint8_t cv[B3_OUT_LEN], uint64_t chunk_counter) {
    merge_cv_stack(s, chunk_counter);
    memcpy(s->cv_stack + s->cv_stack_len * B3_OUT_LEN, cv, B3_OUT_LEN);
    s->cv_stack_len++;
}

void hone__b3_update(hone__b3 *s, const void *data, size_t len) {
    const uint8_t *input = data;
    if (len == 0) return;
    if (chunk_len(&s->chunk) > 0) {
        size_t take = B3_CHUNK_LEN - chunk_len(&s->chunk);
        if (take > len) take = len;
        chunk_update(&s->chunk, input, take);
        input += take;
        len -= take;
        if (len == 0) return;
        /* More input follows, so this chunk is not the root. */
        output o = chunk_output(&s->chunk);
        uint8_t cv[B3_OUT_LEN];
        output_cv(&o, cv);
        push_cv(s, cv, s->chunk.chunk_counter);
        chunk_reset(&s->chunk, s->key, s->chunk.chunk_counter + 1);
    }
    /* Whole subtrees go straight to the wide path. Each is the largest
     * power of two that both fits and starts at a multiple of its size,
     * and at least one byte is always left for the chunk state, whose
     * output may be the root. */
    while (len > B3_CHUNK_LEN) {
        uint64_t subtree_len = round_down_pow2(len);
        uint64_t so_far = s->chunk.chunk_counter * B3_CHUNK_LEN;
        while (((subtree_len - 1) & so_far) != 0) subtree_len /= 2;
        uint64_t subtree_chunks = subtree_len / B3_CHUNK_LEN;
        if (subtree_len <= B3_CHUNK_LEN) {
            hone__b3_chunk c;
            chunk_init(&c, s->key, s->chunk.flags);
            c.chunk_counter = s->chunk.chunk_counter;
            chunk_update(&c, input, (size_t)subtree_len);
            output o = chunk_output(&c);
            uint8_t cv[B3_OUT_LEN];
            output_cv(&o, cv);
            push_cv(s, cv, c.chunk_counter);
        } else {
            uint8_t pair[2 * B3_OUT_LEN];
            compress_subtree_to_parent_node(s->impl, input, (size_t)subtree_len, s->key,
                                            s->chunk.chunk_counter, s->chunk.flags, s->threads,
                                            s->pool, pair);
            push_cv(s, pair, s->chunk.chunk_counter);
            push_cv(s, pair + B3_OUT_LEN, s->chunk.chunk_counter + subtree_chunks / 2);
        }
        s->chunk.chunk_counter += subtree_chunks;
        input += subtree_len;
        len -= (size_t)subtree_len;
    }
    if (len > 0) {
        chunk_update(&s->chunk, input, len);
        merge_cv_stack(s, s->chunk.chunk_counter);
    }
}

void hone__b3_finalize_seek(const hone__b3 *s, uint64_t seek, uint8_t *out, size_t out_len) {
    if (out_len == 0) return;
    if (s->cv_stack_len == 0) {
        output o = chunk_output(&s->chunk);
        output_root_bytes(&o, seek, out, out_len);
        return;
    }
    /* Fold the unmerged stack from the top: the current chunk (or the top
     * two values, if the chunk is empty) becomes the right child of each
     * value below it in turn. */
    output o;
    size_t remaining;
    if (chunk_len(&s->chunk) > 0) {
        remaining = s->cv_stack_len;
        o = chunk_output(&s->chunk);
    } else {
        remaining = (size_t)s->cv_stack_len - 2;
        o = parent_output(s->cv_stack + remaining * B3_OUT_LEN, s->key, s->chunk.flags);
    }
    while (remaining > 0) {
        remaining--;
        uint8_t block[B3_BLOCK_LEN];
        memcpy(block, s->cv_stack + remaining * B3_OUT_LEN, B3_OUT_LEN);
        output_cv(&o, block + B3_OUT_LEN);
        o = parent_output(block, s->key, s->chunk.flags);
    }
    output_root_bytes(&o, seek, out, out_len);
}

/* ------------------------------------------------------------------ */
/* Multi-threaded hashing of a file through pread                      */
/* ------------------------------------------------------------------ */

/* Each worker preads its own pieces of the file into its own buffer and
 * hashes them there: the copies run in parallel, and every block is hashed
 * while it is still in the worker's L2 cache - measured faster than
 * hashing an mmap of the page cache in place (docs/design/hash.md). */

#define FD_BUF_MAX ((size_t)512 << 10)
#define FD_MAX_PIECES 64
/* Smallest piece a worker takes (a variable so tests can make small files
 * take the threaded path). */
uint64_t hone__b3_fd_min_piece = (uint64_t)1 << 20;

typedef struct fd_job {
    int fd;
    uint64_t off;        /* file offset of piece 0 */
    uint64_t piece;      /* bytes per piece: a power of two, at least one chunk */
    uint64_t counter0;   /* chunk counter of piece 0 */
    size_t npieces;
    const hone__b3 *s;   /* key, flags and implementation */
    const hone_allocator *alloc;
    size_t next;         /* next piece to take (atomic) */
    uint8_t cvs[FD_MAX_PIECES * B3_OUT_LEN];
} fd_job;

typedef struct fd_worker {
    fd_job *job;
    int rc;
} fd_worker;

static int pread_full(int fd, uint8_t *buf, size_t n, uint64_t off) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)(off + got));
        if (r < 0) {
            if (errno == EINTR) continue;
            return hone_status_from_errno(errno);
        }
        /* The file shrank since it was measured: its digest would be of
         * bytes that are not there. */
        if (r == 0) return HONE_EIO;
        got += (size_t)r;
    }
    return HONE_OK;
}

/* The chaining value of the complete subtree of `len` bytes (a power of
 * two, at least one chunk) whose data is in buf, starting at `counter`. */
static void block_cv(const hone__b3 *s, const uint8_t *buf, size_t len, uint64_t counter,
                     uint8_t cv[B3_OUT_LEN]) {
    if (len == B3_CHUNK_LEN) {
        hone__b3_chunk c;
        chunk_init(&c, s->key, s->chunk.flags);
        c.chunk_counter = counter;
        chunk_update(&c, buf, len);
        output o = chunk_output(&c);
        output_cv(&o, cv);
        return;
    }
    uint8_t pair[2 * B3_OUT_LEN];
    compress_subtree_to_parent_node(s->impl, buf, len, s->key, counter, s->chunk.flags, 1, NULL,
                                    pair);
    output o = parent_output(pair, s->key, s->chunk.flags);
    output_cv(&o, cv);
}

static void fd_worker_main(fd_worker *w) {
    fd_job *j = w->job;
    const hone__b3 *s = j->s;
    size_t bsz = j->piece < FD_BUF_MAX ? (size_t)j->piece : FD_BUF_MAX;
    uint8_t *buf = hone_malloc(j->alloc, bsz);
    if (!buf) {
        w->rc = HONE_ENOMEM;
        return;
    }
    for (;;) {
        size_t p = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED);
        if (p >= j->npieces) break;
        /* The piece's blocks are equal, aligned, complete subtrees: fold
         * their values with a binary counter, as a tree of them would. */
        uint8_t stack[64 * B3_OUT_LEN];
        size_t depth = 0;
        uint64_t nblocks = j->piece / bsz;
        for (uint64_t b = 0; b < nblocks; b++) {
            uint64_t off = j->off + p * j->piece + b * bsz;
            int rc = pread_full(j->fd, buf, bsz, off);
            if (rc) {
                w->rc = rc;
                hone_free(j->alloc, buf);
                return;
            }
            block_cv(s, buf, bsz, j->counter0 + (p * j->piece + b * bsz) / B3_CHUNK_LEN,
                     stack + depth * B3_OUT_LEN);
            depth++;
            for (uint64_t done = b + 1; (done & 1) == 0; done >>= 1) {
                output o = parent_output(stack + (depth - 2) * B3_OUT_LEN, s->key, s->chunk.flags);
                output_cv(&o, stack + (depth - 2) * B3_OUT_LEN);
                depth--;
            }
        }
        memcpy(j->cvs + p * B3_OUT_LEN, stack, B3_OUT_LEN);
    }
    hone_free(j->alloc, buf);
}

static int fd_worker_task(void *arg, hone_task *task) {
    (void)task;
    fd_worker_main(arg);
    return HONE_OK;
}

/* The two children of the complete, aligned subtree of `len` bytes at
 * file offset `off` and chunk `counter`, hashed by s->threads workers: this
 * thread and up to s->threads - 1 tasks on s->pool (NULL: the default
 * pool), all taking pieces from one counter. Tasks that cannot be queued
 * leave their pieces to the others. */
static int fd_subtree_children(const hone__b3 *s, int fd, uint64_t off, uint64_t len,
                               uint64_t counter, const hone_allocator *alloc,
                               uint8_t out[2 * B3_OUT_LEN]) {
    fd_job *j = hone_calloc(alloc, 1, sizeof *j);
    if (!j) return HONE_ENOMEM;
    size_t np = FD_MAX_PIECES;
    while (np > 2 && len / np < hone__b3_fd_min_piece) np /= 2;
    *j = (fd_job){.fd = fd, .off = off, .piece = len / np, .counter0 = counter, .npieces = np,
                  .s = s, .alloc = alloc};
    unsigned nw = s->threads > np ? (unsigned)np : s->threads;
    fd_worker w[64];
    if (nw > 64) nw = 64;
    unsigned started = 0;
    hone_scope *scope = NULL;
    if (nw > 1) {
        hone_pool *pool = s->pool ? s->pool : hone_pool_default();
        if (pool && hone_scope_new(&scope, pool) != HONE_OK) scope = NULL;
    }
    for (unsigned i = 1; scope && i < nw; i++) {
        w[i] = (fd_worker){j, HONE_OK};
        if (hone_scope_spawn(scope, fd_worker_task, &w[i]) != HONE_OK) break;
        started = i;
    }
    w[0] = (fd_worker){j, HONE_OK};
    fd_worker_main(&w[0]);
    int rc = w[0].rc;
    hone_scope_free(scope);
    for (unsigned i = 1; i <= started; i++)
        if (!rc) rc = w[i].rc;
    if (!rc) {
        /* Fold the pieces' values up to the two children of the root. */
        size_t n = np;
        while (n > 2) {
            for (size_t i = 0; i < n / 2; i++) {
                output o = parent_output(j->cvs + 2 * i * B3_OUT_LEN, s->key, s->chunk.flags);
                output_cv(&o, j->cvs + i * B3_OUT_LEN);
            }
            n /= 2;
        }
        memcpy(out, j->cvs, 2 * B3_OUT_LEN);
    }
    hone_free(alloc, j);
    return rc;
}

int hone__b3_update_fd_mt(hone__b3 *s, int fd, uint64_t off, uint64_t len,
                          const hone_allocator *alloc, uint64_t *done) {
    *done = 0;
    if (chunk_len(&s->chunk) != 0) return HONE_OK;
    /* Whole subtrees as hone__b3_update() would take them, as long as they
     * are big enough to be worth threads; the caller hashes the rest. */
    while (len - *done > B3_CHUNK_LEN) {
        uint64_t subtree_len = round_down_pow2(len - *done);
        uint64_t so_far = s->chunk.chunk_counter * B3_CHUNK_LEN;
        while (((subtree_len - 1) & so_far) != 0) subtree_len /= 2;
        /* A subtree that ends the input is fine: like hone__b3_update(),
         * finalisation then makes the root from the top two values. */
        if (subtree_len < 2 * hone__b3_fd_min_piece) break;
        uint8_t pair[2 * B3_OUT_LEN];
        int rc = fd_subtree_children(s, fd, off + *done, subtree_len, s->chunk.chunk_counter,
                                     alloc, pair);
        if (rc) return rc;
        uint64_t chunks = subtree_len / B3_CHUNK_LEN;
        push_cv(s, pair, s->chunk.chunk_counter);
        push_cv(s, pair + B3_OUT_LEN, s->chunk.chunk_counter + chunks / 2);
        s->chunk.chunk_counter += chunks;
        *done += subtree_len;
    }
    return HONE_OK;
}
