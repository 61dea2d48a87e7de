// SPDX-License-Identifier: GPL-2.0
/* Clients that stop to wait for the server after bytes that can no longer
 * become what a probe waits for (issue 14: tlsfuzzer's
 * test-tls13-zero-length-data sends two 2-byte handshake records that
 * announce a 209-byte hello, then an empty application_data record, and
 * waits for the alert).  Each fixture is cut into the segments a client
 * sends with gaps between them, and checked twice:
 *  - the probe alone at every prefix (probe.h): its answer comes at the
 *    byte that decides, and no hint before it asks to wait past it;
 *  - the router as the sniffer drives it: after each segment, a new look
 *    only if the last route's hint says it is worth one (sniff.c's rule:
 *    `need` reached, a wake byte among the new bytes, or any byte); the
 *    route must be decided once the last segment is in, with the right
 *    outcome (the protocol's CATCHALL, or the next protocol), instead of
 *    at the sniff deadline. */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "config/config.h"
#include "probe.h"
#include "conn/route.h"
#include "tlsgen.h"

extern const struct proto proto_tls, proto_http, proto_ssh, proto_h2,
	proto_socks5, proto_openvpn, proto_xmpp, proto_postgres, proto_rdp;

#define FWD "{\"action\":\"FORWARD\",\"to_addr\":\"127.0.0.1:1\"}"
#define RULE(k) "\"" k "\":" FWD

/* Every probe on one listener, TLS and HTTP with their own CATCHALL. */
static const char cfg_all[] = "{\"servers\":{\"127.0.0.1:1\":{"
	"\"TLS\":{" RULE("SNI t.example") ",\"CATCHALL\":{\"action\":\"REJECT\",\"reject\":\"tls-alert\"}},"
	"\"HTTP\":{" RULE("Host h.example") "," RULE("CATCHALL") "},"
	"\"SSH\":{" RULE("SSH") "},\"HTTP2\":{" RULE("HTTP2") "},\"SOCKS5\":{" RULE("SOCKS5") "},"
	"\"OPENVPN\":{" RULE("OPENVPN") "},\"XMPP\":{" RULE("Host x.example") "},"
	"\"POSTGRES\":{" RULE("POSTGRES") "},\"RDP\":{" RULE("RDP") "},"
	"\"CATCHALL\":{" RULE("CATCHALL") "}}}}";

static char err[8192];
static uint8_t buf[1 << 16];

static struct config *load(struct unit_ctx *_u, const char *json)
{
	struct config *c = config_parse(json, strlen(json), "t.json", NULL, 0, err, sizeof(err));

	if (!c)
		FAILF("did not load: %.400s", err);
	return c;
}

/* The bytes in segments ending at cuts[0..n) (the last is the length),
 * looked at as the sniffer would.  Returns the input length the route
 * was decided at (0: never, i.e. at the sniff deadline). */
static size_t deliver(const struct listener *l, const uint8_t *b, const size_t *cuts,
		      size_t n, struct route *rt)
{
	static struct sniff s;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(1) };
	size_t peeked = 0;
	bool looked = false;

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	memset(rt, 0, sizeof(*rt));
	for (size_t k = 0; k < n; k++) {
		struct route_in in = { .buf = b, .len = cuts[k], .cap = 16384,
				       .src = (struct sockaddr *)&a,
				       .dst = (struct sockaddr *)&a };
		bool worth = !looked;

		if (looked && rt->need && cuts[k] >= rt->need)
			worth = true;
		else if (looked && !byteset_empty(&rt->wake))
			worth = byteset_any(&rt->wake, b + peeked, cuts[k] - peeked);
		else if (looked)
			worth = !rt->need;
		if (!worth)
			continue;
		looked = true;
		peeked = cuts[k];
		if (route_decide(l, &in, &s, rt))
			return cuts[k];
	}
	return 0;
}

struct stall {
	const char *name;
	const char *bytes;
	size_t cuts[4];			/* segment ends, the last = length */
	const struct proto *p;		/* the probe that waits */
	enum sniff_verdict v;		/* its answer, */
	size_t at;			/* at this length */
	const char *proto, *key;	/* the route */
};

#define NCUTS(f) ((f)->cuts[3] ? 4 : (f)->cuts[2] ? 3 : (f)->cuts[1] ? 2 : 1)

