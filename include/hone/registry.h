/* hone/registry.h - a registry of shared resources (a model, an index, a
 * parsed dataset): each is loaded once however many threads ask for it at
 * the same time, shared through counted handles, and unloaded when nobody
 * has held it for a while or when a byte budget needs the room. What Python
 * programs do with a weak-value dictionary, plus the single flight and the
 * grace period that a weak reference lacks (docs/design/registry.md).
 *
 * Life of a resource, under one key (any bytes):
 * - The first hone_registry_acquire of a key calls the loader given with
 *   it, without holding the registry's lock. Every acquire of that key made
 *   while the load runs waits for it and shares its outcome: the same
 *   resource, or the same error (single flight). A failed load is not
 *   remembered: the next acquire calls a loader again.
 * - Each successful acquire gives one handle count; hone_registry_release
 *   gives it back. While any count is out the resource is never unloaded,
 *   whatever the budget says: the budget is then exceeded, and the stats
 *   say by how much.
 * - A resource nobody holds stays loaded (a later acquire shares it with
 *   no load) until it has been unheld for idle_ns, or until the byte budget
 *   needs room, unheld resources going least recently released first. Then
 *   its unload callback runs, once, outside the registry's lock.
 *
 * Time is only looked at when the registry is called: acquire, release,
 * hone_registry_sweep and hone_registry_unload unload what is due. The
 * registry starts no thread; a program that wants idle resources unloaded
 * while it makes no other call runs hone_registry_sweep from a timer (an
 * exec pool task, a server tick), every idle_ns / 4 or so.
 *
 * Threads: every call is thread-safe. One mutex and one condition variable
 * per registry: resources are few and expensive, so the lock is held only
 * for table updates, never while a loader or an unload callback runs.
 */
#ifndef HONE_REGISTRY_H
#define HONE_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "hone/core.h"
#include "hone/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hone_registry hone_registry;
/* A counted reference to one loaded resource. Every acquire of one key
 * returns the same handle pointer while the resource stays loaded; each
 * successful acquire must be matched by exactly one release. */
typedef struct hone_registry_handle hone_registry_handle;

/* Why a resource was unloaded (stats count each). */
typedef enum hone_registry_reason {
    HONE_REGISTRY_UNLOAD_IDLE = 0,     /* unheld for idle_ns */
    HONE_REGISTRY_UNLOAD_BUDGET = 1,   /* max_bytes needed the room */
    HONE_REGISTRY_UNLOAD_EXPLICIT = 2, /* hone_registry_unload, hone_registry_free */
    HONE_REGISTRY_REASON_COUNT
} hone_registry_reason;

/* A clock in nanoseconds on any monotonic scale; thread-safe. */
typedef uint64_t (*hone_registry_clock_fn)(void *ctx);

typedef struct hone_registry_opts {
    /* A resource nobody holds is unloaded once it has been unheld this
     * long. 0: 5 minutes (long enough that a burst of requests a few
     * seconds apart reuses one load; short enough that a model used once
     * an hour does not sit in memory). UINT64_MAX: never for idleness. */
    uint64_t idle_ns;
    /* Budget over the bytes of loaded resources, as their loaders report
     * them. 0: no budget. Held resources are never unloaded for it. */
    uint64_t max_bytes;
    /* NULL: hone_monotonic_ns. Called with the registry's lock held, so it
     * must not call into the registry. */
    hone_registry_clock_fn clock;
    void *clock_ctx;
    const hone_allocator *alloc; /* NULL: the default */
} hone_registry_opts;

/* How to load and unload the resource of a key. Given with each acquire:
 * one registry can hold resources of different kinds (a model and its
 * tokenizer). Only the loader of the acquire that starts a load is used;
 * the registry copies the struct, and calls that copy's unload later, so
 * ctx must stay valid until that resource is unloaded (at the latest in
 * hone_registry_free, or in the last release after it). */
typedef struct hone_registry_loader {
    /* Loads the resource of key (klen bytes; valid during the call): sets
     * *resource (any pointer, NULL included) and *bytes (its size for the
     * budget; 0 if it should not count) and returns HONE_OK, or returns a
     * negative hone status (positive values are reported as HONE_EFAIL),
     * which every acquirer waiting for this load receives. Runs without
     * the registry's lock on the first acquiring thread; it may acquire
     * other keys (dependencies), but not its own key (that acquire returns
     * HONE_ESTATE) nor, through another thread, a key whose loader waits
     * for this one (a cycle deadlocks). Required. */
    int (*load)(void *ctx, const void *key, size_t klen, void **resource, uint64_t *bytes);
    /* Releases what load made; called exactly once per successful load,
     * without the registry's lock, on whichever thread unloads it. It may
     * release handles of other keys it held (a model its tokenizer).
     * NULL: nothing to release. */
    void (*unload)(void *ctx, void *resource);
    void *ctx;
} hone_registry_loader;

/* Makes an empty registry. opts NULL means every default. Returns HONE_OK;
 * HONE_EINVAL (out NULL); HONE_ENOMEM; HONE_EIO (the mutex or condition
 * variable could not be made). On failure *out is NULL and nothing leaks. */
HONE_API int hone_registry_new(hone_registry **out, const hone_registry_opts *opts);

