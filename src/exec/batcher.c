/* batcher.c - items from many threads handed to a handler in batches,
 * flushed by size or by the oldest item's wait, with a bounded queue. */
#include "exec_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- */
/* Latency histogram                                                 */
/* ---------------------------------------------------------------- */

/* Group 0 holds 0..HONE__HIST_SUB-1 exactly; group k >= 1 holds
 * [SUB << (k-1), SUB << k) in SUB equal steps. */
void hone__hist_add(hone__hist *h, uint64_t v) {
    unsigned g = 0;
    uint64_t x = v;
    while (x >= HONE__HIST_SUB && g < HONE__HIST_GROUPS - 1) {
        x >>= 1;
        g++;
    }
    if (x >= HONE__HIST_SUB) x = HONE__HIST_SUB - 1;
    /* For g >= 1, x is in [SUB/2, SUB): use the bits below the top. */
    unsigned sub = g == 0 ? (unsigned)x : (unsigned)(((v >> (g - 1)) - HONE__HIST_SUB) % HONE__HIST_SUB);
    h->b[g][sub]++;
    h->count++;
    if (v > h->max) h->max = v;
}

static double bucket_mid(unsigned g, unsigned sub) {
    if (g == 0) return sub;
    double lo = (double)((uint64_t)(HONE__HIST_SUB + sub) << (g - 1));
    return lo + (double)((uint64_t)1 << (g - 1)) / 2;
}

double hone__hist_quantile(const hone__hist *h, double q) {
    if (!h->count) return 0;
    uint64_t rank = (uint64_t)ceil(q * (double)h->count);
    if (rank == 0) rank = 1;
    uint64_t seen = 0;
    for (unsigned g = 0; g < HONE__HIST_GROUPS; g++)
        for (unsigned s = 0; s < HONE__HIST_SUB; s++) {
            seen += h->b[g][s];
            if (seen >= rank) {
                double m = bucket_mid(g, s);
                return m > (double)h->max ? (double)h->max : m;
            }
        }
    return (double)h->max;
}

/* ---------------------------------------------------------------- */
/* Batcher                                                           */
/* ---------------------------------------------------------------- */

struct hone_batcher {
    const hone_allocator *alloc;
    hone_batch_fn handler;
    void *ctx;
    size_t batch, cap;
    uint64_t max_wait;
    /* Which of batch and max_wait come from the settings table (the
     * options left them 0), the component name for batch.size, and the
     * settings generation they were last read at. */
    int batch_auto, wait_auto;
    char component[64];
    uint64_t set_gen;
    hone_clock_fn clock;
    void *clock_ctx;

    pthread_mutex_t mu;
    pthread_cond_t not_empty; /* the flusher waits here */
    pthread_cond_t not_full;  /* blocked producers wait here */
    void **items;             /* ring of cap items */
    uint64_t *added;          /* add time of each ring slot */
    size_t head, count;
    int closing, closed;
    pthread_t thread;

    void **out;          /* the batch handed to the handler */
    uint64_t *out_added; /* their add times, for latency */
    hone__hist hist;
    hone_batcher_stats st;
};

static uint64_t b_now(const hone_batcher *b) {
    return b->clock ? b->clock(b->clock_ctx) : hone_now_ns();
}

static void b_timed_wait(hone_batcher *b, uint64_t ns) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t t = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + ns;
    ts.tv_sec = (time_t)(t / 1000000000u);
    ts.tv_nsec = (long)(t % 1000000000u);
    pthread_cond_timedwait(&b->not_empty, &b->mu, &ts);
}

/* Re-reads batch.size and batch.max_wait when a settings layer changed
 * since they were read (continuous tuning moves them), for the values the
 * options left to the table. A batch never exceeds the queue's capacity,
 * which stays as made. Under b->mu. */
static void b_refresh(hone_batcher *b) {
    if (!b->batch_auto && !b->wait_auto) return;
    uint64_t gen = hone_settings_generation();
    if (gen == b->set_gen) return;
    b->set_gen = gen;
    if (b->batch_auto) {
        uint64_t v = hone_setting_u64(HONE_SET_BATCH_SIZE, b->component[0] ? b->component : NULL);
        if (v < 1) v = 1;
        b->batch = v > b->cap ? b->cap : (size_t)v;
    }
    if (b->wait_auto) {
        uint64_t v = hone_setting_u64(HONE_SET_BATCH_MAX_WAIT, NULL);
        if (v) b->max_wait = v;
    }
}

