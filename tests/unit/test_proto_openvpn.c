// SPDX-License-Identifier: GPL-2.0
/* OpenVPN (TCP) probe: the client's hard reset, at every prefix. */
#include "probe.h"

extern const struct proto proto_openvpn, proto_postgres;

static struct sniff s;

/* P_CONTROL_HARD_RESET_CLIENT_V2, key 0, no tls-auth: length 14. */
static const uint8_t reset_v2[] = {
	0x00, 0x0e, 0x38, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
	0x00, 0x00, 0x00, 0x00, 0x00,
};

/* The same with tls-auth: an HMAC-SHA1 and a replay id, length 42. */
static uint8_t reset_auth[2 + 42] = { 0x00, 0x2a, 0x38 };

/* tls-crypt-v2 (opcode 10), length 300 (a wrapped client key). */
static uint8_t reset_v3[2 + 300] = { 0x01, 0x2c, 0x50 };

TEST(hard_reset_v2) { probe_sweep(_u, &proto_openvpn, reset_v2, sizeof(reset_v2), SNIFF_MATCH, 16, &s); }
TEST(tls_auth) { probe_sweep(_u, &proto_openvpn, reset_auth, sizeof(reset_auth), SNIFF_MATCH, 44, &s); }
TEST(tls_crypt_v2) { probe_sweep(_u, &proto_openvpn, reset_v3, sizeof(reset_v3), SNIFF_MATCH, 302, &s); }
TEST(wrong_opcode)
{
	uint8_t b[sizeof(reset_v2)];

	memcpy(b, reset_v2, sizeof(b));
	b[2] = 0x40;	/* P_CONTROL_HARD_RESET_SERVER_V2: a server's */
	probe_sweep(_u, &proto_openvpn, b, sizeof(b), SNIFF_NO, 3, &s);
}
TEST(key_id_not_0)
{
	uint8_t b[sizeof(reset_v2)];

	memcpy(b, reset_v2, sizeof(b));
	b[2] = 0x39;
	probe_sweep(_u, &proto_openvpn, b, sizeof(b), SNIFF_NO, 3, &s);
}
TEST(too_short) { probe_sweep(_u, &proto_openvpn, "\x00\x05\x38\x00\x00\x00\x00", 7, SNIFF_NO, 2, &s); }
TEST(too_long) { probe_sweep(_u, &proto_openvpn, "\x09\x00\x38", 3, SNIFF_NO, 1, &s); }
/* A PostgreSQL SSLRequest starts with 00 00: not a packet length. */
TEST(postgres_no)
{
	static const uint8_t ssl[] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f };

	probe_sweep(_u, &proto_openvpn, ssl, sizeof(ssl), SNIFF_NO, 2, &s);
	CHECK_INT(probe_run(&proto_postgres, reset_v2, sizeof(reset_v2), &s), SNIFF_NO);
}

UNIT_MAIN("proto_openvpn", hard_reset_v2, tls_auth, tls_crypt_v2, wrong_opcode, key_id_not_0,
	  too_short, too_long, postgres_no)
