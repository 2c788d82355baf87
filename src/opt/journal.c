/* journal.c - the optimizer's journal: an append-only file of JSON lines,
 * one per event of continuous mode (a judged change, a skipped knob, an
 * undo), that replays into the settings table's auto layer.
 *
 * The file is user data and is never rewritten: every event is one line,
 * written whole by one O_APPEND write under an exclusive flock and
 * fsynced. A change is written once it has been judged, with its outcome
 * ("kept" or "reverted"); an undo is a later line ("undone") whose "ref"
 * names the change. So the state a journal gives is a pure function of its
 * lines, and replay and undo both compute it the same way (auto_for_key):
 * for each setting, the `after` of its last kept change that no later line
 * undid, or no auto value at all.
 *
 * A crash can leave a last line without its newline (a torn write). Replay
 * and format ignore such an incomplete final line with a warning (what it
 * would have said was never acted on: the tuner sets its kept value's
 * "journal #N" only after the write). An append refuses to go after it
 * (HONE_ECORRUPT, naming path:line) rather than glue a new line to the
 * fragment, and the user removes the fragment by hand. Any complete line
 * that is not a journal line stops a replay with HONE_ECORRUPT naming
 * path:line, before anything is applied. */
#include "hone/opt.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "opt/journal_internal.h"

enum { J_KEPT, J_REVERTED, J_SKIPPED, J_UNDONE, J_NOUTCOMES };
static const char *const outcome_names[J_NOUTCOMES] = {"kept", "reverted", "skipped", "undone"};

/* One parsed line. Text fields are bounded: a longer value (only a
 * hand-written or foreign line has one) is cut in the text history, while
 * the JSON history prints the line as stored. */
typedef struct jrec {
    uint64_t seq, ref;
    uint64_t undone_by; /* kept changes: the seq of the line that undid it, 0 none */
    int outcome;
    int setting; /* id, or -1 for a name this build does not know */
    int has_component;
    size_t line;      /* 1-based line number in the file */
    size_t off, len;  /* the line's bytes in jlog.text, without the newline */
    char name[64];
    char component[96];
    char before[256], after[256];
    char before_origin[16];
    char time[32];
    char evidence[512];
} jrec;

typedef struct jlog {
    const hone_allocator *alloc;
    hone_buf text;
    jrec *r;
    size_t n, cap;
    size_t lines;      /* complete lines */
    size_t torn_line;  /* nonzero: the last line has no newline (line number) */
} jlog;

static void jlog_free(jlog *j) {
    hone_buf_free(&j->text);
    hone_free(j->alloc, j->r);
    j->r = NULL;
    j->n = j->cap = 0;
}

static int io_error(hone_error *err, const char *what, const char *path, int e) {
    return hone_error_set(err, hone_status_from_errno(e), "%s %s: %s", what, path, strerror(e));
}

void hone__journal_time(char *buf, size_t n) {
    time_t t = time(NULL);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, n, "1970-01-01T00:00:00Z");
}

int hone_opt_journal_path(char **out, const hone_allocator *alloc, hone_error *err) {
    if (!out) return hone_error_set(err, HONE_EINVAL, "no output for the journal path");
    *out = NULL;
    const char *cfg = getenv("HONE_CONFIG");
    if (cfg && !strcmp(cfg, "off"))
        return hone_error_set(err, HONE_ENOTFOUND, "HONE_CONFIG=off: no journal");
    const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    hone_buf b;
    hone_buf_init(&b, alloc);
    int rc;
    if (state && state[0] == '/')
        rc = hone_buf_printf(&b, "%s/hone/journal.jsonl", state);
    else if (home && home[0])
        rc = hone_buf_printf(&b, "%s/.local/state/hone/journal.jsonl", home);
    else
        return hone_error_set(err, HONE_ENOTFOUND,
                              "no journal: neither XDG_STATE_HOME (absolute) nor HOME is set");
    if (rc) {
        hone_buf_free(&b);
        return hone_error_set(err, HONE_ENOMEM, "out of memory making the journal path");
    }
    *out = b.data;
    return HONE_OK;
}

/* ---- reading ------------------------------------------------------- */

static int corrupt(hone_error *err, const char *path, size_t line, long col, const char *fmt,
                   const char *detail) {
    char what[240];
    snprintf(what, sizeof what, fmt, detail ? detail : "");
    return hone_error_set_at(err, HONE_ECORRUPT, (long)line, col, -1, "%s:%zu: %s", path, line,
                             what);
}

