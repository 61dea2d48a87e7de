// SPDX-License-Identifier: GPL-2.0
/* HTTP/1.x probe tests: every request is fed at every prefix length, and
 * the prefix length where the verdict is settled is checked to the byte:
 * refusing non-HTTP early and routing as soon as the Host line is done are
 * both features. */
#include <stdlib.h>
#include <string.h>

#include "probe.h"
#include "proto/proto.h"
#include "unit.h"

extern const struct proto proto_http;

/* Captured from curl 7.88.1: curl http://127.0.0.1:44322/a/b?c=d
 * -H 'Host: WWW.Example.COM:44322' */
static const char cap_curl[] =
	"GET /a/b?c=d HTTP/1.1\r\n"
	"Host: WWW.Example.COM:44322\r\n"
	"User-Agent: curl/7.88.1\r\n"
	"Accept: */*\r\n"
	"\r\n";

/* The probe on an exact-size heap copy (probe.h): ASan sees over-reads. */
static enum sniff_verdict sniff(const void *b, size_t n, struct sniff *s)
{
	return probe_run(&proto_http, b, n, s);
}

static struct sniff s;

/* str settles as want at prefix `at` (0: at the end). */
static void want(struct unit_ctx *_u, const char *str, enum sniff_verdict w,
		 size_t at)
{
	enum sniff_verdict v;
	size_t len = strlen(str), got = probe_settle(_u, &proto_http, str, len, &v, &s);
	int failed = _u->failed;

	CHECK_INT(v, w);
	CHECK_INT(got, at ? at : len);
	if (_u->failed && !failed)
		snprintf(_u->why + strlen(_u->why),
			 sizeof(_u->why) - strlen(_u->why), " (\"%.60s\")", str);
}

/* Prefix length that ends at the first byte after `mark` in str. */
static size_t after(const char *str, const char *mark)
{
	return strstr(str, mark) - str + strlen(mark) + 1;
}

TEST(real_curl)
{
	want(_u, cap_curl, SNIFF_MATCH, after(cap_curl, ":44322\r\n"));
	CHECK(s.has_host);
	CHECK_STR(s.host, "www.example.com");
	CHECK_STR(s.method, "GET");
	CHECK_STR(s.path, "/a/b?c=d");
}

/* 320 bytes: over the 255 a host name may have. */
#define LONG_NAME_40 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define LONG_NAME LONG_NAME_40 LONG_NAME_40 LONG_NAME_40 LONG_NAME_40 \
		  LONG_NAME_40 LONG_NAME_40 LONG_NAME_40 LONG_NAME_40

TEST(host_forms)
{
	static const struct { const char *value, *host; } t[] = {
		{ " a.example", "a.example" },
		{ "\tA.Example.:8080 \t", "a.example" },
		{ "a.example:", "a.example" },
		{ "_svc.x-1.example", "_svc.x-1.example" },
		{ "192.0.2.1:80", "192.0.2.1" },
		{ "[2001:DB8::1]:8443", "2001:db8::1" },
		{ "[::ffff:192.0.2.1]", "::ffff:192.0.2.1" },
		/* Not usable: HTTP still, but no host to route on. */
		{ "", NULL }, { "   ", NULL }, { "a b", NULL }, { "a..b", NULL },
		{ "a.example..", NULL }, { ".", NULL }, { "a.example:80x", NULL },
		{ "a.example:123456", NULL }, { "a:1:2", NULL },
		{ "caf\xc3\xa9.example", NULL }, { "[::1", NULL },
		{ "[::1]x", NULL }, { "[]", NULL }, { "[g::1]", NULL },
		/* found by fuzz_http: not IPv6 literals */
		{ "[.]:8434", NULL }, { "[1.2]", NULL }, { "[::1.]", NULL },
		{ "a/b", NULL }, { "user@a.example", NULL }, { ":80", NULL },
		{ ".a.example", NULL }, { "a{b", NULL }, { LONG_NAME, NULL },
		{ "[" LONG_NAME "]", NULL },
	};
	char req[1024];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(req, sizeof(req),
			 "GET / HTTP/1.1\r\nHost:%s\r\nX: y\r\n\r\n", t[i].value);
		want(_u, req, SNIFF_MATCH, after(req, "\r\nX") - 1);
		CHECK(s.has_host == !!t[i].host);
		CHECK_STR(s.host, t[i].host ? t[i].host : "");
	}
}

