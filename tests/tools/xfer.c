// SPDX-License-Identifier: GPL-2.0
/* xfer: the byte-exact transfer checker of the integration tests.
 *
 *   xfer server --listen ADDR:PORT [--count N] [--send BYTES] [--mode M]
 *               [--banner TEXT] [--http NAME] [--seed S] [--report FILE]
 *               [--timeout-s S] [--read-delay-ms MS] [--read-rate BYTES_PER_S]
 *               [--rate BYTES_PER_S] [--expect-recv BYTES]
 *   xfer client --connect ADDR:PORT [--prefix-file FILE] [--send BYTES]
 *               [--mode M] [--seed S] [--timeout-s S] [--expect-recv BYTES]
 *               [--rate BYTES_PER_S] [--read-delay-ms MS] [--read-rate B/S]
 *               [--rst-after BYTES] [--report FILE] [--cork]
 *   (both)      [--diag SEED:SKIP]
 *   xfer gen --send BYTES [--seed S] [--prefix-file FILE] [--banner TEXT]
 *
 * Every connection ends with one report line:
 *   peer=IP:PORT [local=IP:PORT] sent=N sent_sha256=HEX recv=N recv_sha256=HEX ms=N result=ok|error:WHY
 * (local: a client's own address, the client= of its line in passthru's log)
 * "sent" counts every byte written (prefix or banner, then payload), "recv"
 * every byte read.  The payload is a deterministic pseudo-random stream
 * (splitmix64 words, little-endian) from --seed: the client's default seed is
 * 1, the server's 2, gen's 1.  BYTES accept a k/m/g suffix (powers of 1024).
 *
 * Modes: duplex = send and receive at once, SHUT_WR after the last byte;
 * send-first = send all, SHUT_WR, then read to EOF; recv-first = read to EOF,
 * then send all, then SHUT_WR.  The prefix (client) or banner (server) is
 * always written at once, before the payload, whatever the mode.
 *
 * Each connection is one poll() loop over a non-blocking socket; the server
 * runs one thread per connection.  --timeout-s (default 60) bounds the whole
 * client run and each server connection.  Exit status 0 iff every result is
 * ok (and recv == --expect-recv when given).
 *
 * --cork (client) holds what it writes until a full segment or the
 * SHUT_WR: a short prefix and the FIN then leave in one segment, so the
 * peer never sees the one without the other.
 *
 * --diag SEED:SKIP follows what is read against the peer's payload stream
 * (seed SEED, after SKIP bytes of prefix or banner) and adds
 * diag=AT:FROM,... to the report: each payload offset where the bytes stop
 * following the stream and the offset they come from instead (-1: not
 * from the stream); diag=none if they never did.  See streamdiag.h. */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"
#include "sha256.h"
#include "streamdiag.h"

#define BUF_SIZE (256 * 1024)
#define PREFIX_MAX (16 * 1024 * 1024)
#define HTTP_HDR_MAX (64 * 1024)

enum role { ROLE_CLIENT, ROLE_SERVER, ROLE_GEN };
enum mode { MODE_DUPLEX, MODE_SEND_FIRST, MODE_RECV_FIRST };

struct opts {
	enum role role;
	const char *addr;		/* --listen / --connect */
	long count;			/* server: connections to serve, 0 = forever */
	uint64_t send;			/* payload bytes */
	enum mode mode;
	const char *banner;
	const char *http;
	uint64_t seed;
	const char *report;
	double timeout_s;
	long read_delay_ms;
	uint64_t read_rate;		/* bytes/s, 0 = unlimited */
	uint64_t rate;			/* bytes/s, 0 = unlimited */
	int64_t expect_recv;		/* -1 = not checked */
	int64_t rst_after;		/* -1 = no reset */
	uint8_t *prefix;		/* --prefix-file contents */
	size_t prefix_len;
	int cork;			/* --cork: TCP_CORK from the start */
	int diag;			/* --diag given */
	uint64_t diag_seed, diag_skip;
};

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- the payload stream -------------------------------------------------- */

