// SPDX-License-Identifier: GPL-2.0
/* Datagram sockets in batches (see dgram.h). */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "datapath/dgram.h"

/* A busy listening socket takes bursts from many clients between two
 * rounds of the loop: more than the default 208 KiB of queue. */
#define DGRAM_RCVBUF (4 << 20)

int dgram_batch_init(struct dgram_batch *b)
{
	memset(b, 0, sizeof(*b));
	b->buf = malloc((size_t)DGRAM_BATCH * DGRAM_BUF);
	return b->buf ? 0 : -ENOMEM;
}

void dgram_batch_free(struct dgram_batch *b)
{
	free(b->buf);
	b->buf = NULL;
}

int dgram_listen(const struct sockaddr *addr, socklen_t len, bool v6only, int *out)
{
	int one = 1, fd, err;

	fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))
		goto fail;
	if (addr->sa_family == AF_INET6) {
		int v = v6only;

		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v)))
			goto fail;
	}
	if (addr_is_any(addr)) {
		/* An IPv4 datagram on a dual-stack socket reports IPV6_PKTINFO
		 * with a v4-mapped address, and takes one back. */
		if (addr->sa_family == AF_INET6 ?
		    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) :
		    setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)))
			goto fail;
	}
	sock_set_buf(fd, true, DGRAM_RCVBUF);
	if (bind(fd, addr, len))
		goto fail;
	*out = fd;
	return 0;
fail:
	err = -errno;
	close(fd);
	return err;
}

int dgram_connect(const struct sockaddr *addr, socklen_t len, int *out)
{
	int fd, err;

	fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, addr, len)) {
		err = -errno;
		close(fd);
		return err;
	}
	*out = fd;
	return 0;
}

int dgram_recv(int fd, struct dgram_batch *b, bool with_addr)
{
	int n;

	for (int i = 0; i < DGRAM_BATCH; i++) {
		struct msghdr *h = &b->msg[i].msg_hdr;

		b->iov[i].iov_base = dgram_data(b, i);
		b->iov[i].iov_len = DGRAM_BUF;
		h->msg_iov = &b->iov[i];
		h->msg_iovlen = 1;
		h->msg_name = with_addr ? &b->peer[i] : NULL;
		h->msg_namelen = with_addr ? sizeof(b->peer[i]) : 0;
		h->msg_control = with_addr ? b->ctl[i] : NULL;
		h->msg_controllen = with_addr ? DGRAM_CTL : 0;
		h->msg_flags = 0;
	}
	do
		n = recvmmsg(fd, b->msg, DGRAM_BATCH, MSG_DONTWAIT, NULL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

bool dgram_local(const struct dgram_batch *b, int i, union paddr *local)
{
	const struct msghdr *h = &b->msg[i].msg_hdr;

	if (!h->msg_control)
		return false;
	for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)h); c;
	     c = CMSG_NXTHDR((struct msghdr *)h, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			memset(local, 0, sizeof(*local));
			local->v4.sin_family = AF_INET;
			local->v4.sin_addr = pi.ipi_addr;
			return true;
		}
		if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			memset(local, 0, sizeof(*local));
			local->v6.sin6_family = AF_INET6;
			local->v6.sin6_addr = pi.ipi6_addr;
			return true;
		}
	}
	return false;
}

size_t dgram_ctl_from(uint8_t *ctl, int family, const union paddr *local)
{
	struct msghdr h = { .msg_control = ctl, .msg_controllen = DGRAM_CTL };
	struct cmsghdr *c;

	memset(ctl, 0, DGRAM_CTL);
	c = CMSG_FIRSTHDR(&h);
	if (family == AF_INET6) {
		struct in6_pktinfo pi = { 0 };

		/* An IPv4 local address on a dual-stack socket: v4-mapped. */
		if (local->sa.sa_family == AF_INET) {
			pi.ipi6_addr.s6_addr[10] = 0xff;
			pi.ipi6_addr.s6_addr[11] = 0xff;
			memcpy(&pi.ipi6_addr.s6_addr[12], &local->v4.sin_addr, 4);
		} else {
			pi.ipi6_addr = local->v6.sin6_addr;
		}
		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		return CMSG_SPACE(sizeof(pi));
	} else {
		struct in_pktinfo pi = { 0 };

		pi.ipi_spec_dst = local->v4.sin_addr;
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		return CMSG_SPACE(sizeof(pi));
	}
}

int dgram_send(int fd, struct mmsghdr *msgs, int n, int *err)
{
	int i = 0, sent = 0;

	*err = 0;
	for (int k = 0; k < n; k++)
		msgs[k].msg_len = 0;
	while (i < n) {
		int r = sendmmsg(fd, msgs + i, n - i, MSG_DONTWAIT);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			*err = errno;
			if (errno == EAGAIN || errno == ENOBUFS)
				break;	/* full: the rest is dropped */
			/* Only that datagram is lost (an ICMP error of an
			 * earlier one, reported on a connected socket, fails
			 * the next send): the others go on. */
			i++;
			continue;
		}
		i += r;
		sent += r;
	}
	return sent;
}
