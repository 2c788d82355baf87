/* test_run.c - hone_run_map, the engine behind `hone run`: every input
 * runs once in input-order job numbers (array and source, per_job, any
 * parallelism), keep_order, callbacks that never overlap, GNU parallel's
 * halt rules and exit status, retries with backoff and a retry budget, the
 * rate limit, fixed and adaptive timeouts (with the duration history), the
 * result cache (function and command jobs: deps, environment, input files,
 * the executable's content, what is never stored), stops (stop_fd and
 * on_result), cycles, the out-of-memory loop and a many-thread run.
 *
 * Time is a fake clock (tests/flow/fake_clock.h) whose sleep advances it,
 * so rates, backoffs and adaptive timeouts are proved without sleeping.
 * Command jobs run real processes where processes matter (exit statuses,
 * kills, the executable's content). */
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../flow/fake_clock.h"
#include "hone/run.h"
#include "tmpdir.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const char *end_str(int end) {
    const char *s = hone_run_end_name(end);
    return s ? s : "?";
}

#define assert_u64(got, want, what)                                                           \
    do {                                                                                      \
        uint64_t g_ = (uint64_t)(got), w_ = (uint64_t)(want);                                 \
        if (g_ != w_)                                                                         \
            fail_msg("%s: got %llu, expected %llu", what, (unsigned long long)g_,             \
                     (unsigned long long)w_);                                                 \
    } while (0)

#define assert_rc(rc, want, err)                                                              \
    do {                                                                                      \
        int r_ = (rc);                                                                        \
        if (r_ != (want))                                                                     \
            fail_msg("status %s (%s), expected %s", hone_status_name(r_), (err).msg,          \
                     hone_status_name(want));                                                 \
    } while (0)

/* One on_result call, copied. */
typedef struct rec {
    uint64_t seq;
    unsigned slot, attempts;
    int end, status, ok, cached, has_argv;
    uint64_t duration_ns, timeout_ns;
    char *out, *err, *inputs; /* inputs joined by ',' */
    size_t out_len, err_len, ninputs;
} rec;

/* Collects the results of a run. */
typedef struct coll {
    rec *v;
    size_t n, cap;
    atomic_int inside, max_inside; /* calls in progress at once */
    size_t stop_at;                /* return nonzero from this call (1-based; 0 never) */
    int spin;                      /* yield inside each call, to widen any overlap */
} coll;

static char *dup_bytes(const char *p, size_t n) {
    char *s = malloc(n + 1);
    assert_non_null(s);
    if (n) memcpy(s, p, n);
    s[n] = 0;
    return s;
}

static char *join_inputs(const char *const *in, size_t n) {
    size_t len = 0;
    for (size_t i = 0; i < n; i++) len += strlen(in[i]) + 1;
    char *s = malloc(len + 1);
    assert_non_null(s);
    s[0] = 0;
    for (size_t i = 0; i < n; i++) {
        if (i) strcat(s, ",");
        strcat(s, in[i]);
    }
    return s;
}

static int on_result(void *ctx, const hone_run_result *r) {
    coll *c = ctx;
    int in = atomic_fetch_add(&c->inside, 1) + 1;
    int m = atomic_load(&c->max_inside);
    while (in > m && !atomic_compare_exchange_weak(&c->max_inside, &m, in)) {
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->v = realloc(c->v, c->cap * sizeof *c->v);
        assert_non_null(c->v);
    }
    rec *e = &c->v[c->n++];
    memset(e, 0, sizeof *e);
    e->seq = r->seq;
    e->slot = r->slot;
    e->attempts = r->attempts;
    e->end = r->end;
    e->status = r->status;
    e->ok = r->ok;
    e->cached = r->cached;
    e->has_argv = r->argv != NULL;
    e->duration_ns = r->duration_ns;
    e->timeout_ns = r->timeout_ns;
    e->out = dup_bytes(r->out, r->out_len);
    e->out_len = r->out_len;
    e->err = dup_bytes(r->err, r->err_len);
    e->err_len = r->err_len;
    e->inputs = join_inputs(r->inputs, r->ninputs);
    e->ninputs = r->ninputs;
    if (c->spin)
        for (int i = 0; i < 20; i++) sched_yield();
    atomic_fetch_sub(&c->inside, 1);
    return c->stop_at && c->n == c->stop_at;
}

static void coll_free(coll *c) {
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].out);
        free(c->v[i].err);
        free(c->v[i].inputs);
    }
    free(c->v);
    memset(c, 0, sizeof *c);
}

/* The result of job seq; fails the test unless there is exactly one. */
static rec *coll_get(coll *c, uint64_t seq) {
    rec *found = NULL;
    for (size_t i = 0; i < c->n; i++) {
        if (c->v[i].seq != seq) continue;
        if (found) fail_msg("job %llu reported twice", (unsigned long long)seq);
        found = &c->v[i];
    }
    if (!found)
        fail_msg("job %llu not reported (%zu results)", (unsigned long long)seq, c->n);
    return found;
}

static void assert_end(const rec *e, int end, int status) {
    if (e->end != end || e->status != status)
        fail_msg("job %llu: end %s status %d, expected %s %d", (unsigned long long)e->seq,
                 end_str(e->end), e->status, end_str(end), status);
}

static void assert_streq(const char *got, const char *want, const char *what) {
    if (strcmp(got, want) != 0) fail_msg("%s: got \"%s\", expected \"%s\"", what, got, want);
}

/* A function job that says what it saw. Its output is "out:" and the
 * inputs joined by ','; its stderr "err:" and the first input. An input
 * starting with 'F' makes it fail (rc_fail, else HONE_EIO); attempts below
 * fail_until fail too. With fc it advances the fake clock by step_ns x seq
 * (its duration on the run's clock, when jobs run one at a time) and
 * records when each job started. */
#define MAXSEQ 4096
typedef struct fnx {
    fake_clock *fc;
    uint64_t step_ns;
    unsigned fail_until;
    int rc_fail;
    _Atomic unsigned calls[MAXSEQ + 1];
    _Atomic uint64_t total;
    _Atomic unsigned attempt_mask;
    char seen[MAXSEQ + 1][48];          /* inputs of seq's first call */
    uint64_t start_ns[MAXSEQ + 1];      /* fake time at seq's last call */
    uint64_t timeout_ns[MAXSEQ + 1];    /* job->timeout_ns at seq's last call */
} fnx;

static fnx *fnx_new(fake_clock *fc) {
    fnx *x = calloc(1, sizeof *x);
    assert_non_null(x);
    x->fc = fc;
    return x;
}

static int fn_echo(void *ctx, const hone_run_job *job, hone_buf *out, hone_buf *err) {
    fnx *x = ctx;
    atomic_fetch_add(&x->total, 1);
    atomic_fetch_or(&x->attempt_mask, 1u << (job->attempt < 31 ? job->attempt : 31));
    if (job->seq >= 1 && job->seq <= MAXSEQ) {
        if (atomic_fetch_add(&x->calls[job->seq], 1) == 0) {
            char *j = join_inputs(job->inputs, job->ninputs);
            snprintf(x->seen[job->seq], sizeof x->seen[job->seq], "%s", j);
            free(j);
        }
        x->timeout_ns[job->seq] = job->timeout_ns;
        if (x->fc) x->start_ns[job->seq] = fake_get(x->fc);
    }
    if (x->fc && x->step_ns) fake_advance(x->fc, x->step_ns * job->seq);
    int rc = hone_buf_puts(out, "out:");
    for (size_t i = 0; rc == HONE_OK && i < job->ninputs; i++)
        rc = hone_buf_printf(out, "%s%s", i ? "," : "", job->inputs[i]);
    if (rc == HONE_OK) rc = hone_buf_printf(err, "err:%s", job->inputs[0]);
    if (rc != HONE_OK) return rc;
    int failing = job->attempt < x->fail_until;
    for (size_t i = 0; i < job->ninputs; i++)
        if (job->inputs[i][0] == 'F') failing = 1;
    return failing ? (x->rc_fail ? x->rc_fail : HONE_EIO) : HONE_OK;
}

static hone_run_opts fn_opts(fnx *x, const char *const *in, size_t n, coll *c) {
    hone_run_opts o;
    memset(&o, 0, sizeof o);
    o.fn = fn_echo;
    o.fn_ctx = x;
    o.inputs = in;
    o.ninputs = n;
    if (c) {
        o.on_result = on_result;
        o.ctx = c;
    }
    o.jobs = 1;
    if (x->fc) o.clock = &x->fc->clock;
    return o;
}

