/* exec_internal.h - the pool's job structure and the helpers that task
 * groups and parallel loops share with the pool. */
#ifndef HONE_EXEC_INTERNAL_H
#define HONE_EXEC_INTERNAL_H

#include <stdatomic.h>

#include "hone/exec.h"

#define HONE__NO_DEADLINE UINT64_MAX

/* Called when a job settles (ran, or cancelled before it ran), before
 * waiters are woken, on the settling thread. */
typedef void (*hone__job_hook)(hone_task *job, void *hctx);

/* A job is a task, its future and its queue node at once: one allocation
 * per submission. A hone_future * is a hone_task * in disguise. */
struct hone_task {
    hone_task_fn fn;
    void *arg;
    hone_pool *pool;
    struct hone_task *prev, *next; /* queue links, under the queue's lock */
    atomic_int state;              /* hone_future_state */
    atomic_int cancel;             /* cancellation requested */
    atomic_int refs;               /* queue/worker + future handle + group */
    atomic_int waited;             /* a thread blocks on this job's future */
    int result;                    /* valid once state is DONE */
    atomic_int cbflag;             /* see pool.c: callback hand-off */
    void (*cb)(hone_future *f, void *arg);
    void *cb_arg;
    hone__job_hook hook;
    void *hctx;
    /* Set for a job spawned into a scope (hone_scope_spawn): such a job has
     * no future, so none of the fields above from `state` on are used; it
     * is freed as soon as it finishes. NULL for every other job. */
    struct hone_scope *scope;
};

/* The scope's count of unfinished tasks, with this bit set by a waiter
 * that is about to block. A finishing task learns from its own decrement's
 * old value whether it was the last one with a waiter registered, so it
 * never reads the scope again after the decrement: the waiter may free the
 * scope the moment the count reaches zero. */
#define HONE__SCOPE_WAITED ((size_t)1 << (sizeof(size_t) * 8 - 1))

struct hone_scope {
    hone_pool *pool;
    /* The spawner reads `pool` on every spawn while other workers decrement
     * `pending`: sharing a line cost the spawner a miss per spawn. */
    char pad[64];
    atomic_size_t pending; /* unfinished tasks | HONE__SCOPE_WAITED */
    atomic_int error;      /* first non-OK result since the last wait, or 0 */
};

/* Spawns fn(arg) into scope s; see hone_scope_spawn. */
int hone__exec_spawn(struct hone_scope *s, hone_task_fn fn, void *arg);

/* A new queued job holding one reference (the queue's). NULL on ENOMEM. */
hone_task *hone__exec_job_new(hone_pool *pool, hone_task_fn fn, void *arg);
/* Loops of fewer indexes than this run on the calling thread alone
 * (exec.parallel_threshold of the pool's component; SIZE_MAX when
 * exec.parallel is off). Cached per settings generation. */
size_t hone__pool_serial_below(hone_pool *pool);
/* Queues a job made by hone__exec_job_new. HONE_OK or HONE_ECLOSED (the
 * job is then settled as cancelled and its queue reference dropped). */
int hone__exec_job_push(hone_pool *pool, hone_task *job);
void hone__exec_job_ref(hone_task *job);
void hone__exec_job_unref(hone_task *job);
/* Cancels a queued job (settles it now) or flags a running one. Returns
 * as hone_future_cancel. */
int hone__exec_job_cancel(hone_task *job);

/* Waits until pred(ctx) is true, helping to run queued tasks if the caller
 * is a worker of `pool`. Returns HONE_OK, or HONE_ETIMEDOUT when the pool
 * clock reaches deadline (HONE__NO_DEADLINE: never). pred must be cheap
 * and may be called with the pool's wait lock held. */
/* `watch`, when not NULL, is called with ctx under the wait lock just
 * before the waiter re-checks pred and blocks: it registers the waiter
 * with the one thing whose completion makes pred true (a job's `waited`
 * flag, a scope's WAITED bit), so that only that completion, rather than
 * any hooked job's, wakes this waiter. It must be a seq_cst store or RMW. */
int hone__exec_wait(hone_pool *pool, int (*pred)(void *ctx), void *ctx, uint64_t deadline,
                    void (*watch)(void *ctx));
uint64_t hone__exec_now(const hone_pool *pool);
const hone_allocator *hone__exec_alloc(const hone_pool *pool);
/* Nonzero when the pool has a custom clock (waits then poll it). */
int hone__exec_custom_clock(const hone_pool *pool);

/* Latency histogram shared by the batcher's stats: log-linear buckets of
 * nanoseconds, about 3% precision. */
#define HONE__HIST_SUB 32
#define HONE__HIST_GROUPS 48
typedef struct hone__hist {
    uint64_t count;
    uint64_t max;
    uint64_t b[HONE__HIST_GROUPS][HONE__HIST_SUB];
} hone__hist;
void hone__hist_add(hone__hist *h, uint64_t v);
double hone__hist_quantile(const hone__hist *h, double q);

#endif
