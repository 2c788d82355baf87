/* hone/simcache.h - a similarity cache: answers to expensive calls (a prompt
 * to a language model) reused when a new request is similar enough to a
 * cached one, without ever serving a wrong answer silently: an exact tier
 * first, a similarity tier second behind hard gates (numbers, identifiers,
 * negation, namespace), calibrated thresholds, and an explanation of every
 * decision.
 *
 * Threads: every call on one cache is thread-safe; lookups scan under a
 * read lock and run concurrently. The design, the gates' reasons and the
 * measurements: docs/design/simcache.md. */
#ifndef HONE_SIMCACHE_H
#define HONE_SIMCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "hone/cache.h"
#include "hone/core.h"
#include "hone/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Scorers                                                             */
/* ------------------------------------------------------------------ */

/* A scorer turns a text into a vector of dim floats with L2 norm 1, so
 * that the dot product of two vectors is their cosine similarity, the
 * score (in [-1, 1]; 1 = the same direction). Any embedding model fits
 * behind it. embed returns HONE_OK or a negative status, which the cache
 * passes on to its caller; it may be called from several threads at once
 * (the cache calls it without holding its lock) and must not call into the
 * cache. embed NULL makes a vectors-only scorer: the cache then takes only
 * vectors the caller computed (hone_simcache_put_vec/get_vec), and the
 * text calls return HONE_ENOTSUP. name and version are copied by the
 * cache and reported in every result, so a log line says which model
 * scored a hit (a new model version must get a new version string: its
 * scores are not comparable with the old one's). */
typedef struct hone_sim_scorer {
    const char *name;    /* short, e.g. "ngram" or "minilm-l6"; required */
    const char *version; /* e.g. "1"; NULL: "" */
    size_t dim;          /* floats per vector; 1 .. 65536 */
    int (*embed)(void *ctx, const char *text, size_t len, float *out);
    void *ctx;
} hone_sim_scorer;

/* The built-in, model-free scorer ("ngram", version "1"): the text is
 * lower-cased (ASCII), every run of characters that are not letters,
 * digits or bytes >= 0x80 becomes one space, and the result is padded with
 * a space at each end; its features are the character 3-grams and the
 * words, each hashed with XXH3 (seeded) into dim buckets; a bucket's weight
 * is 1 + ln(count) (sublinear term frequency), words weigh twice a 3-gram,
 * and the vector is L2-normalised. Not IDF-weighted: see
 * docs/design/simcache.md for what was measured. An empty text (or one of
 * separators only) gives the zero vector, whose score with anything is 0.
 *
 * The seed keeps an attacker who chooses texts from making features
 * collide on purpose: 0 takes a per-process random seed (getrandom, drawn
 * once); another value is for replaying a run. Scores differ slightly
 * between seeds (collisions fall elsewhere). */
#define HONE_SIM_NGRAM_DIM 1024 /* the built-in's default dim */

/* The state of one built-in scorer; set by hone_sim_scorer_ngram, not to be
 * changed while a cache uses it. */
typedef struct hone_sim_ngram {
    size_t dim;
    uint64_t seed;
} hone_sim_ngram;

/* Fills *out with a built-in scorer of dim buckets (0: HONE_SIM_NGRAM_DIM)
 * whose ctx is st (the caller keeps st alive as long as a cache uses the
 * scorer). seed as above. Cannot fail. Thread-safe. */
HONE_API void hone_sim_scorer_ngram(hone_sim_scorer *out, hone_sim_ngram *st, size_t dim,
                                    uint64_t seed);

/* The built-in scorer's embedding of text[0..len) into out[0..dim), as
 * above (seed 0: the per-process seed). Returns HONE_OK, HONE_EINVAL (NULL
 * text with len > 0, NULL out, dim 0). Needs no memory. Thread-safe. */
HONE_API int hone_sim_ngram_embed(const char *text, size_t len, uint64_t seed, float *out,
                                  size_t dim);

/* The dot product of a[0..n) and b[0..n): the loop the cache scans with
 * (AVX2 when hone_cpu_has(HONE_CPU_AVX2), else a portable loop written so
 * the compiler vectorises it). Thread-safe. */
