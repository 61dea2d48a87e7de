// SPDX-License-Identifier: GPL-2.0
/* RDP: a TPKT (RFC 1006) carrying an X.224 Connection Request
 * ([MS-RDPBCGR] 2.2.1.1):
 *
 *	03 00 | length (2, whole TPKT) | LI | E0 | dst-ref (2) | src-ref (2) |
 *	class (1) | ["Cookie: mstshash=NAME" CR LF | routingToken CR LF] |
 *	[RDP_NEG_REQ (8)]
 *
 * MATCH once the whole TPKT is in; the mstshash cookie (the user name the
 * client typed, which HAProxy's rdp_cookie routes on) is reported. */
#include <string.h>

#include "proto/proto.h"

#define TPKT_MIN	11	/* 4 TPKT + 7 X.224 CR */
#define TPKT_MAX	4096
#define X224_CR		0xe0

static const char cookie[] = "Cookie: mstshash=";
#define COOKIE_LEN (sizeof(cookie) - 1)

static void rdp_clear(struct sniff *out)
{
	out->has_rdp_cookie = false;
	memset(out->rdp_cookie, 0, sizeof(out->rdp_cookie));
}

/* The user data after the 11 fixed bytes: take the cookie if there is
 * one, ending in CR LF within the packet. */
static void rdp_cookie(const uint8_t *p, size_t n, struct sniff *out)
{
	if (n < COOKIE_LEN || memcmp(p, cookie, COOKIE_LEN))
		return;
	p += COOKIE_LEN;
	n -= COOKIE_LEN;
	for (size_t i = 0; i + 1 < n && i < sizeof(out->rdp_cookie); i++) {
		if (p[i] == '\r' && p[i + 1] == '\n') {
			if (!i || memchr(p, 0, i))
				return;
			memcpy(out->rdp_cookie, p, i);
			out->has_rdp_cookie = true;
			return;
		}
	}
}

static enum sniff_verdict rdp_identify(const uint8_t *buf, size_t len,
				       struct sniff *out)
{
	size_t tlen;

	rdp_clear(out);
	if ((len >= 1 && buf[0] != 3) || (len >= 2 && buf[1] != 0))
		return SNIFF_NO;
	if (len < 4)
		return SNIFF_MORE;
	tlen = (size_t)buf[2] << 8 | buf[3];
	if (tlen < TPKT_MIN || tlen > TPKT_MAX)
		return SNIFF_NO;
	/* LI counts the X.224 bytes after itself. */
	if (len >= 5 && buf[4] != tlen - 5)
		return SNIFF_NO;
	if (len >= 6 && buf[5] != X224_CR)
		return SNIFF_NO;
	if (len < tlen)
		return SNIFF_MORE;
	rdp_cookie(buf + TPKT_MIN, tlen - TPKT_MIN, out);
	return SNIFF_MATCH;
}

/* LI and the CR code (bytes 4 and 5) are judged as they come; after
 * them, nothing until the TPKT is whole (the cookie cannot refuse it). */
static size_t rdp_hint(const uint8_t *buf, size_t len, struct byteset *wake)
{
	(void)wake;
	return len >= 6 ? (size_t)buf[2] << 8 | buf[3] : 0;
}

static const struct proto_keyword rdp_keywords[] = {
	{ "RDP", FIELD_ANY, false },
	{ "Cookie", FIELD_RDP_COOKIE, false },
	{ NULL, FIELD_ANY, false },
};

const struct proto proto_rdp = {
	.name = "RDP",
	.identify = rdp_identify,
	.keywords = rdp_keywords,
	.hint = rdp_hint,
};
