/* test_exec.c - hone_run_exec: exit codes and signals, stdout and stderr
 * kept apart byte for byte, argv words that reach the child unchanged
 * without a shell, commands that cannot start, timeouts and stops that kill
 * the whole process group, output limits, inherited descriptors and
 * signals, many threads at once, and the out-of-memory loop. */
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hone/run.h"
#include "tmpdir.h"

#define MS 1000000ull

static uint64_t real_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const char *end_str(int end) {
    static const char *names[] = {"exited", "signaled", "timedout", "killed", "nostart", "failed"};
    return end >= 0 && end < 6 ? names[end] : "?";
}

#define assert_outcome(oc, want_end, want_status)                                             \
    do {                                                                                      \
        if ((oc).end != (want_end) || (oc).status != (want_status))                           \
            fail_msg("outcome %s %d, expected %s %d", end_str((oc).end), (oc).status,         \
                     end_str(want_end), (want_status));                                       \
    } while (0)

static void assert_bytes(const hone_buf *b, const void *want, size_t n, const char *what) {
    if (b->len != n || (n && memcmp(b->data, want, n)))
        fail_msg("%s: got %zu bytes \"%.*s\", expected %zu bytes \"%.*s\"", what, b->len,
                 (int)(b->len > 200 ? 200 : b->len), b->data ? b->data : "", n,
                 (int)(n > 200 ? 200 : n), (const char *)want);
}

static void assert_str(const hone_buf *b, const char *want, const char *what) {
    assert_bytes(b, want, strlen(want), what);
}

/* Runs argv with opts (NULL: defaults) into the two buffers, which are
 * made here and freed by the caller. */
static int run(char *const *argv, const hone_run_exec_opts *o, hone_buf *out, hone_buf *err,
               hone_run_outcome *oc) {
    hone_buf_init(out, NULL);
    hone_buf_init(err, NULL);
    return hone_run_exec(argv, o, out, err, oc);
}

static void bufs_free(hone_buf *out, hone_buf *err) {
    hone_buf_free(out);
    hone_buf_free(err);
}

/* Nonzero when the process pid is gone, or dead and waiting only for a
 * reaper (a container's init may not reap). Waits up to 5 s. */
static int pid_gone(pid_t pid) {
    for (int i = 0; i < 500; i++) {
        if (kill(pid, 0) != 0 && errno == ESRCH) return 1;
        char path[64], buf[256];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "r");
        if (f) {
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            buf[n] = '\0';
            const char *rp = strrchr(buf, ')');
            if (rp && (rp[2] == 'Z' || rp[2] == 'X')) return 1;
        }
        usleep(10000);
    }
    return 0;
}

/* ------------------------------------------------------------------ */

static void exit_codes(void **state) {
    (void)state;
    hone_buf out, err;
    hone_run_outcome oc;
    char *t[] = {"true", NULL};
    assert_int_equal(run(t, NULL, &out, &err, &oc), HONE_OK);
    assert_outcome(oc, HONE_RUN_EXITED, 0);
    assert_int_equal(oc.truncated, 0);
    bufs_free(&out, &err);

    char *three[] = {"sh", "-c", "exit 3", NULL};
    uint64_t w0 = real_ns();
    assert_int_equal(run(three, NULL, &out, &err, &oc), HONE_OK);
    uint64_t w1 = real_ns();
    assert_outcome(oc, HONE_RUN_EXITED, 3);
    if (oc.start_wall_ns < w0 || oc.start_wall_ns > w1)
        fail_msg("start_wall_ns %llu outside the call [%llu, %llu]",
                 (unsigned long long)oc.start_wall_ns, (unsigned long long)w0,
                 (unsigned long long)w1);
    if (oc.duration_ns == 0 || oc.duration_ns > w1 - w0 + 50 * MS)
        fail_msg("duration_ns %llu, the call took %llu", (unsigned long long)oc.duration_ns,
                 (unsigned long long)(w1 - w0));
    assert_int_equal(out.len, 0);
    assert_int_equal(err.len, 0);
    bufs_free(&out, &err);

    /* A timeout too large to add to the clock is no limit, not one in
     * the past. */
    hone_run_exec_opts forever = {.timeout_ns = UINT64_MAX, .kill_grace_ns = UINT64_MAX};
    assert_int_equal(run(three, &forever, &out, &err, &oc), HONE_OK);
    assert_outcome(oc, HONE_RUN_EXITED, 3);
    bufs_free(&out, &err);

    /* stdin is /dev/null: cat ends at once instead of waiting for input. */
    char *cat[] = {"cat", NULL};
    assert_int_equal(run(cat, NULL, &out, &err, &oc), HONE_OK);
    assert_outcome(oc, HONE_RUN_EXITED, 0);
    assert_int_equal(out.len, 0);
    bufs_free(&out, &err);
}