struct gen {
	uint64_t state;
	uint8_t left[8];	/* unused tail of the last word */
	int nleft;
};

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void gen_init(struct gen *g, uint64_t seed)
{
	g->state = seed;
	g->nleft = 0;
}

/* The next n bytes of the stream, independent of how it is cut. */
static void gen_fill(struct gen *g, uint8_t *p, size_t n)
{
	uint64_t w;

	while (n && g->nleft) {
		*p++ = g->left[8 - g->nleft--];
		n--;
	}
	for (; n >= 8; n -= 8, p += 8) {
		w = htole64(splitmix64(&g->state));
		memcpy(p, &w, 8);
	}
	if (n) {
		w = htole64(splitmix64(&g->state));
		memcpy(g->left, &w, 8);
		memcpy(p, g->left, n);
		g->nleft = 8 - (int)n;
	}
}

/* ---- argument parsing ---------------------------------------------------- */

static uint64_t parse_bytes(const char *opt, const char *s)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		die("%s: bad number '%s'", opt, s);
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	if (*end)
		die("%s: bad number '%s'", opt, s);
	return v;
}

static void load_prefix(struct opts *o, const char *path)
{
	int fd = open(path, O_RDONLY);
	size_t cap = 4096;
	ssize_t n;

	if (fd < 0)
		die("--prefix-file %s: %s", path, strerror(errno));
	o->prefix = malloc(cap);
	for (;;) {
		if (o->prefix_len == cap) {
			if (cap >= PREFIX_MAX)
				die("--prefix-file %s: larger than %d bytes", path, PREFIX_MAX);
			cap *= 2;
			o->prefix = realloc(o->prefix, cap);
		}
		if (!o->prefix)
			die("out of memory");
		n = read(fd, o->prefix + o->prefix_len, cap - o->prefix_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("--prefix-file %s: %s", path, strerror(errno));
		if (n == 0)
			break;
		o->prefix_len += (size_t)n;
	}
	close(fd);
}

static void usage(FILE *f)
{
	fputs("usage:\n"
	      "  xfer server --listen ADDR:PORT [--count N] [--send BYTES] [--mode M]\n"
	      "              [--banner TEXT] [--http NAME] [--seed S] [--report FILE]\n"
	      "              [--timeout-s S] [--read-delay-ms MS] [--read-rate B/S] [--rate B/S]\n"
	      "              [--expect-recv BYTES]\n"
	      "  xfer client --connect ADDR:PORT [--prefix-file FILE] [--send BYTES] [--mode M]\n"
	      "              [--seed S] [--timeout-s S] [--expect-recv BYTES] [--rate B/S]\n"
	      "              [--read-delay-ms MS] [--read-rate B/S] [--rst-after BYTES] [--report FILE]\n"
	      "  (server, client) [--diag SEED:SKIP]: locate damage in what is read\n"
	      "  (client) [--cork]: TCP_CORK, so that a short prefix and the FIN share a segment\n"
	      "  xfer gen --send BYTES [--seed S] [--prefix-file FILE] [--banner TEXT]\n"
	      "modes: duplex (default), send-first, recv-first; default seeds: client 1, server 2\n",
	      f);
}

static void parse_args(struct opts *o, int argc, char **argv)
{
	enum { O_LISTEN = 1, O_CONNECT, O_COUNT, O_SEND, O_MODE, O_BANNER, O_HTTP,
	       O_SEED, O_REPORT, O_TIMEOUT, O_RDELAY, O_RRATE, O_RATE, O_EXPECT,
	       O_RST, O_PREFIX, O_DIAG, O_CORK, O_HELP };
	static const struct option lo[] = {
		{ "listen", required_argument, 0, O_LISTEN },
		{ "connect", required_argument, 0, O_CONNECT },
		{ "count", required_argument, 0, O_COUNT },
		{ "send", required_argument, 0, O_SEND },
		{ "mode", required_argument, 0, O_MODE },
		{ "banner", required_argument, 0, O_BANNER },
		{ "http", required_argument, 0, O_HTTP },
		{ "seed", required_argument, 0, O_SEED },
		{ "report", required_argument, 0, O_REPORT },
		{ "timeout-s", required_argument, 0, O_TIMEOUT },
		{ "read-delay-ms", required_argument, 0, O_RDELAY },
		{ "read-rate", required_argument, 0, O_RRATE },
		{ "rate", required_argument, 0, O_RATE },
		{ "expect-recv", required_argument, 0, O_EXPECT },
		{ "rst-after", required_argument, 0, O_RST },
		{ "prefix-file", required_argument, 0, O_PREFIX },
		{ "diag", required_argument, 0, O_DIAG },
		{ "cork", no_argument, 0, O_CORK },
		{ "help", no_argument, 0, O_HELP },
		{ 0, 0, 0, 0 },
	};
	const char *cmd = argc > 1 ? argv[1] : "";
	char *end;
	int c;

	if (!strcmp(cmd, "client")) {
		o->role = ROLE_CLIENT;
		o->seed = 1;
	} else if (!strcmp(cmd, "server")) {
		o->role = ROLE_SERVER;
		o->seed = 2;
	} else if (!strcmp(cmd, "gen")) {
		o->role = ROLE_GEN;
		o->seed = 1;
	} else if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		usage(stdout);
		exit(0);
	} else {
		usage(stderr);
		exit(2);
	}
	o->count = 1;
	o->timeout_s = 60;
	o->expect_recv = -1;
	o->rst_after = -1;

	optind = 2;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case O_LISTEN: o->addr = optarg; break;
		case O_CONNECT: o->addr = optarg; break;
		case O_COUNT: o->count = (long)parse_bytes("--count", optarg); break;
		case O_SEND: o->send = parse_bytes("--send", optarg); break;
		case O_MODE:
			if (!strcmp(optarg, "duplex"))
				o->mode = MODE_DUPLEX;
			else if (!strcmp(optarg, "send-first"))
				o->mode = MODE_SEND_FIRST;
			else if (!strcmp(optarg, "recv-first"))
				o->mode = MODE_RECV_FIRST;
			else
				die("--mode: want duplex, send-first or recv-first, not '%s'", optarg);
			break;
		case O_BANNER: o->banner = optarg; break;
		case O_HTTP: o->http = optarg; break;
		case O_SEED: o->seed = parse_bytes("--seed", optarg); break;
		case O_REPORT: o->report = optarg; break;
		case O_TIMEOUT:
			o->timeout_s = strtod(optarg, &end);
			if (end == optarg || *end || !(o->timeout_s > 0))
				die("--timeout-s: bad value '%s'", optarg);
			break;
		case O_RDELAY: o->read_delay_ms = (long)parse_bytes("--read-delay-ms", optarg); break;
		case O_RRATE: o->read_rate = parse_bytes("--read-rate", optarg); break;
		case O_RATE: o->rate = parse_bytes("--rate", optarg); break;
		case O_EXPECT: o->expect_recv = (int64_t)parse_bytes("--expect-recv", optarg); break;
		case O_RST: o->rst_after = (int64_t)parse_bytes("--rst-after", optarg); break;
		case O_PREFIX: load_prefix(o, optarg); break;
		case O_CORK: o->cork = 1; break;
		case O_DIAG:
			o->diag = 1;
			o->diag_seed = strtoull(optarg, &end, 0);
			if (end == optarg || *end != ':')
				die("--diag: want SEED:SKIP, not '%s'", optarg);
			o->diag_skip = parse_bytes("--diag", end + 1);
			break;
		case O_HELP: usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind < argc)
		die("unexpected argument '%s'", argv[optind]);
	if (o->role != ROLE_GEN && !o->addr)
		die("%s needs %s ADDR:PORT", cmd, o->role == ROLE_SERVER ? "--listen" : "--connect");
}

