// SPDX-License-Identifier: GPL-2.0
/* The per-source limiter (user/config/srclimit.c): what a source is (prefix
 * masking, v4-mapped addresses, exemptions), the open-connection count,
 * the token bucket (burst, refill, refusals take no token), log notes
 * (one per source and interval, a budget per table, flushed later), the
 * table full, and the counts under several threads at once. */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>

#include "config/srclimit.h"
#include "sockaddr.h"
#include "unit.h"

#define S(x) ((uint64_t)(x) * 1000000)
#define MS(x) ((uint64_t)(x) * 1000)

static struct srclimit_cfg cfg(uint32_t max, uint64_t interval_us, uint32_t burst)
{
	struct srclimit_cfg c = { .max_conns = max, .interval_us = interval_us,
				  .burst = burst, .prefix4 = 32, .prefix6 = 64 };
	return c;
}

/* The key of ip ("a.b.c.d" or v6) under c, as "addr/bits". */
static const char *keystr(const struct srclimit_cfg *c, const char *ip, char *buf, size_t n)
{
	struct sockaddr_storage ss = sockaddr_of(ip, 0);
	struct srl_key k;

	if (srclimit_key(c, (struct sockaddr *)&ss, &k))
		return "error";
	return srl_key_str(&k, buf, n);
}

static struct srl_key key(const char *ip)
{
	struct srclimit_cfg c = cfg(0, 0, 0);
	struct sockaddr_storage ss = sockaddr_of(ip, 0);
	struct srl_key k;

	srclimit_key(&c, (struct sockaddr *)&ss, &k);
	return k;
}

TEST(prefix_masking)
{
	struct srclimit_cfg c = cfg(1, 0, 0);
	struct sockaddr_storage un = { .ss_family = AF_UNIX };
	struct srl_key k;
	char b[64];

	CHECK_STR(keystr(&c, "192.0.2.77", b, sizeof(b)), "192.0.2.77/32");
	CHECK_STR(keystr(&c, "2001:db8:1:2:3:4:5:6", b, sizeof(b)), "2001:db8:1:2::/64");
	/* An IPv4 client on a [::] socket is an IPv4 source, /32 not /64. */
	CHECK_STR(keystr(&c, "::ffff:192.0.2.77", b, sizeof(b)), "192.0.2.77/32");
	c.prefix4 = 24;
	c.prefix6 = 48;
	CHECK_STR(keystr(&c, "192.0.2.77", b, sizeof(b)), "192.0.2.0/24");
	CHECK_STR(keystr(&c, "::ffff:192.0.2.77", b, sizeof(b)), "192.0.2.0/24");
	CHECK_STR(keystr(&c, "2001:db8:1:2:3:4:5:6", b, sizeof(b)), "2001:db8:1::/48");
	c.prefix4 = 21;
	c.prefix6 = 127;
	CHECK_STR(keystr(&c, "10.1.15.255", b, sizeof(b)), "10.1.8.0/21");
	CHECK_STR(keystr(&c, "2001:db8::7", b, sizeof(b)), "2001:db8::6/127");
	c.prefix4 = 0;
	c.prefix6 = 128;
	CHECK_STR(keystr(&c, "203.0.113.9", b, sizeof(b)), "0.0.0.0/0");
	CHECK_STR(keystr(&c, "2001:db8::7", b, sizeof(b)), "2001:db8::7/128");
	CHECK_INT(srclimit_key(&c, (struct sockaddr *)&un, &k), -EAFNOSUPPORT);
}

