// SPDX-License-Identifier: GPL-2.0
/* A connection's bytes flowing: each direction relayed through userspace
 * (its first bytes), in the kernel (sockmap) or through splice(2);
 * promotion from the relay to the kernel; back-pressure on the kernel path
 * (BPF freezes a direction, we thaw it); half-close, passed on only once
 * drained. */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>

#include "conn/conn.h"
#include "base/log.h"
#include "base/metrics.h"
#include "datapath/relay.h"
#include "datapath/splice.h"
#include "base/util.h"

#define TICK_MAX_MS 100
/* How long a failed endpoint's peer may take none of the bytes sent before
 * the failure (no progress, not in all: a slow reader reads them all)
 * before it gets the reset anyway. */
#define FAILED_DRAIN_MS 10000

static void kernel_tick(struct conn *c);
static void flow_error(struct conn *c, struct endpoint *ep);
static void failed_tick(struct conn *c);
static void flow_splice(struct conn *c, int di);
static void flow_relay(struct conn *c, int di, bool to_eof);

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

		if (rd->relay || wd->relay) {
			/* As registered at accept and connect: no syscall. */
			ep_watch(c, eps[i], EP_RELAY);
			continue;
		}
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
void flow_frozen(struct conn *c, int di, uint32_t gen)
{
	struct pt_dir *pd = kpath_dir(2 * c->slot + di);

	if (c->st != CS_FLOW || !pd || pd->gen != gen || !c->d[di].kernel ||
	    c->d[di].frozen || c->d[di].shut)
		return;
	c->d[di].frozen = true;
	pr_debug("conn fd %d: %s frozen: peer over %u bytes behind (%llu redirected)",
		 c->cli.fd, di == DIR_UP ? "client->upstream" : "upstream->client",
		 pd->limit, (unsigned long long)pd->redirected);
	c->tick_ms = 0;
	flow_tick(c);
}

/* A freeze whose event never reached us (the ring was full, or it was in
 * a predecessor's queue at a live upgrade) would leave its direction
 * stopped for good: the slot's mode says what the kernel did. */
void flow_resync(struct conn *c)
{
	for (int i = 0; i < 2 && c->st == CS_FLOW && c->has_slot; i++) {
		struct pt_dir *pd = kpath_dir(2 * c->slot + i);

		if (c->d[i].kernel && !c->d[i].frozen && pd &&
		    __atomic_load_n(&pd->mode, __ATOMIC_ACQUIRE) == PT_MODE_FROZEN) {
			pr_debug("conn fd %d: %s was frozen without an event",
				 c->cli.fd, i == DIR_UP ? "client->upstream" : "upstream->client");
			flow_frozen(c, i, pd->gen);
		}
	}
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
	err = kpath_thaw(d->src->fd, slots_cookie(&c->w->slots, c->slot)[di], 2 * c->slot + di);
	if (err == -EBUSY && c->tick_ms < TICK_MAX_MS) {
		/* The kernel would not link the socket again yet (seen on
		 * 6.18 in fast freeze/thaw cycles right after a live
		 * upgrade: its psock still busy with the last unlink).
		 * Still out of the verdict map, its bytes wait: try again
		 * on the next ticks, backing off. */
		kpath_refreeze(2 * c->slot + di);
		pr_debug("conn fd %d: %s: the kernel path is busy, thawing later",
			 c->cli.fd, di == DIR_UP ? "client->upstream" : "upstream->client");
		return 0;
	}
	if (err == -EBUSY) {
		kpath_refreeze(2 * c->slot + di);
		log_msg(LOG_WARN, "conn fd %d: %s: the kernel refused the socket back for %d ms: it goes on through splice",
			c->cli.fd, di == DIR_UP ? "client->upstream" : "upstream->client",
			TICK_MAX_MS);
		err = -EOPNOTSUPP;
	}
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
	pr_debug("conn fd %d: %s thawed (backlog %llu, %llu redirected)", c->cli.fd,
		 di == DIR_UP ? "client->upstream" : "upstream->client",
		 (unsigned long long)backlog, (unsigned long long)pd->redirected);
	return 1;
}

/* Look again later, backing off: a slow reader may take a while. */
static void tick_later(struct conn *c)
{
	c->tick_ms = c->tick_ms ? c->tick_ms * 2 : 1;
	if (c->tick_ms > TICK_MAX_MS)
		c->tick_ms = TICK_MAX_MS;
	timer_set(&c->w->loop.timers, &c->tm, now_ms() + c->tick_ms);
}

/* The kernel does not forward FIN.  A direction's FIN is passed on only
 * when every byte its source received has entered the target's socket:
 * shutting down earlier discards what the psock still queues. */
