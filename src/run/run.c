/* run.c - hone_run_map: the scheduler behind `hone run`.
 *
 * Pull, not push. The run submits `jobs` worker tasks to an exec pool;
 * each takes the next job's inputs from the run's source under the run's
 * lock, runs it (or replays it from the cache), reports it, and takes the
 * next, until the inputs end or the run halts. Nothing queues: the
 * inputs are read as fast as the workers free up, so a source that never
 * ends (stdin) costs no memory, and the per-job cost is one lock, one
 * template expansion and the command itself - no scheduler thread between
 * a finished job and the next start, which is what xargs -P costs too.
 *
 * Stopping. A worker running a command waits in poll(2) on its pipes and
 * on the run's stop pipe; the run writes one byte into that pipe (and never
 * reads it) to stop every running command at once: on a halt "now", on
 * the caller's stop_fd, or when on_result asks. Sleeps (the rate limit's
 * wait, a retry's backoff) wait on the same pipe, so a stop never waits
 * for a backoff to end. The caller's thread, which submitted the workers,
 * waits on the caller's stop_fd and on a pipe each worker writes one byte
 * into when it ends; it is the only one that reads stop_fd.
 *
 * Results. on_result is called under the result lock, so its calls never
 * overlap and a job's output reaches the caller whole. With keep_order a
 * finished job waits in a table indexed by job number until the jobs
 * before it have been reported; jobs are numbered when they start, in
 * input order, so the table never has a hole that a started job does not
 * fill.
 *
 * The halt rules are GNU parallel's (--halt when,on=N|P%): counted when a
 * job is reported finished, after its retries; "soon" stops starting jobs,
 * "now" also kills the running ones, which are then reported with end
 * KILLED. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hone/bench.h"
#include "hone/hash.h"
#include "run_internal.h"

/* One job while it runs. */
typedef struct job {
    uint64_t seq;
    unsigned slot;
    const char **inputs; /* into the array, or copies from the source */
    size_t ninputs;
    int own_inputs;
    char **argv; /* expanded; one allocation */
    int argc;
    hone_buf out, err;
    hone_run_outcome oc;
    int ok, cached;
    unsigned attempts;
    uint64_t timeout_ns;
    uint64_t run_ns; /* durations of its attempts, summed */
} job;

/* Per-attempt view for function jobs (hone_run_job.state_). */
struct hone_run_state {
    struct run *run;
    uint64_t deadline; /* on the run's clock; 0: none */
};

typedef struct run {
    const hone_run_opts *o;
    const hone_allocator *a;

    pthread_mutex_t mu; /* inputs, numbering, halt decision */
    size_t next_input;
    int source_done, source_status;
    uint64_t next_seq;
    _Atomic int halting; /* no new job starts (read without mu by retries) */

    pthread_mutex_t rmu; /* results, stats, order table */
    hone_run_stats st;
    uint64_t next_report; /* keep_order: the next seq to report */
    job **pending;        /* keep_order: finished jobs by seq - next_report */
    size_t npending_cap;
    int cb_stopped;

    int stop_pipe[2]; /* written once to stop running commands and sleeps */
    _Atomic int stop_written;
    _Atomic int stop_now; /* running function jobs should return */
    int done_pipe[2]; /* each worker writes one byte when it ends */

    hone_limiter *limiter;
    hone_retry_budget *budget;
    hone_atimeout *atimeout;
    hone__run_keyer keyer;
    int have_keyer;
    const char *exe; /* resolved argv[0] when constant (cache keys) */
    char *exe_owned;
    int exe_varies;

    /* durations of this run's successes, for the history */
    pthread_mutex_t hmu;
    uint64_t *durs;
    size_t ndurs, durs_cap;
    uint8_t hist_key[HONE__RUN_KEY_LEN + 20];
    size_t hist_key_len;

    _Atomic unsigned next_slot;
    _Atomic uint64_t seed_ctr;
} run;

static uint64_t now_ns(const run *r) {
    const hone_flow_clock *c = r->o->clock;
    return c && c->now ? c->now(c->ctx) : hone_now_ns();
}

static void stop_all(run *r) {
    atomic_store(&r->stop_now, 1);
    if (atomic_exchange(&r->stop_written, 1)) return;
    char b = 1;
    while (write(r->stop_pipe[1], &b, 1) < 0 && errno == EINTR) {
    }
}

/* Sleeps ns on the run's clock; returns early (nonzero) when the run
 * stops. */
