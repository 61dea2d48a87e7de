// SPDX-License-Identifier: GPL-2.0
/* The UDP kernel path's life: load, attach (tcx), self-test, the flow
 * entries, detach (see udpk.h and bpf/udpfwd.bpf.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "base/log.h"
#include "datapath/udpk.h"
#include "udpfwd.skel.h"

#define UDPK_MAX_IF	64
#define TCX_INGRESS	46	/* BPF_TCX_INGRESS: kernel 6.6; libbpf 1.1 lacks the name */

static struct {
	struct udpfwd_bpf *skel;
	int map;
	int links[UDPK_MAX_IF];
	int nlinks;
	char ifaces[256];
} U = { .map = -1 };

bool udpk_ready(void)
{
	return U.skel != NULL;
}

const char *udpk_ifaces(void)
{
	return U.ifaces;
}

static void key_of(struct udpk_key *k, const union paddr *src, const union paddr *dst)
{
	memset(k, 0, sizeof(*k));
	if (src->sa.sa_family == AF_INET6) {
		k->family = 6;
		k->sport = src->v6.sin6_port;
		k->dport = dst->v6.sin6_port;
		memcpy(k->saddr, &src->v6.sin6_addr, 16);
		memcpy(k->daddr, &dst->v6.sin6_addr, 16);
	} else {
		k->family = 4;
		k->sport = src->v4.sin_port;
		k->dport = dst->v4.sin_port;
		memcpy(k->saddr, &src->v4.sin_addr, 4);
		memcpy(k->daddr, &dst->v4.sin_addr, 4);
	}
}

/* The interface the kernel would send src -> dst from (RTM_GETROUTE, as
 * `ip route get DST from SRC`): lo for a local destination.  The
 * program's bpf_redirect_neigh() then does the route and neighbour. */
static int route_oif(const union paddr *src, const union paddr *dst)
{
	struct {
		struct nlmsghdr nh;
		struct rtmsg rt;
		char attrs[64];
	} req = { 0 };
	char buf[4096];
	bool v6 = dst->sa.sa_family == AF_INET6;
	size_t alen = v6 ? 16 : 4;
	struct rtattr *a;
	int fd, oif = -ENETUNREACH;
	ssize_t n;

	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
	req.nh.nlmsg_type = RTM_GETROUTE;
	req.nh.nlmsg_flags = NLM_F_REQUEST;
	req.rt.rtm_family = v6 ? AF_INET6 : AF_INET;
	req.rt.rtm_dst_len = req.rt.rtm_src_len = (unsigned char)(alen * 8);
	for (int i = 0; i < 2; i++) {
		const union paddr *p = i ? src : dst;

		a = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.nh.nlmsg_len));
		a->rta_type = i ? RTA_SRC : RTA_DST;
		a->rta_len = (unsigned short)RTA_LENGTH(alen);
		memcpy(RTA_DATA(a), v6 ? (const void *)&p->v6.sin6_addr : (const void *)&p->v4.sin_addr, alen);
		req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(a->rta_len);
	}
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (send(fd, &req, req.nh.nlmsg_len, 0) < 0) {
		oif = -errno;
		goto out;
	}
	n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0) {
		oif = -errno;
		goto out;
	}
	for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n);
	     nh = NLMSG_NEXT(nh, n)) {
		struct rtmsg *rt = NLMSG_DATA(nh);
		int len;

		if (nh->nlmsg_type == NLMSG_ERROR) {
			struct nlmsgerr *e = NLMSG_DATA(nh);

			oif = e->error ? e->error : -ENETUNREACH;
			break;
		}
		if (nh->nlmsg_type != RTM_NEWROUTE)
			continue;
		len = (int)RTM_PAYLOAD(nh);
		for (a = RTM_RTA(rt); RTA_OK(a, len); a = RTA_NEXT(a, len))
			if (a->rta_type == RTA_OIF)
				memcpy(&oif, RTA_DATA(a), sizeof(oif));
		break;
	}
out:
	close(fd);
	return oif;
}

static void val_of(struct udpk_val *v, const union paddr *src, const union paddr *dst, int oif)
{
	struct udpk_key k;

	key_of(&k, src, dst);
	memset(v, 0, sizeof(*v));
	memcpy(v->saddr, k.saddr, 16);
	memcpy(v->daddr, k.daddr, 16);
	v->sport = k.sport;
	v->dport = k.dport;
	v->oif = (uint32_t)oif;
}

