/* hone/core.h - status codes, version, allocator seam, clock, CPU features,
 * logging, environment and option parsing, and system information.
 *
 * core depends on nothing else of hone's; every other module builds on it.
 *
 * Conventions that hold for the whole library:
 * - Functions that can fail return an int status: HONE_OK (0) or a negative
 *   hone_status value. Functions that count return the count (>= 0) or a
 *   negative status.
 * - Handles are opaque, made by hone_<thing>_new(&out, &opts) and released by
 *   hone_<thing>_free(); _free(NULL) does nothing; a failed _new leaves *out
 *   NULL and leaks nothing.
 * - Options structs, when zeroed or NULL, mean the documented defaults.
 * - Every object that allocates takes a const hone_allocator * (NULL: the
 *   process default, see hone_allocator_set_default()).
 */
#ifndef HONE_CORE_H
#define HONE_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define HONE_API __attribute__((visibility("default")))
#define HONE_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define HONE_API
#define HONE_PRINTF(fmt, args)
#endif

/* ------------------------------------------------------------------ */
/* Version                                                             */
/* ------------------------------------------------------------------ */

#define HONE_VERSION_MAJOR 0
#define HONE_VERSION_MINOR 1
#define HONE_VERSION_PATCH 0
#define HONE_VERSION_STRING "0.1.0"
/* 0xMMmmpp: compare with >= to require a minimum version at compile time. */
#define HONE_VERSION_HEX \
    ((HONE_VERSION_MAJOR << 16) | (HONE_VERSION_MINOR << 8) | HONE_VERSION_PATCH)

/* The version of the library actually linked, as HONE_VERSION_HEX would
 * spell it. Thread-safe; cannot fail. */
HONE_API unsigned hone_version(void);
/* "MAJOR.MINOR.PATCH" of the linked library; a static string. */
HONE_API const char *hone_version_string(void);

/* ------------------------------------------------------------------ */
/* Status codes                                                        */
/* ------------------------------------------------------------------ */

/* One status enum for the whole library. Append-only: a code, once
 * published, keeps its name and number forever. X(name, number, message). */
#define HONE_STATUS_MAP(X)                                         \
    X(OK, 0, "success")                                            \
    X(EINVAL, -1, "invalid argument")                              \
    X(ENOMEM, -2, "out of memory")                                 \
    X(ETIMEDOUT, -3, "timed out")                                  \
    X(ECANCELED, -4, "operation cancelled")                        \
    X(ENOTFOUND, -5, "not found")                                  \
    X(EBUSY, -6, "resource busy, try again")                       \
    X(EIO, -7, "input/output error")                               \
    X(ECORRUPT, -8, "corrupt or foreign data")                     \
    X(ENOTSUP, -9, "operation not supported")                      \
    X(ECLOSED, -10, "closed")                                      \
    X(EEXIST, -11, "already exists")                               \
    X(ERANGE, -12, "value out of range")                           \
    X(EPARSE, -13, "malformed input")                              \
    X(EACCES, -14, "permission denied")                            \
    X(EFAIL, -15, "operation failed")                              \
    X(ESTATE, -16, "call not valid in the object's current state") \
    X(ETRUNC, -17, "truncated input")

typedef enum hone_status {
#define HONE__STATUS_ENUM(name, num, msg) HONE_##name = (num),
    HONE_STATUS_MAP(HONE__STATUS_ENUM)
#undef HONE__STATUS_ENUM
} hone_status;

/* A human-readable message for a status ("out of memory"). Unknown values
 * give "unknown status". Returns a static string; thread-safe. */
HONE_API const char *hone_strerror(int status);
/* The status's name ("HONE_ENOMEM"); "HONE_UNKNOWN" for unknown values.
 * Returns a static string; thread-safe. */
HONE_API const char *hone_status_name(int status);
/* Maps an errno value to the closest hone status (ENOENT -> HONE_ENOTFOUND,
 * EACCES/EPERM -> HONE_EACCES, ENOMEM -> HONE_ENOMEM, others -> HONE_EIO).
 * 0 maps to HONE_OK. */
HONE_API int hone_status_from_errno(int err);

/* Error details filled by parsers and validators. Every field is optional
 * to read; msg is always NUL-terminated and names the bad value and what was
 * expected, in one line without a trailing newline. */
