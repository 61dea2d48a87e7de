// SPDX-License-Identifier: GPL-2.0
/* SOCKS5 (RFC 1928 3): the client's greeting
 *
 *	VER=5 | NMETHODS (1..255) | METHODS (NMETHODS bytes)
 *
 * Methods are IANA's 0x00-0x09 or the private 0x80-0xfe; 0xff ("none
 * acceptable") is a server's answer, never offered. */
#include "proto/proto.h"

static bool method_ok(uint8_t m)
{
	return m <= 0x09 || (m >= 0x80 && m != 0xff);
}

static enum sniff_verdict socks5_identify(const uint8_t *buf, size_t len,
					  struct sniff *out)
{
	size_t total;

	(void)out;
	if (len < 1)
		return SNIFF_MORE;
	if (buf[0] != 5)
		return SNIFF_NO;
	if (len < 2)
		return SNIFF_MORE;
	if (buf[1] == 0)
		return SNIFF_NO;
	total = 2 + (size_t)buf[1];
	for (size_t i = 2; i < len && i < total; i++)
		if (!method_ok(buf[i]))
			return SNIFF_NO;
	return len >= total ? SNIFF_MATCH : SNIFF_MORE;
}

static const struct proto_keyword socks5_keywords[] = {
	{ "SOCKS5", FIELD_ANY, false },
	{ NULL, FIELD_ANY, false },
};

const struct proto proto_socks5 = {
	.name = "SOCKS5",
	.identify = socks5_identify,
	.keywords = socks5_keywords,
	/* No hint: each method byte is judged as it comes (a greeting is
	 * 257 bytes at most). */
};
