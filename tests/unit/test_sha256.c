// SPDX-License-Identifier: GPL-2.0
/* SHA-256 against the FIPS 180-2 / NIST vectors and sha256sum outputs, with
 * both the portable block function and the SHA-NI one (when the CPU has it). */
#include "sha256.h"
#include "unit.h"

static const char *hex_of(const void *p, size_t n)
{
	static char hex[SHA256_HEX_LEN];

	return sha256_hex_of(p, n, hex);
}

static const char *hex_of_x(size_t n)	/* n bytes of 'x' */
{
	static char buf[256];

	memset(buf, 'x', n);
	return hex_of(buf, n);
}

static void check_vectors(struct unit_ctx *_u)
{
	const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
			   "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";

	CHECK_STR(hex_of("", 0),
		  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	CHECK_STR(hex_of("abc", 3),
		  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	CHECK_STR(hex_of(m448, strlen(m448)),
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	CHECK_STR(hex_of(m896, strlen(m896)),
		  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
	/* Padding edge cases around the 55/56/64-byte block boundaries. */
	CHECK_STR(hex_of_x(55), "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072");
	CHECK_STR(hex_of_x(56), "04c26261370ee7541549d16dee320c723e3fd14671e66a099afe0a377c16888e");
	CHECK_STR(hex_of_x(63), "75220b47218278e656f2013bb8f0c455a25eaf01e86c64924e9d48d89776d6f2");
	CHECK_STR(hex_of_x(64), "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c");
	CHECK_STR(hex_of_x(65), "9537c5fdf120482f7d58d25e9ed583f52c02b4e304ea814db1633ad565aed7e9");
	CHECK_STR(hex_of_x(119), "000b48d4edf0fa7bee3c6236ecd2785baa5db4eeb8bb54341b029e0d9fa5fb0c");
	CHECK_STR(hex_of_x(120), "13f05a0b594787f5ecd315edc96141bd3243203d1b7d4f0836f37308b276ba98");
	CHECK_STR(hex_of_x(127), "70156a14adbabf98cff3a71c7084b417abf057a8efd27329ca36b7202c87d81f");
	CHECK_STR(hex_of_x(128), "24da1b81d0b16df6428eee73c69fcb2a93c76bc6df706f0c6670fe6bfe800464");
}

/* One million 'a', fed in uneven chunks through the streaming API. */
static void check_million_a(struct unit_ctx *_u)
{
	static char a[1000];
	struct sha256 s;
	uint8_t d[SHA256_LEN];
	char hex[SHA256_HEX_LEN];
	size_t done = 0, step = 1;

	memset(a, 'a', sizeof(a));
	sha256_init(&s);
	while (done < 1000000) {
		size_t n = step;

		if (n > 1000000 - done)
			n = 1000000 - done;
		sha256_update(&s, a, n);
		done += n;
		step = step % 991 + 7;	/* 1, 8, 15, ... <= 997: sizes across blocks */
	}
	sha256_final(&s, d);
	CHECK_STR(sha256_hex(d, hex),
		  "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(vectors_generic)
{
	sha256_use_accel(0);
	check_vectors(_u);
	check_million_a(_u);
	sha256_use_accel(1);
}

TEST(vectors_accel)
{
	if (!sha256_use_accel(1))
		SKIP("CPU has no SHA extensions");
	check_vectors(_u);
	check_million_a(_u);
}

/* Any split of the input gives the same digest as one update. */
TEST(split_equivalence)
{
	uint8_t msg[300], d[SHA256_LEN];
	char want[SHA256_HEX_LEN], got[SHA256_HEX_LEN];
	size_t i, cut;

	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 31 + 7);
	sha256_hex_of(msg, sizeof(msg), want);
	for (cut = 0; cut <= sizeof(msg); cut++) {
		struct sha256 s;

		sha256_init(&s);
		sha256_update(&s, msg, cut);
		sha256_update(&s, NULL, 0);
		sha256_update(&s, msg + cut, sizeof(msg) - cut);
		sha256_final(&s, d);
		sha256_hex(d, got);
		if (strcmp(got, want)) {
			FAILF("split at %zu: %s != %s", cut, got, want);
			return;
		}
	}
}

/* The accelerated and portable block functions agree on every length up to
 * a few blocks of pseudo-random bytes. */
TEST(accel_matches_generic)
{
	static uint8_t msg[1100];
	char a[SHA256_HEX_LEN], g[SHA256_HEX_LEN];
	uint32_t x = 12345;
	size_t i, n;

	if (!sha256_use_accel(1))
		SKIP("CPU has no SHA extensions");
	for (i = 0; i < sizeof(msg); i++) {
		x = x * 1103515245u + 12345u;
		msg[i] = (uint8_t)(x >> 16);
	}
	for (n = 0; n <= sizeof(msg); n++) {
		sha256_use_accel(1);
		sha256_hex_of(msg, n, a);
		sha256_use_accel(0);
		sha256_hex_of(msg, n, g);
		if (strcmp(a, g)) {
			FAILF("length %zu: accel %s != generic %s", n, a, g);
			break;
		}
	}
	sha256_use_accel(1);
}

UNIT_MAIN("sha256", vectors_generic, vectors_accel, split_equivalence, accel_matches_generic)