TEST(host_name_case)
{
	static const char req[] =
		"POST /x HTTP/1.1\r\nContent-Length: 0\r\nhOsT: B.example\r\n"
		"Host: second.example\r\n\r\n";

	/* Settled on the first Host: the second is never looked at. */
	want(_u, req, SNIFF_MATCH, after(req, "B.example\r\n"));
	CHECK_STR(s.host, "b.example");
	CHECK_STR(s.method, "POST");
	want(_u, "GET / HTTP/1.1\r\nHosts: a\r\nHos: b\r\nHose: c\r\n\r\n",
	     SNIFF_MATCH, 0);
	CHECK(!s.has_host);
}

TEST(no_host)
{
	want(_u, "GET / HTTP/1.0\r\n\r\n", SNIFF_MATCH, 0);
	CHECK(!s.has_host);
	CHECK_STR(s.host, "");
	CHECK_STR(s.path, "/");
	want(_u, "GET /x HTTP/1.0\r\nAccept: */*\r\nX-Y:\r\n\r\n", SNIFF_MATCH, 0);
	CHECK(!s.has_host);
}

TEST(bare_lf)
{
	static const char req[] = "GET / HTTP/1.1\nHost: a.example\nAccept: */*\n\n";

	want(_u, req, SNIFF_MATCH, after(req, "example\n"));
	CHECK_STR(s.host, "a.example");
	want(_u, "HEAD / HTTP/1.1\n\n", SNIFF_MATCH, 0);
	want(_u, "GET / HTTP/1.1\r\nHost: a\n\r\n", SNIFF_MATCH, 26 - 1);
	CHECK_STR(s.host, "a");
}

TEST(methods)
{
	static const char *const m[] = {
		"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH",
		"CONNECT", "TRACE",
	};
	char req[128];

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		snprintf(req, sizeof(req), "%s * HTTP/1.1\r\n\r\n", m[i]);
		want(_u, req, SNIFF_MATCH, 0);
		CHECK_STR(s.method, m[i]);
	}
	want(_u, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", SNIFF_NO, 2);
	want(_u, "get / HTTP/1.1\r\n\r\n", SNIFF_NO, 1);
	want(_u, "GETS / HTTP/1.1\r\n\r\n", SNIFF_NO, 4);
	want(_u, "POSTS / HTTP/1.1\r\n\r\n", SNIFF_NO, 5);
	want(_u, "OPTIONSX / HTTP/1.1\r\n\r\n", SNIFF_NO, 8);
	want(_u, "PUTT / HTTP/1.1\r\n\r\n", SNIFF_NO, 4);
	want(_u, "PROPFIND / HTTP/1.1\r\n\r\n", SNIFF_NO, 2);
	want(_u, " GET / HTTP/1.1\r\n\r\n", SNIFF_NO, 1);
	want(_u, "\r\nGET / HTTP/1.1\r\n\r\n", SNIFF_NO, 1);
	want(_u, "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
	     SNIFF_MATCH, 55 - 1);
	CHECK_STR(s.host, "a.example");
	CHECK_STR(s.path, "a.example:443");
}

