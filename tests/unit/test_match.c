// SPDX-License-Identifier: GPL-2.0
/* The matchers rules are built from (user/config/match.c): names (exact, glob,
 * "~regex"; host names case-insensitive with one trailing dot ignored,
 * other fields as written), CIDR prefixes and lists over IPv4, IPv6 and
 * v4-mapped IPv6 peers, port ranges, and byte regexes. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "config/match.h"
#include "base/util.h"
#include "sockaddr.h"
#include "unit.h"

static char whybuf[256];

/* Compiles arg (host: as a host-name key), checks `kind`, then that it
 * matches every value of yes[] and none of no[] (NULL-terminated; the
 * string "(absent)" stands for a NULL value). */
static void want_name(struct unit_ctx *_u, const char *arg, bool host, enum name_kind kind,
		      const char *const *yes, const char *const *no)
{
	struct name_match m;
	const char *why = NULL;

	if (name_compile(&m, arg, host, whybuf, sizeof(whybuf), &why)) {
		FAILF("\"%s\" refused: %s", arg ? arg : "(null)", why);
		return;
	}
	if (m.kind != kind)
		FAILF("\"%s\": kind %d, want %d", arg ? arg : "(null)", m.kind, kind);
	for (int i = 0; yes[i] && !_u->failed; i++) {
		const char *v = strcmp(yes[i], "(absent)") ? yes[i] : NULL;

		if (!name_matches(&m, v))
			FAILF("\"%s\" does not match \"%s\"", arg ? arg : "(null)", yes[i]);
	}
	for (int i = 0; no[i] && !_u->failed; i++) {
		const char *v = strcmp(no[i], "(absent)") ? no[i] : NULL;

		if (name_matches(&m, v))
			FAILF("\"%s\" matches \"%s\"", arg ? arg : "(null)", no[i]);
	}
	name_free(&m);
}

#define LIST(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* arg is refused with a reason containing `why`. */
static void want_name_bad(struct unit_ctx *_u, const char *arg, const char *why)
{
	struct name_match m;
	const char *got = "(not set)";

	if (!name_compile(&m, arg, true, whybuf, sizeof(whybuf), &got)) {
		FAILF("\"%.40s\" compiled, want refused (%s)", arg, why);
		name_free(&m);
	} else if (!strstr(got, why)) {
		FAILF("\"%.40s\": \"%s\", want \"%s\"", arg, got, why);
	}
}

TEST(name_none)
{
	want_name(_u, NULL, true, NAME_NONE, LIST("(absent)"), LIST("a.example", ""));
	want_name(_u, "", false, NAME_NONE, LIST("(absent)"), LIST("x"));
}

TEST(name_exact)
{
	want_name(_u, "a.example", true, NAME_EXACT, LIST("a.example"),
		  LIST("b.example", "a.example.org", "xa.example", "a", "(absent)"));
}

TEST(name_host_case)
{
	/* The pattern is lower-cased; the probes hand over lower-case names. */
	want_name(_u, "WWW.Example.COM", true, NAME_EXACT, LIST("www.example.com"),
		  LIST("www.example.co"));
	want_name(_u, "*.Example.COM", true, NAME_GLOB,
		  LIST("a.example.com", "A.EXAMPLE.COM", "x.Example.Com"), LIST("a.example.org"));
}

TEST(name_trailing_dot)
{
	want_name(_u, "a.example.", true, NAME_EXACT, LIST("a.example"), LIST("a.example."));
	want_name(_u, "*.example.", true, NAME_GLOB, LIST("b.example"), LIST("b.example."));
	want_name(_u, "A.Example.", true, NAME_EXACT, LIST("a.example"), LIST("a.example."));
	/* Only one dot goes, and a lone "." stays. */
	want_name(_u, "a.example..", true, NAME_EXACT, LIST("a.example."), LIST("a.example"));
	want_name(_u, ".", true, NAME_EXACT, LIST("."), LIST("(absent)"));
}