/* "1.2.3.4:80", "[::1]:80" or "localhost:80" -> sockaddr (first result). */
static int resolve(const char *spec, int passive, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	char host[256];
	const char *port, *colon = strrchr(spec, ':');
	size_t hl;

	if (!colon)
		return -1;
	port = colon + 1;
	hl = (size_t)(colon - spec);
	if (hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']') {
		spec++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return -1;
	memcpy(host, spec, hl);
	host[hl] = '\0';
	if (passive)
		hints.ai_flags = AI_PASSIVE;
	if (getaddrinfo(hl ? host : NULL, port, &hints, &res))
		return -1;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void fmt_addr(const struct sockaddr_storage *ss, char *out, size_t n)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(out, n, "[%s]:%u", ip, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const void *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(out, n, "%s:%u", ip, ntohs(s4->sin_port));
	}
}

/* ---- one connection ------------------------------------------------------ */

struct conn {
	const struct opts *o;
	int fd;
	char peer[80];
	char local[80];			/* a client's own address: its line in passthru's log */
	int64_t start, deadline;	/* us */
	const uint8_t *pre;		/* prefix or banner, sent first */
	size_t pre_len, pre_off;
	struct gen gen;
	uint8_t *sbuf, *rbuf;
	size_t s_off, s_len;		/* generated, not yet sent: sbuf[s_off, s_len) */
	uint64_t pay_gen, pay_sent;	/* payload bytes generated / sent */
	uint64_t sent, recv;
	struct sha256 h_sent, h_recv;
	struct streamdiag diag;
	int shut, eof, reset;
	int err_pending;		/* POLLERR while reading: recv reports it */
	int http_req;			/* --http: the request's blank line was read */
	size_t http_hl;			/* --http: request bytes scanned */
	uint32_t http_win;		/* --http: the last four bytes read */
	char result[96];
};

static void set_error(struct conn *c, const char *what, int err)
{
	const char *name = err ? strerrorname_np(err) : NULL;

	if (c->result[0])
		return;
	if (err)
		snprintf(c->result, sizeof(c->result), "error:%s-%s", what,
			 name ? name : "unknown");
	else
		snprintf(c->result, sizeof(c->result), "error:%s", what);
}

static void report(struct conn *c)
{
	uint8_t d[SHA256_LEN];
	char hs[SHA256_HEX_LEN], hr[SHA256_HEX_LEN], line[768], dg[256] = "";
	int n;

	if (!c->result[0] && c->o->expect_recv >= 0 && c->recv != (uint64_t)c->o->expect_recv)
		snprintf(c->result, sizeof(c->result), "error:expected-recv-%lld",
			 (long long)c->o->expect_recv);
	if (!c->result[0])
		snprintf(c->result, sizeof(c->result), "ok");
	sha256_final(&c->h_sent, d);
	sha256_hex(d, hs);
	sha256_final(&c->h_recv, d);
	sha256_hex(d, hr);
	n = snprintf(line, sizeof(line),
		     "peer=%s%s%s sent=%llu sent_sha256=%s recv=%llu recv_sha256=%s ms=%lld result=%s%s\n",
		     c->peer, c->local[0] ? " local=" : "", c->local, (unsigned long long)c->sent, hs, (unsigned long long)c->recv, hr,
		     (long long)((clock_us() - c->start) / 1000), c->result,
		     c->o->diag ? streamdiag_str(&c->diag, dg, sizeof(dg)) : "");

	pthread_mutex_lock(&out_lock);
	if (c->o->report) {
		int fd = open(c->o->report, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);

		if (fd < 0 || write(fd, line, (size_t)n) != n)
			fprintf(stderr, "xfer: --report %s: %s", c->o->report, strerror(errno));
		if (fd >= 0)
			close(fd);
	} else {
		fputs(line, stdout);
		fflush(stdout);
	}
	pthread_mutex_unlock(&out_lock);
}

static int conn_ok(const struct conn *c)
{
	return !strcmp(c->result, "ok");
}

/* Bytes a rate limit allows now, given `done` bytes since `since`. */
static uint64_t budget(uint64_t rate, int64_t since, uint64_t done, int64_t *wake)
{
	int64_t el = clock_us() - since;
	uint64_t allow;

	if (!rate)
		return UINT64_MAX;
	if (el < 0)
		el = 0;
	allow = (uint64_t)((double)rate * (double)el / 1e6);
	if (allow > done)
		return allow - done;
	/* Sleep until one more chunk's worth (at most 1/20 s) is allowed. */
	*wake = since + (int64_t)((double)(done + (rate / 20 ? rate / 20 : 1)) * 1e6 / (double)rate);
	return 0;
}

/* Wait (bounded) until the kernel has no unacknowledged bytes of ours, so a
 * reset follows bytes that really left.  10 s: a loaded machine stalled a
 * proxy's workers for 1.2 s while a frozen direction held the window shut
 * (2 s was not enough there).  Returns the bytes still unacknowledged. */
static int drain_outq(struct conn *c)
{
	int64_t until = clock_us() + 10000000;
	int outq = 0;

	while (clock_us() < until && c->deadline > clock_us()) {
		if (ioctl(c->fd, SIOCOUTQ, &outq) < 0 || outq == 0)
			return 0;
		usleep(1000);
	}
	return outq;
}

static void abort_conn(struct conn *c)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int unacked = drain_outq(c);

	/* Reset with bytes in flight: "sent" would claim bytes that the
	 * peer may never see.  Say so rather than report ok. */
	if (unacked > 0 && !c->result[0])
		snprintf(c->result, sizeof(c->result), "error:reset-with-%d-unacked", unacked);
	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(c->fd);
	c->fd = -1;
	c->reset = 1;
}

