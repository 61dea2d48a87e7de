// SPDX-License-Identifier: GPL-2.0
/* The Prometheus text exposition of the counters and of the kernel path,
 * and the one-thread HTTP endpoint that serves it (GET /metrics). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conn/admit.h"
#include "config/config.h"
#include "base/log.h"
#include "base/metrics.h"
#include "ops/memstat.h"
#include "ops/metrics_http.h"
#include "base/metrics_int.h"
#include "datapath/kpath.h"
#include "datapath/steer.h"
#include "base/util.h"

/* The endpoint's thread. */
static struct {
	pthread_t thr;
	int lfd, stopfd[2];
	bool serving;
} H = { .lfd = -1, .stopfd = { -1, -1 } };

void metrics_attach(struct config *cfg)
{
	for (int i = 0; i < cfg->nlisteners + cfg->nudp; i++) {
		struct listener *l = i < cfg->nlisteners ? &cfg->listeners[i]
							 : &cfg->udp[i - cfg->nlisteners];

		l->mx = metrics_listener(l->text);
		if (l->shared)
			continue;	/* its rules are an earlier listener's */
		for (int g = 0; g < l->ngroups; g++) {
			struct pgroup *pg = &l->groups[g];
			const char *proto = pg->proto ? pg->proto->name : "CATCHALL";

			for (int r = 0; r < pg->nrules; r++)
				pg->rules[r].mx = metrics_rule(l->text, proto, pg->rules[r].key);
		}
		if (l->on_timeout)
			l->on_timeout->mx = metrics_rule(l->text, "on_timeout",
							 l->on_timeout->key);
	}
}

static uint64_t sum(const uint64_t *v, int stride, int idx)
{
	uint64_t s = 0;

	for (int w = 0; w < metrics_nworkers; w++)
		s += __atomic_load_n(&v[w * stride + idx], __ATOMIC_RELAXED);
	return s;
}

struct buf {
	char *p;
	size_t len, cap;
};

/* A UDP listener's block: its counters are the UDP families'. */
static bool udp_block(const struct mblock *m)
{
	return !m->is_rule && !strncmp(m->labels, "listener=\"udp/", 14);
}

/* A TCP listener's block. */
static bool tcp_block(const struct mblock *m)
{
	return !m->is_rule && !udp_block(m);
}

static void bprintf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		if (b->cap - b->len < 256 || !b->p) {
			size_t cap = b->cap ? b->cap * 2 : 8192;
			char *p = realloc(b->p, cap);

			if (!p)
				return;
			b->p = p;
			b->cap = cap;
		}
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < b->cap - b->len) {
			b->len += n;
			return;
		}
		b->cap = b->len + n + 1 > b->cap ? b->len + n + 1 : b->cap;
		{
			char *p = realloc(b->p, b->cap * 2);

			if (!p)
				return;
			b->p = p;
			b->cap *= 2;
		}
	}
}

