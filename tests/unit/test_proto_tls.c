// SPDX-License-Identifier: GPL-2.0
/* TLS probe tests.  Hellos come from tlsgen (every shape we care about)
 * and from real clients (bytes captured off the wire, below), and most are
 * fed at every prefix length: a ClientHello may arrive cut anywhere, and
 * the verdict must stay MORE until the hello is whole, then never change. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"
#include "proto/proto.h"
#include "tlsgen.h"
#include "unit.h"

extern const struct proto proto_tls;

/* ClientHellos as a listener received them, in hex (see unhex()).
 * OpenSSL 3.0.19: openssl s_client -connect 127.0.0.1:PORT
 *   -servername x.example -alpn h2,http/1.1 */
static const char cap_openssl[] =
	"16030101480100014403032e55d0f9cc7fe70ad8043e9d0cc9650b7bdd7632c6"
	"6c46dac5145aef5fbd190320d75a62081e9c324953161c09e24cfc8d4fa76f9e"
	"c7db7e702069ca742cf855c8003e130213031301c02cc030009fcca9cca8ccaa"
	"c02bc02f009ec024c028006bc023c0270067c00ac0140039c009c0130033009d"
	"009c003d003c0035002f00ff010000bd0000000e000c000009782e6578616d70"
	"6c65000b000403000102000a00160014001d0017001e00190018010001010102"
	"01030104002300000010000e000c02683208687474702f312e31001600000017"
	"0000000d002a0028040305030603080708080809080a080b0804080508060401"
	"05010601030303010302040205020602002b0009080304030303020301002d00"
	"020101003300260024001d00209fe568abebf6648ceacf7ec55ab8beb64aa8b1"
	"d57b94aa5ade9d1119c1714d51";

/* GnuTLS 3.7.9: gnutls-cli -p PORT --sni-hostname=x.example --alpn=h2
 *   --alpn=http/1.1 127.0.0.1 */
static const char cap_gnutls[] =
	"1603010194010001900303bf4c5ba4ad57d3dd33541c60cd9adb8e2c6dbda7eb"
	"d856d2e93b3d5cc922305720705143a4cb12d60d7d43777a5c059e633703ff2f"
	"f218c4eff2773b9bcc8fb7af003a1302130313011304c02ccca9c0adc00ac02b"
	"c0acc009c030cca8c014c02fc013009dc09d0035009cc09c002f009fccaac09f"
	"0039009ec09e00330100010d000500050100000000000a001600140017001800"
	"19001d001e01000101010201030104000b00020100000d002200200401080908"
	"04040308070501080a0805050308080601080b08060603020102030010000e00"
	"0c02683208687474702f312e310016000000170000002300000033006b006900"
	"170041049853c7b23122ed48b98f4dc23b0ff2392573b7e1c5dbf0a879eb0fe9"
	"c92697a4b6368e56e006fc4e96380c2e9f16e13d3e7320bdc30612724f85894a"
	"ed8bab3a001d0020d3d308dbdaf4f3836e5fad196fea1ad87d4e2e7aba5edc52"
	"79f0881e1330bf05002b0009080304030303020301ff010001000000000e000c"
	"000009782e6578616d706c65002d0003020100001c00024001";

static uint8_t hb[1 << 19];	/* the hello under test */
static uint8_t tmp[1 << 19];

/* The probe on an exact-size heap copy (probe.h), so that a SAN=1 build
 * catches a read past len, with a zeroed struct as the caller gives it. */
static enum sniff_verdict sniff(const uint8_t *b, size_t n, struct sniff *s)
{
	return probe_run(&proto_tls, b, n, s);
}

static bool same_facts(const struct sniff *a, const struct sniff *b)
{
	return a->has_sni == b->has_sni && a->bad_sni == b->bad_sni &&
	       a->ech == b->ech && a->n_alpn == b->n_alpn &&
	       a->alpn_at == b->alpn_at && a->alpn_len == b->alpn_len &&
	       a->tls_version == b->tls_version &&
	       a->hello_len == b->hello_len && !strcmp(a->sni, b->sni);
}

/* The offered ALPN ids, walked in the bytes the hello was matched in,
 * joined with ','. */
