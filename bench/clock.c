/* bench/clock.c - what one clock read costs: the raw cycle counter,
 * clock_gettime(CLOCK_MONOTONIC) and hone_now_ns(), measured in one run.
 * Each figure is the cheapest of 31 batches of 200,000 reads, so load from
 * other processes only ever inflates a batch and the minimum approaches the
 * true cost. Prints name<TAB>value<TAB>unit lines. */
#include <stdio.h>
#include <time.h>

#include "hone.h"

#define BATCHES 31
#define READS 200000

static uint64_t mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define MEASURE(expr)                                       \
    do {                                                    \
        best = 1e30;                                        \
        for (int b = 0; b < BATCHES; b++) {                 \
            volatile uint64_t sink = 0;                     \
            uint64_t t0 = mono();                           \
            for (int i = 0; i < READS; i++) sink += (expr); \
            uint64_t t1 = mono();                           \
            double per = (double)(t1 - t0) / READS;         \
            if (per < best) best = per;                     \
            (void)sink;                                     \
        }                                                   \
    } while (0)

int main(void) {
    double best, tsc, gettime, now;
    hone_clock_init();
    MEASURE(hone_cycles());
    tsc = best;
    MEASURE(mono());
    gettime = best;
    MEASURE(hone_now_ns());
    now = best;
    hone_clock_info ci;
    hone_clock_info_get(&ci);
    printf("clock.tsc_ns\t%.2f\tns\n", tsc);
    printf("clock.gettime_ns\t%.2f\tns\n", gettime);
    printf("clock.hone_now_ns\t%.2f\tns\n", now);
    printf("clock.hone_now.ratio\t%.3f\tvs clock_gettime\n", now / gettime);
    return 0;
}
