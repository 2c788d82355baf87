/* hash.c - `hone hash`: print and check SHA-256, BLAKE3 and XXH3 digests
 * of files and stdin, line for line as sha256sum, b3sum and xxhsum do
 * (with b3sum's keyed, derive-key and length modes); also the hash step of
 * `hone demo`. What differs between algorithms comes from hone_hash_info. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The longest -l: b3sum has no limit, but hone builds each line in memory. */
#define MAX_LENGTH ((uint64_t)1 << 20)

enum {
    OPT_TAG = CLI_LONG, OPT_QUIET, OPT_STATUS, OPT_IGNORE_MISSING, OPT_STRICT, OPT_IO, OPT_NO_NAMES,
    OPT_KEYED, OPT_DERIVE
};

/* -c and -w as sha256sum and b3sum spell them (hone-completion(1), LETTERS). */
static const cli_opt hash_opts[] = {
    {'a', "algorithm", "ALGO", "sha256 (default), blake3, xxh3 or xxh128", "sha256 blake3 xxh3 xxh128"},
    {'j', "threads", "N", "threads for BLAKE3 of large files (default: all CPUs); the digest does not depend on N", NULL},
    {OPT_TAG, "tag", NULL, "print BSD-style lines: SHA256 (FILE) = HEX", NULL},
    {'z', "zero", NULL, "end each line with NUL, not newline, and do not escape names (as sha256sum -z)", NULL},
    {OPT_NO_NAMES, "no-names", NULL, "print the digests only (as b3sum --no-names)", NULL},
    {'l', "length", "LEN", "BLAKE3 output bytes, 0 to 1048576 (default 32)", NULL},
    {OPT_KEYED, "keyed", NULL, "BLAKE3 keyed mode; the 32-byte key is read from stdin", NULL},
    {OPT_DERIVE, "derive-key", "CONTEXT", "BLAKE3 key derivation mode with CONTEXT", NULL},
    {OPT_IO, "io", "MODE", "how files are read: auto (default), read or mmap", "auto read mmap"},
    {'c', "check", NULL, "check the digests listed in each LIST", NULL},
    {OPT_QUIET, "quiet", NULL, "with -c: do not print OK lines", NULL},
    {OPT_STATUS, "status", NULL, "with -c: print nothing; the exit status tells", NULL},
    {OPT_IGNORE_MISSING, "ignore-missing", NULL, "with -c: skip listed files that do not exist", NULL},
    {OPT_STRICT, "strict", NULL, "with -c: fail if any line is malformed", NULL},
    {'w', "warn", NULL,
     "accepted for compatibility: hone always names malformed lines (LIST:LINE: why) on stderr", NULL},
    {'h', "help", NULL, "show this help", NULL},
    {0, NULL, NULL, NULL, NULL}};

const cli_spec cli_spec_hash = {
    "hash",
    "usage: hone hash [-a ALGO] [-j N] [--tag] [FILE...]\n"
    "       hone hash [-a ALGO] [-z] [--no-names] [--io MODE] [FILE...]\n"
    "       hone hash [-l LEN] [--keyed | --derive-key CONTEXT] [FILE...]  (BLAKE3)\n"
    "       hone hash -c [-a ALGO] [--quiet|--status] [--ignore-missing] [--strict]\n"
    "                 [-w] [LIST...]\n"
    "\n"
    "Prints the digest of each FILE (stdin when FILE is - or absent) exactly as\n"
    "sha256sum, b3sum or xxhsum would, or checks the digests listed in each LIST\n"
    "(written by those tools or by hone) like `sha256sum -c`.\n",
    "Exit status: 0 all good; 1 a file could not be read or (with -c) a digest did\n"
    "not match, a listed file could not be read, or no line was well formed;\n"
    "2 usage error.\n",
    hash_opts};

void cli_hash_usage(FILE *out) { cli_help(&cli_spec_hash, out); }

typedef struct hash_cli {
    hone_hash_algo algo;
    int algo_given; /* -a was on the command line */
    unsigned threads;
    hone_hash_io io;
    int tag, zero, no_names;
    size_t length;      /* output bytes */
    int keyed;
    uint8_t key[HONE_BLAKE3_KEY_LEN];
    const char *derive; /* --derive-key context, NULL: none */
    int quiet, status, ignore_missing, strict;
} hash_cli;

