/* SPDX-License-Identifier: GPL-2.0 */
/* The kernel path for UDP (bpf/udpfwd.bpf.c): a tc ingress program that
 * forwards a decided flow's datagrams itself, addresses, ports and
 * checksums rewritten, so that userspace no longer sees them.
 *
 * One map entry per direction, keyed by the datagram as it arrives
 * (include/udpk_map.h).  Userspace keeps the flow's connected socket (its
 * port stays reserved, ICMP errors still come to it) and reads the
 * program's counters for the flow's idle deadline, log line and metrics.
 * Nothing here knows a flow or a rule: user/conn/udp_flow.c does. */
#ifndef PT_UDPK_H_USER
#define PT_UDPK_H_USER

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/util.h"
#include "udpk_map.h"

/* A flow's two entries: [0] client -> listener, [1] upstream -> socket. */
struct udpk_flow {
	struct udpk_key k[2];
};

/* What the program forwarded, per direction ([0] up, [1] down). */
struct udpk_count {
	uint64_t packets[2], bytes[2];
	uint64_t last_ms;		/* CLOCK_MONOTONIC, 0: never */
};

/* Load the program, size its map for max_flows flows, attach it to the
 * ingress (tcx) of every interface, and prove on loopback that it
 * forwards both ways.  0, or -errno with the reason in why. */
int udpk_init(uint32_t max_flows, char *why, size_t whylen);
void udpk_fini(void);
bool udpk_ready(void);
/* The interfaces it is attached to ("lo, eth0"). */
const char *udpk_ifaces(void);

/* Hand the flow to the kernel: client sends to listen (the address it
 * used, port included); sock is the flow socket's local address, up
 * its peer; scid[0..scid_len) the client's QUIC Source Connection ID
 * (its Initials naming another are left to userspace).  Both entries or
 * none.  0 or -errno. */
int udpk_add(struct udpk_flow *kf, const union paddr *client,
	     const union paddr *listen, const union paddr *sock,
	     const union paddr *up, const uint8_t *scid, size_t scid_len);
/* The counters so far (del: and the entries removed). */
int udpk_read(const struct udpk_flow *kf, struct udpk_count *c);
void udpk_del(const struct udpk_flow *kf, struct udpk_count *c);

#endif /* PT_UDPK_H_USER */