static void family(struct buf *b, const char *name, const char *type,
		   const char *help)
{
	bprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const struct {
	const char *name, *help;
	int idx;
} lmetrics[] = {
	{ "passthru_connections_accepted_total", "Connections accepted.", ML_ACCEPTED },
	{ "passthru_sniff_timeouts_total", "Connections routed on what arrived before the sniff deadline.", ML_SNIFF_TIMEOUTS },
	{ "passthru_accept_errors_total", "accept() failures (fd or memory exhaustion).", ML_ACCEPT_ERRORS },
}, rmetrics[] = {
	{ "passthru_rule_matched_total", "Connections routed by the rule.", MR_MATCHED },
	{ "passthru_rule_forwarded_total", "Connections that reached their upstream.", MR_FORWARDED },
	{ "passthru_rule_rejected_total", "Connections rejected by the rule.", MR_REJECTED },
	{ "passthru_rule_upstream_errors_total", "Upstream refused, timed out, unreachable or unresolved.", MR_UPSTREAM_ERRORS },
};

/* Called with M.mu held (the blocks' list). */
static void render_memory(struct buf *b)
{
	struct memstat ms;
	int64_t active = 0;

	memstat_read(&ms);
	for (struct mblock *m = M.head; m; m = m->next)
		if (!m->is_rule)
			active += (int64_t)(sum(m->v, m->nctr, ML_ACCEPTED) -
					    sum(m->v, m->nctr, ML_CLOSED));
	family(b, "passthru_memory_rss_bytes", "gauge", "Resident memory of the process.");
	bprintf(b, "passthru_memory_rss_bytes %lld\n", (long long)ms.rss);
	family(b, "passthru_memory_bpf_maps_bytes", "gauge",
	       "Kernel memory of the BPF maps (allocated at start, sized by kernel_connections).");
	bprintf(b, "passthru_memory_bpf_maps_bytes %lld\n", (long long)ms.bpf_maps);
	if (ms.kernel < 0)
		return;
	family(b, "passthru_memory_kernel_bytes", "gauge",
	       "Kernel memory charged to passthru's memory cgroup (sockets, epoll, files, psocks, pipes; "
	       "and what other processes in that cgroup use).");
	{
		char labels[640] = "";

		metrics_label_append(labels, sizeof(labels), "cgroup", memstat_cgroup(), true);
		bprintf(b, "passthru_memory_kernel_bytes{%s} %lld\n", labels, (long long)ms.kernel);
	}
	family(b, "passthru_memory_kernel_per_connection_bytes", "gauge",
	       "Kernel memory grown since start, per open connection: what sizing a box needs.");
	bprintf(b, "passthru_memory_kernel_per_connection_bytes %lld\n",
		active > 0 && ms.kernel_base >= 0 ? (long long)((ms.kernel - ms.kernel_base) / active) : 0LL);
}

/* UDP listeners and their rules.  Called with M.mu held. */
static void render_udp(struct buf *b)
{
	struct mblock *m;

	family(b, "passthru_udp_flows_total", "counter", "UDP flows begun (a client Initial that decrypts).");
	for (m = M.head; m; m = m->next)
		if (udp_block(m))
			bprintf(b, "passthru_udp_flows_total{%s} %llu\n", m->labels,
				(unsigned long long)sum(m->v, m->nctr, ML_UDP_FLOWS));
	family(b, "passthru_udp_flows_active", "gauge", "UDP flows now, deciding, forwarded or rejected.");
	for (m = M.head; m; m = m->next) {
		uint64_t ended = 0;

		if (!udp_block(m))
			continue;
		for (int e = 0; e < MU_END_MAX; e++)
			ended += sum(m->v, m->nctr, ML_UDP_END + e);
		bprintf(b, "passthru_udp_flows_active{%s} %lld\n", m->labels,
			(long long)(sum(m->v, m->nctr, ML_UDP_FLOWS) - ended));
	}
	family(b, "passthru_udp_flows_ended_total", "counter", "UDP flows ended, by how (the log's end=).");
	for (m = M.head; m; m = m->next)
		for (int e = 0; udp_block(m) && e < MU_END_MAX; e++)
			bprintf(b, "passthru_udp_flows_ended_total{%s,end=\"%s\"} %llu\n", m->labels,
				metrics_uend_labels[e],
				(unsigned long long)sum(m->v, m->nctr, ML_UDP_END + e));
	family(b, "passthru_udp_dropped_datagrams_total", "counter",
	       "Datagrams from clients (and replies) dropped, by reason.");
	for (m = M.head; m; m = m->next)
		for (int d = 0; udp_block(m) && d < MU_DROP_MAX; d++)
			bprintf(b, "passthru_udp_dropped_datagrams_total{%s,reason=\"%s\"} %llu\n",
				m->labels, metrics_udrop_labels[d],
				(unsigned long long)sum(m->v, m->nctr, ML_UDP_DROP + d));
	family(b, "passthru_rule_datagrams_total", "counter",
	       "UDP datagrams forwarded by the rule, by direction, as they pass.");
	for (m = M.head; m; m = m->next) {
		if (!m->is_rule || strncmp(m->labels, "listener=\"udp/", 14))
			continue;
		bprintf(b, "passthru_rule_datagrams_total{%s,direction=\"up\"} %llu\n", m->labels,
			(unsigned long long)sum(m->v, m->nctr, MR_DGRAMS_UP));
		bprintf(b, "passthru_rule_datagrams_total{%s,direction=\"down\"} %llu\n", m->labels,
			(unsigned long long)sum(m->v, m->nctr, MR_DGRAMS_DOWN));
	}
}

static void render_tracked(const char *listener, uint32_t tracked, void *arg)
{
	char labels[512] = "";

	metrics_label_append(labels, sizeof(labels), "listener", listener, true);
	bprintf(arg, "passthru_sources_tracked{%s} %u\n", labels, tracked);
}

char *metrics_render(size_t *len)
{
	static const char *const stat_names[PT_STAT_MAX] = {
		[PT_STAT_SKBS] = "passthru_kernel_redirected_skbs_total",
		[PT_STAT_BYTES] = "passthru_kernel_redirected_bytes_total",
		[PT_STAT_FIN_DROP] = "passthru_kernel_fin_skbs_total",
		[PT_STAT_NO_PEER] = "passthru_kernel_no_peer_drops_total",
		[PT_STAT_FREEZES] = "passthru_backpressure_freezes_total",
		[PT_STAT_OVER_BYTES] = "passthru_backpressure_overshoot_bytes_total",
		[PT_STAT_EVENT_LOST] = "passthru_backpressure_events_lost_total",
		[PT_STAT_RESENT_BYTES] = "passthru_kernel_resent_bytes_cut_total",
		[PT_STAT_SEQ_GAPS] = "passthru_kernel_seq_gaps_total",
	};
	uint64_t ks[PT_STAT_MAX];
	struct buf b = { 0 };
	struct mblock *m;

	pthread_mutex_lock(&M.mu);
	family(&b, "passthru_info", "gauge", "Version and data path.");
	bprintf(&b, "passthru_info{version=\"%s\",path=\"%s\"} 1\n", PASSTHRU_VERSION, M.path);
	family(&b, "passthru_start_time_seconds", "gauge", "Start time, seconds since the epoch.");
	bprintf(&b, "passthru_start_time_seconds %lld\n", (long long)M.started);
	family(&b, "passthru_config_reloads_total", "counter", "Configuration reloads applied.");
	bprintf(&b, "passthru_config_reloads_total %llu\n",
		(unsigned long long)__atomic_load_n(&M.reloads, __ATOMIC_RELAXED));
	family(&b, "passthru_config_reload_failures_total", "counter", "Reloads refused (bad configuration).");
	bprintf(&b, "passthru_config_reload_failures_total %llu\n",
		(unsigned long long)__atomic_load_n(&M.reload_failures, __ATOMIC_RELAXED));

	render_memory(&b);
	for (size_t i = 0; i < ARRAY_SIZE(lmetrics); i++) {
		family(&b, lmetrics[i].name, "counter", lmetrics[i].help);
		for (m = M.head; m; m = m->next)
			if (tcp_block(m))
				bprintf(&b, "%s{%s} %llu\n", lmetrics[i].name, m->labels,
					(unsigned long long)sum(m->v, m->nctr, lmetrics[i].idx));
	}
	family(&b, "passthru_worker_connections_accepted_total", "counter",
	       "Connections accepted, by worker: accept steering keeps them on the first workers not busy.");
	for (int w = 0; w < metrics_nworkers; w++) {
		uint64_t n = 0;

		for (m = M.head; m; m = m->next)
			if (tcp_block(m))
				n += __atomic_load_n(&m->v[w * m->nctr + ML_ACCEPTED], __ATOMIC_RELAXED);
		bprintf(&b, "passthru_worker_connections_accepted_total{worker=\"%d\"} %llu\n", w,
			(unsigned long long)n);
	}
	if (steer_ready()) {
		uint64_t local, picked, spread;

		steer_counts(&local, &picked, &spread);
		family(&b, "passthru_accept_steering_total", "counter",
		       "New connections placed by accept steering: on the worker of the CPU that took the SYN (cpu), on the first worker not busy (first), or by the kernel's hash when every worker was busy (hash).");
		bprintf(&b, "passthru_accept_steering_total{placed=\"cpu\"} %llu\n",
			(unsigned long long)local);
		bprintf(&b, "passthru_accept_steering_total{placed=\"first\"} %llu\n",
			(unsigned long long)picked);
		bprintf(&b, "passthru_accept_steering_total{placed=\"hash\"} %llu\n",
			(unsigned long long)spread);
	}
	family(&b, "passthru_source_refused_total", "counter",
	       "Connections reset at accept by a per-source limit: max_conns_per_source (conns), new_conns_per_source (rate).");
	for (m = M.head; m; m = m->next) {
		if (!tcp_block(m))
			continue;
		bprintf(&b, "passthru_source_refused_total{%s,limit=\"conns\"} %llu\n", m->labels,
			(unsigned long long)sum(m->v, m->nctr, ML_SRC_REFUSED_CONNS));
		bprintf(&b, "passthru_source_refused_total{%s,limit=\"rate\"} %llu\n", m->labels,
			(unsigned long long)sum(m->v, m->nctr, ML_SRC_REFUSED_RATE));
	}
	family(&b, "passthru_source_untracked_total", "counter",
	       "Connections accepted without per-source accounting: the source table had no room.");
	for (m = M.head; m; m = m->next)
		if (tcp_block(m))
			bprintf(&b, "passthru_source_untracked_total{%s} %llu\n", m->labels,
				(unsigned long long)sum(m->v, m->nctr, ML_SRC_UNTRACKED));
	family(&b, "passthru_sources_tracked", "gauge",
	       "Sources with per-source state: connections open or a rate bucket not yet refilled.");
	admit_each(render_tracked, &b);
	family(&b, "passthru_connections_active", "gauge", "Connections open now.");
	for (m = M.head; m; m = m->next)
		if (tcp_block(m))
			bprintf(&b, "passthru_connections_active{%s} %lld\n", m->labels,
				(long long)(sum(m->v, m->nctr, ML_ACCEPTED) -
					    sum(m->v, m->nctr, ML_CLOSED)));
	family(&b, "passthru_connections_ended_total", "counter", "Connections ended, by how (the log's end=).");
	for (m = M.head; m; m = m->next) {
		if (m->is_rule)
			continue;
		for (int e = 0; e < ME_MAX; e++) {
			uint64_t n = sum(m->ends, ME_MAX, e);

			if (n)
				bprintf(&b, "passthru_connections_ended_total{%s,end=\"%s\"} %llu\n",
					m->labels, metrics_end_names[e], (unsigned long long)n);
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(rmetrics); i++) {
		family(&b, rmetrics[i].name, "counter", rmetrics[i].help);
		for (m = M.head; m; m = m->next)
			if (m->is_rule)
				bprintf(&b, "%s{%s} %llu\n", rmetrics[i].name, m->labels,
					(unsigned long long)sum(m->v, m->nctr, rmetrics[i].idx));
	}
	family(&b, "passthru_rule_active", "gauge", "Connections open now, by rule.");
	for (m = M.head; m; m = m->next)
		if (m->is_rule)
			bprintf(&b, "passthru_rule_active{%s} %lld\n", m->labels,
				(long long)(sum(m->v, m->nctr, MR_MATCHED) -
					    sum(m->v, m->nctr, MR_CLOSED)));
	family(&b, "passthru_rule_bytes_total", "counter",
	       "Bytes forwarded, by direction: TCP counted when connections close, UDP as datagrams pass.");
	for (m = M.head; m; m = m->next) {
		if (!m->is_rule)
			continue;
		bprintf(&b, "passthru_rule_bytes_total{%s,direction=\"up\"} %llu\n", m->labels,
			(unsigned long long)sum(m->v, m->nctr, MR_BYTES_UP));
		bprintf(&b, "passthru_rule_bytes_total{%s,direction=\"down\"} %llu\n", m->labels,
			(unsigned long long)sum(m->v, m->nctr, MR_BYTES_DOWN));
	}
	render_udp(&b);
	pthread_mutex_unlock(&M.mu);

	/* The kernel path's own counters, live (bytes counted as they pass). */
	if (!kpath_stats(ks)) {
		for (int i = 0; i < PT_STAT_MAX; i++) {
			if (!stat_names[i])
				continue;
			family(&b, stat_names[i], "counter", "From the BPF programs' per-CPU counters.");
			bprintf(&b, "%s %llu\n", stat_names[i], (unsigned long long)ks[i]);
		}
	}
	*len = b.len;
	return b.p;
}

/* ---- HTTP endpoint ------------------------------------------------------ */

/* One client at a time, so no client may hold the endpoint: the request
 * has METRICS_REQ_MS in all (a scraper sends a few hundred bytes at once;
 * one that trickles it was served never, and blocked every other scrape),
 * the answer METRICS_SEND_MS (Prometheus' default scrape timeout; one
 * that does not read blocked send() for good), and a stop (SIGTERM) ends
 * either at once: metrics_stop() waits for this thread. */
#define METRICS_REQ_MS	1000
#define METRICS_SEND_MS	10000

/* fd ready for ev before the deadline, and no stop asked for? */
static bool wait_ready(int fd, short ev, uint64_t deadline)
{
	return !fd_wait(fd, ev, H.stopfd[0], deadline);
}

static bool send_all(int fd, const char *buf, size_t len, uint64_t deadline)
{
	for (size_t off = 0; off < len;) {
		ssize_t w = send(fd, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w == 0 || errno != EAGAIN || !wait_ready(fd, POLLOUT, deadline))
			return false;
	}
	return true;
}

static void serve_one(int fd)
{
	char req[2048], hdr[256];
	size_t got = 0, len = 0;
	uint64_t deadline = now_ms() + METRICS_REQ_MS;
	char *body = NULL;
	bool ok;
	int n;

	while (got < sizeof(req) - 1 && wait_ready(fd, POLLIN, deadline)) {
		ssize_t r = recv(fd, req + got, sizeof(req) - 1 - got, MSG_DONTWAIT);

		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r <= 0)
			break;
		got += r;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	req[got] = '\0';
	/* /metrics (a query string allowed) and /; not /metricsXYZ. */
	ok = (!strncmp(req, "GET /metrics", 12) && (req[12] == ' ' || req[12] == '?')) ||
	     !strncmp(req, "GET / ", 6);
	if (ok)
		body = metrics_render(&len);
	n = snprintf(hdr, sizeof(hdr),
		     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
		     ok && body ? "200 OK" : "404 Not Found",
		     ok ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain", ok && body ? len : 0);
	deadline = now_ms() + METRICS_SEND_MS;
	if (send_all(fd, hdr, (size_t)n, deadline) && ok && body &&
	    !send_all(fd, body, len, deadline))
		pr_debug("metrics: a client took not all of the answer within %d ms", METRICS_SEND_MS);
	free(body);
	close(fd);
}

static void *serve_main(void *arg)
{
	accept_until(H.lfd, H.stopfd[0], serve_one);
	return arg;
}

int metrics_serve(const char *addr, bool takeover)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	char host[256];
	const char *why;
	uint16_t port;
	bool literal;
	int one = 1, err;

	if (addr_parse(addr, host, sizeof(host), &port, &ss, &sslen, &literal, &why) ||
	    !literal) {
		pr_err("metrics: %s: %s", addr, literal ? why : "expected an IP address and port");
		return -EINVAL;
	}
	/* SO_REUSEPORT lets a --takeover successor bind while we still
	 * serve (its metrics take over when we exit).  Anyone else on the
	 * port is refused: probe it without the option first. */
	if (!takeover) {
		int probe = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (probe < 0)
			return -errno;
		setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		err = bind(probe, (struct sockaddr *)&ss, sslen) ? -errno : 0;
		close(probe);
		if (err) {
			pr_err("metrics: cannot listen on %s: %s", addr, strerror(-err));
			return err;
		}
	}
	H.lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (H.lfd < 0)
		return -errno;
	setsockopt(H.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(H.lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(H.lfd, (struct sockaddr *)&ss, sslen) || listen(H.lfd, 16) ||
	    pipe2(H.stopfd, O_CLOEXEC)) {
		err = -errno;
		pr_err("metrics: cannot listen on %s: %s", addr, strerror(-err));
		close(H.lfd);
		H.lfd = -1;
		return err;
	}
	err = pthread_create(&H.thr, NULL, serve_main, NULL);
	if (err) {
		close(H.lfd);
		H.lfd = -1;
		return -err;
	}
	H.serving = true;
	pr_info("metrics on http://%s/metrics", addr);
	return 0;
}

void metrics_stop(void)
{
	if (!H.serving)
		return;
	if (write(H.stopfd[1], "x", 1) < 0) {
		/* the thread then stops at its next accept */
	}
	pthread_join(H.thr, NULL);
	close(H.lfd);
	close(H.stopfd[0]);
	close(H.stopfd[1]);
	H.serving = false;
}
