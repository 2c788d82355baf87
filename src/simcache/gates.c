/* gates.c - the similarity cache's hard gates: the numbers, identifiers and
 * negation words of a query and a cached key, compared so that a variant
 * that changes one of them is never served the other's answer. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simcache/simcache_internal.h"

/* A gate's explanation: short by design, so cut to the field's size. */
static void detailf(char *d, size_t cap, const char *fmt, ...) HONE_PRINTF(3, 4);
static void detailf(char *d, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d, cap, fmt, ap);
    va_end(ap);
}

static const char *const gate_names[HONE_SIM_GATE_COUNT] = {"numbers", "identifiers", "negation",
                                                            "namespace", "feedback"};

const char *hone_sim_gate_name(int gate) {
    return gate >= 0 && gate < HONE_SIM_GATE_COUNT ? gate_names[gate] : NULL;
}

static int is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_upper(unsigned char c) { return c >= 'A' && c <= 'Z'; }
static int is_lower(unsigned char c) { return c >= 'a' && c <= 'z'; }
static unsigned char lower(unsigned char c) { return is_upper(c) ? (unsigned char)(c + 32) : c; }

/* Word bytes: letters, digits, '_' (a word character in code:
 * "_download_and_prepare", "__init__"), UTF-8 bytes. Joiners: kept inside a
 * word when a word byte follows (paths, versions, dotted names,
 * contractions), so "Metric._download_and_prepare" is one word. */
static int word_byte(unsigned char c) { return is_alpha(c) || is_digit(c) || c == '_' || c >= 0x80; }
static int joiner(unsigned char c) {
    return c == '.' || c == '-' || c == '/' || c == ':' || c == '@' || c == '#' || c == '\\';
}

static int tok_eq_ci(const char *a, size_t alen, const char *b) {
    size_t blen = strlen(b);
    if (alen != blen) return 0;
    for (size_t i = 0; i < alen; i++)
        if (lower((unsigned char)a[i]) != (unsigned char)b[i]) return 0;
    return 1;
}

static const char *const negations[] = {
    "not",    "no",      "never",    "none",     "nothing",  "nobody",   "nowhere", "neither",
    "nor",    "without", "cannot",   "dont",     "cant",     "isnt",     "wont",    "doesnt",
    "didnt",  "shouldnt", "wouldnt", "couldnt",  "arent",    "wasnt",    "werent",  "hasnt",
    "havent", "hadnt",   "mustnt",   "aint",     "neednt",   NULL};

static int is_negation(const char *w, size_t n) {
    for (int i = 0; negations[i]; i++)
        if (tok_eq_ci(w, n, negations[i])) return 1;
    /* n't and n’t (U+2019) contractions. */
    if (n >= 3 && lower((unsigned char)w[n - 1]) == 't' && w[n - 2] == '\'' &&
        lower((unsigned char)w[n - 3]) == 'n')
        return 1;
    if (n >= 5 && lower((unsigned char)w[n - 1]) == 't' && memcmp(w + n - 4, "\xE2\x80\x99", 3) == 0 &&
        lower((unsigned char)w[n - 5]) == 'n')
        return 1;
    return 0;
}

/* The polarity pairs documented in simcache.h: general antonyms, not a
 * list fitted to any test data. A word may be in several pairs. */
