/* SPDX-License-Identifier: GPL-2.0 */
/* Routing: from the bytes peeked so far to one rule of one listener. */
#ifndef PT_ROUTE_H
#define PT_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/config.h"
#include "proto/proto.h"

/* What a decision is made on. */
struct route_in {
	const uint8_t *buf;		/* the bytes peeked so far */
	size_t len;
	bool final;			/* no more will come (EOF, cap, deadline) */
	size_t cap;			/* the input stops at this length (0: no cap) */
	const struct sockaddr *src;	/* the client (after a PROXY header) */
	const struct sockaddr *dst;	/* the address it connected to */
};

struct route {
	const struct rule *rule;	/* NULL: nothing applies, close */
	const char *proto;		/* protocol name for logs */
	/* Not decided yet: nothing can change before the input is `need`
	 * bytes long, or before a byte of `wake` arrives (need 0 and wake
	 * empty: any new byte). */
	size_t need;
	struct byteset wake;
};

/* Returns true when the route is decided.  First match, in file order:
 *
 *  - protocols are tried in the order the listener lists them; the first
 *    whose probe matches is THE protocol, but only once every protocol
 *    before it has said no (one still unsure makes us wait for more
 *    bytes), so a route never depends on how the bytes were segmented;
 *  - in that protocol, the first rule in file order whose key and every
 *    condition match, else the protocol's CATCHALL rule, else the
 *    listener's CATCHALL protocol;
 *  - REGEX matches only through one of its rules (and waits for more
 *    bytes, up to the listener's regex_window, while none does);
 *  - a protocol whose probe says BROKEN (its own, malformed: a TLS hello
 *    cut by another record type) takes its CATCHALL rule; with none, it
 *    counts as not matching;
 *  - no protocol matches: the listener's CATCHALL (rule NULL if none).
 *
 * When the input is final, protocols still unsure count as not matching,
 * and so do those that cannot decide before the cap (their hint is past
 * it): their answer is known before the bytes come. */
bool route_decide(const struct listener *l, const struct route_in *in,
		  struct sniff *s, struct route *out);
bool rule_matches(const struct rule *r, const struct sniff *s,
		  const struct route_in *in);

#endif /* PT_ROUTE_H */
