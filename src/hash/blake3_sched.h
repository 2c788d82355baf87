/* blake3_sched.h - BLAKE3's message schedule as a table each compression
 * file sees whole, so that with the rounds unrolled every message index is
 * a compile-time constant and the message words stay in registers. Private
 * to src/hash/; include it only where it is used. */
#ifndef HONE_HASH_BLAKE3_SCHED_H
#define HONE_HASH_BLAKE3_SCHED_H

#include <stdint.h>

/* The message word order of each of the seven rounds: the specification's
 * permutation applied round after round. */
static const uint8_t b3_sched[7][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8},
    {3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1},
    {10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6},
    {12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4},
    {9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7},
    {11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13},
};

/* Inlining is what makes the schedule indices constants. */
#define B3_INLINE static inline __attribute__((always_inline))

/* All seven rounds, written out so nothing is indexed at run time. */
#define B3_ROUNDS(round_fn, v, m)                                                         \
    do {                                                                                  \
        round_fn(v, m, 0);                                                                \
        round_fn(v, m, 1);                                                                \
        round_fn(v, m, 2);                                                                \
        round_fn(v, m, 3);                                                                \
        round_fn(v, m, 4);                                                                \
        round_fn(v, m, 5);                                                                \
        round_fn(v, m, 6);                                                                \
    } while (0)

#endif
