/* cli.c - error reporting and option parsing shared by all subcommands. */
#include "cli.h"

#include <stdarg.h>
#include <string.h>

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
    snprintf(opts, sizeof opts, ":%s", shortopts);
    opterr = 0;
    int prev = optind ? optind : 1;
    int c = getopt_long(argc, argv, opts, longopts, NULL);
    if (c == '?') {
        const char *arg = argv[optind - 1 >= prev ? optind - 1 : prev];
        if (optopt && optopt != '?' && strncmp(arg, "--", 2) != 0)
            cli_cmd_error(cmd, "unknown option '-%c' (see 'hone %s --help')", optopt, cmd);
        else
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
