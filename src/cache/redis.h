/* redis.h - the cache's shared tier: values in a Redis server, through
 * hiredis, failing open (a slow or absent server is a miss, never an error
 * or a wait longer than the command timeout); not part of the API
 * (hone_cache_open puts it behind the memory and disk tiers). */
#ifndef HONE_CACHE_REDIS_H
#define HONE_CACHE_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "hone/core.h"

typedef struct hone__redis hone__redis;

typedef struct hone__redis_options {
    const hone_allocator *alloc; /* NULL: the default allocator */
    const char *addr;            /* "HOST:PORT" or a Unix socket path (hone_parse_addr) */
    const char *prefix;          /* prepended to every key; NULL: "hone:" */
    uint64_t timeout_ns;         /* connect and command timeout; 0: 50 ms */
    unsigned connections;        /* pool size (exclusive checkout); 0: 4 */
    uint64_t default_ttl_ns;     /* TTL of values put with 0; 0: 1 day */
} hone__redis_options;

/* Makes the tier. It does not need the server to be up: connections are
 * made on first use and remade with jittered exponential backoff. Returns
 * HONE_OK, HONE_EINVAL (bad address or options; err names the value),
 * HONE_ENOMEM. On failure *out is NULL. */
int hone__redis_open(hone__redis **out, const hone__redis_options *o, hone_error *err);

/* Sends what is queued (bounded by the timeout), closes the connections.
 * NULL is a no-op. */
void hone__redis_close(hone__redis *r);

/* GET prefix+key. A hit copies the value (header checked and stripped)
 * into val and sets *ttl_left_ns (0: no expiry). Returns HONE_OK or
 * HONE_ENOTFOUND: a miss, and also a timeout, a connection failure, an
 * error reply or a value without hone's header or with a bad checksum
 * (each counted in the stats); HONE_ENOMEM. Never waits longer than about
 * the timeout. Thread-safe. */
int hone__redis_get(hone__redis *r, const void *key, size_t klen, hone_buf *val,
                    uint64_t *ttl_left_ns);

/* Pipelined gets of n keys on one connection: found[i] is 1 with vals[i]
 * filled (each an initialised hone_buf) or 0. Returns HONE_OK (also when
 * the server failed: all misses) or HONE_ENOMEM. Thread-safe. */
int hone__redis_get_many(hone__redis *r, size_t n, const void *const *keys, const size_t *klens,
                         hone_buf *vals, int *found);

/* Queues SET prefix+key header+value PX ttl (ttl_ns 0: the default TTL)
 * for the filler, which sends queued sets pipelined in batches. A put that
 * finds the queue full (the server is slow or down) is dropped and
 * counted. Returns HONE_OK, HONE_EINVAL (a value over 512 MB), HONE_ENOMEM.
 * Thread-safe. */
int hone__redis_put(hone__redis *r, const void *key, size_t klen, const void *val, size_t vlen,
                    uint64_t ttl_ns);

/* DEL prefix+key, synchronously (so a delete is not overtaken by a queued
 * put of the same key, queued puts of the key are dropped first). Returns
 * HONE_OK, or HONE_EIO when the server could not be told (counted).
 * Thread-safe. */
int hone__redis_delete(hone__redis *r, const void *key, size_t klen);

/* Returns once every put queued before the call was sent and answered, or
 * the timeout passed (HONE_ETIMEDOUT). Thread-safe. */
int hone__redis_flush(hone__redis *r);

typedef struct hone__redis_stats {
    uint64_t hits, misses;
    uint64_t errors;     /* timeouts, connection failures, error replies */
    uint64_t timeouts;   /* of which timeouts */
    uint64_t rejected;   /* values without hone's header or with a bad checksum */
    uint64_t reconnects; /* connections made after the first */
    uint64_t puts, puts_dropped;
} hone__redis_stats;

void hone__redis_stats_get(hone__redis *r, hone__redis_stats *st);

#endif
