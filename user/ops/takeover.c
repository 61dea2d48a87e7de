// SPDX-License-Identifier: GPL-2.0
/* Live upgrade over a unix socket.
 *
 *   successor                         running passthru
 *   ---------                         ----------------
 *   PREPARE abi          ─────────>
 *                        <─────────   STATE + BPF map/prog/link fds
 *   load and prove its programs on
 *   those maps, set its workers up    (serves on meanwhile)
 *   HELLO                ─────────>   every worker exports its
 *                                     connections and listeners, then
 *                                     waits (the kernel keeps splicing)
 *                        <─────────   STATE
 *                        <─────────   LISTEN + fd   (each socket)
 *                        <─────────   CONN + fds    (each connection)
 *                        <─────────   END
 *   adopt maps, sockets,
 *   connections; OK      ─────────>   _exit(0): its fds close, ours stay
 *
 * The pause, from HELLO to OK, is only the sockets crossing: loading BPF
 * programs (the verifier: 0.1 s idle, seconds on a loaded machine) comes
 * before it.  A predecessor that does not know PREPARE closes the socket:
 * the successor then sends HELLO first, as before, and pauses it longer.
 * If the successor fails or goes silent before OK, the running process
 * resumes as if nothing happened.  SOCK_SEQPACKET keeps messages whole. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "conn/listen.h"
#include "base/log.h"
#include "ops/takeover.h"
#include "base/util.h"

#define TK_MAGIC 0x50544b31u	/* "PTK1" */
#define TK_MAX_FDS 16

enum { TK_HELLO = 1, TK_STATE, TK_LISTEN, TK_CONN, TK_END, TK_OK, TK_PREPARE };

/* How long a successor may take to load its programs before its HELLO. */
#define TK_PREPARE_MS 120000

struct tk_hdr {
	uint32_t magic;
	uint32_t abi;
	uint16_t type;
	uint16_t nfds;
	uint32_t len;
};

struct tk_state {
	uint32_t kernel;
	uint32_t max_connections;
	uint32_t nls, nconns;
	char cgroup[640];
};


/* The shape of everything that crosses, so that two builds that do not
 * agree on it refuse each other. */
/* Raised when what crosses means something new in the same shape
 * (2: a sniffing connection's pipe of bytes read, xconn.pre_len; 3: a
 * connecting one's upstream socket, xconn.up_kept). */
#define TK_REV 3

static uint32_t abi(void)
{
	return (uint32_t)(sizeof(struct xconn) * 131 + sizeof(struct pt_dir) * 7 +
			  sizeof(struct tk_state) + KP_NFDS + (TK_REV << 24));
}

static int send_msg(int sock, uint16_t type, const void *data, uint32_t len,
		    const int *fds, int nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * TK_MAX_FDS)];
	struct tk_hdr h = { .magic = TK_MAGIC, .abi = abi(), .type = type,
			    .nfds = (uint16_t)nfds, .len = len };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)data, len } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };

	if (nfds > TK_MAX_FDS)
		return -E2BIG;
	if (nfds) {
		struct cmsghdr *cm;

		memset(cbuf, 0, sizeof(cbuf));
		m.msg_control = cbuf;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&m);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	if (sendmsg(sock, &m, MSG_NOSIGNAL) < 0)
		return -errno;
	return 0;
}

/* One message; *nfds received fds are the caller's to close. */
static int recv_msg(int sock, struct tk_hdr *h, void *data, uint32_t cap,
		    int *fds, int *nfds, int timeout_ms)
{
	char cbuf[CMSG_SPACE(sizeof(int) * TK_MAX_FDS)];
	struct iovec iov[2] = { { h, sizeof(*h) }, { data, cap } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2,
			    .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct pollfd p = { .fd = sock, .events = POLLIN };
	ssize_t n;

	*nfds = 0;
	if (poll(&p, 1, timeout_ms) != 1)
		return -ETIMEDOUT;
	n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			int k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			memcpy(fds + *nfds, CMSG_DATA(cm), sizeof(int) * k);
			*nfds += k;
		}
	if (!n)
		return -ECONNRESET;
	if ((size_t)n < sizeof(*h) || h->magic != TK_MAGIC)
		return -EPROTO;
	if (h->abi != abi())
		return -EPROTONOSUPPORT;
	if (n - sizeof(*h) != h->len || h->nfds != *nfds || (m.msg_flags & MSG_CTRUNC))
		return -EPROTO;
	return 0;
}

static void close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* FNV-1a of the configuration's real path: one control socket per
 * configuration, found again by a successor started with the same -c. */
