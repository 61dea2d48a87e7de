// SPDX-License-Identifier: GPL-2.0
/* A connection object's own life: made at accept (or imported by a live
 * upgrade), in its worker's lists, watched in its epoll, and ended: its
 * log line, its sockets closed the right way, its slot and pipes given
 * back, then freed once the round of events that may still name it is
 * over.  The only code that edits the worker's connection lists. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn/admit.h"
#include "conn/conn.h"
#include "conn/conn_log.h"
#include "base/log.h"
#include "base/metrics.h"
#include "datapath/relay.h"
#include "datapath/splice.h"
#include "base/util.h"

void ep_watch(struct conn *c, struct endpoint *ep, uint32_t events)
{
	if (ep->fd >= 0)
		loop_watch(&c->w->loop, &ep->ev, ep->fd, events, &ep->events);
}

/* Sniffing connections in accept order, so that a flood of silent ones
 * beyond max_sniffing costs the oldest, not the newest, its place. */
void conn_sniffing_add(struct conn *c)
{
	struct worker *w = c->w;

	c->s->sprev = w->sniff_tail;
	c->s->snext = NULL;
	if (w->sniff_tail)
		w->sniff_tail->s->snext = c;
	else
		w->sniff_head = c;
	w->sniff_tail = c;
	w->nsniff++;
	c->s->sniffing = true;
}

void conn_sniffing_del(struct conn *c)
{
	struct worker *w = c->w;
	struct conn_setup *s = c->s;

	if (!s || !s->sniffing)
		return;
	if (s->sprev)
		s->sprev->s->snext = s->snext;
	else
		w->sniff_head = s->snext;
	if (s->snext)
		s->snext->s->sprev = s->sprev;
	else
		w->sniff_tail = s->sprev;
	w->nsniff--;
	s->sniffing = false;
}

/* The worker keeps up to SETUP_POOL_MAX of them between connections: a
 * setup is most of a new connection's memory, and short connections come
 * in floods. */
#define SETUP_POOL_MAX 256

static struct conn_setup *setup_get(struct worker *w)
{
	struct conn_setup *s = w->setup_pool;

	if (s) {
		w->setup_pool = s->pool_next;
		w->nsetup_pool--;
		memset(s, 0, sizeof(*s));
		return s;
	}
	return calloc(1, sizeof(*s));
}

static void setup_put(struct worker *w, struct conn_setup *s)
{
	sniffer_release(&s->sn);
	if (s->kept)
		close(s->kept_fd);
	if (w->nsetup_pool >= SETUP_POOL_MAX) {
		free(s);
		return;
	}
	s->pool_next = w->setup_pool;
	w->setup_pool = s;
	w->nsetup_pool++;
}

void conn_setup_done(struct conn *c)
{
	struct conn_setup *s = c->s;

	if (!s)
		return;
	conn_sniffing_del(c);
	/* What the end needs of the upstream's choice: its leastconn count. */
	c->up_u = s->ut.u;
	c->up_active = (int16_t)s->ut.active;
	c->s = NULL;
	setup_put(c->w, s);
}

void conn_setup_pool_free(struct worker *w)
{
	while (w->setup_pool) {
		struct conn_setup *s = w->setup_pool;

		w->setup_pool = s->pool_next;
		free(s);
	}
	w->nsetup_pool = 0;
}

/* ---- made ----------------------------------------------------------- */

/* Connection objects come from the worker's slabs: CONN_SLAB at a time,
 * with no allocator header each (an established connection's whole cost
 * in userspace is its struct conn), and never shared with another
 * thread.  A new slab is handed out from its start, not threaded onto the
 * free list whole: its pages are touched (and resident) only as
 * connections need them, so a worker's last slab costs what it holds.
 * Slabs stay until the worker ends. */
#define CONN_SLAB 128

struct conn_slab {
	struct conn_slab *next;
	unsigned int used;		/* c[0..used) handed out once */
	struct conn c[CONN_SLAB];
};

static struct conn *conn_alloc(struct worker *w)
{
	struct conn *c = w->conn_free;
	struct conn_slab *sl = w->slabs;

	if (c) {
		w->conn_free = c->next;
	} else {
		if (!sl || sl->used == CONN_SLAB) {
			sl = malloc(sizeof(*sl));
			if (!sl)
				return NULL;
			sl->next = w->slabs;
			sl->used = 0;
			w->slabs = sl;
		}
		c = &sl->c[sl->used++];
	}
	memset(c, 0, sizeof(*c));
	return c;
}

static void conn_dealloc(struct worker *w, struct conn *c)
{
	c->next = w->conn_free;
	w->conn_free = c;
}

void conn_slabs_free(struct worker *w)
{
	while (w->slabs) {
		struct conn_slab *sl = w->slabs;

		w->slabs = sl->next;
		free(sl);
	}
	w->conn_free = NULL;
}

