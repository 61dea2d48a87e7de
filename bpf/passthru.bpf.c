// SPDX-License-Identifier: GPL-2.0
/* passthru's in-kernel data path: one sk_skb verdict program.
 *
 * Both sockets of a spliced connection sit in two maps:
 *   pt_targets  cookie(src) -> peer socket   (no program attached)
 *   pt_verdict  cookie(sk)  -> sk            (this program attached)
 * Userspace inserts into pt_targets first, so that by the time a socket's
 * bytes reach this program its peer is always found.
 *
 * Back-pressure: a redirected skb waits in the peer's psock queue until
 * the peer's socket has room, and nothing bounds that queue while the
 * source's TCP window stays open (1.5 GB in 3 s was measured).  So each
 * direction has a limit.  Past it, the source must leave pt_verdict: its
 * bytes then stay in its own receive queue, charged to it, and TCP closes
 * the window.  The removal must not race a verdict run on that socket:
 * an skb processed after the psock lost its program is dropped by the
 * kernel.  Userspace cannot take the socket lock, and an sk_skb program
 * may not delete from a sock map, so the verdict only flags the direction
 * and pt_sock_ops, which TCP runs under the socket lock whenever the source
 * transmits (an ACK at the latest), removes it between two verdict runs.
 * Userspace (pt_events) watches the peer catch up and re-inserts it, again
 * under the socket lock.  Nothing is dropped or reordered.
 *
 * The verdict is handed whole skbs (tcp_read_skb), including the part of
 * a retransmitted segment that TCP already had, or a PROXY header that
 * userspace read: each skb is checked against its source's sequence and
 * what was already delivered is cut off first (in_sequence).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "passthru.h"

/* vmlinux.h carries no macros. */
#define PT_SOL_TCP	6
#define PT_TCP_NODELAY	1
#define PT_TCP_BPF_SOCK_OPS_CB_FLAGS	PT_TCP_ARM

/* 1: pt_sock_ops arms every socket for the per-packet callback once it is
 * established.  0: kpath_splice arms only the sockets it puts in the maps
 * (through pt_arm): the relayed ones, most of them, never run pt_sock_ops
 * per packet.  Userspace clears it when pt_arm proved to work. */
__u32 arm_at_established = 1;

/* Sized from the config before load (bpf_map__set_max_entries). */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 2);
	__type(key, __u64);
	__type(value, __u64);
} pt_targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 2);
	__type(key, __u64);
	__type(value, __u64);
} pt_verdict SEC(".maps");

/* cookie(src) -> index in pt_dirs.  Entries allocated as connections
 * come: preallocated, this map alone cost more than the other three. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 2);
	__type(key, __u64);
	__type(value, __u32);
} pt_index SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct pt_dir);
} pt_dirs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PT_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} pt_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} pt_events SEC(".maps");

static __always_inline void stat_add(__u32 idx, __u64 v)
{
	__u64 *c = bpf_map_lookup_elem(&pt_stats, &idx);

	if (c)
		*c += v;
}

/* Bytes redirected toward the peer that have not yet entered its socket
 * (the peer's psock queue).  The peer's write_seq advances as the psock
 * worker writes; 32-bit sequence arithmetic is exact as long as less than
 * 4 GiB is queued, which the limit guarantees. */
static __always_inline __u32 backlog(struct pt_dir *d, __u64 cookie)
{
	struct bpf_sock *peer;
	struct tcp_sock *tp;
	__u32 wseq, in_peer = 0;

	peer = bpf_map_lookup_elem(&pt_targets, &cookie);
	if (!peer)
		return 0;
	tp = bpf_skc_to_tcp_sock(peer);
	if (tp) {
		wseq = BPF_CORE_READ(tp, write_seq);
		if (!d->wseq_base)
			d->wseq_base = (__u64)wseq | (1ULL << 32);
		in_peer = wseq - (__u32)d->wseq_base;
	}
	bpf_sk_release(peer);
	return (__u32)d->redirected - in_peer;
}

static __always_inline int rcvq_empty(struct bpf_sock *sk)
{
	struct tcp_sock *tp;

	if (!sk)
		return 0;
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return 0;
	return tp->inet_conn.icsk_inet.sk.sk_receive_queue.qlen == 0;
}

/* A socket in a sock map has a psock in sk_user_data. */
static __always_inline int in_sockmap(struct bpf_sock *sk)
{
	struct tcp_sock *tp;

	if (!sk)
		return 0;
	tp = bpf_skc_to_tcp_sock(sk);
	return tp && tp->inet_conn.icsk_inet.sk.sk_user_data;
}

