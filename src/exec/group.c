/* group.c - task groups: N tasks under one policy (collect-all, fail-fast,
 * first-success), a concurrency limit and per-task deadlines, with results
 * in input order. */
#include "exec_internal.h"

#include <pthread.h>

typedef struct gslot {
    hone_task_fn fn;
    void *arg;
    hone_task *job;
    hone_group *g;
    size_t idx;
    uint64_t start;
    int started;
    int pushed;
    hone_task_result res;
} gslot;

struct hone_group {
    hone_pool *pool;
    const hone_allocator *alloc;
    hone_group_opts opts;
    pthread_mutex_t mu;
    gslot **slots;
    size_t n, cap;
    size_t next_start;  /* first slot not yet pushed */
    size_t running;     /* pushed and not yet settled at the pool level */
    size_t pushed;      /* jobs handed to the pool */
    size_t job_settled; /* of those, settled at the pool level */
    size_t settled;     /* slots whose outcome is known */
    int decided;        /* the policy has decided the outcome */
    int decided_status;
    long winner;
    int waited;
};

/* Marks every slot whose outcome is unknown: not-yet-started ones as
 * cancelled (they will never run), running ones get the cancellation flag
 * and keep PENDING until they return. Caller holds g->mu. */
static void cancel_rest(hone_group *g) {
    for (size_t i = 0; i < g->n; i++) {
        gslot *s = g->slots[i];
        if (s->res.outcome != HONE_TASK_PENDING) continue;
        if (s->started) {
            atomic_store(&s->job->cancel, 1);
        } else {
            s->res.outcome = HONE_TASK_CANCELLED;
            s->res.status = HONE_ECANCELED;
            g->settled++;
        }
    }
}

/* Caller holds g->mu; s has just left PENDING with status s->res.status. */
static void apply_policy(hone_group *g, gslot *s) {
    if (g->decided) return;
    if (g->opts.policy == HONE_GROUP_FAIL_FAST && s->res.status != HONE_OK) {
        g->decided = 1;
        g->decided_status = s->res.status;
        cancel_rest(g);
    } else if (g->opts.policy == HONE_GROUP_FIRST_SUCCESS && s->res.status == HONE_OK) {
        g->decided = 1;
        g->decided_status = HONE_OK;
        g->winner = (long)s->idx;
        cancel_rest(g);
    }
}

static void finish_slot(hone_group *g, gslot *s, hone_task_outcome oc, int status,
                        uint64_t duration) {
    s->res.outcome = oc;
    s->res.status = status;
    s->res.duration_ns = duration;
    g->settled++;
    apply_policy(g, s);
}

static int group_run(void *arg, hone_task *task) {
    gslot *s = arg;
    hone_group *g = s->g;
    pthread_mutex_lock(&g->mu);
    if (s->res.outcome != HONE_TASK_PENDING) {
        pthread_mutex_unlock(&g->mu);
        return HONE_ECANCELED;
    }
    s->started = 1;
    s->start = hone__exec_now(g->pool);
    pthread_mutex_unlock(&g->mu);
    int rc = s->fn(s->arg, task);
    uint64_t end = hone__exec_now(g->pool);
    pthread_mutex_lock(&g->mu);
    if (s->res.outcome == HONE_TASK_PENDING) finish_slot(g, s, HONE_TASK_FINISHED, rc, end - s->start);
    pthread_mutex_unlock(&g->mu);
    return rc;
}

/* Pushes slots while the concurrency limit allows. Called without the lock,
 * since a push to a closed pool settles the job (and runs the hook) on
 * this thread. Returns HONE_ECLOSED if a push found the pool closed. */
