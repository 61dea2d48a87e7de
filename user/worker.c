// SPDX-License-Identifier: GPL-2.0
/* The event loop: listeners, accept, timers, dispatch to conn.c. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "sockmap.h"
#include "splice.h"
#include "takeover.h"
#include "util.h"
#include "worker.h"

#define EP_ON (1u << 26)
#define ACCEPT_BATCH 64
#define PIPES_IDLE_MS 1000	/* then a worker without connections closes its spare pipes */
#define ACCEPT_PAUSE_MS 100
#define KSWEEP_MS 1000	/* how often lost back-pressure events are looked for */

int worker_watch(struct worker *w, struct evsrc *ev, int fd, uint32_t events,
		 uint32_t *cur)
{
	struct epoll_event e = { .events = events & ~EP_ON, .data.ptr = ev };
	int op;

	if (events == *cur)
		return 0;
	if (!events)
		op = EPOLL_CTL_DEL;
	else if (!*cur)
		op = EPOLL_CTL_ADD;
	else
		op = EPOLL_CTL_MOD;
	if (epoll_ctl(w->epfd, op, fd, &e)) {
		int err = -errno;

		pr_err("worker %d: epoll_ctl(%d, fd %d): %s", w->id, op, fd,
		       strerror(-err));
		return err;
	}
	*cur = events;
	return 0;
}

static struct worker *registry;
static int nregistry;

void worker_registry(struct worker *ws, int n)
{
	registry = ws;
	nregistry = n;
}

int worker_slot_get(struct worker *w, uint32_t *slot, struct conn *c)
{
	if (!w->nfree)
		return -ENOSPC;
	*slot = w->free_slots[--w->nfree];
	w->slot_conn[*slot - w->slot_base] = c;
	return 0;
}

void worker_slot_put(struct worker *w, uint32_t slot)
{
	w->slot_conn[slot - w->slot_base] = NULL;
	w->free_slots[w->nfree++] = slot;
}

/* Act on a back-pressure event in the worker owning the connection. */
static void kevent_apply(struct worker *w, const struct pt_event *ev)
{
	uint32_t slot = ev->idx / 2;
	struct conn *c;

	if (slot < w->slot_base || slot - w->slot_base >= w->nslots)
		return;
	c = w->slot_conn[slot - w->slot_base];
	if (c)
		conn_frozen(c, ev->idx % 2, ev->gen);
}

/* The ring was full at some point (PT_STAT_EVENT_LOST moved): the
 * freezes it could not report are in the slots' modes. */
static void kevent_sweep(struct worker *w, uint64_t now)
{
	uint64_t lost;

	timer_set(&w->timers, &w->ksweep, now + KSWEEP_MS);
	if (!w->nconns || kpath_stat(PT_STAT_EVENT_LOST, &lost) || lost == w->events_lost)
		return;
	w->events_lost = lost;
	for (struct conn *c = w->conns, *next; c; c = next) {
		next = c->next;
		if (c->st == CS_FLOW && c->kernel)
			flow_resync(c);
	}
}

/* Runs in whichever worker drained the ring; the connection belongs to
 * the worker owning its slot. */
static void kevent_dispatch(const struct pt_event *ev, void *ctx)
{
	struct worker *self = ctx;
	uint32_t slot = ev->idx / 2;

	for (int i = 0; i < nregistry; i++) {
		struct worker *o = &registry[i];
		uint64_t one = 1;

		if (slot < o->slot_base || slot - o->slot_base >= o->nslots)
			continue;
		if (o == self) {
			kevent_apply(o, ev);
			return;
		}
		pthread_mutex_lock(&o->evmu);
		if (o->nevq == o->capevq) {
			int cap = o->capevq ? 2 * o->capevq : 64;
			struct pt_event *q = realloc(o->evq, cap * sizeof(*q));

			if (!q) {
				pthread_mutex_unlock(&o->evmu);
				pr_err("back-pressure event lost: out of memory");
				return;
			}
			o->evq = q;
			o->capevq = cap;
		}
		o->evq[o->nevq++] = *ev;
		pthread_mutex_unlock(&o->evmu);
		if (write(o->wakefd, &one, sizeof(one)) < 0) {
			/* a wakeup is already pending */
		}
		return;
	}
}

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
	 * them); a send buffer above the back-pressure limit (sockmap.c). */
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

	fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
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

