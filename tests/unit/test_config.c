// SPDX-License-Identifier: GPL-2.0
/* The config grammar of routing: the original format loads as before, the
 * new forms load into the right structures, and every mistake is one line
 * naming its JSON path. */
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "unit.h"
#include "base/util.h"

static char err[16384];

static struct config *load(const char *json)
{
	return config_parse(json, strlen(json), "t.json", NULL, 0, err, sizeof(err));
}

/* The config must fail with an error line containing `want`. */
static void want_err(struct unit_ctx *_u, const char *json, const char *want)
{
	struct config *c = load(json);

	if (c) {
		FAILF("loaded, want an error with: %s", want);
		config_free(c);
		return;
	}
	if (!strstr(err, want))
		FAILF("errors: %.300s want: %.150s", err, want);
}

static struct config *want_ok(struct unit_ctx *_u, const char *json)
{
	struct config *c = load(json);

	if (!c)
		FAILF("did not load: %.400s", err);
	return c;
}

#define LISTEN(body) "{\"servers\":{\"127.0.0.1:443\":{" body "}}}"
#define FWD "\"action\":\"FORWARD\",\"to_addr\":\"127.0.0.1:8443\""

/* The example of the original README, byte for byte. */
TEST(original_format)
{
	struct config *c = want_ok(_u,
		"{\"version\":\"v0.2.0\",\"servers\":{\"127.0.0.1:443\":{\"TLS\":{\"SNI a.example\":"
		"{\"action\":\"FORWARD\",\"to_addr\":\"10.0.0.1:443\"},\"CATCHALL\":{\"action\":\"REJECT\"}},"
		"\"CATCHALL\":{\"CATCHALL\":{\"action\":\"FORWARD\",\"to_addr\":\"neverssl.com:80\"}}}}}");
	const struct listener *l;

	if (!c)
		return;
	l = &c->listeners[0];
	CHECK_INT(c->nlisteners, 1);
	CHECK_INT(l->ngroups, 2);
	CHECK_STR(l->groups[0].proto->name, "TLS");
	CHECK_INT(l->groups[0].nrules, 2);
	CHECK_STR(l->groups[0].rules[0].key, "SNI a.example");
	CHECK_INT(l->groups[0].rules[0].m.field, FIELD_SNI);
	CHECK_INT(l->groups[0].rules[0].m.name.kind, NAME_EXACT);
	CHECK_INT(l->groups[0].rules[0].up.n, 1);
	CHECK_STR(l->groups[0].rules[0].up.text, "10.0.0.1:443");
	CHECK(l->groups[0].rules[0].up.t[0].literal);
	CHECK(l->groups[0].catchall == &l->groups[0].rules[1]);
	CHECK_INT(l->groups[0].catchall->action, ACT_REJECT);
	CHECK_INT(l->groups[0].catchall->reject, REJECT_CLOSE);
	CHECK(l->catchall && l->catchall->action == ACT_FORWARD);
	CHECK(!l->catchall->up.t[0].literal);
	CHECK_INT(c->ndns, 1);
	CHECK(!l->on_timeout && !l->naccept_proxy);
	CHECK(!srclimit_on(&l->lim) && !l->lim.nexempt && !l->sl);
	config_free(c);
}

TEST(rules_wrapper)
{
	struct config *c = want_ok(_u, LISTEN("\"TLS\":{\"rules\":{\"SNI a\":{" FWD "},\"SNI b\":{" FWD "}}}"));

	if (c)
		CHECK_INT(c->listeners[0].groups[0].nrules, 2);
	config_free(c);
}

TEST(name_forms)
{
	struct config *c = want_ok(_u, LISTEN("\"TLS\":{"
		"\"SNI A.Example.\":{" FWD "},"
		"\"SNI *.example.com\":{" FWD "},"
		"\"SNI ~^api[0-9]+\\\\.example\\\\.com$\":{" FWD "},"
		"\"SNI\":{" FWD "},"
		"\"sni b.example\":{" FWD "},"
		"\"ALPN h2\":{" FWD "},"
		"\"ECH\":{" FWD "}},"
		"\"HTTP\":{\"Host *.example\":{" FWD "},\"Host\":{" FWD "}},"
		"\"SSH\":{\"SSH SSH-2.0-OpenSSH*\":{" FWD "},\"SSH\":{" FWD "}},"
		"\"RDP\":{\"Cookie alice\":{" FWD "},\"RDP\":{" FWD "}},"
		"\"REGEX\":{\"REGEX ^\\\\x16\\\\x03[\\\\x01-\\\\x04]\":{" FWD "}}"));
	const struct rule *r;

	if (!c)
		return;
	r = c->listeners[0].groups[0].rules;
	CHECK_STR(r[0].m.name.text, "a.example");
	CHECK_INT(r[0].m.name.kind, NAME_EXACT);
	CHECK_INT(r[1].m.name.kind, NAME_GLOB);
	CHECK_INT(r[2].m.name.kind, NAME_REGEX);
	CHECK_INT(r[3].m.name.kind, NAME_NONE);
	CHECK_INT(r[3].m.field, FIELD_SNI);
	CHECK_INT(r[4].m.field, FIELD_SNI);
	CHECK_INT(r[5].m.field, FIELD_ALPN);
	CHECK_INT(r[6].m.field, FIELD_ECH);
	r = c->listeners[0].groups[2].rules;
	CHECK_INT(r[0].m.field, FIELD_SSH_BANNER);
	CHECK_INT(r[1].m.field, FIELD_ANY);
	r = c->listeners[0].groups[4].rules;
	CHECK(r[0].m.has_re);
	config_free(c);
}

