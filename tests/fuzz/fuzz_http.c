// SPDX-License-Identifier: GPL-2.0
/* libFuzzer harness for the HTTP/1.x probe: no crash or over-read (each
 * call gets an exact-size heap copy), sane facts (NUL-terminated strings, a
 * normalised host, a known method, nothing left unless MATCH, no other
 * probe's field touched), a stable verdict: once a prefix answers MATCH or
 * NO, every longer input with that prefix answers the same, and a hint
 * that never passes over that answer (fuzz_hint.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

extern const struct proto proto_tls, proto_http, proto_ssh;

#define BUG(...)                                                            \
	do {                                                                \
		fprintf(stderr, "fuzz_http: " __VA_ARGS__);                 \
		fputc('\n', stderr);                                        \
		abort();                                                    \
	} while (0)

#include "fuzz_hint.h"

static bool zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	return !n || (!b[0] && !memcmp(b, b + 1, n - 1));
}

static void check_facts(const uint8_t *data, enum sniff_verdict v,
			const struct sniff *s)
{
	static const char *const methods[] = {
		"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH",
		"CONNECT", "TRACE",
	};
	size_t n, i;

	if (v != SNIFF_MORE && v != SNIFF_MATCH && v != SNIFF_NO)
		BUG("verdict %d", v);
	/* TLS facts come first in the struct, SSH's last. */
	if (!zero(s, offsetof(struct sniff, has_host)) ||
	    !zero(s->ssh_banner, sizeof(s->ssh_banner)))
		BUG("wrote a field of another protocol");
	if (v != SNIFF_MATCH) {
		if (s->has_host || !zero(s->host, sizeof(s->host)) ||
		    !zero(s->method, sizeof(s->method)) ||
		    !zero(s->path, sizeof(s->path)))
			BUG("facts left on verdict %d", v);
		return;
	}
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (!strcmp(s->method, methods[i]))
			break;
	if (i == sizeof(methods) / sizeof(methods[0]) ||
	    memcmp(data, s->method, strlen(s->method)))
		BUG("method \"%.16s\"", s->method);
	n = strnlen(s->path, sizeof(s->path));
	if (n == sizeof(s->path) || n == 0 ||
	    memcmp(data + strlen(s->method) + 1, s->path, n))
		BUG("path of length %zu", n);
	n = strnlen(s->host, sizeof(s->host));
	if (n == sizeof(s->host) || s->has_host != (n > 0))
		BUG("host of length %zu, has_host %d", n, s->has_host);
	for (i = 0; i < n; i++) {
		char c = s->host[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == ':'))
			BUG("host char %#x", (unsigned char)c);
	}
	if (n && s->host[n - 1] == '.')
		BUG("host \"%s\" ends with a dot", s->host);
}

/* The probe on data[0..n), copied to an exact-size buffer. */
static enum sniff_verdict probe(const uint8_t *data, size_t n, struct sniff *s)
{
	uint8_t *copy = malloc(n ? n : 1);
	enum sniff_verdict v;

	memcpy(copy, data, n);
	memset(s, 0, sizeof(*s));
	v = proto_http.identify(copy, n, s);
	check_facts(copy, v, s);
	free(copy);
	return v;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sniff first, cur, other;
	enum sniff_verdict fv = SNIFF_MORE, v;
	size_t cuts[80], ncut = 0, settled = 0;
	uint32_t h = 2166136261u;

	/* Every prefix of a small input; of a big one the first 16, the
	 * last 2 and 32 seeded cut points (all prefixes would make each run
	 * quadratic, and many runs cover the cuts anyway). */
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 16777619u;
	if (size <= 64) {
		for (size_t i = 0; i <= size; i++)
			cuts[ncut++] = i;
	} else {
		for (size_t i = 0; i < 16; i++)
			cuts[ncut++] = i;
		cuts[ncut++] = size - 1;
		cuts[ncut++] = size;
		while (ncut < 50) {
			h = h * 1103515245u + 12345u;
			cuts[ncut++] = (h >> 8) % size;
		}
		qsort(cuts, ncut, sizeof(cuts[0]), cmp_size);
	}
	for (size_t i = 0; i < ncut; i++) {
		v = probe(data, cuts[i], &cur);
		if (cuts[i] == 0 && v != SNIFF_MORE)
			BUG("empty input gave %d", v);
		if (fv == SNIFF_MORE && v != SNIFF_MORE) {
			fv = v;
			first = cur;
			settled = cuts[i];
		} else if (fv != SNIFF_MORE &&
			   (v != fv || memcmp(&cur, &first, sizeof(cur))))
			BUG("verdict %d at %zu, then %d at %zu", fv, settled, v,
			    cuts[i]);
	}
	if (fv != SNIFF_MORE)
		check_hints(&proto_http, data, cuts, ncut, settled);
	/* The first bytes of TLS, HTTP and SSH differ: never two claims. */
	if (size && fv != SNIFF_NO &&
	    (proto_tls.identify(data, size, &other) != SNIFF_NO ||
	     proto_ssh.identify(data, size, &other) != SNIFF_NO))
		BUG("HTTP and another probe both claim the input");
	return 0;
}
