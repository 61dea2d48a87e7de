// SPDX-License-Identifier: GPL-2.0
/* QUIC Initial tests: the RFC 9001 and RFC 9369 vectors, then client
 * Initials sealed here (tests/lib/quic_seal.h, itself held to the RFC
 * packet) carrying tlsgen hellos cut across packets, datagrams, orders
 * and duplicates, and every way a datagram can be wrong.  Each datagram
 * is fed from an exact-size heap copy, so a SAN=1 build sees a read one
 * byte past it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"
#include "proto/proto.h"
#include "proto/quic.h"
#include "quic_seal.h"
#include "tlsgen.h"
#include "unit.h"

extern const struct proto proto_tls;

/* RFC 9001 A.2 and RFC 9369 A.2: the client Initial, protected. */
static const char rfc9001_client[] =
	"c000000001088394c8f03e5157080000 449e7b9aec34d1b1c98dd7689fb8ec11"
	"d242b123dc9bd8bab936b47d92ec356c 0bab7df5976d27cd449f63300099f399"
	"1c260ec4c60d17b31f8429157bb35a12 82a643a8d2262cad67500cadb8e7378c"
	"8eb7539ec4d4905fed1bee1fc8aafba1 7c750e2c7ace01e6005f80fcb7df6212"
	"30c83711b39343fa028cea7f7fb5ff89 eac2308249a02252155e2347b63d58c5"
	"457afd84d05dfffdb20392844ae81215 4682e9cf012f9021a6f0be17ddd0c208"
	"4dce25ff9b06cde535d0f920a2db1bf3 62c23e596d11a4f5a6cf3948838a3aec"
	"4e15daf8500a6ef69ec4e3feb6b1d98e 610ac8b7ec3faf6ad760b7bad1db4ba3"
	"485e8a94dc250ae3fdb41ed15fb6a8e5 eba0fc3dd60bc8e30c5c4287e53805db"
	"059ae0648db2f64264ed5e39be2e20d8 2df566da8dd5998ccabdae053060ae6c"
	"7b4378e846d29f37ed7b4ea9ec5d82e7 961b7f25a9323851f681d582363aa5f8"
	"9937f5a67258bf63ad6f1a0b1d96dbd4 faddfcefc5266ba6611722395c906556"
	"be52afe3f565636ad1b17d508b73d874 3eeb524be22b3dcbc2c7468d54119c74"
	"68449a13d8e3b95811a198f3491de3e7 fe942b330407abf82a4ed7c1b311663a"
	"c69890f4157015853d91e923037c227a 33cdd5ec281ca3f79c44546b9d90ca00"
	"f064c99e3dd97911d39fe9c5d0b23a22 9a234cb36186c4819e8b9c5927726632"
	"291d6a418211cc2962e20fe47feb3edf 330f2c603a9d48c0fcb5699dbfe58964"
	"25c5bac4aee82e57a85aaf4e2513e4f0 5796b07ba2ee47d80506f8d2c25e50fd"
	"14de71e6c418559302f939b0e1abd576 f279c4b2e0feb85c1f28ff18f58891ff"
	"ef132eef2fa09346aee33c28eb130ff2 8f5b766953334113211996d20011a198"
	"e3fc433f9f2541010ae17c1bf202580f 6047472fb36857fe843b19f5984009dd"
	"c324044e847a4f4a0ab34f719595de37 252d6235365e9b84392b061085349d73"
	"203a4a13e96f5432ec0fd4a1ee65accd d5e3904df54c1da510b0ff20dcc0c77f"
	"cb2c0e0eb605cb0504db87632cf3d8b4 dae6e705769d1de354270123cb11450e"
	"fc60ac47683d7b8d0f811365565fd98c 4c8eb936bcab8d069fc33bd801b03ade"
	"a2e1fbc5aa463d08ca19896d2bf59a07 1b851e6c239052172f296bfb5e724047"
	"90a2181014f3b94a4e97d117b4381303 68cc39dbb2d198065ae3986547926cd2"
	"162f40a29f0c3c8745c0f50fba3852e5 66d44575c29d39a03f0cda721984b6f4"
	"40591f355e12d439ff150aab7613499d bd49adabc8676eef023b15b65bfc5ca0"
	"6948109f23f350db82123535eb8a7433 bdabcb909271a6ecbcb58b936a88cd4e"
	"8f2e6ff5800175f113253d8fa9ca8885 c2f552e657dc603f252e1a8e308f76f0"
	"be79e2fb8f5d5fbbe2e30ecadd220723 c8c0aea8078cdfcb3868263ff8f09400"
	"54da48781893a7e49ad5aff4af300cd8 04a6b6279ab3ff3afb64491c85194aab"
	"760d58a606654f9f4400e8b38591356f bf6425aca26dc85244259ff2b19c41b9"
	"f96f3ca9ec1dde434da7d2d392b905dd f3d1f9af93d1af5950bd493f5aa731b4"
	"056df31bd267b6b90a079831aaf579be 0a39013137aac6d404f518cfd4684064"
	"7e78bfe706ca4cf5e9c5453e9f7cfd2b 8b4c8d169a44e55c88d4a9a7f9474241"
	"e221af44860018ab0856972e194cd934";

