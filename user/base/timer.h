/* SPDX-License-Identifier: GPL-2.0 */
/* Deadlines of one event loop in a binary min-heap: O(log n) set and
 * cancel, so 10k sniffing connections cost nothing while they wait. */
#ifndef PT_TIMER_H
#define PT_TIMER_H

#include <stddef.h>
#include <stdint.h>

struct timer {
	uint64_t when;		/* ms, CLOCK_MONOTONIC */
	int idx;		/* position in the heap, -1 if not armed */
};

struct timer_heap {
	struct timer **h;
	int n, cap;
};

static inline void timer_init(struct timer *t)
{
	t->idx = -1;
}

int timer_set(struct timer_heap *th, struct timer *t, uint64_t when);
void timer_cancel(struct timer_heap *th, struct timer *t);
/* Pops and returns one timer due at `now`, or NULL. */
struct timer *timer_pop_due(struct timer_heap *th, uint64_t now);
/* Milliseconds until the next deadline (for epoll_wait), -1 if none. */
int timer_wait_ms(const struct timer_heap *th, uint64_t now);
void timer_heap_free(struct timer_heap *th);

#endif /* PT_TIMER_H */
