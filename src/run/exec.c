/* exec.c - one command of a run (see hone_run_exec in hone/run.h): spawned
 * without a shell in a process group of its own, stdout and stderr read
 * whole through pipes, stopped at a timeout or on request with GNU
 * parallel's TERM-then-KILL sequence.
 *
 * Why a process group. A command is often a script that starts commands of
 * its own (`sh -c 'make && ./test'`), and a timeout must stop all of them,
 * not only the direct child: a grandchild left running keeps burning the
 * CPU that -j N meant for the next job and, worse, keeps our stdout pipe
 * open so that the job would never end. The child is made the leader of a
 * new group (POSIX_SPAWN_SETPGROUP, pgroup 0) before it execs, so one
 * kill(-pgid) reaches everything it started that did not leave the group
 * on purpose (setsid, setpgid). The leader is reaped last, after every
 * signal: an unreaped leader keeps its pid, which is the group's id, from
 * being given to another process, so kill(-pgid) cannot reach a stranger.
 * Its exit is observed without reaping it, through a pidfd (Linux 5.3) or,
 * where that is refused, through waitid(WNOWAIT) on a 10 ms tick.
 *
 * Why CLOEXEC pipes. hone_run_map runs -j N of these at once from N
 * threads. A pipe made without O_CLOEXEC by one thread would be inherited
 * by a child another thread spawns at that moment, and that child would
 * hold our write end open: our read would not see EOF until an unrelated
 * job ended. So every descriptor is made close-on-exec atomically
 * (pipe2(O_CLOEXEC), and hone's other descriptors are made the same way),
 * and the child gets its 1 and 2 through posix_spawn's dup2 file actions,
 * which clear the flag on the copies only. Closing everything else in the
 * child (closefrom) is not needed then, and would not be enough without
 * it, since the race is with the other threads' children.
 *
 * The child also gets an empty signal mask and the default action for
 * every signal (POSIX_SPAWN_SETSIGMASK, POSIX_SPAWN_SETSIGDEF): a caller
 * that blocks SIGTERM in its threads (to take it with sigwait or a
 * signalfd) or ignores SIGPIPE must not pass that on, or `head` in a
 * pipeline would not die of SIGPIPE and a timeout's SIGTERM would be held.
 * No handler is installed here and no global state is kept: any number of
 * threads may call this at once.
 *
 * The kill sequence. At the timeout (or when stop_fd becomes readable) the
 * group gets SIGTERM, which lets a command clean up; kill_grace_ns later,
 * if anything of the job is still pending (the leader has not exited, or a
 * pipe is still open) and the group still exists (kill(-pgid, 0)), it gets
 * SIGKILL. status is the last signal sent. Output is read all along, so a
 * command that writes on its way out is neither blocked on a full pipe nor
 * cut short. After the KILL, a pipe can stay open only in a process that
 * left the group; once the leader has exited we wait for EOF one more
 * grace period, then stop reading: a job ends in bounded time after its
 * timeout, whatever it started.
 *
 * Without a timeout or a stop, the job ends when the leader has exited and
 * both pipes reached EOF, as the shell's $(...) does: a background process
 * that keeps the output open is part of the job's output. */
#include "hone/run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hone/bench.h"

extern char **environ;

#define DEF_GRACE_NS 200000000ull          /* GNU parallel's first --termseq step */
#define DEF_MAX_OUTPUT ((size_t)1 << 30)   /* 1 GiB */
#define READ_CHUNK ((size_t)64 * 1024)     /* the default pipe capacity */
#define EXIT_TICK_NS 10000000ull           /* without a pidfd: how often waitid looks */

/* One output stream of the child: the read end of its pipe and where the
 * bytes go. */
typedef struct stream {
    int fd;      /* -1 once at EOF (or never made) */
    hone_buf *b; /* NULL: the stream went to /dev/null */
    size_t max;
    int truncated;
} stream;