static __always_inline void notify(struct pt_dir *d, __u64 cookie, __u32 idx)
{
	struct pt_event *ev;

	ev = bpf_ringbuf_reserve(&pt_events, sizeof(*ev), 0);
	if (!ev) {
		stat_add(PT_STAT_EVENT_LOST, 1);
		return;
	}
	ev->cookie = cookie;
	ev->idx = idx;
	ev->gen = d->gen;
	bpf_ringbuf_submit(ev, 0);
}

/* The source's copied_seq: where its stream stands for the verdict's
 * first skb (what we peeked is still ahead of it, what we read is not). */
static __always_inline int copied_seq(__u64 cookie, __u32 *seq)
{
	struct bpf_sock *sk = bpf_map_lookup_elem(&pt_verdict, &cookie);
	struct tcp_sock *tp;
	int err = -1;

	if (!sk)
		return -1;
	tp = bpf_skc_to_tcp_sock(sk);
	if (tp) {
		*seq = BPF_CORE_READ(tp, copied_seq);
		err = 0;
	}
	bpf_sk_release(sk);
	return err;
}

/* An sk_skb program pops at most 0xfff bytes per bpf_skb_adjust_room
 * call.  TRIM_STEPS of them cover any skb TCP builds (GSO, even BIG TCP's
 * 512 KiB, is under 4 MiB). */
#define TRIM_STEP 4095
#define TRIM_STEPS 1024

static __always_inline int trim_head(struct __sk_buff *skb, __u32 n)
{
	for (int i = 0; i < TRIM_STEPS && n; i++) {
		__u32 k = n > TRIM_STEP ? TRIM_STEP : n;

		if (bpf_skb_adjust_room(skb, -(__s32)k, 0, 0))
			return -1;
		n -= k;
	}
	return n ? -1 : 0;
}

/* Out of sequence and not repaired: nothing more to do, but it must not
 * go unnoticed (userspace logs it when the connection ends). */
static __always_inline void gap(struct pt_dir *d, __u32 seq)
{
	if (!d->seq_gaps)
		d->first_gap = (__s32)(seq - d->next_seq);
	d->seq_gaps++;
	stat_add(PT_STAT_SEQ_GAPS, 1);
}

/* TCP queues a segment that is partly a retransmission of bytes already
 * received (seq < rcv_nxt < end_seq) whole: readers start at copied_seq
 * and skip the old part, but the verdict is handed whole skbs
 * (tcp_read_skb), so the old bytes would go to the peer twice and
 * copied_seq would run ahead of the stream.  Measured on loopback: one
 * skb in ~40 runs of 512 MiB each way with back-pressure.  So each skb is
 * checked against where the last one ended and its old part cut off;
 * TCP's control block, sequence number first, is still on the skb.
 * Returns the bytes to redirect, or 0 to drop the skb. */
static __always_inline __u32 in_sequence(struct __sk_buff *skb, struct pt_dir *d,
					 __u64 cookie, __u32 len)
{
	__u32 seq = skb->cb[0], old;

	if (!d->seq_known) {
		if (copied_seq(cookie, &d->next_seq))
			d->next_seq = seq;
		d->seq_known = 1;
	}
	old = d->next_seq - seq;
	if ((__s32)old > 0) {
		stat_add(PT_STAT_RESENT_BYTES, old < len ? old : len);
		if (old >= len) {
			/* All old (TCP does not queue those): dropped, but
			 * the kernel still moves copied_seq past it. */
			gap(d, seq);
			return 0;
		}
		if (trim_head(skb, old))
			gap(d, seq);
	} else if (old) {
		gap(d, seq);	/* bytes missing before this skb */
	}
	d->next_seq = seq + len;
	return skb->len;
}