int udpk_add(struct udpk_flow *kf, const union paddr *client, const union paddr *listen,
	     const union paddr *sock, const union paddr *up, const uint8_t *scid, size_t scid_len)
{
	struct udpk_val v[2];
	int oif[2];

	if (!U.skel)
		return -ENODEV;
	if (client->sa.sa_family != up->sa.sa_family)
		return -EAFNOSUPPORT;	/* no 4 <-> 6 translation */
	oif[0] = route_oif(sock, up);
	oif[1] = route_oif(listen, client);
	if (oif[0] < 0 || oif[1] < 0)
		return oif[0] < 0 ? oif[0] : oif[1];
	key_of(&kf->k[0], client, listen);
	key_of(&kf->k[1], up, sock);
	val_of(&v[0], sock, up, oif[0]);
	val_of(&v[1], listen, client, oif[1]);
	if (scid_len > UDPK_CID_MAX)
		return -EINVAL;
	v[0].is_client = 1;
	v[0].scid_len = (uint8_t)scid_len;
	if (scid_len)
		memcpy(v[0].scid, scid, scid_len);
	if (bpf_map_update_elem(U.map, &kf->k[0], &v[0], BPF_NOEXIST))
		return -errno;
	if (bpf_map_update_elem(U.map, &kf->k[1], &v[1], BPF_NOEXIST)) {
		int err = -errno;

		bpf_map_delete_elem(U.map, &kf->k[0]);
		return err;
	}
	return 0;
}

static uint64_t mono_ms(uint64_t ns)
{
	return ns / 1000000;
}

int udpk_read(const struct udpk_flow *kf, struct udpk_count *c)
{
	memset(c, 0, sizeof(*c));
	for (int i = 0; i < 2; i++) {
		struct udpk_val v;

		if (bpf_map_lookup_elem(U.map, &kf->k[i], &v))
			return -errno;
		c->packets[i] = v.packets;
		c->bytes[i] = v.bytes;
		if (v.last_ns && mono_ms(v.last_ns) > c->last_ms)
			c->last_ms = mono_ms(v.last_ns);
	}
	return 0;
}

void udpk_del(const struct udpk_flow *kf, struct udpk_count *c)
{
	memset(c, 0, sizeof(*c));
	for (int i = 0; i < 2; i++) {
		struct udpk_val v;

		/* Removed and read at once: nothing counted after the read. */
		if (bpf_map_lookup_and_delete_elem(U.map, &kf->k[i], &v))
			continue;
		c->packets[i] = v.packets;
		c->bytes[i] = v.bytes;
		if (v.last_ns && mono_ms(v.last_ns) > c->last_ms)
			c->last_ms = mono_ms(v.last_ns);
	}
}

/* ---- the self-test ----------------------------------------------------------- */

