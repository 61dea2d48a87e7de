// SPDX-License-Identifier: GPL-2.0
/* Accept steering's life: load, the listening sockets of each address
 * (one group per address, one slot per worker), the workers' reports
 * (see steer.h, include/steer_map.h and bpf/steer.bpf.c). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "base/log.h"
#include "base/util.h"
#include "datapath/steer.h"
#include "steer_map.h"
#include "steer.skel.h"

#ifndef SO_ATTACH_REUSEPORT_EBPF
#define SO_ATTACH_REUSEPORT_EBPF 52
#endif
#ifndef SO_DETACH_REUSEPORT_BPF
#define SO_DETACH_REUSEPORT_BPF 68
#endif
#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

static struct {
	struct steer_bpf *skel;
	int prog, socks, groups;
	pthread_mutex_t mu;		/* the address table: workers join during reloads */
	struct sockaddr_storage addr[STEER_GROUPS];
	socklen_t addrlen[STEER_GROUPS];
	int naddr;
	_Atomic bool warned;
	int cpu_of[STEER_MAX_WORKERS];	/* "cpu" steering: each worker's CPU */
	bool by_cpu;
} S = { .prog = -1, .socks = -1, .groups = -1, .mu = PTHREAD_MUTEX_INITIALIZER };

bool steer_ready(void)
{
	return S.skel != NULL;
}

unsigned steer_full_permille(void)
{
	return S.skel ? S.skel->rodata->full : 0;
}

bool steer_by_cpu(void)
{
	return S.by_cpu;
}

int steer_cpu(int worker)
{
	return S.by_cpu && worker >= 0 && worker < STEER_MAX_WORKERS ? S.cpu_of[worker] : -1;
}

/* "cpu" steering: worker i on the i-th CPU this process may run on,
 * when there is one worker per CPU; else why says so (pack it is). */
static void cpu_plan(struct steer_bpf *skel, int nworkers, char *why, size_t whylen)
{
	cpu_set_t cs;
	int n = 0;

	if (sched_getaffinity(0, sizeof(cs), &cs)) {
		snprintf(why, whylen, "the CPUs it may run on: %s", strerror(errno));
		return;
	}
	if (CPU_COUNT(&cs) != nworkers || nworkers > STEER_MAX_WORKERS) {
		snprintf(why, whylen, "%d workers on %d CPUs: \"cpu\" takes one worker per CPU",
			 nworkers, CPU_COUNT(&cs));
		return;
	}
	for (int c = 0; c < CPU_SETSIZE && n < nworkers; c++) {
		if (!CPU_ISSET(c, &cs))
			continue;
		if (c >= STEER_MAX_CPUS) {
			snprintf(why, whylen, "CPU %d: past the %d the program knows", c,
				 STEER_MAX_CPUS);
			return;
		}
		S.cpu_of[n++] = c;
	}
	for (int i = 0; i < nworkers; i++)
		skel->bss->cpu_worker[S.cpu_of[i]] = (uint32_t)i + 1;
	skel->rodata->by_cpu = 1;
	S.by_cpu = true;
}

int steer_init(int nworkers, bool by_cpu, char *why, size_t whylen)
{
	struct steer_bpf *skel;
	const char *t;
	int err;

	if (S.skel)
		return 0;
	if (!bpf_privileged()) {
		snprintf(why, whylen, "no permission to use BPF (run as root, or with CAP_BPF and CAP_NET_ADMIN)");
		return -EPERM;
	}
	skel = steer_bpf__open();
	if (!skel) {
		err = -errno;
		snprintf(why, whylen, "opening the BPF object failed: %s", strerror(-err));
		return err;
	}
	skel->rodata->nworkers = (uint32_t)(nworkers < STEER_MAX_WORKERS ? nworkers : STEER_MAX_WORKERS);
	/* Tests: a threshold that a worker reaches at once (0) or never. */
	t = getenv("PT_TEST_STEER_FULL");
	if (t)
		skel->rodata->full = (uint32_t)atol(t);
	if (by_cpu)
		cpu_plan(skel, nworkers, why, whylen);
	err = steer_bpf__load(skel);
	if (err) {
		snprintf(why, whylen, "loading the sk_reuseport program failed: %s", strerror(-err));
		steer_bpf__destroy(skel);
		S.by_cpu = false;
		return err;
	}
	S.skel = skel;
	S.prog = bpf_program__fd(skel->progs.pt_steer);
	S.socks = bpf_map__fd(skel->maps.steer_socks);
	S.groups = bpf_map__fd(skel->maps.steer_groups);
	return 0;
}

/* The group of the address fd is bound to; -ENOSPC past STEER_GROUPS. */
static int group_of(int fd)
{
	struct sockaddr_storage a;
	socklen_t len = sizeof(a);
	int g;

	memset(&a, 0, sizeof(a));
	if (getsockname(fd, (struct sockaddr *)&a, &len))
		return -errno;
	pthread_mutex_lock(&S.mu);
	for (g = 0; g < S.naddr; g++)
		if (S.addrlen[g] == len && !memcmp(&S.addr[g], &a, len))
			break;
	if (g == S.naddr) {
		if (S.naddr == STEER_GROUPS) {
			g = -ENOSPC;
		} else {
			S.addr[g] = a;
			S.addrlen[g] = len;
			S.naddr++;
		}
	}
	pthread_mutex_unlock(&S.mu);
	return g;
}

static int cookie_of(int fd, uint64_t *cookie)
{
	socklen_t len = sizeof(*cookie);

	return getsockopt(fd, SOL_SOCKET, SO_COOKIE, cookie, &len) ? -errno : 0;
}

