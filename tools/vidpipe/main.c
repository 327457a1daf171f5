/*
 * vidpipe — command-line tool.
 *
 *   vidpipe info  [--json]
 *   vidpipe infer --model M.onnx --input NAME=FILE ... --outdir DIR
 *   vidpipe bench --model M.onnx [--batch 1,8,32] [--iters N] [--json]
 *   vidpipe decode / decode-bench (cmd_media.c)
 *   vidpipe run (cmd_run.c)
 *
 * Exit codes: 0 success, 1 runtime failure, 2 bad usage or invalid input.
 */
#include "cmd_check.h"
#include "cmd_media.h"
#include "cmd_run.h"
#include "engine/graph.h" /* vp_float_to_half */
#include "vidpipe/engine.h"
#include "vidpipe/media.h"
#include "vidpipe/vidpipe.h"

#include <oneapi/dnnl/dnnl.h>
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

static const char usage_text[] =
    "usage: vidpipe COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  info  [--json]                      versions, backends, supported operators,\n"
    "                                      NVDEC codecs\n"
    "  infer --model M.onnx --input NAME=FILE [--input ...] --outdir DIR\n"
    "        [--backend cpu|cuda] [--precision fp32|fp16] [--layout auto|nchw|nhwc] [--threads N]\n"
    "                                      run the engine once; inputs are .npy or ONNX\n"
    "                                      TensorProto (.pb); writes DIR/<output>.npy\n"
    "  bench --model M.onnx [--batch 1,8,32] [--iters N] [--warmup N] [--size HxW]\n"
    "        [--backend cpu|cuda] [--precision fp32|fp16] [--layout auto|nchw|nhwc] [--threads N]\n"
    "        [--io host|device] [--json] [--profile]\n"
    "                                      time the engine per batch size: latency\n"
    "                                      mean/p50/p99 and images per second;\n"
    "                                      --io device (the CUDA default) runs on the\n"
    "                                      plan's device buffers, as the pipeline does;\n"
    "                                      host adds the copies; --profile adds the\n"
    "                                      slowest steps\n"
    VP_MEDIA_USAGE
    VP_CHECK_USAGE
    VP_RUN_USAGE
    "\n"
    "engine options:\n"
    "  --precision fp16  CUDA only: FP16 activations and weights, FP32 accumulation\n"
    "  --layout L        4-D activations between convolutions: auto (channels-last\n"
    "                    on CUDA FP16, NCHW otherwise), nchw, or nhwc; model inputs\n"
    "                    and outputs keep their declared layout either way\n"
    "\n"
    "common options:\n"
    "  -v, --verbose    more log output (repeat for debug)\n"
    "  -h, --help       this text\n"
    "\n"
    "exit status: 0 success, 1 runtime failure, 2 bad usage or invalid input\n";

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "vidpipe: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see 'vidpipe --help')\n");
    return EXIT_USAGE;
}

/* Status of a failed engine call to an exit code: input problems are 2. */
static int exit_code_for(int status)
{
    switch (status) {
    case VP_ERR_INVALID: case VP_ERR_UNSUPPORTED: case VP_ERR_SHAPE: case VP_ERR_NOT_FOUND: case VP_ERR_IO:
        return EXIT_USAGE;
    default:
        return EXIT_RUNTIME;
    }
}

typedef struct common_opts {
    const char *model;
    vp_engine_options eng;
    int json;
} common_opts;

