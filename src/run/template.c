/* template.c - command templates with GNU parallel's replacement strings
 * (see hone/run.h): parsed once into literal pieces and replacement ops,
 * then expanded per job into one allocation holding argv and its strings.
 *
 * _expand runs once per job (10,000+ times a run), so it does no parsing:
 * it walks the pieces twice, once to count bytes and words and once to
 * write them, with the same code (an emitter whose base is NULL only
 * counts), so the two passes cannot disagree. Every modifier's value is a
 * slice of the input or the constant ".", so nothing is copied twice. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "hone/run.h"

/* Replacement positions are stored in 16 bits: {1} .. {65535}. */
#define MAX_POS 65535u

enum kind {
    K_LIT = 0,  /* text[off .. off+len) */
    K_INPUTS,   /* {} {.} {/} {//} {/.}: every input of the job */
    K_POS,      /* {N} and its modifiers: input N only */
    K_SEQ,      /* {#} */
    K_SLOT      /* {%} */
};

enum mod {
    M_NONE = 0, /* the input as it is */
    M_EXT,      /* {.}: without its extension */
    M_BASE,     /* {/}: after the last '/' */
    M_DIR,      /* {//}: Perl's File::Basename::dirname, as GNU parallel */
    M_BASEEXT   /* {/.}: base name without its extension */
};

typedef struct piece {
    uint8_t kind;
    uint8_t mod;
    uint16_t pos; /* K_POS: N (1-based) */
    size_t off, len; /* K_LIT: the literal in text */
} piece;

typedef struct word {
    size_t first, count; /* its pieces */
    /* The word is exactly one K_INPUTS piece: one argv word per input (in
     * shell mode, one quoted shell word per input). */
    int multi;
} word;

struct hone_run_template {
    const hone_allocator *alloc;
    int shell;
    size_t nwords, nmulti; /* words, and how many of them are multi */
    word *words;
    piece *pieces;
    char *text;
    /* The template and its arrays are one allocation; these follow it. */
};

/* ------------------------------------------------------------------ */
/* Parsing                                                             */
/* ------------------------------------------------------------------ */

/* The parser runs twice over argv: once to count (arrays NULL), once to
 * fill the arrays sized by the first run. */
typedef struct builder {
    word *words;
    piece *pieces;
    char *text;
    size_t nw, np, nt;
    int any_input; /* a K_INPUTS or K_POS piece was seen */
    int last_kind; /* of the last piece added */
} builder;

static void add_piece(builder *b, int kind, int mod, unsigned pos, size_t off, size_t len) {
    if (b->pieces) b->pieces[b->np] = (piece){(uint8_t)kind, (uint8_t)mod, (uint16_t)pos, off, len};
    b->np++;
    b->last_kind = kind;
    if (kind == K_INPUTS || kind == K_POS) b->any_input = 1;
}

/* The modifier after "{" or "{N": ".}" "/}" "//}" "/.}" or "}". Returns the
 * bytes matched (the '}' included), 0 when p starts none of them. */
static size_t match_mod(const char *p, int *mod) {
    static const struct {
        const char *s;
        int mod;
    } mods[] = {{"}", M_NONE}, {".}", M_EXT}, {"/}", M_BASE}, {"//}", M_DIR}, {"/.}", M_BASEEXT}};
    for (size_t i = 0; i < sizeof mods / sizeof mods[0]; i++) {
        size_t n = strlen(mods[i].s);
        if (!strncmp(p, mods[i].s, n)) {
            *mod = mods[i].mod;
            return n;
        }
    }
    return 0;
}

/* Whether p (at a '{') starts a replacement string. Returns its length and
 * fills kind, mod and pos; 0 when it is not one (the '{' is then kept as
 * text). A {N} whose N is 0 or above MAX_POS is still matched, with *pos
 * 0, for the caller to refuse: "{0}" is a mistake, not text. */
