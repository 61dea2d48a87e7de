// SPDX-License-Identifier: GPL-2.0
/* TLS probe: find the ClientHello and pull out SNI, ALPN, ECH and version.
 *
 * The hello is one handshake message that a client may cut into any number
 * of TLS records (down to one byte each), and TCP may cut those anywhere.
 * Instead of reassembling it, a small cursor walks the handshake bytes
 * through the record payloads, skipping each 5-byte record header as it
 * comes (nginx's ssl_preread does the same with a state machine).  The
 * whole input is re-parsed on every call: identify() keeps no state, and a
 * hello is at most a few KiB, so that costs less than it saves.
 *
 * Every read is checked twice: against the length of the structure it sits
 * in (too long is a malformed hello) and against the bytes we have (too
 * few is a truncated hello: SNIFF_MORE).  The first check comes first, so
 * a verdict never depends on how much of the input arrived.
 *
 * A malformed hello is SNIFF_NO while nothing says TLS yet, and
 * SNIFF_BROKEN once a handshake record has begun a ClientHello: a TLS
 * server behind the TLS CATCHALL then answers it with the alert the
 * client expects (tlsfuzzer checks exactly that), where the listener's
 * CATCHALL may be anything.
 *
 * The parse also knows where it stopped: the hint (tls_hint) is the input
 * length at which it can next get further, i.e. the end of the field it
 * waits for or the first byte of the next record header, whichever comes
 * first.  A client that sends a record of another type after half a
 * hello is routed when that record's first byte arrives.
 */
#include <string.h>

#include "proto/proto.h"

#define REC_HANDSHAKE	22
#define REC_HDR_LEN	5
#define REC_MAX		16384	/* TLSPlaintext.length, RFC 8446 5.1 */
#define HS_CLIENT_HELLO	1
#define HELLO_MAX	65535	/* we refuse bigger hellos (no real client) */

#define EXT_SERVER_NAME	0x0000
#define EXT_ALPN	0x0010
#define EXT_VERSIONS	0x002b
#define EXT_ECH		0xfe0d

/* How a read went.  Not enum sniff_verdict: "it worked" needs a value. */
enum rd {
	RD_OK = 0,
	RD_SHORT,	/* ran out of input: a longer input may parse */
	RD_BAD,		/* not a well-formed ClientHello, whatever follows */
};

struct cur {
	const uint8_t *buf;
	size_t len;
	size_t pos;	/* next unread byte of buf */
	size_t rec_left;	/* payload bytes left in the current record */
	size_t lim;	/* bytes left in the innermost structure being read */
	size_t hs;	/* handshake bytes taken so far */
	size_t want;	/* on RD_SHORT: the input length worth another look */
	bool began;	/* a ClientHello has begun: RD_BAD is SNIFF_BROKEN */
};

/* Step over the next record header.  Bytes of a partial header are checked
 * as they arrive, so garbage is refused from its first byte.  The version
 * is taken loosely, like servers do: any 3.x up to TLS 1.3's 0x0304, since
 * clients put 0x0301 or 0x0303 there and 1.3 says to ignore it.
 * Returns RD_OK with rec_left set, RD_SHORT or RD_BAD. */
static enum rd next_record(struct cur *c)
{
	const uint8_t *h = c->buf + c->pos;
	size_t avail = c->len - c->pos;
	size_t rlen;

	/* A non-handshake record before the hello is complete (alert,
	 * change_cipher_spec, application data) means this is not a
	 * hello we can route on. */
	if (avail >= 1 && h[0] != REC_HANDSHAKE)
		return RD_BAD;
	if (avail >= 2 && h[1] != 3)
		return RD_BAD;
	if (avail >= 3 && h[2] > 4)
		return RD_BAD;
	if (avail < REC_HDR_LEN) {
		/* The first three bytes are judged one by one, the length
		 * once both of its bytes are in. */
		c->want = avail < 3 ? c->len + 1 : c->pos + REC_HDR_LEN;
		return RD_SHORT;
	}
	rlen = (size_t)h[3] << 8 | h[4];
	/* Empty handshake records are forbidden (RFC 8446 5.1) and would
	 * let a peer make us loop over headers forever. */
	if (rlen == 0 || rlen > REC_MAX)
		return RD_BAD;
	c->pos += REC_HDR_LEN;
	c->rec_left = rlen;
	return RD_OK;
}

