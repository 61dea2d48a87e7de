// SPDX-License-Identifier: GPL-2.0
/* QUIC client Initial packets -> the ClientHello they carry (quic.h).
 *
 * Not a struct proto: a probe sees a byte stream it may re-read from the
 * start, a QUIC flow is datagrams that come once each, out of order, and
 * must be decrypted.  So the state lives in the caller's struct
 * quic_hello, and the hello comes out as bytes the TLS probe reads.
 *
 * The TLS probe reads records; QUIC's CRYPTO frames carry bare handshake
 * messages.  Rather than teach tls.c a second framing, the stream is
 * kept QUIC_REC_HDR bytes into a buffer, and once the hello is whole one
 * record header is written in front of it: QUIC_HELLO_MAX is 16 KiB, the
 * most a record carries, so one header always does.  tls.c stays as it
 * is, and so does sniff_alpn_next(), which walks ALPN ids through record
 * framing and would otherwise need a framing flag in struct sniff.
 *
 * The packet is judged before its frames are: header (RFC 9000 17.2),
 * then header protection and AEAD (RFC 9001 5.4, 5.3).  Only bytes of
 * packets that authenticated reach the stream, and a packet is taken
 * whole or not at all, so a forged or broken packet costs the flow
 * nothing.  (Initial keys are public: anyone who saw the DCID can forge
 * a packet that authenticates.  What keeps a forger from changing the
 * hello is that bytes once in never change: a different byte at an
 * offset already held refuses the packet.)
 */
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "proto/quic.h"

#define TAG_LEN		16	/* AEAD_AES_128_GCM */
#define SAMPLE_LEN	16	/* header protection sample */
#define HS_CLIENT_HELLO	1
#define REC_HANDSHAKE	22

/* Frame types allowed in an Initial packet (RFC 9000 12.4, table 3). */
#define FR_PADDING	0x00
#define FR_PING		0x01
#define FR_ACK		0x02
#define FR_ACK_ECN	0x03
#define FR_CRYPTO	0x06
#define FR_CLOSE	0x1c	/* the transport one; 0x1d is 1-RTT only */

/* initial_salt, RFC 9001 5.2 and RFC 9369 3.3.1. */
static const uint8_t salt_v1[20] = {
	0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
	0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a,
};
static const uint8_t salt_v2[20] = {
	0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
	0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9,
};

void quic_hello_init(struct quic_hello *h)
{
	memset(h, 0, sizeof(*h));
}

/* HKDF-Expand-Label (RFC 8446 7.1) with an empty context.  Every output
 * QUIC Initial needs is one SHA-256 block or less, where HKDF-Expand
 * (RFC 5869 2.3) is a single HMAC over info || 0x01. */
static int expand_label(const uint8_t secret[32], const char *label,
			uint8_t *out, size_t len)
{
	uint8_t info[2 + 1 + 6 + 16 + 1 + 1], md[EVP_MAX_MD_SIZE];
	size_t ll = strlen(label), n = 0;
	unsigned int mdlen = 0;

	info[n++] = (uint8_t)(len >> 8);
	info[n++] = (uint8_t)len;
	info[n++] = (uint8_t)(6 + ll);
	memcpy(info + n, "tls13 ", 6);
	n += 6;
	memcpy(info + n, label, ll);
	n += ll;
	info[n++] = 0;		/* context: empty */
	info[n++] = 1;		/* HKDF-Expand's block counter */
	if (!HMAC(EVP_sha256(), secret, 32, info, n, md, &mdlen) || mdlen != 32)
		return -EIO;
	memcpy(out, md, len);
	return 0;
}

/* Initial secrets are a public function of the DCID (RFC 9001 5.2), so
 * nothing here is wiped after use. */
int quic_initial_keys(uint32_t version, const uint8_t *dcid, size_t dcid_len,
		      struct quic_keys *k)
{
	const bool v2 = version == QUIC_V2;
	uint8_t initial[EVP_MAX_MD_SIZE], client[32];
	unsigned int mdlen = 0;

