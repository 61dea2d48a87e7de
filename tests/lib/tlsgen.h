/* SPDX-License-Identifier: GPL-2.0 */
/* A TLS ClientHello builder for tests, in plain C (no OpenSSL): the bytes a
 * modern browser would send first, with knobs for the shapes that break
 * naive sniffers (1-byte records, post-quantum sizes, ECH).  The output is
 * deterministic: the same options give the same bytes. */
#ifndef PT_TLSGEN_H
#define PT_TLSGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct tlsgen_opts {
	const char *sni;	/* NULL: no server_name extension */
	const char *alpn;	/* comma-separated, e.g. "h2,http/1.1"; NULL: none */
	bool ech;		/* add encrypted_client_hello (0xfe0d), dummy payload */
	size_t pad_to;		/* handshake body at least this long (1800 ≈ an
				 * X25519MLKEM768 key share); 0: natural size */
	size_t record_size;	/* split the handshake across records of at most
				 * this many payload bytes; 0: one record (or
				 * 16384-byte ones if it is bigger) */
	/* Added for negative tests (zero = unused, so older callers work):
	 * extension bytes (type, length, data...) appended verbatim after
	 * the generated ones, e.g. a duplicate or a malformed extension. */
	const uint8_t *raw_ext;
	size_t raw_ext_len;
	bool no_grease;		/* leave out the GREASE values Chrome sends */
};

/* Size of the X25519MLKEM768 (0x11ec) client key share: an ML-KEM-768
 * encapsulation key (1184) followed by an X25519 share (32). */
#define TLSGEN_PQ_SHARE 1216

/* Write one ClientHello, record headers included, to out.
 * Returns the bytes written, -ENOSPC if cap is too small, -EINVAL for
 * options no hello can carry (an ALPN name empty or over 255 bytes, a
 * handshake over 65535 bytes). */
ssize_t tlsgen_client_hello(const struct tlsgen_opts *o, uint8_t *out,
			    size_t cap);

#endif /* PT_TLSGEN_H */