static const char *alpn_ids(const struct sniff *s, const uint8_t *b, size_t n)
{
	static char out[1 << 16];
	char id[SNIFF_ALPN_LEN + 1];
	struct alpn_iter it = { 0 };
	size_t k = 0;

	out[0] = '\0';
	while (sniff_alpn_next(s, b, n, &it, id) && k + strlen(id) + 2 < sizeof(out))
		k += sprintf(out + k, "%s%s", k ? "," : "", id);
	return out;
}

/* A complete hello: MATCH at its last byte, not one before. */
static void want_match(struct unit_ctx *_u, const uint8_t *b, size_t len,
		       struct sniff *s)
{
	enum sniff_verdict v;
	size_t at = probe_settle(_u, &proto_tls, b, len, &v, s);

	CHECK_INT(v, SNIFF_MATCH);
	CHECK_INT(at, len);
}

/* A broken input: verdict w (NO, or BROKEN once a hello has begun) from
 * prefix length `at` on (0: anywhere). */
static void want_verdict(struct unit_ctx *_u, const uint8_t *b, size_t len,
			 enum sniff_verdict w, size_t at)
{
	static struct sniff s;
	enum sniff_verdict v;
	size_t got = probe_settle(_u, &proto_tls, b, len, &v, &s);

	CHECK_INT(v, w);
	if (at)
		CHECK_INT(got, at);
}

static void want_no(struct unit_ctx *_u, const uint8_t *b, size_t len, size_t at)
{
	want_verdict(_u, b, len, SNIFF_NO, at);
}

static void want_broken(struct unit_ctx *_u, const uint8_t *b, size_t len, size_t at)
{
	want_verdict(_u, b, len, SNIFF_BROKEN, at);
}

static size_t build(struct unit_ctx *_u, const struct tlsgen_opts *o)
{
	ssize_t n = tlsgen_client_hello(o, hb, sizeof(hb));

	if (n <= 0)
		FAILF("tlsgen_client_hello: %zd", n);
	return n > 0 ? (size_t)n : 0;
}

static unsigned int be16(const uint8_t *p)
{
	return p[0] << 8 | p[1];
}

/* Offsets in a one-record hello, for tests that break one field. */
#define OFF_HS_TYPE	5
#define OFF_HS_LEN	6
#define OFF_VERSION	9
#define OFF_SID_LEN	43
#define OFF_CS_LEN	76	/* with a 32-byte session id */

/* Offset of the extensions length field of a one-record hello. */
static size_t exts_off(const uint8_t *b)
{
	size_t p = OFF_SID_LEN + 1 + b[OFF_SID_LEN];

	p += 2 + be16(b + p);
	return p + 1 + b[p];
}

/* Offset of extension `type` in a one-record hello, 0 if absent. */
static size_t ext_off(const uint8_t *b, unsigned int type)
{
	size_t p = exts_off(b), end = p + 2 + be16(b + p);

	for (p += 2; p + 4 <= end; p += 4 + be16(b + p + 2))
		if (be16(b + p) == type)
			return p;
	return 0;
}

/* Re-wrap the handshake of a one-record hello in records of k bytes. */
static size_t rechunk(const uint8_t *src, size_t len, size_t k, uint8_t *dst)
{
	size_t n = 0;

	for (size_t off = 5; off < len; off += k) {
		size_t c = len - off < k ? len - off : k;

		memcpy(dst + n, src, 3);
		dst[n + 3] = c >> 8;
		dst[n + 4] = c;
		memcpy(dst + n + 5, src + off, c);
		n += 5 + c;
	}
	return n;
}

/* Decode a hex fixture into out.  Returns its length in bytes. */
static size_t unhex(const char *hex, uint8_t *out)
{
	size_t n = 0;

	for (; hex[0] && hex[1]; hex += 2)
		sscanf(hex, "%2hhx", &out[n++]);
	return n;
}

static void check_real(struct unit_ctx *_u, const char *hex)
{
	static const size_t ks[] = { 1, 2, 3, 7, 100 };
	static uint8_t b[1024];
	static struct sniff s, r;
	size_t len = unhex(hex, b);

	want_match(_u, b, len, &s);
	CHECK(s.has_sni && !s.bad_sni && !s.ech);
	CHECK_STR(s.sni, "x.example");
	CHECK_INT(s.n_alpn, 2);
	CHECK_STR(alpn_ids(&s, b, len), "h2,http/1.1");
	CHECK_INT(s.tls_version, 0x0304);
	CHECK_INT(s.hello_len, len - 9);
	/* The same bytes in records of 1, 2, 3, 7, 100 bytes. */
	for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
		size_t n = rechunk(b, len, ks[i], tmp);

		want_match(_u, tmp, n, &r);
		CHECK(same_facts(&s, &r));
		CHECK_STR(alpn_ids(&r, tmp, n), "h2,http/1.1");
	}
}

