/* prof_internal.h - what the files of the prof module share. */
#ifndef HONE_PROF_INTERNAL_H
#define HONE_PROF_INTERNAL_H

#include "hone/prof.h"

struct hone_prof_snapshot {
    const hone_allocator *alloc;
    hone_prof_zone *zones; /* n entries */
    size_t n;
    hone_prof_node *nodes; /* the tree, depth-first */
    size_t n_nodes;
    hone_prof_thread *threads; /* their events point into `events` */
    size_t n_threads;
    hone_prof_event *events;
    size_t n_events;
    char **owned; /* every string zones, nodes and threads point to */
    size_t n_owned;
    uint64_t wall_ns;
    int digits;
    uint64_t dropped;
    int traced;
    uint64_t trace_dropped;
    uint64_t pid;
    char *process; /* the program's name, for traces; may be NULL */
};

/* Fills out (alloc set by the caller) with every zone that ran in the
 * current interval; with reset, starts a new interval. Returns HONE_OK or
 * HONE_ENOMEM, in which case nothing changed. */
int hone__prof_collect(hone_prof_snapshot *out, const hone_allocator *alloc, int reset);

#endif
