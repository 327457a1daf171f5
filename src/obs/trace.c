/* Chrome trace event JSON export and the latency report (trace.h). */
#include "obs/trace.h"
#include "base/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A snapshot record with its recording index, for a deterministic sort. */
typedef struct sev {
    uint64_t t0, t1;
    int64_t arg;
    uint32_t name, idx;
} sev;

/* Begin time ascending; for equal begins the longer span first (the
 * parent); for equal spans the later-recorded first (a parent ends, and is
 * recorded, after its children). */
static int sev_cmp(const void *a, const void *b)
{
    const sev *x = a, *y = b;
    if (x->t0 != y->t0)
        return x->t0 < y->t0 ? -1 : 1;
    if (x->t1 != y->t1)
        return x->t1 > y->t1 ? -1 : 1;
    return x->idx > y->idx ? -1 : x->idx < y->idx;
}

static void put_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* ns relative to the origin as microseconds with three decimals, exactly. */
static void put_us(FILE *f, uint64_t t, uint64_t origin)
{
    if (t >= origin) {
        uint64_t d = t - origin;
        fprintf(f, "%" PRIu64 ".%03u", d / 1000, (unsigned)(d % 1000));
    } else {
        uint64_t d = origin - t;
        fprintf(f, "-%" PRIu64 ".%03u", d / 1000, (unsigned)(d % 1000));
    }
}

static void put_meta(FILE *f, int *first, const char *what, int pid, int tid, const char *key, const char *sval,
                     long ival)
{
    fprintf(f, "%s\n{\"name\":\"%s\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"args\":{\"%s\":", *first ? "" : ",", what,
            pid, tid, key);
    if (sval)
        put_json_string(f, sval);
    else
        fprintf(f, "%ld", ival);
    fputs("}}", f);
    *first = 0;
}

int vp_trace_write(const vp_spans *s, FILE *f, const vp_trace_opts *opts)
{
    const char *pname = opts && opts->process_name ? opts->process_name : "vidpipe";
    int pid = opts && opts->pid > 0 ? opts->pid : (int)getpid();
    size_t cap = vp_spans_capacity(s);
    unsigned nw = vp_spans_n_writers(s);
    uint64_t origin = vp_spans_origin_ns(s);
    vp_span_event *snap = malloc(cap * sizeof *snap);
    sev *ev = malloc(cap * sizeof *ev);
    vp_span_writer_info *info = calloc(nw ? nw : 1, sizeof *info);
    if (!snap || !ev || !info) {
        free(snap);
        free(ev);
        free(info);
        VP_LOGE("trace: out of memory (%zu records)", cap);
        return VP_ERR_NOMEM;
    }
    int have_gpu = 0;
    for (unsigned i = 0; i < nw; i++) {
        vp_spans_writer_info(s, i, &info[i]);
        have_gpu |= info[i].track == VP_SPAN_TRACK_GPU;
    }

    int first = 1;
    fputs("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[", f);
    put_meta(f, &first, "process_name", pid, 0, "name", pname, 0);
    put_meta(f, &first, "process_sort_index", pid, 0, "sort_index", NULL, 0);
    if (have_gpu) {
        char gname[128];
        snprintf(gname, sizeof gname, "%s GPU", pname);
        put_meta(f, &first, "process_name", pid + 1, 0, "name", gname, 0);
        put_meta(f, &first, "process_sort_index", pid + 1, 0, "sort_index", NULL, 1);
    }
    uint64_t dropped = 0, written = 0;
    for (unsigned i = 0; i < nw; i++) {
        int tid = (int)i + 1;
        int p = info[i].track == VP_SPAN_TRACK_GPU ? pid + 1 : pid;
        put_meta(f, &first, "thread_name", p, tid, "name", info[i].name, 0);
        put_meta(f, &first, "thread_sort_index", p, tid, "sort_index", NULL, (long)i);
        uint64_t first_kept;
        size_t n = vp_spans_snapshot(s, i, snap, cap, &first_kept);
        info[i].dropped = first_kept;      /* overwritten before or during the copy */
        info[i].recorded = first_kept + n; /* as of the copy */
        dropped += info[i].dropped;
        for (size_t k = 0; k < n; k++)
            ev[k] = (sev){snap[k].t0, snap[k].t1, snap[k].arg, snap[k].name, (uint32_t)k};
        qsort(ev, n, sizeof *ev, sev_cmp);
        const char *cat = info[i].track == VP_SPAN_TRACK_GPU ? "gpu" : "cpu";
        for (size_t k = 0; k < n; k++) {
            const vp_span_name *nm = vp_spans_name(s, ev[k].name);
            fputs(",\n{\"name\":", f);
            put_json_string(f, nm ? nm->name : "?");
            fprintf(f, ",\"cat\":\"%s\",\"ph\":\"X\",\"ts\":", cat);
            put_us(f, ev[k].t0, origin);
            fputs(",\"dur\":", f);
            put_us(f, ev[k].t1, ev[k].t0);
            fprintf(f, ",\"pid\":%d,\"tid\":%d", p, tid);
            if (ev[k].arg != VP_SPAN_NOARG) {
                fputs(",\"args\":{", f);
                put_json_string(f, nm && nm->arg_key ? nm->arg_key : "arg");
                fprintf(f, ":%" PRId64 "}", ev[k].arg);
            }
            fputc('}', f);
        }
        written += n;
    }
    fprintf(f, "\n],\n\"otherData\":{\"version\":\"%s\",\"spans\":%" PRIu64 ",\"dropped\":%" PRIu64
               ",\"writers\":[",
            vp_version(), written, dropped);
    for (unsigned i = 0; i < nw; i++) {
        fprintf(f, "%s{\"tid\":%u,\"name\":", i ? "," : "", i + 1);
        put_json_string(f, info[i].name);
        fprintf(f, ",\"track\":\"%s\",\"os_tid\":%d,\"recorded\":%" PRIu64 ",\"dropped\":%" PRIu64 "}",
                info[i].track == VP_SPAN_TRACK_GPU ? "gpu" : "cpu", info[i].tid, info[i].recorded, info[i].dropped);
    }
    fputs("]}}\n", f);
    free(snap);
    free(ev);
    free(info);
    if (fflush(f) != 0 || ferror(f)) {
        VP_LOGE("trace: write failed: %s", strerror(errno));
        return VP_ERR_IO;
    }
    return VP_OK;
}

