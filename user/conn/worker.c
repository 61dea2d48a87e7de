// SPDX-License-Identifier: GPL-2.0
/* The event loop: listeners, accept, timers, dispatch to conn.c. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn/conn.h"
#include "conn/listen.h"
#include "conn/udp.h"
#include "base/log.h"
#include "datapath/kpath.h"
#include "datapath/splice.h"
#include "datapath/steer.h"
#include "base/util.h"
#include "conn/worker.h"

#define PIPES_IDLE_MS 1000	/* then a worker without connections closes its spare pipes */
#define KSWEEP_MS 1000	/* how often lost back-pressure events are looked for */

static struct worker *registry;
static int nregistry;

void worker_registry(struct worker *ws, int n)
{
	registry = ws;
	nregistry = n;
}

/* Act on a back-pressure event in the worker owning the connection. */
static void kevent_apply(struct worker *w, const struct pt_event *ev)
{
	struct conn *c = slots_owner(&w->slots, ev->idx / 2);

	if (c)
		flow_frozen(c, ev->idx % 2, ev->gen);
}

/* The ring was full at some point (PT_STAT_EVENT_LOST moved): the
 * freezes it could not report are in the slots' modes. */
static void kevent_sweep(struct worker *w, uint64_t now)
{
	uint64_t lost;

	timer_set(&w->loop.timers, &w->ksweep, now + KSWEEP_MS);
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

		if (slot < o->slots.base || slot - o->slots.base >= o->slots.n)
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
	w->max_conns = (uint32_t)(cfg->set.max_connections / nworkers);
	timer_init(&w->accept_retry);
	timer_init(&w->pipes_idle);
	timer_init(&w->ksweep);
	w->loop.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->loop.epfd < 0)
		return -errno;
	w->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->wakefd < 0)
		return -errno;
	w->wake_ev.kind = EV_WAKE;
	{
		uint32_t cur = 0;

		err = loop_watch(&w->loop, &w->wake_ev, w->wakefd, EPOLLIN | EP_ON, &cur);
		if (err)
			return err;
	}
	pthread_mutex_init(&w->evmu, NULL);
	if (kpath_events_fd() >= 0) {
		struct epoll_event e = { .events = EPOLLIN | EPOLLEXCLUSIVE,
					 .data.ptr = &w->kev_ev };

		w->kev_ev.kind = EV_KEVENT;
		if (epoll_ctl(w->loop.epfd, EPOLL_CTL_ADD, kpath_events_fd(), &e))
			return -errno;
	}
	/* Sized for any configuration a reload may bring: resizing it from
	 * the worker would write sniff_max into a configuration all workers
	 * share, while they read it. */
	w->peekbuf = malloc(SNIFF_MAX_LIMIT);
	if (!w->peekbuf)
		return -ENOMEM;
	err = udp_setup(w, nworkers);
	if (err)
		return err;
	return slots_init(&w->slots, slot_base, nslots);
}

void worker_run(struct worker *w, struct worker_job *job)
{
	uint64_t one = 1;

	__atomic_store_n(&w->job, job, __ATOMIC_RELEASE);
	if (write(w->wakefd, &one, sizeof(one)) < 0) {
		/* a wakeup is already pending */
	}
}

bool worker_job_done(struct worker *w)
{
	return !__atomic_load_n(&w->job, __ATOMIC_ACQUIRE);
}

/* Runs in the worker, between two rounds of events: its listeners and
 * new connections move to the new configuration. */
