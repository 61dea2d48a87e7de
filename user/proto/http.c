// SPDX-License-Identifier: GPL-2.0
/* HTTP/1.x probe: request line, then headers up to the first Host.
 *
 * One pass over the bytes with a small state machine (RFC 9112 grammar,
 * read strictly where leniency would let a router and a backend disagree
 * about the host).  The request line is judged byte by byte, so anything
 * that is not HTTP/1 (a TLS record, an SSH banner, the h2 preface "PRI *")
 * is refused within its first few bytes.
 */
#include <string.h>
#include <strings.h>

#include "proto/proto.h"

/* Methods a client may open a connection with.  PRI is absent on purpose:
 * "PRI * HTTP/2.0" is the HTTP/2 preface, not an HTTP/1 request. */
static const char *const methods[] = {
	"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH",
	"CONNECT", "TRACE",
};
#define N_METHODS (sizeof(methods) / sizeof(methods[0]))

enum hstate {
	S_METHOD,
	S_TARGET,
	S_VERSION,	/* "HTTP/1.x" */
	S_REQ_LF,	/* CR seen after the version */
	S_LINE,		/* start of a header line, or of the empty line */
	S_NAME,
	S_VALUE,
	S_VAL_LF,	/* CR seen in a header line */
	S_END_LF,	/* CR seen on the empty line */
};

/* Returns true if b[0..n) begins (or is) one of the methods. */
static bool method_prefix(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < N_METHODS; i++)
		if (strlen(methods[i]) >= n && !memcmp(methods[i], b, n))
			return true;
	return false;
}

static bool method_is(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < N_METHODS; i++)
		if (strlen(methods[i]) == n && !memcmp(methods[i], b, n))
			return true;
	return false;
}

/* tchar of RFC 9110 5.6.2: what a header name is made of. */
static bool is_tchar(uint8_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c);
}

static bool is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

/* Copy a host into out, lower-cased, one trailing dot stripped.  A host
 * name is non-empty dot-separated labels of letters, digits, '-', '_'
 * (the same test the TLS probe applies to SNI, so one rule matches both).
 * Returns true if it was one. */
static bool host_name_copy(char *out, const uint8_t *s, size_t n)
{
	if (n && s[n - 1] == '.')
		n--;
	if (!n || n > SNIFF_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];

		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		else if (c == '.') {
			if (i == 0 || s[i - 1] == '.')
				return false;
		} else if (!((c >= 'a' && c <= 'z') || is_digit(c) ||
			     c == '-' || c == '_'))
			return false;
		out[i] = (char)c;
	}
	if (s[n - 1] == '.')
		return false;	/* "a.." less one dot: still an empty label */
	out[n] = '\0';
	return true;
}

/* An IPv6 literal between brackets, kept without them (as Go's and
 * Python's URL parsers report a host): hex digits, ':' and '.' (for the
 * embedded IPv4 form), at least two colons (the shortest is "::"), and
 * no dot at either end.  Returns true if it looks like one. */
static bool host_v6_copy(char *out, const uint8_t *s, size_t n)
{
	int colons = 0;

	if (!n || n > SNIFF_NAME_MAX || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];

		if (c >= 'A' && c <= 'F')
			c += 'a' - 'A';
		if (!(is_digit(c) || (c >= 'a' && c <= 'f') || c == ':' ||
		      c == '.'))
			return false;
		colons += c == ':';
		out[i] = (char)c;
	}
	out[n] = '\0';
	return colons >= 2;
}

/* Parse "host[:port]" or "[v6]:port" (RFC 9110 7.2, uri-host) around
 * optional whitespace.  Sets out->has_host and out->host if the host is
 * usable; an empty or odd Host leaves has_host false. */
