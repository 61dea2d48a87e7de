// SPDX-License-Identifier: GPL-2.0
/* libFuzzer harness for the HTTP/1.x probe: fuzz_probe.h drives it
 * (exact-size copies, the verdict stable over prefixes, facts only on
 * MATCH and only HTTP's, the hint), and on top of that it checks
 *  - the verdict is never BROKEN (HTTP has no "begun, then broken");
 *  - facts are sane (check_facts): a known method, the one the input
 *    starts with; a non-empty path, the bytes after it, NUL-terminated in
 *    its array; a host NUL-terminated, given iff has_host, normalised
 *    (lower case, port kept apart) and without a trailing dot;
 *  - the first bytes of TLS, HTTP and SSH differ: whatever HTTP does not
 *    refuse, TLS and SSH do (FUZZ_RIVALS). */
#include "proto/proto.h"

extern const struct proto proto_tls, proto_http, proto_ssh;
#define FUZZ_PROTO proto_http
#define FUZZ_NAME "fuzz_http"
#define FUZZ_RIVALS &proto_tls, &proto_ssh
#define FUZZ_CHECK_CUT check_facts

#include "fuzz_probe.h"

static void clear_own(struct sniff *s)
{
	s->has_host = false;
	memset(s->host, 0, sizeof(s->host));
	memset(s->method, 0, sizeof(s->method));
	memset(s->path, 0, sizeof(s->path));
}

static void check_facts(const uint8_t *data, size_t len, enum sniff_verdict v,
			const struct sniff *s)
{
	static const char *const methods[] = {
		"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH",
		"CONNECT", "TRACE",
	};
	size_t n, i;

	if (v == SNIFF_BROKEN)
		BUG("verdict %d", v);
	if (v != SNIFF_MATCH)
		return;
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (!strcmp(s->method, methods[i]))
			break;
	if (i == sizeof(methods) / sizeof(methods[0]) ||
	    memcmp(data, s->method, strlen(s->method)))
		BUG("method \"%.16s\"", s->method);
	n = fact_len("path", s->path, sizeof(s->path), true);
	if (memcmp(data + strlen(s->method) + 1, s->path, n))
		BUG("path \"%.40s\" is not the bytes after the method", s->path);
	n = fact_len("host", s->host, sizeof(s->host), s->has_host);
	for (i = 0; i < n; i++) {
		char c = s->host[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == ':'))
			BUG("host char %#x", (unsigned char)c);
	}
	if (n && s->host[n - 1] == '.')
		BUG("host \"%s\" ends with a dot", s->host);
}
