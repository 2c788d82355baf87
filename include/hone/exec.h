/* hone/exec.h - the executor: a work-stealing thread pool, futures with
 * deadlines and cancellation, task groups, parallel loops and a batcher.
 *
 * Threads in hone are started here and nowhere else: modules that run work
 * in parallel submit it to a hone_pool.
 *
 * Time: every deadline and duration below is in nanoseconds on the pool's
 * clock, which is hone_now_ns() unless the options inject another one (tests
 * inject a fake clock so that deadlines never depend on real timing). When a
 * clock is injected, blocked waits re-read it at least every millisecond of
 * real time, so advancing a fake clock is noticed promptly.
 *
 * Cancellation is cooperative: C cannot stop a running function, so a
 * running task sees its cancellation through hone_task_cancelled() and is
 * expected to return early (HONE_ECANCELED by convention). A task that was
 * still queued when cancelled never runs.
 */
#ifndef HONE_EXEC_H
#define HONE_EXEC_H

#include "hone/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hone_pool hone_pool;
/* A submitted task seen from outside (the submitter's handle). */
typedef struct hone_future hone_future;
/* The running task seen from inside: its cancellation token and pool. */
typedef struct hone_task hone_task;

/* A task. It returns HONE_OK or a negative hone status (any int is passed
 * through unchanged to whoever reads the result). `task` is valid only
 * during the call. */
typedef int (*hone_task_fn)(void *arg, hone_task *task);

/* A clock in nanoseconds; must be monotonic and thread-safe. */
typedef uint64_t (*hone_clock_fn)(void *ctx);

/* ------------------------------------------------------------------ */
/* Pool                                                                */
/* ------------------------------------------------------------------ */

typedef struct hone_pool_opts {
    /* Worker threads. 0: exec.max_workers (HONE_MAX_WORKERS, 0..1024),
     * whose 0 means the online CPUs; see hone-optimize(1). */
    unsigned workers;
    /* Deadline and duration clock; NULL: hone_now_ns(). */
    hone_clock_fn clock;
    void *clock_ctx;
    const hone_allocator *alloc; /* NULL: the default allocator */
    /* The pool's name in the settings' [component.NAME] sections (at most
     * 63 bytes), for its exec.parallel_threshold; NULL: the global value
     * only. Copied. */
    const char *component;
} hone_pool_opts;

/* Starts a pool. Every worker owns a deque: tasks submitted by a worker go
 * to its own deque (LIFO for itself, so nested work stays cache-hot), idle
 * workers steal from the other end of other workers' deques, and tasks
 * submitted from outside go to a shared injection queue.
 * Returns HONE_OK; HONE_EINVAL (out NULL, HONE_MAX_WORKERS invalid, with
 * err filled naming the value, or a component name too long); HONE_ENOMEM; HONE_EIO if a thread could not
 * be started. On failure *out is NULL and nothing leaks. */
HONE_API int hone_pool_new(hone_pool **out, const hone_pool_opts *opts, hone_error *err);

/* The process-wide default pool, for library code that runs work in
 * parallel without being handed a pool (hash, io walker) and for callers
 * that do not want to manage one.
 * Made lazily on the first call, with default options: exec.max_workers
 * workers (HONE_MAX_WORKERS, the level...) if not 0, else one per online CPU. It
 * allocates (itself, its jobs, and scopes/groups made on it without their
 * own allocator) from libc's malloc directly, never through the switchable
 * default allocator, because it outlives any hone_allocator_set_default()
 * switch. Thread-safe: concurrent first calls make exactly one
 * pool and all get it; later calls cost one atomic load.
 * Returns the pool, or NULL only if creating it failed (out of memory,
 * threads could not be started, or HONE_MAX_WORKERS is malformed); a failure
 * is not remembered, so a later call tries again.
 * Lifetime: the pool lives until the process exits and is never freed; its
 * workers are idle (blocked, using no CPU) when there is no work. The
 * caller must not free it or shut it down: hone_pool_free() on it is a
 * no-op and hone_pool_shutdown() returns HONE_ESTATE. Scopes, groups and
 * futures made on it must still be freed by whoever made them.
 * Safe to use from inside its own tasks (waits there help run queued tasks
 * instead of blocking, as for any pool) and from tasks of other pools.
 * After fork() the child's first call makes a new pool (the parent's
 * workers do not exist in the child); a pointer obtained before the fork
 * must not be used in the child. */
HONE_API hone_pool *hone_pool_default(void);

/* The number of worker threads. */
HONE_API unsigned hone_pool_workers(const hone_pool *pool);

