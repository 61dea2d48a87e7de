// SPDX-License-Identifier: GPL-2.0
/* PROXY protocol v1 and v2: build and parse (see proxyproto.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "proto/proxyproto.h"

static const uint8_t v2sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
};

#define V2_CMD_LOCAL	0x20
#define V2_CMD_PROXY	0x21
#define V2_TCP4		0x11
#define V2_TCP6		0x21

/* Both addresses as 16-byte IPv6 (v4-mapped) or as 4-byte IPv4. */
struct pair {
	int family;
	uint8_t a[2][16];
	uint16_t port[2];	/* host order */
};

static int pair_of(const struct sockaddr *src, const struct sockaddr *dst,
		   struct pair *p)
{
	const struct sockaddr *sa[2] = { src, dst };
	bool v4[2];

	memset(p, 0, sizeof(*p));
	for (int i = 0; i < 2; i++) {
		if (sa[i]->sa_family == AF_INET) {
			const struct sockaddr_in *s4 = (const void *)sa[i];

			v4[i] = true;
			memcpy(p->a[i], &s4->sin_addr, 4);
			p->port[i] = ntohs(s4->sin_port);
		} else if (sa[i]->sa_family == AF_INET6) {
			const struct sockaddr_in6 *s6 = (const void *)sa[i];

			v4[i] = IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr);
			memcpy(p->a[i], v4[i] ? &s6->sin6_addr.s6_addr[12]
					      : s6->sin6_addr.s6_addr, v4[i] ? 4 : 16);
			p->port[i] = ntohs(s6->sin6_port);
		} else {
			return -EINVAL;
		}
	}
	p->family = v4[0] && v4[1] ? AF_INET : AF_INET6;
	/* One of each: the v4 one as ::ffff:a.b.c.d. */
	for (int i = 0; i < 2 && p->family == AF_INET6; i++) {
		if (!v4[i])
			continue;
		memmove(p->a[i] + 12, p->a[i], 4);
		memset(p->a[i], 0, 10);
		p->a[i][10] = p->a[i][11] = 0xff;
	}
	return 0;
}

int proxy_build(int version, const struct sockaddr *src,
		const struct sockaddr *dst, uint8_t *out, size_t cap)
{
	struct pair p;
	int alen, n;

	if (pair_of(src, dst, &p))
		return -EINVAL;
	alen = p.family == AF_INET ? 4 : 16;
	if (version == 1) {
		char a[2][INET6_ADDRSTRLEN];

		for (int i = 0; i < 2; i++)
			inet_ntop(p.family, p.a[i], a[i], sizeof(a[i]));
		n = snprintf((char *)out, cap, "PROXY %s %s %s %u %u\r\n",
			     p.family == AF_INET ? "TCP4" : "TCP6", a[0], a[1],
			     p.port[0], p.port[1]);
		return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
	}
	if (version != 2)
		return -EINVAL;
	n = 16 + 2 * alen + 4;
	if ((size_t)n > cap)
		return -ENOSPC;
	memcpy(out, v2sig, sizeof(v2sig));
	out[12] = V2_CMD_PROXY;
	out[13] = p.family == AF_INET ? V2_TCP4 : V2_TCP6;
	out[14] = (uint8_t)((n - 16) >> 8);
	out[15] = (uint8_t)(n - 16);
	memcpy(out + 16, p.a[0], alen);
	memcpy(out + 16 + alen, p.a[1], alen);
	for (int i = 0; i < 2; i++) {
		out[16 + 2 * alen + 2 * i] = (uint8_t)(p.port[i] >> 8);
		out[16 + 2 * alen + 2 * i + 1] = (uint8_t)p.port[i];
	}
	return n;
}

/* ---- parsing ------------------------------------------------------------ */

static void set_addr(struct sockaddr_storage *ss, int family, const void *a,
		     uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, a, 4);
		s4->sin_port = htons(port);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, a, 16);
		s6->sin6_port = htons(port);
	}
}

