/* tune.c - continuous mode: a tuner that moves one setting at a time by one
 * bounded step, measures the objective before and after, keeps the change
 * only when it helped by more than the noise, and journals every judged
 * change (journal.c).
 *
 * The tuner is a state machine that hone_opt_tuner_tick advances by at most
 * one action on an injected clock, so a test drives it without sleeping:
 *
 *   BASE  -- hold_ns since the last change --> measure `samples` values:
 *            the baseline (MEASURED)                                 -> READY
 *   READY -- pick the next knob round robin; an explicitly set one is
 *            SKIPPED (once, journalled) and settled; a knob at the end of
 *            its range in its direction turns round; hold_ns since the
 *            last change --> one step in the AUTO layer (STEPPED)    -> TRIAL
 *            no knob left (every knob settled) --> DONE
 *   TRIAL -- hold_ns since the step --> measure `samples` values, judge:
 *            KEPT (journalled; the after window is the new baseline) -> READY
 *            REVERTED (auto layer put back, journalled)              -> BASE
 *
 * Judgement (hysteresis): with means mb, ma, sample variances vb, va over
 * nb, na samples, the Welch standard error of the difference is
 * se = sqrt(vb/nb + va/na); a change is kept only when
 * ma - mb > max(min_gain * |mb|, z * se). Anything else, a real loss or a
 * gain lost in the noise, is reverted: no change is kept on noise, and a
 * kept change has to clear a margin, so the value does not flap.
 *
 * Directions: a knob first goes up (times factor). A revert turns it round
 * and marks that direction failed; a keep marks the opposite one failed (it
 * measurably lost to where we are now). A knob whose two directions failed
 * is settled; when every knob is settled the tuner is DONE. */
#include "hone/opt.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "opt/journal_internal.h"

enum { P_BASE, P_READY, P_TRIAL, P_DONE };

typedef struct tknob {
    int setting;
    char *component;
    uint64_t min, max;
    double factor;
    int dir;        /* 0 up (multiply), 1 down (divide) */
    int failed[2];
    int settled, skipped;
} tknob;

typedef struct stats {
    double mean, var;
    unsigned n;
} stats;

struct hone_opt_tuner {
    const hone_allocator *alloc;
    tknob *k;
    size_t nk, cursor;
    hone_opt_measure_fn measure;
    void *ctx;
    unsigned samples;
    uint64_t hold_ns;
    double min_gain, z;
    char *journal; /* NULL: memory only */
    hone_clock_fn clock;
    void *clock_ctx;
    double *buf;
    int phase;
    stats base;
    int have_change;
    uint64_t last_change;
    uint64_t mem_seq;
    unsigned kept, reverted, skipped;
    /* The change being judged. */
    size_t ti;
    int had_auto; /* the knob's own auto value existed before: restore it */
    int before_origin;
    char before[256], before_where[320], after[256];
};

static const char *const action_names[] = {"wait", "measured", "stepped", "kept",
                                           "reverted", "skipped", "done"};

const char *hone_opt_tuner_action_name(int action) {
    return action >= 0 && action <= HONE_TUNE_DONE ? action_names[action] : "unknown";
}

static uint64_t now_ns(const hone_opt_tuner *t) {
    return t->clock ? t->clock(t->clock_ctx) : hone_now_ns();
}

static int holding(const hone_opt_tuner *t, uint64_t now) {
    return t->have_change && (now < t->last_change || now - t->last_change < t->hold_ns);
}

void hone_opt_tuner_free(hone_opt_tuner *t) {
    if (!t) return;
    for (size_t i = 0; i < t->nk; i++) hone_free(t->alloc, t->k[i].component);
    hone_free(t->alloc, t->k);
    hone_free(t->alloc, t->buf);
    hone_free(t->alloc, t->journal);
    hone_free(t->alloc, t);
}

