/* SPDX-License-Identifier: GPL-2.0 */
/* The relay: a direction's bytes read into userspace and written out
 * (recv/send), for a connection's first bytes.  Most connections are
 * short: for them this costs two syscalls per burst and nothing to set
 * up, where the kernel path costs map updates, a psock and its teardown,
 * and splice(2) a pipe.  A connection that proves long moves to one of
 * those (flow.c promotes it) at a moment when the relay holds nothing. */
#ifndef PT_RELAY_H
#define PT_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "datapath/dir.h"

/* Move what can be moved now through buf (cap bytes, the caller's
 * scratch): what waits in pend first, then src's bytes.  Sockets are
 * edge-triggered: a read shorter than cap emptied src's queue, unless
 * to_eof (its FIN or an error was signalled) asks to read until recv says
 * so.  At src's EOF, once everything is written, dst's write side is shut
 * (not when last: the caller is about to close it, which sends the FIN).
 * 0, or -errno with *bad the endpoint that broke (NULL: out of memory). */
int relay_pump(struct dir *d, uint8_t *buf, size_t cap, bool to_eof, bool last,
	       struct endpoint **bad);
/* Only what waits in pend, src not read: 0, or -errno with *bad = dst. */
int relay_flush(struct dir *d, struct endpoint **bad);
/* The direction gives up what it holds (a failure, the end). */
void relay_release(struct dir *d);

#endif /* PT_RELAY_H */
