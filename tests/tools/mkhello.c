// SPDX-License-Identifier: GPL-2.0
/* mkhello: write one TLS ClientHello to stdout, so a shell test can make it
 * the first bytes of a connection (mkhello --sni a.example | nc ...).
 *
 *   mkhello [--sni NAME] [--alpn a,b] [--ech] [--pad-to N] [--record-size N]
 *
 * Exits 0 on success, 1 on a write error, 2 on bad arguments. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tlsgen.h"

static void usage(void)
{
	fprintf(stderr, "usage: mkhello [--sni NAME] [--alpn a,b] [--ech] "
			"[--pad-to N] [--record-size N]\n");
	exit(2);
}

/* Strict size argument: digits only, at most 1 MiB. */
static size_t parse_size(const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v > (1UL << 20))
		usage();
	return v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sni", required_argument, NULL, 's' },
		{ "alpn", required_argument, NULL, 'a' },
		{ "ech", no_argument, NULL, 'e' },
		{ "pad-to", required_argument, NULL, 'p' },
		{ "record-size", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct tlsgen_opts o = { 0 };
	/* 1-byte records of a 64 KiB hello: six bytes per hello byte. */
	size_t cap = 6 * 70000, off = 0;
	uint8_t *buf;
	ssize_t n;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': o.sni = optarg; break;
		case 'a': o.alpn = optarg; break;
		case 'e': o.ech = true; break;
		case 'p': o.pad_to = parse_size(optarg); break;
		case 'r': o.record_size = parse_size(optarg); break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();

	buf = malloc(cap);
	if (!buf)
		return 1;
	n = tlsgen_client_hello(&o, buf, cap);
	if (n < 0) {
		fprintf(stderr, "mkhello: %s\n", strerror((int)-n));
		return 2;
	}
	while (off < (size_t)n) {
		ssize_t k = write(STDOUT_FILENO, buf + off, n - off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			perror("mkhello: write");
			return 1;
		}
		off += k;
	}
	free(buf);
	return 0;
}
