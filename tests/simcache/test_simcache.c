/* test_simcache.c - the similarity cache: exact and similar hits with their
 * explanations, each gate refusing its hard negative and passing when off,
 * near misses, feedback, the byte budget, TTLs, caller vectors, stats and
 * metrics, out-of-memory at every allocation, and concurrent use. */
#include <ctype.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

static hone_simcache *make(const hone_simcache_opts *o) {
    hone_simcache *c = NULL;
    hone_error err = {0};
    int rc = hone_simcache_new(&c, o, &err);
    if (rc) fail_msg("hone_simcache_new: %d %s", rc, err.msg);
    return c;
}

static int put_s(hone_simcache *c, const char *ns, const char *k, const char *a) {
    return hone_simcache_put(c, ns, k, strlen(k), a, strlen(a));
}

static int get_s(hone_simcache *c, const char *ns, const char *q, hone_buf *b,
                 hone_sim_result *r) {
    return hone_simcache_get(c, ns, q, strlen(q), b, r);
}

static void test_exact_hit(void **state) {
    (void)state;
    hone_simcache *c = make(NULL);
    assert_int_equal(put_s(c, "t1", "What is the capital of France?", "Paris"), HONE_OK);
    hone_buf b = {0};
    hone_sim_result r;
    assert_int_equal(get_s(c, "t1", "What is the capital of France?", &b, &r), HONE_OK);
    assert_int_equal(r.kind, HONE_SIM_EXACT);
    assert_string_equal(b.data, "Paris");
    assert_string_equal(r.key, "What is the capital of France?");
    assert_true(r.entry_id > 0);
    assert_string_equal(r.scorer, "ngram/1");
    /* The same text in another namespace is not an exact hit. */
    assert_int_equal(get_s(c, "t2", "What is the capital of France?", NULL, &r), HONE_ENOTFOUND);
    assert_int_equal(r.kind, HONE_SIM_MISS);
    /* A put of the same key replaces the answer. */
    assert_int_equal(put_s(c, "t1", "What is the capital of France?", "Paris, France"), HONE_OK);
    hone_buf_clear(&b);
    assert_int_equal(get_s(c, "t1", "What is the capital of France?", &b, &r), HONE_OK);
    assert_string_equal(b.data, "Paris, France");
    hone_simcache_stats st;
    hone_simcache_stats_get(c, &st);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.exact_hits, 2);
    assert_int_equal(hone_simcache_delete(c, "t1", "What is the capital of France?", 30), HONE_OK);
    assert_int_equal(get_s(c, "t1", "What is the capital of France?", NULL, &r), HONE_ENOTFOUND);
    hone_simcache_stats_get(c, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0);
    hone_buf_free(&b);
    hone_simcache_free(c);
}

/* ------------------------------------------------------------------ */
/* mock_data.json                                                      */
/* ------------------------------------------------------------------ */

static json_t *load_mock(void) {
    const char *dir = getenv("TEST_SHARED_DIR");
    char path[1024];
    if (dir) snprintf(path, sizeof path, "%s/similarity/mock_data.json", dir);
    else snprintf(path, sizeof path, "%s/../shared/similarity/mock_data.json", HONE_SOURCE_DIR);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) fail_msg("cannot read %s: %s", path, je.text);
    return root;
}

static const char *field(json_t *root, size_t i, const char *k) {
    return json_string_value(json_object_get(json_array_get(root, i), k));
}

/* Word-set Jaccard similarity: whether two origins of the data are the
 * same question (the data repeats some in nearly the same words). */
static double jaccard(const char *a, const char *b) {
    char wa[256][32], wb[256][32];
    size_t na = 0, nb = 0;
    const char *src[2] = {a, b};
    for (int t = 0; t < 2; t++) {
        char(*w)[32] = t ? wb : wa;
        size_t *n = t ? &nb : &na;
        const char *p = src[t];
        while (*p && *n < 256) {
            while (*p && !isalnum((unsigned char)*p)) p++;
            size_t l = 0;
            char tmp[32];
            while (*p && isalnum((unsigned char)*p)) {
                if (l < 31) tmp[l++] = (char)tolower((unsigned char)*p);
                p++;
            }
            if (!l) break;
            tmp[l] = 0;
            int dup = 0;
            for (size_t i = 0; i < *n; i++) dup |= !strcmp(w[i], tmp);
            if (!dup) strcpy(w[(*n)++], tmp);
        }
    }
    size_t inter = 0;
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j < nb; j++) inter += !strcmp(wa[i], wb[j]);
    size_t uni = na + nb - inter;
    return uni ? (double)inter / (double)uni : 1.0;
}