static void invalid(void **state) {
    (void)state;
    hone_run_outcome oc;
    char *empty[] = {NULL};
    char *t[] = {"true", NULL};
    assert_int_equal(hone_run_exec(NULL, NULL, NULL, NULL, &oc), HONE_EINVAL);
    assert_int_equal(hone_run_exec(empty, NULL, NULL, NULL, &oc), HONE_EINVAL);
    assert_int_equal(hone_run_exec(t, NULL, NULL, NULL, NULL), HONE_EINVAL);
}

static void streams(void **state) {
    (void)state;
    hone_buf out, err;
    hone_run_outcome oc;
    /* Interleaved writes, NUL bytes, no trailing newline. */
    char *sh[] = {"sh", "-c",
                  "printf 'o1\\000'; printf 'e1\\000x' >&2; printf 'o2'; printf '\\000e2' >&2",
                  NULL};
    assert_int_equal(run(sh, NULL, &out, &err, &oc), HONE_OK);
    assert_outcome(oc, HONE_RUN_EXITED, 0);
    assert_bytes(&out, "o1\0o2", 5, "stdout");
    assert_bytes(&err, "e1\0x\0e2", 7, "stderr");
    assert_int_equal(out.data[out.len], '\0');
    bufs_free(&out, &err);

    /* Either buffer may be NULL: that stream is dropped. */
    char *both[] = {"sh", "-c", "echo to-out; echo to-err >&2", NULL};
    hone_buf_init(&err, NULL);
    assert_int_equal(hone_run_exec(both, NULL, NULL, &err, &oc), HONE_OK);
    assert_outcome(oc, HONE_RUN_EXITED, 0);
    assert_str(&err, "to-err\n", "stderr with stdout dropped");
    hone_buf_free(&err);
    hone_buf_init(&out, NULL);
    assert_int_equal(hone_run_exec(both, NULL, &out, NULL, &oc), HONE_OK);
    assert_str(&out, "to-out\n", "stdout with stderr dropped");
    hone_buf_free(&out);
    assert_int_equal(hone_run_exec(both, NULL, NULL, NULL, &oc), HONE_OK);
    assert_outcome(oc, HONE_RUN_EXITED, 0);

    /* The buffers are cleared first. */
    char *echo[] = {"echo", "new", NULL};
    hone_buf_init(&out, NULL);
    hone_buf_init(&err, NULL);
    hone_buf_puts(&out, "old");
    hone_buf_puts(&err, "old");
    assert_int_equal(hone_run_exec(echo, NULL, &out, &err, &oc), HONE_OK);
    assert_str(&out, "new\n", "stdout after an earlier content");
    assert_str(&err, "", "stderr after an earlier content");
    bufs_free(&out, &err);
}

static int all_bytes(const hone_buf *b, char c) {
    for (size_t i = 0; i < b->len; i++)
        if (b->data[i] != c) return 0;
    return 1;
}

static void large_output(void **state) {
    (void)state;
    hone_buf out, err;
    hone_run_outcome oc;
    char *head[] = {"head", "-c", "3000000", "/dev/zero", NULL};
    assert_int_equal(run(head, NULL, &out, &err, &oc), HONE_OK);
    assert_outcome(oc, HONE_RUN_EXITED, 0);
    assert_int_equal(out.len, 3000000);
    assert_true(all_bytes(&out, '\0'));
    assert_int_equal(oc.truncated, 0);
    bufs_free(&out, &err);

    /* Both streams large at once: a reader that finished one pipe before
     * the other would deadlock with the child blocked on a full pipe. */
    char *two[] = {"sh", "-c",
                   "head -c 2000000 /dev/zero | tr '\\0' e >&2 & "
                   "head -c 3000000 /dev/zero | tr '\\0' o; wait",
                   NULL};
    assert_int_equal(run(two, NULL, &out, &err, &oc), HONE_OK);
    assert_outcome(oc, HONE_RUN_EXITED, 0);
    assert_int_equal(out.len, 3000000);
    assert_int_equal(err.len, 2000000);
    assert_true(all_bytes(&out, 'o'));
    assert_true(all_bytes(&err, 'e'));
    bufs_free(&out, &err);
}