typedef enum hone_shutdown_mode {
    /* Run everything already queued, including tasks those tasks submit,
     * then stop. New submissions from outside the pool fail. */
    HONE_SHUTDOWN_DRAIN = 0,
    /* Queued tasks never run (their futures settle as cancelled), running
     * tasks see cancellation; every submission fails. */
    HONE_SHUTDOWN_CANCEL = 1
} hone_shutdown_mode;

/* Stops the pool and joins its threads; returns when every task has
 * settled. Idempotent (a second call does nothing and returns HONE_OK).
 * Must not be called from a task of this pool (HONE_ESTATE). Returns
 * HONE_OK, HONE_EINVAL for a bad mode. */
HONE_API int hone_pool_shutdown(hone_pool *pool, hone_shutdown_mode mode);

/* Shuts down with HONE_SHUTDOWN_DRAIN if not yet done and frees the pool.
 * Every future of the pool must have been freed first. NULL and the
 * default pool (hone_pool_default) are no-ops. */
HONE_API void hone_pool_free(hone_pool *pool);

/* Submits fn(arg). If out is not NULL, *out receives a future the caller
 * must release with hone_future_free(); with out NULL the task is detached.
 * Thread-safe; callable from inside tasks (the task goes to the calling
 * worker's deque). Like OpenMP, a task submitting while the pool already
 * holds more than 64 queued tasks per worker runs the new task at once on
 * its own thread, before this call returns (the future is then already
 * settled): queues stay short and tiny tasks stay cheap. Once over that
 * threshold, the worker runs its next 31 submissions the same way without
 * looking at the queue count again (it is the line every steal writes).
 * Do not submit while holding a lock the new task takes.
 * Returns HONE_OK; HONE_EINVAL (pool or fn NULL);
 * HONE_ENOMEM (nothing submitted); HONE_ECLOSED after shutdown began (from
 * a task of this pool during a drain, submission still works, so running
 * tasks can finish their nested work). */
HONE_API int hone_pool_submit(hone_pool *pool, hone_task_fn fn, void *arg, hone_future **out);

/* Nonzero once the task has been asked to stop (future cancelled, group
 * policy, deadline passed, or pool shut down with cancel). Cheap: one
 * atomic load. */
HONE_API int hone_task_cancelled(const hone_task *task);
/* The pool running the task, to submit nested work. */
HONE_API hone_pool *hone_task_pool(const hone_task *task);

/* ------------------------------------------------------------------ */
/* Futures                                                             */
/* ------------------------------------------------------------------ */

typedef enum hone_future_state {
    HONE_FUTURE_QUEUED = 0,
    HONE_FUTURE_RUNNING = 1,
    HONE_FUTURE_DONE = 2,     /* the task ran and returned */
    HONE_FUTURE_CANCELLED = 3 /* cancelled before it started: it never ran */
} hone_future_state;

/* Waits until the task settles and returns its result: the task's return
 * value, or HONE_ECANCELED if it was cancelled before it started.
 * Called from a task of the same pool, the wait runs other queued tasks
 * while it waits instead of blocking the worker, so nested parallelism
 * cannot deadlock even on a one-worker pool. Waiting on the calling task's
 * own future (or an ancestor's) never returns. Thread-safe. */
HONE_API int hone_future_wait(hone_future *f);

/* Like hone_future_wait, but gives up at `deadline_ns` on the pool's clock
 * and returns HONE_ETIMEDOUT; the task keeps running (cancel it if it should
 * stop). When called from a task, the deadline is checked between the
 * tasks it helps run, so it may return late by one helped task. */
HONE_API int hone_future_wait_until(hone_future *f, uint64_t deadline_ns);

/* The current state; never blocks. */
HONE_API hone_future_state hone_future_state_get(const hone_future *f);

/* If the task has settled, stores its result (as hone_future_wait would
 * return it) in *result and returns HONE_OK; otherwise returns HONE_EBUSY. */
HONE_API int hone_future_result(const hone_future *f, int *result);

/* Asks the task to stop. A queued task never runs: its future settles as
 * cancelled now (its completion callback runs on this thread) and HONE_OK
 * is returned. A running task sees hone_task_cancelled() become true and
 * HONE_EBUSY is returned; its result is whatever it returns. A settled task
 * is unchanged and HONE_ESTATE is returned. Thread-safe; safe to race with
 * the task starting or finishing. */
HONE_API int hone_future_cancel(hone_future *f);

