/* hash.c - `hone hash`: print and check SHA-256, BLAKE3 and XXH3 digests
 * of files and stdin, line for line as sha256sum, b3sum and xxhsum do; also
 * the hash step of `hone demo`. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void cli_hash_usage(FILE *out) {
    fprintf(out,
            "usage: hone hash [-a ALGO] [-j N] [--tag] [FILE...]\n"
            "       hone hash -c [-a ALGO] [--quiet|--status] [--ignore-missing] [--strict]\n"
            "                 [-w] [LIST...]\n"
            "\n"
            "Prints the digest of each FILE (stdin when FILE is - or absent) exactly as\n"
            "sha256sum, b3sum or xxhsum would, or checks the digests listed in each LIST\n"
            "(written by those tools or by hone) like `sha256sum -c`.\n"
            "\n"
            "  -a, --algorithm ALGO  sha256 (default), blake3, xxh3 or xxh128\n"
            "  -j, --threads N       threads for BLAKE3 of large files (default: all CPUs);\n"
            "                        the digest does not depend on N\n"
            "      --tag             print BSD-style lines: SHA256 (FILE) = HEX\n"
            "      --io MODE         how files are read: auto (default), read or mmap\n"
            "  -c, --check           check the digests listed in each LIST\n"
            "      --quiet           with -c: do not print OK lines\n"
            "      --status          with -c: print nothing; the exit status tells\n"
            "      --ignore-missing  with -c: skip listed files that do not exist\n"
            "      --strict          with -c: fail if any line is malformed\n"
            "  -w, --warn            accepted for compatibility: hone always names malformed\n"
            "                        lines (LIST:LINE: why) on stderr\n"
            "  -h, --help            show this help\n"
            "\n"
            "Exit status: 0 all good; 1 a file could not be read or (with -c) a digest did\n"
            "not match, a listed file could not be read, or no line was well formed;\n"
            "2 usage error.\n");
}

typedef struct hash_cli {
    hone_hash_algo algo;
    unsigned threads;
    hone_hash_io io;
    int tag;
    int quiet, status, ignore_missing, strict;
} hash_cli;

static const char *display_stdin(hone_hash_algo algo) {
    /* xxhsum calls stdin "stdin"; sha256sum and b3sum call it "-". */
    return (algo == HONE_HASH_XXH3_64 || algo == HONE_HASH_XXH3_128) ? "stdin" : "-";
}

