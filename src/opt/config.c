/* config.c - the settings' config file (hone.ini), the api layer, and the
 * status of every setting (see hone/opt.h, "Settings").
 *
 * The file is parsed with Debian's libinih through ini_parse_stream and a
 * reader of our own. The reader hands inih one physical line per call, so
 * it always knows the line a value came from (Debian builds inih without
 * line numbers in the handler), and it normalises each line first:
 * leading blanks are dropped (so an indented key is a key, never the
 * continuation of the previous value, whatever inih's multi-line switch
 * says), and an inline comment, '#' or ';' after a blank, is cut (inih's
 * default knows only ';'). Section headers are checked by the reader too,
 * at their own line, since inih reports none to the handler.
 *
 * A load parses the file twice over the same bytes: once to validate
 * every line (nothing changes when one is bad), once to apply. Persist
 * parses the file once more to learn which line is which, then edits the
 * bytes: the key's line gets the new value in place of the old (its
 * indentation and comment kept), every other byte stays. */
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hone/opt.h"
#include "opt/opt_internal.h"

/* inih's line buffer (INI_MAX_LINE, on its stack): the reader refuses a
 * longer line instead of letting inih split it. */
#define LINE_MAX_BYTES 200
/* A component name in a section header: inih keeps 49 bytes of a section
 * name, "component." takes 10. */
#define FILE_COMPONENT_MAX 39
/* A config file is a few lines; anything this big is something else. */
#define FILE_MAX_BYTES (1u << 20)

/* ------------------------------------------------------------------ */
/* Module state                                                        */
/* ------------------------------------------------------------------ */

/* Serialises loads and persists, and guards the state below. */
static pthread_mutex_t cfg_mu = PTHREAD_MUTEX_INITIALIZER;
/* The file the file layer was last loaded from ("" none). */
static char active_path[PATH_MAX];
/* The automatic load: the config file's part and the journal's part. */
static int auto_file_rc, auto_journal_rc;
static hone_error auto_file_err, auto_journal_err;
/* Set on the thread that runs the automatic load, so that the loads it
 * makes do not ask for it again. */
static _Thread_local int in_loader;

static pthread_mutex_t comp_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char name[HONE_OPT_COMPONENT_MAX + 1];
    uint64_t ids; /* bit per setting id */
} comps[HONE_OPT_COMPONENTS];
static size_t ncomps;

int hone_opt__note_component(int id, const char *component) {
    if (!component || id < 0 || id >= HONE_SETTING_COUNT) return HONE_EINVAL;
    size_t len = strlen(component);
    if (len == 0 || len > HONE_OPT_COMPONENT_MAX) return HONE_ERANGE;
    int rc = HONE_OK;
    pthread_mutex_lock(&comp_mu);
    size_t i;
    for (i = 0; i < ncomps; i++)
        if (!strcmp(comps[i].name, component)) break;
    if (i == ncomps) {
        if (ncomps == HONE_OPT_COMPONENTS) {
            rc = HONE_ERANGE;
        } else {
            memcpy(comps[i].name, component, len + 1);
            comps[i].ids = 0;
            ncomps++;
        }
    }
    if (rc == HONE_OK) comps[i].ids |= 1ull << id;
    pthread_mutex_unlock(&comp_mu);
    return rc;
}

/* Makes sure the automatic load has run, so that it cannot later replace
 * what an explicit call does now: resolving any setting runs it. */
static void ensure_autoload(void) {
    if (!in_loader) (void)hone_setting_u64(HONE_SET_LEVEL, NULL);
}

/* ------------------------------------------------------------------ */
/* Names: sections and keys                                            */
/* ------------------------------------------------------------------ */

/* The section of a setting's global key: "cache" for "cache.size", "" for
 * "level". The key is what follows the dot. */
static const char *setting_key(const hone_setting_info *in, char *sec, size_t cap) {
    const char *dot = strchr(in->name, '.');
    int n = dot ? (int)(dot - in->name) : 0;
    snprintf(sec, cap, "%.*s", n, in->name);
    return dot ? dot + 1 : in->name;
}

/* The global sections the table has ("cache", "exec", ...), each once. */
static size_t global_sections(const char **out, char store[][32], size_t cap) {
    size_t n = 0;
    for (int id = 0; id < HONE_SETTING_COUNT && n < cap; id++) {
        const hone_setting_info *in = hone_setting_info_get(id);
        char sec[32];
        setting_key(in, sec, sizeof sec);
        if (!sec[0]) continue;
        size_t j;
        for (j = 0; j < n; j++)
            if (!strcmp(out[j], sec)) break;
        if (j < n) continue;
        memcpy(store[n], sec, sizeof sec);
        out[n] = store[n];
        n++;
    }
    return n;
}

static int valid_component(const char *s, size_t max) {
    size_t n = strlen(s);
    if (n == 0 || n > max) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 0x7f || strchr("[]=:;#\"'\\", c)) return 0;
    }
    return 1;
}

enum section_kind { SEC_TOP, SEC_GLOBAL, SEC_COMPONENT, SEC_ALERT, SEC_UNKNOWN, SEC_BADCOMP };

static enum section_kind classify_section(const char *section) {
    if (!section[0]) return SEC_TOP;
    if (!strncmp(section, "alert.", 6) && section[6]) return SEC_ALERT;
    if (!strncmp(section, "component.", 10))
        return valid_component(section + 10, FILE_COMPONENT_MAX) ? SEC_COMPONENT : SEC_BADCOMP;
    const char *names[HONE_SETTING_COUNT];
    char store[HONE_SETTING_COUNT][32];
    size_t n = global_sections(names, store, HONE_SETTING_COUNT);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(names[i], section)) return SEC_GLOBAL;
    return SEC_UNKNOWN;
}

/* Explains an unknown section into msg: "unknown section [cahce]; did you
 * mean [cache]?" or the list of valid ones. */
