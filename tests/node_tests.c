/*
 * Runs ONNX's own backend node tests (Debian libonnx-testdata:
 * onnx/backend/test/data/node/test_NAME/model.onnx with test_data_set_N/
 * holding input_K.pb and output_K.pb)
 * through the engine and compares every output with the expected one, with
 * the tolerances of ONNX's backend test runner (rtol 1e-3, atol 1e-7; exact
 * for integers and booleans; NaN matches NaN).
 *
 * A test whose model uses an operator the engine does not claim is "not
 * applicable". A test the engine rejects as unsupported (a dtype or attribute
 * value it does not implement) is "skipped" with the reason printed. Any
 * other error or a wrong value is a failure. Exit status 1 on any failure.
 *
 * --precision fp16 (CUDA) runs the same tests with the engine's FP16 rewrite
 * (and, by default, its channels-last layout) and compares with
 * |got - want| <= 1e-2 |want| + 1e-3 max(1, max |want|): a few FP16
 * roundings (2^-11 each) of operands up to the output's magnitude. Tests
 * whose inputs or expected outputs lie outside FP16's range (|x| > 65504)
 * are skipped in that mode.
 */
#include "engine/graph.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int list_dir(const char *path, const char *prefix, char ***out)
{
    DIR *d = opendir(path);
    int n = 0, cap = 64;
    char **v = malloc(sizeof(char *) * (size_t)cap);
    struct dirent *de;
    if (!d || !v) {
        if (d)
            closedir(d);
        free(v);
        *out = NULL;
        return -1;
    }
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
            continue;
        if (n == cap) {
            cap *= 2;
            char **nv = realloc(v, sizeof(char *) * (size_t)cap);
            if (!nv)
                break;
            v = nv;
        }
        v[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(v, (size_t)n, sizeof(char *), cmp_str);
    *out = v;
    return n;
}

static void free_list(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

typedef struct run_opts {
    vp_backend_kind backend;
    vp_precision precision;
    vp_layout layout;
} run_opts;

static double elem_f64(const vp_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case VP_DT_FLOAT: return ((const float *)t->data)[i];
    case VP_DT_DOUBLE: return ((const double *)t->data)[i];
    case VP_DT_FLOAT16: return vp_half_to_float(((const uint16_t *)t->data)[i]);
    default: return 0;
    }
}

static double max_abs(const vp_tensor *t)
{
    double m = 0;
    if (t->dtype != VP_DT_FLOAT && t->dtype != VP_DT_DOUBLE && t->dtype != VP_DT_FLOAT16)
        return 0;
    for (int64_t i = 0, n = vp_shape_numel(&t->shape); i < n; i++) {
        double v = fabs(elem_f64(t, i));
        if (!isnan(v) && !isinf(v) && v > m)
            m = v;
    }
    return m;
}

/* 0 if equal within tolerance; else writes why into msg. */
static int compare(const vp_tensor *got, const vp_tensor *want, int fp16, char *msg, size_t len)
{
    char a[128], b[128];
    if (got->dtype != want->dtype) {
        snprintf(msg, len, "dtype %s, expected %s", vp_dtype_name(got->dtype), vp_dtype_name(want->dtype));
        return 1;
    }
    if (got->shape.rank != want->shape.rank) {
        snprintf(msg, len, "shape %s, expected %s", vp_shape_str(&got->shape, a, sizeof a),
                 vp_shape_str(&want->shape, b, sizeof b));
        return 1;
    }
    for (int i = 0; i < got->shape.rank; i++)
        if (got->shape.d[i] != want->shape.d[i]) {
            snprintf(msg, len, "shape %s, expected %s", vp_shape_str(&got->shape, a, sizeof a),
                     vp_shape_str(&want->shape, b, sizeof b));
            return 1;
        }
    int64_t n = vp_shape_numel(&want->shape);
    int is_float = want->dtype == VP_DT_FLOAT || want->dtype == VP_DT_DOUBLE || want->dtype == VP_DT_FLOAT16;
    size_t es = vp_dtype_size(want->dtype);
    double rtol = 1e-3, atol = 1e-7;
    if (fp16 && want->dtype == VP_DT_FLOAT) {
        double m = max_abs(want);
        rtol = 1e-2;
        atol = 1e-3 * (m > 1 ? m : 1);
    }
    for (int64_t i = 0; i < n; i++) {
        if (is_float) {
            double x, y;
            if (want->dtype == VP_DT_FLOAT) {
                x = ((const float *)got->data)[i];
                y = ((const float *)want->data)[i];
            } else if (want->dtype == VP_DT_DOUBLE) {
                x = ((const double *)got->data)[i];
                y = ((const double *)want->data)[i];
            } else {
                /* float16: compare as float32 values */
                x = vp_half_to_float(((const uint16_t *)got->data)[i]);
                y = vp_half_to_float(((const uint16_t *)want->data)[i]);
            }
            if (isnan(y) && isnan(x))
                continue;
            if (isinf(y) && x == y)
                continue;
            if (!(fabs(x - y) <= atol + rtol * fabs(y))) {
                snprintf(msg, len, "element %lld: got %.9g, expected %.9g", (long long)i, x, y);
                return 1;
            }
        } else if (memcmp((const char *)got->data + i * (int64_t)es, (const char *)want->data + i * (int64_t)es, es)) {
            snprintf(msg, len, "element %lld differs (%s)", (long long)i, vp_dtype_name(want->dtype));
            return 1;
        }
    }
    return 0;
}

enum { R_PASS, R_FAIL, R_SKIP, R_NA };

/* FP16 mode, after a mismatch: is the test meaningful at that precision at
 * all? Runs the model on the CPU in float32 with the float inputs rounded
 * to float16 first; if even that misses the expected outputs (within the
 * FP16 tolerance), the inputs carry information float16 cannot hold (e.g.
 * softmax of 10000, 10001, 10002: one value in float16), and the test says
 * nothing about the FP16 kernels. Returns 1 when it is meaningful. */
static int fp16_inputs_meaningful(char *path, size_t plen, const char *dir, const char *name, vp_tensor **ins,
                                  int nin, vp_tensor **want, int nout)
{
    vp_engine *e = NULL;
    vp_engine_options opt;
    char err[256];
    int meaningful = 1;
    vp_engine_options_default(&opt);
    snprintf(path, plen, "%s/%s/model.onnx", dir, name);
    if (vp_engine_load(path, &opt, &e, err, sizeof err))
        return 1;
    vp_tensor *inv = calloc((size_t)nin + 1, sizeof *inv), *outv = calloc((size_t)nout + 1, sizeof *outv);
    vp_shape *shapes = calloc((size_t)nin + 1, sizeof *shapes);
    float **rounded = calloc((size_t)nin + 1, sizeof *rounded);
    vp_plan *p = NULL;
    int ok = inv && outv && shapes && rounded;
    for (int i = 0; i < nin && ok; i++) {
        inv[i] = *ins[i];
        shapes[i] = ins[i]->shape;
        if (ins[i]->dtype != VP_DT_FLOAT)
            continue;
        int64_t n = vp_shape_numel(&ins[i]->shape);
        if (!(rounded[i] = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1)))) {
            ok = 0;
            break;
        }
        for (int64_t k = 0; k < n; k++)
            rounded[i][k] = vp_half_to_float(vp_float_to_half(((const float *)ins[i]->data)[k]));
        inv[i].data = rounded[i];
    }
    if (ok && vp_engine_plan(e, shapes, &p) == VP_OK) {
        for (int i = 0; i < nout && ok; i++) {
            vp_plan_output_shape(p, i, &outv[i].shape);
            ok = (outv[i].data = calloc((size_t)(vp_shape_numel(&outv[i].shape) > 0 ? vp_shape_numel(&outv[i].shape) : 1), 8)) != NULL;
        }
        if (ok && vp_plan_run(p, inv, outv) == VP_OK)
            for (int i = 0; i < nout && meaningful; i++) {
                char msg[256];
                meaningful = !compare(&outv[i], want[i], 1, msg, sizeof msg);
            }
    }
    for (int i = 0; i < nout && outv; i++)
        free(outv[i].data);
    for (int i = 0; i < nin && rounded; i++)
        free(rounded[i]);
    free(inv), free(outv), free(shapes), free(rounded);
    vp_engine_free(&e);
    return meaningful;
}

