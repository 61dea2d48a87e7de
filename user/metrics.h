/* SPDX-License-Identifier: GPL-2.0 */
/* Counters, and their Prometheus text exposition.
 *
 * A counter block belongs to one label set (a listener, or one rule of a
 * protocol of a listener) and has one column per worker: each worker adds
 * to its own column without atomics, the reader sums the columns.  Blocks
 * are found by their labels and never freed, so a rule that survives a
 * reload keeps counting where it was. */
#ifndef PT_METRICS_H
#define PT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum m_listener {
	ML_ACCEPTED = 0,
	ML_CLOSED,
	ML_SNIFF_TIMEOUTS,
	ML_ACCEPT_ERRORS,
	ML_SRC_REFUSED_CONNS,	/* per-source limits (admit.c) */
	ML_SRC_REFUSED_RATE,
	ML_SRC_UNTRACKED,	/* no room in the table: not counted */
	ML_MAX,
};

enum m_rule {
	MR_MATCHED = 0,		/* connections routed by this rule */
	MR_FORWARDED,		/* reached the upstream and flowed */
	MR_REJECTED,
	MR_UPSTREAM_ERRORS,	/* refused, timed out, unreachable, unresolved */
	MR_CLOSED,
	MR_BYTES_UP,		/* client -> upstream, counted at close */
	MR_BYTES_DOWN,
	MR_MAX,
};

/* How connections end, as conn.c names it in the log's end= field. */
#define M_END_REASONS                                                        \
	X(eof) X(reject) X(no_route) X(client_reset) X(upstream_reset)        \
	X(upstream_refused) X(upstream_timeout) X(upstream_unreachable)      \
	X(upstream_error) X(resolve_failed) X(shutdown)                       \
	X(kernel_error) X(sniff_evicted) X(proxy_bad) X(proxy_send_failed)   \
	X(no_resources) X(source_limit) X(other)

enum m_end {
#define X(n) ME_##n,
	M_END_REASONS
#undef X
	ME_MAX,
};

struct mblock;
struct config;

int metrics_init(int nworkers);
/* Point every listener and rule of cfg at its counter block. */
void metrics_attach(struct config *cfg);
struct mblock *metrics_listener(const char *listener);
struct mblock *metrics_rule(const char *listener, const char *proto,
			    const char *rule);

static inline void metrics_add(struct mblock *b, int worker, int ctr,
			       uint64_t v);
enum m_end metrics_end_reason(const char *reason);
void metrics_end(struct mblock *listener, int worker, enum m_end e);

/* Gauges and text that live outside the blocks. */
void metrics_set_path(const char *path);
void metrics_reload(bool ok);

/* The whole exposition, freshly allocated (caller frees), or NULL. */
char *metrics_render(size_t *len);

/* The HTTP endpoint ("host:port"): one thread, GET /metrics. */
int metrics_serve(const char *addr, bool takeover);
void metrics_stop(void);

/* `passthru stats`: fetch a running instance's metrics and print them. */
int metrics_fetch(const char *addr, char **out, size_t *len);
int stats_main(int argc, char **argv);

/* ---- inline fast path ---- */
struct mblock {
	struct mblock *next;
	char *labels;		/* rendered: listener="..",proto="..",rule=".." */
	bool is_rule;
	int nctr;
	uint64_t *v;		/* [worker][nctr] */
	uint64_t *ends;		/* listener blocks: [worker][ME_MAX] */
};

extern int metrics_nworkers;

static inline void metrics_add(struct mblock *b, int worker, int ctr,
			       uint64_t v)
{
	if (b && worker >= 0 && worker < metrics_nworkers)
		__atomic_store_n(&b->v[worker * b->nctr + ctr],
				 b->v[worker * b->nctr + ctr] + v, __ATOMIC_RELAXED);
}

#endif /* PT_METRICS_H */