/* All origins as entries, all paraphrases as queries, at the default
 * settings: paraphrases are served with an explanation, and no query is
 * served the answer of another question. Prints the figures. */
static void test_mock_data_paraphrases(void **state) {
    (void)state;
    json_t *root = load_mock();
    size_t n = json_array_size(root);
    assert_true(n >= 999);
    hone_simcache *c = make(NULL);
    for (size_t i = 0; i < n; i++) {
        const char *o = field(root, i, "origin");
        char ans[32];
        snprintf(ans, sizeof ans, "%zu", i);
        /* Duplicate origins keep their first answer. */
        if (hone_simcache_get(c, "", o, strlen(o), NULL, NULL) == HONE_OK) continue;
        assert_int_equal(put_s(c, "", o, ans), HONE_OK);
    }
    size_t right = 0, wrong_dup = 0, wrong = 0, refused = 0, near = 0, miss = 0;
    int shown = 0;
    hone_buf b = {0}, line = {0};
    for (size_t i = 0; i < n; i++) {
        const char *q = field(root, i, "similar");
        hone_sim_result r;
        hone_buf_clear(&b);
        int rc = get_s(c, "", q, &b, &r);
        if (rc == HONE_OK) {
            const char *served = field(root, (size_t)atoi(b.data), "origin");
            if (!strcmp(served, field(root, i, "origin"))) {
                right++;
                if (!shown && r.kind == HONE_SIM_SIMILAR) {
                    shown = 1;
                    assert_int_equal(hone_sim_result_format(&r, &line), HONE_OK);
                    print_message("  a paraphrase hit: %s\n", line.data);
                    assert_non_null(strstr(line.data, "similar score="));
                    assert_non_null(strstr(line.data, "numbers:pass"));
                    assert_true(r.score >= r.threshold);
                }
            } else if (jaccard(served, field(root, i, "origin")) >= 0.5) {
                wrong_dup++;
            } else {
                wrong++;
                print_message("  WRONG hit %.3f: %s -> %s\n", r.score, q, served);
            }
        } else {
            assert_int_equal(rc, HONE_ENOTFOUND);
            refused += r.kind == HONE_SIM_REFUSED;
            near += r.kind == HONE_SIM_NEAR_MISS;
            miss += r.kind == HONE_SIM_MISS;
        }
    }
    print_message("  mock_data at threshold %.2f: %zu/%zu paraphrases served their own origin, "
                  "%zu served a near-duplicate origin, %zu another question; %zu refused, %zu "
                  "near misses, %zu misses\n",
                  hone_simcache_threshold(c), right, n, wrong_dup, wrong, refused, near, miss);
    assert_int_equal(wrong, 0);
    assert_true(shown);
    assert_true(right >= 50);
    /* Other origins as queries (each origin's entry removed first): none
     * may be served, except near-duplicates of itself. */
    size_t other_hits = 0;
    for (size_t i = 0; i < n; i += 1) {
        const char *o = field(root, i, "origin");
        char ans[32];
        snprintf(ans, sizeof ans, "%zu", i);
        int had = hone_simcache_delete(c, "", o, strlen(o)) == HONE_OK;
        hone_buf_clear(&b);
        hone_sim_result r;
        if (get_s(c, "", o, &b, &r) == HONE_OK) {
            const char *served = field(root, (size_t)atoi(b.data), "origin");
            if (strcmp(served, o) && jaccard(served, o) < 0.5) {
                other_hits++;
                print_message("  WRONG other-origin hit %.3f: %s -> %s\n", r.score, o, served);
            }
        }
        if (had) assert_int_equal(put_s(c, "", o, ans), HONE_OK);
    }
    print_message("  other origins as queries (own entry removed): %zu served another question\n",
                  other_hits);
    assert_int_equal(other_hits, 0);
    hone_buf_free(&b);
    hone_buf_free(&line);
    hone_simcache_free(c);
    json_decref(root);
}

/* ------------------------------------------------------------------ */
/* Gates                                                               */
/* ------------------------------------------------------------------ */

typedef struct hard_case {
    const char *key, *query;
    int gate;
    const char *detail; /* a substring of the failing gate's detail */
} hard_case;

