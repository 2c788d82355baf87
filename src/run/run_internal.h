/* run_internal.h - what the run module's files share: result-cache keys,
 * the stored records, and the duration history of --timeout auto. */
#ifndef HONE_RUN_INTERNAL_H
#define HONE_RUN_INTERNAL_H

#include "hone/run.h"

#define HONE__RUN_KEY_LEN 32

/* Computes cache keys for one run. Made once per run (the deps and the
 * declared environment are hashed then, so a dep edited during the run
 * does not change the keys halfway); keys are then computed concurrently
 * by the workers. */
typedef struct hone__run_keyer {
    const hone_allocator *a;
    hone_filecache *files; /* borrowed or owned */
    int own_files;
    uint8_t fixed[HONE__RUN_KEY_LEN]; /* kind, fn_id, deps, env */
} hone__run_keyer;

/* Hashes what every key of the run shares. Returns HONE_OK, HONE_ENOTFOUND
 * or HONE_EACCES (a dep cannot be read: err names it), HONE_EINVAL (a dep
 * that is not a regular file), HONE_ENOMEM. */
int hone__run_keyer_init(hone__run_keyer *k, const hone_run_opts *o, hone_error *err);
void hone__run_keyer_fini(hone__run_keyer *k);

/* The BLAKE3 digest of the regular file at path, through the file cache
 * (an unchanged file is not read again). Returns HONE_OK; HONE_ENOTFOUND
 * (no such file); HONE_EINVAL (not a regular file); HONE_EACCES, HONE_EIO,
 * HONE_ENOMEM. */
int hone__run_file_digest(hone__run_keyer *k, const char *path, uint8_t out[HONE__RUN_KEY_LEN]);

/* The key of one job: argv (command jobs; NULL for function jobs), the
 * digest of the executable at exe (NULL: none), and the job's inputs (the
 * digest of each that names a regular file, its text otherwise). Returns
 * HONE_OK, or the status of a failed digest of exe (HONE_ENOTFOUND, ...),
 * or HONE_ENOMEM. Thread-safe. */
int hone__run_key(hone__run_keyer *k, char *const *argv, int argc, const char *exe,
                  const char *const *inputs, size_t ninputs, uint8_t key[HONE__RUN_KEY_LEN]);

/* A stored result. */
typedef struct hone__run_record {
    int end, status;
    uint64_t start_wall_ns, duration_ns;
    const char *out, *err; /* into the decoded buffer */
    size_t out_len, err_len;
} hone__run_record;

/* Appends the record's encoding to b. Returns HONE_OK or HONE_ENOMEM. */
int hone__run_record_encode(const hone__run_record *r, hone_buf *b);
/* Decodes p[0..n) into *r (out and err point into p). Returns HONE_OK or
 * HONE_ECORRUPT (not a record this version wrote, or truncated). */
int hone__run_record_decode(const void *p, size_t n, hone__run_record *r);

/* The history of a command's durations: at most this many, newest last. */
#define HONE__RUN_HISTORY_MAX 1000
int hone__run_history_encode(const uint64_t *ns, size_t n, hone_buf *b);
/* Decodes into a new array (*ns, through a). HONE_OK, HONE_ECORRUPT,
 * HONE_ENOMEM. */
int hone__run_history_decode(const void *p, size_t len, const hone_allocator *a, uint64_t **ns,
                             size_t *n);

#endif
