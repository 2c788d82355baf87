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

/* One option of a subcommand. A subcommand's table of these is the single
 * source of its parser (cli_next), its --help lines (cli_help), the shell
 * completions (hone completion) and the test that checks them against the
 * man page, so the four cannot drift (curl's one source per option). */
typedef struct cli_opt {
    int id;              /* what cli_next returns: the short letter, or >= 256 */
    const char *name;    /* long name, without "--"; "": a short option only */
    const char *arg;     /* its value's placeholder ("N", "FILE"); NULL: no value */
    const char *help;    /* its --help text; NULL: an alias, accepted, not listed */
    const char *complete; /* its value's completion: "@file", "@dir", or "a b c" */
} cli_opt;

/* Ids of options without a short letter start here. */
#define CLI_LONG 256

/* A subcommand (or one action of it: "manifest build"), its usage text and
 * its options, ending with an entry whose name is NULL. */
typedef struct cli_spec {
    const char *cmd;     /* as typed after "hone": "sysinfo", "cache sim" */
    const char *usage;   /* the usage lines and description, before the options */
    const char *epilog;  /* after the options; NULL: none */
    const cli_opt *opts;
} cli_spec;

/* getopt_long over the spec's table, with cli_getopt's messages. Returns
 * the option's id, -1 at the end, or '?' after printing the error. Reset
 * optind to 0 before the first call for a new argv. */
int cli_next(const cli_spec *s, int argc, char **argv);
/* The same, but options end at the first operand (as POSIX getopt), so
 * the options of a command given as operands are left to it (hone run). */
int cli_next_posix(const cli_spec *s, int argc, char **argv);
/* Prints the usage, one aligned line per listed option, and the epilog. */
void cli_help(const cli_spec *s, FILE *out);
/* Every spec, for completions and checks; NULL-terminated (cli.c). */
extern const cli_spec *const cli_specs[];
extern const cli_spec cli_spec_sysinfo, cli_spec_demo, cli_spec_bench, cli_spec_report,
    cli_spec_cache_sim, cli_spec_cache_calibrate, cli_spec_cache_stats, cli_spec_cache_clear, cli_spec_cache_export, cli_spec_http_get, cli_spec_hash, cli_spec_completion, cli_spec_manifest_build,
    cli_spec_manifest_check, cli_spec_manifest_diff, cli_spec_serve, cli_spec_run;
/* `hone optimize ACTION` (optimize.c). */
extern const cli_spec cli_spec_optimize_status, cli_spec_optimize_level, cli_spec_optimize_cache,
    cli_spec_optimize_preset, cli_spec_optimize_set, cli_spec_optimize_unset, cli_spec_optimize_levels,
    cli_spec_optimize_strategies, cli_spec_optimize_presets, cli_spec_optimize_report,
    cli_spec_optimize_recommendations, cli_spec_optimize_alerts, cli_spec_optimize_history,
    cli_spec_optimize_undo, cli_spec_optimize_clear_cache;

/* `hone cache stats|clear|export` (cache_disk.c), argv[0] the action. */
int cli_cache_disk(int argc, char **argv);
/* `hone cache calibrate` (cache_calibrate.c), argv[0] "calibrate". */
int cli_cache_calibrate(int argc, char **argv);

/* Reads the whole file into a NUL-terminated buffer (free() it); NULL
 * with errno set on failure. */
char *cli_slurp(const char *path, size_t *len);

/* Makes the directories of path that are missing, as mkdir -p: its
 * parents, and path itself when last is nonzero (path names a directory
 * rather than a file to come). Returns 0, or -1 with errno set. */
int cli_mkdirs(const char *path, int last);

/* Handles --help as the first argument of a subcommand: returns 1 if it
 * printed usage (the caller exits 0). */
int cli_wants_help(int argc, char **argv);

#endif