static int kernel_drain(struct conn *c, int di)
{
	struct dir *d = &c->d[di];
	int r = kpath_drained(d->src->fd, d->dst->fd, &d->snap, true, c->d[!di].shut);

	if (r == -ECONNRESET) {
		log_msg(LOG_WARN, "conn fd %d: %s: the end of the stream was a reset: delivering the rest, then the reset",
			c->cli.fd, di == DIR_UP ? "client" : "upstream");
		d->eof = false;	/* flow_failed: no FIN to pass on */
		flow_failed(c, d->src, ECONNRESET);
		return 0;
	}
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

	if (c->failed) {
		failed_tick(c);
		return;
	}

	for (int i = 0; i < 2; i++) {
		struct dir *d = &c->d[i];
		int r = 1;

		if (!d->kernel)
			continue;
		if (d->frozen)
			r = kernel_thaw(c, i);
		if (r > 0 && !d->kernel) {
			flow_splice(c, i);	/* just moved to splice */
			if (c->st == CS_DEAD || c->failed)
				return;	/* failed_tick() has the timer now */
			continue;
		}
		if (r > 0 && d->eof && !d->shut)
			r = kernel_drain(c, i);
		if (c->st != CS_FLOW || c->failed)
			return;	/* kernel_drain found a reset: failed_tick() goes on */
		if (r < 0) {
			conn_end(c, i == DIR_UP ? ME_upstream_reset : ME_client_reset, -r);
			return;
		}
		if (!r)
			waiting = true;
	}
	if (c->d[0].shut && c->d[1].shut) {
		conn_end(c, ME_eof, 0);
		return;
	}
	if (waiting) {
		tick_later(c);
	} else {
		c->tick_ms = 0;
		timer_cancel(&c->w->loop.timers, &c->tm);
	}
	flow_watch(c);
}

/* One direction through splice(2): on the fallback path, or after a
 * frozen direction could not go back into the kernel. */
static void flow_splice(struct conn *c, int di)
{
	struct endpoint *bad;
	int err;

	if (c->st != CS_FLOW)
		return;
	err = splice_pump(&c->d[di], &bad);
	if (err && !bad)	/* ours: no pipe (out of fds or memory) */
		conn_end(c, ME_no_resources, -err);
	else if (err)
		flow_failed(c, bad, -err);
}

/* One relayed direction (datapath/relay.c), through the worker's scratch
 * buffer (the peek buffer: sniffing never runs meanwhile). */
static void flow_relay(struct conn *c, int di, bool to_eof)
{
	struct dir *d = &c->d[di], *o = &c->d[!di];
	struct endpoint *bad;
	int err;

	if (c->st != CS_FLOW)
		return;
	/* The other way done too: the close that follows sends the FIN. */
	err = relay_pump(d, c->w->peekbuf, SNIFF_MAX_LIMIT, to_eof, o->eof && o->shut, &bad);
	if (err && !bad)
		conn_end(c, ME_no_resources, -err);
	else if (err)
		flow_failed(c, bad, -err);
}

int flow_to_kernel(struct conn *c, const uint64_t consumed[2])
{
	struct worker *w = c->w;
	struct ksnap snap[2];
	unsigned joined;
	int err;

	if (!kpath_ready() || slots_get(&w->slots, &c->slot, c))
		return 0;
	c->has_slot = true;
	err = kpath_splice(c->cli.fd, c->up.fd, c->slot, (uint32_t)c->cfg->set.conn_buffer,
			   consumed, slots_cookie(&w->slots, c->slot), snap, &joined);
	if (!err || (err == -EOPNOTSUPP && joined == 1)) {
		/* Both in, or only the client: the upstream already sent its
		 * FIN or reset, and what it sent before goes through
		 * splice(2). */
		c->kernel = true;
		for (int i = 0; i < 2; i++) {
			c->d[i].kernel = !err || i == DIR_UP;
			c->d[i].relay = false;
			c->d[i].snap = snap[i];
		}
		return 1;
	}
	if (joined) {
		conn_end(c, ME_kernel_error, -err);
		return -1;
	}
	/* The kernel takes only ESTABLISHED sockets: one that already got or
	 * sent a FIN (a short request, a banner and goodbye) stays where it
	 * is, which is as exact. */
	log_msg(err == -EOPNOTSUPP ? LOG_DEBUG : LOG_WARN,
		"conn fd %d: sockmap insertion failed (%s): this connection stays in %s",
		c->cli.fd, strerror(-err), c->d[0].relay ? "the relay" : "splice");
	slots_put(&w->slots, c->slot);
	c->has_slot = false;
	return 0;
}

/* A relayed connection that has carried kernel_after bytes proves long:
 * to the kernel (or splice(2) without it), at a moment when the relay
 * holds no byte and neither side has ended (the kernel takes only
 * ESTABLISHED sockets; a connection winding down ends in the relay).
 * What arrives meanwhile waits in the sockets: the kernel path's verdict
 * takes it from there, splice reads it. */
