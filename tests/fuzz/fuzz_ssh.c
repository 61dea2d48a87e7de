// SPDX-License-Identifier: GPL-2.0
/* libFuzzer harness for the SSH probe: fuzz_probe.h drives it (exact-size
 * copies, the verdict stable over prefixes, facts only on MATCH and only
 * SSH's, the hint), here over every prefix up to 300 bytes (the verdict
 * is settled by 255), and on top of that it checks
 *  - the verdict is never BROKEN, and no longer MORE from 255 bytes on;
 *  - a sane banner (check_facts): the line itself, at the start of the
 *    input, followed by LF or CR LF, without CR, LF or NUL, NUL-terminated
 *    in its array;
 *  - the first bytes of TLS, HTTP and SSH differ: whatever SSH does not
 *    refuse, TLS and HTTP do (FUZZ_RIVALS). */
#include "proto/proto.h"

extern const struct proto proto_tls, proto_http, proto_ssh;
#define FUZZ_PROTO proto_ssh
#define FUZZ_NAME "fuzz_ssh"
#define FUZZ_RIVALS &proto_tls, &proto_http
#define FUZZ_CHECK_CUT check_facts
#define FUZZ_SMALL 300
#define FUZZ_HEAD 301

#include "fuzz_probe.h"

static void clear_own(struct sniff *s)
{
	memset(s->ssh_banner, 0, sizeof(s->ssh_banner));
}

static void check_facts(const uint8_t *data, size_t len, enum sniff_verdict v,
			const struct sniff *s)
{
	size_t n = strnlen(s->ssh_banner, sizeof(s->ssh_banner));

	if (v == SNIFF_BROKEN)
		BUG("verdict %d", v);
	if (len >= 255 && v == SNIFF_MORE)
		BUG("MORE after %zu bytes", len);
	if (v != SNIFF_MATCH)
		return;
	/* The banner is the line: it starts the input, a LF follows it
	 * (maybe after one CR) and it holds no CR, LF or NUL. */
	if (n < 7 || n > 254 || memcmp(s->ssh_banner, "SSH-", 4) ||
	    memcmp(data, s->ssh_banner, n) || n >= len ||
	    !(data[n] == '\n' || (data[n] == '\r' && n + 1 < len &&
				  data[n + 1] == '\n')))
		BUG("banner \"%.40s\" of length %zu", s->ssh_banner, n);
	if (strpbrk(s->ssh_banner, "\r\n"))
		BUG("CR or LF in banner");
}
