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
 * source's TCP window stays open.  So each direction has a limit; past it
 * the program asks userspace (pt_events) to take the source out of
 * pt_verdict.  Its bytes then stay in its own receive queue, TCP closes the
 * window, and userspace puts it back once the peer has caught up.  Nothing
 * is ever dropped or reordered: the program keeps redirecting meanwhile.
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

/* cookie(src) -> index in pt_dirs */
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

static __always_inline void freeze(struct pt_dir *d, __u64 cookie, __u32 idx)
{
	struct pt_event *ev;

	d->mode = PT_MODE_FREEZE;
	d->freezes++;
	stat_add(PT_STAT_FREEZES, 1);
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
	ret = bpf_sk_redirect_hash(skb, &pt_targets, &cookie, 0);
	if (ret != SK_PASS) {
		stat_add(PT_STAT_NO_PEER, 1);
		return ret;
	}
	stat_add(PT_STAT_SKBS, 1);
	stat_add(PT_STAT_BYTES, len);

	idx = bpf_map_lookup_elem(&pt_index, &cookie);
	if (idx)
		d = bpf_map_lookup_elem(&pt_dirs, idx);
	if (!d)
		return SK_PASS;
	d->skbs++;
	d->redirected += len;
	if (d->mode == PT_MODE_FREEZE) {
		d->over += len;
		stat_add(PT_STAT_OVER_BYTES, len);
	} else if (d->limit && backlog(d, cookie) > d->limit) {
		freeze(d, cookie, *idx);
	}
	return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