static void flow_promote(struct conn *c)
{
	struct dir *u = &c->d[DIR_UP], *dn = &c->d[DIR_DOWN];
	bool full;
	int r;

	/* Only the default mode relays by choice; another relays only the
	 * bytes its sniff read (a predecessor's, conn_handoff). */
	if (c->st != CS_FLOW || c->failed || !u->relay || c->relay_stays ||
	    (c->cfg->set.mode == MODE_AUTO && u->bytes + dn->bytes < c->cfg->set.kernel_after) ||
	    u->pend_len || dn->pend_len || u->eof || dn->eof)
		return;
	/* kernel_connections reached: splice(2), as without a kernel path. */
	full = kpath_ready() && !c->w->slots.nfree;
	r = full ? 0 : flow_to_kernel(c, (uint64_t[2]){ c->consumed + u->bytes, dn->bytes });
	if (r < 0)
		return;
	if (r == 0 && kpath_ready() && !full) {
		c->relay_stays = true;
		return;
	}
	if (r == 0) {
		/* No kernel path: splice(2), which reads what the edges we
		 * consumed announced. */
		u->relay = dn->relay = false;
		flow_splice(c, DIR_UP);
		flow_splice(c, DIR_DOWN);
	}
	pr_debug("conn fd %d: %llu bytes relayed: on to %s", c->cli.fd,
		 (unsigned long long)(u->bytes + dn->bytes), c->kernel ? "the kernel" : "splice");
}

void flow_check(struct conn *c)
{
	if (c->st == CS_DEAD || c->failed)
		return;
	if (c->d[0].shut && c->d[1].shut) {
		conn_end(c, ME_eof, 0);
		return;
	}
	flow_watch(c);
}


void flow_start(struct conn *c)
{
	c->st = CS_FLOW;
	metrics_add(c->rt.rule->mx, c->w->id, MR_FORWARDED, 1);
	if (c->d[DIR_UP].relay) {
		struct dir *u = &c->d[DIR_UP];
		const struct conn_setup *s = c->s;

		/* The client's bytes are there (sniffed); the upstream's only
		 * if its first edge said so.  Edges spent before (a FIN while
		 * we connected) make a read go on to EAGAIN.  When the sniff
		 * read them all (pend) and no edge came since, the socket has
		 * nothing more: no read, the next edge will say. */
		if (u->pend_len && u->pend_len == s->sn.peeked && !s->cli_in &&
		    !s->cli_hup && !s->final_peek) {
			struct endpoint *bad;
			int err = relay_flush(u, &bad);

			if (err)
				flow_failed(c, bad, -err);
		} else {
			flow_relay(c, DIR_UP, s->final_peek || s->cli_hup);
		}
		if (c->s->up_in && c->st == CS_FLOW && !c->failed)
			flow_relay(c, DIR_DOWN, true);
		flow_promote(c);
	} else {
		for (int i = 0; i < 2 && c->st == CS_FLOW && !c->failed; i++)
			if (!c->d[i].kernel)
				flow_splice(c, i);
	}
	if (c->st == CS_FLOW && !c->failed)
		flow_check(c);
	/* From here on a connection costs only its struct conn. */
	conn_setup_done(c);
}

