// SPDX-License-Identifier: GPL-2.0
/* streamdiag names the damage in a copy of xfer's payload stream: built
 * here with its own splitmix64 (as xfer generates it), then duplicated,
 * cut, swapped or overwritten, and fed in uneven chunks. */
#include <endian.h>

#include "streamdiag.h"
#include "unit.h"

#define SEED 2
#define N 65536

static uint8_t stream[N];

static void make_stream(void)
{
	uint64_t s = SEED, z, w;
	size_t i;

	for (i = 0; i < N; i += 8) {
		z = (s += 0x9e3779b97f4a7c15ULL);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		w = htole64(z ^ (z >> 31));
		memcpy(stream + i, &w, 8);
	}
}

/* Feeds "pre" bytes of prefix, then the pieces [from, to) of the stream,
 * in chunks of at most chunk bytes; returns the diag string. */
static const char *run(size_t pre, size_t chunk, const size_t (*pieces)[2], int np)
{
	static uint8_t buf[2 * N];
	static char out[256];
	struct streamdiag d;
	size_t n = 0, off;
	int i;

	memset(buf, 'P', pre);
	n = pre;
	for (i = 0; i < np; i++) {
		memcpy(buf + n, stream + pieces[i][0], pieces[i][1] - pieces[i][0]);
		n += pieces[i][1] - pieces[i][0];
	}
	streamdiag_init(&d, SEED, pre);
	for (off = 0; off < n; off += chunk)
		streamdiag_feed(&d, buf + off, n - off < chunk ? n - off : chunk);
	return streamdiag_str(&d, out, sizeof(out));
}

TEST(intact)
{
	static const size_t p[][2] = { { 0, N } };

	make_stream();
	CHECK_STR(run(517, 4096, p, 1), " diag=none");
	CHECK_STR(run(0, 7, p, 1), " diag=none");
	CHECK_STR(run(3, 1, p, 1), " diag=none");
}

/* A duplicate is one jump back: the stream then simply goes on. */
TEST(duplicate)
{
	static const size_t p[][2] = { { 0, 1500 }, { 1000, 1500 }, { 1500, N } };

	make_stream();
	CHECK_STR(run(517, 4096, p, 3), " diag=1500:1000");
	CHECK_STR(run(0, 65536, p, 3), " diag=1500:1000");
}

TEST(loss)
{
	static const size_t p[][2] = { { 0, 8000 }, { 9003, N } };

	make_stream();
	CHECK_STR(run(40, 3000, p, 2), " diag=8000:9003");
}

TEST(swap)
{
	static const size_t p[][2] = { { 0, 1000 }, { 2000, 3000 }, { 1000, 2000 }, { 3000, N } };

	make_stream();
	CHECK_STR(run(517, 65536, p, 4), " diag=1000:2000,2000:1000,3000:3000");
}

/* Bytes not from the stream: lost until a chunk starts on it again. */
TEST(garbage)
{
	static const size_t p[][2] = { { 0, N } };
	static uint8_t save[100];

	make_stream();
	memcpy(save, stream + 1000, 100);
	memset(stream + 1000, 0, 100);
	CHECK_STR(run(0, 4096, p, 1), " diag=1000:-1,4096:4096");
	memcpy(stream + 1000, save, 100);
}

UNIT_MAIN("streamdiag", intact, duplicate, loss, swap, garbage)
