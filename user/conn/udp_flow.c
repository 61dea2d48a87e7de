// SPDX-License-Identifier: GPL-2.0
/* A QUIC flow's life (see udp.h) once begun (udp_start.c): the state
 * kept while its hello is incomplete, deciding, forwarding in batches or
 * by the kernel path, and its end. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
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

/* ---- deciding state --------------------------------------------------------- */

struct upend *udp_pend_get(struct udp_worker *u)
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

int udp_pend_add(struct upend *p, const struct settings *set,
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

/* dgrams datagrams of bytes bytes forwarded in direction dir (0: up):
 * into the flow's counts and its rule's metrics. */
static void flow_count(struct worker *w, struct uflow *f, int dir, uint64_t bytes,
		       uint64_t dgrams)
{
	static const int mb[2] = { MR_BYTES_UP, MR_BYTES_DOWN };
	static const int md[2] = { MR_DGRAMS_UP, MR_DGRAMS_DOWN };

	f->bytes[dir] += bytes;
	f->dgrams[dir] += dgrams;
	metrics_add(f->rule->mx, w->id, mb[dir], bytes);
	metrics_add(f->rule->mx, w->id, md[dir], dgrams);
}

/* What the kernel forwarded since the last read. */
void uflow_kernel_account(struct worker *w, struct uflow *f, const struct udpk_count *c)
{
	for (int i = 0; i < 2; i++) {
		uint64_t db, dd;

		if (c->packets[i] < f->kdgrams[i] || c->bytes[i] < f->kbytes[i])
			continue;	/* not read (the entry was gone) */
		dd = c->packets[i] - f->kdgrams[i];
		db = c->bytes[i] - f->kbytes[i];
		f->kdgrams[i] = c->packets[i];
		f->kbytes[i] = c->bytes[i];
		flow_count(w, f, i, db, dd);
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

	if (!up_target_fault(err))
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

void uflow_send(struct worker *w, struct uflow *f, int fd, int n, int dir)
{
	struct udp_worker *u = w->udp;
	uint64_t bytes = 0;
	int err, sent = dgram_send(fd, u->tx, n, &err);

	for (int i = 0; i < n; i++)
		bytes += u->tx[i].msg_len;	/* 0 for those not sent */
	flow_count(w, f, dir, bytes, (uint64_t)sent);
	if (sent < n)
		udp_drop(w, f->l, MU_DROP_send_failed, n - sent);
}

/* msgs[0..n) to the flow's upstream; counted. */
static void send_up(struct worker *w, struct uflow *f, int n)
{
	uflow_send(w, f, f->fd, n, 0);
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
 * entries, then (uflow_decide) the kept datagrams, sent by us.  So the
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
void uflow_decide(struct worker *w, struct uflow *f, uint64_t now)
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

	if (udp_pend_add(f->pend, &f->cfg->set, d, len)) {
		/* This one and those kept: the flow is given up. */
		udp_drop(w, f->l, MU_DROP_pending_full, 1 + (int)f->pend->n);
		uflow_end(w, f, MU_END_undecided, 0);
		return;
	}
	r = quic_initial_feed(&f->pend->hello, d, len);
	if (r == 1)
		uflow_decide(w, f, now);
}
