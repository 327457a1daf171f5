/*
 * Logging. The level and sink are process-wide configuration, set once at
 * start-up by the program (like av_log_set_level); they are atomics so that
 * reading them from worker threads is defined behaviour.
 */
#include "base/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

static _Atomic int g_level = VP_LOG_WARN;
static _Atomic(vp_log_fn) g_sink;
static void *_Atomic g_sink_user;

void vp_log_set_level(vp_log_level level) { atomic_store(&g_level, (int)level); }
vp_log_level vp_log_get_level(void) { return (vp_log_level)atomic_load(&g_level); }

void vp_log_set_sink(vp_log_fn fn, void *user)
{
    atomic_store(&g_sink_user, user);
    atomic_store(&g_sink, fn);
}

int vp_log_enabled(vp_log_level level)
{
    return (int)level <= atomic_load_explicit(&g_level, memory_order_relaxed);
}

void vp_log(vp_log_level level, const char *fmt, ...)
{
    static const char *const tags[] = {"error", "warning", "info", "debug"};
    char line[1024];
    va_list ap;
    if (!vp_log_enabled(level))
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    vp_log_fn fn = atomic_load(&g_sink);
    if (fn) {
        fn(atomic_load(&g_sink_user), level, line);
        return;
    }
    fprintf(stderr, "vidpipe %s: %s\n", tags[level < 0 || level > 3 ? 0 : level], line);
}
