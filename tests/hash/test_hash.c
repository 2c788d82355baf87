/* test_hash.c - the generic hasher: known digests of SHA-256, BLAKE3 and
 * XXH3, streaming equals one-shot, state rules, names, hex, file and pipe
 * hashing in every I/O mode, a file that shrinks while it is mapped, the
 * algorithm table, and the digest-list line format (coreutils' forms). */
#include "test.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hash/hash_internal.h"

static const struct known {
    hone_hash_algo algo;
    const char *input;
    const char *hex;
} known[] = {
    {HONE_HASH_SHA256, "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {HONE_HASH_SHA256, "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {HONE_HASH_BLAKE3, "abc", "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"},
    {HONE_HASH_BLAKE3, "", "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"},
    /* xxhsum -H3 and -H2 print these for "abc". */
    {HONE_HASH_XXH3_64, "abc", "78af5f94892f3950"},
    {HONE_HASH_XXH3_128, "abc", "06b05ab6733a618578af5f94892f3950"},
};

static void test_known_digests(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        const struct known *k = &known[i];
        uint8_t d[HONE_HASH_MAX_DIGEST];
        char hex[HONE_HASH_MAX_HEX];
        size_t n = hone_hash_digest_len(k->algo);
        assert_int_equal(hone_hash_oneshot(k->algo, k->input, strlen(k->input), d, sizeof d),
                         HONE_OK);
        hone_hash_hex(d, n, hex);
        assert_string_equal(hex, k->hex);
        hone_hash *h = NULL;
        assert_int_equal(hone_hash_new(&h, k->algo, NULL), HONE_OK);
        assert_int_equal(hone_hash_algorithm(h), k->algo);
        for (const char *p = k->input; *p; p++) assert_int_equal(hone_hash_update(h, p, 1), HONE_OK);
        assert_int_equal(hone_hash_final(h, d, sizeof d), HONE_OK);
        hone_hash_hex(d, n, hex);
        assert_string_equal(hex, k->hex);
        /* reset and hash again with the same object */
        assert_int_equal(hone_hash_reset(h), HONE_OK);
        assert_int_equal(hone_hash_update(h, k->input, strlen(k->input)), HONE_OK);
        assert_int_equal(hone_hash_final(h, d, sizeof d), HONE_OK);
        hone_hash_hex(d, n, hex);
        assert_string_equal(hex, k->hex);
        hone_hash_free(h);
    }
}

/* Streaming over many sizes and split points equals one-shot. */
static void test_streaming_equals_oneshot(void **state) {
    (void)state;
    size_t len = 300000;
    uint8_t *buf = malloc(len);
    for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)(i * 2654435761u >> 13);
    static const hone_hash_algo algos[] = {HONE_HASH_SHA256, HONE_HASH_BLAKE3, HONE_HASH_XXH3_64,
                                           HONE_HASH_XXH3_128};
    static const size_t pieces[] = {1, 7, 64, 240, 1024, 4096, 65536, 299999};
    for (size_t a = 0; a < 4; a++) {
        uint8_t want[32], got[32];
        assert_int_equal(hone_hash_oneshot(algos[a], buf, len, want, 32), HONE_OK);
        hone_hash *h = NULL;
        assert_int_equal(hone_hash_new(&h, algos[a], NULL), HONE_OK);
        for (size_t p = 0; p < sizeof pieces / sizeof pieces[0]; p++) {
            assert_int_equal(hone_hash_reset(h), HONE_OK);
            for (size_t off = 0; off < len; off += pieces[p]) {
                size_t n = len - off < pieces[p] ? len - off : pieces[p];
                assert_int_equal(hone_hash_update(h, buf + off, n), HONE_OK);
            }
            assert_int_equal(hone_hash_final(h, got, 32), HONE_OK);
            assert_memory_equal(got, want, hone_hash_digest_len(algos[a]));
        }
        hone_hash_free(h);
    }
    free(buf);
}

