/*
 * NVML monitor (nvml.h). The NVML entry points are declared here from
 * NVIDIA's documented API (NVML API Reference) and resolved with dlsym; the
 * few types are restated with the layout the reference gives. Every call's
 * nvmlReturn_t is checked.
 *
 * Structure: a source (NVML, or a test's) fills samples; the monitor keeps a
 * ring of them per GPU, long enough for five minutes at the interval, under
 * one mutex, and checks thresholds when a sample is stored.
 */
#include "gpu/nvml.h"
#include "base/log.h"
#include "base/span.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- NVML, as documented ---------------------------------------------- */

typedef int nvmlReturn_t; /* an enum in C: int-sized */
typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct {
    unsigned int gpu, memory;
} nvml_utilization;
typedef struct {
    unsigned long long total, free, used;
} nvml_memory_v1;
typedef struct {
    unsigned int version;
    unsigned long long total, reserved, free, used;
} nvml_memory_v2;

enum {
    NVML_OK = 0,
    NVML_NOT_SUPPORTED = 3,
    NVML_TEMPERATURE_GPU = 0,
    NVML_CLOCK_GRAPHICS = 0,
    NVML_CLOCK_SM = 1,
    NVML_CLOCK_MEM = 2,
    NVML_DEVICE_NAME_BUFFER = 96,
};
/* NVML_STRUCT_VERSION(Memory, 2): the struct's size and the version in the top byte */
#define NVML_MEMORY_V2_VERSION ((unsigned)(sizeof(nvml_memory_v2) | (2u << 24)))

typedef struct nvml_lib {
    void *dl;
    nvmlReturn_t (*init)(void);
    nvmlReturn_t (*shutdown)(void);
    const char *(*error_string)(nvmlReturn_t);
    nvmlReturn_t (*count)(unsigned int *);
    nvmlReturn_t (*handle)(unsigned int, nvmlDevice_t *);
    nvmlReturn_t (*name)(nvmlDevice_t, char *, unsigned int);
    nvmlReturn_t (*util)(nvmlDevice_t, nvml_utilization *);
    nvmlReturn_t (*mem)(nvmlDevice_t, nvml_memory_v1 *);
    nvmlReturn_t (*mem2)(nvmlDevice_t, nvml_memory_v2 *); /* optional (drivers >= R510) */
    nvmlReturn_t (*dec)(nvmlDevice_t, unsigned int *, unsigned int *);
    nvmlReturn_t (*enc)(nvmlDevice_t, unsigned int *, unsigned int *);
    nvmlReturn_t (*temp)(nvmlDevice_t, int, unsigned int *);
    nvmlReturn_t (*power)(nvmlDevice_t, unsigned int *);
    nvmlReturn_t (*clock)(nvmlDevice_t, int, unsigned int *);
    const char *path;
    int first, count_open;      /* index range chosen by the monitor's config */
    nvmlDevice_t dev[VP_NVML_MAX_GPUS];
    unsigned unsupported[VP_NVML_MAX_GPUS]; /* VP_NVML_* bits: reported once, no longer queried */
    unsigned failing[VP_NVML_MAX_GPUS];     /* bits whose last call failed (warned once per streak) */
    int mem2_ok;
} nvml_lib;

static const char *nv_err(const nvml_lib *l, nvmlReturn_t r)
{
    const char *s = l->error_string ? l->error_string(r) : NULL;
    return s ? s : "unknown NVML error";
}

