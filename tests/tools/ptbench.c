// SPDX-License-Identifier: GPL-2.0
/* ptbench: the one load tool of the benchmark, so that the direct path,
 * passthru and every peer are driven by exactly the same code.
 *
 *   ptbench server --listen ADDR:PORT [--threads N]
 *   ptbench bulk   --connect ADDR:PORT [--streams N] [--dir up|down]
 *   ptbench rr     --connect ADDR:PORT [--size BYTES]
 *   ptbench cps    --connect ADDR:PORT [--conc N]
 *   ptbench mixed  --connect ADDR:PORT [--conc N] [--small BYTES] [--big BYTES]
 *                  [--big-every N]
 *   ptbench idle   --connect ADDR:PORT [--count N] [--settle S] [--hold S]
 *                  [--cgroup DIR]
 * Client options: [--sni NAME] [--pad-to N] [--time S] [--warmup S]
 *   [--pid PID]... [--src-spread N] [--timeout-s S]
 *
 * Every client connection starts like a TLS client's: a real ClientHello
 * for --sni (tests/lib/tlsgen), so the proxy in between routes it by SNI.
 * A 16-byte command follows it, which the proxy passes on untouched and
 * the server obeys: sink, source, echo, reply-then-wait, or exchange (write
 * N bytes while sinking, then sink).  After that the
 * stream is raw bytes; the hello is never answered, as no proxy looks past
 * the first bytes.
 *
 * Measurements start after --warmup (connections are up, TCP is past slow
 * start) and last --time seconds.  --pid names the proxy: CPU and memory
 * are summed over that process and all its descendants (nginx and haproxy
 * workers, sslh's per-connection children).  Whole-system CPU comes from
 * /proc/stat: everything but idle and iowait, on every CPU, because with a
 * kernel data path the work runs in softirq and kworkers, not in the proxy.
 * --cgroup names the proxy's memory cgroup (v2, or v1 with kmem): the idle
 * test reports the kernel memory charged to it per connection.
 *
 * Output: one key=value per line on stdout.  Exit 0 iff the measurement
 * ran and no connection failed; 1 otherwise; 2 for bad arguments.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <endian.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"
#include "tlsgen.h"

#define BUF_SIZE	(256 * 1024)
#define BULK_WRITE	(128 * 1024)	/* iperf3's default block */
#define HELLO_CAP	(70 * 1024)
#define MAX_PIDS	16
#define MAX_THREADS	64
#define NOFILE_WANT	(1 << 20)

/* The command after the hello.  Little-endian, 16 bytes. */
#define CMD_MAGIC	0x31425450u	/* "PTB1" */
#define CMD_LEN		16
enum op {
	OP_SINK = 'S',		/* read and discard until EOF */
	OP_SOURCE = 'O',	/* write until the peer goes away */
	OP_ECHO = 'E',		/* write back what is read */
	OP_REPLY = 'R',		/* write `arg` bytes, then sink */
	OP_XCHG = 'X',		/* write `arg` bytes while sinking, then sink */
};

struct opts {
	const char *mode;
	const char *addr;	/* --listen or --connect */
	const char *sni;
	size_t pad_to;
	int threads;
	int streams;
	bool down;
	double time_s;
	double warmup_s;
	uint32_t size;
	int conc;
	int count;
	double hold_s;
	double settle_s;
	double timeout_s;
	int src_spread;
	uint32_t small, big, big_every;	/* mixed */
	const char *cgroup;
	pid_t pids[MAX_PIDS];
	int npids;
};

static struct opts O = {
	.sni = "bench.example",
	.threads = 0,
	.streams = 1,
	.time_s = 3,
	.warmup_s = 0.5,
	.size = 64,
	.conc = 4,
	.count = 1000,
	.timeout_s = 10,
	.settle_s = 1,
	.src_spread = -1,
	.small = 4096,
	.big = 16 << 20,
	.big_every = 20,
};

static struct sockaddr_storage peer_addr;
static socklen_t peer_len;
static uint8_t *hello;		/* ClientHello + command, sent at once */
static size_t hello_len;
static atomic_bool stop;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void sleep_s(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s,
			       .tv_nsec = (long)((s - (time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) && errno == EINTR && !atomic_load(&stop))
		;
}

/* 10k connections need 10k fds on each side; root may raise the hard limit
 * too.  Not fatal: the run reports what it could open. */
static void raise_nofile(void)
{
	struct rlimit rl = { NOFILE_WANT, NOFILE_WANT };

	if (setrlimit(RLIMIT_NOFILE, &rl) && !getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[256];
	const char *colon = strrchr(s, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai;
	size_t hl;

	if (!colon || colon == s)
		die("bad address '%s' (expected IP:PORT)", s);
	hl = colon - s;
	if (s[0] == '[' && hl >= 2 && s[hl - 1] == ']') {
		s++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		die("bad address '%s'", s);
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &ai))
		die("bad address '%s' (numeric IP:PORT only)", s);
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
}

static double parse_num(const char *opt, const char *s, double lo, double hi)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi))
		die("%s: expected a number from %g to %g, got '%s'", opt, lo, hi, s);
	return v;
}

/* ---- /proc accounting -------------------------------------------------- */

struct snap {
	uint64_t t_ns;
	double sys_busy_s;	/* all CPUs, all but idle + iowait */
	double proc_cpu_s;	/* --pid trees */
	uint64_t proc_runs;	/* times their threads were put on a CPU */
};


struct pinfo {
	pid_t pid, ppid;
	unsigned long long utime, stime, cutime, cstime;
};

static int read_pinfo(pid_t pid, struct pinfo *p)
{
	char path[64], buf[1024], *s;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: skip to the last ')'. */
	s = strrchr(buf, ')');
	if (!s)
		return -1;
	p->pid = pid;
	if (sscanf(s + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu",
		   &p->ppid, &p->utime, &p->stime, &p->cutime, &p->cstime) != 5)
		return -1;
	return 0;
}

/* Every process whose ancestry reaches a --pid.  Returns how many. */
static int proc_tree(struct pinfo **out)
{
	struct pinfo *all = NULL, *t;
	int n = 0, cap = 0, m = 0;
	struct dirent *de;
	DIR *d;

	*out = NULL;
	if (!O.npids)
		return 0;
	d = opendir("/proc");
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 1024;
			t = realloc(all, cap * sizeof(*all));
			if (!t)
				break;
			all = t;
		}
		if (!read_pinfo(atoi(de->d_name), &all[n]))
			n++;
	}
	closedir(d);
	/* Walk each process up its parents; a chain is short (pid 1 is near). */
	for (int i = 0; i < n; i++) {
		pid_t p = all[i].pid;

		for (int depth = 0; depth < 32 && p > 1; depth++) {
			bool root = false;
			int j;

			for (j = 0; j < O.npids; j++)
				root |= O.pids[j] == p;
			if (root) {
				all[m++] = all[i];
				break;
			}
			for (j = 0; j < n && all[j].pid != p; j++)
				;
			if (j == n)
				break;
			p = all[j].ppid;
		}
	}
	*out = all;
	return m;
}