int control_path(const struct runtime *rt, char *out, size_t len)
{
	char real[4096];
	uint32_t h = 2166136261u;

	if (rt->cfg->set.control_socket[0]) {
		snprintf(out, len, "%s", rt->cfg->set.control_socket);
		return 0;
	}
	if (!realpath(rt->file, real))
		return -errno;
	for (const char *p = real; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	snprintf(out, len, "/run/passthru-%08x.sock", h);
	return 0;
}

/* ---- the running process ------------------------------------------------ */

static struct {
	struct runtime *rt;
	pthread_t thr;
	int lfd, stop[2];
	char path[108];
	bool running;
} C = { .lfd = -1, .stop = { -1, -1 } };

/* What the successor needs first: the maps its programs load against. */
static int send_state(int sock, const struct handover *h, bool with_bpf)
{
	struct tk_state st = { 0 };
	int bpf[KP_NFDS];

	st.max_connections = (uint32_t)__atomic_load_n(&C.rt->max_connections, __ATOMIC_RELAXED);
	st.nls = h ? h->nls : 0;
	st.nconns = h ? h->nconns : 0;
	st.kernel = kpath_ready() && !kpath_export(bpf, st.cgroup, sizeof(st.cgroup));
	return send_msg(sock, TK_STATE, &st, sizeof(st), bpf,
			st.kernel && with_bpf ? (bpf[KP_LINK] >= 0 ? KP_NFDS : KP_NFDS - 1) : 0);
}

static int hand_over(int sock, struct handover *h, bool with_bpf)
{
	int err = send_state(sock, h, with_bpf);

	for (int i = 0; !err && i < h->nls; i++)
		err = send_msg(sock, TK_LISTEN, &h->ls[i], sizeof(h->ls[i]), &h->lfds[i], 1);
	for (int i = 0; !err && i < h->nconns; i++)
		err = send_msg(sock, TK_CONN, &h->conns[i], sizeof(h->conns[i]),
			       h->cfds[i], h->conns[i].nfds);
	if (!err)
		err = send_msg(sock, TK_END, NULL, 0, NULL, 0);
	return err;
}

static void serve(int sock)
{
	struct runtime *rt = C.rt;
	struct handover h = { .mu = PTHREAD_MUTEX_INITIALIZER,
			      .cv = PTHREAD_COND_INITIALIZER };
	struct worker_job job = { handover_worker, &h };
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct tk_hdr hdr;
	uint64_t deadline;
	int fds[TK_MAX_FDS], nfds, err;
	char buf[64];
	bool prepared = false;

	err = recv_msg(sock, &hdr, buf, sizeof(buf), fds, &nfds, 2000);
	close_all(fds, nfds);
	getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &clen);
	if (!err && hdr.type == TK_PREPARE) {
		pr_info("takeover: pid %d prepares on our maps; serving on until its HELLO",
			cred.pid);
		err = send_state(sock, NULL, true);
		if (!err)
			/* The successor's next message, or our own stop. */
			err = fd_wait(sock, POLLIN, C.stop[0], now_ms() + TK_PREPARE_MS);
		if (!err) {
			err = recv_msg(sock, &hdr, buf, sizeof(buf), fds, &nfds, 0);
			close_all(fds, nfds);
		}
		if (err) {
			pr_warn("takeover: pid %d went away while preparing (%s): carrying on",
				cred.pid, strerror(-err));
			return;
		}
		prepared = true;
	}
	if (err || hdr.type != TK_HELLO) {
		pr_warn("takeover: refused a request: %s",
			err == -EPROTONOSUPPORT ? "incompatible passthru build" :
			err ? strerror(-err) : "not a HELLO");
		return;
	}
	pr_info("takeover: pid %d asks for everything: pausing the workers", cred.pid);
	for (int i = 0; i < rt->nworkers; i++)
		worker_run(&rt->workers[i], &job);
	deadline = now_ms() + 5000;
	pthread_mutex_lock(&h.mu);
	while (h.paused < rt->nworkers && now_ms() < deadline) {
		pthread_mutex_unlock(&h.mu);
		usleep(1000);
		pthread_mutex_lock(&h.mu);
	}
	pthread_mutex_unlock(&h.mu);
	err = h.paused == rt->nworkers ? hand_over(sock, &h, !prepared) : -ETIMEDOUT;
	if (!err)
		err = recv_msg(sock, &hdr, buf, sizeof(buf), fds, &nfds, 30000);
	if (!err && hdr.type == TK_OK) {
		pr_info("takeover: handed %d connection%s and %d listening socket%s to pid %d: exiting",
			h.nconns, h.nconns == 1 ? "" : "s", h.nls, h.nls == 1 ? "" : "s",
			cred.pid);
		/* No cleanup: closing here would end what the successor now
		 * runs.  Our fds close with us; its copies keep everything. */
		_exit(0);
	}
	pr_warn("takeover by pid %d failed (%s): carrying on", cred.pid,
		err ? strerror(-err) : "no OK");
	pthread_mutex_lock(&h.mu);
	h.resume = 1;
	pthread_cond_broadcast(&h.cv);
	pthread_mutex_unlock(&h.mu);
	/* Let the workers leave handover_worker before h goes away. */
	for (int i = 0; i < rt->nworkers; i++)
		while (!worker_job_done(&rt->workers[i]))
			usleep(1000);
	handover_close_pre(&h);
	free(h.conns);
	free(h.cfds);
	free(h.ls);
	free(h.lfds);
}