static size_t match_repl(const char *p, int *kind, int *mod, unsigned *pos) {
    const char *q = p + 1;
    size_t m;
    if (*q == '#' || *q == '%') {
        if (q[1] != '}') return 0;
        *kind = *q == '#' ? K_SEQ : K_SLOT;
        *mod = M_NONE;
        return 3;
    }
    if (*q >= '0' && *q <= '9') {
        unsigned long v = 0;
        while (*q >= '0' && *q <= '9') {
            if (v <= MAX_POS) v = v * 10 + (unsigned long)(*q - '0');
            q++;
        }
        if (!(m = match_mod(q, mod))) return 0;
        *kind = K_POS;
        *pos = v >= 1 && v <= MAX_POS ? (unsigned)v : 0;
        return (size_t)(q - p) + m;
    }
    if (!(m = match_mod(q, mod))) return 0;
    *kind = K_INPUTS;
    return 1 + m;
}

static int parse_word(builder *b, const char *w, hone_error *err) {
    size_t first = b->np, lit = SIZE_MAX; /* start of the pending literal in w */
    for (size_t i = 0;;) {
        int kind = 0, mod = 0;
        unsigned pos = 0;
        size_t m = w[i] == '{' ? match_repl(w + i, &kind, &mod, &pos) : 0;
        if (m || !w[i]) {
            if (lit != SIZE_MAX) {
                if (b->text) memcpy(b->text + b->nt, w + lit, i - lit);
                add_piece(b, K_LIT, M_NONE, 0, b->nt, i - lit);
                b->nt += i - lit;
                lit = SIZE_MAX;
            }
            if (!w[i]) break;
            if (kind == K_POS && pos == 0) {
                int zero = 1;
                for (size_t k = i + 1; w[k] >= '0' && w[k] <= '9'; k++)
                    if (w[k] != '0') zero = 0;
                return hone_error_set(err, HONE_EINVAL,
                                      "bad replacement string %.*s in word '%s': %s", (int)m,
                                      w + i, w,
                                      zero ? "positions start at 1" : "positions go up to 65535");
            }
            add_piece(b, kind, mod, pos, 0, 0);
            i += m;
            continue;
        }
        if (lit == SIZE_MAX) lit = i;
        i++;
    }
    size_t count = b->np - first;
    int multi = count == 1 && b->last_kind == K_INPUTS;
    if (b->words) b->words[b->nw] = (word){first, count, multi};
    b->nw++;
    return HONE_OK;
}

static int parse_all(builder *b, int argc, const char *const *argv, hone_error *err) {
    for (int i = 0; i < argc; i++) {
        int rc = parse_word(b, argv[i], err);
        if (rc) return rc;
    }
    /* No input string: the inputs are appended, as a word "{}" would put
     * them (one word each; in shell mode one quoted word each). */
    if (!b->any_input) {
        size_t first = b->np;
        add_piece(b, K_INPUTS, M_NONE, 0, 0, 0);
        if (b->words) b->words[b->nw] = (word){first, 1, 1};
        b->nw++;
    }
    return HONE_OK;
}

int hone_run_template_new(hone_run_template **out, int argc, const char *const *argv, int shell,
                          const hone_allocator *alloc, hone_error *err) {
    if (!out) return hone_error_set(err, HONE_EINVAL, "template_new: out is NULL");
    *out = NULL;
    if (argc <= 0 || !argv)
        return hone_error_set(err, HONE_EINVAL, "no command: the template has no words");
    for (int i = 0; i < argc; i++)
        if (!argv[i])
            return hone_error_set(err, HONE_EINVAL, "word %d of the command is NULL", i + 1);
    if (!argv[0][0])
        return hone_error_set(err, HONE_EINVAL, "the command's first word is empty");

    builder b = {0};
    int rc = parse_all(&b, argc, argv, err);
    if (rc) return rc;

    /* One block: the template, its words, its pieces, its text. */
    size_t words_off = sizeof(hone_run_template);
    size_t pieces_off = words_off + b.nw * sizeof(word);
    size_t text_off = pieces_off + b.np * sizeof(piece);
    hone_run_template *t = hone_malloc(alloc, text_off + b.nt + 1);
    if (!t) return hone_error_set(err, HONE_ENOMEM, "out of memory parsing the template");
    char *base = (char *)t;
    builder fill = {(word *)(void *)(base + words_off), (piece *)(void *)(base + pieces_off), base + text_off,
                    0, 0, 0, 0, 0};
    rc = parse_all(&fill, argc, argv, err);
    /* The first run accepted the same words. */
    if (rc) {
        hone_free(alloc, t);
        return rc;
    }
    fill.text[fill.nt] = '\0';
    t->alloc = alloc;
    t->shell = shell != 0;
    t->nwords = fill.nw;
    t->words = fill.words;
    t->pieces = fill.pieces;
    t->text = fill.text;
    t->nmulti = 0;
    for (size_t i = 0; i < t->nwords; i++) t->nmulti += t->words[i].multi != 0;
    *out = t;
    return HONE_OK;
}

