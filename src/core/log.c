/* log.c - leveled logging to a replaceable sink; the level comes from
 * HONE_LOG unless set by hone_log_set_level(). */
#include "hone/core.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static const char *const level_names[] = {"error", "warn", "info", "debug", NULL};

static int log_level = -1; /* __atomic; -1 until read from HONE_LOG */
static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static hone_log_fn sink_fn;
static void *sink_ctx;

const char *hone_log_level_name(hone_log_level level) {
    if ((unsigned)level > HONE_LOG_DEBUG) return "unknown";
    return level_names[level];
}

static int current_level(void) {
    int lvl = __atomic_load_n(&log_level, __ATOMIC_RELAXED);
    if (lvl >= 0) return lvl;
    int v = HONE_LOG_WARN;
    hone_error err;
    int bad = hone_env_enum("HONE_LOG", level_names, HONE_LOG_WARN, &v, &err);
    int expected = -1;
    __atomic_compare_exchange_n(&log_level, &expected, v, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    if (bad && expected == -1) hone_log(HONE_LOG_ERROR, "core", "%s; using warn", err.msg);
    return __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

void hone_log_set_level(hone_log_level level) {
    if ((unsigned)level > HONE_LOG_DEBUG) level = HONE_LOG_DEBUG;
    __atomic_store_n(&log_level, (int)level, __ATOMIC_RELAXED);
}

hone_log_level hone_log_get_level(void) { return (hone_log_level)current_level(); }

int hone_log_enabled(hone_log_level level) { return (int)level <= current_level(); }

void hone_log_set_sink(hone_log_fn fn, void *ctx) {
    pthread_mutex_lock(&sink_lock);
    sink_fn = fn;
    sink_ctx = ctx;
    pthread_mutex_unlock(&sink_lock);
}

void hone_logv(hone_log_level level, const char *module, const char *fmt, va_list ap) {
    if (!hone_log_enabled(level)) return;
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    /* A message is one line: fold embedded newlines so a caller's value
     * cannot forge extra log lines. */
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    if (!module) module = "hone";
    pthread_mutex_lock(&sink_lock);
    if (sink_fn) {
        sink_fn(sink_ctx, level, module, msg);
    } else {
        uint64_t ns = hone_monotonic_ns();
        fprintf(stderr, "[%5llu.%06llu] %-5s %s: %s\n", (unsigned long long)(ns / 1000000000u),
                (unsigned long long)(ns % 1000000000u / 1000u), hone_log_level_name(level),
                module, msg);
    }
    pthread_mutex_unlock(&sink_lock);
}

void hone_log(hone_log_level level, const char *module, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    hone_logv(level, module, fmt, ap);
    va_end(ap);
}
