// SPDX-License-Identifier: GPL-2.0
/* A worker's listening sockets: bound (one SO_REUSEPORT socket per listen
 * address and worker), accepted from in batches, paused when out of fds
 * or connections, and carried across a reload. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn/conn.h"
#include "conn/listen.h"
#include "conn/udp.h"
#include "base/log.h"
#include "datapath/kpath.h"
#include "datapath/steer.h"
#include "base/util.h"
#include "conn/worker.h"

#define ACCEPT_BATCH 64
#define ACCEPT_PAUSE_MS 100

static int listen_socket(const struct listener *l, int *out)
{
	int one = 1, fd;

	fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))
		goto fail;
	if (l->addr.ss_family == AF_INET6) {
		int v6only = l->v6only;

		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)))
			goto fail;
	}
	/* Accepted sockets inherit these: one call per listener instead of
	 * one per connection.  No Nagle (segments leave as the peer sent
	 * them); a send buffer above the back-pressure limit (kpath.c). */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	sock_set_buf(fd, false, kpath_sndbuf());
	sock_set_buf(fd, true, kpath_rcvbuf());
	if (bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) ||
	    listen(fd, SOMAXCONN))
		goto fail;
	*out = fd;
	return 0;
fail:
	{
		int err = -errno;

		close(fd);
		return err;
	}
}

/* Workers share each port through SO_REUSEPORT, which would just as
 * silently share it with a second passthru (or anything else of ours)
 * already there, splitting the traffic.  A bind without SO_REUSEPORT
 * fails if anyone holds the address. */
int listener_available(const struct listener *l)
{
	int one = 1, err = 0, fd;

	fd = socket(l->addr.ss_family, (l->udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l->addr.ss_family == AF_INET6) {
		int v6only = l->v6only;

		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
	}
	if (bind(fd, (const struct sockaddr *)&l->addr, l->addrlen))
		err = -errno;
	close(fd);
	return err;
}

/* An array of listening sockets leaves use: what it points to is dead
 * for the events of this batch (EV_RETIRED), and it is freed after it. */
static int ls_retire(struct worker *w, struct lsock *old, int n)
{
	struct lsock **r = realloc(w->ls_retired, (w->nls_retired + 1) * sizeof(*r));

	if (!r)
		return -ENOMEM;
	for (int i = 0; i < n; i++)
		old[i].ev.kind = EV_RETIRED;
	w->ls_retired = r;
	w->ls_retired[w->nls_retired++] = old;
	return 0;
}

void listen_free_retired(struct worker *w)
{
	for (int i = 0; i < w->nls_retired; i++)
		free(w->ls_retired[i]);
	free(w->ls_retired);
	w->ls_retired = NULL;
	w->nls_retired = 0;
}

static int ls_append(struct worker *w, const struct listener *l, int fd)
{
	struct lsock *grown = realloc(w->ls, (w->nls + 1) * sizeof(*grown));
	uint32_t cur = 0;
	int err;

	if (!grown)
		return -ENOMEM;
	/* epoll holds pointers into the array: register again after a move */
	if (grown != w->ls)
		for (int i = 0; i < w->nls; i++)
			if (grown[i].fd >= 0 && !grown[i].paused) {
				struct epoll_event e = { .events = EPOLLIN, .data.ptr = &grown[i].ev };

				epoll_ctl(w->loop.epfd, EPOLL_CTL_MOD, grown[i].fd, &e);
			}
	w->ls = grown;
	memset(&w->ls[w->nls], 0, sizeof(w->ls[0]));
	w->ls[w->nls].ev.kind = EV_LISTEN;
	w->ls[w->nls].l = l;
	w->ls[w->nls].w = w;
	w->ls[w->nls].fd = fd;
	err = loop_watch(&w->loop, &w->ls[w->nls].ev, fd, EPOLLIN | EP_ON, &cur);
	if (err)
		return err;
	w->nls++;
	steer_join(fd, w->id);
	return 0;
}

int worker_listen(struct worker *w)
{
	int uerr;

	for (int i = 0; i < w->cfg->nlisteners; i++) {
		const struct listener *l = &w->cfg->listeners[i];
		bool have = false;
		int fd, err;

		for (int j = 0; j < w->nls; j++)
			have |= w->ls[j].l == l && w->ls[j].fd >= 0;
		if (have)
			continue;
		err = listen_socket(l, &fd);
		if (err) {
			pr_err("servers.\"%s\": cannot listen: %s%s", l->text, strerror(-err),
			       err == -EACCES ? " (ports below 1024 need root or CAP_NET_BIND_SERVICE)" : "");
			return err;
		}
		err = ls_append(w, l, fd);
		if (err) {
			close(fd);
			return err;
		}
	}
	/* UDP listeners: never inherited by a takeover, always bound here. */
	uerr = udp_listen(w);
	return uerr;
}

int worker_add_listener(struct worker *w, const struct sockaddr_storage *addr,
			socklen_t addrlen, int fd)
{
	for (int i = 0; i < w->cfg->nlisteners; i++) {
		const struct listener *l = &w->cfg->listeners[i];

		if (l->addrlen == addrlen && !memcmp(&l->addr, addr, addrlen))
			return ls_append(w, l, fd);
	}
	return -ENOENT;	/* no longer configured: the caller closes it */
}

/* Out of fds (or connections): stop accepting for a moment instead of
 * spinning on a listener that stays readable. */
void listen_pause(struct worker *w, bool timed)
{
	for (int i = 0; i < w->nls; i++) {
		if (w->ls[i].paused)
			continue;
		epoll_ctl(w->loop.epfd, EPOLL_CTL_DEL, w->ls[i].fd, NULL);
		w->ls[i].paused = true;
	}
	w->accept_paused = true;
	listen_steer(w);
	if (timed)
		timer_set(&w->loop.timers, &w->accept_retry, now_ms() + ACCEPT_PAUSE_MS);
}

void listen_resume(struct worker *w)
{
	for (int i = 0; i < w->nls; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.ptr = &w->ls[i].ev };

		if (!w->ls[i].paused || w->ls[i].fd < 0)
			continue;
		if (!epoll_ctl(w->loop.epfd, EPOLL_CTL_ADD, w->ls[i].fd, &e))
			w->ls[i].paused = false;
	}
	w->accept_paused = false;
	listen_steer(w);
}

