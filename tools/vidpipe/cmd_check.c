/*
 * vidpipe check CONFIG   validate a pipeline config: every error with its
 *                        JSON path (one per line, prefixed with the file
 *                        name) and exit 2, or a summary of the resolved
 *                        settings and exit 0.
 * vidpipe check --keys   every key of the option table (type, default,
 *                        range, help); docs/CONFIG.md is tested against it.
 *
 * Beyond vp_pipeline_config_load, check looks at the file system: each
 * source that is not a URL and the model must be readable files (paths
 * relative to the current directory, as the pipeline opens them). These
 * errors use the same "$.path: ..." form.
 */
#include "cmd_check.h"
#include "pipeline/config.h"
#include "vidpipe/pipeline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

#define CHECK_ERR_BYTES (256u << 10) /* every error of a large config, one per line */
#define SUMMARY_SOURCES 8            /* sources listed by name before "... and N more" */

static int usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "vidpipe check: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nusage:\n" VP_CHECK_USAGE);
    return EXIT_USAGE;
}

static int print_keys(void)
{
    printf("%-28s  %-9s  %-10s  %-28s  %s\n", "KEY", "TYPE", "DEFAULT", "RANGE", "MEANING");
    for (int i = 0; i < vp_config_key_count(); i++) {
        vp_config_key k;
        if (vp_config_key_describe(i, &k) == 0)
            printf("%-28s  %-9s  %-10s  %-28s  %s\n", k.key, k.type, k.dflt, k.range, k.help);
    }
    return 0;
}

/* One error line when path is not a readable file; returns 1 if it printed. */
static int check_file(const char *cfg, const char *jpath, const char *path)
{
    struct stat st;
    if (!path || !path[0])
        return 0; /* reported by validation */
    if (stat(path, &st) != 0) {
        if (errno == ENOENT)
            fprintf(stderr, "%s: %s: no such file '%s'\n", cfg, jpath, path);
        else
            fprintf(stderr, "%s: %s: cannot access '%s': %s\n", cfg, jpath, path, strerror(errno));
        return 1;
    }
    if (S_ISDIR(st.st_mode)) {
        fprintf(stderr, "%s: %s: '%s' is a directory\n", cfg, jpath, path);
        return 1;
    }
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "%s: %s: cannot read '%s': %s\n", cfg, jpath, path, strerror(errno));
        return 1;
    }
    return 0;
}

static void print_summary(const char *name, const vp_pipeline_config *c)
{
    printf("%s: valid\n", name);
    printf("sources: %d\n", c->n_sources);
    for (int i = 0; i < c->n_sources && i < SUMMARY_SOURCES; i++) {
        const vp_pipe_source *s = &c->sources[i];
        int live = s->live == -1 ? vp_config_is_url(s->uri) : s->live;
        printf("  %-12s %s (%s%s", s->id, s->uri, live ? "live" : "file", s->live == -1 ? ", auto" : "");
        if (live)
            printf(s->reconnect ? ", reconnect%s" : ", no reconnect%s",
                   s->reconnect && s->max_reconnects ? " limited" : "");
        else if (s->loop)
            printf(s->loop < 0 ? ", loop forever" : ", loop %d", s->loop);
        printf(")\n");
    }
    if (c->n_sources > SUMMARY_SOURCES)
        printf("  ... and %d more\n", c->n_sources - SUMMARY_SOURCES);
    printf("model: %s\n", c->model_path);
    printf("  task %s, backend %s, precision %s", vp_config_choice_name("model.task", c->task),
           c->backend_set ? vp_config_choice_name("model.backend", (int)c->backend) : "auto",
           c->precision_set ? vp_config_choice_name("model.precision", (int)c->precision) : "auto");
    if (c->input_width)
        printf(", input %dx%d", c->input_width, c->input_height);
    else
        printf(", input from the model");
    printf(" %s %s", c->letterbox ? "letterbox" : "stretch", c->bgr ? "bgr" : "rgb");
    if (c->num_classes)
        printf(", %d classes%s", c->num_classes, c->class_names ? " (named)" : "");
    printf("\n  conf %g, iou %g, max_det %d%s\n", c->conf_threshold, c->iou_threshold, c->max_det,
           c->class_agnostic ? ", class-agnostic NMS" : "");
    printf("batch: max %d, timeout %g ms, mode %s, queue %d frames\n", c->max_batch, c->timeout_ms,
           vp_config_choice_name("batch.mode", (int)c->batch_mode), c->queue_frames);
    printf("decode: hw %s%s, gpu %d%s\n", vp_config_choice_name("decode.hw", (int)c->decode_hw),
           c->decode_hw == VP_HW_AUTO ? (c->cpu_fallback ? ", cpu fallback" : ", no cpu fallback") : "", c->gpu,
           c->gpu_only ? ", gpu_only" : "");
    printf("sinks: %d\n", c->n_sinks);
    for (int i = 0; i < c->n_sinks; i++) {
        const vp_pipe_sink *k = &c->sinks[i];
        printf("  %s %s", vp_config_choice_name("sinks[].type", (int)k->kind), k->path);
        if (k->kind == VP_SINK_VIDEO)
            printf(" (encoder %s)", vp_config_choice_name("sinks[].encoder", (int)k->encoder));
        printf("\n");
    }
    if (c->max_frames)
        printf("max_frames: %ld per source\n", c->max_frames);
}

int vp_cmd_check(int argc, char **argv)
{
    const char *file = NULL;
    int keys = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--keys"))
            keys = 1;
        else if (argv[i][0] == '-' && argv[i][1])
            return usage("unknown option '%s'", argv[i]);
        else if (file)
            return usage("one config at a time ('%s' is extra)", argv[i]);
        else
            file = argv[i];
    }
    if (keys) {
        if (file)
            return usage("--keys takes no config ('%s')", file);
        return print_keys();
    }
    if (!file)
        return usage("%s", "missing CONFIG");

    char *err = malloc(CHECK_ERR_BYTES);
    if (!err) {
        fprintf(stderr, "vidpipe check: out of memory\n");
        return EXIT_RUNTIME;
    }
    vp_pipeline_config c;
    int rc = vp_pipeline_config_load(file, &c, err, CHECK_ERR_BYTES);
    int nerr = 0;
    if (rc != VP_OK) {
        fputs(err, stderr);
        if (err[0] && err[strlen(err) - 1] != '\n')
            fputc('\n', stderr);
        nerr++;
    }
    /* file checks also after errors: the partially parsed config is valid to read */
    for (int i = 0; c.sources && i < c.n_sources; i++) {
        char jpath[64];
        snprintf(jpath, sizeof jpath, "$.sources[%d].uri", i);
        if (c.sources[i].uri && !vp_config_is_url(c.sources[i].uri))
            nerr += check_file(file, jpath, c.sources[i].uri);
    }
    nerr += check_file(file, "$.model.path", c.model_path);
    if (!nerr)
        print_summary(file, &c);
    vp_pipeline_config_free(&c);
    free(err);
    if (rc == VP_ERR_NOMEM)
        return EXIT_RUNTIME;
    return nerr ? EXIT_USAGE : 0;
}