/* Write what may be written now.  Returns -1 on a fatal error. */
static int do_send(struct conn *c, uint64_t allow)
{
	const struct opts *o = c->o;
	uint64_t pay_max = o->send;
	const uint8_t *p;
	size_t len;
	ssize_t n;
	int is_pre;

	if (o->rst_after >= 0 && (uint64_t)o->rst_after < pay_max)
		pay_max = (uint64_t)o->rst_after;
	while (allow) {
		is_pre = c->pre_off < c->pre_len;
		if (is_pre) {
			p = c->pre + c->pre_off;
			len = c->pre_len - c->pre_off;
		} else {
			if (o->mode == MODE_RECV_FIRST && !c->eof)
				return 0;
			if (c->s_off == c->s_len) {
				uint64_t want = pay_max - c->pay_gen;

				if (!want)
					return 0;
				if (want > BUF_SIZE)
					want = BUF_SIZE;
				gen_fill(&c->gen, c->sbuf, (size_t)want);
				c->pay_gen += want;
				c->s_off = 0;
				c->s_len = (size_t)want;
			}
			p = c->sbuf + c->s_off;
			len = c->s_len - c->s_off;
		}
		if (len > allow)
			len = (size_t)allow;
		n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			set_error(c, "send", errno);
			return -1;
		}
		sha256_update(&c->h_sent, p, (size_t)n);
		c->sent += (uint64_t)n;
		allow -= (uint64_t)n;
		if (is_pre) {
			c->pre_off += (size_t)n;
		} else {
			c->s_off += (size_t)n;
			c->pay_sent += (uint64_t)n;
		}
	}
	return 0;
}