/* CPU of one process in seconds: schedstat (ns, per live thread) when the
 * kernel has it, else utime + stime ticks; plus the reaped children. */
static double pinfo_cpu_s(const struct pinfo *p, uint64_t *runs)
{
	double tick = 1.0 / sysconf(_SC_CLK_TCK), sum = 0;
	char path[64];
	struct dirent *de;
	bool ok = false;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", p->pid);
	d = opendir(path);
	while (d && (de = readdir(d))) {
		char sp[96];
		unsigned long long ns, wait_ns, n;
		FILE *f;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(sp, sizeof(sp), "/proc/%d/task/%d/schedstat", p->pid,
			 atoi(de->d_name));
		f = fopen(sp, "re");
		/* run ns, wait ns, timeslices: a slice is a wake-up (or a
		 * preemption), what a connection costs beyond its syscalls. */
		if (f && fscanf(f, "%llu %llu %llu", &ns, &wait_ns, &n) == 3) {
			sum += ns / 1e9;
			*runs += n;
			ok = true;
		}
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	if (!ok)
		sum = (p->utime + p->stime) * tick;
	return sum + (p->cutime + p->cstime) * tick;
}

static void take_snap(struct snap *s)
{
	struct pinfo *t;
	int n = proc_tree(&t);

	s->proc_cpu_s = 0;
	s->proc_runs = 0;
	for (int i = 0; i < n; i++)
		s->proc_cpu_s += pinfo_cpu_s(&t[i], &s->proc_runs);
	free(t);
	s->sys_busy_s = sys_busy_s();
	s->t_ns = now_ns();
}

/* Memory of the --pid trees: RSS, and PSS (shared pages split between the
 * processes that map them, so 10k forked children are not counted 10k
 * times). */
static void mem_kb(long *rss, long *pss, int *nproc)
{
	struct pinfo *t;
	int n = proc_tree(&t);

	*rss = *pss = 0;
	*nproc = n;
	for (int i = 0; i < n; i++) {
		char path[64], line[256];
		FILE *f;
		long v;

		snprintf(path, sizeof(path), "/proc/%d/status", t[i].pid);
		f = fopen(path, "re");
		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "VmRSS: %ld", &v) == 1)
				*rss += v;
		if (f)
			fclose(f);
		snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", t[i].pid);
		f = fopen(path, "re");
		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "Pss: %ld", &v) == 1)
				*pss += v;
		if (f)
			fclose(f);
	}
	free(t);
}

/* Kernel memory charged to the proxy's memory cgroup (--cgroup DIR).
 * cgroup v2: memory.stat's kernel (slab, stacks, page tables, percpu,
 * vmalloc, ...), sock (socket buffers) and slab, and memory.current.
 * cgroup v1 (where the memory controller is not on v2): kmem.usage
 * (kernel), kmem.tcp.usage (socket buffers, counted once a tcp limit is
 * set), usage + tcp (current); no slab figure.  -1: not available. */
struct cgmem {
	int version;		/* 0: none */
	long long kernel, sock, slab, current;
};

static long long read_ll(const char *dir, const char *name)
{
	char path[600];
	long long v;
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "re");
	if (!f)
		return -1;
	ok = fscanf(f, "%lld", &v) == 1;
	fclose(f);
	return ok ? v : -1;
}

static void cg_read(struct cgmem *m)
{
	long long parts = 0, v;
	bool has_kernel = false;
	char path[600], key[64];
	FILE *f;

	memset(m, 0, sizeof(*m));
	m->kernel = m->sock = m->slab = m->current = -1;
	if (!O.cgroup)
		return;
	m->current = read_ll(O.cgroup, "memory.current");
	if (m->current >= 0) {
		m->version = 2;
		snprintf(path, sizeof(path), "%s/memory.stat", O.cgroup);
		f = fopen(path, "re");
		while (f && fscanf(f, "%63s %lld", key, &v) == 2) {
			if (!strcmp(key, "kernel")) {
				m->kernel = v;
				has_kernel = true;
			} else if (!strcmp(key, "sock")) {
				m->sock = v;
			} else if (!strcmp(key, "slab")) {
				m->slab = v;
				parts += v;
			} else if (!strcmp(key, "kernel_stack") || !strcmp(key, "pagetables") ||
				   !strcmp(key, "percpu") || !strcmp(key, "vmalloc")) {
				parts += v;
			}
		}
		if (f)
			fclose(f);
		/* Before 6.1 there is no "kernel" line: its main parts. */
		if (!has_kernel)
			m->kernel = parts;
		return;
	}
	m->kernel = read_ll(O.cgroup, "memory.kmem.usage_in_bytes");
	if (m->kernel < 0)
		return;
	m->version = 1;
	m->sock = read_ll(O.cgroup, "memory.kmem.tcp.usage_in_bytes");
	m->current = read_ll(O.cgroup, "memory.usage_in_bytes");
	if (m->current >= 0 && m->sock > 0)
		m->current += m->sock;
}

/* The same, machine-wide, for a cross-check (it also holds the client's
 * and the server's sockets, and everything else running): Slab +
 * KernelStack + PageTables from /proc/meminfo, TCP pages from sockstat. */
static long long sys_kmem(void)
{
	char line[256];
	long long kb, total = 0, pages;
	FILE *f = fopen("/proc/meminfo", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Slab: %lld", &kb) == 1 ||
		    sscanf(line, "KernelStack: %lld", &kb) == 1 ||
		    sscanf(line, "PageTables: %lld", &kb) == 1)
			total += kb * 1024;
	if (f)
		fclose(f);
	f = fopen("/proc/net/sockstat", "re");
	while (f && fgets(line, sizeof(line), f)) {
		char *m = strstr(line, " mem ");

		if (!strncmp(line, "TCP:", 4) && m && sscanf(m, " mem %lld", &pages) == 1)
			total += pages * sysconf(_SC_PAGESIZE);
	}
	if (f)
		fclose(f);
	return total;
}

static void print_cg_delta(const char *name, long long a, long long b, int open)
{
	if (a < 0 || b < 0)
		return;
	printf("cg_%s_base_b=%lld\ncg_%s_b=%lld\n", name, a, name, b);
	if (open)
		printf("%s_per_conn_b=%.0f\n", name, (double)(b - a) / open);
}

