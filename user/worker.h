/* SPDX-License-Identifier: GPL-2.0 */
/* One event loop per thread.  Each worker has its own SO_REUSEPORT socket
 * on every listen address, so the kernel spreads connections across them
 * and a worker never touches another's connections. */
#ifndef PT_WORKER_H
#define PT_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "passthru.h"
#include "timer.h"

/* What an epoll event points at; first member of everything registered. */
enum ev_kind {
	EV_RETIRED = 0,		/* freed once the batch of events is done */
	EV_LISTEN = 1,
	EV_CLIENT,
	EV_UPSTREAM,
	EV_WAKE,
	EV_KEVENT,		/* pt_events: back-pressure requests */
};

struct evsrc {
	uint8_t kind;
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
	int epfd;
	struct evsrc wake_ev;
	struct evsrc kev_ev;
	int wakefd;			/* eventfd: resolver answers, stop */
	struct lsock *ls;
	int nls;
	/* Listener arrays a reload replaced: epoll events already fetched in
	 * this batch may still point into them; freed after the batch. */
	struct lsock **ls_retired;
	int nls_retired;
	struct timer_heap timers;
	struct timer accept_retry;	/* re-arm paused listeners */
	struct timer pipes_idle;	/* no connections: close pooled pipes */
	struct timer ksweep;		/* lost back-pressure events */
	uint64_t events_lost;		/* PT_STAT_EVENT_LOST at the last sweep */
	struct config *cfg;		/* for new connections (a reference) */
	struct config *next_cfg;	/* handed over by a reload */
	uint8_t *peekbuf;		/* sniff_max bytes */
	struct conn *conns;		/* all live connections */
	struct conn *parked;		/* waiting for a name to resolve */
	struct conn *dead;		/* closed this round, freed after it */
	_Atomic uint32_t nconns;	/* read by the main thread (drain) */
	uint32_t max_conns;
	struct conn *sniff_head, *sniff_tail;	/* oldest first */
	uint32_t nsniff, max_sniff;
	uint32_t slot_base, nslots;	/* this worker's range in pt_dirs */
	uint32_t *free_slots;
	uint32_t nfree;
	struct conn **slot_conn;	/* slot - slot_base -> its connection */
	pthread_mutex_t evmu;		/* freeze requests from other workers */
	struct pt_event *evq;
	int nevq, capevq;
	/* Set by the main thread, read by the worker. */
	_Atomic bool stop;
	_Atomic uint64_t drain_until;	/* ms; 0: not draining */
	struct handover *handover;	/* a successor asked: export, wait */
	_Atomic bool done;		/* the thread has left its loop */
};

struct handover;

int listener_available(const struct listener *l);
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

int worker_slot_get(struct worker *w, uint32_t *slot, struct conn *c);
/* A taken-over connection keeps its slot: take it out of the free list. */
int worker_slot_claim(struct worker *w, uint32_t slot, struct conn *c);
/* Listening sockets: worker_listen binds one per listener of the worker's
 * configuration that has none yet; worker_add_listener adopts an
 * inherited one (takeover). */
int worker_listen(struct worker *w);
int worker_add_listener(struct worker *w, const struct sockaddr_storage *addr,
			socklen_t addrlen, int fd);
void worker_handover(struct worker *w, struct handover *h);
void worker_slot_put(struct worker *w, uint32_t slot);
int worker_watch(struct worker *w, struct evsrc *ev, int fd, uint32_t events,
		 uint32_t *cur);

#endif /* PT_WORKER_H */
