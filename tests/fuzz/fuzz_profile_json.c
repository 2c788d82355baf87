/* fuzz_profile_json.c - libFuzzer target for the profile reader
 * (hone_prof_snapshot_parse), which `hone report` runs on any file it is
 * given, and for the reports it then prints.
 *
 * Invariants, each aborting:
 * - a failure returns EPARSE (not JSON, with a line) or ECORRUPT (JSON but
 *   not a profile), with a message, and leaves *out NULL;
 * - a parsed snapshot's zones all have names, files and functions, and
 *   hone_prof_snapshot_find() finds a zone of each name;
 * - the round trip: the snapshot's JSON (hone_prof_snapshot_json) parses
 *   back to the same wall time and the same zones, field for field;
 * - every report format and sort key prints without error.
 *
 * FUZZ-OPTIONS: -max_len=4096 -runs=200000 */
#include "fuzz.h"

static int cmp_zone(const hone_prof_zone *a, const hone_prof_zone *b) {
    int c = strcmp(a->name, b->name);
    if (!c) c = strcmp(a->file, b->file);
    if (!c) c = strcmp(a->func, b->func);
#define CMP(f)                          \
    if (!c && a->f != b->f) c = a->f < b->f ? -1 : 1;
    CMP(line) CMP(count) CMP(total_ns) CMP(self_ns) CMP(min_ns) CMP(max_ns) CMP(mean_ns) CMP(std_ns)
    CMP(p50_ns) CMP(p90_ns) CMP(p99_ns) CMP(p999_ns)
#undef CMP
    return c;
}

static int cmp_zone_ptr(const void *x, const void *y) {
    return cmp_zone(*(const hone_prof_zone *const *)x, *(const hone_prof_zone *const *)y);
}

/* The zones of s sorted by every field, so two snapshots holding the same
 * zones in another order compare equal. */
static const hone_prof_zone **sorted_zones(const hone_prof_snapshot *s) {
    size_t n = hone_prof_snapshot_count(s);
    const hone_prof_zone **z = malloc((n ? n : 1) * sizeof *z);
    if (!z) abort();
    for (size_t i = 0; i < n; i++) z[i] = hone_prof_snapshot_zone(s, i);
    qsort(z, n, sizeof *z, cmp_zone_ptr);
    return z;
}

static void check_snapshot(const hone_prof_snapshot *s) {
    size_t n = hone_prof_snapshot_count(s);
    for (size_t i = 0; i < n; i++) {
        const hone_prof_zone *z = hone_prof_snapshot_zone(s, i);
        FUZZ_CHECK(z && z->name && z->file && z->func, "zone %zu incomplete", i);
        FUZZ_CHECK(z->line >= 0, "zone %zu has line %d", i, z->line);
        const hone_prof_zone *f = hone_prof_snapshot_find(s, z->name);
        FUZZ_CHECK(f && !strcmp(f->name, z->name), "find('%s') failed", z->name);
    }
    FUZZ_CHECK(hone_prof_snapshot_zone(s, n) == NULL, "zone(count) is not NULL");

    hone_buf out = {0};
    int rc = hone_prof_snapshot_json(s, &out);
    FUZZ_CHECK(rc == HONE_OK, "writing the JSON failed with %s", hone_status_name(rc));
    hone_prof_snapshot *s2 = NULL;
    hone_error err;
    rc = hone_prof_snapshot_parse(&s2, out.data, out.len, NULL, &err);
    FUZZ_CHECK(rc == HONE_OK, "the JSON hone wrote does not parse: %s\n%s", err.msg, out.data);
    FUZZ_CHECK(hone_prof_snapshot_wall_ns(s2) == hone_prof_snapshot_wall_ns(s), "wall_ns %llu became %llu",
               (unsigned long long)hone_prof_snapshot_wall_ns(s),
               (unsigned long long)hone_prof_snapshot_wall_ns(s2));
    FUZZ_CHECK(hone_prof_snapshot_count(s2) == n, "%zu zones became %zu", n, hone_prof_snapshot_count(s2));
    const hone_prof_zone **a = sorted_zones(s), **b = sorted_zones(s2);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(cmp_zone(a[i], b[i]) == 0, "zone '%s' changed in the round trip", a[i]->name);
    free(a);
    free(b);
    hone_prof_snapshot_free(s2);
    hone_buf_free(&out);

    for (int f = HONE_REPORT_TEXT; f <= HONE_REPORT_PROM; f++) {
        for (int k = HONE_PROF_SORT_TOTAL; k <= HONE_PROF_SORT_NAME; k++) {
            hone_prof_report_opts o = {0};
            o.format = (hone_report_format)f;
            o.sort = (hone_prof_sort)k;
            o.wide = k & 1;
            rc = hone_prof_report(s, &o, &out);
            FUZZ_CHECK(rc == HONE_OK, "report format %d sort %d failed with %s", f, k, hone_status_name(rc));
            hone_buf_free(&out);
            if (f == HONE_REPORT_JSON || f == HONE_REPORT_PROM) break; /* sort changes only the order */
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size ? size : 1);
    if (!text) abort();
    if (size) memcpy(text, data, size);
    hone_prof_snapshot *s = (hone_prof_snapshot *)&s; /* must be reset to NULL */
    hone_error err;
    memset(&err, 0, sizeof err);
    int rc = hone_prof_snapshot_parse(&s, text, size, NULL, &err);
    if (rc == HONE_OK) {
        FUZZ_CHECK(s != NULL, "HONE_OK without a snapshot");
        check_snapshot(s);
        hone_prof_snapshot_free(s);
    } else {
        FUZZ_CHECK(s == NULL, "*out not NULL after %s", hone_status_name(rc));
        FUZZ_CHECK(rc == HONE_EPARSE || rc == HONE_ECORRUPT, "bad input gave %s: %s", hone_status_name(rc),
                   err.msg);
        FUZZ_CHECK(fuzz_err_ok(&err), "%s without a message", hone_status_name(rc));
        if (rc == HONE_EPARSE)
            FUZZ_CHECK(err.line >= 1 && !strncmp(err.msg, "line ", 5), "JSON error without its line: %s",
                       err.msg);
    }
    free(text);
    return 0;
}