static uint64_t wall_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void close_fd(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

/* The write end must not be 0, 1 or 2 for the dup2 file actions: if the
 * caller runs with stdout closed, pipe2 can hand out 1, dup2(1, 1) would
 * keep its close-on-exec flag on older C libraries, and a write end of 1
 * would be overwritten by the first dup2 before the second reads it. */
static int above_stdio(int *fd) {
    if (*fd > 2) return 0;
    int nfd = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
    if (nfd < 0) return -1;
    close(*fd);
    *fd = nfd;
    return 0;
}

/* Reads what is available from s. Returns HONE_OK or HONE_ENOMEM. The
 * kept bytes are read straight into the buffer's spare room; the dropped
 * ones into a small scratch array. */
static int drain(stream *s) {
    char scratch[4096];
    char *dst;
    size_t room;
    size_t kept = s->b ? s->b->len : 0;
    if (s->b && kept < s->max) {
        room = s->max - kept;
        if (room > READ_CHUNK) room = READ_CHUNK;
        if (hone_buf_reserve(s->b, room) != HONE_OK) return HONE_ENOMEM;
        dst = s->b->data + s->b->len;
    } else {
        room = sizeof scratch;
        dst = scratch;
    }
    ssize_t n = read(s->fd, dst, room);
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) return HONE_OK;
        close_fd(&s->fd); /* not expected from a pipe: taken as its end */
        return HONE_OK;
    }
    if (n == 0) {
        close_fd(&s->fd);
        return HONE_OK;
    }
    if (dst == scratch) {
        s->truncated = 1;
    } else {
        s->b->len += (size_t)n;
        s->b->data[s->b->len] = '\0';
    }
    return HONE_OK;
}

/* A pidfd for the child, or -1 where the kernel (or a seccomp filter)
 * refuses one. Compiling with HONE__RUN_NO_PIDFD tests the fallback. */
static int open_pidfd(pid_t pid) {
#if defined(SYS_pidfd_open) && !defined(HONE__RUN_NO_PIDFD)
    long fd = syscall(SYS_pidfd_open, pid, 0);
    return fd >= 0 ? (int)fd : -1;
#else
    (void)pid;
    return -1;
#endif
}

/* Nonzero once the child has exited, without reaping it. */
static int has_exited(pid_t pid) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int r;
    do r = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT);
    while (r < 0 && errno == EINTR);
    /* ECHILD: someone else reaped it (a waitpid(-1) elsewhere in the
     * process); there is nothing left to wait for. */
    if (r < 0) return 1;
    return si.si_pid != 0;
}

static void reap(pid_t pid, int *status) {
    while (waitpid(pid, status, 0) < 0) {
        if (errno != EINTR) {
            *status = 0;
            return;
        }
    }
}

/* The one line a command that could not start leaves in err. */
static int nostart(hone_buf *err, const char *cmd, int e, hone_run_outcome *oc) {
    const char *why;
    oc->end = HONE_RUN_NOSTART;
    oc->status = 126;
    switch (e) {
    case ENOENT:
    case ENOTDIR:
    case ELOOP:
    case ENAMETOOLONG:
        why = "command not found";
        oc->status = 127;
        break;
    case EACCES:
    case EPERM:
    case EISDIR:
        why = "permission denied";
        break;
    case ENOEXEC:
        why = "exec format error";
        break;
    case EAGAIN:
        why = "cannot fork: resource temporarily unavailable";
        break;
    case E2BIG:
        why = "argument list too long";
        break;
    default:
        why = "cannot execute";
        break;
    }
    if (!err) return HONE_OK;
    return hone_buf_printf(err, "hone run: %s: %s\n", cmd, why) ? HONE_ENOMEM : HONE_OK;
}

/* a + b, or UINT64_MAX where that would wrap (a timeout of "forever"). */
static uint64_t add_sat(uint64_t a, uint64_t b) { return b > UINT64_MAX - a ? UINT64_MAX : a + b; }

/* ns until t (rounded up to whole ms for poll), or -1 when t is 0 (none);
 * folded into *ms as the minimum. */
static void wait_until(int *ms, uint64_t now, uint64_t t) {
    if (!t) return;
    uint64_t left = t > now ? t - now : 0;
    uint64_t m = (left + 999999u) / 1000000u;
    if (m > 60000u) m = 60000u;
    if (*ms < 0 || (int)m < *ms) *ms = (int)m;
}

