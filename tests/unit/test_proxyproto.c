// SPDX-License-Identifier: GPL-2.0
/* PROXY protocol: headers built for upstreams (byte-exact against the
 * spec's layout), and headers parsed from a trusted proxy at every prefix
 * length: "need more" until the last byte, then the exact length. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proxyproto.h"
#include "sockaddr.h"
#include "unit.h"
#include "base/util.h"

static uint8_t out[256];

static int build(int v, const char *src, int sp, const char *dst, int dp)
{
	struct sockaddr_storage a = sockaddr_of(src, sp), b = sockaddr_of(dst, dp);

	memset(out, 0xee, sizeof(out));
	return proxy_build(v, (struct sockaddr *)&a, (struct sockaddr *)&b, out, sizeof(out));
}

static const char *str(const struct sockaddr_storage *ss)
{
	static char buf[2][ADDR_STRLEN];
	static int k;

	k ^= 1;
	return addr_str((const struct sockaddr *)ss, buf[k], sizeof(buf[k]));
}

/* Parse at every prefix, on exact-size copies: 0 until the whole header
 * is there (with *need never past it), then its length. */
static int parse_all(struct unit_ctx *_u, const void *b, size_t len, size_t hdr,
		     struct proxy_info *pi)
{
	int r = 0;

	for (size_t i = 0; i <= len && !_u->failed; i++) {
		uint8_t *copy = malloc(i ? i : 1);
		size_t need = 0;

		memcpy(copy, b, i);
		r = proxy_parse(copy, i, 4096, pi, &need);
		free(copy);
		if (i < hdr && r != 0)
			FAILF("prefix %zu: %d, want 0 (need more)", i, r);
		if (i < hdr && need > hdr)
			FAILF("prefix %zu: need %zu past the header's %zu bytes", i, need, hdr);
		if (i >= hdr && r != (int)hdr)
			FAILF("prefix %zu: %d, want %zu", i, r, hdr);
	}
	return r;
}

/* A broken header: -err (ENOMSG: not a header; EBADMSG: a malformed
 * one; EMSGSIZE: too long) from prefix `at` on, 0 before, and no prefix
 * asks to wait past `at` (a peer that stops there would sit until the
 * sniff deadline, SO_RCVLOWAT keeping us asleep). */
static void bad(struct unit_ctx *_u, const void *b, size_t len, size_t at, int err)
{
	struct proxy_info pi;

	for (size_t i = 0; i <= len && !_u->failed; i++) {
		size_t need;
		int r = proxy_parse(b, i, 4096, &pi, &need);

		if (i < at && r != 0)
			FAILF("prefix %zu: %d, want 0 before %zu", i, r, at);
		if (i < at && need > at)
			FAILF("prefix %zu: need %zu, past the refusal at %zu", i, need, at);
		if (i >= at && r != -err)
			FAILF("prefix %zu: %d, want %d from %zu", i, r, -err, at);
	}
}

#define L(s) s, sizeof(s) - 1

TEST(v1_tcp4)
{
	int n = build(1, "192.0.2.1", 12345, "198.51.100.2", 443);
	static const char want[] = "PROXY TCP4 192.0.2.1 198.51.100.2 12345 443\r\n";

	CHECK_INT(n, sizeof(want) - 1);
	CHECK(!memcmp(out, want, sizeof(want) - 1));
}

TEST(v1_tcp6)
{
	int n = build(1, "2001:db8::1", 40000, "::1", 8443);
	static const char want[] = "PROXY TCP6 2001:db8::1 ::1 40000 8443\r\n";

	CHECK_INT(n, sizeof(want) - 1);
	CHECK(!memcmp(out, want, sizeof(want) - 1));
}

/* A client on a dual-stack [::] listener: ::ffff:a.b.c.d is TCP4. */
TEST(v1_mapped_is_tcp4)
{
	int n = build(1, "::ffff:192.0.2.9", 1000, "::ffff:127.0.0.1", 443);
	static const char want[] = "PROXY TCP4 192.0.2.9 127.0.0.1 1000 443\r\n";

	CHECK_INT(n, sizeof(want) - 1);
	CHECK(!memcmp(out, want, sizeof(want) - 1));
}