static void test_state_rules(void **state) {
    (void)state;
    hone_hash *h = (hone_hash *)1;
    assert_int_equal(hone_hash_new(&h, (hone_hash_algo)99, NULL), HONE_EINVAL);
    assert_null(h);
    assert_int_equal(hone_hash_new(NULL, HONE_HASH_SHA256, NULL), HONE_EINVAL);
    assert_int_equal(hone_hash_new_blake3_keyed(&h, NULL, NULL), HONE_EINVAL);
    assert_null(h);
    hone_hash_free(NULL);
    assert_int_equal(hone_hash_new(&h, HONE_HASH_SHA256, NULL), HONE_OK);
    uint8_t d[32];
    assert_int_equal(hone_hash_final(h, d, 31), HONE_ERANGE);
    assert_int_equal(hone_hash_update(h, NULL, 1), HONE_EINVAL);
    assert_int_equal(hone_hash_update(h, NULL, 0), HONE_OK);
    assert_int_equal(hone_hash_final(h, d, 32), HONE_OK);
    assert_int_equal(hone_hash_update(h, "x", 1), HONE_ESTATE);
    assert_int_equal(hone_hash_final(h, d, 32), HONE_ESTATE);
    assert_int_equal(hone_hash_xof(h, 0, d, 32), HONE_ENOTSUP);
    assert_int_equal(hone_hash_reset(h), HONE_OK);
    assert_int_equal(hone_hash_update(h, "x", 1), HONE_OK);
    hone_hash_free(h);
    /* BLAKE3 final does not end the message */
    assert_int_equal(hone_hash_new(&h, HONE_HASH_BLAKE3, NULL), HONE_OK);
    assert_int_equal(hone_hash_update(h, "ab", 2), HONE_OK);
    assert_int_equal(hone_hash_final(h, d, 32), HONE_OK);
    assert_int_equal(hone_hash_update(h, "c", 1), HONE_OK);
    assert_int_equal(hone_hash_final(h, d, 32), HONE_OK);
    char hex[65];
    hone_hash_hex(d, 32, hex);
    assert_string_equal(hex, known[2].hex);
    hone_hash_free(h);
    assert_int_equal(hone_hash_oneshot(HONE_HASH_XXH3_64, "a", 1, d, 7), HONE_ERANGE);
    assert_int_equal(hone_hash_oneshot(HONE_HASH_SHA256, NULL, 0, d, 32), HONE_OK);
    assert_string_equal(hone_hash_hex(d, 32, hex) == 64 ? hex : "", known[1].hex);
}

static void test_names(void **state) {
    (void)state;
    assert_string_equal(hone_hash_name(HONE_HASH_SHA256), "sha256");
    assert_string_equal(hone_hash_name(HONE_HASH_BLAKE3), "blake3");
    assert_string_equal(hone_hash_name(HONE_HASH_XXH3_64), "xxh3");
    assert_string_equal(hone_hash_name(HONE_HASH_XXH3_128), "xxh128");
    assert_null(hone_hash_name((hone_hash_algo)0));
    hone_hash_algo a = 0;
    hone_error err;
    assert_int_equal(hone_hash_from_name("BLAKE3", &a, &err), HONE_OK);
    assert_int_equal(a, HONE_HASH_BLAKE3);
    assert_int_equal(hone_hash_from_name("xxh3-128", &a, &err), HONE_OK);
    assert_int_equal(a, HONE_HASH_XXH3_128);
    assert_int_equal(hone_hash_from_name("sha265", &a, &err), HONE_EINVAL);
    assert_int_equal(a, HONE_HASH_XXH3_128);
    assert_non_null(strstr(err.msg, "did you mean 'sha256'"));
    assert_int_equal(hone_hash_digest_len(HONE_HASH_XXH3_64), 8);
    assert_int_equal(hone_hash_digest_len((hone_hash_algo)7), 0);
    uint8_t b[4];
    assert_int_equal(hone_hash_unhex("00fFa9b1", b, 4), HONE_OK);
    assert_int_equal(b[1], 0xff);
    assert_int_equal(b[3], 0xb1);
    assert_int_equal(hone_hash_unhex("00fg", b, 2), HONE_EPARSE);
    const char *impl = hone_hash_blake3_impl();
    assert_true(!strcmp(impl, "portable") || !strcmp(impl, "sse41") || !strcmp(impl, "avx2") ||
                !strcmp(impl, "avx512"));
}

static char tmpdir[256];

