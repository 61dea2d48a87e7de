/* SPDX-License-Identifier: GPL-2.0 */
/* The kernel path's state, shared by its two halves: kpath.c (the path
 * at work) and kpath_load.c (loading, proving, handing over).  Not for
 * anyone else. */
#ifndef PT_KPATH_INT_H
#define PT_KPATH_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "passthru.skel.h"
#include "datapath/cgroup.h"
#include "datapath/kpath.h"

struct kpath {
	struct passthru_bpf *skel;
	int targets_fd, verdict_fd, index_fd, stats_fd;
	struct pt_dir *dirs;	/* mmapped pt_dirs */
	size_t dirs_len;
	uint32_t ndirs;
	uint32_t test_slot;	/* reserved for the start-up self-test */
	bool batch_targets, batch_verdict;	/* the kernel batches sock maps */
	uint32_t sndbuf;			/* kpath_sndbuf() */
	uint32_t rcvbuf;			/* kpath_rcvbuf() */
	struct ring_buffer *events;
	struct bpf_link *sockops;	/* NULL: no back-pressure */
	struct bpf_link *arm;		/* pt_arm, proved to work: kpath_splice arms
					 * its sockets (else pt_sock_ops, at connect) */
	bool nodelay;			/* pt_sock_ops sets TCP_NODELAY at connect */
	struct pt_cgroup cg;		/* where pt_sock_ops is attached */
	char bp_why[256];		/* why back-pressure is off */
	pthread_mutex_t events_mu;
	void (*handle)(const struct pt_event *ev, void *ctx);
	void *handle_ctx;
	/* Tests: PT_TEST_THAW_EBUSY=N makes the next N thaws fail with
	 * EBUSY before the kernel is asked, as 6.18 rarely does itself. */
	long thaw_refuse;
};

extern struct kpath K;

/* pt_events records, to the handler of whoever drains the ring. */
int kpath_on_event(void *ctx, void *data, size_t len);
/* Take both sockets out of every map (a half-done insertion). */
void kpath_unlink(const uint64_t cookie[2]);

#endif /* PT_KPATH_INT_H */