/* Hashes one file (or stdin for "-") into d[dlen]. Returns a hone status;
 * errno is open()'s when the file could not be opened. */
static int hash_one(const hash_cli *o, hone_hash *h, const char *name, uint8_t *d, size_t dlen) {
    hone_hash_file_opts fo = {.io = o->io};
    if (strcmp(name, "-") != 0) return hone_hash_path(h, name, &fo, d, dlen, NULL);
    int rc = hone_hash_reset(h);
    if (!rc) rc = hone_hash_update_fd(h, STDIN_FILENO, &fo, NULL);
    if (!rc) rc = hone_hash_final(h, d, dlen);
    return rc;
}

/* The strerror-style reason for a failed hash of `name`. */
static const char *why(int rc, int saved_errno) {
    if (rc == HONE_EINVAL) return "Is a directory";
    if (saved_errno) return strerror(saved_errno);
    return hone_strerror(rc);
}

/* Makes the hasher for `algo`, in the keyed or derive-key mode the options
 * ask for (only ever for BLAKE3: the option checks see to that). */
static int new_hasher(const hash_cli *o, hone_hash_algo algo, hone_hash **h) {
    hone_hash_opts ho = {.threads = o->threads};
    int rc;
    if (o->keyed)
        rc = hone_hash_new_blake3_keyed(h, o->key, &ho);
    else if (o->derive)
        rc = hone_hash_new_blake3_derive_key(h, o->derive, &ho);
    else
        rc = hone_hash_new(h, algo, &ho);
    if (rc) cli_cmd_error("hash", "cannot make a %s hasher: %s", hone_hash_name(algo),
                          hone_strerror(rc));
    return rc;
}

/* Reads the --keyed key: exactly 32 bytes of stdin, as b3sum does. */
static int read_key(hash_cli *o) {
    size_t n = 0;
    uint8_t extra;
    for (;;) {
        uint8_t *dst = n < sizeof o->key ? o->key + n : &extra;
        size_t want = n < sizeof o->key ? sizeof o->key - n : 1;
        ssize_t r = read(STDIN_FILENO, dst, want);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            cli_cmd_error("hash", "--keyed: reading the key from stdin: %s", strerror(errno));
            return CLI_FAIL;
        }
        if (r == 0) break;
        n += (size_t)r;
        if (n > sizeof o->key) {
            cli_cmd_error("hash", "--keyed: expected 32 key bytes on stdin, found more");
            return CLI_FAIL;
        }
    }
    if (n != sizeof o->key) {
        cli_cmd_error("hash", "--keyed: expected 32 key bytes on stdin, found %zu", n);
        return CLI_FAIL;
    }
    return CLI_OK;
}

static int print_digests(const hash_cli *o, int n, char **files) {
    static char *dash[] = {"-"};
    if (n == 0) {
        n = 1;
        files = dash;
    }
    const hone_hash_info *in = hone_hash_info_of(o->algo);
    hone_hash *h = NULL;
    if (new_hasher(o, o->algo, &h)) return CLI_FAIL;
    int status = CLI_OK;
    hone_buf line = {0};
    uint8_t *d = malloc(o->length ? o->length : 1);
    if (!d) {
        hone_hash_free(h);
        cli_cmd_error("hash", "out of memory");
        return CLI_FAIL;
    }
    unsigned flags = (o->zero ? HONE_HASH_LINE_ZERO : 0u) |
                     (o->no_names ? HONE_HASH_LINE_NO_NAME : 0u);
    for (int i = 0; i < n; i++) {
        errno = 0;
        int rc = hash_one(o, h, files[i], d, o->length);
        if (rc) {
            int e = errno;
            fflush(stdout);
            cli_cmd_error("hash", "%s: %s", files[i], why(rc, e));
            status = CLI_FAIL;
            continue;
        }
        const char *shown = strcmp(files[i], "-") ? files[i] : in->stdin_name;
        hone_buf_clear(&line);
        rc = hone_hash_format_line_ex(&line, o->algo,
                                      o->tag ? HONE_HASH_STYLE_TAG : HONE_HASH_STYLE_GNU, d,
                                      o->length, shown, flags);
        if (rc) {
            cli_cmd_error("hash", "%s", hone_strerror(rc));
            status = CLI_FAIL;
            break;
        }
        fwrite(line.data, 1, line.len, stdout);
    }
    free(d);
    hone_buf_free(&line);
    hone_hash_free(h);
    if (fflush(stdout) != 0) {
        cli_cmd_error("hash", "writing the output: %s", strerror(errno));
        status = CLI_FAIL;
    }
    return status;
}

