/* scope.c - scopes: fire-and-forget tasks counted by one latch, the
 * OpenMP task/taskwait pattern without a future per task. */
#include "exec_internal.h"

int hone_scope_new(hone_scope **out, hone_pool *pool) {
    if (!out) return HONE_EINVAL;
    *out = NULL;
    if (!pool) return HONE_EINVAL;
    hone_scope *s = hone_malloc(hone__exec_alloc(pool), sizeof *s);
    if (!s) return HONE_ENOMEM;
    s->pool = pool;
    atomic_init(&s->pending, 0);
    atomic_init(&s->error, HONE_OK);
    *out = s;
    return HONE_OK;
}

int hone_scope_spawn(hone_scope *s, hone_task_fn fn, void *arg) {
    if (!s || !fn) return HONE_EINVAL;
    return hone__exec_spawn(s, fn, arg);
}

static int scope_empty(void *p) {
    return (atomic_load(&((hone_scope *)p)->pending) & ~HONE__SCOPE_WAITED) == 0;
}

/* Registers the blocking waiter: the finishing task whose decrement sees
 * the bit set together with a count of one wakes the pool's waiters. */
static void scope_watch(void *p) {
    atomic_fetch_or(&((hone_scope *)p)->pending, HONE__SCOPE_WAITED);
}

int hone_scope_wait(hone_scope *s) {
    if (!s) return HONE_EINVAL;
    hone__exec_wait(s->pool, scope_empty, s, HONE__NO_DEADLINE, scope_watch);
    /* Empty: no task of the scope is left to touch it, so the bit can be
     * cleared and the error taken for the next round. */
    atomic_fetch_and(&s->pending, ~HONE__SCOPE_WAITED);
    return atomic_exchange(&s->error, HONE_OK);
}

size_t hone_scope_pending(const hone_scope *s) {
    if (!s) return 0;
    return atomic_load(&((hone_scope *)(uintptr_t)s)->pending) & ~HONE__SCOPE_WAITED;
}

void hone_scope_free(hone_scope *s) {
    if (!s) return;
    hone_scope_wait(s);
    hone_free(hone__exec_alloc(s->pool), s);
}