static const char rfc9369_client[] =
	"d76b3343cf088394c8f03e5157080000 449ea0c95e82ffe67b6abcdb4298b485"
	"dd04de806071bf03dceebfa162e75d6c 96058bdbfb127cdfcbf903388e99ad04"
	"9f9a3dd4425ae4d0992cfff18ecf0fdb 5a842d09747052f17ac2053d21f57c5d"
	"250f2c4f0e0202b70785b7946e992e58 a59ac52dea6774d4f03b55545243cf1a"
	"12834e3f249a78d395e0d18f4d766004 f1a2674802a747eaa901c3f10cda5500"
	"cb9122faa9f1df66c392079a1b40f0de 1c6054196a11cbea40afb6ef5253cd68"
	"18f6625efce3b6def6ba7e4b37a40f77 32e093daa7d52190935b8da58976ff33"
	"12ae50b187c1433c0f028edcc4c2838b 6a9bfc226ca4b4530e7a4ccee1bfa2a3"
	"d396ae5a3fb512384b2fdd851f784a65 e03f2c4fbe11a53c7777c023462239dd"
	"6f7521a3f6c7d5dd3ec9b3f233773d4b 46d23cc375eb198c63301c21801f6520"
	"bcfb7966fc49b393f0061d974a2706df 8c4a9449f11d7f3d2dcbb90c6b877045"
	"636e7c0c0fe4eb0f697545460c806910 d2c355f1d253bc9d2452aaa549e27a1f"
	"ac7cf4ed77f322e8fa894b6a83810a34 b361901751a6f5eb65a0326e07de7c12"
	"16ccce2d0193f958bb3850a833f7ae43 2b65bc5a53975c155aa4bcb4f7b2c4e5"
	"4df16efaf6ddea94e2c50b4cd1dfe060 17e0e9d02900cffe1935e0491d77ffb4"
	"fdf85290fdd893d577b1131a610ef6a5 c32b2ee0293617a37cbb08b847741c3b"
	"8017c25ca9052ca1079d8b78aebd4787 6d330a30f6a8c6d61dd1ab5589329de7"
	"14d19d61370f8149748c72f132f0fc99 f34d766c6938597040d8f9e2bb522ff9"
	"9c63a344d6a2ae8aa8e51b7b90a4a806 105fcbca31506c446151adfeceb51b91"
	"abfe43960977c87471cf9ad4074d30e1 0d6a7f03c63bd5d4317f68ff325ba3bd"
	"80bf4dc8b52a0ba031758022eb025cdd 770b44d6d6cf0670f4e990b22347a7db"
	"848265e3e5eb72dfe8299ad7481a4083 22cac55786e52f633b2fb6b614eaed18"
	"d703dd84045a274ae8bfa73379661388 d6991fe39b0d93debb41700b41f90a15"
	"c4d526250235ddcd6776fc77bc97e7a4 17ebcb31600d01e57f32162a8560cacc"
	"7e27a096d37a1a86952ec71bd89a3e9a 30a2a26162984d7740f81193e8238e61"
	"f6b5b984d4d3dfa033c1bb7e4f0037fe bf406d91c0dccf32acf423cfa1e70710"
	"10d3f270121b493ce85054ef58bada42 310138fe081adb04e2bd901f2f13458b"
	"3d6758158197107c14ebb193230cd115 7380aa79cae1374a7c1e5bbcb80ee23e"
	"06ebfde206bfb0fcbc0edc4ebec30966 1bdd908d532eb0c6adc38b7ca7331dce"
	"8dfce39ab71e7c32d318d136b6100671 a1ae6a6600e3899f31f0eed19e3417d1"
	"34b90c9058f8632c798d4490da498730 7cba922d61c39805d072b589bd52fdf1"
	"e86215c2d54e6670e07383a27bbffb5a ddf47d66aa85a0c6f9f32e59d85a44dd"
	"5d3b22dc2be80919b490437ae4f36a0a e55edf1d0b5cb4e9a3ecabee93dfc6e3"
	"8d209d0fa6536d27a5d6fbb17641cde2 7525d61093f1b28072d111b2b4ae5f89"
	"d5974ee12e5cf7d5da4d6a31123041f3 3e61407e76cffcdcfd7e19ba58cf4b53"
	"6f4c4938ae79324dc402894b44faf8af bab35282ab659d13c93f70412e85cb19"
	"9a37ddec600545473cfb5a05e08d0b20 9973b2172b4d21fb69745a262ccde96b"
	"a18b2faa745b6fe189cf772a9f84cbfc";

/* A.2 of both: the CRYPTO frame in the client Initial (PADDING follows
 * to 1162 bytes); the hello offers SNI example.com and ALPN "alpn". */
static const char rfc_crypto_frame[] =
	"060040f1010000ed0303ebf8fa56f129 39b9584a3896472ec40bb863cfd3e868"
	"04fe3a47f06a2b69484c000004130113 02010000c000000010000e00000b6578"
	"616d706c652e636f6dff01000100000a 00080006001d00170018001000070005"
	"04616c706e0005000501000000000033 00260024001d00209370b2c9caa47fba"
	"baf4559fedba753de171fa71f50f1ce1 5d43e994ec74d748002b000302030400"
	"0d0010000e0403050306030203080408 050806002d00020101001c0002400100"
	"3900320408ffffffffffffffff050480 00ffff07048000ffff08011001048000"
	"75300901100f088394c8f03e51570806 048000ffff";

/* RFC 9001 A.3: the server's Initial, under the server's keys. */
static const char rfc9001_server[] =
	"cf000000010008f067a5502a4262b500 4075c0d95a482cd0991cd25b0aac406a"
	"5816b6394100f37a1c69797554780bb3 8cc5a99f5ede4cf73c3ec2493a1839b3"
	"dbcba3f6ea46c5b7684df3548e7ddeb9 c3bf9c73cc3f3bded74b562bfb19fb84"
	"022f8ef4cdd93795d77d06edbb7aaf2f 58891850abbdca3d20398c276456cbc4"
	"2158407dd074ee";

