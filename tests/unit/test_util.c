// SPDX-License-Identifier: GPL-2.0
/* The parsers of user/base/util.c that read the config and the command line:
 * addr_parse() ("host:port", literals v4 and bracketed v6, host names),
 * parse_duration_ms() and parse_size() with every unit they take, their
 * refusals and their overflows. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "base/util.h"
#include "sockaddr.h"
#include "unit.h"

/* What addr_parse() gave: rc, then on success the rest. */
struct parsed {
	int rc;
	char host[64];
	uint16_t port;
	struct sockaddr_storage ss;
	socklen_t sslen;
	bool literal;
	const char *why;
};

static struct parsed parse(const char *text, size_t hostlen)
{
	struct parsed p;

	memset(&p, 0, sizeof(p));
	p.why = "(not set)";
	p.rc = addr_parse(text, p.host, hostlen, &p.port, &p.ss, &p.sslen, &p.literal, &p.why);
	return p;
}

/* text parses as host and port; a literal of family fam (0: a name). */
static void want_addr(struct unit_ctx *_u, const char *text, const char *host,
		      unsigned int port, int fam)
{
	struct parsed p = parse(text, sizeof(p.host));

	if (p.rc) {
		FAILF("\"%s\": %d (%s), want %s port %u", text, p.rc, p.why, host, port);
		return;
	}
	CHECK_STR(p.host, host);
	CHECK_INT(p.port, port);
	CHECK_INT(p.literal, fam != 0);
	if (fam == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)&p.ss;
		char ip[INET_ADDRSTRLEN];

		CHECK_INT(s4->sin_family, AF_INET);
		CHECK_INT(p.sslen, sizeof(*s4));
		CHECK_INT(ntohs(s4->sin_port), port);
		CHECK_STR(inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip)), host);
	} else if (fam == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)&p.ss;
		struct in6_addr a;

		CHECK_INT(s6->sin6_family, AF_INET6);
		CHECK_INT(p.sslen, sizeof(*s6));
		CHECK_INT(ntohs(s6->sin6_port), port);
		CHECK(inet_pton(AF_INET6, host, &a) == 1 &&
		      !memcmp(&a, &s6->sin6_addr, sizeof(a)));
	}
}

/* text is refused with -EINVAL and a reason containing `why`. */
static void want_bad(struct unit_ctx *_u, const char *text, const char *why)
{
	struct parsed p = parse(text, sizeof(p.host));

	if (p.rc != -EINVAL)
		FAILF("\"%s\": %d (host \"%s\"), want -EINVAL (%s)", text ? text : "(null)",
		      p.rc, p.host, why);
	else if (!strstr(p.why, why))
		FAILF("\"%s\": \"%s\", want \"%s\"", text ? text : "(null)", p.why, why);
}

TEST(addr_v4)
{
	want_addr(_u, "1.2.3.4:80", "1.2.3.4", 80, AF_INET);
	want_addr(_u, "0.0.0.0:443", "0.0.0.0", 443, AF_INET);
	want_addr(_u, "255.255.255.255:1", "255.255.255.255", 1, AF_INET);
}

TEST(addr_v6_bracketed)
{
	want_addr(_u, "[::1]:443", "::1", 443, AF_INET6);
	want_addr(_u, "[::]:8443", "::", 8443, AF_INET6);
	want_addr(_u, "[2001:db8::10]:65535", "2001:db8::10", 65535, AF_INET6);
	want_addr(_u, "[::ffff:192.0.2.1]:80", "::ffff:192.0.2.1", 80, AF_INET6);
}

TEST(addr_v6_errors)
{
	want_bad(_u, "::1:80", "must be in brackets");
	want_bad(_u, "2001:db8::1", "must be in brackets");
	want_bad(_u, "[::1", "missing ']'");
	want_bad(_u, "[::1]", "port missing");
	want_bad(_u, "[::1]:", "port missing");
	want_bad(_u, "[::1]80", "port missing");
	want_bad(_u, "[]:80", "host missing");
	want_bad(_u, "[1.2.3.4]:80", "bad IPv6");
	want_bad(_u, "[example.com]:80", "bad IPv6");
	want_bad(_u, "[fe80::1%eth0]:80", "scoped");
}

TEST(addr_host_names)
{
	want_addr(_u, "example.com:443", "example.com", 443, 0);
	want_addr(_u, "localhost:8080", "localhost", 8080, 0);
	want_addr(_u, "a-b_c.Example.ORG:1", "a-b_c.Example.ORG", 1, 0);	/* as written */
	want_addr(_u, "example.com.:443", "example.com.", 443, 0);
	want_addr(_u, "db1:5432", "db1", 5432, 0);
}

