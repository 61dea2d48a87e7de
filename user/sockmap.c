// SPDX-License-Identifier: GPL-2.0
/* The in-kernel data path.  Order matters everywhere here; each step says
 * what goes wrong without it (measured, see ../shared/DESIGN.md). */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "passthru.skel.h"
#include "cgroup.h"
#include "sockmap.h"
#include "util.h"

static struct {
	struct passthru_bpf *skel;
	int targets_fd, verdict_fd, index_fd, stats_fd;
	struct pt_dir *dirs;	/* mmapped pt_dirs */
	size_t dirs_len;
	uint32_t ndirs;
	uint32_t test_slot;	/* reserved for the start-up self-test */
	bool batch_targets, batch_verdict;	/* the kernel batches sock maps */
	uint32_t sndbuf;			/* kpath_sndbuf() */
	uint32_t rcvbuf;			/* kpath_rcvbuf() */
	struct ring_buffer *events;
	struct bpf_link *sockops;	/* NULL: no back-pressure */
	struct pt_cgroup cg;		/* where pt_sock_ops is attached */
	char bp_why[256];		/* why back-pressure is off */
	pthread_mutex_t events_mu;
	void (*handle)(const struct pt_event *ev, void *ctx);
	void *handle_ctx;
} K = { .targets_fd = -1, .events_mu = PTHREAD_MUTEX_INITIALIZER };

bool kpath_ready(void)
{
	return K.skel != NULL;
}

/* The psock worker that writes redirected bytes into a socket backs off
 * a whole jiffy when its send buffer is full, and autotuning keeps that
 * buffer small: one stream then moves about a buffer per jiffy, half the
 * line rate or less.  A buffer above the back-pressure limit keeps the
 * worker busy instead.  0 on the splice path (autotuning is right there). */
int kpath_sndbuf(void)
{
	return K.skel ? (int)(K.sndbuf ? K.sndbuf : 4u << 20) : 0;
}

/* While back-pressure freezes a direction, its sender fills the source's
 * receive buffer.  Where tcp_rmem caps that buffer at 1 or 2 MiB, the
 * window closes during a freeze and, after the thaw, the sender's last
 * window of data goes unacknowledged until its retransmission timer fires:
 * a 200 ms stall at every freeze, 0.2 to 1.3 Gbit/s through passthru
 * against 12 to 16 direct (loopback).  With 4 MiB and more, autotuning
 * grows the buffer enough; below that it is set, on the listeners (the
 * window scale is chosen from it at the handshake) and on each upstream
 * socket before its connect. */
#define RCVBUF_MIN (4u << 20)

static uint64_t tcp_rmem_max(void)
{
	unsigned long lo, def, max;
	FILE *f = fopen("/proc/sys/net/ipv4/tcp_rmem", "re");
	int n = f ? fscanf(f, "%lu %lu %lu", &lo, &def, &max) : 0;

	if (f)
		fclose(f);
	return n == 3 ? max : 0;
}

int kpath_rcvbuf(void)
{
	return K.skel ? (int)K.rcvbuf : 0;
}

void kpath_set_limit(uint64_t limit)
{
	K.sndbuf = limit > (4u << 20) ? (uint32_t)(limit < (64u << 20) ? limit : 64u << 20)
				      : 4u << 20;
	K.rcvbuf = tcp_rmem_max() < RCVBUF_MIN ? RCVBUF_MIN : 0;
}

bool kpath_backpressure(void)
{
	return K.sockops != NULL;
}

struct pt_dir *kpath_dir(uint32_t idx)
{
	return idx < K.ndirs ? &K.dirs[idx] : NULL;
}

int kpath_events_fd(void)
{
	return K.skel ? bpf_map__fd(K.skel->maps.pt_events) : -1;
}

static int on_event(void *ctx, void *data, size_t len)
{
	if (len >= sizeof(struct pt_event) && K.handle)
		K.handle(data, K.handle_ctx);
	return 0;
}