static void serve_closing(int fd)
{
	serve(fd);
	close(fd);
}

static void *control_main(void *arg)
{
	accept_until(C.lfd, C.stop[0], serve_closing);
	return arg;
}

int control_bind(struct runtime *rt)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int err;

	if (C.lfd >= 0)
		return 0;
	C.rt = rt;
	err = control_path(rt, C.path, sizeof(C.path));
	if (err)
		return err;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", C.path);
	C.lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (C.lfd < 0)
		return -errno;
	/* A successor unlinks our path and binds its own: the name always
	 * leads to the newest process. */
	unlink(C.path);
	if (bind(C.lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    chmod(C.path, 0600) || listen(C.lfd, 2) || pipe2(C.stop, O_CLOEXEC)) {
		err = -errno;
		pr_warn("control socket %s: %s: live upgrade unavailable", C.path,
			strerror(-err));
		close(C.lfd);
		C.lfd = -1;
		return err;
	}
	return 0;
}

int control_start(struct runtime *rt)
{
	int err = control_bind(rt);

	if (err)
		return err;
	err = pthread_create(&C.thr, NULL, control_main, NULL);
	if (err) {
		close(C.lfd);
		C.lfd = -1;
		return -err;
	}
	C.running = true;
	pr_info("control socket %s (passthru --takeover)", C.path);
	return 0;
}

void control_stop(void)
{
	struct stat a, b;

	if (!C.running)
		return;
	if (write(C.stop[1], "x", 1) < 0) {
		/* the thread stops at its next poll anyway */
	}
	pthread_join(C.thr, NULL);
	/* Remove the path only if it is still ours. */
	if (!stat(C.path, &a) && !fstat(C.lfd, &b) && a.st_ino == b.st_ino)
		unlink(C.path);
	close(C.lfd);
	close(C.stop[0]);
	close(C.stop[1]);
	C.running = false;
}

/* ---- the successor --------------------------------------------------------- */

static int tk_connect(const struct runtime *rt, struct inherited *in)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[108];
	int err = control_path(rt, path, sizeof(path));

	if (err)
		return err;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	in->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (in->sock < 0)
		return -errno;
	if (connect(in->sock, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		pr_err("takeover: no running passthru at %s: %s", path, strerror(-err));
		return err;
	}
	return 0;
}

/* STATE, the answer to PREPARE or HELLO: the maps come with the first. */
static int recv_state(struct inherited *in, struct tk_state *st, uint16_t asked)
{
	struct tk_hdr h;
	int fds[TK_MAX_FDS], nfds, err;

	err = send_msg(in->sock, asked, NULL, 0, NULL, 0);
	if (!err)
		err = recv_msg(in->sock, &h, st, sizeof(*st), fds, &nfds, 10000);
	if (!err && (h.type != TK_STATE || h.len != sizeof(*st))) {
		close_all(fds, nfds);
		err = -EPROTO;
	}
	if (err)
		return err;
	if (in->prepared) {
		close_all(fds, nfds);	/* the maps came with PREPARE's answer */
		return 0;
	}
	in->kernel = st->kernel;
	in->max_connections = st->max_connections;
	snprintf(in->cgroup, sizeof(in->cgroup), "%s", st->cgroup);
	for (int i = 0; i < nfds; i++) {
		if (i < KP_NFDS)
			in->bpf[i] = fds[i];
		else
			close(fds[i]);
	}
	return 0;
}

static void tk_failed(int err)
{
	pr_err("takeover: %s", err == -EPROTONOSUPPORT ?
	       "the running passthru is an incompatible build" :
	       err == -EPROTO ? "unexpected answer" : strerror(-err));
}

int takeover_prepare(const struct runtime *rt, struct inherited *in)
{
	struct tk_state st;
	int err;

	memset(in, 0, sizeof(*in));
	in->sock = -1;
	for (int i = 0; i < KP_NFDS; i++)
		in->bpf[i] = -1;
	err = tk_connect(rt, in);
	if (err)
		return err;
	err = recv_state(in, &st, TK_PREPARE);
	if (err == -ECONNRESET) {
		/* A predecessor from before PREPARE: it pauses from HELLO. */
		pr_info("takeover: the running passthru does not prepare: it pauses while this one loads");
		close(in->sock);
		in->sock = -1;
		err = tk_connect(rt, in);
		if (!err)
			err = takeover_receive(rt, in);
		return err;
	}
	if (err) {
		tk_failed(err);
		return err;
	}
	in->prepared = true;
	return 0;
}

