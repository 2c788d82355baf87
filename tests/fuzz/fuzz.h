/* fuzz.h - what every fuzz target in tests/fuzz shares: the check that
 * aborts with a message when an invariant fails (so libFuzzer saves the
 * input), helpers to cut an input into parts, and, with
 * -DHONE_FUZZ_STANDALONE, a main() that runs the files named on its
 * command line, so the seed corpus is a regression test with any compiler.
 *
 * Built and run by tests/fuzz/run.sh. */
#ifndef HONE_TESTS_FUZZ_H
#define HONE_TESTS_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hone.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts, after saying which invariant failed and where, when cond is
 * false. Aborting (not returning) is what makes libFuzzer keep the input. */
#define FUZZ_CHECK(cond, ...)                                                          \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                              \
            fputc('\n', stderr);                                                       \
            abort();                                                                   \
        }                                                                              \
    } while (0)

/* A NUL-terminated copy of data[0..size) (malloc'ed exactly, so ASan sees
 * a read past its end); the caller frees it. NUL bytes inside stay: C-string
 * APIs then see only the part before the first one, as a caller would. */
static inline char *fuzz_strndup(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) abort();
    if (size) memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Whether the error filled by a failed call says something: a non-empty,
 * NUL-terminated message. */
static inline int fuzz_err_ok(const hone_error *err) {
    return err->msg[0] != '\0' && memchr(err->msg, '\0', sizeof err->msg) != NULL;
}

#ifdef HONE_FUZZ_STANDALONE
/* Runs each file named on the command line once, read into a buffer of
 * exactly its size. */
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            return 1;
        }
        size_t cap = 4096, n = 0, got;
        uint8_t *buf = malloc(cap);
        while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
            n += got;
            if (n == cap) buf = realloc(buf, cap *= 2);
        }
        fclose(f);
        if (!buf) {
            fprintf(stderr, "%s: out of memory\n", argv[i]);
            return 1;
        }
        uint8_t *exact = malloc(n ? n : 1);
        if (!exact) return 1;
        if (n) memcpy(exact, buf, n);
        free(buf);
        LLVMFuzzerTestOneInput(exact, n);
        free(exact);
    }
    printf("ran %d inputs\n", argc - 1);
    return 0;
}
#endif

#endif /* HONE_TESTS_FUZZ_H */
