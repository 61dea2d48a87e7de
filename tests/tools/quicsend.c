// SPDX-License-Identifier: GPL-2.0
/* quicsend: QUIC-shaped UDP traffic for the QUIC tests (and a load tool).
 *
 *   quicsend echo   --listen ADDR:PORT --tag TAG
 *       an upstream: every datagram comes back to its sender as TAG then
 *       the datagram, byte for byte.
 *   quicsend client --connect ADDR:PORT --sni NAME [--alpn a,b]
 *                   [--version 1|2] [--split K] [--order 2,0,1] [--pad N]
 *                   [--flows N] [--count M] [--size B] [--window W]
 *                   [--expect TAG|none] [--timeout MS] [--bind ADDR:PORT]
 *                   [--again-sni NAME] [--zero-rtt N]
 *       N flows at once (a socket each): a ClientHello (tlsgen, padded to
 *       N bytes) cut into K client Initials (1200-byte datagrams) sent in
 *       the order given, then M datagrams of B bytes, W in flight; every
 *       reply must be TAG + what was sent, in the order sent.  --expect
 *       none: no reply may come (REJECT).  --bind: flow i sends from
 *       PORT + i (a client port used again).  --again-sni: then a second
 *       hello naming NAME under a new Destination Connection ID but the
 *       same Source Connection ID, as a client sends after a Retry (RFC
 *       9000 17.2.5.2): the same connection, so TAG answers it too.
 *       --zero-rtt: N 0-RTT packets after the hello, answered as the rest.
 *       Prints one line:
 *       result=ok|fail flows_ok= flows_silent= flows_bad= ... why=...
 *   quicsend flood  (client options) --seconds S [--warmup S] [--pid PID]
 *       the same flows, then datagrams kept W in flight per flow for S
 *       seconds (fractions allowed) after --warmup seconds: prints round
 *       trips per second and, over that window alone (win_*), datagrams
 *       and bytes each way, whole-system CPU (/proc/stat, every CPU, all
 *       but idle and iowait) and the CPU of process PID (the proxy: all
 *       its threads), for the benchmark (tests/bench/run.sh).
 *   quicsend raw    --connect ADDR:PORT (--garbage N | --hex HEX | --vn |
 *                   --short N | --unknown-version | --small-initial |
 *                   --bad-initial) [--wait MS]
 *       one datagram that must start no flow; --unknown-version checks
 *       the Version Negotiation answer (versions 1 and 2, CIDs swapped).
 *
 * Exit status: 0 result=ok, 1 result=fail, 2 usage or setup error. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "quic_seal.h"
#include "tlsgen.h"
#include "tool.h"

#define DG_MAX 4096
#define INITIAL_DGRAM 1200
#define MAX_SPLIT 8

struct opts {
	const char *listen, *connect, *sni, *alpn, *tag, *expect, *order, *bind, *again_sni;
	uint32_t version;
	int split, flows, count, size, window, timeout_ms, pad, pid, zero_rtt;
	double seconds, warmup;
	int garbage, short_len;
	bool vn, unknown_version, small_initial, bad_initial;
	const char *hex;
	int wait_ms;
};

static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[128];
	const char *colon = strrchr(s, ':');
	size_t hl;

	if (!colon)
		return -1;
	hl = (size_t)(colon - s);
	if (hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
			return -1;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)atoi(colon + 1));
		*len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return -1;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)atoi(colon + 1));
		*len = sizeof(*a);
	}
	return 0;
}

/* A socket connected to addr; from bind (ADDR:PORT) + k if given. */
static int udp_connected_from(const char *addr, const char *bind_to, int k)
{
	struct sockaddr_storage ss, bs;
	socklen_t len, bl;
	int fd, big = 1 << 20, one = 1;

	if (parse_addr(addr, &ss, &len))
		die("bad address %s", addr);
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	if (bind_to) {
		if (parse_addr(bind_to, &bs, &bl))
			die("bad address %s", bind_to);
		if (bs.ss_family == AF_INET)
			((struct sockaddr_in *)&bs)->sin_port =
				htons((uint16_t)(ntohs(((struct sockaddr_in *)&bs)->sin_port) + k));
		else
			((struct sockaddr_in6 *)&bs)->sin6_port =
				htons((uint16_t)(ntohs(((struct sockaddr_in6 *)&bs)->sin6_port) + k));
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&bs, bl))
			die("bind %s + %d: %s", bind_to, k, strerror(errno));
	}
	if (connect(fd, (struct sockaddr *)&ss, len))
		die("socket/connect %s: %s", addr, strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	return fd;
}

