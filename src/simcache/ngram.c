/* ngram.c - the similarity cache's built-in scorer (character n-grams and
 * words, feature-hashed, sublinear term frequency, L2-normalised) and the
 * dot product every lookup scans with. */
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>

/* XXH3 inlined from the header: every n-gram of every text is hashed. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "simcache/simcache_internal.h"

/* 3-grams plus words at weight 1.5, unsigned: see docs/design/simcache.md
 * for the variants measured on mock_data.json and why this one. */
const hone__sim_ngram_cfg hone__sim_ngram_default = {3, 3, 1.5f, 0};

static uint64_t g_seed;
static pthread_once_t g_seed_once = PTHREAD_ONCE_INIT;

static void seed_init(void) {
    uint64_t s = 0;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s)
        s = hone_monotonic_ns() ^ (uint64_t)(uintptr_t)&s;
    g_seed = s ? s : UINT64_C(0x9e3779b97f4a7c15);
}

uint64_t hone__sim_seed(void) {
    pthread_once(&g_seed_once, seed_init);
    return g_seed;
}

/* A byte of a word: ASCII letters and digits, and every byte of a UTF-8
 * multi-byte character (so non-English text still has features). */
static int word_byte(unsigned char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch >= 0x80;
}

static unsigned char lower(unsigned char ch) {
    return (ch >= 'A' && ch <= 'Z') ? (unsigned char)(ch + 32) : ch;
}

static void add_feature(float *out, size_t dim, uint64_t h, float w, int signed_hash) {
    size_t b = (size_t)((h >> 32) * dim >> 32); /* dim <= 65536: no overflow */
    out[b] += (signed_hash && (h & 1)) ? -w : w;
}

int hone__sim_ngram_embed_cfg(const char *text, size_t len, uint64_t seed, float *out, size_t dim,
                              const hone__sim_ngram_cfg *cfg) {
    if ((!text && len) || !out || !dim || dim > 65536 || !cfg) return HONE_EINVAL;
    if (!seed) seed = hone__sim_seed();
    memset(out, 0, dim * sizeof *out);
    /* The normalised text is produced one byte at a time: a window of the
     * last nmax bytes gives the n-grams, a word buffer the words. */
    unsigned char win[8];
    size_t have = 0;
    unsigned char word[64];
    size_t wlen = 0, wfull = 0;
    int nmax = cfg->nmax > 8 ? 8 : cfg->nmax;
    int last_space = 1;
    uint64_t gseed[9];
    for (int n = 1; n <= 8; n++) gseed[n] = seed ^ (UINT64_C(0x9e3779b97f4a7c15) * (uint64_t)n);
    uint64_t wseed = seed ^ UINT64_C(0xc2b2ae3d27d4eb4f);
    /* Start with the padding space. */
    win[0] = ' ';
    have = 1;
    for (size_t i = 0; i <= len; i++) {
        unsigned char ch;
        if (i == len) {
            ch = ' ';
        } else {
            ch = (unsigned char)text[i];
            if (!word_byte(ch)) ch = ' ';
            ch = lower(ch);
        }
        if (ch == ' ') {
            if (wfull && cfg->word_weight > 0) {
                /* Words longer than the buffer hash their first 64 bytes
                 * and their length. */
                uint64_t h = XXH3_64bits_withSeed(word, wlen, wseed ^ (wfull > wlen ? wfull : 0));
                add_feature(out, dim, h, cfg->word_weight, 0);
            }
            wlen = wfull = 0;
            if (last_space) continue; /* runs of separators are one space */
            last_space = 1;
        } else {
            last_space = 0;
            if (wlen < sizeof word) word[wlen++] = ch;
            wfull++;
        }
        if (have == (size_t)nmax) {
            memmove(win, win + 1, (size_t)nmax - 1);
            have--;
        }
        win[have++] = ch;
        for (int n = cfg->nmin; n <= nmax; n++) {
            if ((size_t)n > have) break;
            uint64_t h = XXH3_64bits_withSeed(win + have - (size_t)n, (size_t)n, gseed[n]);
            add_feature(out, dim, h, 1.0f, cfg->signed_hash);
        }
    }
    /* Sublinear term frequency per bucket, then unit length. */
    double norm = 0;
    for (size_t i = 0; i < dim; i++) {
        float v = out[i];
        if (v != 0.0f) {
            float a = fabsf(v);
            float w = a >= 1.0f ? 1.0f + logf(a) : a;
            out[i] = v < 0 ? -w : w;
            norm += (double)out[i] * out[i];
        }
    }
    if (norm > 0) {
        float inv = (float)(1.0 / sqrt(norm));
        for (size_t i = 0; i < dim; i++) out[i] *= inv;
    }
    return HONE_OK;
}

int hone_sim_ngram_embed(const char *text, size_t len, uint64_t seed, float *out, size_t dim) {
    return hone__sim_ngram_embed_cfg(text, len, seed, out, dim, &hone__sim_ngram_default);
}

static int ngram_embed_cb(void *ctx, const char *text, size_t len, float *out) {
    const hone_sim_ngram *st = ctx;
    return hone_sim_ngram_embed(text, len, st->seed, out, st->dim);
}

void hone_sim_scorer_ngram(hone_sim_scorer *out, hone_sim_ngram *st, size_t dim, uint64_t seed) {
    if (!out || !st) return;
    st->dim = dim ? dim : HONE_SIM_NGRAM_DIM;
    st->seed = seed ? seed : hone__sim_seed();
    out->name = "ngram";
    out->version = "1";
    out->dim = st->dim;
    out->embed = ngram_embed_cb;
    out->ctx = st;
}

/* ------------------------------------------------------------------ */
/* Dot product                                                         */
/* ------------------------------------------------------------------ */

/* Eight independent sums, so that gcc -O2 turns the inner loop into SIMD
 * adds and multiplies (float addition is not associative, so a single sum
 * could not be reordered without -ffast-math). */
static float dot_portable(const float *restrict a, const float *restrict b, size_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[i + (size_t)j] * b[i + (size_t)j];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
__attribute__((target("avx2"))) static float dot_avx2(const float *a, const float *b, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_add_ps(s0, _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
        s1 = _mm256_add_ps(s1,
                           _mm256_mul_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8)));
        s2 = _mm256_add_ps(
            s2, _mm256_mul_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16)));
        s3 = _mm256_add_ps(
            s3, _mm256_mul_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24)));
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_add_ps(s0, _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
    __m128 lo = _mm256_castps256_ps128(s), hi = _mm256_extractf128_ps(s, 1);
    __m128 q = _mm_add_ps(lo, hi);
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_shuffle_ps(q, q, 1));
    float r = _mm_cvtss_f32(q);
    for (; i < n; i++) r += a[i] * b[i];
    return r;
}
#define HAVE_AVX2_DOT 1
#endif

float hone_sim_dot(const float *a, const float *b, size_t n) {
#ifdef HAVE_AVX2_DOT
    if (hone_cpu_has(HONE_CPU_AVX2)) return dot_avx2(a, b, n);
#endif
    return dot_portable(a, b, n);
}

#if defined(__clang__)
__attribute__((noinline))
#elif defined(__GNUC__)
__attribute__((noinline, optimize("no-tree-vectorize")))
#endif
float hone__sim_dot_scalar(const float *a, const float *b, size_t n) {
    float s = 0;
#if defined(__clang__)
#pragma clang loop vectorize(disable) interleave(disable)
#endif
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}