static int start_ready(hone_group *g) {
    int rc = HONE_OK;
    for (;;) {
        pthread_mutex_lock(&g->mu);
        unsigned max = g->opts.max_concurrency;
        if (g->decided || g->next_start >= g->n || (max && g->running >= max)) {
            pthread_mutex_unlock(&g->mu);
            return rc;
        }
        gslot *s = g->slots[g->next_start++];
        g->running++;
        g->pushed++;
        s->pushed = 1;
        pthread_mutex_unlock(&g->mu);
        if (hone__exec_job_push(g->pool, s->job)) rc = HONE_ECLOSED;
    }
}

static void group_hook(hone_task *job, void *hctx) {
    gslot *s = hctx;
    hone_group *g = s->g;
    pthread_mutex_lock(&g->mu);
    g->running--;
    if (s->res.outcome == HONE_TASK_PENDING && atomic_load(&job->state) == HONE_FUTURE_CANCELLED)
        finish_slot(g, s, HONE_TASK_CANCELLED, HONE_ECANCELED, 0);
    pthread_mutex_unlock(&g->mu);
    start_ready(g);
    /* Last: once job_settled reaches pushed, hone_group_free may free g. */
    pthread_mutex_lock(&g->mu);
    g->job_settled++;
    pthread_mutex_unlock(&g->mu);
}

int hone_group_new(hone_group **out, hone_pool *pool, const hone_group_opts *opts) {
    if (!out) return HONE_EINVAL;
    *out = NULL;
    if (!pool) return HONE_EINVAL;
    hone_group_opts o = {0};
    if (opts) o = *opts;
    if (o.policy != HONE_GROUP_COLLECT_ALL && o.policy != HONE_GROUP_FAIL_FAST &&
        o.policy != HONE_GROUP_FIRST_SUCCESS)
        return HONE_EINVAL;
    const hone_allocator *a = o.alloc ? o.alloc : hone__exec_alloc(pool);
    hone_group *g = hone_calloc(a, 1, sizeof *g);
    if (!g) return HONE_ENOMEM;
    g->pool = pool;
    g->alloc = a;
    g->opts = o;
    g->winner = -1;
    pthread_mutex_init(&g->mu, NULL);
    *out = g;
    return HONE_OK;
}

int hone_group_add(hone_group *g, hone_task_fn fn, void *arg) {
    if (!g || !fn) return HONE_EINVAL;
    pthread_mutex_lock(&g->mu);
    int waited = g->waited;
    pthread_mutex_unlock(&g->mu);
    if (waited) return HONE_ESTATE;
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 16;
        /* Under the lock: hooks on workers walk the array. */
        pthread_mutex_lock(&g->mu);
        gslot **ns = hone_realloc(g->alloc, g->slots, cap * sizeof *ns);
        if (ns) {
            g->slots = ns;
            g->cap = cap;
        }
        pthread_mutex_unlock(&g->mu);
        if (!ns) return HONE_ENOMEM;
    }
    gslot *s = hone_calloc(g->alloc, 1, sizeof *s);
    if (!s) return HONE_ENOMEM;
    s->job = hone__exec_job_new(g->pool, group_run, s);
    if (!s->job) {
        hone_free(g->alloc, s);
        return HONE_ENOMEM;
    }
    hone__exec_job_ref(s->job); /* the group's reference */
    s->job->hook = group_hook;
    s->job->hctx = s;
    s->fn = fn;
    s->arg = arg;
    s->g = g;
    pthread_mutex_lock(&g->mu);
    s->idx = g->n;
    g->slots[g->n++] = s;
    if (g->decided) {
        s->res.outcome = HONE_TASK_CANCELLED;
        s->res.status = HONE_ECANCELED;
        g->settled++;
    }
    pthread_mutex_unlock(&g->mu);
    int rc = start_ready(g);
    return rc ? rc : (int)s->idx;
}

static int group_done(void *p) {
    hone_group *g = p;
    pthread_mutex_lock(&g->mu);
    int r = g->decided || g->settled == g->n;
    pthread_mutex_unlock(&g->mu);
    return r;
}

/* Settles running slots past their deadline; returns the earliest deadline
 * still ahead. Caller holds g->mu. */
