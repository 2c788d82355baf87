/* cache_disk.c - `hone cache stats|clear|export`: what a disk or hybrid
 * cache's file holds, emptying it, and writing its entries out as JSON
 * Lines. The file is opened as a disk cache that is never recreated: a file
 * hone did not write is refused, never touched. */
#include "cli.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { OPT_DIR = CLI_LONG, OPT_NAME, OPT_JSON };

static const cli_opt stats_opts[] = {
    {OPT_DIR, "dir", "DIR", "the cache's directory; default $HONE_CACHE_DIR, else ~/.cache/hone", "@dir"},
    {OPT_NAME, "name", "NAME", "the cache's file in it; default cache.mdb", NULL},
    {OPT_JSON, "json", NULL, "print one JSON object", NULL},
    {'h', "help", NULL, "show this help", NULL},
    {0, NULL, NULL, NULL, NULL}};

static const cli_opt clear_opts[] = {
    {OPT_DIR, "dir", "DIR", "the cache's directory; default $HONE_CACHE_DIR, else ~/.cache/hone", "@dir"},
    {OPT_NAME, "name", "NAME", "the cache's file in it; default cache.mdb", NULL},
    {'h', "help", NULL, "show this help", NULL},
    {0, NULL, NULL, NULL, NULL}};

static const cli_opt export_opts[] = {
    {OPT_DIR, "dir", "DIR", "the cache's directory; default $HONE_CACHE_DIR, else ~/.cache/hone", "@dir"},
    {OPT_NAME, "name", "NAME", "the cache's file in it; default cache.mdb", NULL},
    {'h', "help", NULL, "show this help", NULL},
    {0, NULL, NULL, NULL, NULL}};

const cli_spec cli_spec_cache_stats = {
    "cache stats",
    "usage: hone cache stats [--dir DIR] [--name NAME] [--json]\n"
    "\n"
    "Prints what a disk or hybrid cache's file holds: its entries, their bytes,\n"
    "and the file's size.\n",
    NULL, stats_opts};

const cli_spec cli_spec_cache_clear = {
    "cache clear",
    "usage: hone cache clear [--dir DIR] [--name NAME]\n"
    "\n"
    "Removes every entry of a disk or hybrid cache's file (in one synced\n"
    "transaction; processes using it see an empty cache).\n",
    NULL, clear_opts};

const cli_spec cli_spec_cache_export = {
    "cache export",
    "usage: hone cache export [--dir DIR] [--name NAME]\n"
    "\n"
    "Writes every live entry of a disk or hybrid cache's file to stdout as JSON\n"
    "Lines: {\"key\": ..., \"value\": ..., \"expires\": ...}, key and value as\n"
    "strings when they are UTF-8 text, else as key_base64 and value_base64;\n"
    "expires is an RFC 3339 UTC time, or null for none.\n",
    NULL, export_opts};

/* Standard base64 (RFC 4648) of n bytes, NUL-terminated, malloc'd. */
static char *base64(const unsigned char *p, size_t n) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n) v |= p[i + 2];
        *o++ = tab[v >> 18 & 63];
        *o++ = tab[v >> 12 & 63];
        *o++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

/* Sets name (text) or name_base64 in o. Returns 0, or -1 out of memory. */
static int set_bytes(json_t *o, const char *name, const void *p, size_t n) {
    json_t *s = memchr(p, 0, n) ? NULL : json_stringn(p, n); /* NULL: not UTF-8 */
    if (s) return json_object_set_new(o, name, s);
    char *b = base64(p, n), key[32];
    if (!b) return -1;
    snprintf(key, sizeof key, "%s_base64", name);
    int rc = json_object_set_new(o, key, json_string(b));
    free(b);
    return rc;
}

static int export_one(void *ctx, const void *key, size_t klen, const void *val, size_t vlen,
                      uint64_t expire_wall_ns) {
    uint64_t *count = ctx;
    json_t *o = json_object();
    if (!o || set_bytes(o, "key", key, klen) || set_bytes(o, "value", val, vlen)) {
        json_decref(o);
        return HONE_ENOMEM;
    }
    if (expire_wall_ns) {
        time_t t = (time_t)(expire_wall_ns / 1000000000u);
        struct tm tm;
        char buf[32];
        gmtime_r(&t, &tm);
        strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_object_set_new(o, "expires", json_string(buf));
    } else {
        json_object_set_new(o, "expires", json_null());
    }
    int rc = json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (rc || putchar('\n') == EOF) return HONE_EIO;
    (*count)++;
    return 0;
}

static void human(uint64_t b, char *buf, size_t n) {
    static const char *const u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    int i = 0;
    while (v >= 1024 && i < 4) v /= 1024, i++;
    if (i == 0) snprintf(buf, n, "%llu B", (unsigned long long)b);
    else snprintf(buf, n, "%.1f %s", v, u[i]);
}