static int run_sleep(run *r, uint64_t ns) {
    if (atomic_load(&r->stop_now)) return 1;
    if (!ns) return 0;
    const hone_flow_clock *c = r->o->clock;
    if (c && c->sleep) {
        c->sleep(c->ctx, ns);
        return atomic_load(&r->stop_now);
    }
    struct pollfd p = {.fd = r->stop_pipe[0], .events = POLLIN};
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u)};
    for (;;) {
        uint64_t t0 = hone_monotonic_ns();
        int n = ppoll(&p, 1, &ts, NULL);
        if (n > 0) return 1;
        if (n == 0) return 0;
        if (errno != EINTR) return atomic_load(&r->stop_now);
        uint64_t spent = hone_monotonic_ns() - t0;
        if (spent >= ns) return 0;
        ns -= spent;
        ts.tv_sec = (time_t)(ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
    }
}

/* ------------------------------------------------------------------ */
/* Inputs                                                              */
/* ------------------------------------------------------------------ */

static void job_free(run *r, job *j) {
    if (!j) return;
    if (j->own_inputs)
        for (size_t i = 0; i < j->ninputs; i++) hone_free(r->a, (void *)j->inputs[i]);
    hone_free(r->a, j->inputs);
    hone_free(r->a, j->argv);
    hone_buf_free(&j->out);
    hone_buf_free(&j->err);
    hone_free(r->a, j);
}

/* Takes the next job under r->mu. Returns 1 with *out, 0 when there is
 * none (end of inputs or halting), or a negative status. */
static int next_job(run *r, job **out) {
    const hone_run_opts *o = r->o;
    size_t per = o->per_job ? o->per_job : 1;
    *out = NULL;
    if (r->halting || r->source_done) return 0;
    job *j = hone_calloc(r->a, 1, sizeof *j);
    if (!j) return HONE_ENOMEM;
    hone_buf_init(&j->out, r->a);
    hone_buf_init(&j->err, r->a);
    j->inputs = hone_calloc(r->a, per, sizeof *j->inputs);
    if (!j->inputs) {
        job_free(r, j);
        return HONE_ENOMEM;
    }
    if (o->inputs) {
        while (j->ninputs < per && r->next_input < o->ninputs)
            j->inputs[j->ninputs++] = o->inputs[r->next_input++];
        if (r->next_input >= o->ninputs) r->source_done = 1;
    } else if (o->source) {
        j->own_inputs = 1;
        while (j->ninputs < per) {
            const char *s = NULL;
            size_t len = 0;
            int rc = o->source(o->source_ctx, &s, &len);
            if (rc < 0) {
                r->source_done = 1;
                r->source_status = rc;
                break;
            }
            if (rc == 0) {
                r->source_done = 1;
                break;
            }
            char *c = hone_strndup(r->a, s, len);
            if (!c) {
                job_free(r, j);
                return HONE_ENOMEM;
            }
            j->inputs[j->ninputs++] = c;
        }
    } else {
        r->source_done = 1;
    }
    if (j->ninputs == 0) {
        job_free(r, j);
        return r->source_status < 0 ? r->source_status : 0;
    }
    j->seq = ++r->next_seq;
    *out = j;
    return 1;
}

/* ------------------------------------------------------------------ */
/* Results                                                             */
/* ------------------------------------------------------------------ */

static void fill_result(const job *j, hone_run_result *res) {
    memset(res, 0, sizeof *res);
    res->seq = j->seq;
    res->slot = j->slot;
    res->inputs = j->inputs;
    res->ninputs = j->ninputs;
    res->argv = j->argv;
    res->argc = j->argc;
    res->end = j->oc.end;
    res->status = j->oc.status;
    res->ok = j->ok;
    res->attempts = j->attempts;
    res->cached = j->cached;
    res->start_wall_ns = j->oc.start_wall_ns;
    res->duration_ns = j->oc.duration_ns;
    res->timeout_ns = j->timeout_ns;
    res->out = j->out.data ? j->out.data : "";
    res->out_len = j->out.len;
    res->err = j->err.data ? j->err.data : "";
    res->err_len = j->err.len;
    res->truncated = j->oc.truncated;
}

/* The exit status GNU parallel reports for a job. */
static int job_exit_status(int end, int status) {
    switch (end) {
    case HONE_RUN_EXITED:
    case HONE_RUN_NOSTART: return status;
    case HONE_RUN_FAILED: return 1;
    default: return 128 + status;
    }
}

