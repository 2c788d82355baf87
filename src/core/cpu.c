/* cpu.c - CPU feature detection (cpuid + xgetbv) and the HONE_CPU_MASK
 * override that lets tests force the portable fallbacks. */
#include "hone/core.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define HONE_X86 1
#endif

static uint32_t hw_features;
static pthread_once_t hw_once = PTHREAD_ONCE_INIT;
/* Usable features plus bit 31 meaning "computed". */
#define COMPUTED (1u << 31)
static uint32_t usable_features; /* accessed with __atomic builtins */

#ifdef HONE_X86
static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

static void detect_hw(void) {
    uint32_t f = 0;
#ifdef HONE_X86
    unsigned a, b, c, d;
    unsigned max = (unsigned)__get_cpuid_max(0, NULL);
    if (max >= 1 && __get_cpuid(1, &a, &b, &c, &d)) {
        int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
        uint64_t xcr0 = osxsave ? xgetbv0() : 0;
        int os_avx = avx && (xcr0 & 0x6) == 0x6;
        int os_avx512 = os_avx && (xcr0 & 0xe6) == 0xe6;
        if (c & (1u << 19)) f |= HONE_CPU_SSE41;
        if (c & (1u << 25)) f |= HONE_CPU_AES;
        if (max >= 7 && __get_cpuid_count(7, 0, &a, &b, &c, &d)) {
            if (os_avx && (b & (1u << 5))) f |= HONE_CPU_AVX2;
            if (b & (1u << 8)) f |= HONE_CPU_BMI2;
            if (b & (1u << 29)) f |= HONE_CPU_SHA;
            if (os_avx512 && (b & (1u << 16))) f |= HONE_CPU_AVX512F;
            if (os_avx512 && (b & (1u << 31))) f |= HONE_CPU_AVX512VL;
        }
    }
    if ((unsigned)__get_cpuid_max(0x80000000u, NULL) >= 0x80000007u &&
        __get_cpuid(0x80000007u, &a, &b, &c, &d) && (d & (1u << 8)))
        f |= HONE_CPU_INVARIANT_TSC;
#endif
    hw_features = f;
}

uint32_t hone_cpu_features_hw(void) {
    pthread_once(&hw_once, detect_hw);
    return hw_features;
}

/* Masking a feature masks those that build on it. */
static uint32_t close_mask(uint32_t m) {
    if (m & HONE_CPU_SSE41) m |= HONE_CPU_AVX2;
    if (m & HONE_CPU_AVX2) m |= HONE_CPU_AVX512F;
    if (m & HONE_CPU_AVX512F) m |= HONE_CPU_AVX512VL;
    return m;
}

static const struct {
    const char *name;
    uint32_t bits;
} mask_names[] = {
    {"sse4.1", HONE_CPU_SSE41},
    {"sse41", HONE_CPU_SSE41},
    {"avx2", HONE_CPU_AVX2},
    {"avx512", HONE_CPU_AVX512F | HONE_CPU_AVX512VL},
    {"avx512f", HONE_CPU_AVX512F},
    {"avx512vl", HONE_CPU_AVX512VL},
    {"sha", HONE_CPU_SHA},
    {"aes", HONE_CPU_AES},
    {"bmi2", HONE_CPU_BMI2},
    {"tsc", HONE_CPU_INVARIANT_TSC},
    {"all", HONE_CPU_SSE41 | HONE_CPU_AVX2 | HONE_CPU_AVX512F | HONE_CPU_AVX512VL |
                HONE_CPU_SHA | HONE_CPU_AES | HONE_CPU_BMI2},
};
#define N_MASK_NAMES (sizeof mask_names / sizeof mask_names[0])

int hone_cpu_parse_mask(const char *list, uint32_t *out, hone_error *err) {
    uint32_t m = 0;
    const char *p = list ? list : "";
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        while (n && (*p == ' ')) p++, n--;
        while (n && p[n - 1] == ' ') n--;
        if (n) {
            size_t i;
            for (i = 0; i < N_MASK_NAMES; i++)
                if (strlen(mask_names[i].name) == n && !strncmp(mask_names[i].name, p, n)) break;
            if (i == N_MASK_NAMES) {
                return hone_error_set(err, HONE_EINVAL,
                                      "HONE_CPU_MASK=%s: unknown feature '%.*s', expected a "
                                      "comma list of sse4.1, avx2, avx512, avx512f, avx512vl, "
                                      "sha, aes, bmi2, tsc, all",
                                      list, (int)n, p);
            }
            m |= mask_names[i].bits;
        }
        if (!e) break;
        p = e + 1;
    }
    *out = close_mask(m);
    return HONE_OK;
}

static uint32_t compute_usable(hone_error *err, int *rc) {
    uint32_t mask = 0;
    const char *env = getenv("HONE_CPU_MASK");
    *rc = HONE_OK;
    if (env && *env) {
        *rc = hone_cpu_parse_mask(env, &mask, err);
        if (*rc) mask = 0;
    }
    return (hone_cpu_features_hw() & ~mask) | COMPUTED;
}

uint32_t hone_cpu_features(void) {
    uint32_t f = __atomic_load_n(&usable_features, __ATOMIC_ACQUIRE);
    if (!(f & COMPUTED)) {
        hone_error err;
        int rc;
        f = compute_usable(&err, &rc);
        uint32_t expected = 0;
        if (__atomic_compare_exchange_n(&usable_features, &expected, f, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            if (rc) hone_log(HONE_LOG_ERROR, "core", "%s; no mask applied", err.msg);
        } else {
            f = expected;
        }
    }
    return f & ~COMPUTED;
}

int hone_cpu_has(uint32_t features) { return (hone_cpu_features() & features) == features; }

int hone_cpu_reload(hone_error *err) {
    int rc;
    uint32_t f = compute_usable(err, &rc);
    __atomic_store_n(&usable_features, f, __ATOMIC_RELEASE);
    return rc;
}

const char *hone_cpu_feature_name(uint32_t feature) {
    switch (feature) {
#define X(name, bit, str) \
    case HONE_CPU_##name: \
        return str;
        HONE_CPU_FEATURE_MAP(X)
#undef X
    }
    return NULL;
}

size_t hone_cpu_features_format(uint32_t features, char *buf, size_t size) {
    size_t len = 0;
    if (size) buf[0] = '\0';
    for (uint32_t bit = 1; bit && bit <= HONE_CPU_INVARIANT_TSC; bit <<= 1) {
        const char *name = hone_cpu_feature_name(bit);
        if (!(features & bit) || !name) continue;
        int n = snprintf(len < size ? buf + len : NULL, len < size ? size - len : 0, "%s%s",
                         len ? " " : "", name);
        if (n > 0) len += (size_t)n;
    }
    return len;
}
