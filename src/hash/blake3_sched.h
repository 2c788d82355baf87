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

/* One step of the four G functions of a half round, written side by side
 * so that each instruction group has four independent dependency chains.
 * The message word is added to `a` before `b`, which takes that addition
 * off the critical path (a's new value waits only for b). The operations
 * come from macros ADD, XOR and ROR(x, bits) that the including file defines
 * for its vector width. */
#define B3_HALF(v, m, s, a0, b0, c0, d0, a1, b1, c1, d1, a2, b2, c2, d2, a3, b3, c3, d3, x0, \
                x1, x2, x3)                                                                   \
    do {                                                                                      \
        v[a0] = ADD(ADD(v[a0], m[s[x0]]), v[b0]);                                             \
        v[a1] = ADD(ADD(v[a1], m[s[x1]]), v[b1]);                                             \
        v[a2] = ADD(ADD(v[a2], m[s[x2]]), v[b2]);                                             \
        v[a3] = ADD(ADD(v[a3], m[s[x3]]), v[b3]);                                             \
        v[d0] = ROR(XOR(v[d0], v[a0]), 16);                                                   \
        v[d1] = ROR(XOR(v[d1], v[a1]), 16);                                                   \
        v[d2] = ROR(XOR(v[d2], v[a2]), 16);                                                   \
        v[d3] = ROR(XOR(v[d3], v[a3]), 16);                                                   \
        v[c0] = ADD(v[c0], v[d0]);                                                            \
        v[c1] = ADD(v[c1], v[d1]);                                                            \
        v[c2] = ADD(v[c2], v[d2]);                                                            \
        v[c3] = ADD(v[c3], v[d3]);                                                            \
        v[b0] = ROR(XOR(v[b0], v[c0]), 12);                                                   \
        v[b1] = ROR(XOR(v[b1], v[c1]), 12);                                                   \
        v[b2] = ROR(XOR(v[b2], v[c2]), 12);                                                   \
        v[b3] = ROR(XOR(v[b3], v[c3]), 12);                                                   \
        v[a0] = ADD(ADD(v[a0], m[s[x0 + 1]]), v[b0]);                                         \
        v[a1] = ADD(ADD(v[a1], m[s[x1 + 1]]), v[b1]);                                         \
        v[a2] = ADD(ADD(v[a2], m[s[x2 + 1]]), v[b2]);                                         \
        v[a3] = ADD(ADD(v[a3], m[s[x3 + 1]]), v[b3]);                                         \
        v[d0] = ROR(XOR(v[d0], v[a0]), 8);                                                    \
        v[d1] = ROR(XOR(v[d1], v[a1]), 8);                                                    \
        v[d2] = ROR(XOR(v[d2], v[a2]), 8);                                                    \
        v[d3] = ROR(XOR(v[d3], v[a3]), 8);                                                    \
        v[c0] = ADD(v[c0], v[d0]);                                                            \
        v[c1] = ADD(v[c1], v[d1]);                                                            \
        v[c2] = ADD(v[c2], v[d2]);                                                            \
        v[c3] = ADD(v[c3], v[d3]);                                                            \
        v[b0] = ROR(XOR(v[b0], v[c0]), 7);                                                    \
        v[b1] = ROR(XOR(v[b1], v[c1]), 7);                                                    \
        v[b2] = ROR(XOR(v[b2], v[c2]), 7);                                                    \
        v[b3] = ROR(XOR(v[b3], v[c3]), 7);                                                    \
    } while (0)

/* The column step, then the diagonal step, of round r. */
#define B3_COLUMNS(v, m, s) \
    B3_HALF(v, m, s, 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15, 0, 2, 4, 6)
#define B3_DIAGONALS(v, m, s) \
    B3_HALF(v, m, s, 0, 5, 10, 15, 1, 6, 11, 12, 2, 7, 8, 13, 3, 4, 9, 14, 8, 10, 12, 14)

#endif