static const hard_case hard[] = {
    {"How do I install version 2.1?", "How do I install version 2.2?", HONE_SIM_GATE_NUMBERS,
     "numbers differ: 2.2 vs 2.1"},
    {"I have 3 GPUs, which model fits in memory?", "I have 4 GPUs, which model fits in memory?",
     HONE_SIM_GATE_NUMBERS, "numbers differ: 4 vs 3"},
    {"Where is config_dev.yaml loaded from?", "Where is config_prod.yaml loaded from?",
     HONE_SIM_GATE_IDENTIFIERS, "config_prod.yaml vs config_dev.yaml"},
    {"Is the cache enabled by default?", "Is the cache not enabled by default?",
     HONE_SIM_GATE_NEGATION, "negation differs"},
    {"Why doesn't the server start?", "Why does the server start?", HONE_SIM_GATE_NEGATION,
     "negation differs"},
    {"How do I enable request logging?", "How do I disable request logging?",
     HONE_SIM_GATE_NEGATION, "polarity differs: disable vs enable"},
    /* Code in backticks, a quoted word and a call are identifiers; a name
     * is compared as a whole word, not as a part of a dotted one. */
    {"Can cloud storage be read through a `fsspec` FileSystem?",
     "Can cloud storage be read through a `gcsfs` FileSystem?", HONE_SIM_GATE_IDENTIFIERS,
     "identifiers differ: gcsfs vs fsspec"},
    {"Index the dataset by row, then take the \"image\" column.",
     "Index the dataset by row, then take the \"label\" column.", HONE_SIM_GATE_IDENTIFIERS,
     "identifiers differ: label vs image"},
    {"Index the dataset by row, then take the \u2018image\u2019 column.",
     "Index the dataset by row, then take the \u2018label\u2019 column.", HONE_SIM_GATE_IDENTIFIERS,
     "identifiers differ: label vs image"},
    {"What does split() return on a dataset?", "What does shard() return on a dataset?",
     HONE_SIM_GATE_IDENTIFIERS, "identifiers differ: shard vs split"},
    {"What are the parameters of download_and_prepare()?",
     "What are the parameters of Metric._download_and_prepare()?", HONE_SIM_GATE_IDENTIFIERS,
     "identifiers differ: Metric._download_and_prepare vs download_and_prepare"},
    /* Morphological negation: the same word with a negating prefix. */
    {"It is possible to resume an interrupted download.",
     "It is impossible to resume an interrupted download.", HONE_SIM_GATE_NEGATION,
     "polarity differs: impossible vs possible"},
    {"Is the mirror available in Europe?", "Is the mirror unavailable in Europe?",
     HONE_SIM_GATE_NEGATION, "polarity differs: unavailable vs available"},
    {"Why is the checksum correct after a resume?", "Why is the checksum incorrect after a resume?",
     HONE_SIM_GATE_NEGATION, "polarity differs: incorrect vs correct"},
    {"Does the reader extract archives in streaming mode?",
     "Does the reader extract archives in non-streaming mode?", HONE_SIM_GATE_NEGATION,
     "polarity differs: non-streaming vs streaming"},
    /* Antonyms, also when the other text keeps a form of the first word:
     * counts that cross are a swap. */
    {"Can I load the dataset from a local path?", "Can I load the dataset from a remote path?",
     HONE_SIM_GATE_NEGATION, "polarity differs: remote vs local"},
    {"Is the seed argument optional when shuffling?", "Is the seed argument required when shuffling?",
     HONE_SIM_GATE_NEGATION, "polarity differs: require vs optional"},
    {"How do I use the model hub online?", "How do I use the model hub offline?",
     HONE_SIM_GATE_NEGATION, "polarity differs: offline vs online"},
    {"The download method is used to download a URL.",
     "The upload method is used to download a URL.", HONE_SIM_GATE_NEGATION,
     "polarity differs: upload vs download"},
    {"Which port does the client listen on by default?",
     "Which port does the server listen on by default?", HONE_SIM_GATE_NEGATION,
     "polarity differs: server vs client"},
    {"Is the attribute static for every instance?", "Is the attribute dynamic for every instance?",
     HONE_SIM_GATE_NEGATION, "polarity differs: dynamic vs static"},
};

/* Words that look negated or opposite but are not: the new rules must let
 * these paraphrase-like pairs through (each differs only in the word). */
static const char *const not_flips[][2] = {
    {"How do I display the training results?", "How do I play the training results?"},
    {"Where is the information about the split stored?",
     "Where is the formation about the split stored?"},
    {"Is the index kept in-memory between calls?", "Is the index kept in memory between calls?"},
    {"Download the files unless they are cached.", "Download the files less when they are cached."},
    {"Run the job, e.g. on a local GPU.", "Run the job, for example on a local GPU."},
    {"Download and upload the files.", "Upload the files, then download them."},
};

