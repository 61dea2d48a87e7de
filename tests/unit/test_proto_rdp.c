// SPDX-License-Identifier: GPL-2.0
/* RDP probe: X.224 Connection Requests, at every prefix. */
#include "probe.h"

extern const struct proto proto_rdp;

static struct sniff s;

/* mstsc: a cookie with the user name, then RDP_NEG_REQ (TLS + CredSSP). */
static const char with_cookie[] =
	"\x03\x00\x00\x2b\x26\xe0\x00\x00\x00\x00\x00"
	"Cookie: mstshash=alice\r\n"
	"\x01\x00\x08\x00\x03\x00\x00\x00";
/* xfreerdp without a user name: RDP_NEG_REQ only. */
static const char no_cookie[] =
	"\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00"
	"\x01\x00\x08\x00\x03\x00\x00\x00";

TEST(cookie)
{
	probe_sweep(_u, &proto_rdp, with_cookie, sizeof(with_cookie) - 1, SNIFF_MATCH, 43, &s);
	CHECK(s.has_rdp_cookie);
	CHECK_STR(s.rdp_cookie, "alice");
}
TEST(without_cookie)
{
	probe_sweep(_u, &proto_rdp, no_cookie, sizeof(no_cookie) - 1, SNIFF_MATCH, 19, &s);
	CHECK(!s.has_rdp_cookie);
}
TEST(cookie_without_crlf)
{
	static const char b[] = "\x03\x00\x00\x1c\x17\xe0\x00\x00\x00\x00\x00"
				"Cookie: mstshash=bob";

	probe_sweep(_u, &proto_rdp, b, sizeof(b) - 1, SNIFF_MATCH, 28, &s);
	CHECK(!s.has_rdp_cookie);
}
TEST(short_tpkt) { probe_sweep(_u, &proto_rdp, "\x03\x00\x00\x05\x00", 5, SNIFF_NO, 4, &s); }
TEST(bad_version) { probe_sweep(_u, &proto_rdp, "\x03\x01\x00\x13", 4, SNIFF_NO, 2, &s); }
TEST(bad_li)
{
	static const char b[] = "\x03\x00\x00\x13\x0d\xe0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x03\x00\x00\x00";

	probe_sweep(_u, &proto_rdp, b, sizeof(b) - 1, SNIFF_NO, 5, &s);
}
TEST(not_cr)
{
	static const char b[] = "\x03\x00\x00\x13\x0e\xd0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x03\x00\x00\x00";

	probe_sweep(_u, &proto_rdp, b, sizeof(b) - 1, SNIFF_NO, 6, &s);
}

UNIT_MAIN("proto_rdp", cookie, without_cookie, cookie_without_crlf, short_tpkt, bad_version,
	  bad_li, not_cr)
