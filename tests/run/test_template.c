/* test_template.c - command templates (GNU parallel's replacement strings),
 * --halt values and end names of hone/run.h.
 *
 * Expected words were taken from GNU parallel 20221122 when these tests
 * were written (`parallel -k -q printf '[%s]' TEMPLATE ::: INPUTS`), and are
 * literal here: the tests do not need parallel. Where hone/run.h chose
 * otherwise than GNU parallel, the case says so and what GNU gives. */
#include "test.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hone/run.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

#define MAXW 32

/* Parses words (NULL-terminated) and expands them over inputs
 * (NULL-terminated), then checks the result against want
 * (NULL-terminated), printing both argvs on a mismatch. */
static void check_expand_at(const char *file, int line, const char *const *words, int shell,
                            const char *const *inputs, uint64_t seq, unsigned slot, const char *const *want) {
    int argc = 0, nin = 0, nwant = 0;
    while (words[argc]) argc++;
    while (inputs[nin]) nin++;
    while (want[nwant]) nwant++;
    hone_run_template *t = NULL;
    hone_error err = {0};
    int rc = hone_run_template_new(&t, argc, words, shell, NULL, &err);
    if (rc != HONE_OK) {
        print_error("%s:%d: template_new: %s (%s)\n", file, line, hone_status_name(rc), err.msg);
        fail();
    }
    char **av = NULL;
    int ac = -1;
    rc = hone_run_template_expand(t, inputs, (size_t)nin, seq, slot, &av, &ac);
    if (rc != HONE_OK) {
        print_error("%s:%d: expand: %s\n", file, line, hone_status_name(rc));
        fail();
    }
    int same = ac == nwant && av[ac] == NULL;
    for (int i = 0; same && i < ac; i++) same = !strcmp(av[i], want[i]);
    if (!same) {
        print_error("%s:%d: template", file, line);
        for (int i = 0; i < argc; i++) print_error(" [%s]", words[i]);
        print_error(" over");
        for (int i = 0; i < nin; i++) print_error(" [%s]", inputs[i]);
        print_error("\n  got  %d:", ac);
        for (int i = 0; i < ac; i++) print_error(" [%s]", av[i]);
        print_error("\n  want %d:", nwant);
        for (int i = 0; i < nwant; i++) print_error(" [%s]", want[i]);
        print_error("\n");
    }
    hone_free(NULL, av);
    hone_run_template_free(t);
    if (!same) fail();
}

#define W(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NONE ((const char *const[]){NULL})
#define EXPAND(words, inputs, want) check_expand_at(__FILE__, __LINE__, words, 0, inputs, 1, 1, want)
#define EXPAND_SHELL(words, inputs, want) check_expand_at(__FILE__, __LINE__, words, 1, inputs, 1, 1, want)

/* Expects template_new to refuse words with EINVAL and a message holding
 * each of the NULL-terminated fragments. */
static void check_refused_at(const char *file, int line, int argc, const char *const *words,
                             const char *const *fragments) {
    hone_run_template *t = (hone_run_template *)&t;
    hone_error err = {0};
    int rc = hone_run_template_new(&t, argc, words, 0, NULL, &err);
    if (rc != HONE_EINVAL || t != NULL) {
        print_error("%s:%d: template_new gave %s (t %p), want HONE_EINVAL and NULL\n", file, line,
                    hone_status_name(rc), (void *)t);
        if (rc == HONE_OK) hone_run_template_free(t);
        fail();
    }
    for (int i = 0; fragments[i]; i++) {
        if (!strstr(err.msg, fragments[i])) {
            print_error("%s:%d: message '%s' lacks '%s'\n", file, line, err.msg, fragments[i]);
            fail();
        }
    }
    if (strchr(err.msg, '\n')) {
        print_error("%s:%d: message is more than one line: %s\n", file, line, err.msg);
        fail();
    }
}

