/* settings.c - the settings table (settings.def): parsing a setting's
 * value, the layers that hold values (auto, file, api; env is read at each
 * resolution), resolution with origins, bundles, and the loader hook that
 * fills the file layer. See "Settings table" in hone/core.h. */
#include "hone/core.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- */
/* The table                                                         */
/* ---------------------------------------------------------------- */

static const hone_setting_info rows[] = {
#define HONE_SETTING(id, name, var, kind, min, max, unit, choices, b, m, a, key, exp, help) \
    {name, var, key, HONE_SETTING_##kind, min, max, unit, choices, {b, m, a}, exp, help},
#include "settings.def"
#undef HONE_SETTING
};

/* Rows are in id order. */
enum {
#define HONE_SETTING(id, ...) ROW_##id,
#include "settings.def"
#undef HONE_SETTING
    ROW_COUNT
};
#define HONE_SETTING(id, ...) \
    _Static_assert((int)ROW_##id == (int)HONE_SET_##id, "settings.def: row " #id " out of id order");
#include "settings.def"
#undef HONE_SETTING
_Static_assert((int)ROW_COUNT == (int)HONE_SETTING_COUNT, "settings.def: one row per hone_setting_id");
_Static_assert(HONE_SET_LEVEL == 0 && HONE_SET_PRESET == 1,
               "level bundles skip the first two rows (level, preset)");

/* Bundles: the items of every strategy and preset choice, contiguous per
 * choice, and which selector and choice each belongs to. */
static const hone_setting_bundle_item bundle_items[] = {
#define HONE_BUNDLE(sel, choice, id, value) {HONE_SET_##id, value},
#include "settings.def"
#undef HONE_BUNDLE
};
static const struct bundle_key {
    int selector;
    const char *choice;
} bundle_keys[] = {
#define HONE_BUNDLE(sel, choice, id, value) {HONE_SET_##sel, choice},
#include "settings.def"
#undef HONE_BUNDLE
};
#define N_BUNDLE_ITEMS (sizeof bundle_items / sizeof bundle_items[0])

static const struct bundle_help {
    int selector;
    const char *choice;
    const char *help;
} bundle_helps[] = {
#define HONE_BUNDLE_HELP(sel, choice, help) {HONE_SET_##sel, choice, help},
#include "settings.def"
#undef HONE_BUNDLE_HELP
};
#define N_BUNDLE_HELPS (sizeof bundle_helps / sizeof bundle_helps[0])

/* Each level's column as bundle items, every setting but level and preset. */
static const hone_setting_bundle_item level_items[3][HONE_SETTING_COUNT] = {
#define HONE_SETTING(id, name, var, kind, min, max, unit, choices, b, m, a, ...) {HONE_SET_##id, b},
    {
#include "settings.def"
    },
#undef HONE_SETTING
#define HONE_SETTING(id, name, var, kind, min, max, unit, choices, b, m, a, ...) {HONE_SET_##id, m},
    {
#include "settings.def"
    },
#undef HONE_SETTING
#define HONE_SETTING(id, name, var, kind, min, max, unit, choices, b, m, a, ...) {HONE_SET_##id, a},
    {
#include "settings.def"
    },
#undef HONE_SETTING
};

static const char *const origin_names[HONE_ORIGIN_COUNT] = {
    "default", "level", "strategy", "preset", "auto", "file", "env", "api"};

const char *hone_origin_name(int origin) {
    return origin >= 0 && origin < HONE_ORIGIN_COUNT ? origin_names[origin] : "unknown";
}

const hone_setting_info *hone_setting_info_get(int id) {
    return id >= 0 && id < HONE_SETTING_COUNT ? &rows[id] : NULL;
}

int hone_setting_lookup(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < HONE_SETTING_COUNT; i++)
        if (!strcmp(rows[i].name, name) || (rows[i].env && !strcmp(rows[i].env, name))) return i;
    return -1;
}

/* The index of `word` in a comma list, or -1. */
static int choice_index(const char *list, const char *word, size_t wlen) {
    int i = 0;
    for (const char *p = list; p && *p; i++) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (n == wlen && !memcmp(p, word, n)) return i;
        p = c ? c + 1 : NULL;
    }
    return -1;
}