static void argv_unchanged(void **state) {
    (void)state;
    char dir[256];
    assert_int_equal(hone_test_tmpdir(dir, sizeof dir, "runexec"), 0);
    char f1[300], f2[300], f3[300], w1[320], w2[320], w3[320];
    snprintf(f1, sizeof f1, "%s/semi", dir);
    snprintf(f2, sizeof f2, "%s/subst", dir);
    snprintf(f3, sizeof f3, "%s/back", dir);
    snprintf(w1, sizeof w1, "; touch %s", f1);
    snprintf(w2, sizeof w2, "$(touch %s)", f2);
    snprintf(w3, sizeof w3, "`touch %s`", f3);
    char *words[] = {"a b",  "'single'", "\"double\"", w1,   w2,       w3,   "line1\nline2",
                     "-n",   "--",       "-e",         "*",  "",       "$HOME", "a\\tb",
                     "| cat", "> x",     "&& false",   "{}", "~root", "%s %d", NULL};
    char *argv[32];
    int n = 0;
    argv[n++] = "printf";
    argv[n++] = "%s\\n";
    for (int i = 0; words[i]; i++) argv[n++] = words[i];
    argv[n] = NULL;
    hone_buf want;
    hone_buf_init(&want, NULL);
    for (int i = 0; words[i]; i++) hone_buf_printf(&want, "%s\n", words[i]);

    hone_buf out, err;
    hone_run_outcome oc;
    assert_int_equal(run(argv, NULL, &out, &err, &oc), HONE_OK);
    assert_outcome(oc, HONE_RUN_EXITED, 0);
    assert_bytes(&out, want.data, want.len, "printf of the words");
    assert_str(&err, "", "stderr");
    struct stat st;
    if (stat(f1, &st) == 0 || stat(f2, &st) == 0 || stat(f3, &st) == 0)
        fail_msg("a word was run by a shell: %s, %s or %s exists", f1, f2, f3);
    bufs_free(&out, &err);

    /* A word with a leading dash is an argument, not an option of hone's. */
    char *dash[] = {"echo", "-x", "--help", NULL};
    assert_int_equal(run(dash, NULL, &out, &err, &oc), HONE_OK);
    assert_str(&out, "-x --help\n", "echo with dashes");
    bufs_free(&out, &err);
    hone_buf_free(&want);
    hone_test_rmtree(dir);
}

static void not_found(void **state) {
    (void)state;
    hone_buf out, err;
    hone_run_outcome oc;
    char *nf[] = {"hone-no-such-command-xyz", "arg", NULL};
    assert_int_equal(run(nf, NULL, &out, &err, &oc), HONE_OK);
    assert_outcome(oc, HONE_RUN_NOSTART, 127);
    assert_str(&err, "hone run: hone-no-such-command-xyz: command not found\n", "err");
    assert_str(&out, "", "out");
    bufs_free(&out, &err);

    char *path[] = {"/nonexistent-hone-dir/cmd", NULL};
    assert_int_equal(run(path, NULL, &out, &err, &oc), HONE_OK);
    assert_outcome(oc, HONE_RUN_NOSTART, 127);
    assert_str(&err, "hone run: /nonexistent-hone-dir/cmd: command not found\n", "err");
    bufs_free(&out, &err);

    char *emptyname[] = {"", NULL};
    assert_int_equal(run(emptyname, NULL, &out, &err, &oc), HONE_OK);
    assert_outcome(oc, HONE_RUN_NOSTART, 127);
    bufs_free(&out, &err);

    /* err NULL: the outcome alone says it. */
    assert_int_equal(hone_run_exec(nf, NULL, NULL, NULL, &oc), HONE_OK);
    assert_outcome(oc, HONE_RUN_NOSTART, 127);
}

