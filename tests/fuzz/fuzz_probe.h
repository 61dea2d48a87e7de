/* SPDX-License-Identifier: GPL-2.0 */
/* The libFuzzer driver of every probe harness (fuzz_tls.c, fuzz_http.c,
 * fuzz_ssh.c, fuzz_h2.c, ...).  A harness defines, before including this,
 *   FUZZ_PROTO        the struct proto under test,
 * and where it needs them
 *   FUZZ_NAME         its name on BUG() lines (default "fuzz_probe");
 *   FUZZ_CHECK_CUT    the name of a function
 *                       void f(const uint8_t *buf, size_t n,
 *                              enum sniff_verdict v, const struct sniff *s)
 *                     called after every probe call, on the exact-size copy
 *                     probed, with its verdict and facts: the checks
 *                     particular to that protocol (a sane host name, ...);
 *   FUZZ_CHECK_INPUT  the name of a function
 *                       void f(const uint8_t *data, size_t size,
 *                              enum sniff_verdict v, const struct sniff *s)
 *                     called once all the cuts of an input are probed,
 *                     with the verdict they settled on and its facts
 *                     (MORE and no facts if none did): checks that need the
 *                     whole input (TLS: the same hello in other records);
 *   FUZZ_RIVALS       a list of probes (&proto_http, &proto_ssh) that must
 *                     say NO to the whole input whenever this one does not:
 *                     their first bytes differ;
 *   FUZZ_SMALL, FUZZ_HEAD  which prefixes are probed (see pick_cuts());
 * and after including it clear_own() (check, then zero, the fields that
 * probe may write: what is left must be zero) and the functions named.
 *
 * Beyond "no crash, no over-read" (each call gets an exact-size heap copy),
 * the driver checks what the router relies on, for every probe:
 *  - the verdict is MORE, MATCH, NO or BROKEN, and MORE for no input;
 *  - nothing written but the probe's own fields, and nothing at all unless
 *    the verdict is MATCH;
 *  - the verdict is stable: once a prefix answers MATCH, NO or BROKEN,
 *    every longer input answers the same, with the same facts;
 *  - the hint never passes over the answer (check_hints()). */
#ifndef PT_FUZZ_PROBE_H
#define PT_FUZZ_PROBE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

#ifndef FUZZ_NAME
#define FUZZ_NAME "fuzz_probe"
#endif
/* An input of up to FUZZ_SMALL bytes is probed at every prefix; a longer
 * one at its first FUZZ_HEAD (lengths 0 to FUZZ_HEAD - 1), its last two
 * and 32 seeded cut points (all prefixes would make each run quadratic,
 * and many runs cover the cuts anyway). */
#ifndef FUZZ_SMALL
#define FUZZ_SMALL 64
#endif
#ifndef FUZZ_HEAD
#define FUZZ_HEAD 16
#endif
#define FUZZ_CUTS (FUZZ_HEAD + 34)

#include "fuzz.h"

static void clear_own(struct sniff *s);
#ifdef FUZZ_CHECK_CUT
static void FUZZ_CHECK_CUT(const uint8_t *buf, size_t n, enum sniff_verdict v,
			   const struct sniff *s);
#endif
#ifdef FUZZ_CHECK_INPUT
static void FUZZ_CHECK_INPUT(const uint8_t *data, size_t size, enum sniff_verdict v,
			     const struct sniff *s);
#endif

static bool all_zero(const struct sniff *s)
{
	static const struct sniff z;

	return !memcmp(s, &z, sizeof(z));
}

/* The length of a string fact (what: its name) in its array of cap bytes,
 * which must hold its NUL; has (the flag saying it was given, or true for
 * one always given) iff it is not empty. */
static inline size_t fact_len(const char *what, const char *str, size_t cap, bool has)
{
	size_t n = strnlen(str, cap);

	if (n == cap || has != (n > 0))
		BUG("%s of length %zu, has %d", what, n, has);
	return n;
}

/* The probe under test on data[0..n), with the checks of every call. */
static enum sniff_verdict probe(const uint8_t *data, size_t n, struct sniff *s)
{
	uint8_t *copy = fuzz_copy(data, n);
	enum sniff_verdict v;
	struct sniff t;

