// SPDX-License-Identifier: GPL-2.0
/* Routing decisions: configs through config_parse, ClientHellos from
 * tlsgen, and the first-match order stated in route.h, checked rule by
 * rule, plus the router's hints (what the sniffer waits for). */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "probe.h"
#include "conn/route.h"
#include "sockaddr.h"
#include "tlsgen.h"
#include "unit.h"

extern const struct proto proto_tls;

static char err[8192];
static uint8_t hb[1 << 17];
static struct sockaddr_storage src, dst;

static struct config *load(struct unit_ctx *_u, const char *json)
{
	struct config *c = config_parse(json, strlen(json), "t.json", NULL, 0, err, sizeof(err));

	if (!c)
		FAILF("did not load: %.400s", err);
	return c;
}

static size_t hello(const char *sni, const char *alpn, bool ech, size_t recsize)
{
	struct tlsgen_opts o = { .sni = sni, .alpn = alpn, .ech = ech, .record_size = recsize };
	ssize_t n = tlsgen_client_hello(&o, hb, sizeof(hb));

	return n > 0 ? (size_t)n : 0;
}

/* The rule key chosen for buf (decided, final or not); "-" for no rule,
 * "?" if undecided. */
static const char *route_key(const struct config *c, int li, const void *buf, size_t len,
			     bool final, struct route *rt)
{
	static struct sniff s;
	struct route_in in = { .buf = buf, .len = len, .final = final,
			       .src = (struct sockaddr *)&src, .dst = (struct sockaddr *)&dst };

	if (!route_decide(&c->listeners[li], &in, &s, rt))
		return "?";
	return rt->rule ? rt->rule->key : "-";
}

static const char *tls_key(const struct config *c, const char *sni, const char *alpn, bool ech)
{
	struct route rt;
	size_t n = hello(sni, alpn, ech, 0);

	return route_key(c, 0, hb, n, false, &rt);
}

#define FWD "{\"action\":\"FORWARD\",\"to_addr\":\"127.0.0.1:1\"}"
#define RULE(k) "\"" k "\":" FWD

TEST(sni_forms)
{
	struct config *c = load(_u, "{\"servers\":{\"127.0.0.1:443\":{\"TLS\":{"
		RULE("SNI a.example.com") ","
		RULE("SNI ~^api[0-9]+\\\\.example\\\\.com$") ","
		RULE("SNI *.example.com") ","
		RULE("SNI") ","
		"\"CATCHALL\":{\"action\":\"REJECT\"}}}}}");

	src = sockaddr_of("192.0.2.1", 5000);
	dst = sockaddr_of("127.0.0.1", 443);
	if (!c)
		return;
	CHECK_STR(tls_key(c, "a.example.com", NULL, false), "SNI a.example.com");
	/* case-insensitive, trailing dot ignored */
	CHECK_STR(tls_key(c, "A.Example.COM.", NULL, false), "SNI a.example.com");
	CHECK_STR(tls_key(c, "api7.example.com", NULL, false), "SNI ~^api[0-9]+\\.example\\.com$");
	CHECK_STR(tls_key(c, "API12.EXAMPLE.COM", NULL, false), "SNI ~^api[0-9]+\\.example\\.com$");
	/* a regex is unanchored unless it says so */
	CHECK_STR(tls_key(c, "api7.example.com.evil", NULL, false), "CATCHALL");
	CHECK_STR(tls_key(c, "apix.example.com", NULL, false), "SNI *.example.com");
	CHECK_STR(tls_key(c, "b.c.example.com", NULL, false), "SNI *.example.com");
	CHECK_STR(tls_key(c, "example.com", NULL, false), "CATCHALL");
	CHECK_STR(tls_key(c, NULL, NULL, false), "SNI");
	config_free(c);
}

/* First match in file order, not the most specific: the wildcard listed
 * first wins over the exact name after it. */
TEST(first_match_wins)
{
	struct config *c = load(_u, "{\"servers\":{\"127.0.0.1:443\":{\"TLS\":{"
		RULE("SNI *.example.com") "," RULE("SNI a.example.com") "}}}}");

	if (!c)
		return;
	CHECK_STR(tls_key(c, "a.example.com", NULL, false), "SNI *.example.com");
	config_free(c);
}