/* n inputs "<prefix><i>" (from 1) in one allocation. */
typedef struct inputs {
    const char **v;
    char (*s)[32];
    size_t n;
} inputs;

static inputs mk_inputs(size_t n, const char *prefix) {
    inputs in = {calloc(n ? n : 1, sizeof(char *)), calloc(n ? n : 1, 32), n};
    assert_non_null(in.v);
    assert_non_null(in.s);
    for (size_t i = 0; i < n; i++) {
        snprintf(in.s[i], 32, "%s%zu", prefix, i + 1);
        in.v[i] = in.s[i];
    }
    return in;
}

static void free_inputs(inputs *in) {
    free(in->v);
    free(in->s);
}

static hone_run_template *mk_tmpl(int argc, const char *const *argv) {
    hone_run_template *t = NULL;
    hone_error err = {0};
    int rc = hone_run_template_new(&t, argc, argv, 0, NULL, &err);
    assert_rc(rc, HONE_OK, err);
    return t;
}

static hone_cache *mk_cache(void) {
    hone_cache *c = NULL;
    hone_cache_options co = {0};
    co.max_entries = 100000;
    assert_int_equal(hone_cache_new(&c, &co), HONE_OK);
    return c;
}

static hone_run_halt mk_halt(const char *s) {
    hone_run_halt h;
    hone_error err = {0};
    int rc = hone_run_halt_parse(s, &h, &err);
    assert_rc(rc, HONE_OK, err);
    return h;
}

static void write_file(const char *path, const char *text, int mode) {
    FILE *f = fopen(path, "w");
    if (!f) fail_msg("cannot write %s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
    if (mode) assert_int_equal(chmod(path, (mode_t)mode), 0);
}

/* ------------------------------------------------------------------ */
/* Every input once                                                    */
/* ------------------------------------------------------------------ */

/* A source over an array that reuses one buffer, so the run must copy. */
typedef struct src {
    const char *const *v;
    size_t n, i;
    int fail_at; /* return HONE_EIO instead of input fail_at (1-based; 0 never) */
    char buf[32];
} src;

static int src_next(void *ctx, const char **s, size_t *len) {
    src *q = ctx;
    if (q->fail_at && q->i + 1 == (size_t)q->fail_at) return HONE_EIO;
    if (q->i >= q->n) return 0;
    snprintf(q->buf, sizeof q->buf, "%s", q->v[q->i++]);
    *s = q->buf;
    *len = strlen(q->buf);
    return 1;
}

static void test_every_input_once(void **state) {
    (void)state;
    enum { N = 10 };
    inputs in = mk_inputs(N, "in");
    static const unsigned pers[] = {1, 3}, jobss[] = {1, 2, 8};
    for (int use_src = 0; use_src < 2; use_src++) {
        for (size_t pi = 0; pi < 2; pi++) {
            for (size_t ji = 0; ji < 3; ji++) {
                unsigned per = pers[pi];
                fnx *x = fnx_new(NULL);
                coll c = {0};
                src q = {in.v, N, 0, 0, {0}};
                hone_run_opts o = fn_opts(x, in.v, N, &c);
                o.per_job = per;
                o.jobs = jobss[ji];
                if (use_src) {
                    o.inputs = NULL;
                    o.ninputs = 0;
                    o.source = src_next;
                    o.source_ctx = &q;
                }
                hone_run_stats st;
                hone_error err = {0};
                assert_rc(hone_run_map(&o, &st, &err), HONE_OK, err);
                size_t njobs = (N + per - 1) / per;
                char what[96];
                snprintf(what, sizeof what, "source %d per_job %u jobs %u: ", use_src, per,
                         jobss[ji]);
                if (st.jobs != njobs || st.succeeded != njobs || st.failed || st.skipped ||
                    c.n != njobs || atomic_load(&x->total) != njobs)
                    fail_msg("%sjobs %llu succeeded %llu failed %llu skipped %llu results %zu "
                             "calls %llu, expected %zu jobs all succeeding",
                             what, (unsigned long long)st.jobs,
                             (unsigned long long)st.succeeded, (unsigned long long)st.failed,
                             (unsigned long long)st.skipped, c.n,
                             (unsigned long long)atomic_load(&x->total), njobs);
                for (size_t k = 1; k <= njobs; k++) {
                    size_t lo = (k - 1) * per, hi = lo + per < N ? lo + per : N;
                    char *want = join_inputs(in.v + lo, hi - lo);
                    if (atomic_load(&x->calls[k]) != 1)
                        fail_msg("%sjob %zu called %u times", what, k,
                                 atomic_load(&x->calls[k]));
                    if (strcmp(x->seen[k], want) != 0)
                        fail_msg("%sjob %zu got inputs \"%s\", expected \"%s\"", what, k,
                                 x->seen[k], want);
                    rec *e = coll_get(&c, k);
                    assert_streq(e->inputs, want, "result inputs");
                    assert_u64(e->ninputs, hi - lo, "result ninputs");
                    char wout[64];
                    snprintf(wout, sizeof wout, "out:%s", want);
                    assert_streq(e->out, wout, "result out");
                    assert_end(e, HONE_RUN_EXITED, 0);
                    assert_true(e->ok);
                    assert_u64(e->attempts, 1, "attempts");
                    assert_false(e->has_argv);
                    if (e->slot < 1 || e->slot > jobss[ji])
                        fail_msg("%sjob %zu slot %u, expected 1..%u", what, k, e->slot,
                                 jobss[ji]);
                    free(want);
                }
                assert_u64(atomic_load(&x->calls[njobs + 1]), 0, "calls beyond the last job");
                coll_free(&c);
                free(x);
            }
        }
    }
    free_inputs(&in);
}

/* A source that fails: the run returns its status; the inputs before it
 * ran. */
static void test_source_error(void **state) {
    (void)state;
    inputs in = mk_inputs(10, "in");
    fnx *x = fnx_new(NULL);
    coll c = {0};
    src q = {in.v, 10, 0, 5, {0}};
    hone_run_opts o = fn_opts(x, NULL, 0, &c);
    o.source = src_next;
    o.source_ctx = &q;
    hone_run_stats st;
    hone_error err = {0};
    assert_rc(hone_run_map(&o, &st, &err), HONE_EIO, err);
    assert_u64(st.jobs, 4, "jobs before the source failed");
    assert_u64(atomic_load(&x->total), 4, "calls");
    coll_free(&c);
    free(x);
    free_inputs(&in);
}

static void test_bad_options(void **state) {
    (void)state;
    hone_run_opts o;
    memset(&o, 0, sizeof o);
    hone_error err = {0};
    hone_run_stats st;
    assert_rc(hone_run_map(&o, &st, &err), HONE_EINVAL, err); /* no fn, no template */
    fnx *x = fnx_new(NULL);
    o = fn_opts(x, NULL, 3, NULL);
    assert_rc(hone_run_map(&o, &st, &err), HONE_EINVAL, err); /* 3 inputs, no array */
    inputs in = mk_inputs(3, "in");
    o = fn_opts(x, in.v, 3, NULL);
    o.rate = -1;
    assert_rc(hone_run_map(&o, &st, &err), HONE_EINVAL, err);
    o.rate = 0;
    o.halt.percent = 100;
    o.halt.when = HONE_HALT_SOON;
    assert_rc(hone_run_map(&o, &st, &err), HONE_EINVAL, err);
    assert_u64(atomic_load(&x->total), 0, "calls");
    /* No inputs at all: nothing runs, OK. */
    o = fn_opts(x, in.v, 0, NULL);
    assert_rc(hone_run_map(&o, &st, &err), HONE_OK, err);
    assert_u64(st.jobs, 0, "jobs");
    free_inputs(&in);
    free(x);
}

/* ------------------------------------------------------------------ */
/* Order and callbacks                                                 */
/* ------------------------------------------------------------------ */

/* Job 1 waits until every other job has finished (they signal it). */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned n, others_done, nfinish;
    int timed_out;
    uint64_t finish[64];
} gate;

static int fn_gate(void *ctx, const hone_run_job *job, hone_buf *out, hone_buf *err) {
    (void)err;
    gate *g = ctx;
    pthread_mutex_lock(&g->mu);
    if (job->seq == 1) {
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += 30;
        while (g->others_done < g->n - 1)
            if (pthread_cond_timedwait(&g->cv, &g->mu, &dl) == ETIMEDOUT) {
                g->timed_out = 1;
                break;
            }
    } else {
        g->others_done++;
        pthread_cond_broadcast(&g->cv);
    }
    if (g->nfinish < 64) g->finish[g->nfinish++] = job->seq;
    pthread_mutex_unlock(&g->mu);
    return hone_buf_printf(out, "job %llu", (unsigned long long)job->seq);
}

