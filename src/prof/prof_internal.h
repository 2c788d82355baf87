/* prof_internal.h - what the files of the prof module share. */
#ifndef HONE_PROF_INTERNAL_H
#define HONE_PROF_INTERNAL_H

#include "hone/prof.h"

struct hone_prof_snapshot {
    const hone_allocator *alloc;
    hone_prof_zone *zones; /* n entries; strings owned */
    size_t n;
    uint64_t wall_ns;
    int digits;
    uint64_t dropped;
};

/* Fills out (alloc set by the caller) with every zone that ran in the
 * current interval; with reset, starts a new interval. Returns HONE_OK or
 * HONE_ENOMEM, in which case nothing changed. */
int hone__prof_collect(hone_prof_snapshot *out, const hone_allocator *alloc, int reset);

#endif
