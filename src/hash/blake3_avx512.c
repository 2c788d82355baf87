/* blake3_avx512.c - BLAKE3 hash_many with AVX-512F/VL: thirty-two inputs
 * at a time as two interleaved sixteen-lane states, and sixteen, eight or
 * four inputs in zmm, ymm or xmm registers, every rotation one vprord.
 * Compiled with -mavx512f -mavx512vl -mavx2; called only when
 * hone_cpu_has() reports avx512f, avx512vl and avx2. */
#include "hash/blake3_impl.h"
#include "hash/blake3_sched.h"

#if defined(__x86_64__)
#include <immintrin.h>

/* ---- 512-bit lanes ------------------------------------------------- */

#define ADD(a, b) _mm512_add_epi32((a), (b))
#define XOR(a, b) _mm512_xor_si512((a), (b))
#define ROR(a, n) _mm512_ror_epi32((a), (n))

static inline __m512i set1_512(uint32_t x) { return _mm512_set1_epi32((int32_t)x); }

B3_INLINE void round16(__m512i v[16], const __m512i m[16], size_t r) {
    const uint8_t *s = b3_sched[r];
    B3_COLUMNS(v, m, s);
    B3_DIAGONALS(v, m, s);
}

/* Two independent states, one after the other in the source: on a core
 * where a vector addition takes more than one cycle, one sixteen-lane
 * state alone leaves the pipes idle while its dependency chains wait; the
 * second state fills them. */
B3_INLINE void round32(__m512i va[16], __m512i vb[16], const __m512i ma[16],
                       const __m512i mb[16], size_t r) {
    const uint8_t *s = b3_sched[r];
    B3_COLUMNS(va, ma, s);
    B3_COLUMNS(vb, mb, s);
    B3_DIAGONALS(va, ma, s);
    B3_DIAGONALS(vb, mb, s);
}

/* 16x16 transpose of 32-bit words: in[i] is input i's 64-byte block; out[w]
 * gets word w of every input. First a 4x4 transpose inside each 128-bit
 * lane across groups of four inputs, then a 4x4 transpose of the lanes. */
static inline void transpose16(const __m512i in[16], __m512i out[16]) {
    __m512i t[4][4]; /* t[group][k]: lane L holds word 4L+k of inputs 4*group.. */
    for (int grp = 0; grp < 4; grp++) {
        const __m512i *x = in + 4 * grp;
        __m512i ab01 = _mm512_unpacklo_epi32(x[0], x[1]);
        __m512i ab23 = _mm512_unpackhi_epi32(x[0], x[1]);
        __m512i cd01 = _mm512_unpacklo_epi32(x[2], x[3]);
        __m512i cd23 = _mm512_unpackhi_epi32(x[2], x[3]);
        t[grp][0] = _mm512_unpacklo_epi64(ab01, cd01);
        t[grp][1] = _mm512_unpackhi_epi64(ab01, cd01);
        t[grp][2] = _mm512_unpacklo_epi64(ab23, cd23);
        t[grp][3] = _mm512_unpackhi_epi64(ab23, cd23);
    }
    for (int k = 0; k < 4; k++) {
        __m512i x01 = _mm512_shuffle_i32x4(t[0][k], t[1][k], _MM_SHUFFLE(1, 0, 1, 0));
        __m512i x23 = _mm512_shuffle_i32x4(t[2][k], t[3][k], _MM_SHUFFLE(1, 0, 1, 0));
        __m512i y01 = _mm512_shuffle_i32x4(t[0][k], t[1][k], _MM_SHUFFLE(3, 2, 3, 2));
        __m512i y23 = _mm512_shuffle_i32x4(t[2][k], t[3][k], _MM_SHUFFLE(3, 2, 3, 2));
        out[0 + k] = _mm512_shuffle_i32x4(x01, x23, _MM_SHUFFLE(2, 0, 2, 0));
        out[4 + k] = _mm512_shuffle_i32x4(x01, x23, _MM_SHUFFLE(3, 1, 3, 1));
        out[8 + k] = _mm512_shuffle_i32x4(y01, y23, _MM_SHUFFLE(2, 0, 2, 0));
        out[12 + k] = _mm512_shuffle_i32x4(y01, y23, _MM_SHUFFLE(3, 1, 3, 1));
    }
}

/* Block `off` of sixteen inputs, transposed into m. The sixteen inputs are
 * sixteen streams a KiB apart, more than the hardware prefetcher follows;
 * fetch two blocks ahead by hand (128 bytes measured best). */
static inline void load16(const uint8_t *const *inputs, size_t off, __m512i m[16]) {
    __m512i raw[16];
    for (int i = 0; i < 16; i++) {
        _mm_prefetch((const char *)(inputs[i] + off + 128), _MM_HINT_T0);
        raw[i] = _mm512_loadu_si512((const void *)(inputs[i] + off));
    }
    transpose16(raw, m);
}

