/* main.c - the hone command: validates HONE_* variables, then dispatches
 * to a subcommand from commands.def. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const struct cmd {
    const char *name;
    const char *summary;
    int (*run)(int, char **);
    void (*usage)(FILE *);
} cmds[] = {
#define HONE_CMD(name, summary) {#name, summary, cli_##name##_main, cli_##name##_usage},
#include "commands.def"
#undef HONE_CMD
};
#define N_CMDS (sizeof cmds / sizeof cmds[0])

static void usage(FILE *out) {
    fprintf(out,
            "usage: hone [--version] [--help] COMMAND [ARGS...]\n"
            "\n"
            "hone %s - a performance toolkit: profiling, caching, parallel execution,\n"
            "hashing and benchmarking.\n"
            "\n"
            "commands:\n",
            hone_version_string());
    for (size_t i = 0; i < N_CMDS; i++) fprintf(out, "  %-10s %s\n", cmds[i].name, cmds[i].summary);
    fprintf(out, "  %-10s %s\n", "help", "show help for a command: hone help COMMAND");
    fprintf(out, "\nRun 'hone COMMAND --help' for a command's options; man hone for more.\n");
}

static const struct cmd *find_cmd(const char *name) {
    for (size_t i = 0; i < N_CMDS; i++)
        if (!strcmp(cmds[i].name, name)) return &cmds[i];
    return NULL;
}

static int unknown_cmd(const char *name) {
    const char *names[N_CMDS + 1];
    for (size_t i = 0; i < N_CMDS; i++) names[i] = cmds[i].name;
    names[N_CMDS] = "help";
    const char *near = hone_nearest_name(name, names, N_CMDS + 1);
    if (near)
        cli_error("'%s' is not a hone command; did you mean '%s'? (see 'hone --help')", name, near);
    else
        cli_error("'%s' is not a hone command (see 'hone --help')", name);
    return CLI_USAGE;
}

static int run(int argc, char **argv);

/* Output that could not be written (a full disk, a closed pipe or stdout)
 * is a failure, never a silent exit 0 with half a report: every path ends
 * by flushing stdout and checking that nothing was lost. */
int main(int argc, char **argv) {
    int rc = run(argc, argv);
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("cannot write the output: %s", strerror(errno ? errno : EIO));
        return rc ? rc : CLI_FAIL;
    }
    return rc;
}

static int run(int argc, char **argv) {
    hone_error err;
    int rc = hone_env_validate(&err);
    if (rc == HONE_ENOTFOUND) {
        cli_error("warning: %s", err.msg);
    } else if (rc) {
        cli_error("%s", err.msg);
        return CLI_USAGE;
    }
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *first = argv[1];
    if (!strcmp(first, "--help") || !strcmp(first, "-h")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(first, "--version") || !strcmp(first, "-V")) {
        printf("hone %s\n", hone_version_string());
        return CLI_OK;
    }
    if (first[0] == '-') {
        static const char *const global[] = {"--help", "--version"};
        const char *near = hone_nearest_name(first, global, 2);
        if (near)
            cli_error("unknown option '%s'; did you mean '%s'?", first, near);
        else
            cli_error("unknown option '%s' (see 'hone --help')", first);
        return CLI_USAGE;
    }
    if (!strcmp(first, "help")) {
        if (argc < 3) {
            usage(stdout);
            return CLI_OK;
        }
        const struct cmd *c = find_cmd(argv[2]);
        if (!c) return unknown_cmd(argv[2]);
        c->usage(stdout);
        return CLI_OK;
    }
    const struct cmd *c = find_cmd(first);
    if (!c) return unknown_cmd(first);
    if (cli_wants_help(argc - 1, argv + 1)) {
        c->usage(stdout);
        return CLI_OK;
    }
    return c->run(argc - 1, argv + 1);
}