int worker_setup(struct worker *w, int id, struct config *cfg,
		 uint32_t slot_base, uint32_t nslots, int nworkers)
{
	int err;

	memset(w, 0, sizeof(*w));
	w->id = id;
	w->cfg = config_get(cfg);
	w->max_sniff = (uint32_t)(cfg->set.max_sniffing / nworkers);
	if (!w->max_sniff)
		w->max_sniff = 1;
	w->wakefd = -1;
	w->slot_base = slot_base;
	w->nslots = nslots;
	w->max_conns = nslots;
	timer_init(&w->accept_retry);
	timer_init(&w->pipes_idle);
	timer_init(&w->ksweep);
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0)
		return -errno;
	w->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->wakefd < 0)
		return -errno;
	w->wake_ev.kind = EV_WAKE;
	{
		uint32_t cur = 0;

		err = worker_watch(w, &w->wake_ev, w->wakefd, EPOLLIN | EP_ON, &cur);
		if (err)
			return err;
	}
	pthread_mutex_init(&w->evmu, NULL);
	if (kpath_events_fd() >= 0) {
		struct epoll_event e = { .events = EPOLLIN | EPOLLEXCLUSIVE,
					 .data.ptr = &w->kev_ev };

		w->kev_ev.kind = EV_KEVENT;
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, kpath_events_fd(), &e))
			return -errno;
	}
	w->slot_conn = calloc(nslots, sizeof(*w->slot_conn));
	/* Sized for any configuration a reload may bring: resizing it from
	 * the worker would write sniff_max into a configuration all workers
	 * share, while they read it. */
	w->peekbuf = malloc(SNIFF_MAX_LIMIT);
	w->free_slots = malloc(nslots * sizeof(*w->free_slots));
	if (!w->peekbuf || !w->free_slots || !w->slot_conn)
		return -ENOMEM;
	for (uint32_t i = 0; i < nslots; i++)
		w->free_slots[i] = slot_base + nslots - 1 - i;
	w->nfree = nslots;
	return 0;
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

static void ls_free_retired(struct worker *w)
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

				epoll_ctl(w->epfd, EPOLL_CTL_MOD, grown[i].fd, &e);
			}
	w->ls = grown;
	memset(&w->ls[w->nls], 0, sizeof(w->ls[0]));
	w->ls[w->nls].ev.kind = EV_LISTEN;
	w->ls[w->nls].l = l;
	w->ls[w->nls].w = w;
	w->ls[w->nls].fd = fd;
	err = worker_watch(w, &w->ls[w->nls].ev, fd, EPOLLIN | EP_ON, &cur);
	if (err)
		return err;
	w->nls++;
	return 0;
}

int worker_listen(struct worker *w)
{
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
	return 0;
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

int worker_slot_claim(struct worker *w, uint32_t slot, struct conn *c)
{
	for (uint32_t i = 0; i < w->nfree; i++) {
		if (w->free_slots[i] != slot)
			continue;
		w->free_slots[i] = w->free_slots[--w->nfree];
		w->slot_conn[slot - w->slot_base] = c;
		return 0;
	}
	return -ENOENT;
}

void worker_handover(struct worker *w, struct handover *h)
{
	uint64_t one = 1;

	__atomic_store_n(&w->handover, h, __ATOMIC_RELEASE);
	if (write(w->wakefd, &one, sizeof(one)) < 0) {
		/* a wakeup is already pending */
	}
}

/* Out of fds (or connections): stop accepting for a moment instead of
 * spinning on a listener that stays readable. */
static void listeners_pause(struct worker *w, bool timed)
{
	for (int i = 0; i < w->nls; i++) {
		if (w->ls[i].paused)
			continue;
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->ls[i].fd, NULL);
		w->ls[i].paused = true;
	}
	if (timed)
		timer_set(&w->timers, &w->accept_retry, now_ms() + ACCEPT_PAUSE_MS);
}

static void listeners_resume(struct worker *w)
{
	for (int i = 0; i < w->nls; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.ptr = &w->ls[i].ev };

		if (!w->ls[i].paused || w->ls[i].fd < 0)
			continue;
		if (!epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->ls[i].fd, &e))
			w->ls[i].paused = false;
	}
}

static void on_accept(struct worker *w, struct lsock *ls)
{
	static __thread uint64_t last_warn;

	for (int i = 0; i < ACCEPT_BATCH && !w->stop; i++) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int fd;

		if (w->nconns >= w->max_conns) {
			/* Resumed when a connection ends. */
			listeners_pause(w, false);
			if (now_ms() - last_warn > 1000) {
				last_warn = now_ms();
				pr_warn("worker %d: %u connections, the limit: not accepting",
					w->id, w->nconns);
			}
			return;
		}
		memset(&peer, 0, sizeof(peer));
		fd = accept4(ls->fd, (struct sockaddr *)&peer, &len,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			switch (errno) {
			case EAGAIN:
				return;
			case EINTR:
			case ECONNABORTED:
			case EPROTO:
				continue;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				if (now_ms() - last_warn > 1000) {
					last_warn = now_ms();
					pr_warn("servers.\"%s\": accept: %s: pausing accepts for %d ms",
						ls->l->text, strerror(errno), ACCEPT_PAUSE_MS);
				}
				listeners_pause(w, true);
				return;
			default:
				pr_err("servers.\"%s\": accept: %s", ls->l->text,
				       strerror(errno));
				return;
			}
		}
		conn_accept(w, ls, fd, &peer);
	}
}

