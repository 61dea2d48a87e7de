// SPDX-License-Identifier: GPL-2.0
/* A connection's state for a live upgrade: out of this process
 * (conn_export, in the worker that owns it) and into the next one
 * (conn_import).  Only what the connection needs to go on crosses: for a
 * connection not yet flowing, the client socket, the bytes the sniff read
 * (in a pipe) and the upstream socket it was connecting (the successor
 * routes again, and uses that socket if it picks the same address); for
 * one flowing, its sockets, pipes, kernel slot and counters. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datapath/steer.h"
#include "conn/admit.h"
#include "conn/conn.h"
#include "base/log.h"
#include "base/metrics.h"
#include "datapath/relay.h"
#include "datapath/splice.h"
#include "ops/takeover.h"
#include "base/util.h"

/* A pipe holding len bytes: its read end, or -errno.  The exporter closes
 * it once the handover is over (takeover.c), whatever its outcome. */
static int pre_pipe(const uint8_t *buf, uint32_t len)
{
	int p[2], err = 0, cap;

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK))
		return -errno;
	/* Room for all of it at once (a user over pipe-user-pages-soft gets
	 * one page): a short write would lose the rest. */
	cap = fcntl(p[1], F_GETPIPE_SZ);
	if (cap >= 0 && (uint32_t)cap < len && fcntl(p[1], F_SETPIPE_SZ, (int)len) < 0)
		err = -errno;
	while (!err && len) {
		ssize_t w = write(p[1], buf, len);

		if (w <= 0) {
			err = w < 0 ? -errno : -ENOSPC;
			break;
		}
		buf += w;
		len -= (uint32_t)w;
	}
	close(p[1]);
	if (err) {
		close(p[0]);
		return err;
	}
	return p[0];
}