TEST(array_form)
{
	struct config *c = want_ok(_u, LISTEN("\"TLS\":["
		"{\"match\":\"SNI a.example\",\"src\":\"10.0.0.0/8\"," FWD "},"
		"{\"match\":\"SNI a.example\",\"action\":\"REJECT\"},"
		"{\"match\":\"CATCHALL\",\"action\":\"REJECT\",\"reject\":\"rst\"}]"));
	const struct pgroup *g;

	if (!c)
		return;
	g = &c->listeners[0].groups[0];
	CHECK_INT(g->nrules, 3);
	CHECK_INT(g->rules[0].c.nsrc, 1);
	CHECK_INT(g->rules[1].action, ACT_REJECT);
	CHECK(g->catchall == &g->rules[2]);
	CHECK_INT(g->catchall->reject, REJECT_RST);
	CHECK_STR(g->rules[1].path, "servers.\"127.0.0.1:443\".TLS[1]");
	config_free(c);
}

TEST(conditions)
{
	struct config *c = want_ok(_u, LISTEN("\"TLS\":{\"SNI a\":{"
		"\"src\":[\"10.0.0.0/8\",\"::1\",\"192.0.2.7\"],\"dst\":\"127.0.0.0/8\","
		"\"port\":[443,\"8000-8099\"],\"alpn\":[\"h2\",\"acme-tls/1\"],\"ech\":false," FWD "}}"));
	const struct rule *r;

	if (!c)
		return;
	r = &c->listeners[0].groups[0].rules[0];
	CHECK_INT(r->c.nsrc, 3);
	CHECK_INT(r->c.src[1].family, AF_INET6);
	CHECK_INT(r->c.src[1].bits, 128);
	CHECK_INT(r->c.src[2].bits, 32);
	CHECK_INT(r->c.ndst, 1);
	CHECK_INT(r->c.nport, 2);
	CHECK_INT(r->c.port[1].lo, 8000);
	CHECK_INT(r->c.port[1].hi, 8099);
	CHECK_INT(r->c.nalpn, 2);
	CHECK_STR(r->c.alpn[1], "acme-tls/1");
	CHECK_INT(r->c.ech, 0);
	config_free(c);
}

TEST(upstreams)
{
	struct config *c = want_ok(_u, LISTEN("\"TLS\":{\"SNI a\":{\"action\":\"FORWARD\","
		"\"to_addr\":[\"127.0.0.1:1\",\"[::1]:2\",\"backend.example:3\"],"
		"\"balance\":\"leastconn\",\"connect_timeout\":\"750ms\","
		"\"health\":{\"fails\":2,\"cooldown\":\"30s\"},\"send_proxy\":\"v2\",\"transparent\":true},"
		"\"SNI b\":{" FWD ",\"health\":{}},"
		"\"CATCHALL\":{\"action\":\"REJECT\",\"reject\":\"tls-alert\",\"alert\":\"handshake_failure\"}}"));
	const struct rule *r;

	if (!c)
		return;
	r = c->listeners[0].groups[0].rules;
	CHECK_INT(r[0].up.n, 3);
	CHECK_STR(r[0].up.t[1].text, "[::1]:2");
	CHECK(!r[0].up.t[2].literal);
	CHECK_INT(r[0].up.balance, BAL_LEASTCONN);
	CHECK_INT(r[0].up.connect_timeout_ms, 750);
	CHECK_INT(r[0].up.health_fails, 2);
	CHECK_INT(r[0].up.health_cooldown_ms, 30000);
	CHECK_INT(r[0].up.send_proxy, 2);
	CHECK(r[0].up.transparent);
	CHECK_INT(r[1].up.balance, BAL_ROUNDROBIN);
	CHECK_INT(r[1].up.health_fails, 3);
	CHECK_INT(r[1].up.health_cooldown_ms, 10000);
	CHECK_INT(r[2].reject, REJECT_TLS_ALERT);
	CHECK_INT(r[2].alert, 40);
	config_free(c);
}