void hone_run_template_free(hone_run_template *t) {
    if (t) hone_free(t->alloc, t);
}

/* ------------------------------------------------------------------ */
/* Expansion                                                           */
/* ------------------------------------------------------------------ */

/* Where the bytes go: base NULL counts only. */
typedef struct emit {
    char *base;
    size_t n;
    int overflow;
} emit;

static inline void put(emit *e, const char *s, size_t len) {
    if (len > SIZE_MAX - e->n) {
        e->overflow = 1;
        return;
    }
    if (e->base && len) memcpy(e->base + e->n, s, len);
    e->n += len;
}

static inline void putc1(emit *e, char c) { put(e, &c, 1); }

/* s for the shell's single quotes: every ' closes the quotes, adds an
 * escaped quote and opens them again ('\''). The caller writes the outer
 * quotes. */
static void put_escaped(emit *e, const char *s, size_t len) {
    const char *end = s + len, *q;
    while ((q = memchr(s, '\'', (size_t)(end - s))) != NULL) {
        put(e, s, (size_t)(q - s));
        put(e, "'\\''", 4);
        s = q + 1;
    }
    put(e, s, (size_t)(end - s));
}

/* The bytes of in that a modifier keeps: a slice of in, or ".". */
static void slice(const char *in, int mod, const char **s, size_t *len) {
    size_t n = strlen(in);
    const char *slash;
    switch (mod) {
    case M_NONE: break;
    case M_EXT:
    case M_BASE:
    case M_BASEEXT: {
        /* The base name: after the last '/' ("" for "/x/", as GNU). */
        slash = memrchr(in, '/', n);
        size_t b = slash ? (size_t)(slash - in) + 1 : 0;
        if (mod == M_BASE || mod == M_BASEEXT) {
            in += b;
            n -= b;
            b = 0;
        }
        if (mod == M_EXT || mod == M_BASEEXT) {
            /* The last '.' of the base name, when it is not its first
             * character (".bashrc" has no extension). */
            const char *dot = memrchr(in + b, '.', n - b);
            if (dot && dot > in + b) n = (size_t)(dot - in);
        }
        break;
    }
    case M_DIR: {
        /* Perl's dirname (Unix), which GNU parallel calls: the part
         * before the last '/', trailing '/'s stripped (keeping one); when
         * nothing follows the last '/', the same again on that part; "."
         * when there is no '/'. So "/x/" -> "/", "x/" -> ".", "/" -> "/". */
        for (int round = 0; round < 2; round++) {
            slash = memrchr(in, '/', n);
            if (!slash) {
                *s = ".";
                *len = 1;
                return;
            }
            size_t base_len = n - (size_t)(slash - in) - 1;
            n = (size_t)(slash - in) + 1;
            while (n > 1 && in[n - 1] == '/') n--;
            if (base_len) break;
        }
        break;
    }
    }
    *s = in;
    *len = n;
}

typedef struct job {
    const hone_run_template *t;
    const char *const *inputs;
    size_t n;
    char seq[24], slot[16];
    size_t seq_len, slot_len;
} job;

static void put_value(emit *e, const char *s, size_t len, int quote) {
    if (!quote) {
        put(e, s, len);
        return;
    }
    putc1(e, '\'');
    put_escaped(e, s, len);
    putc1(e, '\'');
}