/* Counts the finished job and decides on a halt. Under rmu. */
static void count_job(run *r, const job *j) {
    hone_run_stats *st = &r->st;
    const hone_run_halt *h = &r->o->halt;
    st->jobs++;
    if (j->cached) {
        st->cached++;
        st->saved_ns += j->oc.duration_ns;
    }
    st->run_ns += j->run_ns;
    if (j->attempts > 1) st->retried += j->attempts - 1;
    if (j->oc.end == HONE_RUN_KILLED) {
        st->killed++;
        return;
    }
    if (j->ok)
        st->succeeded++;
    else
        st->failed++;
    if (j->oc.end == HONE_RUN_TIMEDOUT) st->timed_out++;
    if (h->when == HONE_HALT_NEVER || st->halted) return;
    uint64_t matched = h->on == HONE_HALT_FAIL      ? st->failed
                       : h->on == HONE_HALT_SUCCESS ? st->succeeded
                                                    : st->succeeded + st->failed;
    int is_match = h->on == HONE_HALT_DONE || (h->on == HONE_HALT_FAIL ? !j->ok : j->ok);
    if (!is_match) return;
    int meet;
    if (h->percent > 0) {
        uint64_t fin = st->succeeded + st->failed;
        meet = fin >= 3 && (double)matched * 100.0 >= h->percent * (double)fin;
    } else {
        meet = matched >= (h->count ? h->count : 1);
    }
    if (!meet) return;
    st->halted = 1;
    st->halt_seq = j->seq;
    st->halt_status = job_exit_status(j->oc.end, j->oc.status);
    pthread_mutex_lock(&r->mu);
    r->halting = 1;
    pthread_mutex_unlock(&r->mu);
    if (h->when == HONE_HALT_NOW) stop_all(r);
}

static void deliver(run *r, job *j) {
    if (r->o->on_result && !r->cb_stopped) {
        hone_run_result res;
        fill_result(j, &res);
        if (r->o->on_result(r->o->ctx, &res) != 0) {
            r->cb_stopped = 1;
            r->st.stopped = 1;
            pthread_mutex_lock(&r->mu);
            r->halting = 1;
            pthread_mutex_unlock(&r->mu);
            stop_all(r);
        }
    }
    job_free(r, j);
}

/* Reports a finished job (takes it). Returns HONE_OK or HONE_ENOMEM (the
 * order table could not grow: the job is then reported out of order
 * rather than lost). */
static void report(run *r, job *j) {
    pthread_mutex_lock(&r->rmu);
    count_job(r, j);
    if (!r->o->keep_order) {
        deliver(r, j);
        pthread_mutex_unlock(&r->rmu);
        return;
    }
    size_t at = (size_t)(j->seq - r->next_report);
    if (at >= r->npending_cap) {
        size_t cap = r->npending_cap ? r->npending_cap : 64;
        while (cap <= at) cap *= 2;
        job **p = hone_realloc(r->a, r->pending, cap * sizeof *p);
        if (!p) {
            deliver(r, j);
            pthread_mutex_unlock(&r->rmu);
            return;
        }
        memset(p + r->npending_cap, 0, (cap - r->npending_cap) * sizeof *p);
        r->pending = p;
        r->npending_cap = cap;
    }
    r->pending[at] = j;
    size_t k = 0;
    while (k < r->npending_cap && r->pending[k]) {
        deliver(r, r->pending[k]);
        r->pending[k] = NULL;
        k++;
    }
    if (k) {
        memmove(r->pending, r->pending + k, (r->npending_cap - k) * sizeof *r->pending);
        memset(r->pending + r->npending_cap - k, 0, k * sizeof *r->pending);
        r->next_report += k;
    }
    pthread_mutex_unlock(&r->rmu);
}

/* ------------------------------------------------------------------ */
/* Running one job                                                     */
/* ------------------------------------------------------------------ */

int hone_run_job_stopped(const hone_run_job *jv) {
    if (!jv || !jv->state_) return 0;
    const struct hone_run_state *s = jv->state_;
    if (atomic_load(&s->run->stop_now)) return 1;
    return s->deadline && now_ns(s->run) >= s->deadline;
}

static void record_duration(run *r, uint64_t ns) {
    if (r->atimeout) hone_atimeout_record(r->atimeout, ns);
    if (!r->o->history) return;
    pthread_mutex_lock(&r->hmu);
    if (r->ndurs == r->durs_cap) {
        size_t cap = r->durs_cap ? r->durs_cap * 2 : 64;
        uint64_t *p = hone_realloc(r->a, r->durs, cap * sizeof *p);
        if (p) {
            r->durs = p;
            r->durs_cap = cap;
        }
    }
    if (r->ndurs < r->durs_cap) r->durs[r->ndurs++] = ns;
    pthread_mutex_unlock(&r->hmu);
}