TEST(listener_options)
{
	struct config *c = want_ok(_u, "{\"servers\":{\"127.0.0.1:443, [::1]:443 ,127.0.0.1:8443\":{"
		"\"on_timeout\":{\"after\":\"300ms\"," FWD ",\"send_proxy\":\"v1\"},"
		"\"accept_proxy\":[\"127.0.0.1/32\",\"::1/128\"],\"regex_window\":64,"
		"\"SSH\":{\"SSH\":{" FWD "}}}}}");

	if (!c)
		return;
	CHECK_INT(c->nlisteners, 3);
	CHECK_STR(c->listeners[1].text, "[::1]:443");
	CHECK_STR(c->listeners[2].text, "127.0.0.1:8443");
	CHECK(c->listeners[1].groups == c->listeners[0].groups);
	CHECK(c->listeners[2].on_timeout == c->listeners[0].on_timeout);
	CHECK(c->listeners[2].shared);
	CHECK_INT(c->listeners[0].on_timeout_ms, 300);
	CHECK_INT(c->listeners[0].on_timeout->up.send_proxy, 1);
	CHECK_INT(c->listeners[2].naccept_proxy, 2);
	CHECK_INT(c->listeners[0].regex_window, 64);
	config_free(c);
}

TEST(errors_name_the_path)
{
	want_err(_u, LISTEN("\"TLS\":{\"SNI ~a(\":{" FWD "}}"),
		 "t.json: servers.\"127.0.0.1:443\".TLS.\"SNI ~a(\": bad regular expression: ");
	want_err(_u, LISTEN("\"TLS\":{\"SNI a\":{\"src\":[\"10.0.0.0/8\",\"10.0.0.0/33\"]," FWD "}}"),
		 "servers.\"127.0.0.1:443\".TLS.\"SNI a\".src[1]: prefix length must be from 0 to 32");
	want_err(_u, LISTEN("\"TLS\":{\"SNI a\":{\"src\":\"fe80::1%eth0\"," FWD "}}"),
		 "TLS.\"SNI a\".src: bad IP address");
	want_err(_u, LISTEN("\"TLS\":{\"SNI a\":{\"port\":[\"90-80\"]," FWD "}}"),
		 "TLS.\"SNI a\".port[0]: a port range goes from low to high");
	want_err(_u, LISTEN("\"HTTP\":{\"Host a\":{\"alpn\":\"h2\"," FWD "}}"),
		 "HTTP.\"Host a\".alpn: \"alpn\" is for rules under \"TLS\" or \"QUIC\" only");
	want_err(_u, LISTEN("\"TLS\":{\"CATCHALL\":{\"src\":\"10.0.0.0/8\"," FWD "}}"),
		 "TLS.CATCHALL: a CATCHALL rule takes no condition (\"src\")");
	want_err(_u, LISTEN("\"TLS\":[{\"action\":\"REJECT\"}]"),
		 "TLS[0]: \"match\" missing");
	want_err(_u, LISTEN("\"TLS\":[{\"match\":\"CATCHALL\",\"action\":\"REJECT\"},{\"match\":\"CATCHALL\",\"action\":\"REJECT\"}]"),
		 "TLS[1]: a second CATCHALL would never be used");
	want_err(_u, LISTEN("\"TLS\":{\"SNI a\":{\"action\":\"FORWARD\",\"to_addr\":[\"127.0.0.1:1\",\"127.0.0.1\"]}}"),
		 "TLS.\"SNI a\".to_addr[1]: port missing");
	want_err(_u, LISTEN("\"TLS\":{\"SNI a\":{\"action\":\"FORWARD\",\"to_addr\":[]}}"),
		 "TLS.\"SNI a\".to_addr: expected 1 to 64 addresses");
	want_err(_u, LISTEN("\"TLS\":{\"SNI a\":{" FWD ",\"balance\":\"random\"}}"),
		 "TLS.\"SNI a\".balance: expected \"roundrobin\", \"first\", \"leastconn\" or \"source\"");
	want_err(_u, LISTEN("\"TLS\":{\"SNI a\":{" FWD ",\"send_proxy\":\"v3\"}}"),
		 "TLS.\"SNI a\".send_proxy: expected \"v1\" or \"v2\"");
	want_err(_u, LISTEN("\"TLS\":{\"SNI a\":{\"action\":\"REJECT\",\"balance\":\"first\"}}"),
		 "TLS.\"SNI a\".balance: REJECT takes no \"balance\"");
	want_err(_u, LISTEN("\"TLS\":{\"SNI a\":{" FWD ",\"reject\":\"rst\"}}"),
		 "TLS.\"SNI a\": \"reject\" is for REJECT rules");
	want_err(_u, LISTEN("\"HTTP\":{\"Host a\":{\"action\":\"REJECT\",\"reject\":\"tls-alert\"}}"),
		 "HTTP.\"Host a\".reject: \"tls-alert\" is for rules under \"TLS\" only");
	want_err(_u, LISTEN("\"TLS\":{\"SNI a\":{\"action\":\"REJECT\",\"reject\":\"tls-alert\",\"alert\":\"nope\"}}"),
		 "TLS.\"SNI a\".alert: expected an alert number");
	want_err(_u, LISTEN("\"TLS\":{\"SNI a\":{" FWD ",\"health\":{\"fails\":0}}}"),
		 "TLS.\"SNI a\".health.fails: expected a whole number from 1 to 1000");
	want_err(_u, LISTEN("\"TLS\":{\"ECH yes\":{" FWD "}}"), "TLS.\"ECH yes\": rule \"ECH\" takes no value");
	want_err(_u, LISTEN("\"TLS\":{\"HOST a\":{" FWD "}}"), "unknown rule for TLS (expected \"SNI ...\"");
	want_err(_u, LISTEN("\"REGEX\":{\"REGEX\":{" FWD "}}"), "REGEX.REGEX: rule \"REGEX\" needs a value");
	want_err(_u, LISTEN("\"REGEX\":{\"REGEX a\\\\x00\":{" FWD "}}"), "REGEX.\"REGEX a\\x00\": \\x00 cannot be written");
	want_err(_u, LISTEN("\"REGEX\":{\"CATCHALL\":{" FWD "}}"), "REGEX.CATCHALL: REGEX matches only through its rules");
	want_err(_u, LISTEN("\"TLS\":{\"SNI ~a++\":{" FWD "}}"),
		 "TLS.\"SNI ~a++\": a repetition of a repetition");
	want_err(_u, LISTEN("\"REGEX\":{\"REGEX (a*)*{3}\":{" FWD "}}"), "a repetition of a repetition");
	want_err(_u, LISTEN("\"SMTP\":{}"), "servers.\"127.0.0.1:443\".SMTP: unknown protocol (known: TLS, HTTP, SSH, HTTP2, SOCKS5, OPENVPN, XMPP, POSTGRES, RDP, REGEX, CATCHALL)");
	want_err(_u, LISTEN("\"on_timeout\":{" FWD "},\"CATCHALL\":{\"CATCHALL\":{" FWD "}}"),
		 "servers.\"127.0.0.1:443\".on_timeout: \"after\" missing");
	want_err(_u, LISTEN("\"on_timeout\":{\"after\":\"1s\",\"src\":\"::1\"," FWD "},\"CATCHALL\":{\"CATCHALL\":{" FWD "}}"),
		 "on_timeout.src: unknown key");
	want_err(_u, LISTEN("\"on_timout\":{}"), "servers.\"127.0.0.1:443\".on_timout: unknown listener option");
	want_err(_u, LISTEN("\"accept_proxy\":[\"10.0.0.1/40\"],\"CATCHALL\":{\"CATCHALL\":{" FWD "}}"),
		 "servers.\"127.0.0.1:443\".accept_proxy[0]: prefix length must be from 0 to 32");
	want_err(_u, "{\"servers\":{\"127.0.0.1:1, 127.0.0.1:1\":{\"CATCHALL\":{\"CATCHALL\":{" FWD "}}}}}",
		 "same address as \"127.0.0.1:1\"");
	want_err(_u, "{\"servers\":{\"127.0.0.1:1, nohost\":{\"CATCHALL\":{\"CATCHALL\":{" FWD "}}}}}",
		 "servers.\"127.0.0.1:1, nohost\": bad listen address nohost: port missing");
}

