/*
 * NVML monitor (gpu/nvml.h).
 *
 *   vp_nvml_test [--prom]
 *
 * Always, on any machine:
 *  A. NVML absent (a library name that does not exist): the monitor is
 *     empty, says so in exactly one info line and nothing else, and every
 *     call works; the metrics hold vidpipe_gpu_nvml_available 0 only.
 *  B. The monitor's own logic on a scripted source (two GPUs, manual polls
 *     at given times, 400 samples: the ring wraps): 1- and 5-minute means
 *     against a model computed here, one warning per threshold crossing and
 *     one per return below it (with hysteresis), unsupported fields left out
 *     of the metrics, the Prometheus text's shape, a buffer too small, and
 *     the sampling thread (starts, samples, stops promptly).
 * Then, where NVML and a GPU exist:
 *  C. one reading per GPU printed in a fixed format (parsed by
 *     tests/obs/nvml_vs_smi.py), the thread's samples and averages checked
 *     for plausibility; --prom prints the metrics text.
 * Exit 0 when all ran and passed, 77 when A and B passed but there is no
 * NVML or GPU (C skipped), 1 on a failure.
 */
#include "base/log.h"
#include "base/span.h"
#include "gpu/nvml.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int failures;
#define CHECK(c)                                                                   \
    do {                                                                           \
        if (!(c)) {                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
            failures++;                                                            \
        }                                                                          \
    } while (0)

/* ---- a log sink that keeps what was said -------------------------------- */

typedef struct logcap {
    int n[4];
    char last[4][512];
    int echo; /* also print (part C: the user wants to see NVML's info) */
} logcap;