/* The per-lane counter words of `lanes` inputs starting at counter. */
static inline void counters(uint64_t counter, bool increment_counter, int lanes, uint32_t *lo,
                            uint32_t *hi) {
    for (int i = 0; i < lanes; i++) {
        uint64_t c = counter + (increment_counter ? (uint64_t)i : 0);
        lo[i] = (uint32_t)c;
        hi[i] = (uint32_t)(c >> 32);
    }
}

/* Writes the chaining values of `lanes` inputs from the transposed h
 * (word w of lane i at words[w * lanes + i]), `keep` of them. A scalar
 * scatter, once per chunk group: nothing next to the compressions. */
static inline void store_cvs(const uint32_t *words, int lanes, int keep, uint8_t *out) {
    for (int i = 0; i < keep; i++)
        for (int w = 0; w < 8; w++)
            hone__b3_store32(out + i * B3_OUT_LEN + 4 * w, words[w * lanes + i]);
}

static void hash16(const uint8_t *const *inputs, size_t blocks, const uint32_t key[8],
                   uint64_t counter, bool increment_counter, uint8_t flags, uint8_t flags_start,
                   uint8_t flags_end, uint8_t *out) {
    __m512i h[8];
    for (int i = 0; i < 8; i++) h[i] = set1_512(key[i]);
    uint32_t lo[16], hi[16];
    counters(counter, increment_counter, 16, lo, hi);
    __m512i c_lo = _mm512_loadu_si512((const void *)lo);
    __m512i c_hi = _mm512_loadu_si512((const void *)hi);
    uint8_t block_flags = flags | flags_start;
    for (size_t b = 0; b < blocks; b++) {
        if (b + 1 == blocks) block_flags |= flags_end;
        __m512i m[16];
        load16(inputs, b * B3_BLOCK_LEN, m);
        __m512i v[16] = {h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7],
                         set1_512(hone__b3_iv[0]), set1_512(hone__b3_iv[1]),
                         set1_512(hone__b3_iv[2]), set1_512(hone__b3_iv[3]), c_lo, c_hi,
                         set1_512(B3_BLOCK_LEN), set1_512(block_flags)};
        B3_ROUNDS(round16, v, m);
        for (int i = 0; i < 8; i++) h[i] = XOR(v[i], v[i + 8]);
        block_flags = flags;
    }
    uint32_t words[8 * 16];
    for (int w = 0; w < 8; w++) _mm512_storeu_si512((void *)(words + 16 * w), h[w]);
    store_cvs(words, 16, 16, out);
}

static void hash32(const uint8_t *const *inputs, size_t blocks, const uint32_t key[8],
                   uint64_t counter, bool increment_counter, uint8_t flags, uint8_t flags_start,
                   uint8_t flags_end, uint8_t *out) {
    __m512i ha[8], hb[8];
    for (int i = 0; i < 8; i++) ha[i] = hb[i] = set1_512(key[i]);
    uint32_t lo[32], hi[32];
    counters(counter, increment_counter, 32, lo, hi);
    __m512i ca_lo = _mm512_loadu_si512((const void *)lo);
    __m512i ca_hi = _mm512_loadu_si512((const void *)hi);
    __m512i cb_lo = _mm512_loadu_si512((const void *)(lo + 16));
    __m512i cb_hi = _mm512_loadu_si512((const void *)(hi + 16));
    uint8_t block_flags = flags | flags_start;
    for (size_t b = 0; b < blocks; b++) {
        if (b + 1 == blocks) block_flags |= flags_end;
        __m512i ma[16], mb[16];
        load16(inputs, b * B3_BLOCK_LEN, ma);
        load16(inputs + 16, b * B3_BLOCK_LEN, mb);
        __m512i iv0 = set1_512(hone__b3_iv[0]), iv1 = set1_512(hone__b3_iv[1]);
        __m512i iv2 = set1_512(hone__b3_iv[2]), iv3 = set1_512(hone__b3_iv[3]);
        __m512i bl = set1_512(B3_BLOCK_LEN), fl = set1_512(block_flags);
        __m512i va[16] = {ha[0], ha[1], ha[2], ha[3], ha[4], ha[5], ha[6], ha[7],
                          iv0,   iv1,   iv2,   iv3,   ca_lo, ca_hi, bl,    fl};
        __m512i vb[16] = {hb[0], hb[1], hb[2], hb[3], hb[4], hb[5], hb[6], hb[7],
                          iv0,   iv1,   iv2,   iv3,   cb_lo, cb_hi, bl,    fl};
        round32(va, vb, ma, mb, 0);
        round32(va, vb, ma, mb, 1);
        round32(va, vb, ma, mb, 2);
        round32(va, vb, ma, mb, 3);
        round32(va, vb, ma, mb, 4);
        round32(va, vb, ma, mb, 5);
        round32(va, vb, ma, mb, 6);
        for (int i = 0; i < 8; i++) {
            ha[i] = XOR(va[i], va[i + 8]);
            hb[i] = XOR(vb[i], vb[i + 8]);
        }
        block_flags = flags;
    }
    uint32_t words[8 * 16];
    for (int w = 0; w < 8; w++) _mm512_storeu_si512((void *)(words + 16 * w), ha[w]);
    store_cvs(words, 16, 16, out);
    for (int w = 0; w < 8; w++) _mm512_storeu_si512((void *)(words + 16 * w), hb[w]);
    store_cvs(words, 16, 16, out + 16 * B3_OUT_LEN);
}