static int attempt_fn(run *r, job *j, unsigned attempt) {
    const hone_run_opts *o = r->o;
    struct hone_run_state s = {.run = r};
    uint64_t t0 = now_ns(r);
    if (j->timeout_ns) s.deadline = t0 + j->timeout_ns;
    hone_run_job view = {.seq = j->seq,
                         .slot = j->slot,
                         .attempt = attempt,
                         .inputs = j->inputs,
                         .ninputs = j->ninputs,
                         .timeout_ns = j->timeout_ns,
                         .state_ = &s};
    hone_buf_clear(&j->out);
    hone_buf_clear(&j->err);
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    int rc = o->fn(o->fn_ctx, &view, &j->out, &j->err);
    uint64_t t1 = now_ns(r);
    memset(&j->oc, 0, sizeof j->oc);
    j->oc.start_wall_ns = (uint64_t)wall.tv_sec * 1000000000u + (uint64_t)wall.tv_nsec;
    j->oc.duration_ns = t1 - t0;
    if (atomic_load(&r->stop_now) && rc != HONE_OK) {
        j->oc.end = HONE_RUN_KILLED;
        j->oc.status = rc;
    } else if (rc == HONE_ETIMEDOUT || (s.deadline && t1 >= s.deadline && rc != HONE_OK)) {
        j->oc.end = HONE_RUN_TIMEDOUT;
        j->oc.status = rc;
    } else if (rc != HONE_OK) {
        j->oc.end = HONE_RUN_FAILED;
        j->oc.status = rc;
    } else {
        j->oc.end = HONE_RUN_EXITED;
        j->oc.status = 0;
    }
    return HONE_OK;
}

static int attempt_cmd(run *r, job *j) {
    hone_run_exec_opts eo = {.timeout_ns = j->timeout_ns,
                             .kill_grace_ns = r->o->kill_grace_ns,
                             .max_output = r->o->max_output,
                             .envp = r->o->envp,
                             .stop_fd = r->stop_pipe[0]};
    int rc = hone_run_exec(j->argv, &eo, &j->out, &j->err, &j->oc);
    if (rc != HONE_OK) return rc;
    /* A command killed because the run stopped is KILLED even if the stop
     * came while its own timeout was also near. */
    if (j->oc.end == HONE_RUN_KILLED || (atomic_load(&r->stop_now) && j->oc.end != HONE_RUN_EXITED))
        j->oc.end = HONE_RUN_KILLED;
    return HONE_OK;
}

static int job_ok(const run *r, const job *j) {
    (void)r;
    return j->oc.end == HONE_RUN_EXITED && j->oc.status == 0;
}

/* Looks the job up in the cache; fills it and returns 1 on a hit. */
static int cache_lookup(run *r, job *j, const uint8_t *key) {
    hone_cache_view v;
    if (hone_cache_get_view(r->o->cache, key, HONE__RUN_KEY_LEN, &v) != HONE_OK) return 0;
    hone__run_record rec;
    int hit = 0;
    if (hone__run_record_decode(v.data, v.len, &rec) == HONE_OK) {
        hone_buf_clear(&j->out);
        hone_buf_clear(&j->err);
        if (hone_buf_append(&j->out, rec.out, rec.out_len) == HONE_OK &&
            hone_buf_append(&j->err, rec.err, rec.err_len) == HONE_OK) {
            memset(&j->oc, 0, sizeof j->oc);
            j->oc.end = rec.end;
            j->oc.status = rec.status;
            j->oc.start_wall_ns = rec.start_wall_ns;
            j->oc.duration_ns = rec.duration_ns;
            hit = 1;
        }
    } else {
        pthread_mutex_lock(&r->rmu);
        r->st.cache_errors++;
        pthread_mutex_unlock(&r->rmu);
    }
    hone_cache_view_release(&v);
    return hit;
}

static void cache_store(run *r, job *j, const uint8_t *key) {
    const hone_run_opts *o = r->o;
    int storable = j->oc.end == HONE_RUN_EXITED || (!o->tmpl && j->oc.end == HONE_RUN_FAILED);
    if (!storable || j->oc.truncated) return;
    if (!j->ok && !o->cache_failures) return;
    hone__run_record rec = {.end = j->oc.end,
                            .status = j->oc.status,
                            .start_wall_ns = j->oc.start_wall_ns,
                            .duration_ns = j->oc.duration_ns,
                            .out = j->out.data,
                            .out_len = j->out.len,
                            .err = j->err.data,
                            .err_len = j->err.len};
    hone_buf b;
    hone_buf_init(&b, r->a);
    int rc = hone__run_record_encode(&rec, &b);
    if (rc == HONE_OK)
        rc = hone_cache_put_ex(o->cache, key, HONE__RUN_KEY_LEN, b.data, b.len,
                               o->cache_ttl_ns, 0);
    hone_buf_free(&b);
    if (rc != HONE_OK) {
        pthread_mutex_lock(&r->rmu);
        r->st.cache_errors++;
        pthread_mutex_unlock(&r->rmu);
    }
}

/* Runs a job to its end (cache, attempts). Returns HONE_OK or HONE_ENOMEM
 * (then the job is reported as a failure to start). */