static void adopt_config(struct worker *w)
{
	struct config *ncfg = __atomic_exchange_n(&w->next_cfg, NULL, __ATOMIC_ACQ_REL);

	if (!ncfg)
		return;
	int unbound = listen_adopt(w, ncfg);

	if (unbound < 0) {
		pr_err("worker %d: reload: out of memory: keeping the running configuration",
		       w->id);
		config_put(ncfg);
		return;
	}
	if (udp_adopt(w, ncfg)) {
		pr_err("worker %d: reload: a UDP listener could not be bound (see above)", w->id);
		unbound++;
	}
	w->reload_unbound = unbound;
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
	{
		struct worker_job *j = __atomic_load_n(&w->job, __ATOMIC_ACQUIRE);

		if (j) {
			j->fn(w, j->arg);
			__atomic_store_n(&w->job, NULL, __ATOMIC_RELEASE);
		}
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

/* The nearer of two epoll_wait timeouts (-1: none). */
static int sooner(int a, int b)
{
	return a < 0 || (b >= 0 && b < a) ? b : a;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[256];
	int cpu = steer_cpu(w->id);
	char name[16];

	/* For top -H, perf and the tests: which thread is which worker. */
	snprintf(name, sizeof(name), "passthru-w%d", w->id);
	pthread_setname_np(pthread_self(), name);
	if (cpu >= 0) {
		/* Where the program sends this worker's connections: their
		 * sockets' softirq work and wake-ups stay on one CPU. */
		cpu_set_t cs;
		int err;

		CPU_ZERO(&cs);
		CPU_SET(cpu, &cs);
		err = pthread_setaffinity_np(pthread_self(), sizeof(cs), &cs);
		if (err)
			pr_warn("worker %d: pinning to CPU %d: %s (its connections' work crosses CPUs)",
				w->id, cpu, strerror(err));
		steer_meter_init(&w->meter, w->id);
	}
	if (kpath_events_fd() >= 0)
		kevent_sweep(w, now_ms());
	log_batch(true);

	while (!w->stop) {
		struct timer *t;
		uint64_t now = now_ms();
		int n, wait;

		if (w->drain_until) {
			/* Closing the listening sockets ends accepting here;
			 * the other workers' sockets and the kernel keep
			 * the port until the last one closes. */
			listen_close(w);
			if (!w->nconns || now >= w->drain_until)
				break;
		}
		wait = timer_wait_ms(&w->loop.timers, now);
		if (w->drain_until) {
			int left = (int)(w->drain_until - now);

			wait = sooner(wait, left);
		}
		wait = sooner(wait, log_flush_idle(now));
		n = epoll_wait(w->loop.epfd, evs, ARRAY_SIZE(evs), wait);
		if (n < 0 && errno != EINTR) {
			pr_err("worker %d: epoll_wait: %s", w->id, strerror(errno));
			break;
		}
		steer_report(&w->meter, w->id);
		for (int i = 0; i < n; i++) {
			struct evsrc *ev = evs[i].data.ptr;

			switch (ev->kind) {
			case EV_RETIRED:
				break;
			case EV_LISTEN:
				listen_accept(w, (struct lsock *)ev);
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
			case EV_UDP_LISTEN:
				udp_readable(w, ev);
				break;
			case EV_UDP_UP:
				udp_upstream(w, ev);
				break;
			}
		}
		if (w->nls_retired)
			listen_free_retired(w);
		now = now_ms();
		while ((t = timer_pop_due(&w->loop.timers, now))) {
			if (t == &w->accept_retry)
				listen_resume(w);
			else if (t == &w->pipes_idle)
				splice_pool_flush();	/* an idle worker holds no pipes */
			else if (t == &w->ksweep)
				kevent_sweep(w, now);
			else if (t == &w->udp_tick)
				udp_timers(w, now);
			else
				conn_timer(container_of(t, struct conn, tm));
		}
		udp_reap(w);
		if (w->dead) {
			conn_reap(w);
			if (w->nconns < w->max_conns && w->accept_retry.idx < 0)
				listen_resume(w);
			if (!w->nconns && splice_pool_size())
				timer_set(&w->loop.timers, &w->pipes_idle, now + PIPES_IDLE_MS);
		}
		listen_steer(w);
		if (w->nconns && w->pipes_idle.idx >= 0)
			timer_cancel(&w->loop.timers, &w->pipes_idle);
	}
	if (w->nconns)
		pr_info("worker %d: closing %u connection%s still open", w->id,
			w->nconns, w->nconns == 1 ? "" : "s");
	for (struct conn *c = w->conns, *next; c; c = next) {
		next = c->next;
		conn_shutdown(c);
	}
	conn_reap(w);
	udp_shutdown(w);
	splice_pool_flush();
	steer_meter_fini(&w->meter);
	log_batch(false);
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
		conn_free(c);
	}
	conn_reap(w);
	/* Listening sockets still open here were adopted by a live upgrade
	 * that failed: the predecessor, which holds them too, steers again. */
	for (int i = 0; i < w->nls; i++)
		if (w->ls[i].fd >= 0) {
			steer_leave(w->ls[i].fd, w->id);
			close(w->ls[i].fd);
		}
	free(w->ls);
	listen_free_retired(w);
	udp_cleanup(w);
	free(w->peekbuf);
	slots_fini(&w->slots);
	conn_setup_pool_free(w);
	conn_slabs_free(w);
	free(w->evq);
	pthread_mutex_destroy(&w->evmu);
	timer_heap_free(&w->loop.timers);
	config_put(w->cfg);
	w->cfg = NULL;
	if (w->wakefd >= 0)
		close(w->wakefd);
	if (w->loop.epfd >= 0)
		close(w->loop.epfd);
}
