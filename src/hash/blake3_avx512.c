/* blake3_avx512.c - BLAKE3 hash_many sixteen inputs at a time with
 * AVX-512F (rotations are single vprord instructions). Compiled with
 * -mavx512f -mavx512vl -mavx2; called only when hone_cpu_has() reports
 * avx512f, avx512vl and avx2. */
#include "hash/blake3_impl.h"
#include "hash/blake3_sched.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define DEGREE 16

static inline __m512i addv(__m512i a, __m512i b) { return _mm512_add_epi32(a, b); }
static inline __m512i xorv(__m512i a, __m512i b) { return _mm512_xor_si512(a, b); }
static inline __m512i set1(uint32_t x) { return _mm512_set1_epi32((int32_t)x); }

B3_INLINE void g(__m512i *v, int a, int b, int c, int d, __m512i x, __m512i y) {
    v[a] = addv(addv(v[a], v[b]), x);
    v[d] = _mm512_ror_epi32(xorv(v[d], v[a]), 16);
    v[c] = addv(v[c], v[d]);
    v[b] = _mm512_ror_epi32(xorv(v[b], v[c]), 12);
    v[a] = addv(addv(v[a], v[b]), y);
    v[d] = _mm512_ror_epi32(xorv(v[d], v[a]), 8);
    v[c] = addv(v[c], v[d]);
    v[b] = _mm512_ror_epi32(xorv(v[b], v[c]), 7);
}

B3_INLINE void round_fn(__m512i v[16], const __m512i m[16], size_t r) {
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

static void hash16(const uint8_t *const *inputs, size_t blocks, const uint32_t key[8],
                   uint64_t counter, bool increment_counter, uint8_t flags, uint8_t flags_start,
                   uint8_t flags_end, uint8_t *out) {
    __m512i h[8];
    for (int i = 0; i < 8; i++) h[i] = set1(key[i]);
    uint32_t lo[DEGREE], hi[DEGREE];
    for (int i = 0; i < DEGREE; i++) {
        uint64_t c = counter + (increment_counter ? (uint64_t)i : 0);
        lo[i] = (uint32_t)c;
        hi[i] = (uint32_t)(c >> 32);
    }
    __m512i c_lo = _mm512_loadu_si512((const void *)lo);
    __m512i c_hi = _mm512_loadu_si512((const void *)hi);
    uint8_t block_flags = flags | flags_start;
    for (size_t b = 0; b < blocks; b++) {
        if (b + 1 == blocks) block_flags |= flags_end;
        __m512i raw[16], m[16];
        /* The sixteen inputs are sixteen streams a KiB apart, more than the
         * hardware prefetcher follows; fetch two blocks ahead by hand (128 bytes measured best). */
        for (int i = 0; i < DEGREE; i++) {
            _mm_prefetch((const char *)(inputs[i] + b * B3_BLOCK_LEN + 128), _MM_HINT_T0);
            raw[i] = _mm512_loadu_si512((const void *)(inputs[i] + b * B3_BLOCK_LEN));
        }
        transpose16(raw, m);
        __m512i v[16] = {h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7],
                         set1(hone__b3_iv[0]), set1(hone__b3_iv[1]), set1(hone__b3_iv[2]),
                         set1(hone__b3_iv[3]), c_lo, c_hi, set1(B3_BLOCK_LEN),
                         set1(block_flags)};
        B3_ROUNDS(round_fn, v, m);
        for (int i = 0; i < 8; i++) h[i] = xorv(v[i], v[i + 8]);
        block_flags = flags;
    }
    /* Once per 16 chunks, so a scalar scatter of the words costs nothing
     * next to the 256 compressions before it. */
    uint32_t words[8][DEGREE];
    for (int w = 0; w < 8; w++) _mm512_storeu_si512((void *)words[w], h[w]);
    for (int i = 0; i < DEGREE; i++)
        for (int w = 0; w < 8; w++) hone__b3_store32(out + i * B3_OUT_LEN + 4 * w, words[w][i]);
}

void hone__b3_hash_many_avx512(const uint8_t *const *inputs, size_t num_inputs, size_t blocks,
                               const uint32_t key[8], uint64_t counter, bool increment_counter,
                               uint8_t flags, uint8_t flags_start, uint8_t flags_end,
                               uint8_t *out) {
    while (num_inputs >= DEGREE) {
        hash16(inputs, blocks, key, counter, increment_counter, flags, flags_start, flags_end,
               out);
        if (increment_counter) counter += DEGREE;
        inputs += DEGREE;
        num_inputs -= DEGREE;
        out += DEGREE * B3_OUT_LEN;
    }
    hone__b3_hash_many_avx2(inputs, num_inputs, blocks, key, counter, increment_counter, flags,
                            flags_start, flags_end, out);
}
#endif
