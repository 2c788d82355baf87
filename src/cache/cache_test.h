/* cache_test.h - hooks into the cache for the tests only: they hold a read
 * section open across other calls, which the public API never does, to
 * prove deterministically that nothing a reader may still see is freed;
 * and they put a write between a read below memory and its promotion. */
#ifndef HONE_CACHE_CACHE_TEST_H
#define HONE_CACHE_CACHE_TEST_H

#include <stddef.h>

#include "hone/cache.h"

/* Enters a read section on this thread and returns the value bytes of key
 * (and *vlen), or NULL on a miss (the section stays open either way). The
 * thread must call hone__cache_test_leave() before any other read. Returns
 * NULL with no section when this thread has no epoch slot. */
const void *hone__cache_test_enter(hone_cache *c, const void *key, size_t klen, size_t *vlen);
/* Leaves the section entered above. */
void hone__cache_test_leave(void);
/* Makes this thread, which must not have read from any cache yet, behave as
 * if all epoch slots were taken: its reads go through the shard locks. */
void hone__cache_test_no_slot(void);

/* Called (when set) by a get that missed memory, after it read a value
 * below memory and before it promotes it: a test puts a newer value of the
 * key there, deterministically, to prove the promotion never hides it. */
extern void (*hone__cache_test_tier_hook)(hone_cache *c, const void *key, size_t klen);

#endif