/* Called once when the future settles: cb(f, arg). It runs on the worker
 * thread that ran the task, right after the task returns; on the thread
 * that cancelled a queued task; or, if the future has already settled,
 * immediately on the calling thread. The callback may read the result but
 * must not free the future. One callback per future: a second call returns
 * HONE_EEXIST. Returns HONE_OK or HONE_EINVAL (f or cb NULL). */
HONE_API int hone_future_on_done(hone_future *f, void (*cb)(hone_future *f, void *arg),
                                 void *arg);

/* Releases the caller's handle. It does not cancel the task, which runs to
 * completion detached. NULL is a no-op. */
HONE_API void hone_future_free(hone_future *f);

/* ------------------------------------------------------------------ */
/* Scopes: spawn and wait for all (OpenMP task/taskwait)               */
/* ------------------------------------------------------------------ */

/* A scope counts fire-and-forget tasks: hone_scope_spawn() queues a task
 * without making a future for it, and hone_scope_wait() returns once every
 * task spawned into the scope has finished. This is OpenMP's `task` +
 * `taskwait` (and Rust's scoped spawn): use it for many small tasks whose
 * individual results nobody reads, where a future per task would cost an
 * object, reference counting and a state machine each. Use futures when
 * a task must be waited on, cancelled or timed out on its own, and groups
 * for policies, per-task results and deadlines. */
typedef struct hone_scope hone_scope;

/* Makes an empty scope on `pool`, allocated with the pool's allocator.
 * Returns HONE_OK; HONE_EINVAL (out or pool NULL); HONE_ENOMEM. On failure
 * *out is NULL (when out is not NULL). The scope must be freed before the
 * pool. */
HONE_API int hone_scope_new(hone_scope **out, hone_pool *pool);

/* Queues fn(arg) as a task of the scope. Thread-safe: any thread may spawn,
 * including tasks of the scope itself (nested spawns are waited for too).
 * Called from a worker of the pool, the task goes to that worker's deque;
 * like hone_pool_submit, a worker spawning while the pool already holds
 * more than 64 queued tasks per worker (and its next 31 spawns after that)
 * runs the task at once on its own thread, before this call returns, and
 * then no memory is taken at all.
 * The `task` argument fn receives is valid during the call only; its
 * cancellation flag is set only by a pool shutdown with cancel.
 * Returns HONE_OK; HONE_EINVAL (s or fn NULL); HONE_ENOMEM (nothing was
 * queued); HONE_ECLOSED under the same rules as hone_pool_submit (nothing
 * was queued). A task refused with an error does not count as failed. */
HONE_API int hone_scope_spawn(hone_scope *s, hone_task_fn fn, void *arg);

/* Waits until every task spawned into the scope before this call, and
 * every task those tasks spawned into it, has finished. Called from a task
 * of the same pool, it runs queued tasks while it waits instead of blocking
 * the worker, so nesting cannot deadlock, even on one worker. Returns
 * HONE_OK if every task returned HONE_OK; otherwise the first non-OK value
 * a task returned (first in time, not in spawn order), or HONE_ECANCELED
 * for a task that a cancelling pool shutdown kept from running. The error
 * is then cleared: the scope can be used for another round of spawns. One
 * thread waits on a scope at a time; spawning from outside the scope's
 * tasks while that thread waits is allowed, but such a task is covered by
 * this wait only if its spawn happened before the wait began. */
HONE_API int hone_scope_wait(hone_scope *s);

/* Tasks spawned and not yet finished: a snapshot, for progress reports
 * and tests. 0 for NULL. Thread-safe. */
HONE_API size_t hone_scope_pending(const hone_scope *s);

/* Waits for the scope's tasks as hone_scope_wait does (its result is
 * dropped), then frees the scope. NULL is a no-op. Not from a task of the
 * scope itself (it would wait for its own end). */
HONE_API void hone_scope_free(hone_scope *s);

/* ------------------------------------------------------------------ */
/* Task groups                                                         */
/* ------------------------------------------------------------------ */

typedef enum hone_group_policy {
    /* Run every task; hone_group_wait returns the first error by input
     * order, or HONE_OK. */
    HONE_GROUP_COLLECT_ALL = 0,
    /* The first task to fail (in time) cancels the rest: queued ones never
     * start, running ones see cancellation. Wait returns that error. */
    HONE_GROUP_FAIL_FAST = 1,
    /* The first task to succeed cancels the rest, and wait returns HONE_OK
     * at once; if none succeeds it returns the first error by input order. */
    HONE_GROUP_FIRST_SUCCESS = 2
} hone_group_policy;

