/* SPDX-License-Identifier: GPL-2.0 */
/* Datagram sockets in batches: recvmmsg(2) into a batch of buffers, with
 * the sender's address and, on a wildcard socket, the local address each
 * datagram was sent to (IP_PKTINFO / IPV6_RECVPKTINFO), and sendmmsg(2)
 * back out, replies leaving from that same local address.  Nothing here
 * knows a flow or a rule: user/conn/udp_flow.c does. */
#ifndef PT_DGRAM_H
#define PT_DGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/util.h"

#define DGRAM_BATCH	64	/* datagrams per recvmmsg / sendmmsg */
/* One datagram's room.  QUIC datagrams are at most ~1500 bytes on real
 * paths (clients do not know a larger PMTU at first, and servers probe
 * up from 1200); a longer one is dropped (MSG_TRUNC), never cut. */
#define DGRAM_BUF	4096
#define DGRAM_CTL	64	/* cmsg room: one in6_pktinfo */

struct dgram_batch {
	struct mmsghdr msg[DGRAM_BATCH];
	struct iovec iov[DGRAM_BATCH];
	union paddr peer[DGRAM_BATCH];
	uint8_t ctl[DGRAM_BATCH][DGRAM_CTL];
	uint8_t *buf;			/* DGRAM_BATCH * DGRAM_BUF */
};

int dgram_batch_init(struct dgram_batch *b);
void dgram_batch_free(struct dgram_batch *b);

/* A non-blocking UDP socket bound to addr, SO_REUSEPORT (one per worker:
 * the kernel hashes a client's address and port to one of them, so a
 * flow stays in one worker), IPV6_V6ONLY as v6only says, and, on a
 * wildcard address, the pktinfo option that tells which local address a
 * datagram came to.  0 (*fd set) or -errno. */
int dgram_listen(const struct sockaddr *addr, socklen_t len, bool v6only, int *fd);
/* A non-blocking UDP socket connected to addr.  0 or -errno. */
int dgram_connect(const struct sockaddr *addr, socklen_t len, int *fd);

/* Up to DGRAM_BATCH datagrams; with_addr: fill peer[] and ctl[] (a
 * listening socket).  Returns how many, or -errno (-EAGAIN: none).
 * msg[i].msg_len is datagram i's length, in buf + i * DGRAM_BUF. */
int dgram_recv(int fd, struct dgram_batch *b, bool with_addr);
static inline uint8_t *dgram_data(struct dgram_batch *b, int i)
{
	return b->buf + (size_t)i * DGRAM_BUF;
}
/* Datagram i was cut to the buffer (MSG_TRUNC). */
static inline bool dgram_trunc(const struct dgram_batch *b, int i)
{
	return b->msg[i].msg_hdr.msg_flags & MSG_TRUNC;
}
/* The local address datagram i was sent to, from its pktinfo (port 0):
 * true if there was one. */
bool dgram_local(const struct dgram_batch *b, int i, union paddr *local);
/* The cmsg making a datagram leave from local's address (family: the
 * socket's), written into ctl (DGRAM_CTL bytes).  Returns its length. */
size_t dgram_ctl_from(uint8_t *ctl, int family, const union paddr *local);

/* sendmmsg of msgs[0..n), going on after a short count and past a
 * datagram the socket refused.  Returns how many were sent (msg_len of
 * those is set, of the others 0); *err: the last errno (0: all sent). */
int dgram_send(int fd, struct mmsghdr *msgs, int n, int *err);

#endif /* PT_DGRAM_H */
