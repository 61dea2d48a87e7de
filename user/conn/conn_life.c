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

	c->sprev = w->sniff_tail;
	c->snext = NULL;
	if (w->sniff_tail)
		w->sniff_tail->snext = c;
	else
		w->sniff_head = c;
	w->sniff_tail = c;
	w->nsniff++;
	c->sniffing = true;
}

void conn_sniffing_del(struct conn *c)
{
	struct worker *w = c->w;

	if (!c->sniffing)
		return;
	if (c->sprev)
		c->sprev->snext = c->snext;
	else
		w->sniff_head = c->snext;
	if (c->snext)
		c->snext->sprev = c->sprev;
	else
		w->sniff_tail = c->sprev;
	w->nsniff--;
	c->sniffing = false;
}

/* ---- made ----------------------------------------------------------- */

struct conn *conn_new(struct worker *w, const struct listener *l, int fd,
		      const struct sockaddr_storage *peer)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->w = w;
	c->cfg = config_get(w->cfg);
	c->l = l;
	c->peer = *peer;
	c->src = *peer;
	addr_unmap(&c->src);
	/* The address the client reached: the listener's, unless it listens
	 * on all of them. */
	c->dst = l->addr;
	if (addr_is_any((const struct sockaddr *)&l->addr)) {
		socklen_t len = sizeof(c->dst);

		if (getsockname(fd, (struct sockaddr *)&c->dst, &len))
			c->dst = l->addr;
	}
	addr_unmap(&c->dst);
	sniffer_init(&c->sn, fd);
	c->ut.active = -1;
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
	if (c->own_rule) {
		free(c->own_rule->key);
		free(c->own_rule->up.text);
		free(c->own_rule);
	}
	if (c->own_l) {
		free(c->own_l->text);
		free(c->own_l);
	}
	config_put(c->cfg);
	free(c);
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
 * before any forwarding (upstream down, no route) gets a clean FIN. */
static void discard_input(int fd)
{
	for (int i = 0; i < 16; i++)
		if (recv(fd, NULL, 1 << 20, MSG_DONTWAIT | MSG_TRUNC) <= 0)
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
	up_done(&c->ut);
	admit_release(c);
	/* close() takes the sockets out of epoll, unless another process
	 * holds their files too. */
	if (c->shared) {
		ep_watch(c, &c->cli, 0);
		ep_watch(c, &c->up, 0);
	}
	if (c->st < CS_FLOW && !rst_cli && !rst_up && !c->rst_client)
		discard_input(c->cli.fd);
	close_fd(c->cli.fd, rst_cli || c->rst_client);
	close_fd(c->up.fd, rst_up);
	c->cli.fd = c->up.fd = -1;
	if (c->kernel)
		kpath_forget(c->cookie);
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