/* Copies choice `idx` of a comma list into buf. */
static void choice_name(const char *list, int idx, char *buf, size_t cap) {
    const char *p = list;
    for (int i = 0; p && i < idx; i++) {
        p = strchr(p, ',');
        if (p) p++;
    }
    if (!p) {
        snprintf(buf, cap, "?");
        return;
    }
    const char *c = strchr(p, ',');
    snprintf(buf, cap, "%.*s", (int)(c ? (size_t)(c - p) : strlen(p)), p);
}

/* ---------------------------------------------------------------- */
/* Parsing                                                           */
/* ---------------------------------------------------------------- */

int hone_setting_parse(int id, const char *what, const char *text, hone_setting_value *out,
                       hone_error *err) {
    const hone_setting_info *r = hone_setting_info_get(id);
    if (!r || !out) return hone_error_set(err, HONE_EINVAL, "hone_setting_parse: bad arguments");
    const char *s = text ? text : "";
    if (!what) what = r->name;
    hone_setting_value v;
    memset(&v, 0, sizeof v);
    if (strlen(s) >= sizeof v.text)
        return hone_error_set(err, HONE_EINVAL, "%s=%.40s...: too long (%zu bytes); expected %s",
                              what, s, strlen(s), r->expected);
    int rc = HONE_OK;
    switch (r->kind) {
    case HONE_SETTING_ENUM: {
        int i = choice_index(r->choices, s, strlen(s));
        if (i < 0) goto bad;
        v.u = (uint64_t)i;
        break;
    }
    case HONE_SETTING_BOOL: {
        int b;
        if (hone_parse_bool(what, s, &b, NULL)) goto bad;
        v.u = (uint64_t)b;
        s = b ? "on" : "off";
        break;
    }
    case HONE_SETTING_U64:
        if (hone_parse_u64(what, s, 0, UINT64_MAX, &v.u, NULL)) goto bad;
        if (v.u < r->min || v.u > r->max) goto range;
        break;
    case HONE_SETTING_SIZE:
        if (hone_parse_size(what, s, 0, UINT64_MAX, &v.u, NULL)) goto bad;
        if (v.u < r->min || v.u > r->max) goto range;
        break;
    case HONE_SETTING_DURATION:
        if (hone_parse_duration(what, s, r->unit_ns, &v.u, NULL)) goto bad;
        if (v.u < r->min || v.u > r->max) goto range;
        break;
    case HONE_SETTING_RATE:
        if (hone_parse_rate(what, s, &v.d, NULL)) goto bad;
        if (!strcasecmp(s, "off")) s = "off";
        v.u = isinf(v.d) ? UINT64_MAX : (uint64_t)v.d;
        break;
    case HONE_SETTING_DIR:
        /* A relative directory would be made under whatever directory the
         * program runs in, and "~/x" in a quoted value is not expanded. */
        if (*s && *s != '/')
            return hone_error_set(err, HONE_EINVAL, "%s=%s: expected %s%s", what, s, r->expected,
                                  *s == '~' ? " ('~' is expanded by a shell, not in a quoted value)"
                                            : "");
        break;
    default: return hone_error_set(err, HONE_EINVAL, "%s: unknown setting kind", what);
    }
    if (r->kind != HONE_SETTING_RATE) v.d = (double)v.u;
    snprintf(v.text, sizeof v.text, "%s", s);
    *out = v;
    return rc;
bad:
    return hone_error_set(err, HONE_EINVAL, "%s=%s: expected %s", what, s, r->expected);
range:
    return hone_error_set(err, HONE_ERANGE, "%s=%s: expected %s", what, s, r->expected);
}

/* ---------------------------------------------------------------- */
/* Built-in values, parsed once                                      */
/* ---------------------------------------------------------------- */

static hone_setting_value level_values[3][HONE_SETTING_COUNT];
static hone_setting_value bundle_values[N_BUNDLE_ITEMS];
static int bundle_choice[N_BUNDLE_ITEMS];
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;

