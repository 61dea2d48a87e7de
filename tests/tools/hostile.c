// SPDX-License-Identifier: GPL-2.0
/* hostile: the misbehaving peers of the reliability tests.
 *
 *   hostile hold --connect ADDR:PORT [--count N] [--prefix-file F]
 *                [--drip-ms MS] [--src-ips K] [--src IP] [--hold-s S]
 *                [--ready FILE] [--report FILE]
 *       Open N connections (slowloris).  Each sends nothing, or F at once,
 *       or F one byte every MS ms (--drip-ms).  Hold them S seconds (default
 *       30) or until SIGTERM/SIGINT, watching which ones the peer closes.
 *       --src-ips K spreads them over source addresses 127.0.0.2..K+1 (more
 *       4-tuples than one address has ports); --src IP binds them all to IP
 *       (with --src-ips K: IP and the K-1 addresses after it).  --ready FILE gets a line
 *       once every connection is open (or failed).  Report line:
 *         opened=N failed=N eof=N rst=N open=N recv=N
 *         close_ms_min=N close_ms_p50=N close_ms_max=N ms=N
 *       (close_ms: from connect to the peer's close, over closed ones; -1
 *       if none).
 *
 *   hostile send --connect ADDR:PORT --file F [--seg-size N | --seg-ends A,B,...]
 *                [--seg-delay-ms MS] [--shut] [--timeout-ms MS] [--report FILE]
 *       Send F in segments of N bytes (default: all at once), or in
 *       segments ending at offsets A, B, ... (the rest after the last),
 *       MS ms apart, TCP_NODELAY; then SHUT_WR if --shut; read until EOF,
 *       RST or the timeout (default 10000).  On EOF it shuts its side down
 *       too.
 *         sent=N recv=N recv_sha256=HEX end=eof|rst|timeout|connect-failed ms=N
 *
 *   hostile echo --listen ADDR:PORT
 *       Echo every connection (epoll, one thread), SHUT_WR after the
 *       peer's EOF.  Runs until killed.
 *
 *   hostile latency --connect ADDR:PORT --prefix-file F [--count N]
 *                   [--interval-ms MS] [--timeout-ms MS] [--report FILE]
 *       N sequential connections to an echo upstream behind passthru: each
 *       sends F and times connect() to the first echoed byte.  A probe cut
 *       by our own SIGTERM is not a failure but "cut" (the soak ends us
 *       mid-probe: passthru still saw that connection);
 *       each failure says how it failed, the first one with its time.
 *         count=N failed=N cut=N p50_us=N p90_us=N p99_us=N max_us=N
 *         [fail_connect=N fail_send=N fail_eof=N fail_rst=N fail_timeout=N
 *          first_fail=how@MS_SINCE_START/tookMS/portLOCAL_PORT]
 *
 *   hostile upstream --listen ADDR:PORT [--recv-before N] [--send-before N]
 *                    [--end rst|close|shut] [--count N] [--report FILE]
 *       An upstream that fails: per connection (one at a time) read until N
 *       bytes came (default 0), send N bytes of xfer's server stream
 *       (seed 2), then end: rst = wait until the peer acked every byte,
 *       then RST; close = close() at once (unread bytes make the kernel
 *       reset); shut = SHUT_WR and read to EOF.
 *         recv=N recv_sha256=HEX sent=N sent_sha256=HEX end=how
 *
 * Exit status: 0 when the run went as asked (what the peer did is in the
 * report), 2 on bad arguments or a local failure. */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"
#include "sha256.h"

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void sleep_us(int64_t us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (us > 0 && nanosleep(&ts, &ts) && errno == EINTR && !stopping)
		;
}

/* ---- options ------------------------------------------------------------ */

struct opts {
	const char *cmd;
	const char *addr;
	const char *report, *ready;
	uint8_t *file;
	size_t file_len;
	long count, drip_ms, src_ips, seg_size, seg_delay_ms, interval_ms;
	long seg_ends[16];
	int nseg_ends;
	long timeout_ms;
	uint32_t src_base;		/* host order; 0: 127.0.0.2 */
	double hold_s;
	uint64_t recv_before, send_before;
	const char *end;
	int shut;
};

