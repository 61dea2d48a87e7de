// SPDX-License-Identifier: GPL-2.0
/* QUIC flows on UDP listeners (see udp.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <unistd.h>

#include "base/log.h"
#include "base/metrics.h"
#include "base/util.h"
#include "conn/route.h"
#include "conn/udp.h"
#include "conn/upstream.h"
#include "conn/worker.h"
#include "datapath/dgram.h"
#include "datapath/udpk.h"
#include "proto/quic.h"

#define UDP_ROUNDS	4	/* batches per readiness, then the loop goes round */
#define PEND_POOL	8	/* deciding states kept for the next flows */
#define QUIC_MIN_DGRAM	1200	/* a client Initial's datagram, RFC 9000 14.1 */
#define TAB_MIN		1024
#define TAB_MAX		(1u << 20)
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

static socklen_t paddr_len(const union paddr *a)
{
	return a->sa.sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					   : sizeof(struct sockaddr_in);
}

static void drop(struct worker *w, const struct listener *l, enum m_udrop why, int n)
{
	metrics_add(l->mx, w->id, ML_UDP_DROP + why, (uint64_t)n);
}

/* ---- the flow table ------------------------------------------------------ */

static uint32_t flow_hash(const struct udp_worker *u, const struct usock *us,
			  const union paddr *a)
{
	uint64_t h = u->seed ^ (uintptr_t)us;
	const uint8_t *p;
	size_t n;

	if (a->sa.sa_family == AF_INET6) {
		p = a->v6.sin6_addr.s6_addr;
		n = 16;
		h ^= a->v6.sin6_port;
	} else {
		p = (const uint8_t *)&a->v4.sin_addr;
		n = 4;
		h ^= a->v4.sin_port;
	}
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	return (uint32_t)(h ^ h >> 32);
}

static struct uflow *flow_find(struct udp_worker *u, const struct usock *us,
			       const union paddr *peer, uint32_t h)
{
	for (struct uflow *f = u->tab[h & u->mask]; f; f = f->hnext)
		if (f->hash == h && f->us == us && paddr_eq(&f->client, peer))
			return f;
	return NULL;
}

static void flow_unhash(struct udp_worker *u, struct uflow *f)
{
	struct uflow **pp = &u->tab[f->hash & u->mask];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == f) {
			*pp = f->hnext;
			return;
		}
	}
}

/* ---- deciding state --------------------------------------------------------- */

static struct upend *pend_get(struct udp_worker *u)
{
	struct upend *p = u->pool;

	if (p) {
		u->pool = p->next;
		u->npool--;
	} else {
		p = malloc(sizeof(*p));
		if (!p)
			return NULL;
	}
	p->next = NULL;
	p->head = NULL;
	p->tail = &p->head;
	p->n = p->bytes = 0;
	quic_hello_init(&p->hello);
	return p;
}

/* Its datagrams freed; the state back to the pool (or freed). */
static void pend_put(struct udp_worker *u, struct upend *p)
{
	while (p->head) {
		struct pdgram *g = p->head;

		p->head = g->next;
		free(g);
	}
	if (u->npool < PEND_POOL) {
		p->next = u->pool;
		u->pool = p;
		u->npool++;
	} else {
		free(p);
	}
}

static int pend_add(struct upend *p, const struct settings *set,
		    const uint8_t *d, size_t len)
{
	struct pdgram *g;

	if (p->n + 1 > set->udp_pending_datagrams || p->bytes + len > set->udp_pending_bytes)
		return -ENOSPC;
	g = malloc(sizeof(*g) + len);
	if (!g)
		return -ENOMEM;
	g->next = NULL;
	g->len = (uint32_t)len;
	memcpy(g->data, d, len);
	*p->tail = g;
	p->tail = &g->next;
	p->n++;
	p->bytes += (uint32_t)len;
	return 0;
}

/* ---- timers -------------------------------------------------------------------- */

/* The worker's one timer for UDP, at the earliest of the UDP heap. */
static void udp_arm(struct worker *w)
{
	struct udp_worker *u = w->udp;

	if (!u->th.n) {
		if (w->udp_tick.idx >= 0)
			timer_cancel(&w->loop.timers, &w->udp_tick);
		return;
	}
	if (w->udp_tick.idx < 0 || w->udp_tick.when != u->th.h[0]->when)
		timer_set(&w->loop.timers, &w->udp_tick, u->th.h[0]->when);
}