static void builtin_init(void) {
    hone_error err;
    for (int l = 0; l < 3; l++)
        for (int i = 0; i < HONE_SETTING_COUNT; i++)
            if (hone_setting_parse(i, rows[i].name, rows[i].level_value[l], &level_values[l][i],
                                   &err))
                hone_log(HONE_LOG_ERROR, "core", "settings.def: %s", err.msg);
    for (size_t k = 0; k < N_BUNDLE_ITEMS; k++) {
        const char *c = bundle_keys[k].choice;
        bundle_choice[k] = choice_index(rows[bundle_keys[k].selector].choices, c, strlen(c));
        if (hone_setting_parse(bundle_items[k].id, rows[bundle_items[k].id].name,
                               bundle_items[k].value, &bundle_values[k], &err))
            hone_log(HONE_LOG_ERROR, "core", "settings.def: %s", err.msg);
    }
}

/* ---------------------------------------------------------------- */
/* Bundles                                                           */
/* ---------------------------------------------------------------- */

static int is_selector(int s) {
    return s == HONE_SET_LEVEL || s == HONE_SET_CACHE_STRATEGY || s == HONE_SET_PRESET;
}

static int n_choices(int selector) {
    int n = 1;
    for (const char *p = rows[selector].choices; *p; p++) n += *p == ',';
    return n;
}

/* The first item of a strategy or preset bundle and its length. */
static size_t bundle_range(int selector, int choice, size_t *n) {
    pthread_once(&builtin_once, builtin_init);
    size_t first = N_BUNDLE_ITEMS;
    *n = 0;
    for (size_t k = 0; k < N_BUNDLE_ITEMS; k++) {
        if (bundle_keys[k].selector != selector || bundle_choice[k] != choice) continue;
        if (first == N_BUNDLE_ITEMS) first = k;
        ++*n;
    }
    return first;
}

int hone_setting_bundle(int selector, int choice, const hone_setting_bundle_item **items,
                        size_t *n) {
    if (!is_selector(selector) || choice < 0 || choice >= n_choices(selector) || !items || !n)
        return HONE_EINVAL;
    if (selector == HONE_SET_LEVEL) {
        *items = &level_items[choice][2];
        *n = HONE_SETTING_COUNT - 2;
        return HONE_OK;
    }
    size_t first = bundle_range(selector, choice, n);
    *items = *n ? &bundle_items[first] : NULL;
    return HONE_OK;
}

const char *hone_setting_bundle_help(int selector, int choice) {
    if (!is_selector(selector) || choice < 0 || choice >= n_choices(selector)) return NULL;
    char name[64];
    choice_name(rows[selector].choices, choice, name, sizeof name);
    for (size_t k = 0; k < N_BUNDLE_HELPS; k++)
        if (bundle_helps[k].selector == selector && !strcmp(bundle_helps[k].choice, name))
            return bundle_helps[k].help;
    return NULL;
}

/* The value a strategy or preset bundle gives setting id, or NULL. */
static const hone_setting_value *bundle_value(int selector, int choice, int id) {
    size_t n, first = bundle_range(selector, choice, &n);
    for (size_t k = first; k < first + n; k++)
        if (bundle_items[k].id == id) return &bundle_values[k];
    return NULL;
}

/* ---------------------------------------------------------------- */
/* Layers                                                            */
/* ---------------------------------------------------------------- */

/* A value of one of the stored layers (auto, file, api). */
typedef struct layer_val {
    int set;
    hone_setting_value v;
    char where[320];
} layer_val;

#define N_LAYERS 3 /* auto, file, api */
#define MAX_COMPONENT_VALUES 128
#define COMPONENT_NAME_MAX 64

/* A component's own value of one setting in one layer. */
typedef struct comp_val {
    int id, layer;
    char name[COMPONENT_NAME_MAX];
    layer_val lv;
} comp_val;

/* Writer-preferring where glibc offers it: modules read often from many
 * threads, and with the default (reader-preferring) lock a steady stream
 * of readers could keep a writer out for ever. No thread takes the read
 * lock twice, so the non-recursive kind is safe. */
#ifdef PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP
static pthread_rwlock_t lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
#else
static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
#endif
static layer_val global[HONE_SETTING_COUNT][N_LAYERS];
static comp_val comps[MAX_COMPONENT_VALUES];
static _Atomic uint64_t generation = 1;