/* One of each family: both as IPv6. */
TEST(v1_mixed_is_tcp6)
{
	int n = build(1, "192.0.2.9", 1000, "2001:db8::2", 443);
	static const char want[] = "PROXY TCP6 ::ffff:192.0.2.9 2001:db8::2 1000 443\r\n";

	CHECK_INT(n, sizeof(want) - 1);
	CHECK(!memcmp(out, want, sizeof(want) - 1));
}

TEST(v2_tcp4)
{
	static const uint8_t want[] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
		0x21, 0x11, 0x00, 0x0c, 192, 0, 2, 1, 198, 51, 100, 2, 0x30, 0x39, 0x01, 0xbb,
	};
	int n = build(2, "192.0.2.1", 12345, "198.51.100.2", 443);

	CHECK_INT(n, sizeof(want));
	CHECK(!memcmp(out, want, sizeof(want)));
	CHECK_INT(out[n], 0xee);
}

TEST(v2_tcp6)
{
	int n = build(2, "2001:db8::1", 40000, "2001:db8::2", 443);

	CHECK_INT(n, 16 + 36);
	CHECK_INT(out[12], 0x21);
	CHECK_INT(out[13], 0x21);
	CHECK_INT(out[15], 36);
	CHECK_INT(out[16], 0x20);
	CHECK_INT(out[31], 1);
	CHECK_INT(out[47], 2);
	CHECK_INT(out[48] << 8 | out[49], 40000);
	CHECK_INT(out[50] << 8 | out[51], 443);
}

TEST(build_errors)
{
	struct sockaddr_storage a = sockaddr_of("192.0.2.1", 1), b = sockaddr_of("192.0.2.2", 2);
	struct sockaddr_storage u;

	memset(&u, 0, sizeof(u));
	u.ss_family = AF_UNIX;
	CHECK_INT(proxy_build(3, (void *)&a, (void *)&b, out, sizeof(out)), -EINVAL);
	CHECK_INT(proxy_build(1, (void *)&u, (void *)&b, out, sizeof(out)), -EINVAL);
	CHECK_INT(proxy_build(2, (void *)&a, (void *)&b, out, 20), -ENOSPC);
	CHECK_INT(proxy_build(1, (void *)&a, (void *)&b, out, 20), -ENOSPC);
}

/* What we build, we parse back, at every prefix; bytes after it (the
 * client's data) are not part of it. */
TEST(roundtrip)
{
	static const struct {
		int v;
		const char *src, *dst;
	} cases[] = {
		{ 1, "192.0.2.1", "198.51.100.2" },
		{ 1, "2001:db8::1", "2001:db8::2" },
		{ 2, "192.0.2.1", "198.51.100.2" },
		{ 2, "2001:db8::1", "2001:db8::2" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases) && !_u->failed; i++) {
		struct proxy_info pi;
		uint8_t buf[300];
		int n = build(cases[i].v, cases[i].src, 5555, cases[i].dst, 443);

		memcpy(buf, out, n);
		memcpy(buf + n, "\x16\x03\x01 client data", 16);
		parse_all(_u, buf, n + 16, n, &pi);
		CHECK(pi.has_addr);
		CHECK_INT(pi.version, cases[i].v);
		CHECK_INT(addr_port((struct sockaddr *)&pi.src), 5555);
		CHECK_INT(addr_port((struct sockaddr *)&pi.dst), 443);
		CHECK(strstr(str(&pi.src), cases[i].src));
		CHECK(strstr(str(&pi.dst), cases[i].dst));
	}
}

/* HAProxy's send-proxy output for a client on 127.0.0.1. */
TEST(haproxy_v1)
{
	struct proxy_info pi;
	static const char h[] = "PROXY TCP4 127.0.0.1 127.0.0.1 41234 8443\r\nGET /";

	parse_all(_u, h, sizeof(h) - 1, 43, &pi);
	CHECK_STR(str(&pi.src), "127.0.0.1:41234");
}

TEST(v1_unknown)
{
	struct proxy_info pi;

	parse_all(_u, L("PROXY UNKNOWN\r\n"), 15, &pi);
	CHECK(!pi.has_addr);
	parse_all(_u, L("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"), 35, &pi);
	CHECK(!pi.has_addr);
}

