/* blake3_avx2.c - BLAKE3 hash_many eight inputs at a time with AVX2, the
 * state transposed as in the SSE4.1 path. Compiled with -mavx2; called only
 * when hone_cpu_has(HONE_CPU_AVX2). */
#include "hash/blake3_impl.h"
#include "hash/blake3_sched.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define DEGREE 8

static inline __m256i loadu(const uint8_t *p) {
    return _mm256_loadu_si256((const __m256i *)p);
}
static inline void storeu(__m256i v, uint8_t *p) { _mm256_storeu_si256((__m256i *)p, v); }
static inline __m256i addv(__m256i a, __m256i b) { return _mm256_add_epi32(a, b); }
static inline __m256i xorv(__m256i a, __m256i b) { return _mm256_xor_si256(a, b); }
static inline __m256i set1(uint32_t x) { return _mm256_set1_epi32((int32_t)x); }

static inline __m256i rot16(__m256i x) {
    return _mm256_shuffle_epi8(x, _mm256_set_epi8(13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0,
                                                  3, 2, 13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6,
                                                  1, 0, 3, 2));
}
static inline __m256i rot12(__m256i x) {
    return _mm256_or_si256(_mm256_srli_epi32(x, 12), _mm256_slli_epi32(x, 20));
}
static inline __m256i rot8(__m256i x) {
    return _mm256_shuffle_epi8(x, _mm256_set_epi8(12, 15, 14, 13, 8, 11, 10, 9, 4, 7, 6, 5, 0, 3,
                                                  2, 1, 12, 15, 14, 13, 8, 11, 10, 9, 4, 7, 6, 5,
                                                  0, 3, 2, 1));
}
static inline __m256i rot7(__m256i x) {
    return _mm256_or_si256(_mm256_srli_epi32(x, 7), _mm256_slli_epi32(x, 25));
}

B3_INLINE void g(__m256i *v, int a, int b, int c, int d, __m256i x, __m256i y) {
    v[a] = addv(addv(v[a], v[b]), x);
    v[d] = rot16(xorv(v[d], v[a]));
    v[c] = addv(v[c], v[d]);
    v[b] = rot12(xorv(v[b], v[c]));
    v[a] = addv(addv(v[a], v[b]), y);
    v[d] = rot8(xorv(v[d], v[a]));
    v[c] = addv(v[c], v[d]);
    v[b] = rot7(xorv(v[b], v[c]));
}