typedef struct hone_error {
    int code;        /* the hone_status returned alongside */
    uint64_t line;   /* 1-based line, 0 when not applicable */
    uint64_t col;    /* 1-based column, 0 when not applicable */
    uint64_t offset; /* byte offset, UINT64_MAX when not applicable */
    char msg[320];
} hone_error;

/* Fills err (when err is not NULL) with code and a formatted message, and
 * resets line/col to 0 and offset to UINT64_MAX. Returns code, so callers can
 * write `return hone_error_set(err, HONE_EINVAL, "...")`. */
HONE_API int hone_error_set(hone_error *err, int code, const char *fmt, ...)
    HONE_PRINTF(3, 4);

/* As hone_error_set, and records where in the input the error is: line
 * and col (1-based; values below 1 are stored as 0, "not applicable") and
 * offset (a byte offset; negative is stored as UINT64_MAX). For parsers
 * that learn a position from a library such as jansson. */
HONE_API int hone_error_set_at(hone_error *err, int code, long line, long col, long long offset,
                               const char *fmt, ...) HONE_PRINTF(6, 7);

/* ------------------------------------------------------------------ */
/* Allocator seam                                                      */
/* ------------------------------------------------------------------ */

/* An allocator: every hone object that allocates goes through one, so that
 * tests can fail the Nth allocation. The functions behave like their libc
 * namesakes (realloc(ctx, NULL, n) allocates; free(ctx, NULL) does nothing)
 * and must be thread-safe if the objects using them are shared by threads. */
typedef struct hone_allocator {
    void *(*malloc)(void *ctx, size_t size);
    void *(*realloc)(void *ctx, void *ptr, size_t size);
    void (*free)(void *ctx, void *ptr);
    void *ctx;
} hone_allocator;

/* Sets the process default allocator used wherever NULL is passed. The
 * struct is copied. NULL restores libc's. Set it before other threads use
 * hone: objects keep the allocator they were made with, but calls made
 * during the switch may pair one allocator's malloc with the other's free.
 * Returns HONE_EINVAL if a function pointer is missing. */
HONE_API int hone_allocator_set_default(const hone_allocator *a);
/* The current default allocator (never NULL). */
HONE_API const hone_allocator *hone_allocator_default(void);

/* Allocation through `a` (NULL: the default). hone_calloc zeroes and checks
 * n*size for overflow. All return NULL on failure. */
HONE_API void *hone_malloc(const hone_allocator *a, size_t size);
HONE_API void *hone_calloc(const hone_allocator *a, size_t n, size_t size);
HONE_API void *hone_realloc(const hone_allocator *a, void *ptr, size_t size);
HONE_API void hone_free(const hone_allocator *a, void *ptr);
/* A copy of s (or of its first n bytes, NUL-terminated) made with `a`. */
HONE_API char *hone_strdup(const hone_allocator *a, const char *s);
HONE_API char *hone_strndup(const hone_allocator *a, const char *s, size_t n);

/* ------------------------------------------------------------------ */
/* Growable byte buffer                                                */
/* ------------------------------------------------------------------ */

/* A growable, always NUL-terminated byte buffer for building reports and
 * documents. Zero-initialise it (or use hone_buf_init) before use. Not
 * thread-safe. After a failed append the buffer keeps its previous
 * content. */
typedef struct hone_buf {
    char *data; /* NUL-terminated; NULL until the first append */
    size_t len;
    size_t cap;
    const hone_allocator *alloc; /* NULL: the default */
} hone_buf;

HONE_API void hone_buf_init(hone_buf *b, const hone_allocator *a);
/* Appends n bytes. Returns HONE_OK or HONE_ENOMEM. */
HONE_API int hone_buf_append(hone_buf *b, const void *data, size_t n);
HONE_API int hone_buf_puts(hone_buf *b, const char *s);
HONE_API int hone_buf_printf(hone_buf *b, const char *fmt, ...) HONE_PRINTF(2, 3);
HONE_API int hone_buf_vprintf(hone_buf *b, const char *fmt, va_list ap);
/* Appends s as a JSON string: quotes, backslashes, control characters and
 * DEL escaped, and each byte that does not start valid UTF-8 written as
 * U+FFFD, so the output always parses; NULL appends null. Returns HONE_OK
 * or HONE_ENOMEM. */
HONE_API int hone_buf_json_string(hone_buf *b, const char *s);
/* Makes room for n more bytes without changing len. */
HONE_API int hone_buf_reserve(hone_buf *b, size_t n);
/* Empties the buffer but keeps its memory. */
HONE_API void hone_buf_clear(hone_buf *b);
/* Frees the memory; the buffer is empty and usable again. */
HONE_API void hone_buf_free(hone_buf *b);