typedef struct hone_group_opts {
    hone_group_policy policy;
    /* At most this many of the group's tasks run at once; 0: no limit
     * beyond the pool's workers. */
    unsigned max_concurrency;
    /* Per-task deadline, counted from when the task starts; 0: none. A
     * task still running at its deadline is settled as HONE_ETIMEDOUT and
     * cancelled (it sees hone_task_cancelled()); the group does not wait
     * for it, though hone_group_free() does. Deadlines are enforced while
     * a thread is inside hone_group_wait(). */
    uint64_t task_timeout_ns;
    const hone_allocator *alloc; /* NULL: the pool's allocator */
} hone_group_opts;

typedef enum hone_task_outcome {
    HONE_TASK_PENDING = 0,   /* not settled yet */
    HONE_TASK_FINISHED = 1,  /* ran and returned `status` */
    HONE_TASK_CANCELLED = 2, /* never started (policy or group cancelled) */
    HONE_TASK_TIMED_OUT = 3  /* passed its deadline; status HONE_ETIMEDOUT */
} hone_task_outcome;

typedef struct hone_task_result {
    hone_task_outcome outcome;
    int status;           /* return value, HONE_ECANCELED, or HONE_ETIMEDOUT */
    uint64_t duration_ns; /* from start to return (or to the deadline) */
} hone_task_result;

typedef struct hone_group hone_group;

/* A set of tasks on `pool`, run under one policy. Not itself thread-safe:
 * one thread adds and waits (tasks may run anywhere). Returns HONE_OK,
 * HONE_EINVAL, HONE_ENOMEM; on failure *out is NULL. */
HONE_API int hone_group_new(hone_group **out, hone_pool *pool, const hone_group_opts *opts);

/* Adds fn(arg); it starts as soon as the concurrency limit allows. Returns
 * the task's index (0, 1, ... in order of adding, the order of results),
 * or HONE_EINVAL, HONE_ENOMEM, HONE_ESTATE (after hone_group_wait began),
 * HONE_ECLOSED (pool shut down). If the policy has already settled the
 * group (fail-fast error, first success), the task is recorded as
 * cancelled and never runs. */
HONE_API int hone_group_add(hone_group *g, hone_task_fn fn, void *arg);

/* Waits until the group's outcome is known: every task settled, or the
 * policy decided (see hone_group_policy). Helps run tasks when called from
 * a task of the pool. Returns the outcome as the policy describes. Calling
 * it again returns the same outcome. */
HONE_API int hone_group_wait(hone_group *g);

/* Cancels every task that has not settled: queued ones never start,
 * running ones see cancellation. Safe from any thread while the group is
 * alive. */
HONE_API void hone_group_cancel(hone_group *g);

/* Number of tasks added. */
HONE_API size_t hone_group_size(const hone_group *g);
/* Copies the result of task `index` into *out, under the group's lock (a
 * task that was still running when the policy decided may settle later;
 * its outcome is PENDING until then). Returns HONE_OK or HONE_EINVAL
 * (index out of range). */
HONE_API int hone_group_result(hone_group *g, size_t index, hone_task_result *out);
/* For FIRST_SUCCESS: the index of the winning task, or -1. */
HONE_API long hone_group_winner(const hone_group *g);

/* Cancels what has not settled, waits for every task that is still
 * running (including timed-out ones) to return, and frees the group. NULL
 * is a no-op. */
HONE_API void hone_group_free(hone_group *g);

/* ------------------------------------------------------------------ */
/* Parallel loops                                                      */
/* ------------------------------------------------------------------ */

/* Body of a parallel loop: handles indexes [lo, hi). Returns HONE_OK or an
 * error, which stops the loop. */
typedef int (*hone_range_fn)(void *ctx, size_t lo, size_t hi);

/* Runs fn over [begin, end) in chunks of `grain` indexes (0: automatic,
 * about 8 chunks per worker and at least 1 index), on the pool's workers
 * and the calling thread, which takes part. Chunks are handed out
 * dynamically, so uneven chunks balance. The first error stops handing out
 * chunks and is returned once running chunks finish; HONE_OK otherwise.
 * Returns HONE_EINVAL (pool or fn NULL). Never fails for lack of memory or
 * a closed pool: helpers that cannot be made or queued leave their share
 * to the calling thread. At most 64 helpers join.
 * The calling thread runs the whole loop alone (same chunks, no helper)
 * when exec.parallel is off (HONE_PARALLEL) or the loop has fewer than
 * exec.parallel_threshold indexes (HONE_PARALLEL_THRESHOLD, or the pool's
 * component value; 1 at level moderate, 4096 at basic). Both are read
 * when the pool first runs a loop and again after any settings layer
 * changes (hone_settings_generation), not at every loop.
 * Callable from inside tasks (nested loops help instead of blocking). */