TEST(name_as_written)
{
	/* Not a host (SSH banner, RDP cookie): no folding, the dot stays. */
	want_name(_u, "SSH-2.0-OpenSSH*", false, NAME_GLOB, LIST("SSH-2.0-OpenSSH_9.2p1"),
		  LIST("ssh-2.0-openssh_9.2p1", "SSH-2.0-PuTTY"));
	want_name(_u, "Alice", false, NAME_EXACT, LIST("Alice"), LIST("alice", "ALICE"));
	want_name(_u, "bob.", false, NAME_EXACT, LIST("bob."), LIST("bob"));
}

TEST(glob_star)
{
	/* '*' matches dots too (fnmatch without FNM_PATHNAME). */
	want_name(_u, "*.example", true, NAME_GLOB,
		  LIST("a.example", "a.b.example", ".example"),
		  LIST("example", "a.example.org", "aexample", "(absent)"));
	want_name(_u, "api*", true, NAME_GLOB, LIST("api", "api1.example", "apix"),
		  LIST("xapi", "ap"));
	want_name(_u, "*", true, NAME_GLOB, LIST("", "anything.at.all"), LIST("(absent)"));
}

TEST(glob_question_bracket)
{
	want_name(_u, "api?.example", true, NAME_GLOB, LIST("api1.example", "apix.example"),
		  LIST("api.example", "api12.example"));
	want_name(_u, "[ab].example", true, NAME_GLOB, LIST("a.example", "b.example", "B.example"),
		  LIST("c.example", "ab.example"));
	want_name(_u, "node[0-9].example", true, NAME_GLOB, LIST("node7.example"),
		  LIST("nodex.example", "node10.example"));
}

TEST(regex_key)
{
	want_name(_u, "~^api[0-9]+\\.", true, NAME_REGEX,
		  LIST("api1.example", "api42.example.org"),
		  LIST("api.example", "xapi1.example", "(absent)"));
	/* Unanchored unless ^ and $ say so. */
	want_name(_u, "~example", true, NAME_REGEX, LIST("www.example.org", "example"),
		  LIST("exampl"));
	want_name(_u, "~^a\\.example$", true, NAME_REGEX, LIST("a.example"),
		  LIST("a.example.org", "xa.example", "aXexample"));
	want_name(_u, "~^(www|api)\\.", true, NAME_REGEX, LIST("www.x", "api.y"), LIST("ftp.z"));
}

TEST(regex_case_insensitive)
{
	/* Always, host key or not. */
	want_name(_u, "~^API\\.Example$", true, NAME_REGEX, LIST("api.example", "API.EXAMPLE"),
		  LIST("api.example.org"));
	want_name(_u, "~^SSH-2\\.0-openssh", false, NAME_REGEX, LIST("SSH-2.0-OpenSSH_9.2"),
		  LIST("SSH-1.99-Cisco"));
}

TEST(regex_refused)
{
	char longest[1100];

	want_name_bad(_u, "~", "empty regular expression");
	want_name_bad(_u, "~(", "bad regular expression");
	want_name_bad(_u, "~a[", "bad regular expression");
	want_name_bad(_u, "~a**", "repetition of a repetition");
	want_name_bad(_u, "~a+{2}", "repetition of a repetition");
	want_name_bad(_u, "~(a+)?*", "repetition of a repetition");
	memset(longest, 'a', sizeof(longest) - 1);
	longest[0] = '~';
	longest[sizeof(longest) - 1] = '\0';
	want_name_bad(_u, longest, "longer than 1024");
	longest[1025] = '\0';	/* 1024 characters after '~': fine */
	want_name(_u, longest, true, NAME_REGEX, LIST(longest + 1), LIST("b"));
}