static void test_keep_order(void **state) {
    (void)state;
    enum { N = 12 };
    inputs in = mk_inputs(N, "in");
    gate g = {.n = N};
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    coll c = {0};
    hone_run_opts o;
    memset(&o, 0, sizeof o);
    o.fn = fn_gate;
    o.fn_ctx = &g;
    o.inputs = in.v;
    o.ninputs = N;
    o.jobs = 4;
    o.keep_order = 1;
    o.on_result = on_result;
    o.ctx = &c;
    hone_run_stats st;
    hone_error err = {0};
    assert_rc(hone_run_map(&o, &st, &err), HONE_OK, err);
    assert_false(g.timed_out);
    assert_u64(g.nfinish, N, "jobs finished");
    assert_u64(g.finish[N - 1], 1, "the job that finished last");
    assert_u64(c.n, N, "results");
    for (size_t i = 0; i < c.n; i++) {
        char want[32];
        snprintf(want, sizeof want, "job %zu", i + 1);
        if (c.v[i].seq != i + 1)
            fail_msg("result %zu is job %llu, expected job %zu", i, (unsigned long long)c.v[i].seq,
                     i + 1);
        assert_streq(c.v[i].out, want, "out");
    }
    coll_free(&c);
    pthread_mutex_destroy(&g.mu);
    pthread_cond_destroy(&g.cv);
    free_inputs(&in);
}

static void test_results_never_overlap(void **state) {
    (void)state;
    enum { N = 400 };
    inputs in = mk_inputs(N, "in");
    for (int ko = 0; ko < 2; ko++) {
        fnx *x = fnx_new(NULL);
        coll c = {0};
        c.spin = 1;
        hone_run_opts o = fn_opts(x, in.v, N, &c);
        o.jobs = 8;
        o.keep_order = ko;
        hone_run_stats st;
        hone_error err = {0};
        assert_rc(hone_run_map(&o, &st, &err), HONE_OK, err);
        assert_u64(c.n, N, "results");
        assert_u64(atomic_load(&c.max_inside), 1, "on_result calls in progress at once");
        for (size_t k = 1; k <= N; k++) coll_get(&c, k);
        coll_free(&c);
        free(x);
    }
    free_inputs(&in);
}

/* ------------------------------------------------------------------ */
/* Halt                                                                */
/* ------------------------------------------------------------------ */

static void test_halt_soon_fail_command(void **state) {
    (void)state;
    static const char *const argv[] = {"sh", "-c", "exit $1", "sh", "{}"};
    hone_run_template *t = mk_tmpl(5, argv);
    static const char *const in[] = {"0", "0", "7", "0", "0"};
    coll c = {0};
    hone_run_opts o;
    memset(&o, 0, sizeof o);
    o.tmpl = t;
    o.inputs = in;
    o.ninputs = 5;
    o.jobs = 1;
    o.on_result = on_result;
    o.ctx = &c;
    o.halt = mk_halt("soon,fail=1");
    hone_run_stats st;
    hone_error err = {0};
    assert_rc(hone_run_map(&o, &st, &err), HONE_OK, err);
    assert_true(st.halted);
    assert_u64(st.halt_seq, 3, "halt_seq");
    assert_u64(st.halt_status, 7, "halt_status");
    assert_u64(st.jobs, 3, "jobs");
    assert_u64(st.succeeded, 2, "succeeded");
    assert_u64(st.failed, 1, "failed");
    assert_u64(st.skipped, 2, "skipped");
    assert_u64(c.n, 3, "results");
    assert_end(coll_get(&c, 3), HONE_RUN_EXITED, 7);
    assert_true(coll_get(&c, 3)->has_argv);
    assert_int_equal(hone_run_exit_status(&st, &o.halt), 7);
    coll_free(&c);
    hone_run_template_free(t);
}

static void test_halt_now_kills(void **state) {
    (void)state;
    char dir[256], marker[300];
    assert_int_equal(hone_test_tmpdir(dir, sizeof dir, "run-halt"), 0);
    snprintf(marker, sizeof marker, "%s/started", dir);
    /* Job "s" says it started, then sleeps; job "f" waits for that and
     * fails with 5. */
    static const char script[] =
        "case $1 in s) : > \"$2\"; exec sleep 30;; "
        "f) i=0; while [ ! -e \"$2\" ] && [ $i -lt 2000 ]; do sleep 0.01; i=$((i+1)); done; "
        "exit 5;; esac";
    const char *argv[] = {"sh", "-c", script, "sh", "{}", marker};
    hone_run_template *t = mk_tmpl(6, argv);
    static const char *const in[] = {"s", "f", "s"};
    coll c = {0};
    hone_run_opts o;
    memset(&o, 0, sizeof o);
    o.tmpl = t;
    o.inputs = in;
    o.ninputs = 3;
    o.jobs = 2;
    o.on_result = on_result;
    o.ctx = &c;
    o.halt = mk_halt("now,fail=1");
    hone_run_stats st;
    hone_error err = {0};
    uint64_t t0 = mono_ns();
    assert_rc(hone_run_map(&o, &st, &err), HONE_OK, err);
    uint64_t took = mono_ns() - t0;
    if (took > 15 * SEC)
        fail_msg("the run took %llu ms with a 30 s job killed", (unsigned long long)(took / MS));
    assert_true(st.halted);
    assert_u64(st.halt_seq, 2, "halt_seq");
    assert_u64(st.killed, 1, "killed");
    assert_u64(st.failed, 1, "failed");
    assert_u64(st.skipped, 1, "skipped");
    assert_end(coll_get(&c, 1), HONE_RUN_KILLED, coll_get(&c, 1)->status);
    assert_end(coll_get(&c, 2), HONE_RUN_EXITED, 5);
    assert_int_equal(hone_run_exit_status(&st, &o.halt), 5);
    coll_free(&c);
    hone_run_template_free(t);
    hone_test_rmtree(dir);
}