/* ---- the end of a flow ------------------------------------------------------------ */

/* What the kernel forwarded since the last read: into the flow's counts
 * and the rule's metrics. */
static void kernel_account(struct worker *w, struct uflow *f, const struct udpk_count *c)
{
	static const int mb[2] = { MR_BYTES_UP, MR_BYTES_DOWN };
	static const int md[2] = { MR_DGRAMS_UP, MR_DGRAMS_DOWN };

	for (int i = 0; i < 2; i++) {
		uint64_t db, dd;

		if (c->packets[i] < f->kdgrams[i] || c->bytes[i] < f->kbytes[i])
			continue;	/* not read (the entry was gone) */
		dd = c->packets[i] - f->kdgrams[i];
		db = c->bytes[i] - f->kbytes[i];
		f->kdgrams[i] = c->packets[i];
		f->kbytes[i] = c->bytes[i];
		f->dgrams[i] += dd;
		f->bytes[i] += db;
		metrics_add(f->rule->mx, w->id, md[i], dd);
		metrics_add(f->rule->mx, w->id, mb[i], db);
	}
	if (c->last_ms > f->last)
		f->last = c->last_ms;
}

static void flow_log(const struct uflow *f, enum m_uend why, int err, uint64_t now)
{
	char peer[ADDR_STRLEN], upa[ADDR_STRLEN] = "-";
	const struct rule *r = f->rule;

	if (f->upaddr.sa.sa_family)
		addr_str(&f->upaddr.sa, upa, sizeof(upa));
	else if (r && r->action == ACT_FORWARD && r->up.text)
		snprintf(upa, sizeof(upa), "%s", r->up.text);
	log_msg(why == MU_END_upstream_error || why == MU_END_no_resources ? LOG_WARN : LOG_INFO,
		"flow client=%s listen=%s proto=%s rule=\"%s\" action=%s upstream=%s path=%s up=%llu down=%llu dgrams_up=%llu dgrams_down=%llu ms=%llu end=%s%s%s%s",
		addr_str(&f->client.sa, peer, sizeof(peer)), f->l->text,
		f->proto ? f->proto : "QUIC", r ? r->key : "-",
		!r ? "-" : r->action == ACT_FORWARD ? "FORWARD" : "REJECT", upa,
		f->kernel_was ? "udp-kernel" : "udp",
		(unsigned long long)f->bytes[0], (unsigned long long)f->bytes[1],
		(unsigned long long)f->dgrams[0], (unsigned long long)f->dgrams[1],
		(unsigned long long)(now - f->t0), metrics_uend_name(why),
		err ? " error=\"" : "", err ? strerror(err) : "", err ? "\"" : "");
}

static void flow_end(struct worker *w, struct uflow *f, enum m_uend why, int err)
{
	struct udp_worker *u = w->udp;

	if (f->ended)
		return;
	f->ended = true;
	if (f->kernel) {
		struct udpk_count c;

		/* The entries first, then the socket: no datagram is
		 * rewritten toward a port that is no longer ours. */
		udpk_del(&f->kf, &c);
		kernel_account(w, f, &c);
		f->kernel = false;
		f->kernel_was = true;
	}
	flow_log(f, why, err, now_ms());
	metrics_add(f->l->mx, w->id, ML_UDP_END + why, 1);
	if (f->rule)
		metrics_add(f->rule->mx, w->id, MR_CLOSED, 1);
	flow_unhash(u, f);
	if (f->prev)
		f->prev->next = f->next;
	else
		u->flows = f->next;
	if (f->next)
		f->next->prev = f->prev;
	if (f->tm.idx >= 0)
		timer_cancel(&u->th, &f->tm);
	if (f->fd >= 0) {
		close(f->fd);	/* out of epoll with it */
		f->fd = -1;
	}
	f->ev.kind = EV_RETIRED;	/* events of this round already fetched */
	if (f->pend) {
		pend_put(u, f->pend);
		f->pend = NULL;
	}
	if (f->state == UF_DECIDING)
		u->ndeciding--;
	if (f->rule && f->rule->action == ACT_FORWARD)
		up_release(&f->rule->up, f->active);
	u->nflows--;
	f->next = u->dead;
	u->dead = f;
}

