// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <poll.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/util.h"

static int parse_port(const char *s, uint16_t *port)
{
	char *end;
	long v;

	if (!*s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 1 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

/* A host name to resolve: labels of letters, digits, '-' and '_' (names
 * of containers and services use it), 1 to 63 bytes, not starting or
 * ending with '-', 253 bytes at most, one trailing dot allowed.  What
 * looks numeric but is not a dotted quad ("10.1", "127.1", "0x7f.1",
 * "1.2.3.999") is refused: getaddrinfo() would take the shorthand forms
 * of inet_aton (10.1 is 10.0.0.1) and connect somewhere unexpected. */
static bool numeric_label(const char *p, size_t n)
{
	size_t i = 0;
	bool hex = n > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X');

	for (i = hex ? 2 : 0; i < n; i++)
		if (hex ? !isxdigit((unsigned char)p[i]) : !isdigit((unsigned char)p[i]))
			return false;
	return n > 0;
}

static int host_name_check(const char *host, const char **why)
{
	size_t len = strlen(host), start = 0;
	bool numeric = true;

	if (len && host[len - 1] == '.')
		len--;
	if (!len || len > 253) {
		*why = "bad host name";
		return -EINVAL;
	}
	for (size_t i = 0; i <= len; i++) {
		char ch = i < len ? host[i] : '.';

		if (ch == '.') {
			size_t n = i - start;

			if (!n || n > 63 || host[i - 1] == '-') {
				*why = "bad host name";
				return -EINVAL;
			}
			numeric &= numeric_label(host + start, n);
			start = i + 1;
			continue;
		}
		if ((!isalnum((unsigned char)ch) && ch != '-' && ch != '_') ||
		    (ch == '-' && i == start)) {
			*why = "bad host name";
			return -EINVAL;
		}
	}
	if (numeric) {
		*why = "not an IPv4 address (want four decimal numbers, e.g. 10.0.0.1)";
		return -EINVAL;
	}
	return 0;
}

int addr_parse(const char *text, char *host, size_t hostlen, uint16_t *port,
	       struct sockaddr_storage *ss, socklen_t *sslen, bool *literal,
	       const char **why)
{
	const char *colon, *hstart, *hend;
	size_t hlen;

	*literal = false;
	if (!text || !*text) {
		*why = "empty address";
		return -EINVAL;
	}
	if (text[0] == '[') {
		hend = strchr(text, ']');
		if (!hend) {
			*why = "missing ']' after IPv6 address";
			return -EINVAL;
		}
		hstart = text + 1;
		if (hend[1] != ':') {
			*why = "port missing";
			return -EINVAL;
		}
		colon = hend + 1;
	} else {
		colon = strrchr(text, ':');
		if (!colon) {
			*why = "port missing";
			return -EINVAL;
		}
		if (memchr(text, ':', colon - text)) {
			*why = "IPv6 address must be in brackets, e.g. [::1]:443";
			return -EINVAL;
		}
		hstart = text;
		hend = colon;
	}
	if (!colon[1]) {
		*why = "port missing";
		return -EINVAL;
	}
	if (parse_port(colon + 1, port)) {
		*why = "port must be a number from 1 to 65535";
		return -EINVAL;
	}
	hlen = hend - hstart;
	if (!hlen) {
		*why = "host missing";
		return -EINVAL;
	}
	if (hlen >= hostlen) {
		*why = "host name too long";
		return -EINVAL;
	}
	memcpy(host, hstart, hlen);
	host[hlen] = '\0';

	memset(ss, 0, sizeof(*ss));
	if (text[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		char *pct = strchr(host, '%');
		char tmp[INET6_ADDRSTRLEN + 1];

		if (pct) {
			*why = "scoped IPv6 addresses are not supported";
			return -EINVAL;
		}
		snprintf(tmp, sizeof(tmp), "%s", host);
		if (inet_pton(AF_INET6, tmp, &s6->sin6_addr) != 1) {
			*why = "bad IPv6 address";
			return -EINVAL;
		}
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(*port);
		*sslen = sizeof(*s6);
		*literal = true;
		return 0;
	}
	{
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
			s4->sin_family = AF_INET;
			s4->sin_port = htons(*port);
			*sslen = sizeof(*s4);
			*literal = true;
			return 0;
		}
	}
	return host_name_check(host, why);
}

/* "a.b.c.d:port" by hand: two of these per connection's log line, where
 * inet_ntop and snprintf were a measurable share of passthru's own code. */
static void ip4_str(const uint8_t *a, uint16_t port, char *buf, size_t len)
{
	char tmp[sizeof("255.255.255.255:65535")], d[5], *p = tmp;
	int nd = 0;
	size_t n;

	for (int i = 0; i < 4; i++) {
		unsigned v = a[i];

		if (v >= 100)
			*p++ = (char)('0' + v / 100);
		if (v >= 10)
			*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
		*p++ = i < 3 ? '.' : ':';
	}
	do {
		d[nd++] = (char)('0' + port % 10);
		port /= 10;
	} while (port);
	while (nd)
		*p++ = d[--nd];
	n = (size_t)(p - tmp);
	if (!len)
		return;
	if (n >= len)
		n = len - 1;
	memcpy(buf, tmp, n);
	buf[n] = '\0';
}

const char *addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;

		ip4_str((const uint8_t *)&s4->sin_addr, ntohs(s4->sin_port), buf, len);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			ip4_str(&s6->sin6_addr.s6_addr[12], ntohs(s6->sin6_port), buf, len);
		} else {
			inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
			snprintf(buf, len, "[%s]:%u", ip, ntohs(s6->sin6_port));
		}
	} else {
		snprintf(buf, len, "?");
	}
	return buf;
}