/* Prints the name in an OK/FAILED line the way the reference tool does
 * (the info's check_escape_if and check_escape_chars: coreutils escapes a
 * name only when it holds a newline, b3sum when it holds a backslash or a
 * newline). */
static void print_check_name(hone_hash_algo algo, const char *name) {
    const hone_hash_info *in = hone_hash_info_of(algo);
    if (!strpbrk(name, in->check_escape_if)) {
        fputs(name, stdout);
        return;
    }
    putchar('\\');
    for (const char *p = name; *p; p++) {
        if (!strchr(in->check_escape_chars, *p))
            putchar(*p);
        else if (*p == '\\')
            fputs("\\\\", stdout);
        else if (*p == '\n')
            fputs("\\n", stdout);
        else if (*p == '\r')
            fputs("\\r", stdout);
        else
            putchar(*p);
    }
}

static void plural_warning(unsigned long n, const char *one, const char *many) {
    if (n == 0) return;
    fflush(stdout);
    cli_cmd_error("hash", "WARNING: %lu %s", n, n == 1 ? one : many);
}

/* One hasher per algorithm met in the lists, made on first use. */
typedef struct hasher_cache {
    size_t n;
    struct {
        hone_hash_algo algo;
        hone_hash *h;
    } *e;
} hasher_cache;

static hone_hash *cached_hasher(const hash_cli *o, hasher_cache *c, hone_hash_algo algo) {
    for (size_t i = 0; i < c->n; i++)
        if (c->e[i].algo == algo) return c->e[i].h;
    void *ne = realloc(c->e, (c->n + 1) * sizeof c->e[0]);
    if (!ne) {
        cli_cmd_error("hash", "out of memory");
        return NULL;
    }
    c->e = ne;
    hone_hash *h = NULL;
    if (new_hasher(o, algo, &h)) return NULL;
    c->e[c->n].algo = algo;
    c->e[c->n].h = h;
    c->n++;
    return h;
}

typedef struct check_counts {
    unsigned long malformed, unreadable, mismatched, good_lines, verified, matched;
    /* Mismatches of untagged lines read with the default algorithm, and the
     * first of them, for the "made with another algorithm?" hint. */
    unsigned long default_mismatched;
    char *first_failed;
    hone_hash_line first_line;
} check_counts;

/* A malformed line waits here until the list's algorithm is known (its
 * first good line), so the message names the right one. */
typedef struct pending {
    uint64_t lineno;
    hone_hash_algo algo; /* the algorithm the line names, 0: none */
    char msg[sizeof((hone_error *)0)->msg];
} pending;

static void report_malformed(const hash_cli *o, const char *shown, uint64_t lineno,
                             hone_hash_algo algo, const char *msg) {
    if (o->status) return;
    fflush(stdout);
    cli_cmd_error("hash", "%s:%llu: malformed %s line: %s", shown, (unsigned long long)lineno,
                  hone_hash_name(algo), msg);
}

/* When every digest of a list differs, the list was likely written with
 * another algorithm of the same digest length (a b3sum list checked as
 * SHA-256, say). Hashing the first failing file with each such algorithm is
 * cheap (one file) and tells which, if any; without a match (stdin, a keyed
 * list, or files that really changed) a list of several files that all
 * failed still gets the generic hint. */
