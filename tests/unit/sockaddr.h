/* SPDX-License-Identifier: GPL-2.0 */
/* A socket address for a test, from text: "192.0.2.1" gives AF_INET, any
 * text with a ':' ("2001:db8::1", "::ffff:10.0.0.1") AF_INET6; port in
 * host byte order.  The rest of the storage is zero. */
#ifndef PT_TEST_SOCKADDR_H
#define PT_TEST_SOCKADDR_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static inline struct sockaddr_storage sockaddr_of(const char *ip, int port)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *s6 = (void *)&ss;

		s6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, ip, &s6->sin6_addr);
		s6->sin6_port = htons(port);
	} else {
		struct sockaddr_in *s4 = (void *)&ss;

		s4->sin_family = AF_INET;
		inet_pton(AF_INET, ip, &s4->sin_addr);
		s4->sin_port = htons(port);
	}
	return ss;
}

#endif /* PT_TEST_SOCKADDR_H */