TEST(real_openssl)
{
	check_real(_u, cap_openssl);
}

TEST(real_gnutls)
{
	check_real(_u, cap_gnutls);
}

TEST(gen_basic)
{
	struct tlsgen_opts o = { .sni = "www.example.com", .alpn = "h2,http/1.1" };
	static struct sniff s;
	size_t n = build(_u, &o);

	want_match(_u, hb, n, &s);
	CHECK(s.has_sni && !s.bad_sni && !s.ech);
	CHECK_STR(s.sni, "www.example.com");
	CHECK_INT(s.n_alpn, 2);
	CHECK_STR(alpn_ids(&s, hb, n), "h2,http/1.1");
	CHECK_INT(s.tls_version, 0x0304);	/* past GREASE 0x3a3a */
	CHECK_INT(s.hello_len, n - 9);
}

/* Records of `rs` bytes (or `nrec` records): the facts of the one-record
 * hello, MATCH at the last byte only. */
static void check_split(struct unit_ctx *_u, size_t rs, size_t nrec)
{
	struct tlsgen_opts o = { .sni = "split.example", .alpn = "h2" };
	static struct sniff one, s;
	size_t n = build(_u, &o), hs = n - 5;

	want_match(_u, hb, n, &one);
	if (rs)
		nrec = (hs + rs - 1) / rs;
	o.record_size = rs ? rs : (hs + nrec - 1) / nrec;
	n = build(_u, &o);
	CHECK_INT(n, hs + 5 * nrec);
	want_match(_u, hb, n, &s);
	CHECK(same_facts(&one, &s));
	CHECK_STR(s.sni, "split.example");
}

TEST(split_records)
{
	check_split(_u, 1, 0);		/* one byte per record */
	check_split(_u, 0, 2);
	check_split(_u, 0, 3);
	check_split(_u, 5, 0);		/* record ends inside headers */
}

TEST(pq_size)
{
	struct tlsgen_opts o = { .sni = "pq.example", .alpn = "h2", .pad_to = 1800 };
	static const uint8_t share[] = { 0x11, 0xec, 0x04, 0xc0 };
	static struct sniff s, r;
	size_t n = build(_u, &o);

	want_match(_u, hb, n, &s);
	CHECK_INT(s.hello_len, 1800);
	CHECK_STR(s.sni, "pq.example");
	CHECK(memmem(hb, n, share, sizeof(share)) != NULL);
	/* As Chrome sends it over a 1500-byte MTU: two segments.  And in
	 * 1400-byte records. */
	CHECK_INT(sniff(hb, 1448, &r), SNIFF_MORE);
	o.record_size = 1400;
	n = build(_u, &o);
	want_match(_u, hb, n, &r);
	CHECK(same_facts(&s, &r));
}

TEST(big_hello)
{
	struct tlsgen_opts o = { .sni = "big.example", .pad_to = 65535 };
	static struct sniff s;
	size_t n = build(_u, &o);

	/* 64 KiB does not fit one record: tlsgen cuts at 16384. */
	CHECK_INT(n, 4 + 65535 + 5 * 5);
	CHECK_INT(sniff(hb, n, &s), SNIFF_MATCH);
	CHECK_INT(s.hello_len, 65535);
	CHECK_STR(s.sni, "big.example");
	for (size_t i = 0; i < n; i += 997)
		CHECK_INT(sniff(hb, i, &s), SNIFF_MORE);
	CHECK_INT(sniff(hb, n - 1, &s), SNIFF_MORE);
}

TEST(alpn_multi)
{
	struct tlsgen_opts o = { .alpn = "h2,http/1.1,spdy/3.1,acme-tls/1" };
	static struct sniff s;
	size_t n = build(_u, &o);

	want_match(_u, hb, n, &s);
	CHECK_INT(s.n_alpn, 4);
	CHECK_STR(alpn_ids(&s, hb, n), "h2,http/1.1,spdy/3.1,acme-tls/1");
}

