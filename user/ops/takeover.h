/* SPDX-License-Identifier: GPL-2.0 */
/* Live upgrade: a new passthru (--takeover) receives the running one's
 * listening sockets, BPF maps and programs, and every connection with its
 * state, over a unix socket (SCM_RIGHTS).  Connections spliced in the
 * kernel never leave their maps and keep flowing throughout. */
#ifndef PT_TAKEOVER_H
#define PT_TAKEOVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conn/conn.h"
#include "ops/runtime.h"
#include "datapath/kpath.h"

/* One connection as it crosses: plain data, fds travel beside it. */
struct xconn {
	uint8_t st;			/* CS_SNIFF or CS_FLOW */
	uint8_t kernel, has_slot, proxied, no_kernel, rst_client, failed;
	uint8_t up_kept;		/* not flowing: its upstream socket (connecting to
					 * upaddr) follows the pre_len pipe */
	int32_t failed_err;
	uint64_t failed_age_ms;	/* since the failure (failed: 1 cli, 2 up) */
	uint32_t slot;
	uint64_t cookie[2];
	uint64_t age_ms;		/* since accept */
	struct sockaddr_storage peer, src, dst, upaddr;
	char listener[128], proto[24], rule[256], upstream[128];
	uint8_t action;
	struct xdir {
		uint8_t eof, shut, kernel, frozen, dst_full, has_pipe, no_fin;
		uint8_t relay;	/* was padding: a predecessor without a relay sends 0 */
		struct ksnap snap;
		uint64_t bytes;
		uint32_t inpipe, pipe_cap;
	} d[2];
	uint8_t nfds;			/* cli [, up] [, pipe r/w ...]; not flowing: cli [, pre pipe] [, up] */
	/* Not flowing: the bytes the sniff read (sniffer.pre), in a pipe
	 * after cli; the successor looks again with them in front. */
	uint32_t pre_len;
};

#define XCONN_MAX_FDS 6

/* The running process: where it waits for a successor. */
int control_path(const struct runtime *rt, char *out, size_t len);
/* Bind the control socket (before privileges are dropped: its directory
 * may be root's), then serve it from a thread. */
int control_bind(struct runtime *rt);
int control_start(struct runtime *rt);
void control_stop(void);

/* The successor: everything it received, before its workers exist. */
struct inherited {
	bool kernel;
	int bpf[KP_NFDS];
	char cgroup[640];
	uint32_t max_connections;
	int nls;
	struct {
		struct sockaddr_storage addr;
		socklen_t addrlen;
		int worker, fd;
	} *ls;
	int nconns;
	struct xconn *conns;
	int (*cfds)[XCONN_MAX_FDS];
	int sock;			/* to say OK (or close to abort) */
	bool prepared;			/* the maps came before the pause */
	bool received;			/* sockets and connections too */
};

/* The predecessor's maps (and sizes), while it serves on: the programs
 * load before the pause.  Against a predecessor that does not know it,
 * everything is received here (takeover_receive then does nothing). */
int takeover_prepare(const struct runtime *rt, struct inherited *in);
/* HELLO: the predecessor pauses; its sockets and connections arrive. */
int takeover_receive(const struct runtime *rt, struct inherited *in);
/* Give each worker its sockets and connections (workers set up, not
 * started).  Then tell the predecessor to go. */
int takeover_adopt(struct runtime *rt, struct inherited *in);
int takeover_finish(struct inherited *in);
void inherited_free(struct inherited *in);

/* The connections and listening sockets every worker exported, and the
 * control thread's word on how it went (resume: the successor failed). */
struct tk_listen {
	struct sockaddr_storage addr;
	uint32_t addrlen;
	int32_t worker;
};

struct handover {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int paused, resume;
	struct xconn *conns;
	int (*cfds)[XCONN_MAX_FDS];
	int nconns, cap;
	struct tk_listen *ls;
	int *lfds;
	int nls, lcap;
};

/* handover.c: a worker's part, run as a worker_job (arg: the handover):
 * export, then wait to exit or resume. */
void handover_worker(struct worker *w, void *arg);

/* conn.c side */
int conn_export(struct conn *c, struct xconn *x, int fds[XCONN_MAX_FDS]);
/* The exporter's copies of the pipes conn_export made, once sent. */
void handover_close_pre(struct handover *h);
int conn_import(struct worker *w, const struct xconn *x,
		const int fds[XCONN_MAX_FDS]);

#endif /* PT_TAKEOVER_H */