static int udp_sock(union paddr *a)
{
	socklen_t len = sizeof(*a);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	memset(a, 0, sizeof(*a));
	a->v4.sin_family = AF_INET;
	a->v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -errno;
	if (bind(fd, &a->sa, sizeof(a->v4)) || getsockname(fd, &a->sa, &len)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* Wait for one datagram: its text and sender. */
static int recv_one(int fd, char *buf, size_t len, union paddr *from)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	socklen_t flen = sizeof(*from);
	ssize_t n;

	if (poll(&p, 1, 2000) != 1)
		return -ETIMEDOUT;
	n = recvfrom(fd, buf, len, MSG_DONTWAIT, &from->sa, &flen);
	return n < 0 ? -errno : (int)n;
}

static bool same(const union paddr *a, const union paddr *b)
{
	return a->v4.sin_port == b->v4.sin_port && a->v4.sin_addr.s_addr == b->v4.sin_addr.s_addr;
}

/* On loopback, a client, a listener, a flow socket and an upstream: the
 * client's datagram must reach the upstream from the flow socket, the
 * answer the client from the listener, and neither passthru socket see a
 * byte.  */
static int selftest(char *why, size_t whylen)
{
	union paddr a[4], from;	/* client, listener, flow socket, upstream */
	int fd[4] = { -1, -1, -1, -1 }, err = 0, n;
	struct udpk_flow kf;
	struct udpk_count c;
	char buf[16];
	bool added = false;

	for (int i = 0; i < 4 && !err; i++) {
		fd[i] = udp_sock(&a[i]);
		if (fd[i] < 0)
			err = fd[i];
	}
	if (err) {
		snprintf(why, whylen, "self-test: loopback socket: %s", strerror(-err));
		goto out;
	}
	err = udpk_add(&kf, &a[0], &a[1], &a[2], &a[3], NULL, 0);
	if (err) {
		snprintf(why, whylen, "self-test: map update: %s", strerror(-err));
		goto out;
	}
	added = true;
	if (sendto(fd[0], "ping", 4, 0, &a[1].sa, sizeof(a[1].v4)) != 4 ||
	    (n = recv_one(fd[3], buf, sizeof(buf), &from)) != 4 || memcmp(buf, "ping", 4) ||
	    !same(&from, &a[2])) {
		snprintf(why, whylen, "self-test: a datagram did not cross the program toward the upstream");
		err = -EPROTO;
		goto out;
	}
	if (sendto(fd[3], "pong", 4, 0, &a[2].sa, sizeof(a[2].v4)) != 4 ||
	    (n = recv_one(fd[0], buf, sizeof(buf), &from)) != 4 || memcmp(buf, "pong", 4) ||
	    !same(&from, &a[1])) {
		snprintf(why, whylen, "self-test: a datagram did not cross the program toward the client");
		err = -EPROTO;
		goto out;
	}
	if (recv(fd[1], buf, sizeof(buf), MSG_DONTWAIT) >= 0 ||
	    recv(fd[2], buf, sizeof(buf), MSG_DONTWAIT) >= 0 ||
	    udpk_read(&kf, &c) || c.packets[0] != 1 || c.packets[1] != 1 || c.bytes[0] != 4) {
		snprintf(why, whylen, "self-test: the program's counters or sockets are wrong");
		err = -EPROTO;
	}
out:
	if (added)
		udpk_del(&kf, &c);
	for (int i = 0; i < 4; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	return err;
}

/* ---- load, attach, detach ------------------------------------------------------ */

void udpk_fini(void)
{
	for (int i = 0; i < U.nlinks; i++)
		close(U.links[i]);	/* detaches: the links are ours alone */
	U.nlinks = 0;
	U.ifaces[0] = '\0';
	if (U.skel)
		udpfwd_bpf__destroy(U.skel);
	U.skel = NULL;
	U.map = -1;
}

/* Every interface present at start: clients may come in on any, and the
 * upstream's answers on the route to it.  An interface added later is
 * not covered: its datagrams reach the sockets and userspace forwards
 * them. */
static int attach_all(char *why, size_t whylen)
{
	struct if_nameindex *ifs = if_nameindex(), *p;
	int prog = bpf_program__fd(U.skel->progs.pt_udp_fwd), err = 0;
	size_t used = 0;
	bool lo = false;

	if (!ifs) {
		err = -errno;
		snprintf(why, whylen, "listing interfaces: %s", strerror(-err));
		return err;
	}
	for (p = ifs; p->if_index && U.nlinks < UDPK_MAX_IF; p++) {
		int fd = bpf_link_create(prog, (int)p->if_index, TCX_INGRESS, NULL);

		if (fd < 0) {
			err = -errno;
			snprintf(why, whylen, "attaching the tc program (tcx ingress, kernel 6.6+) to %s: %s",
				 p->if_name, strerror(-err));
			break;
		}
		U.links[U.nlinks++] = fd;
		lo |= p->if_index == (unsigned)U.skel->rodata->lo_ifindex;
		used += (size_t)snprintf(U.ifaces + used, sizeof(U.ifaces) - used, "%s%s",
					 used ? ", " : "", p->if_name);
		if (used >= sizeof(U.ifaces))
			used = sizeof(U.ifaces) - 1;
	}
	if_freenameindex(ifs);
	if (!err && !lo) {
		snprintf(why, whylen, "no loopback interface to attach to");
		err = -ENODEV;
	}
	return err;
}

int udpk_init(uint32_t max_flows, char *why, size_t whylen)
{
	struct udpfwd_bpf *skel;
	int err;

	if (U.skel)
		return 0;
	if (!bpf_privileged()) {
		snprintf(why, whylen, "no permission to use BPF (run as root, or with CAP_BPF and CAP_NET_ADMIN)");
		return -EPERM;
	}
	skel = udpfwd_bpf__open();
	if (!skel) {
		err = -errno;
		snprintf(why, whylen, "opening the BPF object failed: %s", strerror(-err));
		return err;
	}
	bpf_map__set_max_entries(skel->maps.udpk_flows, 2 * (max_flows + 1));
	skel->rodata->lo_ifindex = if_nametoindex("lo");
	if (!skel->rodata->lo_ifindex)
		skel->rodata->lo_ifindex = 1;
	err = udpfwd_bpf__load(skel);
	if (err) {
		snprintf(why, whylen, "loading the BPF program failed: %s%s", strerror(-err),
			 err == -EPERM ? " (needs root or CAP_BPF + CAP_NET_ADMIN)" : "");
		udpfwd_bpf__destroy(skel);
		return err;
	}
	U.skel = skel;
	U.map = bpf_map__fd(skel->maps.udpk_flows);
	err = attach_all(why, whylen);
	if (!err)
		err = selftest(why, whylen);
	if (err)
		udpk_fini();
	return err;
}