static int nvml_open(void *ctx, unsigned *count, char *err, size_t errlen)
{
    nvml_lib *l = ctx;
    *count = 0;
    l->dl = dlopen(l->path, RTLD_NOW | RTLD_LOCAL);
    if (!l->dl) {
        const char *why = dlerror();
        snprintf(err, errlen, "%s", why ? why : l->path);
        return VP_ERR_NOT_FOUND;
    }
    struct {
        const char *sym;
        void **fn;
        int optional;
    } t[] = {
        {"nvmlInit_v2", (void **)&l->init, 0},
        {"nvmlShutdown", (void **)&l->shutdown, 0},
        {"nvmlErrorString", (void **)&l->error_string, 0},
        {"nvmlDeviceGetCount_v2", (void **)&l->count, 0},
        {"nvmlDeviceGetHandleByIndex_v2", (void **)&l->handle, 0},
        {"nvmlDeviceGetName", (void **)&l->name, 0},
        {"nvmlDeviceGetUtilizationRates", (void **)&l->util, 0},
        {"nvmlDeviceGetMemoryInfo", (void **)&l->mem, 0},
        {"nvmlDeviceGetMemoryInfo_v2", (void **)&l->mem2, 1},
        {"nvmlDeviceGetDecoderUtilization", (void **)&l->dec, 0},
        {"nvmlDeviceGetEncoderUtilization", (void **)&l->enc, 0},
        {"nvmlDeviceGetTemperature", (void **)&l->temp, 0},
        {"nvmlDeviceGetPowerUsage", (void **)&l->power, 0},
        {"nvmlDeviceGetClockInfo", (void **)&l->clock, 0},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        /* dlsym returns an object pointer; copy its bytes into the function pointer (POSIX guarantees the sizes) */
        void *p = dlsym(l->dl, t[i].sym);
        if (!p && !t[i].optional) {
            snprintf(err, errlen, "%s has no %s (driver too old?)", l->path, t[i].sym);
            dlclose(l->dl);
            l->dl = NULL;
            return VP_ERR_UNSUPPORTED;
        }
        memcpy(t[i].fn, &p, sizeof p);
    }
    nvmlReturn_t r = l->init();
    if (r != NVML_OK) {
        /* error_string works before a successful init (documented) */
        snprintf(err, errlen, "nvmlInit_v2: %s", nv_err(l, r));
        dlclose(l->dl);
        l->dl = NULL;
        return VP_ERR_BACKEND;
    }
    unsigned n = 0;
    if ((r = l->count(&n)) != NVML_OK) {
        snprintf(err, errlen, "nvmlDeviceGetCount_v2: %s", nv_err(l, r));
        goto fail;
    }
    int first = l->first, want = l->count_open;
    if (want < 0) { /* all */
        first = 0;
        want = (int)n;
    }
    if (n == 0 || first >= (int)n) {
        snprintf(err, errlen, n ? "no GPU %d (NVML sees %u)" : "NVML sees no GPU", first, n);
        goto fail;
    }
    if (want > VP_NVML_MAX_GPUS)
        want = VP_NVML_MAX_GPUS;
    for (int i = 0; i < want; i++) {
        if ((r = l->handle((unsigned)(first + i), &l->dev[i])) != NVML_OK) {
            snprintf(err, errlen, "nvmlDeviceGetHandleByIndex_v2(%d): %s", first + i, nv_err(l, r));
            goto fail;
        }
    }
    l->mem2_ok = l->mem2 != NULL;
    *count = (unsigned)want;
    return VP_OK;
fail:
    r = l->shutdown();
    if (r != NVML_OK)
        VP_LOGW("nvml: nvmlShutdown: %s", nv_err(l, r));
    dlclose(l->dl);
    l->dl = NULL;
    return VP_ERR_NOT_FOUND;
}

static int nvml_name(void *ctx, unsigned gpu, char *buf, size_t len)
{
    nvml_lib *l = ctx;
    char tmp[NVML_DEVICE_NAME_BUFFER];
    nvmlReturn_t r = l->name(l->dev[gpu], tmp, sizeof tmp);
    if (r != NVML_OK) {
        snprintf(buf, len, "?");
        VP_LOGW("nvml: nvmlDeviceGetName(gpu %u): %s", gpu, nv_err(l, r));
        return VP_ERR_BACKEND;
    }
    tmp[sizeof tmp - 1] = 0;
    snprintf(buf, len, "%s", tmp);
    return VP_OK;
}

