/* SPDX-License-Identifier: GPL-2.0 */
/* The UDP kernel path's map (bpf/udpfwd.bpf.c and user/datapath/udpk.c).
 *
 * One entry per direction of a flow, keyed by the datagram as it arrives:
 *   client -> listener          rewritten to  flow socket -> upstream
 *   upstream -> flow socket     rewritten to  listener -> client
 * Addresses in network order; an IPv4 address is the first 4 bytes of
 * its 16, the rest zero.  Ports in network order. */
#ifndef PT_UDPK_MAP_H
#define PT_UDPK_MAP_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define UDPK_CID_MAX	20	/* QUIC versions 1 and 2 */

struct udpk_key {
	__u8 family;			/* 4 or 6 */
	__u8 pad[3];
	__u16 sport, dport;
	__u8 saddr[16], daddr[16];
};

struct udpk_val {
	/* What the datagram becomes, and where it leaves. */
	__u8 saddr[16], daddr[16];
	__u16 sport, dport;
	__u32 oif;			/* ifindex of the route to daddr (lo: local) */
	/* Forwarded by the program (atomic adds; payload bytes). */
	__u64 packets, bytes;
	__u64 last_ns;			/* bpf_ktime_get_ns: CLOCK_MONOTONIC */
	/* client -> listener only (is_client): the client's Source
	 * Connection ID.  A QUIC client Initial naming another one is a new
	 * connection from a port used again (a restarted client, a NAT):
	 * the program leaves it to userspace, which routes it afresh. */
	__u8 is_client;
	__u8 scid_len;
	__u8 scid[UDPK_CID_MAX];
};

#endif /* PT_UDPK_MAP_H */