int cli_cache_disk(int argc, char **argv) {
    const char *action = argv[0], *dir = NULL, *name = NULL;
    const cli_spec *spec = !strcmp(action, "stats")   ? &cli_spec_cache_stats
                           : !strcmp(action, "clear") ? &cli_spec_cache_clear
                                                      : &cli_spec_cache_export;
    int json = 0, c;
    optind = 0;
    while ((c = cli_next(spec, argc, argv)) != -1) {
        switch (c) {
        case OPT_DIR: dir = optarg; break;
        case OPT_NAME: name = optarg; break;
        case OPT_JSON: json = 1; break;
        case 'h': cli_help(spec, stdout); return CLI_OK;
        default: return CLI_USAGE;
        }
    }
    if (optind < argc) {
        cli_cmd_error("cache", "unexpected argument '%s'", argv[optind]);
        return CLI_USAGE;
    }
    hone_error err;
    char *defdir = NULL;
    if (!dir) {
        if (hone_cache_dir(&defdir, NULL, &err)) {
            cli_cmd_error("cache", "%s", err.msg);
            return CLI_USAGE;
        }
        dir = defdir;
    }
    if (!name) name = "cache.mdb";
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        cli_cmd_error("cache", "%s: no cache there (%s); a disk or hybrid cache makes it on "
                               "first use",
                      path, strerror(errno));
        free(defdir);
        return CLI_FAIL;
    }
    /* The bound is the program's that uses the cache, which this command
     * cannot know. Twice the file's size is above what the file holds (its
     * entries' bytes are less than its size), so opening it never evicts
     * anything (a smaller bound would apply at once), and the map it needs
     * stays near the file's size. */
    uint64_t disk_bytes = (uint64_t)sb.st_size * 2;
    if (disk_bytes < ((uint64_t)1 << 20)) disk_bytes = (uint64_t)1 << 20;
    if (disk_bytes > ((uint64_t)1 << 40)) disk_bytes = (uint64_t)1 << 40;
    /* Never recreated: a refused file is reported and left as it is. */
    hone_tier_options to = {.strategy = HONE_CACHE_DISK, .dir = dir, .name = name,
                            .disk_bytes = disk_bytes, .ignore_env = 1};
    hone_cache *cache;
    int rc = hone_cache_open(&cache, NULL, &to, &err);
    free(defdir);
    if (rc) {
        cli_cmd_error("cache", "%s", err.msg);
        return CLI_FAIL;
    }
    hone_cache_tier_stats st;
    hone_cache_tier_stats_get(cache, &st);
    int out = CLI_OK;
    if (!strcmp(action, "stats")) {
        if (json) {
            json_t *j = json_pack("{s:s, s:I, s:I, s:I}", "path", path, "entries",
                                  (json_int_t)st.disk_entries, "bytes", (json_int_t)st.disk_bytes,
                                  "file_bytes", (json_int_t)st.disk_file_bytes);
            if (!j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) ||
                putchar('\n') == EOF)
                out = CLI_FAIL;
            json_decref(j);
        } else {
            char b[32], f[32];
            human(st.disk_bytes, b, sizeof b);
            human(st.disk_file_bytes, f, sizeof f);
            printf("cache %s\n", path);
            printf("  %-8s %llu\n", "entries", (unsigned long long)st.disk_entries);
            printf("  %-8s %s (keys, values and a 40-byte header each)\n", "bytes", b);
            printf("  %-8s %s\n", "file", f);
        }
    } else if (!strcmp(action, "clear")) {
        hone_cache_clear(cache);
        rc = hone_cache_sync(cache);
        if (rc) {
            cli_cmd_error("cache", "%s: could not clear: %s", path, hone_strerror(rc));
            out = CLI_FAIL;
        } else {
            printf("cleared %s: %llu entries removed\n", path,
                   (unsigned long long)st.disk_entries);
        }
    } else {
        uint64_t n = 0;
        rc = hone_cache_export(cache, export_one, &n);
        if (rc) {
            cli_cmd_error("cache", "%s: export stopped after %llu entries: %s", path,
                          (unsigned long long)n, hone_strerror(rc));
            out = CLI_FAIL;
        }
    }
    hone_cache_free(cache);
    return out;
}

/* --- the `tiers` step of hone demo --- */

#define DEMO_KEYS 20000
#define DEMO_MEMORY 2000 /* entries the memory tier holds */

static void demo_value(unsigned i, char *buf, size_t n) {
    snprintf(buf, n, "value of item %u: %08x", i, i * 2654435761u);
}

