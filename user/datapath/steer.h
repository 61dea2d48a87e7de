/* SPDX-License-Identifier: GPL-2.0 */
/* Accept steering: a reuseport BPF program (bpf/steer.bpf.c) gives a new
 * connection to the first worker that is not busy, instead of the
 * kernel's hash over all of them (include/steer_map.h says why). */
#ifndef PT_STEER_H_USER
#define PT_STEER_H_USER

#include <stdbool.h>
#include <stdint.h>

/* A worker's clock for its busy share (zeroed with the worker). */
struct steer_meter {
	uint64_t t0_ns, cpu0_ns;
	uint64_t wait0_ns;	/* "cpu": time it waited for its CPU */
	int schedfd;		/* "cpu": its /proc schedstat, + 1 (0: none) */
};

/* Load the program for nworkers; 0, or -errno with why filled.  by_cpu
 * ("worker_steering": "cpu"): a connection first tries the worker of the
 * CPU that took its SYN, each worker pinned to one CPU; it takes one
 * worker per CPU this process may run on, else the program packs and
 * why says why (0 returned). */
int steer_init(int nworkers, bool by_cpu, char *why, size_t whylen);
bool steer_ready(void);
bool steer_by_cpu(void);
/* The CPU a worker pins itself to ("cpu" steering), or -1. */
int steer_cpu(int worker);
/* A worker using this much of a CPU (per mille) takes no new connection. */
unsigned steer_full_permille(void);
/* A worker's listening socket (bound and listening): steered from now
 * on.  Without the program, a program a predecessor attached is taken
 * off (its workers no longer report).  0 or -errno (the socket then
 * gets connections by the kernel's hash). */
int steer_join(int fd, int worker);
/* Before the socket closes, or goes to another process: out of the
 * group and out of this process's socket array.  A socket sits in one
 * array at a time: another process's join fails with EBUSY while it is
 * here, even once its fd is closed here (the socket lives on in the
 * other process), and this program, attached to the group until the
 * other's replaces it, would steer on loads no one reports any more.
 * Meanwhile the program leaves the connection to the kernel's hash.
 * A live upgrade's predecessor leaves at the hand-over and joins again
 * if it fails; a successor that fails leaves in worker_cleanup. */
void steer_leave(int fd, int worker);
/* Once per round of the worker's loop: publishes its busy share when
 * the window is over, and for a worker pinned by "cpu" steering, the
 * share it waited for its CPU (it cannot move off a CPU others keep
 * busy: the program then prefers a worker that waits far less). */
void steer_report(struct steer_meter *m, int worker);
/* In the worker's thread, once pinned (steer_cpu), and at its end. */
void steer_meter_init(struct steer_meter *m, int worker);
void steer_meter_fini(struct steer_meter *m);
/* A worker that stopped accepting (out of fds or connections) takes
 * none; the others do. */
void steer_closed(int worker, bool closed);
/* Connections the program placed on the worker of their CPU ("cpu"), on
 * the first with room, and those it left to the hash (every worker full). */
void steer_counts(uint64_t *local, uint64_t *picked, uint64_t *spread);
void steer_fini(void);

#endif
