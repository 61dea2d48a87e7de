// SPDX-License-Identifier: GPL-2.0
/* The protocol registry: one line per protocol. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "proto.h"

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

/* Keywords of the first three probes that their own tables predate. */
static const struct proto_keyword tls_more[] = {
	{ "ECH", FIELD_ECH, false },
	{ NULL, FIELD_ANY, false },
};

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
	const struct proto_keyword *k = lookup(p->keywords, word, wlen);

	if (!k && p == &proto_tls)
		k = lookup(tls_more, word, wlen);
	return k;
}

/* ---- hints of the TLS, HTTP and SSH probes ------------------------------ */

/* The hello is 4 + length handshake bytes, spread over records: once its
 * header is in, every handshake byte still missing is at least one more
 * input byte.  Walking the record headers costs one step per record. */
static size_t tls_hint(const uint8_t *b, size_t len, int *delim)
{
	size_t pos = 0, hs = 0, nh = 0, total;
	uint8_t h[4];

	*delim = -1;
	while (pos + 5 <= len) {
		size_t rlen = (size_t)b[pos + 3] << 8 | b[pos + 4];
		size_t have = len - pos - 5;

		if (have > rlen)
			have = rlen;
		for (size_t i = 0; i < have && nh < 4; i++)
			h[nh++] = b[pos + 5 + i];
		hs += have;
		if (have < rlen)
			break;
		pos += 5 + rlen;
	}
	if (nh < 4)
		return 0;
	total = 4 + ((size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3]);
	return hs < total ? len + (total - hs) : 0;
}

/* HTTP/1 decides at line ends, and on a bad byte, which is then seen at
 * its line's end only: a header block of 16 KiB sent a byte at a time is
 * parsed once a line, not once a byte.  The method is judged byte by
 * byte, so a client that is not HTTP is told at once.  (SSH needs no
 * hint: its line is 255 bytes at most.) */
static size_t http_hint(const uint8_t *b, size_t len, int *delim)
{
	*delim = len < 8 ? -1 : '\n';
	return 0;
}

size_t proto_hint(const struct proto *p, const uint8_t *buf, size_t len,
		  int *delim)
{
	*delim = -1;
	if (p->hint)
		return p->hint(buf, len, delim);
	if (p == &proto_tls)
		return tls_hint(buf, len, delim);
	if (p == &proto_http)
		return http_hint(buf, len, delim);
	return 0;
}