HONE_API int hone_parallel_for(hone_pool *pool, size_t begin, size_t end, size_t grain,
                               hone_range_fn fn, void *ctx);

/* out[i] = fn(in[i]) for n elements: fn(ctx, &in[i * in_size],
 * &out[i * out_size]) returning HONE_OK or an error (which stops the map).
 * Same scheduling and returns as hone_parallel_for. */
HONE_API int hone_parallel_map(hone_pool *pool, const void *in, size_t in_size, void *out,
                               size_t out_size, size_t n, size_t grain,
                               int (*fn)(void *ctx, const void *in, void *out), void *ctx);

/* ------------------------------------------------------------------ */
/* Batcher                                                             */
/* ------------------------------------------------------------------ */

/* Receives one batch: items[0..n) in the order they were added. It runs on
 * the batcher's own thread, one batch at a time. The array is valid only
 * during the call; the items are the caller's pointers. */
typedef void (*hone_batch_fn)(void *ctx, void **items, size_t n);

typedef struct hone_batcher_opts {
    /* Flush when this many items wait. 0: batch.size (HONE_BATCH_SIZE, or
     * the component's batch_size; 64 at level moderate), see
     * hone-optimize(1); read again at a flush decision after a settings
     * layer changed (hone_settings_generation), and kept within capacity. */
    size_t batch_size;
    /* Flush when the oldest item has waited this long. 0: batch.max_wait
     * (HONE_BATCH_MAX_WAIT_MS; a bare number is milliseconds; 10 ms at
     * level moderate), read again as batch_size is. */
    uint64_t max_wait_ns;
    /* Items that may wait at once (backpressure bound). 0: 16 batches of
     * the batch size at creation. */
    size_t capacity;
    hone_clock_fn clock; /* NULL: hone_now_ns() */
    void *clock_ctx;
    const hone_allocator *alloc;
    /* The batcher's name in the settings' [component.NAME] sections, for
     * its batch_size; NULL: the global batch.size only. Copied. */
    const char *component;
} hone_batcher_opts;

typedef struct hone_batcher hone_batcher;

/* Starts a batcher and its flushing thread. Returns HONE_OK, HONE_EINVAL
 * (handler NULL, capacity < batch size, or a bad HONE_BATCH_* variable,
 * with err filled), HONE_ENOMEM, HONE_EIO (thread). On failure *out is NULL
 * and nothing leaks. */
HONE_API int hone_batcher_new(hone_batcher **out, hone_batch_fn handler, void *ctx,
                              const hone_batcher_opts *opts, hone_error *err);

/* Flags of hone_batcher_add. */
#define HONE_BATCH_BLOCK 0    /* wait for room when the queue is full */
#define HONE_BATCH_NONBLOCK 1 /* return HONE_EBUSY when full */

/* Queues an item. Thread-safe. Returns HONE_OK; HONE_EBUSY (full, with
 * HONE_BATCH_NONBLOCK); HONE_ECLOSED (closed, also when the batcher closes
 * while this call blocks); HONE_EINVAL. Must not be called from the
 * handler with HONE_BATCH_BLOCK (the handler is what makes room). */
HONE_API int hone_batcher_add(hone_batcher *b, void *item, int flags);

/* Stops accepting items, hands every queued item to the handler, and
 * joins the flushing thread. Idempotent; not from the handler. */
HONE_API void hone_batcher_close(hone_batcher *b);

typedef struct hone_batcher_stats {
    uint64_t items;       /* handed to the handler */
    uint64_t batches;
    double mean_batch;    /* items / batches */
    uint64_t full_flushes;    /* batches flushed because they were full */
    uint64_t timeout_flushes; /* ... because the oldest item waited max_wait */
    uint64_t close_flushes;   /* ... by close */
    uint64_t rejected;    /* adds that returned HONE_EBUSY */
    /* Added latency: from an item's add to its handler call starting. */
    double latency_p50_ns;
    double latency_p99_ns;
    double latency_max_ns;
} hone_batcher_stats;

/* A consistent snapshot of the counters. Thread-safe. */
HONE_API void hone_batcher_stats_get(hone_batcher *b, hone_batcher_stats *out);

/* Closes (flushing everything) if needed and frees. NULL is a no-op. */
HONE_API void hone_batcher_free(hone_batcher *b);

#ifdef __cplusplus
}
#endif
#endif /* HONE_EXEC_H */
