/* sim.c - replays key traces through a policy and counts object hits. */
#include <string.h>

#include "cache/policy.h"
#include "hone/cache.h"

struct hone_cache_sim {
    const hone_allocator *alloc;
    hone__pol *pol;
    uint64_t hits, accesses;
};

static const char *const policy_names[] = {"hone", "lru", "arc", "s3fifo", NULL};

const char *hone_cache_policy_name(int policy) {
    if (policy < 0 || policy >= HONE_CACHE_POLICY_COUNT) return NULL;
    return policy_names[policy];
}

int hone_cache_policy_parse(const char *name, int *out, hone_error *err) {
    if (name && !strcmp(name, "s3-fifo")) name = "s3fifo";
    return hone_parse_enum("policy", name ? name : "", policy_names, out, err);
}

int hone_cache_sim_new(hone_cache_sim **out, int policy, uint64_t capacity,
                       const hone_allocator *alloc) {
    *out = NULL;
    hone_cache_sim *s = hone_calloc(alloc, 1, sizeof *s);
    if (!s) return HONE_ENOMEM;
    s->alloc = alloc;
    int rc = hone__pol_new(&s->pol, policy, capacity, 0, alloc);
    if (rc) {
        hone_free(alloc, s);
        return rc;
    }
    *out = s;
    return HONE_OK;
}

int hone_cache_sim_access(hone_cache_sim *s, uint64_t key) {
    int r = hone__pol_access(s->pol, key);
    if (r < 0) return r;
    s->accesses++;
    s->hits += (uint64_t)r;
    return r;
}

void hone_cache_sim_counts(const hone_cache_sim *s, uint64_t *hits, uint64_t *accesses) {
    if (hits) *hits = s->hits;
    if (accesses) *accesses = s->accesses;
}

double hone_cache_sim_hit_percent(const hone_cache_sim *s) {
    return s->accesses ? 100.0 * (double)s->hits / (double)s->accesses : 0.0;
}

void hone_cache_sim_free(hone_cache_sim *s) {
    if (!s) return;
    hone__pol_free(s->pol);
    hone_free(s->alloc, s);
}

int hone_cache_sim_run(int policy, uint64_t capacity, const uint64_t *keys, size_t n,
                       const hone_allocator *alloc, double *hit_percent) {
    hone_cache_sim *s;
    int rc = hone_cache_sim_new(&s, policy, capacity, alloc);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) {
        rc = hone_cache_sim_access(s, keys[i]);
        if (rc < 0) break;
    }
    *hit_percent = hone_cache_sim_hit_percent(s);
    hone_cache_sim_free(s);
    return rc < 0 ? rc : HONE_OK;
}