static int run_job(run *r, job *j) {
    const hone_run_opts *o = r->o;
    int rc;
    if (o->tmpl) {
        rc = hone_run_template_expand(o->tmpl, j->inputs, j->ninputs, j->seq, j->slot, &j->argv,
                                      &j->argc);
        if (rc != HONE_OK) return rc;
    }
    uint8_t key[HONE__RUN_KEY_LEN];
    int have_key = 0;
    if (o->cache) {
        char *exe_job = NULL;
        const char *exe = NULL;
        if (o->tmpl) {
            exe = r->exe;
            if (r->exe_varies &&
                hone_bench_which(j->argv[0], NULL, &exe_job, r->a, NULL) == HONE_OK)
                exe = exe_job;
        }
        rc = hone__run_key(&r->keyer, o->tmpl ? j->argv : NULL, j->argc, exe, j->inputs,
                           j->ninputs, key);
        hone_free(r->a, exe_job);
        if (rc == HONE_ENOMEM) return rc;
        /* An executable that cannot be hashed (it vanished) is run
         * uncached: the run says what the command does. */
        have_key = rc == HONE_OK;
        if (!have_key) {
            pthread_mutex_lock(&r->rmu);
            r->st.cache_errors++;
            pthread_mutex_unlock(&r->rmu);
        }
        if (have_key && cache_lookup(r, j, key)) {
            j->cached = 1;
            j->ok = job_ok(r, j);
            return HONE_OK;
        }
    }
    unsigned attempts = o->attempts ? o->attempts : 1;
    hone_backoff bo;
    hone_backoff_init(&bo, &o->backoff, o->seed ? o->seed + atomic_fetch_add(&r->seed_ctr, 1) : 0);
    hone_retry_budget_request(r->budget);
    for (unsigned a = 1;; a++) {
        if (r->limiter) {
            uint64_t wait = 0;
            while (hone_limiter_acquire(r->limiter, 1, &wait) != HONE_OK) {
                if (run_sleep(r, wait ? wait : 1000)) break;
            }
        }
        if (atomic_load(&r->stop_now)) {
            if (a == 1) {
                memset(&j->oc, 0, sizeof j->oc);
                j->oc.end = HONE_RUN_KILLED;
                j->attempts = 0;
                return HONE_OK;
            }
            break;
        }
        j->timeout_ns = o->timeout_auto ? hone_atimeout_get(r->atimeout) : o->timeout_ns;
        j->attempts = a;
        rc = o->tmpl ? attempt_cmd(r, j) : attempt_fn(r, j, a);
        if (rc != HONE_OK) return rc;
        j->run_ns += j->oc.duration_ns;
        j->ok = job_ok(r, j);
        if (j->ok) {
            record_duration(r, j->oc.duration_ns);
            break;
        }
        if (j->oc.end == HONE_RUN_KILLED || a >= attempts || r->halting) break;
        if (hone_retry_budget_withdraw(r->budget) != HONE_OK) {
            pthread_mutex_lock(&r->rmu);
            r->st.budget_denied++;
            pthread_mutex_unlock(&r->rmu);
            break;
        }
        if (run_sleep(r, hone_backoff_next(&bo, a))) break;
    }
    if (have_key) cache_store(r, j, key);
    return HONE_OK;
}

static int worker(void *arg, hone_task *task) {
    (void)task;
    run *r = arg;
    unsigned slot = atomic_fetch_add(&r->next_slot, 1) + 1;
    for (;;) {
        job *j = NULL;
        pthread_mutex_lock(&r->mu);
        int rc = next_job(r, &j);
        pthread_mutex_unlock(&r->mu);
        if (rc < 0 && rc != HONE_ENOMEM) break;
        if (rc == HONE_ENOMEM) {
            pthread_mutex_lock(&r->mu);
            if (!r->source_status) r->source_status = HONE_ENOMEM;
            r->halting = 1;
            pthread_mutex_unlock(&r->mu);
            break;
        }
        if (rc == 0) break;
        j->slot = slot;
        rc = run_job(r, j);
        if (rc != HONE_OK) {
            /* Out of memory before or while starting it: reported as a
             * command that could not start, so the job is not lost from
             * the results. */
            memset(&j->oc, 0, sizeof j->oc);
            j->oc.end = HONE_RUN_NOSTART;
            j->oc.status = 126;
            j->ok = 0;
            hone_buf_clear(&j->out);
            hone_buf_clear(&j->err);
            (void)hone_buf_puts(&j->err, "hone run: out of memory\n");
        }
        report(r, j);
    }
    char b = 1;
    while (write(r->done_pipe[1], &b, 1) < 0 && errno == EINTR) {
    }
    return HONE_OK;
}

/* ------------------------------------------------------------------ */
/* The run                                                             */
/* ------------------------------------------------------------------ */

/* Appends the command as written - the template expanded for the input
 * "{}", each word followed by sep - or fn_id for function jobs. */
