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
    /* Bounds of the put queue (puts and deletes waiting for the filler),
     * which only grows while the server is slow or down: 0: 64 MB and
     * 10000 commands. One put of any size is admitted into an empty queue. */
    size_t queue_bytes;
    size_t queue_items;
} hone__redis_options;

/* Makes the tier. It does not need the server to be up: connections are
 * made on first use and remade with jittered exponential backoff. Returns
 * HONE_OK, HONE_EINVAL (out NULL, no address or a bad one, connections
 * over 1024, a timeout over an hour; err names the value), HONE_ENOMEM,
 * or the status of starting the filler's one-worker pool. On failure
 * *out is NULL and nothing leaks. A host name is resolved at each connect
 * by hiredis with getaddrinfo(), which no timeout bounds: give an address
 * or a socket path where a slow resolver matters.
 *
 * Failure handling, for every call below: any failure (refused, reset,
 * timeout, protocol error) discards that connection and closes a
 * tier-wide gate for hone_backoff_next() (full jitter, 10 ms doubling to a
 * 1 s cap); while it is closed every call is answered at once (a miss,
 * counted in errors and skipped) and, when it reopens, one call probes the
 * server while the others keep missing. So a stalled server costs one
 * caller the timeout per backoff interval, and a restarted one is found
 * again within about a second. Memory hiredis allocates itself (the
 * connection, its read buffer, reply objects) comes from libc's malloc:
 * hiredis 0.14 has no allocator hook; the rest goes through o->alloc. */
int hone__redis_open(hone__redis **out, const hone__redis_options *o, hone_error *err);

/* Sends what is queued (bounded by the timeout; what is left is dropped
 * and counted), stops the filler, closes the connections. No other call
 * may be running or made on r. NULL is a no-op. */
void hone__redis_close(hone__redis *r);

/* GET prefix+key. A hit copies the value (header checked and stripped)
 * into val (cleared first) and sets *ttl_left_ns (when not NULL) to the
 * server's remaining TTL (0: no expiry), read with PTTL in the same round
 * trip. Returns HONE_OK or HONE_ENOTFOUND: a miss, and also a timeout, a
 * connection failure, an error reply or a value without hone's header or
 * with a bad checksum (each counted in the stats); HONE_ENOMEM (val keeps
 * its old content); HONE_EINVAL (r or val NULL, key NULL with klen > 0).
 * One deadline, the timeout from the call's start, covers the wait for a
 * free connection, connecting and the round trip. Thread-safe. */
int hone__redis_get(hone__redis *r, const void *key, size_t klen, hone_buf *val,
                    uint64_t *ttl_left_ns);

/* Pipelined gets of n keys on one connection, in one round trip under one
 * deadline: found[i] is 1 with vals[i] filled (each an initialised
 * hone_buf) or 0. Returns HONE_OK (also when the server failed: all
 * misses) or HONE_ENOMEM. Thread-safe. */
int hone__redis_get_many(hone__redis *r, size_t n, const void *const *keys, const size_t *klens,
                         hone_buf *vals, int *found);

/* As hone__redis_get_many, and ttl_left_ns[i] (when ttl_left_ns is not
 * NULL) is set as hone__redis_get sets *ttl_left_ns for each hit (0 for a
 * miss). On HONE_ENOMEM every found[i] is 0; vals may hold memory the
 * caller frees as always. HONE_EINVAL for a NULL array with n > 0. */
int hone__redis_get_many_ttl(hone__redis *r, size_t n, const void *const *keys,
                             const size_t *klens, hone_buf *vals, int *found,
                             uint64_t *ttl_left_ns);

/* Queues SET prefix+key header+value PX ttl (ttl_ns 0: the default TTL;
 * rounded up to whole milliseconds) for the filler, which sends queued
 * sets pipelined in batches (up to 64 commands or 1 MB per round trip). A
 * put that finds the queue full (the server is slow or down), or whose
 * batch fails, is dropped and counted in puts_dropped. The value is
 * copied: the caller's buffer is free when this returns. Returns HONE_OK,
 * HONE_EINVAL (a value over Redis's 512 MB limit less the 24-byte header;
 * r NULL; key or val NULL with a length), HONE_ENOMEM. Thread-safe. */
int hone__redis_put(hone__redis *r, const void *key, size_t klen, const void *val, size_t vlen,
                    uint64_t ttl_ns);

/* DEL prefix+key, synchronously (so a delete is not overtaken by a queued
 * put of the same key, queued puts of the key are dropped first). The DEL
 * goes through the filler, ahead of queued puts, on the connection that
 * carries the puts, so a put of the key already in flight reaches Redis
 * before it. Waits at most the timeout for the reply. Returns HONE_OK;
 * HONE_EIO when the server could not be told in time (counted in errors):
 * at once while the backoff gate is closed, and then the DEL stays queued
 * and is sent when the server answers again, unless its batch fails;
 * HONE_EINVAL (r NULL, key NULL with klen > 0); HONE_ENOMEM. Thread-safe. */
int hone__redis_delete(hone__redis *r, const void *key, size_t klen);

/* Returns HONE_OK once every put queued before the call is settled: sent
 * and answered, or dropped (its batch failed: see puts_dropped), or
 * HONE_ETIMEDOUT when the timeout passed first. HONE_EINVAL for NULL.
 * Thread-safe. */
int hone__redis_flush(hone__redis *r);

/* Counters since open. Every key a get or get_many answers with a value
 * or a miss counts one hit or one miss (a call that returns HONE_ENOMEM
 * may leave some uncounted); a miss may also count in errors or rejected. */
typedef struct hone__redis_stats {
    uint64_t hits, misses;
    uint64_t errors;     /* timeouts, connection failures, error replies, calls skipped */
    uint64_t timeouts;   /* of which timeouts */
    uint64_t rejected;   /* values without hone's header or with a bad checksum */
    uint64_t reconnects; /* connections made after the first, per connection slot */
    uint64_t puts;         /* puts accepted (not refused with EINVAL or ENOMEM) */
    uint64_t puts_dropped; /* of which never stored: queue full, batch failed, left at close */
    uint64_t skipped;    /* of errors: calls answered at once while backing off */
} hone__redis_stats;

/* Fills *st (all zero for r NULL). Thread-safe; each counter is read
 * atomically, the set is not one snapshot. */
void hone__redis_stats_get(hone__redis *r, hone__redis_stats *st);

#endif
