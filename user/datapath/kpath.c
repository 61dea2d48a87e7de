// SPDX-License-Identifier: GPL-2.0
/* The in-kernel data path at work: a connection's sockets handed to the
 * verdict program, back-pressure thaws, drain checks, counters (loading
 * and handing over the BPF object: kpath_load.c).  Order matters
 * everywhere here; each step says what goes wrong without it (measured,
 * see ../shared/DESIGN.md). */
#include <errno.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "base/log.h"
#include "datapath/kpath_int.h"
#include "base/util.h"

struct kpath K = { .targets_fd = -1, .events_mu = PTHREAD_MUTEX_INITIALIZER };

uint32_t kpath_slots(void)
{
	return K.ndirs ? K.ndirs / 2 - 1 : 0;
}

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
/* include/net/tcp_states.h: the uapi has no name for it. */
#define PT_TCP_CLOSE 7

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

bool kpath_nodelay(void)
{
	return K.nodelay;
}

struct pt_dir *kpath_dir(uint32_t idx)
{
	return idx < K.ndirs ? &K.dirs[idx] : NULL;
}

int kpath_events_fd(void)
{
	return K.skel ? bpf_map__fd(K.skel->maps.pt_events) : -1;
}

int kpath_on_event(void *ctx, void *data, size_t len)
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

int sock_bytes_acked(int fd, uint64_t *acked)
{
	struct tcp_info ti;
	int err = tcp_info_get(fd, &ti);

	if (!err)
		*acked = ti.tcpi_bytes_acked;
	return err;
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

/* Bytes written into dst since the snapshot.  The quick count can run
 * below the snapshot's exact one (an ACK between its two reads): 0 then,
 * never a difference wrapped around to ~2^64, which would read as
 * everything delivered. */
static int since_snap(int dst, const struct ksnap *s, bool exact, uint64_t *out)
{
	uint64_t tx;
	int err = sent_fresh(dst, &tx, exact);

	if (err)
		return err;
	*out = tx > s->tx0 ? tx - s->tx0 : 0;
	return 0;
}

int kpath_drained(int src, int dst, const struct ksnap *s, bool fin, bool src_shut)
{
	struct tcp_info ti;
	uint64_t total, delivered;
	int err;

	err = tcp_info_get(src, &ti);
	if (err)
		return err;
	/* A FIN leaves a socket we never shut down in CLOSE_WAIT; CLOSE
	 * there is a reset whose EPOLLERR someone else read first.  Its
	 * peer must get the reset, not a FIN one byte early. */
	if (fin && !src_shut && ti.tcpi_state == PT_TCP_CLOSE)
		return -ECONNRESET;
	/* Past its FIN, the FIN is in bytes_received whatever the state:
	 * CLOSE_WAIT, or CLOSE once our own FIN was acked.  A reset is not. */
	total = ti.tcpi_bytes_received - fin - s->rx0;
	err = since_snap(dst, s, false, &delivered);
	/* The quick count runs low when an ACK lands between its two reads:
	 * "not yet" only once the exact one agrees.  Still racing ACKs after
	 * its tries: not yet, the next tick looks again. */
	if (!err && delivered < total)
		err = since_snap(dst, s, true, &delivered);
	if (err == -EAGAIN)
		return 0;
	if (err)
		return err;
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
	int err = since_snap(dst, s, false, &delivered);

	if (err)
		return err;
	/* Low when an ACK raced the count: a backlog too high, which only
	 * waits longer. */
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
void kpath_unlink(const uint64_t cookie[2])
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
	/* Armed before either is in the maps: the first verdict may already
	 * ask pt_sock_ops for a freeze (kpath_load.c, attach_arm). */
	for (int i = 0; K.arm && i < 2; i++) {
		int one = 1;

		if (setsockopt((int)fds[i], IPPROTO_TCP, PT_TCP_ARM, &one, sizeof(one)))
			return -errno;
	}
	/* The upstream's send buffer, as the client's came from its
	 * listener (kpath_sndbuf). */
	sock_set_buf(up, false, kpath_sndbuf());
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
	kpath_unlink(cookie);
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
	for (long n = __atomic_load_n(&K.thaw_refuse, __ATOMIC_RELAXED); n > 0;)
		if (__atomic_compare_exchange_n(&K.thaw_refuse, &n, n - 1, false,
						__ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return -EBUSY;
	err = map_put_sock(K.verdict_fd, cookie, src);
	if (err)
		return err;
	/* What queued while frozen is processed now, in order. */
	return set_rcvlowat(src, 1);
}

void kpath_refreeze(uint32_t idx)
{
	/* kpath_thaw marked it redirecting before the link that failed. */
	if (idx < K.ndirs)
		__atomic_store_n(&K.dirs[idx].mode, PT_MODE_FROZEN, __ATOMIC_RELEASE);
}

int kpath_stat(uint32_t k, uint64_t *v)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t vals[ncpu > 0 ? ncpu : 1];

	*v = 0;
	if (!K.skel || ncpu <= 0)
		return -ENODEV;
	if (bpf_map_lookup_elem(K.stats_fd, &k, vals))
		return -errno;
	for (int c = 0; c < ncpu; c++)
		*v += vals[c];
	return 0;
}

int kpath_stats(uint64_t out[PT_STAT_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t vals[ncpu > 0 ? ncpu : 1];

	memset(out, 0, PT_STAT_MAX * sizeof(out[0]));
	if (!K.skel || ncpu <= 0)
		return -ENODEV;
	for (uint32_t k = 0; k < PT_STAT_MAX; k++) {
		/* A map inherited from an older passthru may be shorter. */
		if (bpf_map_lookup_elem(K.stats_fd, &k, vals)) {
			if (errno == ENOENT && k)
				break;
			return -errno;
		}
		for (int c = 0; c < ncpu; c++)
			out[k] += vals[c];
	}
	return 0;
}
