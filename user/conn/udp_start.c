// SPDX-License-Identifier: GPL-2.0
/* How a QUIC flow begins (see udp.h): a client Initial that decrypts
 * from an address without a flow, or one that opens another connection
 * from a flow's address (its port used again); what starts none is
 * dropped and counted, an unknown version answered with a Version
 * Negotiation packet.  The rest of a flow's life is udp_flow.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "base/log.h"
#include "base/metrics.h"
#include "base/util.h"
#include "conn/udp_int.h"
#include "conn/worker.h"
#include "datapath/dgram.h"
#include "proto/quic.h"

#define QUIC_MIN_DGRAM	1200	/* a client Initial's datagram, RFC 9000 14.1 */

/* A Version Negotiation packet (RFC 9000 17.2.1) naming versions 1 and
 * 2, to a client that offered another in a datagram of full size (no
 * amplification: the answer is smaller). */
static void send_vn(struct worker *w, struct usock *us, const union paddr *peer,
		    const union paddr *local, bool has_local, const uint8_t *d, size_t len)
{
	struct udp_worker *u = w->udp;
	uint8_t out[1 + 4 + 1 + 255 + 1 + 255 + 8], rnd = 0;
	struct msghdr h = { 0 };
	struct iovec iov;
	size_t dl, sl, n = 0;

	if (len < 7 || !(d[0] & 0x80))
		return;
	dl = d[5];
	if (6 + dl + 1 > len)
		return;
	sl = d[6 + dl];
	if (7 + dl + sl > len)
		return;
	if (getrandom(&rnd, 1, GRND_NONBLOCK) != 1)
		rnd = (uint8_t)now_us();
	out[n++] = 0x80 | (rnd & 0x7f);
	memset(out + n, 0, 4);
	n += 4;
	out[n++] = (uint8_t)sl;			/* their source is our destination */
	memcpy(out + n, d + 7 + dl, sl);
	n += sl;
	out[n++] = (uint8_t)dl;
	memcpy(out + n, d + 6, dl);
	n += dl;
	for (int i = 0; i < 2; i++) {
		uint32_t v = i ? QUIC_V2 : QUIC_V1;

		out[n++] = (uint8_t)(v >> 24);
		out[n++] = (uint8_t)(v >> 16);
		out[n++] = (uint8_t)(v >> 8);
		out[n++] = (uint8_t)v;
	}
	iov.iov_base = out;
	iov.iov_len = n;
	h.msg_name = (void *)peer;
	h.msg_namelen = udp_paddr_len(peer);
	h.msg_iov = &iov;
	h.msg_iovlen = 1;
	if (us->any && has_local) {
		h.msg_control = u->txctl;
		h.msg_controllen = dgram_ctl_from(u->txctl, us->l->addr.ss_family, local);
	}
	if (sendmsg(us->fd, &h, MSG_DONTWAIT) < 0) {
		/* dropped like any datagram the socket would not take */
	}
}

/* A flow for datagram i (d/len) of the batch, its first Initial already
 * fed to p (which returned r). */
static void flow_start(struct worker *w, struct usock *us, int i, uint32_t h,
		       const uint8_t *d, size_t len, uint64_t now, struct upend *p, int r)
{
	struct udp_worker *u = w->udp;
	const union paddr *peer = &u->rx.peer[i];
	const struct listener *l = us->l;
	union paddr local;
	bool has_local = dgram_local(&u->rx, i, &local);
	struct uflow *f;

	f = calloc(1, sizeof(*f));
	if (!f || udp_pend_add(p, &w->cfg->set, d, len)) {
		free(f);
		udp_pend_put(u, p);
		udp_drop(w, l, MU_DROP_flow_limit, 1);
		return;
	}
	f->fd = -1;
	f->active = -1;
	f->hash = h;
	f->us = us;
	f->l = l;
	f->cfg = config_get(w->cfg);
	f->client = *peer;
	quic_peek_scid(d, len, &f->scid);
	f->proto = "QUIC";
	f->pend = p;
	f->t0 = f->last = now;
	timer_init(&f->tm);
	/* The address the client sent to, for dst and port conditions. */
	if (has_local && us->any) {
		f->has_local = true;
		f->local = local;
	} else {
		paddr_set(&f->local, &l->addr);
	}
	if (f->local.sa.sa_family == AF_INET)
		f->local.v4.sin_port = htons((uint16_t)addr_port((const struct sockaddr *)&l->addr));
	else
		f->local.v6.sin6_port = htons((uint16_t)addr_port((const struct sockaddr *)&l->addr));
	f->hnext = u->tab[h & u->mask];
	u->tab[h & u->mask] = f;
	f->next = u->flows;
	if (u->flows)
		u->flows->prev = f;
	u->flows = f;
	u->nflows++;
	u->ndeciding++;
	metrics_add(l->mx, w->id, ML_UDP_FLOWS, 1);
	timer_set(&u->th, &f->tm, now + w->cfg->set.sniff_timeout_ms);
	if (r == 1)
		uflow_decide(w, f, now);
}

