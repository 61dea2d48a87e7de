/* SPDX-License-Identifier: GPL-2.0 */
/* Where a received copy of xfer's payload stream went wrong.
 *
 * A sha256 mismatch says that a transfer was damaged, not how.  The payload
 * is splitmix64 words, and splitmix64's output is invertible: any 8
 * received bytes that are a whole word give back the word's index.  So
 * the checker follows the received bytes against the stream, and at each
 * discontinuity finds which stream offset the bytes came from instead: a
 * backward jump is a duplicate, a forward jump a loss, a jump and a jump
 * back a reordering.  It reads the bytes as they come, holds no copy. */
#ifndef PT_STREAMDIAG_H
#define PT_STREAMDIAG_H

#include <stddef.h>
#include <stdint.h>

#define STREAMDIAG_JUMPS 8

struct streamdiag {
	uint64_t seed;
	uint64_t skip;		/* bytes before the payload (prefix, banner) */
	uint64_t pos;		/* bytes seen, prefix included */
	int64_t src;		/* payload offset the next byte should come from; -1 = lost */
	int njumps;		/* discontinuities seen (may exceed what is kept) */
	struct { uint64_t at; int64_t from; } jump[STREAMDIAG_JUMPS];
};

void streamdiag_init(struct streamdiag *d, uint64_t seed, uint64_t skip);
void streamdiag_feed(struct streamdiag *d, const uint8_t *p, size_t n);
/* " diag=none" or " diag=AT:FROM,..." (payload offsets; FROM -1 = not
 * from the stream); returns out. */
char *streamdiag_str(const struct streamdiag *d, char *out, size_t len);

#endif
