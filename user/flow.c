// SPDX-License-Identifier: GPL-2.0
/* A connection's bytes flowing: each direction in the kernel (sockmap) or
 * through splice(2); back-pressure on the kernel path (BPF freezes a
 * direction, we thaw it); half-close, passed on only once drained. */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "conn.h"
#include "log.h"
#include "metrics.h"
#include "splice.h"
#include "util.h"

#define TICK_MAX_MS 100

static void kernel_tick(struct conn *c);
static void flow_splice(struct conn *c, int di);

/* What each socket still has to tell us.  With both its directions in the
 * kernel that is its EOF and errors, edge-triggered: each fires once, so
 * the mask never changes as the connection winds down (epoll_ctl calls
 * are most of a short connection's cost).  Once either direction goes
 * through splice, level-triggered readiness, and a socket done both ways
 * leaves epoll, or its EPOLLHUP would fire forever. */
static void flow_watch(struct conn *c)
{
	struct endpoint *eps[2] = { &c->cli, &c->up };

	for (int i = 0; i < 2; i++) {
		struct dir *rd = &c->d[i];	/* eps[i] is its source */
		struct dir *wd = &c->d[!i];	/* eps[i] is its target */
		uint32_t m = EP_ON;

		if (rd->kernel && wd->kernel) {
			m |= EPOLLRDHUP | EPOLLET;
			/* A frozen direction thaws as its target drains:
			 * each time the target's socket gets room is worth
			 * a look. */
			if (wd->frozen)
				m |= EPOLLOUT;
			ep_watch(c, eps[i], m);
			continue;
		}
		if (rd->eof && wd->shut) {
			ep_watch(c, eps[i], 0);
			continue;
		}
		if (rd->kernel) {
			if (!rd->eof)
				m |= EPOLLRDHUP;
		} else if (splice_wants_read(rd)) {
			m |= EPOLLIN;
		}
		if (!wd->kernel && wd->dst_full)
			m |= EPOLLOUT;
		/* Level-triggered, a target with room would wake us
		 * without end while its direction is frozen. */
		if (wd->kernel && wd->frozen)
			m |= EPOLLOUT | EPOLLET;
		ep_watch(c, eps[i], m);
	}
}

/* ---- drain and close -------------------------------------------------- */

/* Back-pressure, second half: the source of direction di is out of the
 * verdict map (the sock_ops program did it, under the socket lock).  Watch the target
 * catch up, then put the source back. */
void conn_frozen(struct conn *c, int di, uint32_t gen)
{
	struct pt_dir *pd = kpath_dir(2 * c->slot + di);

	if (c->st != CS_FLOW || !pd || pd->gen != gen || !c->d[di].kernel ||
	    c->d[di].frozen)
		return;
	c->d[di].frozen = true;
	pr_debug("conn fd %d: %s frozen: peer over %u bytes behind",
		 c->cli.fd, di == DIR_UP ? "client->upstream" : "upstream->client",
		 pd->limit);
	c->tick_ms = 0;
	kernel_tick(c);
}

static int kernel_thaw(struct conn *c, int di)
{
	struct dir *d = &c->d[di];
	struct pt_dir *pd = kpath_dir(2 * c->slot + di);
	uint64_t backlog;
	int err;

	err = kpath_backlog(d->dst->fd, &d->snap, pd->redirected, &backlog);
	if (err)
		return err;
	/* Half the limit: hysteresis, so a steady slow reader costs a few
	 * freezes per buffer, not one per packet. */
	if (backlog > pd->limit / 2)
		return 0;
	err = kpath_thaw(d->src->fd, c->cookie[di], 2 * c->slot + di);
	if (err == -EOPNOTSUPP) {
		/* The source is no longer ESTABLISHED (a FIN went one way or
		 * the other), and the kernel refuses such sockets.  Once the
		 * target holds every redirected byte, splice(2) carries on
		 * from the source's receive queue, in order. */
		if (backlog)
			return 0;
		d->frozen = false;
		d->kernel = false;
		d->eof = false;	/* splice reads up to the FIN itself */
		pr_debug("conn fd %d: %s continues with splice", c->cli.fd,
			 di == DIR_UP ? "client->upstream" : "upstream->client");
		return 1;
	}
	if (err)
		return err;
	d->frozen = false;
	pr_debug("conn fd %d: %s thawed (backlog %llu)", c->cli.fd,
		 di == DIR_UP ? "client->upstream" : "upstream->client",
		 (unsigned long long)backlog);
	return 1;
}