static void print_cpu(const struct snap *a, const struct snap *b, double gb)
{
	double sys = b->sys_busy_s - a->sys_busy_s;
	double proc = b->proc_cpu_s - a->proc_cpu_s;

	printf("sys_cpu_s=%.3f\n", sys);
	if (O.npids)
		printf("proc_cpu_s=%.4f\n", proc);
	if (gb > 0) {
		printf("sys_cpu_s_per_gb=%.4f\n", sys / gb);
		if (O.npids)
			printf("proc_cpu_ms_per_gb=%.3f\n", 1000 * proc / gb);
	}
}

/* ---- client connections ------------------------------------------------ */

/* ClientHello + command in a new buffer; its length in *len. */
static uint8_t *make_hello(enum op op, uint32_t arg, size_t *len)
{
	struct tlsgen_opts to = { .sni = O.sni, .alpn = "h2,http/1.1",
				  .pad_to = O.pad_to };
	uint8_t cmd[CMD_LEN] = { 0 }, *h;
	uint32_t magic = htole32(CMD_MAGIC), a = htole32(arg);
	ssize_t n;

	h = malloc(HELLO_CAP + CMD_LEN);
	if (!h)
		die("out of memory");
	n = tlsgen_client_hello(&to, h, HELLO_CAP);
	if (n < 0)
		die("cannot build a ClientHello: %s", strerror((int)-n));
	/* The server skips one TLS record: the hello must be one. */
	if (n > 16384 + 5)
		die("--pad-to too large: the hello must fit one TLS record");
	memcpy(cmd, &magic, 4);
	cmd[4] = (uint8_t)op;
	memcpy(cmd + 8, &a, 4);
	memcpy(h + n, cmd, CMD_LEN);
	*len = n + CMD_LEN;
	return h;
}

static void build_hello(enum op op, uint32_t arg)
{
	hello = make_hello(op, arg, &hello_len);
}

static void set_timeouts(int fd, double s)
{
	struct timeval tv = { .tv_sec = (time_t)s,
			      .tv_usec = (suseconds_t)((s - (time_t)s) * 1e6) };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* A socket for connection number i.  Many short connections to one
 * address run out of ephemeral ports (TIME_WAIT); spreading the source
 * over 127.0.0.2... gives each source address its own port range. */
static int client_socket(unsigned i, bool nonblock)
{
	int fd = socket(peer_addr.ss_family,
			SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	struct sockaddr_in *pin = (struct sockaddr_in *)&peer_addr;

	if (fd < 0)
		return -errno;
	if (O.src_spread > 0 && peer_addr.ss_family == AF_INET &&
	    (ntohl(pin->sin_addr.s_addr) >> 24) == 127) {
		struct sockaddr_in src = { .sin_family = AF_INET };
		int one = 1;

		src.sin_addr.s_addr = htonl(0x7f000002u + i % O.src_spread);
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&src, sizeof(src))) {
			int err = -errno;

			close(fd);
			return err;
		}
	}
	return fd;
}

static int write_all(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		p = (const uint8_t *)p + k;
		n -= k;
	}
	return 0;
}

static int read_all(int fd, void *p, size_t n)
{
	while (n) {
		ssize_t k = recv(fd, p, n, 0);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return -ECONNRESET;
		p = (uint8_t *)p + k;
		n -= k;
	}
	return 0;
}

/* Blocking connect + hello + command h.  Returns the fd or -errno. */
static int open_conn_hello(unsigned i, bool nodelay, const uint8_t *h, size_t hlen)
{
	int fd = client_socket(i, false), one = 1, err;

	if (fd < 0)
		return fd;
	set_timeouts(fd, O.timeout_s);
	if (nodelay)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&peer_addr, peer_len)) {
		err = -errno;
		close(fd);
		return err;
	}
	err = write_all(fd, h, hlen);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

static int open_conn(unsigned i, bool nodelay)
{
	return open_conn_hello(i, nodelay, hello, hello_len);
}

/* ---- bulk -------------------------------------------------------------- */

struct bulk_thr {
	pthread_t thr;
	int fd;
	_Atomic uint64_t bytes;
	int err;
};

static void *bulk_main(void *arg)
{
	struct bulk_thr *t = arg;
	uint8_t *buf = malloc(BUF_SIZE);

	if (!buf) {
		t->err = ENOMEM;
		return NULL;
	}
	memset(buf, 0x5a, BUF_SIZE);
	/* Short socket timeouts so the loop sees `stop` even if stalled. */
	set_timeouts(t->fd, 0.2);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		ssize_t n = O.down ? recv(t->fd, buf, BUF_SIZE, 0)
				   : send(t->fd, buf, BULK_WRITE, MSG_NOSIGNAL);

		if (n > 0) {
			atomic_fetch_add_explicit(&t->bytes, n, memory_order_relaxed);
		} else if (n == 0) {
			t->err = ECONNRESET;
			break;
		} else if (errno != EINTR && errno != EAGAIN) {
			t->err = errno;
			break;
		}
	}
	free(buf);
	return NULL;
}

static uint64_t bulk_bytes(struct bulk_thr *t, int n)
{
	uint64_t s = 0;

	for (int i = 0; i < n; i++)
		s += atomic_load_explicit(&t[i].bytes, memory_order_relaxed);
	return s;
}

static int run_bulk(void)
{
	struct bulk_thr *t = calloc(O.streams, sizeof(*t));
	struct snap a, b;
	uint64_t b0, b1;
	double secs, gb;
	int errs = 0, first_err = 0;

	if (!t)
		die("out of memory");
	build_hello(O.down ? OP_SOURCE : OP_SINK, 0);
	for (int i = 0; i < O.streams; i++) {
		t[i].fd = open_conn(i, false);
		if (t[i].fd < 0)
			die("bulk: connect %s: %s", O.addr, strerror(-t[i].fd));
	}
	for (int i = 0; i < O.streams; i++)
		if (pthread_create(&t[i].thr, NULL, bulk_main, &t[i]))
			die("pthread_create failed");
	sleep_s(O.warmup_s);
	take_snap(&a);
	b0 = bulk_bytes(t, O.streams);
	sleep_s(O.time_s);
	b1 = bulk_bytes(t, O.streams);
	take_snap(&b);
	atomic_store(&stop, true);
	for (int i = 0; i < O.streams; i++) {
		pthread_join(t[i].thr, NULL);
		if (t[i].err) {
			errs++;
			first_err = first_err ? first_err : t[i].err;
		}
		close(t[i].fd);
	}
	secs = (b.t_ns - a.t_ns) / 1e9;
	gb = (b1 - b0) / 1e9;
	printf("mode=bulk\nstreams=%d\ndir=%s\nsecs=%.3f\nbytes=%llu\n",
	       O.streams, O.down ? "down" : "up", secs, (unsigned long long)(b1 - b0));
	printf("gbit_s=%.3f\n", 8 * gb / secs);
	print_cpu(&a, &b, gb);
	printf("errors=%d\n", errs);
	if (errs)
		printf("error=%s\n", strerror(first_err));
	free(t);
	return errs ? 1 : 0;
}

