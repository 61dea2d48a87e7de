// SPDX-License-Identifier: GPL-2.0
/* passthru's in-kernel data path: one sk_skb verdict program.
 *
 * Both sockets of a spliced connection sit in two maps:
 *   pt_targets  cookie(src) -> peer socket   (no program attached)
 *   pt_verdict  cookie(sk)  -> sk            (this program attached)
 * Userspace inserts into pt_targets first, so that by the time a socket's
 * bytes reach this program its peer is always found.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "passthru.h"

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

/* cookie(src) -> slot in pt_dirs */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
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

/* Slot numbers of directions that just went over their limit; userspace
 * takes the socket out of pt_verdict so TCP itself pushes back. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} pt_events SEC(".maps");

static __always_inline void stat_add(__u32 idx, __u64 v)
{
	__u64 *c = bpf_map_lookup_elem(&pt_stats, &idx);

	if (c)
		*c += v;
}

/* Bytes this direction handed toward the peer that have not yet entered the
 * peer's socket: they sit in the peer's psock queue, which nothing bounds.
 * write_seq of the peer advances as the psock worker (or userspace) writes. */
static __always_inline __u64 backlog(struct pt_dir *d, __u64 cookie)
{
	struct bpf_sock *peer;
	struct tcp_sock *tp;
	__u64 in_peer = 0;
	__u32 wseq;

	peer = bpf_map_lookup_elem(&pt_targets, &cookie);
	if (!peer)
		return 0;
	tp = bpf_skc_to_tcp_sock(peer);
	if (tp) {
		wseq = BPF_CORE_READ(tp, write_seq);
		if (!d->wseq_base)
			d->wseq_base = (__u64)wseq | (1ULL << 32);
		/* 32-bit sequence arithmetic: a direction never has 4 GB
		 * outstanding, so the difference is exact. */
		in_peer = (__u32)(wseq - (__u32)d->wseq_base);
	}
	bpf_sk_release(peer);
	{
		__u64 given = (__u32)(d->redirected + d->user_fwd);

		return (__u32)(given - in_peer);
	}
}

SEC("sk_skb")
int pt_verdict_prog(struct __sk_buff *skb)
{
	__u64 cookie, len = skb->len;
	struct pt_dir *d = NULL;
	__u32 *slot;
	long ret;

	/* The FIN arrives as an empty skb; redirecting it would set EPIPE on
	 * the peer.  Userspace sees EOF through EPOLLRDHUP instead. */
	if (!len) {
		stat_add(PT_STAT_FIN_DROP, 1);
		return SK_DROP;
	}

	cookie = bpf_get_socket_cookie(skb);
	slot = bpf_map_lookup_elem(&pt_index, &cookie);
	if (slot)
		d = bpf_map_lookup_elem(&pt_dirs, slot);

	if (d) {
		d->skbs++;
		if (d->mode == PT_MODE_PASS)
			goto pass;
		if (d->limit && backlog(d, cookie) + len > d->limit) {
			__u32 *ev;

			d->mode = PT_MODE_PASS;
			d->flips++;
			stat_add(PT_STAT_FLIPS, 1);
			ev = bpf_ringbuf_reserve(&pt_events, sizeof(*ev), 0);
			if (ev) {
				*ev = *slot;
				bpf_ringbuf_submit(ev, 0);
			}
			goto pass;
		}
	}

	ret = bpf_sk_redirect_hash(skb, &pt_targets, &cookie, 0);
	if (ret != SK_PASS) {
		stat_add(PT_STAT_NO_PEER, 1);
		return ret;
	}
	if (d)
		d->redirected += len;
	stat_add(PT_STAT_SKBS, 1);
	stat_add(PT_STAT_BYTES, len);
	return SK_PASS;

pass:
	/* Left on the source socket, charged to its receive buffer: TCP's
	 * window closes and the sender is pushed back. */
	d->passed += len;
	stat_add(PT_STAT_PASS_SKBS, 1);
	stat_add(PT_STAT_PASS_BYTES, len);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