static void sink(void *user, vp_log_level level, const char *line)
{
    logcap *c = user;
    if ((int)level < 0 || level > 3)
        return;
    c->n[level]++;
    snprintf(c->last[level], sizeof c->last[level], "%s", line);
    if (c->echo || level <= VP_LOG_ERROR)
        fprintf(stderr, "[log %d] %s\n", (int)level, line);
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- A: NVML absent ------------------------------------------------------- */

static void test_absent(logcap *lc)
{
    memset(lc, 0, sizeof *lc);
    vp_nvml_monitor *m;
    vp_nvml_config c = {.library = "libvidpipe-no-such-nvml.so.1"};
    CHECK(vp_nvml_monitor_create(&c, &m) == VP_OK && m);
    CHECK(vp_nvml_gpus(m) == 0);
    CHECK(vp_nvml_unavailable(m)[0] != 0);
    CHECK(lc->n[VP_LOG_INFO] == 1 && strstr(lc->last[VP_LOG_INFO], "NVML not available"));
    CHECK(lc->n[VP_LOG_ERROR] == 0 && lc->n[VP_LOG_WARN] == 0);
    CHECK(vp_nvml_monitor_poll(m, 0) == VP_OK);
    vp_nvml_sample s;
    vp_nvml_gpu_stats st;
    CHECK(vp_nvml_read(m, 0, &s) == VP_ERR_NOT_FOUND);
    CHECK(vp_nvml_stats(m, 0, &st) == VP_ERR_NOT_FOUND);
    char buf[4096];
    size_t len = 0;
    buf[0] = 0;
    CHECK(vp_nvml_prometheus(m, buf, sizeof buf, &len) == VP_OK);
    CHECK(strstr(buf, "\nvidpipe_gpu_nvml_available 0\n") && !strstr(buf, "vidpipe_gpu_utilization"));
    CHECK(len == strlen(buf));
    /* nothing more is said after the one line */
    CHECK(lc->n[VP_LOG_INFO] == 1 && lc->n[VP_LOG_WARN] == 0);
    vp_nvml_monitor_free(&m);
    CHECK(m == NULL);
    vp_nvml_monitor_free(NULL);
    printf("A. no NVML: reported once (\"%s\"), monitor empty: ok\n", lc->last[VP_LOG_INFO]);
}

/* ---- B: scripted source ----------------------------------------------------- */

#define GIB (1024ull * 1024 * 1024)
typedef struct script {
    unsigned k[2];    /* samples taken per GPU so far */
    int opened, closed;
} script;

/* The model: sample k of gpu g. GPU 0's memory crosses 90% at k=100, falls
 * to 89% (inside the hysteresis: no message) at 150, to 80% at 160, rises
 * again at 300; its temperature passes 85 C for k in 200..209. GPU 1 stays
 * quiet. */
static unsigned util_of(unsigned g, unsigned k) { return (k * 7 + g * 13) % 101; }
static double mem_pct_of(unsigned g, unsigned k)
{
    if (g)
        return 10;
    return k < 100 ? 50 : k < 150 ? 95 : k < 160 ? 89 : k < 300 ? 80 : 95;
}
static unsigned temp_of(unsigned g, unsigned k) { return !g && k >= 200 && k < 210 ? 86 + k % 3 : 60 + k % 5; }

static int fs_open(void *ctx, unsigned *count, char *err, size_t errlen)
{
    ((script *)ctx)->opened++;
    *count = 2;
    return VP_OK;
}
static int fs_name(void *ctx, unsigned gpu, char *buf, size_t len)
{
    snprintf(buf, len, "Fake \"GPU\" %u", gpu);
    return VP_OK;
}
static int fs_sample(void *ctx, unsigned gpu, vp_nvml_sample *o)
{
    script *sc = ctx;
    unsigned k = sc->k[gpu]++;
    memset(o, 0, sizeof *o);
    o->valid = VP_NVML_UTIL | VP_NVML_MEMORY | VP_NVML_DECODER | VP_NVML_TEMP | VP_NVML_POWER | VP_NVML_SM_CLOCK;
    o->gpu_util = util_of(gpu, k);
    o->mem_util = 3;
    o->dec_util = 40;
    o->mem_total = 100 * GIB;
    o->mem_used = (uint64_t)(mem_pct_of(gpu, k) * (double)GIB);
    o->temp_c = temp_of(gpu, k);
    o->power_mw = 100000 + k;
    o->sm_mhz = 1980;
    return VP_OK;
}
static void fs_close(void *ctx) { ((script *)ctx)->closed++; }
static const vp_nvml_source fake = {fs_open, fs_name, fs_sample, fs_close};

/* mean of util_of over samples k0..k1-1 */
static double util_mean(unsigned g, unsigned k0, unsigned k1)
{
    double s = 0;
    for (unsigned k = k0; k < k1; k++)
        s += util_of(g, k);
    return s / (k1 - k0);
}

/* Every non-comment line is `name{labels} number`; HELP and TYPE once per name. */
static int prom_well_formed(const char *text)
{
    char seen[64][96];
    int nseen = 0;
    const char *p = text;
    while (*p) {
        const char *e = strchr(p, '\n');
        if (!e)
            return 0; /* every line ends with a newline */
        char line[512];
        size_t l = (size_t)(e - p);
        if (l >= sizeof line)
            return 0;
        memcpy(line, p, l);
        line[l] = 0;
        p = e + 1;
        if (!strncmp(line, "# TYPE ", 7)) {
            char name[96];
            if (sscanf(line + 7, "%95s", name) != 1)
                return 0;
            for (int i = 0; i < nseen; i++)
                if (!strcmp(seen[i], name))
                    return 0;
            if (nseen < 64)
                snprintf(seen[nseen++], sizeof seen[0], "%s", name);
            continue;
        }
        if (line[0] == '#')
            continue;
        char *sp = strrchr(line, ' ');
        if (!sp || sp == line)
            return 0;
        char *end;
        strtod(sp + 1, &end);
        if (*end || end == sp + 1)
            return 0;
        *sp = 0;
        char *br = strchr(line, '{');
        if (br && line[strlen(line) - 1] != '}')
            return 0;
        if (br)
            *br = 0;
        int typed = 0;
        for (int i = 0; i < nseen; i++)
            typed |= !strcmp(seen[i], line);
        if (!typed)
            return 0;
    }
    return 1;
}

static void test_scripted(logcap *lc)
{
    memset(lc, 0, sizeof *lc);
    script sc = {{0, 0}, 0, 0};
    vp_nvml_monitor *m;
    vp_nvml_config c = {.manual = 1, .gpu = VP_NVML_ALL_GPUS, .source = &fake, .source_ctx = &sc};
    CHECK(vp_nvml_monitor_create(&c, &m) == VP_OK && m);
    CHECK(sc.opened == 1 && vp_nvml_gpus(m) == 2 && vp_nvml_unavailable(m)[0] == 0);
    /* create took sample 0 at its own clock; the rest at t = k s after a base */
    uint64_t base = vp_clock_ns() + 1000000000ull;
    for (unsigned k = 1; k < 400; k++)
        CHECK(vp_nvml_monitor_poll(m, base + (uint64_t)k * 1000000000ull) == VP_OK);
    CHECK(sc.k[0] == 400 && sc.k[1] == 400);
    CHECK(lc->n[VP_LOG_WARN] == 5);
    CHECK(strstr(lc->last[VP_LOG_WARN], "memory use 95.0%") && strstr(lc->last[VP_LOG_WARN], "90% threshold"));
    vp_nvml_gpu_stats st;
    CHECK(vp_nvml_stats(m, 0, &st) == VP_OK);
    CHECK(st.samples == 400 && st.now.gpu_util == util_of(0, 399));
    CHECK(st.mem_over == 1 && st.temp_over == 0);
    CHECK(!strcmp(st.name, "Fake \"GPU\" 0") && st.index == 0);
    /* 1 m: samples 340..399; 5 m: 100..399 (the ring holds 302) */
    CHECK(st.avg_1m.n == 60 && st.avg_5m.n == 300);
    double want1 = util_mean(0, 340, 400), want5 = util_mean(0, 100, 400);
    if (st.avg_1m.gpu_util < want1 - 1e-9 || st.avg_1m.gpu_util > want1 + 1e-9 ||
        st.avg_5m.gpu_util < want5 - 1e-9 || st.avg_5m.gpu_util > want5 + 1e-9)
        fprintf(stderr, "averages: 1m %f want %f, 5m %f want %f\n", st.avg_1m.gpu_util, want1, st.avg_5m.gpu_util,
                want5);
    CHECK(st.avg_1m.gpu_util > want1 - 1e-9 && st.avg_1m.gpu_util < want1 + 1e-9);
    CHECK(st.avg_5m.gpu_util > want5 - 1e-9 && st.avg_5m.gpu_util < want5 + 1e-9);
    CHECK(st.avg_1m.power_w > 100.3 && st.avg_1m.power_w < 100.4);
    CHECK(vp_nvml_stats(m, 1, &st) == VP_OK && st.mem_over == 0 && st.index == 1);
    CHECK(vp_nvml_stats(m, 2, &st) == VP_ERR_NOT_FOUND);

    char buf[16384];
    size_t len = 6;
    memcpy(buf, "keep\n\n", 7); /* appended after what is there */
    CHECK(vp_nvml_prometheus(m, buf, sizeof buf, &len) == VP_OK && len == strlen(buf));
    CHECK(!strncmp(buf, "keep\n\n", 6));
    CHECK(prom_well_formed(buf + 6));
    CHECK(strstr(buf, "vidpipe_gpu_nvml_available 1\n"));
    CHECK(strstr(buf, "vidpipe_gpu_info{gpu=\"1\",name=\"Fake \\\"GPU\\\" 1\"} 1\n"));
    char want[160];
    snprintf(want, sizeof want, "vidpipe_gpu_utilization_percent{gpu=\"0\",window=\"now\"} %u\n", util_of(0, 399));
    CHECK(strstr(buf, want));
    CHECK(strstr(buf, "vidpipe_gpu_utilization_percent{gpu=\"1\",window=\"5m\"} "));
    CHECK(strstr(buf, "vidpipe_gpu_memory_total_bytes{gpu=\"0\"} 107374182400\n"));
    CHECK(strstr(buf, "vidpipe_gpu_sm_clock_hertz{gpu=\"0\",window=\"1m\"} 1980000000\n"));
    CHECK(!strstr(buf, "encoder")); /* not supported by this source */
    CHECK(!strstr(buf, "memory_clock")); /* not read by it */
    /* too small: refused, nothing changed */
    char small[300];
    size_t sl = 0;
    small[0] = 0;
    CHECK(vp_nvml_prometheus(m, small, sizeof small, &sl) == VP_ERR_NOMEM && sl == 0 && small[0] == 0);
    vp_nvml_monitor_free(&m);
    CHECK(sc.closed == 1 && m == NULL);

    /* the thread: 20 ms interval */
    memset(&sc, 0, sizeof sc);
    c.manual = 0;
    c.interval_ms = 20;
    CHECK(vp_nvml_monitor_create(&c, &m) == VP_OK);
    sleep_ms(150);
    CHECK(vp_nvml_stats(m, 0, &st) == VP_OK && st.samples >= 4 && st.samples <= 10);
    uint64_t t0 = vp_clock_ns();
    vp_nvml_monitor_free(&m);
    CHECK(vp_clock_ns() - t0 < 100000000ull);
    CHECK(sc.closed == 1);

    /* bad config */
    vp_log_level lv = vp_log_get_level();
    vp_log_set_level((vp_log_level)-1);
    CHECK(vp_nvml_monitor_create(&(vp_nvml_config){.interval_ms = 5}, &m) == VP_ERR_INVALID && !m);
    vp_log_set_level(lv);
    printf("B. scripted source: averages, %d threshold messages, metrics, thread: %s\n", lc->n[VP_LOG_WARN] ? 5 : 0,
           failures ? "FAILED" : "ok");
}

/* ---- C: the real NVML --------------------------------------------------------- */

static void put_opt(const char *key, int valid, double v, const char *fmt)
{
    printf(" %s=", key);
    if (valid)
        printf(fmt, v);
    else
        printf("NA");
}

static void print_sample(unsigned index, const char *name, const vp_nvml_sample *s)
{
    printf("nvml gpu=%u name=\"%s\"", index, name);
    put_opt("util.gpu", s->valid & VP_NVML_UTIL, s->gpu_util, "%.0f");
    put_opt("util.mem", s->valid & VP_NVML_UTIL, s->mem_util, "%.0f");
    put_opt("util.dec", s->valid & VP_NVML_DECODER, s->dec_util, "%.0f");
    put_opt("util.enc", s->valid & VP_NVML_ENCODER, s->enc_util, "%.0f");
    put_opt("mem.used_mib", s->valid & VP_NVML_MEMORY, (double)s->mem_used / 1048576.0, "%.1f");
    put_opt("mem.total_mib", s->valid & VP_NVML_MEMORY, (double)s->mem_total / 1048576.0, "%.1f");
    put_opt("temp.c", s->valid & VP_NVML_TEMP, s->temp_c, "%.0f");
    put_opt("power.w", s->valid & VP_NVML_POWER, s->power_mw / 1000.0, "%.3f");
    put_opt("clocks.sm_mhz", s->valid & VP_NVML_SM_CLOCK, s->sm_mhz, "%.0f");
    put_opt("clocks.mem_mhz", s->valid & VP_NVML_MEM_CLOCK, s->mem_mhz, "%.0f");
    put_opt("clocks.gfx_mhz", s->valid & VP_NVML_GFX_CLOCK, s->gfx_mhz, "%.0f");
    printf("\n");
}

/* 0 done, 77 no NVML */
static int test_real(logcap *lc, int prom)
{
    memset(lc, 0, sizeof *lc);
    lc->echo = 1;
    vp_nvml_monitor *m;
    vp_nvml_config c = {.gpu = VP_NVML_ALL_GPUS, .interval_ms = 100};
    CHECK(vp_nvml_monitor_create(&c, &m) == VP_OK && m);
    if (!m)
        return 0;
    unsigned n = vp_nvml_gpus(m);
    if (!n) {
        printf("C. NVML not available: %s (skipped)\n", vp_nvml_unavailable(m));
        CHECK(lc->n[VP_LOG_INFO] == 1 && lc->n[VP_LOG_WARN] == 0);
        vp_nvml_monitor_free(&m);
        return 77;
    }
    for (unsigned i = 0; i < n; i++) {
        vp_nvml_sample s;
        vp_nvml_gpu_stats st;
        CHECK(vp_nvml_read(m, i, &s) == VP_OK);
        CHECK(vp_nvml_stats(m, i, &st) == VP_OK);
        print_sample(st.index, st.name, &s);
        CHECK(s.valid & VP_NVML_MEMORY);
        CHECK(s.mem_total > 0 && s.mem_used <= s.mem_total);
        CHECK(!(s.valid & VP_NVML_UTIL) || (s.gpu_util <= 100 && s.mem_util <= 100));
        CHECK(!(s.valid & VP_NVML_DECODER) || s.dec_util <= 100);
        CHECK(!(s.valid & VP_NVML_TEMP) || (s.temp_c > 0 && s.temp_c < 120));
    }
    sleep_ms(450);
    for (unsigned i = 0; i < n; i++) {
        vp_nvml_gpu_stats st;
        CHECK(vp_nvml_stats(m, i, &st) == VP_OK);
        CHECK(st.samples >= 3 && st.avg_1m.n >= 3 && st.avg_5m.n == st.avg_1m.n);
        CHECK(st.avg_1m.gpu_util >= 0 && st.avg_1m.gpu_util <= 100);
        printf("nvml gpu=%u samples=%" PRIu64 " avg1m.util.gpu=%.1f avg1m.temp.c=%.1f avg1m.power.w=%.1f\n", st.index,
               st.samples, st.avg_1m.gpu_util, st.avg_1m.temp_c, st.avg_1m.power_w);
    }
    char *buf = malloc(65536);
    size_t len = 0;
    CHECK(buf && vp_nvml_prometheus(m, buf, 65536, &len) == VP_OK && prom_well_formed(buf));
    if (buf && prom)
        fputs(buf, stdout);
    free(buf);
    CHECK(lc->n[VP_LOG_ERROR] == 0);
    vp_nvml_monitor_free(&m);
    printf("C. NVML: %u GPU(s) read: %s\n", n, failures ? "FAILED" : "ok");
    return 0;
}

int main(int argc, char **argv)
{
    int prom = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--prom"))
            prom = 1;
        else {
            fprintf(stderr, "usage: %s [--prom]\n", argv[0]);
            return 2;
        }
    }
    logcap lc;
    vp_log_set_level(VP_LOG_INFO);
    vp_log_set_sink(sink, &lc);
    test_absent(&lc);
    test_scripted(&lc);
    int rc = test_real(&lc, prom);
    vp_log_set_sink(NULL, NULL);
    if (failures) {
        fprintf(stderr, "vp_nvml_test: %d check(s) failed\n", failures);
        return 1;
    }
    return rc;
}