static int udp_connected(const char *addr)
{
	return udp_connected_from(addr, NULL, 0);
}

/* ---- echo ------------------------------------------------------------------ */

static int run_echo(const struct opts *o)
{
	struct sockaddr_storage ss;
	socklen_t len;
	size_t tl = strlen(o->tag);
	uint8_t buf[DG_MAX + 64];
	int fd, one = 1, big = 4 << 20;

	if (!o->listen || parse_addr(o->listen, &ss, &len))
		die("echo needs --listen ADDR:PORT");
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len))
		die("bind %s: %s", o->listen, strerror(errno));
	memcpy(buf, o->tag, tl);
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t pl = sizeof(peer);
		ssize_t n = recvfrom(fd, buf + tl, DG_MAX, 0, (struct sockaddr *)&peer, &pl);

		if (n < 0) {
			if (errno == EINTR || errno == ECONNREFUSED)
				continue;
			die("recvfrom: %s", strerror(errno));
		}
		sendto(fd, buf, tl + (size_t)n, 0, (struct sockaddr *)&peer, pl);
	}
}

/* ---- CPU over the flood's window ------------------------------------------------ */

/* CPU of a process, every thread of it, in seconds; -1 if gone.  The
 * threads' schedstat (ns): a kernel path leaves the proxy a few ms a
 * second, below the 10 ms ticks of utime + stime, the fallback. */
