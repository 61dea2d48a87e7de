/* SPDX-License-Identifier: GPL-2.0 */
/* The fallback data path: splice(2) through one pipe per direction, for
 * when BPF cannot be used.  Bytes still never enter userspace memory. */
#ifndef PT_SPLICE_H
#define PT_SPLICE_H

#include "datapath/dir.h"

/* Move what can be moved now; shuts the target's write side once the
 * source hit EOF and the pipe is empty.  0 or -errno (the connection is
 * then broken; -ECONNRESET/-EPIPE name which side by `*bad`). */
int splice_pump(struct dir *d, struct endpoint **bad);
/* Would another pump read from the source right now? */
int splice_wants_read(const struct dir *d);
/* Bytes held elsewhere (the relay's, at a live upgrade) into the
 * direction's pipe, to be written out first.  0 or -errno. */
int splice_load(struct dir *d, const uint8_t *buf, uint32_t len);
/* The direction gives up its pipe (to this thread's pool when empty). */
void splice_release(struct dir *d);
/* This thread's pooled pipes: how many, and closing them (a worker
 * without connections, or exiting). */
int splice_pool_size(void);
void splice_pool_flush(void);

#endif /* PT_SPLICE_H */
