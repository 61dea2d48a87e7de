// SPDX-License-Identifier: GPL-2.0
#include <endian.h>
#include <stdio.h>
#include <string.h>

#include "streamdiag.h"

#define GOLDEN 0x9e3779b97f4a7c15ULL
#define M1 0xbf58476d1ce4e5b9ULL
#define M2 0x94d049bb133111ebULL
/* No test sends 2^40 words (8 TiB): an index beyond is not a stream word. */
#define MAX_WORDS (1ULL << 40)

static uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * M1;
	z = (z ^ (z >> 27)) * M2;
	return z ^ (z >> 31);
}

static uint64_t unxorshift(uint64_t y, int s)
{
	uint64_t x = y;
	int i;

	for (i = 0; i < 64 / s + 1; i++)
		x = y ^ (x >> s);
	return x;
}

/* The inverse of an odd number mod 2^64 (Newton: each step doubles the
 * correct low bits). */
static uint64_t inverse(uint64_t a)
{
	uint64_t x = a;
	int i;

	for (i = 0; i < 6; i++)
		x *= 2 - a * x;
	return x;
}

static uint64_t word(uint64_t seed, uint64_t k)
{
	return htole64(mix(seed + (k + 1) * GOLDEN));
}

/* The payload bytes [off, off + n) into out. */
static void expect(uint64_t seed, uint64_t off, uint8_t *out, size_t n)
{
	uint64_t w;
	size_t k;

	while (n) {
		w = word(seed, off / 8);
		k = 8 - off % 8 < n ? 8 - off % 8 : n;
		memcpy(out, (const uint8_t *)&w + off % 8, k);
		out += k;
		off += k;
		n -= k;
	}
}

/* The index of the stream word whose bytes are p[0..8), or -1. */
static int64_t word_index(uint64_t seed, const uint8_t *p)
{
	uint64_t z, k;

	memcpy(&z, p, 8);
	z = le64toh(z);
	z = unxorshift(z, 31) * inverse(M2);
	z = unxorshift(z, 27) * inverse(M1);
	z = unxorshift(z, 30);
	k = (z - seed) * inverse(GOLDEN);
	if (k == 0 || k > MAX_WORDS)
		return -1;
	return (int64_t)(k - 1);
}

/* Which payload offset p[0] came from, judged by two whole words in
 * p[0..n); -1 if none. */
static int64_t locate(uint64_t seed, const uint8_t *p, size_t n)
{
	int64_t k, k2;
	size_t a;

	for (a = 0; a < 8 && a + 16 <= n; a++) {
		k = word_index(seed, p + a);
		if (k < 0)
			continue;
		k2 = word_index(seed, p + a + 8);
		if (k2 == k + 1 && (int64_t)(8 * k) >= (int64_t)a)
			return 8 * k - (int64_t)a;
	}
	return -1;
}

void streamdiag_init(struct streamdiag *d, uint64_t seed, uint64_t skip)
{
	memset(d, 0, sizeof(*d));
	d->seed = seed;
	d->skip = skip;
}

static void jump(struct streamdiag *d, uint64_t at, int64_t from)
{
	if (d->njumps < STREAMDIAG_JUMPS) {
		d->jump[d->njumps].at = at;
		d->jump[d->njumps].from = from;
	}
	d->njumps++;
	d->src = from;
}

/* The first i where a[i] != b[i], or n. */
static size_t differ(const uint8_t *a, const uint8_t *b, size_t n)
{
	size_t i;

	if (!memcmp(a, b, n))
		return n;
	for (i = 0; a[i] == b[i]; i++)
		;
	return i;
}

/* p[0..n) are the payload bytes from payload offset at. */
static void feed_payload(struct streamdiag *d, uint64_t at, const uint8_t *p, size_t n)
{
	uint8_t exp[4096];
	size_t i = 0, k, m;
	int64_t from;

	if (d->src < 0) {
		/* Lost: resync only at a chunk's start (recv sizes make that
		 * soon enough for a diagnosis). */
		from = locate(d->seed, p, n);
		if (from < 0)
			return;
		jump(d, at, from);
	}
	while (i < n) {
		k = n - i < sizeof(exp) ? n - i : sizeof(exp);
		expect(d->seed, (uint64_t)d->src, exp, k);
		m = differ(p + i, exp, k);
		i += m;
		d->src += (int64_t)m;
		if (m == k)
			continue;
		from = locate(d->seed, p + i, n - i);
		jump(d, at + i, from);
		if (from < 0)
			return;
	}
}

void streamdiag_feed(struct streamdiag *d, const uint8_t *p, size_t n)
{
	size_t k;

	if (d->pos < d->skip) {
		k = d->skip - d->pos < n ? (size_t)(d->skip - d->pos) : n;
		d->pos += k;
		p += k;
		n -= k;
	}
	if (n)
		feed_payload(d, d->pos - d->skip, p, n);
	d->pos += n;
}
char *streamdiag_str(const struct streamdiag *d, char *out, size_t len)
{
	size_t o;
	int i;

	if (!d->njumps) {
		snprintf(out, len, " diag=none");
		return out;
	}
	o = (size_t)snprintf(out, len, " diag=");
	for (i = 0; i < d->njumps && i < STREAMDIAG_JUMPS && o < len; i++)
		o += (size_t)snprintf(out + o, len - o, "%s%llu:%lld", i ? "," : "",
				      (unsigned long long)d->jump[i].at, (long long)d->jump[i].from);
	if (d->njumps > STREAMDIAG_JUMPS && o < len)
		snprintf(out + o, len - o, ",+%d", d->njumps - STREAMDIAG_JUMPS);
	return out;
}