TEST(alpn_any_offered)
{
	struct config *c = load(_u, "{\"servers\":{\"127.0.0.1:443\":{\"TLS\":["
		"{\"match\":\"ALPN acme-tls/1\",\"action\":\"REJECT\"},"
		"{\"match\":\"SNI a.example\",\"alpn\":[\"h2\"],\"action\":\"FORWARD\",\"to_addr\":\"127.0.0.1:1\"},"
		"{\"match\":\"SNI a.example\",\"action\":\"FORWARD\",\"to_addr\":\"127.0.0.1:2\"},"
		"{\"match\":\"ALPN ~^http/1\",\"action\":\"REJECT\"}]}}}");
	struct route rt;

	if (!c)
		return;
	/* h2 offered second still counts */
	route_key(c, 0, hb, hello("a.example", "http/1.1,h2", false, 0), false, &rt);
	CHECK(rt.rule && rt.rule->up.t && !strcmp(rt.rule->up.t[0].text, "127.0.0.1:1"));
	route_key(c, 0, hb, hello("a.example", "http/1.1", false, 0), false, &rt);
	CHECK(rt.rule && rt.rule->up.t && !strcmp(rt.rule->up.t[0].text, "127.0.0.1:2"));
	CHECK_STR(tls_key(c, "a.example", "acme-tls/1", false), "ALPN acme-tls/1");
	CHECK_STR(tls_key(c, "b.example", "spdy/3,http/1.0", false), "ALPN ~^http/1");
	CHECK_STR(tls_key(c, "b.example", "h2", false), "-");
	config_free(c);
}

/* Any offered id however many the hello carries: the 17th (one past what
 * passthru used to keep) and the 200th, by key and by condition, with the
 * hello in one record and in 5-byte records. */
TEST(alpn_many_ids)
{
	struct config *c = load(_u, "{\"servers\":{\"127.0.0.1:443\":{\"TLS\":["
		"{\"match\":\"ALPN p16\",\"action\":\"FORWARD\",\"to_addr\":\"127.0.0.1:1\"},"
		"{\"match\":\"SNI a.example\",\"alpn\":[\"x\",\"p199\"],\"action\":\"FORWARD\",\"to_addr\":\"127.0.0.1:2\"},"
		"{\"match\":\"ALPN ~^q[0-9]+$\",\"action\":\"FORWARD\",\"to_addr\":\"127.0.0.1:3\"},"
		"{\"match\":\"CATCHALL\",\"action\":\"REJECT\"}]}}}");
	static char l17[256], l200[2048], lq[2048];
	struct route rt;

	if (!c)
		return;
	for (int i = 0; i < 200; i++) {
		if (i < 17)
			sprintf(l17 + strlen(l17), "%sp%d", i ? "," : "", i);
		sprintf(l200 + strlen(l200), "%sp%d", i ? "," : "", i);
		sprintf(lq + strlen(lq), "%s%s", i ? "," : "", i < 199 ? "zz" : "q7");
	}
	for (size_t rs = 0; rs <= 5; rs += 5) {
		route_key(c, 0, hb, hello("b.example", l17, false, rs), false, &rt);
		CHECK(rt.rule && rt.rule->up.t && !strcmp(rt.rule->up.t[0].text, "127.0.0.1:1"));
		/* 200 ids: p16 is among them too, so the key rule still wins */
		route_key(c, 0, hb, hello("a.example", l200, false, rs), false, &rt);
		CHECK(rt.rule && rt.rule->up.t && !strcmp(rt.rule->up.t[0].text, "127.0.0.1:1"));
		route_key(c, 0, hb, hello("a.example", l200 + strlen("p0,p1,p2,p3,p4,p5,p6,p7,p8,p9,p10,p11,p12,p13,p14,p15,p16,"),
					  false, rs), false, &rt);
		CHECK(rt.rule && rt.rule->up.t && !strcmp(rt.rule->up.t[0].text, "127.0.0.1:2"));
		route_key(c, 0, hb, hello("b.example", lq, false, rs), false, &rt);
		CHECK(rt.rule && rt.rule->up.t && !strcmp(rt.rule->up.t[0].text, "127.0.0.1:3"));
	}
	config_free(c);
}