/* Hashes one file (or stdin for "-") into d. Returns a hone status. */
static int hash_one(const hash_cli *o, hone_hash *h, const char *name, uint8_t *d) {
    size_t dlen = hone_hash_digest_len(hone_hash_algorithm(h));
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

static int new_hasher(const hash_cli *o, hone_hash_algo algo, hone_hash **h) {
    hone_hash_opts ho = {.threads = o->threads};
    int rc = hone_hash_new(h, algo, &ho);
    if (rc) cli_cmd_error("hash", "cannot make a %s hasher: %s", hone_hash_name(algo),
                          hone_strerror(rc));
    return rc;
}

static int print_digests(const hash_cli *o, int n, char **files) {
    static char *dash[] = {"-"};
    if (n == 0) {
        n = 1;
        files = dash;
    }
    hone_hash *h = NULL;
    if (new_hasher(o, o->algo, &h)) return CLI_FAIL;
    int status = CLI_OK;
    hone_buf line = {0};
    uint8_t d[HONE_HASH_MAX_DIGEST];
    for (int i = 0; i < n; i++) {
        errno = 0;
        int rc = hash_one(o, h, files[i], d);
        if (rc) {
            int e = errno;
            fflush(stdout);
            cli_cmd_error("hash", "%s: %s", files[i], why(rc, e));
            status = CLI_FAIL;
            continue;
        }
        const char *shown = strcmp(files[i], "-") ? files[i] : display_stdin(o->algo);
        hone_buf_clear(&line);
        rc = hone_hash_format_line(&line, o->algo, o->tag ? HONE_HASH_STYLE_TAG : HONE_HASH_STYLE_GNU,
                                   d, shown);
        if (rc) {
            cli_cmd_error("hash", "%s", hone_strerror(rc));
            status = CLI_FAIL;
            break;
        }
        fwrite(line.data, 1, line.len, stdout);
    }
    hone_buf_free(&line);
    hone_hash_free(h);
    if (fflush(stdout) != 0) {
        cli_cmd_error("hash", "writing the output: %s", strerror(errno));
        status = CLI_FAIL;
    }
    return status;
}

/* Prints the name in an OK/FAILED line the way the reference tool does:
 * coreutils escapes a name only when it holds a newline, b3sum when it holds
 * a backslash or a newline. */
static void print_check_name(hone_hash_algo algo, const char *name) {
    int escape = algo == HONE_HASH_BLAKE3 ? strpbrk(name, "\\\n") != NULL : strchr(name, '\n') != NULL;
    if (!escape) {
        fputs(name, stdout);
        return;
    }
    putchar('\\');
    for (const char *p = name; *p; p++) {
        if (*p == '\\')
            fputs("\\\\", stdout);
        else if (*p == '\n')
            fputs("\\n", stdout);
        else if (*p == '\r' && algo == HONE_HASH_SHA256)
            fputs("\\r", stdout);
        else
            putchar(*p);
    }
}

static void plural_warning(const char *list, unsigned long n, const char *one, const char *many) {
    (void)list;
    if (n == 0) return;
    fflush(stdout);
    cli_cmd_error("hash", "WARNING: %lu %s", n, n == 1 ? one : many);
}

typedef struct check_counts {
    unsigned long malformed, unreadable, mismatched, good_lines, verified;
} check_counts;

static int check_list(const hash_cli *o, const char *list, hone_hash *hashers[5]) {
    FILE *f = strcmp(list, "-") ? fopen(list, "rb") : stdin;
    if (!f) {
        cli_cmd_error("hash", "%s: %s", list, strerror(errno));
        return CLI_FAIL;
    }
    check_counts c = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    uint64_t lineno = 0;
    hone_buf name = {0};
    int status = CLI_OK;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (len > 0 && line[len - 1] == '\n') len--;
        hone_hash_line hl;
        hone_error err;
        int rc = hone_hash_parse_line(line, (size_t)len, o->algo, &hl, &name, &err);
        if (rc == HONE_ENOMEM) {
            cli_cmd_error("hash", "%s: out of memory", list);
            status = CLI_FAIL;
            break;
        }
        if (rc) {
            c.malformed++;
            if (!o->status) {
                fflush(stdout);
                cli_cmd_error("hash", "%s:%llu: malformed %s line: %s",
                              strcmp(list, "-") ? list : "standard input",
                              (unsigned long long)lineno, hone_hash_name(o->algo), err.msg);
            }
            continue;
        }
        c.good_lines++;
        hone_hash **hp = &hashers[hl.algo];
        if (!*hp && new_hasher(o, hl.algo, hp)) {
            status = CLI_FAIL;
            break;
        }
        uint8_t d[HONE_HASH_MAX_DIGEST];
        errno = 0;
        rc = hash_one(o, *hp, name.data, d);
        int e = errno;
        if (rc == HONE_ENOTFOUND && o->ignore_missing) continue;
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
        if (!ok) c.mismatched++;
        if (!o->status && (!ok || !o->quiet)) {
            print_check_name(hl.algo, name.data);
            fputs(ok ? ": OK\n" : ": FAILED\n", stdout);
        }
    }
    int read_err = ferror(f);
    free(line);
    hone_buf_free(&name);
    if (f != stdin) fclose(f);
    const char *shown = strcmp(list, "-") ? list : "standard input";
    if (read_err) {
        cli_cmd_error("hash", "%s: read error", shown);
        return CLI_FAIL;
    }
    if (status) return status;
    if (c.good_lines == 0) {
        if (!o->status) {
            fflush(stdout);
            cli_cmd_error("hash", "%s: no properly formatted checksum lines found", shown);
        }
        return CLI_FAIL;
    }
    if (!o->status) {
        plural_warning(list, c.malformed, "line is improperly formatted",
                       "lines are improperly formatted");
        plural_warning(list, c.unreadable, "listed file could not be read",
                       "listed files could not be read");
        plural_warning(list, c.mismatched, "computed checksum did NOT match",
                       "computed checksums did NOT match");
        if (o->ignore_missing && c.verified == 0 && c.unreadable == 0) {
            fflush(stdout);
            cli_cmd_error("hash", "%s: no file was verified", shown);
        }
    }
    if (c.mismatched || c.unreadable || (o->strict && c.malformed)) return CLI_FAIL;
    if (o->ignore_missing && c.verified == 0) return CLI_FAIL;
    return CLI_OK;
}

