/* Internal logging: vp_log(level, fmt, ...). Per-frame and per-node messages
 * use VP_LOG_DEBUG only; the level check is one relaxed atomic load. */
#ifndef VP_BASE_LOG_H
#define VP_BASE_LOG_H

#include "vidpipe/vidpipe.h"

#if defined(__GNUC__)
#define VP_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define VP_PRINTF(a, b)
#endif

int vp_log_enabled(vp_log_level level);
void vp_log(vp_log_level level, const char *fmt, ...) VP_PRINTF(2, 3);

#define VP_LOGE(...) vp_log(VP_LOG_ERROR, __VA_ARGS__)
#define VP_LOGW(...) vp_log(VP_LOG_WARN, __VA_ARGS__)
#define VP_LOGI(...) vp_log(VP_LOG_INFO, __VA_ARGS__)
#define VP_LOGD(...) do { if (vp_log_enabled(VP_LOG_DEBUG)) vp_log(VP_LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
