// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "splice.h"

/* Bigger pipes move more per syscall; pages are only used while bytes are
 * in flight, so idle connections cost nothing for it. */
#define PIPE_WANT (256 * 1024)
#define PIPE_DEFAULT (64 * 1024)

static int pipe_open(struct dir *d)
{
	if (d->pipe[0] >= 0)
		return 0;
	if (pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC))
		return -errno;
	/* Past fs.pipe-max-size this fails and the 64 KiB default stays. */
	{
		int sz = fcntl(d->pipe[1], F_SETPIPE_SZ, PIPE_WANT);

		d->pipe_cap = sz > 0 ? (uint32_t)sz : PIPE_DEFAULT;
	}
	return 0;
}

int splice_wants_read(const struct dir *d)
{
	return !d->eof && (d->pipe[0] < 0 || d->inpipe < d->pipe_cap);
}

int splice_pump(struct dir *d, struct endpoint **bad)
{
	int err = pipe_open(d);
	uint32_t cap;

	*bad = NULL;
	if (err)
		return err;
	cap = d->pipe_cap;
	for (;;) {
		bool moved = false;

		if (!d->eof && d->inpipe < cap) {
			ssize_t n = splice(d->src->fd, NULL, d->pipe[1], NULL,
					   cap - d->inpipe,
					   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				d->inpipe += n;
				moved = true;
			} else if (n == 0) {
				d->eof = true;
			} else if (errno != EAGAIN && errno != EINTR) {
				*bad = d->src;
				return -errno;
			}
		}
		if (d->inpipe) {
			ssize_t n = splice(d->pipe[0], NULL, d->dst->fd, NULL,
					   d->inpipe,
					   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				d->inpipe -= n;
				d->bytes += n;
				d->dst_full = false;
				moved = true;
			} else if (n < 0 && errno == EAGAIN) {
				d->dst_full = true;
			} else if (n < 0 && errno != EINTR) {
				*bad = d->dst;
				return -errno;
			}
		}
		if (!moved)
			break;
	}
	if (d->eof && !d->inpipe && !d->shut && !d->no_fin) {
		/* Everything read is written: pass the FIN on. */
		if (shutdown(d->dst->fd, SHUT_WR) && errno != ENOTCONN) {
			*bad = d->dst;
			return -errno;
		}
		d->shut = true;
	}
	return 0;
}

void splice_release(struct dir *d)
{
	for (int i = 0; i < 2; i++) {
		if (d->pipe[i] >= 0)
			close(d->pipe[i]);
		d->pipe[i] = -1;
	}
	d->inpipe = 0;
}
