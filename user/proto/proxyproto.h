/* SPDX-License-Identifier: GPL-2.0 */
/* The PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2):
 * the header that tells a server who the client really is.  Pure
 * functions: building one for an upstream, parsing one from a trusted
 * load balancer in front of us. */
#ifndef PT_PROXYPROTO_H
#define PT_PROXYPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PROXY_V1_MAX	107	/* the longest v1 line, CR LF included */
#define PROXY_V2_ADDR_MAX (16 + 36)	/* header + two IPv6 addresses, ports */
#define PROXY_HDR_MAX	108	/* room for either: v1 107, v2 with addresses 52 */

/* Write the header for a TCP connection from src to dst (the address the
 * client connected to).  IPv4 and IPv4-mapped IPv6 addresses give TCP4,
 * others TCP6 (a v4 address beside a v6 one is mapped).  version is 1 or
 * 2.  Returns its length, or -EINVAL (bad family or version) / -ENOSPC. */
int proxy_build(int version, const struct sockaddr *src,
		const struct sockaddr *dst, uint8_t *out, size_t cap);

struct proxy_info {
	bool has_addr;		/* false: LOCAL, UNKNOWN, UNIX or UDP */
	int version;
	struct sockaddr_storage src, dst;
};

/* Parse a header at the start of buf.  Returns its total length (the bytes
 * to consume) when complete and valid; 0 when buf is a valid prefix (*need
 * then says how long the input must be before another look can answer
 * otherwise, 0 for any new byte: never past a byte that would refuse the
 * header); -ENOMSG when it is not a header (checked from the first byte
 * on), -EBADMSG when it is one but malformed, -EMSGSIZE for a v1 line
 * past 107 bytes or a v2 header longer than max. */
int proxy_parse(const uint8_t *buf, size_t len, size_t max,
		struct proxy_info *pi, size_t *need);
/* What a proxy_parse error (or -ENODATA: the connection ended or went
 * silent before the header was whole) says, for the log; static text. */
const char *proxy_strerror(int err);

#endif /* PT_PROXYPROTO_H */
