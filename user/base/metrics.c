// SPDX-License-Identifier: GPL-2.0
/* The counter registry (metrics.h); metrics_http.c renders and serves it. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/metrics.h"
#include "base/metrics_int.h"

int metrics_nworkers;

struct metrics_state M = { .mu = PTHREAD_MUTEX_INITIALIZER };

const char *const metrics_end_names[] = {
#define X(n, s) #n,
	M_END_REASONS
#undef X
};

const char *const metrics_udrop_labels[] = {
#define X(n) #n,
	M_UDROP_REASONS
#undef X
};

const char *const metrics_uend_labels[] = {
#define X(n, s) #n,
	M_UEND_REASONS
#undef X
};

const char *metrics_uend_name(enum m_uend e)
{
	static const char *const names[] = {
#define X(n, s) s,
		M_UEND_REASONS
#undef X
	};

	return (unsigned)e < MU_END_MAX ? names[e] : "other";
}

int metrics_init(int nworkers)
{
	metrics_nworkers = nworkers;
	M.started = time(NULL);
	snprintf(M.path, sizeof(M.path), "none");
	return 0;
}

/* Label values are config strings: escape as the text format wants. */
void metrics_label_append(char *out, size_t room, const char *name,
			 const char *val, bool first)
{
	size_t o = strlen(out);

	o += snprintf(out + o, room - o, "%s%s=\"", first ? "" : ",", name);
	for (const char *p = val; *p && o + 3 < room; p++) {
		if (*p == '\\' || *p == '"')
			out[o++] = '\\';
		if (*p == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
			continue;
		}
		out[o++] = *p;
	}
	if (o + 1 < room)
		out[o++] = '"';
	out[o] = '\0';
}

static struct mblock *block_get(const char *labels, bool is_rule, int nctr)
{
	struct mblock *b;

	pthread_mutex_lock(&M.mu);
	for (b = M.head; b; b = b->next)
		if (b->is_rule == is_rule && !strcmp(b->labels, labels))
			goto out;
	b = calloc(1, sizeof(*b));
	if (!b)
		goto out;
	b->labels = strdup(labels);
	b->is_rule = is_rule;
	b->nctr = nctr;
	b->v = calloc((size_t)metrics_nworkers * nctr, sizeof(uint64_t));
	if (!is_rule)
		b->ends = calloc((size_t)metrics_nworkers * ME_MAX, sizeof(uint64_t));
	if (!b->labels || !b->v || (!is_rule && !b->ends)) {
		free(b->labels);
		free(b->v);
		free(b->ends);
		free(b);
		b = NULL;
		goto out;
	}
	b->next = M.head;
	M.head = b;
out:
	if (b)
		b->refs++;
	pthread_mutex_unlock(&M.mu);
	return b;
}

void metrics_put(struct mblock *b)
{
	struct mblock **pp;

	if (!b)
		return;
	pthread_mutex_lock(&M.mu);
	if (--b->refs > 0) {
		pthread_mutex_unlock(&M.mu);
		return;
	}
	for (pp = &M.head; *pp && *pp != b; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = b->next;
	pthread_mutex_unlock(&M.mu);
	free(b->labels);
	free(b->v);
	free(b->ends);
	free(b);
}

struct mblock *metrics_listener(const char *listener)
{
	char labels[512] = "";

	if (!metrics_nworkers)
		return NULL;
	metrics_label_append(labels, sizeof(labels), "listener", listener, true);
	return block_get(labels, false, ML_MAX);
}

struct mblock *metrics_rule(const char *listener, const char *proto,
			    const char *rule)
{
	char labels[1024] = "";

	if (!metrics_nworkers)
		return NULL;
	metrics_label_append(labels, sizeof(labels), "listener", listener, true);
	metrics_label_append(labels, sizeof(labels), "proto", proto, false);
	metrics_label_append(labels, sizeof(labels), "rule", rule, false);
	return block_get(labels, true, MR_MAX);
}

const char *metrics_end_name(enum m_end e)
{
	static const char *const names[] = {
#define X(n, s) s,
		M_END_REASONS
#undef X
	};

	return (unsigned)e < ME_MAX ? names[e] : "other";
}

void metrics_end(struct mblock *b, int worker, enum m_end e)
{
	if (b && b->ends && worker >= 0 && worker < metrics_nworkers)
		__atomic_store_n(&b->ends[worker * ME_MAX + e],
				 b->ends[worker * ME_MAX + e] + 1, __ATOMIC_RELAXED);
}

void metrics_set_path(const char *path)
{
	snprintf(M.path, sizeof(M.path), "%s", path);
}

void metrics_reload(bool ok)
{
	__atomic_add_fetch(ok ? &M.reloads : &M.reload_failures, 1, __ATOMIC_RELAXED);
}

