/* env.c - value parsers shared by environment variables and CLI flags, the
 * table of HONE_* variables, and "did you mean" suggestions. */
#include "hone/core.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

extern char **environ;

static int is_blank(const char *s) { return !s || !*s; }

/* The base of a number's spelling: 16 after an explicit 0x or 0X, else 10.
 * Never octal: "010" is ten, as a person reading it means, and "08" is
 * eight, where strtoull's base 0 would read 8 and reject 08. */
static int number_base(const char *digits) {
    return digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X') ? 16 : 10;
}

int hone_parse_u64(const char *what, const char *s, uint64_t min, uint64_t max, uint64_t *out,
                   hone_error *err) {
    char *end;
    const char *p = s ? s : "";
    while (isspace((unsigned char)*p)) p++;
    if (*p == '-' || *p == '+' || !isdigit((unsigned char)*p)) goto bad;
    errno = 0;
    unsigned long long v = strtoull(p, &end, number_base(p));
    if (errno == ERANGE) goto bad;
    while (isspace((unsigned char)*end)) end++;
    if (*end || v < min || v > max) goto bad;
    *out = v;
    return HONE_OK;
bad:
    return hone_error_set(err, HONE_EINVAL, "%s=%s: expected an integer from %llu to %llu", what,
                          s ? s : "", (unsigned long long)min, (unsigned long long)max);
}

int hone_parse_i64(const char *what, const char *s, int64_t min, int64_t max, int64_t *out,
                   hone_error *err) {
    char *end;
    const char *p = s ? s : "";
    while (isspace((unsigned char)*p)) p++;
    const char *digits = (*p == '-' || *p == '+') ? p + 1 : p;
    if (!isdigit((unsigned char)*digits)) goto bad;
    errno = 0;
    long long v = strtoll(p, &end, number_base(digits));
    if (errno == ERANGE) goto bad;
    while (isspace((unsigned char)*end)) end++;
    if (*end || v < min || v > max) goto bad;
    *out = v;
    return HONE_OK;
bad:
    return hone_error_set(err, HONE_EINVAL, "%s=%s: expected an integer from %lld to %lld", what,
                          s ? s : "", (long long)min, (long long)max);
}

int hone_parse_double(const char *what, const char *s, double min, double max, double *out,
                      hone_error *err) {
    char *end;
    if (is_blank(s)) goto bad;
    errno = 0;
    double v = strtod(s, &end);
    while (isspace((unsigned char)*end)) end++;
    if (end == s || *end || errno == ERANGE || !isfinite(v) || v < min || v > max) goto bad;
    *out = v;
    return HONE_OK;
bad:
    return hone_error_set(err, HONE_EINVAL, "%s=%s: expected a number from %g to %g", what,
                          s ? s : "", min, max);
}

int hone_parse_bool(const char *what, const char *s, int *out, hone_error *err) {
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; s && i < 4; i++) {
        if (!strcasecmp(s, yes[i])) return *out = 1, HONE_OK;
        if (!strcasecmp(s, no[i])) return *out = 0, HONE_OK;
    }
    return hone_error_set(err, HONE_EINVAL,
                          "%s=%s: expected one of 1, 0, true, false, yes, no, on, off", what,
                          s ? s : "");
}

int hone_parse_enum(const char *what, const char *s, const char *const *choices, int *out,
                    hone_error *err) {
    char list[256];
    size_t len = 0;
    list[0] = '\0';
    for (int i = 0; choices[i]; i++) {
        if (s && !strcmp(s, choices[i])) return *out = i, HONE_OK;
        int n = snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", choices[i]);
        if (n > 0 && (size_t)n < sizeof list - len) len += (size_t)n;
    }
    return hone_error_set(err, HONE_EINVAL, "%s=%s: expected one of %s", what, s ? s : "", list);
}