void udp_reap(struct worker *w)
{
	struct udp_worker *u = w->udp;

	while (u->dead) {
		struct uflow *f = u->dead;

		u->dead = f->next;
		config_put(f->cfg);
		free(f);
	}
	while (u->retired) {
		struct usock *us = u->retired;

		u->retired = us->next;
		free(us);
	}
}

/* ---- forwarding ------------------------------------------------------------------- */

/* msgs[0..n) to the flow's upstream; counted. */
static void send_up(struct worker *w, struct uflow *f, int n)
{
	struct udp_worker *u = w->udp;
	uint64_t bytes = 0;
	int err, sent = dgram_send(f->fd, u->tx, n, &err);

	for (int i = 0; i < n; i++)
		bytes += u->tx[i].msg_len;
	f->bytes[0] += bytes;
	f->dgrams[0] += (uint64_t)sent;
	metrics_add(f->rule->mx, w->id, MR_BYTES_UP, bytes);
	metrics_add(f->rule->mx, w->id, MR_DGRAMS_UP, (uint64_t)sent);
	if (sent < n)
		drop(w, f->l, MU_DROP_send_failed, n - sent);
}

static void tx_set(struct udp_worker *u, int i, uint8_t *data, size_t len,
		   void *name, socklen_t namelen, void *ctl, size_t ctllen)
{
	struct msghdr *h = &u->tx[i].msg_hdr;

	u->txiov[i].iov_base = data;
	u->txiov[i].iov_len = len;
	memset(h, 0, sizeof(*h));
	h->msg_iov = &u->txiov[i];
	h->msg_iovlen = 1;
	h->msg_name = name;
	h->msg_namelen = namelen;
	h->msg_control = ctl;
	h->msg_controllen = ctllen;
}

/* The datagrams kept while deciding, in the order they came. */
static void send_pending(struct worker *w, struct uflow *f)
{
	struct udp_worker *u = w->udp;
	int n = 0;

	for (struct pdgram *g = f->pend->head; g; g = g->next) {
		tx_set(u, n++, g->data, g->len, NULL, 0, NULL, 0);
		if (n == DGRAM_BATCH) {
			send_up(w, f, n);
			n = 0;
		}
	}
	if (n)
		send_up(w, f, n);
}

/* Hand a forwarding flow to the kernel path, if it runs: the two map
 * entries, then (flow_decide) the kept datagrams, sent by us.  So the
 * upstream's every answer, which can only follow them, meets the entry
 * and comes back in order.  A client datagram that reached the listening
 * socket before the entries (in this batch, or queued) is still read and
 * forwarded here: nothing is lost, but it may arrive after one the
 * program forwarded meanwhile (UDP may reorder; a QUIC client waits for
 * the server's answer to its Initials before it sends much more).  Where
 * the entries cannot be made (no route, an IPv6 client to an IPv4
 * upstream, the map full), the flow stays in userspace.  The program's
 * counters are read every UDPK_SYNC_MS (metrics at most that late) and
 * at the idle deadline. */
static void kernel_take(struct worker *w, struct uflow *f, uint64_t now)
{
	union paddr client = f->client, local = f->local, sock;
	socklen_t len = sizeof(sock);

	if (!udpk_ready() || (f->us->any && !f->has_local))
		return;
	if (getsockname(f->fd, &sock.sa, &len))
		return;
	/* A [::] listener sees IPv4 clients as ::ffff:a.b.c.d; the wire
	 * has IPv4. */
	addr_unmap(&client);
	addr_unmap(&local);
	if (udpk_add(&f->kf, &client, &local, &sock, &f->upaddr))
		return;
	f->kernel = f->kernel_was = true;
	if (f->last + f->cfg->set.udp_idle_timeout_ms > now + UDPK_SYNC_MS)
		timer_set(&w->udp->th, &f->tm, now + UDPK_SYNC_MS);
}

