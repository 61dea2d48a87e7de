// SPDX-License-Identifier: GPL-2.0
/* PostgreSQL: the first message of a connection (protocol 3, "Message
 * Flow / Start-up") has no type byte, only
 *
 *	length (int32, itself included) | code (int32)
 *
 * where code is SSLRequest 80877103 and GSSENCRequest 80877104 (length 8),
 * CancelRequest 80877102 (length 16), or protocol version 3.x of a
 * StartupMessage (length 8 + parameters, at most 10000 as the server
 * allows).  Eight bytes settle it. */
#include "proto/proto.h"

#define PG_SSL		80877103u
#define PG_GSSENC	80877104u
#define PG_CANCEL	80877102u
#define PG_V3		0x00030000u
#define PG_STARTUP_MAX	10000u

static uint32_t be32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Is b[0..n) (n <= 4) the start of the 32-bit big-endian x? */
static bool starts(const uint8_t *b, size_t n, uint32_t x)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != (uint8_t)(x >> (24 - 8 * i)))
			return false;
	return true;
}

static enum sniff_verdict pg_identify(const uint8_t *buf, size_t len,
				      struct sniff *out)
{
	size_t n = len < 8 ? len : 8;
	const uint8_t *code = buf + 4;
	size_t nc = n > 4 ? n - 4 : 0;

	(void)out;
	/* The length is below 64 KiB: two zero bytes first. */
	if ((n >= 1 && buf[0]) || (n >= 2 && buf[1]))
		return SNIFF_NO;
	if (nc && !starts(code, nc, PG_SSL) && !starts(code, nc, PG_GSSENC) &&
	    !starts(code, nc, PG_CANCEL) &&
	    !(code[0] == 0 && (nc < 2 || code[1] == 3)))
		return SNIFF_NO;
	if (len < 8)
		return SNIFF_MORE;
	switch (be32(code)) {
	case PG_SSL:
	case PG_GSSENC:
		return be32(buf) == 8 ? SNIFF_MATCH : SNIFF_NO;
	case PG_CANCEL:
		return be32(buf) == 16 ? SNIFF_MATCH : SNIFF_NO;
	default:
		/* 3.x: any minor version a newer client may ask for */
		return (be32(code) >> 16) == 3 && be32(buf) > 8 &&
		       be32(buf) <= PG_STARTUP_MAX ? SNIFF_MATCH : SNIFF_NO;
	}
}

static const struct proto_keyword pg_keywords[] = {
	{ "POSTGRES", FIELD_ANY, false },
	{ NULL, FIELD_ANY, false },
};

const struct proto proto_postgres = {
	.name = "POSTGRES",
	.identify = pg_identify,
	.keywords = pg_keywords,
	/* No hint: each of the eight bytes is judged as it comes. */
};