/* Opens the demo's hybrid cache in dir. */
static int demo_open(const char *dir, hone_cache **c) {
    hone_cache_options mo = {.max_entries = DEMO_MEMORY};
    hone_tier_options to = {.strategy = HONE_CACHE_HYBRID,
                            .dir = dir,
                            .name = "demo.mdb",
                            .disk_bytes = (uint64_t)64 << 20,
                            .durability = HONE_CACHE_NOSYNC,
                            .ignore_env = 1};
    hone_error err;
    if (hone_cache_open(c, &mo, &to, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

static void demo_rm(const char *dir) {
    char p[4200];
    static const char *const files[] = {"demo.mdb", "demo.mdb-lock", "demo.mdb.corrupt"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

int cli_demo_tiers(void) {
    const char *td = getenv("TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/hone-demo-tiers-XXXXXX", td && *td == '/' ? td : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "cannot create a scratch directory: %s\n", strerror(errno));
        return 1;
    }
    hone_cycle *cy = cli_demo_cycle();
    hone_cache *c = NULL;
    int fail = 1;
    char key[32], val[64], got[64];
    if (demo_open(dir, &c)) goto out;
    uint64_t t0 = hone_monotonic_ns();
    for (unsigned i = 0; i < DEMO_KEYS; i++) {
        snprintf(key, sizeof key, "item-%u", i);
        demo_value(i, val, sizeof val);
        if (hone_cache_put(c, key, strlen(key), val, strlen(val))) {
            fprintf(stderr, "put of %s failed\n", key);
            goto out;
        }
    }
    int src = hone_cache_sync(c);
    uint64_t t1 = hone_monotonic_ns();
    if (src) {
        fprintf(stderr, "sync failed: %s\n", hone_strerror(src));
        goto out;
    }
    hone_cache_stats ms;
    hone_cache_stats_get(c, &ms);
    hone_cache_tier_stats ts;
    hone_cache_tier_stats_get(c, &ts);
    printf("hybrid cache in %s/demo.mdb: memory holds %u entries, disk 64 MiB\n", dir, DEMO_MEMORY);
    printf("  put %u entries in %.1f ms (nosync, then one sync): %llu in memory, %llu on disk "
           "in %llu commits\n",
           DEMO_KEYS, (double)(t1 - t0) / 1e6, (unsigned long long)ms.entries,
           (unsigned long long)ts.disk_entries, (unsigned long long)ts.disk_commits);
    hone_cache_free(c);
    c = NULL;
    printf("  closed; reopened:\n");
    if (demo_open(dir, &c)) goto out;
    unsigned ok = 0;
    t0 = hone_monotonic_ns();
    for (unsigned i = 0; i < DEMO_KEYS; i++) {
        snprintf(key, sizeof key, "item-%u", i);
        demo_value(i, val, sizeof val);
        size_t n = 0;
        if (hone_cache_get(c, key, strlen(key), got, sizeof got, &n) == HONE_OK &&
            n == strlen(val) && !memcmp(got, val, n)) {
            ok++;
            hone_cycle_hit(cy);
        } else {
            hone_cycle_miss(cy);
        }
    }
    t1 = hone_monotonic_ns();
    hone_cache_tier_stats_get(c, &ts);
    uint64_t first_disk = ts.disk_hits;
    printf("  read all %u back in %.1f ms: %u correct; memory starts empty, so %llu served "
           "from disk, %llu of them promoted into memory\n",
           DEMO_KEYS, (double)(t1 - t0) / 1e6, ok, (unsigned long long)first_disk,
           (unsigned long long)ts.promotions);
    /* The hot twentieth, read five times more: mostly from memory now. */
    hone_cache_stats_reset(c);
    for (int round = 0; round < 5; round++)
        for (unsigned i = 0; i < DEMO_MEMORY / 2; i++) {
            snprintf(key, sizeof key, "item-%u", i);
            size_t n;
            if (hone_cache_get(c, key, strlen(key), got, sizeof got, &n) == HONE_OK)
                hone_cycle_hit(cy);
        }
    hone_cache_stats_get(c, &ms);
    hone_cache_tier_stats_get(c, &ts);
    printf("  read the first %u five times more: %llu from memory, %llu from disk\n",
           DEMO_MEMORY / 2, (unsigned long long)ms.hits,
           (unsigned long long)(ts.disk_hits - first_disk));
    if (ok != DEMO_KEYS) {
        fprintf(stderr, "%u of %u entries did not survive the restart\n", DEMO_KEYS - ok,
                DEMO_KEYS);
        goto out;
    }
    /* Memory was empty after the restart: every first read is a disk hit,
     * and the hot keys read again must come from memory. */
    if (first_disk < DEMO_KEYS || ms.hits == 0) {
        fprintf(stderr, "expected %u disk hits, then some memory hits; got %llu and %llu\n",
                DEMO_KEYS, (unsigned long long)first_disk, (unsigned long long)ms.hits);
        goto out;
    }
    fail = 0;
out:
    hone_cache_free(c);
    demo_rm(dir);
    return fail;
}
