// SPDX-License-Identifier: GPL-2.0
/* The per-source limit keys, at the top level (every listener's default)
 * and per listener (replacing the default):
 *
 *   "max_conns_per_source": 100
 *   "new_conns_per_source": 20 | "20/s" | "600/m" | {"rate": "20/s", "burst": 40}
 *   "source_prefix": {"ipv4": 32, "ipv6": 64}
 *   "source_exempt": ["10.0.0.0/8", "2001:db8::/32"]
 *
 * 0 turns a limit off (to undo a top-level default). */
#include <errno.h>
#include <pthread.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_int.h"

#define SRC_COUNT_MAX 1000000		/* max_conns_per_source, burst */
#define RATE_INTERVAL_MAX_US (86400ULL * 1000000)	/* at least one a day */

void srclimit_cfg_default(struct srclimit_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->prefix4 = 32;
	c->prefix6 = 64;
}

int srclimit_cfg_copy(struct srclimit_cfg *dst, const struct srclimit_cfg *src)
{
	*dst = *src;
	dst->exempt = NULL;
	if (!src->nexempt)
		return 0;
	dst->exempt = malloc(src->nexempt * sizeof(*dst->exempt));
	if (!dst->exempt) {
		dst->nexempt = 0;
		return -ENOMEM;
	}
	memcpy(dst->exempt, src->exempt, src->nexempt * sizeof(*dst->exempt));
	return 0;
}

void srclimit_cfg_free(struct srclimit_cfg *c)
{
	free(c->exempt);
	c->exempt = NULL;
	c->nexempt = 0;
}

/* "20/s", "600/m", "100/h" or a number per second: one new connection
 * per *interval_us.  -EINVAL if not a rate; 0 with *interval_us 0 for 0. */
