// SPDX-License-Identifier: GPL-2.0
/* Name, address, port and byte matchers (see match.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/match.h"

static void regex_why(int rc, const regex_t *re, char *whybuf, size_t whylen,
		      const char **why)
{
	int n = snprintf(whybuf, whylen, "bad regular expression: ");

	if (n > 0 && (size_t)n < whylen)
		regerror(rc, re, whybuf + n, whylen - n);
	*why = whybuf;
}

/* POSIX leaves "a**" and "a+{2}" undefined, and glibc takes them as
 * nested repetitions whose matching time explodes: refuse them, and very
 * long expressions, so that a config can never stall the router. */
static int ere_sane(const char *p, const char **why)
{
	bool after_rep = false;

	if (strlen(p) > 1024) {
		*why = "regular expression longer than 1024 characters";
		return -EINVAL;
	}
	for (size_t i = 0; p[i]; i++) {
		char c = p[i];

		if (c == '\\' && p[i + 1]) {
			i++;
			after_rep = false;
		} else if (c == '[') {
			/* a bracket expression: skip to its ']' */
			size_t j = i + 1;

			if (p[j] == '^')
				j++;
			if (p[j] == ']')
				j++;
			while (p[j] && p[j] != ']')
				j++;
			i = p[j] ? j : i;
			after_rep = false;
		} else if (c == '*' || c == '+' || c == '?' || c == '{') {
			if (after_rep) {
				*why = "a repetition of a repetition (such as \"a++\" or \"a*{2}\") is not supported";
				return -EINVAL;
			}
			if (c == '{')
				while (p[i + 1] && p[i] != '}')
					i++;
			after_rep = true;
		} else {
			after_rep = false;
		}
	}
	return 0;
}