/* Read n handshake bytes into dst, or skip them when dst is NULL.
 * Returns RD_OK, RD_SHORT (input ends first) or RD_BAD (n overruns the
 * enclosing structure, or a bad record header is in the way). */
static enum rd take(struct cur *c, uint8_t *dst, size_t n)
{
	if (n > c->lim)
		return RD_BAD;
	while (n) {
		size_t k;

		if (!c->rec_left) {
			enum rd r = next_record(c);

			if (r != RD_OK)
				return r;
		}
		k = c->len - c->pos;
		if (!k) {
			/* Nothing is judged before these n bytes are in, but
			 * the next record header is, byte by byte. */
			c->want = c->len + (n <= c->rec_left ? n : c->rec_left + 1);
			return RD_SHORT;
		}
		if (k > c->rec_left)
			k = c->rec_left;
		if (k > n)
			k = n;
		if (dst) {
			memcpy(dst, c->buf + c->pos, k);
			dst += k;
		}
		c->pos += k;
		c->rec_left -= k;
		c->lim -= k;
		c->hs += k;
		n -= k;
	}
	return RD_OK;
}

/* Big-endian integer of n (1..3) bytes. */
static enum rd take_be(struct cur *c, size_t n, uint32_t *v)
{
	uint8_t b[3];
	enum rd r = take(c, b, n);

	if (r != RD_OK)
		return r;
	*v = 0;
	for (size_t i = 0; i < n; i++)
		*v = *v << 8 | b[i];
	return RD_OK;
}

#define TAKE(c, dst, n)                                                     \
	do {                                                                \
		enum rd _r = take((c), (dst), (n));                         \
		if (_r != RD_OK)                                            \
			return _r;                                          \
	} while (0)

#define TAKE_BE(c, n, v)                                                    \
	do {                                                                \
		enum rd _r = take_be((c), (n), (v));                        \
		if (_r != RD_OK)                                            \
			return _r;                                          \
	} while (0)

/* Normalise a server_name in place: strip one trailing dot, lower-case.
 * A host name is dot-separated non-empty labels of letters, digits, '-'
 * and '_' (seen in the wild, e.g. service names), 255 bytes at most.
 * Returns the new length, or 0 if it is not a host name. */
static size_t host_name_norm(char *s, size_t n)
{
	if (n && s[n - 1] == '.')
		n--;
	if (!n || n > SNIFF_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (ch >= 'A' && ch <= 'Z')
			s[i] = ch - 'A' + 'a';
		else if (ch == '.') {
			if (i == 0 || s[i - 1] == '.')
				return 0;	/* empty label */
		} else if (!((ch >= 'a' && ch <= 'z') ||
			     (ch >= '0' && ch <= '9') || ch == '-' ||
			     ch == '_'))
			return 0;
	}
	if (s[n - 1] == '.')
		return 0;	/* "a.." less one dot: still an empty label */
	s[n] = '\0';
	return n;
}

/* server_name (RFC 6066 3): a list of (type, name); the first host_name
 * (type 0) is the one servers use.  A name that is not a host name is
 * reported as bad_sni instead of being dropped silently, so rules can
 * refuse it.  Returns RD_OK with c->lim consumed, or RD_SHORT/RD_BAD. */
static enum rd parse_sni(struct cur *c, struct sniff *out)
{
	uint32_t list, type, nlen;
	bool found = false;

	TAKE_BE(c, 2, &list);
	if (!list || list != c->lim)
		return RD_BAD;
	while (c->lim) {
		TAKE_BE(c, 1, &type);
		TAKE_BE(c, 2, &nlen);
		if (type != 0 || found) {
			TAKE(c, NULL, nlen);
			continue;
		}
		found = true;
		if (nlen > SNIFF_NAME_MAX + 1) {	/* room for one dot */
			TAKE(c, NULL, nlen);
			continue;
		}
		TAKE(c, (uint8_t *)out->sni, nlen);
		out->has_sni = host_name_norm(out->sni, nlen) > 0;
	}
	if (!out->has_sni) {
		out->bad_sni = true;
		memset(out->sni, 0, sizeof(out->sni));
	}
	return RD_OK;
}

/* application_layer_protocol_negotiation (RFC 7301 3.1): a non-empty list
 * of non-empty names.  Only where the list is gets kept (sniff_alpn_next
 * walks it): a hello may offer any number of names.  A name with a NUL
 * byte cannot be a C string and no rule could name it, so it is skipped
 * rather than truncated into a different name. */