static int command_text(run *r, char sep, hone_buf *b) {
    if (!r->o->tmpl) return hone_buf_puts(b, r->o->fn_id ? r->o->fn_id : "");
    char **argv = NULL;
    int argc = 0;
    static const char *const probe[] = {"{}"};
    int rc = hone_run_template_expand(r->o->tmpl, probe, 1, 0, 0, &argv, &argc);
    for (int i = 0; rc == HONE_OK && i < argc; i++) {
        rc = hone_buf_append(b, argv[i], strlen(argv[i]));
        if (rc == HONE_OK) rc = hone_buf_append(b, &sep, 1);
    }
    hone_free(r->a, argv);
    return rc;
}

/* The history key: the command as written (the template expanded for the
 * input "{}"), or fn_id, so `wc -l {}` and `wc -c {}` keep their own
 * durations. */
static int history_key(run *r) {
    static const char pfx[] = "hone.run.durations:";
    uint8_t d[HONE__RUN_KEY_LEN];
    hone_buf b;
    hone_buf_init(&b, r->a);
    int rc = HONE_OK;
    rc = command_text(r, '\0', &b);
    if (rc == HONE_OK) rc = hone_hash_oneshot(HONE_HASH_BLAKE3, b.data ? b.data : "", b.len, d, sizeof d);
    hone_buf_free(&b);
    if (rc != HONE_OK) return rc;
    memcpy(r->hist_key, pfx, sizeof pfx - 1);
    memcpy(r->hist_key + sizeof pfx - 1, d, 16);
    r->hist_key_len = sizeof pfx - 1 + 16;
    return HONE_OK;
}

static int history_load(run *r) {
    hone_cache_view v;
    if (hone_cache_get_view(r->o->history, r->hist_key, r->hist_key_len, &v) != HONE_OK)
        return HONE_OK;
    uint64_t *ns = NULL;
    size_t n = 0;
    int rc = hone__run_history_decode(v.data, v.len, r->a, &ns, &n);
    hone_cache_view_release(&v);
    if (rc == HONE_ECORRUPT) {
        r->st.cache_errors++;
        return HONE_OK;
    }
    if (rc != HONE_OK) return rc;
    for (size_t i = 0; i < n; i++) {
        if (r->atimeout) hone_atimeout_record(r->atimeout, ns[i]);
    }
    /* Keep them, so the history written back holds old and new. */
    hone_free(r->a, r->durs);
    r->durs = ns;
    r->ndurs = r->durs_cap = n;
    return HONE_OK;
}

static void history_save(run *r) {
    if (!r->ndurs) return;
    hone_buf b;
    hone_buf_init(&b, r->a);
    if (hone__run_history_encode(r->durs, r->ndurs, &b) != HONE_OK ||
        hone_cache_put_ex(r->o->history, r->hist_key, r->hist_key_len, b.data, b.len,
                          UINT64_MAX, 0) != HONE_OK)
        r->st.cache_errors++;
    hone_buf_free(&b);
}

int hone_run_exit_status(const hone_run_stats *st, const hone_run_halt *halt) {
    if (!st) return 0;
    if (st->halted && halt && halt->when != HONE_HALT_NEVER) {
        if (halt->on == HONE_HALT_SUCCESS) return 0;
        if (halt->percent == 0 && halt->count <= 1) return st->halt_status;
    }
    uint64_t f = st->failed + st->killed;
    return f > 101 ? 101 : (int)f;
}

static int check_opts(const hone_run_opts *o, hone_error *err) {
    if (!o->tmpl && !o->fn)
        return hone_error_set(err, HONE_EINVAL, "no command and no function to run");
    if (!o->inputs && !o->source && o->ninputs)
        return hone_error_set(err, HONE_EINVAL, "%zu inputs but no array", o->ninputs);
    if (o->cache && !o->tmpl && (!o->fn_id || !*o->fn_id))
        return hone_error_set(err, HONE_EINVAL,
                              "a function job with a cache needs fn_id");
    if (o->halt.when < HONE_HALT_NEVER || o->halt.when > HONE_HALT_NOW || o->halt.on < 0 ||
        o->halt.on > HONE_HALT_DONE || !(o->halt.percent >= 0 && o->halt.percent < 100))
        return hone_error_set(err, HONE_EINVAL, "bad halt condition");
    if (!(o->rate >= 0))
        return hone_error_set(err, HONE_EINVAL, "bad rate %g: expected >= 0", o->rate);
    if (!(o->retry_budget >= 0))
        return hone_error_set(err, HONE_EINVAL, "bad retry budget %g: expected >= 0",
                              o->retry_budget);
    if (o->timeout_auto &&
        (!(o->timeout_percentile >= 0 && o->timeout_percentile <= 100) ||
         !(o->timeout_factor >= 0) ||
         (o->timeout_max_ns && o->timeout_min_ns > o->timeout_max_ns)))
        return hone_error_set(err, HONE_EINVAL, "bad adaptive timeout options");
    return HONE_OK;
}