static bool same_listen(const struct listener *a, const struct listener *b)
{
	return a->addrlen == b->addrlen && a->v6only == b->v6only &&
	       !memcmp(&a->addr, &b->addr, a->addrlen);
}

/* Runs in the worker: listeners whose address stays keep their socket
 * (and its accept queue), new ones are bound, gone ones closed. */
static void adopt_config(struct worker *w)
{
	struct config *ncfg = __atomic_exchange_n(&w->next_cfg, NULL, __ATOMIC_ACQ_REL);
	struct lsock *nls;
	bool *taken;
	int n = 0;

	if (!ncfg)
		return;
	nls = calloc(ncfg->nlisteners + 1, sizeof(*nls));
	taken = calloc(w->nls + 1, sizeof(*taken));
	/* The old array outlives this batch of events (ls_retire). */
	if (nls && taken && ls_retire(w, w->ls, w->nls)) {
		free(nls);
		nls = NULL;
	}
	if (!nls || !taken) {
		pr_err("worker %d: reload: out of memory: keeping the running configuration",
		       w->id);
		free(nls);
		free(taken);
		config_put(ncfg);
		return;
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
				epoll_ctl(w->epfd, EPOLL_CTL_MOD, ls->fd, &e);
		} else {
			uint32_t cur = 0;

			err = listen_socket(l, &ls->fd);
			if (err) {
				pr_err("worker %d: reload: servers.\"%s\": cannot listen: %s",
				       w->id, l->text, strerror(-err));
				continue;
			}
			worker_watch(w, &ls->ev, ls->fd, EPOLLIN | EP_ON, &cur);
		}
		n++;
	}
	for (int j = 0; j < w->nls; j++) {
		if (taken[j] || w->ls[j].fd < 0)
			continue;
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->ls[j].fd, NULL);
		close(w->ls[j].fd);
	}
	free(taken);
	w->ls = nls;
	w->nls = n;
	w->max_sniff = (uint32_t)(ncfg->set.max_sniffing / (nregistry ? nregistry : 1));
	if (!w->max_sniff)
		w->max_sniff = 1;
	config_put(w->cfg);
	__atomic_store_n(&w->cfg, ncfg, __ATOMIC_RELEASE);
}

void worker_adopt(struct worker *w, struct config *cfg)
{
	uint64_t one = 1;
	struct config *old = __atomic_exchange_n(&w->next_cfg, config_get(cfg),
						 __ATOMIC_ACQ_REL);

	config_put(old);	/* a reload the worker had not taken yet */
	if (write(w->wakefd, &one, sizeof(one)) < 0) {
		/* a wakeup is already pending */
	}
}

static void on_wake(struct worker *w)
{
	uint64_t v;

	if (read(w->wakefd, &v, sizeof(v)) < 0) {
		/* EAGAIN: someone else drained it */
	}
	if (__atomic_load_n(&w->handover, __ATOMIC_ACQUIRE)) {
		handover_worker(w, w->handover);
		/* The successor failed: carry on where we were. */
		__atomic_store_n(&w->handover, NULL, __ATOMIC_RELEASE);
	}
	adopt_config(w);
	for (;;) {
		struct pt_event ev;

		pthread_mutex_lock(&w->evmu);
		if (!w->nevq) {
			pthread_mutex_unlock(&w->evmu);
			break;
		}
		ev = w->evq[--w->nevq];
		pthread_mutex_unlock(&w->evmu);
		kevent_apply(w, &ev);
	}
	/* A name resolved: retry every parked connection. */
	for (struct conn *c = w->conns, *next; c; c = next) {
		next = c->next;
		if (c->st == CS_RESOLVE)
			conn_resolved(c);
	}
}

