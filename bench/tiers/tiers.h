/* tiers.h - the parts of bench/tiers, one file each: the disk tier against
 * raw LMDB, the shared tier against redis-benchmark, and the hybrid hit
 * ratios on the public traces. */
#ifndef HONE_BENCH_TIERS_H
#define HONE_BENCH_TIERS_H

void bench_tiers_disk(void);
void bench_tiers_redis(void);
void bench_tiers_hybrid(void);

#endif
