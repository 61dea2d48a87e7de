// SPDX-License-Identifier: GPL-2.0
/* The resolver thread: getaddrinfo() blocks, so it never runs on an event
 * loop.  Answers are cached per host name and refreshed in the background;
 * a failed refresh keeps the last good answer. */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/resolve.h"
#include "base/util.h"

struct dns_entry {
	char host[256];
	pthread_mutex_t mu;		/* the answer */
	struct sockaddr_storage addrs[DNS_MAX_ADDRS];
	int naddrs;
	int err;		/* -errno of the last failure if never resolved */
	bool answered;		/* at least one answer (good or bad) */
	uint64_t refreshed_ms;
	/* Under R.mu: configurations holding it, plus the resolver while it
	 * asks; the last one to let go frees it. */
	int refs;
	struct dns_entry *next;
};

/* One registry of host names for every configuration alive: a reload
 * shares the entries (and their answers) of the names it keeps, and the
 * resolver thread runs across reloads, so connections accepted under any
 * configuration still being used get their answers. */
static struct {
	pthread_t thr;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool running, stop;
	struct dns_entry *head;
	uint64_t interval_ms;
	const int *wake_fds;
	int nwake;
} R = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
	.interval_ms = 30000 };

struct dns_entry *dns_ref(const char *host)
{
	struct dns_entry *e;

	pthread_mutex_lock(&R.mu);
	for (e = R.head; e; e = e->next)
		if (!strcasecmp(e->host, host))
			break;
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			goto out;
		snprintf(e->host, sizeof(e->host), "%s", host);
		pthread_mutex_init(&e->mu, NULL);
		e->next = R.head;
		R.head = e;
		pthread_cond_signal(&R.cv);	/* a new name: resolve it now */
	}
	e->refs++;
out:
	pthread_mutex_unlock(&R.mu);
	return e;
}

/* R.mu held. */
static void unref_locked(struct dns_entry *e)
{
	if (--e->refs)
		return;
	for (struct dns_entry **pp = &R.head; *pp; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	pthread_mutex_destroy(&e->mu);
	free(e);
}

void dns_unref(struct dns_entry *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&R.mu);
	unref_locked(e);
	pthread_mutex_unlock(&R.mu);
}

const char *dns_entry_name(const struct dns_entry *e)
{
	return e->host;
}

int dns_get(struct dns_entry *e, struct sockaddr_storage *out, int max)
{
	int n;

	pthread_mutex_lock(&e->mu);
	if (!e->answered) {
		n = 0;
	} else if (!e->naddrs) {
		n = e->err ? e->err : -ENOENT;
	} else {
		n = e->naddrs < max ? e->naddrs : max;
		memcpy(out, e->addrs, n * sizeof(*out));
	}
	pthread_mutex_unlock(&e->mu);
	return n;
}

static int gai_errno(int rc)
{
	switch (rc) {
	case EAI_NONAME:
#ifdef EAI_NODATA
	case EAI_NODATA:
#endif
		return -ENOENT;
	case EAI_AGAIN:
		return -EAGAIN;
	case EAI_MEMORY:
		return -ENOMEM;
	case EAI_SYSTEM:
		return errno ? -errno : -EIO;
	default:
		return -EIO;
	}
}

const char *dns_strerror(int err)
{
	if (err < 0)
		err = -err;
	if (err == ENOENT)
		return gai_strerror(EAI_NONAME);
	if (err == EAGAIN)
		return gai_strerror(EAI_AGAIN);
	return strerror(err);
}

