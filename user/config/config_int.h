/* SPDX-License-Identifier: GPL-2.0 */
/* Shared by the config loader's files (config.c: top level, listeners;
 * rule.c: rules, conditions, upstreams; limits.c: per-source
 * limits).  Not for other users. */
#ifndef PT_CONFIG_INT_H
#define PT_CONFIG_INT_H

#include <cJSON.h>

#include "config/config.h"
#include "config/json.h"

/* rule.c */
void parse_group(struct loader *ld, const cJSON *v, const char *path,
		 const struct proto *proto, struct pgroup *g,
		 struct rule **catchall);
void parse_on_timeout(struct loader *ld, const cJSON *v, const char *path,
		      struct listener *l);
void parse_cidrs(struct loader *ld, const cJSON *v, const char *path,
		 struct cidr **out, int *n);

/* limits.c: a per-source limit key, at the top level or of a
 * listener; false if f is not one. */
bool parse_limit_key(struct loader *ld, const cJSON *f, const char *path,
		     struct srclimit_cfg *c);

#endif /* PT_CONFIG_INT_H */