static void test_gates_let_lookalikes_through(void **state) {
    (void)state;
    hone_simcache_opts o = {.threshold = 0.3};
    hone_simcache *c = make(&o);
    for (size_t i = 0; i < sizeof not_flips / sizeof not_flips[0]; i++) {
        const char *a = not_flips[i][0], *b = not_flips[i][1];
        double s;
        hone_sim_result g;
        assert_int_equal(hone_simcache_score(c, a, strlen(a), b, strlen(b), &s, &g), HONE_OK);
        for (int gate = HONE_SIM_GATE_NUMBERS; gate <= HONE_SIM_GATE_NEGATION; gate++)
            if (!g.gates[gate].passed)
                fail_msg("case %zu: %s vs %s: gate %s failed: %s", i, a, b, hone_sim_gate_name(gate),
                         g.gates[gate].detail);
    }
    hone_simcache_free(c);
}

static void test_gates_refuse_hard_negatives(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof hard / sizeof hard[0]; i++) {
        const hard_case *h = &hard[i];
        /* A threshold every one of these pairs clears, so that only the
         * gate stands between the query and the wrong answer. */
        hone_simcache_opts o = {.threshold = 0.3};
        hone_simcache *c = make(&o);
        assert_int_equal(put_s(c, "", h->key, "A"), HONE_OK);
        hone_sim_result r;
        hone_buf b = {0};
        int rc = get_s(c, "", h->query, &b, &r);
        hone_buf line = {0};
        hone_sim_result_format(&r, &line);
        if (rc != HONE_ENOTFOUND || r.kind != HONE_SIM_REFUSED)
            fail_msg("case %zu: %s vs %s: rc %d, %s", i, h->query, h->key, rc, line.data);
        print_message("  refused: %s\n", line.data);
        assert_true(r.gates[h->gate].checked);
        assert_false(r.gates[h->gate].passed);
        if (!strstr(r.gates[h->gate].detail, h->detail))
            fail_msg("case %zu: detail \"%s\", expected \"%s\"", i, r.gates[h->gate].detail,
                     h->detail);
        assert_non_null(strstr(line.data, "FAIL("));
        hone_simcache_stats st;
        hone_simcache_stats_get(c, &st);
        assert_int_equal(st.refused, 1);
        assert_int_equal(st.refused_by_gate[h->gate], 1);
        /* hone_simcache_score gives the same verdict. */
        double s;
        hone_sim_result g;
        assert_int_equal(hone_simcache_score(c, h->query, strlen(h->query), h->key,
                                             strlen(h->key), &s, &g),
                         HONE_OK);
        assert_int_equal(g.kind, HONE_SIM_REFUSED);
        assert_false(g.gates[h->gate].passed);
        hone_simcache_free(c);
        /* With that gate off the same query is served (documenting why the
         * gate is on by default). */
        o.gates_off = HONE_SIM_GATE_BIT(h->gate);
        c = make(&o);
        assert_int_equal(put_s(c, "", h->key, "A"), HONE_OK);
        hone_buf_clear(&b);
        rc = get_s(c, "", h->query, &b, &r);
        if (rc != HONE_OK || r.kind != HONE_SIM_SIMILAR)
            fail_msg("case %zu with gate %s off: rc %d kind %d", i, hone_sim_gate_name(h->gate),
                     rc, r.kind);
        assert_string_equal(b.data, "A");
        assert_false(r.gates[h->gate].checked);
        hone_buf_free(&b);
        hone_buf_free(&line);
        hone_simcache_free(c);
    }
}

static void test_gate_namespace(void **state) {
    (void)state;
    hone_simcache_opts o = {.threshold = 0.3};
    hone_simcache *c = make(&o);
    assert_int_equal(put_s(c, "tenant-a", "What is our refund policy?", "30 days"), HONE_OK);
    hone_sim_result r;
    hone_buf b = {0};
    assert_int_equal(get_s(c, "tenant-b", "What is the refund policy?", &b, &r), HONE_ENOTFOUND);
    assert_int_equal(r.kind, HONE_SIM_MISS);
    assert_int_equal(b.len, 0);
    assert_int_equal(get_s(c, "tenant-a", "What is the refund policy?", &b, &r), HONE_OK);
    assert_int_equal(r.kind, HONE_SIM_SIMILAR);
    assert_string_equal(r.ns, "tenant-a");
    hone_simcache_free(c);
    o.gates_off = HONE_SIM_GATE_BIT(HONE_SIM_GATE_NAMESPACE);
    c = make(&o);
    assert_int_equal(put_s(c, "tenant-a", "What is our refund policy?", "30 days"), HONE_OK);
    hone_buf_clear(&b);
    assert_int_equal(get_s(c, "tenant-b", "What is the refund policy?", &b, &r), HONE_OK);
    assert_int_equal(r.kind, HONE_SIM_SIMILAR);
    assert_int_equal(r.cross_namespace, 1);
    assert_false(r.gates[HONE_SIM_GATE_NAMESPACE].checked);
    assert_false(r.gates[HONE_SIM_GATE_NAMESPACE].passed);
    hone_buf line = {0};
    hone_sim_result_format(&r, &line);
    assert_non_null(strstr(line.data, "cross_namespace"));
    assert_non_null(strstr(line.data, "namespace:off(would fail)"));
    hone_buf_free(&line);
    hone_buf_free(&b);
    hone_simcache_free(c);
}