static void other_algorithm_hint(const hash_cli *o, hasher_cache *cache, const char *shown,
                                 const check_counts *c) {
    const hone_hash_line *l = &c->first_line;
    const hone_hash_info *alt = NULL, *in;
    const char *same = NULL;
    for (size_t k = 0; (in = hone_hash_info_at(k)) != NULL; k++) {
        if (in->algo == o->algo || in->digest_len != l->digest_len) continue;
        if (!same) same = in->name;
        if (!strcmp(c->first_failed, "-")) continue; /* stdin cannot be read again */
        hone_hash *h = cached_hasher(o, cache, in->algo);
        uint8_t d[HONE_HASH_MAX_DIGEST];
        if (h && hash_one(o, h, c->first_failed, d, in->digest_len) == HONE_OK &&
            !memcmp(d, l->digest, l->digest_len)) {
            alt = in;
            break;
        }
    }
    /* Without a match, one changed file is the likelier story: hint only
     * when a list of several files failed entirely. */
    if (!same || (!alt && c->verified < 2)) return;
    fflush(stdout);
    if (alt)
        cli_cmd_error("hash",
                      "%s: every digest differs, but %s matches its line as %s: was %s made "
                      "with %s? try -a %s",
                      shown, c->first_failed, alt->title, shown, alt->tool, alt->name);
    else
        cli_cmd_error("hash",
                      "%s: every digest differs: if %s was made with another tool, name its "
                      "algorithm with -a (%s digests have the same length)",
                      shown, shown, same);
}

static int check_list(const hash_cli *o, const char *list, hasher_cache *cache,
                      hone_hash_list_state *st) {
    FILE *f = strcmp(list, "-") ? fopen(list, "rb") : stdin;
    if (!f) {
        cli_cmd_error("hash", "%s: %s", list, strerror(errno));
        return CLI_FAIL;
    }
    const char *shown = strcmp(list, "-") ? list : "standard input";
    check_counts c = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    uint64_t lineno = 0;
    hone_buf name = {0};
    int status = CLI_OK;
    /* The list's algorithm once a line is good; until then malformed lines
     * wait in `held`. */
    hone_hash_algo list_algo = 0;
    pending *held = NULL;
    size_t n_held = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (len > 0 && line[len - 1] == '\n') len--;
        hone_hash_line hl;
        hone_error err;
        int rc = hone_hash_parse_list_line(st, line, (size_t)len, o->algo, &hl, &name, &err);
        if (rc == HONE_ENOTFOUND) continue; /* empty or comment */
        if (rc == HONE_ENOMEM) {
            cli_cmd_error("hash", "%s: out of memory", list);
            status = CLI_FAIL;
            break;
        }
        if (rc) {
            c.malformed++;
            if (list_algo || (o->algo_given && !n_held)) {
                report_malformed(o, shown, lineno,
                                 hl.algo ? hl.algo : list_algo ? list_algo : o->algo, err.msg);
            } else {
                pending *nh = realloc(held, (n_held + 1) * sizeof *held);
                if (!nh) {
                    cli_cmd_error("hash", "%s: out of memory", list);
                    status = CLI_FAIL;
                    break;
                }
                held = nh;
                held[n_held].lineno = lineno;
                held[n_held].algo = hl.algo;
                snprintf(held[n_held].msg, sizeof held[n_held].msg, "%s", err.msg);
                n_held++;
            }
            continue;
        }
        c.good_lines++;
        if (!list_algo) {
            list_algo = hl.algo;
            for (size_t i = 0; i < n_held; i++)
                report_malformed(o, shown, held[i].lineno, held[i].algo ? held[i].algo : list_algo,
                                 held[i].msg);
            n_held = 0;
        }
        hone_hash *h = cached_hasher(o, cache, hl.algo);
        if (!h) {
            status = CLI_FAIL;
            break;
        }
        uint8_t d[HONE_HASH_MAX_DIGEST];
        errno = 0;
        rc = hash_one(o, h, name.data, d, hl.digest_len);
        int e = errno;
        /* Only a file that does not exist is missing: ENOTDIR (a listed
         * "dir/file" where dir is a file) is an error, as in coreutils. */
        if (rc == HONE_ENOTFOUND && o->ignore_missing && e == ENOENT) continue;
        if (rc) {
            c.unreadable++;
            /* coreutils names the unreadable file even with --status. */
            fflush(stdout);
            cli_cmd_error("hash", "%s: %s", name.data, why(rc, e));
            if (!o->status) {
                print_check_name(hl.algo, name.data);
                fputs(": FAILED open or read\n", stdout);
            }
            continue;
        }
        c.verified++;
        int ok = memcmp(d, hl.digest, hl.digest_len) == 0;
        c.matched += ok;
        if (!ok) {
            c.mismatched++;
            if (hl.algo == o->algo && hl.style == HONE_HASH_STYLE_GNU) {
                if (!c.default_mismatched++) {
                    c.first_failed = strdup(name.data);
                    c.first_line = hl;
                }
            }
        }
        if (!o->status && (!ok || !o->quiet)) {
            print_check_name(hl.algo, name.data);
            fputs(ok ? ": OK\n" : ": FAILED\n", stdout);
        }
    }
    for (size_t i = 0; i < n_held; i++)
        report_malformed(o, shown, held[i].lineno, held[i].algo ? held[i].algo : o->algo,
                         held[i].msg);
    free(held);
    int read_err = ferror(f);
    free(line);
    hone_buf_free(&name);
    if (f != stdin) fclose(f);
    if (read_err) {
        cli_cmd_error("hash", "%s: read error", shown);
        status = CLI_FAIL;
    } else if (!status && c.good_lines == 0) {
        if (!o->status) {
            fflush(stdout);
            cli_cmd_error("hash", "%s: no properly formatted checksum lines found", shown);
        }
        status = CLI_FAIL;
    } else if (!status) {
        if (!o->status) {
            plural_warning(c.malformed, "line is improperly formatted",
                           "lines are improperly formatted");
            plural_warning(c.unreadable, "listed file could not be read",
                           "listed files could not be read");
            plural_warning(c.mismatched, "computed checksum did NOT match",
                           "computed checksums did NOT match");
            /* coreutils 9.1 says so whenever no digest matched. */
            if (o->ignore_missing && c.matched == 0) {
                fflush(stdout);
                cli_cmd_error("hash", "%s: no file was verified", shown);
            }
            if (c.first_failed && c.default_mismatched == c.verified)
                other_algorithm_hint(o, cache, shown, &c);
        }
        if (c.mismatched || c.unreadable || (o->strict && c.malformed)) status = CLI_FAIL;
        if (o->ignore_missing && c.matched == 0) status = CLI_FAIL;
    }
    free(c.first_failed);
    return status;
}