static void test_halt_success_done_percent(void **state) {
    (void)state;
    hone_run_stats st;
    hone_error err = {0};
    /* success=1: the first success halts; exit status 0 though jobs failed. */
    {
        static const char *const in[] = {"F1", "F2", "F3", "o4", "F5", "F6"};
        fnx *x = fnx_new(NULL);
        coll c = {0};
        hone_run_opts o = fn_opts(x, in, 6, &c);
        o.halt = mk_halt("soon,success=1");
        assert_rc(hone_run_map(&o, &st, &err), HONE_OK, err);
        assert_true(st.halted);
        assert_u64(st.halt_seq, 4, "success=1 halt_seq");
        assert_u64(st.jobs, 4, "success=1 jobs");
        assert_u64(st.skipped, 2, "success=1 skipped");
        assert_u64(atomic_load(&x->total), 4, "success=1 calls");
        assert_int_equal(hone_run_exit_status(&st, &o.halt), 0);
        assert_end(coll_get(&c, 1), HONE_RUN_FAILED, HONE_EIO);
        coll_free(&c);
        free(x);
    }
    /* done=3 */
    {
        inputs in = mk_inputs(10, "in");
        fnx *x = fnx_new(NULL);
        coll c = {0};
        hone_run_opts o = fn_opts(x, in.v, 10, &c);
        o.halt = mk_halt("soon,done=3");
        assert_rc(hone_run_map(&o, &st, &err), HONE_OK, err);
        assert_true(st.halted);
        assert_u64(st.halt_seq, 3, "done=3 halt_seq");
        assert_u64(st.jobs, 3, "done=3 jobs");
        assert_u64(st.skipped, 7, "done=3 skipped");
        assert_int_equal(hone_run_exit_status(&st, &o.halt), 0);
        coll_free(&c);
        free(x);
        free_inputs(&in);
    }
    /* done=1: the first job's status, whatever it was (a function's
     * failure is 1). */
    {
        static const char *const in[] = {"F1", "o2"};
        fnx *x = fnx_new(NULL);
        hone_run_opts o = fn_opts(x, in, 2, NULL);
        o.halt = mk_halt("soon,done=1");
        assert_rc(hone_run_map(&o, &st, &err), HONE_OK, err);
        assert_true(st.halted);
        assert_u64(st.halt_seq, 1, "done=1 halt_seq");
        assert_int_equal(hone_run_exit_status(&st, &o.halt), 1);
        free(x);
    }
    /* fail=50%: job 1 alone is 100 % failed but not judged (fewer than 3
     * finished); job 4 makes 2 of 4. */
    {
        static const char *const in[] = {"F1", "o2", "o3", "F4", "o5", "o6"};
        fnx *x = fnx_new(NULL);
        coll c = {0};
        hone_run_opts o = fn_opts(x, in, 6, &c);
        o.halt = mk_halt("soon,fail=50%");
        assert_rc(hone_run_map(&o, &st, &err), HONE_OK, err);
        assert_true(st.halted);
        assert_u64(st.halt_seq, 4, "fail=50% halt_seq");
        assert_u64(st.jobs, 4, "fail=50% jobs");
        assert_u64(st.skipped, 2, "fail=50% skipped");
        /* A halt on a percentage: the failed count (GNU parallel). */
        assert_int_equal(hone_run_exit_status(&st, &o.halt), 2);
        coll_free(&c);
        free(x);
    }
    /* No halt: the exit status is the failed count, at most 101. */
    {
        static const char *const in[] = {"F1", "o2", "F3", "o4", "F5"};
        fnx *x = fnx_new(NULL);
        hone_run_opts o = fn_opts(x, in, 5, NULL);
        assert_rc(hone_run_map(&o, &st, &err), HONE_OK, err);
        assert_false(st.halted);
        assert_u64(st.failed, 3, "failed");
        assert_int_equal(hone_run_exit_status(&st, &o.halt), 3);
        free(x);
        inputs many = mk_inputs(150, "F");
        x = fnx_new(NULL);
        o = fn_opts(x, many.v, 150, NULL);
        o.jobs = 4;
        assert_rc(hone_run_map(&o, &st, &err), HONE_OK, err);
        assert_u64(st.failed, 150, "failed");
        assert_int_equal(hone_run_exit_status(&st, &o.halt), 101);
        free(x);
        free_inputs(&many);
        inputs good = mk_inputs(5, "ok");
        x = fnx_new(NULL);
        o = fn_opts(x, good.v, 5, NULL);
        assert_rc(hone_run_map(&o, &st, &err), HONE_OK, err);
        assert_int_equal(hone_run_exit_status(&st, &o.halt), 0);
        free(x);
        free_inputs(&good);
    }
}

/* A halt while other jobs are between retries, several at once: every
 * started job is reported, the rest skipped (and TSan sees the retry loop
 * read the halt flag). */
static void test_halt_during_retries(void **state) {
    (void)state;
    enum { N = 200 };
    inputs in = mk_inputs(N, "F");
    for (int round = 0; round < 5; round++) {
        fake_clock fc;
        fake_init(&fc, SEC);
        fnx *x = fnx_new(&fc);
        coll c = {0};
        hone_run_opts o = fn_opts(x, in.v, N, &c);
        o.jobs = 4;
        o.attempts = 4;
        o.backoff.base_ns = 1;
        o.backoff.jitter = HONE_JITTER_NONE;
        o.halt = mk_halt("soon,fail=3");
        hone_run_stats st;
        hone_error err = {0};
        assert_rc(hone_run_map(&o, &st, &err), HONE_OK, err);
        assert_true(st.halted);
        assert_u64(st.jobs + st.skipped, N, "jobs reported + skipped");
        assert_u64(c.n, st.jobs, "results");
        if (st.failed < 3) fail_msg("failed %llu, expected >= 3", (unsigned long long)st.failed);
        coll_free(&c);
        free(x);
    }
    free_inputs(&in);
}

/* ------------------------------------------------------------------ */
/* Retries                                                             */
/* ------------------------------------------------------------------ */

static void test_retries(void **state) {
    (void)state;
    hone_run_stats st;
    hone_error err = {0};
    /* Fails twice, then succeeds: three attempts, 100 + 200 ms of backoff. */
    {
        fake_clock fc;
        fake_init(&fc, SEC);
        fnx *x = fnx_new(&fc);
        x->fail_until = 3;
        static const char *const in[] = {"a"};
        coll c = {0};
        hone_run_opts o = fn_opts(x, in, 1, &c);
        o.attempts = 3;
        o.backoff.base_ns = 100 * MS;
        o.backoff.jitter = HONE_JITTER_NONE;
        assert_rc(hone_run_map(&o, &st, &err), HONE_OK, err);
        rec *e = coll_get(&c, 1);
        assert_true(e->ok);
        assert_end(e, HONE_RUN_EXITED, 0);
        assert_u64(e->attempts, 3, "attempts");
        assert_u64(st.retried, 2, "retried");
        assert_u64(st.succeeded, 1, "succeeded");
        assert_u64(atomic_load(&x->total), 3, "calls");
        assert_u64(atomic_load(&x->attempt_mask), 0xe, "attempt numbers seen (bits)");
        assert_u64(atomic_load(&fc.sleeps), 2, "sleeps");
        assert_u64(atomic_load(&fc.slept_ns), 300 * MS, "slept");
        if (fake_get(&fc) - SEC < 300 * MS)
            fail_msg("the clock moved %llu ns, expected >= 300 ms",
                     (unsigned long long)(fake_get(&fc) - SEC));
        coll_free(&c);
        free(x);
    }
    /* Always failing, attempts=2: two calls, the failure kept. */
    {
        fake_clock fc;
        fake_init(&fc, SEC);
        fnx *x = fnx_new(&fc);
        static const char *const in[] = {"Fa"};
        coll c = {0};
        hone_run_opts o = fn_opts(x, in, 1, &c);
        o.attempts = 2;
        o.backoff.base_ns = 100 * MS;
        o.backoff.jitter = HONE_JITTER_NONE;
        assert_rc(hone_run_map(&o, &st, &err), HONE_OK, err);
        rec *e = coll_get(&c, 1);
        assert_false(e->ok);
        assert_end(e, HONE_RUN_FAILED, HONE_EIO);
        assert_u64(e->attempts, 2, "attempts");
        assert_u64(st.retried, 1, "retried");
        assert_u64(st.failed, 1, "failed");
        assert_u64(atomic_load(&x->total), 2, "calls");
        assert_u64(atomic_load(&fc.slept_ns), 100 * MS, "slept");
        coll_free(&c);
        free(x);
    }
}

/* With a retry budget of 0.1 and every job failing, retries stop at
 * max(0.1 x requests, 10/s x 10 s) (flow.h's rule; the fake clock stays in
 * one window). */
static void test_retry_budget(void **state) {
    (void)state;
    enum { N = 2000 };
    inputs in = mk_inputs(N, "F");
    fake_clock fc;
    fake_init(&fc, SEC);
    fnx *x = fnx_new(&fc);
    hone_run_opts o = fn_opts(x, in.v, N, NULL);
    o.jobs = 2;
    o.attempts = 2;
    o.backoff.base_ns = 1;
    o.backoff.jitter = HONE_JITTER_NONE;
    o.retry_budget = 0.1;
    hone_run_stats st;
    hone_error err = {0};
    assert_rc(hone_run_map(&o, &st, &err), HONE_OK, err);
    assert_u64(st.failed, N, "failed");
    if (st.budget_denied == 0)
        fail_msg("no retry was denied (%llu retried)", (unsigned long long)st.retried);
    assert_u64(st.retried + st.budget_denied, N, "retried + denied");
    if (st.retried > 200 || st.retried < 100)
        fail_msg("retried %llu, expected 100..200 (max(0.1 x %d, 100))",
                 (unsigned long long)st.retried, N);
    assert_u64(atomic_load(&x->total), N + st.retried, "calls");
    free(x);
    free_inputs(&in);
}

/* ------------------------------------------------------------------ */
/* Rate                                                                */
/* ------------------------------------------------------------------ */