int hone_run_map(const hone_run_opts *o, hone_run_stats *stats, hone_error *err) {
    if (stats) memset(stats, 0, sizeof *stats);
    if (!o) return hone_error_set(err, HONE_EINVAL, "no options");
    int rc = check_opts(o, err);
    if (rc != HONE_OK) return rc;
    run *r = hone_calloc(o->alloc, 1, sizeof *r);
    if (!r) return hone_error_set(err, HONE_ENOMEM, "out of memory");
    r->o = o;
    r->a = o->alloc ? o->alloc : hone_allocator_default();
    r->stop_pipe[0] = r->stop_pipe[1] = r->done_pipe[0] = r->done_pipe[1] = -1;
    r->next_report = 1;
    pthread_mutex_init(&r->mu, NULL);
    pthread_mutex_init(&r->rmu, NULL);
    pthread_mutex_init(&r->hmu, NULL);
    hone_pool *pool = o->pool, *own_pool = NULL;
    hone_future **futs = NULL;
    unsigned nw = 0, started = 0;
    hone_cycle *cy = NULL;

    if (pipe2(r->stop_pipe, O_CLOEXEC) != 0 || pipe2(r->done_pipe, O_CLOEXEC) != 0) {
        rc = hone_error_set(err, HONE_EIO, "pipe: %s", strerror(errno));
        goto out;
    }
    if (o->rate > 0) {
        hone_limiter_opts lo = {.rate = o->rate, .burst = o->burst, .clock = o->clock,
                                .alloc = o->alloc};
        rc = hone_limiter_new(&r->limiter, &lo);
        if (rc != HONE_OK) goto oom;
    }
    if (o->retry_budget > 0) {
        hone_retry_budget_opts bo = {.ratio = o->retry_budget, .clock = o->clock,
                                     .alloc = o->alloc};
        rc = hone_retry_budget_new(&r->budget, &bo);
        if (rc != HONE_OK) goto oom;
    }
    if (o->timeout_auto) {
        hone_atimeout_opts ao = {.percentile = o->timeout_percentile ? o->timeout_percentile : 95,
                                 .factor = o->timeout_factor ? o->timeout_factor : 3,
                                 .min_ns = o->timeout_min_ns ? o->timeout_min_ns : 1000000000u,
                                 .max_ns = o->timeout_max_ns ? o->timeout_max_ns
                                                             : 3600ull * 1000000000u,
                                 .min_samples = 20,
                                 .window = HONE__RUN_HISTORY_MAX,
                                 .alloc = o->alloc};
        if (ao.min_ns > ao.max_ns) ao.min_ns = ao.max_ns;
        rc = hone_atimeout_new(&r->atimeout, &ao);
        if (rc != HONE_OK) goto oom;
    }
    if (o->tmpl && (o->cache || o->history)) {
        /* The executable, resolved once when the template's first word is
         * fixed (the usual case); per job when it holds a replacement. */
        char **argv = NULL;
        int argc = 0;
        static const char *const probe[] = {"\001"};
        rc = hone_run_template_expand(o->tmpl, probe, 1, 1, 1, &argv, &argc);
        if (rc != HONE_OK) goto oom;
        if (strchr(argv[0], '\001')) {
            r->exe_varies = 1;
        } else {
            rc = hone_bench_which(argv[0], NULL, &r->exe_owned, r->a, NULL);
            if (rc == HONE_ENOMEM) {
                hone_free(r->a, argv);
                goto oom;
            }
            r->exe = r->exe_owned;
        }
        hone_free(r->a, argv);
        rc = HONE_OK;
    }
    if (o->cache) {
        rc = hone__run_keyer_init(&r->keyer, o, err);
        if (rc != HONE_OK) goto out;
        r->have_keyer = 1;
    }
    if (o->history) {
        rc = history_key(r);
        if (rc == HONE_OK) rc = history_load(r);
        if (rc != HONE_OK) goto oom;
    }
    if (o->cycles) {
        rc = hone_cycle_begin(o->cycles, "run", &cy);
        if (rc != HONE_OK) goto oom;
    }
    if (!pool) {
        hone_pool_opts po = {.workers = o->jobs, .alloc = o->alloc};
        rc = hone_pool_new(&own_pool, &po, err);
        if (rc != HONE_OK) goto out;
        pool = own_pool;
    }
    nw = o->jobs ? o->jobs : hone_pool_workers(pool);
    futs = hone_calloc(r->a, nw, sizeof *futs);
    if (!futs) {
        rc = HONE_ENOMEM;
        goto oom;
    }
    uint64_t t0 = now_ns(r);
    for (; started < nw; started++) {
        rc = hone_pool_submit(pool, worker, r, &futs[started]);
        if (rc != HONE_OK) break;
    }
    if (started == 0) goto oom;
    rc = HONE_OK;
    /* Wait for the workers; pass the caller's stop on. */
    unsigned ended = 0;
    int stop_seen = 0; /* stop_fd is never read: once seen, stop watching it */
    while (ended < started) {
        struct pollfd p[2] = {{.fd = r->done_pipe[0], .events = POLLIN},
                              {.fd = o->stop_fd > 0 && !stop_seen ? o->stop_fd : -1, .events = POLLIN}};
        int n = poll(p, 2, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            pthread_mutex_lock(&r->mu);
            r->halting = 1;
            pthread_mutex_unlock(&r->mu);
            pthread_mutex_lock(&r->rmu);
            r->st.stopped = 1;
            pthread_mutex_unlock(&r->rmu);
            stop_all(r);
            stop_seen = 1;
        }
        if (p[0].revents & POLLIN) {
            char buf[64];
            ssize_t k = read(r->done_pipe[0], buf, sizeof buf);
            if (k > 0) ended += (unsigned)k;
        }
    }
    for (unsigned i = 0; i < started; i++) {
        hone_future_wait(futs[i]);
        hone_future_free(futs[i]);
    }
    r->st.wall_ns = now_ns(r) - t0;
    /* keep_order: anything left in the table (a job that could not be
     * placed in order) goes out now, in order. */
    for (size_t k = 0; k < r->npending_cap; k++)
        if (r->pending[k]) deliver(r, r->pending[k]);
    if (o->inputs && r->next_input < o->ninputs) {
        size_t per = o->per_job ? o->per_job : 1;
        r->st.skipped = (o->ninputs - r->next_input + per - 1) / per;
    }
    if (r->source_status < 0) rc = r->source_status;
    if (rc == HONE_ENOMEM) hone_error_set(err, rc, "out of memory");
    else if (rc < 0) hone_error_set(err, rc, "reading the inputs: %s", hone_strerror(rc));
    if (o->history) history_save(r);
    if (cy) {
        char v[64];
        for (uint64_t i = 0; i < r->st.cached; i++) hone_cycle_hit(cy);
        for (uint64_t i = r->st.cached; i < r->st.jobs; i++) hone_cycle_miss(cy);
        hone_buf cmd;
        hone_buf_init(&cmd, r->a);
        if (command_text(r, ' ', &cmd) == HONE_OK && cmd.len) {
            if (o->tmpl) cmd.data[--cmd.len] = '\0'; /* the last word's separator */
            (void)hone_cycle_meta(cy, "command", cmd.data);
        }
        hone_buf_free(&cmd);
        snprintf(v, sizeof v, "%llu", (unsigned long long)r->st.jobs);
        (void)hone_cycle_meta(cy, "jobs", v);
        snprintf(v, sizeof v, "%llu", (unsigned long long)r->st.failed);
        (void)hone_cycle_meta(cy, "failed", v);
        snprintf(v, sizeof v, "%llu", (unsigned long long)r->st.cached);
        (void)hone_cycle_meta(cy, "cached", v);
        snprintf(v, sizeof v, "%.0f", (double)r->st.saved_ns / 1e6);
        (void)hone_cycle_meta(cy, "saved_ms", v);
        hone_cycle_end(cy, rc == HONE_OK && r->st.failed == 0 && r->st.killed == 0);
        cy = NULL;
    }
    goto out;
oom:
    if (rc == HONE_OK || rc == HONE_ENOMEM) rc = HONE_ENOMEM;
    hone_error_set(err, rc, "%s", rc == HONE_ENOMEM ? "out of memory" : hone_strerror(rc));
out:
    if (cy) hone_cycle_abandon(cy);
    if (stats) *stats = r->st;
    hone_free(r->a, futs);
    hone_pool_free(own_pool);
    if (r->have_keyer) hone__run_keyer_fini(&r->keyer);
    hone_limiter_free(r->limiter);
    hone_retry_budget_free(r->budget);
    hone_atimeout_free(r->atimeout);
    hone_free(r->a, r->pending);
    hone_free(r->a, r->durs);
    hone_free(r->a, r->exe_owned);
    for (int i = 0; i < 2; i++) {
        if (r->stop_pipe[i] >= 0) close(r->stop_pipe[i]);
        if (r->done_pipe[i] >= 0) close(r->done_pipe[i]);
    }
    pthread_mutex_destroy(&r->mu);
    pthread_mutex_destroy(&r->rmu);
    pthread_mutex_destroy(&r->hmu);
    hone_free(r->a, r);
    return rc;
}
