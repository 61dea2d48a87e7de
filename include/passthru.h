/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Structures shared by the BPF verdict program and userspace.
 *
 * Every spliced connection owns one slot in pt_dirs for each direction.
 * A direction is named by its *source* socket: the socket the bytes are read
 * from.  pt_index maps a socket cookie to its direction's slot; pt_targets
 * maps the same cookie to the peer socket the bytes go to.
 */
#ifndef PASSTHRU_H
#define PASSTHRU_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* setsockopt(fd, SOL_TCP, PT_TCP_ARM, ...) by passthru arms fd for the
 * sock_ops program's per-packet callback (pt_arm does it; the value is
 * TCP_BPF_SOCK_OPS_CB_FLAGS, an option only BPF may set, so the kernel's own
 * handler refuses it where pt_arm is not attached). */
#define PT_TCP_ARM 1008

/* Direction modes. */
enum pt_mode {
	PT_MODE_REDIRECT = 0,	/* bytes go peer-ward in the kernel */
	PT_MODE_FREEZE_REQ = 1,	/* over the limit: the sock_ops program takes
				 * the source out of pt_verdict at its next
				 * transmit, under the socket lock */
	PT_MODE_FROZEN = 2,	/* out of pt_verdict: the source's bytes wait
				 * in its TCP receive queue, TCP pushes the
				 * sender back, userspace puts it back later */
};

/* One direction of one connection.  Lives in a BPF_F_MMAPABLE array that
 * userspace maps, so it is read without a syscall.  (bpf) fields are
 * written by the BPF programs only, (user) fields by userspace only;
 * `mode` goes back to REDIRECT by userspace, and only while FROZEN: then
 * no program touches it. */
struct pt_dir {
	__u64 redirected;	/* (bpf) bytes redirected to the peer */
	__u64 skbs;		/* (bpf) skbs redirected */
	__u64 wseq_base;	/* (bpf) peer's write_seq at the first skb,
				 * | 1 << 32 once set */
	__u64 over;		/* (bpf) bytes redirected while a freeze was
				 * pending: the limit's overshoot */
	__u32 mode;		/* enum pt_mode */
	__u32 freezes;		/* (bpf) REDIRECT -> FREEZE transitions */
	__u32 limit;		/* (user) max bytes queued toward the peer and
				 * not yet in its socket; 0 = unlimited */
	__u32 gen;		/* (user) bumped when the slot is reused */
	__u32 next_seq;		/* (bpf) the source's TCP sequence number the
				 * next skb must start at ... */
	__u32 seq_known;	/* (bpf) ... once set (a slot of an older
				 * passthru, taken over, has 0 here) */
	__u32 seq_gaps;		/* (bpf) skbs out of sequence that could not
				 * be repaired: see PT_STAT_SEQ_GAPS */
	__s32 first_gap;	/* (bpf) the first one's seq - next_seq */
};

/* pt_events record: this direction is frozen (out of pt_verdict). */
struct pt_event {
	__u64 cookie;		/* source socket */
	__u32 idx;		/* pt_dirs index */
	__u32 gen;		/* pt_dir.gen when it happened */
};

/* Global counters: one per-CPU array entry each. */
enum pt_stat {
	PT_STAT_SKBS = 0,	/* skbs redirected */
	PT_STAT_BYTES,		/* bytes redirected */
	PT_STAT_FIN_DROP,	/* empty (FIN) skbs dropped on purpose */
	PT_STAT_NO_PEER,	/* no peer in pt_targets: data dropped (a bug) */
	PT_STAT_FREEZES,	/* directions frozen for back-pressure */
	PT_STAT_OVER_BYTES,	/* bytes redirected past a limit while the
				 * freeze was on its way */
	PT_STAT_EVENT_LOST,	/* pt_events full: userspace polls instead */
	PT_STAT_RESENT_BYTES,	/* bytes a partial retransmission brought
				 * again, cut off before the redirect */
	PT_STAT_SEQ_GAPS,	/* skbs out of their source's sequence that
				 * could not be repaired: bytes lost or
				 * duplicated (should stay 0) */
	PT_STAT_MAX,
};

#endif /* PASSTHRU_H */