int kpath_events_consume(void (*handle)(const struct pt_event *ev, void *ctx),
			 void *ctx)
{
	int n;

	if (!K.events)
		return 0;
	/* libbpf's consumer is single-threaded; workers take turns. */
	pthread_mutex_lock(&K.events_mu);
	K.handle = handle;
	K.handle_ctx = ctx;
	n = ring_buffer__consume(K.events);
	K.handle = NULL;
	pthread_mutex_unlock(&K.events_mu);
	return n;
}

static int sock_cookie(int fd, uint64_t *cookie)
{
	socklen_t len = sizeof(*cookie);

	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, cookie, &len))
		return -errno;
	return 0;
}

static int tcp_info_get(int fd, struct tcp_info *ti)
{
	socklen_t len = sizeof(*ti);

	memset(ti, 0, sizeof(*ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, ti, &len))
		return -errno;
	return 0;
}

/* Bytes written into the socket = acked + still queued (SIOCOUTQ), from
 * two calls: exact when an unchanged bytes_acked around SIOCOUTQ proves no
 * ACK landed in between. */
static int sent_total(int fd, uint64_t *tx)
{
	for (int i = 0; i < 100; i++) {
		struct tcp_info t1, t2;
		int outq, err;

		err = tcp_info_get(fd, &t1);
		if (err)
			return err;
		if (ioctl(fd, SIOCOUTQ, &outq))
			return -errno;
		err = tcp_info_get(fd, &t2);
		if (err)
			return err;
		if (t1.tcpi_bytes_acked == t2.tcpi_bytes_acked) {
			*tx = t1.tcpi_bytes_acked + (uint64_t)outq;
			return 0;
		}
	}
	return -EAGAIN;
}

/* Bytes written into a socket so far: one TCP_INFO gives them exactly when
 * nothing is in flight (a fresh socket; a drained one), else with SIOCOUTQ. */
static int sent_fresh(int fd, uint64_t *tx, bool exact)
{
	struct tcp_info ti;
	int outq, err = tcp_info_get(fd, &ti);

	if (err)
		return err;
	if (!ti.tcpi_unacked && !ti.tcpi_notsent_bytes) {
		*tx = ti.tcpi_bytes_acked;
		return 0;
	}
	if (exact)
		return sent_total(fd, tx);
	/* After that TCP_INFO: an ACK in between makes the sum smaller,
	 * never larger (see sent_total). */
	if (ioctl(fd, SIOCOUTQ, &outq))
		return -errno;
	*tx = ti.tcpi_bytes_acked + (uint64_t)outq;
	return 0;
}

int kpath_drained(int src, int dst, const struct ksnap *s, bool fin)
{
	struct tcp_info ti;
	uint64_t total, delivered;
	int err;

	err = tcp_info_get(src, &ti);
	if (err)
		return err;
	/* Past its FIN, the FIN is in bytes_received whatever the state:
	 * CLOSE_WAIT, or CLOSE once our own FIN was acked.  A reset is not. */
	total = ti.tcpi_bytes_received - fin - s->rx0;
	err = sent_fresh(dst, &delivered, false);
	if (err)
		return err;
	delivered -= s->tx0;
	if (delivered > total) {
		pr_warn("drain check: %llu bytes delivered but %llu received (fd %d -> %d)",
			(unsigned long long)delivered, (unsigned long long)total,
			src, dst);
		return 1;
	}
	return delivered == total;
}

int kpath_backlog(int dst, const struct ksnap *s, uint64_t redirected,
		  uint64_t *backlog)
{
	uint64_t delivered;
	int err = sent_fresh(dst, &delivered, false);

	if (err)
		return err;
	delivered -= s->tx0;
	*backlog = redirected > delivered ? redirected - delivered : 0;
	return 0;
}

static int map_put_sock(int map_fd, uint64_t key, int fd)
{
	uint64_t v = (uint64_t)fd;

	if (bpf_map_update_elem(map_fd, &key, &v, BPF_NOEXIST))
		return -errno;
	return 0;
}

void kpath_forget(const uint64_t cookie[2])
{
	LIBBPF_OPTS(bpf_map_batch_opts, o);
	__u32 two = 2;

	if (cookie[0] && cookie[1] && !bpf_map_delete_batch(K.index_fd, cookie, &two, &o))
		return;
	for (int i = 0; i < 2; i++)
		if (cookie[i])
			bpf_map_delete_elem(K.index_fd, &cookie[i]);
}