	if (version != QUIC_V1 && !v2)
		return -ENOTSUP;
	if (dcid_len > QUIC_CID_MAX)
		return -EINVAL;
	/* HKDF-Extract(salt, ikm) is HMAC keyed with the salt.  An empty
	 * DCID still needs a valid pointer. */
	if (!HMAC(EVP_sha256(), v2 ? salt_v2 : salt_v1, 20,
		  dcid_len ? dcid : salt_v1, dcid_len, initial, &mdlen) ||
	    mdlen != 32)
		return -EIO;
	if (expand_label(initial, "client in", client, 32) ||
	    expand_label(client, v2 ? "quicv2 key" : "quic key", k->key, sizeof(k->key)) ||
	    expand_label(client, v2 ? "quicv2 iv" : "quic iv", k->iv, sizeof(k->iv)) ||
	    expand_label(client, v2 ? "quicv2 hp" : "quic hp", k->hp, sizeof(k->hp)))
		return -EIO;
	return 0;
}

/* A variable-length integer (RFC 9000 16) at p[*pos], moving *pos past
 * it; false if it runs past n. */
static bool get_varint(const uint8_t *p, size_t n, size_t *pos, uint64_t *v)
{
	size_t len;

	if (*pos >= n)
		return false;
	len = (size_t)1 << (p[*pos] >> 6);
	if (len > n - *pos)
		return false;
	*v = p[*pos] & 0x3f;
	for (size_t i = 1; i < len; i++)
		*v = *v << 8 | p[*pos + i];
	*pos += len;
	return true;
}

/* What a long header says, up to the protected packet number. */
struct lhdr {
	uint32_t version;
	struct quic_cid dcid, scid;
	size_t pn_off;		/* first byte of the packet number */
	size_t end;		/* packet length: where the next one starts */
};

/* The header of the packet at p[0..n) (RFC 9000 17.2).  Returns its enum
 * quic_ptype or -EBADMSG/-ENOMSG/-ENOTSUP (quic.h).
 * The fixed bit (0x40) is not checked: RFC 9287 lets a client clear it
 * even in its first Initial, and the version says QUIC well enough. */
static int parse_long(const uint8_t *p, size_t n, struct lhdr *o)
{
	size_t pos = 5;
	uint64_t v;
	int type;

	if (n < 1)
		return -EBADMSG;
	if (!(p[0] & 0x80))
		return QUIC_PT_SHORT;
	if (n < 5)
		return -EBADMSG;
	o->version = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
	if (o->version == 0)
		return -ENOMSG;
	if (o->version != QUIC_V1 && o->version != QUIC_V2)
		return -ENOTSUP;
	if (pos >= n || p[pos] > QUIC_CID_MAX)
		return -EBADMSG;
	o->dcid.len = p[pos++];
	if (o->dcid.len > n - pos)
		return -EBADMSG;
	memcpy(o->dcid.id, p + pos, o->dcid.len);
	pos += o->dcid.len;
	if (pos >= n || p[pos] > QUIC_CID_MAX || p[pos] > n - pos - 1)
		return -EBADMSG;
	o->scid.len = p[pos++];
	memcpy(o->scid.id, p + pos, o->scid.len);
	pos += o->scid.len;
	/* Version 2 shifted the type codes by one (RFC 9369 3.2). */
	type = p[0] >> 4 & 3;
	if (o->version == QUIC_V2)
		type = (type + 3) & 3;
	if (type == QUIC_PT_RETRY) {
		o->end = n;	/* no Length: it runs to the datagram's end */
		return type;
	}
	if (type == QUIC_PT_INITIAL) {
		if (!get_varint(p, n, &pos, &v) || v > n - pos)	/* token */
			return -EBADMSG;
		pos += v;
	}
	if (!get_varint(p, n, &pos, &v) || v > n - pos)
		return -EBADMSG;
	o->pn_off = pos;
	o->end = pos + v;
	return type;
}

int quic_peek_dcid(const uint8_t *dgram, size_t len, struct quic_cid *dcid,
		   uint32_t *version)
{
	struct lhdr lh = { 0 };
	int r = parse_long(dgram, len, &lh);

	*version = lh.version;
	dcid->len = 0;
	if (r >= 0 && r != QUIC_PT_SHORT)
		*dcid = lh.dcid;
	return r;
}

