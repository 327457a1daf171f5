/*
 * Pipeline configuration: the option table, as the CLI sees it.
 *
 * Every JSON key of the pipeline config is one row of one static table in
 * config.c; the parser, the range checks of vp_pipeline_config_validate,
 * the defaults of vp_pipeline_config_default and `vidpipe check --keys` all
 * read that table, and docs/CONFIG.md is tested against --keys. These
 * functions let the CLI list the rows and name enumerated values without
 * seeing the table's layout.
 */
#ifndef VP_PIPELINE_CONFIG_H
#define VP_PIPELINE_CONFIG_H

#include <stddef.h>

/* One key, described for people. Strings point into static storage except
 * dflt and range, which are formatted into the struct. */
typedef struct vp_config_key {
    const char *key;  /* schema path: "model.input.width"; list items "sources[].uri" */
    const char *type; /* integer, number, boolean, string, choice, bool/auto, number[3], classes,
                         object, object[], reserved */
    char dflt[48];    /* "8", "auto", "true", "s<index>", "required", "-" */
    char range[96];   /* "1..256", "auto, nvdec, cpu", "up to 4096 bytes", "-" */
    const char *help; /* one line */
} vp_config_key;

/* Number of keys in the table. */
int vp_config_key_count(void);
/* Fills *out with key i (0 <= i < count); returns 0, or -1 when i is out of range. */
int vp_config_key_describe(int i, vp_config_key *out);
/* Name of an enumerated value of a choice key ("model.task", -1 -> "auto");
 * "?" when key is not a choice key or value is not one of its values. */
const char *vp_config_choice_name(const char *key, int value);

/* 1 when s starts with a URL scheme ("rtsp://", "http://", "file://" ...):
 * such sources are not files to check and are live by default. */
int vp_config_is_url(const char *s);

#endif