/* Records the outcome of one query for field bit f of gpu: NOT_SUPPORTED is
 * reported once and the field is no longer queried; another error is
 * warned once until the field reads again. Returns 1 when r is success. */
static int field_ok(nvml_lib *l, unsigned gpu, unsigned f, const char *call, nvmlReturn_t r)
{
    if (r == NVML_OK) {
        l->failing[gpu] &= ~f;
        return 1;
    }
    if (r == NVML_NOT_SUPPORTED) {
        VP_LOGI("nvml: gpu %u: %s not supported: left out of the metrics", l->first + gpu, call);
        l->unsupported[gpu] |= f;
    } else if (!(l->failing[gpu] & f)) {
        VP_LOGW("nvml: gpu %u: %s: %s", l->first + gpu, call, nv_err(l, r));
        l->failing[gpu] |= f;
    }
    return 0;
}

static int nvml_sample(void *ctx, unsigned gpu, vp_nvml_sample *o)
{
    nvml_lib *l = ctx;
    nvmlDevice_t d = l->dev[gpu];
    unsigned skip = l->unsupported[gpu], period;
    memset(o, 0, sizeof *o);
    if (!(skip & VP_NVML_UTIL)) {
        nvml_utilization u;
        if (field_ok(l, gpu, VP_NVML_UTIL, "nvmlDeviceGetUtilizationRates", l->util(d, &u))) {
            o->gpu_util = u.gpu;
            o->mem_util = u.memory;
            o->valid |= VP_NVML_UTIL;
        }
    }
    if (!(skip & VP_NVML_MEMORY)) {
        if (l->mem2_ok) {
            /* v2: "used" as nvidia-smi shows it; v1 counts the driver's reservation as used */
            nvml_memory_v2 m = {.version = NVML_MEMORY_V2_VERSION};
            nvmlReturn_t r = l->mem2(d, &m);
            if (r == NVML_OK) {
                o->mem_used = m.used;
                o->mem_total = m.total;
                o->valid |= VP_NVML_MEMORY;
            } else {
                VP_LOGI("nvml: gpu %u: nvmlDeviceGetMemoryInfo_v2: %s: using nvmlDeviceGetMemoryInfo", l->first + gpu,
                        nv_err(l, r));
                l->mem2_ok = 0;
            }
        }
        if (!(o->valid & VP_NVML_MEMORY)) {
            nvml_memory_v1 m;
            if (field_ok(l, gpu, VP_NVML_MEMORY, "nvmlDeviceGetMemoryInfo", l->mem(d, &m))) {
                o->mem_used = m.used;
                o->mem_total = m.total;
                o->valid |= VP_NVML_MEMORY;
            }
        }
    }
    if (!(skip & VP_NVML_DECODER) &&
        field_ok(l, gpu, VP_NVML_DECODER, "nvmlDeviceGetDecoderUtilization", l->dec(d, &o->dec_util, &period)))
        o->valid |= VP_NVML_DECODER;
    if (!(skip & VP_NVML_ENCODER) &&
        field_ok(l, gpu, VP_NVML_ENCODER, "nvmlDeviceGetEncoderUtilization", l->enc(d, &o->enc_util, &period)))
        o->valid |= VP_NVML_ENCODER;
    if (!(skip & VP_NVML_TEMP) &&
        field_ok(l, gpu, VP_NVML_TEMP, "nvmlDeviceGetTemperature", l->temp(d, NVML_TEMPERATURE_GPU, &o->temp_c)))
        o->valid |= VP_NVML_TEMP;
    if (!(skip & VP_NVML_POWER) &&
        field_ok(l, gpu, VP_NVML_POWER, "nvmlDeviceGetPowerUsage", l->power(d, &o->power_mw)))
        o->valid |= VP_NVML_POWER;
    if (!(skip & VP_NVML_SM_CLOCK) &&
        field_ok(l, gpu, VP_NVML_SM_CLOCK, "nvmlDeviceGetClockInfo(SM)", l->clock(d, NVML_CLOCK_SM, &o->sm_mhz)))
        o->valid |= VP_NVML_SM_CLOCK;
    if (!(skip & VP_NVML_MEM_CLOCK) &&
        field_ok(l, gpu, VP_NVML_MEM_CLOCK, "nvmlDeviceGetClockInfo(MEM)", l->clock(d, NVML_CLOCK_MEM, &o->mem_mhz)))
        o->valid |= VP_NVML_MEM_CLOCK;
    if (!(skip & VP_NVML_GFX_CLOCK) &&
        field_ok(l, gpu, VP_NVML_GFX_CLOCK, "nvmlDeviceGetClockInfo(GRAPHICS)",
                 l->clock(d, NVML_CLOCK_GRAPHICS, &o->gfx_mhz)))
        o->valid |= VP_NVML_GFX_CLOCK;
    return o->valid ? VP_OK : VP_ERR_BACKEND;
}