/* Copies a string field into dst; a non-string present field is an error
 * (returns -1), an absent or null one leaves dst empty (returns 0; 1 when
 * present). */
static int get_str(json_t *o, const char *key, char *dst, size_t n) {
    json_t *v = json_object_get(o, key);
    dst[0] = '\0';
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) return -1;
    snprintf(dst, n, "%s", json_string_value(v));
    return 1;
}

static int same_key(const jrec *a, const jrec *b) {
    return !strcmp(a->name, b->name) && a->has_component == b->has_component &&
           (!a->has_component || !strcmp(a->component, b->component));
}

/* Parses one complete line into r; the checks a line must pass. */
static int parse_line(jlog *j, const char *path, jrec *r, hone_error *err) {
    const char *s = j->text.data + r->off;
    json_error_t je;
    json_t *o = json_loadb(s, r->len, JSON_REJECT_DUPLICATES, &je);
    if (!o) return corrupt(err, path, r->line, je.column, "not JSON (%s)", je.text);
    int rc = HONE_OK;
    char outcome[16];
    json_t *seq = json_object_get(o, "seq"), *ref = json_object_get(o, "ref");
    if (!json_is_object(o)) {
        rc = corrupt(err, path, r->line, 1, "not a JSON object%s", NULL);
    } else if (!json_is_integer(seq) || json_integer_value(seq) < 1) {
        rc = corrupt(err, path, r->line, 0, "\"seq\" missing or not a positive integer%s", NULL);
    } else if (get_str(o, "outcome", outcome, sizeof outcome) != 1) {
        rc = corrupt(err, path, r->line, 0,
                     "\"outcome\" missing or not one of kept, reverted, skipped, undone%s", NULL);
    } else if (get_str(o, "setting", r->name, sizeof r->name) != 1 || !r->name[0]) {
        rc = corrupt(err, path, r->line, 0, "\"setting\" missing or not a string%s", NULL);
    }
    if (rc) goto done;
    r->seq = (uint64_t)json_integer_value(seq);
    r->outcome = -1;
    for (int k = 0; k < J_NOUTCOMES; k++)
        if (!strcmp(outcome, outcome_names[k])) r->outcome = k;
    int comp = get_str(o, "component", r->component, sizeof r->component);
    int before = get_str(o, "before", r->before, sizeof r->before);
    int after = get_str(o, "after", r->after, sizeof r->after);
    r->has_component = comp == 1;
    if (r->outcome < 0) {
        rc = corrupt(err, path, r->line, 0,
                     "\"outcome\" \"%s\" is not one of kept, reverted, skipped, undone", outcome);
    } else if (comp < 0 || get_str(o, "time", r->time, sizeof r->time) < 0 ||
               get_str(o, "evidence", r->evidence, sizeof r->evidence) < 0 ||
               get_str(o, "before_origin", r->before_origin, sizeof r->before_origin) < 0) {
        rc = corrupt(err, path, r->line, 0,
                     "\"component\", \"time\", \"evidence\" or \"before_origin\" is not a string%s",
                     NULL);
    } else if (r->outcome != J_SKIPPED && (before != 1 || after != 1)) {
        rc = corrupt(err, path, r->line, 0, "a %s line needs \"before\" and \"after\" strings",
                     outcome_names[r->outcome]);
    } else if (j->n && r->seq <= j->r[j->n - 1].seq) {
        char d[48];
        snprintf(d, sizeof d, "%llu after %llu", (unsigned long long)r->seq,
                 (unsigned long long)j->r[j->n - 1].seq);
        rc = corrupt(err, path, r->line, 0, "\"seq\" does not increase (%s)", d);
    } else if (r->outcome == J_UNDONE) {
        if (!json_is_integer(ref) || json_integer_value(ref) < 1) {
            rc = corrupt(err, path, r->line, 0, "an undone line needs \"ref\", a positive integer%s",
                         NULL);
        } else {
            r->ref = (uint64_t)json_integer_value(ref);
            jrec *t = NULL;
            for (size_t i = 0; i < j->n; i++)
                if (j->r[i].seq == r->ref) t = &j->r[i];
            if (!t || t->outcome != J_KEPT || t->undone_by || !same_key(t, r)) {
                char d[48];
                snprintf(d, sizeof d, "#%llu", (unsigned long long)r->ref);
                rc = corrupt(err, path, r->line, 0,
                             "\"ref\" %s is not an earlier kept change of the same setting that is "
                             "still in effect", d);
            } else {
                t->undone_by = r->seq;
            }
        }
    } else if (ref && !json_is_null(ref)) {
        if (!json_is_integer(ref) || json_integer_value(ref) < 0)
            rc = corrupt(err, path, r->line, 0, "\"ref\" is not an integer%s", NULL);
        else
            r->ref = (uint64_t)json_integer_value(ref);
    }
    r->setting = hone_setting_lookup(r->name);
done:
    json_decref(o);
    return rc;
}

