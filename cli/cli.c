/* cli.c - error reporting and option parsing shared by all subcommands. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void cli_error(const char *fmt, ...) {
    va_list ap;
    fputs("hone: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void cli_cmd_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "hone %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void suggest_option(const char *cmd, const char *bad, const struct option *longopts) {
    const char *names[128];
    char buf[128][64];
    size_t n = 0;
    for (const struct option *o = longopts; o && o->name && n < 128; o++, n++) {
        snprintf(buf[n], sizeof buf[n], "--%s", o->name);
        names[n] = buf[n];
    }
    char word[128];
    snprintf(word, sizeof word, "%s", bad);
    word[strcspn(word, "=")] = '\0';
    const char *near = hone_nearest_name(word, names, n);
    if (near)
        cli_cmd_error(cmd, "unknown option '%s'; did you mean '%s'? (see 'hone %s --help')", word,
                      near, cmd);
    else
        cli_cmd_error(cmd, "unknown option '%s' (see 'hone %s --help')", word, cmd);
}

int cli_getopt(const char *cmd, int argc, char **argv, const char *shortopts,
               const struct option *longopts) {
    char opts[128];
    /* A leading ':' makes getopt report a missing argument as ':' and stay
     * quiet, so that every message comes from here in one format. */
    /* glibc reads a '+' (stop at the first operand) only in front. */
    if (shortopts[0] == '+')
        snprintf(opts, sizeof opts, "+:%s", shortopts + 1);
    else
        snprintf(opts, sizeof opts, ":%s", shortopts);
    opterr = 0;
    int prev = optind ? optind : 1;
    int c = getopt_long(argc, argv, opts, longopts, NULL);
    if (c == '?') {
        const char *arg = argv[optind - 1 >= prev ? optind - 1 : prev];
        if (optopt && optopt != '?' && strncmp(arg, "--", 2) != 0) {
            /* A letter some other subcommand (or an older hone) gives to a
             * long option of this one, as -j for --json: name it. */
            const char *only = NULL;
            int count = 0;
            for (const struct option *o = longopts; o && o->name; o++)
                if (o->name[0] == optopt) only = o->name, count++;
            if (count == 1)
                cli_cmd_error(cmd, "unknown option '-%c'; did you mean '--%s'? (see 'hone %s --help')",
                              optopt, only, cmd);
            else
                cli_cmd_error(cmd, "unknown option '-%c' (see 'hone %s --help')", optopt, cmd);
        } else
            suggest_option(cmd, arg, longopts);
        return '?';
    }
    if (c == ':') {
        const char *arg = argv[optind - 1];
        if (strncmp(arg, "--", 2) == 0)
            cli_cmd_error(cmd, "option '%s' needs a value", arg);
        else
            cli_cmd_error(cmd, "option '-%c' needs a value", optopt);
        return '?';
    }
    return c;
}

int cli_wants_help(int argc, char **argv) {
    return argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
}

/* The getopt tables of a spec. At most 96 options per spec. */
enum { MAX_OPTS = 96 };

static int next_opt(const cli_spec *s, int argc, char **argv, int posix) {
    struct option longopts[MAX_OPTS + 1];
    char shortopts[3 * MAX_OPTS + 2];
    size_t n = 0, k = 0;
    if (posix) shortopts[k++] = '+';
    for (const cli_opt *o = s->opts; o->name && n < MAX_OPTS; o++) {
        if (o->name[0])
            longopts[n++] = (struct option){o->name, o->arg ? required_argument : no_argument, NULL, o->id};
        if (o->id < CLI_LONG && isalnum(o->id)) {
            shortopts[k++] = (char)o->id;
            if (o->arg) shortopts[k++] = ':';
        }
    }
    longopts[n] = (struct option){NULL, 0, NULL, 0};
    shortopts[k] = '\0';
    const char *sp = strchr(s->cmd, ' ');
    char cmd[64];
    snprintf(cmd, sizeof cmd, "%.*s", sp ? (int)(sp - s->cmd) : (int)strlen(s->cmd), s->cmd);
    return cli_getopt(cmd, argc, argv, shortopts, longopts);
}

