/* fn.c - hone_bench_fn: times a C function with an iteration count
 * calibrated to a target sample duration, and compares two such results. */
#include "hone/bench.h"

#include <string.h>

static uint64_t default_clock(void *ctx) {
    (void)ctx;
    return hone_now_ns();
}

/* One call of fn with `iters` operations, timed. */
static uint64_t timed(hone_bench_fn_t fn, void *ctx, uint64_t iters, uint64_t (*clk)(void *),
                      void *cctx) {
    uint64_t t0 = clk(cctx);
    fn(ctx, iters);
    uint64_t t1 = clk(cctx);
    return t1 > t0 ? t1 - t0 : 0;
}

int hone_bench_fn(hone_bench_fn_t fn, void *ctx, const hone_bench_fn_opts *o,
                  hone_bench_fn_result *out) {
    if (out) memset(out, 0, sizeof *out);
    hone_bench_fn_opts d;
    memset(&d, 0, sizeof d);
    if (!o) o = &d;
    if (!fn || !out || o->samples == 1) return HONE_EINVAL;
    uint64_t target = o->sample_ns ? o->sample_ns : 10000000u;
    size_t samples = o->samples ? o->samples : 30;
    uint32_t warmup = o->warmup ? o->warmup : 1;
    uint64_t max_iters = o->max_iters ? o->max_iters : (uint64_t)1 << 40;
    uint64_t (*clk)(void *) = o->clock ? o->clock : default_clock;
    if (!o->clock) hone_clock_init();

    double *v = hone_malloc(o->alloc, samples * sizeof *v);
    if (!v) return HONE_ENOMEM;

    /* Calibration: double until one call lasts an eighth of the target,
     * long enough that clock resolution and call overhead no longer
     * dominate, then scale linearly to the target. */
    uint64_t iters = 1, dt = 0;
    for (;;) {
        dt = timed(fn, ctx, iters, clk, o->clock_ctx);
        if (dt >= target / 8 || iters >= max_iters) break;
        iters *= 2;
    }
    if (dt > 0) {
        double scaled = (double)iters * (double)target / (double)dt;
        iters = scaled < 1 ? 1 : (scaled > (double)max_iters ? max_iters : (uint64_t)scaled);
    }
    if (iters > max_iters) iters = max_iters;

    for (uint32_t i = 0; i < warmup; i++) timed(fn, ctx, iters, clk, o->clock_ctx);
    for (size_t i = 0; i < samples; i++)
        v[i] = (double)timed(fn, ctx, iters, clk, o->clock_ctx) / (double)iters;

    int rc = hone_bench_summarize(v, samples, &out->ns, o->alloc);
    if (rc) {
        hone_free(o->alloc, v);
        memset(out, 0, sizeof *out);
        return rc;
    }
    out->iters = iters;
    out->samples = samples;
    out->ns_per_op = v;
    out->alloc = o->alloc;
    out->ops_per_sec = out->ns.mean > 0 ? 1e9 / out->ns.mean : 0;
    return HONE_OK;
}

void hone_bench_fn_result_free(hone_bench_fn_result *r) {
    if (!r) return;
    hone_free(r->alloc, r->ns_per_op);
    memset(r, 0, sizeof *r);
}

int hone_bench_fn_compare(const hone_bench_fn_result *a, const hone_bench_fn_result *b,
                          hone_bench_comparison *out) {
    if (!a || !b || !a->ns_per_op || !b->ns_per_op) return HONE_EINVAL;
    return hone_bench_compare(a->ns_per_op, a->samples, b->ns_per_op, b->samples, out, a->alloc);
}
