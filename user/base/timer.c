// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>

#include "base/timer.h"

static void place(struct timer_heap *th, int i, struct timer *t)
{
	th->h[i] = t;
	t->idx = i;
}

static void sift_up(struct timer_heap *th, int i)
{
	struct timer *t = th->h[i];

	while (i > 0) {
		int p = (i - 1) / 2;

		if (th->h[p]->when <= t->when)
			break;
		place(th, i, th->h[p]);
		i = p;
	}
	place(th, i, t);
}

static void sift_down(struct timer_heap *th, int i)
{
	struct timer *t = th->h[i];

	for (;;) {
		int c = 2 * i + 1;

		if (c >= th->n)
			break;
		if (c + 1 < th->n && th->h[c + 1]->when < th->h[c]->when)
			c++;
		if (t->when <= th->h[c]->when)
			break;
		place(th, i, th->h[c]);
		i = c;
	}
	place(th, i, t);
}

int timer_set(struct timer_heap *th, struct timer *t, uint64_t when)
{
	if (t->idx >= 0) {
		uint64_t old = t->when;

		t->when = when;
		if (when < old)
			sift_up(th, t->idx);
		else
			sift_down(th, t->idx);
		return 0;
	}
	if (th->n == th->cap) {
		int cap = th->cap ? th->cap * 2 : 256;
		struct timer **h = realloc(th->h, cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		th->h = h;
		th->cap = cap;
	}
	t->when = when;
	place(th, th->n++, t);
	sift_up(th, t->idx);
	return 0;
}

void timer_cancel(struct timer_heap *th, struct timer *t)
{
	int i = t->idx;

	if (i < 0)
		return;
	t->idx = -1;
	th->n--;
	if (i == th->n)
		return;
	{
		struct timer *last = th->h[th->n];

		place(th, i, last);
		sift_up(th, i);
		sift_down(th, last->idx);
	}
}

struct timer *timer_pop_due(struct timer_heap *th, uint64_t now)
{
	struct timer *t;

	if (!th->n || th->h[0]->when > now)
		return NULL;
	t = th->h[0];
	timer_cancel(th, t);
	return t;
}

int timer_wait_ms(const struct timer_heap *th, uint64_t now)
{
	uint64_t d;

	if (!th->n)
		return -1;
	if (th->h[0]->when <= now)
		return 0;
	d = th->h[0]->when - now;
	return d > 60000 ? 60000 : (int)d;
}

void timer_heap_free(struct timer_heap *th)
{
	/* Its timers are no longer armed: a later set or cancel on one must
	 * not touch the freed array. */
	for (int i = 0; i < th->n; i++)
		th->h[i]->idx = -1;
	free(th->h);
	th->h = NULL;
	th->n = th->cap = 0;
}
