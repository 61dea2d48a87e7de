/* SPDX-License-Identifier: GPL-2.0 */
/* QUIC Initial packets in, the TLS ClientHello they carry out.
 *
 * A QUIC client's first flight is one or more Initial packets (RFC 9000
 * 17.2.2) whose CRYPTO frames carry the ClientHello.  Their keys come
 * from the client's Destination Connection ID and a salt the version
 * publishes (RFC 9001 5.2), so anyone on the path can read them: that is
 * what lets passthru route QUIC on SNI and ALPN like TLS over TCP.
 *
 * quic_initial_feed() takes the client's datagrams one at a time, in any
 * order, with duplicates, and puts the CRYPTO bytes together in a
 * caller-provided struct quic_hello (no allocation of ours; libcrypto
 * allocates a cipher context per call and frees it before returning).
 * Once the hello is whole, quic_hello_bytes() gives it as one TLS record,
 * the input proto_tls.identify() and sniff_alpn_next() already read.
 *
 * Versions: 1 (RFC 9000/9001) and 2 (RFC 9369).  Nothing here sends
 * anything: answering an unknown version with a Version Negotiation
 * packet, or passing the flow on, is the caller's choice.
 */
#ifndef PT_PROTO_QUIC_H
#define PT_PROTO_QUIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QUIC_V1		0x00000001u
#define QUIC_V2		0x6b3343cfu
#define QUIC_CID_MAX	20	/* RFC 9000 17.2, versions 1 and 2 */
/* The CRYPTO stream bytes we keep: a hello bigger than this is refused.
 * 16 KiB holds 8 post-quantum key shares (a Chromium X25519MLKEM768
 * hello is about 1.8 KiB), and it is also the most one TLS record
 * carries, so the hello always fits the one record we frame it in. */
#define QUIC_HELLO_MAX	16384
/* The largest packet payload we decrypt.  Client Initials are 1200 to
 * 1500 bytes in practice (RFC 9000 14: no PMTU is known yet); a bigger
 * one is refused (-EMSGSIZE) rather than given a bigger stack. */
#define QUIC_PKT_MAX	4096
#define QUIC_REC_HDR	5	/* the TLS record header put in front */

struct quic_cid {
	uint8_t len;
	uint8_t id[QUIC_CID_MAX];
};

/* Packet types, the same numbers whatever the version encodes. */
enum quic_ptype {
	QUIC_PT_INITIAL = 0,
	QUIC_PT_0RTT = 1,
	QUIC_PT_HANDSHAKE = 2,
	QUIC_PT_RETRY = 3,
	QUIC_PT_SHORT = 4,	/* 1-RTT: no version, DCID length unknown */
};

/* Initial packet protection keys of one direction (RFC 9001 5). */
struct quic_keys {
	uint8_t key[16];	/* AEAD_AES_128_GCM */
	uint8_t iv[12];
	uint8_t hp[16];		/* header protection, AES-128-ECB */
};

/* One client's hello being put together.  Zeroed (or quic_hello_init)
 * before the first datagram; a few KiB over QUIC_HELLO_MAX, so callers
 * keep it on the heap with their flow, not on a stack.  Callers read the
 * counters and version/dcid; the rest is the parser's. */
struct quic_hello {
	uint32_t version;	/* once locked: the version of the flow */
	struct quic_cid dcid;	/* once locked: what the keys came from */
	bool locked;		/* a packet was accepted: keys are fixed */
	bool keyed;		/* keys hold those of (version, dcid) */
	bool done;		/* the hello is whole */
	bool closed;		/* the client sent CONNECTION_CLOSE */
	uint32_t n_accepted;	/* Initial packets decrypted and taken */
	uint32_t n_dropped;	/* Initial packets not decrypted: too short,
				 * too long, failing authentication */
	uint32_t n_refused;	/* authenticated, but malformed frames */
	uint32_t n_skipped;	/* 0-RTT, Handshake packets passed over */
	uint64_t next_pn;	/* largest packet number accepted, plus one */
	uint32_t contig;	/* stream bytes [0, contig) are all in */
	uint32_t hello_end;	/* 4 + ClientHello length, once known */
	struct quic_keys keys;
	uint8_t have[QUIC_HELLO_MAX / 8];	/* which stream bytes are in */
	/* QUIC_REC_HDR bytes for the record header, then the stream. */
	uint8_t rec[QUIC_REC_HDR + QUIC_HELLO_MAX];
};

