/* Names of status codes: a static table, as sqlite3ErrStr does. */
#include "vidpipe/vidpipe.h"

const char *vp_strerror(int status)
{
    static const char *const names[] = {
        "ok",
        "invalid input",
        "unsupported",
        "out of memory",
        "i/o error",
        "shape mismatch",
        "backend failure",
        "not found",
        "try again",
        "end of stream",
        "internal error",
    };
    int i = -status;
    if (i < 0 || i >= (int)(sizeof names / sizeof names[0]))
        return "unknown error";
    return names[i];
}

const char *vp_version(void)
{
#ifdef VP_VERSION
    return VP_VERSION;
#else
    return "unknown";
#endif
}
