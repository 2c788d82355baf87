/* fuzz_run_template.c - libFuzzer target for `hone run`'s command
 * templates (hone_run_template_new / _expand): GNU parallel's replacement
 * strings over words and inputs an attacker may choose.
 *
 * Input: a flags byte, then fields separated by NUL bytes. Flags bits 0-2:
 * how many of the fields are template words (1..8), the rest are the job's
 * inputs (at least one: an empty one is added when none is left); bits
 * 3-7: the job number.
 * Invariants, each aborting:
 * - _new either succeeds or refuses with HONE_EINVAL and a one-line
 *   message naming the bad string or the empty command; a refused word has
 *   a {N} with N 0 or above 65535, or the first word is empty;
 * - an expansion is argc words and a NULL, in one block;
 * - a template without '{' expands to its words then the inputs;
 * - the modifiers of each input: {} is the input, {/} its part after the
 *   last '/', {.} the input or the input less a '.'-led extension without
 *   '/' or '.', {/.} the same of {/}, {//} "." or a prefix of the input;
 * - shell mode, for a template of plain words: the /bin/sh -c line, split
 *   as the shell splits single quotes, backslashes and spaces, gives back
 *   exactly the argv-mode words, so no input can leave its quotes.
 *
 * FUZZ-OPTIONS: -max_len=1024 -runs=400000 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "hone/run.h"

#define MAXF 64

/* Splits a shell line as /bin/sh would for words made only of single
 * quotes, backslash escapes and plain characters. Returns the word count,
 * or -1 when the line holds something else (an unterminated quote). */
static int sh_split(const char *s, char **words, int max) {
    int n = 0;
    while (*s) {
        while (*s == ' ') s++;
        if (!*s) break;
        if (n == max) return -1;
        hone_buf w = {0};
        hone_buf_append(&w, "", 0);
        while (*s && *s != ' ') {
            if (*s == '\'') {
                const char *e = strchr(s + 1, '\'');
                if (!e) {
                    hone_buf_free(&w);
                    for (int i = 0; i < n; i++) hone_free(NULL, words[i]);
                    return -1;
                }
                hone_buf_append(&w, s + 1, (size_t)(e - s - 1));
                s = e + 1;
            } else if (*s == '\\' && s[1]) {
                hone_buf_append(&w, s + 1, 1);
                s += 2;
            } else {
                hone_buf_append(&w, s, 1);
                s++;
            }
        }
        if (!w.data) abort();
        words[n++] = w.data;
    }
    return n;
}

/* A word the check of shell mode can take as written: no shell syntax
 * of its own, and not empty (an empty word vanishes from a shell line). */