/* ---- rr: request/response latency -------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct(const uint64_t *v, size_t n, double p)
{
	size_t i = (size_t)ceil(p / 100 * n);

	return v[i ? i - 1 : 0] / 1000.0;
}

static int run_rr(void)
{
	size_t cap = 1 << 16, n = 0;
	uint64_t *lat = malloc(cap * sizeof(*lat)), t_end, t_meas, sum = 0;
	uint8_t *req = malloc(O.size), *resp = malloc(O.size);
	struct snap a, b;
	int fd, err = 0;

	if (!lat || !req || !resp)
		die("out of memory");
	memset(req, 'q', O.size);
	build_hello(OP_ECHO, 0);
	fd = open_conn(0, true);
	if (fd < 0)
		die("rr: connect %s: %s", O.addr, strerror(-fd));
	t_meas = now_ns() + (uint64_t)(O.warmup_s * 1e9);
	t_end = t_meas + (uint64_t)(O.time_s * 1e9);
	take_snap(&a);
	for (;;) {
		uint64_t t0 = now_ns(), t1;

		if (t0 >= t_end)
			break;
		err = write_all(fd, req, O.size);
		if (!err)
			err = read_all(fd, resp, O.size);
		if (err)
			break;
		t1 = now_ns();
		if (t0 < t_meas) {
			a.t_ns = t1;
			continue;
		}
		if (n == cap) {
			uint64_t *l2 = realloc(lat, 2 * cap * sizeof(*lat));

			if (!l2)
				break;
			lat = l2;
			cap *= 2;
		}
		lat[n++] = t1 - t0;
		sum += t1 - t0;
	}
	take_snap(&b);
	close(fd);
	qsort(lat, n, sizeof(*lat), cmp_u64);
	printf("mode=rr\nsize=%u\nsamples=%zu\n", O.size, n);
	if (n) {
		printf("p50_us=%.2f\np90_us=%.2f\np99_us=%.2f\np999_us=%.2f\nmax_us=%.2f\nmean_us=%.2f\n",
		       pct(lat, n, 50), pct(lat, n, 90), pct(lat, n, 99),
		       pct(lat, n, 99.9), lat[n - 1] / 1000.0, sum / 1000.0 / n);
		printf("rate=%.0f\n", n / ((b.t_ns - a.t_ns) / 1e9));
	}
	print_cpu(&a, &b, 0);
	printf("errors=%d\n", err ? 1 : 0);
	if (err)
		printf("error=%s\n", strerror(-err));
	else if (!n)
		printf("error=no sample in the window\n");
	free(lat);
	free(req);
	free(resp);
	return err || !n ? 1 : 0;
}

/* ---- cps: connection rate ---------------------------------------------- */

struct cps_thr {
	pthread_t thr;
	int id;
	_Atomic uint64_t ok, fail;
	int first_err;
};

/* One full connection: connect, hello, the server's first bytes, close. */
static int one_conn(unsigned i, uint8_t *resp)
{
	int fd = open_conn(i, true), err;

	if (fd < 0)
		return fd;
	err = read_all(fd, resp, O.size);
	close(fd);
	return err;
}

static void *cps_main(void *arg)
{
	struct cps_thr *t = arg;
	uint8_t resp[65536];
	unsigned i = t->id;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		int err = one_conn(i, resp);

		i += O.conc;
		if (!err) {
			atomic_fetch_add_explicit(&t->ok, 1, memory_order_relaxed);
		} else {
			atomic_fetch_add_explicit(&t->fail, 1, memory_order_relaxed);
			if (!t->first_err)
				t->first_err = -err;
			/* Do not spin on a dead target. */
			usleep(1000);
		}
	}
	return NULL;
}

static void cps_count(struct cps_thr *t, uint64_t *ok, uint64_t *fail)
{
	*ok = *fail = 0;
	for (int i = 0; i < O.conc; i++) {
		*ok += atomic_load_explicit(&t[i].ok, memory_order_relaxed);
		*fail += atomic_load_explicit(&t[i].fail, memory_order_relaxed);
	}
}

static int run_cps(void)
{
	struct cps_thr *t = calloc(O.conc, sizeof(*t));
	uint64_t ok0, f0, ok1, f1;
	struct snap a, b;
	double secs;
	int first_err = 0;

	if (!t)
		die("out of memory");
	if (O.size > 65536)
		die("cps: --size at most 65536");
	if (O.src_spread < 0)
		O.src_spread = 16;
	build_hello(OP_REPLY, O.size);
	for (int i = 0; i < O.conc; i++) {
		t[i].id = i;
		if (pthread_create(&t[i].thr, NULL, cps_main, &t[i]))
			die("pthread_create failed");
	}
	sleep_s(O.warmup_s);
	take_snap(&a);
	cps_count(t, &ok0, &f0);
	sleep_s(O.time_s);
	cps_count(t, &ok1, &f1);
	take_snap(&b);
	atomic_store(&stop, true);
	for (int i = 0; i < O.conc; i++) {
		pthread_join(t[i].thr, NULL);
		if (!first_err)
			first_err = t[i].first_err;
	}
	secs = (b.t_ns - a.t_ns) / 1e9;
	printf("mode=cps\nconc=%d\nsecs=%.3f\nconns=%llu\nfailed=%llu\n", O.conc,
	       secs, (unsigned long long)(ok1 - ok0), (unsigned long long)(f1 - f0));
	printf("conn_s=%.0f\n", (ok1 - ok0) / secs);
	print_cpu(&a, &b, 0);
	if (ok1 > ok0) {
		printf("sys_cpu_us_per_conn=%.2f\n",
		       1e6 * (b.sys_busy_s - a.sys_busy_s) / (ok1 - ok0));
		if (O.npids)
			printf("proc_cpu_us_per_conn=%.2f\nproc_runs_per_conn=%.2f\n",
			       1e6 * (b.proc_cpu_s - a.proc_cpu_s) / (ok1 - ok0),
			       (double)(b.proc_runs - a.proc_runs) / (ok1 - ok0));
	}
	if (first_err)
		printf("error=%s\n", strerror(first_err));
	free(t);
	return ok1 > ok0 && f1 == f0 ? 0 : 1;
}

/* ---- mixed: many short connections, a few long ones --------------------- */

/* Connection number i (taken from one counter by every loop, so the mix
 * does not depend on which loop runs it) exchanges O.big bytes each way if
 * i % big_every == big_every - 1, else O.small: by default 95 % of the
 * connections carry 4 KB each way, 5 % 16 MiB. */