SEC("sk_skb")
int pt_verdict_prog(struct __sk_buff *skb)
{
	__u64 cookie, len = skb->len;
	struct pt_dir *d = NULL;
	__u32 *idx;
	long ret;

	/* The FIN arrives as an empty skb; redirecting it would set EPIPE on
	 * the peer.  Userspace sees EOF through EPOLLRDHUP instead. */
	if (!len) {
		stat_add(PT_STAT_FIN_DROP, 1);
		return SK_DROP;
	}

	cookie = bpf_get_socket_cookie(skb);
	idx = bpf_map_lookup_elem(&pt_index, &cookie);
	if (idx)
		d = bpf_map_lookup_elem(&pt_dirs, idx);
	if (d) {
		len = in_sequence(skb, d, cookie, (__u32)len);
		if (!len)
			return SK_DROP;
	}
	ret = bpf_sk_redirect_hash(skb, &pt_targets, &cookie, 0);
	if (ret != SK_PASS) {
		stat_add(PT_STAT_NO_PEER, 1);
		return ret;
	}
	stat_add(PT_STAT_SKBS, 1);
	stat_add(PT_STAT_BYTES, len);
	if (!d)
		return SK_PASS;
	d->skbs++;
	d->redirected += len;
	if (d->mode == PT_MODE_FREEZE_REQ) {
		d->over += len;
		stat_add(PT_STAT_OVER_BYTES, len);
	} else if (d->limit && backlog(d, cookie) > d->limit) {
		d->mode = PT_MODE_FREEZE_REQ;
	}
	return SK_PASS;
}

/* TCP calls this for each skb a passthru socket sends (header option
 * space), with the socket locked: no verdict can be running on it.  That
 * is where a flagged source leaves pt_verdict.  Sockets get the callback
 * from the moment they are established; this program is attached only to
 * passthru's own cgroup. */
SEC("sockops")
int pt_sock_ops(struct bpf_sock_ops *ops)
{
	struct pt_dir *d = NULL;
	__u64 cookie;
	__u32 *idx;

	switch (ops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB: {
		/* Passthru's only active sockets are upstreams (and health
		 * checks): no Nagle, as the proxy must not add latency.  Here
		 * it costs no syscall per connection (kpath_nodelay()). */
		int one = 1;

		bpf_setsockopt(ops, PT_SOL_TCP, PT_TCP_NODELAY, &one, sizeof(one));
		return 1;
	}
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		if (arm_at_established)
			bpf_sock_ops_cb_flags_set(ops, ops->bpf_sock_ops_cb_flags |
						       BPF_SOCK_OPS_WRITE_HDR_OPT_CB_FLAG);
		return 1;
	case BPF_SOCK_OPS_HDR_OPT_LEN_CB:
		break;
	default:
		return 1;
	}
	/* Most sockets never reach the kernel path (relayed short
	 * connections): no psock, nothing to freeze, and no need for the
	 * cookie and hash lookup on each of their packets. */
	if (!in_sockmap(ops->sk))
		return 1;
	cookie = bpf_get_socket_cookie(ops);
	idx = bpf_map_lookup_elem(&pt_index, &cookie);
	if (idx)
		d = bpf_map_lookup_elem(&pt_dirs, idx);
	if (!d || d->mode != PT_MODE_FREEZE_REQ)
		return 1;
	/* Not while skbs wait in the receive queue: we may be inside the
	 * verdict's loop over it (eating an skb can send a window update),
	 * and the skbs after this one would meet a psock without program.
	 * With the queue empty, the loop, if any, is on its last skb. */
	if (!rcvq_empty(ops->sk))
		return 1;
	if (bpf_map_delete_elem(&pt_verdict, &cookie))
		return 1;	/* already out (closing): nothing to do */
	d->mode = PT_MODE_FROZEN;
	d->freezes++;
	stat_add(PT_STAT_FREEZES, 1);
	notify(d, cookie, *idx);
	return 1;
}

/* setsockopt(fd, SOL_TCP, TCP_BPF_SOCK_OPS_CB_FLAGS) by passthru, an
 * option the kernel lets only BPF set: arms the socket for pt_sock_ops'
 * per-packet callback, under the socket lock (kernel 6.12+; elsewhere the
 * call fails with EPERM, or ENOPROTOOPT where this program is not
 * attached, and pt_sock_ops arms every socket at ESTABLISHED instead). */
SEC("cgroup/setsockopt")
int pt_arm(struct bpf_sockopt *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	int flags = 0;

	if (ctx->level != PT_SOL_TCP || ctx->optname != PT_TCP_BPF_SOCK_OPS_CB_FLAGS)
		return 1;	/* not ours: the kernel's */
	if (!sk || bpf_getsockopt(sk, PT_SOL_TCP, PT_TCP_BPF_SOCK_OPS_CB_FLAGS,
				  &flags, sizeof(flags)))
		return 0;
	flags |= BPF_SOCK_OPS_WRITE_HDR_OPT_CB_FLAG;
	if (bpf_setsockopt(sk, PT_SOL_TCP, PT_TCP_BPF_SOCK_OPS_CB_FLAGS,
			   &flags, sizeof(flags)))
		return 0;
	ctx->optlen = -1;	/* done: the kernel's own handler would refuse it */
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