int hone_opt_tuner_new(hone_opt_tuner **out, const hone_opt_tuner_opts *opts, hone_error *err) {
    if (!out) return hone_error_set(err, HONE_EINVAL, "no output for the tuner");
    *out = NULL;
    if (!opts || !opts->knobs || !opts->nknobs)
        return hone_error_set(err, HONE_EINVAL, "a tuner needs at least one knob");
    if (!opts->measure) return hone_error_set(err, HONE_EINVAL, "a tuner needs a measure callback");
    for (size_t i = 0; i < opts->nknobs; i++) {
        const hone_opt_knob *kn = &opts->knobs[i];
        const hone_setting_info *info = hone_setting_info_get(kn->setting);
        if (!info)
            return hone_error_set(err, HONE_EINVAL, "knob %zu: no setting with id %d", i, kn->setting);
        if (info->kind != HONE_SETTING_U64 && info->kind != HONE_SETTING_SIZE &&
            info->kind != HONE_SETTING_DURATION)
            return hone_error_set(err, HONE_EINVAL,
                                  "knob %zu: %s is not numeric (a tuner moves u64, size and "
                                  "duration settings)", i, info->name);
        if (kn->component && !info->component_key)
            return hone_error_set(err, HONE_EINVAL, "knob %zu: %s has no per-component value", i,
                                  info->name);
        if (kn->max && kn->min > kn->max)
            return hone_error_set(err, HONE_EINVAL, "knob %zu (%s): min %llu above max %llu", i,
                                  info->name, (unsigned long long)kn->min,
                                  (unsigned long long)kn->max);
        if (kn->factor != 0 && !(kn->factor > 1 && isfinite(kn->factor)))
            return hone_error_set(err, HONE_EINVAL, "knob %zu (%s): factor %g must be above 1", i,
                                  info->name, kn->factor);
    }
    const hone_allocator *a = opts->alloc;
    hone_opt_tuner *t = hone_calloc(a, 1, sizeof *t);
    if (!t) return hone_error_set(err, HONE_ENOMEM, "out of memory making a tuner");
    t->alloc = a;
    t->samples = opts->samples ? opts->samples : 5;
    t->k = hone_calloc(a, opts->nknobs, sizeof *t->k);
    t->buf = hone_calloc(a, t->samples, sizeof *t->buf);
    if (!t->k || !t->buf) goto nomem;
    for (size_t i = 0; i < opts->nknobs; i++, t->nk++) {
        const hone_opt_knob *kn = &opts->knobs[i];
        const hone_setting_info *info = hone_setting_info_get(kn->setting);
        tknob *k = &t->k[i];
        k->setting = kn->setting;
        if (kn->component && !(k->component = hone_strdup(a, kn->component))) goto nomem;
        /* The knob's range, inside the setting's own (max 0: the setting's). */
        k->min = kn->min > info->min ? kn->min : info->min;
        k->max = kn->max && kn->max < info->max ? kn->max : info->max;
        k->factor = kn->factor ? kn->factor : 2.0;
    }
    if (opts->journal) {
        if (!(t->journal = hone_strdup(a, opts->journal))) goto nomem;
    } else {
        hone_error e2;
        int rc = hone_opt_journal_path(&t->journal, a, &e2);
        if (rc && rc != HONE_ENOTFOUND) {
            hone_opt_tuner_free(t);
            if (err) *err = e2;
            return rc;
        }
    }
    t->measure = opts->measure;
    t->ctx = opts->ctx;
    t->hold_ns = opts->hold_ns ? opts->hold_ns : 60000000000ull;
    t->min_gain = opts->min_gain > 0 ? opts->min_gain : 0.02;
    t->z = opts->z > 0 ? opts->z : 2.0;
    t->clock = opts->clock;
    t->clock_ctx = opts->clock_ctx;
    t->phase = P_BASE;
    *out = t;
    return HONE_OK;
nomem:
    hone_opt_tuner_free(t);
    return hone_error_set(err, HONE_ENOMEM, "out of memory making a tuner");
}

/* Takes `samples` measurements into *s. */
static int measure(hone_opt_tuner *t, stats *s, hone_error *err) {
    double sum = 0;
    for (unsigned i = 0; i < t->samples; i++) {
        double v = 0;
        int rc = t->measure(t->ctx, &v);
        if (rc) return hone_error_set(err, rc, "the tuner's measurement failed: %s", hone_strerror(rc));
        if (!isfinite(v))
            return hone_error_set(err, HONE_EINVAL, "the tuner's measurement gave %g", v);
        t->buf[i] = v;
        sum += v;
    }
    s->n = t->samples;
    s->mean = sum / s->n;
    double ss = 0;
    for (unsigned i = 0; i < s->n; i++) ss += (t->buf[i] - s->mean) * (t->buf[i] - s->mean);
    s->var = s->n > 1 ? ss / (s->n - 1) : 0;
    return HONE_OK;
}

/* The text of a value as the setting takes it: sizes and durations with
 * the largest unit that divides them (a bare duration would be read in the
 * setting's unit). */
