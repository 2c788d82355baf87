/* fuzz_hash_line.c - libFuzzer target for the digest-list line parser
 * (hone_hash_parse_line), the code `hone hash -c` runs on untrusted lists.
 * Besides "never crashes, never reads out of bounds", it checks a round
 * trip: a line that parses is formatted again with hone_hash_format_line
 * and must parse back to the same algorithm, digest and name.
 *
 * Built and run by tests/fuzz/run.sh: with clang's -fsanitize=fuzzer when
 * available, and always (-DHONE_FUZZ_STANDALONE) as a program that runs
 * the files named on its command line, so the seed corpus is a regression
 * test everywhere.
 *
 * FUZZ-OPTIONS: -max_len=512 -runs=200000 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "hone.h"

static void one_line(const char *line, size_t len, hone_hash_algo def) {
    hone_hash_line l;
    hone_buf name = {0};
    hone_error err;
    int rc = hone_hash_parse_line(line, len, def, &l, &name, &err);
    if (rc == HONE_OK) {
        if (l.digest_len != hone_hash_digest_len(l.algo) || !name.data || name.len == 0 ||
            strlen(name.data) != name.len)
            abort();
        /* xxhsum does not escape, so names with a newline, or ending in a
         * carriage return (read back as a CRLF line end), cannot come back. */
        int xxh = l.algo == HONE_HASH_XXH3_64 || l.algo == HONE_HASH_XXH3_128;
        int cr_end = name.data[name.len - 1] == '\r';
        if (!(xxh && (strchr(name.data, '\n') || cr_end))) {
            hone_buf out = {0};
            if (hone_hash_format_line(&out, l.algo, l.style, l.digest, name.data) != HONE_OK)
                abort();
            hone_hash_line l2;
            hone_buf name2 = {0};
            if (hone_hash_parse_line(out.data, out.len - 1, l.algo, &l2, &name2, &err) != HONE_OK)
                abort();
            if (l2.algo != l.algo || memcmp(l2.digest, l.digest, l.digest_len) != 0 ||
                strcmp(name2.data, name.data) != 0)
                abort();
            hone_buf_free(&out);
            hone_buf_free(&name2);
        }
    } else if (rc != HONE_EPARSE || err.msg[0] == '\0' || err.col == 0) {
        abort();
    }
    hone_buf_free(&name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    /* The first byte picks the default algorithm; the rest is split into
     * lines as hone hash -c splits a list. */
    hone_hash_algo def = HONE_HASH_SHA256;
    if (size > 0) {
        def = (hone_hash_algo)(1 + data[0] % 4);
        s++;
        size--;
    }
    while (size > 0) {
        const char *nl = memchr(s, '\n', size);
        size_t len = nl ? (size_t)(nl - s) : size;
        one_line(s, len, def);
        if (!nl) break;
        size -= len + 1;
        s += len + 1;
    }
    return 0;
}
