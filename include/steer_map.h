/* SPDX-License-Identifier: GPL-2.0 */
/* Accept steering, shared by bpf/steer.bpf.c and user/datapath/steer.c.
 *
 * Each worker publishes how busy it was over its last window; the
 * reuseport program hands a new connection to the first worker (lowest
 * index) that is not full, so that a lightly loaded proxy keeps its
 * connections on one awake thread instead of waking every worker in
 * turn, and spreads them once a worker's core is used up.  With
 * "worker_steering": "cpu" (the default), it first tries the worker
 * pinned to the CPU that took the connection's SYN. */
#ifndef PT_STEER_H
#define PT_STEER_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define STEER_MAX_WORKERS 64	/* workers past it get connections by the kernel's hash */
#define STEER_MAX_CPUS 1024	/* "cpu" steering: CPUs past it go to the first worker with room */
#define STEER_GROUPS 128	/* listen addresses steered at once */
#define STEER_SLOTS (STEER_MAX_WORKERS * STEER_GROUPS)
#define STEER_WINDOW_NS 10000000ULL	/* a worker's busy share is measured over 10 ms */
#define STEER_WAIT_MOVE 500		/* "cpu": a pinned worker that waited this much (per mille of its
					 * window) for its CPU loses new connections to one that waited
					 * half as much or less */
#define STEER_STALE_NS 30000000ULL	/* no report for 30 ms: the worker sleeps, it is idle */

struct steer_load {
	__u64 stamp_ns;		/* CLOCK_MONOTONIC (bpf_ktime_get_ns) of the report */
	__u32 busy;		/* per mille of a CPU the worker's thread used */
	__u32 wait;		/* "cpu": per mille of the window it waited for its CPU */
	__u32 closed;		/* not accepting (out of fds or connections, or stopping) */
};

#endif