HONE_API float hone_sim_dot(const float *a, const float *b, size_t n);

/* ------------------------------------------------------------------ */
/* Gates                                                               */
/* ------------------------------------------------------------------ */

/* Hard gates: a similar candidate is served only when every enabled gate
 * passes, whatever its score, because a question and its variant that
 * changes one number, name or "not" score high under any encoder yet need
 * another answer. Each compares the query's text with the entry's key:
 * - NUMBERS: the multisets of numbers must be equal. A number is a run of
 *   digits, with '.' or ',' between digits kept inside it ("2.1",
 *   "1,000" read as 1000), and the words zero .. twenty, thirty .. ninety,
 *   hundred, thousand, million, billion (as themselves: "three" equals
 *   "three", not "3"). "3 GPUs" vs "4 GPUs" is refused.
 * - IDENTIFIERS: every identifier of either text must appear in the other
 *   as a whole word (compared without case: "download_and_prepare" is not
 *   "Metric._download_and_prepare"). A word is split at spaces and at
 *   punctuation other than . - / : @ # \ ' inside it ('_' is a letter). An
 *   identifier is a word that holds a digit and a letter ("v1.2.3",
 *   "gpt4", "h100"), an '_', a '/', a "::" or a '.' between letters
 *   ("os.path", "config.yaml"; not "e.g."), or is camelCase ("getUser",
 *   "PyTorch"); or any word inside a `code span` (backticks); or one word
 *   alone in quotes ("image", 'utf-8', the curly quotes too); or a call
 *   ("split()", "f(x)" with no space inside; not "file(s)"). "version 2.1"
 *   vs "version 2.2" is caught by NUMBERS (no letter); "config_dev.yaml" vs
 *   "config_prod.yaml" and `fsspec` vs `gcsfs` here.
 * - NEGATION: the number of negation words must be equal (not, no, never,
 *   none, nothing, nobody, nowhere, neither, nor, without, cannot, any
 *   word ending in "n't" or "n’t", and those spelled without the
 *   apostrophe: dont, cant, isnt, wont, doesnt, didnt ...); no polarity
 *   pair may be crossed; and no word may flip by a negating prefix.
 *   Polarity pairs: a pair is crossed when one text has more forms of one
 *   of its words (enable, enables, enabled, enabling; easy, easier, easily)
 *   than the other and fewer of the other word ("enable" vs "disable"; "the
 *   download method ... to download" vs "the upload method ... to
 *   download"). The pairs, general antonyms (a word may be in several):
 *   enable/disable, allow/deny, permit/forbid, accept/reject,
 *   include/exclude, increase/decrease, add/remove, add/subtract,
 *   start/stop, start/finish, begin/end, open/close, lock/unlock,
 *   install/uninstall, upload/download, import/export, push/pull,
 *   encrypt/decrypt, compress/decompress, encode/decode,
 *   serialize/deserialize, send/receive, read/write, create/delete,
 *   create/destroy, insert/delete, attach/detach, connect/disconnect,
 *   mount/unmount, load/unload, pause/resume, show/hide, acquire/release,
 *   allocate/deallocate, login/logout, upgrade/downgrade,
 *   increment/decrement, grow/shrink, expand/collapse, maximize/minimize,
 *   multiply/divide, succeed/fail, pass/fail, win/lose, buy/sell;
 *   true/false, valid/invalid, success/failure, correct/wrong, right/wrong,
 *   good/bad, better/worse, best/worst, easy/hard, easy/difficult,
 *   safe/dangerous, strong/weak, public/private, sync/async,
 *   synchronous/asynchronous, local/remote, global/local, online/offline,
 *   optional/require(d), optional/mandatory, static/dynamic,
 *   manual/automatic, explicit/implicit, visible/hidden,
 *   internal/external, client/server, request/response,
 *   source/destination, parent/child, primary/secondary, major/minor,
 *   single/multiple, same/different, full/empty, dense/sparse,
 *   lossy/lossless, lazy/eager, sequential/parallel, serial/parallel,
 *   cheap/expensive, light/dark, hot/cold, allowlist/blocklist,
 *   whitelist/blacklist, positive/negative; new/old, before/after,
 *   early/late, past/future, previous/next, first/last, always/never,
 *   often/rarely, min/max, minimum/maximum, more/less, most/least,
 *   many/few, plus/minus, above/below, higher/lower, high/low,
 *   upper/lower, uppercase/lowercase, faster/slower, fast/slow,
 *   larger/smaller, large/small, big/small, long/short, wide/narrow,
 *   deep/shallow, inside/outside, inner/outer, input/output,
 *   incoming/outgoing, inbound/outbound, upstream/downstream, left/right,
 *   top/bottom, forward/backward, horizontal/vertical,
 *   ascending/descending, on/off. A word joined by '-' or '/' counts by
 *   its parts ("re-download", "read/write").
 *   Negating prefixes: a word that is un-, in-, im-, il-, ir-, dis- or
 *   non- (also "non-") followed by a stem of 4 or more letters, whose counts
 *   cross with the stem's the same way (possible/impossible,
 *   available/unavailable, correct/incorrect, streaming/non-streaming).
 *   Words whose prefix does not negate (inform, display, install, import,
 *   improve, unless, discover, ... listed in gates.c) are exempt. Known
 *   false refusals: an unlisted word of that shape beside its stem
 *   ("intone"/"tone", "insole"/"sole"; "unrest"/"rest" is listed),
 *   and antonyms used in unrelated senses ("hard drive" vs "easy").
 * - NAMESPACE: the entry's namespace must be the query's. Turned off,
 *   entries of every namespace are candidates, and the result still says
 *   when the served one came from another.
 * - FEEDBACK: the (query, entry) pair was not reported wrong
 *   (hone_simcache_report_wrong). Always on.
 * Gates are checked on candidates in score order; the first candidate at
 * or above its threshold that passes every gate is served. */