static int check_lists(const hash_cli *o, int n, char **lists) {
    static char *dash[] = {"-"};
    if (n == 0) {
        n = 1;
        lists = dash;
    }
    hasher_cache cache = {0};
    /* coreutils keeps the separator form across every list of one run. */
    hone_hash_list_state st = {0};
    int status = CLI_OK;
    for (int i = 0; i < n; i++)
        if (check_list(o, lists[i], &cache, &st) != CLI_OK) status = CLI_FAIL;
    for (size_t i = 0; i < cache.n; i++) hone_hash_free(cache.e[i].h);
    free(cache.e);
    if (fflush(stdout) != 0) status = CLI_FAIL;
    return status;
}

/* The option combinations hone refuses (those b3sum and sha256sum refuse,
 * plus BLAKE3-only options with another algorithm), each with one line. */
static int check_combinations(hash_cli *o, int check, int length_given, int nfiles,
                              char **files) {
    const char *b3only = o->keyed ? "--keyed" : o->derive ? "--derive-key" : length_given ? "--length" : NULL;
    if (o->keyed && o->derive) {
        cli_cmd_error("hash", "--keyed and --derive-key are two BLAKE3 modes; give one");
        return CLI_USAGE;
    }
    if (check) {
        const char *bad = o->tag ? "--tag" : o->zero ? "--zero" : o->no_names ? "--no-names" : b3only;
        if (bad) {
            cli_cmd_error("hash", "%s prints digests; it cannot be used with --check",
                          bad);
            return CLI_USAGE;
        }
        return CLI_OK;
    }
    if (o->quiet || o->status || o->ignore_missing || o->strict) {
        cli_cmd_error("hash", "--quiet, --status, --ignore-missing and --strict need --check");
        return CLI_USAGE;
    }
    if (o->no_names && o->tag) {
        cli_cmd_error("hash", "--no-names prints digests only; it cannot be used with --tag");
        return CLI_USAGE;
    }
    if (b3only) {
        if (o->algo_given && o->algo != HONE_HASH_BLAKE3) {
            cli_cmd_error("hash", "%s is a BLAKE3 option; it cannot be used with -a %s", b3only,
                          hone_hash_name(o->algo));
            return CLI_USAGE;
        }
        o->algo = HONE_HASH_BLAKE3;
    }
    if (length_given && o->tag) {
        cli_cmd_error("hash", "--length cannot be used with --tag (a tag line has the default "
                              "32-byte digest)");
        return CLI_USAGE;
    }
    if (o->keyed) {
        int stdin_file = nfiles == 0;
        for (int i = 0; i < nfiles; i++) stdin_file |= !strcmp(files[i], "-");
        if (stdin_file) {
            cli_cmd_error("hash", "--keyed reads the key from stdin, so stdin cannot also be a "
                                  "FILE; name the files");
            return CLI_USAGE;
        }
    }
    return CLI_OK;
}