static int layer_of(int origin) {
    switch (origin) {
    case HONE_ORIGIN_AUTO: return 0;
    case HONE_ORIGIN_FILE: return 1;
    case HONE_ORIGIN_API: return 2;
    default: return -1;
    }
}

static const int layer_origin[N_LAYERS] = {HONE_ORIGIN_AUTO, HONE_ORIGIN_FILE, HONE_ORIGIN_API};

static comp_val *comp_find(int id, int layer, const char *name) {
    for (size_t i = 0; i < MAX_COMPONENT_VALUES; i++)
        if (comps[i].lv.set && comps[i].id == id && comps[i].layer == layer &&
            !strcmp(comps[i].name, name))
            return &comps[i];
    return NULL;
}

static int component_name_ok(const char *c) {
    size_t n = strlen(c);
    if (n == 0 || n >= COMPONENT_NAME_MAX) return 0;
    for (; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("._-/:@+", *c)) return 0;
    return 1;
}

int hone_setting_set(int id, const char *component, int origin, const char *text,
                     const char *where, hone_error *err) {
    const hone_setting_info *r = hone_setting_info_get(id);
    if (!r) return hone_error_set(err, HONE_EINVAL, "hone_setting_set: no setting with id %d", id);
    int layer = layer_of(origin);
    if (layer < 0)
        return hone_error_set(err, HONE_EINVAL,
                              "hone_setting_set: %s: origin %s cannot be set (auto, file or api)",
                              r->name, hone_origin_name(origin));
    if (component) {
        if (!r->component_key)
            return hone_error_set(err, HONE_EINVAL, "%s: has no per-component value", r->name);
        if (!component_name_ok(component))
            return hone_error_set(err, HONE_EINVAL,
                                  "component '%.80s': expected 1 to %d letters, digits or ._-/:@+",
                                  component, COMPONENT_NAME_MAX - 1);
    }
    char what[400];
    if (component)
        snprintf(what, sizeof what, "%s%scomponent.%s.%s", where ? where : "", where ? ": " : "",
                 component, r->component_key);
    else
        snprintf(what, sizeof what, "%s%s%s", where ? where : "", where ? ": " : "", r->name);
    hone_setting_value v;
    int rc = hone_setting_parse(id, what, text, &v, err);
    if (rc) return rc;
    pthread_rwlock_wrlock(&lock);
    layer_val *lv;
    if (component) {
        comp_val *c = comp_find(id, layer, component);
        for (size_t i = 0; !c && i < MAX_COMPONENT_VALUES; i++)
            if (!comps[i].lv.set) c = &comps[i];
        if (!c) {
            pthread_rwlock_unlock(&lock);
            return hone_error_set(err, HONE_ENOMEM,
                                  "%s: too many per-component values (at most %d)", what,
                                  MAX_COMPONENT_VALUES);
        }
        c->id = id;
        c->layer = layer;
        snprintf(c->name, sizeof c->name, "%s", component);
        lv = &c->lv;
    } else {
        lv = &global[id][layer];
    }
    lv->set = 1;
    lv->v = v;
    snprintf(lv->where, sizeof lv->where, "%s", where ? where : hone_origin_name(origin));
    atomic_fetch_add(&generation, 1);
    pthread_rwlock_unlock(&lock);
    return HONE_OK;
}

void hone_setting_unset(int id, const char *component, int origin) {
    int layer = layer_of(origin);
    if (id < 0 || id >= HONE_SETTING_COUNT || layer < 0) return;
    pthread_rwlock_wrlock(&lock);
    if (component) {
        comp_val *c = comp_find(id, layer, component);
        if (c) memset(c, 0, sizeof *c);
    } else {
        global[id][layer].set = 0;
    }
    atomic_fetch_add(&generation, 1);
    pthread_rwlock_unlock(&lock);
}