/* Parses options shared by infer and bench; returns 1 if argv[*i] was one. */
static int parse_common(int argc, char **argv, int *i, common_opts *o, int *err)
{
    const char *a = argv[*i];
    const char *val = *i + 1 < argc ? argv[*i + 1] : NULL;
    *err = 0;
    if (!strcmp(a, "--model") || !strcmp(a, "--backend") || !strcmp(a, "--precision") || !strcmp(a, "--threads") ||
        !strcmp(a, "--layout")) {
        if (!val) {
            *err = usage_error("%s needs a value", a);
            return 1;
        }
        (*i)++;
        if (!strcmp(a, "--model")) {
            o->model = val;
        } else if (!strcmp(a, "--backend")) {
            if (!strcmp(val, "cpu"))
                o->eng.backend = VP_BACKEND_CPU;
            else if (!strcmp(val, "cuda"))
                o->eng.backend = VP_BACKEND_CUDA;
            else
                *err = usage_error("--backend: expected cpu or cuda, got '%s'", val);
        } else if (!strcmp(a, "--precision")) {
            if (!strcmp(val, "fp32"))
                o->eng.precision = VP_PRECISION_FP32;
            else if (!strcmp(val, "fp16"))
                o->eng.precision = VP_PRECISION_FP16;
            else
                *err = usage_error("--precision: expected fp32 or fp16, got '%s'", val);
        } else if (!strcmp(a, "--layout")) {
            if (!strcmp(val, "auto"))
                o->eng.layout = VP_LAYOUT_AUTO;
            else if (!strcmp(val, "nchw"))
                o->eng.layout = VP_LAYOUT_PLAIN;
            else if (!strcmp(val, "nhwc"))
                o->eng.layout = VP_LAYOUT_CHANNELS_LAST;
            else
                *err = usage_error("--layout: expected auto, nchw or nhwc, got '%s'", val);
        } else {
            char *end;
            long t = strtol(val, &end, 10);
            if (*end || t < 1 || t > 1024)
                *err = usage_error("--threads: expected a number from 1 to 1024, got '%s'", val);
            o->eng.num_threads = (int)t;
        }
        return 1;
    }
    if (!strcmp(a, "--json")) {
        o->json = 1;
        return 1;
    }
    if (!strcmp(a, "--profile")) {
        o->eng.profile = 1;
        return 1;
    }
    if (!strcmp(a, "--no-passes")) {
        o->eng.disable_passes = 1;
        return 1;
    }
    return 0;
}

static int load_engine(const common_opts *o, vp_engine **e)
{
    char err[1024];
    if (!o->model)
        return usage_error("%s", "--model is required");
    int rc = vp_engine_load(o->model, &o->eng, e, err, sizeof err);
    if (rc) {
        fprintf(stderr, "vidpipe: %s\n", err);
        return exit_code_for(rc);
    }
    return 0;
}

/* info ------------------------------------------------------------------ */
/* NVDEC support per codec ("h264 hevc hevc-10bit ..."), or why none. */
static void nvdec_caps(char *buf, size_t len, int *usable)
{
    static const struct { vp_codec c; int bits; const char *name; } cs[] = {
        {VP_CODEC_H264, 8, "h264"}, {VP_CODEC_HEVC, 8, "hevc"}, {VP_CODEC_HEVC, 10, "hevc-10bit"},
        {VP_CODEC_AV1, 8, "av1"},   {VP_CODEC_VP9, 8, "vp9"},
    };
    char why[256];
    *usable = vp_nvdec_probe(0, VP_CODEC_NONE, 8, why, sizeof why) == 0;
    if (!*usable) {
        snprintf(buf, len, "%s", why);
        return;
    }
    size_t n = 0;
    buf[0] = 0;
    for (size_t i = 0; i < sizeof cs / sizeof cs[0] && n < len; i++)
        if (vp_nvdec_probe(0, cs[i].c, cs[i].bits, why, sizeof why) == 0)
            n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? " " : "", cs[i].name);
}

