/* exec.c - running commands for `hone bench`: shell-like word splitting
 * without a shell, PATH lookup that reports a missing command before any
 * run, and one measured run with posix_spawn and wait4. */
#include "hone/bench.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

void hone_bench_argv_free(char **argv, const hone_allocator *a) {
    if (!argv) return;
    for (char **p = argv; *p; p++) hone_free(a, *p);
    hone_free(a, argv);
}

/* Appends the finished word in *w to the argv being built. */
static int push_word(char ***argv, int *argc, size_t *cap, hone_buf *w, const hone_allocator *a) {
    if ((size_t)*argc + 2 > *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        char **na = hone_realloc(a, *argv, nc * sizeof *na);
        if (!na) return HONE_ENOMEM;
        *argv = na;
        *cap = nc;
        /* Keep the array NULL-terminated at every moment, so that a failure
         * below leaves something hone_bench_argv_free can walk. */
        na[*argc] = NULL;
    }
    char *s = hone_strndup(a, w->data ? w->data : "", w->len);
    if (!s) return HONE_ENOMEM;
    (*argv)[(*argc)++] = s;
    (*argv)[*argc] = NULL;
    hone_buf_clear(w);
    return HONE_OK;
}

int hone_bench_split(const char *cmdline, char ***argv_out, int *argc_out,
                     const hone_allocator *a, hone_error *err) {
    if (argv_out) *argv_out = NULL;
    if (!cmdline || !argv_out || !argc_out) return HONE_EINVAL;
    char **argv = NULL;
    int argc = 0, rc = HONE_OK;
    size_t cap = 0;
    hone_buf w;
    hone_buf_init(&w, a);
    /* in_word distinguishes "no word yet" from an empty quoted word ('' is
     * an argument of its own). */
    int in_word = 0;
    const char *p = cmdline;
    while (*p && rc == HONE_OK) {
        char ch = *p;
        if (ch == ' ' || ch == '\t' || ch == '\n') {
            if (in_word) rc = push_word(&argv, &argc, &cap, &w, a);
            in_word = 0;
            p++;
        } else if (ch == '\'') {
            const char *end = strchr(p + 1, '\'');
            if (!end) {
                rc = hone_error_set(err, HONE_EPARSE,
                                    "command '%s': unterminated single quote at column %zu",
                                    cmdline, (size_t)(p - cmdline) + 1);
                break;
            }
            rc = hone_buf_append(&w, p + 1, (size_t)(end - p - 1));
            in_word = 1;
            p = end + 1;
        } else if (ch == '"') {
            const char *start = p;
            p++;
            in_word = 1;
            while (*p && *p != '"' && rc == HONE_OK) {
                if (*p == '\\' && p[1] && strchr("$`\"\\\n", p[1])) {
                    if (p[1] != '\n') rc = hone_buf_append(&w, p + 1, 1);
                    p += 2;
                } else {
                    rc = hone_buf_append(&w, p++, 1);
                }
            }
            if (rc) break;
            if (*p != '"') {
                rc = hone_error_set(err, HONE_EPARSE,
                                    "command '%s': unterminated double quote at column %zu",
                                    cmdline, (size_t)(start - cmdline) + 1);
                break;
            }
            p++;
        } else if (ch == '\\') {
            if (!p[1]) {
                rc = hone_error_set(err, HONE_EPARSE,
                                    "command '%s': trailing backslash at column %zu", cmdline,
                                    (size_t)(p - cmdline) + 1);
                break;
            }
            /* Backslash-newline is a line continuation, as in the shell. */
            if (p[1] != '\n') {
                rc = hone_buf_append(&w, p + 1, 1);
                in_word = 1;
            }
            p += 2;
        } else {
            rc = hone_buf_append(&w, p++, 1);
            in_word = 1;
        }
    }
    if (rc == HONE_OK && in_word) rc = push_word(&argv, &argc, &cap, &w, a);
    if (rc == HONE_OK && argc == 0)
        rc = hone_error_set(err, HONE_EPARSE, "command '%s' is empty: expected a program name",
                            cmdline);
    hone_buf_free(&w);
    if (rc != HONE_OK) {
        if (rc == HONE_ENOMEM) hone_error_set(err, rc, "out of memory");
        hone_bench_argv_free(argv, a);
        return rc;
    }
    *argv_out = argv;
    *argc_out = argc;
    return HONE_OK;
}

/* 0 if path is an executable regular file, else the status that says why
 * not. */
static int check_exec(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return errno == EACCES ? HONE_EACCES : HONE_ENOTFOUND;
    if (!S_ISREG(st.st_mode)) return HONE_EACCES;
    if (access(path, X_OK) != 0) return HONE_EACCES;
    return HONE_OK;
}

