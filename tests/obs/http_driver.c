/*
 * vp_http_driver: a pipeline in serve mode behind the HTTP endpoint, for
 * tests/obs/http_test.py.
 *
 *   vp_http_driver --config FILE [--listen ADDR] [--port N] [--token T] [--timeout S] [--hook test|nvml|nvml-fake]
 *
 * Loads the config, creates the pipeline, starts the HTTP server (default
 * 127.0.0.1, a free port) and the pipeline, prints "port N" on stdout, and
 * runs until SIGTERM or SIGINT (--hook test: a vp_http_hook adds a test
 * family to /metrics and a member to /stats; --hook nvml: an NVML monitor's
 * figures through vp_http_nvml_hook, an empty monitor without NVML;
 * --hook nvml-fake: the same on a scripted GPU); then stops the server, stops and drains the
 * pipeline and prints "stopped: frames F streams S wait STATUS", exit 0.
 * Errors: one line on stderr, exit 2 (usage, config, HTTP options) or 1
 * (the pipeline cannot be created or started).
 *
 * The signals are blocked in every thread and taken by sigwait() in main, so
 * no handler and no global state are needed.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "obs/http.h"
#include "vidpipe/pipeline.h"

/* --hook: what a GPU monitor would add, with a label value that needs every
 * escape of the text format (backslash, quote, newline). */
static void hook_metrics(void *user, vp_http_text *t)
{
    const int *value = user;
    vp_http_text_printf(t, "# HELP vidpipe_test_hook_info A family added through vp_http_hook.\n"
                           "# TYPE vidpipe_test_hook_info gauge\n"
                           "vidpipe_test_hook_info{device=\"");
    vp_http_text_label(t, "dev \\ \"0\"\nnext");
    vp_http_text_printf(t, "\"} %d\n", *value);
}

/* --hook nvml-fake: an NVML monitor on a scripted source (one GPU at 42 %
 * utilisation, 1 of 8 GiB used, 50 C), so that the GPU figures can be
 * checked for exact values on a machine without a GPU. */
static int fake_open(void *ctx, unsigned *count, char *err, size_t errlen)
{
    *count = 1;
    return 0;
}

static int fake_name(void *ctx, unsigned gpu, char *buf, size_t len)
{
    snprintf(buf, len, "Fake GPU");
    return 0;
}

static int fake_sample(void *ctx, unsigned gpu, vp_nvml_sample *out)
{
    out->valid = VP_NVML_UTIL | VP_NVML_MEMORY | VP_NVML_TEMP;
    out->gpu_util = 42, out->mem_util = 7;
    out->mem_used = 1ull << 30, out->mem_total = 8ull << 30;
    out->temp_c = 50;
    return 0;
}

static void hook_json(void *user, cJSON *root)
{
    if (!cJSON_AddStringToObject(root, "test_hook", "dev \\ \"0\"\nnext"))
        fprintf(stderr, "vp_http_driver: hook: out of memory\n"); /* the test then misses the member */
}

static int usage(void)
{
    fprintf(stderr, "usage: vp_http_driver --config FILE [--listen ADDR] [--port N] [--token T] [--timeout S] [--hook test|nvml|nvml-fake]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *config = NULL;
    int hook_value = 1, want_nvml = 0;
    vp_http_options ho;
    vp_http_options_default(&ho);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return usage();
        if (!strcmp(a, "--config"))
            config = v;
        else if (!strcmp(a, "--listen"))
            ho.listen = v;
        else if (!strcmp(a, "--token"))
            ho.token = v;
        else if (!strcmp(a, "--port"))
            ho.port = atoi(v);
        else if (!strcmp(a, "--timeout"))
            ho.timeout_s = atoi(v);
        else if (!strcmp(a, "--hook") && !strcmp(v, "test"))
            ho.hook = (vp_http_hook){.metrics = hook_metrics, .stats_json = hook_json, .user = &hook_value};
        else if (!strcmp(a, "--hook") && !strcmp(v, "nvml"))
            want_nvml = 1;
        else if (!strcmp(a, "--hook") && !strcmp(v, "nvml-fake"))
            want_nvml = 2;
        else
            return usage();
        i++;
    }
    if (!config)
        return usage();

    /* Before any thread exists, so that all of them inherit the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    if (pthread_sigmask(SIG_BLOCK, &sigs, NULL)) {
        fprintf(stderr, "vp_http_driver: cannot block signals\n");
        return 1;
    }

    char err[4096];
    vp_pipeline_config c;
    vp_pipeline_config_default(&c);
    if (vp_pipeline_config_load(config, &c, err, sizeof err)) {
        fprintf(stderr, "vp_http_driver: %s\n", err);
        vp_pipeline_config_free(&c);
        return 2;
    }
    vp_pipeline *p = NULL;
    int rc = vp_pipeline_create(&c, &p, err, sizeof err);
    vp_pipeline_config_free(&c);
    if (rc) {
        fprintf(stderr, "vp_http_driver: %s\n", err);
        return 1;
    }
    vp_pipeline_set_serve(p, 1);

    static const vp_nvml_source fake = {.open = fake_open, .name = fake_name, .sample = fake_sample};
    vp_nvml_config nc = {.manual = 1, .source = want_nvml == 2 ? &fake : NULL};
    vp_nvml_monitor *mon = NULL;
    if (want_nvml) {
        if ((rc = vp_nvml_monitor_create(&nc, &mon))) {
            fprintf(stderr, "vp_http_driver: NVML monitor: %s\n", vp_strerror(rc));
            vp_pipeline_free(&p);
            return 1;
        }
        ho.hook = vp_http_nvml_hook(mon);
    }
    vp_http *h = NULL;
    if (vp_http_start(p, &ho, &h, err, sizeof err)) {
        fprintf(stderr, "vp_http_driver: %s\n", err);
        vp_nvml_monitor_free(&mon);
        vp_pipeline_free(&p);
        return 2;
    }
    if ((rc = vp_pipeline_start(p))) {
        fprintf(stderr, "vp_http_driver: cannot start the pipeline: %s\n", vp_strerror(rc));
        vp_http_stop(&h);
        vp_nvml_monitor_free(&mon);
        vp_pipeline_free(&p);
        return 1;
    }
    printf("port %d\n", vp_http_port(h));
    fflush(stdout);

    int sig = 0;
    while (sigwait(&sigs, &sig))
        ; /* only EINTR-like failures; retry */

    vp_http_stop(&h); /* no request may reach the pipeline while it stops */
    vp_nvml_monitor_free(&mon); /* after the server: the hook reads it */
    vp_pipeline_stop(p);
    rc = vp_pipeline_wait(p);
    vp_pipeline_stats s;
    int n = vp_pipeline_get_stats(p, &s, NULL, 0);
    /* wait's status counts sources that failed (the test adds one on
     * purpose): reported, not the exit status, which is about the driver. */
    printf("stopped: frames %ld streams %d wait %s\n", s.frames, n, rc ? vp_strerror(rc) : "ok");
    fflush(stdout);
    vp_pipeline_free(&p);
    return 0;
}