int quic_peek_scid(const uint8_t *dgram, size_t len, struct quic_cid *scid)
{
	struct lhdr lh = { 0 };
	int r = parse_long(dgram, len, &lh);

	scid->len = 0;
	if (r >= 0 && r != QUIC_PT_SHORT)
		*scid = lh.scid;
	return r;
}

/* The full packet number from its truncated form (RFC 9000 A.3): the one
 * nearest the next expected. */
static uint64_t decode_pn(uint64_t expected, uint64_t truncated, unsigned int bits)
{
	uint64_t win = 1ULL << bits, hwin = win / 2, mask = win - 1;
	uint64_t cand = (expected & ~mask) | truncated;

	if (cand + hwin <= expected && cand < (1ULL << 62) - win)
		return cand + win;
	if (cand > expected + hwin && cand >= win)
		return cand - win;
	return cand;
}

/* Remove header protection from the Initial at p (header lh) and decrypt
 * its payload into pt.  Returns 0 with *ptlen, *pn and the unprotected
 * first byte in *b0; -EBADMSG if it is too short to sample or does not
 * authenticate, -EMSGSIZE if it is over QUIC_PKT_MAX, -EIO if libcrypto
 * fails otherwise. */
static int unprotect(EVP_CIPHER_CTX *ctx, const struct quic_keys *k,
		     uint64_t next_pn, const uint8_t *p, const struct lhdr *lh,
		     uint8_t *pt, size_t *ptlen, uint64_t *pn, uint8_t *b0)
{
	uint8_t mask[2 * SAMPLE_LEN], pnb[4], nonce[12];
	size_t pn_len, ct_off, ct_len;
	uint64_t tpn = 0;
	int outl, finl;

	/* The sample starts 4 bytes into the packet number, however long
	 * it turns out to be (RFC 9001 5.4.2). */
	if (lh->end - lh->pn_off < 4 + SAMPLE_LEN)
		return -EBADMSG;
	if (!EVP_EncryptInit_ex(ctx, EVP_aes_128_ecb(), NULL, k->hp, NULL) ||
	    !EVP_CIPHER_CTX_set_padding(ctx, 0) ||
	    !EVP_EncryptUpdate(ctx, mask, &outl, p + lh->pn_off + 4, SAMPLE_LEN) ||
	    outl != SAMPLE_LEN)
		return -EIO;
	*b0 = p[0] ^ (mask[0] & 0x0f);	/* long header: 4 bits protected */
	pn_len = (*b0 & 3) + 1;
	for (size_t i = 0; i < pn_len; i++) {
		pnb[i] = p[lh->pn_off + i] ^ mask[1 + i];
		tpn = tpn << 8 | pnb[i];
	}
	*pn = decode_pn(next_pn, tpn, (unsigned int)pn_len * 8);
	ct_off = lh->pn_off + pn_len;
	ct_len = lh->end - ct_off - TAG_LEN;
	if (ct_len > QUIC_PKT_MAX)
		return -EMSGSIZE;

	/* The nonce is the IV with the packet number xored into its
	 * low end (RFC 9001 5.3). */
	memcpy(nonce, k->iv, sizeof(nonce));
	for (size_t i = 0; i < 8; i++)
		nonce[4 + i] ^= (uint8_t)(*pn >> (56 - 8 * i));
	/* The associated data is the header as sent before protection: the
	 * unmasked first byte and packet number around the bytes between,
	 * fed in three pieces rather than copied (a token makes the header
	 * as long as the datagram). */
	if (!EVP_DecryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, NULL, NULL) ||
	    !EVP_DecryptInit_ex(ctx, NULL, NULL, k->key, nonce) ||
	    !EVP_DecryptUpdate(ctx, NULL, &outl, b0, 1) ||
	    !EVP_DecryptUpdate(ctx, NULL, &outl, p + 1, (int)lh->pn_off - 1) ||
	    !EVP_DecryptUpdate(ctx, NULL, &outl, pnb, (int)pn_len) ||
	    !EVP_DecryptUpdate(ctx, pt, &outl, p + ct_off, (int)ct_len) ||
	    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_LEN,
				 (void *)(p + lh->end - TAG_LEN)))
		return -EIO;
	if (EVP_DecryptFinal_ex(ctx, pt + outl, &finl) <= 0)
		return -EBADMSG;
	*ptlen = (size_t)outl + (size_t)finl;
	return 0;
}

