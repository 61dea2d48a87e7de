// SPDX-License-Identifier: GPL-2.0
/* A QUIC flow's life (see udp.h): its start (and its end when the
 * client's port starts another connection), the state kept while its
 * hello is incomplete, forwarding in batches or by the kernel path, and
 * its end. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <unistd.h>

#include "base/log.h"
#include "base/metrics.h"
#include "base/resolve.h"
#include "base/util.h"
#include "conn/route.h"
#include "conn/udp.h"
#include "conn/udp_int.h"
#include "conn/upstream.h"
#include "conn/worker.h"
#include "datapath/dgram.h"
#include "datapath/udpk.h"
#include "proto/quic.h"

#define PEND_POOL	8	/* deciding states kept for the next flows */
#define QUIC_MIN_DGRAM	1200	/* a client Initial's datagram, RFC 9000 14.1 */

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
void udp_pend_put(struct udp_worker *u, struct upend *p)
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

/* ---- the end of a flow ------------------------------------------------------------ */

/* What the kernel forwarded since the last read: into the flow's counts
 * and the rule's metrics. */
void uflow_kernel_account(struct worker *w, struct uflow *f, const struct udpk_count *c)
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
	if (f->dgrams[1])
		uflow_answered(f);
	if (c->last_ms > f->last)
		f->last = c->last_ms;
}

void uflow_answered(struct uflow *f)
{
	if (f->answered)
		return;
	f->answered = true;
	up_health(&f->rule->up, f->active, 0, now_ms());
}

bool uflow_refused(struct worker *w, struct uflow *f, int err)
{
	struct udpk_count c;

	if (err != ECONNREFUSED && err != EHOSTUNREACH && err != ENETUNREACH &&
	    err != EHOSTDOWN)
		return false;	/* EMSGSIZE (a smaller path MTU) and the like */
	if (f->kernel && !udpk_read(&f->kf, &c))
		uflow_kernel_account(w, f, &c);
	if (f->answered)
		return false;	/* it answered: maybe a restart; its call */
	up_health(&f->rule->up, f->active, err, now_ms());
	metrics_add(f->rule->mx, w->id, MR_UPSTREAM_ERRORS, 1);
	uflow_end(w, f, MU_END_upstream_error, err);
	return true;
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
		err ? " error=\"" : "",
		!err ? "" : why == MU_END_resolve_failed ? dns_strerror(err) : strerror(err),
		err ? "\"" : "");
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

void uflow_end(struct worker *w, struct uflow *f, enum m_uend why, int err)
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
		uflow_kernel_account(w, f, &c);
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
		udp_pend_put(u, f->pend);
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
		udp_drop(w, f->l, MU_DROP_send_failed, n - sent);
}

void udp_tx_set(struct udp_worker *u, int i, uint8_t *data, size_t len,
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
		udp_tx_set(u, n++, g->data, g->len, NULL, 0, NULL, 0);
		if (n == DGRAM_BATCH) {
			send_up(w, f, n);
			n = 0;
		}
	}
	if (n)
		send_up(w, f, n);
}

/* The datagrams of this batch for a forwarding flow, to its upstream. */
void uflow_send_batch(struct worker *w, struct uflow *f)
{
	struct udp_worker *u = w->udp;
	int n = 0;

	for (int i = f->bfirst; i >= 0; i = u->chain[i])
		udp_tx_set(u, n++, dgram_data(&u->rx, i), u->rx.msg[i].msg_len, NULL, 0, NULL, 0);
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
	if (udpk_add(&f->kf, &client, &local, &sock, &f->upaddr, f->scid.id, f->scid.len))
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
		udp_drop(w, f->l, MU_DROP_rejected, (int)f->pend->n);
		udp_pend_put(u, f->pend);
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
			uflow_end(w, f, MU_END_no_resources, -err);
			return;
		}
		if (!err) {
			up_chosen(&t);
			break;
		}
		up_result(&t, -err, now);
	}
	if (r != 1) {
		/* No address yet (a name still resolving), or none works: the
		 * client's next Initial starts a new flow. */
		metrics_add(f->rule->mx, w->id, MR_UPSTREAM_ERRORS, 1);
		uflow_end(w, f, had_addr ? MU_END_upstream_error : MU_END_resolve_failed,
			 r ? -r : EAGAIN);
		return;
	}
	f->active = t.active;
	paddr_set(&f->upaddr, &sa);
	f->fd = fd;
	f->ev.kind = EV_UDP_UP;
	if (loop_watch(&w->loop, &f->ev, fd, EPOLLIN | EP_ON, &cur)) {
		uflow_end(w, f, MU_END_no_resources, errno);
		return;
	}
	f->state = UF_FORWARD;
	metrics_add(f->rule->mx, w->id, MR_FORWARDED, 1);
	kernel_take(w, f, now);
	send_pending(w, f);
	udp_pend_put(u, f->pend);
	f->pend = NULL;
}

/* A datagram of a flow still deciding: kept, and fed to the parser. */
void uflow_pending(struct worker *w, struct uflow *f, const uint8_t *d,
		   size_t len, uint64_t now)
{
	int r;

	if (pend_add(f->pend, &f->cfg->set, d, len)) {
		/* This one and those kept: the flow is given up. */
		udp_drop(w, f->l, MU_DROP_pending_full, 1 + (int)f->pend->n);
		uflow_end(w, f, MU_END_undecided, 0);
		return;
	}
	r = quic_initial_feed(&f->pend->hello, d, len);
	if (r == 1)
		flow_decide(w, f, now);
}