/* Every id the hello offers is there, however many: 17 (one more than
 * passthru used to keep) and 200, in one record and in 7-byte records
 * (the list then cut by a record header every 7 bytes). */
TEST(alpn_many)
{
	static const int counts[] = { 17, 200 };
	static char list[4096];
	static struct sniff s;

	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		for (size_t rs = 0; rs <= 7; rs += 7) {
			struct tlsgen_opts o = { .sni = "a.example", .alpn = list,
						 .record_size = rs };
			size_t n;

			list[0] = '\0';
			for (int i = 0; i < counts[c]; i++)
				sprintf(list + strlen(list), "%sp%d", i ? "," : "", i);
			n = build(_u, &o);
			want_match(_u, hb, n, &s);
			CHECK_INT(s.n_alpn, counts[c]);
			CHECK_STR(alpn_ids(&s, hb, n), list);
		}
	}
}

/* A hello with extension bytes `e` added: its verdict and facts. */
static enum sniff_verdict with_ext(struct unit_ctx *_u, const char *sni,
				   const uint8_t *e, size_t elen,
				   struct sniff *s)
{
	struct tlsgen_opts o = { .sni = sni, .raw_ext = e, .raw_ext_len = elen };
	size_t n = build(_u, &o);
	enum sniff_verdict v;

	probe_settle(_u, &proto_tls, hb, n, &v, s);
	return v;
}

#define WITH_EXT(sni, ...)                                                  \
	({                                                                  \
		static const uint8_t _e[] = { __VA_ARGS__ };                \
		with_ext(_u, sni, _e, sizeof(_e), &s);                      \
	})

TEST(alpn_malformed)
{
	static struct sniff s;

	/* A name with a NUL is skipped, the others kept. */
	CHECK_INT(WITH_EXT(NULL, 0, 16, 0, 9, 0, 7, 3, 'a', 0, 'b', 2, 'h', '2'),
		  SNIFF_MATCH);
	CHECK_INT(s.n_alpn, 1);
	CHECK_STR(alpn_ids(&s, hb, sizeof(hb)), "h2");
	/* Empty name, empty list, no list, list longer or shorter than the
	 * extension, a name running past the list. */
	CHECK_INT(WITH_EXT(NULL, 0, 16, 0, 6, 0, 4, 2, 'h', '2', 0), SNIFF_BROKEN);
	CHECK_INT(WITH_EXT(NULL, 0, 16, 0, 2, 0, 0), SNIFF_BROKEN);
	CHECK_INT(WITH_EXT(NULL, 0, 16, 0, 0), SNIFF_BROKEN);
	CHECK_INT(WITH_EXT(NULL, 0, 16, 0, 5, 0, 4, 2, 'h', '2'), SNIFF_BROKEN);
	CHECK_INT(WITH_EXT(NULL, 0, 16, 0, 6, 0, 3, 2, 'h', '2', 0), SNIFF_BROKEN);
	CHECK_INT(WITH_EXT(NULL, 0, 16, 0, 5, 0, 3, 3, 'h', '2'), SNIFF_BROKEN);
}

TEST(ech)
{
	struct tlsgen_opts o = { .sni = "public.example", .alpn = "h2", .ech = true };
	static struct sniff s;
	size_t n = build(_u, &o);

	want_match(_u, hb, n, &s);
	CHECK(s.ech);
	CHECK_STR(s.sni, "public.example");	/* the outer name */
	o.ech = false;
	CHECK_INT(sniff(hb, build(_u, &o), &s), SNIFF_MATCH);
	CHECK(!s.ech);
}

TEST(no_sni)
{
	struct tlsgen_opts o = { .alpn = "h2" };
	static struct sniff s;
	size_t n = build(_u, &o);

	want_match(_u, hb, n, &s);
	CHECK(!s.has_sni && !s.bad_sni);
	CHECK_STR(s.sni, "");
	CHECK_INT(s.n_alpn, 1);
}

static void check_sni(struct unit_ctx *_u, const char *in, const char *want)
{
	struct tlsgen_opts o = { .sni = in };
	static struct sniff s;
	size_t n = build(_u, &o);
	int failed = _u->failed;

	CHECK_INT(sniff(hb, n, &s), SNIFF_MATCH);
	if (want) {
		CHECK(s.has_sni && !s.bad_sni);
		CHECK_STR(s.sni, want);
	} else {
		CHECK(!s.has_sni && s.bad_sni);
		CHECK_STR(s.sni, "");
	}
	if (_u->failed && !failed)
		snprintf(_u->why + strlen(_u->why),
			 sizeof(_u->why) - strlen(_u->why), " (sni \"%.40s\")", in);
}