static int send_done(const struct conn *c)
{
	uint64_t pay_max = c->o->send;

	if (c->o->rst_after >= 0 && (uint64_t)c->o->rst_after < pay_max)
		pay_max = (uint64_t)c->o->rst_after;
	return c->pre_off == c->pre_len && c->pay_sent == pay_max;
}

/* --http: look for the CRLFCRLF ending the request headers; then release
 * the answer (held in c->pre). */
static void http_scan(struct conn *c, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && !c->http_req && c->http_hl < HTTP_HDR_MAX; i++, c->http_hl++) {
		c->http_win = c->http_win << 8 | p[i];
		if (c->http_win == 0x0d0a0d0aU) {
			c->http_req = 1;
			c->pre_off = 0;
		}
	}
}

/* Read what may be read now.  Returns -1 on a fatal error. */
static int do_recv(struct conn *c, uint64_t allow)
{
	ssize_t n;

	while (allow && !c->eof) {
		n = recv(c->fd, c->rbuf, allow < BUF_SIZE ? (size_t)allow : BUF_SIZE,
			 MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			set_error(c, "recv", errno);
			return -1;
		}
		if (n == 0) {
			c->eof = 1;
			break;
		}
		sha256_update(&c->h_recv, c->rbuf, (size_t)n);
		if (c->o->diag)
			streamdiag_feed(&c->diag, c->rbuf, (size_t)n);
		c->recv += (uint64_t)n;
		allow -= (uint64_t)n;
		if (c->o->http)
			http_scan(c, c->rbuf, (size_t)n);
	}
	return 0;
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* The poll loop of one data connection; fills c->result on error. */
static void run_conn(struct conn *c)
{
	const struct opts *o = c->o;
	int64_t read_start = c->start + (int64_t)o->read_delay_ms * 1000;

	for (;;) {
		struct pollfd pfd = { .fd = c->fd };
		int64_t t = clock_us(), wake = c->deadline;
		uint64_t sallow = 0, rallow = 0;
		int want_out, want_in, r;

		if (t >= c->deadline) {
			set_error(c, "timeout", 0);
			return;
		}
		if (send_done(c) && o->rst_after >= 0) {
			abort_conn(c);
			return;
		}
		if (send_done(c) && !c->shut && (o->mode != MODE_RECV_FIRST || c->eof)) {
			if (shutdown(c->fd, SHUT_WR) < 0) {
				set_error(c, "shutdown", errno);
				return;
			}
			c->shut = 1;
		}
		if (c->shut && c->eof)
			return;

		want_out = !send_done(c) && (c->pre_off < c->pre_len ||
					     o->mode != MODE_RECV_FIRST || c->eof);
		want_in = !c->eof && (o->mode != MODE_SEND_FIRST || c->shut);
		/* A reset seen while bytes wait in the receive queue: read them
		 * first (recv reports the reset after the last one), and send
		 * nothing more. */
		if (c->err_pending)
			want_out = 0;
		if (want_out) {
			sallow = budget(o->rate, c->start, c->sent, &wake);
			if (sallow)
				pfd.events |= POLLOUT;
		}
		if (want_in) {
			if (t < read_start)
				wake = min64(wake, read_start);
			else if ((rallow = budget(o->read_rate, read_start, c->recv, &wake)))
				pfd.events |= POLLIN;
		}
		if (!pfd.events)
			pfd.fd = -1;	/* only a timer: don't spin on POLLHUP */
		wake = min64(wake, c->deadline);
		r = poll(&pfd, 1, (int)((wake - t + 999) / 1000));
		if (r < 0 && errno != EINTR) {
			set_error(c, "poll", errno);
			return;
		}
		if (r <= 0)
			continue;
		if ((pfd.revents & POLLIN) || ((pfd.revents & (POLLERR | POLLHUP)) && want_in))
			if (do_recv(c, rallow) < 0)
				return;
		if ((pfd.revents & POLLOUT) || ((pfd.revents & (POLLERR | POLLHUP)) && want_out))
			if (do_send(c, sallow) < 0)
				return;
		if ((pfd.revents & POLLERR) && want_in && !c->result[0]) {
			c->err_pending = 1;
		} else if ((pfd.revents & POLLERR) && !c->result[0]) {
			int err = 0;
			socklen_t l = sizeof(err);

			getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
			if (err) {
				set_error(c, "socket", err);
				return;
			}
		}
	}
}

/* --http NAME: read a request to the blank line, answer 200 with NAME. */
static void run_http(struct conn *c)
{
	const char *name = c->o->http;
	size_t blen = strlen(name) + 1;
	char resp[512];

	if (blen > 256)
		blen = 256;
	snprintf(resp, sizeof(resp),
		 "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
		 "Connection: close\r\n\r\n%.*s\n", blen, (int)(blen - 1), name);
	c->pre = (const uint8_t *)resp;
	c->pre_len = strlen(resp);
	c->pre_off = c->pre_len;	/* held back until the request is in */

	for (;;) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int64_t t = clock_us();

		if (t >= c->deadline) {
			set_error(c, c->http_req ? "timeout" : "timeout-in-request", 0);
			return;
		}
		if (c->pre_off < c->pre_len)
			pfd.events |= POLLOUT;
		if (c->eof)
			pfd.events &= ~POLLIN;
		if (poll(&pfd, 1, (int)((c->deadline - t + 999) / 1000)) <= 0)
			continue;
		if (!c->eof && (pfd.revents & (POLLIN | POLLERR | POLLHUP)))
			if (do_recv(c, BUF_SIZE) < 0)
				return;
		if (!c->http_req && c->http_hl >= HTTP_HDR_MAX) {
			set_error(c, "http-request-too-long", 0);
			return;
		}
		if (c->eof && !c->http_req) {
			set_error(c, "http-eof-before-request-end", 0);
			return;
		}
		if (c->pre_off < c->pre_len && do_send(c, UINT64_MAX) < 0)
			return;
		if (c->http_req && c->pre_off == c->pre_len && !c->shut) {
			shutdown(c->fd, SHUT_WR);
			c->shut = 1;
		}
		if (c->shut && c->eof)
			return;
	}
}

