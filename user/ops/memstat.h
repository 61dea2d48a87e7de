/* SPDX-License-Identifier: GPL-2.0 */
/* What passthru costs in memory, for the metrics and `passthru stats`:
 * its RSS, the kernel memory charged to its memory cgroup (sockets,
 * epoll items, files, psocks, pipes), and its BPF maps.  The kernel's
 * share is what an operator cannot see from ps, and most of a connection's
 * cost once it is in the kernel. */
#ifndef PT_MEMSTAT_H
#define PT_MEMSTAT_H

#include <stdbool.h>
#include <stdint.h>

struct memstat {
	int64_t rss;		/* bytes, /proc/self/statm */
	int64_t kernel;		/* bytes charged to the memory cgroup: kernel
				 * + sock (v2), kmem + kmem.tcp (v1); -1 if
				 * unknown */
	int64_t kernel_base;	/* the same at memstat_init, before any
				 * connection; -1 if unknown */
	int64_t bpf_maps;	/* bytes, the maps' memlock; 0 without them */
};

/* Find the memory cgroup's files and take the baseline.  Without a
 * readable memory cgroup, kernel stays -1; never an error. */
void memstat_init(int64_t bpf_maps);
void memstat_read(struct memstat *m);
/* The cgroup read ("" if none), for the metrics' help. */
const char *memstat_cgroup(void);

#endif /* PT_MEMSTAT_H */