/* The kernel does not forward FIN.  A direction's FIN is passed on only
 * when every byte its source received has entered the target's socket:
 * shutting down earlier discards what the psock still queues. */
static int kernel_drain(struct conn *c, int di)
{
	struct dir *d = &c->d[di];
	int r = kpath_drained(d->src->fd, d->dst->fd, &d->snap);

	if (r <= 0)
		return r;
	if (shutdown(d->dst->fd, SHUT_WR) && errno != ENOTCONN)
		return -errno;
	d->shut = true;
	return 1;
}

/* Everything a spliced connection waits for without an fd event: frozen
 * directions to thaw, finished ones to drain.  Polled with back-off. */
static void kernel_tick(struct conn *c)
{
	bool waiting = false;

	for (int i = 0; i < 2; i++) {
		struct dir *d = &c->d[i];
		int r = 1;

		if (!d->kernel)
			continue;
		if (d->frozen)
			r = kernel_thaw(c, i);
		if (r > 0 && !d->kernel) {
			flow_splice(c, i);	/* just moved to splice */
			if (c->st == CS_DEAD)
				return;
			continue;
		}
		if (r > 0 && d->eof && !d->shut)
			r = kernel_drain(c, i);
		if (r < 0) {
			conn_end(c, i == DIR_UP ? "upstream-reset" : "client-reset", -r);
			return;
		}
		if (!r)
			waiting = true;
	}
	if (c->d[0].shut && c->d[1].shut) {
		conn_end(c, "eof", 0);
		return;
	}
	if (waiting) {
		/* A slow reader may take a while: back off. */
		c->tick_ms = c->tick_ms ? c->tick_ms * 2 : 1;
		if (c->tick_ms > TICK_MAX_MS)
			c->tick_ms = TICK_MAX_MS;
		timer_set(&c->w->timers, &c->tm, now_ms() + c->tick_ms);
	} else {
		c->tick_ms = 0;
		timer_cancel(&c->w->timers, &c->tm);
	}
	flow_watch(c);
}

/* One direction through splice(2): on the fallback path, or after a
 * frozen direction could not go back into the kernel. */
static void flow_splice(struct conn *c, int di)
{
	struct endpoint *bad;
	int err = splice_pump(&c->d[di], &bad);

	if (err)
		conn_end(c, bad == &c->cli ? "client-reset" : "upstream-reset", -err);
}

void flow_check(struct conn *c)
{
	if (c->st == CS_DEAD)
		return;
	if (c->d[0].shut && c->d[1].shut) {
		conn_end(c, "eof", 0);
		return;
	}
	flow_watch(c);
}


void flow_start(struct conn *c)
{
	c->st = CS_FLOW;
	metrics_add(c->rt.rule->mx, c->w->id, MR_FORWARDED, 1);
	for (int i = 0; i < 2; i++)
		if (!c->d[i].kernel)
			flow_splice(c, i);
	flow_check(c);
}

void flow_event(struct conn *c, struct endpoint *ep, uint32_t events)
{
	int ri = ep == &c->cli ? DIR_UP : DIR_DOWN;	/* ep is its source */
	int wi = !ri;					/* ep is its target */
	struct dir *rd = &c->d[ri], *wd = &c->d[wi];

	if ((events & EPOLLERR) && (rd->kernel || !(events & (EPOLLIN | EPOLLOUT)))) {
		endpoint_error(c, ep);
		return;
	}
	if (!rd->kernel && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		flow_splice(c, ri);
	if (c->st == CS_FLOW && !wd->kernel && (events & (EPOLLOUT | EPOLLERR)))
		flow_splice(c, wi);
	if (c->st == CS_FLOW && rd->kernel && (events & (EPOLLRDHUP | EPOLLHUP)) &&
	    !rd->eof) {
		rd->eof = true;
		c->tick_ms = 0;
		kernel_tick(c);
		return;
	}
	if (c->st == CS_FLOW && wd->kernel && wd->frozen && (events & EPOLLOUT)) {
		kernel_tick(c);
		return;
	}
	flow_check(c);
}

void flow_tick(struct conn *c)
{
	kernel_tick(c);
}
