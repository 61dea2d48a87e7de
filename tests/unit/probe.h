/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers for the probe tests of the routing protocols: every input is fed
 * at every prefix length, on an exact-size heap copy (a SAN=1 build sees a
 * one-byte over-read), and checked for what the router relies on:
 *  - MORE before the deciding byte, then the same verdict and facts for
 *    every longer input;
 *  - the hint (proto_hint) never passes over the answer, whatever it is:
 *    when a prefix says MORE with need N and wake bytes W, the answer
 *    (MATCH, NO or BROKEN) comes at N bytes or later, or with a byte of W
 *    among the bytes added.  A client may stop sending right after the
 *    byte that decides and wait for the server. */
#ifndef PT_TEST_PROBE_H
#define PT_TEST_PROBE_H

#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "unit.h"

static inline enum sniff_verdict probe_run(const struct proto *p, const void *b,
					   size_t n, struct sniff *s)
{
	uint8_t *copy = malloc(n ? n : 1);
	enum sniff_verdict v;

	memcpy(copy, b, n);
	memset(s, 0, sizeof(*s));
	v = p->identify(copy, n, s);
	free(copy);
	return v;
}

static inline size_t probe_hint(const struct proto *p, const void *b, size_t n,
				struct byteset *wake)
{
	uint8_t *copy = malloc(n ? n : 1);
	size_t need;

	memcpy(copy, b, n);
	need = proto_hint(p, copy, n, wake);
	free(copy);
	return need;
}

/* Feed b[0..len) at every prefix: MORE before `at` (0: len), then w.
 * *s gets the facts of the whole input. */
static inline void probe_sweep(struct unit_ctx *_u, const struct proto *p,
			       const void *b, size_t len, enum sniff_verdict w,
			       size_t at, struct sniff *s)
{
	static struct sniff first, cur;
	const uint8_t *bb = b;

	if (!at)
		at = len;
	for (size_t i = 0; i <= len && !_u->failed; i++) {
		enum sniff_verdict v = probe_run(p, b, i, &cur);

		if (i < at && v != SNIFF_MORE)
			FAILF("%s: verdict %d at %zu, want MORE before %zu", p->name, v, i, at);
		else if (i == at)
			first = cur;
		if (i >= at && (v != w || memcmp(&cur, &first, sizeof(cur))))
			FAILF("%s: verdict %d at %zu, want %d from %zu with the same facts",
			      p->name, v, i, w, at);
		if (i < at && w != SNIFF_MORE) {
			struct byteset wake;
			size_t need = probe_hint(p, b, i, &wake);

			if (!proto_hint_reaches(i, need, &wake, bb, at))
				FAILF("%s: hint at %zu (need %zu%s) skips the decision at %zu",
				      p->name, i, need, byteset_empty(&wake) ? "" : ", wake bytes",
				      at);
		}
	}
	probe_run(p, b, len, s);
}

#endif /* PT_TEST_PROBE_H */
