// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "datapath/splice.h"

/* Bigger pipes move more per syscall; pages are only used while bytes are
 * in flight, so idle connections cost nothing for it. */
#define PIPE_WANT (256 * 1024)
#define PIPE_DEFAULT (64 * 1024)

/* A direction holds a pipe only while bytes are in it: an idle spliced
 * connection then costs two fds, not six (three times as many fit under
 * a file limit).  Empty pipes wait here for the next burst, one pool per
 * worker thread (connections never change threads), so a busy
 * direction that empties its pipe at every event takes it back without
 * a syscall. */
#define POOL_MAX 64

static __thread struct {
	int fd[POOL_MAX][2];
	uint32_t cap[POOL_MAX];
	int n;
} pool;

#ifdef PT_CHECKS
/* Sanitizer builds ask the kernel too: another connection's bytes in a
 * reused pipe would be the worst bug there is. */
static void pipe_check_empty(int fd, const char *when)
{
	int queued = 0;

	if (ioctl(fd, FIONREAD, &queued) || queued) {
		pr_err("splice: pipe fd %d holds %d bytes %s", fd, queued, when);
		abort();
	}
}
#else
#define pipe_check_empty(fd, when) ((void)0)
#endif

static int pipe_open(struct dir *d)
{
	if (d->pipe[0] >= 0)
		return 0;
	if (pool.n) {
		pool.n--;
		d->pipe[0] = pool.fd[pool.n][0];
		d->pipe[1] = pool.fd[pool.n][1];
		d->pipe_cap = pool.cap[pool.n];
		pipe_check_empty(d->pipe[0], "taken from the pool");
		return 0;
	}
	if (pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC))
		return -errno;
	/* Past fs.pipe-max-size this fails and the 64 KiB default stays. */
	{
		int sz = fcntl(d->pipe[1], F_SETPIPE_SZ, PIPE_WANT);

		d->pipe_cap = sz > 0 ? (uint32_t)sz : PIPE_DEFAULT;
	}
	return 0;
}

/* Back to the pool if empty, else closed with what it holds.  Emptiness
 * is our own count of what splice(2) moved, exact by construction. */
static void pipe_close(struct dir *d)
{
	if (d->pipe[0] < 0)
		return;
	if (!d->inpipe)
		pipe_check_empty(d->pipe[0], "counted empty");
	if (!d->inpipe && pool.n < POOL_MAX) {
		pool.fd[pool.n][0] = d->pipe[0];
		pool.fd[pool.n][1] = d->pipe[1];
		pool.cap[pool.n] = d->pipe_cap;
		pool.n++;
	} else {
		close(d->pipe[0]);
		close(d->pipe[1]);
	}
	d->pipe[0] = d->pipe[1] = -1;
	d->inpipe = 0;
}

int splice_pool_size(void)
{
	return pool.n;
}

void splice_pool_flush(void)
{
	while (pool.n) {
		pool.n--;
		close(pool.fd[pool.n][0]);
		close(pool.fd[pool.n][1]);
	}
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
	if (!d->inpipe)
		pipe_close(d);	/* idle until the next burst */
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

int splice_load(struct dir *d, const uint8_t *buf, uint32_t len)
{
	int err = pipe_open(d);

	while (!err && len) {
		ssize_t n = write(d->pipe[1], buf, len);

		if (n <= 0) {
			err = n < 0 ? -errno : -ENOSPC;
			break;
		}
		d->inpipe += (uint32_t)n;
		buf += n;
		len -= (uint32_t)n;
	}
	return err;
}

void splice_release(struct dir *d)
{
	pipe_close(d);
}