/* ------------------------------------------------------------------ */
/* Clock                                                               */
/* ------------------------------------------------------------------ */

/* Monotonic time in nanoseconds since an arbitrary start.
 *
 * On x86-64 with an invariant TSC (cpuid 0x80000007 EDX bit 8) it reads the
 * TSC and converts with a calibrated multiplier; elsewhere, or when
 * HONE_CLOCK=monotonic, it calls clock_gettime(CLOCK_MONOTONIC). The first
 * call calibrates (about 10 ms); call hone_clock_init() at start-up to move
 * that cost out of a measured region. Never goes backwards within a thread.
 * Thread-safe. */
HONE_API uint64_t hone_now_ns(void);

/* clock_gettime(CLOCK_MONOTONIC) in nanoseconds, always, for comparisons. */
HONE_API uint64_t hone_monotonic_ns(void);

/* Calibrates the clock now if not done yet (idempotent, thread-safe). */
HONE_API void hone_clock_init(void);

/* Raw cycle counter: RDTSC on x86-64, CLOCK_MONOTONIC nanoseconds elsewhere.
 * Use hone_cycles_to_ns() on differences. Inline so a read costs what the
 * instruction costs. */
static inline uint64_t hone_cycles(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
#else
    return hone_monotonic_ns();
#endif
}

/* RDTSCP: waits for earlier instructions to finish before reading, for the
 * end of a measured region. Same units as hone_cycles(). */