int takeover_receive(const struct runtime *rt, struct inherited *in)
{
	struct tk_state st;
	struct tk_hdr h;
	int fds[TK_MAX_FDS], nfds, err;

	(void)rt;
	if (in->received)
		return 0;
	err = recv_state(in, &st, TK_HELLO);
	if (err) {
		tk_failed(err);
		return err;
	}
	in->ls = calloc(st.nls + 1, sizeof(*in->ls));
	in->conns = calloc(st.nconns + 1, sizeof(*in->conns));
	in->cfds = calloc(st.nconns + 1, sizeof(*in->cfds));
	if (!in->ls || !in->conns || !in->cfds)
		return -ENOMEM;
	for (;;) {
		union {
			struct tk_listen l;
			struct xconn c;
		} u;

		err = recv_msg(in->sock, &h, &u, sizeof(u), fds, &nfds, 10000);
		if (err)
			return err;
		if (h.type == TK_END)
			break;
		if (h.type == TK_LISTEN && nfds == 1 && in->nls < (int)st.nls) {
			in->ls[in->nls].addr = u.l.addr;
			in->ls[in->nls].addrlen = u.l.addrlen;
			in->ls[in->nls].worker = u.l.worker;
			in->ls[in->nls].fd = fds[0];
			in->nls++;
		} else if (h.type == TK_CONN && nfds == u.c.nfds && nfds <= XCONN_MAX_FDS &&
			   in->nconns < (int)st.nconns) {
			in->conns[in->nconns] = u.c;
			memcpy(in->cfds[in->nconns], fds, sizeof(int) * nfds);
			in->nconns++;
		} else {
			close_all(fds, nfds);
			return -EPROTO;
		}
	}
	in->received = true;
	pr_info("takeover: received %d listening socket%s and %d connection%s%s",
		in->nls, in->nls == 1 ? "" : "s", in->nconns, in->nconns == 1 ? "" : "s",
		in->kernel && !in->prepared ? ", and the kernel path's maps" : "");
	return 0;
}

static int slot_owner(const struct runtime *rt, uint32_t slot)
{
	for (int i = 0; i < rt->nworkers; i++) {
		const struct worker *w = &rt->workers[i];

		if (slot >= w->slots.base && slot - w->slots.base < w->slots.n)
			return i;
	}
	return -1;
}

int takeover_adopt(struct runtime *rt, struct inherited *in)
{
	int rr = 0, err;

	for (int i = 0; i < in->nls; i++) {
		struct worker *w = &rt->workers[in->ls[i].worker % rt->nworkers];

		err = worker_add_listener(w, &in->ls[i].addr, in->ls[i].addrlen, in->ls[i].fd);
		if (err)
			close(in->ls[i].fd);
		in->ls[i].fd = -1;
	}
	for (int i = 0; i < rt->nworkers; i++) {
		err = worker_listen(&rt->workers[i]);
		if (err)
			return err;
	}
	for (int i = 0; i < in->nconns; i++) {
		const struct xconn *x = &in->conns[i];
		int wi = x->has_slot ? slot_owner(rt, x->slot) : rr++ % rt->nworkers;

		if (wi < 0 || conn_import(&rt->workers[wi], x, in->cfds[i])) {
			pr_warn("takeover: could not take connection %d over: closing it", i);
			close_all(in->cfds[i], x->nfds);
		}
		in->conns[i].nfds = 0;
	}
	return 0;
}

int takeover_finish(struct inherited *in)
{
	int err = send_msg(in->sock, TK_OK, NULL, 0, NULL, 0);

	close(in->sock);
	in->sock = -1;
	return err;
}

void inherited_free(struct inherited *in)
{
	for (int i = 0; i < KP_NFDS; i++)
		if (in->bpf[i] >= 0 && !in->kernel)
			close(in->bpf[i]);
	for (int i = 0; i < in->nls; i++)
		if (in->ls[i].fd >= 0)
			close(in->ls[i].fd);
	for (int i = 0; i < in->nconns; i++)
		close_all(in->cfds[i], in->conns[i].nfds);
	free(in->ls);
	free(in->conns);
	free(in->cfds);
	if (in->sock >= 0)
		close(in->sock);
	in->ls = NULL;
	in->conns = NULL;
	in->cfds = NULL;
	in->nls = in->nconns = 0;
	in->sock = -1;
	for (int i = 0; i < KP_NFDS; i++)
		in->bpf[i] = -1;
}