int cli_hash_main(int argc, char **argv) {
    hash_cli o = {.algo = HONE_HASH_SHA256};
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    o.threads = cpus > 0 ? (unsigned)cpus : 1;
    int check = 0, length_given = 0, c;
    uint64_t length = 0;
    hone_error err;
    optind = 0;
    while ((c = cli_next(&cli_spec_hash, argc, argv)) != -1) {
        switch (c) {
        case 'a':
            if (hone_hash_from_name(optarg, &o.algo, &err)) {
                cli_cmd_error("hash", "--algorithm %s", err.msg);
                return CLI_USAGE;
            }
            o.algo_given = 1;
            break;
        case 'j': {
            uint64_t n;
            if (hone_parse_u64("--threads", optarg, 1, 1024, &n, &err)) {
                cli_cmd_error("hash", "%s", err.msg);
                return CLI_USAGE;
            }
            o.threads = (unsigned)n;
            break;
        }
        case 'l':
            if (hone_parse_u64("--length", optarg, 0, MAX_LENGTH, &length, &err)) {
                cli_cmd_error("hash", "%s", err.msg);
                return CLI_USAGE;
            }
            length_given = 1;
            break;
        case OPT_TAG: o.tag = 1; break;
        case 'z': o.zero = 1; break;
        case OPT_NO_NAMES: o.no_names = 1; break;
        case OPT_KEYED: o.keyed = 1; break;
        case OPT_DERIVE: o.derive = optarg; break;
        case OPT_IO: {
            static const char *const modes[] = {"auto", "read", "mmap", NULL};
            int m;
            if (hone_parse_enum("--io", optarg, modes, &m, &err)) {
                cli_cmd_error("hash", "%s", err.msg);
                return CLI_USAGE;
            }
            o.io = (hone_hash_io)m;
            break;
        }
        case 'c': check = 1; break;
        case OPT_QUIET: o.quiet = 1; break;
        case OPT_STATUS: o.status = 1; break;
        case OPT_IGNORE_MISSING: o.ignore_missing = 1; break;
        case OPT_STRICT: o.strict = 1; break;
        case 'w': break;
        case 'h': cli_hash_usage(stdout); return CLI_OK;
        default: return CLI_USAGE;
        }
    }
    int rc = check_combinations(&o, check, length_given, argc - optind, argv + optind);
    if (rc) return rc;
    if (check) return check_lists(&o, argc - optind, argv + optind);
    o.length = length_given ? (size_t)length : hone_hash_digest_len(o.algo);
    if (o.keyed && read_key(&o)) return CLI_FAIL;
    return print_digests(&o, argc - optind, argv + optind);
}

/* ------------------------------------------------------------------ */
/* Demo step                                                           */
/* ------------------------------------------------------------------ */

/* Hashes 64 MiB with each algorithm (BLAKE3 on one thread and on all),
 * checks the threaded and single-threaded BLAKE3 agree, then writes a
 * sha256sum-style list of a temporary file, changes one byte, and shows
 * the check catching it. */