static inline uint64_t hone_cycles_end(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    uint32_t lo, hi, aux;
    __asm__ __volatile__("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux)::"memory");
    return ((uint64_t)hi << 32) | lo;
#else
    return hone_cycles();
#endif
}

/* Converts a difference of hone_cycles() values to nanoseconds (calibrating
 * first if needed). Exact pass-through where cycles are nanoseconds. */
HONE_API uint64_t hone_cycles_to_ns(uint64_t cycles);
/* Counter ticks per second (1e9 where the counter is clock_gettime). */
HONE_API double hone_cycles_per_sec(void);

typedef enum hone_clock_source {
    HONE_CLOCK_TSC = 1,       /* invariant TSC, calibrated */
    HONE_CLOCK_MONOTONIC = 2  /* clock_gettime(CLOCK_MONOTONIC) */
} hone_clock_source;

typedef struct hone_clock_info {
    hone_clock_source source;  /* what hone_now_ns() reads */
    int invariant_tsc;         /* the CPU reports an invariant TSC */
    double tsc_hz;             /* calibrated TSC frequency, 0 without TSC */
    double resolution_ns;      /* of hone_now_ns() */
    double monotonic_res_ns;   /* clock_getres(CLOCK_MONOTONIC) */
    double cycles_read_ns;     /* measured cost of one hone_cycles() */
    double gettime_read_ns;    /* measured cost of one clock_gettime() */
    double now_read_ns;        /* measured cost of one hone_now_ns() */
} hone_clock_info;

/* Fills *info, measuring read costs over a few thousand reads (about a
 * millisecond). Returns HONE_EINVAL if info is NULL. Thread-safe. */
HONE_API int hone_clock_info_get(hone_clock_info *info);
/* "tsc" or "monotonic". */
HONE_API const char *hone_clock_source_name(hone_clock_source s);

/* ------------------------------------------------------------------ */
/* CPU features                                                        */
/* ------------------------------------------------------------------ */

#define HONE_CPU_FEATURE_MAP(X)            \
    X(SSE41, 1u << 0, "sse4.1")            \
    X(AVX2, 1u << 1, "avx2")               \
    X(AVX512F, 1u << 2, "avx512f")         \
    X(AVX512VL, 1u << 3, "avx512vl")       \
    X(SHA, 1u << 4, "sha")                 \
    X(AES, 1u << 5, "aes")                 \
    X(BMI2, 1u << 6, "bmi2")               \
    X(INVARIANT_TSC, 1u << 7, "invariant_tsc")

enum hone_cpu_feature {
#define HONE__CPU_ENUM(name, bit, str) HONE_CPU_##name = (bit),
    HONE_CPU_FEATURE_MAP(HONE__CPU_ENUM)
#undef HONE__CPU_ENUM
};

/* The features usable now: what the CPU and OS support (AVX state enabled in
 * XCR0), minus those masked by HONE_CPU_MASK. HONE_CPU_MASK is a comma list
 * of feature names; "avx512" masks avx512f and avx512vl, "all" masks every
 * SIMD feature. Masking a feature also masks those that build on it
 * (masking avx2 masks avx512; masking sse4.1 masks avx2 and avx512). The
 * mask is read once; hone_cpu_reload() reads it again. An invalid mask is
 * reported through the log once and ignored (hone_env_validate() reports it
 * as an error). Thread-safe. */
HONE_API uint32_t hone_cpu_features(void);
/* What the hardware supports, ignoring HONE_CPU_MASK. */
HONE_API uint32_t hone_cpu_features_hw(void);
/* Nonzero if every bit of `features` is usable now. */
HONE_API int hone_cpu_has(uint32_t features);
/* Re-reads HONE_CPU_MASK (for tests that force fallback paths). Returns
 * HONE_OK or HONE_EINVAL (err filled) if the mask is invalid, in which case
 * no mask applies. */
HONE_API int hone_cpu_reload(hone_error *err);
/* Parses a mask list like "avx512,avx2" into feature bits. */
HONE_API int hone_cpu_parse_mask(const char *list, uint32_t *out, hone_error *err);
/* The name of one feature bit ("avx2"), NULL for an unknown bit. */
HONE_API const char *hone_cpu_feature_name(uint32_t feature);
/* Writes the names of `features`, space-separated, into buf (always
 * NUL-terminated). Returns the length it needed, like snprintf. */
HONE_API size_t hone_cpu_features_format(uint32_t features, char *buf, size_t size);

/* ------------------------------------------------------------------ */
/* Logging                                                             */
/* ------------------------------------------------------------------ */

typedef enum hone_log_level {
    HONE_LOG_ERROR = 0,
    HONE_LOG_WARN = 1,
    HONE_LOG_INFO = 2,
    HONE_LOG_DEBUG = 3
} hone_log_level;

/* A log sink. `module` is the emitting module ("cache"), `msg` one line
 * without a newline. Called on the logging thread, possibly concurrently
 * from several threads; it must be thread-safe. */
typedef void (*hone_log_fn)(void *ctx, hone_log_level level, const char *module,
                            const char *msg);

/* Replaces the sink; NULL restores the default, which writes
 * "[   12.345678] warn  cache: msg" (seconds of hone_now_ns()) to stderr. */
HONE_API void hone_log_set_sink(hone_log_fn fn, void *ctx);
/* The level starts from HONE_LOG (default warn); set_level overrides it. */
HONE_API void hone_log_set_level(hone_log_level level);
HONE_API hone_log_level hone_log_get_level(void);
/* Nonzero if a message at `level` would be written: a cheap check to skip
 * building expensive messages. */
HONE_API int hone_log_enabled(hone_log_level level);
HONE_API void hone_log(hone_log_level level, const char *module, const char *fmt, ...)
    HONE_PRINTF(3, 4);
HONE_API void hone_logv(hone_log_level level, const char *module, const char *fmt,
                        va_list ap);
/* "error", "warn", "info", "debug". */
HONE_API const char *hone_log_level_name(hone_log_level level);

/* ------------------------------------------------------------------ */
/* Environment and option values                                       */
/* ------------------------------------------------------------------ */

/* Parsers shared by environment variables and command-line flags, so that
 * every bad value gets the same kind of message:
 *   "HONE_LOG=loud: expected one of error, warn, info, debug"
 *   "--runs=0: expected an integer from 1 to 1000000"
 * `what` names the source ("HONE_LOG", "--runs"). On error they return
 * HONE_EINVAL or HONE_ERANGE, fill err, and leave *out unchanged. */

/* Decimal (or 0x hex) unsigned integer in [min, max]. Leading zeros are
 * decimal, never octal: "010" is 10 and "08" is 8. */
HONE_API int hone_parse_u64(const char *what, const char *s, uint64_t min, uint64_t max,
                            uint64_t *out, hone_error *err);
/* Signed integer in [min, max], spelled as hone_parse_u64 takes them. */
HONE_API int hone_parse_i64(const char *what, const char *s, int64_t min, int64_t max,
                            int64_t *out, hone_error *err);
/* Finite floating-point number in [min, max]. */
HONE_API int hone_parse_double(const char *what, const char *s, double min, double max,
                               double *out, hone_error *err);
/* 1/0, true/false, yes/no, on/off (any case). */
HONE_API int hone_parse_bool(const char *what, const char *s, int *out, hone_error *err);
/* One of `choices` (NULL-terminated, exact match); *out is its index. */
HONE_API int hone_parse_enum(const char *what, const char *s, const char *const *choices,
                             int *out, hone_error *err);
/* A byte size: integer with optional suffix k, K, M, G, T (powers of 1024),
 * optionally followed by "B" or "iB". */
HONE_API int hone_parse_size(const char *what, const char *s, uint64_t min, uint64_t max,
                             uint64_t *out, hone_error *err);
/* A duration in nanoseconds: number (may be fractional) with unit ns, us,
 * ms, s, m, h; a bare number means `default_unit_ns` units. */
HONE_API int hone_parse_duration(const char *what, const char *s, uint64_t default_unit_ns,
                                 uint64_t *out, hone_error *err);
/* A rate in permits per second: a number (may be fractional) optionally
 * followed by /s, /min or /h (also /sec, /m, /hour) ("100/s", "6000/min" is 100/s, "10/h",
 * "2.5/s", "100" per second); "0/s" (or "0") is 0, which a hone limiter
 * reads as deny all; "off" is INFINITY, no limit. Negative, non-finite or
 * out-of-range numbers and other units are HONE_EINVAL. */
HONE_API int hone_parse_rate(const char *what, const char *s, double *per_sec, hone_error *err);

/* A server address: "HOST:PORT" (HOST a name, an IPv4 address, or an IPv6
 * address in brackets; PORT 1..65535) copied into host with *port set, or
 * the absolute path of a Unix socket ("/run/redis.sock", *port 0) copied
 * into host. Returns HONE_OK or HONE_EINVAL (err names the value and what
 * was expected; also when host would not fit in hostcap bytes). */
HONE_API int hone_parse_addr(const char *what, const char *s, char *host, size_t hostcap,
                             unsigned *port, hone_error *err);

/* Environment variables. Each returns HONE_OK and leaves *out at `def`
 * when the variable is unset or empty, and reports a bad value as the
 * parsers above do, naming the variable. */
HONE_API int hone_env_u64(const char *name, uint64_t min, uint64_t max, uint64_t def,
                          uint64_t *out, hone_error *err);
HONE_API int hone_env_size(const char *name, uint64_t min, uint64_t max, uint64_t def,
                           uint64_t *out, hone_error *err);
HONE_API int hone_env_bool(const char *name, int def, int *out, hone_error *err);
HONE_API int hone_env_enum(const char *name, const char *const *choices, int def, int *out,
                           hone_error *err);
HONE_API int hone_env_duration(const char *name, uint64_t default_unit_ns, uint64_t def,
                               uint64_t *out, hone_error *err);
HONE_API int hone_env_rate(const char *name, double def, double *out, hone_error *err);

/* The directory hone keeps its caches in (the manifest index, disk caches):
 * HONE_CACHE_DIR, which must be absolute; else $XDG_CACHE_HOME/hone when
 * that is absolute; else $HOME/.cache/hone. *out is allocated with alloc
 * (free it with hone_free). Returns HONE_OK, HONE_EINVAL (a relative
 * HONE_CACHE_DIR, named), HONE_ENOTFOUND (none of the three is set) or
 * HONE_ENOMEM. Does not create the directory. */
HONE_API int hone_cache_dir(char **out, const hone_allocator *alloc, hone_error *err);

/* Describes one HONE_* environment variable; the table of all of them is
 * the single list that hone(1)'s ENVIRONMENT section documents. */
typedef struct hone_env_var {
    const char *name;
    const char *expected; /* what a valid value looks like */
    const char *help;     /* one line */
} hone_env_var;

/* The known variables, terminated by an entry with name NULL. */
HONE_API const hone_env_var *hone_env_vars(void);

/* Validates every set HONE_* variable against the table: a known variable
 * with a bad value gives HONE_EINVAL with err naming the value and what was
 * expected; an unknown HONE_* name gives HONE_ENOTFOUND with a "did you
 * mean" suggestion when one is close. Returns HONE_OK when all are valid. */
HONE_API int hone_env_validate(hone_error *err);

/* The candidate closest to `word` by edit distance, or NULL when none is
 * close enough (distance more than a third of the word, at least 2). For
 * "did you mean" messages. */
HONE_API const char *hone_nearest_name(const char *word, const char *const *candidates,
                                       size_t n);

/* ------------------------------------------------------------------ */
/* Settings table                                                      */
/* ------------------------------------------------------------------ */

/* Every tunable hone has, in one table that modules read their defaults
 * from. A setting's effective value comes from the highest layer that has
 * one:
 *   default < level < strategy < preset < auto < file < env < api
 * - default: the table's value for level "moderate".
 * - level: the column of the effective `level` (basic, moderate,
 *   aggressive) when that differs from the default, or when the user chose
 *   a level explicitly.
 * - strategy: the bundle of the effective `cache.strategy` when a preset
 *   or an explicit layer chose it (a level's column already lists the
 *   values that go with the strategy the level picks).
 * - preset: the bundle of the effective `preset` (none by default).
 * - auto: set by the optimizer's continuous mode (opt.h).
 * - file: the config file (opt.h loads it: hone.ini).
 * - env: the setting's HONE_* variable, read at each resolution.
 * - api: set by a program or a command-line flag.
 * `level` and `preset` resolve first (their own explicit layers, then the
 * default), then `cache.strategy` (explicit, else preset, else level),
 * then every other setting. Bundles are data, printed by hone optimize;
 * nothing is hidden.
 * Some settings can be set per component (a name a program gives a cache,
 * pool or batcher, or an HTTP client): a component's own value in the api
 * or file layer wins over every layer of the global setting; its auto
 * value wins over the global auto value only (continuous mode never
 * overrides an explicit user setting). At most 128 component values are
 * stored (hone_setting_set returns HONE_ENOMEM beyond). */

typedef enum hone_setting_id {
    HONE_SET_LEVEL = 0,          /* level: basic, moderate, aggressive */
    HONE_SET_PRESET,             /* preset: none or a scenario bundle */
    HONE_SET_CACHE_STRATEGY,     /* cache.strategy: memory, disk, hybrid */
    HONE_SET_CACHE_SIZE,         /* cache.size: bytes of a memory tier */
    HONE_SET_CACHE_TTL,          /* cache.ttl: time to live, 0 none */
    HONE_SET_CACHE_DIR,          /* cache.dir: where disk caches live */
    HONE_SET_CACHE_DISK_SIZE,    /* cache.disk_size: bytes on disk */
    HONE_SET_MAX_WORKERS,        /* exec.max_workers: 0 = online CPUs */
    HONE_SET_PARALLEL,           /* exec.parallel: on/off */
    HONE_SET_PARALLEL_THRESHOLD, /* exec.parallel_threshold: items */
    HONE_SET_BATCH_SIZE,         /* batch.size: items */
    HONE_SET_BATCH_MAX_WAIT,     /* batch.max_wait: ns */
    HONE_SET_RATE_LIMIT,         /* flow.rate_limit: per second, INFINITY off */
    HONE_SET_RETRY_ATTEMPTS,     /* flow.retry_attempts: attempts in all */
    HONE_SET_RETRY_MAX_BACKOFF,  /* flow.retry_max_backoff: ns */
    HONE_SET_HTTP_TIMEOUT,       /* http.timeout: one attempt, ns */
    HONE_SET_HTTP_DEADLINE,      /* http.deadline: one logical call, ns */
    HONE_SET_MAX_INPUT_SIZE,     /* http.max_input_size: bytes of a body */
    HONE_SETTING_COUNT
} hone_setting_id;

typedef enum hone_setting_kind {
    HONE_SETTING_ENUM = 0, /* one of choices; value.u is its index */
    HONE_SETTING_BOOL,     /* hone_parse_bool; value.u 0 or 1 */
    HONE_SETTING_U64,      /* hone_parse_u64 in [min, max] */
    HONE_SETTING_SIZE,     /* hone_parse_size in [min, max]; bytes */
    HONE_SETTING_DURATION, /* hone_parse_duration (bare number: unit_ns) in [min, max] */
    HONE_SETTING_RATE,     /* hone_parse_rate; value.d, INFINITY = off */
    HONE_SETTING_DIR       /* an absolute path, or empty for the built-in one */
} hone_setting_kind;

typedef enum hone_origin {
    HONE_ORIGIN_DEFAULT = 0,
    HONE_ORIGIN_LEVEL,
    HONE_ORIGIN_STRATEGY,
    HONE_ORIGIN_PRESET,
    HONE_ORIGIN_AUTO,
    HONE_ORIGIN_FILE,
    HONE_ORIGIN_ENV,
    HONE_ORIGIN_API,
    HONE_ORIGIN_COUNT
} hone_origin;

/* "default", "level", "strategy", "preset", "auto", "file", "env", "api". */
HONE_API const char *hone_origin_name(int origin);

typedef struct hone_setting_info {
    const char *name;          /* "cache.ttl" */
    const char *env;           /* "HONE_CACHE_TTL"; NULL: no variable */
    const char *component_key; /* key in a [component.NAME] section ("ttl"); NULL: global only */
    int kind;                  /* hone_setting_kind */
    uint64_t min, max;         /* U64, SIZE, DURATION bounds */
    uint64_t unit_ns;          /* DURATION: unit of a bare number */
    const char *choices;       /* ENUM: comma list ("memory,disk,hybrid") */
    const char *level_value[3]; /* the value at basic, moderate, aggressive, as text */
    const char *expected;      /* what a valid value looks like, for messages */
    const char *help;          /* one line */
} hone_setting_info;

/* The row of a setting; NULL for an id out of range. */
HONE_API const hone_setting_info *hone_setting_info_get(int id);
/* The id of "cache.ttl" (also accepts the variable, "HONE_CACHE_TTL"), or
 * -1. */
HONE_API int hone_setting_lookup(const char *name);

typedef struct hone_setting_value {
    uint64_t u;     /* ENUM index, BOOL 0/1, U64, SIZE bytes, DURATION ns */
    double d;       /* RATE per second (INFINITY: off); other kinds: (double)u */
    char text[256]; /* canonical text: "64M" as given, "memory", a path ("" built-in) */
} hone_setting_value;

/* Parses `text` as setting `id` expects; `what` names the source in the
 * message ("HONE_CACHE_TTL", "hone.ini:3: cache.ttl", "--level"). Returns
 * HONE_OK, or HONE_EINVAL / HONE_ERANGE with err naming the value and what
 * was expected ("cache.strategy=fast: expected one of memory, disk,
 * hybrid"). */
HONE_API int hone_setting_parse(int id, const char *what, const char *text,
                                hone_setting_value *out, hone_error *err);

typedef struct hone_setting_state {
    hone_setting_value value;
    int origin;      /* hone_origin of the layer that gave the value */
    char where[320]; /* "/home/u/.config/hone/hone.ini:3", "HONE_LEVEL",
                        "level aggressive", "preset api-heavy", "strategy
                        hybrid", "journal #4", what the api caller named,
                        "built-in" */
    int component;   /* nonzero: the component's own value */
} hone_setting_state;

/* The effective value of a setting, for `component` (NULL: global) and its
 * origin. Returns HONE_OK; HONE_EINVAL when the winning layer is the
 * environment and its variable is malformed (err names it; *out then has
 * the value of the layers below, so a caller may log and go on), or for a
 * bad id. Thread-safe. */
HONE_API int hone_setting_get(int id, const char *component, hone_setting_state *out,
                              hone_error *err);
/* Shortcuts for modules: the effective value.u / value.d; a malformed
 * variable is ignored here (hone_env_validate reports it). */
HONE_API uint64_t hone_setting_u64(int id, const char *component);
HONE_API double hone_setting_double(int id, const char *component);

/* Sets a layer's value (origin AUTO, FILE or API; others are HONE_EINVAL)
 * after parsing it as hone_setting_parse does, for `component` (NULL:
 * global; a setting without a component_key refuses a component).
 * `where` is what hone_setting_state.where shows (NULL: the origin's
 * name). Bumps the generation. Returns HONE_OK, HONE_EINVAL, HONE_ERANGE,
 * HONE_ENOMEM. Thread-safe. */
HONE_API int hone_setting_set(int id, const char *component, int origin, const char *text,
                              const char *where, hone_error *err);
/* Removes a layer's value; no value is fine. Bumps the generation. */
HONE_API void hone_setting_unset(int id, const char *component, int origin);
/* Removes every value of one layer (AUTO, FILE or API), components too. */
HONE_API void hone_settings_clear(int origin);
/* Changes each time a layer changes, so a module that keeps a resolved
 * value can cheaply notice it must resolve again. */
HONE_API uint64_t hone_settings_generation(void);

/* A loader fills the file layer. The optimizer registers one when libhone
 * is loaded (it reads hone.ini); it is called once, before the first
 * resolution, and again by hone_settings_reload. Its failure is logged
 * once and leaves the layer as the loader left it. */
typedef int (*hone_settings_loader_fn)(hone_error *err);
HONE_API void hone_settings_set_loader(hone_settings_loader_fn fn);
/* Runs the loader again (the config file changed). Returns its status. */
HONE_API int hone_settings_reload(hone_error *err);

/* A named bundle: what a level, a strategy or a preset sets. */
typedef struct hone_setting_bundle_item {
    int id;            /* the setting */
    const char *value; /* as text */
} hone_setting_bundle_item;

/* The items of choice `choice` (an index into the selector's choices) of
 * selector HONE_SET_LEVEL, HONE_SET_CACHE_STRATEGY or HONE_SET_PRESET, in
 * table order; *n 0 for an empty bundle. Returns HONE_OK or HONE_EINVAL.
 * For a level, every setting's column value is listed. */
HONE_API int hone_setting_bundle(int selector, int choice, const hone_setting_bundle_item **items,
                                 size_t *n);
/* One line describing a preset or strategy choice ("batch processing: big
 * batches, long waits, many retries"); NULL when none. */
HONE_API const char *hone_setting_bundle_help(int selector, int choice);

/* ------------------------------------------------------------------ */
/* Files                                                               */
/* ------------------------------------------------------------------ */

/* Replaces the file at `path` with `len` bytes of `data` atomically: the
 * bytes go to a new temporary file beside it, which is fsynced and renamed
 * over `path`, and then the directory is fsynced. Readers and a crash see
 * the old file or the whole new one, never a mix; on any failure the old
 * file is untouched and the temporary file removed. The new file keeps the
 * mode of the one it replaces, or is created 0666 less the umask, as a
 * shell's `>` would.
 * - A symlink is written through: the file it points to is replaced (a
 *   dangling link's target is created), and the link stays a link.
 * - A pipe or a character device (/dev/stdout, a FIFO, a terminal) is
 *   written directly, not replaced: there is no file to make atomic.
 * - Anything else that is not a regular file is refused: HONE_EEXIST for a
 *   directory, HONE_EINVAL otherwise.
 * - Temporary files are named "<path>.tmp.<pid>.<random>"; one left by a
 *   writer that died (kill -9) is removed by the next write of the path.
 * Returns HONE_OK, HONE_EINVAL (no path), HONE_EEXIST, or the status of the
 * failed system call (HONE_ENOTFOUND for a missing directory, HONE_EACCES,
 * HONE_EIO...) with err naming the path and the reason. Thread-safe;
 * concurrent writers of one path each write whole files, and the last
 * rename wins. */
HONE_API int hone_file_write_atomic(const char *path, const void *data, size_t len,
                                    hone_error *err);

/* mkdir -p: creates the directory `path` and its missing parents (mode 0755
 * less the umask); an existing directory is fine. Returns HONE_OK, or the
 * status of the failure (hone_status_from_errno) with errno set for the
 * caller's message: ENOTDIR when path or a parent exists and is not a
 * directory, ENAMETOOLONG for a path of PATH_MAX bytes or more. */
HONE_API int hone_mkdir_p(const char *path);

/* ------------------------------------------------------------------ */
/* System information                                                  */
/* ------------------------------------------------------------------ */

typedef struct hone_sysinfo {
    char *cpu_model;        /* "AMD EPYC 7B13", or "unknown" */
    char *cpu_vendor;       /* "AuthenticAMD", or "unknown" */
    int logical_cpus;       /* online logical CPUs */
    int physical_cores;     /* distinct (package, core) pairs; logical if unknown */
    uint32_t cpu_features;  /* hone_cpu_features_hw() */
    uint64_t mem_total;     /* bytes */
    uint64_t mem_available; /* bytes */
    char *kernel;           /* "Linux 6.1.0-18-amd64 x86_64" */
    char *compiler;         /* the compiler that built libhone */
    hone_clock_info clock;
} hone_sysinfo;

/* Collects system information into a new object. Returns HONE_OK,
 * HONE_ENOMEM (nothing leaked, *out NULL) or HONE_EINVAL (out NULL). Takes
 * about a millisecond (it measures clock read costs). Thread-safe. */
HONE_API int hone_sysinfo_new(hone_sysinfo **out, const hone_allocator *a);
/* Frees what hone_sysinfo_new made, with the same allocator; NULL is a
 * no-op. */
HONE_API void hone_sysinfo_free(hone_sysinfo *si, const hone_allocator *a);

#ifdef __cplusplus
}
#endif
#endif /* HONE_CORE_H */
