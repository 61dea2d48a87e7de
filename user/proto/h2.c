// SPDX-License-Identifier: GPL-2.0
/* HTTP/2 with prior knowledge ("h2c"): the client connection preface of
 * RFC 9113 3.4, sent before anything else by clients that know the server
 * speaks HTTP/2 (curl --http2-prior-knowledge, gRPC without TLS).  The
 * HTTP/1 probe refuses "PRI * HTTP/2.0" on purpose, so the two never
 * both claim a connection. */
#include <string.h>

#include "proto/proto.h"

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define PREFACE_LEN (sizeof(preface) - 1)	/* 24 */

/* MATCH once the 24 bytes are in, NO at the first byte that differs. */
static enum sniff_verdict h2_identify(const uint8_t *buf, size_t len,
				      struct sniff *out)
{
	size_t n = len < PREFACE_LEN ? len : PREFACE_LEN;

	(void)out;
	if (memcmp(buf, preface, n))
		return SNIFF_NO;
	return len >= PREFACE_LEN ? SNIFF_MATCH : SNIFF_MORE;
}

static const struct proto_keyword h2_keywords[] = {
	{ "HTTP2", FIELD_ANY, false },
	{ NULL, FIELD_ANY, false },
};

const struct proto proto_h2 = {
	.name = "HTTP2",
	.identify = h2_identify,
	.keywords = h2_keywords,
	/* No hint: every byte of the preface is compared as it comes, so
	 * any byte may answer NO (24 bytes, nothing to save). */
};
