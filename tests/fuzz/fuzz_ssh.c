// SPDX-License-Identifier: GPL-2.0
/* libFuzzer harness for the SSH probe: no crash or over-read (each call
 * gets an exact-size heap copy), a sane banner (the line itself, without
 * CR LF, NUL-terminated, nothing left unless MATCH, no other probe's field
 * touched), and a stable verdict: once a prefix answers MATCH or NO, every
 * longer input with that prefix answers the same. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

extern const struct proto proto_tls, proto_http, proto_ssh;

#define BUG(...)                                                            \
	do {                                                                \
		fprintf(stderr, "fuzz_ssh: " __VA_ARGS__);                  \
		fputc('\n', stderr);                                        \
		abort();                                                    \
	} while (0)

static bool zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	return !n || (!b[0] && !memcmp(b, b + 1, n - 1));
}

static void check_facts(const uint8_t *data, size_t len, enum sniff_verdict v,
			const struct sniff *s)
{
	size_t n;

	if (v != SNIFF_MORE && v != SNIFF_MATCH && v != SNIFF_NO)
		BUG("verdict %d", v);
	if (!zero(s, offsetof(struct sniff, ssh_banner)))
		BUG("wrote a field of another protocol");
	n = strnlen(s->ssh_banner, sizeof(s->ssh_banner));
	if (v != SNIFF_MATCH) {
		if (!zero(s->ssh_banner, sizeof(s->ssh_banner)))
			BUG("banner left on verdict %d", v);
		return;
	}
	/* The banner is the line: it starts the input, a LF follows it
	 * (maybe after one CR) and it holds no CR, LF or NUL. */
	if (n < 7 || n > 254 || memcmp(s->ssh_banner, "SSH-", 4) ||
	    memcmp(data, s->ssh_banner, n) || n >= len ||
	    !(data[n] == '\n' || (data[n] == '\r' && n + 1 < len &&
				  data[n + 1] == '\n')))
		BUG("banner \"%.40s\" of length %zu", s->ssh_banner, n);
	if (strpbrk(s->ssh_banner, "\r\n"))
		BUG("CR or LF in banner");
}

/* The probe on data[0..n), copied to an exact-size buffer. */
static enum sniff_verdict probe(const uint8_t *data, size_t n, struct sniff *s)
{
	uint8_t *copy = malloc(n ? n : 1);
	enum sniff_verdict v;

	memcpy(copy, data, n);
	memset(s, 0, sizeof(*s));
	v = proto_ssh.identify(copy, n, s);
	check_facts(copy, n, v, s);
	free(copy);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sniff first, cur, other;
	enum sniff_verdict fv = SNIFF_MORE, v;
	size_t settled = 0, last = size < 300 ? size : 300;

	/* Every prefix up to 300 bytes (the verdict is settled by 255),
	 * then the whole input. */
	for (size_t i = 0; i <= last + 1; i++) {
		size_t n = i <= last ? i : size;

		v = probe(data, n, &cur);
		if (n == 0 && v != SNIFF_MORE)
			BUG("empty input gave %d", v);
		if (n >= 255 && v == SNIFF_MORE)
			BUG("MORE after %zu bytes", n);
		if (fv == SNIFF_MORE && v != SNIFF_MORE) {
			fv = v;
			first = cur;
			settled = n;
		} else if (fv != SNIFF_MORE &&
			   (v != fv || memcmp(&cur, &first, sizeof(cur))))
			BUG("verdict %d at %zu, then %d at %zu", fv, settled, v, n);
	}
	/* The first bytes of TLS, HTTP and SSH differ: never two claims. */
	if (size && fv != SNIFF_NO &&
	    (proto_tls.identify(data, size, &other) != SNIFF_NO ||
	     proto_http.identify(data, size, &other) != SNIFF_NO))
		BUG("SSH and another probe both claim the input");
	return 0;
}