void quic_hello_init(struct quic_hello *h);

/* One datagram from the client.  Its packets are taken in turn (they are
 * coalesced, RFC 9000 12.2): Initials are decrypted and their CRYPTO
 * data kept, 0-RTT and Handshake packets skipped, and whatever cannot be
 * a packet after the first ends the datagram (padding).
 * Returns
 *   1             the hello is whole (and stays so: later calls return 1);
 *   0             need more datagrams;
 *   -EBADMSG      not a QUIC long header packet, truncated, or failing
 *                 authentication (counted in n_dropped);
 *   -ENOMSG       a Version Negotiation packet (version 0): servers send
 *                 those, clients do not;
 *   -ENOTSUP      a long header of a version other than 1 and 2;
 *   -EPROTO       an authenticated packet breaking the protocol: a frame
 *                 not allowed in an Initial, a bad frame encoding, stream
 *                 bytes that differ from the ones already in, a stream
 *                 that does not start with a ClientHello;
 *   -EMSGSIZE     stream bytes past QUIC_HELLO_MAX, or a payload over
 *                 QUIC_PKT_MAX;
 *   -ENOMEM, -EIO libcrypto failed (no packet of the datagram is judged
 *                 on that).
 * A negative return is the first packet of the datagram that was not
 * taken; packets taken before or after it stay.  None is fatal: the
 * state only ever holds authenticated bytes, so the caller may feed on. */
int quic_initial_feed(struct quic_hello *h, const uint8_t *dgram, size_t len);

/* The whole hello, as one TLS handshake record: *buf points at the
 * record header, the bare handshake message starts QUIC_REC_HDR bytes
 * in.  Returns 0, or -EAGAIN before quic_initial_feed() returned 1. */
int quic_hello_bytes(const struct quic_hello *h, const uint8_t **buf, size_t *len);

/* The first packet of a datagram, header only (no crypto), for finding or
 * creating the flow it belongs to.  Returns its enum quic_ptype with
 * *version and *dcid filled in (QUIC_PT_SHORT: neither, a 1-RTT header
 * does not say its DCID length), or -EBADMSG, -ENOMSG (*version = 0) or
 * -ENOTSUP (*version set) as quic_initial_feed() does. */
int quic_peek_dcid(const uint8_t *dgram, size_t len, struct quic_cid *dcid,
		   uint32_t *version);

/* The same for the Source Connection ID: the one a client keeps for the
 * whole connection (RFC 9000 7.2), even when a Retry changes its
 * Destination Connection ID; a new connection draws a new one. */
int quic_peek_scid(const uint8_t *dgram, size_t len, struct quic_cid *scid);

/* The client Initial keys of a version for a Destination Connection ID.
 * Returns 0, -ENOTSUP for another version, -EINVAL for a CID over
 * QUIC_CID_MAX, -EIO if libcrypto fails. */
int quic_initial_keys(uint32_t version, const uint8_t *dcid, size_t dcid_len,
		      struct quic_keys *k);

/* The frames of one decrypted Initial payload, taken into h as
 * quic_initial_feed() does after decryption; all or nothing.  Returns 1
 * (whole), 0, -EPROTO or -EMSGSIZE.  Exposed for the tests and the
 * fuzzer, which reach the frame parser through it without crypto. */
int quic_initial_frames(struct quic_hello *h, const uint8_t *p, size_t n);

#endif /* PT_PROTO_QUIC_H */
