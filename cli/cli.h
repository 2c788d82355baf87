/* cli.h - what the subcommands of the hone command share: the command and
 * demo-step tables, error reporting, and option parsing with "did you mean".
 * The CLI uses only libhone's public API. */
#ifndef HONE_CLI_H
#define HONE_CLI_H

#include <getopt.h>
#include <stdio.h>

#include "hone.h"

/* Exit statuses shared by all subcommands. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* Every subcommand: int cli_<name>_main(int argc, char **argv) with
 * argv[0] the subcommand's name, and void cli_<name>_usage(FILE *). */
#define HONE_CMD(name, summary)                    \
    int cli_##name##_main(int argc, char **argv); \
    void cli_##name##_usage(FILE *out);
#include "commands.def"
#undef HONE_CMD

/* Every demo step: int cli_demo_<name>(void), returning 0 on success and
 * printing what it did on stdout (and why it failed on stderr). */
#define HONE_DEMO_STEP(name, summary) int cli_demo_##name(void);
#include "demo_steps.def"
#undef HONE_DEMO_STEP

/* The work cycle of the demo step that is running (NULL outside the
 * demo; the hone_cycle_* calls ignore NULL): steps count on it what they
 * did, which the profile step's cycle statistics then show. */
hone_cycle *cli_demo_cycle(void);

/* Prints "hone: <message>" on stderr. */
void cli_error(const char *fmt, ...) HONE_PRINTF(1, 2);
/* Prints "hone <cmd>: <message>" on stderr. */
void cli_cmd_error(const char *cmd, const char *fmt, ...) HONE_PRINTF(2, 3);

/* getopt_long with hone's error handling. Returns the option like
 * getopt_long, -1 at the end, or '?' after printing one line that names the
 * bad or incomplete option (with the nearest valid one) - the caller then
 * returns CLI_USAGE. `cmd` names the subcommand in messages. Reset optind to
 * 0 before the first call for a new argv. */
int cli_getopt(const char *cmd, int argc, char **argv, const char *shortopts,
               const struct option *longopts);

/* Handles --help as the first argument of a subcommand: returns 1 if it
 * printed usage (the caller exits 0). */
int cli_wants_help(int argc, char **argv);

#endif