static void resolve_one(struct dns_entry *e)
{
	struct addrinfo hints = {
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_ADDRCONFIG,
	}, *res = NULL;
	struct sockaddr_storage addrs[DNS_MAX_ADDRS];
	bool first, kept;
	int rc, n = 0;

	rc = getaddrinfo(e->host, NULL, &hints, &res);
	if (rc == EAI_NONAME || rc == EAI_ADDRFAMILY) {
		/* AI_ADDRCONFIG hides ::1 and 127.0.0.1 on a host with only
		 * loopback: ask again without it. */
		hints.ai_flags = 0;
		rc = getaddrinfo(e->host, NULL, &hints, &res);
	}
	if (!rc) {
		for (struct addrinfo *ai = res; ai && n < DNS_MAX_ADDRS; ai = ai->ai_next) {
			if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
				continue;
			memset(&addrs[n], 0, sizeof(addrs[n]));
			memcpy(&addrs[n], ai->ai_addr, ai->ai_addrlen);
			n++;
		}
		freeaddrinfo(res);
	}

	pthread_mutex_lock(&e->mu);
	first = !e->answered;
	if (n) {
		memcpy(e->addrs, addrs, n * sizeof(addrs[0]));
		e->naddrs = n;
		e->err = 0;
	} else if (!e->naddrs) {
		e->err = rc ? gai_errno(rc) : -ENOENT;
	}
	e->answered = true;
	e->refreshed_ms = now_ms();
	kept = !n && e->naddrs;
	pthread_mutex_unlock(&e->mu);

	if (!n)
		pr_warn("resolve %s: %s%s", e->host,
			rc ? gai_strerror(rc) : "no IPv4/IPv6 address",
			kept ? " (keeping the previous answer)" : "");
	else if (first)
		pr_debug("resolve %s: %d address(es)", e->host, n);
	if (first) {
		uint64_t one = 1;

		for (int i = 0; i < R.nwake; i++)
			if (write(R.wake_fds[i], &one, sizeof(one)) < 0) {
				/* the counter saturates: a wakeup is pending anyway */
			}
	}
}

/* The entry due first (NULL: none before *next_ms, which it lowers to the
 * next due time).  R.mu held. */
static struct dns_entry *due_entry(uint64_t now, uint64_t *next_ms)
{
	for (struct dns_entry *e = R.head; e; e = e->next) {
		uint64_t due;

		pthread_mutex_lock(&e->mu);
		due = e->answered ? e->refreshed_ms + R.interval_ms : 0;
		pthread_mutex_unlock(&e->mu);
		if (due <= now)
			return e;
		if (due < *next_ms)
			*next_ms = due;
	}
	return NULL;
}

static void *resolver_main(void *arg)
{
	pthread_mutex_lock(&R.mu);
	while (!R.stop) {
		uint64_t now = now_ms(), next = now + R.interval_ms;
		struct dns_entry *e = due_entry(now, &next);
		struct timespec ts;

		if (e) {
			/* Pinned: a reload may drop the last configuration
			 * naming it while getaddrinfo() runs. */
			e->refs++;
			pthread_mutex_unlock(&R.mu);
			resolve_one(e);
			pthread_mutex_lock(&R.mu);
			unref_locked(e);
			continue;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		if (next > now) {
			uint64_t wait = next - now;

			ts.tv_sec += wait / 1000;
			ts.tv_nsec += (wait % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&R.cv, &R.mu, &ts);
		}
	}
	pthread_mutex_unlock(&R.mu);
	return arg;
}

int resolver_start(uint64_t interval_ms, const int *wake_fds, int nwake)
{
	int err;

	pthread_mutex_lock(&R.mu);
	R.interval_ms = interval_ms;
	R.wake_fds = wake_fds;
	R.nwake = nwake;
	R.stop = false;
	pthread_mutex_unlock(&R.mu);
	err = pthread_create(&R.thr, NULL, resolver_main, NULL);
	if (err)
		return -err;
	R.running = true;
	return 0;
}

void resolver_reload(uint64_t interval_ms)
{
	pthread_mutex_lock(&R.mu);
	R.interval_ms = interval_ms;
	/* Every name is asked again now; until the answer comes, the last one
	 * serves (nobody parks). */
	for (struct dns_entry *e = R.head; e; e = e->next) {
		pthread_mutex_lock(&e->mu);
		e->refreshed_ms = 0;
		pthread_mutex_unlock(&e->mu);
	}
	pthread_cond_signal(&R.cv);
	pthread_mutex_unlock(&R.mu);
}

void resolver_stop(void)
{
	if (!R.running)
		return;
	pthread_mutex_lock(&R.mu);
	R.stop = true;
	pthread_cond_signal(&R.cv);
	pthread_mutex_unlock(&R.mu);
	/* A getaddrinfo() in flight finishes first; it is bounded by
	 * resolv.conf's timeout. */
	pthread_join(R.thr, NULL);
	R.running = false;
}
