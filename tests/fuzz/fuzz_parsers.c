/* fuzz_parsers.c - libFuzzer target for the small parsers every flag and
 * HONE_* variable goes through: hone_parse_u64/i64/double/size/duration/
 * rate, hone_cpu_parse_mask, hone_io_glob_match (the --include/--exclude
 * dialect) and hone_bench_split (the command lines of `hone bench`).
 *
 * The first byte picks the parser (its value mod 9) and the bounds or
 * default unit passed to it (from a table of those callers pass); the rest
 * is the text (for globs: the pattern, a NUL, then the path).
 * Invariants, each aborting:
 * - a parsed value is in the bounds asked for, and printing it back (in
 *   nanoseconds, bytes, per second) parses to the same value;
 * - a refused value leaves the output alone and gives HONE_EINVAL with one
 *   message naming the source ("--x") and, when short, the value itself;
 * - a CPU mask holds known bits only, is closed (masking sse4.1 masks avx2,
 *   avx2 masks avx512f, avx512f masks avx512vl) and is the union of its
 *   items parsed one by one;
 * - a glob returns 0 or 1; every path matches itself written as a pattern
 *   with each character escaped; "**" matches every path; a pattern without
 *   '/' gives the same answer on a path and on its last component;
 * - a split command has argc >= 1 words and a NULL after them, and quoting
 *   each word in single quotes and splitting again gives the same words;
 *   an error is HONE_EPARSE with a column within the text.
 *
 * FUZZ-OPTIONS: -max_len=512 -runs=600000 */
#include <float.h>
#include <math.h>
#include <strings.h>

#include "fuzz.h"

#define WHAT "--x"

/* The value as a message quotes it: control characters escaped, so that
 * every message stays one line (core's hone_error_set). */
static void quoted(const char *s, char *out, size_t n) {
    size_t o = 0;
    for (; *s && o + 5 < n; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch >= 0x20 && ch != 0x7f) out[o++] = (char)ch;
        else if (ch == '\n') o += (size_t)snprintf(out + o, n - o, "\\n");
        else if (ch == '\r') o += (size_t)snprintf(out + o, n - o, "\\r");
        else if (ch == '\t') o += (size_t)snprintf(out + o, n - o, "\\t");
        else o += (size_t)snprintf(out + o, n - o, "\\x%02x", ch);
    }
    out[o] = '\0';
}

/* Checks a refusal: status, message naming the source and the value. */
static void check_refusal(int rc, const hone_error *err, const char *s) {
    FUZZ_CHECK(rc == HONE_EINVAL, "refused '%s' with %s", s, hone_status_name(rc));
    FUZZ_CHECK(fuzz_err_ok(err) && !strncmp(err->msg, WHAT "=", strlen(WHAT) + 1),
               "message does not start with " WHAT "=: %s", err->msg);
    FUZZ_CHECK(!strchr(err->msg, '\n'), "message is more than one line: %s", err->msg);
    char q[512];
    quoted(s, q, sizeof q);
    if (strlen(q) < 100)
        FUZZ_CHECK(!strncmp(err->msg + strlen(WHAT) + 1, q, strlen(q)), "message does not quote '%s': %s", q,
                   err->msg);
}

/* Bounds callers pass: none, a flag's usual ranges, a single value, the
 * top of the type. The first byte of the input picks one. */
static const uint64_t u_bounds[][2] = {{0, UINT64_MAX}, {1, 1000000}, {0, 0}, {10, 20}, {UINT64_MAX - 5, UINT64_MAX},
                                       {1, 64}};
static const int64_t i_bounds[][2] = {{INT64_MIN, INT64_MAX}, {-1000, 1000}, {0, 0}, {INT64_MIN, INT64_MIN + 3},
                                      {-1, INT64_MAX}, {1, 64}};
static const double d_bounds[][2] = {{-DBL_MAX, DBL_MAX}, {0, 1}, {0, 0}, {1e-300, 1e300}, {-5, -1}, {0, 100}};
#define N_BOUNDS 6