struct mix_thr {
	pthread_t thr;
	_Atomic uint64_t small, big, fail, bytes;
	int first_err;
};

static _Atomic uint64_t mix_next;
static uint8_t *hello_small, *hello_big;
static size_t hello_small_len, hello_big_len;

static bool mix_is_big(uint64_t i)
{
	return O.big_every && i % O.big_every == O.big_every - 1;
}

/* One connection: connect, hello + XCHG command, then write `size` bytes
 * while reading the server's `size`, close.  Returns 0, 1 if stopped
 * midway (not counted), or -errno. */
static int mix_conn(struct mix_thr *t, uint64_t i, uint8_t *out, uint8_t *in)
{
	bool big = mix_is_big(i);
	uint64_t size = big ? O.big : O.small, sent = 0, got = 0;
	int fd = open_conn_hello((unsigned)i, true, big ? hello_big : hello_small,
				 big ? hello_big_len : hello_small_len);
	int err = 0;

	if (fd < 0)
		return fd;
	while (sent < size || got < size) {
		struct pollfd p = { .fd = fd,
				    .events = (got < size ? POLLIN : 0) |
					      (sent < size ? POLLOUT : 0) };
		int r = poll(&p, 1, (int)(O.timeout_s * 1000));
		ssize_t k;

		if (atomic_load_explicit(&stop, memory_order_relaxed)) {
			err = 1;
			break;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			err = r ? -errno : -ETIMEDOUT;
			break;
		}
		if (sent < size && (p.revents & (POLLOUT | POLLERR | POLLHUP))) {
			k = send(fd, out, size - sent < BULK_WRITE ? size - sent : BULK_WRITE,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (k > 0) {
				sent += k;
				atomic_fetch_add_explicit(&t->bytes, k, memory_order_relaxed);
			} else if (k < 0 && errno != EAGAIN && errno != EINTR) {
				err = -errno;
				break;
			}
		}
		if (got < size && (p.revents & (POLLIN | POLLERR | POLLHUP))) {
			k = recv(fd, in, size - got < BUF_SIZE ? size - got : BUF_SIZE,
				 MSG_DONTWAIT);
			if (k > 0) {
				got += k;
				atomic_fetch_add_explicit(&t->bytes, k, memory_order_relaxed);
			} else if (!k) {
				err = -ECONNRESET;
				break;
			} else if (errno != EAGAIN && errno != EINTR) {
				err = -errno;
				break;
			}
		}
	}
	close(fd);
	if (!err)
		atomic_fetch_add_explicit(big ? &t->big : &t->small, 1, memory_order_relaxed);
	return err;
}

static void *mix_main(void *arg)
{
	struct mix_thr *t = arg;
	uint8_t *out = malloc(BULK_WRITE), *in = malloc(BUF_SIZE);

	if (!out || !in) {
		t->first_err = ENOMEM;
		return NULL;
	}
	memset(out, 0x5a, BULK_WRITE);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		int err = mix_conn(t, atomic_fetch_add(&mix_next, 1), out, in);

		if (err < 0) {
			atomic_fetch_add_explicit(&t->fail, 1, memory_order_relaxed);
			if (!t->first_err)
				t->first_err = -err;
			usleep(1000);
		}
	}
	free(out);
	free(in);
	return NULL;
}

struct mix_count {
	uint64_t small, big, fail, bytes;
};

static void mix_count(struct mix_thr *t, struct mix_count *c)
{
	memset(c, 0, sizeof(*c));
	for (int i = 0; i < O.conc; i++) {
		c->small += atomic_load_explicit(&t[i].small, memory_order_relaxed);
		c->big += atomic_load_explicit(&t[i].big, memory_order_relaxed);
		c->fail += atomic_load_explicit(&t[i].fail, memory_order_relaxed);
		c->bytes += atomic_load_explicit(&t[i].bytes, memory_order_relaxed);
	}
}

/* Connections are counted when they end inside the window, bytes (both
 * directions, at the client) as they move. */
static int run_mixed(void)
{
	struct mix_thr *t = calloc(O.conc, sizeof(*t));
	struct mix_count c0, c1;
	struct snap a, b;
	uint64_t conns, bytes;
	double secs;
	int first_err = 0;

	if (!t)
		die("out of memory");
	if (O.src_spread < 0)
		O.src_spread = 16;
	hello_small = make_hello(OP_XCHG, O.small, &hello_small_len);
	hello_big = make_hello(OP_XCHG, O.big, &hello_big_len);
	for (int i = 0; i < O.conc; i++)
		if (pthread_create(&t[i].thr, NULL, mix_main, &t[i]))
			die("pthread_create failed");
	sleep_s(O.warmup_s);
	take_snap(&a);
	mix_count(t, &c0);
	sleep_s(O.time_s);
	mix_count(t, &c1);
	take_snap(&b);
	atomic_store(&stop, true);
	for (int i = 0; i < O.conc; i++) {
		pthread_join(t[i].thr, NULL);
		if (!first_err)
			first_err = t[i].first_err;
	}
	secs = (b.t_ns - a.t_ns) / 1e9;
	conns = c1.small + c1.big - c0.small - c0.big;
	bytes = c1.bytes - c0.bytes;
	printf("mode=mixed\nconc=%d\nsmall=%u\nbig=%u\nbig_every=%u\nsecs=%.3f\n",
	       O.conc, O.small, O.big, O.big_every, secs);
	printf("conns=%llu\nsmall_conns=%llu\nbig_conns=%llu\nfailed=%llu\nbytes=%llu\n",
	       (unsigned long long)conns, (unsigned long long)(c1.small - c0.small),
	       (unsigned long long)(c1.big - c0.big),
	       (unsigned long long)(c1.fail - c0.fail), (unsigned long long)bytes);
	printf("conn_s=%.0f\ngbit_s=%.3f\n", conns / secs, 8 * bytes / 1e9 / secs);
	print_cpu(&a, &b, bytes / 1e9);
	if (conns) {
		printf("sys_cpu_us_per_conn=%.2f\n",
		       1e6 * (b.sys_busy_s - a.sys_busy_s) / conns);
		if (O.npids)
			printf("proc_cpu_us_per_conn=%.2f\n",
			       1e6 * (b.proc_cpu_s - a.proc_cpu_s) / conns);
	}
	if (first_err)
		printf("error=%s\n", strerror(first_err));
	free(t);
	return conns && c1.fail == c0.fail ? 0 : 1;
}

/* ---- idle: many open connections ---------------------------------------- */

enum { I_NONE, I_CONNECTING, I_READING, I_OPEN, I_FAILED };