TEST(sni_normalise)
{
	char name[300], dotted[301];

	check_sni(_u, "WWW.Example.COM.", "www.example.com");
	check_sni(_u, "_acme-challenge.x-1.example", "_acme-challenge.x-1.example");
	check_sni(_u, "localhost", "localhost");
	check_sni(_u, "192.0.2.1", "192.0.2.1");
	/* 255 bytes is the limit, with or without a trailing dot. */
	memset(name, 'a', 255);
	name[255] = '\0';
	for (int i = 63; i < 255; i += 64)
		name[i] = '.';
	check_sni(_u, name, name);
	snprintf(dotted, sizeof(dotted), "%s.", name);
	check_sni(_u, dotted, name);
}

TEST(sni_invalid)
{
	static const char *const bad[] = {
		"a b.example", "a..example", ".", "..", ".a.example",
		"a.example..", "ex/ample", "a.example:443", "caf\xc3\xa9.example",
		"a*.example", "a~b.example", "",
	};
	char name[300];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check_sni(_u, bad[i], NULL);
	memset(name, 'a', 256);
	name[256] = '\0';
	check_sni(_u, name, NULL);
	memset(name, 'a', 299);				/* not even copied */
	name[299] = '\0';
	check_sni(_u, name, NULL);
}

TEST(sni_list_shapes)
{
	static struct sniff s;

	/* Another name type first: the host_name is still found. */
	CHECK_INT(WITH_EXT(NULL, 0, 0, 0, 15, 0, 13, 1, 0, 1, 'x',
			   0, 0, 6, 'b', '.', 'T', 'E', 'S', 'T'), SNIFF_MATCH);
	CHECK_STR(s.sni, "b.test");
	/* Two host_names: the first wins. */
	CHECK_INT(WITH_EXT(NULL, 0, 0, 0, 12, 0, 10, 0, 0, 1, 'a',
			   0, 0, 3, 'b', '.', 'c'), SNIFF_MATCH);
	CHECK_STR(s.sni, "a");
	/* No host_name at all; a NUL in the name; an empty name. */
	CHECK_INT(WITH_EXT(NULL, 0, 0, 0, 6, 0, 4, 1, 0, 1, 'x'), SNIFF_MATCH);
	CHECK(s.bad_sni && !s.has_sni);
	CHECK_INT(WITH_EXT(NULL, 0, 0, 0, 8, 0, 6, 0, 0, 3, 'a', 0, 'b'),
		  SNIFF_MATCH);
	CHECK(s.bad_sni && !s.has_sni);
	CHECK_STR(s.sni, "");
	CHECK_INT(WITH_EXT(NULL, 0, 0, 0, 5, 0, 3, 0, 0, 0), SNIFF_MATCH);
	CHECK(s.bad_sni && !s.has_sni);
	/* Empty list, no list, list/extension mismatch, name overrun. */
	CHECK_INT(WITH_EXT(NULL, 0, 0, 0, 2, 0, 0), SNIFF_BROKEN);
	CHECK_INT(WITH_EXT(NULL, 0, 0, 0, 0), SNIFF_BROKEN);
	CHECK_INT(WITH_EXT(NULL, 0, 0, 0, 6, 0, 5, 0, 0, 1, 'a'), SNIFF_BROKEN);
	CHECK_INT(WITH_EXT(NULL, 0, 0, 0, 7, 0, 4, 0, 0, 1, 'a', 0), SNIFF_BROKEN);
	CHECK_INT(WITH_EXT(NULL, 0, 0, 0, 6, 0, 4, 0, 0, 2, 'a'), SNIFF_BROKEN);
}