static long num(const char *opt, const char *s)
{
	char *e;
	long long v;

	errno = 0;
	v = strtoll(s, &e, 10);
	if (errno || e == s || v < 0)
		die("%s: bad number '%s'", opt, s);
	switch (*e) {
	case 'k': v <<= 10; e++; break;
	case 'm': v <<= 20; e++; break;
	case 'g': v <<= 30; e++; break;
	}
	if (*e)
		die("%s: bad number '%s'", opt, s);
	return (long)v;
}

static void load_file(struct opts *o, const char *path)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 1 << 16;

	if (!f)
		die("%s: %s", path, strerror(errno));
	o->file = malloc(cap);
	for (;;) {
		size_t n;

		if (o->file_len == cap) {
			cap *= 2;
			o->file = realloc(o->file, cap);
		}
		if (!o->file)
			die("out of memory");
		n = fread(o->file + o->file_len, 1, cap - o->file_len, f);
		if (!n)
			break;
		o->file_len += n;
	}
	fclose(f);
}

static void parse(struct opts *o, int argc, char **argv)
{
	enum { O_CONNECT = 1, O_LISTEN, O_COUNT, O_PREFIX, O_DRIP, O_SRC, O_HOLD,
	       O_READY, O_REPORT, O_SEGSZ, O_SEGEND, O_SEGDL, O_SHUT, O_TIMEOUT, O_INTERVAL,
	       O_RBEFORE, O_SBEFORE, O_END, O_SRCIP };
	static const struct option lo[] = {
		{ "connect", required_argument, 0, O_CONNECT },
		{ "listen", required_argument, 0, O_LISTEN },
		{ "count", required_argument, 0, O_COUNT },
		{ "prefix-file", required_argument, 0, O_PREFIX },
		{ "file", required_argument, 0, O_PREFIX },
		{ "drip-ms", required_argument, 0, O_DRIP },
		{ "src-ips", required_argument, 0, O_SRC },
		{ "src", required_argument, 0, O_SRCIP },
		{ "hold-s", required_argument, 0, O_HOLD },
		{ "ready", required_argument, 0, O_READY },
		{ "report", required_argument, 0, O_REPORT },
		{ "seg-size", required_argument, 0, O_SEGSZ },
		{ "seg-ends", required_argument, 0, O_SEGEND },
		{ "seg-delay-ms", required_argument, 0, O_SEGDL },
		{ "shut", no_argument, 0, O_SHUT },
		{ "timeout-ms", required_argument, 0, O_TIMEOUT },
		{ "interval-ms", required_argument, 0, O_INTERVAL },
		{ "recv-before", required_argument, 0, O_RBEFORE },
		{ "send-before", required_argument, 0, O_SBEFORE },
		{ "end", required_argument, 0, O_END },
		{ 0, 0, 0, 0 },
	};
	char *e;
	int c;

	if (argc < 2)
		die("usage: hostile hold|send|echo|latency|upstream OPTIONS (see the source)");
	o->cmd = argv[1];
	o->count = 1;
	o->hold_s = 30;
	o->timeout_ms = 10000;
	o->end = "rst";
	optind = 2;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case O_CONNECT: case O_LISTEN: o->addr = optarg; break;
		case O_COUNT: o->count = num("--count", optarg); break;
		case O_PREFIX: load_file(o, optarg); break;
		case O_DRIP: o->drip_ms = num("--drip-ms", optarg); break;
		case O_SRC: o->src_ips = num("--src-ips", optarg); break;
		case O_SRCIP: {
			struct in_addr a;

			if (inet_pton(AF_INET, optarg, &a) != 1)
				die("--src: bad IPv4 address '%s'", optarg);
			o->src_base = ntohl(a.s_addr);
			if (!o->src_ips)
				o->src_ips = 1;
			break;
		}
		case O_HOLD:
			o->hold_s = strtod(optarg, &e);
			if (e == optarg || *e || o->hold_s < 0)
				die("--hold-s: bad value '%s'", optarg);
			break;
		case O_READY: o->ready = optarg; break;
		case O_REPORT: o->report = optarg; break;
		case O_SEGSZ: o->seg_size = num("--seg-size", optarg); break;
		case O_SEGEND:
			for (char *t = strtok(optarg, ","); t; t = strtok(NULL, ",")) {
				if (o->nseg_ends == (int)(sizeof(o->seg_ends) / sizeof(o->seg_ends[0])))
					die("--seg-ends: at most %zu offsets",
					    sizeof(o->seg_ends) / sizeof(o->seg_ends[0]));
				o->seg_ends[o->nseg_ends++] = num("--seg-ends", t);
			}
			break;
		case O_SEGDL: o->seg_delay_ms = num("--seg-delay-ms", optarg); break;
		case O_SHUT: o->shut = 1; break;
		case O_TIMEOUT: o->timeout_ms = num("--timeout-ms", optarg); break;
		case O_INTERVAL: o->interval_ms = num("--interval-ms", optarg); break;
		case O_RBEFORE: o->recv_before = (uint64_t)num("--recv-before", optarg); break;
		case O_SBEFORE: o->send_before = (uint64_t)num("--send-before", optarg); break;
		case O_END: o->end = optarg; break;
		default: die("bad option (see the source)");
		}
	}
	if (optind < argc)
		die("unexpected argument '%s'", argv[optind]);
	if (!o->addr)
		die("%s needs --connect or --listen ADDR:PORT", o->cmd);
}

