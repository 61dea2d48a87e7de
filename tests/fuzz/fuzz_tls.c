// SPDX-License-Identifier: GPL-2.0
/* libFuzzer harness for the TLS probe: fuzz_probe.h drives it (exact-size
 * copies, the verdict stable over prefixes, facts only on MATCH and only
 * TLS's, the hint), and on top of that it checks
 *  - facts are sane (check_facts): the sni NUL-terminated in its array,
 *    normalised, without an empty label, and given iff has_sni, never with
 *    bad_sni; a version 3.x and a hello length a record can carry; the
 *    ALPN list inside the hello, and walking it gives exactly n_alpn
 *    non-empty ids;
 *  - record boundaries do not matter (check_rechunk): a hello matched in
 *    one record gives the same facts, and the same ALPN ids, cut into
 *    records of any size;
 *  - the first bytes of TLS, HTTP and SSH differ: whatever TLS does not
 *    refuse, HTTP and SSH do (FUZZ_RIVALS). */
#include "proto/proto.h"

extern const struct proto proto_tls, proto_http, proto_ssh;
#define FUZZ_PROTO proto_tls
#define FUZZ_NAME "fuzz_tls"
#define FUZZ_RIVALS &proto_http, &proto_ssh
#define FUZZ_CHECK_CUT check_facts
#define FUZZ_CHECK_INPUT check_rechunk

#include "fuzz_probe.h"

/* TLS's facts come first in the struct, up to has_host. */
static void clear_own(struct sniff *s)
{
	memset(s, 0, offsetof(struct sniff, has_host));
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

static void check_facts(const uint8_t *buf, size_t len, enum sniff_verdict v,
			const struct sniff *s)
{
	static char ids[1 << 17];
	size_t n;

	if (v != SNIFF_MATCH)
		return;
	if (s->hello_len > 65535 || s->tls_version >> 8 != 3)
		BUG("hello_len %u, version %#x", s->hello_len, s->tls_version);
	if (s->n_alpn > s->alpn_len / 2 || s->alpn_at + s->alpn_len > 4 + s->hello_len)
		BUG("n_alpn %u in %u bytes at %u", s->n_alpn, s->alpn_len, s->alpn_at);
	alpn_ids(s, buf, len, ids, sizeof(ids));
	n = fact_len("sni", s->sni, sizeof(s->sni), s->has_sni);
	if (s->has_sni && s->bad_sni)
		BUG("sni \"%s\" given and bad", s->sni);
	for (size_t i = 0; i < n; i++) {
		char c = s->sni[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			BUG("sni char %#x", (unsigned char)c);
		if (c == '.' && (i == 0 || i == n - 1 || s->sni[i - 1] == '.'))
			BUG("sni \"%s\" has an empty label", s->sni);
	}
}

/* If one record holds the whole hello matched, cut it into records of k
 * bytes: the verdict, the facts and the ALPN ids must not change. */
static void check_rechunk(const uint8_t *data, size_t size, enum sniff_verdict v,
			  const struct sniff *want)
{
	static char a[1 << 17], b[1 << 17];
	static struct sniff got;
	size_t hs = 4 + want->hello_len, k, n = 0;
	uint8_t *buf;

	if (v != SNIFF_MATCH)
		return;
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
	if (probe(buf, n, &got) != SNIFF_MATCH || memcmp(&got, want, sizeof(got)))
		BUG("different verdict or facts in %zu-byte records", k);
	alpn_ids(want, data, size, a, sizeof(a));
	alpn_ids(&got, buf, n, b, sizeof(b));
	if (strcmp(a, b))
		BUG("ALPN ids \"%.80s\" in one record, \"%.80s\" in %zu-byte records", a, b, k);
	free(buf);
}