TEST(exemption)
{
	struct srclimit_cfg c = cfg(1, 0, 0);
	struct cidr ex[2];
	const char *why;
	struct sockaddr_storage a;

	CHECK(!cidr_parse("10.0.0.0/8", &ex[0], &why));
	CHECK(!cidr_parse("2001:db8::/32", &ex[1], &why));
	a = sockaddr_of("10.9.8.7", 0);
	CHECK(!srclimit_exempt(&c, (struct sockaddr *)&a));	/* no list */
	c.exempt = ex;
	c.nexempt = 2;
	CHECK(srclimit_exempt(&c, (struct sockaddr *)&a));
	a = sockaddr_of("::ffff:10.9.8.7", 0);
	CHECK(srclimit_exempt(&c, (struct sockaddr *)&a));
	a = sockaddr_of("11.0.0.1", 0);
	CHECK(!srclimit_exempt(&c, (struct sockaddr *)&a));
	a = sockaddr_of("2001:db8:ffff::1", 0);
	CHECK(srclimit_exempt(&c, (struct sockaddr *)&a));
	a = sockaddr_of("2001:db9::1", 0);
	CHECK(!srclimit_exempt(&c, (struct sockaddr *)&a));
}

/* acquire with the note discarded */
static enum srl_verdict acq(struct srclimit *t, const struct srclimit_cfg *c, const char *ip,
			    uint64_t now, struct srcent **e)
{
	struct srl_key k = key(ip);
	struct srl_note n;

	return srclimit_acquire(t, c, &k, now, true, e, &n);
}

TEST(concurrency_count)
{
	struct srclimit *t = srclimit_new(1024);
	struct srclimit_cfg c = cfg(3, 0, 0);
	struct srcent *e[4], *x;

	if (!t)
		SKIP("out of memory");
	for (int i = 0; i < 3; i++)
		CHECK_INT(acq(t, &c, "192.0.2.1", S(1), &e[i]), SRL_OK);
	CHECK(e[0] && e[0] == e[1] && e[1] == e[2]);
	CHECK_INT(e[0]->conns, 3);
	CHECK_INT(acq(t, &c, "192.0.2.1", S(1), &x), SRL_REFUSED_CONNS);
	CHECK(!x);
	CHECK_INT(e[0]->conns, 3);			/* a refusal counts nothing */
	CHECK_INT(acq(t, &c, "192.0.2.1", S(1), &x), SRL_REFUSED_CONNS);
	CHECK_INT(e[0]->refused[0], 1);	/* the first went to a log line */
	CHECK_INT(acq(t, &c, "192.0.2.2", S(1), &e[3]), SRL_OK);	/* another source */
	CHECK(e[3] != e[0]);
	srclimit_release(e[1]);
	CHECK_INT(acq(t, &c, "192.0.2.1", S(1), &e[1]), SRL_OK);
	CHECK_INT(acq(t, &c, "192.0.2.1", S(1), &x), SRL_REFUSED_CONNS);
	CHECK_INT(srclimit_tracked(t, S(1)), 2);
	for (int i = 0; i < 4; i++)
		srclimit_release(e[i]);
	CHECK_INT(srclimit_tracked(t, S(1)), 0);
	/* Not checking: counted all the same (a live upgrade's connections). */
	{
		struct srl_key k = key("192.0.2.1");
		struct srl_note n;

		for (int i = 0; i < 5; i++)
			CHECK_INT(srclimit_acquire(t, &c, &k, S(2), false, &e[0], &n), SRL_OK);
		CHECK_INT(e[0]->conns, 5);
		CHECK_INT(acq(t, &c, "192.0.2.1", S(2), &x), SRL_REFUSED_CONNS);
	}
	srclimit_free(t);
}