static int cmd_info(int argc, char **argv)
{
    int json = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else
            return usage_error("info: unknown option '%s'", argv[i]);
    }
    const dnnl_version_t *dv = dnnl_version();
    const char *ops[512];
    int nops = vp_engine_supported_ops(VP_BACKEND_CPU, ops, 512);
    if (nops > 512)
        nops = 512;
    char line[512];
    if (json) {
        vp_engine_describe_backend(VP_BACKEND_CUDA, line, sizeof line);
        printf("{\"version\":\"%s\",\"backends\":[{\"name\":\"cpu\",\"library\":\"oneDNN %d.%d.%d\","
               "\"threads\":%d,\"ops\":[",
               vp_version(), dv->major, dv->minor, dv->patch, omp_get_max_threads());
        for (int i = 0; i < nops; i++)
            printf("%s\"%s\"", i ? "," : "", ops[i]);
        printf("]}],\"cuda\":\"");
        for (const char *c = line; *c; c++)
            printf(*c == '"' || *c == '\\' ? "\\%c" : "%c", *c);
        int ok;
        nvdec_caps(line, sizeof line, &ok);
        printf("\",\"nvdec\":{\"usable\":%s,\"%s\":\"", ok ? "true" : "false", ok ? "codecs" : "reason");
        for (const char *c = line; *c; c++)
            printf(*c == '"' || *c == '\\' ? "\\%c" : "%c", *c);
        printf("\"}}\n");
        return 0;
    }
    printf("vidpipe %s\n", vp_version());
    printf("backend cpu: oneDNN %d.%d.%d, %d threads, %d operators\n", dv->major, dv->minor, dv->patch,
           omp_get_max_threads(), nops);
    printf("  ");
    for (int i = 0; i < nops; i++)
        printf("%s%s", ops[i], i + 1 < nops ? " " : "\n");
    vp_engine_describe_backend(VP_BACKEND_CUDA, line, sizeof line);
    printf("backend cuda: %s\n", line);
    int ok;
    nvdec_caps(line, sizeof line, &ok);
    printf("nvdec: %s\n", line);
    return 0;
}

