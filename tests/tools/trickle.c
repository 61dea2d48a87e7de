// SPDX-License-Identifier: GPL-2.0
/* trickle: send a file to a TCP server in tiny segments, the way a slow or
 * hostile client does, then read the answer to EOF.
 *
 *   trickle --connect ADDR:PORT --file F [--chunk N] [--gap-us US]
 *           [--timeout-s S]
 *
 * TCP_NODELAY, one send(2) of N bytes (default 1) each, US microseconds
 * apart (default 0); then SHUT_WR and read until EOF.  Prints one line:
 *   sent=N recv=N ms=N result=ok|error:WHY
 * Exit status 0 iff result=ok. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void usage(void)
{
	fprintf(stderr, "usage: trickle --connect ADDR:PORT --file F [--chunk N] [--gap-us US] [--timeout-s S]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "connect", required_argument, NULL, 'c' },
		{ "file", required_argument, NULL, 'f' },
		{ "chunk", required_argument, NULL, 'n' },
		{ "gap-us", required_argument, NULL, 'g' },
		{ "timeout-s", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const char *addr = NULL, *file = NULL, *why = "ok";
	size_t chunk = 1, len = 0, sent = 0, recvd = 0;
	long gap = 0;
	double timeout = 30, t0;
	char host[256], *colon, buf[65536];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	unsigned char *data;
	FILE *f;
	int c, fd, one = 1;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': addr = optarg; break;
		case 'f': file = optarg; break;
		case 'n': chunk = strtoul(optarg, NULL, 10); break;
		case 'g': gap = strtol(optarg, NULL, 10); break;
		case 't': timeout = strtod(optarg, NULL); break;
		default: usage();
		}
	}
	if (!addr || !file || !chunk || strlen(addr) >= sizeof(host))
		usage();
	strcpy(host, addr[0] == '[' ? addr + 1 : addr);
	colon = strrchr(host, ':');
	if (!colon)
		usage();
	*colon = '\0';
	if (addr[0] == '[' && colon > host && colon[-1] == ']')
		colon[-1] = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &ai)) {
		fprintf(stderr, "trickle: cannot resolve %s\n", addr);
		return 2;
	}
	f = fopen(file, "rb");
	data = malloc(1 << 24);
	if (!f || !data) {
		fprintf(stderr, "trickle: %s: %s\n", file, strerror(errno));
		return 2;
	}
	len = fread(data, 1, 1 << 24, f);
	fclose(f);
	t0 = now_s();
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen)) {
		printf("sent=0 recv=0 ms=0 result=error:connect-%s\n", strerror(errno));
		return 1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	while (sent < len) {
		size_t k = len - sent < chunk ? len - sent : chunk;
		ssize_t w = send(fd, data + sent, k, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			why = "error:send";
			break;
		}
		sent += w;
		if (gap)
			usleep(gap);
		if (now_s() - t0 > timeout) {
			why = "error:timeout";
			break;
		}
	}
	shutdown(fd, SHUT_WR);
	while (!strcmp(why, "ok")) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left = (int)((timeout - (now_s() - t0)) * 1000);
		ssize_t r;

		if (left <= 0 || poll(&p, 1, left) <= 0) {
			why = "error:timeout";
			break;
		}
		r = recv(fd, buf, sizeof(buf), 0);
		if (r < 0) {
			why = errno == ECONNRESET ? "error:recv-ECONNRESET" : "error:recv";
			break;
		}
		if (!r)
			break;
		recvd += r;
	}
	printf("sent=%zu recv=%zu ms=%ld result=%s\n", sent, recvd,
	       (long)((now_s() - t0) * 1000), why);
	close(fd);
	freeaddrinfo(ai);
	free(data);
	return strcmp(why, "ok") != 0;
}