#undef ADD
#undef XOR
#undef ROR

/* ---- 256-bit lanes (AVX-512VL) ------------------------------------- */

#define ADD(a, b) _mm256_add_epi32((a), (b))
#define XOR(a, b) _mm256_xor_si256((a), (b))
#define ROR(a, n) _mm256_ror_epi32((a), (n))

static inline __m256i set1_256(uint32_t x) { return _mm256_set1_epi32((int32_t)x); }

B3_INLINE void round8(__m256i v[16], const __m256i m[16], size_t r) {
    const uint8_t *s = b3_sched[r];
    B3_COLUMNS(v, m, s);
    B3_DIAGONALS(v, m, s);
}

/* 8x8 transpose of 32-bit words: afterwards v[j] holds word j of each of
 * the eight rows v[0..7] held before. */
static inline void transpose8(__m256i v[8]) {
    __m256i t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_epi32(v[2 * i], v[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_epi32(v[2 * i], v[2 * i + 1]);
    }
    /* t[0]: words 0,1 (lanes 0/4 halves) of rows 0,1; t[1]: words 2,3. */
    for (int i = 0; i < 2; i++) {
        u[4 * i + 0] = _mm256_unpacklo_epi64(t[4 * i + 0], t[4 * i + 2]);
        u[4 * i + 1] = _mm256_unpackhi_epi64(t[4 * i + 0], t[4 * i + 2]);
        u[4 * i + 2] = _mm256_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = _mm256_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    /* u[k] (k < 4): word k and word 4+k of rows 0-3; u[4+k]: of rows 4-7. */
    for (int k = 0; k < 4; k++) {
        v[k] = _mm256_permute2x128_si256(u[k], u[4 + k], 0x20);
        v[4 + k] = _mm256_permute2x128_si256(u[k], u[4 + k], 0x31);
    }
}

static void hash8(const uint8_t *const *inputs, size_t blocks, const uint32_t key[8],
                  uint64_t counter, bool increment_counter, uint8_t flags, uint8_t flags_start,
                  uint8_t flags_end, uint8_t *out) {
    __m256i h[8];
    for (int i = 0; i < 8; i++) h[i] = set1_256(key[i]);
    uint32_t lo[8], hi[8];
    counters(counter, increment_counter, 8, lo, hi);
    __m256i c_lo = _mm256_loadu_si256((const void *)lo);
    __m256i c_hi = _mm256_loadu_si256((const void *)hi);
    uint8_t block_flags = flags | flags_start;
    for (size_t b = 0; b < blocks; b++) {
        if (b + 1 == blocks) block_flags |= flags_end;
        size_t off = b * B3_BLOCK_LEN;
        __m256i m[16];
        for (int i = 0; i < 8; i++) {
            _mm_prefetch((const char *)(inputs[i] + off + 128), _MM_HINT_T0);
            m[i] = _mm256_loadu_si256((const void *)(inputs[i] + off));
            m[8 + i] = _mm256_loadu_si256((const void *)(inputs[i] + off + 32));
        }
        transpose8(m);
        transpose8(m + 8);
        __m256i v[16] = {h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7],
                         set1_256(hone__b3_iv[0]), set1_256(hone__b3_iv[1]),
                         set1_256(hone__b3_iv[2]), set1_256(hone__b3_iv[3]), c_lo, c_hi,
                         set1_256(B3_BLOCK_LEN), set1_256(block_flags)};
        B3_ROUNDS(round8, v, m);
        for (int i = 0; i < 8; i++) h[i] = XOR(v[i], v[i + 8]);
        block_flags = flags;
    }
    transpose8(h);
    for (int i = 0; i < 8; i++) _mm256_storeu_si256((void *)(out + i * B3_OUT_LEN), h[i]);
}

#undef ADD
#undef XOR
#undef ROR

/* ---- 128-bit lanes (AVX-512VL) ------------------------------------- */

#define ADD(a, b) _mm_add_epi32((a), (b))
#define XOR(a, b) _mm_xor_si128((a), (b))
#define ROR(a, n) _mm_ror_epi32((a), (n))

static inline __m128i set1_128(uint32_t x) { return _mm_set1_epi32((int32_t)x); }

B3_INLINE void round4(__m128i v[16], const __m128i m[16], size_t r) {
    const uint8_t *s = b3_sched[r];
    B3_COLUMNS(v, m, s);
    B3_DIAGONALS(v, m, s);
}

static inline void transpose4(__m128i *a, __m128i *b, __m128i *c, __m128i *d) {
    __m128i ab01 = _mm_unpacklo_epi32(*a, *b);
    __m128i ab23 = _mm_unpackhi_epi32(*a, *b);
    __m128i cd01 = _mm_unpacklo_epi32(*c, *d);
    __m128i cd23 = _mm_unpackhi_epi32(*c, *d);
    *a = _mm_unpacklo_epi64(ab01, cd01);
    *b = _mm_unpackhi_epi64(ab01, cd01);
    *c = _mm_unpacklo_epi64(ab23, cd23);
    *d = _mm_unpackhi_epi64(ab23, cd23);
}

/* Four lanes; only the first `keep` chaining values are written, so the
 * last one to three inputs of a call share this pass (the caller fills the
 * unused lanes with valid pointers). */
static void hash4(const uint8_t *const *inputs, size_t blocks, const uint32_t key[8],
                  uint64_t counter, bool increment_counter, uint8_t flags, uint8_t flags_start,
                  uint8_t flags_end, int keep, uint8_t *out) {
    __m128i h[8];
    for (int i = 0; i < 8; i++) h[i] = set1_128(key[i]);
    uint32_t lo[4], hi[4];
    counters(counter, increment_counter, 4, lo, hi);
    __m128i c_lo = _mm_loadu_si128((const void *)lo);
    __m128i c_hi = _mm_loadu_si128((const void *)hi);
    uint8_t block_flags = flags | flags_start;
    for (size_t b = 0; b < blocks; b++) {
        if (b + 1 == blocks) block_flags |= flags_end;
        size_t off = b * B3_BLOCK_LEN;
        __m128i m[16];
        for (int q = 0; q < 4; q++) {
            for (int i = 0; i < 4; i++)
                m[4 * q + i] = _mm_loadu_si128((const void *)(inputs[i] + off + 16 * q));
            transpose4(&m[4 * q], &m[4 * q + 1], &m[4 * q + 2], &m[4 * q + 3]);
        }
        __m128i v[16] = {h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7],
                         set1_128(hone__b3_iv[0]), set1_128(hone__b3_iv[1]),
                         set1_128(hone__b3_iv[2]), set1_128(hone__b3_iv[3]), c_lo, c_hi,
                         set1_128(B3_BLOCK_LEN), set1_128(block_flags)};
        B3_ROUNDS(round4, v, m);
        for (int i = 0; i < 8; i++) h[i] = XOR(v[i], v[i + 8]);
        block_flags = flags;
    }
    uint32_t words[8 * 4];
    for (int w = 0; w < 8; w++) _mm_storeu_si128((void *)(words + 4 * w), h[w]);
    store_cvs(words, 4, keep, out);
}