static int plain_word(const char *w) {
    return *w && strspn(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789{}./#%-_") == strlen(w);
}

static int expand(const char *const *words, int nw, int shell, const char *const *in, size_t n, uint64_t seq,
                  char ***av, int *ac) {
    hone_run_template *t = NULL;
    hone_error err = {0};
    int rc = hone_run_template_new(&t, nw, words, shell, NULL, &err);
    if (rc != HONE_OK) {
        FUZZ_CHECK(rc == HONE_EINVAL && t == NULL, "template_new gave %s", hone_status_name(rc));
        FUZZ_CHECK(fuzz_err_ok(&err) && !strchr(err.msg, '\n'), "bad message: %s", err.msg);
        FUZZ_CHECK(strstr(err.msg, "bad replacement string {") || (strstr(err.msg, "first word is empty") && !words[0][0]),
                   "refused with: %s", err.msg);
        return rc;
    }
    rc = hone_run_template_expand(t, in, n, seq, 1, av, ac);
    FUZZ_CHECK(rc == HONE_OK, "expand gave %s", hone_status_name(rc));
    FUZZ_CHECK(*ac >= 1 && (*av)[*ac] == NULL, "argc %d, argv[argc] not NULL", *ac);
    for (int i = 0; i < *ac; i++) FUZZ_CHECK((*av)[i] != NULL, "argv[%d] NULL", i);
    if (shell) FUZZ_CHECK(*ac == 3 && !strcmp((*av)[0], "/bin/sh") && !strcmp((*av)[1], "-c"), "shell argv");
    hone_run_template_free(t);
    return HONE_OK;
}

static int starts_with(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }

/* The modifiers' invariants on one input. */
static void check_modifiers(const char *in) {
    static const char *const words[] = {"c", "{}", "{.}", "{/}", "{//}", "{/.}"};
    char **av;
    int ac;
    if (expand(words, 6, 0, &in, 1, 1, &av, &ac) != HONE_OK) FUZZ_CHECK(0, "modifier template refused");
    FUZZ_CHECK(ac == 6, "argc %d", ac);
    const char *all = av[1], *ext = av[2], *base = av[3], *dir = av[4], *bext = av[5];
    FUZZ_CHECK(!strcmp(all, in), "{} of '%s' is '%s'", in, all);
    const char *slash = strrchr(in, '/');
    FUZZ_CHECK(!strcmp(base, slash ? slash + 1 : in), "{/} of '%s' is '%s'", in, base);
    /* {.}: the input, or the input less ".ext", ext with no '.' or '/',
     * and the '.' not the base name's first character. */
    size_t el = strlen(ext);
    FUZZ_CHECK(starts_with(in, ext), "{.} '%s' is no prefix of '%s'", ext, in);
    if (el < strlen(in)) {
        const char *rest = in + el;
        FUZZ_CHECK(rest[0] == '.' && !strpbrk(rest + 1, "./"), "{.} of '%s' removed '%s'", in, rest);
        FUZZ_CHECK(el > 0 && ext[el - 1] != '/', "{.} of '%s' removed a leading-dot name", in);
    } else {
        /* Nothing removed: the base name has no '.' past its first byte. */
        FUZZ_CHECK(!strchr(base[0] ? base + 1 : base, '.'), "{.} of '%s' kept an extension", in);
    }
    /* {/.} is {.} of the base name. */
    size_t bl = strlen(bext);
    FUZZ_CHECK(starts_with(base, bext) && (bl == strlen(base) || (base[bl] == '.' && bl > 0)),
               "{/.} of '%s' is '%s'", in, bext);
    FUZZ_CHECK(strlen(in) - el == strlen(base) - bl && el >= bl && !strcmp(ext + el - bl, bext),
               "{.} '%s' and {/.} '%s' of '%s' disagree", ext, bext, in);
    FUZZ_CHECK(!strcmp(dir, ".") || (dir[0] && starts_with(in, dir) && (strlen(dir) == 1 || dir[strlen(dir) - 1] != '/')),
               "{//} of '%s' is '%s'", in, dir);
    FUZZ_CHECK(slash || !strcmp(dir, "."), "{//} of '%s' (no '/') is '%s'", in, dir);
    hone_free(NULL, av);
}

/* --halt values: a parsed one is in range, a refused one says so in one
 * line and leaves the output alone. */
static void check_halt(const char *s) {
    hone_run_halt h = {7, 7, 7, 7};
    hone_error err = {0};
    int rc = hone_run_halt_parse(s, &h, &err);
    if (rc != HONE_OK) {
        FUZZ_CHECK(rc == HONE_EINVAL && h.when == 7 && h.count == 7, "refused '%s' with %s or changed out", s,
                   hone_status_name(rc));
        FUZZ_CHECK(fuzz_err_ok(&err) && !strchr(err.msg, '\n') && strstr(err.msg, "--halt"), "message: %s", err.msg);
        return;
    }
    FUZZ_CHECK(h.when >= HONE_HALT_NEVER && h.when <= HONE_HALT_NOW && h.on >= HONE_HALT_FAIL && h.on <= HONE_HALT_DONE,
               "'%s': when %d on %d", s, h.when, h.on);
    if (h.when == HONE_HALT_NEVER) FUZZ_CHECK(h.count == 0 && h.percent == 0, "'%s': never with a condition", s);
    else FUZZ_CHECK((h.count >= 1 && h.percent == 0) || (h.count == 0 && h.percent > 0 && h.percent < 100),
                    "'%s': count %llu percent %g", s, (unsigned long long)h.count, h.percent);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    unsigned nwant = (data[0] & 7u) + 1, seq = data[0] >> 3;
    char *s = fuzz_strndup(data + 1, size - 1);
    const char *fields[MAXF];
    size_t nf = 0;
    for (size_t off = 0; off <= size - 1 && nf < MAXF;) {
        fields[nf++] = s + off;
        off += strlen(s + off) + 1;
    }
    int nw = (int)(nf < nwant ? nf : nwant);
    const char *const *words = fields;
    const char *empty = "";
    const char *const *in = nf > (size_t)nw ? fields + nw : &empty;
    size_t n = nf > (size_t)nw ? nf - (size_t)nw : 1;

    char **av = NULL, **sav = NULL;
    int ac = 0, sac = 0;
    int rc = expand(words, nw, 0, in, n, seq, &av, &ac);
    int rc_shell = expand(words, nw, 1, in, n, seq, &sav, &sac);
    FUZZ_CHECK(rc == rc_shell, "argv mode %s, shell mode %s", hone_status_name(rc), hone_status_name(rc_shell));
    if (rc == HONE_OK) {
        int braces = 0, plain = 1;
        for (int i = 0; i < nw; i++) {
            if (strchr(words[i], '{')) braces = 1;
            if (!plain_word(words[i])) plain = 0;
        }
        if (!braces) {
            FUZZ_CHECK((size_t)ac == (size_t)nw + n, "argc %d for %d words and %zu inputs", ac, nw, n);
            for (int i = 0; i < nw; i++) FUZZ_CHECK(!strcmp(av[i], words[i]), "word %d changed", i);
            for (size_t i = 0; i < n; i++) FUZZ_CHECK(!strcmp(av[nw + (int)i], in[i]), "input %zu changed", i);
        }
        /* With one input the shell line splits into exactly the argv
         * words. With several, a word like x{}y is one argv word (inputs
         * joined) but one shell word per input (each quoted on its own). */
        if (plain && n == 1) {
            char *split[4096];
            int k = sh_split(sav[2], split, 4096);
            FUZZ_CHECK(k == ac, "shell line [%s] splits into %d words, argv mode has %d", sav[2], k, ac);
            for (int i = 0; i < k; i++) {
                FUZZ_CHECK(!strcmp(split[i], av[i]), "shell word %d [%s], argv word [%s]", i, split[i], av[i]);
                hone_free(NULL, split[i]);
            }
        }
        hone_free(NULL, av);
        hone_free(NULL, sav);
    }
    for (size_t i = 0; i < n; i++) check_modifiers(in[i]);
    check_halt(s);
    free(s);
    return 0;
}
