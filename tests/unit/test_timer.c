// SPDX-License-Identifier: GPL-2.0
/* The deadline heap of an event loop (user/base/timer.c): set, cancel, re-set
 * (earlier and later), pop order, the wait it computes for epoll, and many
 * timers at once against a reference, with the heap's own invariants
 * (each timer's idx is its slot, no parent later than a child) checked
 * after every step. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/timer.h"
#include "base/util.h"
#include "unit.h"

/* The heap is well-formed: n within cap, every slot's timer knows its
 * slot, and no timer is due later than its children. */
static void check_heap(struct unit_ctx *_u, const struct timer_heap *th)
{
	if (th->n < 0 || th->n > th->cap) {
		FAILF("n %d, cap %d", th->n, th->cap);
		return;
	}
	for (int i = 0; i < th->n && !_u->failed; i++) {
		if (th->h[i]->idx != i)
			FAILF("slot %d holds a timer with idx %d", i, th->h[i]->idx);
		else if (i && th->h[(i - 1) / 2]->when > th->h[i]->when)
			FAILF("slot %d (%llu) is due before its parent (%llu)", i,
			      (unsigned long long)th->h[i]->when,
			      (unsigned long long)th->h[(i - 1) / 2]->when);
	}
}

/* Pops everything due by `now` and checks it comes in order: want[] are
 * the expected deadlines, n of them; then nothing more is due. */
static void want_pops(struct unit_ctx *_u, struct timer_heap *th, uint64_t now,
		      const uint64_t *want, int n)
{
	struct timer *t;

	for (int i = 0; i < n && !_u->failed; i++) {
		t = timer_pop_due(th, now);
		if (!t) {
			FAILF("pop %d of %d at %llu: nothing due", i, n, (unsigned long long)now);
			return;
		}
		if (t->when != want[i])
			FAILF("pop %d: due %llu, want %llu", i, (unsigned long long)t->when,
			      (unsigned long long)want[i]);
		if (t->idx != -1)
			FAILF("pop %d: idx %d after the pop", i, t->idx);
		check_heap(_u, th);
	}
	if (!_u->failed && (t = timer_pop_due(th, now)))
		FAILF("one more due at %llu: %llu", (unsigned long long)now,
		      (unsigned long long)t->when);
}

/* t[0..n) initialised and armed at 10, 20, 30, ... */
static void arm_tens(struct unit_ctx *_u, struct timer_heap *th, struct timer *t, int n)
{
	for (int i = 0; i < n; i++) {
		timer_init(&t[i]);
		CHECK_INT(timer_set(th, &t[i], 10 * (i + 1)), 0);
	}
	check_heap(_u, th);
}

TEST(empty)
{
	struct timer_heap th = { 0 };

	CHECK(!timer_pop_due(&th, UINT64_MAX));
	CHECK_INT(timer_wait_ms(&th, 0), -1);
	timer_heap_free(&th);
	CHECK(!th.h);
}

TEST(set_one)
{
	struct timer_heap th = { 0 };
	struct timer t;

	timer_init(&t);
	CHECK_INT(t.idx, -1);
	CHECK_INT(timer_set(&th, &t, 100), 0);
	CHECK_INT(t.idx, 0);
	CHECK_INT(th.n, 1);
	CHECK_INT(timer_wait_ms(&th, 40), 60);
	CHECK(!timer_pop_due(&th, 99));		/* not due one ms early */
	CHECK(timer_pop_due(&th, 100) == &t);	/* due at its deadline */
	CHECK_INT(t.idx, -1);
	CHECK_INT(th.n, 0);
	CHECK_INT(timer_wait_ms(&th, 100), -1);
	timer_heap_free(&th);
}