/* infer ----------------------------------------------------------------- */
static void sanitize(const char *in, char *out, size_t len)
{
    size_t i = 0;
    for (; in[i] && i + 1 < len; i++) {
        char c = in[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                 c == '.' || c == '-';
        out[i] = ok ? c : '_';
    }
    out[i] = 0;
    if (!strcmp(out, ".") || !strcmp(out, "..") || !out[0])
        snprintf(out, len, "output");
}

static int cmd_infer(int argc, char **argv)
{
    common_opts o = {0};
    const char *outdir = NULL;
    const char *in_spec[64];
    int n_spec = 0, err = 0, rc, code = 0;
    char msg[1024];
    vp_engine_options_default(&o.eng);
    for (int i = 2; i < argc; i++) {
        if (parse_common(argc, argv, &i, &o, &err)) {
            if (err)
                return err;
        } else if (!strcmp(argv[i], "--input") && i + 1 < argc) {
            if (n_spec == 64)
                return usage_error("%s", "too many --input options");
            in_spec[n_spec++] = argv[++i];
        } else if (!strcmp(argv[i], "--outdir") && i + 1 < argc) {
            outdir = argv[++i];
        } else {
            return usage_error("infer: unknown or incomplete option '%s'", argv[i]);
        }
    }
    if (!outdir)
        return usage_error("%s", "infer: --outdir is required");
    vp_engine *e = NULL;
    if ((code = load_engine(&o, &e)))
        return code;
    int nin = vp_engine_num_inputs(e), nout = vp_engine_num_outputs(e);
    vp_tensor **loaded = calloc((size_t)nin + 1, sizeof *loaded);
    vp_tensor *inputs = calloc((size_t)nin + 1, sizeof *inputs), *outputs = calloc((size_t)nout + 1, sizeof *outputs);
    vp_shape *shapes = calloc((size_t)nin + 1, sizeof *shapes);
    if (!loaded || !inputs || !outputs || !shapes) {
        fprintf(stderr, "vidpipe: out of memory\n");
        code = EXIT_RUNTIME;
        goto out;
    }
    for (int s = 0; s < n_spec; s++) {
        const char *eq = strchr(in_spec[s], '=');
        const char *file = eq ? eq + 1 : in_spec[s];
        int idx = -1;
        for (int i = 0; i < nin; i++) {
            const char *name;
            vp_engine_input_info(e, i, &name, NULL, NULL);
            if (eq ? (strlen(name) == (size_t)(eq - in_spec[s]) && !strncmp(name, in_spec[s], (size_t)(eq - in_spec[s])))
                   : nin == 1)
                idx = i;
        }
        if (idx < 0) {
            fprintf(stderr, "vidpipe: --input %s: %s\n", in_spec[s],
                    eq ? "the model has no input of that name" : "give NAME=FILE (the model has several inputs)");
            code = EXIT_USAGE;
            goto out;
        }
        if (loaded[idx]) {
            fprintf(stderr, "vidpipe: --input %s: input given twice\n", in_spec[s]);
            code = EXIT_USAGE;
            goto out;
        }
        if ((rc = vp_tensor_load(file, &loaded[idx], msg, sizeof msg))) {
            fprintf(stderr, "vidpipe: %s\n", msg);
            code = EXIT_USAGE;
            goto out;
        }
    }
    for (int i = 0; i < nin; i++) {
        const char *name;
        vp_dtype dt;
        vp_engine_input_info(e, i, &name, &dt, NULL);
        if (!loaded[i]) {
            fprintf(stderr, "vidpipe: input '%s' was not given (--input %s=FILE)\n", name, name);
            code = EXIT_USAGE;
            goto out;
        }
        if (loaded[i]->dtype != dt) {
            fprintf(stderr, "vidpipe: input '%s' is %s, the model expects %s\n", name,
                    vp_dtype_name(loaded[i]->dtype), vp_dtype_name(dt));
            code = EXIT_USAGE;
            goto out;
        }
        inputs[i] = *loaded[i];
        shapes[i] = loaded[i]->shape;
    }
    vp_plan *p;
    if ((rc = vp_engine_plan(e, shapes, &p))) {
        fprintf(stderr, "vidpipe: %s\n", vp_engine_last_error(e));
        code = exit_code_for(rc);
        goto out;
    }
    for (int i = 0; i < nout; i++) {
        vp_plan_output_shape(p, i, &outputs[i].shape);
        outputs[i].data = malloc((size_t)vp_shape_numel(&outputs[i].shape) * 8 + 8);
        if (!outputs[i].data) {
            fprintf(stderr, "vidpipe: out of memory for outputs\n");
            code = EXIT_RUNTIME;
            goto out;
        }
    }
    if ((rc = vp_plan_run(p, inputs, outputs))) {
        fprintf(stderr, "vidpipe: %s\n", vp_engine_last_error(e));
        code = EXIT_RUNTIME;
        goto out;
    }
    if (mkdir(outdir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "vidpipe: cannot create %s: %s\n", outdir, strerror(errno));
        code = EXIT_RUNTIME;
        goto out;
    }
    for (int i = 0; i < nout; i++) {
        const char *name;
        char fname[256], path[4096], sh[128];
        vp_engine_output_info(e, i, &name, NULL, NULL);
        sanitize(name, fname, sizeof fname);
        snprintf(path, sizeof path, "%s/%s.npy", outdir, fname);
        if ((rc = vp_tensor_save_npy(path, &outputs[i], msg, sizeof msg))) {
            fprintf(stderr, "vidpipe: %s\n", msg);
            code = EXIT_RUNTIME;
            goto out;
        }
        printf("%s %s %s -> %s\n", name, vp_dtype_name(outputs[i].dtype),
               vp_shape_str(&outputs[i].shape, sh, sizeof sh), path);
    }
out:
    for (int i = 0; i < nin && loaded; i++)
        vp_tensor_destroy(&loaded[i]);
    for (int i = 0; i < nout && outputs; i++)
        free(outputs[i].data);
    free(loaded), free(inputs), free(outputs), free(shapes);
    vp_engine_free(&e);
    return code;
}

/* bench ----------------------------------------------------------------- */
static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* xorshift64*: reproducible inputs without libc's rand() state */
static float rnd01(uint64_t *s)
{
    *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
    return (float)((*s * 0x2545F4914F6CDD1Dull) >> 40) / (float)(1 << 24);
}

static int cmp_prof(const void *a, const void *b)
{
    double x = ((const vp_step_profile *)a)->total_ms, y = ((const vp_step_profile *)b)->total_ms;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The slowest steps, and time per op type. */
static void print_profile(const vp_plan *p, int json)
{
    int n = vp_plan_profile(p, NULL, 0);
    vp_step_profile *st = calloc((size_t)n + 1, sizeof *st);
    if (!st)
        return;
    vp_plan_profile(p, st, n);
    double total = 0;
    for (int i = 0; i < n; i++)
        total += st[i].total_ms;
    /* per op type */
    const char *ops[128];
    double op_ms[128];
    int op_cnt[128], nops = 0;
    for (int i = 0; i < n; i++) {
        int j = 0;
        while (j < nops && strcmp(ops[j], st[i].op) != 0)
            j++;
        if (j == nops && nops < 128) {
            ops[nops] = st[i].op, op_ms[nops] = 0, op_cnt[nops] = 0;
            nops++;
        }
        if (j < nops)
            op_ms[j] += st[i].total_ms, op_cnt[j]++;
    }
    qsort(st, (size_t)n, sizeof *st, cmp_prof);
    long runs = n ? st[0].runs : 0;
    FILE *f = json ? stderr : stdout;
    fprintf(f, "profile: %d steps, %ld runs, %.3f ms per run in kernels\n", n, runs, runs ? total / (double)runs : 0);
    for (int j = 0; j < nops; j++)
        fprintf(f, "  op %-24s x%-4d %9.3f ms/run %5.1f%%\n", ops[j], op_cnt[j], runs ? op_ms[j] / (double)runs : 0,
                total > 0 ? 100 * op_ms[j] / total : 0);
    fprintf(f, "  slowest steps, with what their time achieves: GFLOP/s of Conv/MatMul work, GB/s of the\n"
               "  bytes they must read and write once (compare with the device's peak)\n");
    for (int i = 0; i < n && i < 20; i++) {
        double ms = runs ? st[i].total_ms / (double)runs : 0;
        fprintf(f, "  step %-36.36s %-9s%s %8.3f ms %5.1f%%  %8.1f MB %8.0f GB/s", st[i].node, st[i].op,
                st[i].n_post ? "+post" : "     ", ms, total > 0 ? 100 * st[i].total_ms / total : 0, st[i].bytes / 1e6,
                ms > 0 ? st[i].bytes / (ms * 1e6) : 0);
        if (st[i].flops > 0)
            fprintf(f, " %8.1f GFLOP %7.1f TFLOP/s", st[i].flops / 1e9, ms > 0 ? st[i].flops / (ms * 1e9) : 0);
        fputc('\n', f);
    }
    free(st);
}

static int cmd_bench(int argc, char **argv)
{
    common_opts o = {0};
    int batches[32] = {1}, nb = 1, iters = 50, warmup = 5, code = 0, err = 0, io_device = -1;
    long size_h = 640, size_w = 640;
    vp_engine_options_default(&o.eng);
    for (int i = 2; i < argc; i++) {
        if (parse_common(argc, argv, &i, &o, &err)) {
            if (err)
                return err;
        } else if (!strcmp(argv[i], "--batch") && i + 1 < argc) {
            char *p = argv[++i], *end;
            nb = 0;
            while (*p && nb < 32) {
                long b = strtol(p, &end, 10);
                if (end == p || b < 1 || b > 4096 || (*end && *end != ','))
                    return usage_error("--batch: expected a list like 1,8,32, got '%s'", argv[i]);
                batches[nb++] = (int)b;
                p = *end ? end + 1 : end;
            }
        } else if ((!strcmp(argv[i], "--iters") || !strcmp(argv[i], "--warmup")) && i + 1 < argc) {
            char *end;
            long v = strtol(argv[i + 1], &end, 10);
            if (*end || v < (argv[i][2] == 'i' ? 1 : 0) || v > 1000000)
                return usage_error("expected a count, got '%s'", argv[i + 1]);
            *(argv[i][2] == 'i' ? &iters : &warmup) = (int)v;
            i++;
        } else if (!strcmp(argv[i], "--io") && i + 1 < argc) {
            i++;
            if (strcmp(argv[i], "host") && strcmp(argv[i], "device"))
                return usage_error("--io: expected host or device, got '%s'", argv[i]);
            io_device = !strcmp(argv[i], "device");
        } else if (!strcmp(argv[i], "--size") && i + 1 < argc) {
            if (sscanf(argv[++i], "%ldx%ld", &size_h, &size_w) != 2 || size_h < 1 || size_w < 1 || size_h > 16384 ||
                size_w > 16384)
                return usage_error("--size: expected HxW such as 640x640, got '%s'", argv[i]);
        } else {
            return usage_error("bench: unknown or incomplete option '%s'", argv[i]);
        }
    }
    if (io_device < 0)
        io_device = o.eng.backend == VP_BACKEND_CUDA;
    if (io_device && o.eng.backend != VP_BACKEND_CUDA)
        return usage_error("%s", "--io device needs --backend cuda");
    /* device io: the input in the plan's own form (FP16 channels-last under
     * --precision fp16), as the GPU preprocessing writes it */
    o.eng.native_input = io_device;
    vp_engine *e = NULL;
    if ((code = load_engine(&o, &e)))
        return code;
    int nin = vp_engine_num_inputs(e), nout = vp_engine_num_outputs(e);
    if (!o.json)
        printf("%-6s %8s %10s %10s %10s %12s %14s %10s   (io: %s)\n", "batch", "iters", "mean ms", "p50 ms",
               "p99 ms", "img/s", "cpu ms/img", "plan ms", io_device ? "device buffers, input in the plan's own form" : "host copies included");
    for (int b = 0; b < nb && !code; b++) {
        vp_shape shapes[16];
        vp_tensor in[16], out[64];
        double *lat = calloc((size_t)iters, sizeof(double));
        memset(in, 0, sizeof in);
        memset(out, 0, sizeof out);
        if (nin > 16 || nout > 64 || !lat) {
            fprintf(stderr, "vidpipe: bench supports up to 16 inputs and 64 outputs\n");
            free(lat);
            code = EXIT_USAGE;
            break;
        }
        for (int i = 0; i < nin; i++) {
            const char *name;
            vp_engine_input_info(e, i, &name, &in[i].dtype, &shapes[i]);
            int nsym = 0;
            for (int d = 0; d < shapes[i].rank; d++) {
                if (d == 0)
                    shapes[i].d[0] = batches[b];
                else if (shapes[i].d[d] < 0)
                    shapes[i].d[d] = (nsym++ == 0 && d == shapes[i].rank - 2) ? size_h : size_w;
            }
            in[i].shape = shapes[i];
            size_t bytes = (size_t)vp_shape_numel(&shapes[i]) * vp_dtype_size(in[i].dtype);
            in[i].data = malloc(bytes ? bytes : 1);
            if (!in[i].data) {
                code = EXIT_RUNTIME;
                break;
            }
            uint64_t seed = 0x9E3779B97F4A7C15ull + (uint64_t)i;
            if (in[i].dtype == VP_DT_FLOAT)
                for (size_t k = 0; k < bytes / 4; k++)
                    ((float *)in[i].data)[k] = rnd01(&seed);
            else
                memset(in[i].data, 0, bytes);
        }
        vp_plan *p = NULL;
        double plan_t0 = now_ms();
        int rc = code ? VP_ERR_NOMEM : vp_engine_plan(e, shapes, &p);
        double plan_ms = now_ms() - plan_t0;
        for (int i = 0; i < nin && rc == VP_OK && io_device; i++) {
            vp_tensor bt;
            if (vp_plan_binding(p, 0, i, &bt) != VP_OK || bt.dtype != VP_DT_FLOAT16)
                continue;
            /* the binding is FP16 (channels-last): a host tensor of that form for the first upload */
            size_t n = (size_t)vp_shape_numel(&bt.shape);
            uint16_t *h = malloc(n * 2 + 2);
            if (!h) {
                code = EXIT_RUNTIME;
                break;
            }
            uint64_t seed = 0x9E3779B97F4A7C15ull + (uint64_t)i;
            for (size_t k = 0; k < n; k++)
                h[k] = vp_float_to_half(rnd01(&seed));
            free(in[i].data);
            in[i].data = h;
            in[i].dtype = bt.dtype;
            in[i].shape = bt.shape;
        }
        if (rc) {
            fprintf(stderr, "vidpipe: batch %d: %s\n", batches[b], vp_engine_last_error(e));
            code = exit_code_for(rc);
        }
        for (int i = 0; i < nout && !code; i++) {
            vp_plan_output_shape(p, i, &out[i].shape);
            out[i].data = malloc((size_t)vp_shape_numel(&out[i].shape) * 8 + 8);
            if (!out[i].data)
                code = EXIT_RUNTIME;
        }
        double t0 = 0, c0 = 0;
        for (int it = 0; it < warmup + iters && !code; it++) {
            if (it == warmup) {
                if (o.eng.profile)
                    vp_plan_profile_reset(p);
                t0 = now_ms();
                c0 = cpu_ms();
            }
            double s = now_ms();
            /* device io: the first run uploads the input, later ones reuse it */
            if ((rc = io_device && it ? vp_plan_run_bound(p) : vp_plan_run(p, in, out))) {
                fprintf(stderr, "vidpipe: %s\n", vp_engine_last_error(e));
                code = EXIT_RUNTIME;
            }
            if (it >= warmup)
                lat[it - warmup] = now_ms() - s;
        }
        if (!code) {
            double wall = now_ms() - t0, cpu = cpu_ms() - c0;
            double mean = wall / iters;
            qsort(lat, (size_t)iters, sizeof(double), cmp_double);
            double p50 = lat[iters / 2], p99 = lat[(int)((iters - 1) * 0.99 + 0.5)];
            double ips = batches[b] * 1000.0 / mean, cpi = cpu / ((double)iters * batches[b]);
            if (o.json)
                printf("{\"batch\":%d,\"iters\":%d,\"mean_ms\":%.4f,\"p50_ms\":%.4f,\"p99_ms\":%.4f,"
                       "\"img_per_s\":%.2f,\"cpu_ms_per_img\":%.4f,\"threads\":%d,\"arena_bytes\":%zu,"
                       "\"io\":\"%s\",\"plan_ms\":%.1f}\n",
                       batches[b], iters, mean, p50, p99, ips, cpi, omp_get_max_threads(), vp_plan_arena_bytes(p),
                       io_device ? "device" : "host", plan_ms);
            else
                printf("%-6d %8d %10.3f %10.3f %10.3f %12.1f %14.3f %10.1f\n", batches[b], iters, mean, p50, p99, ips,
                       cpi, plan_ms);
            fflush(stdout);
        }
        if (!code && o.eng.profile)
            print_profile(p, o.json);
        for (int i = 0; i < nin; i++)
            free(in[i].data);
        for (int i = 0; i < nout; i++)
            free(out[i].data);
        free(lat);
    }
    vp_engine_free(&e);
    return code;
}

int main(int argc, char **argv)
{
    int verbose = 0, n = 1;
    /* global flags may appear anywhere; strip them */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose"))
            verbose++;
        else if (!strcmp(argv[i], "-vv"))
            verbose += 2;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage_text, stdout);
            return 0;
        } else
            argv[n++] = argv[i];
    }
    argc = n;
    vp_log_set_level(verbose >= 2 ? VP_LOG_DEBUG : verbose ? VP_LOG_INFO : VP_LOG_WARN);
    if (argc < 2) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "info"))
        return cmd_info(argc, argv);
    if (!strcmp(cmd, "infer"))
        return cmd_infer(argc, argv);
    if (!strcmp(cmd, "bench"))
        return cmd_bench(argc, argv);
    if (!strcmp(cmd, "decode"))
        return vp_cmd_decode(argc, argv);
    if (!strcmp(cmd, "decode-bench"))
        return vp_cmd_decode_bench(argc, argv);
    if (!strcmp(cmd, "check"))
        return vp_cmd_check(argc - 1, argv + 1);
    if (!strcmp(cmd, "run"))
        return vp_cmd_run(argc, argv);
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("vidpipe %s\n", vp_version());
        return 0;
    }
    return usage_error("unknown command '%s'", cmd);
}
