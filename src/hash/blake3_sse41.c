/* blake3_sse41.c - BLAKE3 hash_many four inputs at a time with SSE4.1:
 * the state is kept transposed (one vector per state word, one lane per
 * input), so the rounds need no shuffles between columns and diagonals.
 * Compiled with -msse4.1; called only when hone_cpu_has(HONE_CPU_SSE41). */
#include "hash/blake3_impl.h"
#include "hash/blake3_sched.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define DEGREE 4

static inline __m128i loadu(const uint8_t *p) { return _mm_loadu_si128((const __m128i *)p); }
static inline void storeu(__m128i v, uint8_t *p) { _mm_storeu_si128((__m128i *)p, v); }
static inline __m128i addv(__m128i a, __m128i b) { return _mm_add_epi32(a, b); }
static inline __m128i xorv(__m128i a, __m128i b) { return _mm_xor_si128(a, b); }
static inline __m128i set1(uint32_t x) { return _mm_set1_epi32((int32_t)x); }

static inline __m128i rot16(__m128i x) {
    return _mm_shuffle_epi8(x, _mm_set_epi8(13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2));
}
static inline __m128i rot12(__m128i x) {
    return _mm_or_si128(_mm_srli_epi32(x, 12), _mm_slli_epi32(x, 20));
}
static inline __m128i rot8(__m128i x) {
    return _mm_shuffle_epi8(x, _mm_set_epi8(12, 15, 14, 13, 8, 11, 10, 9, 4, 7, 6, 5, 0, 3, 2, 1));
}
static inline __m128i rot7(__m128i x) {
    return _mm_or_si128(_mm_srli_epi32(x, 7), _mm_slli_epi32(x, 25));
}

B3_INLINE void g(__m128i *v, int a, int b, int c, int d, __m128i x, __m128i y) {
    v[a] = addv(addv(v[a], v[b]), x);
    v[d] = rot16(xorv(v[d], v[a]));
    v[c] = addv(v[c], v[d]);
    v[b] = rot12(xorv(v[b], v[c]));
    v[a] = addv(addv(v[a], v[b]), y);
    v[d] = rot8(xorv(v[d], v[a]));
    v[c] = addv(v[c], v[d]);
    v[b] = rot7(xorv(v[b], v[c]));
}

B3_INLINE void round_fn(__m128i v[16], const __m128i m[16], size_t r) {
    const uint8_t *s = b3_sched[r];
    g(v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
    g(v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
    g(v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
    g(v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
    g(v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
    g(v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
    g(v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
    g(v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
}

/* 4x4 transpose of 32-bit words in place. */
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

static inline void load_msg(const uint8_t *const *inputs, size_t off, __m128i m[16]) {
    for (int i = 0; i < 4; i++) _mm_prefetch((const char *)(inputs[i] + off + 128), _MM_HINT_T0);
    for (int q = 0; q < 4; q++) {
        for (int i = 0; i < 4; i++) m[4 * q + i] = loadu(inputs[i] + off + 16 * q);
        transpose4(&m[4 * q], &m[4 * q + 1], &m[4 * q + 2], &m[4 * q + 3]);
    }
}

static void hash4(const uint8_t *const *inputs, size_t blocks, const uint32_t key[8],
                  uint64_t counter, bool increment_counter, uint8_t flags, uint8_t flags_start,
                  uint8_t flags_end, uint8_t *out) {
    __m128i h[8];
    for (int i = 0; i < 8; i++) h[i] = set1(key[i]);
    uint32_t lo[DEGREE], hi[DEGREE];
    for (int i = 0; i < DEGREE; i++) {
        uint64_t c = counter + (increment_counter ? (uint64_t)i : 0);
        lo[i] = (uint32_t)c;
        hi[i] = (uint32_t)(c >> 32);
    }
    __m128i c_lo = _mm_set_epi32((int32_t)lo[3], (int32_t)lo[2], (int32_t)lo[1], (int32_t)lo[0]);
    __m128i c_hi = _mm_set_epi32((int32_t)hi[3], (int32_t)hi[2], (int32_t)hi[1], (int32_t)hi[0]);
    uint8_t block_flags = flags | flags_start;
    for (size_t b = 0; b < blocks; b++) {
        if (b + 1 == blocks) block_flags |= flags_end;
        __m128i m[16];
        load_msg(inputs, b * B3_BLOCK_LEN, m);
        __m128i v[16] = {h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7],
                         set1(hone__b3_iv[0]), set1(hone__b3_iv[1]), set1(hone__b3_iv[2]),
                         set1(hone__b3_iv[3]), c_lo, c_hi, set1(B3_BLOCK_LEN),
                         set1(block_flags)};
        B3_ROUNDS(round_fn, v, m);
        for (int i = 0; i < 8; i++) h[i] = xorv(v[i], v[i + 8]);
        block_flags = flags;
    }
    transpose4(&h[0], &h[1], &h[2], &h[3]);
    transpose4(&h[4], &h[5], &h[6], &h[7]);
    for (int i = 0; i < DEGREE; i++) {
        storeu(h[i], out + i * B3_OUT_LEN);
        storeu(h[4 + i], out + i * B3_OUT_LEN + 16);
    }
}

void hone__b3_hash_many_sse41(const uint8_t *const *inputs, size_t num_inputs, size_t blocks,
                              const uint32_t key[8], uint64_t counter, bool increment_counter,
                              uint8_t flags, uint8_t flags_start, uint8_t flags_end,
                              uint8_t *out) {
    while (num_inputs >= DEGREE) {
        hash4(inputs, blocks, key, counter, increment_counter, flags, flags_start, flags_end,
              out);
        if (increment_counter) counter += DEGREE;
        inputs += DEGREE;
        num_inputs -= DEGREE;
        out += DEGREE * B3_OUT_LEN;
    }
    hone__b3_hash_many_portable(inputs, num_inputs, blocks, key, counter, increment_counter,
                                flags, flags_start, flags_end, out);
}
#endif
