// SPDX-License-Identifier: GPL-2.0
/* A ClientHello shaped like Chrome's: GREASE, the usual extensions in a
 * fixed order, a real-size X25519 share and, when asked for size, an
 * X25519MLKEM768 share.  The builder writes through a counting writer, so
 * one pass can measure a hello and the next one can write it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tlsgen.h"

#define HELLO_MAX	65535
#define REC_MAX		16384

/* Writes up to cap bytes and counts them all, so an overflow is noticed
 * once, at the end, instead of at every call. */
struct w {
	uint8_t *p;
	size_t cap;
	size_t n;
	uint32_t rng;	/* xorshift32 state: fixed seed, same bytes */
};

static void put8(struct w *w, unsigned int v)
{
	if (w->n < w->cap)
		w->p[w->n] = (uint8_t)v;
	w->n++;
}

static void put16(struct w *w, unsigned int v)
{
	put8(w, v >> 8);
	put8(w, v);
}

static void put_bytes(struct w *w, const void *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put8(w, ((const uint8_t *)b)[i]);
}

static void put_random(struct w *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		w->rng ^= w->rng << 13;
		w->rng ^= w->rng >> 17;
		w->rng ^= w->rng << 5;
		put8(w, w->rng);
	}
}

/* Length prefixes: open() reserves `size` bytes, close() fills them in
 * with the length of what was written since. */
static size_t open_len(struct w *w, int size)
{
	size_t at = w->n;

	for (int i = 0; i < size; i++)
		put8(w, 0);
	return at;
}

static void close_len(struct w *w, size_t at, int size)
{
	size_t v = w->n - at - size;

	for (int i = size - 1; i >= 0; i--, v >>= 8)
		if (at + i < w->cap)
			w->p[at + i] = (uint8_t)v;
}

static size_t ext_open(struct w *w, unsigned int type)
{
	put16(w, type);
	return open_len(w, 2);
}

static const uint16_t cipher_suites[] = {
	0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9,
	0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
};

static const uint16_t sig_algs[] = {
	0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
};

static int put_alpn(struct w *w, const char *list)
{
	size_t at = ext_open(w, 0x0010), l = open_len(w, 2);

	for (const char *s = list;;) {
		size_t n = strcspn(s, ",");

		if (n < 1 || n > 255)
			return -EINVAL;
		put8(w, n);
		put_bytes(w, s, n);
		if (!s[n])
			break;
		s += n + 1;
	}
	close_len(w, l, 2);
	close_len(w, at, 2);
	return 0;
}

/* The handshake message: header, then the ClientHello body.  pq adds the
 * ML-KEM group and share; pad >= 0 adds a padding extension with that
 * many zero bytes.  Returns 0 or -EINVAL. */