int hone_parse_size(const char *what, const char *s, uint64_t min, uint64_t max, uint64_t *out,
                    hone_error *err) {
    char *end;
    const char *p = s ? s : "";
    if (!isdigit((unsigned char)*p)) goto bad;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (errno == ERANGE) goto bad;
    uint64_t mul = 1;
    switch (*end) {
    case 'k': case 'K': mul = 1ull << 10; end++; break;
    case 'M': mul = 1ull << 20; end++; break;
    case 'G': mul = 1ull << 30; end++; break;
    case 'T': mul = 1ull << 40; end++; break;
    default: break;
    }
    if (mul > 1 && *end == 'i') end++;
    if (*end == 'B') end++;
    if (*end) goto bad;
    if (v > UINT64_MAX / mul) goto bad;
    v *= mul;
    if (v < min || v > max) goto bad;
    *out = v;
    return HONE_OK;
bad:
    return hone_error_set(err, HONE_EINVAL,
                          "%s=%s: expected a size like 64M (suffix k, M, G or T) from %llu to "
                          "%llu bytes",
                          what, s ? s : "", (unsigned long long)min, (unsigned long long)max);
}

int hone_parse_addr(const char *what, const char *s, char *host, size_t hostcap, unsigned *port,
                    hone_error *err) {
    const char *v = s ? s : "";
    if (v[0] == '/') {
        if (strlen(v) >= hostcap) goto bad;
        memcpy(host, v, strlen(v) + 1);
        *port = 0;
        return HONE_OK;
    }
    const char *colon, *hs = v, *he;
    if (v[0] == '[') {
        he = strchr(v, ']');
        if (!he || he[1] != ':') goto bad;
        hs = v + 1;
        colon = he + 1;
    } else {
        colon = strrchr(v, ':');
        if (!colon || memchr(v, ':', (size_t)(colon - v))) goto bad; /* bare IPv6 needs brackets */
        he = colon;
    }
    size_t hl = (size_t)(he - hs);
    if (hl == 0 || hl >= hostcap) goto bad;
    for (const char *c = hs; c < he; c++)
        if (!isalnum((unsigned char)*c) && !strchr(".-_:%", *c)) goto bad;
    const char *ps = colon + 1;
    unsigned long p = 0;
    if (!*ps || strlen(ps) > 5) goto bad;
    for (const char *c = ps; *c; c++) {
        if (!isdigit((unsigned char)*c)) goto bad;
        p = p * 10 + (unsigned long)(*c - '0');
    }
    if (p < 1 || p > 65535) goto bad;
    memcpy(host, hs, hl);
    host[hl] = '\0';
    *port = (unsigned)p;
    return HONE_OK;
bad:
    return hone_error_set(err, HONE_EINVAL,
                          "%s=%s: expected HOST:PORT (port 1-65535, an IPv6 host in brackets) or "
                          "the absolute path of a Unix socket",
                          what, v);
}

int hone_parse_duration(const char *what, const char *s, uint64_t default_unit_ns, uint64_t *out,
                        hone_error *err) {
    static const struct {
        const char *unit;
        double ns;
    } units[] = {{"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
    char *end;
    if (is_blank(s) || !(isdigit((unsigned char)*s) || *s == '.')) goto bad;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno == ERANGE || !isfinite(v) || v < 0) goto bad;
    double mul = (double)default_unit_ns;
    if (*end) {
        size_t i;
        for (i = 0; i < sizeof units / sizeof units[0]; i++)
            if (!strcmp(end, units[i].unit)) break;
        if (i == sizeof units / sizeof units[0]) goto bad;
        mul = units[i].ns;
    }
    if (v * mul >= 18446744073709551615.0) goto bad;
    *out = (uint64_t)(v * mul + 0.5);
    return HONE_OK;
bad:
    return hone_error_set(err, HONE_EINVAL,
                          "%s=%s: expected a duration like 250ms (units ns, us, ms, s, m, h)",
                          what, s ? s : "");
}

int hone_parse_rate(const char *what, const char *s, double *per_sec, hone_error *err) {
    static const struct {
        const char *unit;
        double sec;
    } units[] = {{"s", 1}, {"sec", 1}, {"min", 60}, {"m", 60}, {"h", 3600}, {"hour", 3600}};
    char *end;
    if (s && !strcasecmp(s, "off")) return *per_sec = INFINITY, HONE_OK;
    if (is_blank(s) || !(isdigit((unsigned char)*s) || *s == '.')) goto bad;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno == ERANGE || !isfinite(v) || v < 0) goto bad;
    double per = 1;
    if (*end) {
        if (*end++ != '/') goto bad;
        size_t i;
        for (i = 0; i < sizeof units / sizeof units[0]; i++)
            if (!strcmp(end, units[i].unit)) break;
        if (i == sizeof units / sizeof units[0]) goto bad;
        per = units[i].sec;
    }
    *per_sec = v / per;
    return HONE_OK;
bad:
    return hone_error_set(err, HONE_EINVAL,
                          "%s=%s: expected a rate like 100/s or 6000/min (per s, min or h), or off",
                          what, s ? s : "");
}