static void nvml_close(void *ctx)
{
    nvml_lib *l = ctx;
    if (!l->dl)
        return;
    nvmlReturn_t r = l->shutdown();
    if (r != NVML_OK)
        VP_LOGW("nvml: nvmlShutdown: %s", nv_err(l, r));
    dlclose(l->dl);
    l->dl = NULL;
}

static const vp_nvml_source nvml_source = {nvml_open, nvml_name, nvml_sample, nvml_close};

/* ---- monitor -------------------------------------------------------------- */

typedef struct gpu_state {
    unsigned index;
    char name[96];
    vp_nvml_sample *ring; /* cap samples; ring[(head - 1) % cap] is the latest */
    uint64_t head;
    int mem_over, temp_over;
} gpu_state;

struct vp_nvml_monitor {
    vp_nvml_config cfg;
    const vp_nvml_source *src;
    void *src_ctx;
    nvml_lib lib;
    int src_open;
    unsigned n;
    gpu_state g[VP_NVML_MAX_GPUS];
    size_t cap;
    char why[256];
    pthread_mutex_t mu;     /* guards g[] rings and states */
    pthread_mutex_t src_mu; /* one source call at a time (the NVML source keeps per-field state) */
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    int stop;
    int thread_started;
    pthread_t thread;
};

#define MEM_HYST 2.0
#define TEMP_HYST 3.0

static void check_thresholds(vp_nvml_monitor *m, gpu_state *g, const vp_nvml_sample *s)
{
    if ((s->valid & VP_NVML_MEMORY) && s->mem_total) {
        double pct = 100.0 * (double)s->mem_used / (double)s->mem_total;
        if (!g->mem_over && pct >= m->cfg.mem_warn_percent) {
            g->mem_over = 1;
            VP_LOGW("gpu %u (%s): memory use %.1f%% (%llu of %llu MiB) reached the %.0f%% threshold", g->index,
                    g->name, pct, (unsigned long long)(s->mem_used >> 20), (unsigned long long)(s->mem_total >> 20),
                    m->cfg.mem_warn_percent);
        } else if (g->mem_over && pct < m->cfg.mem_warn_percent - MEM_HYST) {
            g->mem_over = 0;
            VP_LOGW("gpu %u (%s): memory use back to %.1f%%, below the %.0f%% threshold", g->index, g->name, pct,
                    m->cfg.mem_warn_percent);
        }
    }
    if (s->valid & VP_NVML_TEMP) {
        double t = s->temp_c;
        if (!g->temp_over && t >= m->cfg.temp_warn_c) {
            g->temp_over = 1;
            VP_LOGW("gpu %u (%s): temperature %u C reached the %.0f C threshold", g->index, g->name, s->temp_c,
                    m->cfg.temp_warn_c);
        } else if (g->temp_over && t < m->cfg.temp_warn_c - TEMP_HYST) {
            g->temp_over = 0;
            VP_LOGW("gpu %u (%s): temperature back to %u C, below the %.0f C threshold", g->index, g->name, s->temp_c,
                    m->cfg.temp_warn_c);
        }
    }
}

