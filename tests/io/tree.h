/* tree.h - helpers the io tests share: build a scratch directory tree and
 * remove it again. Header-only so each test program stays one file. */
#ifndef HONE_TEST_IO_TREE_H
#define HONE_TEST_IO_TREE_H

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A new empty directory under $TMPDIR (or /tmp), readable by everyone so a
 * child that dropped root can walk it. The caller frees the string. */
static inline char *tree_new(void) {
    const char *t = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/hone-io-test-XXXXXX", t && *t ? t : "/tmp");
    char *d = mkdtemp(tmpl);
    if (!d) return NULL;
    chmod(d, 0755);
    return strdup(d);
}

static inline void tree_path(char *out, size_t n, const char *root, const char *rel) {
    snprintf(out, n, "%s/%s", root, rel);
}

/* Creates every missing directory of rel (relative to root). */
static inline void tree_mkdir(const char *root, const char *rel) {
    char p[4096];
    tree_path(p, sizeof p, root, rel);
    for (char *s = p + strlen(root) + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(p, 0755);
            *s = '/';
        }
    mkdir(p, 0755);
}

/* Writes a file (creating its directories) with the given content. */
static inline int tree_file(const char *root, const char *rel, const char *content) {
    char p[4096];
    tree_path(p, sizeof p, root, rel);
    char *slash = strrchr(p, '/');
    if (slash && slash > p + strlen(root)) {
        *slash = 0;
        tree_mkdir(root, p + strlen(root) + 1);
        *slash = '/';
    }
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return -1;
    size_t n = strlen(content);
    int ok = write(fd, content, n) == (ssize_t)n;
    close(fd);
    return ok ? 0 : -1;
}

static inline int tree_symlink(const char *root, const char *rel, const char *target) {
    char p[4096];
    tree_path(p, sizeof p, root, rel);
    return symlink(target, p);
}

/* rm -rf, restoring permissions first so unreadable test directories go
 * too. */
static inline void tree_rm(const char *path) {
    struct stat sb;
    if (lstat(path, &sb) != 0) return;
    if (S_ISDIR(sb.st_mode)) {
        chmod(path, 0755);
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d))) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
                size_t n = strlen(path) + strlen(e->d_name) + 2;
                char *p = malloc(n);
                if (!p) continue;
                snprintf(p, n, "%s/%s", path, e->d_name);
                tree_rm(p);
                free(p);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* Asserts that the manifest lists path with the SHA-256 digest of content
 * (for the cmocka tests, which include test.h first). */
static inline void expect_digest(const hone_io_manifest *m, const char *path,
                                 const char *content) {
    const hone_io_manifest_entry *e = hone_io_manifest_find(m, path);
    if (!e) fail_msg("manifest lacks '%s'", path);
    uint8_t d[32];
    assert_int_equal(hone_hash_oneshot(HONE_HASH_SHA256, content, strlen(content), d, 32), HONE_OK);
    char want[65], got[65];
    hone_hash_hex(d, 32, want);
    hone_hash_hex(e->digest, 32, got);
    assert_string_equal(got, want);
}

#endif
