/* halt.c - GNU parallel's --halt values (see hone/run.h) and the names of
 * how a job ended. */
#include <stdint.h>
#include <string.h>

#include "hone/run.h"

static const char *const end_names[] = {"exited", "signaled", "timedout", "killed", "nostart", "failed"};

const char *hone_run_end_name(int end) {
    if (end < 0 || (size_t)end >= sizeof end_names / sizeof end_names[0]) return NULL;
    return end_names[end];
}

/* The expected form, for every refusal (a %s argument: it holds '%'). */
static const char halt_form[] =
    "never, or now|soon,fail|success|done=N|P% (N >= 1, 0 < P < 100), or GNU's 0, 1, 2, -1, -2, P%";

static int bad(const char *s, const char *why, hone_error *err) {
    return hone_error_set(err, HONE_EINVAL, "bad --halt value '%s': %s; expected %s", s, why,
                          halt_form);
}

/* A whole decimal number that fits in 64 bits, all of s. Returns 1 with
 * *v, 0 when s is not one. */
static int parse_count(const char *s, uint64_t *v) {
    uint64_t x = 0;
    if (!*s) return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return 0;
        unsigned d = (unsigned)(*s - '0');
        if (x > (UINT64_MAX - d) / 10) return 0;
        x = x * 10 + d;
    }
    *v = x;
    return 1;
}

/* A percentage "D+%" or "D+.D+%": digits, an optional fraction, '%' last. */
static int parse_percent(const char *s, double *v) {
    size_t n = strlen(s);
    if (n < 2 || s[n - 1] != '%') return 0;
    double x = 0, scale = 0;
    int digits = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        char c = s[i];
        if (c == '.' && scale == 0 && digits) {
            scale = 1;
            continue;
        }
        if (c < '0' || c > '9') return 0;
        digits++;
        if (scale) x += (c - '0') * (scale /= 10);
        else x = x * 10 + (c - '0');
    }
    if (s[n - 2] == '.') return 0; /* "5.%" */
    *v = x;
    return 1;
}

int hone_run_halt_parse(const char *s, hone_run_halt *out, hone_error *err) {
    if (!s) return hone_error_set(err, HONE_EINVAL, "--halt value is NULL; expected %s", halt_form);
    if (!out) return hone_error_set(err, HONE_EINVAL, "hone_run_halt_parse: out is NULL");
    hone_run_halt h = {HONE_HALT_NEVER, HONE_HALT_FAIL, 0, 0};

    /* GNU parallel's short forms. */
    static const struct {
        const char *s;
        int when, on;
    } shorts[] = {{"0", HONE_HALT_NEVER, HONE_HALT_FAIL},    {"never", HONE_HALT_NEVER, HONE_HALT_FAIL},
                  {"1", HONE_HALT_SOON, HONE_HALT_FAIL},     {"2", HONE_HALT_NOW, HONE_HALT_FAIL},
                  {"-1", HONE_HALT_SOON, HONE_HALT_SUCCESS}, {"-2", HONE_HALT_NOW, HONE_HALT_SUCCESS}};
    for (size_t i = 0; i < sizeof shorts / sizeof shorts[0]; i++) {
        if (!strcmp(s, shorts[i].s)) {
            h.when = shorts[i].when;
            h.on = shorts[i].on;
            h.count = h.when == HONE_HALT_NEVER ? 0 : 1;
            *out = h;
            return HONE_OK;
        }
    }

    /* WHEN,ON=VALUE; GNU's "P%" alone means soon,fail=P%. */
    const char *value;
    if (s[0] >= '0' && s[0] <= '9') {
        h.when = HONE_HALT_SOON;
        h.on = HONE_HALT_FAIL;
        value = s;
        if (!strchr(s, '%')) return bad(s, "a bare number must be 0, 1 or 2", err);
    } else {
        const char *comma = strchr(s, ',');
        size_t wl = comma ? (size_t)(comma - s) : strlen(s);
        if (wl == 3 && !strncmp(s, "now", 3)) h.when = HONE_HALT_NOW;
        else if (wl == 4 && !strncmp(s, "soon", 4)) h.when = HONE_HALT_SOON;
        else if (!*s) return bad(s, "it is empty", err);
        else if (wl == 5 && !strncmp(s, "never", 5)) return bad(s, "never takes no condition", err);
        else return bad(s, "it must start with never, soon or now", err);
        if (!comma) return bad(s, "soon and now need a condition (,fail=N)", err);
        const char *on = comma + 1, *eq = strchr(on, '=');
        size_t ol = eq ? (size_t)(eq - on) : strlen(on);
        if (ol == 4 && !strncmp(on, "fail", 4)) h.on = HONE_HALT_FAIL;
        else if (ol == 7 && !strncmp(on, "success", 7)) h.on = HONE_HALT_SUCCESS;
        else if (ol == 4 && !strncmp(on, "done", 4)) h.on = HONE_HALT_DONE;
        else return bad(s, "the condition must be fail, success or done", err);
        if (!eq) return bad(s, "the condition needs a count or a percentage (=N or =P%)", err);
        value = eq + 1;
    }
    if (parse_count(value, &h.count)) {
        if (h.count == 0) return bad(s, "the count must be at least 1", err);
    } else if (parse_percent(value, &h.percent)) {
        if (!(h.percent > 0 && h.percent < 100))
            return bad(s, "the percentage must be above 0 and below 100", err);
    } else if (value[0] && strspn(value, "0123456789") == strlen(value)) {
        return bad(s, "the count is too large", err);
    } else {
        return bad(s, "the count must be a whole number (N) or a percentage (P%)", err);
    }
    *out = h;
    return HONE_OK;
}