TEST(token_bucket)
{
	struct srclimit *t = srclimit_new(1024);
	struct srclimit_cfg c = cfg(0, MS(100), 3);	/* 10/s, burst 3 */
	uint64_t t0 = S(100);
	struct srcent *e;

	if (!t)
		SKIP("out of memory");
	for (int i = 0; i < 3; i++) {
		CHECK_INT(acq(t, &c, "198.51.100.1", t0, &e), SRL_OK);
		srclimit_release(e);	/* the rate counts opens, not open */
	}
	CHECK_INT(acq(t, &c, "198.51.100.1", t0, &e), SRL_REFUSED_RATE);
	/* Refusals take no token: hammering does not push the refill away. */
	for (int i = 0; i < 50; i++)
		CHECK_INT(acq(t, &c, "198.51.100.1", t0 + MS(i), &e), SRL_REFUSED_RATE);
	CHECK_INT(acq(t, &c, "198.51.100.1", t0 + MS(99), &e), SRL_REFUSED_RATE);
	CHECK_INT(acq(t, &c, "198.51.100.1", t0 + MS(100), &e), SRL_OK);
	srclimit_release(e);
	CHECK_INT(acq(t, &c, "198.51.100.1", t0 + MS(150), &e), SRL_REFUSED_RATE);
	CHECK_INT(acq(t, &c, "198.51.100.1", t0 + MS(200), &e), SRL_OK);
	srclimit_release(e);
	/* Three tokens short at t0 + 200 ms: full again 300 ms later. */
	CHECK_INT(srclimit_tracked(t, t0 + MS(499)), 1);
	CHECK_INT(srclimit_tracked(t, t0 + MS(500)), 0);
	/* A long pause refills up to the burst, not beyond. */
	for (int i = 0; i < 3; i++) {
		CHECK_INT(acq(t, &c, "198.51.100.1", t0 + S(60), &e), SRL_OK);
		srclimit_release(e);
	}
	CHECK_INT(acq(t, &c, "198.51.100.1", t0 + S(60), &e), SRL_REFUSED_RATE);
	/* Steady rate: one per interval gets in, the first one interval
	 * after the burst was spent: 100, 200, ... 900 ms. */
	{
		int ok = 0;

		for (uint64_t ms = 0; ms < 1000; ms += 10)
			if (acq(t, &c, "198.51.100.1", t0 + S(60) + MS(ms) + 1, &e) == SRL_OK) {
				ok++;
				srclimit_release(e);
			}
		CHECK_INT(ok, 9);
	}
	/* Burst 1: strictly one per interval. */
	c.burst = 1;
	CHECK_INT(acq(t, &c, "198.51.100.2", t0, &e), SRL_OK);
	CHECK_INT(acq(t, &c, "198.51.100.2", t0 + MS(99), &e), SRL_REFUSED_RATE);
	CHECK_INT(acq(t, &c, "198.51.100.2", t0 + MS(100), &e), SRL_OK);
	srclimit_free(t);
}

/* With both limits, the connection count is checked first, and a
 * connection it refuses takes no token. */
TEST(both_limits)
{
	struct srclimit *t = srclimit_new(1024);
	struct srclimit_cfg c = cfg(2, S(1), 3);
	struct srcent *a, *b, *x;

	if (!t)
		SKIP("out of memory");
	CHECK_INT(acq(t, &c, "192.0.2.9", S(5), &a), SRL_OK);
	CHECK_INT(acq(t, &c, "192.0.2.9", S(5), &b), SRL_OK);
	for (int i = 0; i < 5; i++)
		CHECK_INT(acq(t, &c, "192.0.2.9", S(5), &x), SRL_REFUSED_CONNS);
	srclimit_release(a);
	CHECK_INT(acq(t, &c, "192.0.2.9", S(5), &a), SRL_OK);	/* third token */
	srclimit_release(a);
	CHECK_INT(acq(t, &c, "192.0.2.9", S(5), &x), SRL_REFUSED_RATE);
	/* Since the first refusal's log line: 4 more by count, 1 by rate. */
	CHECK_INT(b->refused[0], 4);
	CHECK_INT(b->refused[1], 1);
	srclimit_free(t);
}

static struct srl_note last;
static int lines;

static void count(const struct srl_note *n, void *arg)
{
	(*(int *)arg)++;
	last = *n;
}