static void explain_section(const char *section, char *msg, size_t cap) {
    const char *names[HONE_SETTING_COUNT + 2];
    char store[HONE_SETTING_COUNT][32];
    size_t n = global_sections(names, store, HONE_SETTING_COUNT);
    names[n++] = "component";
    names[n++] = "alert";
    if (!strncmp(section, "component.", 10)) {
        snprintf(msg, cap,
                 "[%s]: a component name is 1 to %d bytes of letters, digits, '_', '.', '-'",
                 section, FILE_COMPONENT_MAX);
        return;
    }
    char word[64];
    const char *dot = strchr(section, '.');
    size_t wl = dot ? (size_t)(dot - section) : strlen(section);
    if (wl >= sizeof word) wl = sizeof word - 1;
    memcpy(word, section, wl);
    word[wl] = '\0';
    const char *near = hone_nearest_name(word, names, n);
    if (near && (!strcmp(near, "component") || !strcmp(near, "alert")))
        snprintf(msg, cap, "unknown section [%s]; did you mean [%s%s]?", section, near,
                 dot ? dot : ".NAME");
    else if (near)
        snprintf(msg, cap, "unknown section [%s]; did you mean [%s]?", section, near);
    else {
        size_t o = (size_t)snprintf(msg, cap, "unknown section [%s]; expected", section);
        for (size_t i = 0; i + 2 < n && o < cap; i++)
            o += (size_t)snprintf(msg + o, cap - o, " [%s],", names[i]);
        if (o < cap) snprintf(msg + o, cap - o, " [component.NAME] or [alert.NAME]");
    }
}

/* The setting a key of a section names, or -1 with msg explaining. */
static int lookup_key(const char *section, enum section_kind kind, const char *key, char *msg,
                      size_t cap) {
    const char *cands[HONE_SETTING_COUNT];
    size_t nc = 0;
    char secs[HONE_SETTING_COUNT][32];
    for (int id = 0; id < HONE_SETTING_COUNT; id++) {
        const hone_setting_info *in = hone_setting_info_get(id);
        const char *k;
        if (kind == SEC_COMPONENT) {
            if (!in->component_key) continue;
            k = in->component_key;
        } else {
            k = setting_key(in, secs[id], sizeof secs[id]);
            if (strcmp(secs[id], section)) continue;
        }
        if (!strcmp(k, key)) return id;
        cands[nc++] = k;
    }
    const char *near = hone_nearest_name(key, cands, nc);
    const char *where = kind == SEC_TOP ? "at the top" : "in this section";
    if (near) {
        snprintf(msg, cap, "unknown key %s; did you mean %s?", where, near);
        return -1;
    }
    /* A key of another section? */
    for (int id = 0; id < HONE_SETTING_COUNT; id++) {
        const hone_setting_info *in = hone_setting_info_get(id);
        char sec[32];
        const char *k = setting_key(in, sec, sizeof sec);
        if (!strcmp(k, key) || !strcmp(in->name, key)) {
            if (sec[0])
                snprintf(msg, cap, "unknown key %s; %s is key %s of section [%s]", where,
                         in->name, k, sec);
            else
                snprintf(msg, cap, "unknown key %s; %s is a top-level key (before any section)",
                         where, in->name);
            return -1;
        }
    }
    size_t o = (size_t)snprintf(msg, cap, "unknown key %s; expected one of", where);
    for (size_t i = 0; i < nc && o < cap; i++)
        o += (size_t)snprintf(msg + o, cap - o, "%s %s", i ? "," : "", cands[i]);
    return -1;
}

/* ------------------------------------------------------------------ */
/* Parsing                                                             */
/* ------------------------------------------------------------------ */

enum line_kind { LN_OTHER = 0, LN_SECTION, LN_KEY };

typedef struct line_info {
    size_t off, len;  /* the raw line in the file, its newline included */
    int kind;         /* line_kind */
    int id;           /* LN_KEY: the setting, -1 when none */
    int sec;          /* index into the parse's sections of the section it is in / opens */
} line_info;

enum pass { PASS_VALIDATE, PASS_APPLY };

typedef struct parse_ctx {
    const char *path; /* for messages and origins */
    const char *data;
    size_t len, pos;
    long line; /* the line last handed to inih */
    int pass;
    /* The first error. */
    int rc;
    long err_line;
    hone_error *err;
    /* Persist: errors on the target key's own lines are not errors (its
     * line is replaced), and the lines are recorded. */
    int skip_id;
    const char *skip_comp;
    line_info *lines;
    size_t nlines, lcap;
    char (*secs)[64]; /* section names seen, in order; [0] is "" */
    size_t nsecs, scap;
    int cur_sec;
} parse_ctx;

static void fail_at(parse_ctx *c, long line, int code, const char *fmt, ...) HONE_PRINTF(4, 5);
static void fail_at(parse_ctx *c, long line, int code, const char *fmt, ...) {
    if (c->rc) return;
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->rc = code;
    c->err_line = line;
    if (code == HONE_ENOMEM)
        hone_error_set(c->err, code, "out of memory");
    else
        hone_error_set_at(c->err, code, line, 0, -1, "%s:%ld: %s", c->path, line, msg);
}

static int note_section(parse_ctx *c, const char *name, size_t n) {
    if (!c->secs) return 0;
    for (size_t i = 0; i < c->nsecs; i++)
        if (strlen(c->secs[i]) == n && !memcmp(c->secs[i], name, n)) return (int)i;
    if (c->nsecs == c->scap) {
        size_t cap = c->scap ? c->scap * 2 : 8;
        void *p = hone_realloc(NULL, c->secs, cap * sizeof *c->secs);
        if (!p) return -1;
        c->secs = p;
        c->scap = cap;
    }
    if (n >= sizeof c->secs[0]) n = sizeof c->secs[0] - 1;
    memcpy(c->secs[c->nsecs], name, n);
    c->secs[c->nsecs][n] = '\0';
    return (int)c->nsecs++;
}