static int run_test(const char *dir, const char *name, const run_opts *ro, int *n_fixed, char *why, size_t wlen)
{
    char path[4096], err[1024];
    vp_engine *e = NULL;
    vp_engine_options opt;
    vp_engine_options_default(&opt);
    opt.backend = ro->backend;
    opt.precision = ro->precision;
    opt.layout = ro->layout;
    int fp16 = ro->precision == VP_PRECISION_FP16;
    snprintf(path, sizeof path, "%s/%s/model.onnx", dir, name);
    int rc = vp_engine_load(path, &opt, &e, err, sizeof err);
    if (rc == VP_ERR_UNSUPPORTED) {
        snprintf(why, wlen, "%s", err);
        return strstr(err, "unsupported operator") || strstr(err, "domain") || strstr(err, "no CPU kernel") ? R_NA
                                                                                                          : R_SKIP;
    }
    if (rc) {
        snprintf(why, wlen, "load: %s", err);
        return R_FAIL;
    }
    char **sets;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int nsets = list_dir(path, "test_data_set_", &sets);
    int result = R_PASS;
    int nin = vp_engine_num_inputs(e), nout = vp_engine_num_outputs(e);
    for (int s = 0; s < nsets && result == R_PASS; s++) {
        vp_tensor **ins = calloc((size_t)nin + 1, sizeof *ins), **want = calloc((size_t)nout + 1, sizeof *want);
        vp_tensor *inv = calloc((size_t)nin + 1, sizeof *inv), *outv = calloc((size_t)nout + 1, sizeof *outv);
        vp_shape *shapes = calloc((size_t)nin + 1, sizeof *shapes);
        int nwant = 0;
        for (int i = 0; i < nin && result == R_PASS; i++) {
            snprintf(path, sizeof path, "%s/%s/%s/input_%d.pb", dir, name, sets[s], i);
            if (!file_exists(path)) {
                snprintf(why, wlen, "%s: missing (optional inputs given as absent are not supported)", path);
                result = R_SKIP;
                break;
            }
            if ((rc = vp_tensor_load(path, &ins[i], err, sizeof err))) {
                snprintf(why, wlen, "input: %s", err);
                result = rc == VP_ERR_UNSUPPORTED ? R_SKIP : R_FAIL;
                break;
            }
            inv[i] = *ins[i];
            shapes[i] = ins[i]->shape;
            if (fp16 && ins[i]->dtype == VP_DT_FLOAT && max_abs(ins[i]) > 65504) {
                snprintf(why, wlen, "input %d is outside float16's range", i);
                result = R_SKIP;
            }
        }
        for (int i = 0; i < nout && result == R_PASS; i++, nwant++) {
            snprintf(path, sizeof path, "%s/%s/%s/output_%d.pb", dir, name, sets[s], i);
            if ((rc = vp_tensor_load(path, &want[i], err, sizeof err))) {
                snprintf(why, wlen, "expected output: %s", err);
                result = rc == VP_ERR_UNSUPPORTED ? R_SKIP : R_FAIL;
            } else if (fp16 && want[i]->dtype == VP_DT_FLOAT && max_abs(want[i]) > 65504) {
                snprintf(why, wlen, "output %d is outside float16's range", i);
                result = R_SKIP;
            }
        }
        vp_plan *p = NULL;
        if (result == R_PASS) {
            rc = vp_engine_plan(e, shapes, &p);
            if (rc == VP_ERR_UNSUPPORTED && strstr(vp_engine_last_error(e), "must be constant")) {
                /* the test feeds a shape-deciding value (Reshape target,
                 * Slice starts...) as an input: plan with integer inputs'
                 * values (and small parameter inputs: scales, thresholds)
                 * fixed, as a user would for such a model */
                const vp_tensor *fixed[64] = {0};
                for (int i = 0; i < nin && i < 64; i++)
                    if (ins[i]->dtype == VP_DT_INT64 || ins[i]->dtype == VP_DT_INT32 ||
                        ((i > 0 || ins[i]->shape.rank == 0) && vp_shape_numel(&ins[i]->shape) <= 8))
                        fixed[i] = ins[i];
                rc = vp_engine_plan_fixed(e, shapes, fixed, &p);
                *n_fixed += rc == VP_OK;
            }
            if (rc) {
                snprintf(why, wlen, "plan: %s", vp_engine_last_error(e));
                result = rc != VP_ERR_UNSUPPORTED ? R_FAIL : strstr(why, "no kernel on") ? R_NA : R_SKIP;
            }
        }
        if (result == R_PASS) {
            for (int i = 0; i < nout; i++) {
                vp_shape os;
                vp_plan_output_shape(p, i, &os);
                outv[i].shape = os;
                outv[i].data = calloc((size_t)(vp_shape_numel(&os) > 0 ? vp_shape_numel(&os) : 1), 8);
            }
            rc = vp_plan_run(p, inv, outv);
            if (rc) {
                snprintf(why, wlen, "run: %s", vp_engine_last_error(e));
                result = R_FAIL;
            }
            for (int i = 0; i < nout && result == R_PASS; i++) {
                char msg[256];
                if (compare(&outv[i], want[i], fp16, msg, sizeof msg)) {
                    snprintf(why, wlen, "%s output %d: %s", sets[s], i, msg);
                    result = R_FAIL;
                }
            }
            if (result == R_FAIL && fp16 && !fp16_inputs_meaningful(path, sizeof path, dir, name, ins, nin, want, nout)) {
                snprintf(why, wlen, "%s: the expected output cannot be reached from inputs rounded to float16 "
                                    "(checked in float32 on the CPU)", sets[s]);
                result = R_SKIP;
            }
            for (int i = 0; i < nout; i++)
                free(outv[i].data);
        }
        for (int i = 0; i < nin; i++)
            vp_tensor_destroy(&ins[i]);
        for (int i = 0; i < nwant; i++)
            vp_tensor_destroy(&want[i]);
        free(ins), free(want), free(inv), free(outv), free(shapes);
    }
    if (nsets <= 0 && result == R_PASS) {
        snprintf(why, wlen, "no test data sets");
        result = R_FAIL;
    }
    free_list(sets, nsets > 0 ? nsets : 0);
    vp_engine_free(&e);
    return result;
}

