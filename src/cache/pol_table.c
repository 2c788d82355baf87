/* pol_table.c - every hone_cache_policy value, indexed by it: its name and
 * what runs it (hone__policy_info). The one list of the policies' names;
 * hone__pol_new and the simulator find a policy here, by kind. */
#include <string.h>

#include "cache/pol_internal.h"
#include "cache/simpol.h"

static const hone__policy_info policies[HONE_CACHE_POLICY_ALL_COUNT] = {
    [HONE_CACHE_POLICY_HONE] = {"hone", &hone__pol_hone_ops, NULL, NULL},
    [HONE_CACHE_POLICY_LRU] = {"lru", &hone__pol_lru_ops, NULL, NULL},
    [HONE_CACHE_POLICY_ARC] = {"arc", &hone__pol_arc_ops, NULL, NULL},
    [HONE_CACHE_POLICY_S3FIFO] = {"s3fifo", &hone__pol_s3fifo_ops, NULL, NULL},
    [HONE_CACHE_POLICY_LIRS] = {"lirs", NULL, &hone__simpol_lirs, NULL},
    [HONE_CACHE_POLICY_SIEVE] = {"sieve", NULL, &hone__simpol_sieve, NULL},
    [HONE_CACHE_POLICY_WTINYLFU] = {"wtinylfu", NULL, &hone__simpol_wtinylfu, NULL},
    [HONE_CACHE_POLICY_BELADY] = {"belady", NULL, NULL, hone__sim_belady},
};

const hone__policy_info *hone__policy_info_of(int kind) {
    if (kind < 0 || kind >= HONE_CACHE_POLICY_ALL_COUNT) return NULL;
    return &policies[kind];
}

const char *hone_cache_policy_name(int policy) {
    const hone__policy_info *info = hone__policy_info_of(policy);
    return info ? info->name : NULL;
}

int hone_cache_policy_parse(const char *name, int *out, hone_error *err) {
    if (name && !strcmp(name, "s3-fifo")) name = "s3fifo";
    if (name && !strcmp(name, "w-tinylfu")) name = "wtinylfu";
    const char *names[HONE_CACHE_POLICY_ALL_COUNT + 1];
    for (int i = 0; i < HONE_CACHE_POLICY_ALL_COUNT; i++) names[i] = policies[i].name;
    names[HONE_CACHE_POLICY_ALL_COUNT] = NULL;
    return hone_parse_enum("policy", name ? name : "", names, out, err);
}
