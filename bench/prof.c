/* prof.c - benchmark of the profiler: the cost of a zone against two
 * cycle-counter reads, of a traced zone against the aggregate-only zone, of
 * a disabled zone, of a histogram record against one counter read, of a
 * zone nested in another against four reads, of two threads recording at
 * once, of a snapshot, and the memory per zone. Prints
 * name<TAB>value<TAB>unit lines. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "hone.h"

enum { N = 2000000, REPS = 7 };

static volatile uint64_t sink;

/* Best of REPS runs of fn, in ns per operation: the minimum is the figure
 * least disturbed by other work on a shared machine. */
static double best(double (*fn)(void)) {
    double b = 1e30;
    for (int r = 0; r < REPS; r++) {
        double v = fn();
        if (v < b) b = v;
    }
    return b;
}

static double run_floor(void) {
    uint64_t acc = 0, t0 = hone_monotonic_ns();
    for (int i = 0; i < N; i++) {
        uint64_t a = hone_cycles();
        uint64_t b = hone_cycles();
        acc += b - a;
    }
    sink += acc;
    return (double)(hone_monotonic_ns() - t0) / N;
}

/* Four reads: the floor of two nested zones. */
static double run_floor4(void) {
    uint64_t acc = 0, t0 = hone_monotonic_ns();
    for (int i = 0; i < N; i++) {
        uint64_t a = hone_cycles();
        uint64_t b = hone_cycles();
        uint64_t c = hone_cycles();
        uint64_t d = hone_cycles();
        acc += d - a + c - b;
    }
    sink += acc;
    return (double)(hone_monotonic_ns() - t0) / N;
}

static double run_one_read(void) {
    uint64_t acc = 0, t0 = hone_monotonic_ns();
    for (int i = 0; i < N; i++) acc += hone_cycles();
    sink += acc;
    return (double)(hone_monotonic_ns() - t0) / N;
}

static hone_prof_site bench_site = {"bench", __FILE__, "run_zone", __LINE__, HONE_LOG_WARN, 0, 0, 0, 0};

static double run_zone(void) {
    uint64_t t0 = hone_monotonic_ns();
    for (int i = 0; i < N; i++) {
        hone_prof_scope z;
        hone_prof_begin(&bench_site, &z);
        hone_prof_end(&z);
    }
    return (double)(hone_monotonic_ns() - t0) / N;
}

static hone_prof_site inner_site = {"inner", __FILE__, "run_nested", __LINE__, HONE_LOG_WARN, 0, 0, 0, 0};

/* A zone with another inside: two sites, self time, the parent link. */
static double run_nested(void) {
    uint64_t t0 = hone_monotonic_ns();
    for (int i = 0; i < N; i++) {
        hone_prof_scope z, y;
        hone_prof_begin(&bench_site, &z);
        hone_prof_begin(&inner_site, &y);
        hone_prof_end(&y);
        hone_prof_end(&z);
    }
    return (double)(hone_monotonic_ns() - t0) / N;
}

static hone_hist *hist;
static double run_hist(void) {
    uint64_t v = 12345, t0 = hone_monotonic_ns();
    for (int i = 0; i < N; i++) {
        hone_hist_record(hist, v & 0xffffff);
        v = v * 6364136223846793005ull + 1442695040888963407ull;
    }
    return (double)(hone_monotonic_ns() - t0) / N;
}

static pthread_barrier_t barrier;
static double thread_ns[2];
static void *zone_thread(void *arg) {
    int k = (int)(intptr_t)arg;
    pthread_barrier_wait(&barrier);
    thread_ns[k] = best(run_zone);
    return NULL;
}

enum { ZONES = 1000 };
static hone_prof_site many[ZONES];
static char names[ZONES][16];
static void *many_thread(void *arg) {
    (void)arg;
    for (int r = 0; r < 10; r++)
        for (int i = 0; i < ZONES; i++) {
            hone_prof_scope z;
            hone_prof_begin(&many[i], &z);
            hone_prof_end(&z);
        }
    /* Stay alive (and counted as a live thread) until measured. */
    pthread_barrier_wait(&barrier);
    pthread_barrier_wait(&barrier);
    return NULL;
}