static int put_hello(struct w *w, const struct tlsgen_opts *o, bool pq,
		     long pad)
{
	bool g = !o->no_grease;
	size_t hs, exts, at, l;
	int err;

	put8(w, 1);				/* client_hello */
	hs = open_len(w, 3);
	put16(w, 0x0303);			/* legacy_version */
	put_random(w, 32);
	put8(w, 32);				/* legacy_session_id */
	put_random(w, 32);
	at = open_len(w, 2);
	if (g)
		put16(w, 0x4a4a);
	for (size_t i = 0; i < sizeof(cipher_suites) / 2; i++)
		put16(w, cipher_suites[i]);
	close_len(w, at, 2);
	put8(w, 1);				/* compression: null */
	put8(w, 0);

	exts = open_len(w, 2);
	if (g)
		close_len(w, ext_open(w, 0x0a0a), 2);
	if (o->sni) {
		at = ext_open(w, 0x0000);
		l = open_len(w, 2);
		put8(w, 0);			/* host_name */
		put16(w, strlen(o->sni));
		put_bytes(w, o->sni, strlen(o->sni));
		close_len(w, l, 2);
		close_len(w, at, 2);
	}
	close_len(w, ext_open(w, 0x0017), 2);	/* extended_master_secret */
	at = ext_open(w, 0xff01);		/* renegotiation_info */
	put8(w, 0);
	close_len(w, at, 2);
	at = ext_open(w, 0x000a);		/* supported_groups */
	l = open_len(w, 2);
	if (g)
		put16(w, 0x2a2a);
	if (pq)
		put16(w, 0x11ec);
	put16(w, 0x001d);
	put16(w, 0x0017);
	put16(w, 0x0018);
	close_len(w, l, 2);
	close_len(w, at, 2);
	at = ext_open(w, 0x000b);		/* ec_point_formats */
	put8(w, 1);
	put8(w, 0);
	close_len(w, at, 2);
	close_len(w, ext_open(w, 0x0023), 2);	/* session_ticket */
	if (o->alpn) {
		err = put_alpn(w, o->alpn);
		if (err)
			return err;
	}
	at = ext_open(w, 0x0005);		/* status_request: ocsp */
	put8(w, 1);
	put16(w, 0);
	put16(w, 0);
	close_len(w, at, 2);
	at = ext_open(w, 0x000d);		/* signature_algorithms */
	l = open_len(w, 2);
	for (size_t i = 0; i < sizeof(sig_algs) / 2; i++)
		put16(w, sig_algs[i]);
	close_len(w, l, 2);
	close_len(w, at, 2);
	close_len(w, ext_open(w, 0x0012), 2);	/* signed_cert_timestamp */
	at = ext_open(w, 0x0033);		/* key_share */
	l = open_len(w, 2);
	if (g) {
		put16(w, 0x2a2a);
		put16(w, 1);
		put8(w, 0);
	}
	if (pq) {
		put16(w, 0x11ec);
		put16(w, TLSGEN_PQ_SHARE);
		put_random(w, TLSGEN_PQ_SHARE);
	}
	put16(w, 0x001d);
	put16(w, 32);
	put_random(w, 32);
	close_len(w, l, 2);
	close_len(w, at, 2);
	at = ext_open(w, 0x002d);		/* psk_key_exchange_modes */
	put8(w, 1);
	put8(w, 1);
	close_len(w, at, 2);
	at = ext_open(w, 0x002b);		/* supported_versions */
	l = open_len(w, 1);
	if (g)
		put16(w, 0x3a3a);
	put16(w, 0x0304);
	put16(w, 0x0303);
	close_len(w, l, 1);
	close_len(w, at, 2);
	at = ext_open(w, 0x001b);		/* compress_certificate: brotli */
	put8(w, 2);
	put16(w, 0x0002);
	close_len(w, at, 2);
	if (o->ech) {
		/* An outer ECHClientHello (draft-ietf-tls-esni): HKDF-SHA256,
		 * AES-128-GCM, a config id, an encapsulated key, a payload. */
		at = ext_open(w, 0xfe0d);
		put8(w, 0);
		put16(w, 0x0001);
		put16(w, 0x0001);
		put_random(w, 1);
		put16(w, 32);
		put_random(w, 32);
		put16(w, 208);
		put_random(w, 208);
		close_len(w, at, 2);
	}
	if (g) {
		at = ext_open(w, 0x1a1a);
		put8(w, 0);
		close_len(w, at, 2);
	}
	if (pad >= 0) {
		at = ext_open(w, 0x0015);		/* padding */
		for (long i = 0; i < pad; i++)
			put8(w, 0);
		close_len(w, at, 2);
	}
	put_bytes(w, o->raw_ext, o->raw_ext_len);
	close_len(w, exts, 2);
	close_len(w, hs, 3);
	return w->n - hs - 3 > HELLO_MAX ? -EINVAL : 0;
}

/* Size of the handshake body for these choices, or -EINVAL. */
static long hello_body_len(const struct tlsgen_opts *o, bool pq, long pad)
{
	struct w w = { .rng = 1 };
	int err = put_hello(&w, o, pq, pad);

	return err ? err : (long)w.n - 4;
}

ssize_t tlsgen_client_hello(const struct tlsgen_opts *o, uint8_t *out,
			    size_t cap)
{
	struct w hw = { .rng = 0x7a11c0de };
	size_t rs = o->record_size, off = 0;
	struct w rw = { .p = out, .cap = cap };
	bool pq = false;
	long pad = -1, n;
	int err;

	n = hello_body_len(o, false, -1);
	if (n < 0)
		return n;
	/* Reach pad_to the way browsers do: the post-quantum share first
	 * when it fits, then a padding extension for the rest. */
	if ((long)o->pad_to > n) {
		long with_pq = hello_body_len(o, true, -1);

		if (with_pq < 0)
			return with_pq;
		if ((long)o->pad_to >= with_pq) {
			pq = true;
			n = with_pq;
		}
		if ((long)o->pad_to > n)
			pad = (long)o->pad_to - n - 4 > 0 ?
			      (long)o->pad_to - n - 4 : 0;
	}
	n = hello_body_len(o, pq, pad);
	if (n < 0)
		return n;
	hw.cap = (size_t)n + 4;
	hw.p = malloc(hw.cap);
	if (!hw.p)
		return -ENOMEM;
	err = put_hello(&hw, o, pq, pad);
	if (err) {
		free(hw.p);
		return err;
	}

	if (!rs || rs > REC_MAX)
		rs = REC_MAX;
	while (off < hw.n) {
		size_t k = hw.n - off < rs ? hw.n - off : rs;

		put8(&rw, 22);			/* handshake */
		put16(&rw, 0x0301);		/* what OpenSSL and Chrome send */
		put16(&rw, k);
		put_bytes(&rw, hw.p + off, k);
		off += k;
	}
	free(hw.p);
	return rw.n > cap ? -ENOSPC : (ssize_t)rw.n;
}