int hone_env_u64(const char *name, uint64_t min, uint64_t max, uint64_t def, uint64_t *out,
                 hone_error *err) {
    const char *v = getenv(name);
    *out = def;
    return is_blank(v) ? HONE_OK : hone_parse_u64(name, v, min, max, out, err);
}

int hone_env_size(const char *name, uint64_t min, uint64_t max, uint64_t def, uint64_t *out,
                  hone_error *err) {
    const char *v = getenv(name);
    *out = def;
    return is_blank(v) ? HONE_OK : hone_parse_size(name, v, min, max, out, err);
}

int hone_cache_dir(char **out, const hone_allocator *alloc, hone_error *err) {
    *out = NULL;
    /* cache.dir (HONE_CACHE_DIR, or the config file, or the API) must be
     * absolute: a relative one, or a quoted "~/x" no shell expanded, would
     * put caches under whatever directory the program runs in. */
    hone_setting_state st;
    int rc = hone_setting_get(HONE_SET_CACHE_DIR, NULL, &st, err);
    if (rc) return rc;
    const char *v = st.value.text;
    hone_buf b;
    hone_buf_init(&b, alloc);
    if (*v) {
        rc = hone_buf_puts(&b, v);
    } else if ((v = getenv("XDG_CACHE_HOME")) && *v == '/') {
        rc = hone_buf_printf(&b, "%s/hone", v);
    } else if ((v = getenv("HOME")) && *v) {
        rc = hone_buf_printf(&b, "%s/.cache/hone", v);
    } else {
        return hone_error_set(err, HONE_ENOTFOUND,
                              "no cache directory: set HONE_CACHE_DIR, XDG_CACHE_HOME or HOME");
    }
    if (rc) {
        hone_buf_free(&b);
        return hone_error_set(err, HONE_ENOMEM, "out of memory");
    }
    *out = b.data;
    return HONE_OK;
}

int hone_env_bool(const char *name, int def, int *out, hone_error *err) {
    const char *v = getenv(name);
    *out = def;
    return is_blank(v) ? HONE_OK : hone_parse_bool(name, v, out, err);
}

int hone_env_enum(const char *name, const char *const *choices, int def, int *out,
                  hone_error *err) {
    const char *v = getenv(name);
    *out = def;
    return is_blank(v) ? HONE_OK : hone_parse_enum(name, v, choices, out, err);
}

int hone_env_duration(const char *name, uint64_t default_unit_ns, uint64_t def, uint64_t *out,
                      hone_error *err) {
    const char *v = getenv(name);
    *out = def;
    return is_blank(v) ? HONE_OK : hone_parse_duration(name, v, default_unit_ns, out, err);
}

int hone_env_rate(const char *name, double def, double *out, hone_error *err) {
    const char *v = getenv(name);
    *out = def;
    return is_blank(v) ? HONE_OK : hone_parse_rate(name, v, out, err);
}

/* The table, expanded from env_vars.def. */
enum env_kind { K_ENUM, K_BOOL, K_U64, K_DURATION, K_CPUMASK, K_PATH, K_RATE, K_DIR, K_SIZE, K_ADDR, K_BOOLOR };

static const struct env_row {
    const char *name;
    enum env_kind kind;
    uint64_t min, max;
    const char *choices;
    const char *help;
} env_rows[] = {
#define HONE_ENV(name, kind, min, max, choices, help) {#name, K_##kind, min, max, choices, help},
#include "env_vars.def"
#undef HONE_ENV
};
#define N_ENV (sizeof env_rows / sizeof env_rows[0])