/* Sockets leave the sock maps by themselves when closed; this is for
 * undoing a half-done insertion on a socket that stays open. */
static void unlink_all(const uint64_t cookie[2])
{
	kpath_forget(cookie);
	for (int i = 0; i < 2; i++) {
		if (!cookie[i])
			continue;
		bpf_map_delete_elem(K.verdict_fd, &cookie[i]);
		bpf_map_delete_elem(K.targets_fd, &cookie[i]);
	}
}

static int set_rcvlowat(int fd, int v)
{
	if (setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v)))
		return -errno;
	return 0;
}

/* Two entries in one syscall where the kernel batches this map type
 * (the connection rate is syscall-bound); one by one where it does not.
 * Returns how many went in, or -errno if none did. */
#ifndef ENOTSUPP
#define ENOTSUPP 524	/* the kernel's "operation not supported" */
#endif

static int put_two(int map_fd, bool *batch, const uint64_t keys[2],
		   const uint64_t vals[2])
{
	LIBBPF_OPTS(bpf_map_batch_opts, o, .elem_flags = BPF_NOEXIST);
	__u32 n = 2;
	int i;

	if (*batch) {
		if (!bpf_map_update_batch(map_fd, keys, vals, &n, &o))
			return 2;
		if (errno != EINVAL && errno != ENOTSUPP && errno != EOPNOTSUPP &&
		    errno != ENOTSUP)
			return n < 2 && n ? (int)n : -errno;
		/* No batching for this map type here: the count is not
		 * written then, and nothing went in. */
		*batch = false;
	}
	for (i = 0; i < 2; i++)
		if (bpf_map_update_elem(map_fd, &keys[i], &vals[i], BPF_NOEXIST))
			return i ? i : -errno;	/* errno kept for the caller */
	return 2;
}

int kpath_splice(int cli, int up, uint32_t slot, uint32_t limit,
		 const uint64_t consumed[2], uint64_t cookie[2],
		 struct ksnap snap[2], unsigned *joined)
{
	uint64_t fds[2] = { (uint64_t)cli, (uint64_t)up };
	uint64_t peers[2] = { (uint64_t)up, (uint64_t)cli };
	uint32_t idx[2] = { 2 * slot, 2 * slot + 1 };
	int err, n;

	*joined = 0;
	cookie[0] = cookie[1] = 0;
	if (2 * slot + 1 >= K.ndirs)
		return -ENOSPC;
	for (int i = 0; i < 2; i++) {
		err = sock_cookie((int)fds[i], &cookie[i]);
		if (err)
			return err;
	}
	/* The upstream's send buffer, as the client's came from its
	 * listener (kpath_sndbuf). */
	{
		int sb = kpath_sndbuf();

		if (sb && setsockopt(up, SOL_SOCKET, SO_SNDBUFFORCE, &sb, sizeof(sb)))
			setsockopt(up, SOL_SOCKET, SO_SNDBUF, &sb, sizeof(sb));
	}
	/* snap[i]: direction i reads fds[i] and writes fds[!i].  "Received
	 * minus unread" is what we consumed ourselves (a PROXY header, or
	 * nothing: sniffing only peeks). */
	for (int i = 0; i < 2; i++) {
		snap[i].rx0 = consumed[i];
		err = sent_fresh((int)fds[!i], &snap[i].tx0, true);
		if (err)
			return err;
	}
	for (int i = 0; i < 2; i++) {
		struct pt_dir *d = &K.dirs[idx[i]];
		uint32_t gen = d->gen + 1;

		memset(d, 0, sizeof(*d));
		d->gen = gen;
		d->limit = limit;
	}
	{
		LIBBPF_OPTS(bpf_map_batch_opts, o, .elem_flags = BPF_ANY);
		__u32 two = 2;

		if (bpf_map_update_batch(K.index_fd, cookie, idx, &two, &o) &&
		    (bpf_map_update_elem(K.index_fd, &cookie[0], &idx[0], BPF_ANY) ||
		     bpf_map_update_elem(K.index_fd, &cookie[1], &idx[1], BPF_ANY))) {
			err = -errno;
			goto undo;
		}
	}
	/* Targets first: a socket in the verdict map whose peer is not yet a
	 * target would have its bytes dropped by the redirect. */
	n = put_two(K.targets_fd, &K.batch_targets, cookie, peers);
	if (n != 2) {
		/* One in, one refused: the latter is no longer ESTABLISHED. */
		err = n < 0 ? n : errno == EOPNOTSUPP ? -EOPNOTSUPP : -EIO;
		goto undo;
	}
	n = put_two(K.verdict_fd, &K.batch_verdict, cookie, fds);
	if (n == 1) {
		/* cli is in and runs its verdict already: taking it out
		 * again would race it and drop bytes.  It stays. */
		err = errno == EOPNOTSUPP ? -EOPNOTSUPP : -EIO;
		*joined = 1;
		if (err == -EOPNOTSUPP)
			set_rcvlowat(cli, 1);
		return err;
	}
	if (n != 2) {
		err = n < 0 ? n : -EIO;
		goto undo;
	}
	*joined = 3;
	/* Bytes that arrived before insertion (the peeked ClientHello, an
	 * early server banner) sit unprocessed until the next packet; setting
	 * SO_RCVLOWAT runs the socket's data_ready, which feeds them to the
	 * verdict program now. */
	err = set_rcvlowat(cli, 1);
	if (!err)
		err = set_rcvlowat(up, 1);
	return err;
undo:
	unlink_all(cookie);
	return err;
}