int conn_export(struct conn *c, struct xconn *x, int fds[XCONN_MAX_FDS])
{
	const struct rule *r = c->rt.rule;
	int n = 0;

	c->shared = true;
	memset(x, 0, sizeof(*x));
	x->age_ms = now_ms() - c->t0_ms;
	memcpy(&x->peer, &c->peer, sizeof(c->peer));
	memcpy(&x->src, &c->src, sizeof(c->src));
	memcpy(&x->dst, &c->dst, sizeof(c->dst));
	memcpy(&x->upaddr, &c->upaddr, sizeof(c->upaddr));
	x->proxied = c->proxied;
	x->no_kernel = c->no_kernel;
	snprintf(x->listener, sizeof(x->listener), "%s", c->l->text);
	fds[n++] = c->cli.fd;
	if (c->st != CS_FLOW) {
		/* Routing starts over in the successor: reset the sniffing
		 * knobs of the socket (and our view of them, should the
		 * handover fail and this process carry on).  What the sniff
		 * read crosses in a pipe, which the successor reads. */
		x->st = CS_SNIFF;
		if (c->st == CS_SNIFF) {
			sniff_done(&c->s->sn);
			sniffer_restart(&c->s->sn);
		}
		if (c->s && c->s->sn.pre_len) {
			int fd = pre_pipe(c->s->sn.pre, c->s->sn.pre_len);

			if (fd < 0) {
				/* Without them the successor would forward the
				 * stream with a hole: it resets the client. */
				pr_warn("conn fd %d: takeover: the %u bytes read while sniffing could not be handed over (%s): the successor resets it",
					c->cli.fd, c->s->sn.pre_len, strerror(-fd));
				x->pre_len = UINT32_MAX;
			} else {
				fds[n++] = fd;
				x->pre_len = c->s->sn.pre_len;
			}
		}
		/* Connecting (or connected, its bytes not yet sent): the
		 * socket goes too, so that the upstream does not see this
		 * attempt reset and another begin (a server that spoke first
		 * would have spoken to nobody). */
		if (c->st == CS_CONNECT && c->up.fd >= 0) {
			fds[n++] = c->up.fd;
			x->up_kept = 1;
		}
		x->nfds = n;
		return n;
	}
	x->st = CS_FLOW;
	x->kernel = c->kernel;
	x->has_slot = c->has_slot;
	x->slot = c->slot;
	x->rst_client = c->rst_client;
	if (c->failed) {
		x->failed = c->failed == &c->cli ? 1 : 2;
		x->failed_err = c->failed_err;
		x->failed_age_ms = now_ms() - c->failed_ms;
	}
	if (c->has_slot)
		memcpy(x->cookie, slots_cookie(&c->w->slots, c->slot), sizeof(x->cookie));
	snprintf(x->proto, sizeof(x->proto), "%s", c->rt.proto ? c->rt.proto : "-");
	if (r) {
		snprintf(x->rule, sizeof(x->rule), "%s", r->key);
		x->action = r->action;
		if (r->up.text)
			snprintf(x->upstream, sizeof(x->upstream), "%s", r->up.text);
	}
	fds[n++] = c->up.fd;
	/* A relayed connection crosses as one.  Bytes the relay holds (a
	 * peer's send buffer was full) cannot: they go in a pipe and the
	 * connection carries on through splice(2), here too should the
	 * successor fail. */
	if (c->d[0].relay && (c->d[0].pend_len || c->d[1].pend_len)) {
		for (int i = 0; i < 2; i++) {
			struct dir *d = &c->d[i];

			if (d->pend_len && splice_load(d, d->pend + d->pend_off, d->pend_len))
				pr_warn("conn fd %d: takeover: %u relayed bytes could not be handed over",
					c->cli.fd, d->pend_len);
			relay_release(d);
			d->relay = d->read_blocked = d->dst_full = false;
		}
	}
	for (int i = 0; i < 2; i++) {
		const struct dir *d = &c->d[i];
		struct xdir *xd = &x->d[i];

		xd->relay = d->relay;
		xd->eof = d->eof;
		xd->shut = d->shut;
		xd->kernel = d->kernel;
		xd->frozen = d->frozen;
		xd->dst_full = d->dst_full;
		xd->no_fin = d->no_fin;
		xd->snap = d->snap;
		xd->bytes = d->bytes;
		xd->inpipe = d->inpipe;
		xd->pipe_cap = d->pipe_cap;
		if (d->pipe[0] >= 0) {
			xd->has_pipe = 1;
			fds[n++] = d->pipe[0];
			fds[n++] = d->pipe[1];
		}
	}
	x->nfds = n;
	return n;
}

static const struct listener *find_listener(struct worker *w, const char *text)
{
	for (int i = 0; i < w->cfg->nlisteners; i++)
		if (!strcmp(w->cfg->listeners[i].text, text))
			return &w->cfg->listeners[i];
	return NULL;
}

static const char *proto_name(const char *p)
{
	const struct proto *pr = proto_find(p);

	if (pr)
		return pr->name;
	if (!strcmp(p, "CATCHALL"))
		return "CATCHALL";
	if (!strcmp(p, "TIMEOUT"))
		return "TIMEOUT";
	return "-";
}

/* A connection not flowing whose sniff read bytes came with a pipe of
 * them, after cli (UINT32_MAX: the exporter could not make it). */
static bool has_pre_pipe(const struct xconn *x)
{
	return x->st != CS_FLOW && x->pre_len && x->pre_len != UINT32_MAX;
}

/* The bytes the predecessor's sniff read, from its pipe, in front of the
 * stream again. */