static void *flusher(void *p) {
    hone_batcher *b = p;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        int why = 0; /* 1 full, 2 timeout, 3 close */
        while (!why) {
            b_refresh(b);
            if (b->count >= b->batch) why = 1;
            else if (b->closing && b->count) why = 3;
            else if (b->closing) break;
            else if (b->count) {
                uint64_t now = b_now(b), oldest = b->added[b->head];
                if (now - oldest >= b->max_wait) {
                    why = 2;
                } else {
                    uint64_t left = b->max_wait - (now - oldest);
                    /* A custom clock is re-read every millisecond. */
                    if (b->clock && left > 1000000u) left = 1000000u;
                    b_timed_wait(b, left);
                }
            } else {
                pthread_cond_wait(&b->not_empty, &b->mu);
            }
        }
        if (!why) break;
        size_t n = b->count < b->batch ? b->count : b->batch;
        for (size_t i = 0; i < n; i++) {
            size_t k = (b->head + i) % b->cap;
            b->out[i] = b->items[k];
            b->out_added[i] = b->added[k];
        }
        b->head = (b->head + n) % b->cap;
        b->count -= n;
        pthread_cond_broadcast(&b->not_full);
        /* Counted as the batch is handed over, so a handler that signals
         * someone already finds its batch in the stats. */
        uint64_t start = b_now(b);
        for (size_t i = 0; i < n; i++)
            hone__hist_add(&b->hist, start > b->out_added[i] ? start - b->out_added[i] : 0);
        b->st.items += n;
        b->st.batches++;
        if (why == 1) b->st.full_flushes++;
        else if (why == 2) b->st.timeout_flushes++;
        else b->st.close_flushes++;
        pthread_mutex_unlock(&b->mu);

        b->handler(b->ctx, b->out, n);

        pthread_mutex_lock(&b->mu);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

static void b_destroy(hone_batcher *b) {
    const hone_allocator *a = b->alloc;
    hone_free(a, b->items);
    hone_free(a, b->added);
    hone_free(a, b->out);
    hone_free(a, b->out_added);
    hone_free(a, b);
}

int hone_batcher_new(hone_batcher **out, hone_batch_fn handler, void *ctx,
                     const hone_batcher_opts *opts, hone_error *err) {
    if (!out) return hone_error_set(err, HONE_EINVAL, "hone_batcher_new: out is NULL");
    *out = NULL;
    if (!handler) return hone_error_set(err, HONE_EINVAL, "hone_batcher_new: handler is NULL");
    hone_batcher_opts o = {0};
    if (opts) o = *opts;
    /* Zero fields come from the settings table; a malformed variable is
     * refused here (later re-reads ignore it, see b_refresh). */
    int batch_auto = !o.batch_size, wait_auto = !o.max_wait_ns;
    uint64_t gen = hone_settings_generation();
    if (o.component && strlen(o.component) >= sizeof ((hone_batcher *)0)->component)
        return hone_error_set(err, HONE_EINVAL,
                              "hone_batcher_new: component name '%.40s...' is too long", o.component);
    if (batch_auto) {
        hone_setting_state st;
        int rc = hone_setting_get(HONE_SET_BATCH_SIZE, o.component, &st, err);
        if (rc) return rc;
        o.batch_size = st.value.u > SIZE_MAX / 16 ? SIZE_MAX / 16 : (size_t)st.value.u;
    }
    if (wait_auto) {
        hone_setting_state st;
        int rc = hone_setting_get(HONE_SET_BATCH_MAX_WAIT, NULL, &st, err);
        if (rc) return rc;
        o.max_wait_ns = st.value.u;
    }
    /* A batch size the caller did not choose fits the capacity it did. */
    if (batch_auto && o.capacity && o.capacity < o.batch_size) o.batch_size = o.capacity;
    if (!o.capacity) o.capacity = o.batch_size * 16;
    if (o.capacity < o.batch_size)
        return hone_error_set(err, HONE_EINVAL,
                              "hone_batcher_new: capacity %zu is smaller than batch size %zu",
                              o.capacity, o.batch_size);
    hone_batcher *b = hone_calloc(o.alloc, 1, sizeof *b);
    if (!b) return hone_error_set(err, HONE_ENOMEM, "hone_batcher_new: out of memory");
    b->alloc = o.alloc;
    b->handler = handler;
    b->ctx = ctx;
    b->batch = o.batch_size;
    b->cap = o.capacity;
    b->max_wait = o.max_wait_ns;
    b->clock = o.clock;
    b->clock_ctx = o.clock_ctx;
    b->batch_auto = batch_auto;
    b->wait_auto = wait_auto;
    b->set_gen = gen;
    if (o.component) snprintf(b->component, sizeof b->component, "%s", o.component);
    /* A batch size the table may raise later can reach the capacity. */
    size_t outn = batch_auto ? b->cap : b->batch;
    b->items = hone_calloc(o.alloc, b->cap, sizeof *b->items);
    b->added = hone_calloc(o.alloc, b->cap, sizeof *b->added);
    b->out = hone_calloc(o.alloc, outn, sizeof *b->out);
    b->out_added = hone_calloc(o.alloc, outn, sizeof *b->out_added);
    if (!b->items || !b->added || !b->out || !b->out_added) {
        b_destroy(b);
        return hone_error_set(err, HONE_ENOMEM, "hone_batcher_new: out of memory");
    }
    pthread_mutex_init(&b->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->not_empty, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&b->not_full, NULL);
    if (pthread_create(&b->thread, NULL, flusher, b)) {
        pthread_mutex_destroy(&b->mu);
        pthread_cond_destroy(&b->not_empty);
        pthread_cond_destroy(&b->not_full);
        b_destroy(b);
        return hone_error_set(err, HONE_EIO, "hone_batcher_new: cannot start flushing thread");
    }
    pthread_setname_np(b->thread, "hone-batch");
    *out = b;
    return HONE_OK;
}

int hone_batcher_add(hone_batcher *b, void *item, int flags) {
    if (!b || (flags != HONE_BATCH_BLOCK && flags != HONE_BATCH_NONBLOCK)) return HONE_EINVAL;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        if (b->closing) {
            pthread_mutex_unlock(&b->mu);
            return HONE_ECLOSED;
        }
        if (b->count < b->cap) break;
        if (flags == HONE_BATCH_NONBLOCK) {
            b->st.rejected++;
            pthread_mutex_unlock(&b->mu);
            return HONE_EBUSY;
        }
        pthread_cond_wait(&b->not_full, &b->mu);
    }
    size_t k = (b->head + b->count) % b->cap;
    b->items[k] = item;
    b->added[k] = b_now(b);
    b->count++;
    /* Wake the flusher for the first item (it starts the max-wait timer)
     * and when a batch is full; items in between need no wake-up. The
     * batch size may have moved since the flusher last looked (b_refresh):
     * a full batch is "at least batch items". */
    b_refresh(b);
    if (b->count == 1 || b->count >= b->batch) pthread_cond_signal(&b->not_empty);
    pthread_mutex_unlock(&b->mu);
    return HONE_OK;
}