/* ACK (RFC 9000 19.3): nothing in it matters here, but its ranges are
 * walked to find the next frame.  Each range is two varints, two bytes at
 * least, so a range count past the payload runs out of bytes first. */
static int skip_ack(const uint8_t *p, size_t n, size_t *pos, bool ecn)
{
	uint64_t v, count;

	if (!get_varint(p, n, pos, &v) || !get_varint(p, n, pos, &v) ||
	    !get_varint(p, n, pos, &count) || !get_varint(p, n, pos, &v))
		return -EPROTO;
	for (; count; count--)
		if (!get_varint(p, n, pos, &v) || !get_varint(p, n, pos, &v))
			return -EPROTO;
	if (ecn && (!get_varint(p, n, pos, &v) || !get_varint(p, n, pos, &v) ||
		    !get_varint(p, n, pos, &v)))
		return -EPROTO;
	return 0;
}

/* Stream bytes [off, off + len).  A byte already in must come again the
 * same (RFC 9000 2.2 lets us treat a change as PROTOCOL_VIOLATION): the
 * first authenticated copy wins. */
static int crypto_put(struct quic_hello *h, uint64_t off, const uint8_t *d, uint64_t len)
{
	if (off > QUIC_HELLO_MAX || len > QUIC_HELLO_MAX - off)
		return -EMSGSIZE;
	for (size_t i = 0; i < len; i++) {
		size_t at = (size_t)off + i;
		uint8_t bit = (uint8_t)(1u << (at & 7));

		if (h->have[at >> 3] & bit) {
			if (h->rec[QUIC_REC_HDR + at] != d[i])
				return -EPROTO;
			continue;
		}
		h->rec[QUIC_REC_HDR + at] = d[i];
		h->have[at >> 3] |= bit;
	}
	return 0;
}

static int frames(struct quic_hello *h, const uint8_t *p, size_t n, bool *closed)
{
	size_t pos = 0;
	uint64_t off, len, v;
	int r;

	if (!n)		/* a packet without frames (RFC 9000 12.4) */
		return -EPROTO;
	while (pos < n) {
		/* Types are varints, but every one allowed here is one byte:
		 * a longer encoding is refused with the unknown types. */
		switch (p[pos++]) {
		case FR_PADDING:
		case FR_PING:
			break;
		case FR_ACK:
		case FR_ACK_ECN:
			r = skip_ack(p, n, &pos, p[pos - 1] == FR_ACK_ECN);
			if (r)
				return r;
			break;
		case FR_CRYPTO:
			if (!get_varint(p, n, &pos, &off) || !get_varint(p, n, &pos, &len) ||
			    len > n - pos)
				return -EPROTO;
			r = crypto_put(h, off, p + pos, len);
			if (r)
				return r;
			pos += len;
			break;
		case FR_CLOSE:
			/* error code, frame type, reason phrase */
			if (!get_varint(p, n, &pos, &v) || !get_varint(p, n, &pos, &v) ||
			    !get_varint(p, n, &pos, &len) || len > n - pos)
				return -EPROTO;
			pos += len;
			*closed = true;
			break;
		default:
			return -EPROTO;
		}
	}

	while (h->contig < QUIC_HELLO_MAX &&
	       (h->have[h->contig >> 3] >> (h->contig & 7) & 1))
		h->contig++;
	if (!h->hello_end && h->contig >= 4) {
		const uint8_t *m = h->rec + QUIC_REC_HDR;
		uint32_t hlen = (uint32_t)m[1] << 16 | (uint32_t)m[2] << 8 | m[3];

		/* A client's Initial stream starts with its ClientHello. */
		if (m[0] != HS_CLIENT_HELLO)
			return -EPROTO;
		if (hlen > QUIC_HELLO_MAX - 4)
			return -EMSGSIZE;
		h->hello_end = 4 + hlen;
	}
	return 0;
}