int hone_run_exec(char *const *argv, const hone_run_exec_opts *opts, hone_buf *out,
                  hone_buf *err, hone_run_outcome *oc) {
    if (!argv || !argv[0] || !oc) return HONE_EINVAL;
    hone_run_exec_opts def;
    memset(&def, 0, sizeof def);
    if (!opts) opts = &def;
    memset(oc, 0, sizeof *oc);
    if (out) hone_buf_clear(out);
    if (err) hone_buf_clear(err);
    const hone_allocator *a = out ? out->alloc : err ? err->alloc : NULL;
    uint64_t grace = opts->kill_grace_ns ? opts->kill_grace_ns : DEF_GRACE_NS;
    size_t max = opts->max_output ? opts->max_output : DEF_MAX_OUTPUT;

    /* The search is done here rather than by posix_spawnp so that a
     * missing command is told apart from every other failure without
     * relying on how the C library reports an exec failure. */
    char *path = NULL;
    int rc = argv[0][0] ? hone_bench_which(argv[0], NULL, &path, a, NULL) : HONE_ENOTFOUND;
    if (rc == HONE_ENOMEM || rc == HONE_EINVAL) return rc;
    if (rc != HONE_OK) {
        oc->start_wall_ns = wall_ns();
        return nostart(err, argv[0], rc == HONE_EACCES ? EACCES : ENOENT, oc);
    }

    stream st[2] = {{-1, out, max, 0}, {-1, err, max, 0}};
    int wr[2] = {-1, -1};
    int pidfd = -1;
    pid_t pid = -1;
    int fa_ok = 0, at_ok = 0;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    for (int i = 0; i < 2 && rc == HONE_OK; i++) {
        if (!st[i].b) continue;
        int p[2];
        if (pipe2(p, O_CLOEXEC) != 0) {
            rc = errno == ENOMEM ? HONE_ENOMEM : HONE_EIO;
            break;
        }
        st[i].fd = p[0];
        wr[i] = p[1];
        if (above_stdio(&wr[i]) != 0) rc = HONE_EIO;
    }
    if (rc != HONE_OK) goto done;

    int e = posix_spawn_file_actions_init(&fa);
    if (!e) {
        fa_ok = 1;
        e = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    }
    for (int i = 0; i < 2 && !e; i++)
        e = wr[i] >= 0 ? posix_spawn_file_actions_adddup2(&fa, wr[i], i + 1)
                       : posix_spawn_file_actions_addopen(&fa, i + 1, "/dev/null", O_WRONLY, 0);
    if (!e) {
        e = posix_spawnattr_init(&at);
        if (!e) at_ok = 1;
    }
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    /* SIGKILL and SIGSTOP cannot be caught, so they have no action to
     * reset. */
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    if (!e) e = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                                      POSIX_SPAWN_SETSIGDEF);
    if (!e) e = posix_spawnattr_setpgroup(&at, 0);
    if (!e) e = posix_spawnattr_setsigmask(&at, &none);
    if (!e) e = posix_spawnattr_setsigdefault(&at, &all);
    if (e) {
        rc = e == ENOMEM ? HONE_ENOMEM : HONE_EIO;
        goto done;
    }

    uint64_t t0 = hone_monotonic_ns();
    oc->start_wall_ns = wall_ns();
    /* glibc (2.24 on, with CLONE_VFORK) returns only once the child has
     * exec'd or failed to, and reports a failed exec here, having reaped
     * that child itself. A C library that reports it as the child's exit
     * status 127 instead makes the job EXITED 127, as a shell would say;
     * the search above has already caught the common case. */
    e = posix_spawn(&pid, path, &fa, &at, argv, opts->envp ? opts->envp : environ);
    for (int i = 0; i < 2; i++) close_fd(&wr[i]);
    if (e) {
        pid = -1;
        oc->duration_ns = hone_monotonic_ns() - t0;
        rc = e == ENOMEM ? HONE_ENOMEM : nostart(err, argv[0], e, oc);
        goto done;
    }
    pidfd = open_pidfd(pid);

    uint64_t deadline = opts->timeout_ns ? add_sat(t0, opts->timeout_ns) : 0;
    int stop_fd = opts->stop_fd > 0 ? opts->stop_fd : -1;
    int cause = 0;       /* HONE_RUN_TIMEDOUT or HONE_RUN_KILLED once a signal was sent */
    int last_sig = 0;    /* the last signal sent to the group */
    uint64_t kill_at = 0;  /* when the TERM's grace ends */
    int escalated = 0;     /* the grace ended (KILL sent, or nothing left to kill) */
    uint64_t drain_until = 0; /* after escalation and the leader's exit */
    int exited = 0;
    for (;;) {
        if (!exited && pidfd < 0 && ((st[0].fd < 0 && st[1].fd < 0) || cause))
            exited = has_exited(pid);
        if (exited && st[0].fd < 0 && st[1].fd < 0) break;
        uint64_t now = hone_monotonic_ns();
        if (!cause && deadline && now >= deadline) cause = HONE_RUN_TIMEDOUT;
        if (cause && !last_sig) {
            kill(-pid, SIGTERM);
            last_sig = SIGTERM;
            kill_at = add_sat(now, grace);
        }
        if (last_sig && !escalated && now >= kill_at) {
            escalated = 1;
            if (kill(-pid, 0) == 0) {
                kill(-pid, SIGKILL);
                last_sig = SIGKILL;
            }
        }
        if (escalated && exited) {
            if (!drain_until) drain_until = add_sat(now, grace);
            if (now >= drain_until) break;
        }

        struct pollfd pf[4];
        int np = 0, ix_out = -1, ix_err = -1, ix_pid = -1, ix_stop = -1;
        if (st[0].fd >= 0) {
            ix_out = np;
            pf[np++] = (struct pollfd){st[0].fd, POLLIN, 0};
        }
        if (st[1].fd >= 0) {
            ix_err = np;
            pf[np++] = (struct pollfd){st[1].fd, POLLIN, 0};
        }
        if (pidfd >= 0 && !exited) {
            ix_pid = np;
            pf[np++] = (struct pollfd){pidfd, POLLIN, 0};
        }
        if (stop_fd >= 0 && !cause) {
            ix_stop = np;
            pf[np++] = (struct pollfd){stop_fd, POLLIN, 0};
        }
        int ms = -1;
        if (!cause) wait_until(&ms, now, deadline);
        if (last_sig && !escalated) wait_until(&ms, now, kill_at);
        if (drain_until) wait_until(&ms, now, drain_until);
        if (!exited && pidfd < 0 && ((st[0].fd < 0 && st[1].fd < 0) || cause))
            wait_until(&ms, now, now + EXIT_TICK_NS);
        int r = poll(pf, (nfds_t)np, ms);
        if (r < 0) {
            if (errno == EINTR) continue;
            rc = errno == ENOMEM ? HONE_ENOMEM : HONE_EIO;
            break;
        }
        if (ix_out >= 0 && pf[ix_out].revents && (rc = drain(&st[0])) != HONE_OK) break;
        if (ix_err >= 0 && pf[ix_err].revents && (rc = drain(&st[1])) != HONE_OK) break;
        if (ix_pid >= 0 && pf[ix_pid].revents) exited = 1;
        if (ix_stop >= 0 && pf[ix_stop].revents) {
            /* POLLNVAL: not a descriptor; it can never ask for a stop. */
            if (pf[ix_stop].revents & POLLNVAL) stop_fd = -1;
            else cause = HONE_RUN_KILLED;
        }
    }
    if (rc != HONE_OK) {
        /* Out of memory (or poll failed): nothing of the job is wanted any
         * more. Killing the group now lets the reap below return. */
        kill(-pid, SIGKILL);
    }
    for (int i = 0; i < 2; i++) close_fd(&st[i].fd);
    int status = 0;
    reap(pid, &status);
    pid = -1;
    oc->duration_ns = hone_monotonic_ns() - t0;
    oc->truncated = st[0].truncated || st[1].truncated;
    if (cause) {
        oc->end = cause;
        oc->status = last_sig;
    } else if (WIFSIGNALED(status)) {
        oc->end = HONE_RUN_SIGNALED;
        oc->status = WTERMSIG(status);
    } else {
        oc->end = HONE_RUN_EXITED;
        oc->status = WEXITSTATUS(status);
    }

done:
    if (fa_ok) posix_spawn_file_actions_destroy(&fa);
    if (at_ok) posix_spawnattr_destroy(&at);
    for (int i = 0; i < 2; i++) {
        close_fd(&wr[i]);
        close_fd(&st[i].fd);
    }
    close_fd(&pidfd);
    hone_free(a, path);
    return rc;
}
