// SPDX-License-Identifier: GPL-2.0
/* Per-source connection and rate limits: the shared table (srclimit.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>

#include "config/srclimit.h"

struct srl_bucket {
	uint32_t lock;
	uint16_t tag[SRL_WAYS];		/* 0: slot never used */
	struct srcent e[SRL_WAYS] __attribute__((aligned(64)));
};

struct srclimit {
	struct srl_bucket *b;
	size_t maplen;
	uint32_t nbuckets;		/* a power of two */
	uint64_t k0, k1;		/* SipHash key */
	uint64_t log_tat_us;		/* line budget (GCRA), atomic */
	uint32_t pending;		/* entries with refusals to log, atomic */
};

#define LD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define ST(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

/* ---- hashing ----------------------------------------------------------- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                             \
	do {                                                                 \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);   \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                      \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                      \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);   \
	} while (0)

/* SipHash-1-3 of three words: keyed, so that which sources share a
 * bucket cannot be known (or forced) from outside. */
static uint64_t siphash3(uint64_t k0, uint64_t k1, const uint64_t m[3])
{
	uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
	uint64_t b = (uint64_t)24 << 56;

	for (int i = 0; i < 3; i++) {
		v3 ^= m[i];
		SIPROUND;
		v0 ^= m[i];
	}
	v3 ^= b;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t key_hash(const struct srclimit *t, const struct srl_key *k)
{
	uint64_t m[3] = { 0, 0, (uint64_t)k->family << 8 | k->bits };

	memcpy(&m[0], k->addr, 8);
	memcpy(&m[1], k->addr + 8, 8);
	return siphash3(t->k0, t->k1, m);
}

/* ---- locking ------------------------------------------------------------- */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Held for a few compares: spin briefly, then let a holder that was
 * preempted run. */
static void bucket_lock(struct srl_bucket *b)
{
	for (int spins = 0;; spins++) {
		if (!LD(&b->lock) && !__atomic_exchange_n(&b->lock, 1, __ATOMIC_ACQUIRE))
			return;
		if (spins < 100)
			cpu_relax();
		else
			sched_yield();
	}
}

static void bucket_unlock(struct srl_bucket *b)
{
	__atomic_store_n(&b->lock, 0, __ATOMIC_RELEASE);
}

/* ---- the table ------------------------------------------------------------ */

struct srclimit *srclimit_new_keyed(uint32_t entries, uint64_t k0, uint64_t k1)
{
	struct srclimit *t = calloc(1, sizeof(*t));
	uint32_t n = 1;

	if (!t)
		return NULL;
	if (entries > (1u << 30))
		entries = 1u << 30;
	while ((uint64_t)n * SRL_WAYS < entries)
		n <<= 1;
	t->nbuckets = n;
	t->k0 = k0;
	t->k1 = k1;
	/* Anonymous memory: zero, and resident only where sources land. */
	t->maplen = (size_t)n * sizeof(struct srl_bucket);
	t->b = mmap(NULL, t->maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t->b == MAP_FAILED) {
		free(t);
		return NULL;
	}
	return t;
}

struct srclimit *srclimit_new(uint32_t entries)
{
	uint64_t k[2];

	if (getrandom(k, sizeof(k), 0) != sizeof(k)) {
		/* No entropy source: a fixed key still works, minus the
		 * protection against aimed collisions. */
		k[0] = 0x0123456789abcdefULL ^ (uint64_t)(uintptr_t)&k;
		k[1] = 0xfedcba9876543210ULL;
	}
	return srclimit_new_keyed(entries, k[0], k[1]);
}

void srclimit_free(struct srclimit *t)
{
	if (!t)
		return;
	munmap(t->b, t->maplen);
	free(t);
}

uint32_t srclimit_capacity(const struct srclimit *t)
{
	return t->nbuckets * SRL_WAYS;
}

/* ---- keys ------------------------------------------------------------------ */

static void mask(uint8_t *a, int bits, int max)
{
	for (int i = bits; i < max; i++)
		a[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
}

int srclimit_key(const struct srclimit_cfg *cfg, const struct sockaddr *sa,
		 struct srl_key *k)
{
	memset(k, 0, sizeof(*k));
	if (sa->sa_family == AF_INET) {
		memcpy(k->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		k->family = AF_INET;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a)) {
			memcpy(k->addr, a->s6_addr + 12, 4);
			k->family = AF_INET;
		} else {
			memcpy(k->addr, a->s6_addr, 16);
			k->family = AF_INET6;
		}
	} else {
		return -EAFNOSUPPORT;
	}
	k->bits = k->family == AF_INET ? cfg->prefix4 : cfg->prefix6;
	mask(k->addr, k->bits, k->family == AF_INET ? 32 : 128);
	return 0;
}

bool srclimit_exempt(const struct srclimit_cfg *cfg, const struct sockaddr *sa)
{
	return cfg->nexempt && cidr_list_matches(cfg->exempt, cfg->nexempt, sa);
}

const char *srl_key_str(const struct srl_key *k, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	inet_ntop(k->family, k->addr, ip, sizeof(ip));
	snprintf(buf, len, "%s/%u", ip, k->bits);
	return buf;
}

/* ---- acquire / release -------------------------------------------------------- */

static bool pending(const struct srcent *e)
{
	return e->refused[0] || e->refused[1];
}

/* One log line from the table's budget (GCRA again, lock-free). */
static bool log_budget(struct srclimit *t, uint64_t now)
{
	const uint64_t T = 1000000 / SRL_LOG_PER_S, tau = (SRL_LOG_BURST - 1) * T;
	uint64_t cur = LD(&t->log_tat_us), tat;

	do {
		tat = cur > now ? cur : now;
		if (tat - now > tau)
			return false;
	} while (!__atomic_compare_exchange_n(&t->log_tat_us, &cur, tat + T, false,
					      __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return true;
}

/* Under the bucket lock: hand the entry's refusals to a log line if its
 * interval is over and the table's budget allows. */
static void take_note(struct srclimit *t, struct srcent *e, uint64_t now,
		      struct srl_note *note)
{
	if (!pending(e) || (e->log_us && now - e->log_us < SRL_LOG_INTERVAL_US) ||
	    !log_budget(t, now))
		return;
	note->due = true;
	note->key = e->key;
	note->refused[0] = e->refused[0];
	note->refused[1] = e->refused[1];
	note->conns = LD(&e->conns);
	note->since_us = e->log_us ? now - e->log_us : 0;
	e->refused[0] = e->refused[1] = 0;
	e->log_us = now;
	__atomic_sub_fetch(&t->pending, 1, __ATOMIC_RELAXED);
}

/* The slot for a source the bucket does not hold: a free one (never used,
 * or whose state has all expired), else the entry without connections
 * that carries the least (no refusals to log, then the earliest refilled
 * rate bucket).  -1: every entry has connections open. */
static int free_slot(const struct srl_bucket *b, uint64_t now)
{
	int victim = -1;

	for (int i = 0; i < SRL_WAYS; i++) {
		const struct srcent *e = &b->e[i];

		if (!b->tag[i])
			return i;
		if (LD(&e->conns))
			continue;
		if (e->tat_us <= now && !pending(e))
			return i;
		if (victim < 0 || pending(&b->e[victim]) > pending(e) ||
		    (pending(&b->e[victim]) == pending(e) && e->tat_us < b->e[victim].tat_us))
			victim = i;
	}
	return victim;
}

enum srl_verdict srclimit_acquire(struct srclimit *t, const struct srclimit_cfg *cfg,
				  const struct srl_key *k, uint64_t now_us, bool check,
				  struct srcent **out, struct srl_note *note)
{
	uint64_t h = key_hash(t, k);
	struct srl_bucket *b = &t->b[h & (t->nbuckets - 1)];
	uint16_t tag = (uint16_t)(h >> 48) ? (uint16_t)(h >> 48) : 1;
	enum srl_verdict v = SRL_OK;
	struct srcent *e = NULL;
	uint64_t tat = 0;
	int i;

	note->due = false;
	*out = NULL;
	bucket_lock(b);
	for (i = 0; i < SRL_WAYS; i++)
		if (b->tag[i] == tag && !memcmp(&b->e[i].key, k, sizeof(*k))) {
			e = &b->e[i];
			break;
		}
	if (!e) {
		i = free_slot(b, now_us);
		if (i < 0) {
			bucket_unlock(b);
			return SRL_UNTRACKED;
		}
		e = &b->e[i];
		if (b->tag[i] && pending(e))
			__atomic_sub_fetch(&t->pending, 1, __ATOMIC_RELAXED);
		/* Atomic stores where srclimit_tracked reads without the lock. */
		e->key = *k;
		ST(&e->conns, 0);
		ST(&e->tat_us, 0);
		e->log_us = 0;
		e->refused[0] = e->refused[1] = 0;
		ST(&b->tag[i], tag);
	}
	if (check && cfg->max_conns && LD(&e->conns) >= cfg->max_conns) {
		v = SRL_REFUSED_CONNS;
	} else if (check && cfg->interval_us) {
		/* Allowed while the arrival time it would push stays within
		 * burst - 1 intervals of now; a refusal takes no token. */
		tat = e->tat_us > now_us ? e->tat_us : now_us;
		if (tat - now_us > (uint64_t)(cfg->burst ? cfg->burst - 1 : 0) * cfg->interval_us)
			v = SRL_REFUSED_RATE;
		else
			ST(&e->tat_us, tat + cfg->interval_us);
	}
	if (v == SRL_OK) {
		__atomic_add_fetch(&e->conns, 1, __ATOMIC_RELAXED);
		*out = e;
	} else {
		if (!pending(e))
			__atomic_add_fetch(&t->pending, 1, __ATOMIC_RELAXED);
		e->refused[v - 1]++;
	}
	take_note(t, e, now_us, note);
	bucket_unlock(b);
	return v;
}

/* No lock: only a holder of a connection decrements, and an entry with
 * connections is never reused, so e stays this source's. */
void srclimit_release(struct srcent *e)
{
	if (e)
		__atomic_sub_fetch(&e->conns, 1, __ATOMIC_RELEASE);
}

int srclimit_flush(struct srclimit *t, uint64_t now_us,
		   void (*fn)(const struct srl_note *n, void *arg), void *arg)
{
	int lines = 0;

	if (!LD(&t->pending))
		return 0;
	for (uint32_t bi = 0; bi < t->nbuckets; bi++) {
		struct srl_bucket *b = &t->b[bi];
		struct srl_note notes[SRL_WAYS];
		int n = 0;

		bucket_lock(b);
		for (int i = 0; i < SRL_WAYS; i++) {
			notes[n].due = false;
			if (b->tag[i])
				take_note(t, &b->e[i], now_us, &notes[n]);
			n += notes[n].due;
		}
		bucket_unlock(b);
		for (int i = 0; i < n; i++)
			fn(&notes[i], arg);
		lines += n;
		if (!LD(&t->pending))
			break;
	}
	return lines;
}

uint32_t srclimit_tracked(const struct srclimit *t, uint64_t now_us)
{
	uint32_t n = 0;

	for (uint32_t bi = 0; bi < t->nbuckets; bi++) {
		const struct srl_bucket *b = &t->b[bi];

		for (int i = 0; i < SRL_WAYS; i++)
			n += LD(&b->tag[i]) && (LD(&b->e[i].conns) || LD(&b->e[i].tat_us) > now_us);
	}
	return n;
}
