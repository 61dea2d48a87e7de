// SPDX-License-Identifier: GPL-2.0
/* libFuzzer harness for the XMPP probe (see fuzz_probe.h). */
#include "proto/proto.h"

extern const struct proto proto_xmpp;
#define FUZZ_PROTO proto_xmpp

#include "fuzz_probe.h"

/* to='...' as has_host/host: a normalised host name, or nothing. */
static void clear_own(struct sniff *s)
{
	size_t n = fact_len("host", s->host, sizeof(s->host), s->has_host);

	for (size_t i = 0; i < n; i++) {
		char c = s->host[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '_' || c == '.') || (c == '.' && (i == 0 || s->host[i - 1] == '.')))
			BUG("host \"%s\"", s->host);
	}
	s->has_host = false;
	memset(s->host, 0, sizeof(s->host));
}
