// SPDX-License-Identifier: GPL-2.0
/* The byte counts behind the kernel path's FIN and thaw decisions
 * (user/datapath/kpath.c): kpath_drained() says a direction's source has
 * nothing left that its target lacks, kpath_backlog() how much the
 * verdict redirected that the target has not taken yet.  Both compare
 * TCP counters of real loopback sockets with the snapshot taken at the
 * hand-off.  The quick count of bytes written into the target (acked +
 * SIOCOUTQ, two reads) comes out low when an ACK lands between its
 * reads, possibly below the snapshot's exact count: the difference must
 * then count as 0 (the safe side: "not yet", a larger backlog), never
 * wrap to ~2^64 and read as "all delivered" (found in a soak: "drain
 * check: 18446744073709494592 bytes delivered but 38208 received", the
 * FIN then passed on early).  The race itself cannot be scheduled from
 * here; a snapshot above the count gives the same arithmetic. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "datapath/kpath.h"
#include "unit.h"

/* A connected loopback TCP pair: p[0] connected to p[1] (accepted). */
static int tcp_pair(int p[2])
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	p[0] = p[1] = -1;
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &al))
		goto fail;
	p[0] = socket(AF_INET, SOCK_STREAM, 0);
	if (p[0] < 0 || connect(p[0], (struct sockaddr *)&a, sizeof(a)))
		goto fail;
	p[1] = accept(l, NULL, NULL);
	if (p[1] < 0)
		goto fail;
	setsockopt(p[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(p[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	close(l);
	return 0;
fail:
	if (l >= 0)
		close(l);
	if (p[0] >= 0)
		close(p[0]);
	p[0] = -1;
	return -1;
}

static void close_pair(int p[2])
{
	for (int i = 0; i < 2; i++)
		if (p[i] >= 0)
			close(p[i]);
}

/* A source that received n bytes and then a FIN (src[1] is the source,
 * its peer src[0] the client), and a target that was written m bytes
 * (dst[0]; its peer dst[1] reads nothing, the bytes are acked anyway).
 * tx: the target's count before them (a connecting socket's
 * tcpi_bytes_acked counts its SYN; a snapshot is taken the same way). */
struct rig {
	int src[2], dst[2];
	uint64_t tx;
};

static int rig_up(struct unit_ctx *_u, struct rig *r, size_t n, size_t m)
{
	static char bytes[4096];

	if (tcp_pair(r->src) || tcp_pair(r->dst) || sock_bytes_acked(r->dst[0], &r->tx)) {
		FAILF("loopback pairs: %s", strerror(errno));
		return -1;
	}
	if (send(r->src[0], bytes, n, 0) != (ssize_t)n || shutdown(r->src[0], SHUT_WR) ||
	    (m && send(r->dst[0], bytes, m, 0) != (ssize_t)m)) {
		FAILF("send: %s", strerror(errno));
		return -1;
	}
	/* The FIN and the ACKs, on loopback within a few ms at most. */
	for (int i = 0; i < 100; i++) {
		struct pollfd pf = { .fd = r->src[1], .events = POLLRDHUP };

		if (poll(&pf, 1, 10) == 1 && (pf.revents & POLLRDHUP))
			return 0;
	}
	FAILF("no FIN at the source");
	return -1;
}

static void rig_down(struct rig *r)
{
	close_pair(r->src);
	close_pair(r->dst);
}

/* kpath_drained() over a rig of n received and m written bytes, with a
 * snapshot of rx0 bytes read before the hand-off and the target's count
 * tx_over above the rig's (-1000 if the rig could not be set up: its
 * failure is the one reported). */
static int drained(struct unit_ctx *_u, size_t n, size_t m, uint64_t rx0, uint64_t tx_over)
{
	struct ksnap s = { .rx0 = rx0 };
	struct rig r;
	int ret = -1000;

	if (!rig_up(_u, &r, n, m)) {
		s.tx0 = r.tx + tx_over;
		ret = kpath_drained(r.src[1], r.dst[0], &s, true, false);
	}
	rig_down(&r);
	return ret;
}

/* All received bytes in the target: drained; fewer: not yet. */
TEST(drained_exact)
{
	CHECK_INT(drained(_u, 1000, 1000, 0, 0), 1);
	CHECK_INT(drained(_u, 1000, 990, 0, 0), 0);
}

/* Bytes before the snapshot count on neither side. */
TEST(drained_after_snapshot)
{
	CHECK_INT(drained(_u, 1000, 900, 300, 200), 1);
	CHECK_INT(drained(_u, 1000, 899, 300, 200), 0);
}

/* A count below the snapshot's (what a raced quick count gives) is
 * nothing delivered yet, not ~2^64 bytes. */
TEST(count_below_snapshot_is_not_drained)
{
	CHECK_INT(drained(_u, 1000, 100, 0, 5000), 0);
	/* Nothing received since the snapshot: nothing to wait for. */
	CHECK_INT(drained(_u, 0, 100, 0, 5000), 1);
}

TEST(backlog)
{
	struct ksnap s = { .rx0 = 0 };
	uint64_t b = 12345;
	struct rig r;

	if (!rig_up(_u, &r, 10, 1000)) {
		s.tx0 = r.tx + 100;
		/* 900 written since the snapshot, 1500 redirected: 600 wait. */
		CHECK_INT(kpath_backlog(r.dst[0], &s, 1500, &b), 0);
		CHECK_INT(b, 600);
		CHECK_INT(kpath_backlog(r.dst[0], &s, 900, &b), 0);
		CHECK_INT(b, 0);
		/* Below the snapshot: all the redirected bytes still wait
		 * (a backlog of 0 would let splice start before them). */
		s.tx0 = r.tx + 5000;
		CHECK_INT(kpath_backlog(r.dst[0], &s, 1500, &b), 0);
		CHECK_INT(b, 1500);
	}
	rig_down(&r);
}

UNIT_MAIN("kpath_count", drained_exact, drained_after_snapshot,
	  count_below_snapshot_is_not_drained, backlog)