int kpath_thaw(int src, uint64_t cookie, uint32_t idx)
{
	int err;

	if (idx >= K.ndirs)
		return -EINVAL;
	/* No verdict runs for src while it is out of pt_verdict, so this
	 * write cannot race one. */
	__atomic_store_n(&K.dirs[idx].mode, PT_MODE_REDIRECT, __ATOMIC_RELEASE);
	err = map_put_sock(K.verdict_fd, cookie, src);
	if (err)
		return err;
	/* What queued while frozen is processed now, in order. */
	return set_rcvlowat(src, 1);
}

int kpath_stats(uint64_t out[PT_STAT_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t vals[ncpu > 0 ? ncpu : 1];

	memset(out, 0, PT_STAT_MAX * sizeof(out[0]));
	if (!K.skel || ncpu <= 0)
		return -ENODEV;
	for (uint32_t k = 0; k < PT_STAT_MAX; k++) {
		if (bpf_map_lookup_elem(K.stats_fd, &k, vals))
			return -errno;
		for (int c = 0; c < ncpu; c++)
			out[k] += vals[c];
	}
	return 0;
}

static int tcp_pair(int lfd, const struct sockaddr_in *sa, int *a, int *b)
{
	*a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*a < 0)
		return -errno;
	if (connect(*a, (const struct sockaddr *)sa, sizeof(*sa))) {
		close(*a);
		return -errno;
	}
	*b = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (*b < 0) {
		close(*a);
		return -errno;
	}
	return 0;
}

static int recv_exact(int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 1000) != 1)
			return -ETIMEDOUT;
		n = recv(fd, buf + got, len - got, MSG_DONTWAIT);
		if (n <= 0)
			return n ? -errno : -ECONNRESET;
		got += n;
	}
	return 0;
}

/* End to end on loopback: a1 -> b1 =(kernel)=> b2 -> a2 and back, with
 * bytes queued before insertion, as a real connection has them. */