static void host_parse(struct sniff *out, const uint8_t *s, size_t n)
{
	const uint8_t *port;
	size_t hlen;
	bool ok;

	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (!n)
		return;
	if (s[0] == '[') {
		const uint8_t *rb = memchr(s, ']', n);

		if (!rb)
			return;
		hlen = rb - s - 1;
		port = rb + 1;
		if (port < s + n && *port != ':')
			return;
		ok = host_v6_copy(out->host, s + 1, hlen);
	} else {
		const uint8_t *colon = memchr(s, ':', n);

		hlen = colon ? (size_t)(colon - s) : n;
		port = s + hlen;
		ok = host_name_copy(out->host, s, hlen);
	}
	/* Whatever follows the host is ":" and a port of digits, or nothing. */
	if (port < s + n) {
		size_t plen = s + n - port - 1;

		if (plen > 5)
			ok = false;
		for (size_t i = 1; ok && i <= plen; i++)
			ok = is_digit(port[i]);
	}
	out->has_host = ok;
	if (!ok)
		memset(out->host, 0, sizeof(out->host));
}

/* An absolute-form target (RFC 9112 3.2.2) names the host itself, and a
 * server must then ignore the Host header: route on what it will use.
 * Returns true if t[0..n) is http:// or https:// (host parsed then). */
static bool absolute_form(struct sniff *out, const uint8_t *t, size_t n)
{
	size_t skip, end, at;

	if (n >= 7 && !strncasecmp((const char *)t, "http://", 7))
		skip = 7;
	else if (n >= 8 && !strncasecmp((const char *)t, "https://", 8))
		skip = 8;
	else
		return false;
	t += skip;
	n -= skip;
	for (end = 0; end < n; end++)
		if (t[end] == '/' || t[end] == '?' || t[end] == '#')
			break;
	/* authority = [ userinfo "@" ] host [ ":" port ] */
	for (at = end; at > 0; at--)
		if (t[at - 1] == '@')
			break;
	host_parse(out, t + at, end - at);
	return true;
}

/* The request line is complete: keep the target as path (truncated).
 * Returns true if the target alone settles the host. */
static bool request_line(struct sniff *out, const uint8_t *t, size_t n)
{
	memcpy(out->path, t, n < sizeof(out->path) ? n : sizeof(out->path) - 1);
	return absolute_form(out, t, n);
}

static void http_clear(struct sniff *out)
{
	out->has_host = false;
	memset(out->host, 0, sizeof(out->host));
	memset(out->method, 0, sizeof(out->method));
	memset(out->path, 0, sizeof(out->path));
}

/* Runs the state machine over buf.  Returns SNIFF_MATCH when the host is
 * known (a Host line is complete, or the target is absolute-form) or the
 * header block ends without one; SNIFF_MORE while buf is a valid prefix of
 * a request (*end: the state it stopped in); SNIFF_NO at the first byte
 * that cannot be one. */
static enum sniff_verdict http_parse(const uint8_t *buf, size_t len,
				     struct sniff *out, enum hstate *end)
{
	enum hstate st = S_METHOD;
	size_t tstart = 0, vstart = 0, vend = 0, nstart = 0;
	bool is_host = false, host_done = false;

