/* SPDX-License-Identifier: GPL-2.0 */
/* A small streaming SHA-256 (FIPS 180-4) for the test tools. */
#ifndef PT_SHA256_H
#define PT_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32
#define SHA256_HEX_LEN 65	/* 64 hex digits + NUL */

struct sha256 {
	uint32_t h[8];
	uint64_t total;		/* bytes hashed so far */
	uint8_t buf[64];
	size_t used;		/* bytes waiting in buf */
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
void sha256_final(struct sha256 *s, uint8_t out[SHA256_LEN]);
/* Use the CPU's SHA instructions if it has them (the default) or never (on =
 * 0, for testing the portable code).  Returns 1 if accelerated.  Not
 * thread-safe: call before hashing in threads, or rely on the default. */
int sha256_use_accel(int on);
/* Writes 64 lowercase hex digits and a NUL; returns hex. */
char *sha256_hex(const uint8_t digest[SHA256_LEN], char hex[SHA256_HEX_LEN]);
/* One-shot: the hex digest of (data, len). */
char *sha256_hex_of(const void *data, size_t len, char hex[SHA256_HEX_LEN]);

#endif /* PT_SHA256_H */