/* The settings' variables come after the rows of env_vars.def. */
#define N_ALL (N_ENV + HONE_SETTING_COUNT)

static hone_env_var env_public[N_ALL + 1];
static char env_expected[N_ENV][160];
static char env_setting_help[HONE_SETTING_COUNT][400];
static const char *env_names[N_ALL];
static size_t n_public, n_names;

static void describe(const struct env_row *r, char *buf, size_t n) {
    switch (r->kind) {
    case K_ENUM: snprintf(buf, n, "one of %s", r->choices); break;
    case K_BOOL: snprintf(buf, n, "1 or 0 (also true/false, yes/no, on/off)"); break;
    case K_U64:
        snprintf(buf, n, "an integer from %llu to %llu", (unsigned long long)r->min,
                 (unsigned long long)r->max);
        break;
    case K_DURATION: snprintf(buf, n, "a duration like 250ms"); break;
    case K_CPUMASK: snprintf(buf, n, "a comma list of sse4.1, avx2, avx512, sha, aes, bmi2, tsc, all"); break;
    case K_PATH: snprintf(buf, n, "a file path"); break;
    case K_RATE: snprintf(buf, n, "a rate like 100/s or 6000/min, or off"); break;
    case K_DIR: snprintf(buf, n, "an absolute directory path"); break;
    case K_SIZE:
        snprintf(buf, n, "a size like 512M or 2G (powers of 1024), from %llu to %llu bytes",
                 (unsigned long long)r->min, (unsigned long long)r->max);
        break;
    case K_ADDR: snprintf(buf, n, "HOST:PORT or the absolute path of a Unix socket"); break;
    case K_BOOLOR:
        snprintf(buf, n, "1 or 0 (also true/false, yes/no, on/off), or one of %s", r->choices);
        break;
    }
}

static pthread_once_t env_once = PTHREAD_ONCE_INIT;

static void env_public_init(void) {
    size_t k = 0;
    for (size_t i = 0; i < N_ENV; i++, k++) {
        describe(&env_rows[i], env_expected[i], sizeof env_expected[i]);
        env_public[k].name = env_rows[i].name;
        env_public[k].expected = env_expected[i];
        env_public[k].help = env_rows[i].help;
        env_names[k] = env_rows[i].name;
    }
    for (int id = 0; id < HONE_SETTING_COUNT; id++) {
        const hone_setting_info *s = hone_setting_info_get(id);
        if (!s->env) continue;
        const char *const *lv = s->level_value;
        if (id == HONE_SET_LEVEL)
            snprintf(env_setting_help[id], sizeof env_setting_help[id], "%s; setting %s",
                     s->help, s->name);
        else if (!strcmp(lv[0], lv[1]) && !strcmp(lv[1], lv[2]))
            snprintf(env_setting_help[id], sizeof env_setting_help[id],
                     "%s; setting %s, default %s", s->help, s->name, *lv[1] ? lv[1] : "built-in");
        else
            snprintf(env_setting_help[id], sizeof env_setting_help[id],
                     "%s; setting %s, default %s (basic %s, aggressive %s)", s->help, s->name,
                     lv[1], lv[0], lv[2]);
        env_public[k].name = s->env;
        env_public[k].expected = s->expected;
        env_public[k].help = env_setting_help[id];
        env_names[k] = s->env;
        k++;
    }
    n_public = n_names = k;
}

const hone_env_var *hone_env_vars(void) {
    pthread_once(&env_once, env_public_init);
    return env_public;
}