static enum rd parse_alpn(struct cur *c, struct sniff *out)
{
	uint8_t name[SNIFF_ALPN_LEN];
	uint32_t list, nlen;

	TAKE_BE(c, 2, &list);
	if (list < 2 || list != c->lim)
		return RD_BAD;
	out->alpn_at = (uint32_t)c->hs;
	out->alpn_len = (uint16_t)list;
	while (c->lim) {
		TAKE_BE(c, 1, &nlen);
		if (!nlen)
			return RD_BAD;
		TAKE(c, name, nlen);
		if (!memchr(name, 0, nlen))
			out->n_alpn++;
	}
	return RD_OK;
}

bool sniff_alpn_next(const struct sniff *s, const uint8_t *buf, size_t len,
		     struct alpn_iter *it, char *name)
{
	struct cur c = { .buf = buf, .len = len, .lim = SIZE_MAX };
	uint32_t nlen;

	if (!it->started) {
		/* From the first record on: the list sits alpn_at handshake
		 * bytes in, after however many record headers. */
		it->started = true;
		it->left = s->n_alpn ? s->alpn_len : 0;
		if (it->left && take(&c, NULL, s->alpn_at) != RD_OK)
			it->left = 0;
		it->pos = c.pos;
		it->rec_left = c.rec_left;
	}
	c.pos = it->pos;
	c.rec_left = it->rec_left;
	while (it->left) {
		/* The hello was parsed whole from these bytes: a failure here
		 * means a caller passed other bytes; it ends the walk. */
		c.lim = it->left;
		if (take_be(&c, 1, &nlen) != RD_OK ||
		    take(&c, (uint8_t *)name, nlen) != RD_OK) {
			it->left = 0;
			return false;
		}
		it->left = c.lim;
		it->pos = c.pos;
		it->rec_left = c.rec_left;
		if (nlen && !memchr(name, 0, nlen)) {
			name[nlen] = '\0';
			return true;
		}
	}
	return false;
}