static const char *const polar_pairs[][2] = {
    /* actions and their reversals */
    {"enable", "disable"},     {"allow", "deny"},           {"permit", "forbid"},
    {"accept", "reject"},      {"include", "exclude"},      {"increase", "decrease"},
    {"add", "remove"},         {"add", "subtract"},         {"start", "stop"},
    {"start", "finish"},       {"begin", "end"},            {"open", "close"},
    {"lock", "unlock"},        {"install", "uninstall"},    {"upload", "download"},
    {"import", "export"},      {"push", "pull"},            {"encrypt", "decrypt"},
    {"compress", "decompress"}, {"encode", "decode"},       {"serialize", "deserialize"},
    {"send", "receive"},       {"read", "write"},           {"create", "delete"},
    {"create", "destroy"},     {"insert", "delete"},        {"attach", "detach"},
    {"connect", "disconnect"}, {"mount", "unmount"},        {"load", "unload"},
    {"pause", "resume"},       {"show", "hide"},            {"acquire", "release"},
    {"allocate", "deallocate"}, {"login", "logout"},        {"upgrade", "downgrade"},
    {"increment", "decrement"}, {"grow", "shrink"},         {"expand", "collapse"},
    {"maximize", "minimize"},  {"multiply", "divide"},      {"succeed", "fail"},
    {"pass", "fail"},          {"win", "lose"},             {"buy", "sell"},
    /* states and properties */
    {"true", "false"},         {"valid", "invalid"},        {"success", "failure"},
    {"correct", "wrong"},      {"right", "wrong"},          {"good", "bad"},
    {"better", "worse"},       {"best", "worst"},           {"easy", "hard"},
    {"easy", "difficult"},     {"safe", "dangerous"},       {"strong", "weak"},
    {"public", "private"},     {"sync", "async"},           {"synchronous", "asynchronous"},
    {"local", "remote"},       {"global", "local"},         {"online", "offline"},
    {"optional", "require"},   {"optional", "mandatory"},   {"static", "dynamic"},
    {"manual", "automatic"},   {"explicit", "implicit"},    {"visible", "hidden"},
    {"internal", "external"},  {"client", "server"},        {"request", "response"},
    {"source", "destination"}, {"parent", "child"},         {"primary", "secondary"},
    {"major", "minor"},        {"single", "multiple"},      {"same", "different"},
    {"full", "empty"},         {"dense", "sparse"},         {"lossy", "lossless"},
    {"lazy", "eager"},         {"sequential", "parallel"},  {"serial", "parallel"},
    {"cheap", "expensive"},    {"light", "dark"},           {"hot", "cold"},
    {"allowlist", "blocklist"}, {"whitelist", "blacklist"}, {"positive", "negative"},
    /* time, order, quantity, place */
    {"new", "old"},            {"before", "after"},         {"early", "late"},
    {"past", "future"},        {"previous", "next"},        {"first", "last"},
    {"always", "never"},       {"often", "rarely"},         {"min", "max"},
    {"minimum", "maximum"},    {"more", "less"},            {"most", "least"},
    {"many", "few"},           {"plus", "minus"},           {"above", "below"},
    {"higher", "lower"},       {"high", "low"},             {"upper", "lower"},
    {"uppercase", "lowercase"}, {"faster", "slower"},       {"fast", "slow"},
    {"larger", "smaller"},     {"large", "small"},          {"big", "small"},
    {"long", "short"},         {"wide", "narrow"},          {"deep", "shallow"},
    {"inside", "outside"},     {"inner", "outer"},          {"input", "output"},
    {"incoming", "outgoing"},  {"inbound", "outbound"},     {"upstream", "downstream"},
    {"left", "right"},         {"top", "bottom"},           {"forward", "backward"},
    {"horizontal", "vertical"}, {"ascending", "descending"}, {"on", "off"},
};
#define NPOLAR (sizeof polar_pairs / sizeof polar_pairs[0])
_Static_assert(NPOLAR <= HONE__SIM_MAX_POLAR, "raise HONE__SIM_MAX_POLAR");

/* Whether word w is a form of base: base itself, or its stem (base without
 * a final 'e', or a final 'y' as 'i') followed by a usual ending, or by its
 * last letter doubled and -ed/-ing/-er (stopped, stopping). */
