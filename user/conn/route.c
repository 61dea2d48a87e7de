// SPDX-License-Identifier: GPL-2.0
#include <string.h>

#include "conn/route.h"
#include "base/util.h"

/* Any offered ALPN id among the rule's "alpn" list, walked in the
 * peeked bytes: every id the hello carries counts, however many. */
static bool alpn_any_of(const struct sniff *s, const struct route_in *in,
			char *const *list, int n)
{
	struct alpn_iter it = { 0 };
	char id[SNIFF_ALPN_LEN + 1];

	while (sniff_alpn_next(s, in->buf, in->len, &it, id))
		for (int i = 0; i < n; i++)
			if (!strcmp(list[i], id))
				return true;
	return false;
}

static bool alpn_key(const struct sniff *s, const struct route_in *in,
		     const struct name_match *m)
{
	struct alpn_iter it = { 0 };
	char id[SNIFF_ALPN_LEN + 1];

	while (sniff_alpn_next(s, in->buf, in->len, &it, id))
		if (name_matches(m, id))
			return true;
	return false;
}

static bool port_in(const struct port_range *p, int n, int port)
{
	for (int i = 0; i < n; i++)
		if (port >= p[i].lo && port <= p[i].hi)
			return true;
	return false;
}

/* The rule object's conditions: all must hold. */
static bool conds_hold(const struct conds *c, const struct sniff *s,
		       const struct route_in *in)
{
	if (c->nsrc && !(in->src && cidr_list_matches(c->src, c->nsrc, in->src)))
		return false;
	if (c->ndst && !(in->dst && cidr_list_matches(c->dst, c->ndst, in->dst)))
		return false;
	if (c->nport && !(in->dst && port_in(c->port, c->nport, addr_port(in->dst))))
		return false;
	if (c->ech >= 0 && s->ech != (c->ech > 0))
		return false;
	if (c->nalpn && !alpn_any_of(s, in, c->alpn, c->nalpn))
		return false;
	return true;
}

/* The rule key. */
static bool key_matches(const struct matcher *m, const struct sniff *s,
			const struct route_in *in)
{
	switch (m->field) {
	case FIELD_ANY:
		return true;
	case FIELD_SNI:
		return name_matches(&m->name, s->has_sni ? s->sni : NULL);
	case FIELD_HOST:
		return name_matches(&m->name, s->has_host ? s->host : NULL);
	case FIELD_ALPN:
		/* Any offered protocol, not only the client's first choice. */
		return alpn_key(s, in, &m->name);
	case FIELD_SSH_BANNER:
		return name_matches(&m->name, s->ssh_banner);
	case FIELD_ECH:
		return s->ech;
	case FIELD_RDP_COOKIE:
		return name_matches(&m->name, s->has_rdp_cookie ? s->rdp_cookie : NULL);
	case FIELD_REGEX:
		return m->has_re && bytes_regex_matches(&m->re, in->buf, in->len);
	}
	return false;
}

bool rule_matches(const struct rule *r, const struct sniff *s,
		  const struct route_in *in)
{
	return !r->catchall && key_matches(&r->m, s, in) && conds_hold(&r->c, s, in);
}

static void route_to(struct route *out, const struct rule *r, const char *proto)
{
	out->rule = r;
	out->proto = proto;
	out->need = 0;
	memset(&out->wake, 0, sizeof(out->wake));
}

bool route_decide(const struct listener *l, const struct route_in *in,
		  struct sniff *s, struct route *out)
{
	for (int g = 0; g < l->ngroups; g++) {
		const struct pgroup *pg = &l->groups[g];
		const struct proto *p = pg->proto;
		enum sniff_verdict v;

		if (!p)
			continue;	/* the CATCHALL protocol: last resort */
		memset(s, 0, sizeof(*s));
		v = p->identify(in->buf, in->len, s);
		if (v == SNIFF_BROKEN) {
			/* Its own protocol, malformed: its CATCHALL answers it
			 * as it should (a TLS server, with the alert a broken
			 * hello deserves).  Without one it is nobody's. */
			if (pg->catchall) {
				route_to(out, pg->catchall, p->name);
				return true;
			}
			continue;
		}
		if (v == SNIFF_MATCH) {
			struct route_in win = *in;

			/* REGEX sees the first regex_window bytes only, so that
			 * what comes after cannot change its answer. */
			if (p->rules_decide && win.len > l->regex_window)
				win.len = l->regex_window;
			for (int i = 0; i < pg->nrules; i++) {
				if (rule_matches(&pg->rules[i], s, &win)) {
					route_to(out, &pg->rules[i], p->name);
					return true;
				}
			}
			if (!p->rules_decide) {
				route_to(out, pg->catchall ? pg->catchall : l->catchall,
					 p->name);
				return true;
			}
			/* REGEX: no rule yet; more bytes may still match. */
			if (in->final || in->len >= l->regex_window)
				continue;
			out->need = 0;
			memset(&out->wake, 0, sizeof(out->wake));
			return false;
		}
		if (v == SNIFF_MORE && !in->final) {
			out->need = proto_hint(p, in->buf, in->len, &out->wake);
			/* Nothing can change before a need past the cap: the
			 * probe will still be unsure there, which is a no. */
			if (in->cap && out->need > in->cap && byteset_empty(&out->wake))
				continue;
			/* This protocol may still match: the ones after it
			 * must wait, whatever they would say. */
			out->rule = NULL;
			return false;
		}
	}
	memset(s, 0, sizeof(*s));
	route_to(out, l->catchall, "CATCHALL");
	return true;
}