static const uint8_t rfc_dcid[] = { 0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08 };
static const uint8_t dcid_a[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
static const uint8_t dcid_b[] = { 0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7 };
static const uint8_t scid[] = { 0x5c, 0x1d };

static struct quic_hello qh;
static uint8_t pkt[8][4096], dg[16384], stream[QUIC_HELLO_MAX + 64];
static size_t plen[8];

/* Hex into out, skipping spaces; returns the byte count. */
static size_t unhex(const char *hex, uint8_t *out)
{
	size_t n = 0;

	while (hex[0]) {
		if (hex[0] == ' ') {
			hex++;
			continue;
		}
		sscanf(hex, "%2hhx", &out[n++]);
		hex += 2;
	}
	return n;
}

/* One datagram into qh, from an exact-size heap copy. */
static int feed(const uint8_t *d, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);
	int r;

	memcpy(copy, d, n);
	r = quic_initial_feed(&qh, copy, n);
	free(copy);
	return r;
}

/* The same for quic_initial_frames(). */
static int frames(const uint8_t *d, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);
	int r;

	memcpy(copy, d, n);
	r = quic_initial_frames(&qh, copy, n);
	free(copy);
	return r;
}

/* A tlsgen ClientHello as a bare handshake message in stream; its length. */
static size_t make_hello(struct unit_ctx *_u, const char *sni, const char *alpn, size_t pad_to)
{
	static uint8_t rec[1 << 16];
	struct tlsgen_opts o = { .sni = sni, .alpn = alpn, .pad_to = pad_to };
	ssize_t n = tlsgen_client_hello(&o, rec, sizeof(rec));

	if (n <= 5 || n - 5 > QUIC_HELLO_MAX) {
		FAILF("tlsgen_client_hello: %zd", n);
		return 0;
	}
	memcpy(stream, rec + 5, (size_t)n - 5);
	return (size_t)n - 5;
}

struct range {
	size_t off, len;
};

/* A client Initial carrying CRYPTO frames of stream for the ranges given,
 * PADDING to 1100 bytes of payload as clients fill their datagrams. */
static size_t crypto_pkt(struct unit_ctx *_u, const struct qseal *o, const struct range *r,
			 size_t nr, uint8_t *out)
{
	static uint8_t pl[QUIC_PKT_MAX];
	size_t n = 0;
	ssize_t len;

	for (size_t i = 0; i < nr; i++)
		n += qs_crypto(pl + n, r[i].off, stream + r[i].off, r[i].len);
	if (n < 1100) {
		memset(pl + n, 0, 1100 - n);
		n = 1100;
	}
	len = qs_seal(o, pl, n, out, sizeof(pkt[0]));
	if (len < 0)
		FAILF("qs_seal failed");
	return len < 0 ? 0 : (size_t)len;
}

/* The ALPN ids the hello offers, joined with ','. */
static const char *alpn_ids(const struct sniff *s, const uint8_t *b, size_t n)
{
	static char out[4096];
	char id[SNIFF_ALPN_LEN + 1];
	struct alpn_iter it = { 0 };
	size_t k = 0;

	out[0] = '\0';
	while (sniff_alpn_next(s, b, n, &it, id) && k + strlen(id) + 2 < sizeof(out))
		k += (size_t)sprintf(out + k, "%s%s", k ? "," : "", id);
	return out;
}

/* The whole hello is in qh, the TLS probe matches it with these facts,
 * and it is the stream's first hello_len bytes. */
static void check_hello(struct unit_ctx *_u, const char *sni, const char *alpn, size_t hello_len)
{
	static struct sniff s;
	const uint8_t *b;
	size_t n;

	CHECK_INT(quic_hello_bytes(&qh, &b, &n), 0);
	if (_u->failed)
		return;
	CHECK_INT(n, QUIC_REC_HDR + hello_len);
	CHECK(!memcmp(b + QUIC_REC_HDR, stream, hello_len));
	CHECK_INT(probe_run(&proto_tls, b, n, &s), SNIFF_MATCH);
	CHECK(s.has_sni);
	CHECK_STR(s.sni, sni);
	CHECK_STR(alpn_ids(&s, b, n), alpn);
	CHECK_INT(s.hello_len, hello_len - 4);
}

static void check_keys(struct unit_ctx *_u, uint32_t version, const char *key,
		       const char *iv, const char *hp)
{
	uint8_t want[3][16];
	struct quic_keys k;

	unhex(key, want[0]);
	unhex(iv, want[1]);
	unhex(hp, want[2]);
	CHECK_INT(quic_initial_keys(version, rfc_dcid, sizeof(rfc_dcid), &k), 0);
	CHECK(!memcmp(k.key, want[0], 16));
	CHECK(!memcmp(k.iv, want[1], 12));
	CHECK(!memcmp(k.hp, want[2], 16));
}

TEST(rfc_keys)
{
	struct quic_keys k;

	check_keys(_u, QUIC_V1, "1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c",
		   "9f50449e04a0e810283a1e9933adedd2");
	check_keys(_u, QUIC_V2, "8b1a0bc121284290a29e0971b5cd045d", "91f73e2351d8fa91660e909f",
		   "45b95e15235d6f45a6b19cbcb0294ba9");
	CHECK_INT(quic_initial_keys(0xff00001d, rfc_dcid, 8, &k), -ENOTSUP);
	CHECK_INT(quic_initial_keys(QUIC_V1, stream, QUIC_CID_MAX + 1, &k), -EINVAL);
}

/* The RFC's client Initial decrypts to its CRYPTO frame: one packet, the
 * whole hello, SNI and ALPN through the TLS probe. */