static int make_tmp(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/hone-test-hash-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int rm_tmp(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const uint8_t *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* Every I/O mode, buffer size and starting offset gives the digest of the
 * bytes from the offset to the end. */
static void test_files(void **state) {
    (void)state;
    /* Small thresholds, so that the test's files also take the threaded
     * pread path (pieces of 8 KiB and up). */
    uint64_t saved_min = hone__hash_auto_mt_min, saved_piece = hone__b3_fd_min_piece;
    hone__hash_auto_mt_min = 8192;
    hone__b3_fd_min_piece = 4096;
    static const size_t sizes[] = {0, 1, 4096, 65536, 1000003, 3 << 20};
    static const hone_hash_io modes[] = {HONE_HASH_IO_AUTO, HONE_HASH_IO_READ, HONE_HASH_IO_MMAP};
    size_t maxn = 3 << 20;
    uint8_t *buf = malloc(maxn);
    for (size_t i = 0; i < maxn; i++) buf[i] = (uint8_t)(i * 7 + (i >> 9));
    char path[300];
    snprintf(path, sizeof path, "%s/f", tmpdir);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        write_file(path, buf, sizes[s]);
        for (int algo = HONE_HASH_SHA256; algo <= HONE_HASH_XXH3_128; algo++) {
            uint8_t want[32], got[32];
            assert_int_equal(hone_hash_oneshot((hone_hash_algo)algo, buf, sizes[s], want, 32),
                             HONE_OK);
            for (unsigned threads = 1; threads <= 3; threads++) {
                hone_hash_opts ho = {.threads = threads};
                hone_hash *h = NULL;
                assert_int_equal(hone_hash_new(&h, (hone_hash_algo)algo, &ho), HONE_OK);
                for (size_t m = 0; m < 3; m++) {
                    hone_hash_file_opts fo = {.io = modes[m], .buf_size = m == 1 ? 4093 : 0,
                                              .drop_cache = (int)(m == 2)};
                    uint64_t n = 99;
                    memset(got, 0, sizeof got);
                    assert_int_equal(hone_hash_path(h, path, &fo, got, 32, &n), HONE_OK);
                    assert_int_equal(n, sizes[s]);
                    assert_memory_equal(got, want, hone_hash_digest_len((hone_hash_algo)algo));
                    /* from an offset that is not page aligned */
                    if (sizes[s] > 5000) {
                        int fd = open(path, O_RDONLY);
                        assert_true(fd >= 0);
                        assert_int_equal(lseek(fd, 4999, SEEK_SET), 4999);
                        uint8_t want2[32];
                        hone_hash_oneshot((hone_hash_algo)algo, buf + 4999, sizes[s] - 4999,
                                          want2, 32);
                        assert_int_equal(hone_hash_reset(h), HONE_OK);
                        assert_int_equal(hone_hash_update_fd(h, fd, &fo, &n), HONE_OK);
                        assert_int_equal(n, sizes[s] - 4999);
                        assert_int_equal(hone_hash_final(h, got, 32), HONE_OK);
                        assert_memory_equal(got, want2,
                                            hone_hash_digest_len((hone_hash_algo)algo));
                        close(fd);
                    }
                }
                hone_hash_free(h);
            }
        }
    }
    /* errors */
    hone_hash *h = NULL;
    uint8_t d[32];
    assert_int_equal(hone_hash_new(&h, HONE_HASH_SHA256, NULL), HONE_OK);
    char missing[300];
    snprintf(missing, sizeof missing, "%s/missing", tmpdir);
    assert_int_equal(hone_hash_path(h, missing, NULL, d, 32, NULL), HONE_ENOTFOUND);
    assert_int_equal(hone_hash_path(h, tmpdir, NULL, d, 32, NULL), HONE_EINVAL);
    assert_int_equal(hone_hash_update_fd(h, -1, NULL, NULL), HONE_EINVAL);
    if (geteuid() != 0) {
        chmod(path, 0);
        assert_int_equal(hone_hash_path(h, path, NULL, d, 32, NULL), HONE_EACCES);
        chmod(path, 0644);
    }
    hone_hash_free(h);
    free(buf);
    hone__hash_auto_mt_min = saved_min;
    hone__b3_fd_min_piece = saved_piece;
}

/* A pipe is read to its end whatever the I/O mode asks. */
static void test_pipe(void **state) {
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    size_t n = 200000;
    uint8_t *buf = malloc(n);
    for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)(i ^ (i >> 8));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        size_t off = 0;
        while (off < n) {
            ssize_t w = write(p[1], buf + off, n - off > 999 ? 999 : n - off);
            if (w <= 0) _exit(1);
            off += (size_t)w;
        }
        _exit(0);
    }
    close(p[1]);
    hone_hash *h = NULL;
    assert_int_equal(hone_hash_new(&h, HONE_HASH_BLAKE3, NULL), HONE_OK);
    hone_hash_file_opts fo = {.io = HONE_HASH_IO_MMAP};
    uint64_t got_n = 0;
    assert_int_equal(hone_hash_update_fd(h, p[0], &fo, &got_n), HONE_OK);
    assert_int_equal(got_n, n);
    uint8_t got[32], want[32];
    assert_int_equal(hone_hash_final(h, got, 32), HONE_OK);
    hone_hash_oneshot(HONE_HASH_BLAKE3, buf, n, want, 32);
    assert_memory_equal(got, want, 32);
    close(p[0]);
    hone_hash_free(h);
    free(buf);
}

