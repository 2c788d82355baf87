/* budget.c - the retry budget: requests and retries counted in a sliding
 * window of ten buckets; a retry is allowed while retries stay within
 * max(ratio * requests, min_per_sec * window). */
#include "flow_internal.h"

#include <pthread.h>

#define BUDGET_BUCKETS 10

typedef struct budget_bucket {
    uint64_t slot; /* which bucket_ns period it counts; UINT64_MAX: none yet */
    uint64_t requests, retries;
} budget_bucket;

struct hone_retry_budget {
    pthread_mutex_t mu;
    double ratio;
    double floor; /* min_per_sec * window seconds */
    uint64_t bucket_ns;
    hone__clock clock;
    const hone_allocator *alloc;
    budget_bucket b[BUDGET_BUCKETS];
};

int hone_retry_budget_new(hone_retry_budget **out, const hone_retry_budget_opts *opts) {
    if (!out) return HONE_EINVAL;
    *out = NULL;
    if (!opts || isnan(opts->ratio) || opts->ratio < 0) return HONE_EINVAL;
    hone_retry_budget *b = hone_calloc(opts->alloc, 1, sizeof *b);
    if (!b) return HONE_ENOMEM;
    uint64_t window = opts->window_ns ? opts->window_ns : UINT64_C(10000000000);
    b->ratio = opts->ratio > 0 ? opts->ratio : 0.1;
    b->floor = (double)(opts->min_per_sec ? opts->min_per_sec : 10) * ((double)window / 1e9);
    b->bucket_ns = window / BUDGET_BUCKETS ? window / BUDGET_BUCKETS : 1;
    hone__clock_copy(&b->clock, opts->clock);
    b->alloc = opts->alloc;
    for (int i = 0; i < BUDGET_BUCKETS; i++) b->b[i].slot = UINT64_MAX;
    pthread_mutex_init(&b->mu, NULL);
    *out = b;
    return HONE_OK;
}

void hone_retry_budget_free(hone_retry_budget *b) {
    if (!b) return;
    pthread_mutex_destroy(&b->mu);
    hone_free(b->alloc, b);
}

/* The bucket of the current period, emptied if it last counted an older
 * one. Called with the mutex held. */
static budget_bucket *current(hone_retry_budget *b, uint64_t slot) {
    budget_bucket *k = &b->b[slot % BUDGET_BUCKETS];
    if (k->slot != slot) {
        k->slot = slot;
        k->requests = k->retries = 0;
    }
    return k;
}

void hone_retry_budget_request(hone_retry_budget *b) {
    if (!b) return;
    uint64_t slot = hone__clock_now(&b->clock) / b->bucket_ns;
    pthread_mutex_lock(&b->mu);
    current(b, slot)->requests++;
    pthread_mutex_unlock(&b->mu);
}

int hone_retry_budget_withdraw(hone_retry_budget *b) {
    if (!b) return HONE_OK;
    uint64_t slot = hone__clock_now(&b->clock) / b->bucket_ns;
    pthread_mutex_lock(&b->mu);
    budget_bucket *cur = current(b, slot);
    uint64_t requests = 0, retries = 0;
    for (int i = 0; i < BUDGET_BUCKETS; i++) {
        /* A bucket counts while its period is one of the last ten. */
        if (b->b[i].slot != UINT64_MAX && b->b[i].slot + BUDGET_BUCKETS > slot) {
            requests += b->b[i].requests;
            retries += b->b[i].retries;
        }
    }
    double allowed = b->ratio * (double)requests;
    if (allowed < b->floor) allowed = b->floor;
    int rc = (double)(retries + 1) <= allowed ? HONE_OK : HONE_EBUSY;
    if (rc == HONE_OK) cur->retries++;
    pthread_mutex_unlock(&b->mu);
    return rc;
}