static int is_form(const char *w, size_t n, const char *base) {
    if (n == 0 || lower((unsigned char)w[0]) != (unsigned char)base[0]) return 0; /* fast path */
    size_t bl = strlen(base);
    if (tok_eq_ci(w, n, base)) return 1;
    char last = base[bl - 1];
    size_t sl = last == 'e' || last == 'y' ? bl - 1 : bl;
    if (n <= sl) return 0;
    for (size_t i = 0; i < sl; i++)
        if (lower((unsigned char)w[i]) != (unsigned char)base[i]) return 0;
    const char *rest = w + sl;
    size_t rl = n - sl;
    static const char *const e_rests[] = {"e",      "es",     "ed",  "ing", "er", "ers", "est",
                                          "ement", "ements", "ely", "d",   NULL};
    static const char *const y_rests[] = {"ys",  "yed", "ying", "yer", "ier",  "iest",
                                          "ily", "ies", "ied",  "iness", NULL};
    static const char *const rests[] = {"s",   "es",    "ed",  "ing", "er", "ers",  "est",
                                        "ment", "ments", "ful", "ly",  "ally", "d", NULL};
    const char *const *list = last == 'e' ? e_rests : last == 'y' ? y_rests : rests;
    for (int i = 0; list[i]; i++)
        if (tok_eq_ci(rest, rl, list[i])) return 1;
    if (last != 'e' && last != 'y' && rl >= 3 && lower((unsigned char)rest[0]) == (unsigned char)last)
        if (tok_eq_ci(rest + 1, rl - 1, "ed") || tok_eq_ci(rest + 1, rl - 1, "ing") ||
            tok_eq_ci(rest + 1, rl - 1, "er"))
            return 1;
    return 0;
}

/* Counts, per polarity pair and side, the forms of its words among the
 * parts of word w between '-' and '/' (the whole word when it has none):
 * "re-download" counts download, "read/write" both read and write. */
static void count_polar(hone__sim_text *t, const char *w, size_t n) {
    for (size_t s = 0; s < n;) {
        size_t e = s;
        while (e < n && w[e] != '-' && w[e] != '/') e++;
        if (e > s)
            for (size_t p = 0; p < NPOLAR; p++)
                for (int side = 0; side < 2; side++)
                    if (t->polar[p][side] < UINT16_MAX && is_form(w + s, e - s, polar_pairs[p][side]))
                        t->polar[p][side]++;
        s = e + 1;
    }
}

static const char *const number_words[] = {
    "zero",      "one",      "two",     "three",    "four",    "five",    "six",
    "seven",     "eight",    "nine",    "ten",      "eleven",  "twelve",  "thirteen",
    "fourteen",  "fifteen",  "sixteen", "seventeen", "eighteen", "nineteen", "twenty",
    "thirty",    "forty",    "fifty",   "sixty",    "seventy", "eighty",  "ninety",
    "hundred",   "thousand", "million", "billion",  NULL};

static int is_number_word(const char *w, size_t n) {
    for (int i = 0; number_words[i]; i++)
        if (tok_eq_ci(w, n, number_words[i])) return 1;
    return 0;
}

/* Whether w is single letters between dots ("e.g", "i.e", "U.S"): an
 * abbreviation, not a dotted name. */
static int dotted_letters(const char *w, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!(i % 2 ? w[i] == '.' : is_alpha((unsigned char)w[i]))) return 0;
    return 1;
}

/* Whether word w is an identifier by its spelling alone (simcache.h). */
static int is_identifier(const char *w, size_t n) {
    int alpha = 0, digit = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)w[i];
        if (is_alpha(c)) alpha = 1;
        if (is_digit(c)) digit = 1;
        if (c == '_' || c == '/' || c == '\\') return 1;
        if (c == ':' && i + 1 < n && w[i + 1] == ':') return 1;
        if (c == '.' && i > 0 && i + 1 < n && is_alpha((unsigned char)w[i - 1]) &&
            (is_alpha((unsigned char)w[i + 1]) || w[i + 1] == '_') && !dotted_letters(w, n))
            return 1;
        if (i > 0 && is_upper(c) && is_lower((unsigned char)w[i - 1])) return 1; /* camelCase */
    }
    return alpha && digit;
}

/* Whether the word ending at text[end] is called: "name()" or
 * "name(arg)" with no space in the parentheses, but not a plural written
 * "file(s)" or "match(es)". */
static int is_call(const char *text, size_t len, size_t end) {
    if (end >= len || text[end] != '(') return 0;
    size_t j = end + 1;
    while (j < len && j - end <= 64 && text[j] != ')' && text[j] != '(' && text[j] != ' ' &&
           text[j] != '\t' && text[j] != '\n')
        j++;
    if (j >= len || text[j] != ')') return 0;
    const char *in = text + end + 1;
    size_t n = j - end - 1;
    return !tok_eq_ci(in, n, "s") && !tok_eq_ci(in, n, "es");
}

