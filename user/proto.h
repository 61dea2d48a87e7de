/* SPDX-License-Identifier: GPL-2.0 */
/* Protocol probes: the registry every sniffer plugs into.
 *
 * A protocol is one file (proto_<name>.c) defining one `const struct proto`
 * and one line in proto_table[] (proto.c).  Its identify() is a pure
 * function over the bytes peeked so far: no allocation, no I/O, no state
 * kept between calls.  It is called again with a longer buffer (the same
 * prefix plus new bytes) whenever it answered SNIFF_MORE, so record and
 * segment boundaries never matter.
 */
#ifndef PT_PROTO_H
#define PT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sniff_verdict {
	SNIFF_MORE = 0,		/* could be this protocol: need more bytes */
	SNIFF_MATCH = 1,	/* it is this protocol; facts are filled in */
	SNIFF_NO = 2,		/* it is not (or it is broken beyond use) */
};

#define SNIFF_NAME_MAX 255	/* DNS name, RFC 1035 */
#define SNIFF_ALPN_MAX 16	/* ALPN protocol names kept */
#define SNIFF_ALPN_LEN 255	/* one ALPN name, RFC 7301 */

/* Facts a probe extracts, which rules match against.  Strings are
 * NUL-terminated.  Names are normalised: lower case, trailing dot removed. */
struct sniff {
	/* TLS ClientHello */
	bool has_sni;
	bool bad_sni;		/* server_name present but not a host name */
	bool ech;		/* encrypted_client_hello (0xfe0d) offered */
	uint8_t n_alpn;		/* ALPN names kept (extra ones dropped) */
	uint16_t tls_version;	/* highest offered (supported_versions) */
	uint32_t hello_len;	/* handshake message length */
	char sni[SNIFF_NAME_MAX + 1];
	char alpn[SNIFF_ALPN_MAX][SNIFF_ALPN_LEN + 1];
	/* HTTP/1.x request */
	bool has_host;
	char host[SNIFF_NAME_MAX + 1];	/* port stripped */
	char method[16];
	char path[256];			/* truncated if longer */
	/* SSH identification line, without CR LF */
	char ssh_banner[256];
};

/* What a rule can test; each protocol names the keywords it accepts. */
enum sniff_field {
	FIELD_ANY = 0,		/* "SSH": matches any instance of the protocol */
	FIELD_SNI,
	FIELD_ALPN,
	FIELD_HOST,
	FIELD_SSH_BANNER,
};

struct proto_keyword {
	const char *word;	/* as written in the rule key: "SNI", "Host" */
	enum sniff_field field;
	bool needs_arg;		/* "SNI" needs a name; "SSH" alone is fine */
};

struct proto {
	const char *name;	/* config key: "TLS", "HTTP", "SSH" */
	enum sniff_verdict (*identify)(const uint8_t *buf, size_t len,
				       struct sniff *out);
	const struct proto_keyword *keywords;	/* ends with {NULL} */
};

extern const struct proto *const proto_table[];

const struct proto *proto_find(const char *name);
const struct proto_keyword *proto_keyword(const struct proto *p,
					  const char *word, size_t wlen);

#endif /* PT_PROTO_H */
