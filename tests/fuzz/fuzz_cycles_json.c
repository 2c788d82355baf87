/* fuzz_cycles_json.c - libFuzzer target for the cycle-history reader
 * (hone_cycle_parse, what hone_cycle_load and `hone report` run on a saved
 * history), and for the dashboards drawn from what it read.
 *
 * The input is parsed into two collectors, one keeping the default 1000
 * cycles and one keeping 3, each already holding a history of its own.
 * Invariants, each aborting:
 * - a failure returns EPARSE (not JSON, with a line) or ECORRUPT, with a
 *   message, and leaves the collector exactly as it was (its JSON report
 *   unchanged), as the header promises;
 * - both collectors agree: the small one holds the newest 3 of what the big
 *   one holds (same statistics over its last 3 cycles);
 * - the round trip: the JSON report (the history plus statistics, which
 *   hone_cycle_parse reads back) parses into a fresh collector whose report
 *   is identical;
 * - statistics are sane (succeeded <= count, rates in [0, 1], p50 <= p95 <=
 *   max) and every report format prints.
 *
 * FUZZ-OPTIONS: -max_len=4096 -runs=50000 */
#include "fuzz.h"

static void report_json(hone_cycle_collector *c, hone_buf *out) {
    hone_cycle_report_opts o = {HONE_REPORT_JSON, 0};
    int rc = hone_cycle_report(c, &o, out);
    FUZZ_CHECK(rc == HONE_OK, "JSON report failed with %s", hone_status_name(rc));
}

static hone_cycle_collector *collector(size_t history) {
    hone_cycle_collector *c;
    hone_cycle_opts o = {NULL, history, 2};
    if (hone_cycle_collector_new(&c, &o) != HONE_OK) abort();
    /* A history of its own, so "unchanged on error" means something. */
    static const char prior[] =
        "{\"format\": \"hone-cycles\", \"version\": 1, \"cycles\": [{\"id\": \"prior\", \"success\": true, "
        "\"duration_ns\": 7, \"start_unix_ns\": 1, \"end_unix_ns\": 9, \"metadata\": {\"k\": \"v\"}}]}";
    if (hone_cycle_parse(c, prior, sizeof prior - 1, NULL) != HONE_OK) abort();
    return c;
}

static void check_stats(const hone_cycle_stats *s) {
    FUZZ_CHECK(s->succeeded <= s->count, "%llu of %llu succeeded", (unsigned long long)s->succeeded,
               (unsigned long long)s->count);
    FUZZ_CHECK(s->success_rate >= 0 && s->success_rate <= 1, "success rate %g", s->success_rate);
    FUZZ_CHECK(s->hit_rate >= 0 && s->hit_rate <= 1, "hit rate %g", s->hit_rate);
    FUZZ_CHECK(s->duration_p50_ns <= s->duration_p95_ns && s->duration_p95_ns <= s->duration_max_ns,
               "p50 %llu p95 %llu max %llu", (unsigned long long)s->duration_p50_ns,
               (unsigned long long)s->duration_p95_ns, (unsigned long long)s->duration_max_ns);
    FUZZ_CHECK(s->cycles_per_minute >= 0, "cycles per minute %g", s->cycles_per_minute);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size ? size : 1);
    if (!text) abort();
    if (size) memcpy(text, data, size);
    hone_cycle_collector *big = collector(0), *small = collector(3);
    hone_buf before = {0}, after = {0};
    report_json(big, &before);

    hone_error err;
    memset(&err, 0, sizeof err);
    int rc = hone_cycle_parse(big, text, size, &err);
    int rc_small = hone_cycle_parse(small, text, size, NULL);
    if (rc != HONE_OK) {
        FUZZ_CHECK(rc == HONE_EPARSE || rc == HONE_ECORRUPT, "bad input gave %s: %s", hone_status_name(rc),
                   err.msg);
        FUZZ_CHECK(fuzz_err_ok(&err), "%s without a message", hone_status_name(rc));
        if (rc == HONE_EPARSE)
            FUZZ_CHECK(err.line >= 1 && !strncmp(err.msg, "line ", 5), "JSON error without its line: %s",
                       err.msg);
        report_json(big, &after);
        FUZZ_CHECK(before.len == after.len && !memcmp(before.data, after.data, before.len),
                   "a failed parse changed the collector:\n%s\n%s", before.data, after.data);
        /* Keeping fewer cycles checks fewer: the small one may succeed. */
    } else {
        FUZZ_CHECK(rc_small == HONE_OK, "the collector keeping 3 cycles refused what the other read");
        size_t n = hone_cycle_count(big), ns = hone_cycle_count(small);
        FUZZ_CHECK(ns == (n < 3 ? n : 3), "%zu cycles in the big collector, %zu in the small", n, ns);
        hone_cycle_stats a, b;
        FUZZ_CHECK(hone_cycle_stats_get(big, 0, &a) == HONE_OK, "stats failed");
        check_stats(&a);
        FUZZ_CHECK(a.count == n, "stats count %llu, %zu cycles", (unsigned long long)a.count, n);
        FUZZ_CHECK(hone_cycle_stats_get(big, 3, &a) == HONE_OK && hone_cycle_stats_get(small, 0, &b) == HONE_OK,
                   "stats failed");
        FUZZ_CHECK(!memcmp(&a, &b, sizeof a), "the newest 3 cycles differ between the collectors");

        /* The round trip through the JSON report. */
        report_json(big, &after);
        hone_cycle_collector *again;
        hone_cycle_opts o = {NULL, 0, 2};
        if (hone_cycle_collector_new(&again, &o) != HONE_OK) abort();
        rc = hone_cycle_parse(again, after.data, after.len, &err);
        FUZZ_CHECK(rc == HONE_OK, "the JSON report hone wrote does not parse: %s\n%s", err.msg, after.data);
        hone_buf third = {0};
        report_json(again, &third);
        FUZZ_CHECK(third.len == after.len && !memcmp(third.data, after.data, after.len),
                   "the round trip changed the history:\n%s\n%s", after.data, third.data);
        hone_buf_free(&third);
        hone_cycle_collector_free(again);

        for (int f = HONE_REPORT_TEXT; f <= HONE_REPORT_PROM; f++) {
            hone_buf out = {0};
            hone_cycle_report_opts ro = {(hone_report_format)f, 2};
            rc = hone_cycle_report(big, &ro, &out);
            FUZZ_CHECK(rc == HONE_OK, "report format %d failed with %s", f, hone_status_name(rc));
            hone_buf_free(&out);
        }
    }
    hone_buf_free(&before);
    hone_buf_free(&after);
    hone_cycle_collector_free(big);
    hone_cycle_collector_free(small);
    free(text);
    return 0;
}