static void value_text(int kind, uint64_t v, char *buf, size_t n) {
    if (kind == HONE_SETTING_SIZE && v) {
        static const char suf[] = "KMGT";
        int u = -1;
        while (u < 3 && v % 1024 == 0) v /= 1024, u++;
        if (u >= 0) {
            snprintf(buf, n, "%llu%c", (unsigned long long)v, suf[u]);
            return;
        }
    } else if (kind == HONE_SETTING_DURATION) {
        static const struct { uint64_t ns; const char *unit; } units[] = {
            {3600000000000ull, "h"}, {60000000000ull, "m"}, {1000000000ull, "s"},
            {1000000ull, "ms"}, {1000ull, "us"}, {1, "ns"}};
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
            if (v % units[i].ns == 0 || units[i].ns == 1) {
                snprintf(buf, n, "%llu%s", (unsigned long long)(v / units[i].ns), units[i].unit);
                return;
            }
    }
    snprintf(buf, n, "%llu", (unsigned long long)v);
}

/* The value one step from cur in direction dir within the knob's range, or
 * cur when there is none (at the bound). */
static uint64_t step_value(const tknob *k, uint64_t cur, int dir) {
    double x = dir == 0 ? (double)cur * k->factor : (double)cur / k->factor;
    uint64_t v = x >= 18446744073709549568.0 ? UINT64_MAX : (uint64_t)llround(x);
    if (dir == 0) {
        if (v <= cur) v = cur == UINT64_MAX ? cur : cur + 1;
        if (v > k->max) v = k->max;
        return v > cur ? v : cur;
    }
    if (v >= cur) v = cur ? cur - 1 : 0;
    if (v < k->min) v = k->min;
    return v < cur ? v : cur;
}

static int explicit_origin(int origin) {
    return origin == HONE_ORIGIN_FILE || origin == HONE_ORIGIN_ENV || origin == HONE_ORIGIN_API;
}

/* Formats into a fixed field, cutting what does not fit: event and
 * evidence texts are bounded by the API, and a cut one is still useful.
 * (Through a va_list so gcc does not count the cut as a mistake.) */
static void put_text(char *dst, size_t n, const char *fmt, ...) HONE_PRINTF(3, 4);
static void put_text(char *dst, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, n, fmt, ap);
    va_end(ap);
}

static void copy_text(char *dst, size_t n, const char *src) { put_text(dst, n, "%s", src); }

/* Journals one line (or numbers it in memory when there is no journal);
 * where receives what the auto layer shows for a kept value. */
static int journal(hone_opt_tuner *t, const tknob *k, const char *before, const char *after,
                   int before_origin, const char *evidence, const char *outcome, char *where,
                   size_t where_n, hone_error *err) {
    uint64_t seq;
    if (t->journal) {
        hone__journal_entry e = {
            .setting = hone_setting_info_get(k->setting)->name,
            .component = k->component,
            .before = before,
            .after = after,
            .before_origin = hone_origin_name(before_origin),
            .evidence = evidence,
            .outcome = outcome,
        };
        int rc = hone__journal_append(t->journal, &e, &seq, t->alloc, err);
        if (rc) return rc;
        snprintf(where, where_n, "journal #%llu", (unsigned long long)seq);
    } else {
        seq = ++t->mem_seq;
        snprintf(where, where_n, "tuner #%llu (no journal)", (unsigned long long)seq);
    }
    return HONE_OK;
}

/* Puts the knob under trial back as it was before the step. */
static int restore(hone_opt_tuner *t, hone_error *err) {
    const tknob *k = &t->k[t->ti];
    if (!t->had_auto) {
        hone_setting_unset(k->setting, k->component, HONE_ORIGIN_AUTO);
        return HONE_OK;
    }
    return hone_setting_set(k->setting, k->component, HONE_ORIGIN_AUTO, t->before,
                            t->before_where, err);
}

/* Marks knob k explicit: settled, journalled once, reported SKIPPED. */
static int skip(hone_opt_tuner *t, tknob *k, const hone_setting_state *st, int bad_env,
                hone_opt_tuner_event *ev, hone_error *err) {
    const hone_setting_info *info = hone_setting_info_get(k->setting);
    char evidence[512], where[64];
    snprintf(evidence, sizeof evidence,
             "%s%s%s%s is set explicitly (%s: %s)%s; continuous mode never changes an explicit "
             "setting", info->name, k->component ? "[" : "", k->component ? k->component : "",
             k->component ? "]" : "", hone_origin_name(st->origin), st->where,
             bad_env ? ", with a malformed value" : "");
    k->settled = k->skipped = 1;
    t->skipped++;
    ev->action = HONE_TUNE_SKIPPED;
    copy_text(ev->before, sizeof ev->before, st->value.text);
    copy_text(ev->after, sizeof ev->after, st->value.text);
    copy_text(ev->evidence, sizeof ev->evidence, evidence);
    return journal(t, k, st->value.text, st->value.text, st->origin, evidence, "skipped", where,
                   sizeof where, err);
}

