// SPDX-License-Identifier: GPL-2.0
/* libFuzzer harness for the SOCKS5 probe (see fuzz_probe.h). */
#include "proto/proto.h"

extern const struct proto proto_socks5;
#define FUZZ_PROTO proto_socks5

#include "fuzz_probe.h"

/* It reports no facts: MATCH is all it says. */
static void clear_own(struct sniff *s)
{
	(void)s;
}