/* The route is known: connect (FORWARD) or keep dropping (REJECT). */
static void flow_decide(struct worker *w, struct uflow *f, uint64_t now)
{
	struct udp_worker *u = w->udp;
	struct route_in in = { 0 };
	struct sockaddr_storage sa;
	struct up_try t;
	struct route rt;
	struct sniff s;
	const uint8_t *buf;
	bool had_addr = false;
	uint32_t cur = 0;
	size_t len;
	int r, err = 0, fd = -1;

	if (quic_hello_bytes(&f->pend->hello, &buf, &len))
		return;
	in.buf = buf;
	in.len = len;
	in.final = true;
	in.src = &f->client.sa;
	in.dst = &f->local.sa;
	route_decide(f->l, &in, &s, &rt);
	f->proto = rt.proto;
	f->rule = rt.rule;
	u->ndeciding--;
	f->state = UF_DROP;
	timer_set(&u->th, &f->tm, f->last + f->cfg->set.udp_idle_timeout_ms);
	if (f->rule)
		metrics_add(f->rule->mx, w->id, MR_MATCHED, 1);
	if (!f->rule || f->rule->action != ACT_FORWARD) {
		if (f->rule)
			metrics_add(f->rule->mx, w->id, MR_REJECTED, 1);
		drop(w, f->l, MU_DROP_rejected, (int)f->pend->n);
		pend_put(u, f->pend);
		f->pend = NULL;
		return;
	}
	up_plan(&t, &f->rule->up, &f->client.sa, now);
	while ((r = up_next(&t, &sa)) == 1) {
		had_addr = true;
		err = dgram_connect((struct sockaddr *)&sa, sa.ss_family == AF_INET6 ?
				    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in), &fd);
		/* Out of fds or memory: ours, not the target's; every other
		 * target would fail the same way. */
		if (err_no_resources(-err)) {
			flow_end(w, f, MU_END_no_resources, -err);
			return;
		}
		up_result(&t, -err, now);
		if (!err)
			break;
	}
	if (r != 1) {
		/* No address yet (a name still resolving), or none works: the
		 * client's next Initial starts a new flow. */
		metrics_add(f->rule->mx, w->id, MR_UPSTREAM_ERRORS, 1);
		flow_end(w, f, had_addr ? MU_END_upstream_error : MU_END_resolve_failed,
			 r ? -r : EAGAIN);
		return;
	}
	f->active = t.active;
	paddr_set(&f->upaddr, &sa);
	f->fd = fd;
	f->ev.kind = EV_UDP_UP;
	if (loop_watch(&w->loop, &f->ev, fd, EPOLLIN | EP_ON, &cur)) {
		flow_end(w, f, MU_END_no_resources, errno);
		return;
	}
	f->state = UF_FORWARD;
	metrics_add(f->rule->mx, w->id, MR_FORWARDED, 1);
	kernel_take(w, f, now);
	send_pending(w, f);
	pend_put(u, f->pend);
	f->pend = NULL;
}

/* A datagram of a flow still deciding: kept, and fed to the parser. */
static void flow_pending(struct worker *w, struct uflow *f, const uint8_t *d,
			 size_t len, uint64_t now)
{
	int r;

	if (pend_add(f->pend, &f->cfg->set, d, len)) {
		/* This one and those kept: the flow is given up. */
		drop(w, f->l, MU_DROP_pending_full, 1 + (int)f->pend->n);
		flow_end(w, f, MU_END_undecided, 0);
		return;
	}
	r = quic_initial_feed(&f->pend->hello, d, len);
	if (r == 1)
		flow_decide(w, f, now);
}

/* A Version Negotiation packet (RFC 9000 17.2.1) naming versions 1 and
 * 2, to a client that offered another in a datagram of full size (no
 * amplification: the answer is smaller). */