/* ECH: routed on the outer SNI, and its presence is matchable. */
TEST(ech)
{
	struct config *c = load(_u, "{\"servers\":{\"127.0.0.1:443\":{\"TLS\":["
		"{\"match\":\"SNI public.example\",\"ech\":true,\"action\":\"FORWARD\",\"to_addr\":\"127.0.0.1:1\"},"
		"{\"match\":\"SNI public.example\",\"action\":\"FORWARD\",\"to_addr\":\"127.0.0.1:2\"},"
		"{\"match\":\"ECH\",\"action\":\"FORWARD\",\"to_addr\":\"127.0.0.1:3\"}]}}}");
	struct route rt;

	if (!c)
		return;
	route_key(c, 0, hb, hello("public.example", "h2", true, 0), false, &rt);
	CHECK(rt.rule && !strcmp(rt.rule->up.t[0].text, "127.0.0.1:1"));
	route_key(c, 0, hb, hello("public.example", "h2", false, 0), false, &rt);
	CHECK(rt.rule && !strcmp(rt.rule->up.t[0].text, "127.0.0.1:2"));
	route_key(c, 0, hb, hello("other.example", NULL, true, 0), false, &rt);
	CHECK(rt.rule && !strcmp(rt.rule->up.t[0].text, "127.0.0.1:3"));
	config_free(c);
}

TEST(src_dst_port)
{
	struct config *c = load(_u, "{\"servers\":{\"127.0.0.1:443, 127.0.0.1:8443\":{\"TLS\":["
		"{\"match\":\"SNI a\",\"src\":[\"10.0.0.0/8\",\"2001:db8::/32\"],\"action\":\"FORWARD\",\"to_addr\":\"127.0.0.1:1\"},"
		"{\"match\":\"SNI a\",\"port\":8443,\"action\":\"FORWARD\",\"to_addr\":\"127.0.0.1:2\"},"
		"{\"match\":\"SNI a\",\"dst\":\"127.0.0.2\",\"action\":\"FORWARD\",\"to_addr\":\"127.0.0.1:3\"},"
		"{\"match\":\"SNI a\",\"action\":\"REJECT\"}]}}}");
	struct route rt;
	size_t n = hello("a", NULL, false, 0);

	if (!c)
		return;
	dst = sockaddr_of("127.0.0.1", 443);
	src = sockaddr_of("10.9.8.7", 1);
	route_key(c, 0, hb, n, false, &rt);
	CHECK(rt.rule && rt.rule->action == ACT_FORWARD && !strcmp(rt.rule->up.t[0].text, "127.0.0.1:1"));
	src = sockaddr_of("::ffff:10.9.8.7", 1);	/* a v4 client on a dual-stack socket */
	route_key(c, 0, hb, n, false, &rt);
	CHECK(rt.rule && rt.rule->action == ACT_FORWARD && !strcmp(rt.rule->up.t[0].text, "127.0.0.1:1"));
	src = sockaddr_of("2001:db8:1::5", 1);
	route_key(c, 0, hb, n, false, &rt);
	CHECK(rt.rule && rt.rule->action == ACT_FORWARD && !strcmp(rt.rule->up.t[0].text, "127.0.0.1:1"));
	src = sockaddr_of("11.0.0.1", 1);
	route_key(c, 0, hb, n, false, &rt);
	CHECK(rt.rule && rt.rule->action == ACT_REJECT);
	dst = sockaddr_of("127.0.0.1", 8443);	/* the second listener address */
	route_key(c, 1, hb, n, false, &rt);
	CHECK(rt.rule && rt.rule->action == ACT_FORWARD && !strcmp(rt.rule->up.t[0].text, "127.0.0.1:2"));
	dst = sockaddr_of("127.0.0.2", 443);
	route_key(c, 0, hb, n, false, &rt);
	CHECK(rt.rule && rt.rule->action == ACT_FORWARD && !strcmp(rt.rule->up.t[0].text, "127.0.0.1:3"));
	config_free(c);
}

