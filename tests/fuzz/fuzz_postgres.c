// SPDX-License-Identifier: GPL-2.0
/* libFuzzer harness for the POSTGRES probe (see fuzz_probe.h). */
#include "proto/proto.h"

extern const struct proto proto_postgres;
#define FUZZ_PROTO proto_postgres

#include "fuzz_probe.h"

/* It reports no facts: MATCH is all it says. */
static void clear_own(struct sniff *s)
{
	(void)s;
}