static void send_vn(struct worker *w, struct usock *us, const union paddr *peer,
		    const union paddr *local, bool has_local, const uint8_t *d, size_t len)
{
	struct udp_worker *u = w->udp;
	uint8_t out[1 + 4 + 1 + 255 + 1 + 255 + 8], rnd = 0;
	struct msghdr h = { 0 };
	struct iovec iov;
	size_t dl, sl, n = 0;

	if (len < 7 || !(d[0] & 0x80))
		return;
	dl = d[5];
	if (6 + dl + 1 > len)
		return;
	sl = d[6 + dl];
	if (7 + dl + sl > len)
		return;
	if (getrandom(&rnd, 1, GRND_NONBLOCK) != 1)
		rnd = (uint8_t)now_us();
	out[n++] = 0x80 | (rnd & 0x7f);
	memset(out + n, 0, 4);
	n += 4;
	out[n++] = (uint8_t)sl;			/* their source is our destination */
	memcpy(out + n, d + 7 + dl, sl);
	n += sl;
	out[n++] = (uint8_t)dl;
	memcpy(out + n, d + 6, dl);
	n += dl;
	for (int i = 0; i < 2; i++) {
		uint32_t v = i ? QUIC_V2 : QUIC_V1;

		out[n++] = (uint8_t)(v >> 24);
		out[n++] = (uint8_t)(v >> 16);
		out[n++] = (uint8_t)(v >> 8);
		out[n++] = (uint8_t)v;
	}
	iov.iov_base = out;
	iov.iov_len = n;
	h.msg_name = (void *)peer;
	h.msg_namelen = paddr_len(peer);
	h.msg_iov = &iov;
	h.msg_iovlen = 1;
	if (us->any && has_local) {
		h.msg_control = u->txctl;
		h.msg_controllen = dgram_ctl_from(u->txctl, us->l->addr.ss_family, local);
	}
	if (sendmsg(us->fd, &h, MSG_DONTWAIT) < 0) {
		/* dropped like any datagram the socket would not take */
	}
}

/* The first datagram of a client we do not know: a flow if it is a
 * client Initial that decrypts, else dropped and counted. */
static void flow_new(struct worker *w, struct usock *us, int i, uint32_t h,
		     uint8_t *d, size_t len, uint64_t now)
{
	struct udp_worker *u = w->udp;
	const union paddr *peer = &u->rx.peer[i];
	const struct listener *l = us->l;
	union paddr local;
	bool has_local = dgram_local(&u->rx, i, &local);
	struct quic_cid dcid;
	struct upend *p;
	struct uflow *f;
	uint32_t version;
	int t, r;

	t = quic_peek_dcid(d, len, &dcid, &version);
	if (t == -ENOMSG) {
		drop(w, l, MU_DROP_version_negotiation, 1);
		return;
	}
	if (t == -ENOTSUP) {
		if (len >= QUIC_MIN_DGRAM)
			send_vn(w, us, peer, &local, has_local, d, len);
		drop(w, l, MU_DROP_unknown_version, 1);
		return;
	}
	if (t < 0) {
		drop(w, l, MU_DROP_not_quic, 1);
		return;
	}
	if (t != QUIC_PT_INITIAL) {
		drop(w, l, MU_DROP_not_initial, 1);
		return;
	}
	if (len < QUIC_MIN_DGRAM) {
		drop(w, l, MU_DROP_too_short, 1);
		return;
	}
	if (u->nflows >= u->max_flows || u->ndeciding >= u->max_deciding) {
		drop(w, l, MU_DROP_flow_limit, 1);
		if (now - u->warned_ms > 1000) {
			u->warned_ms = now;
			pr_warn("worker %d: %u UDP flows (%u deciding), the limit (max_udp_flows, max_sniffing): dropping new flows",
				w->id, u->nflows, u->ndeciding);
		}
		return;
	}
	p = pend_get(u);
	if (!p) {
		drop(w, l, MU_DROP_flow_limit, 1);
		return;
	}
	r = quic_initial_feed(&p->hello, d, len);
	if (r < 0 && !p->hello.n_accepted) {
		/* Nothing in it decrypted: no state for it. */
		pend_put(u, p);
		drop(w, l, MU_DROP_bad_initial, 1);
		return;
	}
	f = calloc(1, sizeof(*f));
	if (!f || pend_add(p, &w->cfg->set, d, len)) {
		free(f);
		pend_put(u, p);
		drop(w, l, MU_DROP_flow_limit, 1);
		return;
	}
	f->fd = -1;
	f->active = -1;
	f->hash = h;
	f->us = us;
	f->l = l;
	f->cfg = config_get(w->cfg);
	f->client = *peer;
	f->proto = "QUIC";
	f->pend = p;
	f->t0 = f->last = now;
	timer_init(&f->tm);
	/* The address the client sent to, for dst and port conditions. */
	if (has_local && us->any) {
		f->has_local = true;
		f->local = local;
	} else {
		paddr_set(&f->local, &l->addr);
	}
	if (f->local.sa.sa_family == AF_INET)
		f->local.v4.sin_port = htons((uint16_t)addr_port((const struct sockaddr *)&l->addr));
	else
		f->local.v6.sin6_port = htons((uint16_t)addr_port((const struct sockaddr *)&l->addr));
	f->hnext = u->tab[h & u->mask];
	u->tab[h & u->mask] = f;
	f->next = u->flows;
	if (u->flows)
		u->flows->prev = f;
	u->flows = f;
	u->nflows++;
	u->ndeciding++;
	metrics_add(l->mx, w->id, ML_UDP_FLOWS, 1);
	timer_set(&u->th, &f->tm, now + w->cfg->set.sniff_timeout_ms);
	if (r == 1)
		flow_decide(w, f, now);
}