static void add_number(hone__sim_text *t, size_t off, size_t len) {
    if (t->nnum < HONE__SIM_MAX_TOKENS) {
        t->num[t->nnum].off = (uint32_t)off;
        t->num[t->nnum].len = (uint16_t)len;
        t->nnum++;
    } else {
        t->too_long = 1;
    }
}

/* The quote at text[i]: '"' or '\'' as themselves, the UTF-8 curly quotes
 * as 1 (‘), 2 (’), 3 (“), 4 (”); 0 for none. *n is its length in bytes. */
static int quote_at_byte(const char *text, size_t len, size_t i, size_t *n) {
    *n = 1;
    if (text[i] == '"' || text[i] == '\'') return text[i];
    if (i + 2 < len && (unsigned char)text[i] == 0xE2 && (unsigned char)text[i + 1] == 0x80) {
        unsigned char c = (unsigned char)text[i + 2];
        *n = 3;
        if (c == 0x98) return 1;
        if (c == 0x99) return 2;
        if (c == 0x9C) return 3;
        if (c == 0x9D) return 4;
    }
    return 0;
}

/* The quote that closes one opened by q. */
static int closing_quote(int q) { return q == 1 ? 2 : q == 3 ? 4 : q; }

void hone__sim_analyze(hone__sim_text *t, const char *text, size_t len) {
    t->text = text;
    t->len = len;
    t->too_long = 0;
    t->ntok = t->nnum = t->nneg = 0;
    memset(t->polar, 0, sizeof t->polar);
    if (len > UINT32_MAX) {
        t->too_long = 1;
        return;
    }
    size_t i = 0;
    int in_code = 0;     /* between a backtick and its closing one */
    int open_quote = 0;  /* the quote just before the next byte, if it may open a quoted word */
    size_t open_end = 0; /* the offset after that quote */
    while (i < len) {
        unsigned char c0 = (unsigned char)text[i];
        size_t qn;
        int q = quote_at_byte(text, len, i, &qn);
        if (q || !word_byte(c0)) {
            if (c0 == '`') {
                /* A code span: opened only when a closing backtick follows. */
                in_code = in_code ? 0 : memchr(text + i + 1, '`', len - i - 1) != NULL;
                open_quote = 0;
            } else if (q && q != 2 && q != 4 && (i == 0 || !word_byte((unsigned char)text[i - 1]))) {
                open_quote = q;
                open_end = i + qn;
            } else {
                open_quote = 0;
            }
            i += qn;
            continue;
        }
        size_t s = i;
        while (i < len) {
            unsigned char c = (unsigned char)text[i];
            size_t cn;
            int cq = quote_at_byte(text, len, i, &cn);
            if (cq > 4) cq = cq == '\'' ? 2 : 0; /* ASCII quotes: ' joins like ’ */
            if (cq == 2 && i + cn < len && word_byte((unsigned char)text[i + cn])) {
                i += cn; /* an apostrophe inside a word: don't, don’t */
            } else if (cq) {
                break;
            } else if (word_byte(c)) {
                i++;
            } else if (joiner(c) && i + 1 < len && word_byte((unsigned char)text[i + 1])) {
                i++;
            } else if (c == ':' && i + 2 < len && text[i + 1] == ':' &&
                       word_byte((unsigned char)text[i + 2])) {
                i += 2;
            } else {
                break;
            }
        }
        size_t n = i - s;
        const char *w = text + s;
        int opened = open_quote && open_end == s ? open_quote : 0;
        open_quote = 0;
        /* A word of underscores only ("___", a blank to fill) is no word. */
        size_t under = 0;
        while (under < n && w[under] == '_') under++;
        if (under == n) continue;
        if (t->ntok >= HONE__SIM_MAX_TOKENS || n > UINT16_MAX) {
            t->too_long = 1;
            return;
        }
        hone__sim_tok *k = &t->tok[t->ntok++];
        k->off = (uint32_t)s;
        k->len = (uint16_t)n;
        k->flags = 0;
        /* A quoted word: one word between an opening quote and its closing
         * one, not followed by a word byte ("image" in dataset["image"],
         * 'utf-8', ‘pandas’). */
        size_t cn = 0;
        int quoted = opened && i < len && quote_at_byte(text, len, i, &cn) == closing_quote(opened) &&
                     (i + cn == len || !word_byte((unsigned char)text[i + cn]));
        if (in_code || quoted || is_call(text, len, i) || is_identifier(w, n))
            k->flags |= HONE__TOK_IDENT;
        if (is_negation(w, n)) {
            k->flags |= HONE__TOK_NEG;
            t->nneg++;
        }
        count_polar(t, w, n);
        if (is_number_word(w, n)) add_number(t, s, n);
        /* Digit runs inside the word, with '.' or ',' between digits. */
        for (size_t j = 0; j < n;) {
            if (!is_digit((unsigned char)w[j])) {
                j++;
                continue;
            }
            size_t d = j;
            while (j < n && (is_digit((unsigned char)w[j]) ||
                             ((w[j] == '.' || w[j] == ',') && j + 1 < n &&
                              is_digit((unsigned char)w[j + 1]))))
                j++;
            add_number(t, s + d, j - d);
        }
    }
    /* A comma outside a word splits words, so "1,000" arrives as one word
     * only when written without spaces: the digit-run scan above keeps its
     * comma inside the number, and comparisons skip commas. */
}