/* Protocols in file order, each decided before the next is asked. */
TEST(protocol_order)
{
	static const char get[] = "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n";
	struct config *c1 = load(_u, "{\"servers\":{\"127.0.0.1:1\":{"
		"\"REGEX\":{" RULE("REGEX ^GET ") "},\"HTTP\":{" RULE("Host a.example") "}}}}");
	struct config *c2 = load(_u, "{\"servers\":{\"127.0.0.1:1\":{"
		"\"HTTP\":{" RULE("Host a.example") "},\"REGEX\":{" RULE("REGEX ^GET ") "}}}}");
	struct route rt;

	if (!c1 || !c2)
		return;
	CHECK_STR(route_key(c1, 0, get, sizeof(get) - 1, false, &rt), "REGEX ^GET ");
	CHECK_STR(route_key(c2, 0, get, sizeof(get) - 1, false, &rt), "Host a.example");
	/* "GET / HT" is an unfinished request: HTTP, first, makes REGEX wait */
	CHECK_STR(route_key(c2, 0, get, 8, false, &rt), "?");
	config_free(c1);
	config_free(c2);
}

TEST(regex_window)
{
	struct config *c = load(_u, "{\"servers\":{\"127.0.0.1:1\":{\"regex_window\":8,"
		"\"REGEX\":{" RULE("REGEX ^\\\\x16\\\\x03[\\\\x01-\\\\x04]") "," RULE("REGEX ^abc.*xyz") "},"
		"\"CATCHALL\":{\"CATCHALL\":{\"action\":\"REJECT\"}}}}}");
	struct route rt;

	if (!c)
		return;
	CHECK_STR(route_key(c, 0, "\x16\x03\x03\x00", 4, false, &rt), "REGEX ^\\x16\\x03[\\x01-\\x04]");
	CHECK_STR(route_key(c, 0, "\x16\x03\x05\x00", 4, false, &rt), "?");
	CHECK_STR(route_key(c, 0, "abc\1\2xyz", 8, false, &rt), "REGEX ^abc.*xyz");
	CHECK_STR(route_key(c, 0, "abc", 3, false, &rt), "?");
	CHECK_STR(route_key(c, 0, "abc", 3, true, &rt), "CATCHALL");
	CHECK_STR(route_key(c, 0, "abc\1\1\1\1\1xyz", 11, false, &rt), "CATCHALL");
	config_free(c);
}

/* The fixtures of every protocol on one listener: whatever the cut, the
 * route once decided is the same, and the same as on the whole input. */
