// SPDX-License-Identifier: GPL-2.0
/* What a connection leaves behind when it ends: its log line and its
 * counters (per listener, per rule, by how it ended). */
#include <stdio.h>
#include <string.h>

#include "conn/conn.h"
#include "conn/conn_log.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/resolve.h"
#include "proto/proxyproto.h"
#include "base/util.h"

static void log_line(const struct conn *c, enum m_end reason, int err,
		     uint64_t up, uint64_t down)
{
	char peer[ADDR_STRLEN], upa[ADDR_STRLEN] = "-", via[ADDR_STRLEN + 8] = "";
	const struct rule *r = c->rt.rule;
	bool forwarded = r && r->action == ACT_FORWARD;

	/* The client a PROXY header named, and the proxy it came through. */
	if (c->proxied) {
		memcpy(via, " via=", 5);
		addr_str((const struct sockaddr *)&c->peer, via + 5, sizeof(via) - 5);
	}

	if (forwarded && c->upaddr.sa.sa_family)
		addr_str((const struct sockaddr *)&c->upaddr, upa, sizeof(upa));
	else if (forwarded && r->up.text)
		snprintf(upa, sizeof(upa), "%s", r->up.text);
	log_msg(err && reason != ME_eof ? LOG_WARN : LOG_INFO,
		"conn client=%s%s listen=%s proto=%s rule=\"%s\" action=%s upstream=%s path=%s up=%llu down=%llu ms=%llu end=%s%s%s%s",
		addr_str((const struct sockaddr *)&c->src, peer, sizeof(peer)), via,
		c->l->text, c->rt.proto ? c->rt.proto : "-", r ? r->key : "-",
		!r ? "-" : r->action == ACT_FORWARD ? "FORWARD" : "REJECT", upa,
		!c->kernel ? c->st != CS_FLOW ? "-" : c->d[0].relay ? "relay" : "splice"
			   : c->d[0].kernel && c->d[1].kernel ? "sockmap" : "sockmap+splice",
		(unsigned long long)up, (unsigned long long)down,
		(unsigned long long)(now_ms() - c->t0_ms), metrics_end_name(reason),
		err ? " error=\"" : "",
		!err ? "" : reason == ME_resolve_failed ? dns_strerror(err)
			  : reason == ME_proxy_bad ? proxy_strerror(err) : strerror(err),
		err ? "\"" : "");
}

static void count_end(const struct conn *c, enum m_end reason,
			   const uint64_t bytes[2])
{
	const struct rule *r = c->rt.rule;
	int w = c->w->id;

	metrics_add(c->l->mx, w, ML_CLOSED, 1);
	metrics_end(c->l->mx, w, reason);
	if (!r)
		return;
	metrics_add(r->mx, w, MR_CLOSED, 1);
	metrics_add(r->mx, w, MR_BYTES_UP, bytes[DIR_UP]);
	metrics_add(r->mx, w, MR_BYTES_DOWN, bytes[DIR_DOWN]);
	if (c->st < CS_FLOW && reason >= ME_upstream_reset && reason <= ME_resolve_failed)
		metrics_add(r->mx, w, MR_UPSTREAM_ERRORS, 1);
}

void conn_report(const struct conn *c, enum m_end reason, int err,
		 const uint64_t bytes[2])
{
	/* Refused by a per-source limit: admit.c writes one line per source
	 * and interval, not one per connection of a flood. */
	if (reason != ME_source_limit)
		log_line(c, reason, err, bytes[DIR_UP], bytes[DIR_DOWN]);
	count_end(c, reason, bytes);
}
