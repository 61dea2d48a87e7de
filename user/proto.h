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
	/* RDP X.224 Connection Request: "Cookie: mstshash=NAME" (NAME) */
	bool has_rdp_cookie;
	char rdp_cookie[128];
};

/* The XMPP probe reports the stream's to='domain' as has_host/host, so
 * "Host example.com" reads the same in both protocols. */

/* What a rule can test; each protocol names the keywords it accepts. */
enum sniff_field {
	FIELD_ANY = 0,		/* "SSH": matches any instance of the protocol */
	FIELD_SNI,
	FIELD_ALPN,
	FIELD_HOST,
	FIELD_SSH_BANNER,
	FIELD_ECH,		/* "ECH": the hello offers encrypted_client_hello */
	FIELD_RDP_COOKIE,	/* "Cookie NAME": RDP mstshash cookie */
	FIELD_REGEX,		/* "REGEX ERE": the first bytes themselves */
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
	/* Optional, called only after identify() said SNIFF_MORE: the total
	 * input length worth calling identify() again with (a lower bound of
	 * the bytes the answer needs; 0 or len+1: any new byte), and in
	 * *delim a byte whose arrival is worth a call too (-1: none).  A
	 * caller that waits for either saves re-parsing the same prefix for
	 * every byte of a client that trickles; final inputs (EOF, cap,
	 * deadline) are always passed on.  Pure, like identify().
	 * A hint never passes over a MATCH: the probe cannot match before
	 * it.  It may pass over a NO (a wrong byte early in a length-prefixed
	 * message, a bad byte inside an HTTP line): that answer then comes
	 * at the hinted point.  Verdicts never change once given, so waiting
	 * only ever delays a route, never changes it. */
	size_t (*hint)(const uint8_t *buf, size_t len, int *delim);
	/* The protocol matches only through a rule that matches (REGEX):
	 * identify() tells whether there is anything to look at, the rules
	 * do the rest, and no rule matching is "not yet" until `window`
	 * bytes (a listener option) or the end of input. */
	bool rules_decide;
};

extern const struct proto *const proto_table[];

const struct proto *proto_find(const char *name);
const struct proto_keyword *proto_keyword(const struct proto *p,
					  const char *word, size_t wlen);
/* p->hint, or the built-in hint of the TLS, HTTP and SSH probes. */
size_t proto_hint(const struct proto *p, const uint8_t *buf, size_t len,
		  int *delim);
/* "TLS, HTTP, SSH, ..." for messages. */
const char *proto_names(void);

#endif /* PT_PROTO_H */