void hone_batcher_close(hone_batcher *b) {
    if (!b) return;
    pthread_mutex_lock(&b->mu);
    int join = !b->closing;
    b->closing = 1;
    pthread_cond_broadcast(&b->not_empty);
    pthread_cond_broadcast(&b->not_full);
    pthread_mutex_unlock(&b->mu);
    if (join) {
        pthread_join(b->thread, NULL);
        pthread_mutex_lock(&b->mu);
        b->closed = 1;
        pthread_mutex_unlock(&b->mu);
    }
}

void hone_batcher_stats_get(hone_batcher *b, hone_batcher_stats *out) {
    if (!b || !out) return;
    pthread_mutex_lock(&b->mu);
    *out = b->st;
    out->mean_batch = b->st.batches ? (double)b->st.items / (double)b->st.batches : 0;
    out->latency_p50_ns = hone__hist_quantile(&b->hist, 0.50);
    out->latency_p99_ns = hone__hist_quantile(&b->hist, 0.99);
    out->latency_max_ns = (double)b->hist.max;
    pthread_mutex_unlock(&b->mu);
}

void hone_batcher_free(hone_batcher *b) {
    if (!b) return;
    hone_batcher_close(b);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->not_empty);
    pthread_cond_destroy(&b->not_full);
    b_destroy(b);
}