/* Accept steering gives new connections to a worker with room: not near
 * its share of max_connections, of max_sniffing (past it the oldest
 * sniffing connection would be evicted while another worker has room),
 * or of the kernel path's slots.  Near: an eighth of the share before
 * it, because the kernel has already queued on this worker's socket the
 * connections of a burst that it has not accepted yet (a flood of 10k
 * silent clients overshot by a dozen). */
static bool near(uint32_t used, uint32_t share)
{
	return used + share / 8 >= share;
}

void listen_steer(struct worker *w)
{
	bool full = w->accept_paused || near(w->nconns, w->max_conns) ||
		    near(w->nsniff, w->max_sniff) ||
		    (w->slots.n && near(w->slots.n - w->slots.nfree, w->slots.n));

	if (full != w->steer_full) {
		w->steer_full = full;
		steer_closed(w->id, full);
	}
}

/* Resumed when a connection ends. */
static void at_limit(struct worker *w)
{
	static __thread uint64_t last_warn;

	listen_pause(w, false);
	if (now_ms() - last_warn > 1000) {
		last_warn = now_ms();
		pr_warn("worker %d: %u connections, the limit: not accepting", w->id, w->nconns);
	}
}

void listen_accept(struct worker *w, struct lsock *ls)
{
	static __thread uint64_t last_warn;

	for (int i = 0; i < ACCEPT_BATCH && !w->stop; i++) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int fd;

		if (w->nconns >= w->max_conns) {
			at_limit(w);
			return;
		}
		memset(&peer, 0, sizeof(peer));
		fd = accept4(ls->fd, (struct sockaddr *)&peer, &len,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (err_no_resources(errno)) {
				if (now_ms() - last_warn > 1000) {
					last_warn = now_ms();
					pr_warn("servers.\"%s\": accept: %s: pausing accepts for %d ms",
						ls->l->text, strerror(errno), ACCEPT_PAUSE_MS);
				}
				listen_pause(w, true);
				return;
			}
			switch (errno) {
			case EAGAIN:
				return;
			case EINTR:
			case ECONNABORTED:
			case EPROTO:
				continue;
			default:
				pr_err("servers.\"%s\": accept: %s", ls->l->text,
				       strerror(errno));
				return;
			}
		}
		conn_accept(w, ls, fd, &peer);
		/* At a limit now: say so before the next connection comes,
		 * or steering would queue it here rather than on a worker
		 * that can take it. */
		if (w->nconns >= w->max_conns) {
			at_limit(w);
			return;
		}
		listen_steer(w);
	}
}