static void fuzz_u64(const char *s, unsigned k) {
    uint64_t min = u_bounds[k][0], max = u_bounds[k][1], v = 12345, v2;
    hone_error err;
    int rc = hone_parse_u64(WHAT, s, min, max, &v, &err);
    if (rc == HONE_OK) {
        FUZZ_CHECK(v >= min && v <= max, "'%s' gave %llu outside [%llu, %llu]", s, (unsigned long long)v,
                   (unsigned long long)min, (unsigned long long)max);
        char buf[32];
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
        FUZZ_CHECK(hone_parse_u64(WHAT, buf, min, max, &v2, NULL) == HONE_OK && v2 == v, "'%s' did not read back",
                   buf);
    } else {
        check_refusal(rc, &err, s);
        FUZZ_CHECK(v == 12345, "a refused value changed the output");
    }
}

static void fuzz_i64(const char *s, unsigned k) {
    int64_t min = i_bounds[k][0], max = i_bounds[k][1], v = 12345, v2;
    hone_error err;
    int rc = hone_parse_i64(WHAT, s, min, max, &v, &err);
    if (rc == HONE_OK) {
        FUZZ_CHECK(v >= min && v <= max, "'%s' gave %lld outside [%lld, %lld]", s, (long long)v, (long long)min,
                   (long long)max);
        char buf[32];
        snprintf(buf, sizeof buf, "%lld", (long long)v);
        FUZZ_CHECK(hone_parse_i64(WHAT, buf, min, max, &v2, NULL) == HONE_OK && v2 == v, "'%s' did not read back",
                   buf);
    } else {
        check_refusal(rc, &err, s);
        FUZZ_CHECK(v == 12345, "a refused value changed the output");
    }
}

static void fuzz_double(const char *s, unsigned k) {
    double min = d_bounds[k][0], max = d_bounds[k][1], v = 12345, v2;
    hone_error err;
    int rc = hone_parse_double(WHAT, s, min, max, &v, &err);
    if (rc == HONE_OK) {
        FUZZ_CHECK(isfinite(v) && v >= min && v <= max, "'%s' gave %g outside [%g, %g]", s, v, min, max);
        char buf[64];
        snprintf(buf, sizeof buf, "%.17g", v);
        /* A subnormal reads back with ERANGE, which the parser refuses. */
        if (v == 0 || fabs(v) >= DBL_MIN)
            FUZZ_CHECK(hone_parse_double(WHAT, buf, min, max, &v2, NULL) == HONE_OK && v2 == v,
                       "'%s' did not read back", buf);
    } else {
        check_refusal(rc, &err, s);
        FUZZ_CHECK(v == 12345, "a refused value changed the output");
    }
}

static void fuzz_size(const char *s, unsigned k) {
    uint64_t min = u_bounds[k][0], max = u_bounds[k][1], v = 12345, v2;
    hone_error err;
    int rc = hone_parse_size(WHAT, s, min, max, &v, &err);
    if (rc == HONE_OK) {
        FUZZ_CHECK(v >= min && v <= max, "'%s' gave %llu outside the bounds", s, (unsigned long long)v);
        /* The number times its suffix: a k, M, G or T suffix gives a
         * multiple of 1024, 2^20, 2^30, 2^40. */
        const char *e = s;
        while (*e >= '0' && *e <= '9') e++;
        static const char sfx[] = "kKMGT";
        static const unsigned shift[] = {10, 10, 20, 30, 40};
        const char *suf = *e ? strchr(sfx, *e) : NULL;
        if (suf) FUZZ_CHECK(v % (UINT64_C(1) << shift[suf - sfx]) == 0, "'%s' gave %llu", s, (unsigned long long)v);
        char buf[32];
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
        FUZZ_CHECK(hone_parse_size(WHAT, buf, min, max, &v2, NULL) == HONE_OK && v2 == v, "'%s' did not read back",
                   buf);
    } else {
        check_refusal(rc, &err, s);
        FUZZ_CHECK(v == 12345, "a refused value changed the output");
    }
}

