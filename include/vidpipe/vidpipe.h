/*
 * vidpipe — GPU-resident video inference.
 *
 * Common definitions of the public API: status codes, logging, version.
 * Every fallible function returns an int: 0 (VP_OK) on success, a negative
 * vp_status on failure; vp_strerror() names it. Detailed messages (file,
 * node, field, what was expected) go to the log and, for the engine, to the
 * handle's last-error string.
 */
#ifndef VIDPIPE_VIDPIPE_H
#define VIDPIPE_VIDPIPE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vp_status {
    VP_OK = 0,
    VP_ERR_INVALID = -1,      /* bad argument or malformed input (file, model, config) */
    VP_ERR_UNSUPPORTED = -2,  /* valid input that this build cannot handle (op, attribute, dtype) */
    VP_ERR_NOMEM = -3,        /* allocation failed */
    VP_ERR_IO = -4,           /* file or stream could not be read or written */
    VP_ERR_SHAPE = -5,        /* shapes that do not fit together */
    VP_ERR_BACKEND = -6,      /* a library below us failed (oneDNN, CUDA, cuDNN, ...) */
    VP_ERR_NOT_FOUND = -7,    /* a named thing (input, output, device) does not exist */
    VP_ERR_AGAIN = -8,        /* not now: back-pressure, try again after receiving */
    VP_ERR_EOF = -9,          /* end of stream, fully drained */
    VP_ERR_INTERNAL = -10,    /* a bug in vidpipe */
} vp_status;

/* Static string naming a status code; never NULL. */
const char *vp_strerror(int status);

typedef enum vp_log_level {
    VP_LOG_ERROR = 0,
    VP_LOG_WARN = 1,
    VP_LOG_INFO = 2,
    VP_LOG_DEBUG = 3, /* per-frame and per-node messages only at this level */
} vp_log_level;

/* Log sink: receives one formatted line without trailing newline. */
typedef void (*vp_log_fn)(void *user, vp_log_level level, const char *line);

/* Process-wide logging configuration; set once at start-up, before threads. */
void vp_log_set_level(vp_log_level level);
vp_log_level vp_log_get_level(void);
void vp_log_set_sink(vp_log_fn fn, void *user);

const char *vp_version(void);

#ifdef __cplusplus
}
#endif
#endif