typedef enum hone_sim_gate {
    HONE_SIM_GATE_NUMBERS = 0,
    HONE_SIM_GATE_IDENTIFIERS = 1,
    HONE_SIM_GATE_NEGATION = 2,
    HONE_SIM_GATE_NAMESPACE = 3,
    HONE_SIM_GATE_FEEDBACK = 4,
    HONE_SIM_GATE_COUNT
} hone_sim_gate;

/* Bits for hone_simcache_opts.gates_off. */
#define HONE_SIM_GATE_BIT(g) (1u << (g))

/* "numbers", "identifiers", "negation", "namespace", "feedback"; NULL out of
 * range. Static string. */
HONE_API const char *hone_sim_gate_name(int gate);

/* ------------------------------------------------------------------ */
/* Results                                                             */
/* ------------------------------------------------------------------ */

typedef enum hone_sim_kind {
    HONE_SIM_MISS = 0,      /* nothing close: best score below threshold - margin */
    HONE_SIM_EXACT = 1,     /* the exact tier: the same namespace and text */
    HONE_SIM_SIMILAR = 2,   /* a candidate at or above its threshold passed every gate */
    HONE_SIM_REFUSED = 3,   /* candidates at or above threshold, each failed a gate */
    HONE_SIM_NEAR_MISS = 4  /* best score in [threshold - margin, threshold) */
} hone_sim_kind;

/* "miss", "exact", "similar", "refused", "near_miss"; NULL out of range. */
HONE_API const char *hone_sim_kind_name(int kind);

/* One gate's verdict on the candidate the result describes. */
typedef struct hone_sim_gate_result {
    int checked;     /* 1: the gate is on and was checked; 0: off (or not reached) */
    int passed;      /* 1: passed (also when off but it would have passed) */
    char detail[96]; /* why it failed, e.g. "numbers differ: 3 vs 4"; "" when passed */
} hone_sim_gate_result;

#define HONE_SIM_KEY_MAX 200 /* bytes of the matched key a result copies */

/* Why a lookup answered as it did. Everything is copied into the struct,
 * so it stays valid after the call and after the entry is gone. The
 * candidate is the served entry (EXACT, SIMILAR), the best-scoring refused
 * one (REFUSED), or the best one under threshold (NEAR_MISS; MISS when
 * there was any entry to compare). */