static int selftest(char *why, size_t whylen)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int lfd = -1, a1 = -1, b1 = -1, a2 = -1, b2 = -1, err;
	socklen_t slen = sizeof(sa);
	uint64_t cookie[2] = { 0 };
	struct ksnap snap[2];
	char buf[16];
	unsigned joined;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(lfd, 4) || getsockname(lfd, (struct sockaddr *)&sa, &slen)) {
		err = -errno;
		snprintf(why, whylen, "self-test: loopback socket: %s", strerror(-err));
		goto out;
	}
	err = tcp_pair(lfd, &sa, &a1, &b1);
	if (!err)
		err = tcp_pair(lfd, &sa, &a2, &b2);
	if (err) {
		snprintf(why, whylen, "self-test: loopback connect: %s", strerror(-err));
		goto out;
	}
	if (send(a1, "early", 5, 0) != 5 || send(a2, "hello", 5, 0) != 5) {
		err = -errno;
		snprintf(why, whylen, "self-test: send: %s", strerror(-err));
		goto out;
	}
	usleep(1000);
	err = kpath_splice(b1, b2, K.test_slot, 0, (uint64_t[2]){ 0, 0 }, cookie, snap,
			   &joined);
	if (err) {
		snprintf(why, whylen, "inserting sockets into the sockmap failed: %s",
			 strerror(-err));
		goto out;
	}
	if (send(a1, "-late", 5, 0) != 5) {
		err = -errno;
		goto out;
	}
	err = recv_exact(a2, buf, 10);
	if (!err && memcmp(buf, "early-late", 10))
		err = -EBADMSG;
	if (!err)
		err = recv_exact(a1, buf, 5);
	if (!err && memcmp(buf, "hello", 5))
		err = -EBADMSG;
	if (err)
		snprintf(why, whylen, "self-test: bytes did not cross the kernel path: %s",
			 strerror(-err));
out:
	unlink_all(cookie);
	for (int *fd = (int[]){ a1, b1, a2, b2, lfd }, i = 0; i < 5; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	return err;
}

/* The sock_ops program must see passthru's sockets and no one else's, so
 * it is attached to passthru's own cgroup v2.  Under systemd that is the
 * service's; when passthru runs in the root cgroup, it moves itself into a
 * child made for it (removed at exit).  Must run before any socket of ours
 * is created: a socket belongs to its creator's cgroup. */
static int attach_sockops(struct passthru_bpf *skel, char *why, size_t whylen)
{
	int fd, err = cgroup_enter(&K.cg, why, whylen);

	if (err)
		return err;
	fd = open(K.cg.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		snprintf(why, whylen, "cannot open cgroup %.160s: %s", K.cg.dir, strerror(-err));
		return err;
	}
	K.sockops = bpf_program__attach_cgroup(skel->progs.pt_sock_ops, fd);
	err = K.sockops ? 0 : -errno;
	close(fd);
	if (err)
		snprintf(why, whylen, "cannot attach sock_ops to cgroup %.160s: %s", K.cg.dir,
			 strerror(-err));
	return err;
}

static void detach_sockops(void)
{
	if (K.sockops)
		bpf_link__destroy(K.sockops);
	K.sockops = NULL;
	cgroup_leave(&K.cg);
}

