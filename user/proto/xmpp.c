// SPDX-License-Identifier: GPL-2.0
/* XMPP (RFC 6120 4.2): a client or server opens with an optional XML
 * declaration and the stream header,
 *
 *	<?xml version='1.0'?><stream:stream to='example.com' version='1.0'
 *	    xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>
 *
 * MATCH at the '>' closing the stream header, with to='...' reported as
 * has_host/host (lower case, no trailing dot) so that "Host example.com"
 * routes XMPP domains as it routes HTTP hosts. */
#include <string.h>

#include "proto/proto.h"

#define XMPP_MAX	2048	/* declaration + stream header */

static const char decl[] = "<?xml";
static const char stream[] = "<stream:stream";

static bool is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void xmpp_clear(struct sniff *out)
{
	out->has_host = false;
	memset(out->host, 0, sizeof(out->host));
}

/* to='name': the same host-name test the TLS and HTTP probes apply. */
static void take_host(struct sniff *out, const uint8_t *s, size_t n)
{
	if (n && s[n - 1] == '.')
		n--;
	if (!n || n > SNIFF_NAME_MAX)
		return;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];

		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		else if (c == '.' && (i == 0 || s[i - 1] == '.'))
			break;
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			   c == '-' || c == '_' || c == '.'))
			break;
		out->host[i] = (char)c;
		if (i + 1 == n) {
			out->host[n] = '\0';
			out->has_host = true;
			return;
		}
	}
	memset(out->host, 0, sizeof(out->host));	/* not a host name */
}

/* Is b[0..n) a prefix of lit (or lit itself, when n >= its length)? */
static bool lit_prefix(const uint8_t *b, size_t n, const char *lit)
{
	size_t l = strlen(lit);

	return !memcmp(b, lit, n < l ? n : l);
}

/* The attributes of the stream header from b[i]: name = 'value' pairs
 * up to '>'.  Returns SNIFF_MATCH at the '>', SNIFF_MORE or SNIFF_NO. */
static enum sniff_verdict attributes(const uint8_t *b, size_t len, size_t i,
				     struct sniff *out)
{
	const uint8_t *to = NULL;
	size_t tolen = 0;

	for (;;) {
		size_t nstart, nlen, vstart;
		uint8_t q;

		while (i < len && is_space(b[i]))
			i++;
		if (i >= len)
			return SNIFF_MORE;
		if (b[i] == '>') {
			if (to)
				take_host(out, to, tolen);
			return SNIFF_MATCH;
		}
		nstart = i;
		while (i < len && b[i] != '=' && !is_space(b[i]) && b[i] != '>' &&
		       b[i] != '\'' && b[i] != '"' && b[i] != '<')
			i++;
		if (i >= len)
			return SNIFF_MORE;
		nlen = i - nstart;
		while (i < len && is_space(b[i]))
			i++;
		if (i >= len)
			return SNIFF_MORE;
		if (!nlen || b[i] != '=')
			return SNIFF_NO;
		i++;
		while (i < len && is_space(b[i]))
			i++;
		if (i >= len)
			return SNIFF_MORE;
		q = b[i];
		if (q != '\'' && q != '"')
			return SNIFF_NO;
		vstart = ++i;
		while (i < len && b[i] != q) {
			if (b[i] == '<')
				return SNIFF_NO;
			i++;
		}
		if (i >= len)
			return SNIFF_MORE;
		if (nlen == 2 && !memcmp(b + nstart, "to", 2) && !to) {
			to = b + vstart;
			tolen = i - vstart;
		}
		i++;
		/* attributes are separated by whitespace */
		if (i < len && !is_space(b[i]) && b[i] != '>')
			return SNIFF_NO;
	}
}

static enum sniff_verdict xmpp_parse(const uint8_t *b, size_t len,
				     struct sniff *out)
{
	size_t i = 0, sl = strlen(stream);

	if (len > XMPP_MAX)
		len = XMPP_MAX;
	if (len && b[0] != '<')
		return SNIFF_NO;
	/* <?xml ... ?> */
	if (len >= 2 && b[1] == '?') {
		if (!lit_prefix(b, len, decl))
			return SNIFF_NO;
		for (i = strlen(decl); i + 1 < len; i++)
			if (b[i] == '?' && b[i + 1] == '>')
				break;
		if (i + 1 >= len)
			return len >= XMPP_MAX ? SNIFF_NO : SNIFF_MORE;
		i += 2;
		while (i < len && is_space(b[i]))
			i++;
	}
	if (i >= len)
		return SNIFF_MORE;
	if (!lit_prefix(b + i, len - i, stream))
		return SNIFF_NO;
	if (len - i <= sl)
		return SNIFF_MORE;
	if (!is_space(b[i + sl]) && b[i + sl] != '>')
		return SNIFF_NO;
	{
		enum sniff_verdict v = attributes(b, len, i + sl, out);

		return v == SNIFF_MORE && len >= XMPP_MAX ? SNIFF_NO : v;
	}
}

static enum sniff_verdict xmpp_identify(const uint8_t *buf, size_t len,
					struct sniff *out)
{
	enum sniff_verdict v;

	xmpp_clear(out);
	v = xmpp_parse(buf, len, out);
	if (v != SNIFF_MATCH)
		xmpp_clear(out);
	return v;
}

static const struct proto_keyword xmpp_keywords[] = {
	{ "XMPP", FIELD_ANY, false },
	{ "Host", FIELD_HOST, false },
	{ NULL, FIELD_ANY, false },
};

const struct proto proto_xmpp = {
	.name = "XMPP",
	.identify = xmpp_identify,
	.keywords = xmpp_keywords,
};