typedef struct hone_sim_result {
    int kind;              /* hone_sim_kind */
    uint64_t entry_id;     /* the candidate's id (ids start at 1; 0: none) */
    double score;          /* the candidate's score (1 for EXACT) */
    double threshold;      /* the candidate's effective threshold */
    char scorer[48];       /* "name/version" */
    char ns[64];           /* the candidate's namespace (truncated) */
    int cross_namespace;   /* 1: the candidate is of another namespace */
    char key[HONE_SIM_KEY_MAX + 1]; /* the candidate's key, NUL-terminated, truncated */
    size_t key_len;        /* the key's full length */
    size_t candidates;     /* entries at or above threshold that were gate-checked */
    hone_sim_gate_result gates[HONE_SIM_GATE_COUNT];
} hone_sim_result;

/* Appends the result as one line of text (no newline) to out, e.g.
 *   similar score=0.912 threshold=0.780 scorer=ngram/1 entry=42 ns="" \
 *   key="How do I reset my password?" gates=numbers:pass,identifiers:pass,
 *   negation:pass,namespace:pass,feedback:pass
 * and for a refusal the failing gate's detail ("numbers:FAIL(numbers
 * differ: 3 vs 4)"); gates that are off read "off". The key is escaped
 * (quotes, backslashes, control bytes). Returns HONE_OK, HONE_EINVAL (NULL
 * argument), HONE_ENOMEM (out unchanged). */
HONE_API int hone_sim_result_format(const hone_sim_result *r, hone_buf *out);

/* ------------------------------------------------------------------ */
/* The cache                                                           */
/* ------------------------------------------------------------------ */

typedef struct hone_simcache hone_simcache;

/* The built-in scorer's default threshold, from GPTCache's mock_data.json
 * (its 964 distinct origins as entries, its 999 paraphrases as queries):
 * above the highest score at which any query was served another origin
 * that is not a near-duplicate of its own (word Jaccard below 0.5; the
 * data repeats some questions in other words), 0.850 to 0.862 over three
 * seeds, plus a margin for the seed. It serves about 12 % of the
 * paraphrases: a model-free scorer cannot tell a reworded question from a
 * different one at lower scores. docs/design/simcache.md has the figures;
 * `hone cache calibrate` picks one for a false-hit rate on your pairs. */
#define HONE_SIM_NGRAM_THRESHOLD 0.88

typedef struct hone_simcache_opts {
    const hone_allocator *alloc; /* NULL: the default */
    /* NULL: the built-in n-gram scorer with HONE_SIM_NGRAM_DIM and the
     * per-process seed. Copied (the ctx is not owned and must outlive the
     * cache). */
    const hone_sim_scorer *scorer;
    /* A similar candidate hits when its score is >= threshold. 0: the
     * built-in scorer's HONE_SIM_NGRAM_THRESHOLD; with another scorer it
     * must be given (it depends on the model: calibrate it). (0, 1]. */
    double threshold;
    /* A lookup whose best score is within this much under the threshold is
     * a near miss (counted apart: raising the hit rate means lowering the
     * threshold, and these show what that would serve). 0: 0.05. */
    double near_miss_margin;
    /* Gates turned off: HONE_SIM_GATE_BIT(g) ored. 0: every gate on.
     * FEEDBACK cannot be turned off (its bit is ignored). */
    unsigned gates_off;
    /* Bytes of keys, namespaces, vectors (dim * 4) and answers held at
     * most; least recently used entries are evicted to make room. 0: 64 MiB. */
    uint64_t max_bytes;
    uint64_t ttl_ns;            /* an entry expires this long after its put; 0: never */
    hone_cache_clock_fn clock;  /* NULL: hone_monotonic_ns */
    void *clock_ctx;
} hone_simcache_opts;

/* Makes a cache. Returns HONE_OK; HONE_EINVAL (out NULL, a scorer without
 * name or with dim 0 or above 65536, threshold outside [0, 1] or 0 with a
 * scorer other than the built-in, margin outside [0, 1), max_bytes below
 * one entry's vector; err says which); HONE_ENOMEM. On failure *out is NULL
 * and nothing leaks. */
HONE_API int hone_simcache_new(hone_simcache **out, const hone_simcache_opts *opts,
                               hone_error *err);