static void test_near_miss(void **state) {
    (void)state;
    const char *k = "How do I reset my account password?";
    const char *q = "How can I reset the password of my account?";
    hone_simcache *c = make(NULL);
    double s;
    assert_int_equal(hone_simcache_score(c, q, strlen(q), k, strlen(k), &s, NULL), HONE_OK);
    hone_simcache_free(c);
    hone_simcache_opts o = {.threshold = s + 0.02, .near_miss_margin = 0.05};
    c = make(&o);
    assert_int_equal(put_s(c, "", k, "A"), HONE_OK);
    hone_sim_result r;
    assert_int_equal(get_s(c, "", q, NULL, &r), HONE_ENOTFOUND);
    assert_int_equal(r.kind, HONE_SIM_NEAR_MISS);
    assert_true(r.score < r.threshold);
    assert_string_equal(r.key, k);
    assert_int_equal(get_s(c, "", "Completely unrelated words about gardening", NULL, &r),
                     HONE_ENOTFOUND);
    assert_int_equal(r.kind, HONE_SIM_MISS);
    hone_simcache_stats st;
    hone_simcache_stats_get(c, &st);
    assert_int_equal(st.near_misses, 1);
    assert_int_equal(st.misses, 1);
    hone_simcache_free(c);
}

static void test_feedback(void **state) {
    (void)state;
    hone_simcache_opts o = {.threshold = 0.3};
    hone_simcache *c = make(&o);
    const char *k = "How do I reset my account password?";
    const char *q = "How can I reset the password of my account?";
    assert_int_equal(put_s(c, "", k, "A"), HONE_OK);
    hone_sim_result r, r2;
    assert_int_equal(get_s(c, "", q, NULL, &r), HONE_OK);
    assert_int_equal(r.kind, HONE_SIM_SIMILAR);
    assert_int_equal(hone_simcache_report_wrong(c, "", q, strlen(q), &r), HONE_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(get_s(c, "", q, NULL, &r2), HONE_ENOTFOUND);
        assert_int_not_equal(r2.kind, HONE_SIM_SIMILAR);
    }
    /* The entry's threshold rose above the served score. */
    assert_true(r2.threshold > r.score);
    /* The exact key still hits. */
    assert_int_equal(get_s(c, "", k, NULL, &r2), HONE_OK);
    assert_int_equal(r2.kind, HONE_SIM_EXACT);
    hone_simcache_stats st;
    hone_simcache_stats_get(c, &st);
    assert_int_equal(st.wrong_reports, 1);
    /* An exact hit reported wrong removes the entry. */
    assert_int_equal(hone_simcache_report_wrong(c, "", k, strlen(k), &r2), HONE_OK);
    assert_int_equal(get_s(c, "", k, NULL, &r2), HONE_ENOTFOUND);
    assert_int_equal(hone_simcache_report_wrong(c, "", q, strlen(q), &r2), HONE_EINVAL);
    hone_simcache_free(c);
}

