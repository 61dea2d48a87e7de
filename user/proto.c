// SPDX-License-Identifier: GPL-2.0
/* The protocol registry: one line per protocol. */
#include <string.h>
#include <strings.h>

#include "proto.h"

extern const struct proto proto_tls;
extern const struct proto proto_http;
extern const struct proto proto_ssh;

const struct proto *const proto_table[] = {
	&proto_tls,
	&proto_http,
	&proto_ssh,
	NULL,
};

const struct proto *proto_find(const char *name)
{
	for (const struct proto *const *p = proto_table; *p; p++)
		if (!strcmp((*p)->name, name))
			return *p;
	return NULL;
}

/* Rule keywords are case-insensitive: "SNI", "sni" and "Sni" are one. */
const struct proto_keyword *proto_keyword(const struct proto *p,
					  const char *word, size_t wlen)
{
	for (const struct proto_keyword *k = p->keywords; k && k->word; k++)
		if (strlen(k->word) == wlen && !strncasecmp(k->word, word, wlen))
			return k;
	return NULL;
}
