// SPDX-License-Identifier: GPL-2.0
/* OpenVPN over TCP: every packet is prefixed by its 16-bit length, and a
 * client's first packet is a hard reset,
 *
 *	length (2) | opcode << 3 | key_id (1) | session id (8) | ...
 *
 * with opcode P_CONTROL_HARD_RESET_CLIENT_V2 (7) or _V3 (10, tls-crypt-v2)
 * and key_id 0.  The whole first packet must be in before we say MATCH:
 * three bytes alone would be a weak signature. */
#include "proto/proto.h"

#define OP_HARD_RESET_CLIENT_V2	7
#define OP_HARD_RESET_CLIENT_V3	10
#define PKT_MIN	14	/* opcode, session id, ack array length, packet id */
#define PKT_MAX	2048	/* tls-crypt-v2 adds a wrapped client key (< 1 KiB) */

static enum sniff_verdict openvpn_identify(const uint8_t *buf, size_t len,
					   struct sniff *out)
{
	size_t plen;
	uint8_t op;

	(void)out;
	if (len < 2)
		return len && buf[0] > (PKT_MAX >> 8) ? SNIFF_NO : SNIFF_MORE;
	plen = (size_t)buf[0] << 8 | buf[1];
	if (plen < PKT_MIN || plen > PKT_MAX)
		return SNIFF_NO;
	if (len < 3)
		return SNIFF_MORE;
	op = buf[2];
	if ((op & 7) || ((op >> 3) != OP_HARD_RESET_CLIENT_V2 &&
			  (op >> 3) != OP_HARD_RESET_CLIENT_V3))
		return SNIFF_NO;
	return len >= 2 + plen ? SNIFF_MATCH : SNIFF_MORE;
}

/* The opcode (third byte) is judged alone; after it, nothing until the
 * packet is whole. */
static size_t openvpn_hint(const uint8_t *buf, size_t len, struct byteset *wake)
{
	(void)wake;
	return len >= 3 ? 2 + ((size_t)buf[0] << 8 | buf[1]) : 0;
}

static const struct proto_keyword openvpn_keywords[] = {
	{ "OPENVPN", FIELD_ANY, false },
	{ NULL, FIELD_ANY, false },
};

const struct proto proto_openvpn = {
	.name = "OPENVPN",
	.identify = openvpn_identify,
	.keywords = openvpn_keywords,
	.hint = openvpn_hint,
};