static void test_rate(void **state) {
    (void)state;
    enum { N = 20 };
    inputs in = mk_inputs(N, "in");
    hone_cache *cache = mk_cache();
    for (unsigned jobs = 1; jobs <= 4; jobs += 3) {
        fake_clock fc;
        fake_init(&fc, 1000 * SEC);
        fnx *x = fnx_new(&fc);
        hone_run_opts o = fn_opts(x, in.v, N, NULL);
        o.jobs = jobs;
        o.rate = 10;
        o.burst = 1;
        o.fn_id = "rate";
        if (jobs == 1) o.cache = cache;
        hone_run_stats st;
        hone_error err = {0};
        assert_rc(hone_run_map(&o, &st, &err), HONE_OK, err);
        assert_u64(st.succeeded, N, "succeeded");
        uint64_t moved = fake_get(&fc) - 1000 * SEC;
        if (moved < 1900 * MS)
            fail_msg("jobs %u: 20 jobs at 10/s took %llu ms of the clock, expected >= 1900", jobs,
                     (unsigned long long)(moved / MS));
        if (jobs == 1)
            for (size_t k = 2; k <= N; k++)
                if (x->start_ns[k] - x->start_ns[k - 1] < 100 * MS)
                    fail_msg("job %zu started %llu ns after job %zu, expected >= 100 ms", k,
                             (unsigned long long)(x->start_ns[k] - x->start_ns[k - 1]), k - 1);
        free(x);
        if (jobs == 1) {
            /* Cached jobs take no permit: the rerun does not wait. */
            fake_init(&fc, 1000 * SEC);
            x = fnx_new(&fc);
            o.fn_ctx = x;
            assert_rc(hone_run_map(&o, &st, &err), HONE_OK, err);
            assert_u64(st.cached, N, "cached");
            assert_u64(fake_get(&fc) - 1000 * SEC, 0, "clock moved on the cached rerun");
            assert_u64(atomic_load(&x->total), 0, "calls on the cached rerun");
            free(x);
        }
    }
    hone_cache_free(cache);
    free_inputs(&in);
}

/* ------------------------------------------------------------------ */
/* Timeouts                                                            */
/* ------------------------------------------------------------------ */

typedef struct tox {
    fake_clock *fc;
    uint64_t seen_timeout;
    int stopped[3];
} tox;

/* "wait": checks hone_run_job_stopped before, just before and after the
 * deadline and returns HONE_ETIMEDOUT once stopped; "quick": returns
 * HONE_ETIMEDOUT at once. */
static int fn_timeout(void *ctx, const hone_run_job *job, hone_buf *out, hone_buf *err) {
    (void)out, (void)err;
    tox *t = ctx;
    if (strcmp(job->inputs[0], "quick") == 0) return HONE_ETIMEDOUT;
    t->seen_timeout = job->timeout_ns;
    t->stopped[0] = hone_run_job_stopped(job);
    fake_advance(t->fc, 4900 * MS);
    t->stopped[1] = hone_run_job_stopped(job);
    fake_advance(t->fc, 200 * MS);
    t->stopped[2] = hone_run_job_stopped(job);
    return t->stopped[2] ? HONE_ETIMEDOUT : HONE_OK;
}

static void test_timeout_fixed(void **state) {
    (void)state;
    fake_clock fc;
    fake_init(&fc, SEC);
    tox t = {&fc, 0, {0}};
    static const char *const in[] = {"wait", "quick"};
    coll c = {0};
    hone_run_opts o;
    memset(&o, 0, sizeof o);
    o.fn = fn_timeout;
    o.fn_ctx = &t;
    o.inputs = in;
    o.ninputs = 2;
    o.jobs = 1;
    o.on_result = on_result;
    o.ctx = &c;
    o.clock = &fc.clock;
    o.timeout_ns = 5 * SEC;
    hone_run_stats st;
    hone_error err = {0};
    assert_rc(hone_run_map(&o, &st, &err), HONE_OK, err);
    assert_u64(t.seen_timeout, 5 * SEC, "job->timeout_ns");
    if (t.stopped[0] || t.stopped[1] || !t.stopped[2])
        fail_msg("stopped at 0 s, 4.9 s, 5.1 s: %d %d %d, expected 0 0 1", t.stopped[0],
                 t.stopped[1], t.stopped[2]);
    assert_end(coll_get(&c, 1), HONE_RUN_TIMEDOUT, HONE_ETIMEDOUT);
    assert_end(coll_get(&c, 2), HONE_RUN_TIMEDOUT, HONE_ETIMEDOUT);
    assert_u64(coll_get(&c, 1)->timeout_ns, 5 * SEC, "result timeout_ns");
    assert_u64(st.timed_out, 2, "timed_out");
    assert_u64(st.failed, 2, "failed");
    coll_free(&c);
    /* No timeout: 0, and never stopped. */
    fake_init(&fc, SEC);
    memset(&t, 0, sizeof t);
    t.fc = &fc;
    o.timeout_ns = 0;
    o.ninputs = 1;
    o.on_result = NULL;
    assert_rc(hone_run_map(&o, &st, &err), HONE_OK, err);
    assert_u64(t.seen_timeout, 0, "job->timeout_ns without a timeout");
    assert_false(t.stopped[2]);
    assert_u64(st.succeeded, 1, "succeeded");
}

/* Runs N jobs one at a time, job k taking k x 10 ms on the fake clock,
 * with the adaptive timeout; returns the fnx (timeouts seen per job). */
static fnx *run_auto(size_t n, const char *fn_id, uint64_t min_ns, uint64_t max_ns,
                     hone_cache *history, fake_clock *fc) {
    inputs in = mk_inputs(n, "in");
    fnx *x = fnx_new(fc);
    x->step_ns = 10 * MS;
    hone_run_opts o = fn_opts(x, in.v, n, NULL);
    o.fn_id = fn_id;
    o.timeout_auto = 1;
    o.timeout_percentile = 95;
    o.timeout_factor = 3;
    o.timeout_min_ns = min_ns;
    o.timeout_max_ns = max_ns;
    o.history = history;
    hone_run_stats st;
    hone_error err = {0};
    assert_rc(hone_run_map(&o, &st, &err), HONE_OK, err);
    assert_u64(st.succeeded, n, "succeeded");
    free_inputs(&in);
    return x;
}

static void test_timeout_auto(void **state) {
    (void)state;
    fake_clock fc;
    fake_init(&fc, SEC);
    /* 20 durations 10..200 ms: p95 (nearest rank 19) is 190 ms, x3 = 570 ms. */
    fnx *x = run_auto(25, "auto", MS, 60 * SEC, NULL, &fc);
    for (size_t k = 1; k <= 20; k++)
        if (x->timeout_ns[k] != 60 * SEC)
            fail_msg("job %zu (after %zu durations): timeout %llu, expected the max 60 s", k,
                     k - 1, (unsigned long long)x->timeout_ns[k]);
    assert_u64(x->timeout_ns[21], 570 * MS, "timeout after 20 durations");
    free(x);
    /* Clamped to the max, and to the min. */
    x = run_auto(21, "auto", MS, 400 * MS, NULL, &fc);
    assert_u64(x->timeout_ns[1], 400 * MS, "timeout before 20 durations (max 400 ms)");
    assert_u64(x->timeout_ns[21], 400 * MS, "timeout clamped to max 400 ms");
    free(x);
    x = run_auto(21, "auto", 2 * SEC, 60 * SEC, NULL, &fc);
    assert_u64(x->timeout_ns[21], 2 * SEC, "timeout clamped to min 2 s");
    free(x);
}

static void test_timeout_history(void **state) {
    (void)state;
    fake_clock fc;
    fake_init(&fc, SEC);
    hone_cache *hist = mk_cache();
    fnx *x = run_auto(20, "hist", MS, 60 * SEC, hist, &fc);
    assert_u64(x->timeout_ns[20], 60 * SEC, "first run, job 20");
    free(x);
    /* The next run starts with the timeout computed from the first's. */
    x = run_auto(1, "hist", MS, 60 * SEC, hist, &fc);
    assert_u64(x->timeout_ns[1], 570 * MS, "second run's first timeout");
    free(x);
    /* Without the history, or for another function: the max again. */
    x = run_auto(1, "hist", MS, 60 * SEC, NULL, &fc);
    assert_u64(x->timeout_ns[1], 60 * SEC, "without history");
    free(x);
    x = run_auto(1, "other", MS, 60 * SEC, hist, &fc);
    assert_u64(x->timeout_ns[1], 60 * SEC, "another fn_id");
    free(x);
    hone_cache_free(hist);
}

/* ------------------------------------------------------------------ */
/* Result cache, function jobs                                         */
/* ------------------------------------------------------------------ */

/* Runs fn_echo over in[0..n) with the cache (one job at a time, job k
 * taking k ms on the fake clock); results into c, stats into st. */