static void reap(struct worker *w)
{
	while (w->dead) {
		struct conn *c = w->dead;

		w->dead = c->next;
		config_put(c->cfg);
		conn_free_owned(c);
		free(c);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[256];

	if (kpath_events_fd() >= 0)
		kevent_sweep(w, now_ms());

	while (!w->stop) {
		struct timer *t;
		uint64_t now = now_ms();
		int n, wait;

		if (w->drain_until) {
			/* Closing the listening sockets ends accepting here;
			 * the other workers' sockets and the kernel keep
			 * the port until the last one closes. */
			for (int i = 0; i < w->nls; i++) {
				if (w->ls[i].fd < 0)
					continue;
				epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->ls[i].fd, NULL);
				close(w->ls[i].fd);
				w->ls[i].fd = -1;
			}
			if (!w->nconns || now >= w->drain_until)
				break;
		}
		wait = timer_wait_ms(&w->timers, now);
		if (w->drain_until) {
			int left = (int)(w->drain_until - now);

			wait = wait < 0 || wait > left ? left : wait;
		}
		n = epoll_wait(w->epfd, evs, ARRAY_SIZE(evs), wait);
		if (n < 0 && errno != EINTR) {
			pr_err("worker %d: epoll_wait: %s", w->id, strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			struct evsrc *ev = evs[i].data.ptr;

			switch (ev->kind) {
			case EV_RETIRED:
				break;
			case EV_LISTEN:
				on_accept(w, (struct lsock *)ev);
				break;
			case EV_WAKE:
				on_wake(w);
				break;
			case EV_KEVENT:
				kpath_events_consume(kevent_dispatch, w);
				break;
			case EV_CLIENT:
				conn_event(container_of(ev, struct conn, cli.ev),
					   (struct endpoint *)ev, evs[i].events);
				break;
			case EV_UPSTREAM:
				conn_event(container_of(ev, struct conn, up.ev),
					   (struct endpoint *)ev, evs[i].events);
				break;
			}
		}
		if (w->nls_retired)
			ls_free_retired(w);
		now = now_ms();
		while ((t = timer_pop_due(&w->timers, now))) {
			if (t == &w->accept_retry)
				listeners_resume(w);
			else if (t == &w->pipes_idle)
				splice_pool_flush();	/* an idle worker holds no pipes */
			else if (t == &w->ksweep)
				kevent_sweep(w, now);
			else
				conn_timer(container_of(t, struct conn, tm));
		}
		if (w->dead) {
			reap(w);
			if (w->nconns < w->max_conns && w->accept_retry.idx < 0)
				listeners_resume(w);
			if (!w->nconns && splice_pool_size())
				timer_set(&w->timers, &w->pipes_idle, now + PIPES_IDLE_MS);
		}
		if (w->nconns && w->pipes_idle.idx >= 0)
			timer_cancel(&w->timers, &w->pipes_idle);
	}
	if (w->nconns)
		pr_info("worker %d: closing %u connection%s still open", w->id,
			w->nconns, w->nconns == 1 ? "" : "s");
	for (struct conn *c = w->conns, *next; c; c = next) {
		next = c->next;
		conn_shutdown(c);
	}
	reap(w);
	splice_pool_flush();
	w->done = true;
	return NULL;
}

void worker_drain(struct worker *w, uint64_t deadline_ms)
{
	uint64_t one = 1;

	w->drain_until = deadline_ms ? deadline_ms : 1;
	if (w->wakefd >= 0 && write(w->wakefd, &one, sizeof(one)) < 0) {
		/* already signalled */
	}
}

int worker_start(struct worker *w)
{
	int err = pthread_create(&w->thr, NULL, worker_main, w);

	return err ? -err : 0;
}

void worker_stop(struct worker *w)
{
	uint64_t one = 1;

	w->stop = true;
	if (w->wakefd >= 0 && write(w->wakefd, &one, sizeof(one)) < 0) {
		/* already signalled */
	}
}

void worker_join(struct worker *w)
{
	pthread_join(w->thr, NULL);
}

void worker_cleanup(struct worker *w)
{
	/* Connections left here were never run by this process (a takeover
	 * that failed before the workers started: the predecessor still
	 * carries them).  Drop our copies without touching the kernel's
	 * state or the peers: plain close() of duplicated fds. */
	while (w->conns) {
		struct conn *c = w->conns;
		int fds[6] = { c->cli.fd, c->up.fd, c->d[0].pipe[0], c->d[0].pipe[1],
			       c->d[1].pipe[0], c->d[1].pipe[1] };

		w->conns = c->next;
		for (int i = 0; i < 6; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		config_put(c->cfg);
		conn_free_owned(c);
		free(c);
	}
	reap(w);
	for (int i = 0; i < w->nls; i++)
		if (w->ls[i].fd >= 0)
			close(w->ls[i].fd);
	free(w->ls);
	ls_free_retired(w);
	free(w->peekbuf);
	free(w->free_slots);
	free(w->slot_conn);
	free(w->evq);
	pthread_mutex_destroy(&w->evmu);
	timer_heap_free(&w->timers);
	config_put(w->cfg);
	w->cfg = NULL;
	if (w->wakefd >= 0)
		close(w->wakefd);
	if (w->epfd >= 0)
		close(w->epfd);
}