/* The state of a knob's setting; *bad_env when the environment holds a
 * malformed value for it (which is still the user's explicit choice). */
static int knob_state(const tknob *k, hone_setting_state *st, int *bad_env, hone_error *err) {
    hone_error e2;
    int rc = hone_setting_get(k->setting, k->component, st, &e2);
    *bad_env = rc == HONE_EINVAL;
    if (rc && rc != HONE_EINVAL) {
        if (err) *err = e2;
        return rc;
    }
    if (*bad_env) st->origin = HONE_ORIGIN_ENV;
    return HONE_OK;
}

static int tick_ready(hone_opt_tuner *t, uint64_t now, hone_opt_tuner_event *ev, hone_error *err) {
    /* Each knob is looked at most three times (its two directions and a
     * skip) before every knob is known settled. */
    for (size_t tries = 0; tries < 3 * t->nk + 1; tries++) {
        tknob *k = &t->k[t->cursor % t->nk];
        if (k->settled) {
            t->cursor++;
            continue;
        }
        hone_setting_state st;
        int bad_env, rc = knob_state(k, &st, &bad_env, err);
        if (rc) return rc;
        ev->setting = k->setting;
        if (explicit_origin(st.origin)) {
            t->cursor++;
            return skip(t, k, &st, bad_env, ev, err);
        }
        uint64_t v = step_value(k, st.value.u, k->dir);
        if (v == st.value.u) {
            /* At the end of the range this way: nothing to try there. */
            k->failed[k->dir] = 1;
            k->dir = !k->dir;
            if (k->failed[0] && k->failed[1]) {
                k->settled = 1;
                t->cursor++;
            }
            continue;
        }
        if (holding(t, now)) {
            ev->action = HONE_TUNE_WAIT;
            return HONE_OK;
        }
        const hone_setting_info *info = hone_setting_info_get(k->setting);
        t->ti = (size_t)(k - t->k);
        t->before_origin = st.origin;
        t->had_auto = st.origin == HONE_ORIGIN_AUTO && (!k->component || st.component);
        copy_text(t->before, sizeof t->before, st.value.text);
        copy_text(t->before_where, sizeof t->before_where, st.where);
        value_text(info->kind, v, t->after, sizeof t->after);
        rc = hone_setting_set(k->setting, k->component, HONE_ORIGIN_AUTO, t->after,
                              "tuner trial (not yet judged)", err);
        if (rc) return rc;
        t->have_change = 1;
        t->last_change = now;
        t->phase = P_TRIAL;
        ev->action = HONE_TUNE_STEPPED;
        ev->mean_before = t->base.mean;
        copy_text(ev->before, sizeof ev->before, t->before);
        copy_text(ev->after, sizeof ev->after, t->after);
        put_text(ev->evidence, sizeof ev->evidence,
                 "%s %s -> %s (%s); baseline mean %.6g over %u samples", info->name, t->before,
                 t->after, k->dir ? "down" : "up", t->base.mean, t->base.n);
        return HONE_OK;
    }
    t->phase = P_DONE;
    ev->action = HONE_TUNE_DONE;
    ev->setting = -1;
    snprintf(ev->evidence, sizeof ev->evidence,
             "every knob settled: %u kept, %u reverted, %u skipped", t->kept, t->reverted,
             t->skipped);
    return HONE_OK;
}