int kpath_init(uint32_t max_conns, char *why, size_t whylen)
{
	struct passthru_bpf *skel;
	uint32_t entries = 2 * (max_conns + 1);
	long page = sysconf(_SC_PAGESIZE);
	int err, r;

	if (!bpf_privileged()) {
		snprintf(why, whylen, "no permission to use BPF (run as root, or with CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON)");
		return -EPERM;
	}
	r = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_SOCKHASH, NULL);
	if (r <= 0) {
		snprintf(why, whylen, "%s",
			 r == -EPERM ? "no permission to use BPF (needs root, or CAP_BPF + CAP_NET_ADMIN + CAP_PERFMON)"
			 : r == 0 ? "kernel lacks BPF_MAP_TYPE_SOCKHASH (CONFIG_BPF_STREAM_PARSER / sockmap)"
				  : "cannot probe BPF map types");
		return r < 0 ? r : -EOPNOTSUPP;
	}
	r = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SK_SKB, NULL);
	if (r <= 0) {
		snprintf(why, whylen, "kernel lacks BPF_PROG_TYPE_SK_SKB");
		return r < 0 ? r : -EOPNOTSUPP;
	}

	skel = passthru_bpf__open();
	if (!skel) {
		err = -errno;
		snprintf(why, whylen, "opening the BPF object failed: %s", strerror(-err));
		return err;
	}
	bpf_map__set_max_entries(skel->maps.pt_targets, entries);
	bpf_map__set_max_entries(skel->maps.pt_verdict, entries);
	bpf_map__set_max_entries(skel->maps.pt_index, entries);
	bpf_map__set_max_entries(skel->maps.pt_dirs, entries);
	err = passthru_bpf__load(skel);
	if (err) {
		snprintf(why, whylen, "loading the BPF program failed: %s%s",
			 strerror(-err), err == -EPERM ? " (needs root or CAP_BPF + CAP_NET_ADMIN + CAP_PERFMON)" : "");
		goto fail;
	}
	/* Debian 12's libbpf (1.1) cannot attach sk_skb/verdict itself. */
	err = bpf_prog_attach(bpf_program__fd(skel->progs.pt_verdict_prog),
			      bpf_map__fd(skel->maps.pt_verdict),
			      BPF_SK_SKB_VERDICT, 0);
	if (err) {
		err = -errno;
		snprintf(why, whylen, "attaching the verdict program failed: %s",
			 strerror(-err));
		goto fail;
	}
	K.dirs_len = ((size_t)entries * sizeof(struct pt_dir) + page - 1) / page * page;
	K.dirs = mmap(NULL, K.dirs_len, PROT_READ | PROT_WRITE, MAP_SHARED,
		      bpf_map__fd(skel->maps.pt_dirs), 0);
	if (K.dirs == MAP_FAILED) {
		err = -errno;
		K.dirs = NULL;
		snprintf(why, whylen, "mapping pt_dirs failed: %s", strerror(-err));
		goto fail;
	}
	K.skel = skel;
	K.ndirs = entries;
	K.test_slot = max_conns;
	K.batch_targets = K.batch_verdict = true;
	K.targets_fd = bpf_map__fd(skel->maps.pt_targets);
	K.verdict_fd = bpf_map__fd(skel->maps.pt_verdict);
	K.index_fd = bpf_map__fd(skel->maps.pt_index);
	K.stats_fd = bpf_map__fd(skel->maps.pt_stats);
	K.events = ring_buffer__new(bpf_map__fd(skel->maps.pt_events), on_event,
				    NULL, NULL);
	if (!K.events) {
		err = -errno;
		snprintf(why, whylen, "pt_events ring buffer: %s", strerror(-err));
		kpath_fini();
		return err;
	}
	if (attach_sockops(skel, K.bp_why, sizeof(K.bp_why)))
		detach_sockops();
	err = selftest(why, whylen);
	if (err) {
		kpath_fini();
		return err;
	}
	return 0;
fail:
	passthru_bpf__destroy(skel);
	return err;
}

int kpath_export(int fds[KP_NFDS], char *cgroup, size_t len)
{
	struct passthru_bpf *k = K.skel;

	if (!k)
		return -ENODEV;
	fds[KP_TARGETS] = bpf_map__fd(k->maps.pt_targets);
	fds[KP_VERDICT] = bpf_map__fd(k->maps.pt_verdict);
	fds[KP_INDEX] = bpf_map__fd(k->maps.pt_index);
	fds[KP_DIRS] = bpf_map__fd(k->maps.pt_dirs);
	fds[KP_STATS] = bpf_map__fd(k->maps.pt_stats);
	fds[KP_EVENTS] = bpf_map__fd(k->maps.pt_events);
	fds[KP_PROG] = bpf_program__fd(k->progs.pt_verdict_prog);
	fds[KP_LINK] = K.sockops ? bpf_link__fd(K.sockops) : -1;
	snprintf(cgroup, len, "%s", K.cg.dir);
	return 0;
}

void kpath_handed_over(void)
{
	/* Our programs stay attached through the successor's references;
	 * the cgroup holds the successor now. */
	K.cg.made[0] = '\0';
}

