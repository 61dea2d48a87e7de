/* SPDX-License-Identifier: GPL-2.0 */
/* A connection's two sockets and its two directions, as the data paths
 * (the kernel path and splice) see them: no connection, no rule. */
#ifndef PT_DIR_H
#define PT_DIR_H

#include <stdbool.h>
#include <stdint.h>

#include "base/loop.h"
#include "datapath/kpath.h"

struct endpoint {
	struct evsrc ev;	/* EV_CLIENT or EV_UPSTREAM */
	int fd;
	uint32_t events;	/* registered epoll mask, 0 = not in epoll */
};

/* One direction: bytes read from src and written to dst.  (Fields by size:
 * there are two per connection, and a connection should cost little.) */
struct dir {
	struct endpoint *src, *dst;
	struct ksnap snap;	/* kernel path */
	uint64_t bytes;		/* relay and splice paths */
	/* The relay (relay.c): bytes copied through userspace, the first of
	 * a connection's bytes before it proves long enough for the kernel.
	 * What dst did not take yet waits in pend (malloc'd, rare); src is
	 * not read meanwhile. */
	uint8_t *pend;
	uint32_t pend_off, pend_len;
	int pipe[2];		/* splice path, created on first use */
	uint32_t inpipe, pipe_cap;
	bool eof;		/* src sent FIN */
	bool shut;		/* dst's write side shut down after draining */
	bool kernel;		/* sockmap redirect; else splice(2) pipes */
	bool frozen;		/* src out of the verdict map: back-pressure */
	bool dst_full;
	bool no_fin;		/* src was reset: no FIN to pass on */
	bool relay;
	bool read_blocked;	/* src has bytes we did not read (pend full) */
};

#define DIR_UP 0	/* client -> upstream */
#define DIR_DOWN 1	/* upstream -> client */

#endif /* PT_DIR_H */