static void check_rfc_client(struct unit_ctx *_u, const char *hex, uint32_t version)
{
	static uint8_t frame[256];
	size_t n = unhex(hex, pkt[0]), fl = unhex(rfc_crypto_frame, frame);
	struct quic_cid cid;
	uint32_t v = 0;

	CHECK_INT(n, 1200);
	CHECK_INT(quic_peek_dcid(pkt[0], n, &cid, &v), QUIC_PT_INITIAL);
	CHECK_INT(v, version);
	CHECK(cid.len == 8 && !memcmp(cid.id, rfc_dcid, 8));
	quic_hello_init(&qh);
	CHECK_INT(feed(pkt[0], n), 1);
	CHECK(qh.done && qh.locked && !qh.closed);
	CHECK_INT(qh.version, version);
	CHECK_INT(qh.n_accepted, 1);
	CHECK_INT(qh.n_dropped, 0);
	CHECK_INT(qh.next_pn, 3);	/* packet number 2 */
	memcpy(stream, frame + 4, fl - 4);	/* 06 00 40f1: offset 0, 241 bytes */
	check_hello(_u, "example.com", "alpn", fl - 4);
	/* Whole is whole: anything after changes nothing. */
	CHECK_INT(feed((const uint8_t *)"x", 1), 1);
}

TEST(rfc9001_client_initial)
{
	check_rfc_client(_u, rfc9001_client, QUIC_V1);
}

TEST(rfc9369_client_initial)
{
	check_rfc_client(_u, rfc9369_client, QUIC_V2);
}

/* The sealing helper the other tests use gives the RFC's packets. */
TEST(seal_matches_rfc)
{
	static const struct {
		const char *hex;
		uint32_t version;
	} v[] = { { rfc9001_client, QUIC_V1 }, { rfc9369_client, QUIC_V2 } };
	static uint8_t pl[1162], want[1200], got[2048];

	for (size_t i = 0; i < 2; i++) {
		struct qseal o = { .version = v[i].version, .dcid = rfc_dcid, .dcid_len = 8,
				   .pn = 2, .pn_len = 4 };

		memset(pl, 0, sizeof(pl));
		unhex(rfc_crypto_frame, pl);
		unhex(v[i].hex, want);
		CHECK_INT(qs_seal(&o, pl, sizeof(pl), got, sizeof(got)), 1200);
		CHECK(!memcmp(got, want, 1200));
	}
}

/* Packets for a post-quantum sized hello (about 1.9 KiB, as Chromium's
 * with X25519MLKEM768) cut into n pieces, one per packet, pn 0.. */
static size_t cut_hello(struct unit_ctx *_u, uint32_t version, size_t npkt)
{
	size_t len = make_hello(_u, "quic.example", "h3,h3-29", 1800);
	struct qseal o = { .version = version, .dcid = dcid_a, .dcid_len = sizeof(dcid_a),
			   .scid = scid, .scid_len = sizeof(scid) };

	for (size_t i = 0; i < npkt; i++) {
		struct range r = { len * i / npkt, len * (i + 1) / npkt - len * i / npkt };

		o.pn = i;
		plen[i] = crypto_pkt(_u, &o, &r, 1, pkt[i]);
	}
	return len;
}

/* Every order of n packets, each delivered once, then the first again:
 * complete at the last new one, not before. */
static void check_orders(struct unit_ctx *_u, uint32_t version, size_t n)
{
	static const int perm3[6][3] = { { 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 },
					 { 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 } };
	size_t len = cut_hello(_u, version, n);

	for (size_t p = 0; p < (n == 3 ? 6u : 2u) && !_u->failed; p++) {
		quic_hello_init(&qh);
		for (size_t i = 0; i < n; i++) {
			size_t k = n == 3 ? (size_t)perm3[p][i] : (p + i) % 2;

			CHECK_INT(feed(pkt[k], plen[k]), i == n - 1);
			if (i < n - 1)	/* a duplicate changes nothing */
				CHECK_INT(feed(pkt[k], plen[k]), 0);
		}
		CHECK_INT(qh.n_accepted, 2 * n - 1);
		CHECK_INT(qh.next_pn, n);
		check_hello(_u, "quic.example", "h3,h3-29", len);
	}
}

TEST(split_two_packets)
{
	check_orders(_u, QUIC_V1, 2);
	check_orders(_u, QUIC_V2, 2);
}

TEST(split_three_packets)
{
	check_orders(_u, QUIC_V1, 3);
	check_orders(_u, QUIC_V2, 3);
}

/* CRYPTO frames that overlap, repeat and come backwards, across five
 * packets in a shuffled order (a fixed generator, many rounds): the
 * hello is whole at the packet that covers its last gap. */
