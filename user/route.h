/* SPDX-License-Identifier: GPL-2.0 */
/* Routing: from the bytes peeked so far to one rule of one listener. */
#ifndef PT_ROUTE_H
#define PT_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"
#include "proto.h"

/* What a decision is made on. */
struct route_in {
	const uint8_t *buf;		/* the bytes peeked so far */
	size_t len;
	bool final;			/* no more will come (EOF, cap, deadline) */
	const struct sockaddr *src;	/* the client (after a PROXY header) */
	const struct sockaddr *dst;	/* the address it connected to */
};

struct route {
	const struct rule *rule;	/* NULL: nothing applies, close */
	const char *proto;		/* protocol name for logs */
	/* Not decided yet: nothing can change before the input is `need`
	 * bytes long (0: any new byte) or, if delim >= 0, before that byte
	 * arrives. */
	size_t need;
	int delim;
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
 *  - no protocol matches: the listener's CATCHALL (rule NULL if none).
 *
 * When the input is final, protocols still unsure count as not matching. */
bool route_decide(const struct listener *l, const struct route_in *in,
		  struct sniff *s, struct route *out);
bool rule_matches(const struct rule *r, const struct sniff *s,
		  const struct route_in *in);

#endif /* PT_ROUTE_H */
