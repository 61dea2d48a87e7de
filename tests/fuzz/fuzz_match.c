// SPDX-License-Identifier: GPL-2.0
/* libFuzzer harness for the matchers: the input's first line is a pattern
 * (name, "~regex" or a byte regex), the rest a value; compiling and
 * matching must neither crash nor over-read, and CIDR and port parsing of
 * the first line must not either. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config/match.h"

#define FUZZ_NAME "fuzz_match"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t plen = nl ? (size_t)(nl - data) : size;
	char *pat = malloc(plen + 1), *val;
	size_t vlen = nl ? size - plen - 1 : 0;
	struct name_match m;
	struct cidr c;
	struct port_range pr;
	char why[256];
	const char *w;
	regex_t re;

	if (plen > 200) {
		free(pat);
		return 0;
	}
	memcpy(pat, data, plen);
	pat[plen] = '\0';
	val = malloc(vlen + 1);
	memcpy(val, nl ? nl + 1 : data, vlen);
	val[vlen] = '\0';
	if (!name_compile(&m, pat, plen & 1, why, sizeof(why), &w)) {
		name_matches(&m, val);
		name_matches(&m, NULL);
		name_free(&m);
	}
	if (!bytes_regex_compile(&re, pat, false, why, sizeof(why), &w)) {
		uint8_t *copy = fuzz_copy(val, vlen);

		bytes_regex_matches(&re, copy, vlen);
		free(copy);
		regfree(&re);
	}
	if (!cidr_parse(pat, &c, &w)) {
		struct sockaddr_storage ss;

		memset(&ss, 0, sizeof(ss));
		ss.ss_family = (vlen & 1) ? AF_INET6 : AF_INET;
		memcpy((char *)&ss + 4, val, vlen < 24 ? vlen : 24);
		cidr_matches(&c, (struct sockaddr *)&ss);
	}
	port_range_parse(pat, &pr, &w);
	free(pat);
	free(val);
	return 0;
}
