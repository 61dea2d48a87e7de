/* SPDX-License-Identifier: GPL-2.0 */
/* Inside the UDP side (udp.h says what it does): a worker's UDP state,
 * shared by udp.c (sockets, the flow lookup, readiness, timers, set-up),
 * udp_start.c (a flow's start) and udp_flow.c (the rest of its life:
 * deciding, forwarding, the end). */
#ifndef PT_UDP_INT_H
#define PT_UDP_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/metrics.h"
#include "base/timer.h"
#include "base/util.h"
#include "conn/worker.h"
#include "datapath/dgram.h"
#include "datapath/udpk.h"
#include "proto/quic.h"

#define UDPK_SYNC_MS	1000	/* kernel-path counters read into the metrics */

/* A worker's socket on one UDP listen address. */
struct usock {
	struct evsrc ev;		/* EV_UDP_LISTEN */
	int fd;
	bool any;			/* wildcard: replies name their source */
	const struct listener *l;	/* of w->cfg */
	struct usock *next;
};

/* A datagram kept while its flow decides. */
struct pdgram {
	struct pdgram *next;
	uint32_t len;
	uint8_t data[];
};

/* What a flow holds only while it decides (~18 KiB: pooled). */
struct upend {
	struct upend *next;		/* in the pool */
	struct pdgram *head, **tail;
	uint32_t n, bytes;
	struct quic_hello hello;
};

enum uf_state {
	UF_DECIDING = 0,
	UF_FORWARD,
	UF_DROP,			/* REJECT, or no route: until idle */
};

struct uflow {
	struct evsrc ev;		/* EV_UDP_UP: the upstream socket */
	uint8_t state;
	bool has_local;
	bool in_batch;
	bool ended;
	bool kernel;			/* its datagrams forwarded by udpfwd.bpf.c */
	bool kernel_was;		/* it was (path=udp-kernel) */
	bool answered;			/* the upstream sent something back */
	int fd;				/* connected to the upstream, or -1 */
	int active;			/* target counted for leastconn, or -1 */
	uint32_t hash;
	struct uflow *hnext;		/* hash chain */
	struct uflow *prev, *next;	/* the worker's flows */
	struct uflow *bnext;		/* flows with datagrams in this batch */
	int bfirst, blast;		/* their indexes in it (chain[]) */
	struct usock *us;
	const struct listener *l;	/* of cfg */
	struct config *cfg;		/* a reference: rule and l stay */
	const struct rule *rule;
	const char *proto;
	union paddr client, local, upaddr;
	struct quic_cid scid;		/* the client's: names the connection */
	struct timer tm;		/* in the UDP heap */
	uint64_t t0, last;		/* ms: begun, last datagram either way */
	struct upend *pend;
	uint64_t bytes[2], dgrams[2];	/* forwarded: [0] up, [1] down */
	/* The kernel path: the flow's map entries, and the program's
	 * counters as last read (in bytes[], dgrams[] and the metrics). */
	struct udpk_flow kf;
	uint64_t kbytes[2], kdgrams[2];
};

struct udp_worker {
	struct usock *socks;
	struct usock *retired;		/* closed by a reload, freed after the round */
	struct uflow **tab;
	uint32_t mask;
	uint32_t nflows, max_flows, ndeciding, max_deciding;
	int nworkers;
	struct uflow *flows;
	struct uflow *dead;		/* ended, freed after the round */
	struct timer_heap th;
	struct upend *pool;
	int npool;
	bool ready;			/* batch and table allocated */
	uint64_t seed;
	uint64_t warned_ms;
	struct dgram_batch rx;
	struct mmsghdr tx[DGRAM_BATCH];
	struct iovec txiov[DGRAM_BATCH];
	uint8_t txctl[DGRAM_CTL];
	int chain[DGRAM_BATCH];		/* next datagram of the same flow, -1 */
};

static inline socklen_t udp_paddr_len(const union paddr *a)
{
	return a->sa.sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					   : sizeof(struct sockaddr_in);
}

static inline void udp_drop(struct worker *w, const struct listener *l, enum m_udrop why, int n)
{
	metrics_add(l->mx, w->id, ML_UDP_DROP + why, (uint64_t)n);
}

/* A datagram from a client with no flow: maybe one starts (datagram i of
 * the batch, d/len). */
void uflow_new(struct worker *w, struct usock *us, int i, uint32_t h,
	       uint8_t *d, size_t len, uint64_t now);
/* A datagram from a flow's client address that opens another QUIC
 * connection (a port used again): the flow ends (end=replaced) and a new
 * one starts with it.  Returns false if it is the flow's own. */
bool uflow_replaced(struct worker *w, struct uflow *f, int i, uint8_t *d, size_t len,
		    uint64_t now);
/* The route is known (the hello whole): connect, or keep dropping. */
void uflow_decide(struct worker *w, struct uflow *f, uint64_t now);
/* A datagram for a flow still deciding: kept, fed to the hello. */
void uflow_pending(struct worker *w, struct uflow *f, const uint8_t *d,
		   size_t len, uint64_t now);
/* The datagrams of this batch for a forwarding flow, to its upstream. */
void uflow_send_batch(struct worker *w, struct uflow *f);
/* The send batch's tx[0..n) on fd, counted in direction dir (0 up, 1
 * down): the flow's and its rule's bytes and datagrams, and what the
 * socket would not take. */
void uflow_send(struct worker *w, struct uflow *f, int fd, int n, int dir);
/* Entry i of the send batch. */
void udp_tx_set(struct udp_worker *u, int i, uint8_t *data, size_t len,
		void *name, socklen_t namelen, void *ctl, size_t ctllen);
/* What the kernel path forwarded since the last read, counted. */
void uflow_kernel_account(struct worker *w, struct uflow *f, const struct udpk_count *c);
/* The upstream answered: its target's health strikes cleared (once). */
void uflow_answered(struct uflow *f);
/* An ICMP error on the flow's socket (err): an upstream that never
 * answered and refuses or cannot be reached ends the flow
 * (end=upstream-error) with a strike toward its target's `health`, so
 * the client's next Initial is routed afresh.  Returns true if it ended. */
bool uflow_refused(struct worker *w, struct uflow *f, int err);
/* One log line; freed after the round (udp_reap). */
void uflow_end(struct worker *w, struct uflow *f, enum m_uend why, int err);
/* A deciding state, from the pool (NULL: out of memory); back to the
 * pool (or freed); a datagram kept in it (-ENOSPC past udp_pending_*). */
struct upend *udp_pend_get(struct udp_worker *u);
void udp_pend_put(struct udp_worker *u, struct upend *p);
int udp_pend_add(struct upend *p, const struct settings *set, const uint8_t *d, size_t len);

#endif /* PT_UDP_INT_H */