static void test_byte_budget_lru(void **state) {
    (void)state;
    /* Each entry: ns "" (1) + key ~8 + answer 100 + 1024 * 4 vector. */
    hone_simcache_opts o = {.max_bytes = 5 * 4300};
    hone_simcache *c = make(&o);
    char ans[100];
    memset(ans, 'x', sizeof ans);
    char key[32];
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "key %d", i);
        assert_int_equal(hone_simcache_put(c, "", key, strlen(key), ans, sizeof ans), HONE_OK);
    }
    hone_simcache_stats st;
    hone_simcache_stats_get(c, &st);
    assert_int_equal(st.entries, 5);
    assert_int_equal(st.evictions, 0);
    /* key 0 is used, so key 1 is the least recently used. */
    assert_int_equal(get_s(c, "", "key 0", NULL, NULL), HONE_OK);
    assert_int_equal(put_s(c, "", "key 5", "y"), HONE_OK);
    hone_simcache_stats_get(c, &st);
    assert_int_equal(st.evictions, 1);
    hone_sim_result r;
    assert_int_equal(get_s(c, "", "key 0", NULL, &r), HONE_OK);
    assert_int_equal(r.kind, HONE_SIM_EXACT);
    get_s(c, "", "key 1", NULL, &r);
    assert_int_not_equal(r.kind, HONE_SIM_EXACT);
    for (int i = 6; i < 40; i++) {
        snprintf(key, sizeof key, "key %d", i);
        assert_int_equal(hone_simcache_put(c, "", key, strlen(key), ans, sizeof ans), HONE_OK);
        hone_simcache_stats_get(c, &st);
        if (st.bytes > st.max_bytes)
            fail_msg("bytes %llu over the budget %llu", (unsigned long long)st.bytes,
                     (unsigned long long)st.max_bytes);
    }
    assert_true(st.evictions > 30);
    /* An entry larger than the whole budget is refused. */
    char *big = calloc(1, 30000);
    assert_int_equal(hone_simcache_put(c, "", "big", 3, big, 30000), HONE_ERANGE);
    free(big);
    hone_simcache_free(c);
}

static uint64_t fake_clock(void *ctx) { return *(uint64_t *)ctx; }

static void test_ttl(void **state) {
    (void)state;
    uint64_t now = 1000;
    hone_simcache_opts o = {.ttl_ns = 500, .clock = fake_clock, .clock_ctx = &now};
    hone_simcache *c = make(&o);
    assert_int_equal(put_s(c, "", "How do I reset my password?", "A"), HONE_OK);
    now = 1499;
    assert_int_equal(get_s(c, "", "How do I reset my password?", NULL, NULL), HONE_OK);
    now = 1500;
    hone_sim_result r;
    assert_int_equal(get_s(c, "", "How do I reset my password?", NULL, &r), HONE_ENOTFOUND);
    assert_int_equal(r.kind, HONE_SIM_MISS);
    hone_simcache_stats st;
    hone_simcache_stats_get(c, &st);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0);
    hone_simcache_free(c);
}

static void test_caller_vectors(void **state) {
    (void)state;
    hone_sim_scorer s = {.name = "mymodel", .version = "3", .dim = 4, .embed = NULL};
    hone_simcache_opts o = {.scorer = &s, .threshold = 0.95};
    hone_simcache *c = NULL;
    hone_error err;
    hone_simcache_opts bad = {.scorer = &s};
    assert_int_equal(hone_simcache_new(&c, &bad, &err), HONE_EINVAL);
    assert_non_null(strstr(err.msg, "threshold is required"));
    c = make(&o);
    const float v1[4] = {1, 0, 0, 0}, v2[4] = {0, 1, 0, 0}, q1[4] = {2, 0.2f, 0, 0},
                zero[4] = {0};
    assert_int_equal(hone_simcache_put_vec(c, "", "alpha question", 14, v1, "A", 1), HONE_OK);
    assert_int_equal(hone_simcache_put_vec(c, "", "beta question", 13, v2, "B", 1), HONE_OK);
    assert_int_equal(hone_simcache_put_vec(c, "", "x", 1, zero, "Z", 1), HONE_EINVAL);
    hone_buf b = {0};
    hone_sim_result r;
    assert_int_equal(hone_simcache_get_vec(c, "", "alpha questions", 15, q1, &b, &r), HONE_OK);
    assert_int_equal(r.kind, HONE_SIM_SIMILAR);
    assert_string_equal(b.data, "A");
    assert_string_equal(r.scorer, "mymodel/3");
    assert_true(r.score > 0.99 && r.score <= 1.0001);
    assert_int_equal(put_s(c, "", "text", "T"), HONE_ENOTSUP);
    assert_int_equal(get_s(c, "", "text", NULL, &r), HONE_ENOTSUP);
    hone_buf_free(&b);
    hone_simcache_free(c);
}

