// SPDX-License-Identifier: GPL-2.0
/* SOCKS5 probe: the client greeting, at every prefix. */
#include "probe.h"

extern const struct proto proto_socks5;

static struct sniff s;

/* curl 7.88.1 --socks5-hostname: one method, no authentication; then the
 * CONNECT request it sends after the server's choice is not ours. */
TEST(curl) { probe_sweep(_u, &proto_socks5, "\x05\x01\x00", 3, SNIFF_MATCH, 3, &s); }
/* no auth + user/password (curl with credentials), GSSAPI + private */
TEST(two_methods) { probe_sweep(_u, &proto_socks5, "\x05\x02\x00\x02", 4, SNIFF_MATCH, 4, &s); }
TEST(private_method) { probe_sweep(_u, &proto_socks5, "\x05\x02\x01\x80", 4, SNIFF_MATCH, 4, &s); }
TEST(trailing_bytes) { probe_sweep(_u, &proto_socks5, "\x05\x01\x00\x05\x01", 5, SNIFF_MATCH, 3, &s); }
TEST(zero_methods) { probe_sweep(_u, &proto_socks5, "\x05\x00\x00", 3, SNIFF_NO, 2, &s); }
TEST(socks4) { probe_sweep(_u, &proto_socks5, "\x04\x01\x00\x50", 4, SNIFF_NO, 1, &s); }
TEST(method_ff) { probe_sweep(_u, &proto_socks5, "\x05\x02\x00\xff", 4, SNIFF_NO, 4, &s); }
TEST(method_reserved) { probe_sweep(_u, &proto_socks5, "\x05\x01\x0a", 3, SNIFF_NO, 3, &s); }
TEST(http_no) { probe_sweep(_u, &proto_socks5, "GET /", 5, SNIFF_NO, 1, &s); }
/* 255 methods: the longest greeting, the hint says 257 bytes. */
TEST(longest)
{
	uint8_t b[257];

	b[0] = 5;
	b[1] = 255;
	for (int i = 2; i < 257; i++)
		b[i] = (uint8_t)(i % 10);
	probe_sweep(_u, &proto_socks5, b, sizeof(b), SNIFF_MATCH, 257, &s);
}

UNIT_MAIN("proto_socks5", curl, two_methods, private_method, trailing_bytes, zero_methods,
	  socks4, method_ff, method_reserved, http_no, longest)
