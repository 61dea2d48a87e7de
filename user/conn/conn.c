// SPDX-License-Identifier: GPL-2.0
/* The life of one connection, in the order it happens:
 *
 *   accept -> sniff -> route -> resolve -> connect
 *          -> relay, or hand both sockets to the kernel (or to splice(2))
 *          -> drain each direction, pass its FIN on -> close
 *
 * Payload is read here only where the relay will send it: a connection
 * that starts in the relay (the default mode) has its first look read,
 * not peeked, and those bytes go out first (conn_handoff).  Otherwise the
 * bytes peeked while sniffing stay in the socket and go to the upstream
 * with everything after them (only a trusted peer's PROXY header is read,
 * accept_proxy).  Sniffing details:
 * sniff.c; choosing, retrying and connecting upstreams: upstream.c; the
 * bytes flowing, back-pressure and half-close: flow.c.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn/admit.h"
#include "conn/conn.h"
#include "base/log.h"
#include "config/match.h"
#include "base/metrics.h"
#include "proto/proxyproto.h"
#include "datapath/splice.h"
#include "base/util.h"

static void conn_sniff(struct conn *c, bool final);
static void conn_routed(struct conn *c, const struct sniff *s);
static void conn_connect(struct conn *c);
static void conn_connected(struct conn *c, uint32_t events);
static void conn_handoff(struct conn *c);

static const struct settings *S(const struct conn *c)
{
	return &c->cfg->set;
}

/* ---- accept ---------------------------------------------------------- */

void conn_accept(struct worker *w, struct lsock *ls, int fd,
		 const struct sockaddr_storage *peer)
{
	struct srcent *se;
	struct conn *c;

	if (!admit_accept(w, ls->l, fd, peer, &se))
		return;		/* over a per-source limit: reset */
	c = conn_new(w, ls->l, fd, peer);
	if (!c) {
		pr_err("accept: out of memory, closing fd %d", fd);
		srclimit_release(se);
		close(fd);
		return;
	}
	c->srcent = se;
	metrics_add(c->l->mx, w->id, ML_ACCEPTED, 1);
	if (w->nsniff >= w->max_sniff && w->sniff_head) {
		static __thread uint64_t last_warn;

		if (now_ms() - last_warn > 1000) {
			last_warn = now_ms();
			pr_warn("worker %d: %u connections sniffing, the limit: closing the oldest",
				w->id, w->nsniff);
		}
		conn_end(w->sniff_head, ME_sniff_evicted, 0);
	}
	conn_sniff_start(c);
}

void conn_sniff_start(struct conn *c)
{
	struct worker *w = c->w;

	conn_sniffing_add(c);
	/* A connection that starts in the relay (conn_handoff) has its first
	 * bytes read, not peeked: the relay sends them from there, and reads
	 * the socket again only if something came after.  The kernel path and
	 * splice take the bytes from the socket, so for them nothing is read
	 * (nor behind a trusted PROXY header, whose length decides where). */
	c->s->sn.take = S(c)->mode == MODE_AUTO && S(c)->kernel_after && !c->l->naccept_proxy;
	/* Edge-triggered while sniffing: unread (peeked) bytes would keep a
	 * level-triggered EPOLLIN firing; each new segment is one edge.  With
	 * EPOLLOUT too (one edge now, then only after a full send buffer),
	 * so that the relay never changes the registration. */
	ep_watch(c, &c->cli, EP_RELAY);
	/* A listener with on_timeout first waits that long for a first byte
	 * (server-first protocols), then for the sniff deadline. */
	c->s->silent_armed = c->l->on_timeout &&
			  c->l->on_timeout_ms < S(c)->sniff_timeout_ms;
	timer_set(&w->loop.timers, &c->tm, c->t0_ms + (c->s->silent_armed ? c->l->on_timeout_ms
								  : S(c)->sniff_timeout_ms));
	conn_sniff(c, false);
}

/* ---- sniff ----------------------------------------------------------- */

/* accept_proxy: a trusted peer's connection starts with a PROXY header;
 * the client it names replaces the peer.  Returns 1 when done, 0 to wait
 * for more, -1 if the connection ended. */
