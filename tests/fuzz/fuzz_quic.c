// SPDX-License-Identifier: GPL-2.0
/* libFuzzer harness for the QUIC Initial parser (user/proto/quic.c).
 *
 * An input is a mode byte, then chunks, each a 2-byte big-endian length
 * and that many bytes (the last one cut short if the input ends), all fed
 * into one struct quic_hello:
 *   mode 0  each chunk is a datagram for quic_initial_feed(), and for
 *           quic_peek_dcid(), which must refuse it as feed does (and
 *           quic_peek_scid() as peek_dcid does);
 *   mode 1  each chunk is a decrypted payload for quic_initial_frames():
 *           the frame parser and the reassembly, without crypto, which a
 *           fuzzer cannot get past; a refused payload leaves the
 *           reassembly exactly as it was;
 *   mode 2  each chunk is a flags byte and a payload, sealed here as a
 *           client Initial (tests/lib/quic_seal.h: bit 0 version 2, bits
 *           1-2 the packet number length, bit 3 coalesced with the next
 *           chunk's packet, bit 4 header protection under other keys):
 *           the whole path, decryption included.
 * Beyond "no crash, no over-read" (exact-size copies), after every call:
 *  - the return value is one quic.h lists, 1 from the first time on;
 *  - the stream bytes once in never change, the contiguous part never
 *    shrinks, and the coverage bitmap agrees with it;
 *  - a whole hello is one TLS handshake record that the TLS probe
 *    judges (MATCH or BROKEN, never "more" nor "not TLS"), and a MATCH
 *    walks exactly n_alpn ALPN ids. */
#include <errno.h>

#include "proto/proto.h"
#include "proto/quic.h"
#include "quic_seal.h"

#define FUZZ_NAME "fuzz_quic"
#include "fuzz.h"

extern const struct proto proto_tls;

static struct quic_hello qh;
static uint8_t prev[QUIC_HELLO_MAX];
static uint32_t prev_contig;
static bool prev_done;

static const uint8_t dcid[8] = { 0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08 };
static const uint8_t other_dcid[4] = { 1, 2, 3, 4 };

static bool covered(uint32_t at)
{
	return qh.have[at >> 3] >> (at & 7) & 1;
}

static void check_hello(void)
{
	static struct sniff s;
	char id[SNIFF_ALPN_LEN + 1];
	struct alpn_iter it = { 0 };
	const uint8_t *b;
	enum sniff_verdict v;
	uint8_t *copy;
	size_t n, ids = 0;

	if (quic_hello_bytes(&qh, &b, &n))
		BUG("done, but no hello bytes");
	if (n != QUIC_REC_HDR + qh.hello_end || n > QUIC_REC_HDR + QUIC_HELLO_MAX ||
	    b[0] != 22 || b[QUIC_REC_HDR] != 1)
		BUG("hello of %zu bytes, record type %u, handshake type %u", n, b[0],
		    b[QUIC_REC_HDR]);
	copy = fuzz_copy(b, n);
	memset(&s, 0, sizeof(s));
	v = proto_tls.identify(copy, n, &s);
	if (v != SNIFF_MATCH && v != SNIFF_BROKEN)
		BUG("TLS probe says %d to a whole hello", v);
	if (v == SNIFF_MATCH) {
		while (sniff_alpn_next(&s, copy, n, &it, id))
			ids++;
		if (ids != s.n_alpn)
			BUG("%zu ALPN ids walked, n_alpn %u", ids, s.n_alpn);
	}
	free(copy);
}

