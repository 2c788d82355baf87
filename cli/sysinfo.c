/* sysinfo.c - `hone sysinfo`: what this machine is, so benchmark results
 * can be compared; also the first step of `hone demo`. */
#include "cli.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_JSON = CLI_LONG };

static const cli_opt sysinfo_opts[] = {
    {OPT_JSON, "json", NULL, "print one JSON object instead of text", NULL},
    {'h', "help", NULL, "show this help", NULL},
    {0, NULL, NULL, NULL, NULL}};

const cli_spec cli_spec_sysinfo = {
    "sysinfo",
    "usage: hone sysinfo [--json]\n"
    "\n"
    "Shows the CPU model, logical and physical cores, the SIMD features hone can\n"
    "use, whether the TSC is invariant and its calibrated frequency, the measured\n"
    "cost of reading the cycle counter and clock_gettime, memory, kernel and the\n"
    "compiler that built hone.\n",
    NULL, sysinfo_opts};

void cli_sysinfo_usage(FILE *out) { cli_help(&cli_spec_sysinfo, out); }

static json_t *sysinfo_json(const hone_sysinfo *si) {
    char feats[256];
    hone_cpu_features_format(si->cpu_features & ~(uint32_t)HONE_CPU_INVARIANT_TSC, feats, sizeof feats);
    json_t *features = json_array();
    for (char *save, *t = strtok_r(feats, " ", &save); t; t = strtok_r(NULL, " ", &save))
        json_array_append_new(features, json_string(t));
    return json_pack(
        "{s:s, s:{s:s, s:s, s:i, s:i, s:o}, s:{s:s, s:b, s:f, s:f, s:f, s:f, s:f}, "
        "s:{s:I, s:I}, s:s, s:s}",
        "hone_version", hone_version_string(),
        "cpu", "model", si->cpu_model, "vendor", si->cpu_vendor, "logical_cpus", si->logical_cpus,
        "physical_cores", si->physical_cores, "features", features,
        "clock", "source", hone_clock_source_name(si->clock.source), "invariant_tsc",
        si->clock.invariant_tsc, "tsc_hz", si->clock.tsc_hz, "resolution_ns", si->clock.resolution_ns,
        "cycles_read_ns", si->clock.cycles_read_ns, "gettime_read_ns", si->clock.gettime_read_ns,
        "now_read_ns", si->clock.now_read_ns,
        "memory", "total_bytes", (json_int_t)si->mem_total, "available_bytes",
        (json_int_t)si->mem_available,
        "kernel", si->kernel, "compiler", si->compiler);
}

static void sysinfo_text(const hone_sysinfo *si) {
    char feats[256];
    hone_cpu_features_format(si->cpu_features & ~(uint32_t)HONE_CPU_INVARIANT_TSC, feats, sizeof feats);
    printf("cpu         %s (%s)\n", si->cpu_model, si->cpu_vendor);
    printf("cores       %d logical, %d physical\n", si->logical_cpus, si->physical_cores);
    printf("features    %s\n", *feats ? feats : "(none)");
    if (si->clock.invariant_tsc)
        printf("tsc         invariant, %.3f MHz calibrated\n", si->clock.tsc_hz / 1e6);
    else
        printf("tsc         not invariant (hone_now_ns uses clock_gettime)\n");
    printf("clock       hone_now_ns reads %s, resolution %.2f ns\n",
           hone_clock_source_name(si->clock.source), si->clock.resolution_ns);
    printf("read cost   cycle counter %.1f ns, clock_gettime %.1f ns, hone_now_ns %.1f ns\n",
           si->clock.cycles_read_ns, si->clock.gettime_read_ns, si->clock.now_read_ns);
    printf("memory      %.1f GiB total, %.1f GiB available\n", (double)si->mem_total / 1073741824.0,
           (double)si->mem_available / 1073741824.0);
    printf("kernel      %s\n", si->kernel);
    printf("compiler    %s\n", si->compiler);
    printf("hone        %s\n", hone_version_string());
}

int cli_sysinfo_main(int argc, char **argv) {
    int json = 0, c;
    optind = 0;
    while ((c = cli_next(&cli_spec_sysinfo, argc, argv)) != -1) {
        switch (c) {
        case OPT_JSON: json = 1; break;
        case 'h': cli_sysinfo_usage(stdout); return CLI_OK;
        default: return CLI_USAGE;
        }
    }
    if (optind < argc) {
        cli_cmd_error("sysinfo", "unexpected argument '%s' (it takes none)", argv[optind]);
        return CLI_USAGE;
    }
    hone_sysinfo *si;
    int rc = hone_sysinfo_new(&si, NULL);
    if (rc) {
        cli_cmd_error("sysinfo", "%s", hone_strerror(rc));
        return CLI_FAIL;
    }
    if (json) {
        json_t *j = sysinfo_json(si);
        if (!j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
            json_decref(j);
            hone_sysinfo_free(si, NULL);
            cli_cmd_error("sysinfo", "could not write JSON");
            return CLI_FAIL;
        }
        putchar('\n');
        json_decref(j);
    } else {
        sysinfo_text(si);
    }
    hone_sysinfo_free(si, NULL);
    return CLI_OK;
}

/* Reads hone_now_ns() and CLOCK_MONOTONIC back to back, keeping the pair
 * with the shortest gap, so a preemption cannot skew the comparison. */
static void clock_pair(uint64_t *now, uint64_t *mono) {
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 8; i++) {
        uint64_t a = hone_monotonic_ns(), n = hone_now_ns(), b = hone_monotonic_ns();
        if (b - a < best) best = b - a, *now = n, *mono = a + (b - a) / 2;
    }
}

int cli_demo_sysinfo(void) {
    hone_sysinfo *si;
    if (hone_sysinfo_new(&si, NULL)) {
        fprintf(stderr, "could not collect system information: out of memory\n");
        return 1;
    }
    sysinfo_text(si);
    hone_sysinfo_free(si, NULL);

    /* The calibrated clock must track CLOCK_MONOTONIC: over 200 ms they may
     * differ by calibration error (parts per million), not by percent. */
    uint64_t n0 = 0, m0 = 0, n1 = 0, m1 = 0;
    clock_pair(&n0, &m0);
    do clock_pair(&n1, &m1);
    while (m1 - m0 < 200000000u);
    double drift = ((double)(n1 - n0) - (double)(m1 - m0)) / (double)(m1 - m0);
    printf("clock check hone_now_ns advanced %.3f ms while CLOCK_MONOTONIC advanced %.3f ms "
           "(%+.1f ppm)\n",
           (double)(n1 - n0) / 1e6, (double)(m1 - m0) / 1e6, drift * 1e6);
    if (drift > 0.001 || drift < -0.001) {
        fprintf(stderr, "calibrated clock drifts %.0f ppm from CLOCK_MONOTONIC (limit 1000)\n",
                drift * 1e6);
        return 1;
    }
    return 0;
}