int main(int argc, char **argv)
{
    const char *dir = "/usr/include/onnx/backend/test/data/node", *filter = NULL;
    int verbose = 0;
    vp_backend_kind backend = VP_BACKEND_CPU;
    run_opts ro = {VP_BACKEND_CPU, VP_PRECISION_FP32, VP_LAYOUT_AUTO};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--backend") && i + 1 < argc) {
            const char *b = argv[++i];
            if (strcmp(b, "cpu") && strcmp(b, "cuda")) {
                fprintf(stderr, "--backend: cpu or cuda\n");
                return 2;
            }
            backend = !strcmp(b, "cuda") ? VP_BACKEND_CUDA : VP_BACKEND_CPU;
        } else if (!strcmp(argv[i], "--precision") && i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(v, "fp32") && strcmp(v, "fp16")) {
                fprintf(stderr, "--precision: fp32 or fp16\n");
                return 2;
            }
            ro.precision = !strcmp(v, "fp16") ? VP_PRECISION_FP16 : VP_PRECISION_FP32;
        } else if (!strcmp(argv[i], "--layout") && i + 1 < argc) {
            const char *v = argv[++i];
            ro.layout = !strcmp(v, "nhwc") ? VP_LAYOUT_CHANNELS_LAST : !strcmp(v, "nchw") ? VP_LAYOUT_PLAIN
                                                                                          : VP_LAYOUT_AUTO;
        } else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--filter") && i + 1 < argc)
            filter = argv[++i];
        else if (!strcmp(argv[i], "-v"))
            verbose = 1;
        else {
            fprintf(stderr, "usage: %s [--backend cpu|cuda] [--precision fp32|fp16] [--layout auto|nchw|nhwc] "
                            "[--dir NODE_TEST_DIR] [--filter SUBSTRING] [-v]\n",
                    argv[0]);
            return 2;
        }
    }
    char **tests;
    int n = list_dir(dir, "test_", &tests);
    if (n < 0) {
        fprintf(stderr, "node tests: cannot read %s (install Debian's libonnx-testdata)\n", dir);
        return 77;
    }
    char line[512];
    if (backend == VP_BACKEND_CUDA && vp_engine_describe_backend(VP_BACKEND_CUDA, line, sizeof line) != VP_OK) {
        printf("node tests (cuda): skipped: %s\n", line);
        free_list(tests, n);
        return 77;
    }
    if (backend == VP_BACKEND_CUDA)
        printf("cuda backend: %s\n", line);
    const char *ops[512];
    int nops = vp_engine_supported_ops(VP_BACKEND_CPU, ops, 512);
    printf("engine claims %d ops on the CPU backend:", nops);
    for (int i = 0; i < nops && i < 512; i++)
        printf(" %s", ops[i]);
    printf("\n");
    int cnt[4] = {0}, n_fixed = 0;
    for (int t = 0; t < n; t++) {
        char why[1200] = "";
        if (filter && !strstr(tests[t], filter))
            continue;
        ro.backend = backend;
        int r = run_test(dir, tests[t], &ro, &n_fixed, why, sizeof why);
        cnt[r]++;
        if (r == R_FAIL)
            printf("FAIL %s: %s\n", tests[t], why);
        else if (r == R_SKIP)
            printf("SKIP %s: %s\n", tests[t], why);
        else if (verbose && r == R_PASS)
            printf("PASS %s\n", tests[t]);
        else if (verbose)
            printf("N/A  %s: %s\n", tests[t], why);
        fflush(stdout);
    }
    free_list(tests, n);
    printf("node tests: %d not applicable (operator not supported on this backend)\n", cnt[R_NA]);
    printf("node tests: %d planned with shape-deciding integer inputs fixed\n", n_fixed);
    printf("node tests: %d passed, %d failed, %d skipped\n", cnt[R_PASS], cnt[R_FAIL], cnt[R_SKIP]);
    return cnt[R_FAIL] ? 1 : 0;
}
