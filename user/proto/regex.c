// SPDX-License-Identifier: GPL-2.0
/* REGEX: the first bytes matched against the rules' own expressions
 * ("REGEX ^SSH-2\.0", "REGEX ^\x16\x03[\x01-\x04]"), like sslh's regex
 * probe.  The probe cannot know the expressions (it is a pure function
 * of the input), so it only says whether there is input: the router
 * tries the rules on the bytes (route.c), and waits for more while none
 * matches, up to the listener's regex_window bytes. */
#include "proto/proto.h"

static enum sniff_verdict regex_identify(const uint8_t *buf, size_t len,
					 struct sniff *out)
{
	(void)buf;
	(void)out;
	return len ? SNIFF_MATCH : SNIFF_MORE;
}

static const struct proto_keyword regex_keywords[] = {
	{ "REGEX", FIELD_REGEX, true },
	{ NULL, FIELD_ANY, false },
};

const struct proto proto_regex = {
	.name = "REGEX",
	.identify = regex_identify,
	.keywords = regex_keywords,
	.rules_decide = true,
};
