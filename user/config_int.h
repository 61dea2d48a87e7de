/* SPDX-License-Identifier: GPL-2.0 */
/* Shared by the config loader's files (config.c: top level, listeners;
 * config_rule.c: rules, conditions, upstreams).  Not for other users. */
#ifndef PT_CONFIG_INT_H
#define PT_CONFIG_INT_H

#include <cJSON.h>

#include "config.h"

struct loader {
	const char *name;	/* file name, for messages */
	char *err;		/* all errors, one per line */
	size_t errlen, errused;
	int nerr;
	struct config *cfg;
};

void cfg_error(struct loader *ld, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Path segments look like jq: bare identifiers, quoted otherwise. */
char *path_join(const char *base, const char *key);
char *path_index(const char *base, int i);
void check_duplicates(struct loader *ld, const cJSON *obj, const char *path);
bool dup_before(const cJSON *obj, const cJSON *f);
int get_duration(struct loader *ld, const cJSON *v, const char *path,
		 uint64_t *out);
int get_count(struct loader *ld, const cJSON *v, const char *path,
	      uint64_t min, uint64_t max, uint64_t *out);
struct dns_entry *dns_intern(struct config *c, const char *host);

/* config_rule.c */
void parse_group(struct loader *ld, const cJSON *v, const char *path,
		 const struct proto *proto, struct pgroup *g,
		 struct rule **catchall);
void parse_on_timeout(struct loader *ld, const cJSON *v, const char *path,
		      struct listener *l);
void parse_cidrs(struct loader *ld, const cJSON *v, const char *path,
		 struct cidr **out, int *n);
void rule_free(struct rule *r);

/* config_limits.c: a per-source limit key, at the top level or of a
 * listener; false if f is not one. */
bool parse_limit_key(struct loader *ld, const cJSON *f, const char *path,
		     struct srclimit_cfg *c);

#endif /* PT_CONFIG_INT_H */