struct iconn {
	int fd;
	uint8_t st;
	uint32_t got;
};

/* Opens O.count connections, at most O.conc at a time in flight, each one
 * done when the server's reply came back through the proxy: by then the
 * proxy has routed, connected and handed the pair to its data path. */
static int run_idle(void)
{
	struct iconn *c = calloc(O.count, sizeof(*c));
	struct epoll_event evs[256];
	long rss0, pss0, rss, pss;
	struct cgmem cg0, cg1;
	long long sk0, sk1;
	int ep, next = 0, inflight = 0, open = 0, failed = 0, n0, n1;
	int first_err = 0;
	uint8_t resp[64];
	uint64_t t0, t_open, deadline;

	if (!c)
		die("out of memory");
	if (O.src_spread < 0)
		O.src_spread = 16;
	if (O.conc < 64)
		O.conc = 64;
	O.size = sizeof(resp);
	build_hello(OP_REPLY, sizeof(resp));
	mem_kb(&rss0, &pss0, &n0);
	cg_read(&cg0);
	sk0 = sys_kmem();
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1: %s", strerror(errno));
	t0 = now_ns();
	deadline = t0 + (uint64_t)(O.timeout_s * 1e9) + (uint64_t)O.count * 1000000;
	while ((next < O.count || inflight) && now_ns() < deadline &&
	       !atomic_load(&stop)) {
		int n;

		while (next < O.count && inflight < O.conc) {
			struct iconn *k = &c[next];
			struct epoll_event e = { .events = EPOLLOUT, .data.u32 = next };
			int fd = client_socket(next, true);

			next++;
			if (fd < 0 ||
			    (connect(fd, (struct sockaddr *)&peer_addr, peer_len) &&
			     errno != EINPROGRESS) ||
			    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e)) {
				if (!first_err)
					first_err = fd < 0 ? -fd : errno;
				if (fd >= 0)
					close(fd);
				k->fd = -1;
				k->st = I_FAILED;
				failed++;
				continue;
			}
			k->fd = fd;
			k->st = I_CONNECTING;
			inflight++;
		}
		n = epoll_wait(ep, evs, 256, 100);
		for (int i = 0; i < n; i++) {
			struct iconn *k = &c[evs[i].data.u32];
			int err = 0;
			socklen_t el = sizeof(err);

			if (k->st == I_CONNECTING) {
				struct epoll_event e = { .events = EPOLLIN | EPOLLRDHUP,
							 .data.u32 = evs[i].data.u32 };

				getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &el);
				if (!err && send(k->fd, hello, hello_len, MSG_NOSIGNAL) !=
						    (ssize_t)hello_len)
					err = errno ? errno : EIO;
				if (!err && epoll_ctl(ep, EPOLL_CTL_MOD, k->fd, &e))
					err = errno;
				if (!err)
					k->st = I_READING;
			} else if (k->st == I_READING) {
				ssize_t r = recv(k->fd, resp, sizeof(resp) - k->got, 0);

				if (r > 0) {
					k->got += r;
					if (k->got == sizeof(resp)) {
						/* Done: no more events from it. */
						epoll_ctl(ep, EPOLL_CTL_DEL, k->fd, NULL);
						k->st = I_OPEN;
						open++;
						inflight--;
					}
					continue;
				}
				if (r < 0 && errno == EAGAIN)
					continue;
				err = r == 0 ? ECONNRESET : errno;
			}
			if (err) {
				if (!first_err)
					first_err = err;
				close(k->fd);
				k->fd = -1;
				k->st = I_FAILED;
				failed++;
				inflight--;
			}
		}
	}
	t_open = now_ns();
	/* Whatever is still in flight (or not even tried) at the deadline is
	 * a failure. */
	for (int i = 0; i < O.count; i++)
		if (c[i].st != I_OPEN && c[i].st != I_FAILED) {
			failed++;
			if (!first_err)
				first_err = ETIMEDOUT;
		}
	/* Let the proxy finish its own bookkeeping (lazy allocations, the
	 * last epoll registrations) before looking at its memory. */
	sleep_s(O.settle_s);
	mem_kb(&rss, &pss, &n1);
	cg_read(&cg1);
	sk1 = sys_kmem();
	printf("mode=idle\nwanted=%d\nopen=%d\nfailed=%d\nopen_secs=%.3f\n",
	       O.count, open, failed, (t_open - t0) / 1e9);
	if (O.cgroup && !cg0.version)
		printf("cg_version=0\ncg_error=no memory accounting in %s\n", O.cgroup);
	if (cg0.version) {
		printf("cg_version=%d\n", cg0.version);
		print_cg_delta("kernel", cg0.kernel, cg1.kernel, open);
		print_cg_delta("sock", cg0.sock, cg1.sock, open);
		print_cg_delta("slab", cg0.slab, cg1.slab, open);
		print_cg_delta("current", cg0.current, cg1.current, open);
		/* What the proxy's sockets, files, epoll and pipes cost the
		 * kernel: everything charged but user pages. */
		if (open && cg0.kernel >= 0 && cg1.kernel >= 0)
			printf("kmem_per_conn_b=%.0f\n",
			       (double)(cg1.kernel - cg0.kernel +
					(cg0.sock >= 0 && cg1.sock >= 0 ? cg1.sock - cg0.sock : 0)) / open);
	}
	if (open)
		printf("sys_kmem_per_conn_b=%.0f\n", (double)(sk1 - sk0) / open);
	if (O.npids) {
		printf("procs=%d\nrss_base_kb=%ld\npss_base_kb=%ld\nrss_kb=%ld\npss_kb=%ld\n",
		       n1, rss0, pss0, rss, pss);
		if (open)
			printf("rss_per_conn_b=%.0f\npss_per_conn_b=%.0f\n",
			       1024.0 * (rss - rss0) / open, 1024.0 * (pss - pss0) / open);
	}
	if (first_err)
		printf("error=%s\n", strerror(first_err));
	fflush(stdout);
	sleep_s(O.hold_s);
	for (int i = 0; i < O.count; i++)
		if (c[i].st != I_NONE && c[i].st != I_FAILED)
			close(c[i].fd);
	close(ep);
	free(c);
	return open && !failed ? 0 : 1;
}

/* ---- server ------------------------------------------------------------ */

enum sstate { S_HDR, S_SKIP, S_CMD, S_RUN };

struct sconn {
	int fd;
	uint8_t st;
	uint8_t op;
	uint32_t need;		/* bytes still wanted in this state */
	uint32_t have;		/* into hdr[] */
	uint32_t arg;
	uint32_t left;		/* XCHG: bytes still to write */
	uint8_t *pend;		/* echo bytes not yet written back */
	uint32_t npend;
	uint8_t hdr[CMD_LEN];
};