static void conn_init(struct conn *c, const struct opts *o, int fd)
{
	memset(c, 0, sizeof(*c));
	c->o = o;
	c->fd = fd;
	c->start = clock_us();
	c->deadline = c->start + (int64_t)(o->timeout_s * 1e6);
	gen_init(&c->gen, o->seed);
	sha256_init(&c->h_sent);
	sha256_init(&c->h_recv);
	streamdiag_init(&c->diag, o->diag_seed, o->diag_skip);
	c->sbuf = malloc(BUF_SIZE);
	c->rbuf = malloc(BUF_SIZE);
	if (!c->sbuf || !c->rbuf)
		die("out of memory");
	if (o->role == ROLE_CLIENT) {
		c->pre = o->prefix;
		c->pre_len = o->prefix_len;
	} else if (o->banner) {
		c->pre = (const uint8_t *)o->banner;
		c->pre_len = strlen(o->banner);
	}
}

static void conn_free(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->sbuf);
	free(c->rbuf);
}

/* ---- roles --------------------------------------------------------------- */

static int connect_to(struct conn *c)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int err = 0;

	if (resolve(c->o->addr, 0, &ss, &len) < 0) {
		set_error(c, "resolve", 0);
		snprintf(c->peer, sizeof(c->peer), "%s", c->o->addr);
		return -1;
	}
	fmt_addr(&ss, c->peer, sizeof(c->peer));
	c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		set_error(c, "socket", errno);
		return -1;
	}
	if (c->o->cork && setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &(int){ 1 }, sizeof(int))) {
		set_error(c, "setsockopt-TCP_CORK", errno);
		return -1;
	}
	if (connect(c->fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) {
		set_error(c, "connect", errno);
		return -1;
	}
	{
		struct sockaddr_storage me;
		socklen_t ml = sizeof(me);

		if (!getsockname(c->fd, (struct sockaddr *)&me, &ml))
			fmt_addr(&me, c->local, sizeof(c->local));
	}
	for (;;) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
		int64_t t = clock_us();
		socklen_t l = sizeof(err);

		if (t >= c->deadline) {
			set_error(c, "timeout", 0);
			return -1;
		}
		if (poll(&pfd, 1, (int)((c->deadline - t + 999) / 1000)) <= 0)
			continue;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err) {
			set_error(c, "connect", err);
			return -1;
		}
		return 0;
	}
}