/* A decimal port of 1 to 5 digits without a leading zero (but "0"). */
static int v1_port(const char *s, size_t n, uint16_t *out)
{
	unsigned long v = 0;

	if (!n || n > 5 || (s[0] == '0' && n > 1))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

/* "PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n" (the CR LF already cut). */
static int v1_line(const char *line, size_t n, struct proxy_info *pi)
{
	const char *f[7];
	size_t fl[7];
	int nf = 0, family;
	uint8_t a[2][16];
	uint16_t port[2];

	for (size_t i = 0; i < n && nf < 7;) {
		size_t j = i;

		while (j < n && line[j] != ' ')
			j++;
		f[nf] = line + i;
		fl[nf++] = j - i;
		if (j < n && j + 1 == n)
			return -EBADMSG;		/* trailing space */
		i = j + 1;
	}
	if (nf >= 2 && fl[1] == 7 && !memcmp(f[1], "UNKNOWN", 7)) {
		pi->has_addr = false;	/* anything may follow */
		return 0;
	}
	if (nf != 6 || fl[0] != 5 || fl[1] != 4 || memcmp(f[1], "TCP", 3) ||
	    (f[1][3] != '4' && f[1][3] != '6'))
		return -EBADMSG;
	family = f[1][3] == '4' ? AF_INET : AF_INET6;
	for (int i = 0; i < 2; i++) {
		char ip[INET6_ADDRSTRLEN];

		if (!fl[2 + i] || fl[2 + i] >= sizeof(ip))
			return -EBADMSG;
		memcpy(ip, f[2 + i], fl[2 + i]);
		ip[fl[2 + i]] = '\0';
		if (inet_pton(family, ip, a[i]) != 1 ||
		    v1_port(f[4 + i], fl[4 + i], &port[i]))
			return -EBADMSG;
	}
	pi->has_addr = true;
	set_addr(&pi->src, family, a[0], port[0]);
	set_addr(&pi->dst, family, a[1], port[1]);
	return 0;
}

static int parse_v1(const uint8_t *buf, size_t len, struct proxy_info *pi,
		    size_t *need)
{
	static const char magic[] = "PROXY ";
	size_t n = len < 6 ? len : 6;

	if (memcmp(buf, magic, n))
		return -ENOMSG;
	/* The protocol word, checked as it arrives. */
	if (len > 6) {
		static const char *const words[] = { "TCP4 ", "TCP6 ", "UNKNOWN" };
		size_t k = len - 6;
		bool ok = false;

		for (size_t w = 0; w < 3 && !ok; w++)
			ok = !memcmp(buf + 6, words[w], k < strlen(words[w]) ? k : strlen(words[w]));
		if (!ok)
			return -EBADMSG;
	}
	for (size_t i = 6; i < len && i < PROXY_V1_MAX; i++) {
		if (buf[i] == '\n') {
			if (buf[i - 1] != '\r' || v1_line((const char *)buf, i - 1, pi))
				return -EBADMSG;
			pi->version = 1;
			return (int)i + 1;
		}
		if (buf[i] != '\r' && (buf[i] < 0x20 || buf[i] > 0x7e))
			return -EBADMSG;
		if (buf[i - 1] == '\r')
			return -EBADMSG;
	}
	if (len >= PROXY_V1_MAX)
		return -EMSGSIZE;
	*need = 0;	/* a line: any byte may end it */
	return 0;
}

static int parse_v2(const uint8_t *buf, size_t len, size_t max,
		    struct proxy_info *pi, size_t *need)
{
	size_t n = len < 12 ? len : 12, total, alen;

	if (memcmp(buf, v2sig, n))
		return -ENOMSG;
	if (len >= 13 && buf[12] != V2_CMD_LOCAL && buf[12] != V2_CMD_PROXY)
		return -EBADMSG;
	if (len < 16) {
		/* The signature and the command are judged byte by byte:
		 * waiting for 16 would sit on a header already refused. */
		*need = len < 13 ? 0 : 16;
		return 0;
	}
	total = 16 + ((size_t)buf[14] << 8 | buf[15]);
	if (total > max)
		return -EMSGSIZE;
	switch (buf[13]) {
	case V2_TCP4:
		alen = 12;
		break;
	case V2_TCP6:
		alen = 36;
		break;
	default:
		alen = 0;	/* UNSPEC, UDP, UNIX: no TCP address to use */
		break;
	}
	if (buf[12] == V2_CMD_PROXY && total < 16 + alen)
		return -EBADMSG;
	if (len < total) {
		*need = total;
		return 0;
	}
	pi->version = 2;
	pi->has_addr = buf[12] == V2_CMD_PROXY && alen;
	if (pi->has_addr) {
		int fam = alen == 12 ? AF_INET : AF_INET6, al = alen == 12 ? 4 : 16;
		const uint8_t *p = buf + 16 + 2 * al;

		set_addr(&pi->src, fam, buf + 16, (uint16_t)(p[0] << 8 | p[1]));
		set_addr(&pi->dst, fam, buf + 16 + al, (uint16_t)(p[2] << 8 | p[3]));
	}
	/* TLVs after the addresses (ALPN, authority, SSL info...): read
	 * with the header and ignored. */
	return (int)total;
}

int proxy_parse(const uint8_t *buf, size_t len, size_t max,
		struct proxy_info *pi, size_t *need)
{
	memset(pi, 0, sizeof(*pi));
	*need = 0;
	if (!len)
		return 0;
	if (buf[0] == 'P')
		return parse_v1(buf, len, pi, need);
	if (buf[0] == v2sig[0])
		return parse_v2(buf, len, max, pi, need);
	return -ENOMSG;
}

const char *proxy_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case ENOMSG:
		return "not a PROXY header";
	case EBADMSG:
		return "a malformed PROXY header";
	case EMSGSIZE:
		return "a PROXY header too long (v1: 107 bytes; v2: sniff_max)";
	case ENODATA:
		return "the PROXY header was cut short";
	default:
		return "a PROXY header refused";
	}
}
