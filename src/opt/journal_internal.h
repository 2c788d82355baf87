/* journal_internal.h - what the tuner (tune.c) uses of the journal
 * (journal.c); not part of the API. */
#ifndef HONE_OPT_JOURNAL_INTERNAL_H
#define HONE_OPT_JOURNAL_INTERNAL_H

#include <stdint.h>

#include "hone/core.h"

/* One line to append. Strings may be NULL (written as null, or left out
 * for before_origin and evidence); ref 0 writes no "ref". */
typedef struct hone__journal_entry {
    const char *setting;       /* "batch.size" */
    const char *component;     /* NULL: global */
    const char *before, *after;
    const char *before_origin; /* origin name of `before`: "default", "auto", ... */
    const char *evidence;
    const char *outcome;       /* "kept", "reverted", "skipped", "undone" */
    uint64_t ref;
} hone__journal_entry;

/* Appends one line to the journal at path (directories made as needed):
 * under an exclusive flock, the file is read and checked (a journal that
 * does not parse is not added to: HONE_ECORRUPT naming path:line, also for
 * an incomplete last line), the line gets the next seq, goes out in one
 * O_APPEND write, and the file is fsynced (its directory too when the file
 * is new). *seq (may be NULL) receives the seq. Returns HONE_OK,
 * HONE_ECORRUPT, HONE_ENOMEM, or the failed system call's status (HONE_EIO,
 * HONE_EACCES...) with err naming the path. */
int hone__journal_append(const char *path, const hone__journal_entry *e, uint64_t *seq,
                         const hone_allocator *alloc, hone_error *err);

/* The current UTC time as "2026-12-04T16:20:00Z" into buf (at least 21
 * bytes). */
void hone__journal_time(char *buf, size_t n);

#endif