TEST(addr_host_bad)
{
	want_bad(_u, "exa mple.com:80", "bad host name");
	want_bad(_u, "exa%mple.com:80", "bad host name");
	want_bad(_u, "exa/mple.com:80", "bad host name");
	want_bad(_u, "caf\xc3\xa9.example:80", "bad host name");
	want_bad(_u, ":80", "host missing");
	/* Empty labels, a hyphen at a label's edge. */
	want_bad(_u, "-a..b.:80", "bad host name");
	want_bad(_u, "a..b:80", "bad host name");
	want_bad(_u, "-a.example:80", "bad host name");
	want_bad(_u, "a-.example:80", "bad host name");
}

/* What inet_aton, and so getaddrinfo, would read as an address of
 * another shape (10.1 is 10.0.0.1) is refused, not resolved. */
TEST(addr_numeric_not_quad)
{
	const char *want = "not an IPv4 address (want four decimal numbers, e.g. 10.0.0.1)";

	want_bad(_u, "10.1:443", want);
	want_bad(_u, "127.1:80", want);
	want_bad(_u, "0x7f.1:80", want);
	want_bad(_u, "1.2.3.999:80", want);
	want_bad(_u, "123:80", want);
	want_bad(_u, "0x7f000001:80", want);
}

TEST(addr_host_length)
{
	struct parsed p;

	p = parse("example.com:80", 12);	/* 11 bytes and the NUL: fits */
	CHECK_INT(p.rc, 0);
	CHECK_STR(p.host, "example.com");
	p = parse("example.com:80", 11);
	CHECK_INT(p.rc, -EINVAL);
	CHECK_STR(p.why, "host name too long");
}

TEST(addr_ports)
{
	want_addr(_u, "1.2.3.4:1", "1.2.3.4", 1, AF_INET);
	want_addr(_u, "1.2.3.4:65535", "1.2.3.4", 65535, AF_INET);
	want_addr(_u, "1.2.3.4:0080", "1.2.3.4", 80, AF_INET);
	want_bad(_u, "1.2.3.4:0", "port must be");
	want_bad(_u, "[::1]:0", "port must be");
	want_bad(_u, "1.2.3.4:65536", "port must be");
	want_bad(_u, "example.com:65536", "port must be");
	want_bad(_u, "1.2.3.4:99999999999999999999", "port must be");
	want_bad(_u, "1.2.3.4:-1", "port must be");
	want_bad(_u, "1.2.3.4:+80", "port must be");
	want_bad(_u, "1.2.3.4: 80", "port must be");
	want_bad(_u, "1.2.3.4:80 ", "port must be");
	want_bad(_u, "1.2.3.4:http", "port must be");
	want_bad(_u, "1.2.3.4:0x50", "port must be");
}

TEST(addr_port_missing)
{
	want_bad(_u, "1.2.3.4", "port missing");
	want_bad(_u, "1.2.3.4:", "port missing");
	want_bad(_u, "example.com", "port missing");
	want_bad(_u, "example.com:", "port missing");
}

TEST(addr_garbage)
{
	want_bad(_u, NULL, "empty address");
	want_bad(_u, "", "empty address");
	want_bad(_u, ":", "port missing");
	want_bad(_u, "[", "missing ']'");
	want_bad(_u, "]:80", "bad host name");
	want_bad(_u, "\x01\x02:80", "bad host name");
	want_bad(_u, "a:b:c", "must be in brackets");
}

/* A number parser of util.c: parse_duration_ms() or parse_size(). */
typedef int (*num_parser)(const char *s, uint64_t *out);

#define ANY_ERROR 1

/* fn(s) returns rc, with *out = want if rc is 0; an error (rc < 0, or
 * ANY_ERROR: any) leaves *out untouched. */
static void want_num(struct unit_ctx *_u, num_parser fn, const char *s, int rc,
		     uint64_t want)
{
	uint64_t out = 12345;
	int got = fn(s, &out);
	bool ok = !rc ? !got && out == want
		      : (rc == ANY_ERROR ? got < 0 : got == rc) && out == 12345;

	if (!ok)
		FAILF("\"%s\": %d, %llu, want %d, %llu", s ? s : "(null)", got,
		      (unsigned long long)out, rc, rc ? 12345ULL : (unsigned long long)want);
}

#define want_ms(_u, s, v) want_num(_u, parse_duration_ms, s, 0, v)
#define want_ms_err(_u, s, rc) want_num(_u, parse_duration_ms, s, rc, 0)
#define want_size(_u, s, v) want_num(_u, parse_size, s, 0, v)
#define want_size_err(_u, s, rc) want_num(_u, parse_size, s, rc, 0)

