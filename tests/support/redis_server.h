/* redis_server.h - a private redis-server on a free loopback port for the
 * tests and the bench of the cache's shared tier: started, signalled,
 * killed, restarted on the same port and stopped by the caller. Static
 * functions, so include it from one file of a program. */
#ifndef HONE_TEST_REDIS_SERVER_H
#define HONE_TEST_REDIS_SERVER_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#define REDIS_SERVER_BIN "/usr/bin/redis-server"

typedef struct redis_server {
    pid_t pid;             /* 0: not running */
    unsigned port;         /* kept across restarts */
    char addr[32];         /* "127.0.0.1:PORT", for hone__redis_options.addr */
    char unix_path[108];   /* also listen on this Unix socket when not empty */
} redis_server;

static inline int redis_server_available(void) { return access(REDIS_SERVER_BIN, X_OK) == 0; }

static inline void redis_sleep_ms(unsigned ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR) {
    }
}

/* A port that was free a moment ago: bind port 0 and close. */
static inline unsigned redis_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    unsigned port = 0;
    if (!bind(fd, (struct sockaddr *)&a, sizeof a) && !getsockname(fd, (struct sockaddr *)&a, &len))
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* A raw connection to the server (for the tests' own SETs and checks), or
 * NULL. */
static inline redisContext *redis_server_connect(const redis_server *s) {
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", (int)s->port, tv);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    if (c) redisSetTimeout(c, tv);
    return c;
}

/* Starts redis-server on s->port and waits (at most 5 s) until it answers
 * PING. Returns 0, or -1 if it exited (the port was taken) or never
 * answered. */
static inline int redis_server_spawn(redis_server *s) {
    char port[16];
    snprintf(port, sizeof port, "%u", s->port);
    char *argv[20];
    int n = 0;
    argv[n++] = "redis-server";
    argv[n++] = "--port";
    argv[n++] = port;
    argv[n++] = "--bind";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--save";
    argv[n++] = "";
    argv[n++] = "--appendonly";
    argv[n++] = "no";
    argv[n++] = "--daemonize";
    argv[n++] = "no";
    if (s->unix_path[0]) {
        argv[n++] = "--unixsocket";
        argv[n++] = s->unix_path;
    }
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, REDIS_SERVER_BIN, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc) return -1;
    s->pid = pid;
    snprintf(s->addr, sizeof s->addr, "127.0.0.1:%u", s->port);
    for (int i = 0; i < 500; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            s->pid = 0;
            return -1;
        }
        redisContext *c = redis_server_connect(s);
        if (c) {
            redisReply *r = redisCommand(c, "PING");
            int ok = r && r->type == REDIS_REPLY_STATUS && !strcmp(r->str, "PONG");
            if (r) freeReplyObject(r);
            redisFree(c);
            if (ok) return 0;
        }
        redis_sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    s->pid = 0;
    return -1;
}

/* Starts a server on a free port (a few ports are tried: another process
 * may take the one picked before redis binds it). Returns 0 or -1. */
static inline int redis_server_start(redis_server *s) {
    for (int tries = 0; tries < 20; tries++) {
        s->port = redis_free_port();
        if (s->port && !redis_server_spawn(s)) return 0;
    }
    return -1;
}

/* Starts the server again on the same port (after a kill). */
static inline int redis_server_restart(redis_server *s) {
    for (int tries = 0; tries < 50; tries++) {
        if (!redis_server_spawn(s)) return 0;
        redis_sleep_ms(20);
    }
    return -1;
}

/* SIGKILL and reap. */
static inline void redis_server_kill(redis_server *s) {
    if (!s->pid) return;
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

static inline void redis_server_signal(redis_server *s, int sig) {
    if (s->pid) kill(s->pid, sig);
}

/* SIGTERM, then SIGKILL if it has not exited within 5 s. */
static inline void redis_server_stop(redis_server *s) {
    if (!s->pid) return;
    kill(s->pid, SIGCONT);
    kill(s->pid, SIGTERM);
    for (int i = 0; i < 500; i++) {
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            s->pid = 0;
            return;
        }
        redis_sleep_ms(10);
    }
    redis_server_kill(s);
}

#endif
