/* vidpipe check (tools/vidpipe/cmd_check.c). */
#ifndef VP_TOOLS_CMD_CHECK_H
#define VP_TOOLS_CMD_CHECK_H

#define VP_CHECK_USAGE                                                                              \
    "  check CONFIG                        validate a pipeline config (docs/CONFIG.md): every\n"    \
    "                                      error with its JSON path, then exit 2; or a short\n"     \
    "                                      summary of the resolved settings; also checks that\n"    \
    "                                      the source files and the model file exist\n"           \
    "  check --keys                        every config key with type, default and range\n"

/* argv[0] is "check"; returns the exit status (0 valid, 2 invalid or bad usage, 1 out of memory). */
int vp_cmd_check(int argc, char **argv);

#endif