static void check(struct unit_ctx *_u, const struct config *c, const struct stall *f,
		  const uint8_t *b)
{
	static struct sniff s;
	struct route rt;
	size_t n = NCUTS(f), len = f->cuts[n - 1], got;
	int failed = _u->failed;

	probe_sweep(_u, f->p, b, len, f->v, f->at, &s);
	got = deliver(&c->listeners[0], b, f->cuts, n, &rt);
	if (got != len)
		FAILF("routed at %zu bytes, want %zu (the last segment): the client waits", got, len);
	else if (strcmp(rt.proto, f->proto) || strcmp(rt.rule ? rt.rule->key : "-", f->key))
		FAILF("routed to %s \"%s\", want %s \"%s\"", rt.proto,
		      rt.rule ? rt.rule->key : "-", f->proto, f->key);
	if (_u->failed && !failed)
		snprintf(_u->why + strlen(_u->why), sizeof(_u->why) - strlen(_u->why),
			 " (%s)", f->name);
}

static const struct stall fixtures[] = {
	/* tlsfuzzer test-tls13-zero-length-data, record by record */
	{ "tls-zero-length-data",
	  "\x16\x03\x00\x00\x02\x01\x00\x16\x03\x00\x00\x02\x00\xd1\x17\x03\x00\x00\x00",
	  { 7, 14, 19 }, &proto_tls, SNIFF_BROKEN, 15, "TLS", "CATCHALL" },
	/* a whole first record announcing more, then an alert */
	{ "tls-alert-after-a-record",
	  "\x16\x03\x01\x00\x05\x01\x00\x00\xd1\x03\x15\x03\x03\x00\x02\x02\x28",
	  { 10, 17 }, &proto_tls, SNIFF_BROKEN, 11, "TLS", "CATCHALL" },
	/* a change_cipher_spec before the hello's second byte */
	{ "tls-ccs-after-type",
	  "\x16\x03\x03\x00\x01\x01\x14\x03\x03\x00\x01\x01",
	  { 6, 12 }, &proto_tls, SNIFF_BROKEN, 7, "TLS", "CATCHALL" },
	/* a bad byte inside a header value, a name, a target: no LF comes */
	{ "http-control-byte-in-value", "GET / HTTP/1.1\r\nHost: a\x01",
	  { 16, 23, 24 }, &proto_http, SNIFF_NO, 24, "CATCHALL", "CATCHALL" },
	{ "http-space-in-name", "GET / HTTP/1.1\r\nX Y",
	  { 16, 17, 18 }, &proto_http, SNIFF_NO, 18, "CATCHALL", "CATCHALL" },
	{ "http-del-in-target", "GET /a\x7f", { 6, 7 }, &proto_http, SNIFF_NO, 7,
	  "CATCHALL", "CATCHALL" },
	/* "PRI * HTTP/1.1": not the 24-byte preface, told at byte 12 */
	{ "h2-not-the-preface", "PRI * HTTP/1.1\r\n\r\n", { 4, 18 }, &proto_h2, SNIFF_NO, 12,
	  "CATCHALL", "CATCHALL" },
	/* three methods announced, the second one 0xff */
	{ "socks5-bad-method", "\x05\x03\x00\xff", { 2, 4 }, &proto_socks5, SNIFF_NO, 4,
	  "CATCHALL", "CATCHALL" },
	/* a 14-byte packet announced, its opcode not a hard reset */
	{ "openvpn-bad-opcode", "\x00\x0e\x41", { 2, 3 }, &proto_openvpn, SNIFF_NO, 3,
	  "CATCHALL", "CATCHALL" },
	/* length 8, then a code that is none of postgres' */
	{ "postgres-bad-code", "\x00\x00\x00\x08\x05", { 4, 5 }, &proto_postgres, SNIFF_NO, 5,
	  "CATCHALL", "CATCHALL" },
	/* a 19-byte TPKT announced, its X.224 length indicator wrong */
	{ "rdp-bad-length-indicator", "\x03\x00\x00\x13\x0f", { 4, 5 }, &proto_rdp, SNIFF_NO, 5,
	  "CATCHALL", "CATCHALL" },
	/* probes without a hint, for the record */
	{ "xmpp-lt-in-value", "<stream:stream to='a<", { 20, 21 }, &proto_xmpp, SNIFF_NO, 21,
	  "CATCHALL", "CATCHALL" },
	{ "ssh-control-byte", "SSH-2.0-x\x01", { 9, 10 }, &proto_ssh, SNIFF_NO, 10,
	  "CATCHALL", "CATCHALL" },
};

