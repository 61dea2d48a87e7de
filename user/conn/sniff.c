// SPDX-License-Identifier: GPL-2.0
/* Cheap sniffing (see sniff.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "conn/sniff.h"

#define SNIFF_FAST_PARSES 16	/* then a client counts as trickling */
#define SNIFF_POLL_MS 5		/* its first poll interval, */
#define SNIFF_POLL_MAX_MS 40	/* doubling up to this */
/* A trickling client is woken by SO_RCVLOWAT only for a decision point at
 * least this far ahead; nearer ones (a TLS record header every 6 bytes of
 * a hello in 1-byte records) are left to the poll, at most
 * SNIFF_POLL_MAX_MS late, else it would cost a parse every few bytes. */
#define SNIFF_NEAR 256
#define LOWAT_MAX 16384		/* more may clamp the TCP window (tcp_set_rcvlowat) */

void sniffer_init(struct sniffer *sn, int fd)
{
	memset(sn, 0, sizeof(*sn));
	sn->fd = fd;
}

void sniffer_restart(struct sniffer *sn)
{
	uint8_t *pre = sn->pre;
	uint32_t pre_len = sn->pre_len;
	bool take = sn->take;

	sniffer_init(sn, sn->fd);
	sn->pre = pre;
	sn->pre_len = pre_len;
	sn->take = take;
}

void sniffer_release(struct sniffer *sn)
{
	free(sn->pre);
	sn->pre = NULL;
	sn->pre_len = 0;
}

uint8_t *sniff_take_pre(struct sniffer *sn, uint32_t *len)
{
	uint8_t *p = sn->pre;

	*len = sn->pre_len;
	sn->pre = NULL;
	sn->pre_len = 0;
	return p;
}

size_t sniff_queued(const struct sniffer *sn)
{
	int q = 0;

	return sn->pre_len + (ioctl(sn->fd, FIONREAD, &q) || q < 0 ? 0 : (size_t)q);
}

/* MSG_PEEK from the socket's own byte `off` on. */
static ssize_t peek_queue(struct sniffer *sn, size_t off, uint8_t *buf, size_t len)
{
	int o = (int)off;

	if (off || sn->peek_off) {
		if (!setsockopt(sn->fd, SOL_SOCKET, SO_PEEK_OFF, &o, sizeof(o))) {
			sn->peek_off = true;
		} else if (off) {
			/* No SO_PEEK_OFF: peek from 0, keep the tail. */
			ssize_t n = recv(sn->fd, buf, off + len, MSG_PEEK | MSG_DONTWAIT);

			if (n <= (ssize_t)off)
				return n < 0 ? n : 0;
			memmove(buf, buf + off, n - off);
			return n - off;
		}
	}
	return recv(sn->fd, buf, len, MSG_PEEK | MSG_DONTWAIT);
}

ssize_t sniff_peek(struct sniffer *sn, size_t off, uint8_t *buf, size_t len)
{
	size_t k = 0;
	ssize_t n;

	if (off < sn->pre_len) {
		k = sn->pre_len - off < len ? sn->pre_len - off : len;
		memcpy(buf, sn->pre + off, k);
		if (k == len)
			return (ssize_t)k;
	}
	n = peek_queue(sn, off + k - sn->pre_len, buf + k, len - k);
	if (n < 0)
		return k ? (ssize_t)k : n;
	return (ssize_t)k + n;
}

ssize_t sniff_look(struct sniffer *sn, uint8_t *buf, size_t len)
{
	ssize_t n;

	if (!sn->take || sn->pre_len || sn->peeked || sn->peek_off)
		return sniff_peek(sn, 0, buf, len);
	n = recv(sn->fd, buf, len, MSG_DONTWAIT);
	if (n <= 0)
		return n;
	sn->pre = malloc((size_t)n);
	if (!sn->pre) {
		errno = ENOMEM;
		return -1;
	}
	memcpy(sn->pre, buf, (size_t)n);
	sn->pre_len = (uint32_t)n;
	return n;
}

static void set_lowat(struct sniffer *sn, size_t want)
{
	uint32_t v;

	/* The socket counts its own queue: what was read is not in it. */
	want = want > sn->pre_len ? want - sn->pre_len : 1;
	v = want > LOWAT_MAX ? LOWAT_MAX : (uint32_t)want;

	if (v == (sn->lowat ? sn->lowat : 1))
		return;
	if (!setsockopt(sn->fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v)))
		sn->lowat = v;
}

bool sniff_worth(struct sniffer *sn, uint8_t *buf, size_t cap)
{
	size_t q;

	/* The first look is always worth it: most clients send their whole
	 * hello at once, and the peek says how much there is anyway. */
	if (!sn->parses && !sn->peeked)
		return true;
	q = sniff_queued(sn);

	if (q >= cap)
		return true;
	if (q <= sn->peeked)
		return false;		/* nothing new */
	if (sn->need && q >= sn->need)
		return true;
	if (!byteset_empty(&sn->wake)) {
		/* Only the new bytes are looked at for a wake byte. */
		size_t from = sn->scanned > sn->peeked ? sn->scanned : sn->peeked;
		ssize_t n = sniff_peek(sn, from, buf, q - from);

		if (n > 0 && byteset_any(&sn->wake, buf, (size_t)n))
			return true;
		if (n > 0)
			sn->scanned = from + n;
		return false;
	}
	return !sn->need;
}

uint32_t sniff_next_poll(struct sniffer *sn)
{
	sn->poll_ms = !sn->poll_ms ? SNIFF_POLL_MS
		      : sn->poll_ms * 2 > SNIFF_POLL_MAX_MS ? SNIFF_POLL_MAX_MS
							    : sn->poll_ms * 2;
	return sn->poll_ms;
}

uint32_t sniff_undecided(struct sniffer *sn, const struct route *rt, size_t n,
			 size_t cap)
{
	sn->need = rt->need > cap ? cap : rt->need;
	sn->wake = rt->wake;
	sn->scanned = n;
	if (sn->trickle || ++sn->parses > SNIFF_FAST_PARSES) {
		/* Many segments and no decision: woken when `need` bytes
		 * are in if that is far, else polled. */
		sn->trickle = true;
		set_lowat(sn, sn->need >= n + SNIFF_NEAR ? sn->need : cap);
		return sniff_next_poll(sn);
	}
	/* No wakeup before `need` bytes, unless a wake byte counts. */
	set_lowat(sn, byteset_empty(&sn->wake) && sn->need > n ? sn->need : 1);
	return 0;
}

int sniff_proxy_header(struct sniffer *sn, uint8_t *buf, size_t cap, bool final,
		       struct proxy_info *pi)
{
	size_t need = 0, have;
	ssize_t n = sniff_peek(sn, 0, buf, cap);
	int len;

	if (n < 0 && errno != EAGAIN && errno != EINTR)
		return -errno;
	have = n > 0 ? (size_t)n : 0;
	len = proxy_parse(buf, have, cap, pi, &need);
	if (len == 0 && !final && have < cap) {
		sn->peeked = have;
		set_lowat(sn, need > have ? need : 1);
		return 0;
	}
	if (len < 0)
		return len;
	if (!len)
		return -ENODATA;
	if (recv(sn->fd, buf, len, MSG_DONTWAIT) != len)
		return -EBADMSG;	/* peeked whole, cannot be read: not ours to trust */
	sn->peeked = 0;
	set_lowat(sn, 1);
	return len;
}

void sniff_done(struct sniffer *sn)
{
	int off = -1;

	if (sn->peek_off)
		setsockopt(sn->fd, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off));
	sn->peek_off = false;
	set_lowat(sn, 1);
}
