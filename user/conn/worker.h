/* SPDX-License-Identifier: GPL-2.0 */
/* One event loop per thread.  Each worker has its own SO_REUSEPORT socket
 * on every listen address, so the kernel spreads connections across them
 * and a worker never touches another's connections. */
#ifndef PT_WORKER_H
#define PT_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "base/loop.h"
#include "passthru.h"
#include "datapath/slots.h"
#include "datapath/steer.h"
#include "base/timer.h"

/* What an epoll event points at; first member of everything registered. */
enum ev_kind {
	EV_RETIRED = 0,		/* freed once the batch of events is done */
	EV_LISTEN = 1,
	EV_CLIENT,
	EV_UPSTREAM,
	EV_WAKE,
	EV_KEVENT,		/* pt_events: back-pressure requests */
	EV_UDP_LISTEN,		/* a UDP listening socket (udp.c) */
	EV_UDP_UP,		/* a UDP flow's upstream socket */
};

struct lsock {
	struct evsrc ev;
	int fd;
	bool paused;			/* out of epoll: fd limit hit */
	const struct listener *l;
	struct worker *w;
};

struct conn;

struct worker {
	int id;
	pthread_t thr;
	struct loop loop;		/* its epoll and timers */
	struct evsrc wake_ev;
	struct evsrc kev_ev;
	int wakefd;			/* eventfd: resolver answers, stop */
	struct lsock *ls;
	int nls;
	/* Listener arrays a reload replaced: epoll events already fetched in
	 * this batch may still point into them; freed after the batch. */
	struct lsock **ls_retired;
	int nls_retired;
	struct timer accept_retry;	/* re-arm paused listeners */
	struct timer pipes_idle;	/* no connections: close pooled pipes */
	struct timer ksweep;		/* lost back-pressure events */
	struct timer udp_tick;		/* the earliest UDP flow deadline (udp.c) */
	struct udp_worker *udp;		/* UDP listeners and flows (udp.c, udp_flow.c) */
	uint64_t events_lost;		/* PT_STAT_EVENT_LOST at the last sweep */
	struct config *cfg;		/* for new connections (a reference) */
	struct config *next_cfg;	/* handed over by a reload */
	int reload_unbound;		/* listeners that reload could not bind
					 * (set before cfg is published) */
	uint8_t *peekbuf;		/* sniff_max bytes */
	struct conn *conns;		/* all live connections */
	struct conn *parked;		/* waiting for a name to resolve */
	struct conn *dead;		/* closed this round, freed after it */
	_Atomic uint32_t nconns;	/* read by the main thread (drain) */
	uint32_t max_conns;
	struct conn *sniff_head, *sniff_tail;	/* oldest first */
	struct conn_setup *setup_pool;	/* free setups (conn_life.c) */
	struct conn_slab *slabs;	/* connection objects (conn_life.c) */
	struct conn *conn_free;
	uint32_t nsetup_pool;
	uint32_t nsniff, max_sniff;
	struct slots slots;		/* its range of pt_dirs: owners are conns */
	struct steer_meter meter;	/* its busy share, for accept steering */
	bool accept_paused;		/* listen_pause: at the limit or out of fds */
	bool steer_full;		/* what steering was last told (listen_steer) */
	pthread_mutex_t evmu;		/* freeze requests from other workers */
	struct pt_event *evq;
	int nevq, capevq;
	/* Set by the main thread, read by the worker. */
	_Atomic bool stop;
	_Atomic uint64_t drain_until;	/* ms; 0: not draining */
	struct worker_job *job;		/* to run between two rounds (worker_run) */
	_Atomic bool done;		/* the thread has left its loop */
};

/* Something to do in the worker's thread, between two rounds of events:
 * how a layer above (a live upgrade) gets the worker to do its part
 * without the loop knowing it.  fn may block; it runs to its end before
 * the loop goes on. */
struct worker_job {
	void (*fn)(struct worker *w, void *arg);
	void *arg;
};

int worker_setup(struct worker *w, int id, struct config *cfg,
		 uint32_t slot_base, uint32_t nslots, int nworkers);
/* All workers, so that one can hand another a back-pressure event. */
void worker_registry(struct worker *ws, int n);
int worker_start(struct worker *w);
void worker_stop(struct worker *w);
/* Hand the worker a new configuration (it takes a reference); it switches
 * listeners and new connections over between two rounds of events. */
void worker_adopt(struct worker *w, struct config *cfg);
/* Stop accepting; leave the loop once no connection is left or at
 * deadline_ms, whichever comes first. */
void worker_drain(struct worker *w, uint64_t deadline_ms);
void worker_join(struct worker *w);
void worker_cleanup(struct worker *w);

/* Have the worker run job (which must outlive it) at its next wakeup;
 * worker_job_done() tells when it has. */
void worker_run(struct worker *w, struct worker_job *job);
bool worker_job_done(struct worker *w);

#endif /* PT_WORKER_H */
