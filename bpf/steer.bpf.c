// SPDX-License-Identifier: GPL-2.0
/* Accept steering: which worker's listening socket a new connection
 * joins (see include/steer_map.h).  Attached to each listen address's
 * SO_REUSEPORT group; without it, the kernel hashes the 4-tuple, which
 * spreads a few connections over every worker and wakes each of them
 * for every one. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "steer_map.h"

#define SK_PASS 1

/* Slot group * STEER_MAX_WORKERS + worker: that worker's socket of the
 * group (a selected socket must belong to the group being looked up). */
struct {
	__uint(type, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY);
	__uint(max_entries, STEER_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} steer_socks SEC(".maps");

/* A listening socket's cookie -> its group's first slot. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STEER_SLOTS);
	__type(key, __u64);
	__type(value, __u32);
} steer_groups SEC(".maps");

struct steer_load loads[STEER_MAX_WORKERS];	/* written by the workers (mmapped .bss) */
__u64 picked, spread, local;	/* connections placed on the first with room / left
				 * to the hash / on the worker of their CPU */

const volatile __u32 nworkers = 1;
const volatile __u32 full = 900;		/* per mille: a worker this busy takes no more */
/* "worker_steering": "cpu": a new connection first goes to the worker
 * that runs on the CPU that took its SYN (softirq: for loopback, the
 * client's CPU; else the CPU of the NIC queue), so that its socket, the
 * upstream's and their wake-ups stay on one CPU while every CPU works. */
const volatile __u32 by_cpu = 0;
/* CPU -> 1 + the worker pinned to it (0: none), set before any worker
 * runs (mmapped .bss). */
__u32 cpu_worker[STEER_MAX_CPUS];

static __always_inline int take(struct sk_reuseport_md *md, __u32 base, __u32 i, __u64 now)
{
	struct steer_load *l = &loads[i];
	__u32 key = base + i;

	if (l->closed || (l->busy >= full && now - l->stamp_ns < STEER_STALE_NS))
		return -1;
	/* Fails when that worker has no socket in the group (it stopped
	 * listening): the next one. */
	return bpf_sk_select_reuseport(md, &steer_socks, &key, 0) ? -1 : 0;
}

/* How long a worker waited for its CPU lately; one that has not
 * reported for a while sleeps: it waits for nothing. */
static __always_inline __u32 waited(const struct steer_load *l, __u64 now)
{
	return now - l->stamp_ns < STEER_STALE_NS ? l->wait : 0;
}

SEC("sk_reuseport")
int pt_steer(struct sk_reuseport_md *md)
{
	__u64 cookie = bpf_get_socket_cookie(md->sk), now;
	__u32 *base, i;

	base = bpf_map_lookup_elem(&steer_groups, &cookie);
	if (!base)
		return SK_PASS;	/* not a group we know: the kernel's hash */
	now = bpf_ktime_get_ns();
	if (by_cpu) {
		__u32 cpu = bpf_get_smp_processor_id(), w;

		i = cpu < STEER_MAX_CPUS ? cpu_worker[cpu] : 0;
		if (i && i <= nworkers && i <= STEER_MAX_WORKERS) {
			w = waited(&loads[i - 1], now);
			/* Its CPU taken by others (it cannot leave it): a
			 * worker that waits far less, if there is one; all
			 * of them waiting alike is a busy machine, where
			 * staying is best. */
			for (__u32 j = 0; w >= STEER_WAIT_MOVE && j < STEER_MAX_WORKERS &&
					  j < nworkers; j++) {
				if (j != i - 1 && waited(&loads[j], now) * 2 <= w &&
				    !take(md, *base, j, now)) {
					__sync_fetch_and_add(&picked, 1);
					return SK_PASS;
				}
			}
			if (!take(md, *base, i - 1, now)) {
				__sync_fetch_and_add(&local, 1);
				return SK_PASS;
			}
		}
	}
	/* The first worker with room. */
	for (i = 0; i < STEER_MAX_WORKERS && i < nworkers; i++) {
		if (!take(md, *base, i, now)) {
			__sync_fetch_and_add(&picked, 1);
			return SK_PASS;
		}
	}
	__sync_fetch_and_add(&spread, 1);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
