// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>

#include "base/log.h"
#include "base/loop.h"

int loop_watch(struct loop *l, struct evsrc *ev, int fd, uint32_t events,
	       uint32_t *cur)
{
	struct epoll_event e = { .events = events & ~EP_ON, .data.ptr = ev };
	int op;

	if (events == *cur)
		return 0;
	if (!events)
		op = EPOLL_CTL_DEL;
	else if (!*cur)
		op = EPOLL_CTL_ADD;
	else
		op = EPOLL_CTL_MOD;
	if (epoll_ctl(l->epfd, op, fd, &e)) {
		int err = -errno;

		pr_err("epoll_ctl(%d, fd %d): %s", op, fd, strerror(-err));
		return err;
	}
	*cur = events;
	return 0;
}