TEST(log_notes)
{
	struct srclimit *t = srclimit_new(1024);
	struct srclimit_cfg c = cfg(1, 0, 0);
	struct srl_key k = key("203.0.113.5");
	struct srl_note n;
	struct srcent *e, *x;
	uint64_t t0 = S(1000);

	if (!t)
		SKIP("out of memory");
	CHECK_INT(srclimit_acquire(t, &c, &k, t0, true, &e, &n), SRL_OK);
	CHECK(!n.due);
	/* The first refusal is reported at once. */
	CHECK_INT(srclimit_acquire(t, &c, &k, t0, true, &x, &n), SRL_REFUSED_CONNS);
	CHECK(n.due);
	CHECK_INT(n.refused[0], 1);
	CHECK_INT(n.conns, 1);
	CHECK_INT(n.since_us, 0);
	/* Then at most once per interval, with what came meanwhile. */
	for (int i = 1; i <= 30; i++) {
		srclimit_acquire(t, &c, &k, t0 + S(i) / 4, true, &x, &n);
		CHECK(!n.due);
	}
	CHECK_INT(srclimit_acquire(t, &c, &k, t0 + SRL_LOG_INTERVAL_US, true, &x, &n),
		  SRL_REFUSED_CONNS);
	CHECK(n.due);
	CHECK_INT(n.refused[0], 31);
	CHECK_INT(n.since_us, SRL_LOG_INTERVAL_US);
	CHECK_STR(srl_key_str(&n.key, (char[64]){ 0 }, 64), "203.0.113.5/32");
	/* A source that stopped: its last refusals come from the flush, once
	 * their interval is over. */
	srclimit_acquire(t, &c, &k, t0 + SRL_LOG_INTERVAL_US + 1, true, &x, &n);
	CHECK(!n.due);
	lines = 0;
	CHECK_INT(srclimit_flush(t, t0 + SRL_LOG_INTERVAL_US + S(5), count, &lines), 0);
	CHECK_INT(srclimit_flush(t, t0 + 2 * SRL_LOG_INTERVAL_US, count, &lines), 1);
	CHECK_INT(lines, 1);
	CHECK_INT(last.refused[0], 1);
	CHECK_INT(srclimit_flush(t, t0 + 3 * SRL_LOG_INTERVAL_US, count, &lines), 0);
	srclimit_release(e);
	srclimit_free(t);
}

/* Many sources refused at once: SRL_LOG_BURST lines, the rest later. */
TEST(log_budget)
{
	struct srclimit *t = srclimit_new(1024);
	struct srclimit_cfg c = cfg(0, S(10), 1);
	struct srcent *e;
	struct srl_note n;
	uint64_t t0 = S(50);
	int due = 0;

	if (!t)
		SKIP("out of memory");
	lines = 0;
	for (int i = 0; i < 50; i++) {
		struct srl_key k = key("10.0.0.1");

		k.addr[3] = (uint8_t)i;
		CHECK_INT(srclimit_acquire(t, &c, &k, t0, true, &e, &n), SRL_OK);
		srclimit_release(e);
		CHECK_INT(srclimit_acquire(t, &c, &k, t0, true, &e, &n), SRL_REFUSED_RATE);
		due += n.due;
	}
	CHECK_INT(due, SRL_LOG_BURST);
	/* One second later: SRL_LOG_PER_S more. */
	CHECK_INT(srclimit_flush(t, t0 + S(1), count, &lines), SRL_LOG_PER_S);
	CHECK_INT(srclimit_flush(t, t0 + S(3), count, &lines), 50 - SRL_LOG_BURST - SRL_LOG_PER_S);
	CHECK_INT(lines, 50 - SRL_LOG_BURST);
	srclimit_free(t);
}

/* One bucket (capacity SRL_WAYS): full of sources with connections, a
 * new source is untracked; sources with only a rate state give way, the
 * one refilled first; a released source's slot is reused. */
