/* simcache_demo.c - the `simcache` step of `hone demo`: a similarity cache
 * in front of an expensive call serves reworded questions, refuses the
 * ones that differ where it matters (a number, a version, a negation, a
 * tenant), and says why for each; then a resource registry shares one
 * loaded "model" between users and unloads it once nobody holds it. */
#include "cli.h"

#include <string.h>

/* A support bot's answered questions (the "expensive calls" already made). */
static const char *const faq[][2] = {
    {"How do I reset the password of my account?", "Settings > Security > Reset password."},
    {"How much memory does the build need with 4 parallel jobs?", "About 6 GB with -j4."},
    {"Is two-factor authentication enabled for new accounts?", "Yes, by default since 2024."},
    {"How do I upgrade the agent to version 2.1?", "apt install agent=2.1.*"},
    {"Where are the logs of the sync service kept?", "/var/log/sync/ on every node."},
};

/* Queries: reworded ones that must be served, and hard negatives that keep
 * most words but must never be. */
static const struct {
    const char *ns, *q;
    int must_hit;
} queries[] = {
    {"acme", "How do I reset the password of my account?", 1},
    {"acme", "how do i reset the password for my account", 1},
    {"acme", "Where are the logs of the sync service kept ?", 1},
    {"acme", "How much memory does the build need with 8 parallel jobs?", 0},
    {"acme", "Is two-factor authentication not enabled for new accounts?", 0},
    {"acme", "How do I upgrade the agent to version 2.2?", 0},
    {"globex", "How do I reset the password of my account?", 0},
};

typedef struct model {
    int loads;
} model;

static int load_model(void *ctx, const void *key, size_t klen, void **res, uint64_t *bytes) {
    (void)key;
    (void)klen;
    model *m = ctx;
    m->loads++;
    *res = m;
    *bytes = 512u << 20; /* what a real model would say it holds */
    return HONE_OK;
}

static void unload_model(void *ctx, void *res) {
    (void)ctx;
    (void)res;
}

int cli_demo_simcache(void) {
    hone_simcache *c = NULL;
    hone_error err = {0};
    hone_simcache_opts o = {0};
    if (hone_simcache_new(&c, &o, &err) != HONE_OK) {
        fprintf(stderr, "simcache demo: %s\n", err.msg);
        return 1;
    }
    int fail = 0;
    for (size_t i = 0; i < sizeof faq / sizeof faq[0]; i++)
        if (hone_simcache_put(c, "acme", faq[i][0], strlen(faq[i][0]), faq[i][1], strlen(faq[i][1]))) fail = 1;
    printf("%zu answered questions cached for tenant acme (built-in n-gram scorer, threshold %.2f)\n",
           sizeof faq / sizeof faq[0], hone_simcache_threshold(c));
    hone_buf ans, line;
    hone_buf_init(&ans, NULL);
    hone_buf_init(&line, NULL);
    int shown_hit = 0, shown_refusal = 0;
    for (size_t i = 0; i < sizeof queries / sizeof queries[0] && !fail; i++) {
        hone_sim_result why;
        hone_buf_clear(&ans);
        int rc = hone_simcache_get(c, queries[i].ns, queries[i].q, strlen(queries[i].q), &ans, &why);
        int hit = rc == HONE_OK;
        printf("  %-6s %-9s %.3f  [%s] %s\n", hit ? "served" : "no", hone_sim_kind_name(why.kind),
               why.score, queries[i].ns, queries[i].q);
        if (hit != queries[i].must_hit) {
            fprintf(stderr, "simcache demo: '%s' was %s, expected %s\n", queries[i].q, hit ? "served" : "not served",
                    queries[i].must_hit ? "served" : "refused");
            fail = 1;
        }
        if ((hit && why.kind == HONE_SIM_SIMILAR && !shown_hit) || (!hit && why.kind == HONE_SIM_REFUSED && !shown_refusal)) {
            hone_buf_clear(&line);
            if (hone_sim_result_format(&why, &line) == HONE_OK && line.data) printf("          why: %s\n", line.data);
            if (hit) shown_hit = 1;
            else shown_refusal = 1;
        }
    }
    hone_simcache_stats st;
    hone_simcache_stats_get(c, &st);
    printf("lookups: %llu exact, %llu similar, %llu refused by a gate, %llu near misses, %llu misses\n",
           (unsigned long long)st.exact_hits, (unsigned long long)st.similar_hits, (unsigned long long)st.refused,
           (unsigned long long)st.near_misses, (unsigned long long)st.misses);
    hone_buf_free(&ans);
    hone_buf_free(&line);
    hone_simcache_free(c);

    /* The registry: three users of one model, loaded once, unloaded when
     * the last lets go and the idle time has passed. */
    hone_registry *reg = NULL;
    hone_registry_opts ro = {.idle_ns = 1};
    model m = {0};
    if (!fail && hone_registry_new(&reg, &ro) != HONE_OK) {
        fprintf(stderr, "simcache demo: registry: out of memory\n");
        fail = 1;
    }
    if (!fail) {
        hone_registry_loader ld = {.load = load_model, .unload = unload_model, .ctx = &m};
        hone_registry_handle *h[3] = {0};
        for (int i = 0; i < 3 && !fail; i++)
            if (hone_registry_acquire(reg, "model:small", 11, &ld, &h[i]) != HONE_OK) fail = 1;
        hone_registry_stats rs;
        hone_registry_stats_get(reg, &rs);
        printf("registry: 3 users of model:small, %llu load, %llu shares, %llu bytes held\n",
               (unsigned long long)rs.loads, (unsigned long long)rs.shares, (unsigned long long)rs.bytes);
        for (int i = 0; i < 3; i++)
            if (h[i]) hone_registry_release(h[i]);
        hone_registry_sweep(reg);
        hone_registry_stats_get(reg, &rs);
        printf("after the last release and its idle time: %llu resources loaded, %llu unloaded\n",
               (unsigned long long)rs.resources, (unsigned long long)rs.unloads[HONE_REGISTRY_UNLOAD_IDLE]);
        if (m.loads != 1 || rs.resources != 0) {
            fprintf(stderr, "simcache demo: expected one load and an unload, got %d loads, %llu loaded\n", m.loads,
                    (unsigned long long)rs.resources);
            fail = 1;
        }
    }
    hone_registry_free(reg);
    return fail;
}
