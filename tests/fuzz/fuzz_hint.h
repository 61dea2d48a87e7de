/* SPDX-License-Identifier: GPL-2.0 */
/* The hint check shared by the probe harnesses (fuzz_probe.h, fuzz_tls.c,
 * fuzz_http.c), which define BUG() first: at every undecided cut before
 * the first decided one (`settled`), the probe's hint must not pass over
 * it, whatever the answer (MATCH, NO or BROKEN).  A client may stop right
 * after the deciding byte and wait for the server; a hint past it would
 * keep passthru waiting until the sniff deadline.  The decision may lie
 * anywhere up to `settled` (the cuts are samples), so a hint that reaches
 * `settled`, or a wake byte before it, is all that can be asked. */
#ifndef PT_FUZZ_HINT_H
#define PT_FUZZ_HINT_H

#include <stdlib.h>
#include <string.h>

#include "proto.h"

static void check_hints(const struct proto *p, const uint8_t *data,
			const size_t *cuts, size_t ncut, size_t settled)
{
	for (size_t i = 0; i < ncut && cuts[i] < settled; i++) {
		size_t at = cuts[i], need;
		uint8_t *copy = malloc(at ? at : 1);
		struct byteset wake;

		memcpy(copy, data, at);
		need = proto_hint(p, copy, at, &wake);
		free(copy);
		if (!proto_hint_reaches(at, need, &wake, data, settled))
			BUG("%s hint at %zu: need %zu%s, but the answer comes by %zu",
			    p->name, at, need, byteset_empty(&wake) ? "" : " (wake bytes)",
			    settled);
	}
}

#endif /* PT_FUZZ_HINT_H */
