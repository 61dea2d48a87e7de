// SPDX-License-Identifier: GPL-2.0
#include <fnmatch.h>
#include <string.h>

#include "route.h"

bool rule_matches(const struct rule *r, const struct sniff *s)
{
	const char *arg = r->m.arg;

	switch (r->m.field) {
	case FIELD_ANY:
		return true;
	case FIELD_SNI:
		return s->has_sni && !strcmp(s->sni, arg);
	case FIELD_HOST:
		return s->has_host && !strcmp(s->host, arg);
	case FIELD_ALPN:
		/* Any offered protocol, not only the client's first choice. */
		for (int i = 0; i < s->n_alpn; i++)
			if (!strcmp(s->alpn[i], arg))
				return true;
		return false;
	case FIELD_SSH_BANNER:
		return !arg || !fnmatch(arg, s->ssh_banner, 0);
	}
	return false;
}

static void route_to(struct route *out, const struct rule *r, const char *proto)
{
	out->rule = r;
	out->proto = proto;
}

bool route_decide(const struct listener *l, const uint8_t *buf, size_t len,
		  bool final, struct sniff *s, struct route *out)
{
	bool undecided = false;

	for (int g = 0; g < l->ngroups; g++) {
		const struct pgroup *pg = &l->groups[g];

		if (!pg->proto)
			continue;	/* the CATCHALL protocol: last resort */
		memset(s, 0, sizeof(*s));
		switch (pg->proto->identify(buf, len, s)) {
		case SNIFF_MATCH:
			for (int i = 0; i < pg->nrules; i++) {
				const struct rule *r = &pg->rules[i];

				if (!r->catchall && rule_matches(r, s)) {
					route_to(out, r, pg->proto->name);
					return true;
				}
			}
			route_to(out, pg->catchall ? pg->catchall : l->catchall,
				 pg->proto->name);
			return true;
		case SNIFF_MORE:
			undecided = true;
			break;
		case SNIFF_NO:
			break;
		}
	}
	if (undecided && !final)
		return false;
	memset(s, 0, sizeof(*s));
	route_to(out, l->catchall, "CATCHALL");
	return true;
}