/* The datagrams of this batch for a forwarding flow, to its upstream. */
static void flow_send_batch(struct worker *w, struct uflow *f)
{
	struct udp_worker *u = w->udp;
	int n = 0;

	for (int i = f->bfirst; i >= 0; i = u->chain[i])
		tx_set(u, n++, dgram_data(&u->rx, i), u->rx.msg[i].msg_len, NULL, 0, NULL, 0);
	send_up(w, f, n);
}

void udp_readable(struct worker *w, struct evsrc *ev)
{
	struct usock *us = container_of(ev, struct usock, ev);
	struct udp_worker *u = w->udp;

	for (int round = 0; round < UDP_ROUNDS; round++) {
		struct uflow *touched = NULL;
		int n = dgram_recv(us->fd, &u->rx, true);
		uint64_t now;

		if (n <= 0)
			break;
		now = now_ms();
		for (int i = 0; i < n; i++) {
			uint8_t *d = dgram_data(&u->rx, i);
			size_t len = u->rx.msg[i].msg_len;
			uint32_t h;
			struct uflow *f;

			if (dgram_trunc(&u->rx, i)) {
				drop(w, us->l, MU_DROP_too_big, 1);
				continue;
			}
			h = flow_hash(u, us, &u->rx.peer[i]);
			f = flow_find(u, us, &u->rx.peer[i], h);
			if (!f) {
				flow_new(w, us, i, h, d, len, now);
				continue;
			}
			f->last = now;
			switch (f->state) {
			case UF_FORWARD:
				u->chain[i] = -1;
				if (!f->in_batch) {
					f->in_batch = true;
					f->bfirst = i;
					f->bnext = touched;
					touched = f;
				} else {
					u->chain[f->blast] = i;
				}
				f->blast = i;
				break;
			case UF_DECIDING:
				flow_pending(w, f, d, len, now);
				break;
			default:
				drop(w, f->l, MU_DROP_rejected, 1);
				break;
			}
		}
		for (struct uflow *f = touched; f; f = f->bnext) {
			f->in_batch = false;
			if (!f->ended)
				flow_send_batch(w, f);
		}
		if (n < DGRAM_BATCH)
			break;
	}
	udp_arm(w);
}

/* What the upstream answered, back to the client from the listening
 * socket (and from the address the client used). */
