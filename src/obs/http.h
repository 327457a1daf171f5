/*
 * The pipeline's HTTP endpoint: Prometheus metrics, JSON statistics and a
 * control API that lists, adds and removes sources while the pipeline runs.
 *
 *   GET    /metrics        Prometheus text format 0.0.4
 *   GET    /stats          the same figures as one JSON object
 *   GET    /sources        {"sources": [{"id", "state", ...}, ...]}
 *   GET    /sources/{id}   one source, 404 when unknown
 *   POST   /sources        body {"id", "uri", "live", "loop", "reconnect",
 *                          "max_reconnects", "realtime"} (id and uri
 *                          required) -> 201 and the source
 *   DELETE /sources/{id}   -> 200, 404 when unknown
 *
 * Every error is one line of JSON: {"error": "..."}. Mutating calls (POST,
 * DELETE) need "Authorization: Bearer TOKEN" when a token is set; a token is
 * required to listen on anything but loopback.
 *
 * Built on libmicrohttpd with its own polling thread: requests are served
 * one at a time on that thread, which is fine because every pipeline call
 * made there returns at once (vp_pipeline_add_source starts the source's
 * reader thread, which opens it; a source that cannot be opened shows up
 * as "failed" in /sources, not as an HTTP error). Connections, header memory, bodies (64 KiB) and idle time
 * are bounded; a client that exceeds them is answered 413/431 or cut off.
 *
 * Lifetime: start after vp_pipeline_create (the pipeline need not be
 * started), stop before vp_pipeline_free.
 */
#ifndef VP_OBS_HTTP_H
#define VP_OBS_HTTP_H

#include <stddef.h>

#include "vidpipe/pipeline.h"
#include "base/log.h" /* VP_PRINTF */
#include "gpu/nvml.h"

struct cJSON;

/* A growing text buffer that metric hooks append to. Errors are sticky: after
 * an allocation failure every append does nothing and the scrape is answered
 * 500, so a hook need not check each call. */
typedef struct vp_http_text vp_http_text;

/* Appends len bytes. 0 or VP_ERR_NOMEM. */
int vp_http_text_append(vp_http_text *t, const char *s, size_t len);
int vp_http_text_printf(vp_http_text *t, const char *fmt, ...) VP_PRINTF(2, 3);
/* Appends s as a Prometheus label value, without the quotes: backslash,
 * double quote and newline escaped as the text format requires. */
int vp_http_text_label(vp_http_text *t, const char *s);

/* Extra figures from another component (the GPU monitor's per-device
 * utilisation, memory, temperature, ...), served with the pipeline's own.
 * Both hooks are optional; user is passed back as is.
 *
 *   metrics     appends whole metric families to /metrics: for each family
 *               its "# HELP" and "# TYPE" lines, then its samples, one per
 *               line ending in '\n', names outside the vidpipe_ families
 *               the endpoint writes itself (e.g. vidpipe_gpu_*). Label
 *               values through vp_http_text_label.
 *   stats_json  adds members to the /stats object (root), e.g. "gpus".
 *
 * Contract: called on the server's thread, one call at a time, while a
 * request is being answered; must return within milliseconds (read cached
 * values, do not query a device), must not call vp_http_* functions other
 * than the vp_http_text ones, and must not keep text or root. */
typedef struct vp_http_hook {
    void (*metrics)(void *user, vp_http_text *out);
    void (*stats_json)(void *user, struct cJSON *root);
    void *user;
} vp_http_hook;

/* The hook that serves an NVML monitor (gpu/nvml.h): its families
 * (vp_nvml_prometheus: vidpipe_gpu_*, per GPU and window) on /metrics, and
 * "gpus" (latest sample with only the fields the device reports, 1- and
 * 5-minute means; "gpus_unavailable" with the reason when empty) on /stats.
 * m must outlive the server; NULL: a hook that adds nothing. */
vp_http_hook vp_http_nvml_hook(vp_nvml_monitor *m);

typedef struct vp_http_options {
    const char *listen;        /* numeric IPv4 or IPv6 address, or "localhost"; NULL or "" = "127.0.0.1" */
    int port;                  /* 0..65535; 0 = a free port (vp_http_port tells which) */
    const char *token;         /* NULL or "" = none (allowed on loopback only); else mutating calls
                                  need "Authorization: Bearer <token>"; copied */
    int max_connections;       /* concurrent connections, 0 = 64 */
    int timeout_s;             /* a connection idle this long is closed (slow clients), 0 = 10 */
    vp_http_hook hook;         /* optional extra figures; all NULL = none */
} vp_http_options;

typedef struct vp_http vp_http;

/* Fills o with the defaults above (all zero / NULL). */
void vp_http_options_default(vp_http_options *o);

/* Starts serving p. Refuses (VP_ERR_INVALID) a listen address that is not a
 * numeric address, a port outside 0..65535, and a non-loopback address
 * without a token; VP_ERR_IO when the address cannot be bound. err (may be
 * NULL) gets one line. On success *out is the server, else NULL. p must
 * outlive the server. */
int vp_http_start(vp_pipeline *p, const vp_http_options *o, vp_http **out, char *err, size_t errlen);
/* The bound port (the chosen one when the options asked for 0). */
int vp_http_port(const vp_http *h);
/* Closes the listening socket and every connection, waits for the server's
 * thread, frees, sets *h to NULL. NULL or *h NULL: nothing. */
void vp_http_stop(vp_http **h);

#endif
