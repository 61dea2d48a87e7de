// SPDX-License-Identifier: GPL-2.0
/* libFuzzer harness for the TLS probe.  Beyond "no crash, no over-read"
 * (each call gets an exact-size heap copy, so ASan sees one byte too far),
 * it checks what callers rely on:
 *  - facts are sane: strings NUL-terminated in their arrays, names
 *    normalised, nothing left behind unless MATCH, no other probe's field
 *    touched;
 *  - the verdict is stable: once a prefix answers MATCH, NO or BROKEN,
 *    every longer input with that prefix answers the same, with the same
 *    facts, and the hint never passes over that answer (fuzz_hint.h);
 *  - record boundaries do not matter: a hello matched in one record gives
 *    the same facts, and the same ALPN ids, cut into records of any size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

extern const struct proto proto_tls, proto_http, proto_ssh;

#define BUG(...)                                                            \
	do {                                                                \
		fprintf(stderr, "fuzz_tls: " __VA_ARGS__);                  \
		fputc('\n', stderr);                                        \
		abort();                                                    \
	} while (0)

#include "fuzz_hint.h"

static bool zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	return !n || (!b[0] && !memcmp(b, b + 1, n - 1));
}

/* The ALPN ids walked in buf, joined by commas into out (the walk must
 * give exactly n_alpn non-empty ids, each shorter than 256 bytes). */
static void alpn_ids(const struct sniff *s, const uint8_t *buf, size_t len,
		     char *out, size_t cap)
{
	char id[SNIFF_ALPN_LEN + 1];
	struct alpn_iter it = { 0 };
	size_t k = 0, n = 0;

	out[0] = '\0';
	while (sniff_alpn_next(s, buf, len, &it, id)) {
		size_t l = strnlen(id, sizeof(id));

		if (!l || l == sizeof(id))
			BUG("ALPN id %zu of length %zu", n, l);
		if (k + l + 2 < cap)
			k += (size_t)snprintf(out + k, cap - k, "%s%s", k ? "," : "", id);
		n++;
	}
	if (n != s->n_alpn)
		BUG("%zu ALPN ids walked, n_alpn %u", n, s->n_alpn);
}

static void check_facts(enum sniff_verdict v, const struct sniff *s,
			const uint8_t *buf, size_t len)
{
	static char ids[1 << 17];

	if (v != SNIFF_MORE && v != SNIFF_MATCH && v != SNIFF_NO && v != SNIFF_BROKEN)
		BUG("verdict %d", v);
	/* Everything from has_host on belongs to other probes. */
	if (!zero(&s->has_host, sizeof(*s) - offsetof(struct sniff, has_host)))
		BUG("wrote a field of another protocol");
	if (v != SNIFF_MATCH) {
		if (s->has_sni || s->bad_sni || s->ech || s->n_alpn || s->alpn_len ||
		    s->alpn_at || s->tls_version || s->hello_len ||
		    !zero(s->sni, sizeof(s->sni)))
			BUG("facts left on verdict %d", v);
		return;
	}
	if (s->hello_len > 65535 || s->tls_version >> 8 != 3)
		BUG("hello_len %u, version %#x", s->hello_len, s->tls_version);
	if (s->n_alpn > s->alpn_len / 2 || s->alpn_at + s->alpn_len > 4 + s->hello_len)
		BUG("n_alpn %u in %u bytes at %u", s->n_alpn, s->alpn_len, s->alpn_at);
	alpn_ids(s, buf, len, ids, sizeof(ids));
	size_t n = strnlen(s->sni, sizeof(s->sni));

	if (n == sizeof(s->sni) || (s->has_sni && s->bad_sni) ||
	    s->has_sni != (n > 0))
		BUG("sni of length %zu, has %d bad %d", n, s->has_sni, s->bad_sni);
	for (size_t i = 0; i < n; i++) {
		char c = s->sni[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			BUG("sni char %#x", (unsigned char)c);
		if (c == '.' && (i == 0 || i == n - 1 || s->sni[i - 1] == '.'))
			BUG("sni \"%s\" has an empty label", s->sni);
	}
}

static bool same_facts(const struct sniff *a, const struct sniff *b)
{
	return !memcmp(a, b, sizeof(*a));
}

/* The probe on data[0..n), copied to an exact-size buffer. */
static enum sniff_verdict probe(const uint8_t *data, size_t n, struct sniff *s)
{
	uint8_t *copy = malloc(n ? n : 1);
	enum sniff_verdict v;

	memcpy(copy, data, n);
	memset(s, 0, sizeof(*s));
	v = proto_tls.identify(copy, n, s);
	check_facts(v, s, copy, n);
	free(copy);
	return v;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

/* If one record holds the whole hello, cut it into records of k bytes:
 * the facts must not change. */
static void check_rechunk(const uint8_t *data, size_t size,
			  const struct sniff *want)
{
	static char a[1 << 17], b[1 << 17];
	static struct sniff got;
	size_t hs = 4 + want->hello_len, k, n = 0;
	uint8_t *buf;

	if (size < 5 || ((size_t)data[3] << 8 | data[4]) < hs || size < 5 + hs)
		return;
	k = 1 + data[size - 1] % 200;
	buf = malloc(hs + 5 * (hs / k + 1));
	for (size_t off = 0; off < hs; off += k) {
		size_t c = hs - off < k ? hs - off : k;

		memcpy(buf + n, data, 3);
		buf[n + 3] = c >> 8;
		buf[n + 4] = c;
		memcpy(buf + n + 5, data + 5 + off, c);
		n += 5 + c;
	}
	if (probe(buf, n, &got) != SNIFF_MATCH || !same_facts(&got, want))
		BUG("different verdict or facts in %zu-byte records", k);
	alpn_ids(want, data, size, a, sizeof(a));
	alpn_ids(&got, buf, n, b, sizeof(b));
	if (strcmp(a, b))
		BUG("ALPN ids \"%.80s\" in one record, \"%.80s\" in %zu-byte records", a, b, k);
	free(buf);
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
			   (v != fv || !same_facts(&cur, &first)))
			BUG("verdict %d at %zu, then %d at %zu", fv, settled, v,
			    cuts[i]);
	}
	if (fv != SNIFF_MORE)
		check_hints(&proto_tls, data, cuts, ncut, settled);
	if (fv == SNIFF_MATCH)
		check_rechunk(data, size, &first);
	/* The first bytes of TLS, HTTP and SSH differ: never two claims. */
	if (size && fv != SNIFF_NO &&
	    (proto_http.identify(data, size, &other) != SNIFF_NO ||
	     proto_ssh.identify(data, size, &other) != SNIFF_NO))
		BUG("TLS and another probe both claim the input");
	return 0;
}
