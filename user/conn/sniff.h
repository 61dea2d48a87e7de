/* SPDX-License-Identifier: GPL-2.0 */
/* Looking at what a client sent before its route is known, cheaply:
 * MSG_PEEK only (nothing is read, but a trusted PROXY header), and only
 * when the router's hints say a new look can change something.  A client
 * sending one byte per segment then costs an ioctl per segment, or
 * nothing at all (SO_RCVLOWAT keeps epoll quiet until `need` bytes), and
 * after SNIFF_FAST_PARSES looks it is polled on a growing interval
 * instead of woken per segment.
 *
 * The low-water mark is never above the next point where the answer can
 * change (hints never pass one, proto.h): a client that stops there to
 * wait for the server, as a tlsfuzzer script does after a record that
 * breaks its hello, is routed at once, not at the sniff deadline.  Only
 * a trickling client whose next point is near is left to the poll. */
#ifndef PT_SNIFF_H
#define PT_SNIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/proxyproto.h"
#include "conn/route.h"

struct sniffer {
	int fd;
	size_t peeked;			/* bytes of the last full peek */
	size_t need;			/* wait for this many bytes */
	struct byteset wake;		/* or for one of these bytes */
	size_t scanned;			/* bytes searched for them */
	uint32_t lowat;			/* SO_RCVLOWAT set, 0: default */
	uint16_t parses;		/* undecided parses so far */
	bool peek_off;			/* SO_PEEK_OFF in use */
	bool trickle;			/* many parses: polled, not woken */
	uint8_t poll_ms;		/* the poll interval, growing */
};

void sniffer_init(struct sniffer *sn, int fd);
/* Bytes in the receive queue (FIONREAD). */
size_t sniff_queued(int fd);
/* MSG_PEEK of len bytes from byte `off` on (SO_PEEK_OFF where the kernel
 * has it for TCP, 6.10+).  Returns recv()'s result. */
ssize_t sniff_peek(struct sniffer *sn, size_t off, uint8_t *buf, size_t len);
/* Whether a full peek and parse is worth it now (buf: scratch of cap). */
bool sniff_worth(struct sniffer *sn, uint8_t *buf, size_t cap);
/* The router could not decide on n bytes: keep its hints.  Returns the
 * delay of the next poll in ms if the client now counts as trickling
 * (the caller arms a timer), else 0 (epoll wakes us). */
uint32_t sniff_undecided(struct sniffer *sn, const struct route *rt, size_t n,
			 size_t cap);
/* The next poll of a trickling client, in ms (the interval doubles). */
uint32_t sniff_next_poll(struct sniffer *sn);
/* A trusted peer's PROXY header, read (consumed) once whole and valid.
 * Returns its length (*pi filled), 0 to wait for more, -EPROTO if it is
 * not a valid header (or the input ended first), or -errno from recv. */
int sniff_proxy_header(struct sniffer *sn, uint8_t *buf, size_t cap, bool final,
		       struct proxy_info *pi);
/* Routed: SO_RCVLOWAT and SO_PEEK_OFF back to their defaults. */
void sniff_done(struct sniffer *sn);

#endif /* PT_SNIFF_H */