void hone_settings_clear(int origin) {
    int layer = layer_of(origin);
    if (layer < 0) return;
    pthread_rwlock_wrlock(&lock);
    for (int i = 0; i < HONE_SETTING_COUNT; i++) global[i][layer].set = 0;
    for (size_t i = 0; i < MAX_COMPONENT_VALUES; i++)
        if (comps[i].layer == layer) memset(&comps[i], 0, sizeof comps[i]);
    atomic_fetch_add(&generation, 1);
    pthread_rwlock_unlock(&lock);
}

uint64_t hone_settings_generation(void) { return atomic_load(&generation); }

/* ---------------------------------------------------------------- */
/* Loader                                                            */
/* ---------------------------------------------------------------- */

static pthread_mutex_t load_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t load_cv = PTHREAD_COND_INITIALIZER;
static hone_settings_loader_fn loader;
static int load_state;          /* 0 to run, 1 running, 2 done; under load_mu */
static atomic_int loaded;       /* load_state == 2, read without the mutex */
static atomic_int load_failure_logged;
static _Thread_local int in_loader; /* this thread runs the loader */

/* Runs the loader on this thread, outside every lock of the table (it sets
 * values), while other threads that need it wait. Returns its status. */
static int run_loader(int implicit, hone_error *err) {
    pthread_mutex_lock(&load_mu);
    while (load_state == 1) pthread_cond_wait(&load_cv, &load_mu);
    if (implicit && load_state == 2) {
        pthread_mutex_unlock(&load_mu);
        return HONE_OK;
    }
    hone_settings_loader_fn fn = loader;
    load_state = 1;
    pthread_mutex_unlock(&load_mu);

    int rc = HONE_OK;
    if (fn) {
        hone_error e;
        memset(&e, 0, sizeof e);
        in_loader = 1;
        rc = fn(&e);
        in_loader = 0;
        if (rc && implicit && !atomic_exchange(&load_failure_logged, 1))
            hone_log(HONE_LOG_WARN, "opt", "settings: %s", e.msg[0] ? e.msg : hone_strerror(rc));
        if (rc && err) *err = e;
        if (rc && err && !err->msg[0]) hone_error_set(err, rc, "settings loader: %s", hone_strerror(rc));
    }

    pthread_mutex_lock(&load_mu);
    load_state = 2;
    atomic_store(&loaded, 1);
    pthread_cond_broadcast(&load_cv);
    pthread_mutex_unlock(&load_mu);
    atomic_fetch_add(&generation, 1);
    return rc;
}

static void ensure_loaded(void) {
    if (atomic_load(&loaded) || in_loader) return;
    run_loader(1, NULL);
}

void hone_settings_set_loader(hone_settings_loader_fn fn) {
    pthread_mutex_lock(&load_mu);
    while (load_state == 1 && !in_loader) pthread_cond_wait(&load_cv, &load_mu);
    loader = fn;
    /* A loader registered after a resolution runs before the next one. */
    if (load_state == 2) {
        load_state = 0;
        atomic_store(&loaded, 0);
    }
    pthread_mutex_unlock(&load_mu);
}

int hone_settings_reload(hone_error *err) {
    if (in_loader) return hone_error_set(err, HONE_ESTATE, "hone_settings_reload: called by the loader");
    return run_loader(0, err);
}

/* ---------------------------------------------------------------- */
/* Resolution                                                        */
/* ---------------------------------------------------------------- */

static void from_layer(hone_setting_state *out, const layer_val *lv, int origin, int component) {
    out->value = lv->v;
    out->origin = origin;
    out->component = component;
    snprintf(out->where, sizeof out->where, "%s", lv->where);
}

static void from_builtin(hone_setting_state *out, const hone_setting_value *v, int origin,
                         const char *prefix, const char *arg) {
    out->value = *v;
    out->origin = origin;
    out->component = 0;
    snprintf(out->where, sizeof out->where, "%s%s", prefix, arg);
}

/* The effective value of id (under the read lock). Returns HONE_EINVAL
 * when the setting's variable would win but is malformed (err filled, *out
 * from the layers below). */