int vp_nvml_monitor_poll(vp_nvml_monitor *m, uint64_t now_ns)
{
    if (!m || !m->n)
        return VP_OK;
    if (!now_ns)
        now_ns = vp_clock_ns();
    int rc = VP_OK;
    for (unsigned i = 0; i < m->n; i++) {
        vp_nvml_sample s;
        memset(&s, 0, sizeof s);
        /* outside mu: an NVML query takes up to milliseconds, and readers of mu must not wait for it */
        pthread_mutex_lock(&m->src_mu);
        int r = m->src->sample(m->src_ctx, i, &s);
        pthread_mutex_unlock(&m->src_mu);
        if (r != VP_OK && !s.valid) {
            rc = r;
            continue;
        }
        s.t_ns = now_ns;
        gpu_state *g = &m->g[i];
        pthread_mutex_lock(&m->mu);
        g->ring[g->head % m->cap] = s;
        g->head++;
        check_thresholds(m, g, &s);
        pthread_mutex_unlock(&m->mu);
    }
    return rc;
}

int vp_nvml_read(vp_nvml_monitor *m, unsigned i, vp_nvml_sample *out)
{
    memset(out, 0, sizeof *out);
    if (!m || i >= m->n)
        return VP_ERR_NOT_FOUND;
    pthread_mutex_lock(&m->src_mu);
    int rc = m->src->sample(m->src_ctx, i, out);
    pthread_mutex_unlock(&m->src_mu);
    out->t_ns = vp_clock_ns();
    return rc;
}

static void *sampler(void *arg)
{
    vp_nvml_monitor *m = arg;
    uint64_t next = vp_clock_ns();
    pthread_mutex_lock(&m->stop_mu);
    while (!m->stop) {
        next += (uint64_t)m->cfg.interval_ms * 1000000u;
        struct timespec ts = {(time_t)(next / 1000000000u), (long)(next % 1000000000u)};
        while (!m->stop) {
            int r = pthread_cond_timedwait(&m->stop_cv, &m->stop_mu, &ts);
            if (r == ETIMEDOUT)
                break;
        }
        if (m->stop)
            break;
        pthread_mutex_unlock(&m->stop_mu);
        uint64_t now = vp_clock_ns();
        vp_nvml_monitor_poll(m, now);
        if (now > next + (uint64_t)m->cfg.interval_ms * 1000000u) /* fell behind (suspend): do not burst */
            next = now;
        pthread_mutex_lock(&m->stop_mu);
    }
    pthread_mutex_unlock(&m->stop_mu);
    return NULL;
}