size_t hone__ini_trim(const char **line, size_t len, int first) {
    const char *p = *line;
    if (len && p[len - 1] == '\r') len--;
    if (first && len >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3)) p += 3, len -= 3;
    while (len && (*p == ' ' || *p == '\t')) p++, len--;
    if (len && *p != '#' && *p != ';')
        for (size_t i = 1; i < len; i++)
            if ((p[i] == '#' || p[i] == ';') && (p[i - 1] == ' ' || p[i - 1] == '\t')) {
                len = i;
                break;
            }
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
    *line = p;
    return len;
}

/* inih's reader: one physical line per call, normalised (see the top). */
static char *line_reader(char *str, int num, void *stream) {
    parse_ctx *c = stream;
    if (c->pos >= c->len) return NULL;
    const char *p = c->data + c->pos;
    size_t rem = c->len - c->pos;
    const char *nl = memchr(p, '\n', rem);
    size_t raw = nl ? (size_t)(nl - p) + 1 : rem;
    size_t off = c->pos;
    c->pos += raw;
    c->line++;
    size_t body = hone__ini_trim(&p, nl ? raw - 1 : raw, c->line == 1);
    int kind = LN_OTHER;
    if (memchr(p, '\0', body)) {
        fail_at(c, c->line, HONE_EPARSE, "a NUL byte: not a text file");
        body = 0;
    } else if (body + 2 > (size_t)num || body + 3 > LINE_MAX_BYTES) {
        fail_at(c, c->line, HONE_EPARSE, "line longer than %d bytes", LINE_MAX_BYTES - 3);
        body = 0;
    } else if (body && *p == '[') {
        const char *end = memchr(p, ']', body);
        if (end) {
            char name[LINE_MAX_BYTES];
            size_t n = (size_t)(end - p - 1);
            memcpy(name, p + 1, n);
            name[n] = '\0';
            enum section_kind k = classify_section(name);
            if (k == SEC_UNKNOWN || k == SEC_BADCOMP || n >= 50) {
                char msg[300];
                explain_section(name, msg, sizeof msg);
                fail_at(c, c->line, HONE_EPARSE, "%s", msg);
            }
            kind = LN_SECTION;
            int s = note_section(c, name, n);
            if (s < 0) fail_at(c, c->line, HONE_ENOMEM, "out of memory");
            else c->cur_sec = s;
        }
    }
    if (c->lines) {
        if (c->nlines == c->lcap) {
            size_t cap = c->lcap ? c->lcap * 2 : 32;
            void *q = hone_realloc(NULL, c->lines, cap * sizeof *c->lines);
            if (!q) {
                fail_at(c, c->line, HONE_ENOMEM, "out of memory");
                return NULL;
            }
            c->lines = q;
            c->lcap = cap;
        }
        c->lines[c->nlines++] = (line_info){off, raw, kind, -1, c->cur_sec};
    }
    memcpy(str, p, body);
    str[body] = '\n';
    str[body + 1] = '\0';
    return str;
}

static int key_handler(void *user, const char *section, const char *name, const char *value) {
    parse_ctx *c = user;
    long line = c->line;
    if (c->lines && c->nlines) c->lines[c->nlines - 1].kind = LN_KEY;
    enum section_kind kind = classify_section(section);
    if (kind == SEC_ALERT) return 1;
    if (kind == SEC_UNKNOWN || kind == SEC_BADCOMP) return 1; /* reported at its header */
    char msg[300];
    int id = lookup_key(section, kind, name, msg, sizeof msg);
    const char *comp = kind == SEC_COMPONENT ? section + 10 : NULL;
    if (id < 0) {
        if (section[0])
            fail_at(c, line, HONE_EPARSE, "[%s] %s: %s", section, name, msg);
        else
            fail_at(c, line, HONE_EPARSE, "%s: %s", name, msg);
        return 1;
    }
    if (c->lines) c->lines[c->nlines - 1].id = id;
    int target = id == c->skip_id && ((!comp && !c->skip_comp) ||
                                      (comp && c->skip_comp && !strcmp(comp, c->skip_comp)));
    char what[PATH_MAX + 160];
    snprintf(what, sizeof what, "%s:%ld: %s%s%s", c->path, line, section, section[0] ? "." : "",
             name);
    hone_error e;
    int rc;
    if (c->pass == PASS_VALIDATE) {
        hone_setting_value v;
        rc = hone_setting_parse(id, what, value, &v, &e);
    } else {
        char where[PATH_MAX + 32];
        snprintf(where, sizeof where, "%s:%ld", c->path, line);
        rc = hone_setting_set(id, comp, HONE_ORIGIN_FILE, value, where, &e);
        if (rc == HONE_OK && comp) rc = hone_opt__note_component(id, comp);
        if (rc == HONE_ERANGE && comp) snprintf(e.msg, sizeof e.msg, "too many components");
    }
    if (rc && !target) {
        if (rc == HONE_ENOMEM) {
            fail_at(c, line, HONE_ENOMEM, "out of memory");
        } else if (!c->rc) {
            c->rc = HONE_EPARSE;
            c->err_line = line;
            hone_error_set_at(c->err, HONE_EPARSE, line, 0, -1, "%s", e.msg);
        }
    }
    return 1;
}

/* Runs one pass of inih over c's bytes. Returns c->rc, with inih's own
 * syntax errors (a line that is no key, section or comment) reported when
 * they come first. */
static int run_pass(parse_ctx *c, int pass) {
    c->pass = pass;
    c->pos = 0;
    c->line = 0;
    c->cur_sec = 0;
    int r = ini_parse_stream(line_reader, c, key_handler, c);
    if (r > 0 && (!c->rc || r < c->err_line)) {
        c->rc = 0;
        fail_at(c, r, HONE_EPARSE, "expected `key = value`, `[section]` or a comment");
    } else if (r < 0 && !c->rc) {
        fail_at(c, 0, HONE_ENOMEM, "out of memory");
    }
    return c->rc;
}