static void sockaddr_of(const char *spec, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(spec, ':');
	size_t hl;

	if (!colon || (hl = (size_t)(colon - spec)) >= sizeof(host))
		die("bad address '%s' (want IPv4:PORT)", spec);
	memcpy(host, spec, hl);
	host[hl] = '\0';
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, hl ? host : "0.0.0.0", &sa->sin_addr) != 1)
		die("bad address '%s' (want IPv4:PORT)", spec);
}

static void out(const struct opts *o, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void out(const struct opts *o, const char *path, const char *fmt, ...)
{
	FILE *f = path ? fopen(path, "a") : stdout;
	va_list ap;

	(void)o;
	if (!f)
		die("%s: %s", path, strerror(errno));
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	if (path)
		fclose(f);
	else
		fflush(f);
}

static int listen_on(const char *spec)
{
	struct sockaddr_in sa;
	int fd, one = 1;

	sockaddr_of(spec, &sa);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 4096))
		die("listen %s: %s", spec, strerror(errno));
	return fd;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* ---- hold ---------------------------------------------------------------- */

enum hstate { H_CONNECTING, H_OPEN, H_EOF, H_RST, H_FAILED };

struct hconn {
	int fd;
	enum hstate st;
	size_t off;		/* prefix bytes sent */
	int64_t t0, tclose;
};

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void hold_close(struct hconn *h, enum hstate st)
{
	h->st = st;
	h->tclose = clock_us();
	close(h->fd);
	h->fd = -1;
}

/* Peer activity on an open connection: read and drop; note a close. */
static void hold_read(struct hconn *h, uint64_t *recvd)
{
	char buf[4096];

	for (;;) {
		ssize_t n = recv(h->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n > 0) {
			*recvd += (uint64_t)n;
			continue;
		}
		if (n == 0)
			hold_close(h, H_EOF);
		else if (errno != EAGAIN && errno != EINTR)
			hold_close(h, H_RST);
		return;
	}
}

static void hold_send(const struct opts *o, struct hconn *h, size_t upto)
{
	while (h->st == H_OPEN && h->off < upto) {
		ssize_t n = send(h->fd, o->file + h->off, upto - h->off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0) {
			h->off += (size_t)n;
		} else {
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				hold_close(h, H_RST);
			return;
		}
	}
}