int vp_trace_write_file(const vp_spans *s, const char *path, const vp_trace_opts *opts)
{
    size_t len = strlen(path);
    char *tmp = malloc(len + 5);
    if (!tmp)
        return VP_ERR_NOMEM;
    memcpy(tmp, path, len);
    memcpy(tmp + len, ".tmp", 5);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        VP_LOGE("trace: cannot create %s: %s", tmp, strerror(errno));
        free(tmp);
        return VP_ERR_IO;
    }
    int rc = vp_trace_write(s, f, opts);
    if (fclose(f) != 0 && rc == VP_OK) {
        VP_LOGE("trace: writing %s failed: %s", tmp, strerror(errno));
        rc = VP_ERR_IO;
    }
    if (rc == VP_OK && rename(tmp, path) != 0) {
        VP_LOGE("trace: cannot rename %s to %s: %s", tmp, path, strerror(errno));
        rc = VP_ERR_IO;
    }
    if (rc != VP_OK)
        unlink(tmp);
    free(tmp);
    return rc;
}

int vp_trace_report(const vp_spans *s, FILE *f)
{
    fprintf(f, "%-20s %10s %10s %10s %10s %10s %10s\n", "span (us)", "count", "mean", "p50", "p95", "p99", "max");
    for (unsigned i = 0; i < vp_spans_n_names(s); i++) {
        vp_span_stats st;
        int rc = vp_spans_stats(s, i, &st);
        if (rc)
            return rc;
        if (!st.count)
            continue;
        fprintf(f, "%-20s %10" PRIu64 " %10.1f %10.1f %10.1f %10.1f %10.1f\n", vp_spans_name(s, i)->name, st.count,
                st.mean_ns / 1e3, (double)st.p50_ns / 1e3, (double)st.p95_ns / 1e3, (double)st.p99_ns / 1e3,
                (double)st.max_ns / 1e3);
    }
    return ferror(f) ? VP_ERR_IO : VP_OK;
}