/* Reads a whole file into *data (NUL-terminated). A missing file is
 * HONE_ENOTFOUND with *data NULL. */
static int read_file(const char *path, char **data, size_t *len, hone_error *err) {
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return hone_error_set(err, hone_status_from_errno(e), "%s: %s", path, strerror(e));
    }
    hone_buf b;
    hone_buf_init(&b, NULL);
    char chunk[4096];
    size_t n;
    int rc = HONE_OK;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.len + n > FILE_MAX_BYTES) {
            rc = hone_error_set(err, HONE_EPARSE, "%s: larger than %u bytes: not a config file",
                                path, FILE_MAX_BYTES);
            break;
        }
        if (hone_buf_append(&b, chunk, n)) {
            rc = hone_error_set(err, HONE_ENOMEM, "out of memory");
            break;
        }
    }
    if (!rc && ferror(f)) rc = hone_error_set(err, HONE_EIO, "%s: read error", path);
    fclose(f);
    if (rc) {
        hone_buf_free(&b);
        return rc;
    }
    if (!b.data && hone_buf_puts(&b, "")) return hone_error_set(err, HONE_ENOMEM, "out of memory");
    *data = b.data;
    *len = b.len;
    return HONE_OK;
}

/* ------------------------------------------------------------------ */
/* Config path and load                                                */
/* ------------------------------------------------------------------ */

int hone_opt_config_path(char **out, const hone_allocator *alloc, hone_error *err) {
    *out = NULL;
    const char *v = getenv("HONE_CONFIG");
    hone_buf b;
    hone_buf_init(&b, alloc);
    int rc;
    if (v && *v && !strcmp(v, "off")) {
        return hone_error_set(err, HONE_ENOTFOUND, "no config file: HONE_CONFIG=off");
    } else if (v && *v && *v != '/') {
        return hone_error_set(err, HONE_EINVAL, "HONE_CONFIG=%s: expected an absolute path or off%s",
                              v, *v == '~' ? " ('~' is expanded by a shell, not in a quoted value)"
                                           : "");
    } else if (v && *v) {
        rc = hone_buf_puts(&b, v);
    } else if ((v = getenv("XDG_CONFIG_HOME")) && *v == '/') {
        rc = hone_buf_printf(&b, "%s/hone/hone.ini", v);
    } else if ((v = getenv("HOME")) && *v) {
        rc = hone_buf_printf(&b, "%s/.config/hone/hone.ini", v);
    } else {
        return hone_error_set(err, HONE_ENOTFOUND,
                              "no config file: set HONE_CONFIG, XDG_CONFIG_HOME or HOME");
    }
    if (rc) {
        hone_buf_free(&b);
        return hone_error_set(err, HONE_ENOMEM, "out of memory");
    }
    *out = b.data;
    return HONE_OK;
}

/* Validates and applies the file at path into the file layer; cfg_mu held.
 * A missing file empties the layer. */
static int load_locked(const char *path, hone_error *err) {
    char *data;
    size_t len;
    int rc = read_file(path, &data, &len, err);
    if (rc == HONE_ENOTFOUND) {
        hone_settings_clear(HONE_ORIGIN_FILE);
        if (path != active_path) snprintf(active_path, sizeof active_path, "%s", path);
        return HONE_OK;
    }
    if (rc) return rc;
    parse_ctx c = {.path = path, .data = data, .len = len, .err = err, .skip_id = -1};
    rc = run_pass(&c, PASS_VALIDATE);
    if (rc == HONE_OK) {
        /* Everything parsed: the layer is replaced. Only a failure to
         * allocate can stop this pass; the layer is then emptied rather
         * than left half old, half new. */
        hone_settings_clear(HONE_ORIGIN_FILE);
        rc = run_pass(&c, PASS_APPLY);
        if (rc) hone_settings_clear(HONE_ORIGIN_FILE);
        if (path != active_path) snprintf(active_path, sizeof active_path, "%s", path);
    }
    hone_free(NULL, data);
    return rc;
}

