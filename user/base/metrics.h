/* SPDX-License-Identifier: GPL-2.0 */
/* Counters (their exposition: metrics_http.h).
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

/* UDP listeners (conn/udp.c, conn/udp_flow.c): why a datagram from a client was dropped,
 * the enum, its metric label and what it means. */
#define M_UDROP_REASONS                                                       \
	X(not_quic)		/* not a QUIC long header */                  \
	X(version_negotiation)	/* version 0: servers send those */           \
	X(unknown_version)	/* neither 1 nor 2 (answered by a VN packet) */ \
	X(not_initial)		/* no flow, and not an Initial to start one */ \
	X(too_short)		/* an Initial in a datagram under 1200 bytes */ \
	X(too_big)		/* longer than the receive buffer */          \
	X(bad_initial)		/* an Initial that does not decrypt, or says   \
				 * nothing: no flow is made for it */         \
	X(flow_limit)		/* max_udp_flows (or max_sniffing deciding) */ \
	X(pending_full)		/* a deciding flow past udp_pending_* */       \
	X(rejected)		/* to a flow rejected or without a route */   \
	X(send_failed)		/* the socket would not take it */

enum m_udrop {
#define X(n) MU_DROP_##n,
	M_UDROP_REASONS
#undef X
	MU_DROP_MAX,
};

/* How a UDP flow ends: the log's end= (and the metric label with _). */
#define M_UEND_REASONS                                                        \
	X(idle, "idle") X(rejected, "rejected") X(no_route, "no-route")        \
	X(undecided, "undecided") X(resolve_failed, "resolve-failed")          \
	X(upstream_error, "upstream-error") X(no_resources, "no-resources")    \
	X(shutdown, "shutdown") X(replaced, "replaced")

enum m_uend {
#define X(n, s) MU_END_##n,
	M_UEND_REASONS
#undef X
	MU_END_MAX,
};

enum m_listener {
	ML_ACCEPTED = 0,
	ML_CLOSED,
	ML_SNIFF_TIMEOUTS,
	ML_ACCEPT_ERRORS,
	ML_SRC_REFUSED_CONNS,	/* per-source limits (admit.c) */
	ML_SRC_REFUSED_RATE,
	ML_SRC_UNTRACKED,	/* no room in the table: not counted */
	ML_UDP_FLOWS,		/* UDP: flows begun */
	ML_UDP_DROP,		/* UDP: + enum m_udrop */
	ML_UDP_END = ML_UDP_DROP + MU_DROP_MAX,	/* UDP: + enum m_uend */
	ML_MAX = ML_UDP_END + MU_END_MAX,
};

enum m_rule {
	MR_MATCHED = 0,		/* connections routed by this rule */
	MR_FORWARDED,		/* reached the upstream and flowed */
	MR_REJECTED,
	MR_UPSTREAM_ERRORS,	/* refused, timed out, unreachable, unresolved */
	MR_CLOSED,
	MR_BYTES_UP,		/* client -> upstream, counted at close */
	MR_BYTES_DOWN,
	MR_DGRAMS_UP,		/* UDP: datagrams forwarded, as they pass */
	MR_DGRAMS_DOWN,
	MR_MAX,
};

/* How connections end: the enum, its metric label (the id) and the log's
 * end= field (the string).  upstream_reset .. resolve_failed stay together:
 * conn_log.c counts that range as upstream errors. */
#define M_END_REASONS                                                        \
	X(eof, "eof") X(reject, "reject") X(no_route, "no-route")              \
	X(client_reset, "client-reset") X(upstream_reset, "upstream-reset")    \
	X(upstream_refused, "upstream-refused")                               \
	X(upstream_timeout, "upstream-timeout")                               \
	X(upstream_unreachable, "upstream-unreachable")                       \
	X(upstream_error, "upstream-error") X(resolve_failed, "resolve-failed") \
	X(shutdown, "shutdown") X(kernel_error, "kernel-error")               \
	X(sniff_evicted, "sniff-evicted") X(proxy_bad, "proxy-bad")            \
	X(proxy_send_failed, "proxy-send-failed")                             \
	X(no_resources, "no-resources") X(source_limit, "source-limit")       \
	X(other, "other")

enum m_end {
#define X(n, s) ME_##n,
	M_END_REASONS
#undef X
	ME_MAX,
};

struct mblock;

int metrics_init(int nworkers);
/* A listener's or a rule's counters, found by their labels (a reload
 * keeps counting in the same series) or made; each call takes a
 * reference.  NULL: metrics off, or out of memory. */
struct mblock *metrics_listener(const char *listener);
struct mblock *metrics_rule(const char *listener, const char *proto,
			    const char *rule);
/* Drops a reference: once no configuration (nor a connection's copy of a
 * rule) holds the block, its series leave the exposition and its memory
 * is freed, so that reloads renaming rules do not grow it forever.  A
 * rule that comes back later starts from zero (a counter reset, which
 * Prometheus handles). */
void metrics_put(struct mblock *b);

static inline void metrics_add(struct mblock *b, int worker, int ctr,
			       uint64_t v);
/* The log's name of a way to end ("client-reset"). */
const char *metrics_end_name(enum m_end e);
void metrics_end(struct mblock *listener, int worker, enum m_end e);
/* A UDP flow's end= ("no-route"); the metric labels of a drop reason and
 * of an end ("no_route"). */
const char *metrics_uend_name(enum m_uend e);
extern const char *const metrics_udrop_labels[];
extern const char *const metrics_uend_labels[];

/* Gauges and text that live outside the blocks. */
void metrics_set_path(const char *path);
void metrics_reload(bool ok);


/* ---- inline fast path ---- */
struct mblock {
	struct mblock *next;
	char *labels;		/* rendered: listener="..",proto="..",rule=".." */
	bool is_rule;
	int nctr;
	int refs;		/* under M.mu */
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