static void expect_line(hone_hash_algo algo, hone_hash_style style, const char *name,
                        const char *want) {
    uint8_t d[32];
    hone_hash_oneshot(algo, "abc", 3, d, 32);
    hone_buf b = {0};
    assert_int_equal(hone_hash_format_line(&b, algo, style, d, name), HONE_OK);
    assert_string_equal(b.data, want);
    /* and it parses back to the same digest and name */
    hone_buf nm = {0};
    hone_hash_line l;
    hone_error err;
    assert_int_equal(hone_hash_parse_line(b.data, b.len - 1, algo, &l, &nm, &err), HONE_OK);
    assert_int_equal(l.algo, algo);
    assert_int_equal(l.digest_len, hone_hash_digest_len(algo));
    assert_memory_equal(l.digest, d, l.digest_len);
    assert_string_equal(nm.data, name);
    hone_buf_free(&b);
    hone_buf_free(&nm);
}

static void test_format_lines(void **state) {
    (void)state;
    const char *s = known[0].hex, *b3 = known[2].hex;
    char want[300];
    snprintf(want, sizeof want, "%s  a b\n", s);
    expect_line(HONE_HASH_SHA256, HONE_HASH_STYLE_GNU, "a b", want);
    snprintf(want, sizeof want, "\\%s  a\\\\b\\nc\n", s);
    expect_line(HONE_HASH_SHA256, HONE_HASH_STYLE_GNU, "a\\b\nc", want);
    snprintf(want, sizeof want, "SHA256 (x) = %s\n", s);
    expect_line(HONE_HASH_SHA256, HONE_HASH_STYLE_TAG, "x", want);
    snprintf(want, sizeof want, "\\SHA256 (n\\nl) = %s\n", s);
    expect_line(HONE_HASH_SHA256, HONE_HASH_STYLE_TAG, "n\nl", want);
    snprintf(want, sizeof want, "%s  -\n", b3);
    expect_line(HONE_HASH_BLAKE3, HONE_HASH_STYLE_GNU, "-", want);
    snprintf(want, sizeof want, "SHA256 (a) = b) = %s\n", s);
    expect_line(HONE_HASH_SHA256, HONE_HASH_STYLE_TAG, "a) = b", want);
    expect_line(HONE_HASH_XXH3_64, HONE_HASH_STYLE_GNU, "stdin", "XXH3 (stdin) = 78af5f94892f3950\n");
    expect_line(HONE_HASH_XXH3_128, HONE_HASH_STYLE_GNU, "f",
                "06b05ab6733a618578af5f94892f3950  f\n");
    expect_line(HONE_HASH_XXH3_128, HONE_HASH_STYLE_TAG, "f",
                "XXH128 (f) = 06b05ab6733a618578af5f94892f3950\n");
    snprintf(want, sizeof want, "%s   leading space\n", s);
    expect_line(HONE_HASH_SHA256, HONE_HASH_STYLE_GNU, " leading space", want);
}

static int parse(const char *line, hone_hash_algo def, hone_hash_line *l, hone_buf *nm,
                 hone_error *err) {
    return hone_hash_parse_line(line, strlen(line), def, l, nm, err);
}