int steer_join(int fd, int worker)
{
	uint64_t cookie, v = (uint64_t)fd;
	uint32_t base;
	int g, err;

	if (!S.skel) {
		/* A predecessor's program would send every connection to the
		 * socket of its worker 0, whose load no one reports any more. */
		setsockopt(fd, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, NULL, 0);
		return 0;
	}
	if (worker >= STEER_MAX_WORKERS)
		return 0;	/* the hash reaches it when all the others are full */
	g = group_of(fd);
	if (g < 0) {
		if (!atomic_exchange(&S.warned, true))
			pr_warn("accept steering: more than %d listen addresses: the others are spread by the kernel's hash",
				STEER_GROUPS);
		return g;
	}
	base = (uint32_t)g * STEER_MAX_WORKERS;
	err = cookie_of(fd, &cookie);
	if (!err) {
		uint32_t key = base + (uint32_t)worker;

		if (bpf_map_update_elem(S.socks, &key, &v, BPF_ANY) ||
		    bpf_map_update_elem(S.groups, &cookie, &base, BPF_ANY))
			err = -errno;
	}
	/* On every member: attaching replaces the group's program, the same
	 * one here, or a predecessor's. */
	if (!err && setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, &S.prog, sizeof(S.prog)))
		err = -errno;
	if (err)
		pr_warn("accept steering: worker %d's listening socket: %s: it gets connections by the kernel's hash",
			worker, strerror(-err));
	return err;
}

void steer_leave(int fd, int worker)
{
	uint64_t cookie, held;
	uint32_t key;
	int g;

	if (!S.skel || cookie_of(fd, &cookie))
		return;
	bpf_map_delete_elem(S.groups, &cookie);
	if (worker >= STEER_MAX_WORKERS)
		return;
	g = group_of(fd);
	if (g < 0)
		return;
	key = (uint32_t)g * STEER_MAX_WORKERS + (uint32_t)worker;
	/* Only if the slot still holds this socket (a lookup gives its
	 * cookie): a reload may have put another one of the same address
	 * there already. */
	if (bpf_map_lookup_elem(S.socks, &key, &held) || held != cookie)
		return;
	if (bpf_map_delete_elem(S.socks, &key) && errno != ENOENT)
		pr_warn("accept steering: worker %d's listening socket stays in this process's map (%s): another process's program cannot take it",
			worker, strerror(errno));
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void steer_meter_init(struct steer_meter *m, int worker)
{
	int fd;

	if (steer_cpu(worker) < 0)
		return;
	fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		m->schedfd = fd + 1;
}

void steer_meter_fini(struct steer_meter *m)
{
	if (m->schedfd)
		close(m->schedfd - 1);
	m->schedfd = 0;
}

/* The second field of schedstat: ns spent runnable, waiting for a CPU. */
static int sched_wait_ns(int fd, uint64_t *ns)
{
	char b[96], *p;
	ssize_t n = pread(fd, b, sizeof(b) - 1, 0);

	if (n <= 0)
		return -EIO;
	b[n] = 0;
	p = strchr(b, ' ');
	if (!p)
		return -EIO;
	*ns = strtoull(p + 1, NULL, 10);
	return 0;
}

void steer_report(struct steer_meter *m, int worker)
{
	struct steer_load *l;
	uint64_t now, cpu, busy, wait;

	if (!S.skel || worker >= STEER_MAX_WORKERS)
		return;
	now = clock_ns(CLOCK_MONOTONIC);
	if (now - m->t0_ns < STEER_WINDOW_NS)
		return;
	/* Its thread's CPU time, not the time it spent awake: a worker
	 * preempted by others is not the one to relieve. */
	cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	busy = m->t0_ns ? (cpu - m->cpu0_ns) * 1000 / (now - m->t0_ns) : 0;
	l = &S.skel->bss->loads[worker];
	/* Pinned ("cpu"), it cannot leave a CPU others keep busy: how long
	 * it waited for it tells the program to look elsewhere. */
	if (m->schedfd && !sched_wait_ns(m->schedfd - 1, &wait)) {
		uint64_t share = m->t0_ns && wait >= m->wait0_ns
			? (wait - m->wait0_ns) * 1000 / (now - m->t0_ns) : 0;

		__atomic_store_n(&l->wait, (uint32_t)(share > 1000 ? 1000 : share),
				 __ATOMIC_RELAXED);
		m->wait0_ns = wait;
	}
	__atomic_store_n(&l->busy, (uint32_t)(busy > 1000 ? 1000 : busy), __ATOMIC_RELAXED);
	__atomic_store_n(&l->stamp_ns, now, __ATOMIC_RELEASE);
	m->t0_ns = now;
	m->cpu0_ns = cpu;
}

void steer_closed(int worker, bool closed)
{
	if (S.skel && worker < STEER_MAX_WORKERS)
		__atomic_store_n(&S.skel->bss->loads[worker].closed, closed, __ATOMIC_RELAXED);
}

void steer_counts(uint64_t *local, uint64_t *picked, uint64_t *spread)
{
	*local = S.skel ? __atomic_load_n(&S.skel->bss->local, __ATOMIC_RELAXED) : 0;
	*picked = S.skel ? __atomic_load_n(&S.skel->bss->picked, __ATOMIC_RELAXED) : 0;
	*spread = S.skel ? __atomic_load_n(&S.skel->bss->spread, __ATOMIC_RELAXED) : 0;
}

void steer_fini(void)
{
	if (S.skel)
		steer_bpf__destroy(S.skel);
	S.skel = NULL;
	S.prog = S.socks = S.groups = -1;
}
