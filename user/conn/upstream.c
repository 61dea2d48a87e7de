// SPDX-License-Identifier: GPL-2.0
/* Upstream selection, retry and passive health (see upstream.h). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/match.h"
#include "conn/upstream.h"
#include "datapath/kpath.h"
#include "base/util.h"

static uint32_t addr_hash(const struct sockaddr *sa)
{
	struct sockaddr_storage ss;
	const uint8_t *p;
	uint32_t h = 2166136261u;
	size_t n;

	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, sa, sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						  : sizeof(struct sockaddr_in));
	addr_unmap(&ss);
	if (ss.ss_family == AF_INET) {
		p = (const uint8_t *)&((struct sockaddr_in *)&ss)->sin_addr;
		n = 4;
	} else if (ss.ss_family == AF_INET6) {
		p = ((struct sockaddr_in6 *)&ss)->sin6_addr.s6_addr;
		n = 16;
	} else {
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

void up_plan(struct up_try *t, const struct upstream *u,
	     const struct sockaddr *client, uint64_t now)
{
	uint32_t start = 0;
	int n = u->n, k = 0;
	uint8_t down[UP_MAX_TARGETS];
	int ndown = 0;

	memset(t, 0, sizeof(*t));
	t->u = u;
	t->naddr = -1;
	t->active = -1;
	switch (u->balance) {
	case BAL_FIRST:
		break;
	case BAL_SOURCE:
		start = addr_hash(client);
		break;
	case BAL_ROUNDROBIN:
	case BAL_LEASTCONN:
		start = n > 1 ? atomic_fetch_add_explicit(&u->rr->rr, 1,
							  memory_order_relaxed) : 0;
		break;
	}
	for (int i = 0; i < n; i++)
		t->order[i] = (uint8_t)((start + (uint32_t)i) % (uint32_t)n);
	if (u->balance == BAL_LEASTCONN) {
		/* Fewest connections first; ties keep the rotation. */
		for (int i = 1; i < n; i++) {
			uint8_t x = t->order[i];
			int ax = atomic_load_explicit(&u->t[x].st->active,
						      memory_order_relaxed), j = i;

			while (j > 0 && atomic_load_explicit(&u->t[t->order[j - 1]].st->active,
							      memory_order_relaxed) > ax) {
				t->order[j] = t->order[j - 1];
				j--;
			}
			t->order[j] = x;
		}
	}
	/* Targets in their cooldown go last: tried only if all else fails. */
	for (int i = 0; i < n; i++) {
		uint8_t x = t->order[i];

		if (atomic_load_explicit(&u->t[x].st->down_until,
					 memory_order_relaxed) > now)
			down[ndown++] = x;
		else
			t->order[k++] = x;
	}
	memcpy(t->order + k, down, ndown);
	t->n = n;
}