static int validate_row(const struct env_row *r, const char *v, hone_error *err) {
    switch (r->kind) {
    case K_ENUM: {
        const char *choices[16];
        char copy[160];
        int n = 0, idx;
        snprintf(copy, sizeof copy, "%s", r->choices);
        for (char *save, *t = strtok_r(copy, ",", &save); t && n < 15; t = strtok_r(NULL, ",", &save))
            choices[n++] = t;
        choices[n] = NULL;
        return hone_parse_enum(r->name, v, choices, &idx, err);
    }
    case K_BOOL: {
        int b;
        return hone_parse_bool(r->name, v, &b, err);
    }
    case K_U64: {
        uint64_t u;
        return hone_parse_u64(r->name, v, r->min, r->max, &u, err);
    }
    case K_DURATION: {
        uint64_t d;
        return hone_parse_duration(r->name, v, 1000000u, &d, err);
    }
    case K_CPUMASK: {
        uint32_t m;
        return hone_cpu_parse_mask(v, &m, err);
    }
    case K_PATH: return HONE_OK;
    case K_DIR:
        /* A relative directory would be made under whatever directory the
         * program runs in, and "~/x" in a quoted value is not expanded:
         * both would scatter state ("./~/x") where nobody looks for it. */
        if (v[0] == '/') return HONE_OK;
        return hone_error_set(err, HONE_EINVAL, "%s=%s: expected an absolute directory path%s", r->name,
                              v, v[0] == '~' ? " ('~' is expanded by a shell, not in a quoted value)" : "");
    case K_RATE: {
        double rate;
        return hone_parse_rate(r->name, v, &rate, err);
    }
    case K_SIZE: {
        uint64_t u;
        return hone_parse_size(r->name, v, r->min, r->max, &u, err);
    }
    case K_BOOLOR: {
        /* A boolean (any spelling hone_parse_bool takes) or a word. */
        int b, idx;
        const char *const words[2] = {r->choices, NULL};
        if (hone_parse_bool(r->name, v, &b, err) == HONE_OK) return HONE_OK;
        if (hone_parse_enum(r->name, v, words, &idx, err) == HONE_OK) return HONE_OK;
        return hone_error_set(err, HONE_EINVAL, "%s=%s: expected 1 or 0 (also true/false, "
                                                "yes/no, on/off), or %s",
                              r->name, v, r->choices);
    }
    case K_ADDR: {
        char host[256];
        unsigned port;
        return hone_parse_addr(r->name, v, host, sizeof host, &port, err);
    }
    }
    return HONE_OK;
}

int hone_env_validate(hone_error *err) {
    pthread_once(&env_once, env_public_init);
    /* Bad values of known variables first: they change behaviour, while an
     * unknown name is only a likely typo. */
    for (size_t i = 0; i < N_ENV; i++) {
        const char *v = getenv(env_rows[i].name);
        if (is_blank(v)) continue;
        int rc = validate_row(&env_rows[i], v, err);
        if (rc) return rc;
    }
    for (int id = 0; id < HONE_SETTING_COUNT; id++) {
        const hone_setting_info *s = hone_setting_info_get(id);
        const char *v = s->env ? getenv(s->env) : NULL;
        if (is_blank(v)) continue;
        hone_setting_value val;
        int rc = hone_setting_parse(id, s->env, v, &val, err);
        if (rc) {
            if (err) err->code = HONE_EINVAL;
            return HONE_EINVAL;
        }
    }
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "HONE_", 5) != 0) continue;
        const char *eq = strchr(*e, '=');
        if (!eq) continue;
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(eq - *e), *e);
        size_t i;
        for (i = 0; i < n_names; i++)
            if (!strcmp(env_names[i], name)) break;
        if (i < n_names) continue;
        const char *near = hone_nearest_name(name, env_names, n_names);
        if (near)
            return hone_error_set(err, HONE_ENOTFOUND,
                                  "%s: unknown environment variable; did you mean %s?", name, near);
        return hone_error_set(err, HONE_ENOTFOUND,
                              "%s: unknown environment variable (see ENVIRONMENT in hone(1))", name);
    }
    return HONE_OK;
}

static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return SIZE_MAX;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            size_t best = diag + cost;
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *hone_nearest_name(const char *word, const char *const *candidates, size_t n) {
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    size_t len = word ? strlen(word) : 0;
    if (!len) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!candidates[i]) continue;
        size_t d = edit_distance(word, candidates[i]);
        /* A prefix ("bench" for "benchmark") is a good guess too. */
        if (d != 0 && strlen(candidates[i]) > len && !strncmp(candidates[i], word, len) && len >= 3)
            d = 1;
        if (d < best_d) best_d = d, best = candidates[i];
    }
    size_t limit = len / 3 > 2 ? len / 3 : 2;
    return best_d <= limit ? best : NULL;
}