#define CA "\"CATCHALL\":{\"CATCHALL\":{" FWD "}}"

TEST(source_limits)
{
	struct config *c = want_ok(_u,
		"{\"max_conns_per_source\":50,\"source_exempt\":[\"10.0.0.0/8\"],"
		"\"servers\":{"
		"\"127.0.0.1:1\":{" CA "},"
		"\"127.0.0.1:2, [::1]:2\":{\"max_conns_per_source\":100,"
		"  \"new_conns_per_source\":{\"rate\":\"20/s\",\"burst\":40},"
		"  \"source_prefix\":{\"ipv4\":24,\"ipv6\":48},"
		"  \"source_exempt\":[\"192.0.2.1\",\"2001:db8::/32\"]," CA "},"
		"\"127.0.0.1:3\":{\"max_conns_per_source\":0,\"new_conns_per_source\":\"600/m\"," CA "},"
		"\"127.0.0.1:4\":{\"new_conns_per_source\":0.5,\"source_prefix\":{\"ipv6\":128}," CA "},"
		"\"127.0.0.1:5\":{\"new_conns_per_source\":\"100/h\",\"max_conns_per_source\":0," CA "},"
		"\"127.0.0.1:6\":{\"new_conns_per_source\":25," CA "}}}");
	const struct listener *l;

	if (!c)
		return;
	CHECK_INT(c->nlisteners, 7);
	/* The top-level values are every listener's default... */
	l = &c->listeners[0];
	CHECK_INT(l->lim.max_conns, 50);
	CHECK_INT(l->lim.interval_us, 0);
	CHECK_INT(l->lim.prefix4, 32);
	CHECK_INT(l->lim.prefix6, 64);
	CHECK_INT(l->lim.nexempt, 1);
	CHECK(l->lim.exempt != c->set.lim.exempt);	/* its own copy */
	/* ...which a listener's own keys replace, list included. */
	l = &c->listeners[1];
	CHECK_INT(l->lim.max_conns, 100);
	CHECK_INT(l->lim.interval_us, 50000);
	CHECK_INT(l->lim.burst, 40);
	CHECK_INT(l->lim.prefix4, 24);
	CHECK_INT(l->lim.prefix6, 48);
	CHECK_INT(l->lim.nexempt, 2);
	CHECK_INT(l->lim.exempt[0].bits, 32);
	/* Both addresses of one key, the same limits. */
	CHECK(c->listeners[2].shared);
	CHECK_INT(c->listeners[2].lim.max_conns, 100);
	CHECK(c->listeners[2].lim.exempt == l->lim.exempt);
	/* 0 turns the default off; the burst defaults to a second's worth. */
	l = &c->listeners[3];
	CHECK_INT(l->lim.max_conns, 0);
	CHECK_INT(l->lim.interval_us, 100000);
	CHECK_INT(l->lim.burst, 10);
	CHECK(srclimit_on(&l->lim));
	l = &c->listeners[4];
	CHECK_INT(l->lim.interval_us, 2000000);
	CHECK_INT(l->lim.burst, 1);
	CHECK_INT(l->lim.prefix4, 32);
	CHECK_INT(l->lim.prefix6, 128);
	CHECK_INT(c->listeners[5].lim.interval_us, 36000000);
	CHECK_INT(c->listeners[5].lim.burst, 1);
	CHECK_INT(c->listeners[6].lim.interval_us, 40000);
	CHECK_INT(c->listeners[6].lim.burst, 25);
	CHECK(!c->listeners[0].sl);	/* tables come with admit_attach */
	config_free(c);

	/* Off everywhere: no limits at all. */
	c = want_ok(_u, "{\"max_conns_per_source\":0,\"servers\":{\"127.0.0.1:1\":{" CA "}}}");
	if (c)
		CHECK(!srclimit_on(&c->listeners[0].lim));
	config_free(c);
}