static void test_stats_metrics_format(void **state) {
    (void)state;
    hone_simcache_opts o = {.threshold = 0.3};
    hone_simcache *c = make(&o);
    assert_int_equal(put_s(c, "", "How do I install version 2.1?", "A"), HONE_OK);
    get_s(c, "", "How do I install version 2.1?", NULL, NULL);
    get_s(c, "", "How do I install version 2.2?", NULL, NULL);
    get_s(c, "", "how do i install version 2.1", NULL, NULL);
    get_s(c, "", "zzzz", NULL, NULL);
    hone_simcache_stats st;
    hone_simcache_stats_get(c, &st);
    assert_int_equal(st.exact_hits, 1);
    assert_int_equal(st.refused, 1);
    assert_int_equal(st.similar_hits, 1);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.puts, 1);
    hone_metrics *m;
    assert_int_equal(hone_metrics_new(&m, NULL), HONE_OK);
    hone_error err;
    assert_int_equal(hone_simcache_metrics_update(c, m, "answers", &err), HONE_OK);
    hone_buf t = {0};
    assert_int_equal(hone_metrics_expose(m, &t), HONE_OK);
    assert_non_null(strstr(t.data, "hone_simcache_lookups_total{simcache=\"answers\",result=\"refused\"} 1"));
    assert_non_null(strstr(t.data, "hone_simcache_refusals_total{simcache=\"answers\",gate=\"numbers\"} 1"));
    assert_non_null(strstr(t.data, "hone_simcache_entries{simcache=\"answers\"} 1"));
    assert_int_equal(hone_metrics_lint(t.data, t.len, 0, &err), HONE_OK);
    assert_int_equal(hone_simcache_metrics_update(c, m, "", &err), HONE_EINVAL);
    hone_buf_free(&t);
    hone_metrics_free(m);
    /* A miss formats without an entry. */
    hone_sim_result r;
    get_s(c, "other", "zzzz", NULL, &r);
    hone_buf line = {0};
    assert_int_equal(hone_sim_result_format(&r, &line), HONE_OK);
    assert_string_equal(line.data, "miss scorer=ngram/1 threshold=0.300");
    hone_buf_free(&line);
    assert_string_equal(hone_sim_kind_name(HONE_SIM_NEAR_MISS), "near_miss");
    assert_null(hone_sim_gate_name(HONE_SIM_GATE_COUNT));
    hone_simcache_free(c);
}

/* ------------------------------------------------------------------ */
/* Out of memory                                                       */
/* ------------------------------------------------------------------ */

static int oom_all(const hone_allocator *a, void *ctx) {
    (void)ctx;
    hone_simcache_opts o = {.alloc = a, .threshold = 0.3, .max_bytes = 3 * 4200};
    hone_simcache *c = NULL;
    int rc = hone_simcache_new(&c, &o, NULL);
    if (rc) return rc;
    hone_buf b;
    hone_buf_init(&b, a);
    hone_metrics *m = NULL;
    hone_metrics_opts mo = {.alloc = a};
    hone_sim_result r;
    double s;
    char longkey[700];
    memset(longkey, 'k', sizeof longkey);
    if ((rc = put_s(c, "n1", "How do I install version 2.1?", "A")) ||
        (rc = put_s(c, "n2", "Is the cache enabled?", "B")) ||
        (rc = hone_simcache_put(c, "n1", longkey, sizeof longkey, "L", 1)) ||
        (rc = put_s(c, "n1", "Where are the logs kept?", "C")) ||
        (rc = put_s(c, "n1", "Where are the logs kept?", "C2")))
        goto out;
    if ((rc = get_s(c, "n1", "Where are the logs kept?", &b, &r))) goto out;
    rc = get_s(c, "n1", "Where are logs kept?", &b, &r);
    if (rc && rc != HONE_ENOTFOUND) goto out;
    if (rc == HONE_OK && (rc = hone_simcache_report_wrong(c, "n1", "Where are logs kept?", 20, &r)))
        goto out;
    rc = hone_simcache_get(c, "n1", longkey, sizeof longkey, &b, &r);
    if (rc && rc != HONE_ENOTFOUND) goto out;
    if ((rc = hone_simcache_score(c, "a 1", 3, "a 2", 3, &s, &r))) goto out;
    if ((rc = hone_sim_result_format(&r, &b))) goto out;
    rc = hone_simcache_delete(c, "n1", longkey, sizeof longkey);
    if (rc && rc != HONE_ENOTFOUND) goto out;
    if ((rc = hone_metrics_new(&m, &mo))) goto out;
    rc = hone_simcache_metrics_update(c, m, "x", NULL);
out:
    hone_metrics_free(m);
    hone_buf_free(&b);
    hone_simcache_free(c);
    return rc;
}

static void test_oom(void **state) {
    (void)state;
    long n = failalloc_loop("simcache calls", oom_all, NULL);
    assert_true(n > 10);
}