struct sthr {
	pthread_t thr;
	int lfd, ep;
	uint8_t *buf;
};

static void sconn_close(struct sthr *t, struct sconn *c)
{
	epoll_ctl(t->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->pend);
	free(c);
}

static int sconn_events(struct sthr *t, struct sconn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = c };

	return epoll_ctl(t->ep, EPOLL_CTL_MOD, c->fd, &e);
}

/* Write from buf; keep the rest for EPOLLOUT.  Returns -1 to close. */
static int echo_out(struct sthr *t, struct sconn *c, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN)
			break;
		if (k <= 0)
			return -1;
		p += k;
		n -= k;
	}
	if (n) {
		uint8_t *q = malloc(n);

		if (!q)
			return -1;
		memcpy(q, p, n);
		free(c->pend);
		c->pend = q;
		c->npend = n;
		return sconn_events(t, c, EPOLLOUT | EPOLLRDHUP) ? -1 : 0;
	}
	return 0;
}

/* XCHG: write what is left (at most 16 blocks a call, so one connection
 * does not starve the others), then only sink. */
static int xchg_out(struct sthr *t, struct sconn *c)
{
	for (int i = 0; i < 16 && c->left; i++) {
		ssize_t k = send(c->fd, t->buf, c->left < BULK_WRITE ? c->left : BULK_WRITE,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN)
			return 0;
		if (k <= 0)
			return -1;
		c->left -= k;
	}
	if (c->left)
		return 0;
	c->op = OP_SINK;
	return sconn_events(t, c, EPOLLIN | EPOLLRDHUP);
}

/* The command is in: act on it. */
static int sconn_start(struct sthr *t, struct sconn *c)
{
	uint32_t magic, arg;

	memcpy(&magic, c->hdr, 4);
	memcpy(&arg, c->hdr + 8, 4);
	c->op = c->hdr[4];
	c->arg = le32toh(arg);
	c->st = S_RUN;
	if (le32toh(magic) != CMD_MAGIC)
		return -1;
	switch (c->op) {
	case OP_SINK:
	case OP_ECHO:
		return 0;
	case OP_SOURCE:
		return sconn_events(t, c, EPOLLOUT | EPOLLRDHUP);
	case OP_XCHG:
		c->left = c->arg;
		if (sconn_events(t, c, EPOLLIN | EPOLLOUT | EPOLLRDHUP))
			return -1;
		return xchg_out(t, c);
	case OP_REPLY:
		if (c->arg > BUF_SIZE)
			return -1;
		memset(t->buf, 'r', c->arg);
		c->op = OP_SINK;
		return echo_out(t, c, t->buf, c->arg);
	default:
		return -1;
	}
}

/* Returns -1 when the connection is over. */
static int sconn_io(struct sthr *t, struct sconn *c, uint32_t ev)
{
	if (c->st == S_RUN && c->op == OP_SOURCE) {
		if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			return -1;
		for (int i = 0; i < 16; i++) {
			ssize_t k = send(c->fd, t->buf, BULK_WRITE,
					 MSG_NOSIGNAL | MSG_DONTWAIT);

			if (k < 0 && errno == EAGAIN)
				return 0;
			if (k <= 0)
				return errno == EINTR ? 0 : -1;
		}
		return 0;
	}
	if (c->st == S_RUN && c->op == OP_XCHG) {
		if (ev & (EPOLLHUP | EPOLLERR))
			return -1;
		if ((ev & EPOLLOUT) && xchg_out(t, c))
			return -1;
		if (!(ev & (EPOLLIN | EPOLLRDHUP)))
			return 0;
		/* and sink what came */
	}
	if (c->npend) {
		uint8_t *p = c->pend;
		uint32_t n = c->npend;

		if (ev & (EPOLLHUP | EPOLLERR))
			return -1;
		c->pend = NULL;
		c->npend = 0;
		if (echo_out(t, c, p, n)) {
			free(p);
			return -1;
		}
		free(p);
		if (!c->npend)
			return sconn_events(t, c, EPOLLIN | EPOLLRDHUP) ? -1 : 0;
		return 0;
	}
	for (int i = 0; i < 16; i++) {
		size_t want = BUF_SIZE;
		ssize_t k;

		/* Before the command, read exactly what each state needs:
		 * what follows belongs to the operation. */
		if (c->st == S_HDR || c->st == S_CMD)
			want = c->need;
		else if (c->st == S_SKIP && c->need < want)
			want = c->need;
		k = recv(c->fd, c->st == S_HDR || c->st == S_CMD ? c->hdr + c->have : t->buf,
			 want, MSG_DONTWAIT);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN)
			return 0;
		if (k <= 0)
			return -1;
		switch (c->st) {
		case S_HDR:
		case S_CMD:
			c->have += k;
			c->need -= k;
			if (c->need)
				break;
			if (c->st == S_CMD) {
				if (sconn_start(t, c))
					return -1;
				if (c->op == OP_SOURCE || c->npend)
					return 0;
				break;
			}
			/* A TLS record header: type 22, then the length. */
			if (c->hdr[0] != 22)
				return -1;
			c->st = S_SKIP;
			c->need = (uint32_t)c->hdr[3] << 8 | c->hdr[4];
			c->have = 0;
			break;
		case S_SKIP:
			c->need -= k;
			if (!c->need) {
				c->st = S_CMD;
				c->need = CMD_LEN;
				c->have = 0;
			}
			break;
		case S_RUN:
			if (c->op == OP_ECHO) {
				if (echo_out(t, c, t->buf, k))
					return -1;
				if (c->npend)
					return 0;
			}
			if ((size_t)k < want)
				return 0;	/* drained, most likely */
			break;
		}
	}
	return 0;
}