/* Unloads every resource nobody holds (reason explicit) and frees the
 * registry. NULL is a no-op. No other thread may call the registry during
 * or after this call, except to release handles it already holds.
 * Freeing with handles out is a usage error (a handle was leaked or the
 * registry is freed too early); hone logs a warning naming the count and
 * does not unload those resources: each stays valid until its last
 * release, which unloads it, and the last of them frees the registry. */
HONE_API void hone_registry_free(hone_registry *reg);

/* Gets a handle to the resource of key (klen bytes, copied; klen may be 0),
 * loading it with loader if it is not loaded or loading. Blocks while
 * another thread's load of the key runs. Unloads, first, what is due for
 * idleness; after a load, what the budget needs.
 * Returns HONE_OK with *out set; HONE_EINVAL (reg, loader, loader->load or
 * out NULL, key NULL with klen > 0); HONE_ENOMEM (the registry's entry
 * could not be allocated: the loader was not called); HONE_ESTATE (called
 * from the key's own loader); or the status the loader returned, to this
 * call and every acquire that waited for that load. On any error *out is
 * NULL and no count is taken. Thread-safe. */
HONE_API int hone_registry_acquire(hone_registry *reg, const void *key, size_t klen,
                                   const hone_registry_loader *loader,
                                   hone_registry_handle **out);

/* The resource the loader made; valid until this handle count is
 * released. NULL for a NULL handle. Thread-safe; cannot fail. */
HONE_API void *hone_registry_handle_get(const hone_registry_handle *h);
/* The bytes the loader reported for it. 0 for a NULL handle. */
HONE_API uint64_t hone_registry_handle_bytes(const hone_registry_handle *h);

/* Gives back one count of h. When it was the last, the resource starts its
 * idle time (it is unloaded here only if the budget is exceeded or the
 * registry was freed). Also unloads what is due for idleness. Releasing
 * more counts than were acquired is undefined. NULL is a no-op.
 * Thread-safe; cannot fail. */
HONE_API void hone_registry_release(hone_registry_handle *h);

/* Unloads every unheld resource whose idle time has passed, and any the
 * budget needs. Returns how many were unloaded (>= 0), or HONE_EINVAL
 * (reg NULL). Thread-safe. */
HONE_API int hone_registry_sweep(hone_registry *reg);

/* Unloads the resource of key now if it is loaded and nobody holds it.
 * Returns HONE_OK; HONE_ENOTFOUND (not loaded, or still loading);
 * HONE_EBUSY (held: nothing is done); HONE_EINVAL. Thread-safe. */
HONE_API int hone_registry_unload(hone_registry *reg, const void *key, size_t klen);

typedef struct hone_registry_stats {
    /* Counts since the registry was made. */
    uint64_t loads;         /* loader calls */
    uint64_t load_failures; /* loader calls that returned an error */
    uint64_t shares;        /* acquires served by a resource another acquire loaded
                             * (already loaded, or loading and then successful) */
    uint64_t unloads[HONE_REGISTRY_REASON_COUNT]; /* by hone_registry_reason */
    uint64_t over_budget;   /* loads that left bytes above max_bytes because
                             * everything else was held or loading */
    /* The state now. */
    uint64_t resources;     /* loaded */
    uint64_t loading;       /* loads running */
    uint64_t waiting;       /* acquires waiting for a running load */
    uint64_t handles;       /* handle counts out */
    uint64_t bytes;         /* of loaded resources */
    uint64_t held_bytes;    /* of loaded resources with a handle out */
    uint64_t max_bytes;     /* the budget; 0: none */
    uint64_t excess_bytes;  /* bytes above max_bytes now (0 within budget) */
    uint64_t idle_ns;       /* the idle time in effect */
    /* The clock time at which the least recently released resource becomes
     * due for idleness; UINT64_MAX when nothing is unheld. A timer can
     * sleep until then before calling hone_registry_sweep. */
    uint64_t next_idle_ns;
} hone_registry_stats;

/* Fills *st. Returns HONE_OK or HONE_EINVAL. Thread-safe. */
HONE_API int hone_registry_stats_get(hone_registry *reg, hone_registry_stats *st);

/* Sets the registry's figures in a metrics registry, for Prometheus
 * exposition (hone_metrics_expose), every series labelled registry="name":
 *   counters: hone_registry_loads_total, hone_registry_load_failures_total,
 *   hone_registry_shares_total, hone_registry_unloads_total{reason=
 *   "idle"|"budget"|"explicit"}, hone_registry_over_budget_total;
 *   gauges: hone_registry_resources, hone_registry_loading,
 *   hone_registry_handles, hone_registry_bytes, hone_registry_held_bytes,
 *   hone_registry_max_bytes (0: none), hone_registry_excess_bytes.
 * Call it before each exposition. Each registry exported to one metrics
 * registry needs its own name. Returns HONE_OK; HONE_EINVAL (NULL argument
 * or empty name); HONE_ERANGE (a counter would go down: two registries
 * share a name); a status of hone_metrics_counter/gauge (err says which
 * series); HONE_ENOMEM. Thread-safe. */
HONE_API int hone_registry_metrics_update(hone_registry *reg, hone_metrics *m, const char *name,
                                          hone_error *err);

#ifdef __cplusplus
}
#endif

#endif /* HONE_REGISTRY_H */