static int tick_trial(hone_opt_tuner *t, uint64_t now, hone_opt_tuner_event *ev, hone_error *err) {
    tknob *k = &t->k[t->ti];
    const hone_setting_info *info = hone_setting_info_get(k->setting);
    ev->setting = k->setting;
    copy_text(ev->before, sizeof ev->before, t->before);
    copy_text(ev->after, sizeof ev->after, t->after);
    hone_setting_state st;
    int bad_env, rc = knob_state(k, &st, &bad_env, err);
    if (rc) return rc;
    if (explicit_origin(st.origin)) {
        /* The user set it while we held: their value wins; ours goes. */
        hone_setting_unset(k->setting, k->component, HONE_ORIGIN_AUTO);
        t->phase = P_BASE;
        t->cursor++;
        return skip(t, k, &st, bad_env, ev, err);
    }
    if (holding(t, now)) {
        ev->action = HONE_TUNE_WAIT;
        return HONE_OK;
    }
    stats a;
    rc = measure(t, &a, err);
    if (rc) {
        /* The step is abandoned: the setting goes back, and the baseline is
         * taken again once the system has settled. */
        hone_error e2;
        if (restore(t, &e2) == HONE_ENOMEM) return hone_error_set(err, HONE_ENOMEM, "%s", e2.msg);
        t->last_change = now;
        t->phase = P_BASE;
        return rc;
    }
    double diff = a.mean - t->base.mean;
    double se = sqrt(t->base.var / t->base.n + a.var / a.n);
    double by_gain = t->min_gain * fabs(t->base.mean), by_noise = t->z * se;
    double need = by_gain > by_noise ? by_gain : by_noise;
    int keep = diff > need;
    ev->mean_before = t->base.mean;
    ev->mean_after = a.mean;
    ev->se_diff = se;
    char evidence[256], where[64];
    snprintf(evidence, sizeof evidence,
             "mean %.6g -> %.6g over %u+%u samples: %+.6g (%+.2f%%), Welch se %.4g; %s %.4g = "
             "max(%.3g%% of before, %.2g se)", t->base.mean, a.mean, t->base.n, a.n, diff,
             t->base.mean != 0 ? 100.0 * diff / fabs(t->base.mean) : 0.0, se,
             keep ? "above" : "not above", need, 100.0 * t->min_gain, t->z);
    copy_text(ev->evidence, sizeof ev->evidence, evidence);
    if (keep) {
        rc = journal(t, k, t->before, t->after, t->before_origin, evidence, "kept", where,
                     sizeof where, err);
        if (!rc)
            rc = hone_setting_set(k->setting, k->component, HONE_ORIGIN_AUTO, t->after, where, err);
        if (rc) {
            /* A change that cannot be journalled is not kept. */
            hone_error e2;
            (void)restore(t, &e2);
            t->last_change = now;
            t->phase = P_BASE;
            return rc;
        }
        t->kept++;
        k->failed[!k->dir] = 1;
        t->base = a; /* measured at the value we keep */
        t->phase = P_READY;
        ev->action = HONE_TUNE_KEPT;
    } else {
        rc = restore(t, err);
        if (rc) return rc;
        t->last_change = now;
        t->reverted++;
        k->failed[k->dir] = 1;
        k->dir = !k->dir;
        if (k->failed[0] && k->failed[1]) k->settled = 1;
        t->phase = P_BASE;
        ev->action = HONE_TUNE_REVERTED;
        rc = journal(t, k, t->before, t->after, t->before_origin, evidence, "reverted", where,
                     sizeof where, err);
        if (rc) return rc;
    }
    t->cursor++;
    (void)info;
    return HONE_OK;
}

int hone_opt_tuner_tick(hone_opt_tuner *t, hone_opt_tuner_event *ev, hone_error *err) {
    hone_opt_tuner_event local;
    if (!ev) ev = &local;
    memset(ev, 0, sizeof *ev);
    ev->setting = -1;
    if (!t) return hone_error_set(err, HONE_EINVAL, "no tuner");
    uint64_t now = now_ns(t);
    switch (t->phase) {
    case P_BASE: {
        /* After the last knob settled there is nothing to measure for. */
        size_t open = 0;
        for (size_t i = 0; i < t->nk; i++) open += !t->k[i].settled;
        if (!open) return tick_ready(t, now, ev, err);
        if (holding(t, now)) return HONE_OK; /* WAIT */
        int rc = measure(t, &t->base, err);
        if (rc) return rc;
        t->phase = P_READY;
        ev->action = HONE_TUNE_MEASURED;
        ev->mean_before = t->base.mean;
        snprintf(ev->evidence, sizeof ev->evidence, "baseline mean %.6g over %u samples, sd %.4g",
                 t->base.mean, t->base.n, sqrt(t->base.var));
        return HONE_OK;
    }
    case P_READY: return tick_ready(t, now, ev, err);
    case P_TRIAL: return tick_trial(t, now, ev, err);
    default:
        ev->action = HONE_TUNE_DONE;
        snprintf(ev->evidence, sizeof ev->evidence,
                 "every knob settled: %u kept, %u reverted, %u skipped", t->kept, t->reverted,
                 t->skipped);
        return HONE_OK;
    }
}
