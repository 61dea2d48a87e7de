// SPDX-License-Identifier: GPL-2.0
/* The config loader's toolkit over cJSON: errors named by their JSON path
 * (all of them collected), paths built the way jq writes them, and the
 * typed getters (durations, sizes, counts) every part of the loader uses. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "config/json.h"
#include "base/util.h"

void cfg_error(struct loader *ld, const char *path, const char *fmt, ...)
{
	va_list ap;
	size_t room;
	int n;

	ld->nerr++;
	if (ld->errused + 1 >= ld->errlen)
		return;
	room = ld->errlen - ld->errused;
	n = snprintf(ld->err + ld->errused, room, "%s: %s%s", ld->name,
		     path ? path : "", path && *path ? ": " : "");
	if (n > 0 && (size_t)n < room) {
		ld->errused += n;
		room -= n;
		va_start(ap, fmt);
		n = vsnprintf(ld->err + ld->errused, room, fmt, ap);
		va_end(ap);
		if (n > 0)
			ld->errused += (size_t)n < room ? (size_t)n : room - 1;
	}
	if (ld->errused + 1 < ld->errlen) {
		ld->err[ld->errused++] = '\n';
		ld->err[ld->errused] = '\0';
	}
}

/* Line and column of at, from 1, as an editor counts them. */
static void text_pos(const char *json, const char *at, int *line, int *col)
{
	*line = *col = 1;
	for (const char *p = json; p < at; p++) {
		if (*p == '\n') {
			++*line;
			*col = 1;
		} else {
			++*col;
		}
	}
}

cJSON *cfg_parse_text(struct loader *ld, const char *json, size_t len)
{
	const char *end = NULL, *p;
	cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
	int line, col;

	if (!root) {
		text_pos(json, end && end <= json + len ? end : json, &line, &col);
		cfg_error(ld, NULL, "line %d column %d: JSON syntax error", line, col);
		return NULL;
	}
	for (p = end; p < json + len && *p && strchr(" \t\r\n", *p); p++)
		;
	if (p < json + len) {
		text_pos(json, p, &line, &col);
		cfg_error(ld, NULL, "line %d column %d: text after the configuration's closing brace",
			  line, col);
		cJSON_Delete(root);
		return NULL;
	}
	/* A backslash run of odd length before "u0000" is an escape; even,
	 * it is escaped backslashes and then plain text.  Outside strings a
	 * backslash is no JSON, so the parse above already refused it. */
	for (p = json; p + 6 <= json + len; p++) {
		size_t run = 0;

		if (memcmp(p, "\\u0000", 6))
			continue;
		while (p - run > json && p[-(ptrdiff_t)run - 1] == '\\')
			run++;
		if (run % 2)
			continue;
		text_pos(json, p, &line, &col);
		cfg_error(ld, NULL, "line %d column %d: \\u0000 in a string (names, addresses and patterns cannot hold a NUL)",
			  line, col);
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

/* Path segments look like jq: bare identifiers, quoted otherwise. */
char *cfg_path_join(const char *base, const char *key)
{
	bool bare = *key && (isalpha((unsigned char)*key) || *key == '_');
	char *out;

	for (const char *p = key; bare && *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			bare = false;
	if (asprintf(&out, bare ? "%s%s%s" : "%s%s\"%s\"", base,
		     *base ? "." : "", key) < 0)
		return NULL;
	return out;
}

char *cfg_path_index(const char *base, int i)
{
	char *out;

	if (asprintf(&out, "%s[%d]", base, i) < 0)
		return NULL;
	return out;
}

/* cJSON keeps duplicate keys; a second "SNI a.com" would silently never
 * match, so it is an error. */
void cfg_check_duplicates(struct loader *ld, const cJSON *obj, const char *path)
{
	for (const cJSON *a = obj->child; a; a = a->next)
		for (const cJSON *b = a->next; b; b = b->next)
			if (a->string && b->string && !strcmp(a->string, b->string)) {
				char *p = cfg_path_join(path, b->string);

				cfg_error(ld, p, "duplicate key");
				free(p);
			}
}

int cfg_get_duration(struct loader *ld, const cJSON *v, const char *path,
		 uint64_t *out)
{
	if (cJSON_IsString(v) && !parse_duration_ms(v->valuestring, out))
		return 0;
	/* Seconds, bounded as a string is: 1e30 overflowed the conversion
	 * (undefined) and came out as 0, "sniff timeout 0 ms". */
	if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 1e9) {
		*out = (uint64_t)(v->valuedouble * 1000);
		return 0;
	}
	cfg_error(ld, path, "expected a duration such as \"5s\" or \"500ms\" (at most 1e9 seconds)");
	return -EINVAL;
}

int cfg_get_size(struct loader *ld, const cJSON *v, const char *path,
		    uint64_t *out)
{
	if (cJSON_IsString(v) && !parse_size(v->valuestring, out))
		return 0;
	if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e15) {
		*out = (uint64_t)v->valuedouble;
		return 0;
	}
	cfg_error(ld, path, "expected a size such as 16384 or \"16KiB\"");
	return -EINVAL;
}

int cfg_get_count(struct loader *ld, const cJSON *v, const char *path,
	      uint64_t min, uint64_t max, uint64_t *out)
{
	if (cJSON_IsNumber(v) && v->valuedouble >= (double)min &&
	    v->valuedouble <= (double)max &&
	    v->valuedouble == (double)(uint64_t)v->valuedouble) {
		*out = (uint64_t)v->valuedouble;
		return 0;
	}
	cfg_error(ld, path, "expected a whole number from %llu to %llu",
		  (unsigned long long)min, (unsigned long long)max);
	return -EINVAL;
}

int cfg_get_choice(struct loader *ld, const cJSON *v, const char *path,
		   const char *const *names, int *out)
{
	char want[256];
	size_t k = 0;
	int i;

	for (i = 0; cJSON_IsString(v) && names[i]; i++) {
		if (!strcmp(v->valuestring, names[i])) {
			*out = i;
			return 0;
		}
	}
	want[0] = 0;
	for (i = 0; names[i] && k < sizeof(want); i++)
		k += (size_t)snprintf(want + k, sizeof(want) - k, "%s\"%s\"",
				      !i ? "" : names[i + 1] ? ", " : " or ", names[i]);
	cfg_error(ld, path, "expected %s", want);
	return -EINVAL;
}

int cfg_get_either(struct loader *ld, const cJSON *v, const char *path,
		   const char *a, const char *b, bool *is_b)
{
	const char *const names[] = { a, b, NULL };
	int i;

	if (cfg_get_choice(ld, v, path, names, &i))
		return -EINVAL;
	*is_b = i == 1;
	return 0;
}

/* A key that appeared before in its object: cfg_check_duplicates said so;
 * parsing it again would only overwrite (and leak) the first. */
bool cfg_dup_before(const cJSON *obj, const cJSON *f)
{
	for (const cJSON *e = obj->child; e && e != f; e = e->next)
		if (e->string && f->string && !strcmp(e->string, f->string))
			return true;
	return false;
}