B3_INLINE void round_fn(__m256i v[16], const __m256i m[16], size_t r) {
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

/* 8x8 transpose of 32-bit words: afterwards v[j] holds word j of each of
 * the eight inputs v[0..7] held before. */
static inline void transpose8(__m256i v[8]) {
    __m256i ab0145 = _mm256_unpacklo_epi32(v[0], v[1]);
    __m256i ab2367 = _mm256_unpackhi_epi32(v[0], v[1]);
    __m256i cd0145 = _mm256_unpacklo_epi32(v[2], v[3]);
    __m256i cd2367 = _mm256_unpackhi_epi32(v[2], v[3]);
    __m256i ef0145 = _mm256_unpacklo_epi32(v[4], v[5]);
    __m256i ef2367 = _mm256_unpackhi_epi32(v[4], v[5]);
    __m256i gh0145 = _mm256_unpacklo_epi32(v[6], v[7]);
    __m256i gh2367 = _mm256_unpackhi_epi32(v[6], v[7]);
    __m256i abcd04 = _mm256_unpacklo_epi64(ab0145, cd0145);
    __m256i abcd15 = _mm256_unpackhi_epi64(ab0145, cd0145);
    __m256i abcd26 = _mm256_unpacklo_epi64(ab2367, cd2367);
    __m256i abcd37 = _mm256_unpackhi_epi64(ab2367, cd2367);
    __m256i efgh04 = _mm256_unpacklo_epi64(ef0145, gh0145);
    __m256i efgh15 = _mm256_unpackhi_epi64(ef0145, gh0145);
    __m256i efgh26 = _mm256_unpacklo_epi64(ef2367, gh2367);
    __m256i efgh37 = _mm256_unpackhi_epi64(ef2367, gh2367);
    v[0] = _mm256_permute2x128_si256(abcd04, efgh04, 0x20);
    v[1] = _mm256_permute2x128_si256(abcd15, efgh15, 0x20);
    v[2] = _mm256_permute2x128_si256(abcd26, efgh26, 0x20);
    v[3] = _mm256_permute2x128_si256(abcd37, efgh37, 0x20);
    v[4] = _mm256_permute2x128_si256(abcd04, efgh04, 0x31);
    v[5] = _mm256_permute2x128_si256(abcd15, efgh15, 0x31);
    v[6] = _mm256_permute2x128_si256(abcd26, efgh26, 0x31);
    v[7] = _mm256_permute2x128_si256(abcd37, efgh37, 0x31);
}

static inline void load_msg(const uint8_t *const *inputs, size_t off, __m256i m[16]) {
    for (int i = 0; i < DEGREE; i++) {
        /* Eight streams a KiB apart: prefetch two blocks ahead by hand (128 bytes measured best). */
        _mm_prefetch((const char *)(inputs[i] + off + 128), _MM_HINT_T0);
        m[i] = loadu(inputs[i] + off);
        m[8 + i] = loadu(inputs[i] + off + 32);
    }
    transpose8(m);
    transpose8(m + 8);
}

static void hash8(const uint8_t *const *inputs, size_t blocks, const uint32_t key[8],
                  uint64_t counter, bool increment_counter, uint8_t flags, uint8_t flags_start,
                  uint8_t flags_end, uint8_t *out) {
    __m256i h[8];
    for (int i = 0; i < 8; i++) h[i] = set1(key[i]);
    int32_t lo[DEGREE], hi[DEGREE];
    for (int i = 0; i < DEGREE; i++) {
        uint64_t c = counter + (increment_counter ? (uint64_t)i : 0);
        lo[i] = (int32_t)(uint32_t)c;
        hi[i] = (int32_t)(uint32_t)(c >> 32);
    }
    __m256i c_lo = _mm256_setr_epi32(lo[0], lo[1], lo[2], lo[3], lo[4], lo[5], lo[6], lo[7]);
    __m256i c_hi = _mm256_setr_epi32(hi[0], hi[1], hi[2], hi[3], hi[4], hi[5], hi[6], hi[7]);
    uint8_t block_flags = flags | flags_start;
    for (size_t b = 0; b < blocks; b++) {
        if (b + 1 == blocks) block_flags |= flags_end;
        __m256i m[16];
        load_msg(inputs, b * B3_BLOCK_LEN, m);
        __m256i v[16] = {h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7],
                         set1(hone__b3_iv[0]), set1(hone__b3_iv[1]), set1(hone__b3_iv[2]),
                         set1(hone__b3_iv[3]), c_lo, c_hi, set1(B3_BLOCK_LEN),
                         set1(block_flags)};
        B3_ROUNDS(round_fn, v, m);
        for (int i = 0; i < 8; i++) h[i] = xorv(v[i], v[i + 8]);
        block_flags = flags;
    }
    transpose8(h);
    for (int i = 0; i < DEGREE; i++) storeu(h[i], out + i * B3_OUT_LEN);
}

#define ADD(a, b) addv((a), (b))
#define XOR(a, b) xorv((a), (b))
#define ROR(a, n) rot##n(a)

/* Two independent eight-lane states, one after the other in the source:
 * with vector additions of more than one cycle's latency and rotations of
 * two or three instructions, one state alone leaves the pipes idle while
 * its dependency chains wait; the second fills them, at the price of
 * spilling (AVX2 has sixteen registers) - measured faster all the same. */
B3_INLINE void round16(__m256i va[16], __m256i vb[16], const __m256i ma[16],
                       const __m256i mb[16], size_t r) {
    const uint8_t *s = b3_sched[r];
    B3_COLUMNS(va, ma, s);
    B3_COLUMNS(vb, mb, s);
    B3_DIAGONALS(va, ma, s);
    B3_DIAGONALS(vb, mb, s);
}

