/* SPDX-License-Identifier: GPL-2.0 */
/* The config loader's toolkit (json.c): its error list, JSON paths and
 * typed getters.  Every function reports a bad value itself, with its
 * path, and returns -EINVAL; the loader goes on to find the next error. */
#ifndef PT_JSON_H
#define PT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

struct config;

struct loader {
	const char *name;	/* file name, for messages */
	char *err;		/* all errors, one per line */
	size_t errlen, errused;
	int nerr;
	struct config *cfg;
};

void cfg_error(struct loader *ld, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The whole text as one JSON value, or NULL with the error reported
 * (line and column): a syntax error, text after the value (a second
 * object pasted in, say, which a parser stopping at the first would
 * silently drop), or a \u0000 escape (C strings would end there: "SNI
 * a\u0000b" would load as "SNI a"). */
cJSON *cfg_parse_text(struct loader *ld, const char *json, size_t len);
/* Path segments look like jq: bare identifiers, quoted otherwise. */
char *cfg_path_join(const char *base, const char *key);
char *cfg_path_index(const char *base, int i);
/* Every key that appears twice in obj is an error. */
void cfg_check_duplicates(struct loader *ld, const cJSON *obj, const char *path);
/* f's key appeared before in obj (already reported): skip it. */
bool cfg_dup_before(const cJSON *obj, const cJSON *f);
/* "5s", "500ms" or a number of seconds. */
int cfg_get_duration(struct loader *ld, const cJSON *v, const char *path,
		     uint64_t *out);
/* 16384 or "16KiB". */
int cfg_get_size(struct loader *ld, const cJSON *v, const char *path,
		 uint64_t *out);
/* One of the NULL-terminated names: *out its index. */
int cfg_get_choice(struct loader *ld, const cJSON *v, const char *path,
		   const char *const *names, int *out);
/* One of two strings: *is_b tells which. */
int cfg_get_either(struct loader *ld, const cJSON *v, const char *path,
		   const char *a, const char *b, bool *is_b);
/* A whole number in [min, max]. */
int cfg_get_count(struct loader *ld, const cJSON *v, const char *path,
		  uint64_t min, uint64_t max, uint64_t *out);

#endif /* PT_JSON_H */