TEST(duplicate_ext)
{
	static struct sniff s;

	CHECK_INT(WITH_EXT(NULL, 0x00, 0x17, 0, 0), SNIFF_BROKEN);	/* ems */
	CHECK_INT(WITH_EXT("a.example", 0, 0, 0, 6, 0, 4, 0, 0, 1, 'b'),
		  SNIFF_BROKEN);					/* SNI */
	CHECK_INT(WITH_EXT(NULL, 0x12, 0x34, 0, 0, 0x12, 0x34, 0, 1, 0),
		  SNIFF_BROKEN);					/* unknown */
	CHECK_INT(WITH_EXT(NULL, 0x12, 0x34, 0, 0, 0x12, 0x35, 0, 0),
		  SNIFF_MATCH);
	/* The lazily zeroed bitmap: neighbours in one word, words sharing a
	 * `live` bit's word, the last type, each repeated after others. */
	CHECK_INT(WITH_EXT(NULL, 0x12, 0x34, 0, 0, 0x12, 0x74, 0, 0, 0x12, 0x34, 0, 0),
		  SNIFF_BROKEN);
	CHECK_INT(WITH_EXT(NULL, 0x12, 0x34, 0, 0, 0x12, 0x74, 0, 0, 0x12, 0x75, 0, 0),
		  SNIFF_MATCH);
	CHECK_INT(WITH_EXT(NULL, 0xff, 0xff, 0, 0, 0x00, 0x40, 0, 0, 0xff, 0xff, 0, 0),
		  SNIFF_BROKEN);
	CHECK_INT(WITH_EXT(NULL, 0xff, 0xff, 0, 0, 0xff, 0xfe, 0, 0, 0xbf, 0xff, 0, 0),
		  SNIFF_MATCH);
}

TEST(ext_lengths)
{
	static struct sniff s;
	size_t n, e;

	/* An extension longer than what is left of the block; a block
	 * ending inside an extension header. */
	CHECK_INT(WITH_EXT(NULL, 0x12, 0x34, 0xff, 0xff), SNIFF_BROKEN);
	CHECK_INT(WITH_EXT(NULL, 0x12, 0x34, 0, 2, 0), SNIFF_BROKEN);
	CHECK_INT(WITH_EXT(NULL, 0x12, 0x34, 0), SNIFF_BROKEN);
	/* The extensions block a byte longer or shorter than the hello. */
	n = build(_u, &(struct tlsgen_opts){ .sni = "a.example" });
	e = exts_off(hb);
	hb[e + 1]++;
	want_broken(_u, hb, n, e + 2);
	hb[e + 1] -= 2;
	want_broken(_u, hb, n, 0);
}

/* Break one byte of a good hello: from prefix `at` on (0: anywhere), NO
 * if it is the record header or the handshake type, BROKEN after them
 * (a ClientHello had begun). */
static void poke(struct unit_ctx *_u, size_t off, uint8_t val, size_t at)
{
	size_t n = build(_u, &(struct tlsgen_opts){ .sni = "a.example" });
	int failed = _u->failed;

	hb[off] = val;
	want_verdict(_u, hb, n, off <= OFF_HS_TYPE ? SNIFF_NO : SNIFF_BROKEN, at);
	if (_u->failed && !failed)
		snprintf(_u->why + strlen(_u->why),
			 sizeof(_u->why) - strlen(_u->why),
			 " (byte %zu = 0x%02x)", off, val);
}

TEST(hello_fields)
{
	poke(_u, OFF_HS_TYPE, 2, OFF_HS_TYPE + 1);	/* server_hello */
	poke(_u, OFF_HS_TYPE, 0x47, OFF_HS_TYPE + 1);
	poke(_u, OFF_HS_LEN, 1, OFF_HS_LEN + 3);	/* > 65535 */
	poke(_u, OFF_HS_LEN + 1, 0, 0);			/* too short */
	poke(_u, OFF_VERSION, 2, OFF_VERSION + 2);
	poke(_u, OFF_SID_LEN, 33, OFF_SID_LEN + 1);
	poke(_u, OFF_CS_LEN + 1, 0x21, OFF_CS_LEN + 2);	/* odd */
	poke(_u, OFF_CS_LEN + 1, 0, OFF_CS_LEN + 2);	/* zero */
	poke(_u, OFF_CS_LEN + 2 + 0x20, 0, OFF_CS_LEN + 3 + 0x20); /* compr */
}