TEST(request_line)
{
	want(_u, "GET  / HTTP/1.1\r\n\r\n", SNIFF_NO, 5);	/* empty target */
	want(_u, "GET /\r\n", SNIFF_NO, 6);			/* HTTP/0.9 */
	want(_u, "GET /a\tb HTTP/1.1\r\n\r\n", SNIFF_NO, 7);
	want(_u, "GET /\x7f HTTP/1.1\r\n\r\n", SNIFF_NO, 6);
	want(_u, "GET / HTTP/2.0\r\n\r\n", SNIFF_NO, 12);
	want(_u, "GET / http/1.1\r\n\r\n", SNIFF_NO, 7);
	want(_u, "GET / HTTP/1.x\r\n\r\n", SNIFF_NO, 14);
	want(_u, "GET / HTTP/1.10\r\n\r\n", SNIFF_NO, 15);
	want(_u, "GET / HTTP/1.1 \r\n\r\n", SNIFF_NO, 15);
	want(_u, "GET / HTTP/1.1\rX\r\n\r\n", SNIFF_NO, 16);
	want(_u, "GET / HTTP/1.0\r\n\r\n", SNIFF_MATCH, 0);
	want(_u, "GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n", SNIFF_MATCH, 0);
	CHECK_STR(s.path, "/caf\xc3\xa9");
}

TEST(headers)
{
	/* obs-fold, even on the Host line (RFC 9112 5.2). */
	want(_u, "GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", SNIFF_NO, 26);
	want(_u, "GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", SNIFF_NO, 23);
	want(_u, "GET / HTTP/1.1\r\n Host: a\r\n\r\n", SNIFF_NO, 17);
	/* Space before the colon (RFC 9112 5.1), empty or odd names. */
	want(_u, "GET / HTTP/1.1\r\nHost : a\r\n\r\n", SNIFF_NO, 21);
	want(_u, "GET / HTTP/1.1\r\n: a\r\n\r\n", SNIFF_NO, 17);
	want(_u, "GET / HTTP/1.1\r\nHo(st: a\r\n\r\n", SNIFF_NO, 19);
	want(_u, "GET / HTTP/1.1\r\nHost\r\n\r\n", SNIFF_NO, 21);
	/* Control bytes in a value, a CR not before LF. */
	want(_u, "GET / HTTP/1.1\r\nX: a\x01\r\n\r\n", SNIFF_NO, 21);
	want(_u, "GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", SNIFF_NO, 21);
	want(_u, "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", SNIFF_NO, 25);
	want(_u, "GET / HTTP/1.1\r\nX: y\r\n\rZ", SNIFF_NO, 24);
	/* Tabs and high bytes in values are fine. */
	want(_u, "GET / HTTP/1.1\r\nX: \ta\xff\r\n\r\n", SNIFF_MATCH, 0);
	want(_u, "GET / HTTP/1.1\r\n!#$%&'*+-.^_`|~09az: x\r\n\r\n",
	     SNIFF_MATCH, 0);
}

TEST(nul_bytes)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n";
	static const char tgt[] = "GET /\0 HTTP/1.1\r\n\r\n";
	enum sniff_verdict v;

	CHECK_INT(probe_settle(_u, &proto_http, req, sizeof(req) - 1, &v, &s), 24);
	CHECK_INT(v, SNIFF_NO);
	CHECK_INT(probe_settle(_u, &proto_http, tgt, sizeof(tgt) - 1, &v, &s), 6);
	CHECK_INT(v, SNIFF_NO);
	CHECK_INT(probe_settle(_u, &proto_http, "GET / HTTP/1.1\r\n\0", 17, &v, &s), 17);
	CHECK_INT(v, SNIFF_NO);
}

TEST(absolute_form)
{
	static const char req[] =
		"GET http://Target.Example:8080/x?y HTTP/1.1\r\n"
		"Host: other.example\r\n\r\n";

	/* The target names the host; the Host header is not waited for. */
	want(_u, req, SNIFF_MATCH, after(req, "HTTP/1.1\r\n") - 1);
	CHECK_STR(s.host, "target.example");
	CHECK_STR(s.path, "http://Target.Example:8080/x?y");
	want(_u, "GET https://u:p@h.example/ HTTP/1.1\r\n", SNIFF_MATCH, 0);
	CHECK_STR(s.host, "h.example");
	want(_u, "GET HTTP://[::1]:80 HTTP/1.1\r\n", SNIFF_MATCH, 0);
	CHECK_STR(s.host, "::1");
	want(_u, "OPTIONS http://a.example?q HTTP/1.1\r\n", SNIFF_MATCH, 0);
	CHECK_STR(s.host, "a.example");
	want(_u, "GET http://b.example#f HTTP/1.1\r\n", SNIFF_MATCH, 0);
	CHECK_STR(s.host, "b.example");
	want(_u, "GET http:///x HTTP/1.1\r\n", SNIFF_MATCH, 0);
	CHECK(!s.has_host);
	/* Not absolute-form: the Host header counts. */
	want(_u, "GET /http://x.example HTTP/1.1\r\nHost: a\r\n\r\n",
	     SNIFF_MATCH, 43 - 1);
	CHECK_STR(s.host, "a");
	want(_u, "GET ftp://x.example/ HTTP/1.1\r\nHost: a\r\n\r\n",
	     SNIFF_MATCH, 42 - 1);
	CHECK_STR(s.host, "a");
}