int name_compile(struct name_match *m, const char *arg, bool host,
		 char *whybuf, size_t whylen, const char **why)
{
	size_t n;

	memset(m, 0, sizeof(*m));
	m->fold = host;
	if (!arg || !*arg) {
		m->kind = NAME_NONE;
		return 0;
	}
	if (arg[0] == '~') {
		int rc;

		if (!arg[1]) {
			*why = "empty regular expression after '~'";
			return -EINVAL;
		}
		if (ere_sane(arg + 1, why))
			return -EINVAL;
		/* Case-insensitive always: names are, and an ERE can still
		 * spell out a case with a bracket if it must. */
		rc = regcomp(&m->re, arg + 1, REG_EXTENDED | REG_ICASE | REG_NOSUB);
		if (rc) {
			regex_why(rc, &m->re, whybuf, whylen, why);
			regfree(&m->re);
			return -EINVAL;
		}
		m->kind = NAME_REGEX;
		return 0;
	}
	m->text = strdup(arg);
	if (!m->text) {
		*why = "out of memory";
		return -ENOMEM;
	}
	if (host) {
		for (char *p = m->text; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		n = strlen(m->text);
		if (n > 1 && m->text[n - 1] == '.')
			m->text[n - 1] = '\0';
	}
	m->kind = strpbrk(m->text, "*?[") ? NAME_GLOB : NAME_EXACT;
	return 0;
}

bool name_matches(const struct name_match *m, const char *value)
{
	switch (m->kind) {
	case NAME_NONE:
		return !value;
	case NAME_EXACT:
		return value && !strcmp(m->text, value);
	case NAME_GLOB:
		return value && !fnmatch(m->text, value, m->fold ? FNM_CASEFOLD : 0);
	case NAME_REGEX:
		return value && !regexec(&m->re, value, 0, NULL, 0);
	}
	return false;
}

void name_free(struct name_match *m)
{
	if (m->kind == NAME_REGEX)
		regfree(&m->re);
	free(m->text);
	memset(m, 0, sizeof(*m));
}

/* ---- addresses -------------------------------------------------------- */

int cidr_parse(const char *s, struct cidr *c, const char **why)
{
	char ip[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t iplen = slash ? (size_t)(slash - s) : strlen(s);
	int max;

	memset(c, 0, sizeof(*c));
	if (!iplen || iplen >= sizeof(ip)) {
		*why = "expected an address or a prefix such as \"10.0.0.0/8\" or \"::1/128\"";
		return -EINVAL;
	}
	memcpy(ip, s, iplen);
	ip[iplen] = '\0';
	if (inet_pton(AF_INET, ip, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, ip, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else {
		*why = "bad IP address (IPv6 without brackets, e.g. \"2001:db8::/32\")";
		return -EINVAL;
	}
	c->bits = (uint8_t)max;
	if (slash) {
		char *end;
		long v;

		errno = 0;
		v = strtol(slash + 1, &end, 10);
		if (!isdigit((unsigned char)slash[1]) || errno || *end || v < 0 || v > max) {
			*why = max == 32 ? "prefix length must be from 0 to 32"
					 : "prefix length must be from 0 to 128";
			return -EINVAL;
		}
		c->bits = (uint8_t)v;
	}
	/* Clear the host bits so that comparing is a masked memcmp. */
	for (int i = c->bits; i < max; i++)
		c->addr[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
	/* A v4-mapped prefix (::ffff:10.0.0.0/104) is the IPv4 one: clients
	 * are compared in their IPv4 form (addr_unmap), it must match them. */
	/* c->addr is a byte array: no in6_addr cast (alignment). */
	static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (c->family == AF_INET6 && c->bits >= 96 &&
	    !memcmp(c->addr, v4mapped, sizeof(v4mapped))) {
		memmove(c->addr, c->addr + 12, 4);
		memset(c->addr + 4, 0, 12);
		c->family = AF_INET;
		c->bits -= 96;
	}
	return 0;
}

static bool prefix_eq(const uint8_t *a, const uint8_t *net, int bits)
{
	int full = bits / 8, rest = bits % 8;

	if (memcmp(a, net, full))
		return false;
	if (!rest)
		return true;
	return ((a[full] ^ net[full]) & (uint8_t)(0xff00 >> rest)) == 0;
}

bool cidr_matches(const struct cidr *c, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;

		return c->family == AF_INET &&
		       prefix_eq((const uint8_t *)&s4->sin_addr, c->addr, c->bits);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		const uint8_t *a = s6->sin6_addr.s6_addr;

		if (c->family == AF_INET6)
			return prefix_eq(a, c->addr, c->bits);
		return IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) &&
		       prefix_eq(a + 12, c->addr, c->bits);
	}
	return false;
}

bool cidr_list_matches(const struct cidr *c, int n, const struct sockaddr *sa)
{
	for (int i = 0; i < n; i++)
		if (cidr_matches(&c[i], sa))
			return true;
	return false;
}

/* ---- ports -------------------------------------------------------------- */

static int port_num(const char *s, const char *end, uint16_t *out)
{
	long v = 0;

	if (s == end || end - s > 5)
		return -EINVAL;
	for (const char *p = s; p < end; p++) {
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		v = v * 10 + (*p - '0');
	}
	if (v < 1 || v > 65535)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

int port_range_parse(const char *s, struct port_range *r, const char **why)
{
	const char *dash = strchr(s, '-');
	const char *end = s + strlen(s);
	int err;

	err = port_num(s, dash ? dash : end, &r->lo);
	if (!err && dash)
		err = port_num(dash + 1, end, &r->hi);
	else if (!err)
		r->hi = r->lo;
	if (err) {
		*why = "expected a port from 1 to 65535 or a range such as \"8000-8099\"";
		return -EINVAL;
	}
	if (r->lo > r->hi) {
		*why = "a port range goes from low to high";
		return -EINVAL;
	}
	return 0;
}

/* ---- bytes -------------------------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int bytes_regex_compile(regex_t *re, const char *pattern, bool icase,
			char *whybuf, size_t whylen, const char **why)
{
	size_t n = strlen(pattern);
	char *pat = malloc(2 * n + 1), *o = pat;
	int depth = 0, rc;

	if (!pat) {
		*why = "out of memory";
		return -ENOMEM;
	}
	if (!n) {
		free(pat);
		*why = "empty regular expression";
		return -EINVAL;
	}
	/* \xHH -> the byte, \r \n \t -> CR LF TAB; outside a bracket
	 * expression a byte that is an ERE operator is escaped so it stands
	 * for itself. */
	for (size_t i = 0; i < n; i++) {
		char c = pattern[i];

		if (c == '\\' && pattern[i + 1] == 'x' && i + 3 <= n &&
		    hexval(pattern[i + 2]) >= 0 && hexval(pattern[i + 3]) >= 0) {
			int b = hexval(pattern[i + 2]) << 4 | hexval(pattern[i + 3]);

			if (!b) {
				free(pat);
				*why = "\\x00 cannot be written: NUL bytes are never matched (not even by \".\")";
				return -EINVAL;
			}
			if (!depth && strchr(".[]()*+?{}|^$\\", b)) {
				*o++ = '\\';
			} else if (depth && strchr("]^-[", b)) {
				/* In a bracket expression these close it, negate
				 * it or make a range: as a collating symbol the
				 * byte is only itself ("[a\x5d]" is a or ]). */
				*o++ = '[';
				*o++ = '.';
				*o++ = (char)b;
				*o++ = '.';
				b = ']';
			}
			*o++ = (char)b;
			i += 3;
			continue;
		}
		if (c == '\\' && i + 1 < n && strchr("rnt", pattern[i + 1])) {
			char e = pattern[++i];

			*o++ = e == 'r' ? '\r' : e == 'n' ? '\n' : '\t';
			continue;
		}
		if (c == '\\' && i + 1 < n) {
			*o++ = c;
			*o++ = pattern[++i];
			continue;
		}
		if (c == '[' && !depth) {
			depth = 1;
			*o++ = c;
			/* "[]..." and "[^]...": that ']' is a member */
			if (pattern[i + 1] == '^')
				*o++ = pattern[++i];
			if (pattern[i + 1] == ']')
				*o++ = pattern[++i];
			continue;
		}
		if (c == ']' && depth)
			depth = 0;
		*o++ = c;
	}
	*o = '\0';
	if (ere_sane(pat, why)) {
		free(pat);
		return -EINVAL;
	}
	rc = regcomp(re, pat, REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0));
	free(pat);
	if (rc) {
		regex_why(rc, re, whybuf, whylen, why);
		regfree(re);
		return -EINVAL;
	}
	return 0;
}

bool bytes_regex_matches(const regex_t *re, const uint8_t *buf, size_t len)
{
	char copy[BYTES_REGEX_MAX + 1];
	regmatch_t m = { .rm_so = 0 };

	/* REG_STARTEND bounds glibc, but sanitizers' regexec wrappers read
	 * the string to its NUL: give them one. */
	if (len > BYTES_REGEX_MAX)
		len = BYTES_REGEX_MAX;
	memcpy(copy, buf, len);
	copy[len] = '\0';
	m.rm_eo = (regoff_t)len;
	return !regexec(re, copy, 1, &m, REG_STARTEND);
}