static int run_hold(const struct opts *o)
{
	struct hconn *hs = calloc((size_t)o->count, sizeof(*hs));
	struct sockaddr_in dst;
	int ep = epoll_create1(EPOLL_CLOEXEC), one = 1;
	long next = 0, inflight = 0, opened = 0, failed = 0;
	int64_t start = clock_us(), end = 0, next_drip = 0;
	size_t drip_upto = 0;
	uint64_t recvd = 0;
	int ready = 0;

	if (!hs || ep < 0)
		die("out of memory");
	sockaddr_of(o->addr, &dst);
	for (;;) {
		struct epoll_event evs[256];
		int64_t t = clock_us(), wait_us;
		int n;

		if (stopping)
			break;
		/* Keep at most 256 connects in flight: the listen backlog. */
		while (next < o->count && inflight < 256) {
			struct hconn *h = &hs[next];
			struct epoll_event e = { .events = EPOLLOUT, .data.u64 = (uint64_t)next };

			h->t0 = clock_us();
			h->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			if (h->fd < 0) {
				fprintf(stderr, "hostile: socket: %s\n", strerror(errno));
				h->st = H_FAILED;
				failed++;
				next++;
				continue;
			}
			setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			if (o->src_ips > 0) {
				struct sockaddr_in src = { .sin_family = AF_INET };

				src.sin_addr.s_addr = htonl((o->src_base ? o->src_base : 0x7f000002u) +
							    (uint32_t)(next % o->src_ips));
				setsockopt(h->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
				if (bind(h->fd, (struct sockaddr *)&src, sizeof(src)))
					fprintf(stderr, "hostile: bind: %s\n", strerror(errno));
			}
			if (connect(h->fd, (struct sockaddr *)&dst, sizeof(dst)) && errno != EINPROGRESS) {
				hold_close(h, H_FAILED);
				failed++;
				next++;
				continue;
			}
			epoll_ctl(ep, EPOLL_CTL_ADD, h->fd, &e);
			inflight++;
			next++;
		}
		if (!ready && next == o->count && !inflight) {
			ready = 1;
			end = clock_us() + (int64_t)(o->hold_s * 1e6);
			if (o->ready)
				out(o, o->ready, "opened=%ld failed=%ld", opened, failed);
		}
		if (ready && t >= end)
			break;
		wait_us = ready ? end - t : 100000;
		if (o->drip_ms && o->file_len && drip_upto < o->file_len) {
			if (!next_drip)
				next_drip = t;
			if (t >= next_drip) {
				drip_upto++;
				for (long i = 0; i < o->count; i++)
					if (hs[i].st == H_OPEN)
						hold_send(o, &hs[i], drip_upto);
				next_drip += o->drip_ms * 1000;
			}
			if (next_drip - t < wait_us)
				wait_us = next_drip - t;
		}
		if (wait_us < 0)
			wait_us = 0;
		n = epoll_wait(ep, evs, 256, (int)((wait_us + 999) / 1000));
		for (int i = 0; i < n; i++) {
			struct hconn *h = &hs[evs[i].data.u64];

			if (h->st == H_CONNECTING) {
				int err = 0;
				socklen_t l = sizeof(err);
				struct epoll_event e = { .events = EPOLLIN | EPOLLRDHUP,
							 .data.u64 = evs[i].data.u64 };

				inflight--;
				getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &err, &l);
				if (err) {
					hold_close(h, H_FAILED);
					failed++;
					continue;
				}
				h->st = H_OPEN;
				opened++;
				epoll_ctl(ep, EPOLL_CTL_MOD, h->fd, &e);
				if (o->file_len)
					hold_send(o, h, o->drip_ms ? drip_upto : o->file_len);
			} else if (h->st == H_OPEN) {
				hold_read(h, &recvd);
			}
		}
	}

	long neof = 0, nrst = 0, nopen = 0, nclosed = 0;
	int64_t *ms = calloc((size_t)o->count + 1, sizeof(*ms));

	for (long i = 0; i < o->count; i++) {
		struct hconn *h = &hs[i];

		if (h->st == H_EOF || h->st == H_RST)
			ms[nclosed++] = (h->tclose - h->t0) / 1000;
		neof += h->st == H_EOF;
		nrst += h->st == H_RST;
		nopen += h->st == H_OPEN || h->st == H_CONNECTING;
		if (h->fd >= 0)
			close(h->fd);
	}
	qsort(ms, (size_t)nclosed, sizeof(*ms), cmp_i64);
	out(o, o->report, "opened=%ld failed=%ld eof=%ld rst=%ld open=%ld recv=%llu "
	    "close_ms_min=%lld close_ms_p50=%lld close_ms_max=%lld ms=%lld",
	    opened, failed, neof, nrst, nopen, (unsigned long long)recvd,
	    nclosed ? (long long)ms[0] : -1LL, nclosed ? (long long)ms[nclosed / 2] : -1LL,
	    nclosed ? (long long)ms[nclosed - 1] : -1LL,
	    (long long)((clock_us() - start) / 1000));
	free(ms);
	free(hs);
	close(ep);
	return 0;
}