static int rate_interval(const cJSON *v, uint64_t *interval_us)
{
	double per, unit = 1e6;
	char *end;

	if (cJSON_IsNumber(v)) {
		per = v->valuedouble;
	} else if (cJSON_IsString(v)) {
		per = strtod(v->valuestring, &end);
		if (end == v->valuestring || *end != '/')
			return -EINVAL;
		if (!strcmp(end, "/s"))
			unit = 1e6;
		else if (!strcmp(end, "/m"))
			unit = 60e6;
		else if (!strcmp(end, "/h"))
			unit = 3600e6;
		else
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	if (!isfinite(per) || per < 0)
		return -EINVAL;
	if (per == 0) {
		*interval_us = 0;
		return 0;
	}
	if (unit / per < 1 || unit / per > (double)RATE_INTERVAL_MAX_US)
		return -ERANGE;
	*interval_us = (uint64_t)(unit / per + 0.5);
	return 0;
}

#define RATE_FORMS "expected a rate such as 20 (per second), \"20/s\", \"600/m\", \"100/h\", " \
		   "or {\"rate\": \"20/s\", \"burst\": 40}; 0 for none"

static void rate_error(struct loader *ld, const char *path, int err)
{
	if (err == -ERANGE)
		cfg_error(ld, path, "must be from 1 a day to 1000000 a second");
	else
		cfg_error(ld, path, RATE_FORMS);
}

static void parse_rate(struct loader *ld, const cJSON *v, const char *path,
		       struct srclimit_cfg *c)
{
	const cJSON *rate = v, *burst = NULL;
	char *rp = NULL;
	uint64_t n = 0;
	int err;

	c->interval_us = 0;
	c->burst = 0;
	if (cJSON_IsObject(v)) {
		cfg_check_duplicates(ld, v, path);
		rate = NULL;
		for (const cJSON *f = v->child; f; f = f->next) {
			if (!strcmp(f->string, "rate")) {
				rate = f;
			} else if (!strcmp(f->string, "burst")) {
				burst = f;
			} else {
				char *fp = cfg_path_join(path, f->string);

				cfg_error(ld, fp, "unknown key (expected \"rate\", \"burst\")");
				free(fp);
			}
		}
		if (!rate) {
			cfg_error(ld, path, "\"rate\" missing, e.g. {\"rate\": \"20/s\", \"burst\": 40}");
			return;
		}
		rp = cfg_path_join(path, "rate");
	}
	err = rate_interval(rate, &c->interval_us);
	if (err) {
		rate_error(ld, rp ? rp : path, err);
	} else if (burst) {
		char *bp = cfg_path_join(path, "burst");

		if (!cfg_get_count(ld, burst, bp, 1, SRC_COUNT_MAX, &n))
			c->burst = (uint32_t)n;
		free(bp);
	}
	/* By default a second's worth: "20/s" lets 20 in at once. */
	if (c->interval_us && !c->burst)
		c->burst = c->interval_us >= 1000000 ? 1
			 : (uint32_t)((1000000 + c->interval_us - 1) / c->interval_us);
	free(rp);
}

static void parse_prefix(struct loader *ld, const cJSON *v, const char *path,
			 struct srclimit_cfg *c)
{
	uint64_t n = 0;

	if (!cJSON_IsObject(v)) {
		cfg_error(ld, path, "expected {\"ipv4\": 32, \"ipv6\": 64}");
		return;
	}
	cfg_check_duplicates(ld, v, path);
	for (const cJSON *f = v->child; f; f = f->next) {
		char *fp = cfg_path_join(path, f->string);

		if (!strcmp(f->string, "ipv4")) {
			if (!cfg_get_count(ld, f, fp, 0, 32, &n))
				c->prefix4 = (uint8_t)n;
		} else if (!strcmp(f->string, "ipv6")) {
			if (!cfg_get_count(ld, f, fp, 0, 128, &n))
				c->prefix6 = (uint8_t)n;
		} else {
			cfg_error(ld, fp, "unknown key (expected \"ipv4\", \"ipv6\")");
		}
		free(fp);
	}
}

bool parse_limit_key(struct loader *ld, const cJSON *f, const char *path,
		     struct srclimit_cfg *c)
{
	uint64_t n = 0;

	if (!strcmp(f->string, "max_conns_per_source")) {
		if (!cfg_get_count(ld, f, path, 0, SRC_COUNT_MAX, &n))
			c->max_conns = (uint32_t)n;
	} else if (!strcmp(f->string, "new_conns_per_source")) {
		parse_rate(ld, f, path, c);
	} else if (!strcmp(f->string, "source_prefix")) {
		parse_prefix(ld, f, path, c);
	} else if (!strcmp(f->string, "source_exempt")) {
		/* A listener's list replaces the default one. */
		srclimit_cfg_free(c);
		parse_cidrs(ld, f, path, &c->exempt, &c->nexempt);
	} else {
		return false;
	}
	return true;
}

/* ---- the tables ---------------------------------------------------------- */

/* Tables by listen address, referenced by every configuration whose
 * listener there has limits: a reload that keeps the listener keeps the
 * counts, and a table outlives the last connection counted in it (a
 * connection holds its configuration). */
struct table {
	struct table *next;
	char *name;			/* the listener's address, as written */
	int refs;
	struct srclimit *t;
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct table *tables;

#define TABLE_MIN 1024
#define TABLE_MAX (1u << 20)

int limits_attach(struct config *cfg)
{
	uint64_t want = cfg->set.max_connections;
	int err = 0;

	want = want < TABLE_MIN ? TABLE_MIN : want > TABLE_MAX ? TABLE_MAX : want;
	pthread_mutex_lock(&reg_mu);
	for (int i = 0; i < cfg->nlisteners; i++) {
		struct listener *l = &cfg->listeners[i];
		struct table *tb;

		if (l->sl || !srclimit_on(&l->lim))
			continue;
		for (tb = tables; tb; tb = tb->next)
			if (!strcmp(tb->name, l->text))
				break;
		if (!tb) {
			tb = calloc(1, sizeof(*tb));
			if (!tb || !(tb->name = strdup(l->text)) ||
			    !(tb->t = srclimit_new((uint32_t)want))) {
				if (tb)
					free(tb->name);
				free(tb);
				err = -ENOMEM;
				break;
			}
			tb->next = tables;
			tables = tb;
		}
		tb->refs++;
		l->sl = tb->t;
	}
	pthread_mutex_unlock(&reg_mu);
	return err;
}

void limits_detach(struct listener *l)
{
	struct table **pp;

	if (!l->sl)
		return;
	pthread_mutex_lock(&reg_mu);
	for (pp = &tables; *pp; pp = &(*pp)->next) {
		struct table *tb = *pp;

		if (tb->t != l->sl)
			continue;
		if (!--tb->refs) {
			*pp = tb->next;
			srclimit_free(tb->t);
			free(tb->name);
			free(tb);
		}
		break;
	}
	pthread_mutex_unlock(&reg_mu);
	l->sl = NULL;
}

void limits_each(void (*fn)(const char *name, struct srclimit *t, void *arg), void *arg)
{
	pthread_mutex_lock(&reg_mu);
	for (struct table *tb = tables; tb; tb = tb->next)
		fn(tb->name, tb->t, arg);
	pthread_mutex_unlock(&reg_mu);
}
