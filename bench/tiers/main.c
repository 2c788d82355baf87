/* main.c - bench/tiers: the cache's tiers below memory, each against the
 * baseline a user would otherwise reach for, in one run. `tiers PART...`
 * runs only the named parts (disk, redis, hybrid). */
#include <stdio.h>
#include <string.h>

#include "tiers.h"

static const struct part {
    const char *name;
    void (*fn)(void);
} parts[] = {{"hybrid", bench_tiers_hybrid}, {"disk", bench_tiers_disk}, {"redis", bench_tiers_redis}};

int main(int argc, char **argv) {
    size_t n = sizeof parts / sizeof parts[0];
    for (int a = 1; a < argc; a++) {
        size_t i = 0;
        while (i < n && strcmp(argv[a], parts[i].name)) i++;
        if (i == n) {
            fprintf(stderr, "tiers: unknown part '%s' (expected hybrid, disk or redis)\n", argv[a]);
            return 2;
        }
    }
    for (size_t i = 0; i < n; i++) {
        int run = argc == 1;
        for (int a = 1; a < argc; a++) run |= !strcmp(argv[a], parts[i].name);
        if (!run) continue;
        parts[i].fn();
        fflush(stdout);
    }
    return 0;
}