static uint64_t expire(hone_group *g, uint64_t now) {
    uint64_t next = HONE__NO_DEADLINE, t = g->opts.task_timeout_ns;
    if (!t) return next;
    for (size_t i = 0; i < g->n && !g->decided; i++) {
        gslot *s = g->slots[i];
        if (!s->started || s->res.outcome != HONE_TASK_PENDING) continue;
        if (now - s->start >= t) {
            atomic_store(&s->job->cancel, 1);
            finish_slot(g, s, HONE_TASK_TIMED_OUT, HONE_ETIMEDOUT, t);
        } else if (s->start + t < next) {
            next = s->start + t;
        }
    }
    return next;
}

int hone_group_wait(hone_group *g) {
    if (!g) return HONE_EINVAL;
    pthread_mutex_lock(&g->mu);
    g->waited = 1;
    pthread_mutex_unlock(&g->mu);
    for (;;) {
        uint64_t now = hone__exec_now(g->pool);
        pthread_mutex_lock(&g->mu);
        uint64_t next = expire(g, now);
        int done = g->decided || g->settled == g->n;
        pthread_mutex_unlock(&g->mu);
        if (done) break;
        /* Tasks not started yet have no deadline; when one starts, its
         * settle or start wakes us at the latest at the next poll. With no
         * deadline ahead but a timeout configured, poll so that a task
         * starting later gets its deadline watched. */
        if (next == HONE__NO_DEADLINE && g->opts.task_timeout_ns)
            next = now + (g->opts.task_timeout_ns < 1000000u ? g->opts.task_timeout_ns : 1000000u);
        hone__exec_wait(g->pool, group_done, g, next, NULL);
    }
    pthread_mutex_lock(&g->mu);
    int rc = HONE_OK;
    if (g->decided) {
        rc = g->decided_status;
    } else {
        for (size_t i = 0; i < g->n; i++)
            if (g->slots[i]->res.status != HONE_OK) {
                rc = g->slots[i]->res.status;
                break;
            }
    }
    pthread_mutex_unlock(&g->mu);
    return rc;
}

void hone_group_cancel(hone_group *g) {
    if (!g) return;
    pthread_mutex_lock(&g->mu);
    cancel_rest(g);
    pthread_mutex_unlock(&g->mu);
}

size_t hone_group_size(const hone_group *g) { return g ? g->n : 0; }

int hone_group_result(hone_group *g, size_t index, hone_task_result *out) {
    if (!g || !out) return HONE_EINVAL;
    pthread_mutex_lock(&g->mu);
    int rc = HONE_EINVAL;
    if (index < g->n) {
        *out = g->slots[index]->res;
        rc = HONE_OK;
    }
    pthread_mutex_unlock(&g->mu);
    return rc;
}

long hone_group_winner(const hone_group *g) { return g ? g->winner : -1; }

static int group_joined(void *p) {
    hone_group *g = p;
    pthread_mutex_lock(&g->mu);
    int r = g->job_settled == g->pushed;
    pthread_mutex_unlock(&g->mu);
    return r;
}

void hone_group_free(hone_group *g) {
    if (!g) return;
    pthread_mutex_lock(&g->mu);
    g->decided = g->decided ? g->decided : 2; /* stop starting new tasks */
    cancel_rest(g);
    pthread_mutex_unlock(&g->mu);
    hone__exec_wait(g->pool, group_joined, g, HONE__NO_DEADLINE, NULL);
    for (size_t i = 0; i < g->n; i++) {
        gslot *s = g->slots[i];
        if (!s->pushed) hone__exec_job_unref(s->job); /* the queue's, never used */
        hone__exec_job_unref(s->job);
        hone_free(g->alloc, s);
    }
    pthread_mutex_destroy(&g->mu);
    hone_free(g->alloc, g->slots);
    hone_free(g->alloc, g);
}
