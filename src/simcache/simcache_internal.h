/* simcache_internal.h - what the similarity cache's files share: the text
 * analysis the gates read and the embedding variants the measurements try. */
#ifndef HONE_SIMCACHE_INTERNAL_H
#define HONE_SIMCACHE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "hone/simcache.h"

/* The most words a text may have for the gates to check it. A longer text
 * fails the numbers, identifiers and negation gates ("too long to check"):
 * a difference past the end of what was read must never pass unseen. The
 * analysis lives on the stack (about 12 KiB), so a lookup needs no memory
 * for it. */
#define HONE__SIM_MAX_TOKENS 1024

/* The most polarity pairs gates.c may list. */
#define HONE__SIM_MAX_POLAR 160

enum {
    HONE__TOK_IDENT = 1, /* an identifier (see simcache.h) */
    HONE__TOK_NEG = 2    /* a negation word */
};

typedef struct hone__sim_tok {
    uint32_t off; /* into the text */
    uint16_t len;
    uint8_t flags;
} hone__sim_tok;

/* A number: a span of the text (commas are skipped when comparing). */
typedef struct hone__sim_num {
    uint32_t off;
    uint16_t len;
} hone__sim_num;

typedef struct hone__sim_text {
    const char *text;
    size_t len;
    int too_long; /* more than HONE__SIM_MAX_TOKENS words, or a word over 65535 bytes */
    size_t ntok, nnum, nneg;
    hone__sim_tok tok[HONE__SIM_MAX_TOKENS];
    hone__sim_num num[HONE__SIM_MAX_TOKENS];
    /* Per polarity pair: how many words are forms of its first word [0]
     * and of its second [1]. */
    uint16_t polar[HONE__SIM_MAX_POLAR][2];
} hone__sim_text;

/* Splits text into words and finds its numbers, identifiers, negations and
 * polarity words. Cannot fail (a text too long is marked so). */
void hone__sim_analyze(hone__sim_text *t, const char *text, size_t len);

/* Runs the numbers, identifiers and negation gates between query q and key
 * k into out[HONE_SIM_GATE_NUMBERS .. NEGATION] (checked = that gate is on,
 * i.e. its bit is not in off). Returns 1 when every enabled one passed. */
int hone__sim_gates(const hone__sim_text *q, const hone__sim_text *k, unsigned off,
                    hone_sim_gate_result *out);

/* The built-in embedding with its knobs, for the measurements in the test
 * and docs/design/simcache.md: n-gram sizes nmin..nmax, the weight of a
 * word feature (0: no words), signed hashing (a feature adds +-1 by one
 * hash bit, so that collisions cancel on average instead of adding). */
typedef struct hone__sim_ngram_cfg {
    int nmin, nmax;
    float word_weight;
    int signed_hash;
} hone__sim_ngram_cfg;

extern const hone__sim_ngram_cfg hone__sim_ngram_default;

int hone__sim_ngram_embed_cfg(const char *text, size_t len, uint64_t seed, float *out, size_t dim,
                              const hone__sim_ngram_cfg *cfg);

/* The per-process seed (getrandom once; never 0). */
uint64_t hone__sim_seed(void);

/* The dot product without any vectorisation (a plain loop the compiler is
 * told not to vectorise), the baseline of bench/simcache. */
float hone__sim_dot_scalar(const float *a, const float *b, size_t n);

#endif
