// SPDX-License-Identifier: GPL-2.0
/* Upstream choice without a network: the order up_plan gives the targets
 * for each balance mode, retry through up_next / up_result, and passive
 * health moving a failing target last for its cooldown. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "config/config.h"
#include "sockaddr.h"
#include "unit.h"
#include "conn/upstream.h"
#include "base/util.h"

static char err[4096];

/* A config whose first rule forwards to 127.0.0.1:1..n with OPTS. */
static struct config *load(struct unit_ctx *_u, int n, const char *opts)
{
	char json[2048], list[512] = "";
	size_t k = 0;
	struct config *c;

	for (int i = 1; i <= n; i++)
		k += snprintf(list + k, sizeof(list) - k, "%s\"127.0.0.1:%d\"", i > 1 ? "," : "", i);
	snprintf(json, sizeof(json), "{\"servers\":{\"127.0.0.1:443\":{\"TLS\":{\"SNI a\":"
		 "{\"action\":\"FORWARD\",\"to_addr\":[%s]%s%s}}}}}", list, *opts ? "," : "", opts);
	c = config_parse(json, strlen(json), "t.json", NULL, 0, err, sizeof(err));
	if (!c)
		FAILF("did not load: %.300s", err);
	return c;
}

static const struct upstream *up(const struct config *c)
{
	return &c->listeners[0].groups[0].rules[0].up;
}

/* The ports of the targets in the order planned, e.g. "231". */
static const char *order(const struct upstream *u, const char *ip, uint64_t now)
{
	static char out[UP_MAX_TARGETS + 1];
	struct sockaddr_storage cl = sockaddr_of(ip, 0);
	struct up_try t;

	up_plan(&t, u, (struct sockaddr *)&cl, now);
	for (int i = 0; i < t.n; i++)
		out[i] = (char)('0' + u->t[t.order[i]].port);
	out[t.n] = '\0';
	return out;
}

TEST(roundrobin)
{
	struct config *c = load(_u, 3, "");

	if (!c)
		return;
	CHECK_STR(order(up(c), "10.0.0.1", 0), "123");
	CHECK_STR(order(up(c), "10.0.0.1", 0), "231");
	CHECK_STR(order(up(c), "10.0.0.1", 0), "312");
	CHECK_STR(order(up(c), "10.0.0.1", 0), "123");
	config_free(c);
}

TEST(first)
{
	struct config *c = load(_u, 3, "\"balance\":\"first\"");

	if (!c)
		return;
	CHECK_STR(order(up(c), "10.0.0.1", 0), "123");
	CHECK_STR(order(up(c), "10.0.0.1", 0), "123");
	config_free(c);
}

TEST(source)
{
	struct config *c = load(_u, 5, "\"balance\":\"source\"");
	char a[8], b[8];
	bool differ = false;

	if (!c)
		return;
	for (int i = 1; i < 50; i++) {
		char ip[32];

		snprintf(ip, sizeof(ip), "10.0.0.%d", i);
		snprintf(a, sizeof(a), "%s", order(up(c), ip, 0));
		snprintf(b, sizeof(b), "%s", order(up(c), ip, 0));
		CHECK_STR(a, b);
		if (strcmp(a, order(up(c), "10.0.0.1", 0)))
			differ = true;
	}
	CHECK(differ);	/* clients spread over the targets */
	config_free(c);
}

TEST(leastconn)
{
	struct config *c = load(_u, 3, "\"balance\":\"leastconn\"");
	struct sockaddr_storage cl = sockaddr_of("10.0.0.1", 0), sa;
	struct up_try t1, t2;

	if (!c)
		return;
	/* connect to the first planned target and keep it open */
	up_plan(&t1, up(c), (struct sockaddr *)&cl, 0);
	CHECK_INT(up_next(&t1, &sa), 1);
	up_result(&t1, 0, 0);
	for (int i = 0; i < 6; i++) {
		up_plan(&t2, up(c), (struct sockaddr *)&cl, 0);
		CHECK(t2.order[2] == t1.order[0]);	/* the busy one last */
	}
	up_done(&t1);
	config_free(c);
}