TEST(overlaps_random)
{
	size_t len = make_hello(_u, "ov.example", "h3", 2500);
	uint32_t rng = 12345;
	struct qseal o = { .dcid = dcid_b, .dcid_len = sizeof(dcid_b) };

	for (int round = 0; round < 40 && !_u->failed; round++) {
		static uint8_t cover[QUIC_HELLO_MAX];
		struct range r[5][6];
		size_t nr[5] = { 0 }, order[5] = { 0, 1, 2, 3, 4 }, cut[6] = { 0 };

		/* A partition into 5 pieces, piece i in packet i, plus up
		 * to 5 random extra ranges per packet. */
		for (int i = 1; i < 5; i++)
			cut[i] = len * (size_t)i / 5;
		cut[5] = len;
		for (int i = 0; i < 5; i++) {
			size_t extra;

			rng = rng * 1103515245u + 12345u;
			extra = (rng >> 16) % 6;
			for (size_t e = 0; e < extra; e++) {
				size_t a, b;

				rng = rng * 1103515245u + 12345u;
				a = (rng >> 8) % len;
				rng = rng * 1103515245u + 12345u;
				b = a + 1 + (rng >> 8) % 200;
				r[i][nr[i]++] = (struct range){ a, (b > len ? len : b) - a };
			}
			r[i][nr[i]++] = (struct range){ cut[i], cut[i + 1] - cut[i] };
			/* the partition piece lands anywhere among the extras */
			rng = rng * 1103515245u + 12345u;
			{
				size_t at = (rng >> 8) % nr[i];
				struct range t = r[i][at];

				r[i][at] = r[i][nr[i] - 1];
				r[i][nr[i] - 1] = t;
			}
		}
		for (int i = 4; i > 0; i--) {
			size_t j, t;

			rng = rng * 1103515245u + 12345u;
			j = (rng >> 8) % (size_t)(i + 1);
			t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
		quic_hello_init(&qh);
		memset(cover, 0, len);
		for (size_t k = 0; k < 5 && !_u->failed; k++) {
			size_t i = order[k], n, left = 0;

			o.pn = i;
			n = crypto_pkt(_u, &o, r[i], nr[i], pkt[0]);
			for (size_t x = 0; x < nr[i]; x++)
				memset(cover + r[i][x].off, 1, r[i][x].len);
			for (size_t b = 0; b < len; b++)
				left += !cover[b];
			CHECK_INT(feed(pkt[0], n), left == 0);
			if (!left)
				break;
		}
		check_hello(_u, "ov.example", "h3", len);
	}
}

/* Packets coalesced in one datagram (RFC 9000 12.2): Initials taken,
 * 0-RTT and Handshake stepped over, zero bytes after them ignored. */
TEST(coalesced)
{
	static uint8_t junk[200];
	size_t len = cut_hello(_u, QUIC_V1, 2), n = 0;
	struct qseal hs = { .dcid = dcid_a, .dcid_len = sizeof(dcid_a), .type = QUIC_PT_HANDSHAKE };
	struct qseal rtt0 = { .dcid = dcid_a, .dcid_len = sizeof(dcid_a), .type = QUIC_PT_0RTT };
	ssize_t k;

	memset(junk, 0xaa, sizeof(junk));
	memcpy(dg + n, pkt[0], plen[0]);
	n += plen[0];
	k = qs_seal(&hs, junk, sizeof(junk), dg + n, sizeof(dg) - n);
	CHECK(k > 0);
	n += (size_t)k;
	k = qs_seal(&rtt0, junk, sizeof(junk), dg + n, sizeof(dg) - n);
	CHECK(k > 0);
	n += (size_t)k;
	memcpy(dg + n, pkt[1], plen[1]);
	n += plen[1];
	memset(dg + n, 0, 40);
	n += 40;
	quic_hello_init(&qh);
	CHECK_INT(feed(dg, n), 1);
	CHECK_INT(qh.n_accepted, 2);
	CHECK_INT(qh.n_skipped, 2);
	check_hello(_u, "quic.example", "h3,h3-29", len);

	/* A Handshake packet first, the Initials after it. */
	n = 0;
	k = qs_seal(&hs, junk, sizeof(junk), dg, sizeof(dg));
	n += (size_t)k;
	memcpy(dg + n, pkt[1], plen[1]);
	n += plen[1];
	memcpy(dg + n, pkt[0], plen[0]);
	n += plen[0];
	quic_hello_init(&qh);
	CHECK_INT(feed(dg, n), 1);

	/* Zero bytes after a packet are padding, not an error. */
	memcpy(dg + n, pkt[1], plen[1]);
	memset(dg + n + plen[1], 0, 30);
	quic_hello_init(&qh);
	CHECK_INT(feed(dg + n, plen[1] + 30), 0);
	CHECK_INT(qh.n_accepted, 1);

	/* The second packet truncated: the first is still taken. */
	quic_hello_init(&qh);
	CHECK_INT(feed(dg, n - 1), 0);
	CHECK_INT(qh.n_accepted, 1);
}

/* The RFC packet cut at every length: refused as malformed, nothing
 * decrypted or kept, and no read past the cut.  Its payload at every
 * length, straight into the frame parser: a truncated CRYPTO frame is a
 * protocol error, the whole frame is the hello. */
TEST(truncated)
{
	static uint8_t pl[1162];
	size_t n = unhex(rfc9001_client, pkt[0]);
	struct quic_cid cid;
	uint32_t v;

	for (size_t i = 0; i < n && !_u->failed; i++) {
		quic_hello_init(&qh);
		CHECK_INT(feed(pkt[0], i), -EBADMSG);
		CHECK(!qh.keyed && qh.n_dropped == 0 && qh.contig == 0);
		CHECK_INT(quic_peek_dcid(pkt[0], i, &cid, &v), -EBADMSG);
	}
	memset(pl, 0, sizeof(pl));
	unhex(rfc_crypto_frame, pl);
	for (size_t i = 0; i <= sizeof(pl) && !_u->failed; i++) {
		quic_hello_init(&qh);
		CHECK_INT(frames(pl, i), i == 0 || i < 245 ? -EPROTO : 1);
		CHECK_INT(qh.contig, i < 245 ? 0 : 241);
	}
}

/* Keys of another DCID, the server's packet, any one byte changed: not
 * authenticated, dropped and counted; the state takes the real packet
 * after them all the same. */
TEST(auth_fail)
{
	static uint8_t bad[2048];
	size_t len = cut_hello(_u, QUIC_V1, 1), n;
	struct quic_keys kb;
	struct qseal o = { .dcid = dcid_a, .dcid_len = sizeof(dcid_a), .keys = &kb };
	struct range r = { 0, len };

	CHECK_INT(quic_initial_keys(QUIC_V1, dcid_b, sizeof(dcid_b), &kb), 0);
	n = crypto_pkt(_u, &o, &r, 1, bad);
	quic_hello_init(&qh);
	CHECK_INT(feed(bad, n), -EBADMSG);
	CHECK_INT(qh.n_dropped, 1);
	CHECK(!qh.locked && qh.contig == 0);
	n = unhex(rfc9001_server, bad);
	CHECK_INT(feed(bad, n), -EBADMSG);
	CHECK_INT(qh.n_dropped, 2);
	for (size_t i = 0; i < plen[0] && !_u->failed; i++) {
		memcpy(bad, pkt[0], plen[0]);
		bad[i] ^= 0x01;
		CHECK(feed(bad, plen[0]) < 0);
		CHECK(!qh.locked && qh.contig == 0);
	}
	CHECK_INT(feed(pkt[0], plen[0]), 1);
	check_hello(_u, "quic.example", "h3,h3-29", len);
}

/* The keys stay those of the first Initial's DCID when the client moves
 * to the server's CID (RFC 9001 5.2): its later Initials carry the new
 * DCID under the old keys; the new DCID's own keys are wrong then. */
TEST(dcid_locked)
{
	size_t len = cut_hello(_u, QUIC_V1, 2);
	struct quic_keys ka;
	struct qseal o = { .dcid = dcid_b, .dcid_len = sizeof(dcid_b), .pn = 1 };
	struct range r = { len / 2, len - len / 2 };
	size_t n;

	quic_hello_init(&qh);
	CHECK_INT(feed(pkt[0], plen[0]), 0);
	CHECK(qh.locked && qh.dcid.len == sizeof(dcid_a));
	n = crypto_pkt(_u, &o, &r, 1, pkt[2]);	/* keys of dcid_b */
	CHECK_INT(feed(pkt[2], n), -EBADMSG);
	CHECK_INT(qh.n_dropped, 1);
	CHECK_INT(quic_initial_keys(QUIC_V1, dcid_a, sizeof(dcid_a), &ka), 0);
	o.keys = &ka;
	n = crypto_pkt(_u, &o, &r, 1, pkt[2]);
	CHECK_INT(feed(pkt[2], n), 1);
	check_hello(_u, "quic.example", "h3,h3-29", len);
	/* A locked v1 flow takes no v2 packet. */
	quic_hello_init(&qh);
	CHECK_INT(feed(pkt[0], plen[0]), 0);
	o = (struct qseal){ .version = QUIC_V2, .dcid = dcid_a, .dcid_len = sizeof(dcid_a) };
	n = crypto_pkt(_u, &o, &r, 1, pkt[2]);
	CHECK_INT(feed(pkt[2], n), -EBADMSG);
}

/* Truncated packet numbers decode against the largest taken
 * (RFC 9000 A.3); a wrong guess would fail authentication. */
TEST(packet_numbers)
{
	size_t len = make_hello(_u, "pn.example", "h3", 1800);
	struct qseal o = { .dcid = dcid_a, .dcid_len = sizeof(dcid_a) };
	struct range r[3] = { { 0, 600 }, { 600, 600 }, { 1200, len - 1200 } };
	size_t n;

	quic_hello_init(&qh);
	o.pn = 254;
	o.pn_len = 2;
	n = crypto_pkt(_u, &o, &r[0], 1, pkt[0]);
	CHECK_INT(feed(pkt[0], n), 0);
	o.pn = 257;		/* one byte: 0x01 */
	o.pn_len = 1;
	n = crypto_pkt(_u, &o, &r[2], 1, pkt[0]);
	CHECK_INT(feed(pkt[0], n), 0);
	CHECK_INT(qh.next_pn, 258);
	o.pn = 256;		/* late, one byte: 0x00 */
	n = crypto_pkt(_u, &o, &r[1], 1, pkt[0]);
	CHECK_INT(feed(pkt[0], n), 1);
	CHECK_INT(qh.next_pn, 258);
	CHECK_INT(qh.n_dropped, 0);
	check_hello(_u, "pn.example", "h3", len);
}

/* Version 0 is Version Negotiation; other versions are not ours. */
TEST(versions)
{
	static const uint8_t vn[] = { 0x80 | 0x2a, 0, 0, 0, 0, 4, 1, 2, 3, 4, 2, 9, 9,
				      0, 0, 0, 1, 0x6b, 0x33, 0x43, 0xcf };
	static const uint32_t others[] = { 0xff00001d, 0x1a2a3a4a, 0x709a50c4, 2 };
	struct quic_cid cid;
	uint32_t v = 7;

	quic_hello_init(&qh);
	CHECK_INT(feed(vn, sizeof(vn)), -ENOMSG);
	CHECK_INT(quic_peek_dcid(vn, sizeof(vn), &cid, &v), -ENOMSG);
	CHECK_INT(v, 0);
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		size_t n = unhex(rfc9001_client, pkt[0]);

		for (int b = 0; b < 4; b++)
			pkt[0][1 + b] = (uint8_t)(others[i] >> (24 - 8 * b));
		CHECK_INT(feed(pkt[0], n), -ENOTSUP);
		CHECK_INT(quic_peek_dcid(pkt[0], n, &cid, &v), -ENOTSUP);
		CHECK_INT(v, others[i]);
		CHECK_INT(cid.len, 0);
	}
	CHECK(!qh.keyed && qh.n_dropped == 0);
	/* RFC 9369 A.2 read as version 1 (only the version changed): its
	 * type bits 0b01 are a v1 0-RTT packet, stepped over. */
	unhex(rfc9369_client, pkt[0]);
	pkt[0][4] = 1;
	pkt[0][1] = pkt[0][2] = pkt[0][3] = 0;
	CHECK_INT(feed(pkt[0], 1200), 0);
	CHECK_INT(qh.n_skipped, 1);
	CHECK(!qh.keyed && !qh.done);
}