static int resolve(int id, const char *component, hone_setting_state *out, hone_error *err) {
    const hone_setting_info *r = &rows[id];
    int rc = HONE_OK;
    if (component && r->component_key) {
        const comp_val *c = comp_find(id, 2, component);
        if (!c) c = comp_find(id, 1, component);
        if (c) return from_layer(out, &c->lv, layer_origin[c->layer], 1), HONE_OK;
    }
    if (global[id][2].set) return from_layer(out, &global[id][2], HONE_ORIGIN_API, 0), HONE_OK;
    const char *ev = r->env ? getenv(r->env) : NULL;
    if (ev && *ev) {
        if (hone_setting_parse(id, r->env, ev, &out->value, err) == HONE_OK) {
            out->origin = HONE_ORIGIN_ENV;
            out->component = 0;
            snprintf(out->where, sizeof out->where, "%s", r->env);
            return HONE_OK;
        }
        rc = HONE_EINVAL;
        if (err) err->code = HONE_EINVAL;
    }
    if (global[id][1].set) return from_layer(out, &global[id][1], HONE_ORIGIN_FILE, 0), rc;
    if (component && r->component_key) {
        const comp_val *c = comp_find(id, 0, component);
        if (c) return from_layer(out, &c->lv, HONE_ORIGIN_AUTO, 1), rc;
    }
    if (global[id][0].set) return from_layer(out, &global[id][0], HONE_ORIGIN_AUTO, 0), rc;

    char name[64];
    if (id == HONE_SET_LEVEL || id == HONE_SET_PRESET) {
        from_builtin(out, &level_values[1][id], HONE_ORIGIN_DEFAULT, "", "built-in");
        return rc;
    }
    hone_setting_state sel;
    resolve(HONE_SET_PRESET, NULL, &sel, NULL);
    const hone_setting_value *bv = bundle_value(HONE_SET_PRESET, (int)sel.value.u, id);
    if (bv) {
        choice_name(rows[HONE_SET_PRESET].choices, (int)sel.value.u, name, sizeof name);
        from_builtin(out, bv, HONE_ORIGIN_PRESET, "preset ", name);
        return rc;
    }
    if (id != HONE_SET_CACHE_STRATEGY) {
        /* A strategy's bundle applies when something chose the strategy (a
         * preset or an explicit layer); a level's column already lists the
         * values that go with the strategy it picks. */
        resolve(HONE_SET_CACHE_STRATEGY, NULL, &sel, NULL);
        bv = sel.origin > HONE_ORIGIN_LEVEL
                 ? bundle_value(HONE_SET_CACHE_STRATEGY, (int)sel.value.u, id)
                 : NULL;
        if (bv) {
            choice_name(rows[HONE_SET_CACHE_STRATEGY].choices, (int)sel.value.u, name, sizeof name);
            from_builtin(out, bv, HONE_ORIGIN_STRATEGY, "strategy ", name);
            return rc;
        }
    }
    resolve(HONE_SET_LEVEL, NULL, &sel, NULL);
    int level = (int)sel.value.u;
    if (level != 1 || sel.origin != HONE_ORIGIN_DEFAULT) {
        choice_name(rows[HONE_SET_LEVEL].choices, level, name, sizeof name);
        from_builtin(out, &level_values[level][id], HONE_ORIGIN_LEVEL, "level ", name);
    } else {
        from_builtin(out, &level_values[1][id], HONE_ORIGIN_DEFAULT, "", "built-in");
    }
    return rc;
}

int hone_setting_get(int id, const char *component, hone_setting_state *out, hone_error *err) {
    if (id < 0 || id >= HONE_SETTING_COUNT || !out)
        return hone_error_set(err, HONE_EINVAL, "hone_setting_get: no setting with id %d", id);
    pthread_once(&builtin_once, builtin_init);
    ensure_loaded();
    pthread_rwlock_rdlock(&lock);
    int rc = resolve(id, component, out, err);
    pthread_rwlock_unlock(&lock);
    return rc;
}

uint64_t hone_setting_u64(int id, const char *component) {
    hone_setting_state st;
    if (id < 0 || id >= HONE_SETTING_COUNT) return 0;
    hone_setting_get(id, component, &st, NULL);
    return st.value.u;
}

double hone_setting_double(int id, const char *component) {
    hone_setting_state st;
    if (id < 0 || id >= HONE_SETTING_COUNT) return 0;
    hone_setting_get(id, component, &st, NULL);
    return st.value.d;
}