TEST(segmentation_independent)
{
	static const struct {
		const char *bytes;
		size_t len;
		const char *key;
	} fx[] = {
		{ "GET / HTTP/1.1\r\nHost: h.example\r\n\r\n", 35, "Host h.example" },
		{ "SSH-2.0-OpenSSH_9.2p1\r\n", 23, "SSH" },
		{ "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24, "HTTP2" },
		{ "\x05\x01\x00", 3, "SOCKS5" },
		{ "\x00\x0e\x38\x11\x22\x33\x44\x55\x66\x77\x88\x00\x00\x00\x00\x00", 16, "OPENVPN" },
		{ "<stream:stream to='x.example'>", 30, "Host x.example" },
		{ "\x00\x00\x00\x08\x04\xd2\x16\x2f", 8, "POSTGRES" },
		{ "\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x03\x00\x00\x00", 19, "RDP" },
		{ "\x01\x02garbage\r\n", 11, "CATCHALL" },
	};
	struct config *c = load(_u, "{\"servers\":{\"127.0.0.1:1\":{"
		"\"TLS\":{" RULE("SNI t.example") "},\"HTTP\":{" RULE("Host h.example") "},"
		"\"SSH\":{" RULE("SSH") "},\"HTTP2\":{" RULE("HTTP2") "},\"SOCKS5\":{" RULE("SOCKS5") "},"
		"\"OPENVPN\":{" RULE("OPENVPN") "},\"XMPP\":{" RULE("Host x.example") "},"
		"\"POSTGRES\":{" RULE("POSTGRES") "},\"RDP\":{" RULE("RDP") "},"
		"\"CATCHALL\":{" RULE("CATCHALL") "}}}}");
	struct route rt;

	if (!c)
		return;
	for (size_t i = 0; i < sizeof(fx) / sizeof(fx[0]) && !_u->failed; i++) {
		const char *first = NULL;

		for (size_t k = 1; k <= fx[i].len; k++) {
			const char *got = route_key(c, 0, fx[i].bytes, k, false, &rt);

			if (!first && strcmp(got, "?"))
				first = got;
			else if (first && strcmp(got, first))
				FAILF("fixture %zu: \"%s\" at %zu bytes, \"%s\" before", i, got, k, first);
		}
		CHECK_STR(route_key(c, 0, fx[i].bytes, fx[i].len, true, &rt), fx[i].key);
		if (first)
			CHECK_STR(first, fx[i].key);
	}
	{
		size_t n = hello("t.example", "h2", false, 1);	/* 1-byte records */

		CHECK_STR(route_key(c, 0, hb, n - 1, false, &rt), "?");
		CHECK_STR(route_key(c, 0, hb, n, false, &rt), "SNI t.example");
	}
	config_free(c);
}

/* What the sniffer waits for: the next point where the answer can change,
 * never past it. */
TEST(router_hints)
{
	struct config *c = load(_u, "{\"servers\":{\"127.0.0.1:1\":{"
		"\"TLS\":{" RULE("SNI t.example") "},\"HTTP\":{" RULE("Host h.example") "}}}}");
	static const char fuzz[] = "\x16\x03\x00\x00\x02\x01\x00\x16\x03\x00\x00\x02\x00\xd1";
	struct route rt;

	if (!c)
		return;
	hello("t.example", NULL, false, 0);
	/* the record length once whole; then legacy_version */
	CHECK_STR(route_key(c, 0, hb, 3, false, &rt), "?");
	CHECK_INT(rt.need, 5);
	CHECK_STR(route_key(c, 0, hb, 9, false, &rt), "?");
	CHECK_INT(rt.need, 11);
	CHECK(byteset_empty(&rt.wake));
	/* tlsfuzzer's 2-byte records announcing a 209-byte hello: the next
	 * record's type byte, not the 209 bytes */
	CHECK_STR(route_key(c, 0, fuzz, 7, false, &rt), "?");
	CHECK_INT(rt.need, 8);
	CHECK_STR(route_key(c, 0, fuzz, 14, false, &rt), "?");
	CHECK_INT(rt.need, 15);
	/* in a header name: its end, or a byte that cannot be in one */
	CHECK_STR(route_key(c, 0, "GET /index.html HTTP/1.1\r\nHo", 28, false, &rt), "?");
	CHECK_INT(rt.need, 0);
	CHECK(byteset_has(&rt.wake, ':') && byteset_has(&rt.wake, ' ') &&
	      !byteset_has(&rt.wake, 's'));
	/* in a value: CR, LF or another control byte */
	CHECK_STR(route_key(c, 0, "GET / HTTP/1.1\r\nHost: h.exa", 27, false, &rt), "?");
	CHECK(byteset_has(&rt.wake, '\r') && byteset_has(&rt.wake, '\n') &&
	      byteset_has(&rt.wake, 0x01) && !byteset_has(&rt.wake, '\t') &&
	      !byteset_has(&rt.wake, 'm'));
	config_free(c);
}

/* A hello that began and broke (tlsfuzzer's zero-length-data script: two
 * 2-byte handshake records announcing 209 bytes, then an empty
 * application_data record) is TLS: the TLS CATCHALL takes it; without
 * one, the next protocol or the listener's CATCHALL. */
TEST(broken_hello)
{
	static const char fuzz[] = "\x16\x03\x00\x00\x02\x01\x00\x16\x03\x00\x00\x02\x00\xd1"
				   "\x17\x03\x00\x00\x00";
	struct config *c1 = load(_u, "{\"servers\":{\"127.0.0.1:1\":{"
		"\"TLS\":{" RULE("SNI t.example") ",\"CATCHALL\":{\"action\":\"REJECT\",\"reject\":\"tls-alert\"}},"
		"\"CATCHALL\":{" RULE("CATCHALL") "}}}}");
	struct config *c2 = load(_u, "{\"servers\":{\"127.0.0.1:1\":{"
		"\"TLS\":{" RULE("SNI t.example") "},\"REGEX\":{" RULE("REGEX ^\\\\x16\\\\x03") "},"
		"\"CATCHALL\":{" RULE("CATCHALL") "}}}}");
	struct route rt;

	if (!c1 || !c2)
		return;
	CHECK_STR(route_key(c1, 0, fuzz, 14, false, &rt), "?");
	CHECK_STR(route_key(c1, 0, fuzz, 15, false, &rt), "CATCHALL");
	CHECK_STR(rt.proto, "TLS");
	CHECK(rt.rule && rt.rule->action == ACT_REJECT && rt.rule->reject == REJECT_TLS_ALERT);
	CHECK_STR(route_key(c1, 0, fuzz, sizeof(fuzz) - 1, false, &rt), "CATCHALL");
	CHECK_STR(rt.proto, "TLS");
	CHECK_STR(route_key(c2, 0, fuzz, 15, false, &rt), "REGEX ^\\x16\\x03");
	/* Not a ClientHello at all (a ServerHello's type): not TLS. */
	CHECK_STR(route_key(c1, 0, "\x16\x03\x01\x00\x02\x02\x00", 7, false, &rt), "CATCHALL");
	CHECK_STR(rt.proto, "CATCHALL");
	config_free(c1);
	config_free(c2);
}

/* A protocol whose next decision lies past the cap cannot decide before
 * it: its "no" is known at once, not after the client sent the cap. */
TEST(hint_past_cap)
{
	struct config *c = load(_u, "{\"servers\":{\"127.0.0.1:1\":{"
		"\"TLS\":{" RULE("SNI t.example") "},\"CATCHALL\":{" RULE("CATCHALL") "}}}}");
	struct tlsgen_opts o = { .sni = "t.example", .pad_to = 4000 };
	ssize_t n = tlsgen_client_hello(&o, hb, sizeof(hb));
	struct route rt;
	static struct sniff s;
	struct route_in in = { .buf = hb, .len = 3000, .cap = 2048,
			       .src = (struct sockaddr *)&src, .dst = (struct sockaddr *)&dst };

	if (!c)
		return;
	CHECK(n > 4000);
	/* 3000 bytes in, inside the padding that ends past 4000 */
	CHECK_STR(route_key(c, 0, hb, 3000, false, &rt), "?");
	CHECK(rt.need > 4000);
	CHECK(route_decide(&c->listeners[0], &in, &s, &rt));
	CHECK_STR(rt.proto, "CATCHALL");
	in.cap = 8192;
	CHECK(!route_decide(&c->listeners[0], &in, &s, &rt));
	config_free(c);
}

/* The TLS hint at every prefix of hellos of every record size: it never
 * passes over the byte that completes the hello. */
TEST(tls_hint_sound)
{
	static const size_t rs[] = { 0, 1, 2, 7, 100, 512 };
	static struct sniff s;

	for (size_t i = 0; i < sizeof(rs) / sizeof(rs[0]) && !_u->failed; i++) {
		struct tlsgen_opts o = { .sni = "a.example", .alpn = "h2,http/1.1",
					 .record_size = rs[i], .pad_to = i == 5 ? 1800 : 0 };
		ssize_t n = tlsgen_client_hello(&o, hb, sizeof(hb));

		CHECK(n > 0);
		if (n > 0)
			probe_sweep(_u, &proto_tls, hb, n, SNIFF_MATCH, n, &s);
	}
}

UNIT_MAIN("route", sni_forms, first_match_wins, alpn_any_offered, alpn_many_ids, ech, src_dst_port,
	  protocol_order, regex_window, segmentation_independent, router_hints, broken_hello,
	  hint_past_cap, tls_hint_sound)
