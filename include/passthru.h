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

/* Direction modes, written by BPF (REDIRECT -> PASS) and read by userspace. */
enum pt_mode {
	PT_MODE_REDIRECT = 0,	/* bytes go peer-ward in the kernel */
	PT_MODE_PASS = 1,	/* over the memory limit: bytes stay on the
				 * source socket (flow-controlled by TCP) and
				 * userspace forwards them */
};

/* One direction of one connection.  Lives in a BPF_F_MMAPABLE array that
 * userspace maps, so the hot fields are read without a syscall.  Fields
 * marked (bpf) are written only by the verdict program, (user) only by
 * userspace; nobody writes the other side's fields. */
struct pt_dir {
	__u64 redirected;	/* (bpf) bytes redirected to the peer */
	__u64 passed;		/* (bpf) bytes left to userspace (SK_PASS) */
	__u64 skbs;		/* (bpf) skbs seen */
	__u64 wseq_base;	/* (bpf) peer's write_seq at the first skb */
	__u32 mode;		/* (bpf) enum pt_mode */
	__u32 flips;		/* (bpf) REDIRECT -> PASS transitions */
	__u32 limit;		/* (user) max bytes queued toward the peer and not yet
				 * in its socket; 0 = unlimited */
	__u32 gen;		/* (user) bumped when the slot is reused */
	__u64 user_fwd;		/* (user) bytes userspace read from the source and
				 * wrote into the peer (PASS mode) */
	__u64 resume_at;	/* (user) 1 + user_fwd when userspace holds no bytes
				 * and asks to go back to REDIRECT; 0 = no request */
};

/* Global counters: one per-CPU array entry each. */
enum pt_stat {
	PT_STAT_SKBS = 0,	/* skbs redirected */
	PT_STAT_BYTES,		/* bytes redirected */
	PT_STAT_FIN_DROP,	/* empty (FIN) skbs dropped on purpose */
	PT_STAT_NO_PEER,	/* no peer in pt_targets: data dropped (a bug) */
	PT_STAT_PASS_SKBS,	/* skbs left to userspace by back-pressure */
	PT_STAT_PASS_BYTES,
	PT_STAT_FLIPS,		/* REDIRECT -> PASS transitions */
	PT_STAT_RESUMES,	/* PASS -> REDIRECT transitions */
	PT_STAT_MAX,
};

#endif /* PASSTHRU_H */
