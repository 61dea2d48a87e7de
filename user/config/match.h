/* SPDX-License-Identifier: GPL-2.0 */
/* Matchers a rule is built from, compiled once at load time:
 *
 *   names     "a.example" exact, "*.example" glob, "~^api[0-9]+\." regex;
 *             case-insensitive, one trailing dot ignored
 *   addresses "10.0.0.0/8", "::1/128", "192.0.2.7" (one host)
 *   ports     443, "8000-8099"
 *   bytes     a POSIX ERE over raw bytes, with \xHH escapes
 *
 * Pure functions, no allocation when matching. */
#ifndef PT_MATCH_H
#define PT_MATCH_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum name_kind {
	NAME_NONE = 0,	/* the rule names nothing: matches an ABSENT value */
	NAME_EXACT,
	NAME_GLOB,	/* fnmatch(3): '*' also matches dots */
	NAME_REGEX,	/* POSIX ERE, unanchored unless ^ and $ say so */
};

struct name_match {
	enum name_kind kind;
	bool fold;		/* compare case-insensitively */
	char *text;		/* normalised pattern (not for NAME_REGEX) */
	regex_t re;
};

/* arg NULL or "": NAME_NONE.  `host` normalises exact and glob patterns
 * like host names (lower case, no trailing dot) and folds case; else
 * (SSH banners, RDP cookies) they are taken as written, case-sensitive
 * for globs.  Returns 0 or -EINVAL with *why set (static or in whybuf). */
int name_compile(struct name_match *m, const char *arg, bool host,
		 char *whybuf, size_t whylen, const char **why);
/* value NULL: the field is absent. */
bool name_matches(const struct name_match *m, const char *value);
void name_free(struct name_match *m);

struct cidr {
	uint8_t family;		/* AF_INET or AF_INET6 */
	uint8_t bits;
	uint8_t addr[16];	/* network byte order, host bits cleared */
};

int cidr_parse(const char *s, struct cidr *c, const char **why);
/* v4-mapped IPv6 addresses (::ffff:a.b.c.d) match IPv4 prefixes. */
bool cidr_matches(const struct cidr *c, const struct sockaddr *sa);
bool cidr_list_matches(const struct cidr *c, int n, const struct sockaddr *sa);

struct port_range {
	uint16_t lo, hi;
};

/* "443" or "8000-8099". */
int port_range_parse(const char *s, struct port_range *r, const char **why);

/* A POSIX ERE over raw bytes: "\xHH" stands for the byte HH (00 refused:
 * regcomp takes C strings), "\r", "\n", "\t" for CR, LF, TAB.  Compiled REG_EXTENDED | REG_NOSUB, and
 * REG_ICASE if `icase`. */
int bytes_regex_compile(regex_t *re, const char *pattern, bool icase,
			char *whybuf, size_t whylen, const char **why);
#define BYTES_REGEX_MAX 4096	/* bytes looked at, at most */

/* Matches anywhere in buf[0..len) (len capped at BYTES_REGEX_MAX); NUL
 * bytes are part of the input but no expression matches them. */
bool bytes_regex_matches(const regex_t *re, const uint8_t *buf, size_t len);

#endif /* PT_MATCH_H */
