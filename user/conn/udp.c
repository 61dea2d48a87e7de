// SPDX-License-Identifier: GPL-2.0
/* QUIC flows on UDP listeners (see udp.h): the sockets, the flow lookup,
 * readiness, the timers, set-up and reload; a flow's life is udp_flow.c. */
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
#include "conn/udp.h"
#include "conn/udp_int.h"
#include "conn/worker.h"
#include "datapath/dgram.h"
#include "datapath/udpk.h"

#define UDP_ROUNDS	4	/* batches per readiness, then the loop goes round */
#define TAB_MIN		1024
#define TAB_MAX		(1u << 20)

/* ---- the flow lookup, the UDP timer --------------------------------------- */

/* A flow by listening socket and client address: the hash first, then
 * the lookup with it. */
static uint32_t uflow_hash(const struct udp_worker *u, const struct usock *us,
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

static struct uflow *uflow_find(struct udp_worker *u, const struct usock *us,
				const union paddr *peer, uint32_t h)
{
	for (struct uflow *f = u->tab[h & u->mask]; f; f = f->hnext)
		if (f->hash == h && f->us == us && paddr_eq(&f->client, peer))
			return f;
	return NULL;
}

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

/* ---- readiness ---------------------------------------------------------- */

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
				udp_drop(w, us->l, MU_DROP_too_big, 1);
				continue;
			}
			h = uflow_hash(u, us, &u->rx.peer[i]);
			f = uflow_find(u, us, &u->rx.peer[i], h);
			if (!f) {
				uflow_new(w, us, i, h, d, len, now);
				continue;
			}
			/* A long header: maybe another connection's Initial. */
			if (len && (d[0] & 0x80) && uflow_replaced(w, f, i, d, len, now))
				continue;
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
				uflow_pending(w, f, d, len, now);
				break;
			default:
				udp_drop(w, f->l, MU_DROP_rejected, 1);
				break;
			}
		}
		for (struct uflow *f = touched; f; f = f->bnext) {
			f->in_batch = false;
			if (!f->ended)
				uflow_send_batch(w, f);
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
	socklen_t namelen = udp_paddr_len(&f->client);
	size_t ctllen = 0;

	if (f->us->any && f->has_local)
		ctllen = dgram_ctl_from(u->txctl, f->us->l->addr.ss_family, &f->local);
	for (int round = 0; round < UDP_ROUNDS && !f->ended; round++) {
		int n = dgram_recv(f->fd, &u->rx, false), k = 0;

		if (n == -EAGAIN)
			break;
		/* An ICMP error of an earlier datagram: read, gone. */
		if (n < 0 && uflow_refused(w, f, -n))
			return;
		if (n < 0)
			continue;
		if (!f->answered)
			uflow_answered(f);
		for (int i = 0; i < n; i++) {
			if (dgram_trunc(&u->rx, i))
				continue;
			udp_tx_set(u, k++, dgram_data(&u->rx, i), u->rx.msg[i].msg_len,
			       &f->client, namelen, ctllen ? u->txctl : NULL, ctllen);
		}
		uflow_send(w, f, f->us->fd, k, 1);
		if (k < n)
			udp_drop(w, f->l, MU_DROP_too_big, n - k);
		f->last = now_ms();
		if (n < DGRAM_BATCH)
			break;
	}
}

/* ---- timers -------------------------------------------------------------- */

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
				uflow_kernel_account(w, f, &c);
		}
		if (f->state == UF_DECIDING)
			uflow_end(w, f, MU_END_undecided, 0);
		else if (f->last + idle > now)
			timer_set(&u->th, &f->tm, f->kernel && f->last + idle > now + UDPK_SYNC_MS
				  ? now + UDPK_SYNC_MS : f->last + idle);
		else
			uflow_end(w, f, f->state == UF_FORWARD ? MU_END_idle
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
			uflow_end(w, f, MU_END_shutdown, 0);
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
		uflow_end(w, u->flows, MU_END_shutdown, 0);
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
			udp_pend_put(u, f->pend);
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