static int run_client(const struct opts *o)
{
	struct conn c;
	int ok;

	conn_init(&c, o, -1);
	if (connect_to(&c) == 0)
		run_conn(&c);
	report(&c);
	ok = conn_ok(&c);
	conn_free(&c);
	return ok ? 0 : 1;
}

struct server {
	const struct opts *o;
	pthread_mutex_t lock;
	pthread_cond_t done;
	long active, failed;
};

struct job {
	struct server *srv;
	int fd;
	struct sockaddr_storage peer;
};

static void *serve_one(void *arg)
{
	struct job *j = arg;
	struct server *srv = j->srv;
	struct conn c;
	int ok;

	conn_init(&c, srv->o, j->fd);
	fmt_addr(&j->peer, c.peer, sizeof(c.peer));
	if (fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK) < 0)
		set_error(&c, "fcntl", errno);
	else if (srv->o->http)
		run_http(&c);
	else
		run_conn(&c);
	report(&c);
	ok = conn_ok(&c);
	conn_free(&c);
	free(j);

	pthread_mutex_lock(&srv->lock);
	srv->active--;
	if (!ok)
		srv->failed++;
	pthread_cond_signal(&srv->done);
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

static int run_server(const struct opts *o)
{
	struct server srv = { .o = o, .lock = PTHREAD_MUTEX_INITIALIZER,
			      .done = PTHREAD_COND_INITIALIZER };
	struct sockaddr_storage ss;
	socklen_t len;
	pthread_attr_t attr;
	int lfd, one = 1;
	long served = 0;

	if (resolve(o->addr, 1, &ss, &len) < 0)
		die("--listen %s: cannot resolve", o->addr);
	lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&ss, len) < 0)
		die("bind %s: %s", o->addr, strerror(errno));
	if (listen(lfd, 128) < 0)
		die("listen %s: %s", o->addr, strerror(errno));

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	while (o->count == 0 || served < o->count) {
		struct job *j = calloc(1, sizeof(*j));
		socklen_t pl = sizeof(j->peer);
		pthread_t t;

		if (!j)
			die("out of memory");
		j->srv = &srv;
		j->fd = accept4(lfd, (struct sockaddr *)&j->peer, &pl, SOCK_CLOEXEC);
		if (j->fd < 0) {
			free(j);
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept: %s", strerror(errno));
		}
		served++;
		pthread_mutex_lock(&srv.lock);
		srv.active++;
		pthread_mutex_unlock(&srv.lock);
		if (pthread_create(&t, &attr, serve_one, j))
			die("pthread_create failed");
	}
	close(lfd);
	pthread_mutex_lock(&srv.lock);
	while (srv.active)
		pthread_cond_wait(&srv.done, &srv.lock);
	pthread_mutex_unlock(&srv.lock);
	return srv.failed ? 1 : 0;
}

static int run_gen(const struct opts *o)
{
	struct sha256 h;
	struct gen g;
	uint8_t *buf = malloc(BUF_SIZE), d[SHA256_LEN];
	char hex[SHA256_HEX_LEN];
	uint64_t left = o->send;

	if (!buf)
		die("out of memory");
	sha256_init(&h);
	sha256_update(&h, o->prefix, o->prefix_len);
	if (o->banner)
		sha256_update(&h, o->banner, strlen(o->banner));
	gen_init(&g, o->seed);
	while (left) {
		size_t n = left > BUF_SIZE ? BUF_SIZE : (size_t)left;

		gen_fill(&g, buf, n);
		sha256_update(&h, buf, n);
		left -= n;
	}
	sha256_final(&h, d);
	printf("%s\n", sha256_hex(d, hex));
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	int rc = 2;

	signal(SIGPIPE, SIG_IGN);
	parse_args(&o, argc, argv);
	switch (o.role) {
	case ROLE_CLIENT: rc = run_client(&o); break;
	case ROLE_SERVER: rc = run_server(&o); break;
	case ROLE_GEN: rc = run_gen(&o); break;
	}
	free(o.prefix);
	return rc;
}
