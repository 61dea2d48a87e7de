/* SPDX-License-Identifier: GPL-2.0 */
/* Looking at what a client sent before its route is known, cheaply:
 * MSG_PEEK (nothing is read, but a trusted PROXY header, or the first
 * look of a connection the relay will carry: take), and only
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
	/* Read, not peeked (take): the client's first bytes, which the
	 * relay sends before anything else of the socket's.  Offsets here
	 * (peeked, need, scanned) count from the stream's start, these
	 * bytes included; the socket's queue starts after them. */
	uint8_t *pre;
	uint32_t pre_len;
	bool take;			/* the first look reads (relayed connection) */
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
/* Back to a first look (a live upgrade's successor looks again), keeping
 * the bytes already read. */
void sniffer_restart(struct sniffer *sn);
/* Frees the bytes read, if nobody took them. */
void sniffer_release(struct sniffer *sn);
/* The bytes read, now the caller's (free()), and their count. */
uint8_t *sniff_take_pre(struct sniffer *sn, uint32_t *len);
/* Bytes the client sent that are not forwarded yet: those read and the
 * receive queue's (FIONREAD). */
size_t sniff_queued(const struct sniffer *sn);
/* The stream from its start, up to len bytes, into buf: with take set and
 * nothing looked at yet, read (consumed, kept in pre: the relay then needs
 * no second read of the same bytes), else MSG_PEEK after what was read.
 * Returns the count, 0 at EOF before any byte, or -1 with errno (EAGAIN:
 * nothing; ENOMEM: bytes read but not kept, the connection must end). */
ssize_t sniff_look(struct sniffer *sn, uint8_t *buf, size_t len);
/* MSG_PEEK of len bytes from stream byte `off` on (SO_PEEK_OFF where the
 * kernel has it for TCP, 6.10+), what was read served from pre.  Returns
 * recv()'s result, or the count served if the queue adds nothing. */
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
 * Returns its length (*pi filled), 0 to wait for more, a proxy_parse()
 * error (-ENOMSG, -EBADMSG, -EMSGSIZE; -ENODATA: the input ended or the
 * deadline came first; proxy_strerror() says them), or -errno from
 * recv. */
int sniff_proxy_header(struct sniffer *sn, uint8_t *buf, size_t cap, bool final,
		       struct proxy_info *pi);
/* Routed: SO_RCVLOWAT and SO_PEEK_OFF back to their defaults. */
void sniff_done(struct sniffer *sn);

#endif /* PT_SNIFF_H */