/* ---- send ---------------------------------------------------------------- */

/* connect() with a deadline; -1 on failure. */
static int connect_to(const char *addr, int64_t deadline)
{
	struct sockaddr_in sa;
	int fd, one = 1, err = 0;
	socklen_t l = sizeof(err);
	struct pollfd p;

	sockaddr_of(addr, &sa);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) && errno != EINPROGRESS)
		goto fail;
	p = (struct pollfd){ .fd = fd, .events = POLLOUT };
	if (poll(&p, 1, (int)((deadline - clock_us()) / 1000)) != 1)
		goto fail;
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
	if (err)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

/* Write all of buf (blocking via poll, bounded by deadline). */
static int send_all(int fd, const uint8_t *buf, size_t len, int64_t deadline)
{
	while (len) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		ssize_t n = send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (clock_us() >= deadline || poll(&p, 1, (int)((deadline - clock_us()) / 1000 + 1)) < 0)
			return -1;
	}
	return 0;
}

static int run_send(const struct opts *o)
{
	int64_t start = clock_us(), deadline = start + o->timeout_ms * 1000;
	size_t seg = o->seg_size ? (size_t)o->seg_size : o->file_len, off = 0;
	const char *end = "timeout";
	uint64_t recvd = 0, sent = 0;
	struct sha256 h;
	uint8_t d[SHA256_LEN], buf[65536];
	char hex[SHA256_HEX_LEN];
	int fd, shut = 0;

	sha256_init(&h);
	fd = connect_to(o->addr, deadline);
	if (fd < 0) {
		end = "connect-failed";
		goto report;
	}
	for (int k = 0; off < o->file_len; k++) {
		size_t n = o->file_len - off < seg ? o->file_len - off : seg;

		if (k < o->nseg_ends && (size_t)o->seg_ends[k] > off &&
		    (size_t)o->seg_ends[k] < o->file_len)
			n = (size_t)o->seg_ends[k] - off;

		if (send_all(fd, o->file + off, n, deadline)) {
			end = "rst";
			goto done;
		}
		off += n;
		sent += n;
		if (off < o->file_len && o->seg_delay_ms)
			sleep_us(o->seg_delay_ms * 1000);
	}
	if (o->shut) {
		shutdown(fd, SHUT_WR);
		shut = 1;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t t = clock_us();
		ssize_t n;

		if (t >= deadline || stopping)
			break;
		if (poll(&p, 1, (int)((deadline - t + 999) / 1000)) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			sha256_update(&h, buf, (size_t)n);
			recvd += (uint64_t)n;
		} else if (n == 0) {
			end = "eof";
			if (!shut)
				shutdown(fd, SHUT_WR);
			break;
		} else if (errno != EAGAIN && errno != EINTR) {
			end = "rst";
			break;
		}
	}
done:
	close(fd);
report:
	sha256_final(&h, d);
	out(o, o->report, "sent=%llu recv=%llu recv_sha256=%s end=%s ms=%lld",
	    (unsigned long long)sent, (unsigned long long)recvd, sha256_hex(d, hex), end,
	    (long long)((clock_us() - start) / 1000));
	return 0;
}

/* ---- echo ---------------------------------------------------------------- */

