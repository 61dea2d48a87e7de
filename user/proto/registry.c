// SPDX-License-Identifier: GPL-2.0
/* The protocol registry: one line per protocol. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "proto/proto.h"

extern const struct proto proto_tls;
extern const struct proto proto_http;
extern const struct proto proto_ssh;
extern const struct proto proto_h2;
extern const struct proto proto_socks5;
extern const struct proto proto_openvpn;
extern const struct proto proto_xmpp;
extern const struct proto proto_postgres;
extern const struct proto proto_rdp;
extern const struct proto proto_regex;
extern const struct proto proto_quic;

const struct proto *const proto_table[] = {
	&proto_tls,
	&proto_http,
	&proto_ssh,
	&proto_h2,
	&proto_socks5,
	&proto_openvpn,
	&proto_xmpp,
	&proto_postgres,
	&proto_rdp,
	&proto_regex,
	NULL,
};

const struct proto *proto_find(const char *name)
{
	for (const struct proto *const *p = proto_table; *p; p++)
		if (!strcmp((*p)->name, name))
			return *p;
	return NULL;
}

const struct proto *proto_find_dgram(const char *name)
{
	return !strcmp(name, proto_quic.name) ? &proto_quic : NULL;
}

bool proto_is_tls(const struct proto *p)
{
	return p == &proto_tls || p == &proto_quic;
}

const char *proto_names(void)
{
	static char names[256];

	if (!names[0]) {
		size_t n = 0;

		for (const struct proto *const *p = proto_table; *p; p++)
			n += snprintf(names + n, sizeof(names) - n, "%s%s",
				      n ? ", " : "", (*p)->name);
	}
	return names;
}

static const struct proto_keyword *lookup(const struct proto_keyword *k,
					  const char *word, size_t wlen)
{
	for (; k && k->word; k++)
		if (strlen(k->word) == wlen && !strncasecmp(k->word, word, wlen))
			return k;
	return NULL;
}

/* Rule keywords are case-insensitive: "SNI", "sni" and "Sni" are one. */
const struct proto_keyword *proto_keyword(const struct proto *p,
					  const char *word, size_t wlen)
{
	return lookup(p->keywords, word, wlen);
}

size_t proto_hint(const struct proto *p, const uint8_t *buf, size_t len,
		  struct byteset *wake)
{
	memset(wake, 0, sizeof(*wake));
	return p->hint ? p->hint(buf, len, wake) : 0;
}