TEST(table_full)
{
	struct srclimit *t = srclimit_new_keyed(1, 1, 2);
	struct srclimit_cfg c = cfg(100, S(1), 2);
	struct srcent *e[SRL_WAYS], *x;
	char ip[32];

	if (!t)
		SKIP("out of memory");
	CHECK_INT(srclimit_capacity(t), SRL_WAYS);
	for (int i = 0; i < SRL_WAYS; i++) {
		snprintf(ip, sizeof(ip), "192.0.2.%d", i + 1);
		CHECK_INT(acq(t, &c, ip, S(10) + MS(i), &e[i]), SRL_OK);
	}
	CHECK_INT(acq(t, &c, "198.51.100.1", S(10) + MS(50), &x), SRL_UNTRACKED);
	CHECK(!x);
	CHECK_INT(srclimit_tracked(t, S(10) + MS(50)), SRL_WAYS);
	/* Existing sources still count. */
	CHECK_INT(acq(t, &c, "192.0.2.1", S(10) + MS(50), &x), SRL_OK);
	srclimit_release(x);
	/* All closed, but every rate bucket still refilling: the new source
	 * takes the slot of the one that refills first (192.0.2.2 here:
	 * 192.0.2.1 took a second token). */
	for (int i = 0; i < SRL_WAYS; i++)
		srclimit_release(e[i]);
	CHECK_INT(acq(t, &c, "198.51.100.1", S(10) + MS(60), &x), SRL_OK);
	srclimit_release(x);
	/* 192.0.2.2 lost its state: a full burst again. */
	CHECK_INT(acq(t, &c, "192.0.2.2", S(10) + MS(61), &x), SRL_OK);
	srclimit_release(x);
	CHECK_INT(acq(t, &c, "192.0.2.2", S(10) + MS(61), &x), SRL_OK);
	srclimit_release(x);
	CHECK_INT(acq(t, &c, "192.0.2.2", S(10) + MS(61), &x), SRL_REFUSED_RATE);
	/* 192.0.2.1 kept its (two tokens used). */
	CHECK_INT(acq(t, &c, "192.0.2.1", S(10) + MS(62), &x), SRL_REFUSED_RATE);
	/* Once refilled, everything is free again. */
	CHECK_INT(srclimit_tracked(t, S(100)), 0);
	for (int i = 0; i < SRL_WAYS; i++) {
		snprintf(ip, sizeof(ip), "203.0.113.%d", i + 1);
		CHECK_INT(acq(t, &c, ip, S(100), &e[i]), SRL_OK);
	}
	srclimit_free(t);
}

/* Several threads on a few sources: never more than max_conns held at
 * once (the threads' own count of what they hold, which is at most the
 * table's), and all back to zero at the end. */
#define THREADS 4
#define ITERS 200000
#define KEYS 3
#define MAXC 2

static struct srclimit *mt;
static struct srclimit_cfg mcfg;
static int held[KEYS], over, ok_total;

static void *hammer(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg * 7919 + 1;
	struct srcent *mine[KEYS][MAXC + 1];
	int nmine[KEYS] = { 0 }, ok = 0;

	for (int i = 0; i < ITERS; i++) {
		int k = (seed = seed * 1103515245 + 12345) >> 16;
		struct srl_key key4 = key("192.0.2.1");
		struct srl_note n;
		struct srcent *e;

		k %= KEYS;
		key4.addr[3] = (uint8_t)k;
		if (nmine[k] && (seed >> 8) % 2) {
			__atomic_sub_fetch(&held[k], 1, __ATOMIC_SEQ_CST);
			srclimit_release(mine[k][--nmine[k]]);
			continue;
		}
		if (srclimit_acquire(mt, &mcfg, &key4, S(1), true, &e, &n) != SRL_OK)
			continue;
		ok++;
		if (__atomic_add_fetch(&held[k], 1, __ATOMIC_SEQ_CST) > MAXC)
			__atomic_store_n(&over, 1, __ATOMIC_SEQ_CST);
		mine[k][nmine[k]++] = e;
	}
	for (int k = 0; k < KEYS; k++)
		while (nmine[k]) {
			__atomic_sub_fetch(&held[k], 1, __ATOMIC_SEQ_CST);
			srclimit_release(mine[k][--nmine[k]]);
		}
	__atomic_add_fetch(&ok_total, ok, __ATOMIC_SEQ_CST);
	return NULL;
}

TEST(threads)
{
	pthread_t th[THREADS];

	mt = srclimit_new(1024);
	mcfg = cfg(MAXC, 0, 0);
	if (!mt)
		SKIP("out of memory");
	for (long i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, hammer, (void *)i);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	CHECK(!over);
	CHECK(ok_total > ITERS / 10);
	CHECK_INT(srclimit_tracked(mt, S(1)), 0);
	srclimit_free(mt);
}

UNIT_MAIN("srclimit", prefix_masking, exemption, concurrency_count, token_bucket,
	  both_limits, log_notes, log_budget, table_full, threads)
