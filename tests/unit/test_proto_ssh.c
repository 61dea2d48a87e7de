// SPDX-License-Identifier: GPL-2.0
/* SSH probe tests: identification lines fed at every prefix length, with
 * the prefix length where the verdict settles checked to the byte. */
#include <stdlib.h>
#include <string.h>

#include "probe.h"
#include "proto/proto.h"
#include "unit.h"

extern const struct proto proto_ssh;

/* Captured from OpenSSH_9.2p1 Debian-2+deb12u10: ssh -p PORT 127.0.0.1
 * (it sends its line, then waits for the server's before KEXINIT). */
static const char cap_openssh[] = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10\r\n";

/* The probe on an exact-size heap copy (probe.h): ASan sees over-reads. */
static enum sniff_verdict sniff(const void *b, size_t n, struct sniff *s)
{
	return probe_run(&proto_ssh, b, n, s);
}

static struct sniff s;

/* Feed every prefix of str[0..len) (probe_sweep()): the verdict must be
 * MORE before `at` (0: len) and w from there on, with the same banner;
 * s gets the whole line's. */
static void want_n(struct unit_ctx *_u, const char *str, size_t len,
		   enum sniff_verdict w, size_t at)
{
	int failed = _u->failed;

	probe_sweep(_u, &proto_ssh, str, len, w, at, &s);
	if (_u->failed && !failed)
		snprintf(_u->why + strlen(_u->why),
			 sizeof(_u->why) - strlen(_u->why), " (\"%.60s\")", str);
}

static void want(struct unit_ctx *_u, const char *str, enum sniff_verdict w,
		 size_t at)
{
	want_n(_u, str, strlen(str), w, at);
}

TEST(real_openssh)
{
	want(_u, cap_openssh, SNIFF_MATCH, 0);
	CHECK_STR(s.ssh_banner, "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10");
}

TEST(banner_forms)
{
	want(_u, "SSH-2.0-Go\n", SNIFF_MATCH, 0);		/* bare LF */
	CHECK_STR(s.ssh_banner, "SSH-2.0-Go");
	want(_u, "SSH-1.99-Cisco-1.25\r\n", SNIFF_MATCH, 0);
	CHECK_STR(s.ssh_banner, "SSH-1.99-Cisco-1.25");
	want(_u, "SSH-2.0-JSCH-0.1.54\r\n", SNIFF_MATCH, 0);
	want(_u, "SSH-2.0-PuTTY_Release_0.78\r\n", SNIFF_MATCH, 0);
	want(_u, "SSH-2.0-x comment with spaces\tand tab\r\n", SNIFF_MATCH, 0);
	CHECK_STR(s.ssh_banner, "SSH-2.0-x comment with spaces\tand tab");
	want(_u, "SSH-2.0-caf\xc3\xa9\r\n", SNIFF_MATCH, 0);
}

TEST(trailing_bytes)
{
	static const char in[] = "SSH-2.0-paramiko_3.1.0\r\n\0\0\x01\x2c\x0a\x14";

	/* What follows the line (binary packets) does not change a thing. */
	want_n(_u, in, sizeof(in) - 1, SNIFF_MATCH, 24);
	CHECK_STR(s.ssh_banner, "SSH-2.0-paramiko_3.1.0");
}

TEST(line_length)
{
	char line[400];

	/* 255 bytes with CR LF is the most RFC 4253 allows... */
	memcpy(line, "SSH-2.0-", 8);
	memset(line + 8, 'x', 245);
	strcpy(line + 253, "\r\n");
	want(_u, line, SNIFF_MATCH, 0);
	CHECK_INT(strlen(s.ssh_banner), 253);
	strcpy(line + 254, "\n");			/* 254 + LF */
	line[253] = 'x';
	want(_u, line, SNIFF_MATCH, 0);
	CHECK_INT(strlen(s.ssh_banner), 254);
	/* ...one more is refused as soon as the 255th byte is not LF. */
	strcpy(line + 253, "xx\r\n");
	want(_u, line, SNIFF_NO, 255);
	memset(line + 8, 'x', 300);
	line[308] = '\0';
	want(_u, line, SNIFF_NO, 255);
	CHECK_INT(sniff(line, 254, &s), SNIFF_MORE);
}

TEST(malformed)
{
	want(_u, "ssh-2.0-x\r\n", SNIFF_NO, 1);
	want(_u, "SSX-2.0-x\r\n", SNIFF_NO, 3);
	want(_u, "SSH_2.0-x\r\n", SNIFF_NO, 4);
	want(_u, "SSH-\r\n", SNIFF_NO, 6);
	want(_u, "SSH--x\r\n", SNIFF_NO, 5);		/* no protoversion */
	want(_u, "SSH-x.0-y\r\n", SNIFF_NO, 5);
	want(_u, "SSH-2.0\r\n", SNIFF_NO, 9);		/* no softwareversion */
	want(_u, "SSH-2.0-\r\n", SNIFF_NO, 10);
	want(_u, "SSH-2.0-\n", SNIFF_NO, 9);
	want(_u, "SSH-2.0 x\r\n", SNIFF_NO, 8);
	want(_u, "SSH-2.0-x\ry\r\n", SNIFF_NO, 11);	/* CR not before LF */
	want(_u, "SSH-2.0-x\r\r\n", SNIFF_NO, 11);
	want(_u, "SSH-2.0-x\x1b[2J\r\n", SNIFF_NO, 10);	/* terminal escape */
	want(_u, "SSH-2.0-x\x7f\r\n", SNIFF_NO, 10);
	want_n(_u, "SSH-2.0-x\0y\r\n", 13, SNIFF_NO, 10);
}

TEST(not_ssh)
{
	static const uint8_t tls[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01 };

	want_n(_u, (const char *)tls, sizeof(tls), SNIFF_NO, 1);
	want(_u, "GET / HTTP/1.1\r\n\r\n", SNIFF_NO, 1);
	want(_u, "\r\nSSH-2.0-x\r\n", SNIFF_NO, 1);
	CHECK_INT(sniff("", 0, &s), SNIFF_MORE);
	CHECK_INT(sniff("SSH-2.0-x", 9, &s), SNIFF_MORE);
}

TEST(foreign_fields)
{
	memset(&s, 0xa5, sizeof(s));
	strcpy(s.sni, "tls");
	strcpy(s.host, "h");
	CHECK_INT(proto_ssh.identify((const uint8_t *)cap_openssh,
				     strlen(cap_openssh), &s), SNIFF_MATCH);
	CHECK_STR(s.ssh_banner, "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10");
	CHECK_STR(s.sni, "tls");
	CHECK_STR(s.host, "h");
	CHECK_INT(proto_ssh.identify((const uint8_t *)cap_openssh, 5, &s),
		  SNIFF_MORE);
	CHECK_STR(s.ssh_banner, "");
}

TEST(keywords)
{
	const struct proto_keyword *k = proto_keyword(&proto_ssh, "ssh", 3);

	CHECK(proto_find("SSH") == &proto_ssh);
	CHECK(k && k->field == FIELD_SSH_BANNER && !k->needs_arg);
	CHECK(!proto_keyword(&proto_ssh, "Host", 4));
}

UNIT_MAIN("ssh", real_openssh, banner_forms, trailing_bytes, line_length,
	  malformed, not_ssh, foreign_fields, keywords)