TEST(long_path)
{
	static char req[1200];
	char want_path[256];

	memcpy(req, "GET /", 5);
	memset(req + 5, 'p', 1000);
	strcpy(req + 1005, " HTTP/1.1\r\nHost: a\r\n\r\n");
	CHECK_INT(sniff(req, strlen(req), &s), SNIFF_MATCH);
	snprintf(want_path, sizeof(want_path), "%.255s", req + 4);
	CHECK_INT(strlen(s.path), 255);
	CHECK(!strcmp(s.path, want_path));
	CHECK_STR(s.host, "a");
}

TEST(endless_headers)
{
	static char req[20000];
	size_t n = 0;

	n += snprintf(req, sizeof(req), "GET / HTTP/1.1\r\n");
	while (n + 20 < sizeof(req))
		n += snprintf(req + n, sizeof(req) - n, "X-Pad: 0123456789\r\n");
	CHECK_INT(sniff(req, n, &s), SNIFF_MORE);
	CHECK_INT(sniff(req, n - 1, &s), SNIFF_MORE);
	memset(req + n, 'a', sizeof(req) - n);		/* one endless value */
	CHECK_INT(sniff(req, sizeof(req), &s), SNIFF_MORE);
}

TEST(not_http)
{
	static const uint8_t tls[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01 };
	enum sniff_verdict v;

	CHECK_INT(probe_settle(_u, &proto_http, (const char *)tls, sizeof(tls), &v, &s), 1);
	CHECK_INT(v, SNIFF_NO);
	want(_u, "SSH-2.0-OpenSSH_9.2p1\r\n", SNIFF_NO, 1);
	want(_u, "\x80\x01", SNIFF_NO, 1);
	CHECK_INT(sniff("", 0, &s), SNIFF_MORE);
	CHECK_INT(sniff("P", 1, &s), SNIFF_MORE);
}

TEST(foreign_fields)
{
	static const char req[] = "GET /p HTTP/1.1\r\nHost: a\r\n\r\n";

	memset(&s, 0xa5, sizeof(s));
	strcpy(s.sni, "tls");
	strcpy(s.ssh_banner, "b");
	CHECK_INT(proto_http.identify((const uint8_t *)req, strlen(req), &s),
		  SNIFF_MATCH);
	CHECK_STR(s.host, "a");
	CHECK_STR(s.method, "GET");
	CHECK_STR(s.path, "/p");
	CHECK_STR(s.sni, "tls");
	CHECK_STR(s.ssh_banner, "b");
	CHECK_INT(proto_http.identify((const uint8_t *)req, 10, &s), SNIFF_MORE);
	CHECK(!s.has_host && !s.host[0] && !s.method[0] && !s.path[0]);
	CHECK_STR(s.sni, "tls");
}

TEST(keywords)
{
	const struct proto_keyword *k = proto_keyword(&proto_http, "host", 4);

	CHECK(proto_find("HTTP") == &proto_http);
	CHECK(k && k->field == FIELD_HOST && k->needs_arg);
	CHECK(!proto_keyword(&proto_http, "SNI", 3));
}

UNIT_MAIN("http", real_curl, host_forms, host_name_case, no_host, bare_lf,
	  methods, request_line, headers, nul_bytes, absolute_form, long_path,
	  endless_headers, not_http, foreign_fields, keywords)