/* A parsed prefix: family, bits and the network in text. */
static void want_cidr(struct unit_ctx *_u, const char *s, int fam, int bits, const char *net)
{
	struct cidr c;
	const char *why = "(not set)";
	struct sockaddr_storage want = sockaddr_of(net, 0);
	const void *a = fam == AF_INET ? (const void *)&((struct sockaddr_in *)&want)->sin_addr
				       : (const void *)&((struct sockaddr_in6 *)&want)->sin6_addr;

	if (cidr_parse(s, &c, &why)) {
		FAILF("\"%s\" refused: %s", s, why);
		return;
	}
	CHECK_INT(c.family, fam);
	CHECK_INT(c.bits, bits);
	if (memcmp(c.addr, a, fam == AF_INET ? 4 : 16))
		FAILF("\"%s\": not the network %s", s, net);
}

static void want_cidr_bad(struct unit_ctx *_u, const char *s)
{
	struct cidr c;
	const char *why = NULL;

	if (!cidr_parse(s, &c, &why))
		FAILF("\"%s\" parsed, want refused", s);
	else if (!why || !*why)
		FAILF("\"%s\" refused without a reason", s);
}

TEST(cidr_parse_forms)
{
	want_cidr(_u, "10.0.0.0/8", AF_INET, 8, "10.0.0.0");
	want_cidr(_u, "10.1.2.3/8", AF_INET, 8, "10.0.0.0");	/* host bits cleared */
	want_cidr(_u, "192.0.2.7", AF_INET, 32, "192.0.2.7");	/* one host */
	want_cidr(_u, "192.0.2.255/25", AF_INET, 25, "192.0.2.128");
	want_cidr(_u, "1.2.3.4/0", AF_INET, 0, "0.0.0.0");
	want_cidr(_u, "10.0.0.0/08", AF_INET, 8, "10.0.0.0");
	want_cidr(_u, "2001:db8::/32", AF_INET6, 32, "2001:db8::");
	want_cidr(_u, "2001:db8:ffff::1/33", AF_INET6, 33, "2001:db8:8000::");
	want_cidr(_u, "::1", AF_INET6, 128, "::1");
	want_cidr(_u, "::/0", AF_INET6, 0, "::");
	/* v4-mapped: stored as the IPv4 prefix it stands for (clients are compared unmapped). */
	want_cidr(_u, "::ffff:10.1.2.3/104", AF_INET, 8, "10.0.0.0");
}