/* One piece of a word that is not multi. */
static void put_piece(emit *e, const job *j, const piece *p, int quote) {
    const char *s;
    size_t len;
    switch (p->kind) {
    case K_LIT: put(e, j->t->text + p->off, p->len); return;
    case K_SEQ: put_value(e, j->seq, j->seq_len, quote); return;
    case K_SLOT: put_value(e, j->slot, j->slot_len, quote); return;
    case K_POS:
        if (p->pos <= j->n) slice(j->inputs[p->pos - 1], p->mod, &s, &len);
        else s = "", len = 0;
        put_value(e, s, len, quote);
        return;
    default:
        /* Every input, joined by spaces: in argv mode one value; for the
         * shell one quoted word per input, so an input stays one word
         * however the user's line embeds it (GNU parallel does the same). */
        for (size_t i = 0; i < j->n; i++) {
            if (i) putc1(e, ' ');
            slice(j->inputs[i], p->mod, &s, &len);
            put_value(e, s, len, quote);
        }
        return;
    }
}

/* Writes (or counts) every string; with argv, records where each starts.
 * Returns the words made. */
static size_t put_all(emit *e, const job *j, char **argv) {
    const hone_run_template *t = j->t;
    size_t k = 0;
    if (t->shell) {
        static const char *const sh[2] = {"/bin/sh", "-c"};
        for (int i = 0; i < 2; i++) {
            if (argv) argv[k] = e->base + e->n;
            k++;
            put(e, sh[i], strlen(sh[i]) + 1);
        }
        if (argv) argv[k] = e->base + e->n;
        k++;
    }
    for (size_t w = 0; w < t->nwords; w++) {
        const word *wd = &t->words[w];
        if (t->shell && w) putc1(e, ' ');
        if (wd->multi) {
            const piece *p = &t->pieces[wd->first];
            for (size_t i = 0; i < j->n; i++) {
                const char *s;
                size_t len;
                slice(j->inputs[i], p->mod, &s, &len);
                if (t->shell) {
                    if (i) putc1(e, ' ');
                    put_value(e, s, len, 1);
                } else {
                    if (argv) argv[k] = e->base + e->n;
                    k++;
                    put(e, s, len);
                    putc1(e, '\0');
                }
            }
            continue;
        }
        if (!t->shell) {
            if (argv) argv[k] = e->base + e->n;
            k++;
        }
        for (size_t i = 0; i < wd->count; i++) put_piece(e, j, &t->pieces[wd->first + i], t->shell);
        if (!t->shell) putc1(e, '\0');
    }
    if (t->shell) putc1(e, '\0');
    return k;
}

int hone_run_template_expand(const hone_run_template *t, const char *const *inputs, size_t n,
                             uint64_t seq, unsigned slot, char ***argv_out, int *argc_out) {
    if (argv_out) *argv_out = NULL;
    if (argc_out) *argc_out = 0;
    if (!t || !inputs || n == 0 || !argv_out) return HONE_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!inputs[i]) return HONE_EINVAL;

    /* The number of words, known before any byte is counted. */
    size_t argc;
    if (t->shell) {
        argc = 3;
    } else {
        size_t fixed = t->nwords - t->nmulti;
        if (t->nmulti && n > ((size_t)INT_MAX - fixed) / t->nmulti) return HONE_ENOMEM;
        argc = fixed + t->nmulti * n;
        if (argc > (size_t)INT_MAX) return HONE_ENOMEM;
    }

    job j = {.t = t, .inputs = inputs, .n = n};
    j.seq_len = (size_t)snprintf(j.seq, sizeof j.seq, "%llu", (unsigned long long)seq);
    j.slot_len = (size_t)snprintf(j.slot, sizeof j.slot, "%u", slot);

    emit count = {0};
    put_all(&count, &j, NULL);
    size_t head = (argc + 1) * sizeof(char *);
    if (count.overflow || count.n > SIZE_MAX - head) return HONE_ENOMEM;

    char **argv = hone_malloc(t->alloc, head + count.n);
    if (!argv) return HONE_ENOMEM;
    emit wr = {(char *)argv + head, 0, 0};
    size_t k = put_all(&wr, &j, argv);
    argv[k] = NULL;
    *argv_out = argv;
    if (argc_out) *argc_out = (int)k;
    return HONE_OK;
}