static void run_cached(fnx *x, const char *const *in, size_t n, hone_cache *cache, coll *c,
                       hone_run_stats *st, void (*tweak)(hone_run_opts *o, void *arg), void *arg) {
    hone_run_opts o = fn_opts(x, in, n, c);
    o.fn_id = "test.echo.v1";
    o.cache = cache;
    if (tweak) tweak(&o, arg);
    hone_error err = {0};
    assert_rc(hone_run_map(&o, st, &err), HONE_OK, err);
}

static void test_cache_replay(void **state) {
    (void)state;
    enum { N = 10 };
    inputs in = mk_inputs(N, "in");
    hone_cache *cache = mk_cache();
    fake_clock fc;
    fake_init(&fc, SEC);
    fnx *x = fnx_new(&fc);
    x->step_ns = MS;
    coll c1 = {0}, c2 = {0};
    hone_run_stats s1, s2;
    run_cached(x, in.v, N, cache, &c1, &s1, NULL, NULL);
    assert_u64(s1.cached, 0, "first run cached");
    assert_u64(s1.run_ns, 55 * MS, "first run's durations");
    run_cached(x, in.v, N, cache, &c2, &s2, NULL, NULL);
    assert_u64(s2.cached, N, "second run cached");
    assert_u64(s2.jobs, N, "second run jobs");
    assert_u64(s2.succeeded, N, "second run succeeded");
    assert_u64(s2.run_ns, 0, "second run ran");
    assert_u64(s2.saved_ns, 55 * MS, "saved_ns");
    assert_u64(atomic_load(&x->total), N, "calls in both runs");
    for (uint64_t k = 1; k <= N; k++) {
        rec *a = coll_get(&c1, k), *b = coll_get(&c2, k);
        assert_false(a->cached);
        assert_true(b->cached);
        assert_u64(b->attempts, 0, "attempts of a cached job");
        assert_streq(b->out, a->out, "replayed out");
        assert_streq(b->err, a->err, "replayed err");
        assert_end(b, a->end, a->status);
        assert_true(b->ok);
        assert_u64(b->duration_ns, a->duration_ns, "replayed duration");
        assert_u64(a->duration_ns, k * MS, "duration");
    }
    coll_free(&c1);
    coll_free(&c2);
    free(x);
    hone_cache_free(cache);
    free_inputs(&in);
}

static void set_cache_failures(hone_run_opts *o, void *arg) {
    (void)arg;
    o->cache_failures = 1;
}

static void test_cache_failures(void **state) {
    (void)state;
    static const char *const in[] = {"a", "Fb", "c"};
    for (int cf = 0; cf < 2; cf++) {
        hone_cache *cache = mk_cache();
        fnx *x = fnx_new(NULL);
        coll c1 = {0}, c2 = {0};
        hone_run_stats s1, s2;
        run_cached(x, in, 3, cache, &c1, &s1, cf ? set_cache_failures : NULL, NULL);
        run_cached(x, in, 3, cache, &c2, &s2, cf ? set_cache_failures : NULL, NULL);
        assert_u64(s2.cached, cf ? 3 : 2, "cached on the second run");
        assert_u64(s2.failed, 1, "failed on the second run");
        assert_u64(atomic_load(&x->calls[2]), cf ? 1 : 2, "calls of the failing job");
        rec *e = coll_get(&c2, 2);
        assert_end(e, HONE_RUN_FAILED, HONE_EIO);
        assert_false(e->ok);
        assert_int_equal(e->cached, cf);
        coll_free(&c1);
        coll_free(&c2);
        free(x);
        hone_cache_free(cache);
    }
}

typedef struct depsarg {
    const char *const *deps;
    size_t ndeps;
    const char *const *env;
    size_t nenv;
} depsarg;

static void set_deps(hone_run_opts *o, void *arg) {
    depsarg *d = arg;
    o->deps = d->deps;
    o->ndeps = d->ndeps;
    o->env_names = d->env;
    o->nenv = d->nenv;
}

/* Runs the three inputs and returns how many were cached. */
static uint64_t cached_count(const char *const *in, size_t n, hone_cache *cache, depsarg *d) {
    fnx *x = fnx_new(NULL);
    hone_run_stats st;
    run_cached(x, in, n, cache, NULL, &st, set_deps, d);
    assert_u64(st.cached + atomic_load(&x->total), n, "cached + run");
    free(x);
    return st.cached;
}

static void test_cache_dep_file(void **state) {
    (void)state;
    char dir[256], dep[300];
    assert_int_equal(hone_test_tmpdir(dir, sizeof dir, "run-dep"), 0);
    snprintf(dep, sizeof dep, "%s/dep.txt", dir);
    write_file(dep, "version 1\n", 0);
    const char *deps[] = {dep};
    depsarg d = {deps, 1, NULL, 0};
    static const char *const in[] = {"a", "b", "c"};
    hone_cache *cache = mk_cache();
    assert_u64(cached_count(in, 3, cache, &d), 0, "first run");
    assert_u64(cached_count(in, 3, cache, &d), 3, "unchanged dep");
    write_file(dep, "version 2, longer\n", 0);
    assert_u64(cached_count(in, 3, cache, &d), 0, "edited dep");
    assert_u64(cached_count(in, 3, cache, &d), 3, "edited dep, again");
    /* A dep that is missing: HONE_ENOTFOUND naming it, nothing runs. */
    char missing[320];
    snprintf(missing, sizeof missing, "%s/no-such-dep", dir);
    const char *deps2[] = {dep, missing};
    fnx *x = fnx_new(NULL);
    coll c = {0};
    hone_run_opts o = fn_opts(x, in, 3, &c);
    o.fn_id = "test.echo.v1";
    o.cache = cache;
    o.deps = deps2;
    o.ndeps = 2;
    hone_run_stats st;
    hone_error err = {0};
    assert_rc(hone_run_map(&o, &st, &err), HONE_ENOTFOUND, err);
    if (!strstr(err.msg, missing)) fail_msg("error \"%s\" does not name %s", err.msg, missing);
    assert_u64(st.jobs, 0, "jobs");
    assert_u64(c.n, 0, "results");
    assert_u64(atomic_load(&x->total), 0, "calls");
    /* A function job with a cache but no fn_id. */
    o.deps = NULL;
    o.ndeps = 0;
    o.fn_id = NULL;
    assert_rc(hone_run_map(&o, &st, &err), HONE_EINVAL, err);
    assert_u64(atomic_load(&x->total), 0, "calls");
    coll_free(&c);
    free(x);
    hone_cache_free(cache);
    hone_test_rmtree(dir);
}

static void test_cache_env(void **state) {
    (void)state;
    static const char var[] = "TEST_RUN_KEY_VAR";
    static const char *const env[] = {var};
    depsarg d = {NULL, 0, env, 1};
    static const char *const in[] = {"a", "b", "c"};
    hone_cache *cache = mk_cache();
    setenv(var, "one", 1);
    assert_u64(cached_count(in, 3, cache, &d), 0, "first run");
    assert_u64(cached_count(in, 3, cache, &d), 3, "same value");
    setenv(var, "two", 1);
    assert_u64(cached_count(in, 3, cache, &d), 0, "changed value");
    unsetenv(var);
    assert_u64(cached_count(in, 3, cache, &d), 0, "unset");
    assert_u64(cached_count(in, 3, cache, &d), 3, "unset again");
    setenv(var, "", 1);
    assert_u64(cached_count(in, 3, cache, &d), 0, "empty differs from unset");
    assert_u64(cached_count(in, 3, cache, &d), 3, "empty again");
    unsetenv(var);
    assert_u64(cached_count(in, 3, cache, &d), 3, "unset once more");
    setenv(var, "one", 1);
    assert_u64(cached_count(in, 3, cache, &d), 3, "the first value");
    unsetenv(var);
    hone_cache_free(cache);
}

static void test_cache_input_files(void **state) {
    (void)state;
    char dir[256], fa[300], fb[300];
    assert_int_equal(hone_test_tmpdir(dir, sizeof dir, "run-inputs"), 0);
    snprintf(fa, sizeof fa, "%s/a.txt", dir);
    snprintf(fb, sizeof fb, "%s/b.txt", dir);
    write_file(fa, "alpha\n", 0);
    write_file(fb, "beta\n", 0);
    const char *in[] = {fa, fb, "plain"};
    hone_cache *cache = mk_cache();
    fnx *x = fnx_new(NULL);
    coll c = {0};
    hone_run_stats st;
    run_cached(x, in, 3, cache, NULL, &st, NULL, NULL);
    assert_u64(st.cached, 0, "first run");
    run_cached(x, in, 3, cache, NULL, &st, NULL, NULL);
    assert_u64(st.cached, 3, "second run");
    write_file(fa, "alpha, edited\n", 0);
    run_cached(x, in, 3, cache, &c, &st, NULL, NULL);
    assert_u64(st.cached, 2, "after editing a.txt");
    assert_false(coll_get(&c, 1)->cached);
    assert_true(coll_get(&c, 2)->cached);
    assert_true(coll_get(&c, 3)->cached);
    assert_u64(atomic_load(&x->calls[1]), 2, "calls of the a.txt job");
    assert_u64(atomic_load(&x->calls[2]), 1, "calls of the b.txt job");
    assert_u64(atomic_load(&x->calls[3]), 1, "calls of the plain job");
    coll_free(&c);
    free(x);
    hone_cache_free(cache);
    hone_test_rmtree(dir);
}