static int run_echo(const struct opts *o)
{
	int lfd = listen_on(o->addr), ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event e = { .events = EPOLLIN, .data.fd = lfd };
	static uint8_t buf[65536];

	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &e);
	while (!stopping) {
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, 200);

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == lfd) {
				int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;

				if (c < 0)
					continue;
				setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				e = (struct epoll_event){ .events = EPOLLIN | EPOLLRDHUP, .data.fd = c };
				epoll_ctl(ep, EPOLL_CTL_ADD, c, &e);
				continue;
			}
			for (;;) {
				ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

				if (r > 0) {
					/* Small echoes: a blocking-ish write is fine. */
					if (send_all(fd, buf, (size_t)r, clock_us() + 5000000))
						r = -1;
					else
						continue;
				}
				if (r == 0) {
					shutdown(fd, SHUT_WR);
					epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
					close(fd);
				} else if (errno != EAGAIN && errno != EINTR) {
					epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
					close(fd);
				}
				break;
			}
		}
	}
	return 0;
}

/* ---- latency ------------------------------------------------------------- */

static int run_latency(const struct opts *o)
{
	enum { F_CONNECT, F_SEND, F_EOF, F_RST, F_TIMEOUT, F_N };
	static const char *const fname[F_N] = { "connect", "send", "eof", "rst", "timeout" };
	int64_t *lat = calloc((size_t)o->count + 1, sizeof(*lat));
	long ok = 0, failed = 0, cut = 0, nf[F_N] = { 0 };
	int64_t start = clock_us(), first_ms = -1, first_took = 0;
	int first_how = -1, first_port = 0;
	uint8_t buf[65536];

	if (!lat || !o->file_len)
		die("latency needs --prefix-file");
	for (long i = 0; i < o->count && !stopping; i++) {
		int64_t t0 = clock_us(), deadline = t0 + o->timeout_ms * 1000, first = 0;
		size_t got = 0;
		int fd = connect_to(o->addr, deadline), how = -1;

		if (fd < 0)
			how = F_CONNECT;
		else if (send_all(fd, o->file, o->file_len, deadline))
			how = F_SEND;
		while (how < 0 && got < o->file_len) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			ssize_t n;

			if (clock_us() >= deadline) {
				how = F_TIMEOUT;
				break;
			}
			if (poll(&p, 1, (int)((deadline - clock_us()) / 1000 + 1)) < 0) {
				if (errno == EINTR && !stopping)
					continue;
				how = F_TIMEOUT;
				break;
			}
			n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (n > 0) {
				if (!first)
					first = clock_us();
				got += (size_t)n;
			} else if (n == 0) {
				how = F_EOF;
			} else if (errno != EAGAIN && errno != EINTR) {
				how = F_RST;
			}
		}
		if (how < 0) {
			lat[ok++] = first - t0;
			/* A clean end: our FIN, then the echo's. */
			shutdown(fd, SHUT_WR);
			for (;;) {
				struct pollfd p = { .fd = fd, .events = POLLIN };

				if (poll(&p, 1, 2000) <= 0 || recv(fd, buf, sizeof(buf), 0) <= 0)
					break;
			}
		} else if (stopping) {
			cut++;
		} else {
			failed++;
			nf[how]++;
			if (first_how < 0) {
				first_how = how;
				first_ms = (t0 - start) / 1000;
				first_took = (clock_us() - t0) / 1000;
				if (fd >= 0) {
					struct sockaddr_in me;
					socklen_t ml = sizeof(me);

					if (!getsockname(fd, (struct sockaddr *)&me, &ml))
						first_port = ntohs(me.sin_port);
				}
			}
		}
		if (fd >= 0)
			close(fd);
		if (o->interval_ms)
			sleep_us(o->interval_ms * 1000);
	}
	qsort(lat, (size_t)ok, sizeof(*lat), cmp_i64);
	char why[256] = "";
	if (failed)
		snprintf(why, sizeof(why),
			 " fail_connect=%ld fail_send=%ld fail_eof=%ld fail_rst=%ld fail_timeout=%ld"
			 " first_fail=%s@%lldms/took%lldms/port%d",
			 nf[F_CONNECT], nf[F_SEND], nf[F_EOF], nf[F_RST], nf[F_TIMEOUT],
			 fname[first_how], (long long)first_ms, (long long)first_took, first_port);
	out(o, o->report, "count=%ld failed=%ld cut=%ld p50_us=%lld p90_us=%lld p99_us=%lld max_us=%lld%s",
	    ok, failed, cut, ok ? (long long)lat[ok / 2] : -1LL,
	    ok ? (long long)lat[ok * 9 / 10] : -1LL,
	    ok ? (long long)lat[ok * 99 / 100] : -1LL, ok ? (long long)lat[ok - 1] : -1LL, why);
	free(lat);
	return 0;
}

