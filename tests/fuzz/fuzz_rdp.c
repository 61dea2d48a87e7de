// SPDX-License-Identifier: GPL-2.0
/* libFuzzer harness for the RDP probe (see fuzz_probe.h). */
#include "proto/proto.h"

extern const struct proto proto_rdp;
#define FUZZ_PROTO proto_rdp

#include "fuzz_probe.h"

static void clear_own(struct sniff *s)
{
	fact_len("cookie", s->rdp_cookie, sizeof(s->rdp_cookie), s->has_rdp_cookie);
	s->has_rdp_cookie = false;
	memset(s->rdp_cookie, 0, sizeof(s->rdp_cookie));
}