static void *server_main(void *arg)
{
	struct sthr *t = arg;
	struct epoll_event evs[256];

	for (;;) {
		int n = epoll_wait(t->ep, evs, 256, -1);

		for (int i = 0; i < n; i++) {
			struct sconn *c = evs[i].data.ptr;

			if (!c) {
				int fd;

				while ((fd = accept4(t->lfd, NULL, NULL,
						     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					struct sconn *k = calloc(1, sizeof(*k));
					struct epoll_event e = { .events = EPOLLIN | EPOLLRDHUP };
					int one = 1;

					if (!k) {
						close(fd);
						continue;
					}
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					k->fd = fd;
					k->st = S_HDR;
					k->need = 5;
					e.data.ptr = k;
					if (epoll_ctl(t->ep, EPOLL_CTL_ADD, fd, &e)) {
						close(fd);
						free(k);
					}
				}
				continue;
			}
			if (sconn_io(t, c, evs[i].events))
				sconn_close(t, c);
		}
	}
	return NULL;
}

static int run_server(void)
{
	struct sthr *t;
	sigset_t ss;
	int sig, one = 1;

	if (O.threads <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		O.threads = n > 0 ? (int)(n < MAX_THREADS ? n : MAX_THREADS) : 1;
	}
	t = calloc(O.threads, sizeof(*t));
	if (!t)
		die("out of memory");
	/* Signals go to sigwait below, not to the workers. */
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	pthread_sigmask(SIG_BLOCK, &ss, NULL);
	for (int i = 0; i < O.threads; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.ptr = NULL };

		t[i].buf = malloc(BUF_SIZE);
		t[i].lfd = socket(peer_addr.ss_family,
				  SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		t[i].ep = epoll_create1(EPOLL_CLOEXEC);
		if (!t[i].buf || t[i].lfd < 0 || t[i].ep < 0)
			die("server: %s", strerror(errno));
		memset(t[i].buf, 0xa5, BUF_SIZE);
		/* One listener per thread: the kernel spreads connections. */
		setsockopt(t[i].lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		setsockopt(t[i].lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
		if (bind(t[i].lfd, (struct sockaddr *)&peer_addr, peer_len) ||
		    listen(t[i].lfd, 4096))
			die("server: listen %s: %s", O.addr, strerror(errno));
		if (epoll_ctl(t[i].ep, EPOLL_CTL_ADD, t[i].lfd, &e))
			die("server: epoll_ctl: %s", strerror(errno));
	}
	for (int i = 0; i < O.threads; i++)
		if (pthread_create(&t[i].thr, NULL, server_main, &t[i]))
			die("pthread_create failed");
	printf("mode=server\nlisten=%s\nthreads=%d\n", O.addr, O.threads);
	fflush(stdout);
	sigwait(&ss, &sig);
	return 0;
}

/* ---- main -------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr,
		"usage: ptbench server --listen ADDR:PORT [--threads N]\n"
		"       ptbench bulk   --connect ADDR:PORT [--streams N] [--dir up|down]\n"
		"       ptbench rr     --connect ADDR:PORT [--size BYTES]\n"
		"       ptbench cps    --connect ADDR:PORT [--conc N] [--size BYTES]\n"
		"       ptbench mixed  --connect ADDR:PORT [--conc N] [--small BYTES (4096)]\n"
		"                      [--big BYTES (16 MiB)] [--big-every N (20; 0: none)]\n"
		"       ptbench idle   --connect ADDR:PORT [--count N] [--conc N] [--settle S]\n"
		"                      [--hold S] [--cgroup DIR]\n"
		"client options: --sni NAME (bench.example) --pad-to N --time S (3)\n"
		"       --warmup S (0.5) --timeout-s S (10) --src-spread N\n"
		"       --pid PID (repeatable: the proxy, for CPU and memory)\n");
	exit(2);
}

static void on_signal(int sig)
{
	atomic_store(&stop, true);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "connect", required_argument, NULL, 'c' },
		{ "threads", required_argument, NULL, 'T' },
		{ "streams", required_argument, NULL, 'n' },
		{ "dir", required_argument, NULL, 'd' },
		{ "time", required_argument, NULL, 't' },
		{ "warmup", required_argument, NULL, 'W' },
		{ "size", required_argument, NULL, 's' },
		{ "conc", required_argument, NULL, 'C' },
		{ "count", required_argument, NULL, 'N' },
		{ "hold", required_argument, NULL, 'H' },
		{ "settle", required_argument, NULL, 'L' },
		{ "timeout-s", required_argument, NULL, 'o' },
		{ "sni", required_argument, NULL, 'S' },
		{ "pad-to", required_argument, NULL, 'P' },
		{ "src-spread", required_argument, NULL, 'x' },
		{ "pid", required_argument, NULL, 'p' },
		{ "small", required_argument, NULL, 'm' },
		{ "big", required_argument, NULL, 'B' },
		{ "big-every", required_argument, NULL, 'E' },
		{ "cgroup", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sigaction sa = { .sa_handler = on_signal };
	int c;

	if (argc < 2 || argv[1][0] == '-')
		usage();
	O.mode = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'l':
		case 'c': O.addr = optarg; break;
		case 'T': O.threads = (int)parse_num("--threads", optarg, 1, MAX_THREADS); break;
		case 'n': O.streams = (int)parse_num("--streams", optarg, 1, 1024); break;
		case 'd':
			if (strcmp(optarg, "up") && strcmp(optarg, "down"))
				die("--dir: up or down");
			O.down = !strcmp(optarg, "down");
			break;
		case 't': O.time_s = parse_num("--time", optarg, 0.1, 3600); break;
		case 'W': O.warmup_s = parse_num("--warmup", optarg, 0, 60); break;
		case 's': O.size = (uint32_t)parse_num("--size", optarg, 1, 1 << 20); break;
		case 'C': O.conc = (int)parse_num("--conc", optarg, 1, 4096); break;
		case 'N': O.count = (int)parse_num("--count", optarg, 1, 1 << 20); break;
		case 'H': O.hold_s = parse_num("--hold", optarg, 0, 86400); break;
		case 'L': O.settle_s = parse_num("--settle", optarg, 0, 60); break;
		case 'o': O.timeout_s = parse_num("--timeout-s", optarg, 0.1, 3600); break;
		case 'S': O.sni = optarg; break;
		case 'P': O.pad_to = (size_t)parse_num("--pad-to", optarg, 0, 16000); break;
		case 'x': O.src_spread = (int)parse_num("--src-spread", optarg, 0, 250); break;
		case 'm': O.small = (uint32_t)parse_num("--small", optarg, 1, 1u << 31); break;
		case 'B': O.big = (uint32_t)parse_num("--big", optarg, 1, 1u << 31); break;
		case 'E': O.big_every = (uint32_t)parse_num("--big-every", optarg, 0, 1 << 20); break;
		case 'g': O.cgroup = optarg; break;
		case 'p':
			if (O.npids == MAX_PIDS)
				die("--pid: at most %d", MAX_PIDS);
			O.pids[O.npids++] = (pid_t)parse_num("--pid", optarg, 1, 1 << 30);
			break;
		default: usage();
		}
	}
	if (optind != argc || !O.addr)
		usage();
	parse_addr(O.addr, &peer_addr, &peer_len);
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	raise_nofile();
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (!strcmp(O.mode, "server"))
		return run_server();
	if (!strcmp(O.mode, "bulk"))
		return run_bulk();
	if (!strcmp(O.mode, "rr"))
		return run_rr();
	if (!strcmp(O.mode, "cps"))
		return run_cps();
	if (!strcmp(O.mode, "mixed"))
		return run_mixed();
	if (!strcmp(O.mode, "idle"))
		return run_idle();
	usage();
}