/* Splits and parses j->text (path names it in errors). */
static int jlog_parse(jlog *j, const char *path, hone_error *err) {
    const char *s = j->text.data ? j->text.data : "";
    size_t len = j->text.len, pos = 0, line = 0;
    while (pos < len) {
        const char *nl = memchr(s + pos, '\n', len - pos);
        line++;
        if (!nl) {
            j->torn_line = line;
            break;
        }
        size_t l = (size_t)(nl - (s + pos));
        j->lines = line;
        /* Blank lines carry nothing (a hand edit may leave one). */
        size_t k = 0;
        while (k < l && (s[pos + k] == ' ' || s[pos + k] == '\t' || s[pos + k] == '\r')) k++;
        if (k < l) {
            if (j->n == j->cap) {
                size_t nc = j->cap ? j->cap * 2 : 16;
                jrec *nr = hone_realloc(j->alloc, j->r, nc * sizeof *nr);
                if (!nr) return hone_error_set(err, HONE_ENOMEM, "out of memory reading %s", path);
                j->r = nr;
                j->cap = nc;
            }
            jrec *r = &j->r[j->n];
            memset(r, 0, sizeof *r);
            r->line = line;
            r->off = pos;
            r->len = l;
            int rc = parse_line(j, path, r, err);
            if (rc) return rc;
            j->n++;
        }
        pos += l + 1;
    }
    return HONE_OK;
}

/* Reads everything from fd (positioned anywhere) into j->text and parses
 * it. */
static int jlog_read_fd(jlog *j, int fd, const char *path, hone_error *err) {
    char chunk[16384];
    off_t at = 0;
    for (;;) {
        ssize_t n = pread(fd, chunk, sizeof chunk, at);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return io_error(err, "cannot read", path, errno);
        if (n == 0) break;
        if (hone_buf_append(&j->text, chunk, (size_t)n))
            return hone_error_set(err, HONE_ENOMEM, "out of memory reading %s", path);
        at += n;
    }
    return jlog_parse(j, path, err);
}

/* Opens and reads the journal under a shared lock. *missing is set when
 * there is no file (j stays empty). */
static int jlog_load(jlog *j, const char *path, int *missing, hone_error *err) {
    *missing = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            *missing = 1;
            return HONE_OK;
        }
        return io_error(err, "cannot open", path, errno);
    }
    int rc;
    if (flock(fd, LOCK_SH) != 0)
        rc = io_error(err, "cannot lock", path, errno);
    else
        rc = jlog_read_fd(j, fd, path, err);
    close(fd);
    return rc;
}

static void warn_torn(const jlog *j, const char *path) {
    if (j->torn_line)
        hone_log(HONE_LOG_WARN, "opt",
                 "%s:%zu: the last line is incomplete (a write was interrupted); ignored", path,
                 j->torn_line);
}

/* ---- writing ------------------------------------------------------- */

static int build_line(hone_buf *b, uint64_t seq, const hone__journal_entry *e) {
    char t[32];
    hone__journal_time(t, sizeof t);
    int rc = hone_buf_printf(b, "{\"seq\":%llu,\"time\":\"%s\",\"setting\":", (unsigned long long)seq, t);
    if (!rc) rc = hone_buf_json_string(b, e->setting);
    if (!rc) rc = hone_buf_puts(b, ",\"component\":");
    if (!rc) rc = hone_buf_json_string(b, e->component);
    if (!rc) rc = hone_buf_puts(b, ",\"before\":");
    if (!rc) rc = hone_buf_json_string(b, e->before);
    if (!rc) rc = hone_buf_puts(b, ",\"after\":");
    if (!rc) rc = hone_buf_json_string(b, e->after);
    if (!rc && e->before_origin) rc = hone_buf_puts(b, ",\"before_origin\":");
    if (!rc && e->before_origin) rc = hone_buf_json_string(b, e->before_origin);
    if (!rc) rc = hone_buf_puts(b, ",\"evidence\":");
    if (!rc) rc = hone_buf_json_string(b, e->evidence ? e->evidence : "");
    if (!rc) rc = hone_buf_puts(b, ",\"outcome\":");
    if (!rc) rc = hone_buf_json_string(b, e->outcome);
    if (!rc && e->ref) rc = hone_buf_printf(b, ",\"ref\":%llu", (unsigned long long)e->ref);
    if (!rc) rc = hone_buf_puts(b, "}\n");
    return rc;
}

