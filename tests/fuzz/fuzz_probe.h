/* SPDX-License-Identifier: GPL-2.0 */
/* The libFuzzer harness shared by the probes of the routing protocols
 * (fuzz_h2.c, fuzz_socks5.c, ...): each file defines FUZZ_PROTO (the
 * struct proto under test) and clear_own() (zero the fields that probe may
 * write), then includes this.  Beyond "no crash, no over-read" (each call
 * gets an exact-size heap copy), it checks what the router relies on:
 *  - nothing written but the probe's own fields, and nothing at all unless
 *    the verdict is MATCH;
 *  - the verdict is stable: once a prefix answers MATCH or NO, every longer
 *    input answers the same, with the same facts;
 *  - the hint never passes over the answer (fuzz_hint.h). */
#ifndef PT_FUZZ_PROBE_H
#define PT_FUZZ_PROBE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define BUG(...)                                                            \
	do {                                                                \
		fprintf(stderr, "fuzz_probe: " __VA_ARGS__);                \
		fputc('\n', stderr);                                        \
		abort();                                                    \
	} while (0)

#include "fuzz_hint.h"

static void clear_own(struct sniff *s);

static bool all_zero(const struct sniff *s)
{
	static const struct sniff z;

	return !memcmp(s, &z, sizeof(z));
}

static enum sniff_verdict probe(const uint8_t *data, size_t n, struct sniff *s)
{
	uint8_t *copy = malloc(n ? n : 1);
	enum sniff_verdict v;
	struct sniff t;

	memcpy(copy, data, n);
	memset(s, 0, sizeof(*s));
	v = FUZZ_PROTO.identify(copy, n, s);
	free(copy);
	if (v != SNIFF_MORE && v != SNIFF_MATCH && v != SNIFF_NO && v != SNIFF_BROKEN)
		BUG("verdict %d", v);
	if (v != SNIFF_MATCH && !all_zero(s))
		BUG("facts left on verdict %d", v);
	t = *s;
	clear_own(&t);
	if (!all_zero(&t))
		BUG("wrote a field of another protocol");
	return v;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sniff first, cur;
	enum sniff_verdict fv = SNIFF_MORE, v;
	size_t cuts[80], ncut = 0, settled = 0;
	uint32_t h = 2166136261u;

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
		if (fv == SNIFF_MORE && v != SNIFF_MORE) {
			fv = v;
			first = cur;
			settled = cuts[i];
		} else if (fv != SNIFF_MORE &&
			   (v != fv || memcmp(&cur, &first, sizeof(cur))))
			BUG("verdict %d at %zu, then %d at %zu", fv, settled, v, cuts[i]);
	}
	if (fv != SNIFF_MORE)
		check_hints(&FUZZ_PROTO, data, cuts, ncut, settled);
	return 0;
}

#endif /* PT_FUZZ_PROBE_H */