static void not_executable(void **state) {
    (void)state;
    char dir[256], file[300];
    assert_int_equal(hone_test_tmpdir(dir, sizeof dir, "runexec"), 0);
    snprintf(file, sizeof file, "%s/script", dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs("#!/bin/sh\necho ran\n", f);
    fclose(f);
    assert_int_equal(chmod(file, 0644), 0);

    hone_buf out, err, want;
    hone_run_outcome oc;
    char *argv[] = {file, NULL};
    assert_int_equal(run(argv, NULL, &out, &err, &oc), HONE_OK);
    assert_outcome(oc, HONE_RUN_NOSTART, 126);
    hone_buf_init(&want, NULL);
    hone_buf_printf(&want, "hone run: %s: permission denied\n", file);
    assert_str(&err, want.data, "err");
    assert_str(&out, "", "out");
    bufs_free(&out, &err);

    /* A directory cannot be executed either. */
    char *d[] = {dir, NULL};
    assert_int_equal(run(d, NULL, &out, &err, &oc), HONE_OK);
    assert_outcome(oc, HONE_RUN_NOSTART, 126);
    bufs_free(&out, &err);

    /* Made executable, the same file runs. */
    assert_int_equal(chmod(file, 0755), 0);
    assert_int_equal(run(argv, NULL, &out, &err, &oc), HONE_OK);
    assert_outcome(oc, HONE_RUN_EXITED, 0);
    assert_str(&out, "ran\n", "out");
    bufs_free(&out, &err);
    hone_buf_free(&want);
    hone_test_rmtree(dir);
}

static void timeout(void **state) {
    (void)state;
    hone_buf out, err;
    hone_run_outcome oc;
    char *argv[] = {"sleep", "30", NULL};
    hone_run_exec_opts o = {.timeout_ns = 200 * MS};
    uint64_t t0 = hone_monotonic_ns();
    assert_int_equal(run(argv, &o, &out, &err, &oc), HONE_OK);
    uint64_t took = hone_monotonic_ns() - t0;
    assert_outcome(oc, HONE_RUN_TIMEDOUT, SIGTERM);
    if (took > 10000 * MS) fail_msg("a 200 ms timeout took %llu ms", (unsigned long long)(took / MS));
    if (oc.duration_ns < o.timeout_ns)
        fail_msg("duration %llu ns is below the timeout", (unsigned long long)oc.duration_ns);
    bufs_free(&out, &err);

    /* Output written before the timeout is kept. */
    char *sh[] = {"sh", "-c", "echo before; exec sleep 30", NULL};
    for (uint64_t to = 200 * MS;; to *= 2) {
        o.timeout_ns = to;
        assert_int_equal(run(sh, &o, &out, &err, &oc), HONE_OK);
        assert_int_equal(oc.end, HONE_RUN_TIMEDOUT);
        /* Only if the shell had not even echoed within the timeout is
         * the output empty: try again with a longer one. */
        if (out.len || to >= 3200 * MS) break;
        bufs_free(&out, &err);
    }
    assert_str(&out, "before\n", "stdout before the timeout");
    bufs_free(&out, &err);
}

/* A shell that ignores TERM is killed with KILL after the grace. */
static void timeout_kill(void **state) {
    (void)state;
    hone_buf out, err;
    hone_run_outcome oc;
    char *argv[] = {"sh", "-c", "trap '' TERM; echo ready; sleep 30; echo survived", NULL};
    hone_run_exec_opts o = {.kill_grace_ns = 100 * MS};
    /* The timeout must fall after the trap is set, which a shell does in
     * a millisecond or so; if it did not, the shell died of the TERM and
     * the run is tried again with a longer timeout. */
    for (uint64_t to = 200 * MS;; to *= 2) {
        o.timeout_ns = to;
        uint64_t t0 = hone_monotonic_ns();
        assert_int_equal(run(argv, &o, &out, &err, &oc), HONE_OK);
        uint64_t took = hone_monotonic_ns() - t0;
        if (took > 10000 * MS) fail_msg("took %llu ms", (unsigned long long)(took / MS));
        assert_int_equal(oc.end, HONE_RUN_TIMEDOUT);
        if (oc.status == SIGKILL || to >= 3200 * MS) break;
        bufs_free(&out, &err);
    }
    assert_outcome(oc, HONE_RUN_TIMEDOUT, SIGKILL);
    assert_str(&out, "ready\n", "stdout");
    if (oc.duration_ns < o.timeout_ns + o.kill_grace_ns)
        fail_msg("killed after %llu ns, before timeout + grace", (unsigned long long)oc.duration_ns);
    bufs_free(&out, &err);
}

/* A grandchild started in the background is killed with the group, even
 * when the shell itself has already exited and only the grandchild holds
 * the output open. */
static void grandchild(void **state) {
    (void)state;
    hone_buf out, err;
    hone_run_outcome oc;
    char *waits[] = {"sh", "-c", "sleep 30 & echo $!; wait", NULL};
    char *leaves[] = {"sh", "-c", "sleep 30 & echo $!", NULL};
    char *const *cases[] = {waits, leaves};
    for (int c = 0; c < 2; c++) {
        hone_run_exec_opts o = {.kill_grace_ns = 100 * MS};
        for (uint64_t to = 200 * MS;; to *= 2) {
            o.timeout_ns = to;
            uint64_t t0 = hone_monotonic_ns();
            assert_int_equal(run(cases[c], &o, &out, &err, &oc), HONE_OK);
            uint64_t took = hone_monotonic_ns() - t0;
            if (took > 10000 * MS) fail_msg("case %d took %llu ms", c, (unsigned long long)(took / MS));
            assert_outcome(oc, HONE_RUN_TIMEDOUT, SIGTERM);
            if (out.len || to >= 3200 * MS) break;
            bufs_free(&out, &err);
        }
        long pid = strtol(out.data ? out.data : "", NULL, 10);
        if (pid <= 1) fail_msg("case %d: no pid in \"%s\"", c, out.data ? out.data : "");
        if (!pid_gone((pid_t)pid)) {
            kill((pid_t)pid, SIGKILL);
            fail_msg("case %d: the grandchild %ld still runs", c, pid);
        }
        bufs_free(&out, &err);
    }
}

/* A grandchild that left the group (setsid) and holds the output open
 * does not keep the job from ending after the kill. */
static void escaped_grandchild(void **state) {
    (void)state;
    hone_buf out, err;
    hone_run_outcome oc;
    char *argv[] = {"sh", "-c", "setsid sh -c 'echo $$; exec sleep 30' & wait", NULL};
    hone_run_exec_opts o = {.kill_grace_ns = 100 * MS};
    for (uint64_t to = 200 * MS;; to *= 2) {
        o.timeout_ns = to;
        uint64_t t0 = hone_monotonic_ns();
        assert_int_equal(run(argv, &o, &out, &err, &oc), HONE_OK);
        uint64_t took = hone_monotonic_ns() - t0;
        if (took > 10000 * MS) fail_msg("took %llu ms", (unsigned long long)(took / MS));
        assert_int_equal(oc.end, HONE_RUN_TIMEDOUT);
        if (out.len || to >= 3200 * MS) break;
        bufs_free(&out, &err);
    }
    long pid = strtol(out.data ? out.data : "", NULL, 10);
    if (pid <= 1) fail_msg("no pid in \"%s\"", out.data ? out.data : "");
    kill((pid_t)pid, SIGKILL);
    bufs_free(&out, &err);
}

/* stop_fd: another thread writes to a pipe once the child is running. */
typedef struct stopper {
    const char *fifo;
    int stop_w;
    int saw_ready;
} stopper;

static void *stopper_main(void *arg) {
    stopper *s = arg;
    /* Opening the FIFO waits for the child to open its end: it is then
     * running (and past any trap it sets). */
    int fd = open(s->fifo, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        char c;
        s->saw_ready = read(fd, &c, 1) == 1;
        close(fd);
    }
    ssize_t w = write(s->stop_w, "x", 1);
    (void)w;
    return NULL;
}

static void stop_case(const char *script, int want_sig) {
    char dir[256], fifo[300], cmd[600];
    assert_int_equal(hone_test_tmpdir(dir, sizeof dir, "runexec"), 0);
    snprintf(fifo, sizeof fifo, "%s/ready", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    snprintf(cmd, sizeof cmd, script, fifo);
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    stopper s = {fifo, p[1], 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stopper_main, &s), 0);
    hone_buf out, err;
    hone_run_outcome oc;
    char *argv[] = {"sh", "-c", cmd, NULL};
    hone_run_exec_opts o = {.stop_fd = p[0], .kill_grace_ns = 100 * MS};
    uint64_t t0 = hone_monotonic_ns();
    assert_int_equal(run(argv, &o, &out, &err, &oc), HONE_OK);
    uint64_t took = hone_monotonic_ns() - t0;
    pthread_join(th, NULL);
    assert_true(s.saw_ready);
    assert_outcome(oc, HONE_RUN_KILLED, want_sig);
    if (took > 10000 * MS) fail_msg("a stop took %llu ms", (unsigned long long)(took / MS));
    assert_str(&out, "started\n", "stdout");
    bufs_free(&out, &err);
    close(p[0]);
    close(p[1]);
    hone_test_rmtree(dir);
}

static void stop_fd(void **state) {
    (void)state;
    stop_case("echo started; echo > %s; sleep 30", SIGTERM);
    stop_case("trap '' TERM; echo started; echo > %s; sleep 30", SIGKILL);
}

static void signaled(void **state) {
    (void)state;
    hone_buf out, err;
    hone_run_outcome oc;
    char *argv[] = {"sh", "-c", "echo partial; kill -USR1 $$", NULL};
    assert_int_equal(run(argv, NULL, &out, &err, &oc), HONE_OK);
    assert_outcome(oc, HONE_RUN_SIGNALED, SIGUSR1);
    assert_str(&out, "partial\n", "stdout");
    bufs_free(&out, &err);
}

static void truncation(void **state) {
    (void)state;
    hone_buf out, err;
    hone_run_outcome oc;
    char *argv[] = {"sh", "-c", "head -c 200000 /dev/zero | tr '\\0' a; echo short >&2", NULL};
    hone_run_exec_opts o = {.max_output = 1000};
    assert_int_equal(run(argv, &o, &out, &err, &oc), HONE_OK);
    /* The rest was read and dropped: the writer was never blocked. */
    assert_outcome(oc, HONE_RUN_EXITED, 0);
    assert_int_equal(oc.truncated, 1);
    assert_int_equal(out.len, 1000);
    assert_true(all_bytes(&out, 'a'));
    assert_str(&err, "short\n", "stderr under its own limit");
    bufs_free(&out, &err);

    /* Exactly the limit is not truncated. */
    char *exact[] = {"printf", "abc", NULL};
    o.max_output = 3;
    assert_int_equal(run(exact, &o, &out, &err, &oc), HONE_OK);
    assert_int_equal(oc.truncated, 0);
    assert_str(&out, "abc", "stdout at the limit");
    bufs_free(&out, &err);

    char *err4[] = {"sh", "-c", "printf abcd >&2", NULL};
    assert_int_equal(run(err4, &o, &out, &err, &oc), HONE_OK);
    assert_int_equal(oc.truncated, 1);
    assert_str(&err, "abc", "stderr past the limit");
    bufs_free(&out, &err);
}

/* "0\n1\n2\n" plus, in ls's order, each descriptor above 2 that this
 * process holds without FD_CLOEXEC: those were left inheritable by
 * whoever started the test (a harness, a shell), and an exec passes them
 * on whatever hone does. What hone itself opens must never appear. */
static void inheritable_fds(hone_buf *want) {
    int fds[256], n = 0;
    for (int fd = 3; fd < 1024 && n < 256; fd++) {
        int fl = fcntl(fd, F_GETFD);
        if (fl >= 0 && !(fl & FD_CLOEXEC)) fds[n++] = fd;
    }
    /* ls sorts names as strings. */
    const char *names[260];
    char store[260][16];
    int m = 0;
    for (int i = 0; i < 3; i++) {
        snprintf(store[m], sizeof store[m], "%d", i);
        names[m] = store[m];
        m++;
    }
    for (int i = 0; i < n; i++) {
        snprintf(store[m], sizeof store[m], "%d", fds[i]);
        names[m] = store[m];
        m++;
    }
    for (int i = 1; i < m; i++)
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            const char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    for (int i = 0; i < m; i++) hone_buf_printf(want, "%s\n", names[i]);
}

static void descriptors(void **state) {
    (void)state;
    /* hone's descriptors are close-on-exec; so is this one. The child's
     * list must not show it, nor the pipes of hone_run_exec. */
    int extra = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(extra > 2);
    hone_buf out, err, want;
    hone_buf_init(&want, NULL);
    inheritable_fds(&want);
    hone_run_outcome oc;
    char *argv[] = {"sh", "-c", "ls /proc/$$/fd", NULL};
    assert_int_equal(run(argv, NULL, &out, &err, &oc), HONE_OK);
    assert_outcome(oc, HONE_RUN_EXITED, 0);
    assert_str(&out, want.data, "the child's descriptors");
    bufs_free(&out, &err);
    hone_buf_free(&want);

    /* 0 is /dev/null, 1 and 2 are pipes. */
    char *links[] = {"sh", "-c",
                     "readlink /proc/$$/fd/0; readlink /proc/$$/fd/1 | cut -c1-5; "
                     "readlink /proc/$$/fd/2 | cut -c1-5 >&2",
                     NULL};
    assert_int_equal(run(links, NULL, &out, &err, &oc), HONE_OK);
    assert_str(&out, "/dev/null\npipe:\n", "the child's stdin and stdout");
    assert_str(&err, "pipe:\n", "the child's stderr");
    bufs_free(&out, &err);
    close(extra);
}

static void signal_state(void **state) {
    (void)state;
    /* A caller that blocks signals and ignores SIGPIPE does not pass
     * either on. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGUSR1);
    assert_int_equal(pthread_sigmask(SIG_BLOCK, &block, &old), 0);
    struct sigaction ign, oldpipe;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    assert_int_equal(sigaction(SIGPIPE, &ign, &oldpipe), 0);
    hone_buf out, err;
    hone_run_outcome oc;
    /* grep reads its own status: no shell between, whose mask changes
     * while it forks. */
    char *argv[] = {"grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status", NULL};
    int rc = run(argv, NULL, &out, &err, &oc);
    sigaction(SIGPIPE, &oldpipe, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    assert_int_equal(rc, HONE_OK);
    unsigned long long blk = 1, igns = 1;
    if (!out.data || sscanf(out.data, "SigBlk: %llx SigIgn: %llx", &blk, &igns) != 2)
        fail_msg("unexpected status lines \"%s\"", out.data ? out.data : "");
    /* glibc's posix_spawn leaves its two internal signals (32 and 33:
     * thread cancellation and setxid) ignored across the exec; a glibc
     * program installs its own handlers for them at start. Every signal a
     * program can name is at its default. */
    igns &= ~((1ull << 31) | (1ull << 32));
    if (blk != 0 || igns != 0) fail_msg("child blocks %llx, ignores %llx", blk, igns);
    bufs_free(&out, &err);

    /* So `yes | head -1` ends: yes dies of SIGPIPE. */
    char *pipeline[] = {"sh", "-c", "yes | head -n 1", NULL};
    assert_int_equal(sigaction(SIGPIPE, &ign, &oldpipe), 0);
    rc = run(pipeline, NULL, &out, &err, &oc);
    sigaction(SIGPIPE, &oldpipe, NULL);
    assert_int_equal(rc, HONE_OK);
    assert_outcome(oc, HONE_RUN_EXITED, 0);
    assert_str(&out, "y\n", "yes | head");
    assert_str(&err, "", "stderr of yes | head");
    bufs_free(&out, &err);
}

static void environment(void **state) {
    (void)state;
    char *envp[] = {"RUNTEST_A=1", "RUNTEST_B=two words", NULL};
    hone_run_exec_opts o = {.envp = envp};
    hone_buf out, err;
    hone_run_outcome oc;
    char *argv[] = {"env", NULL};
    assert_int_equal(run(argv, &o, &out, &err, &oc), HONE_OK);
    assert_outcome(oc, HONE_RUN_EXITED, 0);
    assert_str(&out, "RUNTEST_A=1\nRUNTEST_B=two words\n", "env");
    bufs_free(&out, &err);

    char *empty[] = {NULL};
    o.envp = empty;
    assert_int_equal(run(argv, &o, &out, &err, &oc), HONE_OK);
    assert_str(&out, "", "env with an empty environment");
    bufs_free(&out, &err);
}

/* ------------------------------------------------------------------ */
/* Many threads at once                                                */
/* ------------------------------------------------------------------ */

#define NTHREADS 8
#define PER_THREAD 50

typedef struct worker {
    int id;
    int bad;
    char msg[256];
} worker;

static void *worker_main(void *arg) {
    worker *w = arg;
    for (int i = 0; i < PER_THREAD && !w->bad; i++) {
        char o[64], e[64];
        snprintf(o, sizeof o, "out-%d-%d", w->id, i);
        snprintf(e, sizeof e, "err-%d-%d", w->id, i);
        char *argv[] = {"sh", "-c", "printf %s \"$1\"; printf %s \"$2\" >&2; exit $3", "sh",
                        o, e, (char *)(i % 2 ? "1" : "0"), NULL};
        hone_buf out, err;
        hone_run_outcome oc;
        int rc = run(argv, NULL, &out, &err, &oc);
        if (rc != HONE_OK || oc.end != HONE_RUN_EXITED || oc.status != i % 2 ||
            out.len != strlen(o) || memcmp(out.data, o, out.len) || err.len != strlen(e) ||
            memcmp(err.data, e, err.len)) {
            w->bad = 1;
            snprintf(w->msg, sizeof w->msg, "thread %d cmd %d: rc %d end %d status %d out \"%s\" err \"%s\"",
                     w->id, i, rc, oc.end, oc.status, out.data ? out.data : "",
                     err.data ? err.data : "");
        }
        bufs_free(&out, &err);
    }
    return NULL;
}

static void threads(void **state) {
    (void)state;
    pthread_t th[NTHREADS];
    worker w[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        w[i] = (worker){.id = i};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < NTHREADS; i++)
        if (w[i].bad) fail_msg("%s", w[i].msg);
    /* Every child was reaped: this process has none left. */
    int st;
    pid_t p = waitpid(-1, &st, WNOHANG);
    if (p != -1 || errno != ECHILD) fail_msg("waitpid(-1) gave %d, expected no child", (int)p);
}

/* ------------------------------------------------------------------ */
/* Out of memory                                                       */
/* ------------------------------------------------------------------ */

static int oom_run(const hone_allocator *a, void *ctx) {
    (void)ctx;
    hone_buf out, err;
    hone_buf_init(&out, a);
    hone_buf_init(&err, a);
    hone_run_outcome oc;
    char *argv[] = {"sh", "-c", "head -c 100000 /dev/zero; printf err >&2", NULL};
    int rc = hone_run_exec(argv, NULL, &out, &err, &oc);
    if (rc == HONE_OK && (oc.end != HONE_RUN_EXITED || out.len != 100000 || err.len != 3))
        rc = HONE_EFAIL;
    if (rc == HONE_OK) {
        /* A command that cannot start: its message is allocated too. */
        char *nf[] = {"hone-no-such-command-xyz", NULL};
        rc = hone_run_exec(nf, NULL, &out, &err, &oc);
        if (rc == HONE_OK && (oc.end != HONE_RUN_NOSTART || err.len == 0)) rc = HONE_EFAIL;
    }
    if (rc == HONE_OK) {
        /* A timeout while output arrives. */
        char *to[] = {"sh", "-c", "echo x; exec sleep 30", NULL};
        hone_run_exec_opts o = {.timeout_ns = 50 * MS, .kill_grace_ns = 50 * MS};
        rc = hone_run_exec(to, &o, &out, &err, &oc);
        if (rc == HONE_OK && oc.end != HONE_RUN_TIMEDOUT) rc = HONE_EFAIL;
    }
    bufs_free(&out, &err);
    return rc;
}

static void oom(void **state) {
    (void)state;
    assert_true(failalloc_loop("hone_run_exec", oom_run, NULL) >= 3);
    int st;
    pid_t p = waitpid(-1, &st, WNOHANG);
    if (p != -1 || errno != ECHILD) fail_msg("waitpid(-1) gave %d, expected no child", (int)p);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(exit_codes),    cmocka_unit_test(invalid),
        cmocka_unit_test(streams),       cmocka_unit_test(large_output),
        cmocka_unit_test(argv_unchanged), cmocka_unit_test(not_found),
        cmocka_unit_test(not_executable), cmocka_unit_test(timeout),
        cmocka_unit_test(timeout_kill),  cmocka_unit_test(grandchild),
        cmocka_unit_test(escaped_grandchild), cmocka_unit_test(stop_fd),
        cmocka_unit_test(signaled),      cmocka_unit_test(truncation),
        cmocka_unit_test(descriptors),   cmocka_unit_test(signal_state),
        cmocka_unit_test(environment),   cmocka_unit_test(threads),
        cmocka_unit_test(oom),
};

HONE_TEST_MAIN(tests)