/* Frees the cache and every entry. NULL is a no-op. No other thread may be
 * using it. */
HONE_API void hone_simcache_free(hone_simcache *c);

/* Stores answer[0..alen) for key[0..klen) in namespace ns (a tenant;
 * NUL-terminated, NULL is ""), replacing an entry of the same ns and key
 * (which gets a new id and the default threshold). The key is embedded by
 * the scorer (without the lock held). Texts are bytes; the built-in scorer
 * and the gates read them as UTF-8 / ASCII. Evicts least recently used
 * entries until the new one fits in max_bytes. Returns HONE_OK;
 * HONE_EINVAL (NULL c or key, NULL answer with alen > 0, ns longer than
 * 255 bytes); HONE_ERANGE (the entry alone is larger than max_bytes);
 * HONE_ENOTSUP (a vectors-only scorer); the scorer's error; HONE_ENOMEM
 * (the cache is unchanged). Thread-safe. */
HONE_API int hone_simcache_put(hone_simcache *c, const char *ns, const char *key, size_t klen,
                               const void *answer, size_t alen);

/* Looks query up in namespace ns: the exact tier (same ns, same bytes),
 * then the similarity tier (a brute-force scan of every entry's vector,
 * exactly scored, candidates at or above their threshold checked against
 * the gates in score order). On EXACT or SIMILAR the answer is appended to
 * *answer (when answer is not NULL) and the entry becomes the most
 * recently used. why (may be NULL) receives the explanation in every case.
 * Returns HONE_OK on EXACT or SIMILAR; HONE_ENOTFOUND on MISS, NEAR_MISS
 * or REFUSED (why->kind says which); HONE_EINVAL (NULL c, NULL query with
 * qlen > 0); HONE_ENOTSUP (vectors-only scorer); the scorer's error;
 * HONE_ENOMEM (answer unchanged). Thread-safe: lookups scan concurrently
 * under a read lock. */
HONE_API int hone_simcache_get(hone_simcache *c, const char *ns, const char *query, size_t qlen,
                               hone_buf *answer, hone_sim_result *why);

/* The same with a vector the caller computed (dim floats of the cache's
 * scorer's model; normalised by the cache, so any non-zero length will
 * do). The text still keys the exact tier and feeds the gates. Returns as
 * above, and HONE_EINVAL for a NULL vector or one with a zero, NaN or
 * infinite norm. */
HONE_API int hone_simcache_put_vec(hone_simcache *c, const char *ns, const char *key, size_t klen,
                                   const float *vec, const void *answer, size_t alen);
HONE_API int hone_simcache_get_vec(hone_simcache *c, const char *ns, const char *query,
                                   size_t qlen, const float *vec, hone_buf *answer,
                                   hone_sim_result *why);

/* Reports that `served` (a result of a get of query in ns that returned
 * EXACT or SIMILAR) was the wrong answer. For SIMILAR, that query never
 * hits that entry again (a seeded 64-bit hash of ns and query is kept with
 * the entry, up to 16 per entry, the oldest dropped) and the entry's
 * threshold rises above the served score (to score + 0.001, at most 1.0),
 * so nearer paraphrases still hit and farther ones no longer do. For
 * EXACT, the entry's answer is wrong for its own key and the entry is
 * removed. Counted in stats.wrong_reports. Returns HONE_OK; HONE_EINVAL
 * (NULL argument, a result that served nothing); HONE_ENOTFOUND (the entry
 * is gone: nothing to do, still counted); HONE_ENOMEM. Thread-safe. */
HONE_API int hone_simcache_report_wrong(hone_simcache *c, const char *ns, const char *query,
                                        size_t qlen, const hone_sim_result *served);

/* Removes the entry of ns and key. Returns HONE_OK or HONE_ENOTFOUND. */
HONE_API int hone_simcache_delete(hone_simcache *c, const char *ns, const char *key, size_t klen);

/* Scores two texts under the cache's scorer and checks the gates between
 * them as a lookup of a against an entry keyed b of the same namespace
 * would (the threshold is the cache's). *score gets the score; gates (may
 * be NULL) gets the result a lookup would report: kind SIMILAR, REFUSED,
 * NEAR_MISS or MISS, score, threshold and every gate. The calibration
 * reads scores through this. Counts nothing. Returns HONE_OK, HONE_EINVAL,
 * HONE_ENOTSUP (vectors-only scorer), the scorer's error, HONE_ENOMEM.
 * Thread-safe. */