int vp_nvml_monitor_create(const vp_nvml_config *cfg, vp_nvml_monitor **out)
{
    *out = NULL;
    vp_nvml_config c = {0};
    if (cfg)
        c = *cfg;
    if (!c.interval_ms)
        c.interval_ms = 1000;
    if (c.mem_warn_percent == 0)
        c.mem_warn_percent = 90;
    if (c.temp_warn_c == 0)
        c.temp_warn_c = 85;
    if (!c.library)
        c.library = "libnvidia-ml.so.1";
    if (c.interval_ms < 10 || c.interval_ms > 60000 || c.gpu < VP_NVML_ALL_GPUS || c.mem_warn_percent < 0 ||
        c.temp_warn_c < 0) {
        VP_LOGE("nvml: bad monitor config (interval_ms %u: 10..60000, gpu %d: >= -1, thresholds >= 0)",
                c.interval_ms, c.gpu);
        return VP_ERR_INVALID;
    }
    vp_nvml_monitor *m = calloc(1, sizeof *m);
    if (!m)
        return VP_ERR_NOMEM;
    m->cfg = c;
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->src_mu, NULL);
    pthread_mutex_init(&m->stop_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->stop_cv, &ca);
    pthread_condattr_destroy(&ca);
    *out = m;

    if (c.source) {
        m->src = c.source;
        m->src_ctx = c.source_ctx;
    } else {
        m->src = &nvml_source;
        m->src_ctx = &m->lib;
        m->lib.path = c.library;
        m->lib.first = c.gpu < 0 ? 0 : c.gpu;
        m->lib.count_open = c.gpu < 0 ? -1 : 1;
    }
    unsigned n = 0;
    char err[200] = "";
    if (m->src->open(m->src_ctx, &n, err, sizeof err) != VP_OK || n == 0) {
        snprintf(m->why, sizeof m->why, "%s", err[0] ? err : "no GPU");
        VP_LOGI("GPU monitoring off: NVML not available (%s)", m->why);
        return VP_OK;
    }
    m->src_open = 1;
    if (n > VP_NVML_MAX_GPUS)
        n = VP_NVML_MAX_GPUS;
    /* five minutes of samples, and one more so the window's first sample is kept */
    m->cap = 300000 / c.interval_ms + 2;
    for (unsigned i = 0; i < n; i++) {
        gpu_state *g = &m->g[i];
        g->index = c.gpu < 0 ? i : (unsigned)c.gpu + i;
        if (m->src->name(m->src_ctx, i, g->name, sizeof g->name) != VP_OK)
            snprintf(g->name, sizeof g->name, "?");
        if (!(g->ring = calloc(m->cap, sizeof *g->ring))) {
            m->n = i;
            vp_nvml_monitor_free(out);
            return VP_ERR_NOMEM;
        }
    }
    m->n = n;
    vp_nvml_monitor_poll(m, 0);
    if (!c.manual) {
        int r = pthread_create(&m->thread, NULL, sampler, m);
        if (r) {
            VP_LOGE("nvml: cannot start the sampling thread: %s", strerror(r));
            vp_nvml_monitor_free(out);
            return VP_ERR_BACKEND;
        }
        m->thread_started = 1;
    }
    VP_LOGI("GPU monitoring: %u GPU(s) via %s, every %u ms", n, c.source ? "a custom source" : c.library,
            c.interval_ms);
    return VP_OK;
}

void vp_nvml_monitor_free(vp_nvml_monitor **mp)
{
    if (!mp || !*mp)
        return;
    vp_nvml_monitor *m = *mp;
    if (m->thread_started) {
        pthread_mutex_lock(&m->stop_mu);
        m->stop = 1;
        pthread_cond_signal(&m->stop_cv);
        pthread_mutex_unlock(&m->stop_mu);
        pthread_join(m->thread, NULL);
    }
    if (m->src_open && m->src->close)
        m->src->close(m->src_ctx);
    for (unsigned i = 0; i < VP_NVML_MAX_GPUS; i++)
        free(m->g[i].ring);
    pthread_mutex_destroy(&m->mu);
    pthread_mutex_destroy(&m->src_mu);
    pthread_mutex_destroy(&m->stop_mu);
    pthread_cond_destroy(&m->stop_cv);
    free(m);
    *mp = NULL;
}

unsigned vp_nvml_gpus(const vp_nvml_monitor *m) { return m ? m->n : 0; }
const char *vp_nvml_unavailable(const vp_nvml_monitor *m) { return m ? m->why : "no monitor"; }