int main(void) {
    hone_clock_init();
    hone_prof_enable(1);
    if (hone_hist_new(&hist, NULL)) return 1;

    /* Each figure and its baseline are measured in alternating rounds, so
     * that a burst of load from other processes hits both alike; each keeps
     * its best round. */
    double floor_ns = 1e30, read_ns = 1e30, zone_ns = 1e30, off_ns = 1e30, hist_ns = 1e30;
    double floor4_ns = 1e30, nested_ns = 1e30, trace_ns = 1e30;
    /* A ring smaller than the loop, so that the traced runs also pay for
     * overwriting (the steady state of a long-running program). */
    if (hone_prof_configure(&(hone_prof_config){.trace_events = 1 << 16})) return 1;
    for (int r = 0; r < REPS; r++) {
        double v;
        if ((v = run_floor()) < floor_ns) floor_ns = v;
        if ((v = run_zone()) < zone_ns) zone_ns = v;
        hone_prof_trace(1);
        if ((v = run_zone()) < trace_ns) trace_ns = v;
        hone_prof_trace(0);
        if ((v = run_floor4()) < floor4_ns) floor4_ns = v;
        if ((v = run_nested()) < nested_ns) nested_ns = v;
        if ((v = run_one_read()) < read_ns) read_ns = v;
        if ((v = run_hist()) < hist_ns) hist_ns = v;
        hone_prof_enable(0);
        if ((v = run_zone()) < off_ns) off_ns = v;
        hone_prof_enable(1);
    }

    pthread_barrier_init(&barrier, NULL, 2);
    pthread_t t[2];
    for (int k = 0; k < 2; k++) pthread_create(&t[k], NULL, zone_thread, (void *)(intptr_t)k);
    for (int k = 0; k < 2; k++) pthread_join(t[k], NULL);
    pthread_barrier_destroy(&barrier);
    double two_ns = thread_ns[0] > thread_ns[1] ? thread_ns[0] : thread_ns[1];

    /* 1,000 zones on 2 threads, then time snapshots of them. */
    for (int i = 0; i < ZONES; i++) {
        snprintf(names[i], sizeof names[i], "zone%d", i);
        many[i] = (hone_prof_site){names[i], __FILE__, "many", i, HONE_LOG_WARN, 0, 0, 0, 0};
    }
    /* What the main thread holds (its slots and its trace ring) is not
     * part of the per-zone figure. */
    size_t main_bytes = hone_prof_memory_size();
    /* The snapshots below time the zones, not the traced runs' events
     * still in the main thread's ring: a reset consumes those. */
    if (hone_prof_reset()) return 1;
    pthread_barrier_init(&barrier, NULL, 3);
    for (int k = 0; k < 2; k++) pthread_create(&t[k], NULL, many_thread, NULL);
    pthread_barrier_wait(&barrier);
    size_t base = hone_prof_memory_size() - main_bytes;
    double snap_us = 1e30;
    for (int r = 0; r < REPS; r++) {
        uint64_t t0 = hone_monotonic_ns();
        hone_prof_snapshot *s;
        if (hone_prof_snapshot_take(&s, NULL)) return 1;
        double us = (double)(hone_monotonic_ns() - t0) / 1e3;
        if (us < snap_us) snap_us = us;
        hone_prof_snapshot_free(s);
    }
    pthread_barrier_wait(&barrier);
    for (int k = 0; k < 2; k++) pthread_join(t[k], NULL);
    /* The two threads hold 1,000 zones each. */
    double per_zone = (double)base / (2.0 * ZONES);

    printf("prof.floor_ns\t%.2f\tns\n", floor_ns);
    printf("prof.cycles_read_ns\t%.2f\tns\n", read_ns);
    printf("prof.zone_ns\t%.2f\tns\n", zone_ns);
    printf("prof.zone.ratio\t%.2f\tvs prof.floor_ns\n", zone_ns / floor_ns);
    printf("prof.zone.trace_ns\t%.2f\tns\n", trace_ns);
    printf("prof.zone.trace.ratio\t%.2f\tvs aggregate-only zone\n", trace_ns / zone_ns);
    printf("prof.floor4_ns\t%.2f\tns\n", floor4_ns);
    printf("prof.zone_nested_ns\t%.2f\tns\n", nested_ns);
    printf("prof.zone_nested.ratio\t%.2f\tvs prof.floor4_ns\n", nested_ns / floor4_ns);
    printf("prof.zone_off_ns\t%.2f\tns\n", off_ns);
    printf("prof.hist_record_ns\t%.2f\tns\n", hist_ns);
    printf("prof.hist_record.ratio\t%.2f\tvs prof.cycles_read_ns\n", hist_ns / read_ns);
    printf("prof.zone_2threads_ns\t%.2f\tns\n", two_ns);
    printf("prof.zone_2threads.ratio\t%.2f\tvs prof.zone_ns\n", two_ns / zone_ns);
    printf("prof.snapshot_us\t%.1f\tus\n", snap_us);
    printf("prof.bytes_per_zone\t%.0f\tbytes\n", per_zone);
    hone_hist_free(hist);
    return (int)(sink & 0);
}