TEST(hello_length_mismatch)
{
	size_t n = build(_u, &(struct tlsgen_opts){ .sni = "a.example" });
	static struct sniff s;

	/* The handshake claims one byte more than its fields use. */
	hb[n] = 0;
	hb[4]++;
	hb[OFF_HS_LEN + 2]++;
	want_broken(_u, hb, n + 1, 0);
	/* An empty hello. */
	memcpy(tmp, "\x16\x03\x01\x00\x04\x01\x00\x00\x00", 9);
	want_broken(_u, tmp, 9, 9);
	CHECK_INT(sniff(tmp, 9, &s), SNIFF_BROKEN);
}

TEST(record_header)
{
	size_t n = build(_u, &(struct tlsgen_opts){ .sni = "a.example" });
	static struct sniff s;

	for (unsigned int minor = 0; minor <= 4; minor++) {
		hb[2] = minor;				/* SSL 3.0 .. TLS 1.3 */
		CHECK_INT(sniff(hb, n, &s), SNIFF_MATCH);
	}
	poke(_u, 0, 0x17, 1);				/* application data */
	poke(_u, 0, 0x15, 1);				/* alert */
	poke(_u, 0, 0x14, 1);				/* change_cipher_spec */
	poke(_u, 1, 2, 2);
	poke(_u, 2, 5, 3);
	poke(_u, 3, 0x40, 5);				/* 16385 bytes */
	build(_u, &(struct tlsgen_opts){ .sni = "a.example" });
	hb[3] = 0;
	hb[4] = 0;					/* empty record */
	want_no(_u, hb, 5, 5);
}

TEST(record_interleaved)
{
	struct tlsgen_opts o = { .sni = "a.example", .record_size = 100 };
	static const uint8_t ccs[] = { 0x14, 0x03, 0x03, 0x00, 0x01, 0x01 };
	static const uint8_t alert[] = { 0x15, 0x03, 0x03, 0x00, 0x02, 2, 40 };
	size_t n = build(_u, &o);

	/* Another record type between two parts of the hello. */
	memcpy(tmp, hb, 105);
	memcpy(tmp + 105, ccs, sizeof(ccs));
	memcpy(tmp + 105 + sizeof(ccs), hb + 105, n - 105);
	want_broken(_u, tmp, n + sizeof(ccs), 106);
	memcpy(tmp + 105, alert, sizeof(alert));
	memcpy(tmp + 105 + sizeof(alert), hb + 105, n - 105);
	want_broken(_u, tmp, n + sizeof(alert), 106);
}

TEST(trailing_bytes)
{
	static const uint8_t after[] = {
		0x14, 0x03, 0x03, 0x00, 0x01, 0x01,	/* CCS */
		0x17, 0x03, 0x03, 0x00, 0x02, 0xaa, 0xbb,	/* early data */
	};
	size_t n = build(_u, &(struct tlsgen_opts){ .sni = "a.example" });
	static struct sniff s, r;

	CHECK_INT(sniff(hb, n, &s), SNIFF_MATCH);
	memcpy(hb + n, after, sizeof(after));
	want_match(_u, hb, n, &r);
	for (size_t i = n; i <= n + sizeof(after); i++) {
		CHECK_INT(sniff(hb, i, &r), SNIFF_MATCH);
		CHECK(same_facts(&s, &r));
	}
}