/* Means of the samples of g within window_ns before the latest; mu held. */
static void average(const vp_nvml_monitor *m, const gpu_state *g, uint64_t window_ns, vp_nvml_avg *a)
{
    memset(a, 0, sizeof *a);
    if (!g->head)
        return;
    uint64_t newest = g->ring[(g->head - 1) % m->cap].t_ns;
    unsigned nu = 0, nm = 0, nd = 0, ne = 0, nt = 0, np = 0, nc = 0;
    uint64_t kept = g->head < m->cap ? g->head : m->cap;
    for (uint64_t k = 0; k < kept; k++) {
        const vp_nvml_sample *s = &g->ring[(g->head - 1 - k) % m->cap];
        if (newest - s->t_ns >= window_ns)
            break;
        a->n++;
        if (s->valid & VP_NVML_UTIL) {
            a->gpu_util += s->gpu_util;
            a->mem_util += s->mem_util;
            nu++;
        }
        if (s->valid & VP_NVML_MEMORY) {
            a->mem_used += (double)s->mem_used;
            nm++;
        }
        if (s->valid & VP_NVML_DECODER) {
            a->dec_util += s->dec_util;
            nd++;
        }
        if (s->valid & VP_NVML_ENCODER) {
            a->enc_util += s->enc_util;
            ne++;
        }
        if (s->valid & VP_NVML_TEMP) {
            a->temp_c += s->temp_c;
            nt++;
        }
        if (s->valid & VP_NVML_POWER) {
            a->power_w += s->power_mw / 1000.0;
            np++;
        }
        if (s->valid & VP_NVML_SM_CLOCK) {
            a->sm_mhz += s->sm_mhz;
            nc++;
        }
    }
    if (nu) {
        a->gpu_util /= nu;
        a->mem_util /= nu;
    }
    if (nm)
        a->mem_used /= nm;
    if (nd)
        a->dec_util /= nd;
    if (ne)
        a->enc_util /= ne;
    if (nt)
        a->temp_c /= nt;
    if (np)
        a->power_w /= np;
    if (nc)
        a->sm_mhz /= nc;
}

int vp_nvml_stats(vp_nvml_monitor *m, unsigned i, vp_nvml_gpu_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!m || i >= m->n)
        return VP_ERR_NOT_FOUND;
    gpu_state *g = &m->g[i];
    pthread_mutex_lock(&m->mu);
    out->index = g->index;
    memcpy(out->name, g->name, sizeof out->name);
    out->samples = g->head;
    if (g->head)
        out->now = g->ring[(g->head - 1) % m->cap];
    average(m, g, 60ull * 1000000000u, &out->avg_1m);
    average(m, g, 300ull * 1000000000u, &out->avg_5m);
    out->mem_over = g->mem_over;
    out->temp_over = g->temp_over;
    pthread_mutex_unlock(&m->mu);
    return VP_OK;
}

/* ---- Prometheus ----------------------------------------------------------- */

typedef struct pbuf {
    char *buf;
    size_t cap, len;
    int overflow;
} pbuf;

static void VP_PRINTF(2, 3) pb(pbuf *p, const char *fmt, ...)
{
    if (p->overflow)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(p->buf + p->len, p->cap - p->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= p->cap - p->len)
        p->overflow = 1;
    else
        p->len += (size_t)n;
}

/* Label value escaping of the text format: backslash, quote, newline. */
static void pb_label(pbuf *p, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            pb(p, "\\%c", *s);
        else if (*s == '\n')
            pb(p, "\\n");
        else
            pb(p, "%c", *s);
    }
}

enum { W_NOW = 1, W_AVG = 2 };

typedef struct metric {
    const char *name, *help;
    unsigned bit;    /* VP_NVML_* needed */
    int windows;     /* W_NOW | W_AVG */
} metric;

static const metric metrics[] = {
    {"vidpipe_gpu_utilization_percent", "Time a kernel was running on the GPU (NVML), percent", VP_NVML_UTIL,
     W_NOW | W_AVG},
    {"vidpipe_gpu_memory_utilization_percent", "Time device memory was read or written (NVML), percent",
     VP_NVML_UTIL, W_NOW | W_AVG},
    {"vidpipe_gpu_decoder_utilization_percent", "NVDEC busy time, percent", VP_NVML_DECODER, W_NOW | W_AVG},
    {"vidpipe_gpu_encoder_utilization_percent", "NVENC busy time, percent", VP_NVML_ENCODER, W_NOW | W_AVG},
    {"vidpipe_gpu_memory_used_bytes", "Device memory in use, bytes", VP_NVML_MEMORY, W_NOW | W_AVG},
    {"vidpipe_gpu_memory_total_bytes", "Device memory in total, bytes", VP_NVML_MEMORY, W_NOW},
    {"vidpipe_gpu_temperature_celsius", "GPU temperature, Celsius", VP_NVML_TEMP, W_NOW | W_AVG},
    {"vidpipe_gpu_power_watts", "Board power draw, watts", VP_NVML_POWER, W_NOW | W_AVG},
    {"vidpipe_gpu_sm_clock_hertz", "SM clock, hertz", VP_NVML_SM_CLOCK, W_NOW | W_AVG},
    {"vidpipe_gpu_memory_clock_hertz", "Memory clock, hertz", VP_NVML_MEM_CLOCK, W_NOW},
};

