/* SPDX-License-Identifier: GPL-2.0 */
/* Choosing and connecting to an upstream of a FORWARD rule: balancing
 * (roundrobin, first, leastconn, source), retry on the next target when
 * one refuses or times out, passive health (a target that failed
 * `fails` times in a row is tried last for `cooldown`), transparent
 * source addresses.  The shared state is a few atomics per target: no
 * lock on the connection path. */
#ifndef PT_UPSTREAM_H
#define PT_UPSTREAM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/config.h"
#include "base/resolve.h"
#include "base/util.h"


/* One connection's way through its rule's targets. */
struct up_try {
	const struct upstream *u;
	uint8_t order[UP_MAX_TARGETS];	/* target indexes, in trial order */
	int n, i;			/* i: the target being tried */
	union paddr addr[DNS_MAX_ADDRS];
	int naddr, iaddr;		/* its addresses; naddr -1: not yet */
	int err;			/* the last failure, for the log */
	int active;			/* target counted as connected, or -1 */
};

/* Order the targets for a new connection from `client`. */
void up_plan(struct up_try *t, const struct upstream *u,
	     const struct sockaddr *client, uint64_t now);
/* A target written as the address sa, if the rule has one: tried first
 * (a live upgrade's successor holds a socket to it, already connecting). */
void up_prefer(struct up_try *t, const union paddr *sa);
/* The next address to try: 1 with *sa set; 0 while the current target's
 * host name has no answer yet (call again when the resolver wakes us);
 * -errno when every target failed. */
int up_next(struct up_try *t, struct sockaddr_storage *sa);
/* The connect to the address up_next gave ended: err 0 (connected, the
 * target is counted for leastconn until up_done) or an errno. */
void up_result(struct up_try *t, int err, uint64_t now);
/* The current target taken (counted for leastconn until up_done), its
 * health left as it is: a UDP flow's connect proves nothing, the
 * upstream's first answer does (up_health). */
void up_chosen(struct up_try *t);
/* What target (an index in u->t) showed outside a connect: err 0 (it
 * answered: its strikes cleared) or an errno (a strike toward `health`
 * if it says something about the target). */
void up_health(const struct upstream *u, int target, int err, uint64_t now);
/* A failure that says something about the target, not about us. */
bool up_target_fault(int err);
void up_done(struct up_try *t);
/* The same for a connection that kept only its target (the setup gone). */
void up_release(const struct upstream *u, int active);
/* Give up on the current target (its name did not resolve in time). */
void up_skip(struct up_try *t, int err);
const struct target *up_target(const struct up_try *t);

/* A non-blocking socket connecting to sa: TCP_NODELAY, and with
 * u->transparent IP_TRANSPARENT and bound to the client's address.
 * Returns 0 (connected or in progress, *fd set) or -errno. */
int up_connect(const struct upstream *u, const struct sockaddr_storage *sa,
	       const struct sockaddr *client, int *fd);
/* SO_RCVBUF for the sockets up_connect() makes (kpath.c kpath_rcvbuf);
 * 0: autotuning. */
void up_set_rcvbuf(int bytes);

#endif /* PT_UPSTREAM_H */