static int same_file(const char *a, const char *b) {
    if (!strcmp(a, b)) return 1;
    struct stat sa, sb;
    return !stat(a, &sa) && !stat(b, &sb) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Records the result of loading `path` as the automatic load's file part
 * when path is the config file the automatic load reads. */
static void note_auto_file(const char *path, int rc, const hone_error *e) {
    char *cfg = NULL;
    if (hone_opt_config_path(&cfg, NULL, NULL) != HONE_OK) return;
    if (same_file(cfg, path)) {
        auto_file_rc = rc;
        if (rc && e) auto_file_err = *e;
    }
    hone_free(NULL, cfg);
}

int hone_opt_load(const char *path, hone_error *err) {
    ensure_autoload();
    char *own = NULL;
    if (!path) {
        int rc = hone_opt_config_path(&own, NULL, err);
        if (rc == HONE_ENOTFOUND) {
            pthread_mutex_lock(&cfg_mu);
            hone_settings_clear(HONE_ORIGIN_FILE);
            active_path[0] = '\0';
            pthread_mutex_unlock(&cfg_mu);
            return HONE_OK;
        }
        if (rc) return rc;
        path = own;
    }
    hone_error e = {0};
    pthread_mutex_lock(&cfg_mu);
    int rc = load_locked(path, &e);
    if (rc != HONE_ENOMEM) note_auto_file(path, rc, &e);
    pthread_mutex_unlock(&cfg_mu);
    if (rc && err) *err = e;
    hone_free(NULL, own);
    return rc;
}

/* The loader core runs before the first resolution and on
 * hone_settings_reload: the config file into the file layer, then the
 * journal's kept changes into the auto layer. Never fatal: the error is
 * kept for hone_opt_load_status and hone_opt_status. */
static int opt_autoload(hone_error *err) {
    in_loader = 1;
    hone_error fe = {0}, je = {0};
    int frc, jrc = HONE_OK;
    const char *v = getenv("HONE_CONFIG");
    int off = v && !strcmp(v, "off");
    char *path = NULL;
    frc = hone_opt_config_path(&path, NULL, &fe);
    if (frc == HONE_OK) {
        pthread_mutex_lock(&cfg_mu);
        frc = load_locked(path, &fe);
        pthread_mutex_unlock(&cfg_mu);
    } else if (frc == HONE_ENOTFOUND) {
        frc = HONE_OK; /* no file: nothing to load */
    }
    hone_free(NULL, path);
    if (!off) jrc = hone_opt_journal_replay(NULL, &je);
    pthread_mutex_lock(&cfg_mu);
    auto_file_rc = frc;
    auto_file_err = fe;
    auto_journal_rc = jrc;
    auto_journal_err = je;
    pthread_mutex_unlock(&cfg_mu);
    in_loader = 0;
    if (err) *err = frc ? fe : je;
    return frc ? frc : jrc;
}

__attribute__((constructor)) static void opt_register_loader(void) {
    hone_settings_set_loader(opt_autoload);
}

int hone_opt_load_status(hone_error *err) {
    ensure_autoload();
    pthread_mutex_lock(&cfg_mu);
    int rc = auto_file_rc ? auto_file_rc : auto_journal_rc;
    if (rc && err) *err = auto_file_rc ? auto_file_err : auto_journal_err;
    pthread_mutex_unlock(&cfg_mu);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The api layer                                                       */
/* ------------------------------------------------------------------ */

/* The setting `name` names (its name or variable), or HONE_ENOTFOUND with
 * the nearest name suggested. */
static int find_setting(const char *name, hone_error *err) {
    int id = name ? hone_setting_lookup(name) : -1;
    if (id >= 0) return id;
    const char *cands[2 * HONE_SETTING_COUNT];
    size_t n = 0;
    for (int i = 0; i < HONE_SETTING_COUNT; i++) {
        const hone_setting_info *in = hone_setting_info_get(i);
        cands[n++] = in->name;
        if (in->env) cands[n++] = in->env;
    }
    const char *near = name ? hone_nearest_name(name, cands, n) : NULL;
    if (near)
        return hone_error_set(err, HONE_ENOTFOUND, "%s: unknown setting; did you mean %s?", name,
                              near);
    return hone_error_set(err, HONE_ENOTFOUND,
                          "%s: unknown setting (hone optimize status lists them)",
                          name ? name : "(null)");
}

static int check_component(int id, const char *component, size_t max, hone_error *err) {
    if (!component) return HONE_OK;
    const hone_setting_info *in = hone_setting_info_get(id);
    if (!in->component_key)
        return hone_error_set(err, HONE_EINVAL, "%s: no per-component value (global only)",
                              in->name);
    if (!valid_component(component, max))
        return hone_error_set(err, HONE_EINVAL,
                              "component \"%s\": expected 1 to %zu bytes of letters, digits, "
                              "'_', '.', '-'",
                              component, max);
    return HONE_OK;
}

int hone_opt_set(const char *name, const char *component, const char *value, const char *where,
                 hone_error *err) {
    int id = find_setting(name, err);
    if (id < 0) return id;
    int rc = check_component(id, component, HONE_OPT_COMPONENT_MAX, err);
    if (rc) return rc;
    if (!value) return hone_error_set(err, HONE_EINVAL, "%s: no value", name);
    if (component && (rc = hone_opt__note_component(id, component)))
        return hone_error_set(err, rc, "component \"%s\": more than %d components have values",
                              component, HONE_OPT_COMPONENTS);
    return hone_setting_set(id, component, HONE_ORIGIN_API, value, where ? where : "api", err);
}

int hone_opt_unset(const char *name, const char *component, hone_error *err) {
    int id = find_setting(name, err);
    if (id < 0) return id;
    int rc = check_component(id, component, HONE_OPT_COMPONENT_MAX, err);
    if (rc) return rc;
    hone_setting_unset(id, component, HONE_ORIGIN_API);
    return HONE_OK;
}

/* ------------------------------------------------------------------ */
/* Persist                                                             */
/* ------------------------------------------------------------------ */

/* Makes the directories above path (not path itself). */
static int make_parents(const char *path, hone_error *err) {
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s", path) >= (int)sizeof p)
        return hone_error_set(err, HONE_EINVAL, "%s: path too long", path);
    char *slash = strrchr(p, '/');
    if (!slash || slash == p) return HONE_OK;
    *slash = '\0';
    if (hone_mkdir_p(p)) {
        int e = errno;
        return hone_error_set(err, hone_status_from_errno(e), "mkdir %s: %s", p, strerror(e));
    }
    return HONE_OK;
}

/* Where the value of a key line starts and ends (before its comment). */
static void value_span(const char *l, size_t len, size_t *vs, size_t *ve) {
    size_t i = 0;
    while (i < len && l[i] != '=' && l[i] != ':') i++;
    if (i < len) i++;
    while (i < len && (l[i] == ' ' || l[i] == '\t')) i++;
    size_t e = i;
    while (e < len && l[e] != '\n' && l[e] != '\r') {
        if ((l[e] == '#' || l[e] == ';') && e > i && (l[e - 1] == ' ' || l[e - 1] == '\t')) break;
        e++;
    }
    while (e > i && (l[e - 1] == ' ' || l[e - 1] == '\t')) e--;
    *vs = i;
    *ve = e;
}

static int put(hone_buf *b, const void *p, size_t n) { return hone_buf_append(b, p, n); }

int hone_opt_persist(const char *path, const char *name, const char *component, const char *value,
                     hone_error *err) {
    int id = find_setting(name, err);
    if (id < 0) return id;
    int rc = check_component(id, component, FILE_COMPONENT_MAX, err);
    if (rc) return rc;
    const hone_setting_info *in = hone_setting_info_get(id);
    char sec[64];
    const char *key;
    if (component) {
        snprintf(sec, sizeof sec, "component.%s", component);
        key = in->component_key;
    } else {
        key = setting_key(in, sec, sizeof sec);
    }
    char vbuf[LINE_MAX_BYTES];
    if (value) {
        /* The value as it will read back: trimmed, one line, no comment. */
        while (*value == ' ' || *value == '\t') value++;
        size_t n = strlen(value);
        while (n && (value[n - 1] == ' ' || value[n - 1] == '\t')) n--;
        if (n + strlen(key) + 8 > LINE_MAX_BYTES - 3)
            return hone_error_set(err, HONE_EINVAL, "%s: value longer than a config line holds",
                                  in->name);
        memcpy(vbuf, value, n);
        vbuf[n] = '\0';
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)vbuf[i] < ' ' || vbuf[i] == 0x7f ||
                ((vbuf[i] == '#' || vbuf[i] == ';') && i && (vbuf[i - 1] == ' ' || vbuf[i - 1] == '\t')) ||
                ((vbuf[i] == '#' || vbuf[i] == ';') && i == 0))
                return hone_error_set(err, HONE_EINVAL,
                                      "%s=%s: a value with a control character or a comment "
                                      "mark cannot be written to the config file",
                                      in->name, vbuf);
        hone_setting_value v;
        if ((rc = hone_setting_parse(id, in->name, vbuf, &v, err))) return rc;
        value = vbuf;
    }
    char *own = NULL;
    if (!path) {
        rc = hone_opt_config_path(&own, NULL, err);
        if (rc) return rc;
        path = own;
    }
    ensure_autoload();
    pthread_mutex_lock(&cfg_mu);
    hone_error e = {0};
    char *data = NULL;
    size_t len = 0;
    hone_buf out;
    hone_buf_init(&out, NULL);
    parse_ctx c = {.path = path, .err = &e, .skip_id = id, .skip_comp = component};
    rc = read_file(path, &data, &len, &e);
    if (rc == HONE_ENOTFOUND) {
        rc = HONE_OK;
        data = NULL;
        len = 0;
    }
    if (rc) goto done;
    c.data = data ? data : "";
    c.len = len;
    /* Every line but the target's must be valid: a file that does not
     * load is not rewritten. */
    c.lines = hone_malloc(NULL, 8 * sizeof *c.lines);
    c.lcap = c.lines ? 8 : 0;
    c.secs = hone_malloc(NULL, 4 * sizeof *c.secs);
    c.scap = c.secs ? 4 : 0;
    if (!c.lines || !c.secs || note_section(&c, "", 0) < 0) {
        rc = hone_error_set(&e, HONE_ENOMEM, "out of memory");
        goto done;
    }
    rc = run_pass(&c, PASS_VALIDATE);
    if (rc) {
        if (rc != HONE_ENOMEM) {
            char msg[sizeof e.msg];
            memcpy(msg, e.msg, sizeof msg);
            hone_error_set_at(&e, HONE_EPARSE, c.err_line, 0, -1,
                              "%s (the file is left as it is)", msg);
            rc = HONE_EPARSE;
        }
        goto done;
    }
    /* The target's section, and its key lines. */
    int tsec = -1;
    for (size_t i = 0; i < c.nsecs; i++)
        if (!strcmp(c.secs[i], sec)) tsec = (int)i;
    long first = -1, last_in_sec = -1, first_section = -1;
    for (size_t i = 0; i < c.nlines; i++) {
        line_info *l = &c.lines[i];
        if (l->kind == LN_SECTION && first_section < 0) first_section = (long)i;
        if (l->sec != tsec || tsec < 0) continue;
        if (l->kind == LN_KEY || l->kind == LN_SECTION) last_in_sec = (long)i;
        if (l->kind == LN_KEY && l->id == id && first < 0) first = (long)i;
    }
    const char *eol = "\n";
    if (c.nlines && c.lines[0].len >= 2 && c.data[c.lines[0].len - 2] == '\r') eol = "\r\n";
    /* Where a new key line goes: after the last line of its section (a key
     * or the header); a top-level key with none yet goes before the first
     * section; a missing section is added at the end. */
    long after = -1;
    int prepend = 0, append_section = 0, append_key = 0;
    if (value && first < 0) {
        if (last_in_sec >= 0) after = last_in_sec;
        else if (sec[0]) append_section = 1;
        else if (first_section > 0) after = first_section - 1;
        else if (first_section == 0) prepend = 1;
        else append_key = 1;
    }
    int ok = 0;
    if (prepend) ok |= hone_buf_printf(&out, "%s = %s%s%s", key, value, eol, eol);
    for (size_t i = 0; i < c.nlines; i++) {
        line_info *l = &c.lines[i];
        const char *lp = c.data + l->off;
        if (l->kind == LN_KEY && l->sec == tsec && l->id == id && tsec >= 0) {
            if ((long)i == first && value) {
                size_t vs, ve;
                value_span(lp, l->len, &vs, &ve);
                ok |= put(&out, lp, vs) | hone_buf_puts(&out, value) |
                      put(&out, lp + ve, l->len - ve);
                if (lp[l->len - 1] != '\n') ok |= hone_buf_puts(&out, eol);
            }
            continue; /* further lines of the same key (and a removed one) go */
        }
        ok |= put(&out, lp, l->len);
        if ((long)i == after) {
            if (lp[l->len - 1] != '\n') ok |= hone_buf_puts(&out, eol);
            ok |= hone_buf_printf(&out, "%s = %s%s", key, value, eol);
            /* A first top-level key, above the first section: a blank line
             * between them. */
            if (last_in_sec < 0) ok |= hone_buf_puts(&out, eol);
        }
    }
    if (append_key || append_section) {
        if (out.len && out.data[out.len - 1] != '\n') ok |= hone_buf_puts(&out, eol);
        if (append_section) {
            if (out.len && !(out.len >= 2 && out.data[out.len - 2] == '\n') &&
                !(out.len >= 3 && !memcmp(out.data + out.len - 3, "\n\r\n", 3)))
                ok |= hone_buf_puts(&out, eol);
            ok |= hone_buf_printf(&out, "[%s]%s", sec, eol);
        }
        ok |= hone_buf_printf(&out, "%s = %s%s", key, value, eol);
    }
    if (ok) {
        rc = hone_error_set(&e, HONE_ENOMEM, "out of memory");
        goto done;
    }
    if (!value && first < 0) goto done; /* nothing to remove: the file stays as it is */
    if ((rc = make_parents(path, &e))) goto done;
    rc = hone_file_write_atomic(path, out.data ? out.data : "", out.len, &e);
    if (rc) goto done;
    if (active_path[0] && same_file(active_path, path)) {
        rc = load_locked(active_path, &e);
        note_auto_file(active_path, rc, &e);
    }
done:
    pthread_mutex_unlock(&cfg_mu);
    if (rc && err) *err = e;
    hone_buf_free(&out);
    hone_free(NULL, c.lines);
    hone_free(NULL, c.secs);
    hone_free(NULL, data);
    hone_free(NULL, own);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Status                                                              */
/* ------------------------------------------------------------------ */

typedef struct status_row {
    const char *component; /* NULL global */
    int id;
    int rc;                /* hone_setting_get's: an env error */
    hone_setting_state st;
    hone_error err;
} status_row;

int hone_opt_status(hone_buf *out, int json, hone_error *err) {
    ensure_autoload();
    /* Snapshot what the rows need; the settings themselves are resolved
     * one by one (each is consistent; the whole is as of this call). */
    char cfg[PATH_MAX] = "";
    int cfg_off = 0;
    char *p = NULL;
    hone_error pe;
    int prc = hone_opt_config_path(&p, NULL, &pe);
    if (prc == HONE_ENOMEM) return hone_error_set(err, HONE_ENOMEM, "out of memory");
    if (prc == HONE_OK) snprintf(cfg, sizeof cfg, "%s", p);
    else cfg_off = 1;
    hone_free(NULL, p);
    hone_error le = {0};
    int lrc = hone_opt_load_status(&le);

    /* The components noted so far, copied so that resolving them holds
     * no lock of ours. */
    pthread_mutex_lock(&comp_mu);
    size_t nc = ncomps;
    pthread_mutex_unlock(&comp_mu);
    struct comp_copy {
        char name[HONE_OPT_COMPONENT_MAX + 1];
        uint64_t ids;
    } *cc = NULL;
    if (nc) {
        cc = hone_calloc(NULL, nc, sizeof *cc);
        if (!cc) return hone_error_set(err, HONE_ENOMEM, "out of memory");
    }
    size_t cap = HONE_SETTING_COUNT;
    pthread_mutex_lock(&comp_mu);
    for (size_t i = 0; i < nc; i++) {
        memcpy(cc[i].name, comps[i].name, sizeof cc[i].name);
        cc[i].ids = comps[i].ids;
        cap += (size_t)__builtin_popcountll(cc[i].ids);
    }
    pthread_mutex_unlock(&comp_mu);
    status_row *rows = hone_calloc(NULL, cap, sizeof *rows);
    if (!rows) {
        hone_free(NULL, cc);
        return hone_error_set(err, HONE_ENOMEM, "out of memory");
    }
    size_t n = 0;
    for (int id = 0; id < HONE_SETTING_COUNT; id++, n++) {
        rows[n].id = id;
        rows[n].rc = hone_setting_get(id, NULL, &rows[n].st, &rows[n].err);
    }
    for (size_t i = 0; i < nc; i++)
        for (int id = 0; id < HONE_SETTING_COUNT; id++) {
            if (!(cc[i].ids >> id & 1)) continue;
            status_row *r = &rows[n];
            r->rc = hone_setting_get(id, cc[i].name, &r->st, &r->err);
            if (!r->st.component) continue; /* its own value is gone */
            r->component = cc[i].name;
            r->id = id;
            n++;
        }

    int rc = HONE_OK;
    if (json) {
        rc |= hone_buf_puts(out, "{\"config\": ");
        rc |= hone_buf_json_string(out, cfg_off ? NULL : cfg);
        rc |= hone_buf_puts(out, ", \"load_error\": ");
        rc |= hone_buf_json_string(out, lrc ? le.msg : NULL);
        rc |= hone_buf_puts(out, ", \"settings\": [");
        for (size_t i = 0; i < n; i++) {
            status_row *r = &rows[i];
            const hone_setting_info *in = hone_setting_info_get(r->id);
            if (i == HONE_SETTING_COUNT) rc |= hone_buf_puts(out, "], \"components\": [");
            else if (i) rc |= hone_buf_puts(out, ", ");
            rc |= hone_buf_puts(out, "{");
            if (r->component) {
                rc |= hone_buf_puts(out, "\"component\": ");
                rc |= hone_buf_json_string(out, r->component);
                rc |= hone_buf_puts(out, ", ");
            }
            rc |= hone_buf_puts(out, "\"name\": ");
            rc |= hone_buf_json_string(out, in->name);
            rc |= hone_buf_puts(out, ", \"value\": ");
            rc |= hone_buf_json_string(out, r->st.value.text);
            rc |= hone_buf_puts(out, ", \"origin\": ");
            rc |= hone_buf_json_string(out, hone_origin_name(r->st.origin));
            rc |= hone_buf_puts(out, ", \"where\": ");
            rc |= hone_buf_json_string(out, r->st.where);
            if (!r->component) {
                rc |= hone_buf_puts(out, ", \"variable\": ");
                rc |= hone_buf_json_string(out, in->env);
                rc |= hone_buf_puts(out, ", \"levels\": {\"basic\": ");
                rc |= hone_buf_json_string(out, in->level_value[0]);
                rc |= hone_buf_puts(out, ", \"moderate\": ");
                rc |= hone_buf_json_string(out, in->level_value[1]);
                rc |= hone_buf_puts(out, ", \"aggressive\": ");
                rc |= hone_buf_json_string(out, in->level_value[2]);
                rc |= hone_buf_puts(out, "}");
            }
            if (r->rc) {
                rc |= hone_buf_puts(out, ", \"error\": ");
                rc |= hone_buf_json_string(out, r->err.msg);
            }
            rc |= hone_buf_puts(out, "}");
        }
        if (n == HONE_SETTING_COUNT) rc |= hone_buf_puts(out, "], \"components\": [");
        rc |= hone_buf_puts(out, "]}\n");
    } else {
        int wn = 4, wv = 5, wo = 6;
        char label[HONE_OPT_COMPONENT_MAX + 80];
        for (size_t i = 0; i < n; i++) {
            const hone_setting_info *in = hone_setting_info_get(rows[i].id);
            int l = rows[i].component
                            ? snprintf(label, sizeof label, "%s [%s]", in->name, rows[i].component)
                            : (int)strlen(in->name);
            if (l > wn) wn = l;
            l = (int)strlen(rows[i].st.value.text);
            if (l > wv) wv = l;
            l = (int)strlen(hone_origin_name(rows[i].st.origin));
            if (l > wo) wo = l;
        }
        if (wv > 40) wv = 40;
        if (cfg_off) rc |= hone_buf_printf(out, "config: none (%s)\n", pe.msg);
        else rc |= hone_buf_printf(out, "config: %s\n", cfg);
        if (lrc) rc |= hone_buf_printf(out, "load error: %s\n", le.msg);
        rc |= hone_buf_printf(out, "%-*s  %-*s  %-*s  %s\n", wn, "name", wv, "value", wo, "origin",
                              "where");
        for (size_t i = 0; i < n; i++) {
            status_row *r = &rows[i];
            const hone_setting_info *in = hone_setting_info_get(r->id);
            if (r->component) snprintf(label, sizeof label, "%s [%s]", in->name, r->component);
            else snprintf(label, sizeof label, "%s", in->name);
            rc |= hone_buf_printf(out, "%-*s  %-*s  %-*s  %s\n", wn, label, wv,
                                  r->st.value.text[0] ? r->st.value.text : "\"\"", wo,
                                  hone_origin_name(r->st.origin), r->st.where);
            if (r->rc) rc |= hone_buf_printf(out, "  error: %s\n", r->err.msg);
        }
    }
    hone_free(NULL, cc);
    hone_free(NULL, rows);
    return rc ? hone_error_set(err, HONE_ENOMEM, "out of memory") : HONE_OK;
}

int hone_opt_bundle_describe(int selector, const char *choice, hone_buf *out, int json,
                             hone_error *err) {
    if (selector != HONE_SET_LEVEL && selector != HONE_SET_CACHE_STRATEGY &&
        selector != HONE_SET_PRESET)
        return hone_error_set(err, HONE_EINVAL,
                              "selector %d: expected HONE_SET_LEVEL, HONE_SET_CACHE_STRATEGY or "
                              "HONE_SET_PRESET",
                              selector);
    const hone_setting_info *sel = hone_setting_info_get(selector);
    hone_setting_value v;
    int rc = hone_setting_parse(selector, sel->name, choice ? choice : "", &v, err);
    if (rc) return rc == HONE_ERANGE ? rc : HONE_EINVAL;
    const hone_setting_bundle_item *items;
    size_t n;
    if ((rc = hone_setting_bundle(selector, (int)v.u, &items, &n)))
        return hone_error_set(err, rc, "%s=%s: no bundle", sel->name, choice);
    const char *help = hone_setting_bundle_help(selector, (int)v.u);
    int bad = 0;
    if (json) {
        bad |= hone_buf_puts(out, "{\"selector\": ");
        bad |= hone_buf_json_string(out, sel->name);
        bad |= hone_buf_puts(out, ", \"choice\": ");
        bad |= hone_buf_json_string(out, v.text);
        bad |= hone_buf_puts(out, ", \"help\": ");
        bad |= hone_buf_json_string(out, help);
        bad |= hone_buf_puts(out, ", \"settings\": [");
        for (size_t i = 0; i < n; i++) {
            const hone_setting_info *in = hone_setting_info_get(items[i].id);
            bad |= hone_buf_puts(out, i ? ", {\"name\": " : "{\"name\": ");
            bad |= hone_buf_json_string(out, in ? in->name : "?");
            bad |= hone_buf_puts(out, ", \"value\": ");
            bad |= hone_buf_json_string(out, items[i].value);
            bad |= hone_buf_puts(out, "}");
        }
        bad |= hone_buf_puts(out, "]}\n");
    } else {
        bad |= hone_buf_printf(out, "%s %s%s%s\n", sel->name, v.text, help ? ": " : "",
                               help ? help : "");
        if (!n) bad |= hone_buf_puts(out, "  (changes nothing else)\n");
        int w = 0;
        for (size_t i = 0; i < n; i++) {
            const hone_setting_info *in = hone_setting_info_get(items[i].id);
            int l = in ? (int)strlen(in->name) : 1;
            if (l > w) w = l;
        }
        for (size_t i = 0; i < n; i++) {
            const hone_setting_info *in = hone_setting_info_get(items[i].id);
            bad |= hone_buf_printf(out, "  %-*s = %s\n", w, in ? in->name : "?",
                                   items[i].value[0] ? items[i].value : "\"\"");
        }
    }
    return bad ? hone_error_set(err, HONE_ENOMEM, "out of memory") : HONE_OK;
}