TEST(source_limit_errors)
{
	want_err(_u, LISTEN("\"max_conns_per_source\":-1," CA),
		 "t.json: servers.\"127.0.0.1:443\".max_conns_per_source: expected a whole number from 0 to 1000000");
	want_err(_u, LISTEN("\"max_conns_per_source\":\"10\"," CA),
		 "servers.\"127.0.0.1:443\".max_conns_per_source: expected a whole number");
	want_err(_u, LISTEN("\"max_conns_per_source\":2.5," CA),
		 "servers.\"127.0.0.1:443\".max_conns_per_source: expected a whole number");
	want_err(_u, LISTEN("\"new_conns_per_source\":\"20/d\"," CA),
		 "servers.\"127.0.0.1:443\".new_conns_per_source: expected a rate such as 20 (per second), \"20/s\"");
	want_err(_u, LISTEN("\"new_conns_per_source\":\"fast\"," CA),
		 "servers.\"127.0.0.1:443\".new_conns_per_source: expected a rate");
	want_err(_u, LISTEN("\"new_conns_per_source\":-3," CA),
		 "servers.\"127.0.0.1:443\".new_conns_per_source: expected a rate");
	want_err(_u, LISTEN("\"new_conns_per_source\":\"2000000/s\"," CA),
		 "servers.\"127.0.0.1:443\".new_conns_per_source: must be from 1 a day to 1000000 a second");
	want_err(_u, LISTEN("\"new_conns_per_source\":{\"rate\":true}," CA),
		 "servers.\"127.0.0.1:443\".new_conns_per_source.rate: expected a rate");
	want_err(_u, LISTEN("\"new_conns_per_source\":{\"burst\":4}," CA),
		 "servers.\"127.0.0.1:443\".new_conns_per_source: \"rate\" missing");
	want_err(_u, LISTEN("\"new_conns_per_source\":{\"rate\":5,\"burst\":0}," CA),
		 "servers.\"127.0.0.1:443\".new_conns_per_source.burst: expected a whole number from 1 to 1000000");
	want_err(_u, LISTEN("\"new_conns_per_source\":{\"rate\":5,\"brust\":3}," CA),
		 "servers.\"127.0.0.1:443\".new_conns_per_source.brust: unknown key (expected \"rate\", \"burst\")");
	want_err(_u, LISTEN("\"new_conns_per_source\":{\"rate\":5,\"rate\":6}," CA),
		 "servers.\"127.0.0.1:443\".new_conns_per_source.rate: duplicate key");
	want_err(_u, LISTEN("\"source_prefix\":{\"ipv4\":33}," CA),
		 "servers.\"127.0.0.1:443\".source_prefix.ipv4: expected a whole number from 0 to 32");
	want_err(_u, LISTEN("\"source_prefix\":{\"ipv6\":129}," CA),
		 "servers.\"127.0.0.1:443\".source_prefix.ipv6: expected a whole number from 0 to 128");
	want_err(_u, LISTEN("\"source_prefix\":{\"v4\":24}," CA),
		 "servers.\"127.0.0.1:443\".source_prefix.v4: unknown key (expected \"ipv4\", \"ipv6\")");
	want_err(_u, LISTEN("\"source_prefix\":24," CA),
		 "servers.\"127.0.0.1:443\".source_prefix: expected {\"ipv4\": 32, \"ipv6\": 64}");
	want_err(_u, LISTEN("\"source_exempt\":[\"10.0.0.0/8\",\"10.0.0.0/40\"]," CA),
		 "servers.\"127.0.0.1:443\".source_exempt[1]: prefix length must be from 0 to 32");
	want_err(_u, LISTEN("\"source_exempt\":[]," CA),
		 "servers.\"127.0.0.1:443\".source_exempt: empty list");
	want_err(_u, LISTEN("\"max_conn_per_source\":3," CA),
		 "servers.\"127.0.0.1:443\".max_conn_per_source: unknown listener option (expected \"on_timeout\", \"accept_proxy\", \"regex_window\", \"max_conns_per_source\"");
	/* At the top level, the same checks under the top-level path. */
	want_err(_u, "{\"new_conns_per_source\":{\"rate\":\"1/s\",\"burst\":-1},\"servers\":{\"127.0.0.1:1\":{" CA "}}}",
		 "t.json: new_conns_per_source.burst: expected a whole number from 1 to 1000000");
	want_err(_u, "{\"source_exempt\":\"nope\",\"servers\":{\"127.0.0.1:1\":{" CA "}}}",
		 "t.json: source_exempt: bad IP address");
	/* All of them at once, one line each. */
	{
		struct config *c = load(LISTEN("\"max_conns_per_source\":-1,\"new_conns_per_source\":\"x\","
					       "\"source_prefix\":{\"ipv4\":40,\"ipv6\":200}," CA));
		int lines = 0;

		CHECK(!c);
		for (const char *p = err; *p; p++)
			lines += *p == '\n';
		CHECK_INT(lines, 4);
	}
}