/* quic_peek_dcid and quic_peek_scid on each packet type, a short header
 * and garbage. */
TEST(peek)
{
	static const uint8_t shorthdr[] = { 0x41, 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	struct qseal o = { .dcid = dcid_b, .dcid_len = sizeof(dcid_b), .scid = scid,
			   .scid_len = sizeof(scid) };
	uint8_t pl[40] = { 1 };
	struct quic_cid cid;
	uint32_t v;

	for (uint32_t ver = 0; ver < 2; ver++) {
		o.version = ver ? QUIC_V2 : QUIC_V1;
		for (int t = QUIC_PT_INITIAL; t <= QUIC_PT_HANDSHAKE; t++) {
			ssize_t n;

			o.type = t;
			n = qs_seal(&o, pl, sizeof(pl), pkt[0], sizeof(pkt[0]));
			CHECK_INT(quic_peek_dcid(pkt[0], (size_t)n, &cid, &v), t);
			CHECK_INT(v, o.version);
			CHECK(cid.len == sizeof(dcid_b) && !memcmp(cid.id, dcid_b, cid.len));
			CHECK_INT(quic_peek_scid(pkt[0], (size_t)n, &cid), t);
			CHECK(cid.len == sizeof(scid) && !memcmp(cid.id, scid, cid.len));
		}
	}
	/* An empty SCID; one running past the datagram is no header. */
	o.version = QUIC_V1;
	o.type = QUIC_PT_INITIAL;
	o.scid_len = 0;
	{
		ssize_t n = qs_seal(&o, pl, sizeof(pl), pkt[0], sizeof(pkt[0]));

		CHECK_INT(quic_peek_scid(pkt[0], (size_t)n, &cid), QUIC_PT_INITIAL);
		CHECK_INT(cid.len, 0);
	}
	memcpy(pkt[0], "\xc0\x00\x00\x00\x01\x01\xaa\x08\x01\x02", 10);
	CHECK_INT(quic_peek_scid(pkt[0], 10, &cid), -EBADMSG);
	CHECK_INT(quic_peek_scid(shorthdr, sizeof(shorthdr), &cid), QUIC_PT_SHORT);
	CHECK_INT(cid.len, 0);
	CHECK_INT(quic_peek_dcid(shorthdr, sizeof(shorthdr), &cid, &v), QUIC_PT_SHORT);
	CHECK_INT(cid.len, 0);
	CHECK_INT(quic_peek_dcid(shorthdr, 0, &cid, &v), -EBADMSG);
	/* A DCID over 20 bytes is no version 1 header. */
	memcpy(pkt[0], "\xc0\x00\x00\x00\x01\x15", 6);
	memset(pkt[0] + 6, 0, 40);
	CHECK_INT(quic_peek_dcid(pkt[0], 46, &cid, &v), -EBADMSG);
	quic_hello_init(&qh);
	CHECK_INT(feed(shorthdr, sizeof(shorthdr)), -EBADMSG);
	CHECK_INT(feed(pkt[0], 46), -EBADMSG);
}

/* Frames an Initial may carry besides CRYPTO are walked over; others, a
 * frame type in a longer encoding and an empty payload are refused. */
TEST(frame_types)
{
	static const uint8_t ok[] = {
		0x00, 0x01, 0x00,
		0x02, 0x05, 0x00, 0x02, 0x01, 0x00, 0x01, 0x40, 0x10, 0x00,	/* ACK, 2 ranges */
		0x03, 0x05, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03,			/* ACK_ECN */
		0x1c, 0x0a, 0x06, 0x03, 'b', 'y', 'e',				/* CONNECTION_CLOSE */
	};
	static const uint8_t bad[][4] = {
		{ 0x08, 0x00, 0x00 },	/* STREAM */
		{ 0x07, 0x00 },		/* NEW_TOKEN */
		{ 0x1d, 0x00, 0x00 },	/* application CONNECTION_CLOSE */
		{ 0x1e },		/* HANDSHAKE_DONE */
		{ 0x40, 0x06, 0x00, 0x00 },	/* CRYPTO in two bytes */
		{ 0x02, 0x00, 0x00 },	/* truncated ACK */
		{ 0x02, 0x00, 0x00, 0x3f },	/* 63 ranges, nothing after */
		{ 0x1c, 0x00, 0x00, 0x05 },	/* reason past the end */
	};
	static const size_t blen[] = { 3, 2, 3, 1, 4, 3, 4, 4 };

	quic_hello_init(&qh);
	CHECK_INT(frames(ok, sizeof(ok)), 0);
	CHECK(qh.closed);
	quic_hello_init(&qh);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(frames(bad[i], blen[i]), -EPROTO);
	CHECK_INT(frames(ok, 0), -EPROTO);
	CHECK(!qh.closed);
}

/* Bounds: CRYPTO data past QUIC_HELLO_MAX, a hello announcing more, a
 * payload over QUIC_PKT_MAX.  Nothing is kept of a refused packet. */
TEST(bounds)
{
	static uint8_t pl[QUIC_PKT_MAX + 200];
	static const uint8_t hdr_big[] = { 0x06, 0x00, 0x04, 0x01, 0x00, 0x40, 0x00 };
	static const uint64_t offs[] = { QUIC_HELLO_MAX, QUIC_HELLO_MAX - 1, 1ull << 40,
					 (1ull << 62) - 1 };
	struct qseal o = { .dcid = dcid_a, .dcid_len = sizeof(dcid_a) };
	size_t n;
	ssize_t k;

	quic_hello_init(&qh);
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		n = 0;
		pl[n++] = 0x06;
		n += qs_varint(pl + n, offs[i]);
		n += qs_varint(pl + n, 2);
		pl[n++] = 1;
		pl[n++] = 2;
		CHECK_INT(frames(pl, n), -EMSGSIZE);
	}
	/* Up to the last byte is fine. */
	n = qs_crypto(pl, QUIC_HELLO_MAX - 1, (const uint8_t *)"z", 1);
	CHECK_INT(frames(pl, n), 0);
	/* A hello of 16381 bytes does not fit with its 4-byte header. */
	CHECK_INT(frames(hdr_big, sizeof(hdr_big)), -EMSGSIZE);
	CHECK_INT(qh.contig, 0);
	CHECK_INT(qh.hello_end, 0);
	/* The same through a sealed packet, and a payload too big. */
	k = qs_seal(&o, hdr_big, sizeof(hdr_big), pkt[0], sizeof(pkt[0]));
	CHECK_INT(feed(pkt[0], (size_t)k), -EMSGSIZE);
	CHECK_INT(qh.n_refused, 1);
	memset(pl, 0, sizeof(pl));
	k = qs_seal(&o, pl, QUIC_PKT_MAX + 1, dg, sizeof(dg));
	CHECK_INT(feed(dg, (size_t)k), -EMSGSIZE);
	k = qs_seal(&o, pl, QUIC_PKT_MAX, dg, sizeof(dg));
	CHECK_INT(feed(dg, (size_t)k), 0);	/* all PADDING */
	CHECK_INT(qh.n_accepted, 1);
}