/* After every call that returned r. */
static void check_state(int r)
{
	if (r != 1 && r != 0 && r != -EBADMSG && r != -ENOMSG && r != -ENOTSUP &&
	    r != -EPROTO && r != -EMSGSIZE)
		BUG("returned %d", r);
	if (prev_done && r != 1)
		BUG("returned %d after the hello was whole", r);
	if ((r == 1) != qh.done)
		BUG("returned %d, done %d", r, qh.done);
	if (qh.contig < prev_contig || qh.contig > QUIC_HELLO_MAX ||
	    qh.hello_end > QUIC_HELLO_MAX)
		BUG("contig %u (was %u), hello_end %u", qh.contig, prev_contig, qh.hello_end);
	if (memcmp(prev, qh.rec + QUIC_REC_HDR, prev_contig))
		BUG("stream bytes below %u changed", prev_contig);
	if (qh.contig < QUIC_HELLO_MAX && covered(qh.contig))
		BUG("byte %u is in, contig stops there", qh.contig);
	for (uint32_t i = prev_contig; i < qh.contig; i++)
		if (!covered(i))
			BUG("byte %u is not in, contig %u", i, qh.contig);
	if (qh.done && (!qh.hello_end || qh.contig < qh.hello_end))
		BUG("done with contig %u, hello_end %u", qh.contig, qh.hello_end);
	if (qh.done && !prev_done)
		check_hello();
	memcpy(prev + prev_contig, qh.rec + QUIC_REC_HDR + prev_contig, qh.contig - prev_contig);
	prev_contig = qh.contig;
	prev_done = qh.done;
}

static void feed(const uint8_t *d, size_t n)
{
	uint8_t *copy = fuzz_copy(d, n);
	struct quic_cid cid;
	uint32_t version = 1;
	bool was_done = qh.done;
	struct quic_cid scid;
	int p = quic_peek_dcid(copy, n, &cid, &version), r;

	if (quic_peek_scid(copy, n, &scid) != p || scid.len > QUIC_CID_MAX)
		BUG("peek_scid disagrees with peek_dcid (%d), or a cid of %u", p, scid.len);
	r = quic_initial_feed(&qh, copy, n);
	free(copy);
	if (p < 0 && !was_done && r != p)
		BUG("peek says %d, feed %d", p, r);
	if ((p == -ENOMSG && version) || cid.len > QUIC_CID_MAX)
		BUG("peek %d: version %#x, cid of %u", p, version, cid.len);
	check_state(r);
}

static void frames(const uint8_t *d, size_t n)
{
	static uint8_t have[sizeof(qh.have)];
	uint8_t *copy = fuzz_copy(d, n);
	uint32_t contig = qh.contig, end = qh.hello_end;
	int r;

	memcpy(have, qh.have, sizeof(have));
	r = quic_initial_frames(&qh, copy, n);
	free(copy);
	if (r < 0 && (qh.contig != contig || qh.hello_end != end ||
		      memcmp(have, qh.have, sizeof(have))))
		BUG("refused payload (%d) changed the reassembly", r);
	check_state(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t dg[2 * (QUIC_PKT_MAX + 128)];
	struct quic_keys other;
	size_t pos = 1, dlen = 0, idx = 0;
	int mode;

	if (!size)
		return 0;
	mode = data[0] % 3;
	quic_hello_init(&qh);
	prev_contig = 0;
	prev_done = false;
	if (mode == 2 && quic_initial_keys(QUIC_V1, other_dcid, sizeof(other_dcid), &other))
		BUG("no keys");
	while (pos < size) {
		size_t n = pos + 2 <= size ? (size_t)data[pos] << 8 | data[pos + 1] : 0;
		const uint8_t *c = data + pos + 2;

		pos += 2;
		if (pos > size)
			break;
		if (n > size - pos)
			n = size - pos;
		pos += n;
		if (mode == 0) {
			feed(c, n);
		} else if (mode == 1) {
			frames(c, n);
		} else if (n) {
			struct qseal o = {
				.version = c[0] & 1 ? QUIC_V2 : QUIC_V1,
				.dcid = dcid, .dcid_len = sizeof(dcid),
				.pn = idx++, .pn_len = 1 + (c[0] >> 1 & 3),
				.keys = c[0] & 16 ? &other : NULL,
			};
			ssize_t k;

			if (n - 1 > QUIC_PKT_MAX)
				n = QUIC_PKT_MAX + 1;
			k = qs_seal(&o, c + 1, n - 1, dg + dlen, sizeof(dg) - dlen);
			if (k < 0)
				BUG("qs_seal of %zu bytes", n - 1);
			dlen += (size_t)k;
			/* coalesce while the next one still fits */
			if (!(c[0] & 8) || dlen > QUIC_PKT_MAX || pos >= size) {
				feed(dg, dlen);
				dlen = 0;
			}
		}
	}
	if (dlen)
		feed(dg, dlen);
	return 0;
}