static double metric_now(unsigned k, const vp_nvml_sample *s)
{
    switch (k) {
    case 0: return s->gpu_util;
    case 1: return s->mem_util;
    case 2: return s->dec_util;
    case 3: return s->enc_util;
    case 4: return (double)s->mem_used;
    case 5: return (double)s->mem_total;
    case 6: return s->temp_c;
    case 7: return s->power_mw / 1000.0;
    case 8: return s->sm_mhz * 1e6;
    default: return s->mem_mhz * 1e6;
    }
}

static double metric_avg(unsigned k, const vp_nvml_avg *a)
{
    switch (k) {
    case 0: return a->gpu_util;
    case 1: return a->mem_util;
    case 2: return a->dec_util;
    case 3: return a->enc_util;
    case 4: return a->mem_used;
    case 6: return a->temp_c;
    case 7: return a->power_w;
    default: return a->sm_mhz * 1e6;
    }
}

int vp_nvml_prometheus(vp_nvml_monitor *m, char *buf, size_t cap, size_t *len)
{
    if (*len >= cap)
        return VP_ERR_NOMEM;
    pbuf p = {buf, cap, *len, 0};
    unsigned n = vp_nvml_gpus(m);
    pb(&p, "# HELP vidpipe_gpu_nvml_available 1 when NVML was loaded and sees the monitored GPU(s)\n"
           "# TYPE vidpipe_gpu_nvml_available gauge\nvidpipe_gpu_nvml_available %d\n", n > 0);
    vp_nvml_gpu_stats st[VP_NVML_MAX_GPUS];
    for (unsigned i = 0; i < n; i++)
        vp_nvml_stats(m, i, &st[i]);
    if (n) {
        pb(&p, "# HELP vidpipe_gpu_info GPU name (NVML)\n# TYPE vidpipe_gpu_info gauge\n");
        for (unsigned i = 0; i < n; i++) {
            pb(&p, "vidpipe_gpu_info{gpu=\"%u\",name=\"", st[i].index);
            pb_label(&p, st[i].name);
            pb(&p, "\"} 1\n");
        }
    }
    for (unsigned k = 0; k < sizeof metrics / sizeof metrics[0]; k++) {
        const metric *mt = &metrics[k];
        int any = 0;
        for (unsigned i = 0; i < n; i++)
            any |= (st[i].now.valid & mt->bit) != 0;
        if (!any)
            continue;
        pb(&p, "# HELP %s %s%s\n# TYPE %s gauge\n", mt->name, mt->help,
           mt->windows & W_AVG ? " (window: now, or mean over 1m / 5m)" : "", mt->name);
        for (unsigned i = 0; i < n; i++) {
            if (!(st[i].now.valid & mt->bit))
                continue;
            if (!(mt->windows & W_AVG)) {
                pb(&p, "%s{gpu=\"%u\"} %.17g\n", mt->name, st[i].index, metric_now(k, &st[i].now));
                continue;
            }
            pb(&p, "%s{gpu=\"%u\",window=\"now\"} %.17g\n", mt->name, st[i].index, metric_now(k, &st[i].now));
            pb(&p, "%s{gpu=\"%u\",window=\"1m\"} %.10g\n", mt->name, st[i].index, metric_avg(k, &st[i].avg_1m));
            pb(&p, "%s{gpu=\"%u\",window=\"5m\"} %.10g\n", mt->name, st[i].index, metric_avg(k, &st[i].avg_5m));
        }
    }
    if (p.overflow) {
        buf[*len] = 0;
        return VP_ERR_NOMEM;
    }
    *len = p.len;
    return VP_OK;
}