/* Bytes once in never change: a packet bringing other bytes at an
 * offset already held is refused whole, new bytes in it included. */
TEST(conflict)
{
	static uint8_t pl[2048];
	size_t len = make_hello(_u, "c.example", "h3", 600), n;
	uint8_t other[10];

	quic_hello_init(&qh);
	n = qs_crypto(pl, 0, stream, 100);
	CHECK_INT(frames(pl, n), 0);
	CHECK_INT(qh.contig, 100);
	memcpy(other, stream + 50, 10);
	other[3] ^= 0xff;
	n = qs_crypto(pl, 100, stream + 100, len - 100);
	n += qs_crypto(pl + n, 50, other, 10);
	CHECK_INT(frames(pl, n), -EPROTO);
	CHECK_INT(qh.contig, 100);
	CHECK_INT(qh.hello_end, len);	/* known since the first packet */
	/* The same bytes again are fine, and complete it. */
	n = qs_crypto(pl, 100, stream + 100, len - 100);
	n += qs_crypto(pl + n, 50, stream + 50, 10);
	CHECK_INT(frames(pl, n), 1);
	check_hello(_u, "c.example", "h3", len);
}

/* The stream must begin with a ClientHello; reserved header bits must be
 * zero once unprotected (RFC 9000 17.2). */