int kpath_adopt(const int fds[KP_NFDS], const char *cgroup, char *why,
		size_t whylen)
{
	struct bpf_map *maps[KP_PROG];
	struct passthru_bpf *skel;
	long page = sysconf(_SC_PAGESIZE);
	uint32_t entries;
	int err, fd;

	skel = passthru_bpf__open();
	if (!skel) {
		err = -errno;
		snprintf(why, whylen, "opening the BPF object failed: %s", strerror(-err));
		goto close_fds;
	}
	maps[KP_TARGETS] = skel->maps.pt_targets;
	maps[KP_VERDICT] = skel->maps.pt_verdict;
	maps[KP_INDEX] = skel->maps.pt_index;
	maps[KP_DIRS] = skel->maps.pt_dirs;
	maps[KP_STATS] = skel->maps.pt_stats;
	maps[KP_EVENTS] = skel->maps.pt_events;
	/* The maps, with every socket in them, are the predecessor's: this
	 * binary's programs are loaded against them (same layout, checked by
	 * the verifier and by the takeover's ABI number). */
	for (int i = 0; i < KP_PROG; i++) {
		err = bpf_map__reuse_fd(maps[i], fds[i]);
		if (err) {
			snprintf(why, whylen, "reusing map %s: %s", bpf_map__name(maps[i]),
				 strerror(-err));
			goto fail;
		}
	}
	err = passthru_bpf__load(skel);
	if (err) {
		snprintf(why, whylen, "loading the BPF programs on the inherited maps: %s",
			 strerror(-err));
		goto fail;
	}
	/* New sockets get this program; those already in the map keep the
	 * one they were linked with, which stays alive with them. */
	err = bpf_prog_attach(bpf_program__fd(skel->progs.pt_verdict_prog),
			      bpf_map__fd(skel->maps.pt_verdict), BPF_SK_SKB_VERDICT, 0);
	if (err) {
		err = -errno;
		snprintf(why, whylen, "attaching the verdict program: %s", strerror(-err));
		goto fail;
	}
	entries = bpf_map__max_entries(skel->maps.pt_dirs);
	K.dirs_len = ((size_t)entries * sizeof(struct pt_dir) + page - 1) / page * page;
	K.dirs = mmap(NULL, K.dirs_len, PROT_READ | PROT_WRITE, MAP_SHARED,
		      bpf_map__fd(skel->maps.pt_dirs), 0);
	if (K.dirs == MAP_FAILED) {
		err = -errno;
		K.dirs = NULL;
		snprintf(why, whylen, "mapping pt_dirs: %s", strerror(-err));
		goto fail;
	}
	K.skel = skel;
	K.ndirs = entries;
	K.test_slot = entries / 2 - 1;
	K.batch_targets = K.batch_verdict = true;
	K.targets_fd = bpf_map__fd(skel->maps.pt_targets);
	K.verdict_fd = bpf_map__fd(skel->maps.pt_verdict);
	K.index_fd = bpf_map__fd(skel->maps.pt_index);
	K.stats_fd = bpf_map__fd(skel->maps.pt_stats);
	K.events = ring_buffer__new(bpf_map__fd(skel->maps.pt_events), on_event, NULL, NULL);
	if (!K.events) {
		err = -errno;
		snprintf(why, whylen, "pt_events ring buffer: %s", strerror(-err));
		kpath_fini();
		goto close_fds;
	}
	/* Into the predecessor's cgroup, where its sockets are, with our own
	 * sock_ops program; then its program can go. */
	if (cgroup[0]) {
		fd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0 && !cgroup_join(&K.cg, cgroup))
			K.sockops = bpf_program__attach_cgroup(skel->progs.pt_sock_ops, fd);
		if (fd >= 0)
			close(fd);
		if (!K.sockops)
			snprintf(K.bp_why, sizeof(K.bp_why), "cannot attach sock_ops to %.160s",
				 cgroup);
	}
	/* libbpf holds its own dups of the maps; the old programs stay as
	 * long as sockets are linked to them. */
	for (int i = 0; i < KP_NFDS; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	err = selftest(why, whylen);
	if (err)
		kpath_fini();
	return err;
fail:
	passthru_bpf__destroy(skel);
close_fds:
	for (int i = 0; i < KP_NFDS; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return err;
}

const char *kpath_backpressure_why(void)
{
	return K.bp_why;
}

void kpath_fini(void)
{
	detach_sockops();
	if (K.events)
		ring_buffer__free(K.events);
	K.events = NULL;
	if (K.dirs)
		munmap(K.dirs, K.dirs_len);
	K.dirs = NULL;
	if (K.skel)
		passthru_bpf__destroy(K.skel);
	K.skel = NULL;
	K.ndirs = 0;
}