/* Appends e to the journal open as fd (O_APPEND, exclusively locked) whose
 * content is j. */
static int append_locked(int fd, const char *path, const jlog *j, const hone__journal_entry *e,
                         uint64_t *seq_out, const hone_allocator *alloc, hone_error *err) {
    if (j->torn_line)
        return hone_error_set_at(err, HONE_ECORRUPT, (long)j->torn_line, 0, -1,
                                 "%s:%zu: the last line is incomplete (a write was interrupted); "
                                 "remove it by hand before the journal is added to",
                                 path, j->torn_line);
    uint64_t seq = j->n ? j->r[j->n - 1].seq + 1 : 1;
    hone_buf b;
    hone_buf_init(&b, alloc);
    if (build_line(&b, seq, e)) {
        hone_buf_free(&b);
        return hone_error_set(err, HONE_ENOMEM, "out of memory writing %s", path);
    }
    /* One write of the whole line; a short write (a full disk) is resumed,
     * and a failure then leaves a torn last line that the next reader
     * detects. */
    const char *p = b.data;
    size_t left = b.len;
    int e_no = 0;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            e_no = w < 0 ? errno : EIO;
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    hone_buf_free(&b);
    if (e_no) return io_error(err, "cannot write", path, e_no);
    if (fsync(fd) != 0) return io_error(err, "cannot sync", path, errno);
    if (seq_out) *seq_out = seq;
    return HONE_OK;
}

/* Makes the journal's directory and opens it for appending, creating it
 * (and syncing its directory) when new, exclusively locked. */
static int open_append(const char *path, int create, int *fd_out, const hone_allocator *alloc,
                       hone_error *err) {
    *fd_out = -1;
    char *dir = hone_strdup(alloc, path);
    if (!dir) return hone_error_set(err, HONE_ENOMEM, "out of memory opening %s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) *slash = '\0';
    else if (slash) slash[1] = '\0';
    else strcpy(dir, ".");
    int rc = HONE_OK;
    if (create && hone_mkdir_p(dir) != 0) {
        rc = io_error(err, "cannot make the directory", dir, errno);
        hone_free(alloc, dir);
        return rc;
    }
    int fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0644);
    int made = fd >= 0 && create;
    if (fd < 0 && create && errno == EEXIST) fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
    if (fd < 0) {
        rc = errno == ENOENT && !create ? HONE_ENOTFOUND : io_error(err, "cannot open", path, errno);
        if (rc == HONE_ENOTFOUND) hone_error_set(err, rc, "%s: no journal", path);
    } else if (made) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
    }
    hone_free(alloc, dir);
    if (rc) return rc;
    if (flock(fd, LOCK_EX) != 0) {
        rc = io_error(err, "cannot lock", path, errno);
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return HONE_OK;
}

int hone__journal_append(const char *path, const hone__journal_entry *e, uint64_t *seq,
                         const hone_allocator *alloc, hone_error *err) {
    if (!path || !e || !e->setting || !e->outcome)
        return hone_error_set(err, HONE_EINVAL, "journal append: no path or entry");
    int fd;
    int rc = open_append(path, 1, &fd, alloc, err);
    if (rc) return rc;
    jlog j = {.alloc = alloc};
    hone_buf_init(&j.text, alloc);
    rc = jlog_read_fd(&j, fd, path, err);
    if (!rc) rc = append_locked(fd, path, &j, e, seq, alloc, err);
    jlog_free(&j);
    close(fd); /* releases the lock */
    return rc;
}

/* ---- replay and undo ----------------------------------------------- */

/* The record whose `after` is r's setting's auto value as the journal
 * stands (undos included): its last kept change that no line undid, other
 * than `except`; NULL when none, which means no auto value. */
static const jrec *auto_for_key(const jlog *j, const jrec *r, const jrec *except) {
    const jrec *best = NULL;
    for (size_t i = 0; i < j->n; i++) {
        const jrec *c = &j->r[i];
        if (c != except && c->outcome == J_KEPT && !c->undone_by && same_key(c, r)) best = c;
    }
    return best;
}