/* The first datagram of a client we do not know: a flow if it is a
 * client Initial that decrypts, else dropped and counted. */
void uflow_new(struct worker *w, struct usock *us, int i, uint32_t h,
	       uint8_t *d, size_t len, uint64_t now)
{
	struct udp_worker *u = w->udp;
	const union paddr *peer = &u->rx.peer[i];
	const struct listener *l = us->l;
	union paddr local;
	bool has_local = dgram_local(&u->rx, i, &local);
	struct quic_cid dcid;
	struct upend *p;
	uint32_t version;
	int t, r;

	t = quic_peek_dcid(d, len, &dcid, &version);
	if (t == -ENOMSG) {
		udp_drop(w, l, MU_DROP_version_negotiation, 1);
		return;
	}
	if (t == -ENOTSUP) {
		if (len >= QUIC_MIN_DGRAM)
			send_vn(w, us, peer, &local, has_local, d, len);
		udp_drop(w, l, MU_DROP_unknown_version, 1);
		return;
	}
	if (t < 0) {
		udp_drop(w, l, MU_DROP_not_quic, 1);
		return;
	}
	if (t != QUIC_PT_INITIAL) {
		udp_drop(w, l, MU_DROP_not_initial, 1);
		return;
	}
	if (len < QUIC_MIN_DGRAM) {
		udp_drop(w, l, MU_DROP_too_short, 1);
		return;
	}
	if (u->nflows >= u->max_flows || u->ndeciding >= u->max_deciding) {
		udp_drop(w, l, MU_DROP_flow_limit, 1);
		if (now - u->warned_ms > 1000) {
			u->warned_ms = now;
			pr_warn("worker %d: %u UDP flows (%u deciding), the limit (max_udp_flows, max_sniffing): dropping new flows",
				w->id, u->nflows, u->ndeciding);
		}
		return;
	}
	p = udp_pend_get(u);
	if (!p) {
		udp_drop(w, l, MU_DROP_flow_limit, 1);
		return;
	}
	r = quic_initial_feed(&p->hello, d, len);
	if (r < 0 && !p->hello.n_accepted) {
		/* Nothing in it decrypted: no state for it. */
		udp_pend_put(u, p);
		udp_drop(w, l, MU_DROP_bad_initial, 1);
		return;
	}
	flow_start(w, us, i, h, d, len, now, p, r);
}

/* A client that starts a new connection from the address of an old flow
 * (its port used again: a restarted client, a NAT handing the port on)
 * sends an Initial under a new Source Connection ID; the client's own
 * Initials keep theirs for the whole connection, even after a Retry (RFC
 * 9000 7.2).  Routed down the old flow, the new hello would reach the
 * old flow's upstream whatever it names.  So an Initial that opens a
 * connection (it decrypts under the keys of its own Destination
 * Connection ID) with another Source Connection ID ends the old flow and
 * starts a new one.  Clients with empty Source Connection IDs cannot be
 * told apart: they stay on the flow.  The kernel path leaves exactly
 * these datagrams to us (udpfwd.bpf.c). */
bool uflow_replaced(struct worker *w, struct uflow *f, int i, uint8_t *d, size_t len,
		    uint64_t now)
{
	struct udp_worker *u = w->udp;
	struct usock *us = f->us;
	struct quic_cid scid;
	struct upend *p;
	int r;

	if (quic_peek_scid(d, len, &scid) != QUIC_PT_INITIAL || len < QUIC_MIN_DGRAM ||
	    (scid.len == f->scid.len && !memcmp(scid.id, f->scid.id, scid.len)))
		return false;
	if (f->state != UF_DECIDING && u->ndeciding >= u->max_deciding) {
		/* No room to decide it now; not the old upstream's either:
		 * dropped, the client sends it again. */
		udp_drop(w, f->l, MU_DROP_flow_limit, 1);
		return true;
	}
	p = udp_pend_get(u);
	if (!p) {
		udp_drop(w, f->l, MU_DROP_flow_limit, 1);	/* as above */
		return true;
	}
	r = quic_initial_feed(&p->hello, d, len);
	if (r < 0 && !p->hello.n_accepted) {
		udp_pend_put(u, p);	/* not a connection's first Initial */
		return false;
	}
	/* The old connection's datagrams of this batch go first. */
	if (f->in_batch && f->state == UF_FORWARD)
		uflow_send_batch(w, f);
	f->in_batch = false;
	uflow_end(w, f, MU_END_replaced, 0);
	flow_start(w, us, i, f->hash, d, len, now, p, r);
	return true;
}
