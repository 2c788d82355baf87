/* tmpdir.h - a scratch directory for a test, under $TMPDIR (when absolute)
 * or /tmp, and its removal with everything in it. */
#ifndef HONE_TEST_TMPDIR_H
#define HONE_TEST_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* Makes "<tmp>/hone-<tag>-XXXXXX" into dir (n bytes). Returns 0, or -1
 * with errno. */
static inline int hone_test_tmpdir(char *dir, size_t n, const char *tag) {
    const char *td = getenv("TMPDIR");
    snprintf(dir, n, "%s/hone-%s-XXXXXX", td && *td == '/' ? td : "/tmp", tag);
    return mkdtemp(dir) ? 0 : -1;
}

static inline int hone_test_rm_one(const char *p, const struct stat *sb, int flag,
                                   struct FTW *f) {
    (void)sb, (void)flag, (void)f;
    return remove(p);
}

/* Removes dir and everything below it (symlinks are not followed). */
static inline void hone_test_rmtree(const char *dir) {
    if (dir[0]) nftw(dir, hone_test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