/* Tests: a reload's bind of this port fails (PT_TEST_RELOAD_BIND_FAIL=
 * PORT), as when another socket takes the port between the reload's
 * check and the worker's bind. */
static bool test_bind_fail(const struct listener *l)
{
	const char *t = getenv("PT_TEST_RELOAD_BIND_FAIL");

	return t && (uint16_t)atoi(t) == addr_port((const struct sockaddr *)&l->addr);
}

static bool same_listen(const struct listener *a, const struct listener *b)
{
	return a->addrlen == b->addrlen && a->v6only == b->v6only &&
	       !memcmp(&a->addr, &b->addr, a->addrlen);
}

/* A reload: listeners whose address stays keep their socket (and its
 * accept queue), new ones are bound, gone ones closed.  The old array
 * outlives this batch of events (ls_retire).  The number of new ones
 * that could not be bound (logged; a later reload tries them again), or
 * -ENOMEM (nothing changed). */
int listen_adopt(struct worker *w, const struct config *ncfg)
{
	struct lsock *nls;
	bool *taken;
	int n = 0, failed = 0;

	nls = calloc(ncfg->nlisteners + 1, sizeof(*nls));
	taken = calloc(w->nls + 1, sizeof(*taken));
	if (nls && taken && ls_retire(w, w->ls, w->nls)) {
		free(nls);
		nls = NULL;
	}
	if (!nls || !taken) {
		free(nls);
		free(taken);
		return -ENOMEM;
	}
	for (int i = 0; i < ncfg->nlisteners; i++) {
		struct lsock *ls = &nls[n];
		const struct listener *l = &ncfg->listeners[i];
		int j, err;

		for (j = 0; j < w->nls; j++)
			if (!taken[j] && w->ls[j].fd >= 0 && same_listen(w->ls[j].l, l))
				break;
		ls->ev.kind = EV_LISTEN;
		ls->l = l;
		ls->w = w;
		if (j < w->nls) {
			struct epoll_event e = { .events = EPOLLIN, .data.ptr = &ls->ev };

			taken[j] = true;
			ls->fd = w->ls[j].fd;
			ls->paused = w->ls[j].paused;
			if (!ls->paused)
				epoll_ctl(w->loop.epfd, EPOLL_CTL_MOD, ls->fd, &e);
		} else {
			uint32_t cur = 0;

			err = test_bind_fail(l) ? -EADDRINUSE : listen_socket(l, &ls->fd);
			if (err) {
				pr_err("worker %d: reload: servers.\"%s\": cannot listen: %s",
				       w->id, l->text, strerror(-err));
				failed++;
				continue;
			}
			loop_watch(&w->loop, &ls->ev, ls->fd, EPOLLIN | EP_ON, &cur);
			steer_join(ls->fd, w->id);
		}
		n++;
	}
	for (int j = 0; j < w->nls; j++) {
		if (taken[j] || w->ls[j].fd < 0)
			continue;
		epoll_ctl(w->loop.epfd, EPOLL_CTL_DEL, w->ls[j].fd, NULL);
		steer_leave(w->ls[j].fd, w->id);
		close(w->ls[j].fd);
	}
	free(taken);
	w->ls = nls;
	w->nls = n;
	return failed;
}

void listen_close(struct worker *w)
{
	for (int i = 0; i < w->nls; i++) {
		if (w->ls[i].fd < 0)
			continue;
		epoll_ctl(w->loop.epfd, EPOLL_CTL_DEL, w->ls[i].fd, NULL);
		steer_leave(w->ls[i].fd, w->id);
		close(w->ls[i].fd);
		w->ls[i].fd = -1;
	}
}