/* The text itself: the error says where; what a parser stopping at the
 * first value, or a C string stopping at a NUL, would quietly drop is
 * refused; whitespace after the value and an escaped backslash are not. */
TEST(text_errors_say_where)
{
	struct config *c;

	want_err(_u, "{\"servers\":\n  {\"127.0.0.1:443\" {}}}", "t.json: line 2 column 20: JSON syntax error");
	want_err(_u, LISTEN("\"TLS\":{\"CATCHALL\":{\"action\":\"REJECT\"}}") "\n}",
		 "line 2 column 1: text after the configuration's closing brace");
	want_err(_u, LISTEN("\"TLS\":{\"CATCHALL\":{\"action\":\"REJECT\"}}") " {\"servers\":{}}",
		 "text after the configuration's closing brace");
	want_err(_u, LISTEN("\"TLS\":{\"SNI a\\u0000b\":{" FWD "}}"),
		 "line 1 column 43: \\u0000 in a string");
	want_err(_u, LISTEN("\"TLS\":{\"SNI a\":{\"action\":\"FORWARD\",\"to_addr\":\"127.0.0.1:84\\u00003\"}}"),
		 "\\u0000 in a string");
	c = want_ok(_u, LISTEN("\"TLS\":{\"SNI a\\\\u0000b\":{" FWD "}}") " \r\n\t\n");
	if (c) {
		CHECK_STR(c->listeners[0].groups[0].rules[0].key, "SNI a\\u0000b");
		config_free(c);
	}
}

/* Many errors at once: each its own line, all of them reported. */
TEST(all_errors_reported)
{
	struct config *c = load(LISTEN("\"TLS\":{\"SNI a\":{\"action\":\"FORWARD\",\"to_addr\":\"x\"},"
				       "\"SNI b\":{\"action\":\"FORWARD\",\"to_addr\":\"y\",\"balance\":1}}"));
	int lines = 0;

	CHECK(!c);
	for (const char *p = err; *p; p++)
		lines += *p == '\n';
	CHECK_INT(lines, 3);
}

