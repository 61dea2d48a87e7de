/* SPDX-License-Identifier: GPL-2.0 */
/* One proxied connection, from accept to close (conn.c reads top to
 * bottom in that order). */
#ifndef PT_CONN_H
#define PT_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "datapath/dir.h"
#include "base/metrics.h"
#include "base/resolve.h"
#include "base/util.h"
#include "conn/route.h"
#include "conn/sniff.h"
#include "datapath/kpath.h"
#include "base/timer.h"
#include "conn/upstream.h"
#include "conn/worker.h"

enum conn_state {
	CS_SNIFF = 0,	/* peeking until a rule is chosen */
	CS_RESOLVE,	/* waiting for the upstream's name */
	CS_CONNECT,	/* non-blocking connect in flight */
	CS_FLOW,	/* bytes flow, each direction on its own path */
	CS_DEAD,
};

/* What only a connection being set up needs: sniffing it, choosing and
 * connecting its upstream.  From the worker's pool at accept, back there
 * once the bytes flow (conn_setup_done): an established connection costs
 * only its struct conn. */
struct conn_setup {
	struct conn *sprev, *snext;	/* in worker->sniff_head while sniffing */
	struct conn_setup *pool_next;	/* in worker->setup_pool when free */
	struct sniffer sn;		/* peeks, hints, SO_RCVLOWAT */
	struct up_try ut;		/* upstream targets: order, retries */
	bool sniffing;
	bool silent_armed;		/* the on_timeout deadline is pending */
	bool final_peek;
	/* Edges the sockets had before the bytes flowed, which the relay's
	 * edge-triggered reads must not miss: the client's FIN (or an
	 * error) while its upstream connected, the upstream's first bytes. */
	bool cli_hup, up_in;
	bool cli_in;			/* the client's bytes after those read */
	/* A live upgrade's predecessor was connecting this client to
	 * kept_addr: its socket, used if routing picks that address again
	 * (closed with the setup otherwise). */
	bool kept;
	int kept_fd;
	union paddr kept_addr;
};

struct conn {
	struct conn *prev, *next;	/* in worker->conns or ->parked */
	struct worker *w;
	struct config *cfg;		/* the one it was accepted under */
	struct conn_setup *s;		/* until the bytes flow, else NULL */
	const struct listener *l;
	struct endpoint cli, up;
	uint32_t consumed;		/* bytes read from the client (that header) */
	enum conn_state st;
	struct dir d[2];
	struct {
		const struct rule *rule;	/* NULL: nothing applies, close */
		const char *proto;		/* protocol name for logs */
	} rt;
	union paddr peer, upaddr;
	/* The client and the address it connected to, v4-mapped addresses
	 * unmapped; a trusted PROXY header replaces both. */
	union paddr src, dst;
	/* Flags as bits: a connection record is mostly what it costs. */
	bool proxied : 1;		/* a PROXY header was read */
	bool no_kernel : 1;		/* splice only: set by a predecessor
					 * whose verdict could not cut a
					 * PROXY header off its skb */
	bool rst_client : 1;		/* REJECT with "rst" */
	bool relay_stays : 1;		/* promotion refused: relay to the end */
	bool kernel : 1;		/* joined the sockmap (maybe one way now) */
	bool has_slot : 1;
	/* Its sockets' files are (or were) also another process's (a live
	 * upgrade): close() then leaves them in our epoll, so leave it first. */
	bool shared : 1;
	/* Taken over from a previous process whose rule (or listener) is
	 * not in this configuration: rt.rule (l) is a copy, kept for the log
	 * and freed at the end. */
	bool owns_rule : 1, owns_l : 1;
	/* The target it connected to (counted for leastconn until the end):
	 * -1 none. */
	int16_t up_active;
	uint32_t tick_ms;		/* back-off of drain/thaw checks */
	uint32_t slot;
	/* The client reset before the bytes flowed (while sniffed or while
	 * its upstream was connecting): what it sent is still delivered.
	 * errno values, short to fill what the fields above leave. */
	int16_t cli_err;
	int16_t failed_err;
	const struct upstream *up_u;
	uint64_t t0_ms;
	struct timer tm;
	/* An endpoint failed (reset) mid-flow: what it sent still goes to
	 * its peer, which then gets the reset (flow.c). */
	struct endpoint *failed;
	uint64_t failed_ms;		/* when, or when its peer last read */
	uint64_t failed_acked;		/* the peer's tcpi_bytes_acked then */
	/* Its source's entry in the listener's per-source table (admit.c);
	 * NULL: not counted. */
	struct srcent *srcent;
};
void conn_accept(struct worker *w, struct lsock *ls, int fd,
		 const struct sockaddr_storage *peer);
/* The parts of accept a takeover reuses: a connection object in the
 * worker's list, and the start of sniffing (deadline from c->t0_ms). */
struct conn *conn_new(struct worker *w, const struct listener *l, int fd,
		      const struct sockaddr_storage *peer);
void conn_sniff_start(struct conn *c);
void conn_event(struct conn *c, struct endpoint *ep, uint32_t events);
void conn_timer(struct conn *c);
void conn_resolved(struct conn *c);
/* BPF froze direction di (back-pressure); gen tells a stale event. */
void flow_frozen(struct conn *c, int di, uint32_t gen);
void conn_shutdown(struct conn *c);

/* conn_life.c: the object's own life. */
void conn_end(struct conn *c, enum m_end reason, int err);
/* The worker's sniffing list, oldest first (max_sniffing evicts it). */
void conn_sniffing_add(struct conn *c);
void conn_sniffing_del(struct conn *c);
/* Free an ended connection (its configuration reference too), and the
 * worker's connections ended in the last round of events. */
void conn_free(struct conn *c);
void conn_reap(struct worker *w);
/* The bytes flow: what setting up needed goes back to the pool. */
void conn_setup_done(struct conn *c);
/* The worker's pool of setups and slabs of connections (at its end). */
void conn_setup_pool_free(struct worker *w);
void conn_slabs_free(struct worker *w);
void ep_watch(struct conn *c, struct endpoint *ep, uint32_t events);

/* flow.c: the bytes flowing, once both sockets are set up. */
void flow_start(struct conn *c);
/* An endpoint failed (reset, or an error on it): see flow.c. */
void flow_failed(struct conn *c, struct endpoint *ep, int err);
void flow_event(struct conn *c, struct endpoint *ep, uint32_t events);
void flow_tick(struct conn *c);
void flow_check(struct conn *c);
/* Directions the kernel froze without telling us: frozen now. */
void flow_resync(struct conn *c);
/* Both sockets into the kernel path, the bytes before consumed[] (per
 * socket) ours: 1 in (both, or only the client's direction), 0 not (no
 * kernel path, no slot, a socket no longer ESTABLISHED: both stay where
 * they were), -1 if that ended the connection. */
int flow_to_kernel(struct conn *c, const uint64_t consumed[2]);

#endif /* PT_CONN_H */