/* Compares two numbers ignoring commas and case (number words). */
static int num_cmp(const char *a, size_t al, const char *b, size_t bl) {
    size_t i = 0, j = 0;
    for (;;) {
        while (i < al && a[i] == ',') i++;
        while (j < bl && b[j] == ',') j++;
        if (i == al && j == bl) return 0;
        if (i == al) return -1;
        if (j == bl) return 1;
        unsigned char x = lower((unsigned char)a[i]), y = lower((unsigned char)b[j]);
        if (x != y) return x < y ? -1 : 1;
        i++;
        j++;
    }
}

typedef struct num_view {
    const char *p;
    size_t n;
} num_view;

static int num_view_cmp(const void *x, const void *y) {
    const num_view *a = x, *b = y;
    return num_cmp(a->p, a->n, b->p, b->n);
}

static void clip(char *dst, size_t cap, const char *s, size_t n) {
    if (n > cap - 1) n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)dst[i] < 0x20) dst[i] = '?';
}

/* Multisets equal? When not, fills detail with one number of each side
 * that the other lacks. */
static int numbers_gate(const hone__sim_text *q, const hone__sim_text *k, char *detail, size_t cap) {
    num_view qa[HONE__SIM_MAX_TOKENS], ka[HONE__SIM_MAX_TOKENS];
    for (size_t i = 0; i < q->nnum; i++) qa[i] = (num_view){q->text + q->num[i].off, q->num[i].len};
    for (size_t i = 0; i < k->nnum; i++) ka[i] = (num_view){k->text + k->num[i].off, k->num[i].len};
    qsort(qa, q->nnum, sizeof *qa, num_view_cmp);
    qsort(ka, k->nnum, sizeof *ka, num_view_cmp);
    /* Walk both sorted lists: the first element of each not matched in the
     * other is what the detail names. */
    size_t i = 0, j = 0;
    const num_view *qonly = NULL, *konly = NULL;
    while (i < q->nnum || j < k->nnum) {
        int c = i == q->nnum ? 1 : j == k->nnum ? -1 : num_view_cmp(&qa[i], &ka[j]);
        if (c == 0) {
            i++;
            j++;
        } else if (c < 0) {
            if (!qonly) qonly = &qa[i];
            i++;
        } else {
            if (!konly) konly = &ka[j];
            j++;
        }
    }
    if (!qonly && !konly) return 1;
    char a[40], b[40];
    if (qonly) clip(a, sizeof a, qonly->p, qonly->n); else strcpy(a, "(none)");
    if (konly) clip(b, sizeof b, konly->p, konly->n); else strcpy(b, "(none)");
    detailf(detail, cap, "numbers differ: %s vs %s", a, b);
    return 0;
}

static int has_word_ci(const hone__sim_text *t, const char *w, size_t n) {
    for (size_t i = 0; i < t->ntok; i++) {
        if (t->tok[i].len != n) continue;
        const char *x = t->text + t->tok[i].off;
        size_t j = 0;
        while (j < n && lower((unsigned char)x[j]) == lower((unsigned char)w[j])) j++;
        if (j == n) return 1;
    }
    return 0;
}