static int pre_import(struct conn *c, const struct xconn *x, int fd)
{
	uint8_t *buf = x->pre_len <= SNIFF_MAX_LIMIT ? malloc(x->pre_len) : NULL;
	uint32_t got = 0;

	while (buf && got < x->pre_len) {
		ssize_t n = read(fd, buf + got, x->pre_len - got);

		if (n <= 0)
			break;
		got += (uint32_t)n;
	}
	close(fd);
	if (!buf || got != x->pre_len) {
		pr_warn("conn fd %d: takeover: %u of the %u bytes the predecessor read while sniffing arrived: reset",
			c->cli.fd, got, x->pre_len);
		free(buf);
		return -EPROTO;
	}
	c->s->sn.pre = buf;
	c->s->sn.pre_len = x->pre_len;
	return 0;
}

int conn_import(struct worker *w, const struct xconn *x,
		const int fds[XCONN_MAX_FDS])
{
	const struct listener *l = find_listener(w, x->listener);
	struct listener *own_l = NULL;
	struct rule *r;
	struct conn *c;
	int n = 1;

	if (!l) {
		/* Its listener is gone from this configuration: keep a copy
		 * of what the log and the counters need. */
		own_l = calloc(1, sizeof(*own_l));
		if (!own_l || !(own_l->text = strdup(x->listener))) {
			free(own_l);
			return -ENOMEM;
		}
		own_l->mx = metrics_listener(own_l->text);
		l = own_l;
	}
	c = conn_new(w, l, fds[0], &x->peer);
	if (!c) {
		if (own_l) {
			free(own_l->text);
			free(own_l);
		}
		return -ENOMEM;
	}
	c->owns_l = own_l != NULL;
	c->shared = true;
	c->t0_ms = now_ms() - x->age_ms;
	paddr_set(&c->src, &x->src);
	paddr_set(&c->dst, &x->dst);
	c->proxied = x->proxied;
	c->no_kernel = x->no_kernel;
	/* The predecessor's counts stay there: counted again here. */
	admit_import(c);
	if (x->st != CS_FLOW) {
		int k = has_pre_pipe(x) ? 2 : 1;

		if (x->up_kept && k < x->nfds) {
			/* After the pipe, if there is one; the setup closes it
			 * unless routing picks its address again. */
			c->s->kept = true;
			c->s->kept_fd = fds[k];
			paddr_set(&c->s->kept_addr, &x->upaddr);
		}
		if (x->pre_len == UINT32_MAX || (has_pre_pipe(x) && pre_import(c, x, fds[1]))) {
			c->rst_client = true;
			conn_end(c, ME_no_resources, EPROTO);
			return 0;
		}
		conn_sniff_start(c);
		return 0;
	}

	r = calloc(1, sizeof(*r));
	if (!r || !(r->key = strdup(x->rule)) ||
	    (x->upstream[0] && !(r->up.text = strdup(x->upstream)))) {
		if (r)
			free(r->key);
		free(r);
		conn_end(c, ME_kernel_error, ENOMEM);
		return -ENOMEM;
	}
	r->action = x->action;
	r->mx = metrics_rule(l->text, x->proto, x->rule);
	c->rt.rule = r;
	c->owns_rule = true;
	c->rt.proto = proto_name(x->proto);
	paddr_set(&c->upaddr, &x->upaddr);
	c->up.fd = fds[n++];
	c->kernel = x->kernel;
	c->rst_client = x->rst_client;
	if (x->failed) {
		c->failed = x->failed == 1 ? &c->cli : &c->up;
		c->failed_err = (int16_t)x->failed_err;
		c->failed_ms = now_ms() - x->failed_age_ms;
		/* Progress is counted from here: an upgrade is not a read. */
		sock_bytes_acked(c->failed == &c->cli ? c->up.fd : c->cli.fd,
				 &c->failed_acked);
	}
	if (x->has_slot) {
		if (slots_claim(&w->slots, x->slot, c)) {
			pr_err("takeover: slot %u is not this worker's", x->slot);
			if (x->kernel)
				kpath_forget(x->cookie);
			conn_end(c, ME_kernel_error, EINVAL);
			return -EINVAL;
		}
		memcpy(slots_cookie(&w->slots, x->slot), x->cookie, sizeof(x->cookie));
		c->has_slot = true;
		c->slot = x->slot;
	}
	for (int i = 0; i < 2; i++) {
		const struct xdir *xd = &x->d[i];
		struct dir *d = &c->d[i];

		d->eof = xd->eof;
		d->shut = xd->shut;
		d->kernel = xd->kernel;
		d->frozen = xd->frozen;
		d->dst_full = xd->dst_full;
		d->no_fin = xd->no_fin;
		d->relay = xd->relay;
		d->snap = xd->snap;
		d->bytes = xd->bytes;
		d->inpipe = xd->inpipe;
		d->pipe_cap = xd->pipe_cap;
		if (xd->has_pipe) {
			d->pipe[0] = fds[n++];
			d->pipe[1] = fds[n++];
		}
	}
	conn_setup_done(c);	/* it flows: nothing to set up */
	c->st = CS_FLOW;
	/* A freeze the predecessor had not applied yet (its event in a
	 * worker's queue) is in the slot: take it from there. */
	flow_resync(c);
	/* Watch the sockets again, and pick up drains and thaws that were
	 * waiting in the predecessor. */
	if (c->st == CS_FLOW)
		flow_tick(c);
	return 0;
}