#undef ADD
#undef XOR
#undef ROR

void hone__b3_hash_many_avx512(const uint8_t *const *inputs, size_t num_inputs, size_t blocks,
                               const uint32_t key[8], uint64_t counter, bool increment_counter,
                               uint8_t flags, uint8_t flags_start, uint8_t flags_end,
                               uint8_t *out) {
#define NEXT(n)                                   \
    do {                                          \
        if (increment_counter) counter += (n);    \
        inputs += (n);                            \
        num_inputs -= (n);                        \
        out += (n) * B3_OUT_LEN;                  \
    } while (0)
    while (num_inputs >= 32) {
        hash32(inputs, blocks, key, counter, increment_counter, flags, flags_start, flags_end,
               out);
        NEXT(32);
    }
    if (num_inputs >= 16) {
        hash16(inputs, blocks, key, counter, increment_counter, flags, flags_start, flags_end,
               out);
        NEXT(16);
    }
    if (num_inputs >= 8) {
        hash8(inputs, blocks, key, counter, increment_counter, flags, flags_start, flags_end,
              out);
        NEXT(8);
    }
    while (num_inputs > 0) {
        /* One to seven left: four lanes at a time, the unused lanes of the
         * last pass reading the first input again (their values are not
         * written), which costs one 4-lane pass instead of 1-3 single
         * compressions per block. */
        const uint8_t *ptrs[4];
        int keep = num_inputs < 4 ? (int)num_inputs : 4;
        for (int i = 0; i < 4; i++) ptrs[i] = inputs[i < keep ? i : 0];
        hash4(ptrs, blocks, key, counter, increment_counter, flags, flags_start, flags_end, keep,
              out);
        NEXT((size_t)keep);
    }
#undef NEXT
}
#endif