/* ------------------------------------------------------------------ */
/* Threads                                                             */
/* ------------------------------------------------------------------ */

typedef struct thr_ctx {
    hone_simcache *c;
    int id;
    int errors;
} thr_ctx;

static void *worker(void *arg) {
    thr_ctx *t = arg;
    char key[64], q[64];
    hone_buf b = {0};
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "question number %d about topic %d", i % 40, t->id);
        if (i % 3 == 0 && put_s(t->c, i % 2 ? "a" : "b", key, "answer") != HONE_OK) t->errors++;
        snprintf(q, sizeof q, "question number %d about topic %d?", i % 40, (t->id + i) % 4);
        hone_sim_result r;
        hone_buf_clear(&b);
        int rc = get_s(t->c, i % 2 ? "a" : "b", q, &b, &r);
        if (rc != HONE_OK && rc != HONE_ENOTFOUND) t->errors++;
        if (rc == HONE_OK && strcmp(b.data, "answer")) t->errors++;
        if (rc == HONE_OK && r.kind == HONE_SIM_SIMILAR && i % 50 == 0)
            hone_simcache_report_wrong(t->c, i % 2 ? "a" : "b", q, strlen(q), &r);
    }
    hone_buf_free(&b);
    return NULL;
}

static void test_threads(void **state) {
    (void)state;
    hone_simcache_opts o = {.threshold = 0.5, .max_bytes = 100 * 4200};
    hone_simcache *c = make(&o);
    pthread_t th[4];
    thr_ctx ctx[4];
    for (int i = 0; i < 4; i++) {
        ctx[i] = (thr_ctx){c, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker, &ctx[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(ctx[i].errors, 0);
    }
    hone_simcache_stats st;
    hone_simcache_stats_get(c, &st);
    assert_true(st.bytes <= st.max_bytes);
    assert_int_equal(st.exact_hits + st.similar_hits + st.refused + st.near_misses + st.misses,
                     4 * 300);
    hone_simcache_free(c);
}

static void test_scorer_and_dot(void **state) {
    (void)state;
    float a[HONE_SIM_NGRAM_DIM], b[HONE_SIM_NGRAM_DIM];
    assert_int_equal(hone_sim_ngram_embed("Hello World", 11, 7, a, HONE_SIM_NGRAM_DIM), HONE_OK);
    assert_int_equal(hone_sim_ngram_embed("hello   world!", 14, 7, b, HONE_SIM_NGRAM_DIM),
                     HONE_OK);
    /* Case and separators do not count. */
    float d = hone_sim_dot(a, b, HONE_SIM_NGRAM_DIM);
    assert_true(d > 0.9999f && d < 1.0001f);
    assert_int_equal(hone_sim_ngram_embed("", 0, 7, b, HONE_SIM_NGRAM_DIM), HONE_OK);
    assert_true(hone_sim_dot(a, b, HONE_SIM_NGRAM_DIM) == 0.0f);
    /* The dot product of odd lengths, against a plain sum. */
    float x[37], y[37];
    double ref = 0;
    for (int i = 0; i < 37; i++) {
        x[i] = (float)i * 0.5f;
        y[i] = 1.0f - (float)i * 0.01f;
        ref += (double)x[i] * y[i];
    }
    double got = hone_sim_dot(x, y, 37);
    if (got < ref - 1e-3 || got > ref + 1e-3) fail_msg("dot %g, expected %g", got, ref);
    hone_sim_ngram st;
    hone_sim_scorer s;
    hone_sim_scorer_ngram(&s, &st, 256, 5);
    assert_int_equal(s.dim, 256);
    assert_string_equal(s.name, "ngram");
    assert_int_equal(s.embed(s.ctx, "abc", 3, a), HONE_OK);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_exact_hit),
    cmocka_unit_test(test_mock_data_paraphrases),
    cmocka_unit_test(test_gates_refuse_hard_negatives),
    cmocka_unit_test(test_gates_let_lookalikes_through),
    cmocka_unit_test(test_gate_namespace),
    cmocka_unit_test(test_near_miss),
    cmocka_unit_test(test_feedback),
    cmocka_unit_test(test_byte_budget_lru),
    cmocka_unit_test(test_ttl),
    cmocka_unit_test(test_caller_vectors),
    cmocka_unit_test(test_stats_metrics_format),
    cmocka_unit_test(test_oom),
    cmocka_unit_test(test_threads),
    cmocka_unit_test(test_scorer_and_dot),
};

HONE_TEST_MAIN(tests)