/* Sets the auto layer of r's setting to what the whole journal gives it. */
static int apply_key(const jlog *j, const jrec *r, const char *path) {
    if (r->setting < 0) {
        hone_log(HONE_LOG_WARN, "opt", "%s:%zu: unknown setting \"%s\" (from another hone "
                 "version?); its journal entries are not applied", path, r->line, r->name);
        return HONE_OK;
    }
    const char *comp = r->has_component ? r->component : NULL;
    const jrec *v = auto_for_key(j, r, NULL);
    if (!v) {
        hone_setting_unset(r->setting, comp, HONE_ORIGIN_AUTO);
        return HONE_OK;
    }
    char where[32];
    snprintf(where, sizeof where, "journal #%llu", (unsigned long long)v->seq);
    hone_error e2;
    int rc = hone_setting_set(r->setting, comp, HONE_ORIGIN_AUTO, v->after, where, &e2);
    if (rc == HONE_ENOMEM) return rc;
    if (rc) {
        /* The table changed since the line was written (a narrower range):
         * the journal is intact, its value no longer applies. */
        hone_log(HONE_LOG_WARN, "opt", "%s:%zu: %s not applied: %s", path, v->line, v->name,
                 e2.msg);
        hone_setting_unset(r->setting, comp, HONE_ORIGIN_AUTO);
    }
    return HONE_OK;
}

static int default_path(const char **path, char **owned, hone_error *err) {
    *owned = NULL;
    if (*path) return HONE_OK;
    int rc = hone_opt_journal_path(owned, NULL, err);
    *path = *owned;
    return rc;
}

int hone_opt_journal_replay(const char *path, hone_error *err) {
    char *owned;
    int rc = default_path(&path, &owned, err);
    if (rc == HONE_ENOTFOUND) return HONE_OK; /* no journal: nothing to replay */
    if (rc) return rc;
    jlog j = {.alloc = NULL};
    hone_buf_init(&j.text, NULL);
    int missing;
    rc = jlog_load(&j, path, &missing, err);
    if (!rc) {
        warn_torn(&j, path);
        /* Each setting once, at its first line: the journal is parsed
         * whole, so a corrupt line has already stopped us before this. */
        for (size_t i = 0; i < j.n && !rc; i++) {
            const jrec *r = &j.r[i];
            if (r->outcome != J_KEPT && r->outcome != J_UNDONE) continue;
            int first = 1;
            for (size_t k = 0; k < i && first; k++)
                if ((j.r[k].outcome == J_KEPT || j.r[k].outcome == J_UNDONE) && same_key(&j.r[k], r))
                    first = 0;
            if (first) rc = apply_key(&j, r, path);
        }
        if (rc) hone_error_set(err, rc, "out of memory replaying %s", path);
    }
    jlog_free(&j);
    hone_free(NULL, owned);
    return rc;
}

int hone_opt_journal_undo(const char *path, char *what, size_t what_size, hone_error *err) {
    if (what && what_size) what[0] = '\0';
    char *owned;
    int rc = default_path(&path, &owned, err);
    if (rc == HONE_ENOTFOUND) return rc; /* err says why there is no journal */
    if (rc) return rc;
    int fd;
    rc = open_append(path, 0, &fd, NULL, err);
    if (rc == HONE_ENOTFOUND) rc = hone_error_set(err, rc, "nothing to undo: %s does not exist", path);
    if (rc) {
        hone_free(NULL, owned);
        return rc;
    }
    jlog j = {.alloc = NULL};
    hone_buf_init(&j.text, NULL);
    rc = jlog_read_fd(&j, fd, path, err);
    const jrec *t = NULL;
    for (size_t i = j.n; !rc && i-- > 0;)
        if (j.r[i].outcome == J_KEPT && !j.r[i].undone_by) {
            t = &j.r[i];
            break;
        }
    if (!rc && !t) rc = hone_error_set(err, HONE_ENOTFOUND, "nothing to undo in %s", path);
    if (!rc) {
        /* What the setting goes back to: the change before it that is
         * still in effect (its before came from the auto layer), else no
         * auto value (the value below: default, level, ...). */
        size_t ti = (size_t)(t - j.r);
        const jrec *prev = auto_for_key(&j, t, t);
        char ev[400], num[32];
        snprintf(num, sizeof num, "%llu", (unsigned long long)t->seq);
        if (prev)
            snprintf(ev, sizeof ev, "undo of #%s; back to %s from journal #%llu", num, prev->after,
                     (unsigned long long)prev->seq);
        else
            snprintf(ev, sizeof ev, "undo of #%s; auto value removed, back to the %s value %s", num,
                     t->before_origin[0] ? t->before_origin : "underlying", t->before);
        hone__journal_entry e = {
            .setting = t->name,
            .component = t->has_component ? t->component : NULL,
            .before = t->after,
            .after = prev ? prev->after : t->before,
            .before_origin = "auto",
            .evidence = ev,
            .outcome = "undone",
            .ref = t->seq,
        };
        uint64_t seq = 0;
        rc = append_locked(fd, path, &j, &e, &seq, NULL, err);
        if (!rc) {
            /* Mirror the new line in memory so apply_key sees it. */
            jrec *tt = &j.r[ti];
            tt->undone_by = seq;
            rc = apply_key(&j, tt, path);
            if (rc) hone_error_set(err, rc, "out of memory undoing #%s", num);
        }
        if (!rc && what && what_size)
            snprintf(what, what_size, "#%llu undid #%s: %s%s%s%s %s -> %s (%s)",
                     (unsigned long long)seq, num, t->name, t->has_component ? "[" : "",
                     t->has_component ? t->component : "", t->has_component ? "]" : "", t->after,
                     prev ? prev->after : t->before,
                     prev ? "auto value of an earlier change" : "auto value removed");
    }
    jlog_free(&j);
    close(fd);
    hone_free(NULL, owned);
    return rc;
}