static int conn_proxy_in(struct conn *c, bool final)
{
	struct proxy_info pi;
	int len = sniff_proxy_header(&c->s->sn, c->w->peekbuf, S(c)->sniff_max, final, &pi);

	if (!len)
		return 0;
	if (len < 0) {
		bool bad = len == -ENOMSG || len == -EBADMSG || len == -EMSGSIZE || len == -ENODATA;

		conn_end(c, bad ? ME_proxy_bad : ME_client_reset, -len);
		return -1;
	}
	c->proxied = true;
	c->consumed = (uint32_t)len;
	/* Data may share the header's skb: the verdict gets that skb whole
	 * (tcp_read_skb) and cuts off what we read (in_sequence). */
	if (pi.has_addr) {
		paddr_set(&c->src, &pi.src);
		paddr_set(&c->dst, &pi.dst);
		addr_unmap(&c->src);
		addr_unmap(&c->dst);
	}
	if (admit_proxied(c)) {
		/* That client is over its limits.  Accepted already (its
		 * header had to be read): it ends like one, reset, without a
		 * log line of its own. */
		c->rst_client = true;
		conn_end(c, ME_source_limit, 0);
		return -1;
	}
	return 1;
}

/* The next look at a trickling client, or its sniff deadline. */
static void sniff_poll(struct conn *c, uint32_t ms)
{
	uint64_t end = c->t0_ms + S(c)->sniff_timeout_ms, t = now_ms() + ms;

	timer_set(&c->w->loop.timers, &c->tm, t < end ? t : end);
}

static void conn_sniff(struct conn *c, bool final)
{
	size_t cap = S(c)->sniff_max;
	struct route_in in = {
		.buf = c->w->peekbuf,
		.src = (const struct sockaddr *)&c->src,
		.dst = (const struct sockaddr *)&c->dst,
	};
	struct sniff s;
	struct route rt;
	uint32_t poll;
	ssize_t n;

	if (!c->proxied && c->l->naccept_proxy &&
	    cidr_list_matches(c->l->accept_proxy, c->l->naccept_proxy,
			      (const struct sockaddr *)&c->peer) &&
	    conn_proxy_in(c, final) <= 0)
		return;
	if (!final && !sniff_worth(&c->s->sn, c->w->peekbuf, cap))
		return;
	n = sniff_look(&c->s->sn, c->w->peekbuf, cap);
	if (n < 0) {
		if (errno == ENOMEM) {
			conn_end(c, ME_no_resources, ENOMEM);
			return;
		}
		if (errno != EAGAIN && errno != EINTR) {
			conn_end(c, ME_client_reset, errno);
			return;
		}
		n = c->s->sn.peeked;	/* nothing new; decide on what we had */
		if (!final)
			return;
	} else if (n == 0) {
		if (c->cli_err) {
			conn_end(c, ME_client_reset, c->cli_err);
			return;
		}
		final = true;	/* EOF before any byte */
	}
	if ((size_t)n >= cap)
		final = true;
	c->s->sn.peeked = n;
	c->s->final_peek = final;
	in.len = n;
	in.final = final;
	in.cap = cap;
	if (!route_decide(c->l, &in, &s, &rt)) {
		poll = sniff_undecided(&c->s->sn, &rt, n, cap);
		if (poll) {
			c->s->silent_armed = false;	/* it did say something */
			sniff_poll(c, poll);
		}
		return;
	}
	c->rt.rule = rt.rule;
	c->rt.proto = rt.proto;
	conn_routed(c, &s);
}

static void log_sniff(const struct conn *c, const struct sniff *s)
{
	char peer[ADDR_STRLEN], alpn[SNIFF_ALPN_LEN + 1] = "-";
	struct alpn_iter it = { 0 };

	if (log_max < LOG_DEBUG)
		return;
	/* The ids are walked in the bytes the route was decided on. */
	sniff_alpn_next(s, c->w->peekbuf, c->s->sn.peeked, &it, alpn);
	pr_debug("conn client=%s sniffed=%zu%s proto=%s rule=\"%s\" sni=%s alpn=%s%s host=%s",
		 addr_str((const struct sockaddr *)&c->src, peer, sizeof(peer)),
		 c->s->sn.peeked, c->s->final_peek ? " (final)" : "", c->rt.proto,
		 c->rt.rule ? c->rt.rule->key : "-", s->has_sni ? s->sni : "-",
		 alpn, s->n_alpn > 1 ? ",..." : "", s->has_host ? s->host : "-");
}

/* ---- route ----------------------------------------------------------- */

/* REJECT: "close" reads what the client sent so close() sends a FIN, not
 * a RST; "rst" resets; "tls-alert" answers with a fatal alert first. */