int quic_initial_frames(struct quic_hello *h, const uint8_t *p, size_t n)
{
	uint8_t have[sizeof(h->have)];
	uint32_t contig = h->contig, hello_end = h->hello_end;
	bool closed = false;
	int r;

	if (h->done)
		return 1;
	/* All or nothing: the coverage as it was comes back on a refusal
	 * (bytes written under it are unclaimed, so they do not matter). */
	memcpy(have, h->have, sizeof(have));
	r = frames(h, p, n, &closed);
	if (r < 0) {
		memcpy(h->have, have, sizeof(have));
		h->contig = contig;
		h->hello_end = hello_end;
		return r;
	}
	h->closed |= closed;
	if (!h->hello_end || h->contig < h->hello_end)
		return 0;
	/* The record header the TLS probe expects; 0x0301 in the version
	 * as clients put in their first record. */
	h->rec[0] = REC_HANDSHAKE;
	h->rec[1] = 3;
	h->rec[2] = 1;
	h->rec[3] = (uint8_t)(h->hello_end >> 8);
	h->rec[4] = (uint8_t)h->hello_end;
	h->done = true;
	return 1;
}

static bool same_cid(const struct quic_cid *a, const struct quic_cid *b)
{
	return a->len == b->len && !memcmp(a->id, b->id, a->len);
}

/* The packet at p[0..n), the datagram's rest: *used is its length, or 0
 * if it cannot be stepped over (nothing after it can be read). */
static int one_packet(struct quic_hello *h, EVP_CIPHER_CTX *ctx, const uint8_t *p,
		      size_t n, size_t *used, uint8_t *pt)
{
	struct lhdr lh = { 0 };
	size_t ptlen = 0;
	uint64_t pn = 0;
	uint8_t b0 = 0;
	int r = parse_long(p, n, &lh);

	*used = 0;
	if (r < 0)
		return r;
	/* A 1-RTT packet has no length; a Retry comes from servers. */
	if (r == QUIC_PT_SHORT || r == QUIC_PT_RETRY)
		return -EBADMSG;
	*used = lh.end;
	if (r != QUIC_PT_INITIAL) {
		h->n_skipped++;
		return 0;
	}
	/* Keys come from the DCID of the client's first Initial and stay
	 * when it moves to the server's CID (RFC 9001 5.2); until a packet
	 * is taken, each packet's own DCID is tried. */
	if (h->locked) {
		if (lh.version != h->version) {
			h->n_dropped++;
			return -EBADMSG;
		}
	} else if (!h->keyed || lh.version != h->version || !same_cid(&lh.dcid, &h->dcid)) {
		r = quic_initial_keys(lh.version, lh.dcid.id, lh.dcid.len, &h->keys);
		if (r) {
			h->keyed = false;
			return r;
		}
		h->keyed = true;
		h->version = lh.version;
		h->dcid = lh.dcid;
	}

	r = unprotect(ctx, &h->keys, h->next_pn, p, &lh, pt, &ptlen, &pn, &b0);
	if (r == -EBADMSG || r == -EMSGSIZE)
		h->n_dropped++;
	if (r)
		return r;
	/* Reserved bits are checked only now: before, they could be the
	 * mask's (RFC 9000 17.2). */
	if (b0 & 0x0c) {
		h->n_refused++;
		return -EPROTO;
	}
	r = quic_initial_frames(h, pt, ptlen);
	if (r < 0) {
		h->n_refused++;
		return r;
	}
	h->locked = true;
	h->n_accepted++;
	if (pn >= h->next_pn)
		h->next_pn = pn + 1;
	return r;
}

int quic_initial_feed(struct quic_hello *h, const uint8_t *dgram, size_t len)
{
	uint8_t pt[QUIC_PKT_MAX];
	EVP_CIPHER_CTX *ctx;
	size_t off = 0, used;
	int err = 0, r;

	if (h->done)
		return 1;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return -ENOMEM;
	do {
		r = one_packet(h, ctx, dgram + off, len - off, &used, pt);
		/* After the first packet, bytes that are no packet are
		 * padding (RFC 9000 12.2 has receivers ignore them). */
		if (r < 0 && !err && (off == 0 || used))
			err = r;
		if (!used)
			break;
		off += used;
	} while (off < len && !h->done);
	EVP_CIPHER_CTX_free(ctx);
	return h->done ? 1 : err;
}

int quic_hello_bytes(const struct quic_hello *h, const uint8_t **buf, size_t *len)
{
	if (!h->done)
		return -EAGAIN;
	*buf = h->rec;
	*len = QUIC_REC_HDR + h->hello_end;
	return 0;
}