#define REFUSED(words, ...) \
    check_refused_at(__FILE__, __LINE__, (int)(sizeof(words) / sizeof(words[0])) - 1, words, W(__VA_ARGS__))

/* ------------------------------------------------------------------ */
/* Replacement strings                                                 */
/* ------------------------------------------------------------------ */

/* Every modifier on awkward paths: {} {.} {/} {//} {/.} as GNU parallel
 * gives them (each row checked against parallel 20221122). */
static void test_modifiers_gnu(void **state) {
    (void)state;
    static const char *const rows[][5] = {
            {"/x/y.tar.gz", "/x/y.tar", "y.tar.gz", "/x", "y.tar"},
            {"y", "y", "y", ".", "y"},
            {"./a b.c", "./a b", "a b.c", ".", "a b"},
            {"/x.d/y", "/x.d/y", "y", "/x.d", "y"},  /* a dot in a directory is no extension */
            {"/x/", "/x/", "", "/", ""},             /* trailing '/': empty base name */
            {"x/", "x/", "", ".", ""},
            {"/", "/", "", "/", ""},
            {"", "", "", ".", ""},
            {"a.", "a", "a.", ".", "a"},
            {"..", ".", "..", ".", "."},
            {"/x/y.", "/x/y", "y.", "/x", "y"},
            {"a.b/", "a.b/", "", ".", ""},
            {"//", "//", "", "/", ""},
            {"x//y", "x//y", "y", "x", "y"},
            {"a/..", "a/.", "..", "a", "."},
            {"a/.b.c", "a/.b", ".b.c", "a", ".b"},
            {"a/b/", "a/b/", "", "a", ""},
            {"/x//", "/x//", "", "/", ""},
            {"x//", "x//", "", ".", ""},
            {".a.b", ".a", ".a.b", ".", ".a"},
            {"dir/sub.d/file", "dir/sub.d/file", "file", "dir/sub.d", "file"},
            {"-n", "-n", "-n", ".", "-n"},
            {"a\\b", "a\\b", "a\\b", ".", "a\\b"},
            {"tab\tx.y", "tab\tx", "tab\tx.y", ".", "tab\tx"},
            /* Not from GNU parallel, which splits inputs at newlines: a
             * newline is an ordinary byte here. */
            {"new\nline.c", "new\nline", "new\nline.c", ".", "new\nline"},
            {"d\n/f\n.x", "d\n/f\n", "f\n.x", "d\n", "f\n"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *const *r = rows[i];
        EXPAND(W("cmd", "{}", "{.}", "{/}", "{//}", "{/.}"), W(r[0]), W("cmd", r[0], r[1], r[2], r[3], r[4]));
        /* The same through {1...}. */
        EXPAND(W("cmd", "{1}", "{1.}", "{1/}", "{1//}", "{1/.}"), W(r[0]),
               W("cmd", r[0], r[1], r[2], r[3], r[4]));
    }
}

/* hone/run.h: an extension's '.' is never the base name's first character.
 * GNU parallel 20221122 strips it anyway (its {.} is s:\.[^/.]*$::): on
 * ".bashrc" it gives "" for {.} and {/.}, on "/x/.a" "/x/" and "". */
static void test_modifiers_leading_dot(void **state) {
    (void)state;
    EXPAND(W("cmd", "{}", "{.}", "{/}", "{//}", "{/.}"), W(".bashrc"),
           W("cmd", ".bashrc", ".bashrc", ".bashrc", ".", ".bashrc"));
    EXPAND(W("cmd", "{}", "{.}", "{/}", "{//}", "{/.}"), W("/x/.a"), W("cmd", "/x/.a", "/x/.a", ".a", "/x", ".a"));
    EXPAND(W("cmd", "{}", "{.}", "{/}", "{//}", "{/.}"), W("."), W("cmd", ".", ".", ".", ".", "."));
    EXPAND(W("cmd", "{}", "{.}", "{/}", "{//}", "{/.}"), W("/x/."), W("cmd", "/x/.", "/x/.", ".", "/x", "."));
    /* But a second dot is one: ".a.b" -> ".a" (as GNU). */
    EXPAND(W("cmd", "{.}"), W("d/.a.b"), W("cmd", "d/.a"));
}

/* A word that is exactly {} (or a modifier of it) gives one word per
 * input: -n 2 over 1 2 3 is [1][2] then [3], as GNU parallel. */
static void test_per_job_words(void **state) {
    (void)state;
    EXPAND(W("cmd", "{}"), W("1", "2"), W("cmd", "1", "2"));
    EXPAND(W("cmd", "{}"), W("3"), W("cmd", "3"));
    EXPAND(W("cmd", "{.}", "-", "{/}"), W("a/b.c", "d.e", "f"), W("cmd", "a/b", "d", "f", "-", "b.c", "d.e", "f"));
    /* Text around it: one word, the inputs joined by spaces. hone/run.h's
     * rule; GNU parallel, quoting each input apart, gives two words here
     * ([x1][2y]). */
    EXPAND(W("cmd", "x{}y"), W("1", "2"), W("cmd", "x1 2y"));
    EXPAND(W("cmd", "x{}y"), W("3"), W("cmd", "x3y"));
    EXPAND(W("cmd", "{/}{.}"), W("a/b.c", "d.e"), W("cmd", "b.c d.ea/b d"));
    /* The same replacement twice in one word. */
    EXPAND(W("a{}b{}c"), W("1"), W("a1b1c"));
}

/* {N}: input N of the job, whatever -n; beyond the job's inputs, "". GNU
 * parallel drops such a word when it is nothing but {N} (-n 2 over a.c
 * b.d c.e gives [a.c][b.d][xb.dy][b] then [c.e][xy]); hone/run.h keeps it
 * as an empty word, so the command's arguments do not shift. */
static void test_positional(void **state) {
    (void)state;
    const char *const *tmpl = W("cmd", "{1}", "{2}", "{3}", "x{2}y", "{2.}");
    EXPAND(tmpl, W("a.c", "b.d"), W("cmd", "a.c", "b.d", "", "xb.dy", "b"));
    EXPAND(tmpl, W("c.e"), W("cmd", "c.e", "", "", "xy", ""));
    EXPAND(W("cmd", "{1.}", "{1/}", "{1//}", "{1/.}", "{2/.}"), W("a/b.c", "x/.y.z"),
           W("cmd", "a/b", "b.c", "a", "b", ".y"));
    /* Leading zeros are the same number, as GNU: {01} is {1}. */
    EXPAND(W("cmd", "{01}", "{002}"), W("p", "q"), W("cmd", "p", "q"));
    /* The highest position is accepted and, here, empty. */
    EXPAND(W("cmd", "{65535}"), W("a"), W("cmd", ""));
    /* Positional strings count as input strings: nothing is appended. */
    EXPAND(W("cmd", "{2}"), W("a", "b"), W("cmd", "b"));
}

/* {#} is the job's number, {%} the worker slot (GNU: -j2 over a b c gives
 * {#} 1 2 3). */
static void test_seq_slot(void **state) {
    (void)state;
    check_expand_at(__FILE__, __LINE__, W("cmd", "{#}", "{%}", "a{#}b{%}c", "{}"), 0, W("in"), 7, 3,
                    W("cmd", "7", "3", "a7b3c", "in"));
    check_expand_at(__FILE__, __LINE__, W("cmd", "{#}", "{}"), 0, W("in"), UINT64_MAX, 1,
                    W("cmd", "18446744073709551615", "in"));
    check_expand_at(__FILE__, __LINE__, W("cmd", "{%}", "{}"), 0, W("in"), 1, 4294967295u,
                    W("cmd", "4294967295", "in"));
    /* {#} and {%} are not input strings: the inputs are appended.
     * hone/run.h's rule; GNU parallel appends nothing once any
     * replacement string is used (`printf '[%s]' {#} ::: a b` gives [1] and
     * [2]). */
    check_expand_at(__FILE__, __LINE__, W("cmd", "{#}", "{%}"), 0, W("a", "b"), 5, 2, W("cmd", "5", "2", "a", "b"));
}

/* No input string: the inputs are appended, one word each. */
static void test_appended(void **state) {
    (void)state;
    EXPAND(W("echo"), W("a"), W("echo", "a"));
    EXPAND(W("echo", "-n"), W("a b", "", "c"), W("echo", "-n", "a b", "", "c"));
    EXPAND(W("echo", "{x}"), W("a/b.c"), W("echo", "{x}", "a/b.c"));
}

/* A '{' that starts no replacement string is text, and the scan goes on
 * after it, so "{{}}" holds a {} (GNU parallel gives the same words for
 * each of these). */
static void test_unknown_braces(void **state) {
    (void)state;
    static const struct {
        const char *word, *want, *appended; /* appended: the input, when the word has no input string */
    } cases[] = {
            {"{x}", "{x}", "a/b.c"},   {"{", "{", "a/b.c"},         {"}{", "}{", "a/b.c"},
            {"{{}}", "{a/b.c}", NULL}, {"{{}", "{a/b.c", NULL},     {"{}}", "a/b.c}", NULL},
            {"{1x}", "{1x}", "a/b.c"}, {"{ }", "{ }", "a/b.c"},     {"{/.x}", "{/.x}", "a/b.c"},
            {"{##}", "{##}", "a/b.c"}, {"{.}}", "a/b}", NULL},      {"{1", "{1", "a/b.c"},
            {"{/", "{/", "a/b.c"},     {"{//", "{//", "a/b.c"},     {"{1/.", "{1/.", "a/b.c"},
            {"{{1}}", "{a/b.c}", NULL}, {"{#", "{#", "a/b.c"},      {"{%%}", "{%%}", "a/b.c"},
            /* GNU parallel reads {-1} as the last input; hone/run.h
             * names no such string, so it is text here. */
            {"{-1}", "{-1}", "a/b.c"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].appended) EXPAND(W("cmd", cases[i].word), W("a/b.c"), W("cmd", cases[i].want, cases[i].appended));
        else EXPAND(W("cmd", cases[i].word), W("a/b.c"), W("cmd", cases[i].want));
    }
    /* Empty words stay words. */
    EXPAND(W("cmd", "", "{}", ""), W("a"), W("cmd", "", "a", ""));
}