/* UDP listeners: "udp/ADDR" keys beside the TCP ones, QUIC with the
 * TLS rule keys, the UDP settings; what a UDP flow cannot do refused. */
#define QFWD "\"action\":\"FORWARD\",\"to_addr\":\"127.0.0.1:4433\""
TEST(udp_listeners)
{
	struct config *c = want_ok(_u,
		"{\"udp_idle_timeout\":\"2s\",\"max_udp_flows\":100,\"udp_pending_datagrams\":4,"
		"\"udp_pending_bytes\":\"8KiB\",\"servers\":{"
		"\"127.0.0.1:443\":{\"TLS\":{\"CATCHALL\":{" FWD "}}},"
		"\"udp/127.0.0.1:443, udp/[::1]:443\":{\"QUIC\":{"
		"\"SNI a.example\":{" QFWD "},\"SNI ~^b[0-9]\\\\.example$\":{" QFWD ",\"src\":\"127.0.0.0/8\"},"
		"\"ALPN h3\":{" QFWD ",\"balance\":\"source\"},\"SNI *.c.example\":{" QFWD ",\"alpn\":[\"h3\"]},"
		"\"SNI d.example\":{\"action\":\"REJECT\"},\"CATCHALL\":{\"action\":\"REJECT\"}},"
		"\"CATCHALL\":{\"CATCHALL\":{" QFWD "}}}}}");
	const struct listener *l;

	if (!c)
		return;
	CHECK_INT(c->nlisteners, 1);
	CHECK_INT(c->nudp, 2);
	CHECK(!c->listeners[0].udp);
	l = &c->udp[0];
	CHECK(l->udp && c->udp[1].udp && c->udp[1].shared);
	CHECK_STR(l->text, "udp/127.0.0.1:443");
	CHECK_STR(c->udp[1].text, "udp/[::1]:443");
	CHECK_INT(addr_port((const struct sockaddr *)&l->addr), 443);
	CHECK_STR(l->groups[0].proto->name, "QUIC");
	CHECK_INT(l->groups[0].nrules, 6);
	CHECK_INT(l->groups[0].rules[0].m.field, FIELD_SNI);
	CHECK_INT(l->groups[0].rules[2].m.field, FIELD_ALPN);
	CHECK_INT(l->groups[0].rules[3].c.nalpn, 1);
	CHECK(l->groups[0].catchall && l->groups[0].catchall->action == ACT_REJECT);
	CHECK(l->catchall && l->catchall->action == ACT_FORWARD);
	CHECK_INT(c->set.udp_idle_timeout_ms, 2000);
	CHECK_INT(c->set.max_udp_flows, 100);
	CHECK_INT(c->set.udp_pending_datagrams, 4);
	CHECK_INT(c->set.udp_pending_bytes, 8192);
	CHECK(!c->set.udp_userspace);
	config_free(c);
	c = want_ok(_u, "{\"udp_data_path\":\"userspace\",\"servers\":{\"udp/127.0.0.1:443\":{\"QUIC\":{\"CATCHALL\":{" QFWD "}}}}}");
	if (c) {
		CHECK(c->set.udp_userspace);
		config_free(c);
	}
	/* The defaults. */
	c = want_ok(_u, LISTEN(CA));
	if (c) {
		CHECK_INT(c->nudp, 0);
		CHECK_INT(c->set.udp_idle_timeout_ms, 30000);
		CHECK_INT(c->set.max_udp_flows, 65536);
		config_free(c);
	}
	/* Errors, each naming its path. */
#define UDP(body) "{\"servers\":{\"udp/127.0.0.1:443\":{" body "}}}"
	want_err(_u, UDP("\"TLS\":{\"CATCHALL\":{" QFWD "}}"),
		 "servers.\"udp/127.0.0.1:443\".TLS: unknown protocol for a UDP listener (known: QUIC, CATCHALL)");
	want_err(_u, LISTEN("\"QUIC\":{\"CATCHALL\":{" QFWD "}}"),
		 "servers.\"127.0.0.1:443\".QUIC: QUIC runs over UDP: put it under a UDP listener, \"udp/127.0.0.1:443\"");
	want_err(_u, UDP("\"QUIC\":{\"Host a\":{" QFWD "}}"),
		 "servers.\"udp/127.0.0.1:443\".QUIC.\"Host a\": unknown rule for QUIC");
	want_err(_u, UDP("\"QUIC\":{\"SNI a\":{\"action\":\"REJECT\",\"reject\":\"rst\"}}"),
		 "servers.\"udp/127.0.0.1:443\".QUIC.\"SNI a\": a UDP flow is rejected by dropping its datagrams");
	want_err(_u, UDP("\"QUIC\":{\"SNI a\":{" QFWD ",\"send_proxy\":\"v2\"}}"),
		 "servers.\"udp/127.0.0.1:443\".QUIC.\"SNI a\": \"send_proxy\" is for TCP listeners");
	want_err(_u, UDP("\"on_timeout\":{\"after\":\"1s\",\"action\":\"REJECT\"},\"QUIC\":{\"CATCHALL\":{" QFWD "}}"),
		 "servers.\"udp/127.0.0.1:443\".on_timeout: unknown UDP listener option");
	want_err(_u, "{\"servers\":{\"udp/127.0.0.1:443, 127.0.0.1:444\":{\"QUIC\":{\"CATCHALL\":{" QFWD "}}}}}",
		 "the addresses of one key are all UDP (\"udp/ADDR\") or all TCP");
	want_err(_u, UDP("\"QUIC\":{\"SNI a\":{\"action\":\"REJECT\",\"reject\":\"tls-alert\"}}"),
		 "\"tls-alert\" is for rules under \"TLS\" only");
	want_err(_u, "{\"servers\":{\"udp/127.0.0.1:443\":{\"QUIC\":{\"CATCHALL\":{" QFWD "}}},"
		     "\"udp/127.0.0.1:443 \":{\"QUIC\":{\"CATCHALL\":{" QFWD "}}}}}",
		 "same address as \"udp/127.0.0.1:443\"");
	want_err(_u, "{\"udp_idle_timeout\":\"10ms\",\"servers\":{\"udp/127.0.0.1:1\":{\"QUIC\":{\"CATCHALL\":{" QFWD "}}}}}",
		 "t.json: udp_idle_timeout: must be at least 100ms");
	want_err(_u, "{\"udp_data_path\":\"bpf\",\"servers\":{\"udp/127.0.0.1:1\":{\"QUIC\":{\"CATCHALL\":{" QFWD "}}}}}",
		 "t.json: udp_data_path: expected \"auto\" or \"userspace\"");
	want_err(_u, "{\"udp_pending_bytes\":100,\"servers\":{\"udp/127.0.0.1:1\":{\"QUIC\":{\"CATCHALL\":{" QFWD "}}}}}",
		 "t.json: udp_pending_bytes: must be from 1500 bytes to 1MiB");
	want_err(_u, UDP("\"QUIC\":{\"SNI a\":{" QFWD ",\"ech\":1}}"),
		 "servers.\"udp/127.0.0.1:443\".QUIC.\"SNI a\".ech: expected true or false");
	/* TCP and UDP on one address and port: two sockets, no clash. */
	c = want_ok(_u, "{\"servers\":{\"127.0.0.1:443\":{" CA "},\"udp/127.0.0.1:443\":{\"QUIC\":{\"CATCHALL\":{" QFWD "}}}}}");
	config_free(c);
#undef UDP
}