static double proc_cpu_s(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st, ns, sum = 0;
	bool any = false;
	struct dirent *de;
	size_t n;
	DIR *d;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	while (d && (de = readdir(d))) {
		char sp[96];

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(sp, sizeof(sp), "/proc/%d/task/%d/schedstat", pid, atoi(de->d_name));
		f = fopen(sp, "re");
		if (f && fscanf(f, "%llu", &ns) == 1) {
			sum += ns;
			any = true;
		}
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	if (any)
		return (double)sum / 1e9;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* comm may hold spaces: count fields from its closing parenthesis. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			 &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

struct win {
	int64_t t_us;
	uint64_t sent, recvd, up, down;
	double sys_s, proc_s;
};

/* ---- client flows ------------------------------------------------------------ */

struct dg {
	uint16_t len;
	uint8_t b[DG_MAX];
};

struct flow {
	int fd;
	int ninit;
	struct dg init[MAX_SPLIT];	/* in the order sent */
	uint8_t scid[8];		/* the client's, for the whole connection */
	uint8_t dcid[8];		/* of the last hello */
	int sent, recvd;		/* datagrams, Initials included */
	int reordered;			/* replies that overtook an earlier one */
	uint64_t bytes_up, bytes_down;
	bool bad, done;
	char why[160];
	struct dg *ring;		/* what was sent, not yet answered */
	int ring_n;
};

/* Called between bursts, when nothing is in flight: the window's
 * datagrams are then whole round trips. */
static void win_snap(const struct opts *o, const struct flow *fl, int n, struct win *w)
{
	memset(w, 0, sizeof(*w));
	for (int i = 0; i < n; i++) {
		w->sent += (uint64_t)fl[i].sent;
		w->recvd += (uint64_t)fl[i].recvd;
		w->up += fl[i].bytes_up;
		w->down += fl[i].bytes_down;
	}
	w->sys_s = sys_busy_s();
	w->proc_s = o->pid ? proc_cpu_s(o->pid) : -1;
	w->t_us = clock_us();
}

/* The Initials of one flow: its hello (naming sni) cut in K pieces, each
 * sealed in a 1200-byte datagram; init[] holds them in the order they are
 * sent.  A new Destination Connection ID each time; the Source
 * Connection ID new unless keep_scid. */
static void make_initials(const struct opts *o, struct flow *f, const char *sni, bool keep_scid)
{
	struct tlsgen_opts to = { .sni = sni, .alpn = o->alpn, .pad_to = (size_t)o->pad };
	uint8_t rec[20000], dcid[8], *scid = f->scid;
	const uint8_t *hs;
	ssize_t rl = tlsgen_client_hello(&to, rec, sizeof(rec));
	size_t hl, piece, off = 0;
	int order[MAX_SPLIT];

	if (rl < 5)
		die("tlsgen: %zd", rl);
	/* One record (under 16 KiB): the handshake message follows its header. */
	hs = rec + 5;
	hl = (size_t)rl - 5;
	if (getrandom(dcid, sizeof(dcid), 0) != sizeof(dcid) ||
	    (!keep_scid && getrandom(f->scid, sizeof(f->scid), 0) != sizeof(f->scid)))
		die("getrandom");
	memcpy(f->dcid, dcid, sizeof(dcid));
	piece = (hl + (size_t)o->split - 1) / (size_t)o->split;
	for (int i = 0; i < o->split; i++)
		order[i] = i;
	if (o->order) {
		const char *p = o->order;

		for (int i = 0; i < o->split; i++) {
			order[i] = atoi(p);
			if (order[i] < 0 || order[i] >= o->split)
				die("--order: %s", o->order);
			p = strchr(p, ',');
			if (!p && i + 1 < o->split)
				die("--order needs %d numbers", o->split);
			if (p)
				p++;
		}
	}
	f->ninit = o->split;
	for (int i = 0; i < o->split; i++) {
		int k = order[i];
		size_t from = (size_t)k * piece, n = from >= hl ? 0 : hl - from < piece ? hl - from : piece;
		uint8_t payload[DG_MAX];
		struct qseal q = { .version = o->version, .dcid = dcid, .dcid_len = 8, .scid = scid,
				   .scid_len = 8, .pn = (uint64_t)k, .pn_len = 4, .type = QUIC_PT_INITIAL };
		size_t plen = qs_crypto(payload, from, hs + from, n);
		/* 1 + 4 + 1 + 8 + 1 + 8 + 1 + 2 + 4 header bytes, 16 of tag */
		size_t want = INITIAL_DGRAM - 46;
		ssize_t sl;

		(void)off;
		if (plen > want)
			die("a piece of %zu bytes does not fit a 1200-byte Initial: more --split", n);
		memset(payload + plen, 0, want - plen);	/* PADDING frames */
		sl = qs_seal(&q, payload, want, f->init[i].b, DG_MAX);
		if (sl < 0)
			die("qs_seal");
		f->init[i].len = (uint16_t)sl;
	}
}

/* A 0-RTT packet of the flow's connection (sealed with the Initial keys:
 * only its header matters to passthru, which never decrypts 0-RTT). */
static void zero_rtt_dgram(const struct opts *o, struct flow *f, struct dg *d, int k)
{
	uint8_t payload[DG_MAX];
	struct qseal q = { .version = o->version, .dcid = f->dcid, .dcid_len = 8, .scid = f->scid,
			   .scid_len = 8, .pn = (uint64_t)(64 + k), .pn_len = 4, .type = QUIC_PT_0RTT };
	ssize_t sl;

	memset(payload, 0, 400);
	payload[0] = 0x08;	/* a STREAM frame's type, then zeros */
	payload[1] = (uint8_t)k;
	sl = qs_seal(&q, payload, 400, d->b, DG_MAX);
	if (sl < 0)
		die("qs_seal");
	d->len = (uint16_t)sl;
}

static void app_dgram(struct dg *d, int flow, int seq, int size)
{
	d->len = (uint16_t)size;
	/* A short header's first byte, then a pattern naming flow and seq. */
	for (int i = 0; i < size; i++)
		d->b[i] = (uint8_t)(i == 0 ? 0x40 | (seq & 0x3f) : (flow * 131 + seq * 7 + i) & 0xff);
	if (size >= 9) {
		memcpy(d->b + 1, &flow, 4);
		memcpy(d->b + 5, &seq, 4);
	}
}

static void flow_fail(struct flow *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void flow_fail(struct flow *f, const char *fmt, ...)
{
	va_list ap;

	if (!f->bad) {
		va_start(ap, fmt);
		vsnprintf(f->why, sizeof(f->why), fmt, ap);
		va_end(ap);
	}
	f->bad = true;
}

static void flow_send(struct flow *f, const struct dg *d)
{
	if (send(f->fd, d->b, d->len, 0) != d->len)
		flow_fail(f, "send failed (errno %d)", errno);
	f->ring[f->ring_n++] = *d;
	f->sent++;
	f->bytes_up += d->len;
}

/* Replies until every flow has none outstanding, or the deadline. */
static void collect(const struct opts *o, struct flow *fl, int n, int64_t deadline,
		    int *outstanding)
{
	struct pollfd *p = calloc((size_t)n, sizeof(*p));
	size_t tl = o->tag ? strlen(o->tag) : 0;
	uint8_t buf[DG_MAX + 64];

	for (;;) {
		int want = 0, left_ms;

		for (int i = 0; i < n; i++) {
			p[i].fd = fl[i].fd;
			p[i].events = fl[i].ring_n ? POLLIN : 0;
			want += fl[i].ring_n;
		}
		*outstanding = want;
		left_ms = (int)((deadline - clock_us()) / 1000);
		if (!want || left_ms <= 0)
			break;
		if (poll(p, (nfds_t)n, left_ms) <= 0)
			continue;
		for (int i = 0; i < n; i++) {
			struct flow *f = &fl[i];

			if (!(p[i].revents & (POLLIN | POLLERR)))
				continue;
			for (;;) {
				ssize_t r = recv(f->fd, buf, sizeof(buf), MSG_DONTWAIT);
				int k;

				if (r < 0)
					break;
				f->recvd++;
				f->bytes_down += (uint64_t)r;
				if (!f->ring_n) {
					flow_fail(f, "a reply nothing asked for (%d bytes)", (int)r);
					continue;
				}
				/* UDP may reorder (passthru's hand-over to the kernel
				 * path can, for a datagram or two): a reply answers
				 * any one datagram still outstanding, exactly. */
				for (k = 0; k < f->ring_n; k++) {
					const struct dg *d = &f->ring[k];

					if ((size_t)r == tl + d->len && !memcmp(buf, o->tag, tl) &&
					    !memcmp(buf + tl, d->b, d->len))
						break;
				}
				if (k == f->ring_n) {
					flow_fail(f, "reply %d matches no datagram sent (%d bytes)",
						  f->recvd, (int)r);
					k = 0;
				} else if (k) {
					f->reordered++;
				}
				memmove(f->ring + k, f->ring + k + 1,
					(size_t)(f->ring_n - k - 1) * sizeof(*f->ring));
				f->ring_n--;
			}
		}
	}
	free(p);
}

static int run_client(const struct opts *o, bool flood)
{
	int n = o->flows, ok = 0, silent = 0, bad = 0, outstanding = 0;
	struct flow *fl = calloc((size_t)n, sizeof(*fl));
	bool expect_none = o->expect && !strcmp(o->expect, "none");
	int64_t t0, t1;
	uint64_t up = 0, down = 0, reordered = 0;
	const char *why = "";
	struct win w0 = { 0 }, w1;
	bool in_win = !flood || o->warmup <= 0;

	if (!o->connect || !o->sni)
		die("client needs --connect and --sni");
	for (int i = 0; i < n; i++) {
		fl[i].fd = udp_connected_from(o->connect, o->bind, i);
		fl[i].ring = calloc((size_t)(o->window > MAX_SPLIT + o->zero_rtt ? o->window
									: MAX_SPLIT + o->zero_rtt) + 1,
				    sizeof(struct dg));
		make_initials(o, &fl[i], o->sni, false);
	}
	/* The hellos, piece by piece in the order asked, then 0-RTT. */
	for (int k = 0; k < o->split; k++)
		for (int i = 0; i < n; i++)
			flow_send(&fl[i], &fl[i].init[k]);
	for (int k = 0; k < o->zero_rtt; k++)
		for (int i = 0; i < n; i++) {
			struct dg d;

			zero_rtt_dgram(o, &fl[i], &d, k);
			flow_send(&fl[i], &d);
		}
	collect(o, fl, n, clock_us() + (int64_t)o->timeout_ms * 1000, &outstanding);
	for (int i = 0; i < n; i++) {
		if (fl[i].ring_n) {
			fl[i].done = true;	/* silent: no reply to the Initials */
			fl[i].ring_n = 0;
		}
	}
	t0 = clock_us();
	if (in_win)
		win_snap(o, fl, n, &w0);
	for (int seq = 0; !expect_none;) {
		int burst = o->window;

		if (!flood && seq >= o->count)
			break;
		if (!in_win && clock_us() - t0 >= (int64_t)(o->warmup * 1e6)) {
			win_snap(o, fl, n, &w0);
			in_win = true;
		}
		if (flood && in_win && clock_us() - w0.t_us > (int64_t)(o->seconds * 1e6))
			break;
		if (!flood && seq + burst > o->count)
			burst = o->count - seq;
		for (int i = 0; i < n; i++) {
			if (fl[i].done || fl[i].bad)
				continue;
			for (int b = 0; b < burst; b++) {
				struct dg d;

				app_dgram(&d, i, seq + b, o->size);
				flow_send(&fl[i], &d);
			}
		}
		seq += burst;
		collect(o, fl, n, clock_us() + (int64_t)o->timeout_ms * 1000, &outstanding);
		for (int i = 0; i < n; i++) {
			if (fl[i].ring_n && !fl[i].done)
				flow_fail(&fl[i], "%d replies missing after %d ms", fl[i].ring_n,
					  o->timeout_ms);
			fl[i].ring_n = 0;
		}
	}
	if (o->again_sni && !flood && !expect_none) {
		for (int i = 0; i < n; i++) {
			if (fl[i].done || fl[i].bad)
				continue;
			make_initials(o, &fl[i], o->again_sni, true);
			for (int k = 0; k < o->split; k++)
				flow_send(&fl[i], &fl[i].init[k]);
		}
		collect(o, fl, n, clock_us() + (int64_t)o->timeout_ms * 1000, &outstanding);
		for (int i = 0; i < n; i++) {
			if (fl[i].ring_n && !fl[i].done)
				flow_fail(&fl[i], "the hello after a Retry: %d replies missing after %d ms",
					  fl[i].ring_n, o->timeout_ms);
			fl[i].ring_n = 0;
		}
	}
	win_snap(o, fl, n, &w1);
	t1 = w1.t_us;
	t0 = w0.t_us;
	for (int i = 0; i < n; i++) {
		struct flow *f = &fl[i];

		up += f->bytes_up;
		down += f->bytes_down;
		reordered += (uint64_t)f->reordered;
		if (f->bad) {
			bad++;
			why = f->why;
		} else if (f->done) {
			silent++;
		} else {
			ok++;
		}
	}
	if (silent && !bad && !expect_none)
		why = "no reply to a flow's Initials (silent): --expect names a tag";
	if (expect_none) {
		bad += ok;
		if (ok)
			why = "a flow that should have no route got replies";
		ok = silent;
		silent = 0;
	}
	if (flood) {
		double s = (double)(t1 - t0) / 1e6;

		/* replies and rtt_per_s: the window's; bytes_*: the whole run,
		 * Initials included.  A sample of the proxy's CPU needs the
		 * process there at both ends of the window. */
		printf("result=%s flows_ok=%d flows_silent=%d flows_bad=%d replies=%llu seconds=%.2f rtt_per_s=%.0f bytes_up=%llu bytes_down=%llu win_s=%.4f win_dgrams_up=%llu win_dgrams_down=%llu win_bytes_up=%llu win_bytes_down=%llu win_sys_cpu_s=%.3f",
		       bad || silent ? "fail" : "ok", ok, silent, bad,
		       (unsigned long long)(w1.recvd - w0.recvd), s,
		       s > 0 ? (double)(w1.recvd - w0.recvd) / s : 0, (unsigned long long)up,
		       (unsigned long long)down, s, (unsigned long long)(w1.sent - w0.sent),
		       (unsigned long long)(w1.recvd - w0.recvd), (unsigned long long)(w1.up - w0.up),
		       (unsigned long long)(w1.down - w0.down), w1.sys_s - w0.sys_s);
		if (w0.proc_s >= 0 && w1.proc_s >= 0)
			printf(" win_proc_cpu_s=%.3f", w1.proc_s - w0.proc_s);
		printf(" why=\"%s\"\n", why);
	} else
		printf("result=%s flows_ok=%d flows_silent=%d flows_bad=%d bytes_up=%llu bytes_down=%llu reordered=%llu why=\"%s\"\n",
		       bad || silent ? "fail" : "ok", ok, silent, bad,
		       (unsigned long long)up, (unsigned long long)down,
		       (unsigned long long)reordered, why);
	for (int i = 0; i < n; i++) {
		close(fl[i].fd);
		free(fl[i].ring);
	}
	free(fl);
	return bad || silent ? 1 : 0;
}

/* ---- raw datagrams ------------------------------------------------------------- */

static int run_raw(const struct opts *o)
{
	uint8_t d[DG_MAX], r[DG_MAX];
	size_t len = 0;
	int fd;
	struct pollfd p;
	ssize_t got;

	if (!o->connect)
		die("raw needs --connect");
	fd = udp_connected(o->connect);
	if (o->garbage) {
		len = (size_t)o->garbage;
		for (size_t i = 0; i < len; i++)
			d[i] = (uint8_t)(i * 37 + 11);
		d[0] = 0x17;	/* not a long header: a short one without a flow */
	} else if (o->hex) {
		for (const char *h = o->hex; h[0] && h[1] && len < sizeof(d); h += 2) {
			unsigned int b;

			if (sscanf(h, "%2x", &b) != 1)
				die("--hex: %s", o->hex);
			d[len++] = (uint8_t)b;
		}
	} else if (o->short_len) {
		len = (size_t)o->short_len;
		memset(d, 0x55, len);
		d[0] = 0x41;
	} else if (o->vn || o->unknown_version || o->small_initial || o->bad_initial) {
		static const uint8_t dcid[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
		static const uint8_t scid[4] = { 9, 10, 11, 12 };
		uint32_t v = o->vn ? 0 : o->unknown_version ? 0x1a2a3a4a : QUIC_V1;

		len = o->small_initial ? 600 : INITIAL_DGRAM;
		memset(d, 0, len);
		/* A length field covering the rest; a payload that will
		 * not authenticate (--bad-initial). */
		d[19] = 0;
		d[20] = (uint8_t)(0x40 | (len - 22) >> 8);
		d[21] = (uint8_t)(len - 22);
		for (size_t i = 22; i < len; i++)
			d[i] = (uint8_t)(i * 13);
		d[0] = 0xc3;
		d[1] = (uint8_t)(v >> 24);
		d[2] = (uint8_t)(v >> 16);
		d[3] = (uint8_t)(v >> 8);
		d[4] = (uint8_t)v;
		d[5] = 8;
		memcpy(d + 6, dcid, 8);
		d[14] = 4;
		memcpy(d + 15, scid, 4);
		if (o->vn) {
			len = 19 + 8;
			memcpy(d + 19, "\0\0\0\1\x6b\x33\x43\xcf", 8);
		}
	} else {
		die("raw: which datagram?");
	}
	if (send(fd, d, len, 0) != (ssize_t)len)
		die("send: %s", strerror(errno));
	p.fd = fd;
	p.events = POLLIN;
	got = poll(&p, 1, o->wait_ms) == 1 ? recv(fd, r, sizeof(r), 0) : -1;
	if (o->unknown_version) {
		/* 0x80|x, version 0, DCID = our SCID, SCID = our DCID, 1 and 2 */
		bool vn_ok = got == 1 + 4 + 1 + 4 + 1 + 8 + 8 && (r[0] & 0x80) &&
			     !memcmp(r + 1, "\0\0\0\0", 4) && r[5] == 4 && !memcmp(r + 6, d + 15, 4) &&
			     r[10] == 8 && !memcmp(r + 11, d + 6, 8) &&
			     !memcmp(r + 19, "\0\0\0\1\x6b\x33\x43\xcf", 8);

		printf("result=%s reply=%zd why=\"%s\"\n", vn_ok ? "ok" : "fail", got,
		       vn_ok ? "" : "no Version Negotiation packet naming 1 and 2 with the CIDs swapped");
		return vn_ok ? 0 : 1;
	}
	printf("result=%s reply=%zd why=\"%s\"\n", got < 0 ? "ok" : "fail", got,
	       got < 0 ? "" : "a reply to a datagram that should start no flow");
	return got < 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "listen", 1, NULL, 'l' }, { "connect", 1, NULL, 'c' }, { "sni", 1, NULL, 's' },
		{ "alpn", 1, NULL, 'a' }, { "tag", 1, NULL, 'T' }, { "expect", 1, NULL, 'e' },
		{ "order", 1, NULL, 'o' }, { "version", 1, NULL, 'V' }, { "split", 1, NULL, 'k' },
		{ "flows", 1, NULL, 'n' }, { "count", 1, NULL, 'm' }, { "size", 1, NULL, 'b' },
		{ "window", 1, NULL, 'W' }, { "timeout", 1, NULL, 't' }, { "seconds", 1, NULL, 'S' },
		{ "pad", 1, NULL, 'p' }, { "garbage", 1, NULL, 'g' }, { "short", 1, NULL, 'h' },
		{ "vn", 0, NULL, 'v' }, { "unknown-version", 0, NULL, 'u' },
		{ "small-initial", 0, NULL, 'i' }, { "bad-initial", 0, NULL, 'B' },
		{ "hex", 1, NULL, 'H' }, { "wait", 1, NULL, 'w' }, { "warmup", 1, NULL, 'U' },
		{ "pid", 1, NULL, 'P' }, { "bind", 1, NULL, 'A' }, { "again-sni", 1, NULL, 'R' },
		{ "zero-rtt", 1, NULL, 'Z' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .tag = "", .split = 2, .flows = 1, .count = 20, .size = 1000, .window = 4,
			  .timeout_ms = 2000, .seconds = 3, .pad = 1800, .wait_ms = 500,
			  .version = QUIC_V1 };
	const char *mode;
	int c;

	if (argc < 2)
		die("usage: quicsend echo|client|flood|raw [options] (see the source)");
	mode = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'l': o.listen = optarg; break;
		case 'c': o.connect = optarg; break;
		case 's': o.sni = optarg; break;
		case 'a': o.alpn = optarg; break;
		case 'T': o.tag = optarg; break;
		case 'e': o.expect = optarg; break;
		case 'o': o.order = optarg; break;
		case 'V': o.version = atoi(optarg) == 2 ? QUIC_V2 : QUIC_V1; break;
		case 'k': o.split = atoi(optarg); break;
		case 'n': o.flows = atoi(optarg); break;
		case 'm': o.count = atoi(optarg); break;
		case 'b': o.size = atoi(optarg); break;
		case 'W': o.window = atoi(optarg); break;
		case 't': o.timeout_ms = atoi(optarg); break;
		case 'S': o.seconds = atof(optarg); break;
		case 'U': o.warmup = atof(optarg); break;
		case 'P': o.pid = atoi(optarg); break;
		case 'A': o.bind = optarg; break;
		case 'R': o.again_sni = optarg; break;
		case 'Z': o.zero_rtt = atoi(optarg); break;
		case 'p': o.pad = atoi(optarg); break;
		case 'g': o.garbage = atoi(optarg); break;
		case 'h': o.short_len = atoi(optarg); break;
		case 'v': o.vn = true; break;
		case 'u': o.unknown_version = true; break;
		case 'i': o.small_initial = true; break;
		case 'B': o.bad_initial = true; break;
		case 'H': o.hex = optarg; break;
		case 'w': o.wait_ms = atoi(optarg); break;
		default: die("bad option");
		}
	}
	if (o.split < 1 || o.split > MAX_SPLIT || o.flows < 1 || o.window < 1 ||
	    o.size < 10 || o.size > DG_MAX - 64)
		die("bad --split, --flows, --window or --size");
	if (o.expect && strcmp(o.expect, "none"))
		o.tag = o.expect;
	if (!strcmp(mode, "echo"))
		return run_echo(&o);
	if (!strcmp(mode, "client"))
		return run_client(&o, false);
	if (!strcmp(mode, "flood"))
		return run_client(&o, true);
	if (!strcmp(mode, "raw"))
		return run_raw(&o);
	die("unknown mode %s", mode);
}
