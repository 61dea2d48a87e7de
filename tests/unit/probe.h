/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers for the probe tests of the routing protocols: every input is fed
 * at every prefix length, on an exact-size heap copy (a SAN=1 build sees a
 * one-byte over-read), and checked for what the router relies on:
 *  - MORE before the deciding byte, then the same verdict and facts for
 *    every longer input, and no facts at all unless the verdict is MATCH;
 *  - the hint (proto_hint) never passes over the answer, whatever it is:
 *    when a prefix says MORE with need N and wake bytes W, the answer
 *    (MATCH, NO or BROKEN) comes at N bytes or later, or with a byte of W
 *    among the bytes added.  A client may stop sending right after the
 *    byte that decides and wait for the server. */
#ifndef PT_TEST_PROBE_H
#define PT_TEST_PROBE_H

#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
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

/* Feed b[0..len) at every prefix and find where the verdict settles: it
 * may say MORE for a while, then must keep what it first said otherwise,
 * with the same facts, and leave no facts unless it says MATCH; no hint
 * before that point may pass over it.  Returns that prefix length (len + 1
 * if the verdict never left MORE); *v and *s get the whole input's verdict
 * and facts.  A failure names the probe and the prefix. */
static inline size_t probe_settle(struct unit_ctx *_u, const struct proto *p,
				  const void *b, size_t len, enum sniff_verdict *v,
				  struct sniff *s)
{
	static const struct sniff none;
	static struct sniff first, cur;
	enum sniff_verdict fv = SNIFF_MORE;
	size_t at = len + 1;

	for (size_t i = 0; i <= len && !_u->failed; i++) {
		enum sniff_verdict cv = probe_run(p, b, i, &cur);

		if (cv != SNIFF_MATCH && memcmp(&cur, &none, sizeof(cur)))
			FAILF("%s: facts left on verdict %d at %zu", p->name, cv, i);
		else if (at > len && cv != SNIFF_MORE) {
			at = i;
			fv = cv;
			first = cur;
		} else if (at <= len && (cv != fv || memcmp(&cur, &first, sizeof(cur))))
			FAILF("%s: verdict %d at %zu, then %d at %zu%s", p->name, fv, at, cv,
			      i, cv == fv ? " with other facts" : "");
	}
	for (size_t i = 0; at <= len && i < at && !_u->failed; i++) {
		struct byteset wake;
		size_t need = probe_hint(p, b, i, &wake);

		if (!proto_hint_reaches(i, need, &wake, b, at))
			FAILF("%s: hint at %zu (need %zu%s) skips the decision at %zu",
			      p->name, i, need, byteset_empty(&wake) ? "" : ", wake bytes", at);
	}
	*v = probe_run(p, b, len, s);
	return at;
}

/* Feed b[0..len) at every prefix (probe_settle()): MORE before `at` (0:
 * len), then w; w MORE: never anything else.  *s gets the facts of the
 * whole input. */
static inline void probe_sweep(struct unit_ctx *_u, const struct proto *p,
			       const void *b, size_t len, enum sniff_verdict w,
			       size_t at, struct sniff *s)
{
	enum sniff_verdict v;
	size_t got = probe_settle(_u, p, b, len, &v, s);

	if (w == SNIFF_MORE)
		at = len + 1;
	else if (!at)
		at = len;
	if (!_u->failed && (v != w || got != at))
		FAILF("%s: verdict %d from %zu, want %d from %zu", p->name, v, got, w, at);
}

#endif /* PT_TEST_PROBE_H */
