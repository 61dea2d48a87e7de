/* SPDX-License-Identifier: GPL-2.0 */
/* Routing: from the bytes peeked so far to one rule of one listener. */
#ifndef PT_ROUTE_H
#define PT_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "proto.h"

struct route {
	const struct rule *rule;	/* NULL: nothing applies, close */
	const char *proto;		/* protocol name for logs */
};

/* Returns true when the route is decided.  `final` says no more bytes will
 * come (cap reached, client EOF, sniff deadline): undecided protocols then
 * count as not matching.
 *
 * Order: protocols in file order; the first whose probe matches wins; in
 * it the first matching rule in file order, else its CATCHALL rule, else
 * the listener's CATCHALL protocol.  No protocol matches -> CATCHALL. */
bool route_decide(const struct listener *l, const uint8_t *buf, size_t len,
		  bool final, struct sniff *s, struct route *out);
bool rule_matches(const struct rule *r, const struct sniff *s);

#endif /* PT_ROUTE_H */
