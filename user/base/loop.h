/* SPDX-License-Identifier: GPL-2.0 */
/* One event loop's plumbing: its epoll instance and its timers.  What an
 * epoll event points at starts with a struct evsrc saying what it is; the
 * owner of the loop (the worker) dispatches on it. */
#ifndef PT_LOOP_H
#define PT_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

#include "base/timer.h"

struct evsrc {
	uint8_t kind;		/* the owner's enum; 0: retired, ignore */
};

struct loop {
	int epfd;
	struct timer_heap timers;
};

/* Registered in epoll, even with an empty mask (a bit epoll never uses). */
#define EP_ON (1u << 26)
/* Everything, edge-triggered: a socket registered so is never changed. */
#define EP_RELAY (EP_ON | EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)

/* Make fd's registration `events` (0: none), from *cur (what it is now,
 * updated): ADD, MOD or DEL as needed, nothing if unchanged.  0 or
 * -errno (logged). */
int loop_watch(struct loop *l, struct evsrc *ev, int fd, uint32_t events,
	       uint32_t *cur);

#endif /* PT_LOOP_H */
