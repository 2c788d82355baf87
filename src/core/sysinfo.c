/* sysinfo.c - what machine this is, for benchmark reports that can be
 * compared across machines. Reads /proc and uname(2). */
#include "hone/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#endif

static void cpu_vendor(char *buf, size_t n) {
    snprintf(buf, n, "unknown");
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    unsigned a, b, c, d;
    if (__get_cpuid(0, &a, &b, &c, &d)) {
        char v[13];
        memcpy(v, &b, 4);
        memcpy(v + 4, &d, 4);
        memcpy(v + 8, &c, 4);
        v[12] = '\0';
        snprintf(buf, n, "%s", v);
    }
#endif
}

static void cpu_model(char *buf, size_t n) {
    snprintf(buf, n, "unknown");
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    unsigned r[12];
    if ((unsigned)__get_cpuid_max(0x80000000u, NULL) >= 0x80000004u) {
        for (unsigned i = 0; i < 3; i++)
            __get_cpuid(0x80000002u + i, &r[i * 4], &r[i * 4 + 1], &r[i * 4 + 2], &r[i * 4 + 3]);
        char s[49];
        memcpy(s, r, 48);
        s[48] = '\0';
        char *p = s;
        while (*p == ' ') p++;
        size_t len = strlen(p);
        while (len && p[len - 1] == ' ') p[--len] = '\0';
        if (*p) snprintf(buf, n, "%s", p);
    }
#else
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (colon && (!strncmp(line, "model name", 10) || !strncmp(line, "Model", 5))) {
            colon++;
            while (*colon == ' ') colon++;
            colon[strcspn(colon, "\n")] = '\0';
            snprintf(buf, n, "%s", colon);
            break;
        }
    }
    if (f) fclose(f);
#endif
}

/* Counts distinct (physical id, core id) pairs in /proc/cpuinfo. */
static int physical_cores(int logical) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return logical;
    long pairs[1024][2];
    int n = 0;
    long phys = 0, core = -1;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "physical id", 11)) phys = strtol(strchr(line, ':') + 1, NULL, 10);
        else if (!strncmp(line, "core id", 7)) core = strtol(strchr(line, ':') + 1, NULL, 10);
        else if (line[0] == '\n' && core >= 0) {
            int seen = 0;
            for (int i = 0; i < n; i++)
                if (pairs[i][0] == phys && pairs[i][1] == core) seen = 1;
            if (!seen && n < 1024) pairs[n][0] = phys, pairs[n][1] = core, n++;
            core = -1;
        }
    }
    fclose(f);
    return n > 0 ? n : logical;
}

static void meminfo(uint64_t *total, uint64_t *avail) {
    *total = *avail = 0;
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    unsigned long long kb;
    while (f && fgets(line, sizeof line, f)) {
        if (sscanf(line, "MemTotal: %llu kB", &kb) == 1) *total = kb * 1024;
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) *avail = kb * 1024;
    }
    if (f) fclose(f);
    if (!*total) {
        long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
        if (pages > 0 && psz > 0) *total = (uint64_t)pages * (uint64_t)psz;
    }
}

static const char *compiler_string(void) {
#if defined(__clang__)
    return "clang " __clang_version__;
#elif defined(__GNUC__)
    return "gcc " __VERSION__;
#else
    return "unknown";
#endif
}

void hone_sysinfo_free(hone_sysinfo *si, const hone_allocator *a) {
    if (!si) return;
    hone_free(a, si->cpu_model);
    hone_free(a, si->cpu_vendor);
    hone_free(a, si->kernel);
    hone_free(a, si->compiler);
    hone_free(a, si);
}

int hone_sysinfo_new(hone_sysinfo **out, const hone_allocator *a) {
    if (!out) return HONE_EINVAL;
    *out = NULL;
    hone_sysinfo *si = hone_calloc(a, 1, sizeof *si);
    if (!si) return HONE_ENOMEM;
    char buf[256];
    cpu_model(buf, sizeof buf);
    si->cpu_model = hone_strdup(a, buf);
    cpu_vendor(buf, sizeof buf);
    si->cpu_vendor = hone_strdup(a, buf);
    struct utsname u;
    if (uname(&u) == 0)
        snprintf(buf, sizeof buf, "%s %s %s", u.sysname, u.release, u.machine);
    else
        snprintf(buf, sizeof buf, "unknown");
    si->kernel = hone_strdup(a, buf);
    si->compiler = hone_strdup(a, compiler_string());
    if (!si->cpu_model || !si->cpu_vendor || !si->kernel || !si->compiler) {
        hone_sysinfo_free(si, a);
        return HONE_ENOMEM;
    }
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    si->logical_cpus = online > 0 ? (int)online : 1;
    si->physical_cores = physical_cores(si->logical_cpus);
    si->cpu_features = hone_cpu_features_hw();
    meminfo(&si->mem_total, &si->mem_available);
    hone_clock_info_get(&si->clock);
    *out = si;
    return HONE_OK;
}