TEST(duration_units)
{
	want_ms(_u, "5", 5000);		/* bare: seconds */
	want_ms(_u, "5s", 5000);
	want_ms(_u, "500ms", 500);
	want_ms(_u, "2m", 120000);
	want_ms(_u, "1h", 3600000);
	want_ms(_u, "250000us", 250);
	want_ms(_u, "3000\xc2\xb5s", 3);	/* µs */
	want_ms(_u, "0", 0);
	want_ms(_u, "0s", 0);
	want_ms(_u, "0ms", 0);
}

TEST(duration_fractions)
{
	want_ms(_u, "1.5s", 1500);
	want_ms(_u, ".5", 500);
	want_ms(_u, "0.25m", 15000);
	want_ms(_u, "1.5ms", 2);	/* rounded to the nearest */
	want_ms(_u, "1.4ms", 1);
	want_ms(_u, "250us", 1);	/* not 0: a positive time stays positive */
	want_ms(_u, "1us", 1);
	want_ms(_u, "0.0001s", 1);
	want_ms(_u, "0us", 0);
}

TEST(duration_errors)
{
	want_ms_err(_u, NULL, -EINVAL);
	want_ms_err(_u, "", -EINVAL);
	want_ms_err(_u, "s", -EINVAL);
	want_ms_err(_u, "-1s", -EINVAL);
	want_ms_err(_u, "+1s", -EINVAL);
	want_ms_err(_u, " 1s", -EINVAL);
	want_ms_err(_u, "5 s", -EINVAL);
	want_ms_err(_u, "5s ", -EINVAL);
	want_ms_err(_u, "5S", -EINVAL);	/* units are case-sensitive: "M" is not "m" */
	want_ms_err(_u, "5sec", -EINVAL);
	want_ms_err(_u, "5d", -EINVAL);
	want_ms_err(_u, "0x10", -EINVAL);	/* decimal only (strtod would take these) */
	want_ms_err(_u, "1e3", -EINVAL);
	want_ms_err(_u, "1E3s", -EINVAL);
	want_ms_err(_u, "5msx", -EINVAL);
	want_ms_err(_u, "1e999", -EINVAL);
	want_ms_err(_u, "inf", -EINVAL);
	want_ms_err(_u, "nan", -EINVAL);
	want_ms_err(_u, ".", -EINVAL);
}

TEST(duration_range)
{
	want_ms(_u, "1000000000s", 1000000000000ULL);	/* 1e12 ms: the limit */
	want_ms(_u, "1000000000000ms", 1000000000000ULL);
	want_ms_err(_u, "1000000001s", -ERANGE);
	want_ms_err(_u, "16666667m", -ERANGE);
	want_ms_err(_u, "277778h", -ERANGE);
	want_ms_err(_u, "99999999999999999999999", -ERANGE);
}

TEST(size_suffixes)
{
	static const struct {
		const char *suffix;
		uint64_t mul;
	} sfx[] = {
		{ "", 1 }, { "b", 1 }, { "B", 1 },
		{ "k", 1ULL << 10 }, { "K", 1ULL << 10 }, { "kb", 1ULL << 10 },
		{ "KB", 1ULL << 10 }, { "kib", 1ULL << 10 }, { "KiB", 1ULL << 10 },
		{ "m", 1ULL << 20 }, { "M", 1ULL << 20 }, { "mb", 1ULL << 20 },
		{ "MB", 1ULL << 20 }, { "mib", 1ULL << 20 }, { "MiB", 1ULL << 20 },
		{ "g", 1ULL << 30 }, { "G", 1ULL << 30 }, { "gb", 1ULL << 30 },
		{ "GB", 1ULL << 30 }, { "gib", 1ULL << 30 }, { "GiB", 1ULL << 30 },
	};
	char s[32];

	for (size_t i = 0; i < ARRAY_SIZE(sfx) && !_u->failed; i++) {
		snprintf(s, sizeof(s), "16%s", sfx[i].suffix);
		want_size(_u, s, 16 * sfx[i].mul);
		snprintf(s, sizeof(s), "0%s", sfx[i].suffix);
		want_size(_u, s, 0);
	}
}

TEST(size_plain)
{
	want_size(_u, "16384", 16384);
	want_size(_u, "0", 0);
	want_size(_u, "007", 7);
	want_size(_u, "18446744073709551615", UINT64_MAX);
	want_size(_u, "18446744073709551615b", UINT64_MAX);
}

TEST(size_errors)
{
	want_size_err(_u, NULL, -EINVAL);
	want_size_err(_u, "", -EINVAL);
	want_size_err(_u, "k", -EINVAL);
	want_size_err(_u, "-1", -EINVAL);
	want_size_err(_u, "+1", -EINVAL);
	want_size_err(_u, " 1", -EINVAL);
	want_size_err(_u, "1 k", -EINVAL);
	want_size_err(_u, "1k ", -EINVAL);
	want_size_err(_u, "1.5M", -EINVAL);
	want_size_err(_u, "1t", -EINVAL);
	want_size_err(_u, "1TiB", -EINVAL);
	want_size_err(_u, "1kk", -EINVAL);
	want_size_err(_u, "1ki", -EINVAL);
	want_size_err(_u, "1bytes", -EINVAL);
	want_size_err(_u, "0x10", -EINVAL);
}