	for (size_t i = 0; i < len; i++) {
		uint8_t c = buf[i];

		switch (st) {
		case S_METHOD:
			if (c == ' ') {
				if (!method_is(buf, i))
					return SNIFF_NO;
				memcpy(out->method, buf, i);
				tstart = i + 1;
				st = S_TARGET;
			} else if (!method_prefix(buf, i + 1)) {
				return SNIFF_NO;
			}
			break;
		case S_TARGET:
			if (c == ' ') {
				if (i == tstart)
					return SNIFF_NO;
				vstart = i + 1;
				st = S_VERSION;
			} else if (c < 0x21 || c == 0x7f) {
				return SNIFF_NO;	/* HTTP/0.9 or junk */
			}
			break;
		case S_VERSION:
			if (i - vstart < 7) {
				if (c != (uint8_t)"HTTP/1."[i - vstart])
					return SNIFF_NO;
				break;
			}
			if (i - vstart == 7) {
				if (!is_digit(c))
					return SNIFF_NO;
				break;
			}
			if (c == '\r') {
				st = S_REQ_LF;
				break;
			}
			/* A bare LF ends the line as well. */
			__attribute__((fallthrough));
		case S_REQ_LF:
			if (c != '\n')
				return SNIFF_NO;
			/* The target runs up to the space before "HTTP". */
			if (request_line(out, buf + tstart,
					 vstart - 1 - tstart))
				return SNIFF_MATCH;
			st = S_LINE;
			break;
		case S_LINE:
			/* A line that starts with whitespace continues the
			 * previous one (obs-fold): refuse it (RFC 9112 5.2),
			 * else "Host: a\r\n b" routes as "a" and a lenient
			 * backend reads "a b".  That is why a Host line is
			 * only taken once the next line has begun. */
			if (c == ' ' || c == '\t')
				return SNIFF_NO;
			if (host_done) {
				host_parse(out, buf + vstart, vend - vstart);
				return SNIFF_MATCH;
			}
			if (c == '\r') {
				st = S_END_LF;
			} else if (c == '\n') {
				return SNIFF_MATCH;
			} else if (is_tchar(c)) {
				nstart = i;
				st = S_NAME;
			} else {
				return SNIFF_NO;
			}
			break;
		case S_NAME:
			/* No space before the colon (RFC 9112 5.1). */
			if (c == ':') {
				is_host = i - nstart == 4 &&
					  !strncasecmp((const char *)buf +
						       nstart, "host", 4);
				vstart = i + 1;
				st = S_VALUE;
			} else if (!is_tchar(c)) {
				return SNIFF_NO;
			}
			break;
		case S_VALUE:
			if (c == '\r' || c == '\n') {
				vend = i;
				host_done = is_host;
				st = c == '\r' ? S_VAL_LF : S_LINE;
			} else if ((c < 0x20 && c != '\t') || c == 0x7f) {
				return SNIFF_NO;
			}
			break;
		case S_VAL_LF:
			if (c != '\n')
				return SNIFF_NO;
			st = S_LINE;
			break;
		case S_END_LF:
			if (c != '\n')
				return SNIFF_NO;
			return SNIFF_MATCH;
		}
	}
	*end = st;
	return SNIFF_MORE;
}

/* Returns SNIFF_MATCH (method, path and, if known, host filled in),
 * SNIFF_MORE or SNIFF_NO; on MORE and NO the HTTP fields are zeroed. */
static enum sniff_verdict http_identify(const uint8_t *buf, size_t len,
					struct sniff *out)
{
	enum sniff_verdict v;
	enum hstate st;

	http_clear(out);
	v = http_parse(buf, len, out, &st);
	if (v != SNIFF_MATCH)
		http_clear(out);
	return v;
}

/* The bytes that can move the state machine on from where the input
 * ends; in a target, a header name or a value the others pass, so a
 * header block of 16 KiB sent a byte at a time is parsed a few times a
 * line, not once a byte, while a bad byte is still seen when it comes. */
static size_t http_hint(const uint8_t *buf, size_t len, struct byteset *wake)
{
	struct sniff scratch;
	enum hstate st = S_METHOD;

	memset(&scratch, 0, sizeof(scratch));
	if (http_parse(buf, len, &scratch, &st) != SNIFF_MORE)
		return 0;
	switch (st) {
	case S_TARGET:		/* a space ends it; a control byte is refused */
		byteset_add(wake, 0x00, 0x20);
		byteset_add(wake, 0x7f, 0x7f);
		break;
	case S_NAME:		/* ':' ends it; any other non-tchar is refused */
		for (unsigned int c = 0; c < 256; c++)
			if (!is_tchar((uint8_t)c))
				byteset_add(wake, c, c);
		break;
	case S_VALUE:		/* CR or LF ends it; other controls are refused */
		byteset_add(wake, 0x00, 0x08);
		byteset_add(wake, 0x0a, 0x1f);
		byteset_add(wake, 0x7f, 0x7f);
		break;
	default:		/* every byte is judged */
		break;
	}
	return 0;
}

static const struct proto_keyword http_keywords[] = {
	{ "Host", FIELD_HOST, true },
	{ NULL, FIELD_ANY, false },
};

const struct proto proto_http = {
	.name = "HTTP",
	.identify = http_identify,
	.keywords = http_keywords,
	.hint = http_hint,
};