/* Refused twice in a row: tried last for the cooldown, then first again. */
TEST(health_cooldown)
{
	struct config *c = load(_u, 2, "\"balance\":\"first\",\"health\":{\"fails\":2,\"cooldown\":\"10s\"}");
	struct sockaddr_storage cl = sockaddr_of("10.0.0.1", 0), sa;
	struct up_try t;

	if (!c)
		return;
	for (int k = 0; k < 2; k++) {
		up_plan(&t, up(c), (struct sockaddr *)&cl, 1000);
		CHECK_INT(up_next(&t, &sa), 1);
		CHECK_INT(addr_port((struct sockaddr *)&sa), 1);
		up_result(&t, ECONNREFUSED, 1000);
		CHECK_INT(up_next(&t, &sa), 1);		/* retry on the next */
		CHECK_INT(addr_port((struct sockaddr *)&sa), 2);
		up_result(&t, 0, 1000);
		up_done(&t);
	}
	CHECK_STR(order(up(c), "10.0.0.1", 2000), "21");
	CHECK_STR(order(up(c), "10.0.0.1", 11001), "12");
	config_free(c);
}

/* Our own errors (no permission, no memory) are no strike. */
TEST(health_ignores_local_errors)
{
	struct config *c = load(_u, 2, "\"balance\":\"first\",\"health\":{\"fails\":1}");
	struct sockaddr_storage cl = sockaddr_of("10.0.0.1", 0), sa;
	struct up_try t;

	if (!c)
		return;
	up_plan(&t, up(c), (struct sockaddr *)&cl, 0);
	up_next(&t, &sa);
	up_result(&t, EPERM, 0);
	CHECK_STR(order(up(c), "10.0.0.1", 1), "12");
	config_free(c);
}

TEST(all_fail)
{
	struct config *c = load(_u, 2, "");
	struct sockaddr_storage cl = sockaddr_of("10.0.0.1", 0), sa;
	struct up_try t;

	if (!c)
		return;
	up_plan(&t, up(c), (struct sockaddr *)&cl, 0);
	CHECK_INT(up_next(&t, &sa), 1);
	up_result(&t, ECONNREFUSED, 0);
	CHECK_INT(up_next(&t, &sa), 1);
	up_result(&t, ETIMEDOUT, 0);
	CHECK_INT(up_next(&t, &sa), -ETIMEDOUT);
	up_done(&t);
	config_free(c);
}

/* transparent with an IPv4 client and an IPv6 target: refused at once. */
TEST(transparent_family)
{
	struct config *c = load(_u, 1, "\"transparent\":true");
	struct sockaddr_storage cl = sockaddr_of("10.0.0.1", 0), sa;
	struct sockaddr_in6 *s6 = (void *)&sa;
	int fd = -1;

	if (!c)
		return;
	memset(&sa, 0, sizeof(sa));
	s6->sin6_family = AF_INET6;
	s6->sin6_addr = in6addr_loopback;
	s6->sin6_port = htons(9);
	CHECK_INT(up_connect(up(c), &sa, (struct sockaddr *)&cl, &fd), -EAFNOSUPPORT);
	CHECK_INT(fd, -1);
	config_free(c);
}

/* A live upgrade's kept connect: its address goes first, the rest keep
 * the order balancing gave; an address no target is written as changes
 * nothing. */
TEST(prefer_kept_address)
{
	struct config *c = load(_u, 3, "");
	struct sockaddr_storage cl = sockaddr_of("10.0.0.1", 0);
	struct sockaddr_storage k3 = sockaddr_of("127.0.0.1", 3), k9 = sockaddr_of("127.0.0.1", 9);
	struct sockaddr_storage k3b = sockaddr_of("127.0.0.2", 3);
	union paddr p3, p9, p3b;
	struct up_try t;
	char out[4];

	if (!c)
		return;
	paddr_set(&p3, &k3);
	paddr_set(&p9, &k9);
	paddr_set(&p3b, &k3b);
	up_plan(&t, up(c), (struct sockaddr *)&cl, 0);	/* 123 */
	up_prefer(&t, &p3);
	for (int i = 0; i < 3; i++)
		out[i] = (char)('0' + up(c)->t[t.order[i]].port);
	out[3] = '\0';
	CHECK_STR(out, "312");
	up_plan(&t, up(c), (struct sockaddr *)&cl, 0);	/* 231 */
	up_prefer(&t, &p9);
	up_prefer(&t, &p3b);
	for (int i = 0; i < 3; i++)
		out[i] = (char)('0' + up(c)->t[t.order[i]].port);
	CHECK_STR(out, "231");
	config_free(c);
}

UNIT_MAIN("upstream", roundrobin, first, source, leastconn, health_cooldown,
	  health_ignores_local_errors, all_fail, transparent_family, prefer_kept_address)