/* Durations as numbers are seconds, bounded as strings are: a huge one
 * is an error, not an overflow to 0 (a 0 ms sniff timeout). */
TEST(durations)
{
#define WITH(setting) "{" setting ",\"servers\":{\"127.0.0.1:443\":{\"TLS\":{\"SNI a\":{" FWD "}}}}}"
	struct config *c = want_ok(_u, WITH("\"sniff_timeout\":2.5"));

	if (c) {
		CHECK_INT(c->set.sniff_timeout_ms, 2500);
		config_free(c);
	}
	want_err(_u, WITH("\"sniff_timeout\":1e30"), "sniff_timeout: expected a duration");
	want_err(_u, WITH("\"shutdown_grace\":1e12"), "shutdown_grace: expected a duration");
	want_err(_u, WITH("\"sniff_timeout\":\"1e30s\""), "sniff_timeout: expected a duration");
#undef WITH
}

/* "user" names someone who exists and is not root: --check says so, not
 * the start that would stop on it. */
TEST(user)
{
#define WITH(setting) "{" setting ",\"servers\":{\"127.0.0.1:443\":{\"TLS\":{\"SNI a\":{" FWD "}}}}}"
	struct config *c = want_ok(_u, WITH("\"user\":\"nobody\""));

	if (c) {
		CHECK(!strcmp(c->set.user, "nobody"));
		config_free(c);
	}
	c = want_ok(_u, WITH("\"user\":\"65534\""));
	if (c)
		config_free(c);
	want_err(_u, WITH("\"user\":\"no-such-user-pt\""), "user: no such user \"no-such-user-pt\"");
	want_err(_u, WITH("\"user\":\"root\""), "user: \"root\" is root: nothing to drop to");
	want_err(_u, WITH("\"user\":\"0\""), "is root");
	want_err(_u, WITH("\"user\":\"\""), "user: expected a user name");
#undef WITH
}

UNIT_MAIN("config", durations, user, udp_listeners, original_format, rules_wrapper, name_forms, array_form, conditions,
	  upstreams, listener_options, errors_name_the_path, text_errors_say_where, all_errors_reported,
	  source_limits, source_limit_errors)