/* ------------------------------------------------------------------ */
/* Result cache, command jobs                                          */
/* ------------------------------------------------------------------ */

static void run_cmd_cached(hone_run_template *t, const char *const *in, size_t n,
                           hone_cache *cache, coll *c, hone_run_stats *st, uint64_t timeout_ns) {
    hone_run_opts o;
    memset(&o, 0, sizeof o);
    o.tmpl = t;
    o.inputs = in;
    o.ninputs = n;
    o.jobs = 2;
    o.cache = cache;
    o.cache_failures = 1;
    o.timeout_ns = timeout_ns;
    o.on_result = on_result;
    o.ctx = c;
    hone_error err = {0};
    assert_rc(hone_run_map(&o, st, &err), HONE_OK, err);
}

static void test_cache_executable(void **state) {
    (void)state;
    char dir[256], script[300];
    assert_int_equal(hone_test_tmpdir(dir, sizeof dir, "run-exe"), 0);
    snprintf(script, sizeof script, "%s/tool", dir);
    write_file(script, "#!/bin/sh\necho v1 \"$1\"\n", 0755);
    const char *argv[] = {script, "{}"};
    hone_run_template *t = mk_tmpl(2, argv);
    static const char *const in[] = {"x", "y"};
    hone_cache *cache = mk_cache();
    coll c = {0};
    hone_run_stats st;
    run_cmd_cached(t, in, 2, cache, &c, &st, 0);
    assert_u64(st.cached, 0, "first run");
    assert_streq(coll_get(&c, 1)->out, "v1 x\n", "out");
    coll_free(&c);
    run_cmd_cached(t, in, 2, cache, &c, &st, 0);
    assert_u64(st.cached, 2, "second run");
    assert_streq(coll_get(&c, 2)->out, "v1 y\n", "replayed out");
    coll_free(&c);
    /* Same path, same size, other content. */
    write_file(script, "#!/bin/sh\necho v2 \"$1\"\n", 0755);
    run_cmd_cached(t, in, 2, cache, &c, &st, 0);
    assert_u64(st.cached, 0, "after rewriting the executable");
    assert_streq(coll_get(&c, 1)->out, "v2 x\n", "out of the new executable");
    coll_free(&c);
    hone_cache_free(cache);
    hone_run_template_free(t);
    hone_test_rmtree(dir);
}

/* A command that cannot be found, with a cache: it runs uncached and ends
 * NOSTART 127 as it would without one, every time (never stored). */
static void test_cache_missing_executable(void **state) {
    (void)state;
    static const char exe[] = "/nonexistent-hone-test-dir/tool";
    const char *argv[] = {exe, "{}"};
    hone_run_template *t = mk_tmpl(2, argv);
    static const char *const in[] = {"x"};
    hone_cache *cache = mk_cache();
    for (int pass = 0; pass < 2; pass++) {
        coll c = {0};
        hone_run_opts o;
        memset(&o, 0, sizeof o);
        o.tmpl = t;
        o.inputs = in;
        o.ninputs = 1;
        o.jobs = 1;
        o.cache = cache;
        o.cache_failures = 1;
        o.on_result = on_result;
        o.ctx = &c;
        hone_run_stats st;
        hone_error err = {0};
        assert_rc(hone_run_map(&o, &st, &err), HONE_OK, err);
        assert_u64(c.n, 1, "results");
        assert_end(coll_get(&c, 1), HONE_RUN_NOSTART, 127);
        assert_false(coll_get(&c, 1)->cached);
        assert_u64(st.cached, 0, "cached");
        assert_u64(st.failed, 1, "failed");
        assert_int_equal(hone_run_exit_status(&st, &o.halt), 1);
        coll_free(&c);
    }
    hone_cache_free(cache);
    hone_run_template_free(t);
}

static void test_cache_never_timed_out(void **state) {
    (void)state;
    static const char *const argv[] = {"sh", "-c", "sleep $1", "sh", "{}"};
    hone_run_template *t = mk_tmpl(5, argv);
    static const char *const in[] = {"0", "30"};
    hone_cache *cache = mk_cache();
    coll c = {0};
    hone_run_stats st;
    for (int pass = 0; pass < 2; pass++) {
        run_cmd_cached(t, in, 2, cache, &c, &st, 300 * MS);
        assert_u64(st.cached, pass ? 1 : 0, "cached");
        assert_u64(st.timed_out, 1, "timed_out");
        rec *e = coll_get(&c, 2);
        if (e->end != HONE_RUN_TIMEDOUT || e->cached)
            fail_msg("pass %d: the 30 s job ended %s, cached %d; expected timedout, not cached",
                     pass, end_str(e->end), e->cached);
        coll_free(&c);
    }
    hone_cache_free(cache);
    hone_run_template_free(t);
}

/* ------------------------------------------------------------------ */
/* Stops                                                               */
/* ------------------------------------------------------------------ */

typedef struct stopper {
    const char *log;
    unsigned want_lines;
    int fd;
    int ok;
} stopper;

static unsigned count_lines(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    unsigned n = 0;
    int ch;
    while ((ch = fgetc(f)) != EOF)
        if (ch == '\n') n++;
    fclose(f);
    return n;
}

/* Waits (bounded) until want_lines jobs have started, then writes the
 * stop byte. */
static void *stopper_main(void *arg) {
    stopper *s = arg;
    for (int i = 0; i < 2000 && count_lines(s->log) < s->want_lines; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    s->ok = count_lines(s->log) >= s->want_lines;
    char b = 1;
    while (write(s->fd, &b, 1) < 0 && errno == EINTR) {
    }
    return NULL;
}

static uint64_t thread_cpu_ns(void) {
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000u +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000u;
}

/* Runs four `sleep 30` jobs two at a time and stops them through stop_fd
 * once two have started. ignore_term: the jobs ignore SIGTERM, so the kill
 * takes kill_grace_ns (1 s); returns the CPU time the calling thread spent
 * in hone_run_map. */
static uint64_t stop_run(int ignore_term, uint64_t *took) {
    char dir[256], log[300];
    assert_int_equal(hone_test_tmpdir(dir, sizeof dir, "run-stop"), 0);
    snprintf(log, sizeof log, "%s/started", dir);
    const char *script = ignore_term ? "trap '' TERM; echo x >> \"$2\"; sleep \"$1\"; :"
                                     : "echo x >> \"$2\"; exec sleep \"$1\"";
    const char *argv[] = {"sh", "-c", script, "sh", "{}", log};
    hone_run_template *t = mk_tmpl(6, argv);
    static const char *const in[] = {"30", "30", "30", "30"};
    int p[2];
    assert_int_equal(pipe(p), 0);
    coll c = {0};
    hone_run_opts o;
    memset(&o, 0, sizeof o);
    o.tmpl = t;
    o.inputs = in;
    o.ninputs = 4;
    o.jobs = 2;
    o.on_result = on_result;
    o.ctx = &c;
    o.stop_fd = p[0];
    o.kill_grace_ns = SEC;
    stopper s = {log, 2, p[1], 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stopper_main, &s), 0);
    hone_run_stats st;
    hone_error err = {0};
    uint64_t t0 = mono_ns(), cpu0 = thread_cpu_ns();
    assert_rc(hone_run_map(&o, &st, &err), HONE_OK, err);
    uint64_t cpu = thread_cpu_ns() - cpu0;
    *took = mono_ns() - t0;
    pthread_join(th, NULL);
    assert_true(s.ok);
    if (*took > 15 * SEC)
        fail_msg("the stopped run took %llu ms", (unsigned long long)(*took / MS));
    assert_true(st.stopped);
    assert_u64(st.killed, 2, "killed");
    assert_u64(st.skipped, 2, "skipped");
    assert_u64(c.n, 2, "results");
    for (size_t i = 0; i < c.n; i++)
        if (c.v[i].end != HONE_RUN_KILLED)
            fail_msg("job %llu ended %s, expected killed", (unsigned long long)c.v[i].seq,
                     end_str(c.v[i].end));
    assert_int_equal(hone_run_exit_status(&st, &o.halt), 2);
    coll_free(&c);
    close(p[0]);
    close(p[1]);
    hone_run_template_free(t);
    hone_test_rmtree(dir);
    return cpu;
}