void addr_unmap(void *sa)
{
	/* sa may be a union paddr, aligned for sockaddr_in6 but not for
	 * sockaddr_storage: read through sockaddr_in6 copies only. */
	struct sockaddr_in6 s6;
	struct sockaddr_in *s4 = sa;
	sa_family_t fam;

	memcpy(&fam, sa, sizeof(fam));
	if (fam != AF_INET6)
		return;
	memcpy(&s6, sa, sizeof(s6));
	if (!IN6_IS_ADDR_V4MAPPED(&s6.sin6_addr))
		return;
	memset(s4, 0, sizeof(s6));
	s4->sin_family = AF_INET;
	s4->sin_port = s6.sin6_port;
	memcpy(&s4->sin_addr, &s6.sin6_addr.s6_addr[12], 4);
}

void paddr_set(union paddr *p, const void *sa)
{
	const struct sockaddr *s = sa;

	memset(p, 0, sizeof(*p));
	if (s->sa_family == AF_INET)
		memcpy(&p->v4, sa, sizeof(p->v4));
	else if (s->sa_family == AF_INET6)
		memcpy(&p->v6, sa, sizeof(p->v6));
}

int addr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return -1;
}

bool addr_is_any(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY);
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr);
	return false;
}

int parse_duration_ms(const char *s, uint64_t *ms)
{
	char *end;
	double v, mul;

	if (!s || !*s || !(isdigit((unsigned char)*s) || *s == '.'))
		return -EINVAL;
	/* Decimal only: strtod() would also take "0x10" and "1e3". */
	for (end = (char *)s; isdigit((unsigned char)*end) || *end == '.'; end++)
		;
	if (*end == 'x' || *end == 'X' || *end == 'e' || *end == 'E' || *end == 'p')
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || v < 0)
		return -EINVAL;
	if (!*end || !strcmp(end, "s"))
		mul = 1000;
	else if (!strcmp(end, "ms"))
		mul = 1;
	else if (!strcmp(end, "us") || !strcmp(end, "µs"))
		mul = 0.001;
	else if (!strcmp(end, "m"))
		mul = 60000;
	else if (!strcmp(end, "h"))
		mul = 3600000;
	else
		return -EINVAL;
	v *= mul;
	if (v > 1e12)
		return -ERANGE;
	*ms = (uint64_t)(v + 0.5);
	if (!*ms && v > 0)
		*ms = 1;
	return 0;
}

int parse_size(const char *s, uint64_t *bytes)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (!*end || !strcasecmp(end, "b"))
		mul = 1;
	else if (!strcasecmp(end, "k") || !strcasecmp(end, "kb") ||
		 !strcasecmp(end, "kib"))
		mul = 1024;
	else if (!strcasecmp(end, "m") || !strcasecmp(end, "mb") ||
		 !strcasecmp(end, "mib"))
		mul = 1024 * 1024;
	else if (!strcasecmp(end, "g") || !strcasecmp(end, "gb") ||
		 !strcasecmp(end, "gib"))
		mul = 1024ULL * 1024 * 1024;
	else
		return -EINVAL;
	if (v > UINT64_MAX / mul)
		return -ERANGE;
	*bytes = v * mul;
	return 0;
}

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

unsigned long long cap_effective(void)
{
	char buf[256];
	unsigned long long v = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 0;
	while (fgets(buf, sizeof(buf), f))
		if (!strncmp(buf, "CapEff:", 7))
			v = strtoull(buf + 7, NULL, 16);
	fclose(f);
	return v;
}

bool bpf_privileged(void)
{
	unsigned long long eff = cap_effective();

	if (eff & CAPBIT(CAP_SYS_ADMIN_NR))
		return true;
	return (eff & CAPBIT(CAP_BPF_NR)) && (eff & CAPBIT(CAP_NET_ADMIN_NR)) &&
	       (eff & CAPBIT(CAP_PERFMON_NR));
}

int sock_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len))
		return errno;
	return err;
}

void sock_set_buf(int fd, bool rcv, int bytes)
{
	if (bytes && setsockopt(fd, SOL_SOCKET, rcv ? SO_RCVBUFFORCE : SO_SNDBUFFORCE,
				&bytes, sizeof(bytes)))
		setsockopt(fd, SOL_SOCKET, rcv ? SO_RCVBUF : SO_SNDBUF, &bytes, sizeof(bytes));
}

int fd_wait(int fd, short events, int stopfd, uint64_t deadline_ms)
{
	for (;;) {
		struct pollfd p[2] = { { .fd = fd, .events = events },
				       { .fd = stopfd, .events = POLLIN } };
		uint64_t now = now_ms();
		int n;

		if (now >= deadline_ms)
			return -ETIMEDOUT;
		n = poll(p, 2, deadline_ms - now > INT32_MAX ? INT32_MAX : (int)(deadline_ms - now));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (p[1].revents)
			return -ESHUTDOWN;
		if (p[0].revents)
			return 0;
	}
}

void accept_until(int lfd, int stopfd, void (*one)(int fd))
{
	while (!fd_wait(lfd, POLLIN, stopfd, UINT64_MAX)) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd >= 0)
			one(fd);
	}
}

int user_lookup(const char *user, uid_t *uid, gid_t *gid)
{
	struct passwd *pw = getpwnam(user);
	char *end;
	long v;

	if (pw) {
		*uid = pw->pw_uid;
		*gid = pw->pw_gid;
	} else {
		v = strtol(user, &end, 10);
		if (!*user || *end || v < 0)
			return -ENOENT;
		*uid = (uid_t)v;
		*gid = (gid_t)v;
	}
	return *uid == 0 ? -EPERM : 0;
}