static void test_bad_templates(void **state) {
    (void)state;
    REFUSED(W("cmd", "x{0}"), "{0}", "'x{0}'", "positions start at 1");
    REFUSED(W("cmd", "{00.}"), "{00.}", "positions start at 1");
    REFUSED(W("cmd", "{0/.}"), "{0/.}", "positions start at 1");
    REFUSED(W("cmd", "{65536}"), "{65536}", "65535");
    REFUSED(W("cmd", "a", "{99999999999999999999999}"), "{99999999999999999999999}", "65535");
    REFUSED(W(""), "first word is empty");
    REFUSED(W("", "{}"), "first word is empty");
    /* Well-formed later words do not hide a bad one. */
    REFUSED(W("cmd", "{}", "{1}", "-{0}-"), "'-{0}-'");

    hone_run_template *t = (hone_run_template *)&t;
    hone_error err = {0};
    assert_int_equal(hone_run_template_new(&t, 0, W("cmd"), 0, NULL, &err), HONE_EINVAL);
    assert_null(t);
    assert_non_null(strstr(err.msg, "no command"));
    t = (hone_run_template *)&t;
    assert_int_equal(hone_run_template_new(&t, 1, NULL, 0, NULL, &err), HONE_EINVAL);
    assert_null(t);
    t = (hone_run_template *)&t;
    assert_int_equal(hone_run_template_new(&t, -1, W("cmd"), 0, NULL, &err), HONE_EINVAL);
    assert_null(t);
    const char *with_null[] = {"cmd", NULL, "x"};
    assert_int_equal(hone_run_template_new(&t, 3, with_null, 0, NULL, &err), HONE_EINVAL);
    assert_null(t);
    assert_non_null(strstr(err.msg, "word 2"));
    /* err may be NULL. */
    assert_int_equal(hone_run_template_new(&t, 1, W("{0}"), 0, NULL, NULL), HONE_EINVAL);
    hone_run_template_free(NULL);
}