static void fuzz_duration(const char *s, unsigned k) {
    static const uint64_t units[N_BOUNDS] = {1, 1000, 1000000, 1000000000, 60000000000, 0};
    uint64_t unit = units[k], v = 12345, v2;
    hone_error err;
    int rc = hone_parse_duration(WHAT, s, unit, &v, &err);
    if (rc == HONE_OK) {
        char buf[40];
        snprintf(buf, sizeof buf, "%lluns", (unsigned long long)v);
        FUZZ_CHECK(hone_parse_duration(WHAT, buf, unit, &v2, NULL) == HONE_OK && v2 == v,
                   "'%s' gave %s, which reads back as %llu", s, buf, (unsigned long long)v2);
    } else {
        check_refusal(rc, &err, s);
        FUZZ_CHECK(v == 12345, "a refused value changed the output");
    }
}

static void fuzz_rate(const char *s) {
    double v = 12345, v2;
    hone_error err;
    int rc = hone_parse_rate(WHAT, s, &v, &err);
    if (rc == HONE_OK) {
        FUZZ_CHECK(v >= 0 && !isnan(v), "'%s' gave %g", s, v);
        if (isinf(v)) {
            FUZZ_CHECK(!strcasecmp(s, "off"), "'%s' gave no limit", s);
        } else if (v == 0 || v >= DBL_MIN) {
            char buf[64];
            snprintf(buf, sizeof buf, "%.17g/s", v);
            FUZZ_CHECK(hone_parse_rate(WHAT, buf, &v2, NULL) == HONE_OK && v2 == v, "'%s' did not read back", buf);
        }
    } else {
        check_refusal(rc, &err, s);
        FUZZ_CHECK(v == 12345, "a refused value changed the output");
    }
}

static void fuzz_cpu_mask(const char *s) {
    uint32_t m = 0xdeadbeef, one, all = 0;
    hone_error err;
    int rc = hone_cpu_parse_mask(s, &m, &err);
    /* The items one by one, as the documented comma list. */
    char *copy = strdup(s), *save = NULL;
    if (!copy) abort();
    int each_ok = 1;
    for (char *item = copy;; item = NULL) {
        char *tok = strtok_r(item, ",", &save);
        if (!tok) break;
        if (hone_cpu_parse_mask(tok, &one, NULL) != HONE_OK) each_ok = 0;
        else all |= one;
    }
    free(copy);
    if (rc == HONE_OK) {
        FUZZ_CHECK(each_ok && m == all, "'%s' gave %#x, its items %#x", s, m, all);
        FUZZ_CHECK((m & ~0xffu) == 0, "'%s' gave unknown bits %#x", s, m);
        FUZZ_CHECK(!(m & HONE_CPU_SSE41) || (m & HONE_CPU_AVX2), "'%s': sse4.1 without avx2 (%#x)", s, m);
        FUZZ_CHECK(!(m & HONE_CPU_AVX2) || (m & HONE_CPU_AVX512F), "'%s': avx2 without avx512f (%#x)", s, m);
        FUZZ_CHECK(!(m & HONE_CPU_AVX512F) || (m & HONE_CPU_AVX512VL), "'%s': avx512f without avx512vl (%#x)", s,
                   m);
    } else {
        FUZZ_CHECK(rc == HONE_EINVAL && !each_ok, "'%s' refused (%s) though each item parses", s,
                   hone_status_name(rc));
        FUZZ_CHECK(m == 0xdeadbeef, "a refused mask changed the output");
        FUZZ_CHECK(fuzz_err_ok(&err) && strstr(err.msg, "HONE_CPU_MASK="), "message: %s", err.msg);
    }
}

