/* SPDX-License-Identifier: GPL-2.0 */
/* Per-source limits: how many connections one client (an address, or the
 * prefix it belongs to) may hold open, and how fast it may open new ones.
 *
 * One table per listen address, shared by every worker (a client's
 * connections land on any worker's SO_REUSEPORT socket, and a limit split
 * per worker would refuse a client at limit/N on an unlucky spread).  The
 * table is preallocated and never grows: buckets of SRL_WAYS entries, the
 * bucket chosen by a keyed hash (SipHash, a random key per table, so that
 * clients cannot aim at one bucket), each bucket behind its own spinlock.
 * A check costs one hash, one uncontended lock and at most SRL_WAYS
 * 16-bit tag compares; releasing a connection is one atomic decrement.
 *
 * An entry stays while it holds state: open connections, a rate bucket
 * not yet refilled, or refusals not yet logged.  Otherwise its slot is
 * free for the next new source.  A bucket whose every entry has open
 * connections cannot take a new source: that connection is accepted
 * without per-source accounting (SRL_UNTRACKED, counted).  With the table
 * sized at max_connections entries that needs about max_connections
 * distinct clients, each holding a connection, at which point
 * max_connections itself is the bound.
 *
 * The rate limit is a token bucket in its GCRA form: one timestamp per
 * source (the "theoretical arrival time"), no refill loop, no float.
 * Pure data structure: no I/O, no logging, no config; the caller (admit.c)
 * turns verdicts into refusals, counters and log lines. */
#ifndef PT_SRCLIMIT_H
#define PT_SRCLIMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/match.h"

#define SRL_WAYS 16
/* A source's refusals are logged at most once per interval. */
#define SRL_LOG_INTERVAL_US (10 * 1000000ULL)
/* And a table writes at most this many such lines per second (burst
 * SRL_LOG_BURST): a flood from many sources must not flood the log.
 * Lines held back keep their counts for a later line. */
#define SRL_LOG_PER_S 10
#define SRL_LOG_BURST 20

/* A listener's limits, as configured (limits.c). */
struct srclimit_cfg {
	uint32_t max_conns;		/* open at once; 0: unlimited */
	uint64_t interval_us;		/* one new connection per; 0: no rate limit */
	uint32_t burst;			/* new connections at once */
	uint8_t prefix4, prefix6;	/* what one "source" is: /32 and /64 */
	struct cidr *exempt;		/* never limited nor counted */
	int nexempt;
};

static inline bool srclimit_on(const struct srclimit_cfg *c)
{
	return c->max_conns || c->interval_us;
}

/* A source: its address with the host bits past the prefix cleared. */
struct srl_key {
	uint8_t addr[16];
	uint8_t family;			/* AF_INET or AF_INET6 */
	uint8_t bits;
};

struct srcent {
	struct srl_key key;
	uint32_t conns;			/* open connections (atomic) */
	uint64_t tat_us;		/* GCRA: when the bucket is full again */
	uint64_t log_us;		/* the last log line about it; 0: none */
	uint32_t refused[2];		/* since then: by conns, by rate */
};

enum srl_verdict {
	SRL_OK = 0,
	SRL_REFUSED_CONNS,		/* max_conns open already */
	SRL_REFUSED_RATE,		/* new connections too fast */
	SRL_UNTRACKED,			/* no room: accepted, not counted */
};

/* A log line that is due: the source, its refusals since the last line
 * and how long ago that was (0: the first). */
struct srl_note {
	bool due;
	struct srl_key key;
	uint32_t refused[2];
	uint32_t conns;
	uint64_t since_us;
};

struct srclimit;

/* entries: rounded up to a power of two, at least SRL_WAYS.  NULL when
 * out of memory. */
struct srclimit *srclimit_new(uint32_t entries);
/* Unit tests: a fixed hash key, to make buckets collide on purpose. */
struct srclimit *srclimit_new_keyed(uint32_t entries, uint64_t k0, uint64_t k1);
void srclimit_free(struct srclimit *t);
uint32_t srclimit_capacity(const struct srclimit *t);

/* The source sa belongs to under cfg's prefixes: v4-mapped IPv6 addresses
 * count as IPv4.  -EAFNOSUPPORT for anything but IPv4 and IPv6. */
int srclimit_key(const struct srclimit_cfg *cfg, const struct sockaddr *sa,
		 struct srl_key *k);
/* sa is in cfg's exempt list (v4-mapped addresses match IPv4 prefixes). */
bool srclimit_exempt(const struct srclimit_cfg *cfg, const struct sockaddr *sa);
/* "192.0.2.0/24", "2001:db8::/64". */
const char *srl_key_str(const struct srl_key *k, char *buf, size_t len);

/* A new connection from k at now_us: SRL_OK with *out set (release it
 * once, when the connection ends), a refusal (nothing counted but the
 * refusal), or SRL_UNTRACKED (*out NULL).  check false counts without
 * refusing (connections inherited by a live upgrade).  *note says whether
 * a log line about this source is due. */
enum srl_verdict srclimit_acquire(struct srclimit *t, const struct srclimit_cfg *cfg,
				  const struct srl_key *k, uint64_t now_us, bool check,
				  struct srcent **out, struct srl_note *note);
void srclimit_release(struct srcent *e);

/* Log lines due at now_us for refusals nothing else reported (a source
 * that stopped trying): fn once per source, outside the locks.  Returns
 * how many. */
int srclimit_flush(struct srclimit *t, uint64_t now_us,
		   void (*fn)(const struct srl_note *n, void *arg), void *arg);
/* Sources with state (open connections, a rate bucket not full, or
 * refusals to log) at now_us.  A scan of the table, for the metrics. */
uint32_t srclimit_tracked(const struct srclimit *t, uint64_t now_us);

#endif /* PT_SRCLIMIT_H */