static void test_parse_lines(void **state) {
    (void)state;
    hone_hash_line l;
    hone_buf nm = {0};
    hone_error err;
    char line[300];
    const char *s = known[0].hex;
    /* binary marker, CRLF, leading blanks, upper-case hex */
    snprintf(line, sizeof line, "  %s *bin\r", s);
    assert_int_equal(parse(line, HONE_HASH_SHA256, &l, &nm, &err), HONE_OK);
    assert_int_equal(l.binary, 1);
    assert_string_equal(nm.data, "bin");
    snprintf(line, sizeof line, "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD  u");
    assert_int_equal(parse(line, HONE_HASH_SHA256, &l, &nm, &err), HONE_OK);
    assert_int_equal(l.digest[0], 0xba);
    /* xxhsum's tag and newer XXH3_ prefix */
    assert_int_equal(parse("XXH3 (f) = 78af5f94892f3950", HONE_HASH_SHA256, &l, &nm, &err), HONE_OK);
    assert_int_equal(l.algo, HONE_HASH_XXH3_64);
    assert_int_equal(parse("XXH3_78af5f94892f3950  f", HONE_HASH_SHA256, &l, &nm, &err), HONE_OK);
    assert_int_equal(l.algo, HONE_HASH_XXH3_64);
    assert_int_equal(l.style, HONE_HASH_STYLE_GNU);
    /* tag names the algorithm whatever def says */
    snprintf(line, sizeof line, "BLAKE3 (z) = %s", known[2].hex);
    assert_int_equal(parse(line, HONE_HASH_SHA256, &l, &nm, &err), HONE_OK);
    assert_int_equal(l.algo, HONE_HASH_BLAKE3);

    /* malformed: each with a message and a column */
    static const struct {
        const char *line;
        const char *msg;
        uint64_t col;
    } bad[] = {
        {"", "empty line", 1},
        {"garbage", "expected a hex digest", 1},
        {"abcd  f", "expected 64 hex digits for sha256 at column 1, found 4", 1},
        {"MD5 (f) = d41d8cd98f00b204e9800998ecf8427e", "unsupported algorithm tag 'MD5'", 1},
        {"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "missing file name", 66},
        {"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad ", "missing file name", 66},
        {"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\t", "missing file name", 66},
        {"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015adx  f", "expected a space", 65},
        {"\\ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  a\\tb", "invalid escape", 69},
        {"\\ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  ab\\", "backslash at the end", 70},
        {"SHA256 (f) = abc", "expected 64 hex digits", 14},
        {"SHA256 (f = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "missing ')", 0},
        {"SHA256 (f) ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "expected '='", 12},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = parse(bad[i].line, HONE_HASH_SHA256, &l, &nm, &err);
        if (rc != HONE_EPARSE || !strstr(err.msg, bad[i].msg) ||
            (bad[i].col && err.col != bad[i].col))
            fail_msg("line '%s': rc %d msg '%s' col %llu; want EPARSE, '%s', col %llu",
                     bad[i].line, rc, err.msg, (unsigned long long)err.col, bad[i].msg,
                     (unsigned long long)bad[i].col);
    }
    /* embedded NUL */
    char nul[80];
    snprintf(nul, sizeof nul, "%s  a", s);
    size_t nl = strlen(nul);
    nul[nl] = '\0';
    memcpy(nul + nl, "\0b", 2);
    assert_int_equal(hone_hash_parse_line(nul, nl + 2, HONE_HASH_SHA256, &l, &nm, &err), HONE_EPARSE);
    assert_non_null(strstr(err.msg, "NUL"));
    hone_buf_free(&nm);
}

/* Untagged lines: exactly the forms coreutils 9.1 `sha256sum -c` accepts
 * for a one-line list, and the names it reads from them (checked against
 * the real sha256sum on the development machine; tests/hash/gnu_forms.sh
 * compares the two live). */
static void test_gnu_forms(void **state) {
    (void)state;
    static const struct {
        const char *rest; /* what follows the digest */
        const char *name;
        int binary;
    } good[] = {
        {"  a", "a", 0},  {" *a", "a", 1},   {" a", "a", 0},   {"\ta", "a", 0},
        {"\t a", "a", 0}, {"\t*a", "a", 1},  {"   b", " b", 0}, {" \ta", "\ta", 0},
        {"  ", " ", 0},   {" *", "*", 0},    {"  *x", "*x", 0}, {"\t\t", "\t", 0},
    };
    hone_hash_line l;
    hone_buf nm = {0};
    hone_error err;
    char line[300];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        snprintf(line, sizeof line, "%s%s", known[0].hex, good[i].rest);
        int rc = hone_hash_parse_line(line, strlen(line), HONE_HASH_SHA256, &l, &nm, &err);
        if (rc != HONE_OK || strcmp(nm.data, good[i].name) || l.binary != good[i].binary)
            fail_msg("line '%s': rc %d (%s) name '%s' binary %d; want OK, '%s', %d", line, rc,
                     err.msg, rc ? "" : nm.data, l.binary, good[i].name, good[i].binary);
        assert_int_equal(l.digest[0], 0xba);
    }
    hone_buf_free(&nm);
}

/* coreutils' state across the lines of one run: no mixing of the one- and
 * two-character forms after two-character lines; whole names after
 * one-character lines; '#' comments and empty lines hold no entry. */
static void test_list_state(void **state) {
    (void)state;
    const char *s = known[0].hex;
    hone_hash_line l;
    hone_buf nm = {0};
    hone_error err;
    char two[100], one[100], star[100];
    snprintf(two, sizeof two, "%s  a", s);
    snprintf(one, sizeof one, "%s a", s);
    snprintf(star, sizeof star, "%s *a", s);
    hone_hash_list_state st = {0};
    assert_int_equal(hone_hash_parse_list_line(&st, two, strlen(two), HONE_HASH_SHA256, &l, &nm, &err),
                     HONE_OK);
    assert_int_equal(hone_hash_parse_list_line(&st, one, strlen(one), HONE_HASH_SHA256, &l, &nm, &err),
                     HONE_EPARSE);
    assert_non_null(strstr(err.msg, "does not mix"));
    assert_int_equal(err.col, 66);
    /* the refused line left the state as it was */
    assert_int_equal(st.form, 1);
    st = (hone_hash_list_state){0};
    assert_int_equal(hone_hash_parse_list_line(&st, one, strlen(one), HONE_HASH_SHA256, &l, &nm, &err),
                     HONE_OK);
    assert_string_equal(nm.data, "a");
    assert_int_equal(hone_hash_parse_list_line(&st, two, strlen(two), HONE_HASH_SHA256, &l, &nm, &err),
                     HONE_OK);
    assert_string_equal(nm.data, " a");
    assert_int_equal(hone_hash_parse_list_line(&st, star, strlen(star), HONE_HASH_SHA256, &l, &nm, &err),
                     HONE_OK);
    assert_string_equal(nm.data, "*a");
    assert_int_equal(l.binary, 0);
    /* tagged lines do not change the form */
    st = (hone_hash_list_state){0};
    char tag[120];
    snprintf(tag, sizeof tag, "SHA256 (t) = %s", s);
    assert_int_equal(hone_hash_parse_list_line(&st, tag, strlen(tag), HONE_HASH_SHA256, &l, &nm, &err),
                     HONE_OK);
    assert_int_equal(st.form, 0);
    static const char *none[] = {"", "#", "# comment", "#ba7816bf  x", "\r"};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
        assert_int_equal(hone_hash_parse_list_line(&st, none[i], strlen(none[i]), HONE_HASH_SHA256,
                                                   &l, &nm, &err),
                         HONE_ENOTFOUND);
    assert_int_equal(hone_hash_parse_list_line(&st, "  ", 2, HONE_HASH_SHA256, &l, &nm, &err),
                     HONE_EPARSE);
    assert_int_equal(hone_hash_parse_list_line(NULL, two, strlen(two), HONE_HASH_SHA256, &l, &nm, &err),
                     HONE_EINVAL);
    /* a malformed line says which algorithm it names */
    assert_int_equal(parse("XXH3 (f) = 12", HONE_HASH_SHA256, &l, &nm, &err), HONE_EPARSE);
    assert_int_equal(l.algo, HONE_HASH_XXH3_64);
    assert_int_equal(parse("XXH3_12  f", HONE_HASH_SHA256, &l, &nm, &err), HONE_EPARSE);
    assert_int_equal(l.algo, HONE_HASH_XXH3_64);
    assert_int_equal(parse("zz  f", HONE_HASH_SHA256, &l, &nm, &err), HONE_EPARSE);
    assert_int_equal(l.algo, 0);
    hone_buf_free(&nm);
}

/* The algorithm table: every row agrees with the calls that read it. */
static void test_table(void **state) {
    (void)state;
    size_t n = 0;
    const hone_hash_info *in;
    for (size_t i = 0; (in = hone_hash_info_at(i)) != NULL; i++, n++) {
        assert_ptr_equal(hone_hash_info_of(in->algo), in);
        assert_string_equal(hone_hash_name(in->algo), in->name);
        assert_int_equal(hone_hash_digest_len(in->algo), in->digest_len);
        assert_true(in->digest_len <= HONE_HASH_MAX_DIGEST);
        hone_hash_algo a = 0;
        hone_error err;
        assert_int_equal(hone_hash_from_name(in->name, &a, &err), HONE_OK);
        assert_int_equal(a, in->algo);
        assert_int_equal(hone_hash_from_name(in->title, &a, &err) == HONE_OK ? a : in->algo,
                         in->algo);
        /* a tag line of the table's tag parses as this algorithm */
        uint8_t d[HONE_HASH_MAX_DIGEST];
        assert_int_equal(hone_hash_oneshot(in->algo, "abc", 3, d, sizeof d), HONE_OK);
        hone_buf b = {0}, nm = {0};
        assert_int_equal(hone_hash_format_line(&b, in->algo, HONE_HASH_STYLE_TAG, d, "f"), HONE_OK);
        assert_memory_equal(b.data, in->tag, strlen(in->tag));
        hone_hash_line l;
        assert_int_equal(hone_hash_parse_line(b.data, b.len - 1, HONE_HASH_SHA256, &l, &nm, &err),
                         HONE_OK);
        assert_int_equal(l.algo, in->algo);
        assert_int_equal(l.digest_len, in->digest_len);
        /* the -c check of a name: escaped exactly when the table says */
        assert_non_null(in->stdin_name);
        assert_non_null(in->escape_chars);
        assert_non_null(in->check_escape_if);
        assert_non_null(in->check_escape_chars);
        hone_buf_free(&b);
        hone_buf_free(&nm);
    }
    assert_int_equal(n, 4);
    assert_null(hone_hash_info_of((hone_hash_algo)0));
    assert_null(hone_hash_info_at(n));
    assert_true(hone_hash_info_of(HONE_HASH_BLAKE3)->xof);
    assert_false(hone_hash_info_of(HONE_HASH_SHA256)->xof);
    assert_true(hone_hash_info_of(HONE_HASH_XXH3_64)->tag_only);
    assert_string_equal(hone_hash_info_of(HONE_HASH_XXH3_128)->stdin_name, "stdin");
}

/* -z, --no-names and -l lines. */
static void test_format_ex(void **state) {
    (void)state;
    uint8_t d[100];
    assert_int_equal(hone_hash_oneshot(HONE_HASH_BLAKE3, "abc", 3, d, sizeof d), HONE_OK);
    hone_buf b = {0};
    /* zero: NUL end, no escaping (sha256sum -z) */
    assert_int_equal(hone_hash_format_line_ex(&b, HONE_HASH_SHA256, HONE_HASH_STYLE_GNU, d, 32,
                                              "n\nl\\", HONE_HASH_LINE_ZERO),
                     HONE_OK);
    assert_int_equal(b.len, 64 + 2 + 4 + 1);
    assert_int_equal(b.data[0] != '\\', 1);
    assert_memory_equal(b.data + 66, "n\nl\\\0", 5);
    hone_buf_clear(&b);
    /* no names: the digest alone */
    assert_int_equal(hone_hash_format_line_ex(&b, HONE_HASH_BLAKE3, HONE_HASH_STYLE_GNU, d, 32,
                                              NULL, HONE_HASH_LINE_NO_NAME),
                     HONE_OK);
    assert_string_equal(b.data, "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85\n");
    hone_buf_clear(&b);
    /* XOF lengths for BLAKE3 only; 0 bytes is an empty digest, as b3sum -l 0 */
    assert_int_equal(hone_hash_format_line_ex(&b, HONE_HASH_BLAKE3, HONE_HASH_STYLE_GNU, d, 100,
                                              "f", 0),
                     HONE_OK);
    assert_int_equal(b.len, 200 + 2 + 1 + 1);
    hone_buf_clear(&b);
    assert_int_equal(hone_hash_format_line_ex(&b, HONE_HASH_BLAKE3, HONE_HASH_STYLE_GNU, NULL, 0,
                                              "f", 0),
                     HONE_OK);
    assert_string_equal(b.data, "  f\n");
    hone_buf_clear(&b);
    assert_int_equal(hone_hash_format_line_ex(&b, HONE_HASH_SHA256, HONE_HASH_STYLE_GNU, d, 33,
                                              "f", 0),
                     HONE_EINVAL);
    assert_int_equal(hone_hash_format_line_ex(&b, HONE_HASH_SHA256, HONE_HASH_STYLE_TAG, d, 32,
                                              NULL, HONE_HASH_LINE_NO_NAME),
                     HONE_EINVAL);
    assert_int_equal(hone_hash_format_line_ex(&b, HONE_HASH_SHA256, HONE_HASH_STYLE_GNU, d, 32,
                                              NULL, 0),
                     HONE_EINVAL);
    assert_int_equal(hone_hash_format_line_ex(&b, HONE_HASH_SHA256, HONE_HASH_STYLE_GNU, d, 32,
                                              "f", 1u << 7),
                     HONE_EINVAL);
    assert_int_equal(b.len, 0);
    /* XXH3-64 without names is the digest alone, not a tag line */
    assert_int_equal(hone_hash_format_line_ex(&b, HONE_HASH_XXH3_64, HONE_HASH_STYLE_GNU, d, 8,
                                              NULL, HONE_HASH_LINE_NO_NAME),
                     HONE_OK);
    assert_int_equal(b.len, 17);
    hone_buf_free(&b);
}

/* --- a file that shrinks while it is mapped and hashed --- */

static char shrink_path[300];
static off_t shrink_to;

static void shrink_now(int fd, uint64_t off, uint64_t len) {
    (void)fd, (void)off, (void)len;
    if (truncate(shrink_path, shrink_to) != 0) _exit(3);
}

/* A separate process that polls /proc/PID/maps until the hashing child has
 * the file mapped, then truncates it: a real concurrent shrink. Whether it
 * lands during the hash is up to the scheduler; every outcome the hashing
 * child accepts is right either way. (A process, not a thread: TSan does
 * not support threads made in a child forked from a threaded process.) */
static void shrinker_main(pid_t hasher) {
    char maps[64];
    snprintf(maps, sizeof maps, "/proc/%d/maps", (int)hasher);
    static char text[1 << 16];
    for (int i = 0; i < 100000; i++) {
        int fd = open(maps, O_RDONLY);
        if (fd < 0) break;
        ssize_t n, used = 0;
        int mapped = 0;
        while (!mapped && (n = read(fd, text + used, sizeof text - 1 - (size_t)used)) > 0) {
            used += n;
            text[used] = '\0';
            mapped = strstr(text, shrink_path) != NULL;
            if ((size_t)used > sizeof text / 2) { /* keep the tail */
                memmove(text, text + used - 512, 512);
                used = 512;
            }
        }
        close(fd);
        if (mapped) break;
    }
    _exit(truncate(shrink_path, shrink_to) == 0 ? 0 : 3);
}

/* In the child: hashes the file with mmap and returns 0 when the result is
 * one a user can accept - HONE_EIO, or the digest of the whole original or
 * of the shrunk file - and 1 otherwise. A crash is a signal the parent sees. */
static int shrink_child(hone_hash_algo algo, unsigned threads, int use_proc, const uint8_t *buf,
                        size_t n) {
    alarm(120); /* a hang ends as SIGALRM, a failure */
    uint8_t full[32], part[32], got[32];
    hone_hash_oneshot(algo, buf, n, full, 32);
    hone_hash_oneshot(algo, buf, (size_t)shrink_to, part, 32);
    hone_hash_opts ho = {.threads = threads};
    hone_hash *h = NULL;
    if (hone_hash_new(&h, algo, &ho)) return 1;
    hone_hash_file_opts fo = {.io = HONE_HASH_IO_MMAP};
    if (!use_proc) hone__hash_map_hook = shrink_now;
    int rc = hone_hash_path(h, shrink_path, &fo, got, 32, NULL);
    hone__hash_map_hook = NULL;
    size_t dl = hone_hash_digest_len(algo);
    int ok = rc == HONE_EIO ||
             (rc == HONE_OK && (!memcmp(got, full, dl) || !memcmp(got, part, dl)));
    if (!ok) fprintf(stderr, "shrink: algo %d threads %u: rc %d\n", (int)algo, threads, rc);
    /* the hook shrinks before any byte is read: that must be an error */
    if (!use_proc && rc != HONE_EIO) ok = 0;
    hone_hash_free(h);
    return ok ? 0 : 1;
}

static void test_mmap_shrink(void **state) {
    (void)state;
    size_t n = (size_t)64 << 20;
    uint8_t *buf = malloc(n);
    assert_non_null(buf);
    for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)(i * 31 + (i >> 12));
    snprintf(shrink_path, sizeof shrink_path, "%s/shrinking", tmpdir);
    struct {
        hone_hash_algo algo;
        unsigned threads;
        off_t to;
        int use_proc;
    } runs[] = {
        {HONE_HASH_SHA256, 1, 4096 * 3, 0},       /* to a page boundary */
        {HONE_HASH_BLAKE3, 1, 1000003, 0},        /* inside a page */
        {HONE_HASH_BLAKE3, 3, 5 << 20, 0},        /* faults on pool threads */
        {HONE_HASH_XXH3_128, 1, (off_t)(n - 10), 0}, /* only the last page */
        {HONE_HASH_BLAKE3, 1, 1 << 20, 1},
        {HONE_HASH_SHA256, 1, 1 << 20, 1},
        {HONE_HASH_BLAKE3, 2, 0, 1},
    };
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        shrink_to = runs[r].to;
        write_file(shrink_path, buf, n);
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            _exit(shrink_child(runs[r].algo, runs[r].threads, runs[r].use_proc, buf, n));
        if (runs[r].use_proc) {
            pid_t sp = fork();
            assert_true(sp >= 0);
            if (sp == 0) shrinker_main(pid);
            int sst = 0;
            assert_int_equal(waitpid(sp, &sst, 0), sp);
            assert_true(WIFEXITED(sst) && WEXITSTATUS(sst) == 0);
        }
        int st = 0;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail_msg("run %zu (algo %d, %u threads, shrink to %lld, %s): %s %d", r,
                     (int)runs[r].algo, runs[r].threads, (long long)runs[r].to,
                     runs[r].use_proc ? "process" : "hook",
                     WIFSIGNALED(st) ? "killed by signal" : "exit status",
                     WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    }
    free(buf);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_digests), cmocka_unit_test(test_streaming_equals_oneshot),
        cmocka_unit_test(test_state_rules),   cmocka_unit_test(test_names),
        cmocka_unit_test(test_files),         cmocka_unit_test(test_pipe),
        cmocka_unit_test(test_format_lines),  cmocka_unit_test(test_parse_lines),
        cmocka_unit_test(test_gnu_forms),     cmocka_unit_test(test_list_state),
        cmocka_unit_test(test_table),         cmocka_unit_test(test_format_ex),
        cmocka_unit_test(test_mmap_shrink),
};
HONE_TEST_MAIN_FIXTURES(tests, make_tmp, rm_tmp)