TEST(pop_order)
{
	static const uint64_t when[] = { 50, 10, 40, 30, 20, 60, 5, 45 };
	static const uint64_t order[] = { 5, 10, 20, 30, 40, 45, 50, 60 };
	struct timer_heap th = { 0 };
	struct timer t[8];

	for (int i = 0; i < 8; i++) {
		timer_init(&t[i]);
		CHECK_INT(timer_set(&th, &t[i], when[i]), 0);
		check_heap(_u, &th);
	}
	CHECK_INT(timer_wait_ms(&th, 0), 5);
	want_pops(_u, &th, 30, order, 4);	/* only what is due by 30 */
	CHECK_INT(th.n, 4);
	CHECK_INT(timer_wait_ms(&th, 30), 10);
	want_pops(_u, &th, UINT64_MAX, order + 4, 4);
	timer_heap_free(&th);
}

TEST(equal_deadlines)
{
	struct timer_heap th = { 0 };
	struct timer t[5];
	bool seen[5] = { false };

	for (int i = 0; i < 5; i++) {
		timer_init(&t[i]);
		timer_set(&th, &t[i], 7);
	}
	for (int i = 0; i < 5; i++) {
		struct timer *p = timer_pop_due(&th, 7);

		if (!p || p < t || p >= t + 5 || seen[p - t]) {
			FAILF("pop %d: %p", i, (void *)p);
			break;
		}
		seen[p - t] = true;
	}
	CHECK(!timer_pop_due(&th, 7));
	timer_heap_free(&th);
}

TEST(cancel)
{
	static const uint64_t rest[] = { 10, 30, 50 };
	struct timer_heap th = { 0 };
	struct timer t[5];

	arm_tens(_u, &th, t, 5);	/* 10 20 30 40 50 */
	timer_cancel(&th, &t[1]);	/* in the middle */
	CHECK_INT(t[1].idx, -1);
	check_heap(_u, &th);
	timer_cancel(&th, &t[3]);
	check_heap(_u, &th);
	CHECK_INT(th.n, 3);
	want_pops(_u, &th, 100, rest, 3);
	timer_heap_free(&th);
}

TEST(cancel_root_and_last)
{
	struct timer_heap th = { 0 };
	struct timer t[4], *last;
	uint64_t rest[2];
	int k = 0;

	arm_tens(_u, &th, t, 4);	/* 10 20 30 40 */
	CHECK(th.h[0] == &t[0]);
	timer_cancel(&th, &t[0]);			/* the root */
	check_heap(_u, &th);
	CHECK_INT(timer_wait_ms(&th, 0), 20);
	last = th.h[th.n - 1];
	timer_cancel(&th, last);			/* the last slot */
	check_heap(_u, &th);
	CHECK_INT(last->idx, -1);
	for (uint64_t w = 20; w <= 40; w += 10)
		if (w != last->when && k < 2)
			rest[k++] = w;
	want_pops(_u, &th, 100, rest, 2);
	timer_heap_free(&th);
}

TEST(cancel_unarmed)
{
	struct timer_heap th = { 0 };
	struct timer a, b;

	timer_init(&a);
	timer_init(&b);
	timer_cancel(&th, &a);		/* never armed: nothing happens */
	CHECK_INT(th.n, 0);
	timer_set(&th, &a, 5);
	timer_set(&th, &b, 6);
	timer_cancel(&th, &a);
	timer_cancel(&th, &a);		/* twice: the second does nothing */
	CHECK_INT(th.n, 1);
	CHECK(th.h[0] == &b);
	CHECK_INT(b.idx, 0);
	CHECK(timer_pop_due(&th, 100) == &b);
	timer_cancel(&th, &b);		/* popped: already disarmed */
	CHECK_INT(th.n, 0);
	timer_heap_free(&th);
}

TEST(reset)
{
	static const uint64_t later[] = { 20, 30, 35 };
	struct timer_heap th = { 0 };
	struct timer t[3];

	arm_tens(_u, &th, t, 3);	/* 10 20 30 */
	timer_set(&th, &t[2], 5);	/* earlier: moves up, not added twice */
	CHECK_INT(th.n, 3);
	check_heap(_u, &th);
	CHECK(th.h[0] == &t[2]);
	CHECK_INT(timer_wait_ms(&th, 0), 5);
	timer_set(&th, &t[2], 35);	/* later: moves down */
	CHECK_INT(th.n, 3);
	check_heap(_u, &th);
	timer_set(&th, &t[0], 30);	/* the root, later: ties with t[2]'s old */
	check_heap(_u, &th);
	timer_set(&th, &t[1], 20);	/* the same deadline again */
	CHECK_INT(th.n, 3);
	check_heap(_u, &th);
	want_pops(_u, &th, 100, later, 3);
	timer_heap_free(&th);
}