/* The first identifier of a that b lacks as a word, or NULL. */
static const hone__sim_tok *missing_ident(const hone__sim_text *a, const hone__sim_text *b) {
    for (size_t i = 0; i < a->ntok; i++)
        if ((a->tok[i].flags & HONE__TOK_IDENT) &&
            !has_word_ci(b, a->text + a->tok[i].off, a->tok[i].len))
            return &a->tok[i];
    return NULL;
}

static int idents_gate(const hone__sim_text *q, const hone__sim_text *k, char *detail, size_t cap) {
    const hone__sim_tok *qm = missing_ident(q, k), *km = missing_ident(k, q);
    if (!qm && !km) return 1;
    char a[40], b[40];
    if (qm) clip(a, sizeof a, q->text + qm->off, qm->len); else strcpy(a, "(none)");
    if (km) clip(b, sizeof b, k->text + km->off, km->len); else strcpy(b, "(none)");
    detailf(detail, cap, "identifiers differ: %s vs %s", a, b);
    return 0;
}

static const char *first_neg(const hone__sim_text *t, char *buf, size_t cap) {
    for (size_t i = 0; i < t->ntok; i++)
        if (t->tok[i].flags & HONE__TOK_NEG) {
            clip(buf, cap, t->text + t->tok[i].off, t->tok[i].len);
            return buf;
        }
    return "none";
}

/* Whether two counts of the same pair's sides cross: one side more often
 * in q than in k while the other is less often (a word swapped for its
 * opposite: q "enable", k "disable"; q "download ... download", k "upload
 * ... download"). */
static int crossed(size_t q0, size_t q1, size_t k0, size_t k1) {
    return (q0 > k0 && q1 < k1) || (q0 < k0 && q1 > k1);
}

/* Morphological negation. The prefixes that negate a word, in the order
 * tried ("non" before "no"-less ones; "im", "il", "ir" are "in" before
 * p/m/b, l and r). */
static const char *const neg_prefixes[] = {"non", "dis", "un", "in", "im", "il", "ir", NULL};

/* Prefixed words whose prefix does not negate the rest although the rest
 * is a word (inform/form, display/play, unless/less): matched as the start
 * of the word, so "inform" covers "information" and "informed". General
 * English and computing words, not fitted to any test data. */
static const char *const neg_prefix_exceptions[] = {
    /* un- */
    "unless", "unrest",
    /* dis- */
    "disable", "discard", "discharge", "disclose", "discount", "discourse", "discover",
    "discuss", "disease", "disgust", "dismiss", "dispatch", "dispense", "display", "dispos",
    "dissent", "dissolve", "distill", "distract", "distribut", "distort", "disband",
    /* in- */
    "inbound", "incense", "income", "incorporat", "increas", "indeed", "indent", "infamous",
    "inflammable", "inflat", "inflow", "inform", "infus", "ingrain", "inhabit", "inherit",
    "inquest", "insect", "insert", "inside", "insight", "install", "instal", "instance",
    "instant", "instead", "instill", "instruct", "insure", "intake", "intend", "intens",
    "intent", "intern", "invaluable", "invent", "invers", "invert", "invest", "invoice",
    "inward", "inline", "inroad", "inmate", "inset",
    /* im- */
    "impact", "impair", "impart", "impend", "implant", "import", "impose", "impost", "impound",
    "impress", "imprint", "imprison", "improv", "impulse",
    /* ir- */
    "irate",
    /* non- */
    "nonsense", NULL};

static int starts_ci(const char *w, size_t n, const char *prefix) {
    size_t pl = strlen(prefix);
    if (n < pl) return 0;
    for (size_t i = 0; i < pl; i++)
        if (lower((unsigned char)w[i]) != (unsigned char)prefix[i]) return 0;
    return 1;
}

/* When word w is a negating prefix + a stem of 4 or more letters ("non-"
 * may have a '-' after it) and is not an exception, returns the stem's
 * offset in w; else 0. */