static void fuzz_glob(const char *pattern, const char *path) {
    int r = hone_io_glob_match(pattern, path);
    FUZZ_CHECK(r == 0 || r == 1, "glob('%s', '%s') returned %d", pattern, path, r);
    if (*path) FUZZ_CHECK(hone_io_glob_match("**", path) == 1, "'**' does not match '%s'", path);
    if (!strchr(pattern, '/')) {
        const char *last = strrchr(path, '/');
        if (last) {
            int r2 = hone_io_glob_match(pattern, last + 1);
            FUZZ_CHECK(r2 == r, "'%s' gives %d on '%s' but %d on its last component", pattern, r, path, r2);
        }
    }
    /* The path as a literal pattern: every character but '/' escaped.
     * Paths as the walker makes them: relative, no empty component. */
    size_t len = strlen(path);
    int walker_path = len > 0 && path[0] != '/' && path[len - 1] != '/' && !strstr(path, "//");
    if (walker_path) {
        char *lit = malloc(2 * len + 1), *o = lit;
        if (!lit) abort();
        for (const char *p = path; *p; p++) {
            if (*p != '/') *o++ = '\\';
            *o++ = *p;
        }
        *o = '\0';
        FUZZ_CHECK(hone_io_glob_match(lit, path) == 1, "the escaped pattern '%s' does not match '%s'", lit, path);
        free(lit);
    }
}

static void fuzz_split(const char *s) {
    char **argv = (char **)&argv;
    int argc = -1;
    hone_error err;
    int rc = hone_bench_split(s, &argv, &argc, NULL, &err);
    if (rc != HONE_OK) {
        FUZZ_CHECK(rc == HONE_EPARSE, "'%s' gave %s", s, hone_status_name(rc));
        FUZZ_CHECK(argv == NULL, "*argv_out not NULL after an error");
        FUZZ_CHECK(fuzz_err_ok(&err), "error without a message");
        FUZZ_CHECK(err.col <= strlen(s) + 1, "column %llu past the end of '%s' (%zu bytes): %s",
                   (unsigned long long)err.col, s, strlen(s), err.msg);
        return;
    }
    FUZZ_CHECK(argc >= 1 && argv[argc] == NULL, "argc %d, argv[argc] not NULL", argc);
    hone_buf q = {0};
    for (int i = 0; i < argc; i++) {
        FUZZ_CHECK(argv[i] != NULL, "argv[%d] is NULL", i);
        if (i) hone_buf_puts(&q, " ");
        hone_buf_puts(&q, "'");
        for (const char *p = argv[i]; *p; p++) {
            if (*p == '\'') hone_buf_puts(&q, "'\\''");
            else hone_buf_append(&q, p, 1);
        }
        hone_buf_puts(&q, "'");
    }
    char **again = NULL;
    int argc2 = 0;
    rc = hone_bench_split(q.data, &again, &argc2, NULL, &err);
    FUZZ_CHECK(rc == HONE_OK && argc2 == argc, "the quoted words %s split into %d words (%s), not %d", q.data, argc2,
               hone_status_name(rc), argc);
    for (int i = 0; i < argc; i++)
        FUZZ_CHECK(!strcmp(again[i], argv[i]), "word %d '%s' came back as '%s'", i, argv[i], again[i]);
    hone_bench_argv_free(again, NULL);
    hone_bench_argv_free(argv, NULL);
    hone_buf_free(&q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    unsigned which = data[0] % 9, k = (data[0] / 9) % N_BOUNDS;
    char *s = fuzz_strndup(data + 1, size - 1);
    switch (which) {
    case 0: fuzz_u64(s, k); break;
    case 1: fuzz_i64(s, k); break;
    case 2: fuzz_double(s, k); break;
    case 3: fuzz_size(s, k); break;
    case 4: fuzz_duration(s, k); break;
    case 5: fuzz_rate(s); break;
    case 6: fuzz_cpu_mask(s); break;
    case 7: {
        /* pattern NUL path */
        size_t pl = strlen(s);
        fuzz_glob(s, pl + 1 < size ? s + pl + 1 : "");
        break;
    }
    default: fuzz_split(s); break;
    }
    free(s);
    return 0;
}