TEST(fixtures_stop_and_wait)
{
	struct config *c = load(_u, cfg_all);

	if (!c)
		return;
	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		const struct stall *f = &fixtures[i];

		memcpy(buf, f->bytes, f->cuts[NCUTS(f) - 1]);
		check(_u, c, f, buf);
	}
	config_free(c);
}

/* A real hello cut by another record: in 100-byte records, a
 * change_cipher_spec after the first record; in 1-byte records, an
 * application_data record after 40 of them. */
TEST(tls_real_hello_interrupted)
{
	static const uint8_t ccs[] = { 0x14, 0x03, 0x03, 0x00, 0x01, 0x01 };
	static const uint8_t app[] = { 0x17, 0x03, 0x03, 0x00, 0x00 };
	struct config *c = load(_u, cfg_all);
	struct tlsgen_opts o = { .sni = "t.example", .alpn = "h2", .record_size = 100 };
	struct stall f = { "tls-100-byte-record-then-ccs", NULL, { 0 }, &proto_tls,
			   SNIFF_BROKEN, 106, "TLS", "CATCHALL" };

	if (!c)
		return;
	CHECK(tlsgen_client_hello(&o, buf, sizeof(buf)) > 105 + (ssize_t)sizeof(ccs));
	memcpy(buf + 105, ccs, sizeof(ccs));
	f.cuts[0] = 50;
	f.cuts[1] = 105;
	f.cuts[2] = 105 + sizeof(ccs);
	check(_u, c, &f, buf);

	o.record_size = 1;
	CHECK(tlsgen_client_hello(&o, buf, sizeof(buf)) > 40 * 6 + (ssize_t)sizeof(app));
	memcpy(buf + 40 * 6, app, sizeof(app));
	f.name = "tls-1-byte-records-then-appdata";
	f.at = 40 * 6 + 1;
	f.cuts[0] = 20 * 6;
	f.cuts[1] = 40 * 6;
	f.cuts[2] = 40 * 6 + sizeof(app);
	check(_u, c, &f, buf);
	config_free(c);
}

/* The same without a TLS CATCHALL: the next protocol (REGEX) decides, or
 * the listener's CATCHALL. */
TEST(tls_broken_next_protocol)
{
	struct config *c = load(_u, "{\"servers\":{\"127.0.0.1:1\":{"
		"\"TLS\":{" RULE("SNI t.example") "},\"REGEX\":{" RULE("REGEX ^\\\\x16") "},"
		"\"CATCHALL\":{" RULE("CATCHALL") "}}}}");
	struct config *c2 = load(_u, "{\"servers\":{\"127.0.0.1:1\":{"
		"\"TLS\":{" RULE("SNI t.example") "},\"CATCHALL\":{" RULE("CATCHALL") "}}}}");
	struct stall f = fixtures[0];

	if (!c || !c2) {
		config_free(c);
		config_free(c2);
		return;
	}
	memcpy(buf, f.bytes, 19);
	f.proto = "REGEX";
	f.key = "REGEX ^\\x16";
	check(_u, c, &f, buf);
	f.proto = "CATCHALL";
	f.key = "CATCHALL";
	check(_u, c2, &f, buf);
	config_free(c);
	config_free(c2);
}

/* Controls: a valid hello and request in the same segments are routed on
 * their facts at their last byte, not earlier. */
TEST(valid_inputs_still_wait)
{
	struct config *c = load(_u, cfg_all);
	struct tlsgen_opts o = { .sni = "t.example", .alpn = "h2", .record_size = 2 };
	static const char get[] = "GET / HTTP/1.1\r\nHost: h.example\r\n\r\n";
	ssize_t n = tlsgen_client_hello(&o, buf, sizeof(buf));
	struct stall f = { "tls-2-byte-records", NULL, { 7, 14, 0 }, &proto_tls,
			   SNIFF_MATCH, 0, "TLS", "SNI t.example" };

	if (!c)
		return;
	CHECK(n > 14);
	f.cuts[2] = f.at = (size_t)n;
	check(_u, c, &f, buf);
	memcpy(buf, get, sizeof(get) - 1);
	f = (struct stall){ "http-host", NULL, { 16, 23, 35 }, &proto_http, SNIFF_MATCH, 34,
			    "HTTP", "Host h.example" };
	check(_u, c, &f, buf);
	config_free(c);
}

UNIT_MAIN("stall", fixtures_stop_and_wait, tls_real_hello_interrupted,
	  tls_broken_next_protocol, valid_inputs_still_wait)