TEST(not_a_hello)
{
	static const uint8_t sh[] = { 0x06, 0x00, 0x08, 0x02, 0x00, 0x00, 0x04, 1, 2, 3, 4 };
	struct qseal o = { .dcid = dcid_a, .dcid_len = sizeof(dcid_a), .reserved = 0x0c };
	size_t len = cut_hello(_u, QUIC_V1, 1);
	struct range r = { 0, len };
	size_t n;

	quic_hello_init(&qh);
	CHECK_INT(frames(sh, sizeof(sh)), -EPROTO);
	CHECK_INT(qh.contig, 0);
	n = crypto_pkt(_u, &o, &r, 1, pkt[1]);
	CHECK_INT(feed(pkt[1], n), -EPROTO);
	CHECK_INT(qh.n_refused, 1);
	CHECK(!qh.locked);
	CHECK_INT(feed(pkt[0], plen[0]), 1);
}

/* Many ALPN ids and a hello near the bound, through the TLS probe. */
TEST(tls_facts)
{
	static char list[2048];
	size_t len, npkt;
	struct qseal o = { .dcid = dcid_a, .dcid_len = sizeof(dcid_a) };

	list[0] = '\0';
	for (int i = 0; i < 100; i++)
		sprintf(list + strlen(list), "%sp%d", i ? "," : "", i);
	len = make_hello(_u, "Big.Example.", list, 12000);
	npkt = (len + 999) / 1000;
	quic_hello_init(&qh);
	for (size_t i = npkt; i-- > 0 && !_u->failed;) {
		struct range r = { i * 1000, i == npkt - 1 ? len - i * 1000 : 1000 };
		size_t n;

		o.pn = i;
		n = crypto_pkt(_u, &o, &r, 1, pkt[0]);
		CHECK_INT(feed(pkt[0], n), i == 0);
	}
	check_hello(_u, "big.example", list, len);
}

UNIT_MAIN("quic", rfc_keys, rfc9001_client_initial, rfc9369_client_initial,
	  seal_matches_rfc, split_two_packets, split_three_packets, overlaps_random,
	  coalesced, truncated, auth_fail, dcid_locked, packet_numbers, versions, peek,
	  frame_types, bounds, conflict, not_a_hello, tls_facts)