int cli_next(const cli_spec *s, int argc, char **argv) { return next_opt(s, argc, argv, 0); }
int cli_next_posix(const cli_spec *s, int argc, char **argv) { return next_opt(s, argc, argv, 1); }

void cli_help(const cli_spec *s, FILE *out) {
    fputs(s->usage, out);
    fputc('\n', out);
    /* Option names in a column of 28, help beside them wrapped at 80
     * columns; a longer name puts its help on the next line. */
    enum { LEFT = 28, WIDTH = 80 - LEFT - 3 };
    for (const cli_opt *o = s->opts; o->name; o++) {
        if (!o->help) continue;
        char left[96];
        int short_ok = o->id < CLI_LONG && isalnum(o->id);
        snprintf(left, sizeof left, "%c%c%c %s%s%s%s", short_ok ? '-' : ' ', short_ok ? o->id : ' ',
                 short_ok && o->name[0] ? ',' : ' ', o->name[0] ? "--" : "", o->name,
                 o->arg ? " " : "", o->arg ? o->arg : "");
        if (strlen(left) >= LEFT) fprintf(out, "  %s\n", left), left[0] = '\0';
        const char *h = o->help;
        do {
            size_t n = strlen(h);
            if (n > WIDTH) {
                n = WIDTH;
                while (n > 0 && h[n] != ' ') n--;
                if (n == 0) n = WIDTH;
            }
            fprintf(out, "  %-*s %.*s\n", LEFT, left, (int)n, h);
            left[0] = '\0';
            h += n;
            while (*h == ' ') h++;
        } while (*h);
    }
    if (s->epilog) {
        fputc('\n', out);
        fputs(s->epilog, out);
    }
}

const cli_spec *const cli_specs[] = {&cli_spec_sysinfo,   &cli_spec_demo,     &cli_spec_bench,
                                     &cli_spec_report,    &cli_spec_cache_sim, &cli_spec_cache_calibrate, &cli_spec_cache_stats,
                                     &cli_spec_cache_clear, &cli_spec_cache_export, &cli_spec_http_get,
                                     &cli_spec_hash,      &cli_spec_manifest_build, &cli_spec_manifest_check,
                                     &cli_spec_manifest_diff, &cli_spec_completion, &cli_spec_serve,
                                     &cli_spec_run,
                                     &cli_spec_optimize_status, &cli_spec_optimize_level, &cli_spec_optimize_cache,
                                     &cli_spec_optimize_preset, &cli_spec_optimize_set, &cli_spec_optimize_unset,
                                     &cli_spec_optimize_levels, &cli_spec_optimize_strategies, &cli_spec_optimize_presets,
                                     &cli_spec_optimize_report, &cli_spec_optimize_recommendations,
                                     &cli_spec_optimize_alerts, &cli_spec_optimize_history, &cli_spec_optimize_undo,
                                     &cli_spec_optimize_clear_cache, NULL};

int cli_mkdirs(const char *path, int last) {
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s", path) >= (int)sizeof p) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            if (mkdir(p, 0755) && errno != EEXIST) return -1;
            *s = '/';
        }
    return last && mkdir(p, 0755) && errno != EEXIST ? -1 : 0;
}

/* Reads the whole file; NULL (errno set) on failure. */
char *cli_slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    hone_buf b;
    hone_buf_init(&b, NULL);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (hone_buf_append(&b, chunk, n)) {
            fclose(f);
            hone_buf_free(&b);
            errno = ENOMEM;
            return NULL;
        }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        hone_buf_free(&b);
        errno = EIO;
        return NULL;
    }
    *len = b.len;
    if (!b.data) return strdup("");
    return b.data;
}
