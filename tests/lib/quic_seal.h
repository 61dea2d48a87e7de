/* SPDX-License-Identifier: GPL-2.0 */
/* Client Initial packets as a client seals them, for the QUIC tests and
 * fuzzer: a long header, the payload under AEAD_AES_128_GCM, then header
 * protection (RFC 9001 5.3, 5.4), with libcrypto.  Header-only (static
 * functions) so that only what includes it links libcrypto.
 * Keys come from user/proto/quic.c's quic_initial_keys(), which the tests
 * hold to the RFC vectors; the sealing is held to them by sealing the
 * RFC 9001 A.2 payload back into the RFC's packet. */
#ifndef PT_TEST_QUIC_SEAL_H
#define PT_TEST_QUIC_SEAL_H

#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include <openssl/evp.h>

#include "proto/quic.h"

struct qseal {
	uint32_t version;		/* 0: QUIC_V1 */
	const uint8_t *dcid;
	size_t dcid_len;
	const uint8_t *scid;
	size_t scid_len;
	const uint8_t *token;
	size_t token_len;
	uint64_t pn;
	size_t pn_len;			/* 1..4; 0: 4 */
	int type;			/* enum quic_ptype, QUIC_PT_INITIAL.. HANDSHAKE */
	uint8_t reserved;		/* the two reserved bits (0x0c) to set */
	const struct quic_keys *keys;	/* NULL: those of (version, dcid) */
};

/* v in the fewest bytes (RFC 9000 16); returns how many. */
static inline size_t qs_varint(uint8_t *out, uint64_t v)
{
	size_t n = v < 64 ? 1 : v < 16384 ? 2 : v < (1u << 30) ? 4 : 8;

	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	out[0] |= (uint8_t)((n == 1 ? 0 : n == 2 ? 1 : n == 4 ? 2 : 3) << 6);
	return n;
}

/* A CRYPTO frame of data[0..len) at stream offset off; returns its size. */
static inline size_t qs_crypto(uint8_t *out, uint64_t off, const uint8_t *data, size_t len)
{
	size_t n = 0;

	out[n++] = 0x06;
	n += qs_varint(out + n, off);
	n += qs_varint(out + n, len);
	memcpy(out + n, data, len);
	return n + len;
}

/* Seal payload[0..plen) (frames; zero-padded to the 4 bytes header
 * protection needs) into out.  Returns the packet length, or -1. */
static inline ssize_t qs_seal(const struct qseal *o, const uint8_t *payload, size_t plen,
			      uint8_t *out, size_t cap)
{
	uint32_t version = o->version ? o->version : QUIC_V1;
	size_t pn_len = o->pn_len ? o->pn_len : 4, n = 0, pn_off, ct_len;
	uint8_t nonce[12], mask[32];
	struct quic_keys keys;
	EVP_CIPHER_CTX *ctx;
	int type = o->type, outl, ok;

	if (o->keys)
		keys = *o->keys;
	else if (quic_initial_keys(version, o->dcid, o->dcid_len, &keys))
		return -1;
	ct_len = plen < 4 ? 4 : plen;
	if (cap < 64 + o->dcid_len + o->scid_len + o->token_len + ct_len + 16)
		return -1;
	if (version == QUIC_V2)
		type = (type + 1) & 3;
	out[n++] = (uint8_t)(0xc0 | type << 4 | (o->reserved & 0x0c) | (pn_len - 1));
	for (int i = 3; i >= 0; i--)
		out[n++] = (uint8_t)(version >> (8 * i));
	out[n++] = (uint8_t)o->dcid_len;
	memcpy(out + n, o->dcid, o->dcid_len);
	n += o->dcid_len;
	out[n++] = (uint8_t)o->scid_len;
	if (o->scid_len)
		memcpy(out + n, o->scid, o->scid_len);
	n += o->scid_len;
	if (o->type == QUIC_PT_INITIAL) {
		n += qs_varint(out + n, o->token_len);
		if (o->token_len)
			memcpy(out + n, o->token, o->token_len);
		n += o->token_len;
	}
	/* Length always in two bytes, as clients write it. */
	out[n++] = (uint8_t)(0x40 | (pn_len + ct_len + 16) >> 8);
	out[n++] = (uint8_t)(pn_len + ct_len + 16);
	pn_off = n;
	for (size_t i = 0; i < pn_len; i++)
		out[n++] = (uint8_t)(o->pn >> (8 * (pn_len - 1 - i)));
	memset(out + n, 0, ct_len);
	memcpy(out + n, payload, plen);

	memcpy(nonce, keys.iv, 12);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] ^= (uint8_t)(o->pn >> (56 - 8 * i));
	ctx = EVP_CIPHER_CTX_new();
	ok = ctx && EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, keys.key, nonce) &&
	     EVP_EncryptUpdate(ctx, NULL, &outl, out, (int)n) &&
	     EVP_EncryptUpdate(ctx, out + n, &outl, out + n, (int)ct_len) &&
	     EVP_EncryptFinal_ex(ctx, out + n + outl, &outl) &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, out + n + ct_len) &&
	     EVP_EncryptInit_ex(ctx, EVP_aes_128_ecb(), NULL, keys.hp, NULL) &&
	     EVP_CIPHER_CTX_set_padding(ctx, 0) &&
	     EVP_EncryptUpdate(ctx, mask, &outl, out + pn_off + 4, 16);
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		return -1;
	out[0] ^= mask[0] & 0x0f;
	for (size_t i = 0; i < pn_len; i++)
		out[pn_off + i] ^= mask[1 + i];
	return (ssize_t)(n + ct_len + 16);
}

#endif /* PT_TEST_QUIC_SEAL_H */