static void test_stop_fd(void **state) {
    (void)state;
    uint64_t took;
    stop_run(0, &took);
}

/* While the stopped jobs take their grace period to die, the caller's
 * thread waits; it does not spin on the stop_fd it never reads. */
static void test_stop_fd_no_spin(void **state) {
    (void)state;
    uint64_t took, cpu = stop_run(1, &took);
    print_message("stop with a 1 s grace: %llu ms, caller's CPU %llu ms\n",
                  (unsigned long long)(took / MS), (unsigned long long)(cpu / MS));
    if (cpu > took / 5)
        fail_msg("the calling thread used %llu ms of CPU in a %llu ms run (waiting on a 1 s "
                 "kill grace): it spins on stop_fd",
                 (unsigned long long)(cpu / MS), (unsigned long long)(took / MS));
}

static void test_on_result_stops(void **state) {
    (void)state;
    inputs in = mk_inputs(10, "in");
    fnx *x = fnx_new(NULL);
    coll c = {0};
    c.stop_at = 3;
    hone_run_opts o = fn_opts(x, in.v, 10, &c);
    hone_run_stats st;
    hone_error err = {0};
    assert_rc(hone_run_map(&o, &st, &err), HONE_OK, err);
    assert_true(st.stopped);
    assert_u64(c.n, 3, "results");
    assert_u64(atomic_load(&x->total), 3, "calls");
    assert_u64(st.skipped, 7, "skipped");
    coll_free(&c);
    free(x);
    free_inputs(&in);
}

/* ------------------------------------------------------------------ */
/* Cycles                                                              */
/* ------------------------------------------------------------------ */

static void test_cycles(void **state) {
    (void)state;
    hone_cycle_collector *cc = NULL;
    assert_int_equal(hone_cycle_collector_new(&cc, NULL), HONE_OK);
    hone_cache *cache = mk_cache();
    static const char *const in[] = {"a", "b", "c", "d", "Fe"};
    for (int pass = 0; pass < 2; pass++) {
        fnx *x = fnx_new(NULL);
        hone_run_opts o = fn_opts(x, in, 5, NULL);
        o.fn_id = "cycles";
        o.cache = cache;
        o.cycles = cc;
        hone_run_stats st;
        hone_error err = {0};
        assert_rc(hone_run_map(&o, &st, &err), HONE_OK, err);
        assert_u64(hone_cycle_count(cc), (uint64_t)pass + 1, "cycles");
        hone_cycle_stats cs;
        assert_int_equal(hone_cycle_stats_get(cc, 1, &cs), HONE_OK);
        assert_u64(cs.hits, pass ? 4 : 0, "hits");
        assert_u64(cs.misses, pass ? 1 : 5, "misses");
        assert_u64(cs.succeeded, 0, "succeeded (a job failed)");
        free(x);
    }
    /* A run where every job succeeds is a successful cycle. */
    fnx *x = fnx_new(NULL);
    hone_run_opts o = fn_opts(x, in, 4, NULL);
    o.cycles = cc;
    hone_run_stats st;
    hone_error err = {0};
    assert_rc(hone_run_map(&o, &st, &err), HONE_OK, err);
    hone_cycle_stats cs;
    assert_int_equal(hone_cycle_stats_get(cc, 1, &cs), HONE_OK);
    assert_u64(cs.succeeded, 1, "succeeded");
    free(x);
    hone_cache_free(cache);
    hone_cycle_collector_free(cc);
}

/* ------------------------------------------------------------------ */
/* Out of memory, threads                                              */
/* ------------------------------------------------------------------ */

static int oom_calls(const hone_allocator *a, void *ctx) {
    (void)ctx;
    hone_cache *cache = NULL;
    hone_cache_options co = {0};
    co.alloc = a;
    co.max_entries = 64;
    int rc = hone_cache_new(&cache, &co);
    if (rc != HONE_OK) return rc;
    fake_clock fc;
    fake_init(&fc, SEC);
    fnx *x = fnx_new(&fc);
    hone_cache *hist = NULL;
    rc = hone_cache_new(&hist, &co);
    static const char *const in[] = {"a", "b", "c", "d", "e", "f", "g"};
    for (int pass = 0; pass < 2 && rc == HONE_OK; pass++) {
        coll c = {0};
        hone_run_opts o = fn_opts(x, in, 7, &c);
        o.fn_id = "oom";
        o.per_job = 2;
        o.jobs = 2;
        o.keep_order = 1;
        o.cache = cache;
        o.history = hist;
        o.timeout_auto = 1;
        o.attempts = 2;
        o.backoff.base_ns = 1;
        o.alloc = a;
        hone_run_stats st;
        hone_error err = {0};
        rc = hone_run_map(&o, &st, &err);
        if (rc == HONE_OK && c.n != 4) rc = HONE_EFAIL;
        coll_free(&c);
    }
    hone_cache_free(hist);
    hone_cache_free(cache);
    free(x);
    return rc;
}

static void test_oom(void **state) {
    (void)state;
    assert_true(failalloc_loop("hone_run_map", oom_calls, NULL) > 0);
}

static void test_many_threads(void **state) {
    (void)state;
    enum { N = 2000 };
    inputs in = mk_inputs(N, "in");
    hone_cache *cache = mk_cache();
    fnx *x = fnx_new(NULL);
    for (int pass = 0; pass < 2; pass++) {
        coll c = {0};
        hone_run_opts o = fn_opts(x, in.v, N, &c);
        o.jobs = 8;
        o.keep_order = 1;
        o.fn_id = "many";
        o.cache = cache;
        hone_run_stats st;
        hone_error err = {0};
        assert_rc(hone_run_map(&o, &st, &err), HONE_OK, err);
        assert_u64(st.jobs, N, "jobs");
        assert_u64(st.succeeded, N, "succeeded");
        assert_u64(st.cached, pass ? N : 0, "cached");
        assert_u64(c.n, N, "results");
        for (size_t i = 0; i < N; i++) {
            char want[48];
            snprintf(want, sizeof want, "out:in%zu", i + 1);
            if (c.v[i].seq != i + 1)
                fail_msg("pass %d: result %zu is job %llu", pass, i,
                         (unsigned long long)c.v[i].seq);
            assert_streq(c.v[i].out, want, "out");
        }
        coll_free(&c);
    }
    assert_u64(atomic_load(&x->total), N, "calls over both runs");
    free(x);
    hone_cache_free(cache);
    free_inputs(&in);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_every_input_once),
    cmocka_unit_test(test_source_error),
    cmocka_unit_test(test_bad_options),
    cmocka_unit_test(test_keep_order),
    cmocka_unit_test(test_results_never_overlap),
    cmocka_unit_test(test_halt_soon_fail_command),
    cmocka_unit_test(test_halt_now_kills),
    cmocka_unit_test(test_halt_success_done_percent),
    cmocka_unit_test(test_halt_during_retries),
    cmocka_unit_test(test_retries),
    cmocka_unit_test(test_retry_budget),
    cmocka_unit_test(test_rate),
    cmocka_unit_test(test_timeout_fixed),
    cmocka_unit_test(test_timeout_auto),
    cmocka_unit_test(test_timeout_history),
    cmocka_unit_test(test_cache_replay),
    cmocka_unit_test(test_cache_failures),
    cmocka_unit_test(test_cache_dep_file),
    cmocka_unit_test(test_cache_env),
    cmocka_unit_test(test_cache_input_files),
    cmocka_unit_test(test_cache_executable),
    cmocka_unit_test(test_cache_missing_executable),
    cmocka_unit_test(test_cache_never_timed_out),
    cmocka_unit_test(test_stop_fd),
    cmocka_unit_test(test_stop_fd_no_spin),
    cmocka_unit_test(test_on_result_stops),
    cmocka_unit_test(test_cycles),
    cmocka_unit_test(test_oom),
    cmocka_unit_test(test_many_threads),
};

HONE_TEST_MAIN(tests)