void udp_upstream(struct worker *w, struct evsrc *ev)
{
	struct uflow *f = container_of(ev, struct uflow, ev);
	struct udp_worker *u = w->udp;
	socklen_t namelen = paddr_len(&f->client);
	size_t ctllen = 0;

	if (f->us->any && f->has_local)
		ctllen = dgram_ctl_from(u->txctl, f->us->l->addr.ss_family, &f->local);
	for (int round = 0; round < UDP_ROUNDS && !f->ended; round++) {
		int n = dgram_recv(f->fd, &u->rx, false), k = 0, err, sent;
		uint64_t bytes = 0;

		if (n == -EAGAIN)
			break;
		if (n < 0)
			continue;	/* an ICMP error of an earlier datagram: read, gone */
		for (int i = 0; i < n; i++) {
			if (dgram_trunc(&u->rx, i))
				continue;
			tx_set(u, k++, dgram_data(&u->rx, i), u->rx.msg[i].msg_len,
			       &f->client, namelen, ctllen ? u->txctl : NULL, ctllen);
		}
		sent = dgram_send(f->us->fd, u->tx, k, &err);
		for (int i = 0; i < k; i++)
			bytes += u->tx[i].msg_len;
		f->bytes[1] += bytes;
		f->dgrams[1] += (uint64_t)sent;
		metrics_add(f->rule->mx, w->id, MR_BYTES_DOWN, bytes);
		metrics_add(f->rule->mx, w->id, MR_DGRAMS_DOWN, (uint64_t)sent);
		if (sent < k)
			drop(w, f->l, MU_DROP_send_failed, k - sent);
		if (k < n)
			drop(w, f->l, MU_DROP_too_big, n - k);
		f->last = now_ms();
		if (n < DGRAM_BATCH)
			break;
	}
}

void udp_timers(struct worker *w, uint64_t now)
{
	struct udp_worker *u = w->udp;
	struct timer *t;

	while ((t = timer_pop_due(&u->th, now))) {
		struct uflow *f = container_of(t, struct uflow, tm);
		uint64_t idle = f->cfg->set.udp_idle_timeout_ms;

		if (f->kernel) {
			struct udpk_count c;

			/* The kernel's datagrams move last-seen on. */
			if (!udpk_read(&f->kf, &c))
				kernel_account(w, f, &c);
		}
		if (f->state == UF_DECIDING)
			flow_end(w, f, MU_END_undecided, 0);
		else if (f->last + idle > now)
			timer_set(&u->th, &f->tm, f->kernel && f->last + idle > now + UDPK_SYNC_MS
				  ? now + UDPK_SYNC_MS : f->last + idle);
		else
			flow_end(w, f, f->state == UF_FORWARD ? MU_END_idle
				 : f->rule ? MU_END_rejected : MU_END_no_route, 0);
	}
	udp_arm(w);
}

/* ---- sockets and set-up ---------------------------------------------------------------- */

static int udp_ready(struct udp_worker *u)
{
	uint32_t want = TAB_MIN;

	if (u->ready)
		return 0;
	while (want < u->max_flows && want < TAB_MAX)
		want <<= 1;
	u->tab = calloc(want, sizeof(*u->tab));
	if (!u->tab || dgram_batch_init(&u->rx)) {
		free(u->tab);
		u->tab = NULL;
		return -ENOMEM;
	}
	u->mask = want - 1;
	u->ready = true;
	return 0;
}

static int sock_add(struct worker *w, const struct listener *l)
{
	struct udp_worker *u = w->udp;
	struct usock *us;
	uint32_t cur = 0;
	int fd, err;

	err = udp_ready(u);
	if (err)
		return err;
	err = dgram_listen((const struct sockaddr *)&l->addr, l->addrlen, l->v6only, &fd);
	if (err) {
		pr_err("servers.\"%s\": cannot listen: %s%s", l->text, strerror(-err),
		       err == -EACCES ? " (ports below 1024 need root or CAP_NET_BIND_SERVICE)" : "");
		return err;
	}
	us = calloc(1, sizeof(*us));
	if (!us) {
		close(fd);
		return -ENOMEM;
	}
	us->ev.kind = EV_UDP_LISTEN;
	us->fd = fd;
	us->l = l;
	us->any = addr_is_any((const struct sockaddr *)&l->addr);
	err = loop_watch(&w->loop, &us->ev, fd, EPOLLIN | EP_ON, &cur);
	if (err) {
		close(fd);
		free(us);
		return err;
	}
	us->next = u->socks;
	u->socks = us;
	return 0;
}