void handover_close_pre(struct handover *h)
{
	for (int i = 0; i < h->nconns; i++)
		if (has_pre_pipe(&h->conns[i])) {	/* cli, pipe [, up]: ours */
			close(h->cfds[i][1]);
			h->conns[i].pre_len = 0;
		}
}

/* In the worker's thread (a worker_job): export every connection and
 * listening socket, then wait for the successor's verdict. */
void handover_worker(struct worker *w, void *arg)
{
	struct handover *h = arg;

	pthread_mutex_lock(&h->mu);
	for (struct conn *c = w->conns; c; c = c->next) {
		if (h->nconns == h->cap) {
			int cap = h->cap ? 2 * h->cap : 256;
			struct xconn *x = realloc(h->conns, cap * sizeof(*x));
			int (*f)[XCONN_MAX_FDS] = realloc(h->cfds, cap * sizeof(*f));

			if (x)
				h->conns = x;
			if (f)
				h->cfds = f;
			if (!x || !f)
				break;
			h->cap = cap;
		}
		conn_export(c, &h->conns[h->nconns], h->cfds[h->nconns]);
		h->nconns++;
	}
	for (int i = 0; i < w->nls; i++) {
		if (w->ls[i].fd < 0)
			continue;
		if (h->nls == h->lcap) {
			int cap = h->lcap ? 2 * h->lcap : 64;
			struct tk_listen *l = realloc(h->ls, cap * sizeof(*l));
			int *f = realloc(h->lfds, cap * sizeof(*f));

			if (l)
				h->ls = l;
			if (f)
				h->lfds = f;
			if (!l || !f)
				break;
			h->lcap = cap;
		}
		memset(&h->ls[h->nls], 0, sizeof(h->ls[0]));
		h->ls[h->nls].addr = w->ls[i].l->addr;
		h->ls[h->nls].addrlen = w->ls[i].l->addrlen;
		h->ls[h->nls].worker = w->id;
		h->lfds[h->nls] = w->ls[i].fd;
		h->nls++;
		steer_leave(w->ls[i].fd, w->id);
	}
	/* This thread's batched log lines go out before it waits: on an OK
	 * the process _exit()s under it, and they would be gone. */
	log_flush();
	h->paused++;
	pthread_cond_broadcast(&h->cv);
	/* Until the successor says OK (then the process exits under us) or
	 * fails (then we carry on). */
	while (!h->resume)
		pthread_cond_wait(&h->cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
	/* The successor failed; it may have attached its steering program,
	 * whose workers are gone: ours again. */
	for (int i = 0; i < w->nls; i++)
		if (w->ls[i].fd >= 0)
			steer_join(w->ls[i].fd, w->id);
}