	memset(s, 0, sizeof(*s));
	v = FUZZ_PROTO.identify(copy, n, s);
	if (v != SNIFF_MORE && v != SNIFF_MATCH && v != SNIFF_NO && v != SNIFF_BROKEN)
		BUG("verdict %d", v);
	if (n == 0 && v != SNIFF_MORE)
		BUG("empty input gave %d", v);
	if (v != SNIFF_MATCH && !all_zero(s))
		BUG("facts left on verdict %d", v);
	t = *s;
	clear_own(&t);
	if (!all_zero(&t))
		BUG("wrote a field of another protocol");
#ifdef FUZZ_CHECK_CUT
	FUZZ_CHECK_CUT(copy, n, v, s);
#endif
	free(copy);
	return v;
}

/* At every undecided cut before the first decided one (`settled`), the
 * probe's hint must not pass over it, whatever the answer (MATCH, NO or
 * BROKEN).  A client may stop right after the deciding byte and wait for
 * the server; a hint past it would keep passthru waiting until the sniff
 * deadline.  The decision may lie anywhere up to `settled` (the cuts are
 * samples), so a hint that reaches `settled`, or a wake byte before it,
 * is all that can be asked. */
static void check_hints(const uint8_t *data, const size_t *cuts, size_t ncut,
			size_t settled)
{
	for (size_t i = 0; i < ncut && cuts[i] < settled; i++) {
		size_t at = cuts[i], need;
		uint8_t *copy = fuzz_copy(data, at);
		struct byteset wake;

		need = proto_hint(&FUZZ_PROTO, copy, at, &wake);
		free(copy);
		if (!proto_hint_reaches(at, need, &wake, data, settled))
			BUG("%s hint at %zu: need %zu%s, but the answer comes by %zu",
			    FUZZ_PROTO.name, at, need,
			    byteset_empty(&wake) ? "" : " (wake bytes)", settled);
	}
}

#ifdef FUZZ_RIVALS
/* Unless this probe says NO (v: what it settled on), each rival must. */
static void check_rivals(const uint8_t *data, size_t size, enum sniff_verdict v)
{
	static const struct proto *const rivals[] = { FUZZ_RIVALS };
	static struct sniff other;

	if (!size || v == SNIFF_NO)
		return;
	for (size_t i = 0; i < sizeof(rivals) / sizeof(rivals[0]); i++) {
		uint8_t *copy = fuzz_copy(data, size);
		enum sniff_verdict rv;

		memset(&other, 0, sizeof(other));
		rv = rivals[i]->identify(copy, size, &other);
		free(copy);
		if (rv != SNIFF_NO)
			BUG("%s (%d) and %s (%d) both claim the input", FUZZ_PROTO.name, v,
			    rivals[i]->name, rv);
	}
}
#endif

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

/* The prefix lengths to probe, ascending (see FUZZ_SMALL); how many. */
static size_t pick_cuts(const uint8_t *data, size_t size, size_t *cuts)
{
	uint32_t h = 2166136261u;
	size_t ncut = 0;

	if (size <= FUZZ_SMALL) {
		for (size_t i = 0; i <= size; i++)
			cuts[ncut++] = i;
		return ncut;
	}
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 16777619u;
	for (size_t i = 0; i < FUZZ_HEAD; i++)
		cuts[ncut++] = i;
	cuts[ncut++] = size - 1;
	cuts[ncut++] = size;
	while (ncut < FUZZ_CUTS) {
		h = h * 1103515245u + 12345u;
		cuts[ncut++] = (h >> 8) % size;
	}
	qsort(cuts, ncut, sizeof(cuts[0]), cmp_size);
	return ncut;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sniff first, cur;
	enum sniff_verdict fv = SNIFF_MORE, v;
	size_t cuts[(FUZZ_SMALL + 1 > FUZZ_CUTS ? FUZZ_SMALL + 1 : FUZZ_CUTS)];
	size_t ncut = pick_cuts(data, size, cuts), settled = 0;

	memset(&first, 0, sizeof(first));
	for (size_t i = 0; i < ncut; i++) {
		v = probe(data, cuts[i], &cur);
		if (fv == SNIFF_MORE && v != SNIFF_MORE) {
			fv = v;
			first = cur;
			settled = cuts[i];
		} else if (fv != SNIFF_MORE &&
			   (v != fv || memcmp(&cur, &first, sizeof(cur))))
			BUG("verdict %d at %zu, then %d at %zu", fv, settled, v, cuts[i]);
	}
	if (fv != SNIFF_MORE)
		check_hints(data, cuts, ncut, settled);
#ifdef FUZZ_RIVALS
	check_rivals(data, size, fv);
#endif
#ifdef FUZZ_CHECK_INPUT
	FUZZ_CHECK_INPUT(data, size, fv, &first);
#endif
	return 0;
}

#endif /* PT_FUZZ_PROBE_H */