static void test_bad_expand(void **state) {
    (void)state;
    hone_run_template *t;
    assert_int_equal(hone_run_template_new(&t, 2, W("cmd", "{}"), 0, NULL, NULL), HONE_OK);
    char **av = (char **)&av;
    int ac = 99;
    assert_int_equal(hone_run_template_expand(t, W("a"), 0, 1, 1, &av, &ac), HONE_EINVAL);
    assert_null(av);
    av = (char **)&av;
    assert_int_equal(hone_run_template_expand(t, NULL, 1, 1, 1, &av, &ac), HONE_EINVAL);
    assert_null(av);
    const char *holes[] = {"a", NULL, "c"};
    assert_int_equal(hone_run_template_expand(t, holes, 3, 1, 1, &av, &ac), HONE_EINVAL);
    assert_null(av);
    assert_int_equal(hone_run_template_expand(NULL, W("a"), 1, 1, 1, &av, &ac), HONE_EINVAL);
    hone_run_template_free(t);
}

/* One allocation per expansion: argv and its strings in one block, freed
 * with one hone_free. */
static void test_one_allocation(void **state) {
    (void)state;
    failalloc fa;
    failalloc_init(&fa, 0);
    hone_run_template *t;
    assert_int_equal(hone_run_template_new(&t, 4, W("cmd", "{}", "x{1.}y", "{#}"), 0, &fa.alloc, NULL), HONE_OK);
    assert_int_equal(fa.calls, 1);
    for (int shell = 0; shell < 2; shell++) {
        char **av;
        int ac;
        long before = fa.calls;
        assert_int_equal(hone_run_template_expand(t, W("a.b", "c"), 2, 9, 1, &av, &ac), HONE_OK);
        assert_int_equal(fa.calls - before, 1);
        assert_int_equal(ac, shell ? 3 : 5);
        hone_free(&fa.alloc, av);
        hone_run_template_free(t);
        assert_int_equal(fa.live, 0);
        if (!shell) {
            assert_int_equal(hone_run_template_new(&t, 4, W("cmd", "{}", "x{1.}y", "{#}"), 1, &fa.alloc, NULL),
                             HONE_OK);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Shell mode                                                          */
/* ------------------------------------------------------------------ */

/* The LINE as written, each replacement in single quotes. */
static void test_shell_line(void **state) {
    (void)state;
    EXPAND_SHELL(W("printf", "'%s\\n'", "{}"), W("it's"), W("/bin/sh", "-c", "printf '%s\\n' 'it'\\''s'"));
    EXPAND_SHELL(W("echo", "{}", "x{}y", "{1.}", "{3}"), W("a.c", "b"),
                 W("/bin/sh", "-c", "echo 'a.c' 'b' x'a.c' 'b'y 'a' ''"));
    /* The user's shell syntax stays as written. */
    EXPAND_SHELL(W("cat {} | wc -l", ">", "/dev/null"), W("f"), W("/bin/sh", "-c", "cat 'f' | wc -l > /dev/null"));
    /* Appended inputs are quoted words too. */
    EXPAND_SHELL(W("echo"), W("a b", "'"), W("/bin/sh", "-c", "echo 'a b' ''\\'''"));
    check_expand_at(__FILE__, __LINE__, W("echo", "{#}", "{%}"), 1, W("x"), 12, 2,
                    W("/bin/sh", "-c", "echo '12' '2' 'x'"));
}

/* Runs argv with stdout into out; returns the exit status. */
static int run_capture(char **argv, hone_buf *out) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    pid_t pid;
    extern char **environ;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    assert_int_equal(rc, 0);
    char buf[4096];
    ssize_t got;
    while ((got = read(fds[0], buf, sizeof buf)) > 0) assert_int_equal(hone_buf_append(out, buf, (size_t)got), HONE_OK);
    close(fds[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Whatever an input holds, the shell sees it as one word, unchanged. */
static void test_shell_round_trip(void **state) {
    (void)state;
    static const char *const nasty[] = {
            "plain", "it's", "''", "'", "\"double\"", "$HOME", "${PATH}", "$(echo pwned)", "`echo pwned`",
            "a; echo pwned", "a && echo pwned", "line1\nline2", "  spaces  ", "-n", "--help", "-e \\n",
            "back\\slash", "*", "?", "[a]", "~", "#comment", "a|b", "<in >out", "tab\there", "\\'", "'\\''",
            "!", "{}", "", "%s", "é ü"};
    size_t n = sizeof nasty / sizeof nasty[0];
    hone_run_template *t;
    hone_error err;
    /* One job per input: printf '[%s]\n' {} */
    assert_int_equal(hone_run_template_new(&t, 3, W("printf", "'[%s]\\n'", "{}"), 1, NULL, &err), HONE_OK);
    for (size_t i = 0; i < n; i++) {
        char **av;
        int ac;
        assert_int_equal(hone_run_template_expand(t, &nasty[i], 1, i + 1, 1, &av, &ac), HONE_OK);
        hone_buf out = {0}, want = {0};
        int st = run_capture(av, &out);
        hone_buf_printf(&want, "[%s]\n", nasty[i]);
        if (st != 0 || !out.data || strcmp(out.data, want.data)) {
            print_error("input [%s]: line %s gave status %d, output [%s], want [%s]\n", nasty[i], av[2], st,
                        out.data ? out.data : "", want.data);
            fail();
        }
        hone_buf_free(&out);
        hone_buf_free(&want);
        hone_free(NULL, av);
    }
    hone_run_template_free(t);

    /* Every input in one job: one shell word each, also inside x{}y. */
    assert_int_equal(hone_run_template_new(&t, 5, W("printf", "'[%s]\\n'", "{}", "x{}y", "{/}"), 1, NULL, &err),
                     HONE_OK);
    char **av;
    int ac;
    assert_int_equal(hone_run_template_expand(t, nasty, n, 1, 1, &av, &ac), HONE_OK);
    hone_buf out = {0}, want = {0};
    for (size_t i = 0; i < n; i++) hone_buf_printf(&want, "[%s]\n", nasty[i]);
    /* x{}y: each input one word; the text around goes to the first and
     * the last (GNU parallel gives x1 2y too). */
    for (size_t i = 0; i < n; i++)
        hone_buf_printf(&want, "[%s%s%s]\n", i == 0 ? "x" : "", nasty[i], i == n - 1 ? "y" : "");
    for (size_t i = 0; i < n; i++) {
        const char *slash = strrchr(nasty[i], '/');
        hone_buf_printf(&want, "[%s]\n", slash ? slash + 1 : nasty[i]);
    }
    int st = run_capture(av, &out);
    assert_int_equal(st, 0);
    if (strcmp(out.data, want.data)) {
        print_error("got:\n%s\nwant:\n%s\n", out.data, want.data);
        fail();
    }
    hone_buf_free(&out);
    hone_buf_free(&want);
    hone_free(NULL, av);
    hone_run_template_free(t);
}

/* Without shell, the same inputs are argv words as they are: nothing is
 * quoted. */
static void test_argv_unquoted(void **state) {
    (void)state;
    EXPAND(W("cmd", "{}", "{}x"), W("it's; $x"), W("cmd", "it's; $x", "it's; $xx"));
}

/* ------------------------------------------------------------------ */
/* Out of memory                                                       */
/* ------------------------------------------------------------------ */

static int oom_run(const hone_allocator *a, void *ctx) {
    int shell = *(int *)ctx;
    hone_run_template *t;
    hone_error err;
    int rc = hone_run_template_new(&t, 6, W("cmd", "{}", "x{1.}y", "{#}", "{/}-{%}", "'{2//}'"), shell, a, &err);
    if (rc) {
        if (rc == HONE_ENOMEM && (!strstr(err.msg, "out of memory") || t != NULL)) return HONE_EFAIL;
        return rc;
    }
    char **av = (char **)&av;
    int ac;
    for (int i = 0; i < 3 && !rc; i++) {
        rc = hone_run_template_expand(t, W("a/b.c", "d e", "f'g"), 3, (uint64_t)i + 1, 1, &av, &ac);
        if (rc) {
            if (av != NULL) rc = HONE_EFAIL;
            break;
        }
        char want[128];
        snprintf(want, sizeof want, "cmd 'a/b.c' 'd e' 'f'\\''g' x'a/b'y '%d' 'b.c' 'd e' 'f'\\''g'-'1' ''.''", i + 1);
        if (!shell && (ac != 8 || strcmp(av[3], "f'g") || strcmp(av[4], "xa/by") || strcmp(av[7], "'.'")))
            rc = HONE_EFAIL;
        if (shell && (ac != 3 || strcmp(av[2], want))) rc = HONE_EFAIL;
        hone_free(a, av);
    }
    hone_run_template_free(t);
    return rc;
}

static void test_oom(void **state) {
    (void)state;
    for (int shell = 0; shell < 2; shell++) {
        long n = failalloc_loop(shell ? "template shell" : "template argv", oom_run, &shell);
        /* One for the template, one per expansion. */
        assert_int_equal(n, 4);
    }
}

/* ------------------------------------------------------------------ */
/* --halt and end names                                                */
/* ------------------------------------------------------------------ */

static void test_halt_accepted(void **state) {
    (void)state;
    static const struct {
        const char *s;
        hone_run_halt want;
    } cases[] = {
            {"never", {HONE_HALT_NEVER, HONE_HALT_FAIL, 0, 0}},
            {"0", {HONE_HALT_NEVER, HONE_HALT_FAIL, 0, 0}},
            {"1", {HONE_HALT_SOON, HONE_HALT_FAIL, 1, 0}},
            {"2", {HONE_HALT_NOW, HONE_HALT_FAIL, 1, 0}},
            {"-1", {HONE_HALT_SOON, HONE_HALT_SUCCESS, 1, 0}}, /* GNU parallel's too */
            {"-2", {HONE_HALT_NOW, HONE_HALT_SUCCESS, 1, 0}},
            {"now,fail=1", {HONE_HALT_NOW, HONE_HALT_FAIL, 1, 0}},
            {"soon,fail=3", {HONE_HALT_SOON, HONE_HALT_FAIL, 3, 0}},
            {"now,success=1", {HONE_HALT_NOW, HONE_HALT_SUCCESS, 1, 0}},
            {"soon,done=10", {HONE_HALT_SOON, HONE_HALT_DONE, 10, 0}},
            {"now,fail=10%", {HONE_HALT_NOW, HONE_HALT_FAIL, 0, 10}},
            {"soon,success=99%", {HONE_HALT_SOON, HONE_HALT_SUCCESS, 0, 99}},
            {"now,done=2.5%", {HONE_HALT_NOW, HONE_HALT_DONE, 0, 2.5}},
            {"5%", {HONE_HALT_SOON, HONE_HALT_FAIL, 0, 5}}, /* GNU: 5% is soon,fail=5% */
            {"soon,fail=18446744073709551615", {HONE_HALT_SOON, HONE_HALT_FAIL, UINT64_MAX, 0}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hone_run_halt h = {-1, -1, 12345, -1};
        hone_error err = {0};
        int rc = hone_run_halt_parse(cases[i].s, &h, &err);
        const hone_run_halt *w = &cases[i].want;
        if (rc != HONE_OK || h.when != w->when || h.on != w->on || h.count != w->count || h.percent != w->percent) {
            print_error("'%s': %s (%s) when %d on %d count %llu percent %g; want when %d on %d count %llu "
                        "percent %g\n",
                        cases[i].s, hone_status_name(rc), err.msg, h.when, h.on, (unsigned long long)h.count,
                        h.percent, w->when, w->on, (unsigned long long)w->count, w->percent);
            fail();
        }
    }
}

static void test_halt_refused(void **state) {
    (void)state;
    static const char *const bad[] = {
            "soon", "now,fail", "later,fail=1", "now,fail=0", "now,fail=-1", "now,fail=100%", "now,fail=1x",
            "now,oops=1", "", "now,fail=0%", "now,fail=", "now,fail=%", "now,fail=.5%", "now,fail=5.%",
            "now,fail=150%", "3", "1x", "NOW,fail=1", "now,fail=1,", " now,fail=1", "now fail=1", "never,fail=1",
            "now,fail=18446744073709551616", "now,", ",fail=1", "now,fail=1%%", "-3",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hone_run_halt h = {7, 7, 7, 7};
        hone_error err = {0};
        int rc = hone_run_halt_parse(bad[i], &h, &err);
        char quoted[64];
        snprintf(quoted, sizeof quoted, "'%s'", bad[i]);
        if (rc != HONE_EINVAL || !strstr(err.msg, quoted) || !strstr(err.msg, "expected") ||
            !strstr(err.msg, "now|soon,fail|success|done=N|P%") || strchr(err.msg, '\n') || h.when != 7 ||
            h.count != 7) {
            print_error("'%s': %s, message [%s], out changed: %d\n", bad[i], hone_status_name(rc), err.msg,
                        h.when != 7 || h.count != 7);
            fail();
        }
    }
    hone_run_halt h;
    assert_int_equal(hone_run_halt_parse(NULL, &h, NULL), HONE_EINVAL);
    assert_int_equal(hone_run_halt_parse("never", NULL, NULL), HONE_EINVAL);
}

static void test_end_names(void **state) {
    (void)state;
    assert_string_equal(hone_run_end_name(HONE_RUN_EXITED), "exited");
    assert_string_equal(hone_run_end_name(HONE_RUN_SIGNALED), "signaled");
    assert_string_equal(hone_run_end_name(HONE_RUN_TIMEDOUT), "timedout");
    assert_string_equal(hone_run_end_name(HONE_RUN_KILLED), "killed");
    assert_string_equal(hone_run_end_name(HONE_RUN_NOSTART), "nostart");
    assert_string_equal(hone_run_end_name(HONE_RUN_FAILED), "failed");
    assert_null(hone_run_end_name(-1));
    assert_null(hone_run_end_name(6));
    assert_null(hone_run_end_name(1000));
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_modifiers_gnu),     cmocka_unit_test(test_modifiers_leading_dot),
        cmocka_unit_test(test_per_job_words),     cmocka_unit_test(test_positional),
        cmocka_unit_test(test_seq_slot),          cmocka_unit_test(test_appended),
        cmocka_unit_test(test_unknown_braces),    cmocka_unit_test(test_bad_templates),
        cmocka_unit_test(test_bad_expand),        cmocka_unit_test(test_one_allocation),
        cmocka_unit_test(test_shell_line),        cmocka_unit_test(test_shell_round_trip),
        cmocka_unit_test(test_argv_unquoted),     cmocka_unit_test(test_oom),
        cmocka_unit_test(test_halt_accepted),     cmocka_unit_test(test_halt_refused),
        cmocka_unit_test(test_end_names),
};

HONE_TEST_MAIN(tests)