HONE_API int hone_simcache_score(hone_simcache *c, const char *a, size_t alen, const char *b,
                                 size_t blen, double *score, hone_sim_result *gates);

/* The cache's default threshold (as given, or the built-in's). */
HONE_API double hone_simcache_threshold(const hone_simcache *c);

typedef struct hone_simcache_stats {
    uint64_t exact_hits, similar_hits;
    uint64_t refused;                              /* lookups answered REFUSED */
    uint64_t refused_by_gate[HONE_SIM_GATE_COUNT]; /* failed checks, per gate */
    uint64_t near_misses, misses;
    uint64_t wrong_reports;
    uint64_t puts;
    uint64_t evictions; /* to fit max_bytes */
    uint64_t expired;   /* removed by their ttl */
    uint64_t entries, bytes, max_bytes;
} hone_simcache_stats;

/* Fills *st (counts since the cache was made). Thread-safe. */
HONE_API void hone_simcache_stats_get(hone_simcache *c, hone_simcache_stats *st);

/* Sets the cache's figures in a metrics registry, every series labelled
 * simcache="name": counters hone_simcache_lookups_total{result="exact"|
 * "similar"|"refused"|"near_miss"|"miss"}, hone_simcache_refusals_total
 * {gate=...} (failed gate checks), hone_simcache_wrong_reports_total,
 * hone_simcache_puts_total, hone_simcache_evictions_total{reason="size"|
 * "expired"}; gauges hone_simcache_entries, hone_simcache_bytes,
 * hone_simcache_max_bytes, hone_simcache_threshold. Call it before each
 * exposition. Returns HONE_OK; HONE_EINVAL (NULL argument, empty name);
 * HONE_ERANGE (a counter would go down: two caches share a name); a status
 * of hone_metrics_counter/gauge; HONE_ENOMEM. Thread-safe. */
HONE_API int hone_simcache_metrics_update(hone_simcache *c, hone_metrics *m, const char *name,
                                          hone_error *err);

/* ------------------------------------------------------------------ */
/* Calibration                                                         */
/* ------------------------------------------------------------------ */

/* A threshold chosen on labelled pairs, and how it does on pairs it was
 * not chosen on. Rates are fractions in [0, 1]; the intervals are 95 %
 * Wilson score intervals. */
typedef struct hone_sim_calibration {
    double threshold;       /* a pair hits when its score is >= this */
    double target_fpr;      /* as asked */
    size_t fit_pos, fit_neg;   /* pairs of the fitting half */
    size_t eval_pos, eval_neg; /* pairs of the evaluation half */
    size_t tp, fn, fp, tn;     /* on the evaluation half */
    double recall, recall_lo, recall_hi;
    double fpr, fpr_lo, fpr_hi; /* false hits / negatives */
} hone_sim_calibration;

/* Picks a threshold on labelled scores: the pairs are split in two halves
 * at random (seed; 0: a fixed default, so runs repeat), stratified by
 * label; on the first half the threshold is the lowest score whose false
 * hit rate is at most target_fpr (ties counted as hits); the second half
 * reports recall, false hit rate and their intervals at that threshold.
 * scores[i] is pair i's score (higher = more similar; NaN is refused),
 * labels[i] 1 for a pair that should hit, 0 for one that must not.
 * Returns HONE_OK; HONE_EINVAL (NULL arrays with n > 0, target_fpr outside
 * [0, 1), a NaN score, fewer than 2 positives or 2 negatives; err says
 * which); HONE_ENOMEM. */
HONE_API int hone_sim_calibrate(const double *scores, const int *labels, size_t n, double target_fpr,
                                uint64_t seed, hone_sim_calibration *out, hone_error *err);

/* A 95 % Wilson score interval for k successes in n trials (n 0: [0, 1]). */
HONE_API void hone_sim_wilson(size_t k, size_t n, double *lo, double *hi);

#ifdef __cplusplus
}
#endif

#endif
