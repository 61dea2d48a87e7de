// SPDX-License-Identifier: GPL-2.0
/* HTTP/2 prior-knowledge probe: the 24-byte preface, at every prefix. */
#include "probe.h"

extern const struct proto proto_h2, proto_http;

/* curl 7.88.1 --http2-prior-knowledge: the preface, then SETTINGS. */
static const char curl_h2c[] =
	"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	"\x00\x00\x12\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x64\x00"
	"\x04\x02\x00\x00\x00\x00\x02\x00\x00\x00\x00";

static struct sniff s;

TEST(preface_alone) { probe_sweep(_u, &proto_h2, curl_h2c, 24, SNIFF_MATCH, 24, &s); }
TEST(preface_and_settings)
{
	probe_sweep(_u, &proto_h2, curl_h2c, sizeof(curl_h2c) - 1, SNIFF_MATCH, 24, &s);
}
TEST(http1_no)
{
	static const char get[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";

	probe_sweep(_u, &proto_h2, get, sizeof(get) - 1, SNIFF_NO, 1, &s);
}
TEST(pri_http11_no)
{
	static const char pri[] = "PRI * HTTP/1.1\r\n\r\n";

	probe_sweep(_u, &proto_h2, pri, sizeof(pri) - 1, SNIFF_NO, 12, &s);
}
TEST(http1_probe_refuses_preface)
{
	CHECK_INT(probe_run(&proto_http, curl_h2c, sizeof(curl_h2c) - 1, &s), SNIFF_NO);
}
TEST(tls_no)
{
	static const uint8_t tls[] = { 0x16, 0x03, 0x01, 0x00, 0x10 };

	probe_sweep(_u, &proto_h2, tls, sizeof(tls), SNIFF_NO, 1, &s);
}

UNIT_MAIN("proto_h2", preface_alone, preface_and_settings, http1_no, pri_http11_no,
	  http1_probe_refuses_preface, tls_no)