TEST(cidr_parse_refused)
{
	want_cidr_bad(_u, "");
	want_cidr_bad(_u, "/8");
	want_cidr_bad(_u, "10.0.0.0/");
	want_cidr_bad(_u, "10.0.0.0/33");
	want_cidr_bad(_u, "::/129");
	want_cidr_bad(_u, "10.0.0.0/-1");
	want_cidr_bad(_u, "10.0.0.0/+8");
	want_cidr_bad(_u, "10.0.0.0/ 8");
	want_cidr_bad(_u, "10.0.0.0/8x");
	want_cidr_bad(_u, "10.0.0.0/99999999999999999999");
	want_cidr_bad(_u, "10.0.0/8");
	want_cidr_bad(_u, "10.0.0.256");
	want_cidr_bad(_u, "[::1]/128");
	want_cidr_bad(_u, "example.com/8");
	want_cidr_bad(_u, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255x/1");
}

/* Whether the prefix s matches the address ip (text, v4 or v6). */
static bool in_cidr(const char *s, const char *ip)
{
	struct cidr c;
	const char *why;
	struct sockaddr_storage ss = sockaddr_of(ip, 1234);

	return !cidr_parse(s, &c, &why) && cidr_matches(&c, (struct sockaddr *)&ss);
}

TEST(cidr_match_v4)
{
	CHECK(in_cidr("10.0.0.0/8", "10.0.0.0"));
	CHECK(in_cidr("10.0.0.0/8", "10.255.255.255"));
	CHECK(!in_cidr("10.0.0.0/8", "11.0.0.0"));
	CHECK(!in_cidr("10.0.0.0/8", "9.255.255.255"));
	CHECK(in_cidr("192.0.2.128/25", "192.0.2.200"));
	CHECK(!in_cidr("192.0.2.128/25", "192.0.2.127"));
	CHECK(in_cidr("192.0.2.7", "192.0.2.7"));
	CHECK(!in_cidr("192.0.2.7", "192.0.2.6"));
	CHECK(in_cidr("0.0.0.0/0", "203.0.113.9"));
}

TEST(cidr_match_v6)
{
	CHECK(in_cidr("2001:db8::/32", "2001:db8::1"));
	CHECK(in_cidr("2001:db8::/32", "2001:db8:ffff:ffff::1"));
	CHECK(!in_cidr("2001:db8::/32", "2001:db9::1"));
	CHECK(in_cidr("2001:db8::/33", "2001:db8:7fff::1"));
	CHECK(!in_cidr("2001:db8::/33", "2001:db8:8000::1"));
	CHECK(in_cidr("::1", "::1"));
	CHECK(!in_cidr("::1", "::2"));
	CHECK(in_cidr("::/0", "fe80::1"));
	/* The families do not mix: IPv6 prefixes never match an IPv4 peer. */
	CHECK(!in_cidr("::/0", "10.0.0.1"));
	CHECK(!in_cidr("0.0.0.0/0", "2001:db8::1"));
}

TEST(cidr_match_v4_mapped)
{
	/* A v4 client on a dual-stack socket: IPv4 prefixes see its v4. */
	CHECK(in_cidr("10.0.0.0/8", "::ffff:10.1.2.3"));
	CHECK(!in_cidr("10.0.0.0/8", "::ffff:11.1.2.3"));
	CHECK(in_cidr("0.0.0.0/0", "::ffff:192.0.2.1"));
	CHECK(in_cidr("192.0.2.1", "::ffff:192.0.2.1"));
	/* Not other IPv6 addresses that end in the same bytes. */
	CHECK(!in_cidr("10.0.0.0/8", "::10.1.2.3"));
	CHECK(!in_cidr("10.0.0.0/8", "64:ff9b::10.1.2.3"));
	CHECK(!in_cidr("10.0.0.0/8", "2001:db8::ffff:10.1.2.3"));
	/* As an IPv6 prefix it is one, and matches the mapped form. */
	CHECK(in_cidr("::ffff:0:0/96", "::ffff:10.1.2.3"));
	CHECK(in_cidr("::ffff:10.0.0.0/104", "::ffff:10.1.2.3"));
	/* And an IPv4 client (conn.c unmaps it) too. */
	CHECK(in_cidr("::ffff:10.0.0.0/104", "10.1.2.3"));
	CHECK(!in_cidr("::ffff:10.0.0.0/104", "11.1.2.3"));
	CHECK(in_cidr("::ffff:192.0.2.1", "192.0.2.1"));
}

TEST(cidr_list)
{
	static const char *const nets[] = { "10.0.0.0/8", "2001:db8::/32", "192.0.2.7" };
	struct cidr c[3];
	const char *why;

	for (int i = 0; i < 3; i++)
		if (cidr_parse(nets[i], &c[i], &why))
			FAILF("\"%s\": %s", nets[i], why);
	static const struct {
		const char *ip;
		bool in;
	} cases[] = {
		{ "10.20.30.40", true }, { "::ffff:10.20.30.40", true }, { "2001:db8::5", true },
		{ "192.0.2.7", true }, { "::ffff:192.0.2.7", true },
		{ "192.0.2.8", false }, { "11.0.0.1", false }, { "2001:db9::5", false },
		{ "::1", false }, { "127.0.0.1", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) && !_u->failed; i++) {
		struct sockaddr_storage ss = sockaddr_of(cases[i].ip, 80);

		if (cidr_list_matches(c, 3, (struct sockaddr *)&ss) != cases[i].in)
			FAILF("%s: in the list %d, want %d", cases[i].ip, !cases[i].in,
			      cases[i].in);
	}
	{
		struct sockaddr_storage ss = sockaddr_of("10.0.0.1", 80);

		CHECK(!cidr_list_matches(c, 0, (struct sockaddr *)&ss));	/* empty list */
		ss.ss_family = AF_UNIX;						/* no address */
		CHECK(!cidr_list_matches(c, 3, (struct sockaddr *)&ss));
	}
}

TEST(unmap_v4_mapped)
{
	struct sockaddr_storage ss = sockaddr_of("::ffff:192.0.2.1", 443), want;

	addr_unmap(&ss);
	want = sockaddr_of("192.0.2.1", 443);
	CHECK(!memcmp(&ss, &want, sizeof(ss)));
	ss = sockaddr_of("2001:db8::1", 443);	/* not mapped: untouched */
	want = ss;
	addr_unmap(&ss);
	CHECK(!memcmp(&ss, &want, sizeof(ss)));
	ss = sockaddr_of("10.0.0.1", 80);
	want = ss;
	addr_unmap(&ss);
	CHECK(!memcmp(&ss, &want, sizeof(ss)));
}

/* s parses as lo..hi (hi 0: refused). */
static void want_ports(struct unit_ctx *_u, const char *s, int lo, int hi)
{
	struct port_range r = { 0, 0 };
	const char *why = NULL;
	int rc = port_range_parse(s, &r, &why);

	if (!hi ? !rc : (rc || r.lo != lo || r.hi != hi))
		FAILF("\"%s\": %d (%d-%d, %s), want %d-%d", s, rc, r.lo, r.hi,
		      why ? why : "-", lo, hi);
}

TEST(port_ranges)
{
	want_ports(_u, "443", 443, 443);
	want_ports(_u, "1", 1, 1);
	want_ports(_u, "65535", 65535, 65535);
	want_ports(_u, "8000-8099", 8000, 8099);
	want_ports(_u, "80-80", 80, 80);
	want_ports(_u, "1-65535", 1, 65535);
	want_ports(_u, "00443", 443, 443);
	want_ports(_u, "0", 0, 0);
	want_ports(_u, "65536", 0, 0);
	want_ports(_u, "1-65536", 0, 0);
	want_ports(_u, "000443", 0, 0);		/* six digits */
	want_ports(_u, "", 0, 0);
	want_ports(_u, "-", 0, 0);
	want_ports(_u, "80-", 0, 0);
	want_ports(_u, "-80", 0, 0);
	want_ports(_u, "90-80", 0, 0);
	want_ports(_u, "1-2-3", 0, 0);
	want_ports(_u, "+80", 0, 0);
	want_ports(_u, " 80", 0, 0);
	want_ports(_u, "http", 0, 0);
}

/* The byte regex pat (icase) matches each of yes[] and none of no[]. */
static void want_bytes(struct unit_ctx *_u, const char *pat, bool icase,
		       const char *const *yes, const char *const *no)
{
	regex_t re;
	const char *why = NULL;

	if (bytes_regex_compile(&re, pat, icase, whybuf, sizeof(whybuf), &why)) {
		FAILF("\"%s\" refused: %s", pat, why);
		return;
	}
	for (int i = 0; yes[i] && !_u->failed; i++)
		if (!bytes_regex_matches(&re, (const uint8_t *)yes[i], strlen(yes[i])))
			FAILF("\"%s\" does not match \"%s\"", pat, yes[i]);
	for (int i = 0; no[i] && !_u->failed; i++)
		if (bytes_regex_matches(&re, (const uint8_t *)no[i], strlen(no[i])))
			FAILF("\"%s\" matches \"%s\"", pat, no[i]);
	regfree(&re);
}

TEST(bytes_regex)
{
	want_bytes(_u, "^\\x16\\x03", false, LIST("\x16\x03\x01", "\x16\x03"),
		   LIST("\x16\x02", "x\x16\x03"));
	want_bytes(_u, "\\r\\n\\r\\n", false, LIST("GET / HTTP/1.1\r\n\r\n"), LIST("\r\n\n"));
	/* An escaped operator byte stands for itself. */
	want_bytes(_u, "^a\\x2eb$", false, LIST("a.b"), LIST("axb"));
	want_bytes(_u, "^\\x28\\x2a", false, LIST("(*"), LIST("x"));
	want_bytes(_u, "^[\\x41-\\x43]+$", false, LIST("ABCBA"), LIST("ABD"));
	want_bytes(_u, "^hello", true, LIST("HeLLo world"), LIST("help"));
	want_bytes(_u, "^hello", false, LIST("hello"), LIST("HELLO"));
}

/* A \xHH byte in a bracket expression is a member, whatever the byte:
 * "]" does not close it, "^" does not negate it, "-" makes no range. */
TEST(bytes_regex_brackets)
{
	want_bytes(_u, "^[a\\x5d]$", false, LIST("a", "]"), LIST("a]", "b"));
	want_bytes(_u, "^[\\x5e]$", false, LIST("^"), LIST("a"));
	want_bytes(_u, "^[\\x5ea]$", false, LIST("^", "a"), LIST("b"));
	want_bytes(_u, "^[a\\x2dz]$", false, LIST("a", "-", "z"), LIST("m"));
	want_bytes(_u, "^[\\x5b]$", false, LIST("["), LIST("a"));
	want_bytes(_u, "^[\\x20-\\x5d]+$", false, LIST(" ]", "A"), LIST("a"));
}

TEST(bytes_regex_input)
{
	static uint8_t big[BYTES_REGEX_MAX + 10];
	regex_t re;
	const char *why;

	CHECK_INT(bytes_regex_compile(&re, "a.b", false, whybuf, sizeof(whybuf), &why), 0);
	CHECK(!bytes_regex_matches(&re, (const uint8_t *)"a\0b", 3));	/* not even '.' */
	CHECK(bytes_regex_matches(&re, (const uint8_t *)"a\0axb", 5));
	CHECK(!bytes_regex_matches(&re, (const uint8_t *)"axb", 2));	/* len is the end */
	regfree(&re);
	/* Only the first BYTES_REGEX_MAX bytes are looked at. */
	memset(big, 'x', sizeof(big));
	memcpy(big + BYTES_REGEX_MAX - 3, "END", 3);
	memcpy(big + BYTES_REGEX_MAX + 2, "FAR", 3);
	CHECK_INT(bytes_regex_compile(&re, "END", false, whybuf, sizeof(whybuf), &why), 0);
	CHECK(bytes_regex_matches(&re, big, sizeof(big)));
	regfree(&re);
	CHECK_INT(bytes_regex_compile(&re, "FAR", false, whybuf, sizeof(whybuf), &why), 0);
	CHECK(!bytes_regex_matches(&re, big, sizeof(big)));
	regfree(&re);
}

TEST(bytes_regex_refused)
{
	regex_t re;
	const char *why;

	CHECK_INT(bytes_regex_compile(&re, "", false, whybuf, sizeof(whybuf), &why), -EINVAL);
	CHECK(strstr(why, "empty"));
	CHECK_INT(bytes_regex_compile(&re, "a\\x00", false, whybuf, sizeof(whybuf), &why),
		  -EINVAL);
	CHECK(strstr(why, "\\x00"));
	CHECK_INT(bytes_regex_compile(&re, "(a", false, whybuf, sizeof(whybuf), &why), -EINVAL);
	CHECK(strstr(why, "bad regular expression"));
	CHECK_INT(bytes_regex_compile(&re, "a+*", false, whybuf, sizeof(whybuf), &why), -EINVAL);
	CHECK(strstr(why, "repetition"));
}

UNIT_MAIN("match", name_none, name_exact, name_host_case, name_trailing_dot, name_as_written,
	  glob_star, glob_question_bracket, regex_key, regex_case_insensitive, regex_refused,
	  cidr_parse_forms, cidr_parse_refused, cidr_match_v4, cidr_match_v6,
	  cidr_match_v4_mapped, cidr_list, unmap_v4_mapped, port_ranges, bytes_regex, bytes_regex_brackets,
	  bytes_regex_input, bytes_regex_refused)
