/* SPDX-License-Identifier: GPL-2.0 */
/* Protocol probes: the registry every sniffer plugs into.
 *
 * Adding a protocol:
 *   - user/proto/<name>.c defines `const struct proto proto_<name>`: its
 *     name (the config key), identify(), its rule keywords and, if it waits
 *     for lengths, hint();
 *   - one line in proto_table[] and one extern in registry.c (the table's
 *     order is the order protocols are tried in, when a listener does not
 *     say);
 *   - tests/unit/test_proto_<name>.c (byte fixtures, probe.h's sweep) and
 *     tests/fuzz/fuzz_<name>.c (fuzz_probe.h) with seeds in
 *     tests/fuzz/corpus/<name>/: the Makefile finds them;
 *   - only a protocol with new facts touches more: a field in struct sniff
 *     and an enum sniff_field value below, and its case in rule_matches()
 *     (user/conn/route.c).
 * A probe links nothing but memory and string functions (tests/static:
 * the layer check fails otherwise).
 *
 * Its identify() is a pure
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
	SNIFF_NO = 2,		/* it is not this protocol */
	SNIFF_BROKEN = 3,	/* it is this protocol, but its opening message
				 * is malformed: only the protocol's CATCHALL
				 * rule takes it (no fact is filled in) */
};

#define SNIFF_NAME_MAX 255	/* DNS name, RFC 1035 */
#define SNIFF_ALPN_LEN 255	/* one ALPN name, RFC 7301 */

/* Facts a probe extracts, which rules match against.  Strings are
 * NUL-terminated.  Names are normalised: lower case, trailing dot removed. */
struct sniff {
	/* TLS ClientHello */
	bool has_sni;
	bool bad_sni;		/* server_name present but not a host name */
	bool ech;		/* encrypted_client_hello (0xfe0d) offered */
	uint16_t n_alpn;	/* ALPN ids offered: see sniff_alpn_next() */
	uint16_t alpn_len;	/* bytes of the ALPN protocol_name_list, */
	uint32_t alpn_at;	/* from this handshake byte on (0: the type) */
	uint16_t tls_version;	/* highest offered (supported_versions) */
	uint32_t hello_len;	/* handshake message length */
	char sni[SNIFF_NAME_MAX + 1];
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

/* The ALPN ids of a matched hello, however many: they stay in the bytes
 * the hello was matched in (buf, len), where record headers may cut them
 * anywhere, and are walked there, so a hello offering 200 ids costs no
 * more room than one offering none.  *it starts zeroed; each call puts
 * the next id in name (SNIFF_ALPN_LEN + 1 bytes) as a C string and
 * returns true, or returns false after the last.  Ids holding a NUL byte,
 * which no rule can name, are skipped (and not counted in n_alpn). */
struct alpn_iter {
	size_t pos, rec_left, left;
	bool started;
};
bool sniff_alpn_next(const struct sniff *s, const uint8_t *buf, size_t len,
		     struct alpn_iter *it, char *name);

/* A set of byte values: bit b of w[b / 64]. */
struct byteset {
	uint64_t w[4];
};

static inline void byteset_add(struct byteset *s, unsigned int lo, unsigned int hi)
{
	for (unsigned int b = lo; b <= hi && b < 256; b++)
		s->w[b / 64] |= 1ULL << (b % 64);
}

static inline bool byteset_has(const struct byteset *s, uint8_t b)
{
	return s->w[b / 64] >> (b % 64) & 1;
}

static inline bool byteset_empty(const struct byteset *s)
{
	return !(s->w[0] | s->w[1] | s->w[2] | s->w[3]);
}

/* Whether one of b[0..n) is in the set. */
static inline bool byteset_any(const struct byteset *s, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (byteset_has(s, b[i]))
			return true;
	return false;
}

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
	 * input length at which identify() may next answer otherwise (0 or
	 * len+1: any new byte), and in *wake (zeroed by the caller) bytes
	 * whose arrival may change the answer before that.  A caller that
	 * waits for either saves re-parsing the same prefix for every byte
	 * of a client that trickles; final inputs (EOF, cap, deadline) are
	 * always passed on.  Pure, like identify().
	 * A hint never passes over any answer, MATCH, NO or BROKEN: a client
	 * may stop after a unit that can no longer become what the probe
	 * waits for (a TLS record of another type after half a hello, as
	 * tlsfuzzer sends) and wait for the server, and must then be routed
	 * on what it sent, not at the sniff deadline.  A bad length is
	 * refused when it arrives, not when the bytes it announced would
	 * have. */
	size_t (*hint)(const uint8_t *buf, size_t len, struct byteset *wake);
	/* The protocol matches only through a rule that matches (REGEX):
	 * identify() tells whether there is anything to look at, the rules
	 * do the rest, and no rule matching is "not yet" until `window`
	 * bytes (a listener option) or the end of input. */
	bool rules_decide;
	/* A datagram protocol: for UDP listeners ("udp/ADDR") only, found
	 * by proto_find_dgram(), never tried on a TCP connection. */
	bool dgram;
};

extern const struct proto *const proto_table[];

const struct proto *proto_find(const char *name);
/* The protocols of UDP listeners: "QUIC" (its identify() reads the
 * ClientHello record quic_hello_bytes() gives). */
const struct proto *proto_find_dgram(const char *name);
/* Whether rules of p read a TLS ClientHello (TLS, QUIC): "alpn", "ech". */
bool proto_is_tls(const struct proto *p);
const struct proto_keyword *proto_keyword(const struct proto *p,
					  const char *word, size_t wlen);
/* p->hint with *wake zeroed first; 0 (any new byte) if p has none. */
size_t proto_hint(const struct proto *p, const uint8_t *buf, size_t len,
		  struct byteset *wake);
/* Whether a caller waiting on the hint (need, wake) given at input length
 * len looks again by the time the input is `at` long (b: the input):
 * need reached, a wake byte among b[len..at), or any byte if neither is
 * set.  The tests hold every hint to it at the length that decides. */
static inline bool proto_hint_reaches(size_t len, size_t need, const struct byteset *wake,
				      const uint8_t *b, size_t at)
{
	if (need > len && at >= need)
		return true;
	if (!byteset_empty(wake))
		return byteset_any(wake, b + len, at - len);
	return need <= len;
}
/* "TLS, HTTP, SSH, ..." for messages. */
const char *proto_names(void);

#endif /* PT_PROTO_H */
