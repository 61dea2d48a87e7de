/* SPDX-License-Identifier: GPL-2.0 */
/* The in-kernel data path: the BPF skeleton, the maps, and the exact
 * insertion/removal order ../shared/DESIGN.md measured to lose nothing. */
#ifndef PT_KPATH_H
#define PT_KPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "passthru.h"

/* Byte positions of one direction, taken when it joins the kernel path, so
 * that "every byte received on the source is in the target's socket" can
 * be checked later from TCP's own counters. */
struct ksnap {
	uint64_t rx0;	/* source: data bytes received minus those unread */
	uint64_t tx0;	/* target: bytes written into the socket so far */
};

/* Load and attach the verdict program, sized for max_conns connections,
 * and prove it forwards bytes on a loopback pair.  On failure returns
 * -errno and a human reason in why. */
int kpath_init(uint32_t max_conns, char *why, size_t whylen);
void kpath_fini(void);

/* Live upgrade.  The BPF objects a successor needs to carry on with the
 * same maps (so the sockets in them never leave): their fds, and the
 * cgroup the sock_ops program is attached to. */
enum {
	KP_TARGETS = 0, KP_VERDICT, KP_INDEX, KP_DIRS, KP_STATS, KP_EVENTS,
	KP_PROG, KP_LINK, KP_NFDS,
};
int kpath_export(int fds[KP_NFDS], char *cgroup, size_t len);
/* Load this binary's programs on the predecessor's maps, attach them, and
 * take over its cgroup.  Closes the fds it was given (dup'd as needed). */
int kpath_adopt(const int fds[KP_NFDS], const char *cgroup, char *why,
		size_t whylen);
/* At exit after a handover: keep the cgroup (the successor lives in it). */
void kpath_handed_over(void);
bool kpath_ready(void);
/* The maps' memory (the kernel's memlock figure for each), 0 without. */
int64_t kpath_map_memory(void);
/* Connections the maps hold at once (the self-test's slot aside). */
uint32_t kpath_slots(void);
/* SO_SNDBUF for sockets that may join the kernel path (0: leave it). */
int kpath_sndbuf(void);
/* SO_RCVBUF for kernel-path sockets where tcp_rmem is too small for
 * back-pressure; 0: leave autotuning alone. */
int kpath_rcvbuf(void);
void kpath_set_limit(uint64_t conn_buffer);

/* Splice cli <-> up in the kernel.  slot is the connection's index; its
 * two directions use pt_dirs[2*slot] (cli->up) and [2*slot+1] (up->cli).
 * consumed[i]: bytes read (not peeked) from that socket so far.
 * On success fills cookies and snapshots (snap[0] cli->up, snap[1] up->cli).
 * On failure, *joined tells which sockets entered the verdict map (bit 0
 * cli, bit 1 up; splice(2) cannot take over one that did).  Only cli in
 * and -EOPNOTSUPP: up is no longer ESTABLISHED (a FIN, a reset), and
 * cli -> up runs in the kernel while up -> cli needs splice. */
int kpath_splice(int cli, int up, uint32_t slot, uint32_t limit,
		 const uint64_t consumed[2], uint64_t cookie[2],
		 struct ksnap snap[2], unsigned *joined);
/* Forget the connection's index entries (the sockets leave the maps by
 * themselves when closed). */
void kpath_forget(const uint64_t cookie[2]);

/* Has every byte the source received after the snapshot entered the
 * target's socket?  Call only once the source is done: after its FIN
 * (EPOLLRDHUP; fin true, TCP counts it as a byte) or its reset (fin
 * false).  1 yes, 0 not yet, -errno on error; -ECONNRESET when a FIN was
 * expected but the source was reset instead (closed while we never shut
 * it down: src_shut false), its error already taken. */
int kpath_drained(int src, int dst, const struct ksnap *s, bool fin, bool src_shut);

/* The mmapped per-direction state. */
struct pt_dir *kpath_dir(uint32_t idx);
int kpath_stats(uint64_t out[PT_STAT_MAX]);
/* One of them (enum pt_stat), summed over CPUs. */
int kpath_stat(uint32_t k, uint64_t *v);

/* Back-pressure.  pt_events is one ring for all workers: whoever wakes
 * first drains it under a lock; handle() gets each record. */
int kpath_events_fd(void);
int kpath_events_consume(void (*handle)(const struct pt_event *ev, void *ctx),
			 void *ctx);
/* Back-pressure works (the sock_ops program is attached)?  If not, why. */
bool kpath_backpressure(void);
/* Our active TCP sockets get TCP_NODELAY from pt_sock_ops at connect. */
bool kpath_nodelay(void);
const char *kpath_backpressure_why(void);
/* Bytes redirected from this direction's source not yet in the target. */
int kpath_backlog(int dst, const struct ksnap *s, uint64_t redirected,
		  uint64_t *backlog);
/* Put the source back and make the verdict take what queued meanwhile. */
int kpath_thaw(int src, uint64_t cookie, uint32_t idx);
/* A thaw whose link failed: the direction is frozen again. */
void kpath_refreeze(uint32_t idx);

/* tcpi_bytes_acked: how far the peer of a TCP socket has taken its bytes
 * (a slow reader moves it, a stopped one does not). */
int sock_bytes_acked(int fd, uint64_t *acked);

#endif /* PT_KPATH_H */