void flow_event(struct conn *c, struct endpoint *ep, uint32_t events)
{
	int ri = ep == &c->cli ? DIR_UP : DIR_DOWN;	/* ep is its source */
	int wi = !ri;					/* ep is its target */
	struct dir *rd = &c->d[ri], *wd = &c->d[wi];

	if (c->failed) {
		if (events & EPOLLERR)
			flow_error(c, ep);
		else
			failed_tick(c);
		return;
	}
	if ((events & EPOLLERR) && (rd->kernel || !(events & (EPOLLIN | EPOLLOUT)))) {
		flow_error(c, ep);
		return;
	}
	if (rd->relay || wd->relay) {
		if (rd->relay && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
			flow_relay(c, ri, events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR));
		if (c->st == CS_FLOW && !c->failed && wd->relay && wd->pend_len &&
		    (events & (EPOLLOUT | EPOLLERR)))
			flow_relay(c, wi, false);
		flow_promote(c);
		if (c->st == CS_FLOW && !c->failed)
			flow_check(c);
		return;
	}
	if (!rd->kernel && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		flow_splice(c, ri);
	if (c->st == CS_FLOW && !c->failed && !wd->kernel && (events & (EPOLLOUT | EPOLLERR)))
		flow_splice(c, wi);
	if (c->st != CS_FLOW || c->failed)
		return;	/* a splice error made it fail: see flow_failed() */
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
	if (c->failed)
		failed_tick(c);
	else
		kernel_tick(c);
}

/* ---- failure ---------------------------------------------------------- */

/* EPOLLERR on one of the sockets: it failed (a reset, mostly). */
static void flow_error(struct conn *c, struct endpoint *ep)
{
	int err = sock_error(ep->fd);

	pr_debug("conn fd %d: error on %s fd %d: %s", c->cli.fd,
		 ep == &c->cli ? "client" : "upstream", ep->fd, strerror(err));
	flow_failed(c, ep, err ? err : ECONNRESET);
}

static enum m_end failed_reason(const struct conn *c)
{
	return c->failed == &c->cli ? ME_client_reset : ME_upstream_reset;
}

/* An endpoint was reset, or failed.  Without us in between its peer would
 * still read every byte it sent before, then see the reset; so here too:
 * its direction finishes like an EOF (from the kernel's queues, or through
 * splice(2) from its receive queue, which a reset leaves readable), and
 * the peer is reset only once its socket sent all of it (a RST drops what
 * is unsent).  What was on its way to the failed endpoint is lost, as it
 * would be anyway. */
void flow_failed(struct conn *c, struct endpoint *ep, int err)
{
	int ri = ep == &c->cli ? DIR_UP : DIR_DOWN;	/* ep is its source */
	struct dir *rd = &c->d[ri], *wd = &c->d[!ri];

	if (c->st != CS_FLOW)
		return;
	if (c->failed) {
		/* The peer failed too: nobody is left to deliver to. */
		if (c->failed != ep)
			conn_end(c, failed_reason(c), c->failed_err);
		return;
	}
	pr_debug("conn fd %d: %s failed (%s): delivering what it sent, then the reset",
		 c->cli.fd, ep == &c->cli ? "client" : "upstream", strerror(err));
	c->failed = ep;
	c->failed_err = (int16_t)err;
	c->failed_ms = now_ms();
	wd->eof = wd->shut = true;
	wd->frozen = false;
	if (!wd->kernel) {
		splice_release(wd);
		relay_release(wd);
	}
	/* Its FIN may have come before the reset: TCP counted it then. */
	rd->no_fin = !rd->eof;
	if (rd->kernel)
		rd->eof = true;
	ep_watch(c, ep, 0);
	c->tick_ms = 0;
	failed_tick(c);
}

/* 1 once the failed endpoint's direction is all in its peer's socket, 0
 * not yet, -errno when the peer broke too. */
static int failed_drained(struct conn *c, int di)
{
	struct dir *d = &c->d[di];
	struct endpoint *bad;
	int r = 1, err;

	if (d->shut)
		return 1;
	if (d->kernel && d->frozen)
		r = kernel_thaw(c, di);	/* moves it to splice once it can */
	if (r > 0 && d->kernel)
		r = kpath_drained(d->src->fd, d->dst->fd, &d->snap, !d->no_fin, true);
	if (r > 0 && !d->kernel) {
		err = d->relay ? relay_pump(d, c->w->peekbuf, SNIFF_MAX_LIMIT, true, true, &bad)
			       : splice_pump(d, &bad);
		if (err && bad != d->src)
			return err ? err : -ENOMEM;
		if (err)
			d->eof = true;	/* the reset itself, after the bytes */
		r = d->eof && !d->inpipe && !d->pend_len;
	}
	return r;
}

/* Did the failed endpoint's peer take anything since the last look?  Its
 * socket's acknowledged bytes move as it reads (the window reopens). */
static bool failed_progress(struct conn *c, const struct endpoint *peer)
{
	uint64_t acked;

	if (sock_bytes_acked(peer->fd, &acked) || acked == c->failed_acked)
		return false;
	c->failed_acked = acked;
	return true;
}

static void failed_tick(struct conn *c)
{
	int di = c->failed == &c->cli ? DIR_UP : DIR_DOWN;
	struct endpoint *peer = c->d[di].dst;
	int r = failed_drained(c, di), outq = 0;

	if (r > 0 && !ioctl(peer->fd, SIOCOUTQ, &outq) && outq > 0)
		r = 0;
	if (r < 0) {
		conn_end(c, failed_reason(c), c->failed_err);
		return;
	}
	if (!r && failed_progress(c, peer))
		c->failed_ms = now_ms();
	if (r > 0 || now_ms() - c->failed_ms >= FAILED_DRAIN_MS) {
		if (!r)
			log_msg(LOG_WARN, "conn fd %d: %s read nothing of what its failed peer sent for %d ms: reset now",
				c->cli.fd, peer == &c->cli ? "client" : "upstream",
				FAILED_DRAIN_MS);
		conn_end(c, failed_reason(c), c->failed_err);
		return;
	}
	/* The peer's errors, and its room when a splice waits for it. */
	ep_watch(c, peer, EP_ON | EPOLLET | (c->d[di].dst_full ? EPOLLOUT : 0));
	tick_later(c);
}