static void conn_reject(struct conn *c, const struct rule *r)
{
	if (r->reject == REJECT_TLS_ALERT) {
		uint8_t rec[7] = { 21, 3, 3, 0, 2, 2, r->alert };

		if (send(c->cli.fd, rec, sizeof(rec), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			pr_debug("conn fd %d: TLS alert not sent: %s", c->cli.fd,
				 strerror(errno));
	}
	metrics_add(r->mx, c->w->id, MR_REJECTED, 1);
	if (r->reject == REJECT_RST)
		c->rst_client = true;
	else
		recv(c->cli.fd, c->w->peekbuf, S(c)->sniff_max, MSG_DONTWAIT | MSG_TRUNC);
	conn_end(c, ME_reject, 0);
}

static void conn_routed(struct conn *c, const struct sniff *s)
{
	const struct rule *r = c->rt.rule;

	timer_cancel(&c->w->loop.timers, &c->tm);
	conn_sniffing_del(c);
	log_sniff(c, s);
	if (r)
		metrics_add(r->mx, c->w->id, MR_MATCHED, 1);
	/* Sniffing knobs back to normal: the data path reads from byte 0 and
	 * wakes for every byte. */
	sniff_done(&c->s->sn);
	/* The client stays registered as it was (edge-triggered): until the
	 * bytes flow, its events only matter if they are errors, and the
	 * flow phase re-arms it, which reports an EOF that came meanwhile. */
	if (!r) {
		/* Decided on what came before a reset: the reset is why
		 * nothing could match, not the config. */
		conn_end(c, c->cli_err ? ME_client_reset : ME_no_route, c->cli_err);
		return;
	}
	if (r->action == ACT_REJECT) {
		conn_reject(c, r);
		return;
	}
	up_plan(&c->s->ut, &r->up, (const struct sockaddr *)&c->src, now_ms());
	if (c->s->kept)
		up_prefer(&c->s->ut, &c->s->kept_addr);
	conn_connect(c);
}

/* The client said nothing for on_timeout.after: a server-first protocol. */
static void conn_silent(struct conn *c)
{
	struct sniff s;

	memset(&s, 0, sizeof(s));
	c->rt.rule = c->l->on_timeout;
	c->rt.proto = "TIMEOUT";
	c->s->final_peek = true;
	conn_routed(c, &s);
}

void conn_resolved(struct conn *c)
{
	if (c->st == CS_RESOLVE) {
		timer_cancel(&c->w->loop.timers, &c->tm);
		conn_connect(c);
	}
}

/* ---- connect --------------------------------------------------------- */

static enum m_end connect_failure(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return ME_upstream_refused;
	case ETIMEDOUT:
		return ME_upstream_timeout;
	case ENETUNREACH:
	case EHOSTUNREACH:
	case ENETDOWN:
	case EHOSTDOWN:
	case EADDRNOTAVAIL:
	case EAFNOSUPPORT:
		return ME_upstream_unreachable;
	case ECONNRESET:
		return ME_upstream_reset;
	default:
		return ME_upstream_error;
	}
}

static uint64_t connect_timeout(const struct conn *c)
{
	uint64_t t = c->rt.rule->up.connect_timeout_ms;

	return t ? t : S(c)->connect_timeout_ms;
}

/* The rule's targets in the order up_plan chose, each address of each;
 * the next one on any failure.  A host name without an answer yet parks
 * the connection until the resolver wakes us. */
static void conn_connect(struct conn *c)
{
	const struct upstream *u = &c->rt.rule->up;
	struct sockaddr_storage sa;
	int r, fd = -1;

	for (;;) {
		r = up_next(&c->s->ut, &sa);
		if (r == 0) {
			c->st = CS_RESOLVE;
			timer_set(&c->w->loop.timers, &c->tm, now_ms() + connect_timeout(c));
			return;
		}
		if (r < 0) {
			conn_end(c, c->upaddr.sa.sa_family ? connect_failure(-r) : ME_resolve_failed, -r);
			return;
		}
		paddr_set(&c->upaddr, &sa);
		if (c->s->kept && paddr_eq(&c->s->kept_addr, &sa)) {
			/* The predecessor's connect, carried on (its upstream
			 * sees one connection, not one reset and another). */
			fd = c->s->kept_fd;
			c->s->kept = false;
			r = 0;
		} else {
			r = up_connect(u, &sa, (const struct sockaddr *)&c->src, &fd);
		}
		if (!r) {
			c->up.fd = fd;
			c->st = CS_CONNECT;
			/* Registered once for the relay's whole life (edge-
			 * triggered: it never changes); its first edge, with
			 * EPOLLOUT, says the connect completed. */
			ep_watch(c, &c->up, EP_RELAY);
			timer_set(&c->w->loop.timers, &c->tm, now_ms() + connect_timeout(c));
			return;
		}
		/* Out of fds or memory here: every other target would fail
		 * the same way, and it says nothing about this one. */
		if (err_no_resources(-r)) {
			conn_end(c, ME_no_resources, -r);
			return;
		}
		if (log_max >= LOG_DEBUG) {
			char a[ADDR_STRLEN];

			pr_debug("connect %s%s: %s",
				 addr_str((struct sockaddr *)&sa, a, sizeof(a)),
				 u->transparent ? " (transparent)" : "", strerror(-r));
		}
		up_result(&c->s->ut, -r, now_ms());
	}
}

static void connect_failed(struct conn *c, int err)
{
	char a[ADDR_STRLEN];

	pr_debug("connect %s: %s",
		 addr_str((struct sockaddr *)&c->upaddr, a, sizeof(a)), strerror(err));
	ep_watch(c, &c->up, 0);
	close(c->up.fd);
	c->up.fd = -1;
	up_result(&c->s->ut, err, now_ms());
	conn_connect(c);
}

/* send_proxy: the header to the freshly connected upstream, without
 * blocking: it is small and the send buffer empty, so it goes whole or
 * not at all.  0 or -errno (-EAGAIN if only part of it was taken). */
static int proxy_send(int fd, int version, const struct sockaddr *src,
		      const struct sockaddr *dst)
{
	uint8_t hdr[PROXY_HDR_MAX];
	int n = proxy_build(version, src, dst, hdr, sizeof(hdr));
	ssize_t w;

	if (n < 0)
		return n;
	w = send(fd, hdr, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (w < 0)
		return -errno;
	return w == n ? 0 : -EAGAIN;
}

/* A non-blocking connect that failed reports EPOLLERR (and EPOLLHUP) with
 * its EPOLLOUT: only then is SO_ERROR worth a syscall. */
static void conn_connected(struct conn *c, uint32_t events)
{
	int err = events & (EPOLLERR | EPOLLHUP) ? sock_error(c->up.fd) : 0;

	if (err || (events & EPOLLHUP)) {
		connect_failed(c, err ? err : ECONNREFUSED);
		return;
	}
	timer_cancel(&c->w->loop.timers, &c->tm);
	up_result(&c->s->ut, 0, now_ms());
	/* send_proxy: the header goes before the kernel takes the sockets,
	 * so that its bytes are not counted as the client's. */
	if (c->rt.rule->up.send_proxy) {
		err = proxy_send(c->up.fd, c->rt.rule->up.send_proxy,
				 (struct sockaddr *)&c->src, (struct sockaddr *)&c->dst);
		if (err) {
			conn_end(c, ME_proxy_send_failed, -err);
			return;
		}
	}
	conn_handoff(c);
}

/* ---- hand over to the kernel ------------------------------------------ */

/* Where the bytes go first.  In the default mode a connection starts in
 * the relay (userspace, no set-up at all) and moves to the kernel once it
 * has carried kernel_after bytes (flow.c): most connections are short,
 * and a short one costs less syscalls relayed than the map updates, psock
 * and drain checks of the kernel path.  --mode sockmap puts every
 * connection in the kernel at once, --mode splice in splice(2). */
static void conn_handoff(struct conn *c)
{
	int r;

	if (c->s->sn.pre_len) {
		/* The client's first bytes, read while sniffing: sent before
		 * anything else of its socket's. */
		struct dir *d = &c->d[DIR_UP];

		d->pend = sniff_take_pre(&c->s->sn, &d->pend_len);
		d->pend_off = 0;
		c->d[DIR_UP].relay = c->d[DIR_DOWN].relay = true;
	}
	if (c->cli_err) {
		/* Reset while we connected: its bytes go through splice(2)
		 * from its receive queue (the relay, if it read some), then
		 * the upstream gets the reset, as it would have without us
		 * (flow.c, flow_failed). */
		c->st = CS_FLOW;
		metrics_add(c->rt.rule->mx, c->w->id, MR_FORWARDED, 1);
		flow_failed(c, &c->cli, c->cli_err);
		conn_setup_done(c);
		return;
	}
	/* Bytes read while sniffing go through the relay whatever the mode
	 * (a live upgrade's predecessor may have read them under another):
	 * it promotes the connection once they are out. */
	if ((S(c)->mode == MODE_AUTO && S(c)->kernel_after) || c->d[DIR_UP].relay) {
		c->d[DIR_UP].relay = c->d[DIR_DOWN].relay = true;
		flow_start(c);
		return;
	}
	if (c->no_kernel) {
		pr_debug("conn fd %d: part of an skb was read (PROXY header): this connection uses splice",
			 c->cli.fd);
		flow_start(c);
		return;
	}
	r = flow_to_kernel(c, (uint64_t[2]){ c->consumed, 0 });
	if (r >= 0)
		flow_start(c);
}

/* ---- events ----------------------------------------------------------- */

static void endpoint_error(struct conn *c, struct endpoint *ep)
{
	int err = sock_error(ep->fd);

	pr_debug("conn fd %d: error on %s fd %d: %s", c->cli.fd,
		 ep == &c->cli ? "client" : "upstream", ep->fd, strerror(err));
	if (c->st == CS_FLOW) {
		flow_failed(c, ep, err ? err : ECONNRESET);
		return;
	}
	conn_end(c, ep == &c->cli ? ME_client_reset : ME_upstream_reset,
		 err ? err : ECONNRESET);
}

/* The client reset before its bytes flowed.  Without us, the server would
 * have read what it sent, then the reset: so the connection goes on (the
 * sniff decides on what arrived), and its bytes are delivered once the
 * upstream is connected (conn_handoff).  Reading SO_ERROR clears it: the
 * receive queue then reads to its end, then EOF. */
static void client_reset_early(struct conn *c)
{
	c->cli_err = (int16_t)sock_error(c->cli.fd);
	if (!c->cli_err)
		c->cli_err = ECONNRESET;
	pr_debug("conn fd %d: the client reset before its bytes flowed (%s): delivering what it sent",
		 c->cli.fd, strerror(c->cli_err));
	ep_watch(c, &c->cli, 0);
}

void conn_event(struct conn *c, struct endpoint *ep, uint32_t events)
{
	switch (c->st) {
	case CS_SNIFF:
		if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
			break;		/* room to write: nothing to sniff */
		if ((events & EPOLLERR) && ep == &c->cli && !c->cli_err) {
			client_reset_early(c);
			conn_sniff(c, true);
		} else if (events & EPOLLERR) {
			endpoint_error(c, ep);
		} else {
			conn_sniff(c, events & (EPOLLRDHUP | EPOLLHUP));
		}
		break;
	case CS_RESOLVE:
	case CS_CONNECT:
		if (ep == &c->up && c->st == CS_RESOLVE) {
			break;	/* a closed attempt's, late in this batch */
		} else if (ep == &c->up) {
			c->s->up_in = events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP);
			conn_connected(c, events);
		} else if ((events & EPOLLERR) && !c->cli_err) {
			client_reset_early(c);
		} else {
			/* Its edges are spent: see flow_start.  EPOLLIN is
			 * as of the event's delivery: bytes are queued. */
			if (events & (EPOLLRDHUP | EPOLLHUP))
				c->s->cli_hup = true;
			if (events & EPOLLIN)
				c->s->cli_in = true;
		}
		break;
	case CS_FLOW:
		flow_event(c, ep, events);
		break;
	case CS_DEAD:
		break;
	}
}

void conn_timer(struct conn *c)
{
	switch (c->st) {
	case CS_SNIFF:
		if (c->s->sn.trickle && now_ms() < c->t0_ms + S(c)->sniff_timeout_ms) {
			conn_sniff(c, false);	/* a poll */
			if (c->st == CS_SNIFF && c->tm.idx < 0)
				sniff_poll(c, sniff_next_poll(&c->s->sn));
			break;
		}
		if (c->s->silent_armed) {
			c->s->silent_armed = false;
			if (!c->s->final_peek && !sniff_queued(&c->s->sn)) {
				conn_silent(c);
				break;
			}
			timer_set(&c->w->loop.timers, &c->tm, c->t0_ms + S(c)->sniff_timeout_ms);
			break;
		}
		/* A client that sent nothing, with on_timeout: its route. */
		if (c->l->on_timeout && !c->s->final_peek && !sniff_queued(&c->s->sn)) {
			conn_silent(c);
			break;
		}
		/* Silent or slow client: decide on what arrived so far. */
		metrics_add(c->l->mx, c->w->id, ML_SNIFF_TIMEOUTS, 1);
		conn_sniff(c, true);
		break;
	case CS_RESOLVE:
		/* No answer for this target's name in time: the next one. */
		up_skip(&c->s->ut, ETIMEDOUT);
		conn_connect(c);
		break;
	case CS_CONNECT:
		connect_failed(c, ETIMEDOUT);
		break;
	case CS_FLOW:
		flow_tick(c);
		break;
	default:
		break;
	}
}