TEST(not_tls)
{
#define S(x) { (const uint8_t *)x, sizeof(x) - 1 }
	static const struct { const uint8_t *b; size_t n; } other[] = {
		S("GET / HTTP/1.1\r\nHost: a.example\r\n\r\n"),
		S("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
		S("SSH-2.0-OpenSSH_9.2\r\n"),
		S("\x80\x2e\x01\x00\x02"),		/* SSLv2 hello */
		S("\x00\x00\x00\x00"),
	};
#undef S
	static struct sniff s;

	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		want_no(_u, other[i].b, other[i].n, 1);
	CHECK_INT(sniff((const uint8_t *)"", 0, &s), SNIFF_MORE);
	CHECK_INT(sniff((const uint8_t *)"\x16", 1, &s), SNIFF_MORE);
}

TEST(versions)
{
	/* A TLS 1.0 hello with no extensions at all. */
	static const uint8_t tls10[] = {
		0x16, 0x03, 0x01, 0x00, 0x2d, 0x01, 0x00, 0x00, 0x29, 0x03, 0x01,
		1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
		1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
		0x00, 0x00, 0x02, 0x00, 0x2f, 0x01, 0x00,
	};
	struct tlsgen_opts o = { .sni = "a.example", .no_grease = true };
	static struct sniff s;
	size_t n, e;

	want_match(_u, tls10, sizeof(tls10), &s);
	CHECK_INT(s.tls_version, 0x0301);
	CHECK(!s.has_sni && !s.bad_sni);
	CHECK_INT(s.hello_len, 0x29);

	n = build(_u, &o);
	CHECK_INT(sniff(hb, n, &s), SNIFF_MATCH);
	CHECK_INT(s.tls_version, 0x0304);
	e = ext_off(hb, 0x002b);			/* 0304 0303 */
	CHECK(e != 0);
	memcpy(hb + e + 5, "\x7f\x1c\x03\x02", 4);	/* draft 28, 1.1 */
	CHECK_INT(sniff(hb, n, &s), SNIFF_MATCH);
	CHECK_INT(s.tls_version, 0x0302);
	memcpy(hb + e + 5, "\x0a\x1a\x03\x01", 4);	/* not GREASE, 1.0 */
	CHECK_INT(sniff(hb, n, &s), SNIFF_MATCH);
	CHECK_INT(s.tls_version, 0x0301);
	memcpy(hb + e + 5, "\x0a\x0a\xfa\xfa", 4);	/* GREASE only */
	CHECK_INT(sniff(hb, n, &s), SNIFF_MATCH);
	CHECK_INT(s.tls_version, 0x0303);		/* legacy_version */
	hb[e + 4] = 2;					/* short list */
	want_broken(_u, hb, n, e + 5);
	hb[e + 4] = 3;					/* odd list */
	want_broken(_u, hb, n, e + 5);
	hb[e + 4] = 0;
	want_broken(_u, hb, n, e + 5);
}

TEST(foreign_fields)
{
	size_t n = build(_u, &(struct tlsgen_opts){ .sni = "a.example" });
	static struct sniff s;

	/* TLS fields are rewritten whatever they held; others untouched. */
	memset(&s, 0xa5, sizeof(s));
	strcpy(s.host, "h");
	strcpy(s.ssh_banner, "b");
	CHECK_INT(proto_tls.identify(hb, n, &s), SNIFF_MATCH);
	CHECK_STR(s.sni, "a.example");
	CHECK_INT(s.n_alpn, 0);
	CHECK(!s.bad_sni && !s.ech && !s.alpn_len && !s.alpn_at);
	CHECK_STR(s.host, "h");
	CHECK_STR(s.ssh_banner, "b");
	CHECK_INT(proto_tls.identify(hb, 10, &s), SNIFF_MORE);
	CHECK(!s.has_sni && !s.hello_len && !s.sni[0]);
	CHECK_STR(s.host, "h");
}

TEST(keywords)
{
	const struct proto *p = proto_find("TLS");
	const struct proto_keyword *k;

	CHECK(p == &proto_tls);
	k = proto_keyword(&proto_tls, "sni", 3);
	CHECK(k && k->field == FIELD_SNI && k->needs_arg);
	k = proto_keyword(&proto_tls, "ALPN", 4);
	CHECK(k && k->field == FIELD_ALPN && k->needs_arg);
	CHECK(!proto_keyword(&proto_tls, "Host", 4));
}

TEST(tlsgen_errors)
{
	uint8_t small[64];

	CHECK_INT(tlsgen_client_hello(&(struct tlsgen_opts){ .alpn = "" },
				      hb, sizeof(hb)), -EINVAL);
	CHECK_INT(tlsgen_client_hello(&(struct tlsgen_opts){ .alpn = "a,,b" },
				      hb, sizeof(hb)), -EINVAL);
	CHECK_INT(tlsgen_client_hello(&(struct tlsgen_opts){ .pad_to = 70000 },
				      hb, sizeof(hb)), -EINVAL);
	CHECK_INT(tlsgen_client_hello(&(struct tlsgen_opts){ .sni = "a" },
				      small, sizeof(small)), -ENOSPC);
}

UNIT_MAIN("tls", real_openssl, real_gnutls, gen_basic, split_records, pq_size,
	  big_hello, alpn_multi, alpn_many, alpn_malformed, ech, no_sni, sni_normalise,
	  sni_invalid, sni_list_shapes, duplicate_ext, ext_lengths,
	  hello_fields, hello_length_mismatch, record_header,
	  record_interleaved, trailing_bytes, not_tls, versions,
	  foreign_fields, keywords, tlsgen_errors)
