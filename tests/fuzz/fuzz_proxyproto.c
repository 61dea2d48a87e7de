// SPDX-License-Identifier: GPL-2.0
/* libFuzzer harness for the PROXY protocol parser: no crash or over-read
 * on exact-size copies; a prefix says "more" (0) until the header is whole,
 * then every longer input gives the same length and addresses; the length
 * a prefix asks for (*need) never passes over that answer, a refusal
 * included (a peer that stops there waits for nothing); what
 * parses as v1 or v2 with addresses builds back into a header that parses
 * to the same addresses. */
#include <errno.h>

#include "proto/proxyproto.h"

#define FUZZ_NAME "fuzz_proxyproto"
#include "fuzz.h"

static int parse(const uint8_t *d, size_t n, struct proxy_info *pi, size_t *need)
{
	uint8_t *copy = fuzz_copy(d, n);
	int r;

	r = proxy_parse(copy, n, 4096, pi, need);
	free(copy);
	if (r > (int)n || (r < 0 && r != -ENOMSG && r != -EBADMSG && r != -EMSGSIZE))
		BUG("returned %d for %zu bytes", r, n);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_info pi, first;
	size_t need, at = 0;
	int settled = 0, r;

	for (size_t i = 0; i <= size && i <= 300; i++) {
		r = parse(data, i, &pi, &need);
		if (!settled && r) {
			settled = r;
			first = pi;
			at = i;
		} else if (settled && (r != settled || (r > 0 && memcmp(&pi, &first, sizeof(pi)))))
			BUG("%d at some prefix, then %d at %zu", settled, r, i);
		if (!r && need > 4096 + 16)
			BUG("need %zu", need);
	}
	for (size_t i = 0; settled && i < at; i++)
		if (!parse(data, i, &pi, &need) && need > at)
			BUG("need %zu at %zu, but the answer (%d) comes at %zu", need, i, settled, at);
	if (settled > 0 && first.has_addr) {
		uint8_t out[PROXY_HDR_MAX];
		struct proxy_info back;
		int n = proxy_build(first.version, (struct sockaddr *)&first.src,
				    (struct sockaddr *)&first.dst, out, sizeof(out));

		if (n <= 0 || parse(out, n, &back, &need) != n || !back.has_addr ||
		    memcmp(&back.src, &first.src, sizeof(back.src)) ||
		    memcmp(&back.dst, &first.dst, sizeof(back.dst)))
			BUG("rebuilt header does not parse to the same addresses");
	}
	return 0;
}