static size_t neg_stem(const char *w, size_t n) {
    if (n < 6) return 0; /* the shortest prefix + 4 letters */
    for (int p = 0; neg_prefixes[p]; p++) {
        if (!starts_ci(w, n, neg_prefixes[p])) continue;
        size_t s = strlen(neg_prefixes[p]);
        /* Hyphenated, only "non-" negates ("non-streaming"); "in-memory",
         * "in-place", "un-" words are rare and mostly not negations. */
        if (p == 0 && s < n && w[s] == '-') s++;
        if (n - s < 4) continue;
        size_t j = s;
        while (j < n && is_alpha((unsigned char)w[j])) j++;
        if (j < n) continue;
        for (int i = 0; neg_prefix_exceptions[i]; i++)
            if (starts_ci(w, n, neg_prefix_exceptions[i])) return 0;
        return s;
    }
    return 0;
}

static size_t count_word_ci(const hone__sim_text *t, const char *w, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < t->ntok; i++) {
        if (t->tok[i].len != n) continue;
        const char *x = t->text + t->tok[i].off;
        size_t j = 0;
        while (j < n && lower((unsigned char)x[j]) == lower((unsigned char)w[j])) j++;
        c += j == n;
    }
    return c;
}

/* Looks for a word of a that is a negated form of a stem (impossible:
 * possible) whose counts cross between a and b; fills detail when found. */
static int morph_flip(const hone__sim_text *a, const hone__sim_text *b, int a_is_q, char *detail,
                      size_t cap) {
    for (size_t i = 0; i < a->ntok; i++) {
        const char *w = a->text + a->tok[i].off;
        size_t n = a->tok[i].len, s = neg_stem(w, n);
        if (!s) continue;
        size_t an = count_word_ci(a, w, n), bn = count_word_ci(b, w, n);
        size_t as = count_word_ci(a, w + s, n - s), bs = count_word_ci(b, w + s, n - s);
        if (!crossed(an, as, bn, bs)) continue;
        char x[32], y[32];
        clip(x, sizeof x, w, n);
        clip(y, sizeof y, w + s, n - s);
        detailf(detail, cap, "polarity differs: %s vs %s", a_is_q ? x : y, a_is_q ? y : x);
        return 1;
    }
    return 0;
}

static int negation_gate(const hone__sim_text *q, const hone__sim_text *k, char *detail,
                         size_t cap) {
    if (q->nneg != k->nneg) {
        char a[32], b[32];
        detailf(detail, cap, "negation differs: %zu (%s) vs %zu (%s)", q->nneg,
                 first_neg(q, a, sizeof a), k->nneg, first_neg(k, b, sizeof b));
        return 0;
    }
    for (size_t p = 0; p < NPOLAR; p++) {
        const uint16_t *x = q->polar[p], *y = k->polar[p];
        if (crossed(x[0], x[1], y[0], y[1])) {
            /* Name the side each text has more of. */
            int qs = x[0] > y[0] ? 0 : 1;
            detailf(detail, cap, "polarity differs: %s vs %s", polar_pairs[p][qs],
                     polar_pairs[p][1 - qs]);
            return 0;
        }
    }
    if (morph_flip(q, k, 1, detail, cap) || morph_flip(k, q, 0, detail, cap)) return 0;
    return 1;
}

int hone__sim_gates(const hone__sim_text *q, const hone__sim_text *k, unsigned off,
                    hone_sim_gate_result *out) {
    int all = 1;
    for (int g = HONE_SIM_GATE_NUMBERS; g <= HONE_SIM_GATE_NEGATION; g++) {
        hone_sim_gate_result *r = &out[g];
        r->checked = !(off & HONE_SIM_GATE_BIT(g));
        r->detail[0] = 0;
        if (q->too_long || k->too_long) {
            r->passed = 0;
            detailf(r->detail, sizeof r->detail, "text too long to check (over %d words)",
                     HONE__SIM_MAX_TOKENS);
        } else if (g == HONE_SIM_GATE_NUMBERS) {
            r->passed = numbers_gate(q, k, r->detail, sizeof r->detail);
        } else if (g == HONE_SIM_GATE_IDENTIFIERS) {
            r->passed = idents_gate(q, k, r->detail, sizeof r->detail);
        } else {
            r->passed = negation_gate(q, k, r->detail, sizeof r->detail);
        }
        if (r->checked && !r->passed) all = 0;
    }
    return all;
}
