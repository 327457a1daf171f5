/*
 * NVML monitor: GPU and memory-controller utilisation, NVDEC and NVENC
 * utilisation, memory used, temperature, power and clocks, sampled by a
 * thread, with 1- and 5-minute averages and threshold warnings.
 *
 * NVML (libnvidia-ml.so.1, installed with the driver) is loaded with dlopen
 * at run time: no link dependency. Where it is absent, or has no device,
 * the monitor says so once at info level and is an empty monitor: every call
 * works and reports nothing. That is not an error: vidpipe runs on machines
 * without a GPU.
 *
 * Warnings (VP_LOGW), once per crossing: when memory use in percent of the
 * total or the temperature rises to its threshold or above, and once more
 * when it falls back below the threshold by the hysteresis (2 points of
 * memory, 3 C), so a value hovering at the threshold does not repeat.
 *
 * Fields a device does not support (NVENC on an H100/H200, power on some
 * boards) are reported once at info level, then left out: their bit is
 * clear in vp_nvml_sample.valid and they are absent from the metrics.
 *
 * GPU indices are NVML's (PCI bus order, the same as nvidia-smi), which are
 * CUDA's only without CUDA_VISIBLE_DEVICES / CUDA_DEVICE_ORDER changes.
 */
#ifndef VP_GPU_NVML_H
#define VP_GPU_NVML_H

#include "vidpipe/vidpipe.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VP_NVML_MAX_GPUS 16
#define VP_NVML_ALL_GPUS (-1)

/* vp_nvml_sample.valid bits */
enum {
    VP_NVML_UTIL = 1 << 0,    /* gpu_util, mem_util */
    VP_NVML_MEMORY = 1 << 1,  /* mem_used, mem_total */
    VP_NVML_DECODER = 1 << 2, /* dec_util */
    VP_NVML_ENCODER = 1 << 3, /* enc_util */
    VP_NVML_TEMP = 1 << 4,    /* temp_c */
    VP_NVML_POWER = 1 << 5,   /* power_mw */
    VP_NVML_SM_CLOCK = 1 << 6,
    VP_NVML_MEM_CLOCK = 1 << 7,
    VP_NVML_GFX_CLOCK = 1 << 8,
};

typedef struct vp_nvml_sample {
    uint64_t t_ns;          /* vp_clock_ns() when taken */
    unsigned valid;         /* VP_NVML_* bits of the fields read */
    unsigned gpu_util;      /* % of NVML's sample period with a kernel running, 0..100 */
    unsigned mem_util;      /* % of the period device memory was read or written */
    unsigned dec_util;      /* NVDEC busy %, 0..100 */
    unsigned enc_util;      /* NVENC busy % */
    uint64_t mem_used;      /* bytes (nvmlDeviceGetMemoryInfo_v2 where the driver has it: as nvidia-smi) */
    uint64_t mem_total;     /* bytes */
    unsigned temp_c;        /* GPU die, Celsius */
    unsigned power_mw;      /* board power, milliwatts */
    unsigned sm_mhz, mem_mhz, gfx_mhz;
} vp_nvml_sample;

/* Means over a window; n = samples in it (0: nothing yet). A field's mean
 * is over the samples where it was valid. */
typedef struct vp_nvml_avg {
    unsigned n;
    double gpu_util, mem_util, dec_util, enc_util; /* % */
    double mem_used;                               /* bytes */
    double temp_c, power_w, sm_mhz;
} vp_nvml_avg;

/* One GPU, for /stats. */
typedef struct vp_nvml_gpu_stats {
    unsigned index;          /* NVML index */
    char name[96];           /* "NVIDIA H200" */
    uint64_t samples;        /* taken so far */
    vp_nvml_sample now;      /* the latest (valid 0: none yet) */
    vp_nvml_avg avg_1m, avg_5m;
    int mem_over, temp_over; /* 1 while above the threshold (a warning was logged) */
} vp_nvml_gpu_stats;

/* Where samples come from: NVML by default; a test supplies its own. All
 * three return VP_OK or a negative status (open: with a one-line reason in
 * err). sample sets the valid bits of what it read. */
typedef struct vp_nvml_source {
    int (*open)(void *ctx, unsigned *count, char *err, size_t errlen);
    int (*name)(void *ctx, unsigned gpu, char *buf, size_t len);
    int (*sample)(void *ctx, unsigned gpu, vp_nvml_sample *out);
    void (*close)(void *ctx); /* may be NULL */
} vp_nvml_source;

typedef struct vp_nvml_config {
    unsigned interval_ms;      /* sampling period; 0: 1000; 10..60000 */
    int manual;                /* no thread: the caller calls vp_nvml_monitor_poll */
    int gpu;                   /* NVML index, or VP_NVML_ALL_GPUS (default 0) */
    double mem_warn_percent;   /* memory use threshold, % of total; 0: 90; > 100: never */
    double temp_warn_c;        /* temperature threshold, C; 0: 85 */
    const char *library;       /* NULL: "libnvidia-ml.so.1" */
    const vp_nvml_source *source; /* NULL: NVML */
    void *source_ctx;
} vp_nvml_config;

typedef struct vp_nvml_monitor vp_nvml_monitor;

/* Opens NVML (or source) and starts the sampling thread (unless manual),
 * taking the first sample before returning. NVML or the GPU missing: VP_OK
 * with an empty monitor (vp_nvml_gpus() == 0) and one info line. Errors:
 * VP_ERR_INVALID for a bad config (logged), VP_ERR_NOMEM, VP_ERR_BACKEND
 * when the thread cannot start. cfg may be NULL. */
int vp_nvml_monitor_create(const vp_nvml_config *cfg, vp_nvml_monitor **out);
/* Stops the thread (within one interval: it waits on a condition variable,
 * not a sleep), shuts NVML down. NULL-safe; sets *m to NULL. */
void vp_nvml_monitor_free(vp_nvml_monitor **m);

/* GPUs monitored; 0 when NVML or the device is absent. */
unsigned vp_nvml_gpus(const vp_nvml_monitor *m);
/* Why the monitor is empty ("" when it is not). Static for the monitor's life. */
const char *vp_nvml_unavailable(const vp_nvml_monitor *m);

/* Takes one sample of every GPU stamped now_ns (0: vp_clock_ns()), stores
 * it, checks the thresholds. For manual monitors; also safe beside the
 * thread. Empty monitor: VP_OK, nothing done. */
int vp_nvml_monitor_poll(vp_nvml_monitor *m, uint64_t now_ns);
/* Reads GPU i (0..vp_nvml_gpus()-1) now, without storing: for comparisons
 * with another tool at the same moment. */
int vp_nvml_read(vp_nvml_monitor *m, unsigned i, vp_nvml_sample *out);
/* Latest sample and averages of GPU i. Windows end at the latest sample. */
int vp_nvml_stats(vp_nvml_monitor *m, unsigned i, vp_nvml_gpu_stats *out);

/* Appends Prometheus text-format lines (HELP/TYPE and one series per GPU,
 * label gpu="<index>", and window="now"|"1m"|"5m" for the averaged gauges)
 * at buf + *len, keeping a terminating NUL; *len is advanced. Always emits
 * vidpipe_gpu_nvml_available (0 or 1). VP_ERR_NOMEM when it does not fit
 * in cap (then *len and buf[*len] are unchanged). */
int vp_nvml_prometheus(vp_nvml_monitor *m, char *buf, size_t cap, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
