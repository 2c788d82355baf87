/* clock.c - monotonic nanoseconds from the invariant TSC, calibrated
 * against CLOCK_MONOTONIC, with clock_gettime as the portable fallback. */
#include "hone/core.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

__extension__ typedef unsigned __int128 hone__u128;

static struct {
    int use_tsc;
    int invariant_tsc;
    double tsc_hz;
    uint64_t base_tsc;
    uint64_t base_ns;
    uint64_t mult; /* ns per tick, 32.32 fixed point */
} clk;
static int clk_ready; /* __atomic */
static pthread_once_t clk_once = PTHREAD_ONCE_INIT;

uint64_t hone_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Calibrates the TSC against CLOCK_MONOTONIC over about 10 ms. Each end is
 * the TSC reading closest to a clock_gettime call (the pair with the
 * smallest TSC gap out of a few), so one preemption cannot skew it. */
static void sample(uint64_t *tsc, uint64_t *ns) {
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 5; i++) {
        uint64_t t0 = hone_cycles();
        uint64_t n = hone_monotonic_ns();
        uint64_t t1 = hone_cycles_end();
        if (t1 - t0 < best) {
            best = t1 - t0;
            *tsc = t0 + (t1 - t0) / 2;
            *ns = n;
        }
    }
}

static void clock_setup(void) {
    uint32_t hw = hone_cpu_features_hw();
    clk.invariant_tsc = (hw & HONE_CPU_INVARIANT_TSC) != 0;
    int want_tsc = hone_cpu_has(HONE_CPU_INVARIANT_TSC);
#if !defined(__x86_64__)
    want_tsc = 0;
#endif
    static const char *const choices[] = {"auto", "tsc", "monotonic", NULL};
    int choice = 0;
    hone_error err;
    if (hone_env_enum("HONE_CLOCK", choices, 0, &choice, &err))
        hone_log(HONE_LOG_ERROR, "core", "%s; using auto", err.msg);
    if (choice == 1) want_tsc = 1;
    if (choice == 2) want_tsc = 0;
    (void)want_tsc;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    /* hone_cycles() reads the TSC on every x86-64 CPU, so its conversion is
     * calibrated even when hone_now_ns() does not use it. */
    uint64_t t0 = 0, n0 = 0, t1 = 0, n1 = 0;
    sample(&t0, &n0);
    do {
        sample(&t1, &n1);
    } while (n1 - n0 < 10000000u);
    if (t1 > t0) {
        clk.tsc_hz = (double)(t1 - t0) * 1e9 / (double)(n1 - n0);
        clk.mult = (uint64_t)((double)(n1 - n0) / (double)(t1 - t0) * 4294967296.0);
        clk.base_tsc = t1;
        clk.base_ns = n1;
        clk.use_tsc = want_tsc;
    }
#endif
    __atomic_store_n(&clk_ready, 1, __ATOMIC_RELEASE);
}

void hone_clock_init(void) {
    if (!__atomic_load_n(&clk_ready, __ATOMIC_ACQUIRE)) pthread_once(&clk_once, clock_setup);
}

uint64_t hone_now_ns(void) {
    if (__builtin_expect(!__atomic_load_n(&clk_ready, __ATOMIC_ACQUIRE), 0)) hone_clock_init();
    if (clk.use_tsc) {
        uint64_t d = hone_cycles() - clk.base_tsc;
        /* A core whose TSC lags the calibrating core's by a few cycles must
         * not produce a huge wrapped value. */
        if ((int64_t)d < 0) return clk.base_ns;
        return clk.base_ns + (uint64_t)(((hone__u128)d * clk.mult) >> 32);
    }
    return hone_monotonic_ns();
}

uint64_t hone_cycles_to_ns(uint64_t cycles) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    hone_clock_init();
    return (uint64_t)(((hone__u128)cycles * clk.mult) >> 32);
#else
    return cycles;
#endif
}

double hone_cycles_per_sec(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    hone_clock_init();
    return clk.tsc_hz;
#else
    return 1e9;
#endif
}

const char *hone_clock_source_name(hone_clock_source s) {
    return s == HONE_CLOCK_TSC ? "tsc" : "monotonic";
}

/* The cheapest of several batches, per read, so background noise only ever
 * makes a batch slower and the minimum approaches the true cost. A macro,
 * not a function pointer, so the read is measured inline as callers use it. */
#define COST_BATCH 2000
#define READ_COST(expr, out)                                        \
    do {                                                            \
        double best_ = 1e30;                                        \
        for (int b_ = 0; b_ < 5; b_++) {                            \
            volatile uint64_t sink_ = 0;                            \
            uint64_t n0_ = hone_monotonic_ns();                     \
            for (int i_ = 0; i_ < COST_BATCH; i_++) sink_ += (expr); \
            double per_ = (double)(hone_monotonic_ns() - n0_) / COST_BATCH; \
            if (per_ < best_) best_ = per_;                         \
            (void)sink_;                                            \
        }                                                           \
        (out) = best_;                                              \
    } while (0)

int hone_clock_info_get(hone_clock_info *info) {
    if (!info) return HONE_EINVAL;
    hone_clock_init();
    memset(info, 0, sizeof *info);
    struct timespec res;
    clock_getres(CLOCK_MONOTONIC, &res);
    info->monotonic_res_ns = (double)res.tv_sec * 1e9 + (double)res.tv_nsec;
    info->source = clk.use_tsc ? HONE_CLOCK_TSC : HONE_CLOCK_MONOTONIC;
    info->invariant_tsc = clk.invariant_tsc;
    info->tsc_hz = clk.invariant_tsc ? clk.tsc_hz : 0;
    info->resolution_ns = clk.use_tsc ? 1e9 / clk.tsc_hz : info->monotonic_res_ns;
    READ_COST(hone_cycles(), info->cycles_read_ns);
    READ_COST(hone_monotonic_ns(), info->gettime_read_ns);
    READ_COST(hone_now_ns(), info->now_read_ns);
    return HONE_OK;
}