int cli_demo_hash(void) {
    size_t n = (size_t)64 << 20;
    uint8_t *buf = malloc(n);
    if (!buf) {
        fprintf(stderr, "hash demo: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)((i * 2654435761u) >> 24);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    struct {
        hone_hash_algo algo;
        unsigned threads;
    } runs[] = {{HONE_HASH_SHA256, 1},
                {HONE_HASH_BLAKE3, 1},
                {HONE_HASH_BLAKE3, cpus > 0 ? (unsigned)cpus : 1},
                {HONE_HASH_XXH3_64, 1}};
    uint8_t b3[2][32];
    int b3i = 0, fail = 0;
    printf("hashing 64 MiB in memory (BLAKE3 path: %s)\n", hone_hash_blake3_impl());
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        hone_hash_opts ho = {.threads = runs[r].threads};
        hone_hash *h = NULL;
        uint8_t d[32];
        char hex[HONE_HASH_MAX_HEX];
        if (hone_hash_new(&h, runs[r].algo, &ho)) {
            fail = 1;
            break;
        }
        uint64_t t0 = hone_now_ns();
        int rc = hone_hash_update(h, buf, n);
        if (!rc) rc = hone_hash_final(h, d, hone_hash_digest_len(runs[r].algo));
        uint64_t dt = hone_now_ns() - t0;
        hone_hash_free(h);
        if (rc) {
            fprintf(stderr, "hash demo: %s failed: %s\n", hone_hash_name(runs[r].algo),
                    hone_strerror(rc));
            fail = 1;
            break;
        }
        hone_hash_hex(d, hone_hash_digest_len(runs[r].algo), hex);
        printf("  %-7s %2u thread%s %8.0f MB/s  %.16s...\n", hone_hash_name(runs[r].algo),
               runs[r].threads, runs[r].threads == 1 ? " " : "s",
               (double)n / ((double)(dt ? dt : 1) / 1e9) / 1e6, hex);
        if (runs[r].algo == HONE_HASH_BLAKE3) memcpy(b3[b3i++], d, 32);
    }
    free(buf);
    if (fail) return 1;
    if (memcmp(b3[0], b3[1], 32) != 0) {
        fprintf(stderr, "hash demo: BLAKE3 on threads differs from one thread\n");
        return 1;
    }
    printf("  BLAKE3 on %ld threads equals one thread\n", cpus);

    char dir[] = "/tmp/hone-demo-hash-XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "hash demo: mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    char path[64];
    snprintf(path, sizeof path, "%s/data.bin", dir);
    int ok = 0;
    FILE *f = fopen(path, "wb");
    if (f) {
        for (int i = 0; i < 100000; i++) fprintf(f, "line %d\n", i);
        fclose(f);
        hone_hash *h = NULL;
        uint8_t d[32], d2[32];
        hone_buf line = {0};
        if (!hone_hash_new(&h, HONE_HASH_SHA256, NULL) &&
            !hone_hash_path(h, path, NULL, d, 32, NULL) &&
            !hone_hash_format_line(&line, HONE_HASH_SHA256, HONE_HASH_STYLE_GNU, d, path)) {
            printf("  list line: %s", line.data);
            hone_cycle_file_ops(cli_demo_cycle(), 1); /* the step's cycle counts files read */
            hone_hash_line hl;
            hone_buf name = {0};
            /* change one byte, then check the list line against the file */
            int fd = open(path, O_WRONLY);
            if (fd >= 0 && pwrite(fd, "X", 1, 1000) == 1 &&
                !hone_hash_parse_line(line.data, line.len - 1, HONE_HASH_SHA256, &hl, &name,
                                      NULL) &&
                !hone_hash_path(h, name.data, NULL, d2, 32, NULL)) {
                hone_cycle_file_ops(cli_demo_cycle(), 2); /* the rewrite, the check */
                int same = memcmp(d2, hl.digest, 32) == 0;
                printf("  after changing byte 1000: %s: %s\n", name.data, same ? "OK" : "FAILED");
                ok = !same;
            }
            if (fd >= 0) close(fd);
            hone_buf_free(&name);
        }
        hone_buf_free(&line);
        hone_hash_free(h);
    }
    unlink(path);
    rmdir(dir);
    if (!ok) {
        fprintf(stderr, "hash demo: the check did not catch the changed file\n");
        return 1;
    }
    return 0;
}