static int check_lists(const hash_cli *o, int n, char **lists) {
    static char *dash[] = {"-"};
    if (n == 0) {
        n = 1;
        lists = dash;
    }
    hone_hash *hashers[5] = {0};
    int status = CLI_OK;
    for (int i = 0; i < n; i++)
        if (check_list(o, lists[i], hashers) != CLI_OK) status = CLI_FAIL;
    for (int i = 0; i < 5; i++) hone_hash_free(hashers[i]);
    if (fflush(stdout) != 0) status = CLI_FAIL;
    return status;
}

int cli_hash_main(int argc, char **argv) {
    enum { OPT_TAG = 256, OPT_QUIET, OPT_STATUS, OPT_IGNORE_MISSING, OPT_STRICT, OPT_IO };
    static const struct option longopts[] = {
        {"algorithm", required_argument, NULL, 'a'},
        {"threads", required_argument, NULL, 'j'},
        {"tag", no_argument, NULL, OPT_TAG},
        {"io", required_argument, NULL, OPT_IO},
        {"check", no_argument, NULL, 'c'},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"status", no_argument, NULL, OPT_STATUS},
        {"ignore-missing", no_argument, NULL, OPT_IGNORE_MISSING},
        {"strict", no_argument, NULL, OPT_STRICT},
        {"warn", no_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    hash_cli o = {.algo = HONE_HASH_SHA256};
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    o.threads = cpus > 0 ? (unsigned)cpus : 1;
    int check = 0, c;
    hone_error err;
    optind = 0;
    while ((c = cli_getopt("hash", argc, argv, "a:j:cwh", longopts)) != -1) {
        switch (c) {
        case 'a':
            if (hone_hash_from_name(optarg, &o.algo, &err)) {
                cli_cmd_error("hash", "--algorithm %s", err.msg);
                return CLI_USAGE;
            }
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
        case OPT_TAG: o.tag = 1; break;
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
    if (check && o.tag) {
        cli_cmd_error("hash", "--tag prints digests; it cannot be used with --check");
        return CLI_USAGE;
    }
    if (!check && (o.quiet || o.status || o.ignore_missing || o.strict)) {
        cli_cmd_error("hash", "--quiet, --status, --ignore-missing and --strict need --check");
        return CLI_USAGE;
    }
    if (check) return check_lists(&o, argc - optind, argv + optind);
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
            hone_hash_line hl;
            hone_buf name = {0};
            /* change one byte, then check the list line against the file */
            int fd = open(path, O_WRONLY);
            if (fd >= 0 && pwrite(fd, "X", 1, 1000) == 1 &&
                !hone_hash_parse_line(line.data, line.len - 1, HONE_HASH_SHA256, &hl, &name,
                                      NULL) &&
                !hone_hash_path(h, name.data, NULL, d2, 32, NULL)) {
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