/* ---- a flow's start ------------------------------------------------------------- */

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
	h.msg_namelen = udp_paddr_len(peer);
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

/* A flow for datagram i (d/len) of the batch, its first Initial already
 * fed to p (which returned r). */
static void flow_start(struct worker *w, struct usock *us, int i, uint32_t h,
		       const uint8_t *d, size_t len, uint64_t now, struct upend *p, int r)
{
	struct udp_worker *u = w->udp;
	const union paddr *peer = &u->rx.peer[i];
	const struct listener *l = us->l;
	union paddr local;
	bool has_local = dgram_local(&u->rx, i, &local);
	struct uflow *f;

	f = calloc(1, sizeof(*f));
	if (!f || pend_add(p, &w->cfg->set, d, len)) {
		free(f);
		udp_pend_put(u, p);
		udp_drop(w, l, MU_DROP_flow_limit, 1);
		return;
	}
	f->fd = -1;
	f->active = -1;
	f->hash = h;
	f->us = us;
	f->l = l;
	f->cfg = config_get(w->cfg);
	f->client = *peer;
	quic_peek_scid(d, len, &f->scid);
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

/* The first datagram of a client we do not know: a flow if it is a
 * client Initial that decrypts, else dropped and counted. */
void uflow_new(struct worker *w, struct usock *us, int i, uint32_t h,
	       uint8_t *d, size_t len, uint64_t now)
{
	struct udp_worker *u = w->udp;
	const union paddr *peer = &u->rx.peer[i];
	const struct listener *l = us->l;
	union paddr local;
	bool has_local = dgram_local(&u->rx, i, &local);
	struct quic_cid dcid;
	struct upend *p;
	uint32_t version;
	int t, r;

	t = quic_peek_dcid(d, len, &dcid, &version);
	if (t == -ENOMSG) {
		udp_drop(w, l, MU_DROP_version_negotiation, 1);
		return;
	}
	if (t == -ENOTSUP) {
		if (len >= QUIC_MIN_DGRAM)
			send_vn(w, us, peer, &local, has_local, d, len);
		udp_drop(w, l, MU_DROP_unknown_version, 1);
		return;
	}
	if (t < 0) {
		udp_drop(w, l, MU_DROP_not_quic, 1);
		return;
	}
	if (t != QUIC_PT_INITIAL) {
		udp_drop(w, l, MU_DROP_not_initial, 1);
		return;
	}
	if (len < QUIC_MIN_DGRAM) {
		udp_drop(w, l, MU_DROP_too_short, 1);
		return;
	}
	if (u->nflows >= u->max_flows || u->ndeciding >= u->max_deciding) {
		udp_drop(w, l, MU_DROP_flow_limit, 1);
		if (now - u->warned_ms > 1000) {
			u->warned_ms = now;
			pr_warn("worker %d: %u UDP flows (%u deciding), the limit (max_udp_flows, max_sniffing): dropping new flows",
				w->id, u->nflows, u->ndeciding);
		}
		return;
	}
	p = pend_get(u);
	if (!p) {
		udp_drop(w, l, MU_DROP_flow_limit, 1);
		return;
	}
	r = quic_initial_feed(&p->hello, d, len);
	if (r < 0 && !p->hello.n_accepted) {
		/* Nothing in it decrypted: no state for it. */
		udp_pend_put(u, p);
		udp_drop(w, l, MU_DROP_bad_initial, 1);
		return;
	}
	flow_start(w, us, i, h, d, len, now, p, r);
}

/* A client that starts a new connection from the address of an old flow
 * (its port used again: a restarted client, a NAT handing the port on)
 * sends an Initial under a new Source Connection ID; the client's own
 * Initials keep theirs for the whole connection, even after a Retry (RFC
 * 9000 7.2).  Routed down the old flow, the new hello would reach the
 * old flow's upstream whatever it names.  So an Initial that opens a
 * connection (it decrypts under the keys of its own Destination
 * Connection ID) with another Source Connection ID ends the old flow and
 * starts a new one.  Clients with empty Source Connection IDs cannot be
 * told apart: they stay on the flow.  The kernel path leaves exactly
 * these datagrams to us (udpfwd.bpf.c). */
bool uflow_replaced(struct worker *w, struct uflow *f, int i, uint8_t *d, size_t len,
		    uint64_t now)
{
	struct udp_worker *u = w->udp;
	struct usock *us = f->us;
	struct quic_cid scid;
	struct upend *p;
	int r;

	if (quic_peek_scid(d, len, &scid) != QUIC_PT_INITIAL || len < QUIC_MIN_DGRAM ||
	    (scid.len == f->scid.len && !memcmp(scid.id, f->scid.id, scid.len)))
		return false;
	if (f->state != UF_DECIDING && u->ndeciding >= u->max_deciding) {
		/* No room to decide it now; not the old upstream's either:
		 * dropped, the client sends it again. */
		udp_drop(w, f->l, MU_DROP_flow_limit, 1);
		return true;
	}
	p = pend_get(u);
	if (!p)
		return false;
	r = quic_initial_feed(&p->hello, d, len);
	if (r < 0 && !p->hello.n_accepted) {
		udp_pend_put(u, p);	/* not a connection's first Initial */
		return false;
	}
	/* The old connection's datagrams of this batch go first. */
	if (f->in_batch && f->state == UF_FORWARD)
		uflow_send_batch(w, f);
	f->in_batch = false;
	uflow_end(w, f, MU_END_replaced, 0);
	flow_start(w, us, i, f->hash, d, len, now, p, r);
	return true;
}
