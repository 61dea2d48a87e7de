/* SPDX-License-Identifier: GPL-2.0 */
/* What every libFuzzer harness here uses: BUG() reports a broken promise
 * (one line on stderr, "FUZZ_NAME: why", which tests/fuzz/run.sh quotes)
 * and aborts, so that libFuzzer keeps the input; fuzz_copy() makes the
 * exact-size heap copy each parser is given, so that ASan sees a read one
 * byte too far (the input libFuzzer passes may have slack after it).
 * A harness defines FUZZ_NAME ("fuzz_config") before including this. */
#ifndef PT_FUZZ_H
#define PT_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUG(...)                                                            \
	do {                                                                \
		fputs(FUZZ_NAME ": ", stderr);                              \
		fprintf(stderr, __VA_ARGS__);                               \
		fputc('\n', stderr);                                        \
		abort();                                                    \
	} while (0)

/* d[0..n) in a heap block of exactly n bytes (1 if n is 0, never read);
 * the caller frees it. */
static inline uint8_t *fuzz_copy(const void *d, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);

	if (!copy)
		abort();
	memcpy(copy, d, n);
	return copy;
}

#endif /* PT_FUZZ_H */