/* ---- upstream ------------------------------------------------------------ */

/* xfer's payload stream (splitmix64 words, little-endian), seed 2. */
static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void upstream_one(const struct opts *o, int fd)
{
	static uint8_t buf[1 << 16];
	struct sha256 hr, hs;
	uint8_t d[SHA256_LEN];
	char hexr[SHA256_HEX_LEN], hexs[SHA256_HEX_LEN];
	uint64_t recvd = 0, sent = 0, state = 2;
	int64_t deadline = clock_us() + o->timeout_ms * 1000;
	const char *how = o->end;

	sha256_init(&hr);
	sha256_init(&hs);
	while (recvd < o->recv_before && clock_us() < deadline) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t want = o->recv_before - recvd;
		ssize_t n;

		poll(&p, 1, 100);
		n = recv(fd, buf, want < sizeof(buf) ? (size_t)want : sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			sha256_update(&hr, buf, (size_t)n);
			recvd += (uint64_t)n;
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			how = n == 0 ? "early-eof" : "early-rst";
			goto report;
		}
	}
	while (sent < o->send_before) {
		uint64_t want = o->send_before - sent;
		size_t n = want < sizeof(buf) ? (size_t)want : sizeof(buf);

		for (size_t i = 0; i < n; i += 8) {
			uint64_t w = htole64(splitmix64(&state));

			memcpy(buf + i, &w, n - i < 8 ? n - i : 8);
		}
		if (send_all(fd, buf, n, deadline)) {
			how = "send-failed";
			goto report;
		}
		sha256_update(&hs, buf, n);
		sent += n;
	}
	if (!strcmp(o->end, "rst")) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		int q = 1;

		while (clock_us() < deadline && !ioctl(fd, SIOCOUTQ, &q) && q > 0)
			sleep_us(1000);
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	} else if (!strcmp(o->end, "shut")) {
		shutdown(fd, SHUT_WR);
		for (;;) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			ssize_t n;

			if (clock_us() >= deadline)
				break;
			poll(&p, 1, 100);
			n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (n > 0) {
				sha256_update(&hr, buf, (size_t)n);
				recvd += (uint64_t)n;
			} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				break;
			}
		}
	}
report:
	close(fd);
	sha256_final(&hr, d);
	sha256_hex(d, hexr);
	sha256_final(&hs, d);
	sha256_hex(d, hexs);
	out(o, o->report, "recv=%llu recv_sha256=%s sent=%llu sent_sha256=%s end=%s",
	    (unsigned long long)recvd, hexr, (unsigned long long)sent, hexs, how);
}

static int run_upstream(const struct opts *o)
{
	int lfd = listen_on(o->addr);

	for (long i = 0; (o->count == 0 || i < o->count) && !stopping; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR)
				continue;
			die("accept: %s", strerror(errno));
		}
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		upstream_one(o, fd);
	}
	close(lfd);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	int rc;

	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	raise_nofile();
	parse(&o, argc, argv);
	if (!strcmp(o.cmd, "hold"))
		rc = run_hold(&o);
	else if (!strcmp(o.cmd, "send"))
		rc = run_send(&o);
	else if (!strcmp(o.cmd, "echo"))
		rc = run_echo(&o);
	else if (!strcmp(o.cmd, "latency"))
		rc = run_latency(&o);
	else if (!strcmp(o.cmd, "upstream"))
		rc = run_upstream(&o);
	else
		die("unknown command '%s'", o.cmd);
	free(o.file);
	return rc;
}
