/* test_coarse_fs.c - the racy-timestamp rule on real file systems whose
 * timestamps are whole seconds (ext4 made with 128-byte inodes) or 2 s
 * (vfat), loop-mounted by the test: a file rewritten with the same size in
 * the same second as the build that indexed it must not keep its old
 * digest. Needs root, loop devices and the file system in the kernel;
 * skipped with a message saying which is missing otherwise. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hone/hash.h"
#include "hone/io.h"
#include "tree.h"

typedef struct mnt {
    char *dir;      /* scratch: the image, the mount point, the index */
    char img[4200], point[4200], idx[4200];
    int mounted;
} mnt;

static mnt *current; /* unmounted at exit too, should a case abort */

static void unmount(mnt *m) {
    if (!m || !m->mounted) return;
    char cmd[8600];
    snprintf(cmd, sizeof cmd, "umount '%s' 2>/dev/null || umount -l '%s'", m->point, m->point);
    if (system(cmd) == 0) m->mounted = 0;
}

static void at_exit_unmount(void) { unmount(current); }

/* Makes a 16 MiB image with `mkfs` and loop-mounts it; returns NULL with a
 * message when this machine cannot (the case is then skipped). */
static const char *mount_image(mnt *m, const char *mkfs) {
    if (geteuid() != 0) return "not root: cannot mount a loop device";
    m->dir = tree_new();
    if (!m->dir) return "cannot make a scratch directory";
    snprintf(m->img, sizeof m->img, "%s/fs.img", m->dir);
    snprintf(m->point, sizeof m->point, "%s/mnt", m->dir);
    snprintf(m->idx, sizeof m->idx, "%s/index", m->dir);
    if (mkdir(m->point, 0755) != 0) return "cannot make the mount point";
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "truncate -s 16M '%s' && %s '%s' >/dev/null 2>&1", m->img, mkfs, m->img);
    if (system(cmd) != 0) return "mkfs failed or is not installed (scripts/deps.d/io.txt)";
    snprintf(cmd, sizeof cmd, "mount -o loop '%s' '%s' 2>/dev/null", m->img, m->point);
    if (system(cmd) != 0) return "mount -o loop failed (no loop device, or the file system is not in this kernel)";
    m->mounted = 1;
    current = m;
    return NULL;
}

static int teardown(void **state) {
    mnt *m = *state;
    unmount(m);
    current = NULL;
    if (m->dir) {
        tree_rm(m->dir);
        free(m->dir);
    }
    free(m);
    return 0;
}

static int setup(void **state) {
    *state = calloc(1, sizeof(mnt));
    return *state ? 0 : -1;
}

static void write_file(const char *path, const char *content) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(content, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* Sleeps until just after the file system's clock starts a new second, so
 * that a write, a build and a rewrite happen within one second (and within
 * one 2 s granule every other time). Sleeping only lets the race happen;
 * the verdict is the digest, which must be right either way. */
static void wait_for_second_start(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME_COARSE, &t);
    usleep((useconds_t)((1000000000L - t.tv_nsec) / 1000 + 20000));
}

static void same_second_rewrite(mnt *m) {
    char file[4300];
    snprintf(file, sizeof file, "%s/r.txt", m->point);
    write_file(file, "zero");
    hone_io_manifest_opts o = {.index_dir = m->idx};
    hone_io_manifest *man;
    hone_error err = {0};
    for (int i = 0; i < 6; i++) {
        wait_for_second_start();
        write_file(file, "one!");
        assert_int_equal(hone_io_manifest_build(&man, m->point, &o, NULL, &err), HONE_OK);
        expect_digest(man, "r.txt", "one!");
        hone_io_manifest_free(man);
        write_file(file, "two!"); /* same size, same second */
        for (int k = 0; k < 2; k++) {
            assert_int_equal(hone_io_manifest_build(&man, m->point, &o, NULL, &err), HONE_OK);
            expect_digest(man, "r.txt", "two!");
            hone_io_manifest_free(man);
        }
    }
    /* And once the second is over, the entry is trusted again. */
    sleep(2);
    hone_io_manifest_stats st;
    assert_int_equal(hone_io_manifest_build(&man, m->point, &o, &st, &err), HONE_OK);
    hone_io_manifest_free(man);
    assert_int_equal(hone_io_manifest_build(&man, m->point, &o, &st, &err), HONE_OK);
    expect_digest(man, "r.txt", "two!");
    assert_int_equal(st.cached, st.files);
    hone_io_manifest_free(man);
}

static void test_ext4_128_byte_inodes(void **state) {
    mnt *m = *state;
    const char *why = mount_image(m, "mkfs.ext4 -q -F -I 128");
    if (why) {
        fprintf(stderr, "skipped: ext4 -I 128: %s\n", why);
        skip();
    }
    /* The premise: this file system stamps whole seconds. */
    char p[4300];
    snprintf(p, sizeof p, "%s/probe", m->point);
    write_file(p, "x");
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mtim.tv_nsec, 0);
    same_second_rewrite(m);
}

static void test_vfat(void **state) {
    mnt *m = *state;
    const char *why = mount_image(m, "mkfs.vfat");
    if (why) {
        fprintf(stderr, "skipped: vfat: %s\n", why);
        skip();
    }
    same_second_rewrite(m);
}

int main(int argc, char **argv) {
    atexit(at_exit_unmount);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ext4_128_byte_inodes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vfat, setup, teardown),
    };
    return HONE_TEST_RUN(tests, NULL, NULL, argc, argv);
}