static void hash16(const uint8_t *const *inputs, size_t blocks, const uint32_t key[8],
                   uint64_t counter, bool increment_counter, uint8_t flags, uint8_t flags_start,
                   uint8_t flags_end, uint8_t *out) {
    __m256i ha[8], hb[8];
    for (int i = 0; i < 8; i++) ha[i] = hb[i] = set1(key[i]);
    int32_t lo[16], hi[16];
    for (int i = 0; i < 16; i++) {
        uint64_t c = counter + (increment_counter ? (uint64_t)i : 0);
        lo[i] = (int32_t)(uint32_t)c;
        hi[i] = (int32_t)(uint32_t)(c >> 32);
    }
    __m256i ca_lo = _mm256_loadu_si256((const void *)lo);
    __m256i ca_hi = _mm256_loadu_si256((const void *)hi);
    __m256i cb_lo = _mm256_loadu_si256((const void *)(lo + 8));
    __m256i cb_hi = _mm256_loadu_si256((const void *)(hi + 8));
    uint8_t block_flags = flags | flags_start;
    for (size_t b = 0; b < blocks; b++) {
        if (b + 1 == blocks) block_flags |= flags_end;
        __m256i ma[16], mb[16];
        load_msg(inputs, b * B3_BLOCK_LEN, ma);
        load_msg(inputs + 8, b * B3_BLOCK_LEN, mb);
        __m256i iv0 = set1(hone__b3_iv[0]), iv1 = set1(hone__b3_iv[1]);
        __m256i iv2 = set1(hone__b3_iv[2]), iv3 = set1(hone__b3_iv[3]);
        __m256i bl = set1(B3_BLOCK_LEN), fl = set1(block_flags);
        __m256i va[16] = {ha[0], ha[1], ha[2], ha[3], ha[4], ha[5], ha[6], ha[7],
                          iv0,   iv1,   iv2,   iv3,   ca_lo, ca_hi, bl,    fl};
        __m256i vb[16] = {hb[0], hb[1], hb[2], hb[3], hb[4], hb[5], hb[6], hb[7],
                          iv0,   iv1,   iv2,   iv3,   cb_lo, cb_hi, bl,    fl};
        round16(va, vb, ma, mb, 0);
        round16(va, vb, ma, mb, 1);
        round16(va, vb, ma, mb, 2);
        round16(va, vb, ma, mb, 3);
        round16(va, vb, ma, mb, 4);
        round16(va, vb, ma, mb, 5);
        round16(va, vb, ma, mb, 6);
        for (int i = 0; i < 8; i++) {
            ha[i] = xorv(va[i], va[i + 8]);
            hb[i] = xorv(vb[i], vb[i + 8]);
        }
        block_flags = flags;
    }
    transpose8(ha);
    transpose8(hb);
    for (int i = 0; i < DEGREE; i++) {
        storeu(ha[i], out + i * B3_OUT_LEN);
        storeu(hb[i], out + (DEGREE + i) * B3_OUT_LEN);
    }
}

void hone__b3_hash_many_avx2(const uint8_t *const *inputs, size_t num_inputs, size_t blocks,
                             const uint32_t key[8], uint64_t counter, bool increment_counter,
                             uint8_t flags, uint8_t flags_start, uint8_t flags_end,
                             uint8_t *out) {
    while (num_inputs >= 2 * DEGREE) {
        hash16(inputs, blocks, key, counter, increment_counter, flags, flags_start, flags_end,
               out);
        if (increment_counter) counter += 2 * DEGREE;
        inputs += 2 * DEGREE;
        num_inputs -= 2 * DEGREE;
        out += 2 * DEGREE * B3_OUT_LEN;
    }
    while (num_inputs >= DEGREE) {
        hash8(inputs, blocks, key, counter, increment_counter, flags, flags_start, flags_end,
              out);
        if (increment_counter) counter += DEGREE;
        inputs += DEGREE;
        num_inputs -= DEGREE;
        out += DEGREE * B3_OUT_LEN;
    }
    hone__b3_hash_many_sse41(inputs, num_inputs, blocks, key, counter, increment_counter, flags,
                             flags_start, flags_end, out);
}
#endif