/* LOCAL (a health check from the proxy itself): no address; TLVs after
 * the addresses (here a 7-byte PP2_TYPE_AUTHORITY) are read with it. */
TEST(v2_local_and_tlvs)
{
	uint8_t local[16] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55,
			      0x49, 0x54, 0x0a, 0x20, 0x00, 0x00, 0x00 };
	uint8_t tlv[28 + 7];
	struct proxy_info pi;
	int n = build(2, "192.0.2.1", 1, "192.0.2.2", 2);

	parse_all(_u, local, sizeof(local), 16, &pi);
	CHECK(!pi.has_addr);
	memcpy(tlv, out, n);
	tlv[15] = 12 + 7;
	memcpy(tlv + 28, "\x02\x00\x04host", 7);
	parse_all(_u, tlv, sizeof(tlv), sizeof(tlv), &pi);
	CHECK(pi.has_addr);
	CHECK_STR(str(&pi.src), "192.0.2.1:1");
}

TEST(broken)
{
	uint8_t v2[28];
	int n = build(2, "192.0.2.1", 1, "192.0.2.2", 2);

	bad(_u, L("GET / HTTP/1.1\r\n"), 1, ENOMSG);
	bad(_u, L("PROXZ TCP4"), 5, ENOMSG);
	bad(_u, L("PROXY TCP4 192.0.2.1 192.0.2.2 1 2\n"), 35, EBADMSG);		/* LF only */
	bad(_u, L("PROXY TCP4 192.0.2.1 192.0.2.2 1 65536\r\n"), 40, EBADMSG);
	bad(_u, L("PROXY TCP4 192.0.2.1 192.0.2.2 01 2\r\n"), 37, EBADMSG);
	bad(_u, L("PROXY TCP4 ::1 ::1 1 2\r\n"), 24, EBADMSG);
	bad(_u, L("PROXY TCP6 192.0.2.1 192.0.2.2 1 2\r\n"), 36, EBADMSG);
	bad(_u, L("PROXY TCP4 192.0.2.1 192.0.2.2 1 2 3\r\n"), 38, EBADMSG);
	bad(_u, L("PROXY TCP4 192.0.2.1 192.0.2.2 1 2 \r\n"), 37, EBADMSG);
	bad(_u, L("PROXY TCP4 1.1.1.1\r\r\n"), 20, EBADMSG);
	memcpy(v2, out, n);
	v2[12] = 0x22;	/* unknown command */
	bad(_u, v2, sizeof(v2), 13, EBADMSG);
	v2[12] = 0x21;
	v2[15] = 4;	/* too short for its addresses */
	bad(_u, v2, sizeof(v2), 16, EBADMSG);
	v2[4] = 1;	/* not the signature */
	bad(_u, v2, sizeof(v2), 5, ENOMSG);
}

/* No line end within 107 bytes: refused, not waited for forever. */
TEST(v1_too_long)
{
	char b[200];

	memcpy(b, "PROXY ", 6);
	memset(b + 6, 'x', sizeof(b) - 6);
	bad(_u, b, sizeof(b), 7, EBADMSG);
	memcpy(b, "PROXY TCP4 ", 11);
	memset(b + 11, '1', sizeof(b) - 11);
	bad(_u, b, sizeof(b), PROXY_V1_MAX, EMSGSIZE);
}

TEST(v2_over_max)
{
	struct proxy_info pi;
	size_t need;
	int n = build(2, "192.0.2.1", 1, "192.0.2.2", 2);

	out[14] = 0x10;		/* 4096 + 12 bytes of TLVs */
	CHECK_INT(proxy_parse(out, n, 4096, &pi, &need), -EMSGSIZE);
	CHECK(strstr(proxy_strerror(-EMSGSIZE), "too long") != NULL);
	CHECK(!strcmp(proxy_strerror(-ENOMSG), "not a PROXY header"));
	CHECK(!strcmp(proxy_strerror(-ENODATA), "the PROXY header was cut short"));
}

UNIT_MAIN("proxyproto", v1_tcp4, v1_tcp6, v1_mapped_is_tcp4, v1_mixed_is_tcp6, v2_tcp4,
	  v2_tcp6, build_errors, roundtrip, haproxy_v1, v1_unknown, v2_local_and_tlvs,
	  broken, v1_too_long, v2_over_max)