void up_prefer(struct up_try *t, const union paddr *sa)
{
	for (int i = 0; i < t->n; i++) {
		const struct target *tg = &t->u->t[t->order[i]];
		uint8_t x = t->order[i];

		if (!tg->literal || !paddr_eq(&tg->addr, sa))
			continue;
		memmove(t->order + 1, t->order, (size_t)i);
		t->order[0] = x;
		return;
	}
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

int up_next(struct up_try *t, struct sockaddr_storage *sa)
{
	while (t->i < t->n) {
		const struct target *tg = &t->u->t[t->order[t->i]];

		if (t->naddr < 0) {
			struct sockaddr_storage a[DNS_MAX_ADDRS];
			int n;

			if (tg->literal) {
				a[0] = tg->addr;
				n = 1;
			} else {
				n = dns_get(tg->dns, a, DNS_MAX_ADDRS);
				if (n == 0)
					return 0;
				if (n < 0) {
					/* Not the target's fault: no health
					 * count, just the next one. */
					t->err = -n;
					t->i++;
					continue;
				}
				for (int i = 0; i < n; i++)
					set_port(&a[i], tg->port);
			}
			for (int i = 0; i < n; i++)
				paddr_set(&t->addr[i], &a[i]);
			t->naddr = n;
			t->iaddr = 0;
		}
		if (t->iaddr < t->naddr) {
			memset(sa, 0, sizeof(*sa));
			memcpy(sa, &t->addr[t->iaddr], sizeof(t->addr[0]));
			return 1;
		}
		t->i++;
		t->naddr = -1;
	}
	return -(t->err ? t->err : ECONNREFUSED);
}

const struct target *up_target(const struct up_try *t)
{
	return t->i < t->n ? &t->u->t[t->order[t->i]] : NULL;
}

bool up_target_fault(int err)
{
	switch (err) {
	case ECONNREFUSED:
	case ETIMEDOUT:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case ECONNRESET:
	case EHOSTDOWN:
		return true;
	default:
		return false;
	}
}

void up_health(const struct upstream *u, int target, int err, uint64_t now)
{
	struct target_state *st;

	if (!u || target < 0 || target >= u->n)
		return;
	st = u->t[target].st;
	if (!err) {
		atomic_store_explicit(&st->fails, 0, memory_order_relaxed);
		atomic_store_explicit(&st->down_until, 0, memory_order_relaxed);
		return;
	}
	if (u->health_fails && up_target_fault(err) &&
	    atomic_fetch_add_explicit(&st->fails, 1, memory_order_relaxed) + 1 >=
		    u->health_fails)
		atomic_store_explicit(&st->down_until, now + u->health_cooldown_ms,
				      memory_order_relaxed);
}

void up_chosen(struct up_try *t)
{
	const struct target *tg = up_target(t);

	if (!tg)
		return;
	atomic_fetch_add_explicit(&tg->st->active, 1, memory_order_relaxed);
	t->active = t->order[t->i];
}

void up_result(struct up_try *t, int err, uint64_t now)
{
	if (!up_target(t))
		return;
	if (!err) {
		up_health(t->u, t->order[t->i], 0, now);
		up_chosen(t);
		return;
	}
	t->err = err;
	if (++t->iaddr < t->naddr)
		return;
	/* Every address of the target failed: one strike. */
	up_health(t->u, t->order[t->i], err, now);
}

void up_skip(struct up_try *t, int err)
{
	t->err = err;
	t->i++;
	t->naddr = -1;
}

void up_release(const struct upstream *u, int active)
{
	if (u && active >= 0)
		atomic_fetch_sub_explicit(&u->t[active].st->active, 1,
					  memory_order_relaxed);
}

void up_done(struct up_try *t)
{
	up_release(t->u, t->active);
	t->active = -1;
}

static socklen_t ss_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					 : sizeof(struct sockaddr_in);
}

/* IP_TRANSPARENT and a bind to the client's address (port left to the
 * kernel), so the upstream sees the client as the source.  Replies must
 * come back to this host: see the README for the policy routing. */
static int transparent_bind(int fd, const struct sockaddr_storage *sa,
			    const struct sockaddr *client)
{
	struct sockaddr_storage src;
	int one = 1;

	memset(&src, 0, sizeof(src));
	memcpy(&src, client, client->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
							     : sizeof(struct sockaddr_in));
	addr_unmap(&src);
	if (src.ss_family != sa->ss_family)
		return -EAFNOSUPPORT;	/* an IPv4 client cannot be an IPv6 source */
	set_port(&src, 0);
	if (sa->ss_family == AF_INET6) {
		if (setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one)))
			return -errno;
	} else {
		if (setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)))
			return -errno;
	}
	/* The port is picked at connect(), from the 4-tuple: no clash with
	 * the client's own connections. */
	setsockopt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&src, ss_len(&src)))
		return -errno;
	return 0;
}

static int up_rcvbuf;

void up_set_rcvbuf(int bytes)
{
	up_rcvbuf = bytes;
}

int up_connect(const struct upstream *u, const struct sockaddr_storage *sa,
	       const struct sockaddr *client, int *fdp)
{
	int fd, one = 1, err;

	fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* The proxy must not add latency: segments go out as the peer sent
	 * them, not held back by Nagle.  With the kernel path loaded,
	 * pt_sock_ops sets it at connect, a syscall less per connection. */
	if (!kpath_nodelay())
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* Before connect: the window scale is chosen from it. */
	sock_set_buf(fd, true, up_rcvbuf);
	if (u->transparent) {
		err = transparent_bind(fd, sa, client);
		if (err) {
			close(fd);
			return err;
		}
	}
	if (connect(fd, (const struct sockaddr *)sa, ss_len(sa)) && errno != EINPROGRESS) {
		err = -errno;
		close(fd);
		return err;
	}
	*fdp = fd;
	return 0;
}