TEST(reset_after_pop)
{
	struct timer_heap th = { 0 };
	struct timer t;

	timer_init(&t);
	timer_set(&th, &t, 10);
	CHECK(timer_pop_due(&th, 10) == &t);
	timer_set(&th, &t, 20);		/* re-armed after firing */
	CHECK_INT(th.n, 1);
	CHECK_INT(t.idx, 0);
	CHECK(!timer_pop_due(&th, 19));
	CHECK(timer_pop_due(&th, 20) == &t);
	timer_heap_free(&th);
}

TEST(wait_ms)
{
	struct timer_heap th = { 0 };
	struct timer t;

	timer_init(&t);
	timer_set(&th, &t, 1000);
	CHECK_INT(timer_wait_ms(&th, 0), 1000);
	CHECK_INT(timer_wait_ms(&th, 999), 1);
	CHECK_INT(timer_wait_ms(&th, 1000), 0);
	CHECK_INT(timer_wait_ms(&th, 5000), 0);		/* overdue: at once */
	timer_set(&th, &t, 1000000);
	CHECK_INT(timer_wait_ms(&th, 0), 60000);	/* capped at a minute */
	timer_set(&th, &t, UINT64_MAX);
	CHECK_INT(timer_wait_ms(&th, 0), 60000);
	timer_heap_free(&th);
}

struct item {
	int id;
	struct timer tm;
};

/* 20000 timers (past the first allocation of 256 slots, several times)
 * with pseudo-random deadlines; a third cancelled, a third re-set; then
 * popped in steps: each comes once, in order, and only the armed ones. */
TEST(many)
{
	enum { N = 20000 };
	static struct item it[N];
	static uint64_t want[N];
	static bool popped[N];
	struct timer_heap th = { 0 };
	uint32_t x = 12345;
	uint64_t last = 0;
	int armed = 0, got = 0;

	for (int i = 0; i < N; i++) {
		x = x * 1103515245u + 12345u;
		it[i].id = i;
		timer_init(&it[i].tm);
		want[i] = 1 + (x >> 8) % 100000;
		if (timer_set(&th, &it[i].tm, want[i])) {
			FAILF("timer_set %d failed", i);
			break;
		}
	}
	check_heap(_u, &th);
	for (int i = 0; i < N; i++) {
		x = x * 1103515245u + 12345u;
		if (i % 3 == 0) {
			timer_cancel(&th, &it[i].tm);
			want[i] = 0;
		} else if (i % 3 == 1) {
			want[i] = 1 + (x >> 8) % 100000;
			timer_set(&th, &it[i].tm, want[i]);
		}
		armed += want[i] != 0;
	}
	check_heap(_u, &th);
	CHECK_INT(th.n, armed);
	for (uint64_t now = 0; th.n && !_u->failed; now += 997) {
		struct timer *t;

		while ((t = timer_pop_due(&th, now))) {
			struct item *p = container_of(t, struct item, tm);

			if (t->when > now || t->when < last || want[p->id] != t->when ||
			    popped[p->id]) {
				FAILF("popped item %d due %llu at %llu (want %llu, last %llu%s)",
				      p->id, (unsigned long long)t->when, (unsigned long long)now,
				      (unsigned long long)want[p->id], (unsigned long long)last,
				      popped[p->id] ? ", twice" : "");
				break;
			}
			popped[p->id] = true;
			last = t->when;
			got++;
		}
		if (now % (997 * 16) == 0)
			check_heap(_u, &th);
	}
	CHECK_INT(got, armed);
	CHECK_INT(th.n, 0);
	timer_heap_free(&th);
	CHECK(!th.h && !th.n && !th.cap);
}

UNIT_MAIN("timer", empty, set_one, pop_order, equal_deadlines, cancel, cancel_root_and_last,
	  cancel_unarmed, reset, reset_after_pop, wait_ms, many)
