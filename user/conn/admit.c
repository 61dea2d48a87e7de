// SPDX-License-Identifier: GPL-2.0
/* Per-source limits at accept: tables per listen address, refusals,
 * their counters and log lines (admit.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn/admit.h"
#include "conn/conn.h"
#include "base/log.h"
#include "base/metrics.h"
#include "config/srclimit.h"
#include "base/util.h"

/* ---- log lines ------------------------------------------------------------ */

static void log_note(const struct srl_note *n, void *arg)
{
	char src[INET6_ADDRSTRLEN + 8];

	log_msg(LOG_WARN, "source-limit listen=%s source=%s refused_conns=%u refused_rate=%u open=%u since_ms=%llu",
		(const char *)arg, srl_key_str(&n->key, src, sizeof(src)), n->refused[0],
		n->refused[1], n->conns, (unsigned long long)(n->since_us / 1000));
}

static void flush_one(const char *name, struct srclimit *t, void *arg)
{
	srclimit_flush(t, *(const uint64_t *)arg, log_note, (void *)name);
}

void admit_tick(void)
{
	uint64_t now = now_us();

	limits_each(flush_one, &now);
}

struct each {
	void (*fn)(const char *listener, uint32_t tracked, void *arg);
	void *arg;
	uint64_t now;
};

static void tracked_one(const char *name, struct srclimit *t, void *arg)
{
	struct each *e = arg;

	e->fn(name, srclimit_tracked(t, e->now), e->arg);
}

void admit_each(void (*fn)(const char *listener, uint32_t tracked, void *arg),
		void *arg)
{
	struct each e = { fn, arg, now_us() };

	limits_each(tracked_one, &e);
}

/* ---- checks --------------------------------------------------------------- */

/* The check itself, for a client sa of listener l: counters and the log
 * line; the caller closes what was refused. */
static enum srl_verdict admit(int worker, const struct listener *l,
			      const struct sockaddr *sa, bool check, struct srcent **ent)
{
	static uint64_t last_full_warn;
	struct srl_note note;
	struct srl_key k;
	enum srl_verdict v;
	uint64_t now;

	*ent = NULL;
	if (srclimit_exempt(&l->lim, sa) || srclimit_key(&l->lim, sa, &k))
		return SRL_OK;
	now = now_us();
	v = srclimit_acquire(l->sl, &l->lim, &k, now, check, ent, &note);
	if (note.due)
		log_note(&note, l->text);
	switch (v) {
	case SRL_OK:
		break;
	case SRL_REFUSED_CONNS:
		metrics_add(l->mx, worker, ML_SRC_REFUSED_CONNS, 1);
		break;
	case SRL_REFUSED_RATE:
		metrics_add(l->mx, worker, ML_SRC_REFUSED_RATE, 1);
		break;
	case SRL_UNTRACKED:
		metrics_add(l->mx, worker, ML_SRC_UNTRACKED, 1);
		/* A race on the stamp costs at most one line more. */
		if (now - __atomic_load_n(&last_full_warn, __ATOMIC_RELAXED) > SRL_LOG_INTERVAL_US) {
			__atomic_store_n(&last_full_warn, now, __ATOMIC_RELAXED);
			pr_warn("servers.\"%s\": per-source table full (%u sources with connections open in one bucket): new sources are accepted without per-source limits",
				l->text, SRL_WAYS);
		}
		break;
	}
	return v;
}

bool admit_accept(struct worker *w, const struct listener *l, int fd,
		  const struct sockaddr_storage *peer, struct srcent **ent)
{
	const struct sockaddr *sa = (const struct sockaddr *)peer;
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	enum srl_verdict v;

	*ent = NULL;
	if (!l->sl)
		return true;
	/* A trusted proxy speaks for many clients: it is the client its
	 * PROXY header names that counts (admit_proxied). */
	if (l->naccept_proxy && cidr_list_matches(l->accept_proxy, l->naccept_proxy, sa))
		return true;
	v = admit(w->id, l, sa, true, ent);
	if (v == SRL_OK || v == SRL_UNTRACKED)
		return true;
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	return false;
}

/* A PROXY header without an address (LOCAL: the proxy's own health
 * checks) leaves the peer as the client: not counted, as at accept. */
static bool names_client(const struct conn *c)
{
	union paddr peer = c->peer;

	addr_unmap(&peer);
	if (peer.sa.sa_family != c->src.sa.sa_family)
		return true;
	if (peer.sa.sa_family == AF_INET)
		return memcmp(&peer.v4.sin_addr, &c->src.v4.sin_addr, 4) != 0;
	return memcmp(&peer.v6.sin6_addr, &c->src.v6.sin6_addr, 16) != 0;
}

int admit_proxied(struct conn *c)
{
	enum srl_verdict v;

	if (!c->l->sl || c->srcent || !names_client(c))
		return 0;
	v = admit(c->w->id, c->l, (const struct sockaddr *)&c->src, true, &c->srcent);
	if (v == SRL_OK || v == SRL_UNTRACKED)
		return 0;
	return -1;
}

void admit_import(struct conn *c)
{
	const struct sockaddr *sa = (const struct sockaddr *)&c->peer;

	if (!c->l->sl)
		return;
	if (c->proxied) {
		if (!names_client(c))
			return;
		sa = (const struct sockaddr *)&c->src;
	} else if (c->l->naccept_proxy &&
		   cidr_list_matches(c->l->accept_proxy, c->l->naccept_proxy, sa)) {
		return;		/* its header is read again: admit_proxied */
	}
	admit(c->w->id, c->l, sa, false, &c->srcent);
}

void admit_release(struct conn *c)
{
	srclimit_release(c->srcent);
	c->srcent = NULL;
}