TEST(size_overflow)
{
	/* The largest that fit with each multiplier, then one more. */
	want_size(_u, "17179869183g", 17179869183ULL << 30);
	want_size_err(_u, "17179869184g", -ERANGE);
	want_size(_u, "17592186044415m", 17592186044415ULL << 20);
	want_size_err(_u, "17592186044416MiB", -ERANGE);
	want_size(_u, "18014398509481983k", 18014398509481983ULL << 10);
	want_size_err(_u, "18014398509481984kb", -ERANGE);
	/* Past UINT64_MAX before any suffix: refused too (-EINVAL today). */
	want_size_err(_u, "18446744073709551616", ANY_ERROR);
	want_size_err(_u, "99999999999999999999g", ANY_ERROR);
	want_size_err(_u, "99999999999999999999999", ANY_ERROR);
}

/* addr_str(), what every log line names its ends with: IPv4 by hand,
 * v4-mapped v6 as IPv4, v6 bracketed, a short buffer cut, never overrun. */
static void want_str(struct unit_ctx *_u, const char *ip, uint16_t port, size_t len,
		     const char *want)
{
	struct sockaddr_storage ss;
	char buf[64];

	memset(&ss, 0, sizeof(ss));
	memset(buf, 'x', sizeof(buf));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		inet_pton(AF_INET6, ip, &s6->sin6_addr);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		inet_pton(AF_INET, ip, &s4->sin_addr);
	}
	addr_str((struct sockaddr *)&ss, buf, len);
	CHECK_STR(buf, want);
	if (len < sizeof(buf))
		CHECK(buf[len] == 'x');
}

TEST(addr_to_text)
{
	want_str(_u, "0.0.0.0", 0, 64, "0.0.0.0:0");
	want_str(_u, "255.255.255.255", 65535, 64, "255.255.255.255:65535");
	want_str(_u, "10.0.100.9", 443, 64, "10.0.100.9:443");
	want_str(_u, "192.168.1.20", 8, 64, "192.168.1.20:8");
	want_str(_u, "::ffff:192.0.2.1", 80, 64, "192.0.2.1:80");
	want_str(_u, "2001:db8::10", 65535, 64, "[2001:db8::10]:65535");
	want_str(_u, "255.255.255.255", 65535, 22, "255.255.255.255:65535");
	want_str(_u, "255.255.255.255", 65535, 21, "255.255.255.255:6553");
	want_str(_u, "1.2.3.4", 5, 4, "1.2");
	want_str(_u, "1.2.3.4", 5, 1, "");
}

/* The same peer whatever the room it was kept in (a paddr, a
 * sockaddr_storage with other bytes past it). */
static struct sockaddr_storage dirty(const char *ip, int port)
{
	struct sockaddr_storage s = sockaddr_of(ip, port), d;

	memset(&d, 0xa5, sizeof(d));
	memcpy(&d, &s, s.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	return d;
}

TEST(addr_equal)
{
	struct sockaddr_storage a = dirty("10.0.0.1", 443), b = sockaddr_of("10.0.0.1", 443);
	union paddr p;

	paddr_set(&p, &a);
	CHECK(paddr_eq(&a, &b));
	CHECK(paddr_eq(&p, &b));
	b = sockaddr_of("10.0.0.1", 444);
	CHECK(!paddr_eq(&p, &b));
	b = sockaddr_of("10.0.0.2", 443);
	CHECK(!paddr_eq(&p, &b));
	a = dirty("2001:db8::1", 443);
	b = sockaddr_of("2001:db8::1", 443);
	paddr_set(&p, &a);
	CHECK(paddr_eq(&p, &b));
	b = sockaddr_of("2001:db8::2", 443);
	CHECK(!paddr_eq(&p, &b));
	b = sockaddr_of("10.0.0.1", 443);
	CHECK(!paddr_eq(&p, &b));
	memset(&b, 0, sizeof(b));
	CHECK(!paddr_eq(&b, &b));	/* no address is nobody's */
}

UNIT_MAIN("util", addr_to_text, addr_equal, addr_v4, addr_v6_bracketed, addr_v6_errors, addr_host_names, addr_host_bad,
	  addr_numeric_not_quad,
	  addr_host_length, addr_ports, addr_port_missing, addr_garbage, duration_units,
	  duration_fractions, duration_errors, duration_range, size_suffixes, size_plain,
	  size_errors, size_overflow)