int udp_setup(struct worker *w, int nworkers)
{
	struct udp_worker *u = calloc(1, sizeof(*u));

	if (!u)
		return -ENOMEM;
	w->udp = u;
	timer_init(&w->udp_tick);
	u->nworkers = nworkers > 0 ? nworkers : 1;
	u->max_flows = (uint32_t)(w->cfg->set.max_udp_flows / (uint64_t)u->nworkers);
	if (!u->max_flows)
		u->max_flows = 1;
	u->max_deciding = (uint32_t)(w->cfg->set.max_sniffing / (uint64_t)u->nworkers);
	if (!u->max_deciding)
		u->max_deciding = 1;
	if (getrandom(&u->seed, sizeof(u->seed), GRND_NONBLOCK) != sizeof(u->seed))
		u->seed = now_us() ^ (uintptr_t)u;
	return 0;
}

int udp_listen(struct worker *w)
{
	for (int i = 0; i < w->cfg->nudp; i++) {
		const struct listener *l = &w->cfg->udp[i];
		bool have = false;
		int err;

		for (struct usock *us = w->udp->socks; us; us = us->next)
			have |= us->l == l;
		if (have)
			continue;
		err = sock_add(w, l);
		if (err)
			return err;
	}
	return 0;
}

static bool same_listen(const struct listener *a, const struct listener *b)
{
	return a->addrlen == b->addrlen && a->v6only == b->v6only &&
	       !memcmp(&a->addr, &b->addr, a->addrlen);
}

/* Close one socket and end its flows. */
static void sock_close(struct worker *w, struct usock *us)
{
	struct udp_worker *u = w->udp;

	for (struct uflow *f = u->flows, *next; f; f = next) {
		next = f->next;
		if (f->us == us)
			flow_end(w, f, MU_END_shutdown, 0);
	}
	close(us->fd);
	us->fd = -1;
	us->ev.kind = EV_RETIRED;
	us->next = u->retired;
	u->retired = us;
}

int udp_adopt(struct worker *w, const struct config *ncfg)
{
	struct udp_worker *u = w->udp;
	struct usock *keep = NULL, *us, *next;
	int err = 0;

	u->max_deciding = (uint32_t)(ncfg->set.max_sniffing / (uint64_t)u->nworkers);
	if (!u->max_deciding)
		u->max_deciding = 1;
	for (us = u->socks; us; us = next) {
		const struct listener *nl = NULL;

		next = us->next;
		for (int i = 0; i < ncfg->nudp && !nl; i++)
			if (same_listen(&ncfg->udp[i], us->l))
				nl = &ncfg->udp[i];
		if (nl) {
			us->l = nl;
			us->next = keep;
			keep = us;
		} else {
			sock_close(w, us);
		}
	}
	u->socks = keep;
	for (int i = 0; i < ncfg->nudp; i++) {
		const struct listener *l = &ncfg->udp[i];
		bool have = false;

		for (us = u->socks; us; us = us->next)
			have |= us->l == l;
		if (!have && sock_add(w, l))
			err = -EADDRNOTAVAIL;
	}
	return err;
}

void udp_shutdown(struct worker *w)
{
	struct udp_worker *u = w->udp;

	if (!u)
		return;
	while (u->flows)
		flow_end(w, u->flows, MU_END_shutdown, 0);
	while (u->socks) {
		struct usock *us = u->socks;

		u->socks = us->next;
		close(us->fd);
		us->ev.kind = EV_RETIRED;
		us->next = u->retired;
		u->retired = us;
	}
	udp_reap(w);
}

void udp_cleanup(struct worker *w)
{
	struct udp_worker *u = w->udp;

	if (!u)
		return;
	while (u->flows) {
		struct uflow *f = u->flows;

		u->flows = f->next;
		if (f->fd >= 0)
			close(f->fd);
		if (f->pend)
			pend_put(u, f->pend);
		config_put(f->cfg);
		free(f);
	}
	while (u->socks) {
		struct usock *us = u->socks;

		u->socks = us->next;
		close(us->fd);
		free(us);
	}
	udp_reap(w);
	while (u->pool) {
		struct upend *p = u->pool;

		u->pool = p->next;
		free(p);
	}
	free(u->tab);
	dgram_batch_free(&u->rx);
	timer_heap_free(&u->th);
	free(u);
	w->udp = NULL;
}

uint32_t udp_nflows(const struct worker *w)
{
	return w->udp ? w->udp->nflows : 0;
}