/* ---- history ------------------------------------------------------- */

int hone_opt_journal_format(const char *path, hone_buf *out, int json, hone_error *err) {
    if (!out) return hone_error_set(err, HONE_EINVAL, "no output buffer");
    char *owned;
    int rc = default_path(&path, &owned, err);
    int none = rc == HONE_ENOTFOUND;
    if (rc && !none) return rc;
    jlog j = {.alloc = out->alloc};
    hone_buf_init(&j.text, out->alloc);
    int missing = 1;
    rc = none ? HONE_OK : jlog_load(&j, path, &missing, err);
    size_t mark = out->len;
    if (!rc && json) {
        rc = hone_buf_puts(out, "[");
        for (size_t i = 0; i < j.n && !rc; i++) {
            rc = hone_buf_puts(out, i ? ",\n" : "\n");
            if (!rc) rc = hone_buf_append(out, j.text.data + j.r[i].off, j.r[i].len);
        }
        if (!rc) rc = hone_buf_puts(out, j.n ? "\n]\n" : "]\n");
    } else if (!rc) {
        if (!j.n) rc = hone_buf_printf(out, "no journal entries%s%s\n", none ? "" : " in ",
                                       none ? "" : path);
        for (size_t i = 0; i < j.n && !rc; i++) {
            const jrec *r = &j.r[i];
            rc = hone_buf_printf(out, "#%llu %s %s%s%s%s ", (unsigned long long)r->seq,
                                 r->time[0] ? r->time : "-", r->name, r->has_component ? "[" : "",
                                 r->has_component ? r->component : "", r->has_component ? "]" : "");
            if (!rc && r->outcome == J_SKIPPED)
                rc = hone_buf_printf(out, "%s: skipped", r->before[0] ? r->before : "-");
            else if (!rc)
                rc = hone_buf_printf(out, "%s -> %s: %s", r->before, r->after,
                                     outcome_names[r->outcome]);
            if (!rc && r->outcome == J_UNDONE)
                rc = hone_buf_printf(out, " (of #%llu)", (unsigned long long)r->ref);
            if (!rc && r->outcome == J_KEPT && r->undone_by)
                rc = hone_buf_printf(out, " (undone by #%llu)", (unsigned long long)r->undone_by);
            if (!rc && r->evidence[0]) rc = hone_buf_printf(out, "; %s", r->evidence);
            if (!rc) rc = hone_buf_puts(out, "\n");
        }
        if (!rc && j.torn_line)
            rc = hone_buf_printf(out, "(line %zu is incomplete: a write was interrupted; ignored)\n",
                                 j.torn_line);
        if (rc) rc = hone_error_set(err, HONE_ENOMEM, "out of memory formatting the journal");
    }
    if (rc == HONE_ENOMEM && json) hone_error_set(err, rc, "out of memory formatting the journal");
    if (rc && out->len > mark) {
        /* Leave out as it was: a failed append must not leave half a history. */
        out->len = mark;
        out->data[mark] = '\0';
    }
    if (!rc) warn_torn(&j, path);
    jlog_free(&j);
    hone_free(NULL, owned);
    return rc;
}