int hone_bench_which(const char *name, const char *path_env, char **out, const hone_allocator *a,
                     hone_error *err) {
    if (out) *out = NULL;
    if (!name || !out || !*name) return hone_error_set(err, HONE_EINVAL, "empty command name");
    if (strchr(name, '/')) {
        int rc = check_exec(name);
        if (rc == HONE_ENOTFOUND)
            return hone_error_set(err, rc, "command '%s' not found: no such file", name);
        if (rc == HONE_EACCES)
            return hone_error_set(err, rc, "command '%s' is not executable", name);
        *out = hone_strdup(a, name);
        return *out ? HONE_OK : hone_error_set(err, HONE_ENOMEM, "out of memory");
    }
    if (!path_env) path_env = getenv("PATH");
    if (!path_env) path_env = "/bin:/usr/bin";
    hone_buf b;
    hone_buf_init(&b, a);
    int seen_noexec = 0;
    const char *p = path_env;
    for (;;) {
        const char *colon = strchr(p, ':');
        size_t dl = colon ? (size_t)(colon - p) : strlen(p);
        hone_buf_clear(&b);
        /* An empty PATH entry means the current directory. */
        int rc = dl ? hone_buf_append(&b, p, dl) : hone_buf_puts(&b, ".");
        if (!rc) rc = hone_buf_printf(&b, "/%s", name);
        if (rc) {
            hone_buf_free(&b);
            return hone_error_set(err, HONE_ENOMEM, "out of memory");
        }
        rc = check_exec(b.data);
        if (rc == HONE_OK) {
            *out = hone_strdup(a, b.data);
            hone_buf_free(&b);
            return *out ? HONE_OK : hone_error_set(err, HONE_ENOMEM, "out of memory");
        }
        if (rc == HONE_EACCES) seen_noexec = 1;
        if (!colon) break;
        p = colon + 1;
    }
    hone_buf_free(&b);
    if (seen_noexec)
        return hone_error_set(err, HONE_EACCES, "command '%s' found in PATH but not executable",
                              name);
    return hone_error_set(err, HONE_ENOTFOUND, "command '%s' not found in PATH", name);
}

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t tv_ns(struct timeval tv) {
    return (uint64_t)tv.tv_sec * 1000000000u + (uint64_t)tv.tv_usec * 1000u;
}

int hone_bench_exec(const char *path, char *const argv[], const hone_bench_exec_opts *o,
                    hone_bench_run *out) {
    if (!path || !argv || !argv[0] || !out) return HONE_EINVAL;
    hone_bench_exec_opts def;
    memset(&def, 0, sizeof def);
    if (!o) o = &def;
    int devnull = -1;
    if ((o->use_fds & 7u) != 7u) {
        devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (devnull < 0) return HONE_EIO;
    }
    int fds[3] = {(o->use_fds & HONE_BENCH_USE_STDIN) ? o->stdin_fd : devnull,
                  (o->use_fds & HONE_BENCH_USE_STDOUT) ? o->stdout_fd : devnull,
                  (o->use_fds & HONE_BENCH_USE_STDERR) ? o->stderr_fd : devnull};
    posix_spawn_file_actions_t fa;
    int rc = posix_spawn_file_actions_init(&fa);
    for (int i = 0; i < 3 && rc == 0; i++) rc = posix_spawn_file_actions_adddup2(&fa, fds[i], i);
    if (rc) {
        posix_spawn_file_actions_destroy(&fa);
        if (devnull >= 0) close(devnull);
        return hone_status_from_errno(rc);
    }
    pid_t pid;
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    uint64_t t0 = mono_ns();
    rc = posix_spawn(&pid, path, &fa, NULL, argv, o->envp ? o->envp : environ);
    if (rc == 0) {
        while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
        }
    }
    uint64_t t1 = mono_ns();
    /* Our own peak, read after the child ended: the child was charged our
     * peak at its exec, which this is at least. Read before the spawn, it
     * could miss what this process (or another of its threads) touched
     * until the exec, and a child charged that would look measured. */
    struct rusage self;
    if (getrusage(RUSAGE_SELF, &self)) memset(&self, 0, sizeof self);
    posix_spawn_file_actions_destroy(&fa);
    if (devnull >= 0) close(devnull);
    if (rc) return hone_status_from_errno(rc);
    hone_bench_run r;
    r.wall_ns = t1 - t0;
    r.user_ns = tv_ns(ru.ru_utime);
    r.sys_ns = tv_ns(ru.ru_stime);
    r.max_rss_bytes = (uint64_t)ru.ru_maxrss * 1024u; /* Linux reports KiB */
    r.max_rss_bounded = ru.ru_maxrss <= self.ru_maxrss;
    if (WIFSIGNALED(status)) {
        r.signal = WTERMSIG(status);
        r.exit_code = 128 + r.signal;
    } else {
        r.signal = 0;
        r.exit_code = WEXITSTATUS(status);
    }
    *out = r;
    return HONE_OK;
}