struct conn *conn_new(struct worker *w, const struct listener *l, int fd,
		      const struct sockaddr_storage *peer)
{
	struct conn *c = conn_alloc(w);

	if (!c)
		return NULL;
	c->s = setup_get(w);
	if (!c->s) {
		conn_dealloc(w, c);
		return NULL;
	}
	c->w = w;
	c->cfg = config_get(w->cfg);
	c->l = l;
	paddr_set(&c->peer, peer);
	c->src = c->peer;
	addr_unmap(&c->src);
	/* The address the client reached: the listener's, unless it listens
	 * on all of them. */
	paddr_set(&c->dst, &l->addr);
	if (addr_is_any((const struct sockaddr *)&l->addr)) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);

		if (!getsockname(fd, (struct sockaddr *)&ss, &len))
			paddr_set(&c->dst, &ss);
	}
	addr_unmap(&c->dst);
	sniffer_init(&c->s->sn, fd);
	c->s->ut.active = -1;
	c->up_active = -1;
	c->t0_ms = now_ms();
	c->cli = (struct endpoint){ .ev.kind = EV_CLIENT, .fd = fd };
	c->up = (struct endpoint){ .ev.kind = EV_UPSTREAM, .fd = -1 };
	for (int i = 0; i < 2; i++) {
		c->d[i].pipe[0] = c->d[i].pipe[1] = -1;
		c->d[i].src = i == DIR_UP ? &c->cli : &c->up;
		c->d[i].dst = i == DIR_UP ? &c->up : &c->cli;
	}
	timer_init(&c->tm);
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->nconns++;
	return c;
}

void conn_free(struct conn *c)
{
	if (c->owns_rule) {
		struct rule *r = (struct rule *)c->rt.rule;

		rule_free(r);
		free(r);
	}
	if (c->owns_l) {
		struct listener *l = (struct listener *)c->l;

		metrics_put(l->mx);
		free(l->text);
		free(l);
	}
	if (c->s)
		setup_put(c->w, c->s);
	config_put(c->cfg);
	conn_dealloc(c->w, c);
}

void conn_reap(struct worker *w)
{
	while (w->dead) {
		struct conn *c = w->dead;

		w->dead = c->next;
		conn_free(c);
	}
}

void conn_shutdown(struct conn *c)
{
	conn_end(c, ME_shutdown, 0);
}

/* ---- the end ---------------------------------------------------------- */

static void close_fd(int fd, bool reset)
{
	if (fd < 0)
		return;
	if (reset) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(fd);
}

/* Unread bytes at close() make TCP send a RST; a client turned away
 * before any forwarding (upstream down, no route) gets a clean FIN.
 * MSG_TRUNC: TCP drops them without copying (16 MiB at most).  The
 * worker's own scratch buffer, not NULL: sanitizers take the call for a
 * write of that many bytes at the address given, and every worker's
 * "write" at NULL for a race. */
static void discard_input(int fd, uint8_t *sink)
{
	for (int i = 0; i < 256; i++)
		if (recv(fd, sink, SNIFF_MAX_LIMIT, MSG_DONTWAIT | MSG_TRUNC) <= 0)
			break;
}

void conn_end(struct conn *c, enum m_end reason, int err)
{
	struct worker *w = c->w;
	uint64_t bytes[2] = { c->d[0].bytes, c->d[1].bytes };
	bool rst_cli = reason == ME_upstream_reset;
	bool rst_up = reason == ME_client_reset;

	if (c->st == CS_DEAD)
		return;
	if (c->kernel) {
		for (int i = 0; i < 2; i++) {
			struct pt_dir *d = kpath_dir(2 * c->slot + i);

			if (!d)
				continue;
			bytes[i] += d->redirected;
			if (d->seq_gaps)
				log_msg(LOG_ERROR, "conn fd %d: %s: %u skbs reached the verdict out of the source's sequence and could not be repaired (the first %d bytes off): bytes were lost or duplicated",
					c->cli.fd, i == DIR_UP ? "client->upstream" : "upstream->client",
					d->seq_gaps, d->first_gap);
		}
	}
	conn_report(c, reason, err, bytes);
	conn_sniffing_del(c);
	timer_cancel(&w->loop.timers, &c->tm);
	if (c->s)
		up_done(&c->s->ut);
	else
		up_release(c->up_u, c->up_active);
	admit_release(c);
	/* close() takes the sockets out of epoll, unless another process
	 * holds their files too. */
	if (c->shared) {
		ep_watch(c, &c->cli, 0);
		ep_watch(c, &c->up, 0);
	}
	if (c->st < CS_FLOW && !rst_cli && !rst_up && !c->rst_client)
		discard_input(c->cli.fd, w->peekbuf);
	close_fd(c->cli.fd, rst_cli || c->rst_client);
	close_fd(c->up.fd, rst_up);
	c->cli.fd = c->up.fd = -1;
	if (c->kernel && c->has_slot)
		kpath_forget(slots_cookie(&w->slots, c->slot));
	if (c->has_slot)
		slots_put(&w->slots, c->slot);
	for (int i = 0; i < 2; i++) {
		splice_release(&c->d[i]);
		relay_release(&c->d[i]);
	}
	c->st = CS_DEAD;

	/* Freed by the worker once this round of events is done: an event
	 * for the other socket may still be in its batch. */
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = NULL;
	c->next = w->dead;
	w->dead = c;
	w->nconns--;
}
