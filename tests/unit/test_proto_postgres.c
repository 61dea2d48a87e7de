// SPDX-License-Identifier: GPL-2.0
/* PostgreSQL probe: the first message, at every prefix. */
#include "probe.h"

extern const struct proto proto_postgres;

static struct sniff s;

/* psql 15 "sslmode=prefer": SSLRequest first. */
static const uint8_t ssl_request[] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f };
static const uint8_t gssenc[] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30 };
static const uint8_t cancel[] = { 0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e,
				  0, 0, 0x30, 0x39, 1, 2, 3, 4 };
/* psql "sslmode=disable": the StartupMessage itself, protocol 3.0. */
static const uint8_t startup[] = {
	0, 0, 0, 0x25, 0, 3, 0, 0, 'u', 's', 'e', 'r', 0, 'p', 'o', 's', 't',
	'g', 'r', 'e', 's', 0, 'd', 'a', 't', 'a', 'b', 'a', 's', 'e', 0,
	'x', 0, 0, 0, 0, 0,
};

TEST(sslrequest) { probe_sweep(_u, &proto_postgres, ssl_request, 8, SNIFF_MATCH, 8, &s); }
TEST(gssenc_request) { probe_sweep(_u, &proto_postgres, gssenc, 8, SNIFF_MATCH, 8, &s); }
TEST(cancel_request) { probe_sweep(_u, &proto_postgres, cancel, sizeof(cancel), SNIFF_MATCH, 8, &s); }
TEST(startup_v3) { probe_sweep(_u, &proto_postgres, startup, sizeof(startup), SNIFF_MATCH, 8, &s); }
TEST(startup_v2_no)
{
	uint8_t b[8] = { 0, 0, 1, 0x28, 0, 2, 0, 0 };

	probe_sweep(_u, &proto_postgres, b, 8, SNIFF_NO, 6, &s);
}
TEST(ssl_wrong_length)
{
	uint8_t b[8];

	memcpy(b, ssl_request, 8);
	b[3] = 9;
	probe_sweep(_u, &proto_postgres, b, 8, SNIFF_NO, 8, &s);
}
TEST(unknown_code)
{
	uint8_t b[8];

	memcpy(b, ssl_request, 8);
	b[7] = 0x31;
	probe_sweep(_u, &proto_postgres, b, 8, SNIFF_NO, 8, &s);
}
TEST(big_length_no) { probe_sweep(_u, &proto_postgres, "\x00\x01", 2, SNIFF_NO, 2, &s); }
TEST(tls_no) { probe_sweep(_u, &proto_postgres, "\x16\x03\x01", 3, SNIFF_NO, 1, &s); }

UNIT_MAIN("proto_postgres", sslrequest, gssenc_request, cancel_request, startup_v3,
	  startup_v2_no, ssl_wrong_length, unknown_code, big_length_no, tls_no)
