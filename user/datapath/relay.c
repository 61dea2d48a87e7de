// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "datapath/relay.h"

/* What dst takes of pend; true when pend is empty. */
static int flush(struct dir *d, struct endpoint **bad)
{
	while (d->pend_len) {
		ssize_t n = send(d->dst->fd, d->pend + d->pend_off, d->pend_len,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				d->dst_full = true;
				return 0;
			}
			*bad = d->dst;
			return -errno;
		}
		d->pend_off += (uint32_t)n;
		d->pend_len -= (uint32_t)n;
		d->bytes += (uint64_t)n;
	}
	free(d->pend);
	d->pend = NULL;
	d->pend_off = 0;
	d->dst_full = false;
	return 0;
}

int relay_pump(struct dir *d, uint8_t *buf, size_t cap, bool to_eof, bool last,
	       struct endpoint **bad)
{
	int err;

	*bad = NULL;
	err = flush(d, bad);
	if (err)
		return err;
	if (d->pend_len)
		return 0;	/* dst full: src waits (read_blocked stays) */
	if (d->read_blocked) {
		d->read_blocked = false;
		to_eof = true;	/* its edge is gone: read until EAGAIN */
	}
	while (!d->eof) {
		ssize_t n = recv(d->src->fd, buf, cap, MSG_DONTWAIT), w;

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			*bad = d->src;
			return -errno;
		}
		if (n == 0) {
			d->eof = true;
			break;
		}
		w = send(d->dst->fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			*bad = d->dst;
			return -errno;
		}
		if (w < 0)
			w = 0;
		d->bytes += (uint64_t)w;
		if (w < n) {
			/* dst is full: keep the rest, read no more until it
			 * drains (its EPOLLOUT). */
			d->pend = malloc((size_t)(n - w));
			if (!d->pend)
				return -ENOMEM;
			memcpy(d->pend, buf + w, (size_t)(n - w));
			d->pend_off = 0;
			d->pend_len = (uint32_t)(n - w);
			d->dst_full = true;
			d->read_blocked = true;
			return 0;
		}
		if ((size_t)n < cap && !to_eof)
			break;		/* the queue was emptied: edge-triggered */
	}
	if (d->eof && !d->pend_len && !d->shut && !d->no_fin) {
		/* Everything read is written: pass the FIN on. */
		if (!last && shutdown(d->dst->fd, SHUT_WR) && errno != ENOTCONN) {
			*bad = d->dst;
			return -errno;
		}
		d->shut = true;
	}
	return 0;
}

int relay_flush(struct dir *d, struct endpoint **bad)
{
	*bad = NULL;
	return flush(d, bad);
}

void relay_release(struct dir *d)
{
	free(d->pend);
	d->pend = NULL;
	d->pend_off = d->pend_len = 0;
}
