// SPDX-License-Identifier: GPL-2.0
/* SSH probe: the client's identification line (RFC 4253 4.2),
 *
 *	SSH-protoversion-softwareversion SP comments CR LF
 *
 * at most 255 bytes with the CR LF.  The client speaks first here; a client
 * that waits for the server's banner is the caller's timeout case.
 */
#include <string.h>

#include "proto/proto.h"

#define SSH_LINE_MAX 255	/* RFC 4253 4.2, CR LF included */

static void ssh_clear(struct sniff *out)
{
	memset(out->ssh_banner, 0, sizeof(out->ssh_banner));
}

/* Check b[0..n) as a prefix of an identification line.  Beyond the RFC's
 * shape we refuse control bytes but tab: the banner ends up in rules and
 * logs, where an escape sequence has no business.
 * The software version is not checked for '-' (the RFC forbids it, but
 * JSch and others send "SSH-2.0-JSCH-0.1.54").
 * Returns SNIFF_MATCH if a whole line is there (*eol = index of its LF),
 * SNIFF_MORE if it may still become one, SNIFF_NO if it cannot. */
static enum sniff_verdict ssh_scan(const uint8_t *b, size_t n, size_t *eol)
{
	static const char magic[] = "SSH-";
	size_t i, dash = 0;

	for (i = 0; i < n && i < SSH_LINE_MAX; i++) {
		uint8_t c = b[i];

		if (i < 4) {
			if (c != (uint8_t)magic[i])
				return SNIFF_NO;
			continue;
		}
		if (c == '\n') {
			/* protoversion and softwareversion both non-empty */
			if (!dash || i - (b[i - 1] == '\r') <= dash + 1)
				return SNIFF_NO;
			*eol = i;
			return SNIFF_MATCH;
		}
		if (b[i - 1] == '\r')
			return SNIFF_NO;	/* CR only before LF */
		if (c == '\r')
			continue;
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return SNIFF_NO;
		if (!dash) {
			/* protoversion: "2.0", "1.99" (RFC 4253 5.1) */
			if (c == '-' && i > 4)
				dash = i;
			else if (!(c == '.' || (c >= '0' && c <= '9')))
				return SNIFF_NO;
		}
	}
	/* 255 bytes and no LF yet: too long for an identification line. */
	return i < SSH_LINE_MAX ? SNIFF_MORE : SNIFF_NO;
}

/* Returns SNIFF_MATCH with ssh_banner set to the line without CR LF,
 * SNIFF_MORE or SNIFF_NO (ssh_banner zeroed on those). */
static enum sniff_verdict ssh_identify(const uint8_t *buf, size_t len,
				       struct sniff *out)
{
	size_t eol = 0, n;
	enum sniff_verdict v;

	ssh_clear(out);
	v = ssh_scan(buf, len, &eol);
	if (v != SNIFF_MATCH)
		return v;
	n = eol;
	if (buf[n - 1] == '\r')
		n--;
	/* n <= 254: the line is SSH_LINE_MAX bytes at most, LF included. */
	memcpy(out->ssh_banner, buf, n);
	return SNIFF_MATCH;
}

static const struct proto_keyword ssh_keywords[] = {
	{ "SSH", FIELD_SSH_BANNER, false },
	{ NULL, FIELD_ANY, false },
};

const struct proto proto_ssh = {
	.name = "SSH",
	.identify = ssh_identify,
	.keywords = ssh_keywords,
};