/* GREASE values (RFC 8701) are 0x?a?a with equal bytes: never real. */
static bool is_grease(uint32_t v)
{
	return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

/* supported_versions (RFC 8446 4.2.1): the highest TLS version offered.
 * Only 3.x codes count: drafts (0x7fxx) and DTLS (0xfexx) do not order
 * with them.  Returns 0 in *best if none is left. */
static enum rd parse_versions(struct cur *c, uint32_t *best)
{
	uint32_t n, v;

	TAKE_BE(c, 1, &n);
	if (n < 2 || n % 2 || n != c->lim)
		return RD_BAD;
	while (c->lim) {
		TAKE_BE(c, 2, &v);
		if (!is_grease(v) && (v >> 8) == 3 && v > *best)
			*best = v;
	}
	return RD_OK;
}

/* The extensions block: each extension once (RFC 8446 4.2), each exactly
 * as long as it says. */
static enum rd parse_extensions(struct cur *c, struct sniff *out,
				uint32_t *version)
{
	/* One bit per type, 8 KiB: only the words in use are zeroed (a
	 * word's bit in `live` says it is), not 8 KiB per hello. */
	uint64_t seen[65536 / 64], live[65536 / 64 / 64] = { 0 };
	uint32_t total, type, elen;

	TAKE_BE(c, 2, &total);
	if (total != c->lim)
		return RD_BAD;
	while (c->lim) {
		size_t outer;
		enum rd r = RD_OK;

		TAKE_BE(c, 2, &type);
		TAKE_BE(c, 2, &elen);
		if (elen > c->lim)
			return RD_BAD;
		if (!(live[type / 4096] & (1ULL << (type / 64 % 64)))) {
			live[type / 4096] |= 1ULL << (type / 64 % 64);
			seen[type / 64] = 0;
		}
		if (seen[type / 64] & (1ULL << (type % 64)))
			return RD_BAD;
		seen[type / 64] |= 1ULL << (type % 64);

		/* Narrow the limit to this extension, restore it after. */
		outer = c->lim - elen;
		c->lim = elen;
		switch (type) {
		case EXT_SERVER_NAME:
			r = parse_sni(c, out);
			break;
		case EXT_ALPN:
			r = parse_alpn(c, out);
			break;
		case EXT_VERSIONS:
			r = parse_versions(c, version);
			break;
		case EXT_ECH:
			/* Only its presence matters: the inner hello is
			 * encrypted and the outer SNI is what we route on. */
			out->ech = true;
			r = take(c, NULL, elen);
			break;
		default:
			r = take(c, NULL, elen);
			break;
		}
		if (r != RD_OK)
			return r;
		c->lim = outer;
	}
	return RD_OK;
}

/* The ClientHello message (RFC 8446 4.1.2), header included. */
static enum rd parse_hello(struct cur *c, struct sniff *out)
{
	uint32_t type, hlen, legacy, n, version = 0;
	enum rd r;

	c->lim = 4;
	TAKE_BE(c, 1, &type);
	if (type != HS_CLIENT_HELLO)
		return RD_BAD;
	c->began = true;
	TAKE_BE(c, 3, &hlen);
	if (hlen > HELLO_MAX)
		return RD_BAD;
	c->lim = hlen;

	TAKE_BE(c, 2, &legacy);
	if (legacy >> 8 != 3)
		return RD_BAD;
	TAKE(c, NULL, 32);			/* random */
	TAKE_BE(c, 1, &n);			/* legacy_session_id */
	if (n > 32)
		return RD_BAD;
	TAKE(c, NULL, n);
	TAKE_BE(c, 2, &n);			/* cipher_suites */
	if (n < 2 || n % 2)
		return RD_BAD;
	TAKE(c, NULL, n);
	TAKE_BE(c, 1, &n);			/* compression_methods */
	if (n < 1)
		return RD_BAD;
	TAKE(c, NULL, n);

	/* Extensions may be absent altogether (old TLS 1.0 clients). */
	if (c->lim) {
		r = parse_extensions(c, out, &version);
		if (r != RD_OK)
			return r;
	}
	out->hello_len = hlen;
	out->tls_version = version ? version : legacy;
	return RD_OK;
}

/* Clear the fields this probe owns, and only those: the caller may have
 * another probe's facts in the same struct. */
static void tls_clear(struct sniff *out)
{
	out->has_sni = false;
	out->bad_sni = false;
	out->ech = false;
	out->n_alpn = 0;
	out->alpn_len = 0;
	out->alpn_at = 0;
	out->tls_version = 0;
	out->hello_len = 0;
	memset(out->sni, 0, sizeof(out->sni));
}

/* Returns SNIFF_MATCH once the whole ClientHello is in buf (facts filled
 * in), SNIFF_MORE while buf is a valid prefix of one, SNIFF_BROKEN if a
 * hello began (a valid handshake record header, then the client_hello
 * type) and went wrong, SNIFF_NO otherwise.  Only MATCH leaves TLS facts
 * in *out. */
static enum sniff_verdict tls_identify(const uint8_t *buf, size_t len,
				       struct sniff *out)
{
	struct cur c = { .buf = buf, .len = len };
	enum rd r;

	tls_clear(out);
	r = parse_hello(&c, out);
	if (r == RD_OK)
		return SNIFF_MATCH;
	tls_clear(out);
	if (r == RD_SHORT)
		return SNIFF_MORE;
	return c.began ? SNIFF_BROKEN : SNIFF_NO;
}

static size_t tls_hint(const uint8_t *buf, size_t len, struct byteset *wake)
{
	struct cur c = { .buf = buf, .len = len };
	struct sniff scratch;

	(void)wake;
	memset(&scratch, 0, sizeof(scratch));
	return parse_hello(&c, &scratch) == RD_SHORT ? c.want : 0;
}

static const struct proto_keyword tls_keywords[] = {
	{ "SNI", FIELD_SNI, true },
	{ "ALPN", FIELD_ALPN, true },
	{ "ECH", FIELD_ECH, false },
	{ NULL, FIELD_ANY, false },
};

const struct proto proto_tls = {
	.name = "TLS",
	.identify = tls_identify,
	.keywords = tls_keywords,
	.hint = tls_hint,
};

/* QUIC (UDP listeners only, not in proto_table): the same probe and keys
 * over the ClientHello that user/proto/quic.c takes out of the client's
 * Initial packets and frames as one TLS record (quic_hello_bytes()). */
const struct proto proto_quic = {
	.name = "QUIC",
	.identify = tls_identify,
	.keywords = tls_keywords,
	.hint = tls_hint,
	.dgram = true,
};
