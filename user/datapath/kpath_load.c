// SPDX-License-Identifier: GPL-2.0
/* The kernel path's life outside the data path: load and attach the BPF
 * object, prove it forwards on a loopback pair before any client relies on
 * it, hand its maps to a successor (live upgrade) or adopt a predecessor's,
 * and tear it down. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "base/log.h"
#include "datapath/kpath_int.h"
#include "base/util.h"

static int tcp_pair(int lfd, const struct sockaddr_in *sa, int *a, int *b)
{
	*a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*a < 0)
		return -errno;
	if (connect(*a, (const struct sockaddr *)sa, sizeof(*sa))) {
		close(*a);
		return -errno;
	}
	*b = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (*b < 0) {
		close(*a);
		return -errno;
	}
	return 0;
}

static int recv_exact(int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		/* Generous: a loaded machine (a takeover under a storm of
		 * connections) may not run the psock's worker for a while,
		 * and a failed self-test costs the kernel path. */
		if (poll(&p, 1, 5000) != 1)
			return -ETIMEDOUT;
		n = recv(fd, buf + got, len - got, MSG_DONTWAIT);
		if (n <= 0)
			return n ? -errno : -ECONNRESET;
		got += n;
	}
	return 0;
}

/* End to end on loopback: a1 -> b1 =(kernel)=> b2 -> a2 and back, with
 * bytes queued before insertion, as a real connection has them. */
static int selftest(char *why, size_t whylen)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int lfd = -1, a1 = -1, b1 = -1, a2 = -1, b2 = -1, err;
	socklen_t slen = sizeof(sa);
	uint64_t cookie[2] = { 0 };
	struct ksnap snap[2];
	char buf[16];
	unsigned joined;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(lfd, 4) || getsockname(lfd, (struct sockaddr *)&sa, &slen)) {
		err = -errno;
		snprintf(why, whylen, "self-test: loopback socket: %s", strerror(-err));
		goto out;
	}
	err = tcp_pair(lfd, &sa, &a1, &b1);
	if (!err)
		err = tcp_pair(lfd, &sa, &a2, &b2);
	if (err) {
		snprintf(why, whylen, "self-test: loopback connect: %s", strerror(-err));
		goto out;
	}
	/* a1 is an active socket of ours: did pt_sock_ops turn Nagle off at
	 * its connect?  (Not if it is not attached, or a predecessor's older
	 * program is the one that runs.)  Then upstreams need no setsockopt. */
	{
		int v = 0;
		socklen_t vl = sizeof(v);

		K.nodelay = K.sockops && !getsockopt(a1, IPPROTO_TCP, TCP_NODELAY, &v, &vl) && v;
	}
	if (send(a1, "early", 5, 0) != 5 || send(a2, "hello", 5, 0) != 5) {
		err = -errno;
		snprintf(why, whylen, "self-test: send: %s", strerror(-err));
		goto out;
	}
	usleep(1000);
	err = kpath_splice(b1, b2, K.test_slot, 0, (uint64_t[2]){ 0, 0 }, cookie, snap,
			   &joined);
	if (err) {
		snprintf(why, whylen, "inserting sockets into the sockmap failed: %s",
			 strerror(-err));
		goto out;
	}
	if (send(a1, "-late", 5, 0) != 5) {
		err = -errno;
		goto out;
	}
	err = recv_exact(a2, buf, 10);
	if (!err && memcmp(buf, "early-late", 10))
		err = -EBADMSG;
	if (!err)
		err = recv_exact(a1, buf, 5);
	if (!err && memcmp(buf, "hello", 5))
		err = -EBADMSG;
	if (err)
		snprintf(why, whylen, "self-test: bytes did not cross the kernel path: %s",
			 strerror(-err));
out:
	kpath_unlink(cookie);
	for (int *fd = (int[]){ a1, b1, a2, b2, lfd }, i = 0; i < 5; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	return err;
}

/* pt_sock_ops runs on every packet a socket it armed sends.  Armed at
 * ESTABLISHED, that is every packet of every connection, though most are
 * relayed and never reach the maps (1 to 2 % of the CPU a short connection
 * costs, in `ptbench cps`).  Where pt_arm works (kernel 6.12+), only the
 * sockets kpath_splice inserts are armed, by a setsockopt each.  Proved on
 * a socket of ours before it is relied on; our own link, not a
 * predecessor's, must be the one that answers (it leaves with it). */
static void attach_arm(struct passthru_bpf *skel, int cgfd)
{
	int fd, one = 1;
	bool works = false;

	/* Tests: the way of kernels without it. */
	if (getenv("PT_TEST_ARM_AT_CONNECT"))
		goto early;
	if (bpf_program__fd(skel->progs.pt_arm) < 0)
		goto early;	/* not loaded: the kernel refused it */
	K.arm = bpf_program__attach_cgroup(skel->progs.pt_arm, cgfd);
	if (!K.arm)
		goto early;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		works = !setsockopt(fd, IPPROTO_TCP, PT_TCP_ARM, &one, sizeof(one));
		close(fd);
	}
	if (works) {
		pr_debug("kernel path: sockets armed for back-pressure as they enter the maps (pt_arm)");
		skel->data->arm_at_established = 0;
		return;
	}
	bpf_link__destroy(K.arm);
	K.arm = NULL;
early:
	pr_debug("kernel path: sockets armed for back-pressure at connect (no TCP_BPF_SOCK_OPS_CB_FLAGS from cgroup/setsockopt here)");
	skel->data->arm_at_established = 1;
}

/* The sock_ops program must see passthru's sockets and no one else's, so
 * it is attached to passthru's own cgroup v2.  Under systemd that is the
 * service's; when passthru runs in the root cgroup, it moves itself into a
 * child made for it (removed at exit).  Must run before any socket of ours
 * is created: a socket belongs to its creator's cgroup. */
static int attach_sockops(struct passthru_bpf *skel, char *why, size_t whylen)
{
	int fd, err = cgroup_enter(&K.cg, why, whylen);

	if (err)
		return err;
	fd = open(K.cg.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		snprintf(why, whylen, "cannot open cgroup %.160s: %s", K.cg.dir, strerror(-err));
		return err;
	}
	K.sockops = bpf_program__attach_cgroup(skel->progs.pt_sock_ops, fd);
	err = K.sockops ? 0 : -errno;
	if (!err)
		attach_arm(skel, fd);
	close(fd);
	if (err)
		snprintf(why, whylen, "cannot attach sock_ops to cgroup %.160s: %s", K.cg.dir,
			 strerror(-err));
	return err;
}

static void detach_sockops(void)
{
	if (K.arm)
		bpf_link__destroy(K.arm);
	K.arm = NULL;
	if (K.sockops)
		bpf_link__destroy(K.sockops);
	K.sockops = NULL;
	cgroup_leave(&K.cg);
}

/* The loaded object becomes the kernel path: pt_dirs mapped, the map fds
 * at hand, the event ring open.  The last slot is the self-test's.  On
 * failure the object is gone too. */
static int take_skel(struct passthru_bpf *skel, char *why, size_t whylen)
{
	uint32_t entries = bpf_map__max_entries(skel->maps.pt_dirs);
	long page = sysconf(_SC_PAGESIZE);
	int err;

	K.dirs_len = ((size_t)entries * sizeof(struct pt_dir) + page - 1) / page * page;
	K.dirs = mmap(NULL, K.dirs_len, PROT_READ | PROT_WRITE, MAP_SHARED,
		      bpf_map__fd(skel->maps.pt_dirs), 0);
	if (K.dirs == MAP_FAILED) {
		err = -errno;
		K.dirs = NULL;
		snprintf(why, whylen, "mapping pt_dirs failed: %s", strerror(-err));
		passthru_bpf__destroy(skel);
		return err;
	}
	K.skel = skel;
	K.ndirs = entries;
	K.test_slot = entries / 2 - 1;
	K.thaw_refuse = getenv("PT_TEST_THAW_EBUSY") ? atol(getenv("PT_TEST_THAW_EBUSY")) : 0;
	K.batch_targets = K.batch_verdict = true;
	K.targets_fd = bpf_map__fd(skel->maps.pt_targets);
	K.verdict_fd = bpf_map__fd(skel->maps.pt_verdict);
	K.index_fd = bpf_map__fd(skel->maps.pt_index);
	K.stats_fd = bpf_map__fd(skel->maps.pt_stats);
	K.events = ring_buffer__new(bpf_map__fd(skel->maps.pt_events), kpath_on_event,
				    NULL, NULL);
	if (!K.events) {
		err = -errno;
		snprintf(why, whylen, "pt_events ring buffer: %s", strerror(-err));
		kpath_fini();
		return err;
	}
	return 0;
}

/* Opens the object, has prep() size or bind its maps, and loads it.  A
 * verifier that refuses pt_arm (no bpf_setsockopt for cgroup/setsockopt)
 * gets the object without it.  0 and *skelp, or -errno with why said
 * (what the load was, or prep's own words). */
static int open_load(struct passthru_bpf **skelp,
		     int (*prep)(struct passthru_bpf *skel, const void *arg, char *why,
				 size_t whylen),
		     const void *arg, const char *what, char *why, size_t whylen)
{
	struct passthru_bpf *skel;
	int err;

	for (bool arm = true;; arm = false) {
		skel = passthru_bpf__open();
		if (!skel) {
			err = -errno;
			snprintf(why, whylen, "opening the BPF object failed: %s", strerror(-err));
			return err;
		}
		err = prep(skel, arg, why, whylen);
		if (err) {
			passthru_bpf__destroy(skel);
			return err;
		}
		bpf_program__set_autoload(skel->progs.pt_arm, arm);
		err = passthru_bpf__load(skel);
		if (!err) {
			*skelp = skel;
			return 0;
		}
		passthru_bpf__destroy(skel);
		if (!arm)
			break;
	}
	snprintf(why, whylen, "%s: %s%s", what, strerror(-err),
		 err == -EPERM ? " (needs root or CAP_BPF + CAP_NET_ADMIN + CAP_PERFMON)" : "");
	return err;
}

/* A fresh object's maps, sized from the config. */
static int size_maps(struct passthru_bpf *skel, const void *arg, char *why, size_t whylen)
{
	uint32_t entries = *(const uint32_t *)arg;

	(void)why;
	(void)whylen;
	bpf_map__set_max_entries(skel->maps.pt_targets, entries);
	bpf_map__set_max_entries(skel->maps.pt_verdict, entries);
	bpf_map__set_max_entries(skel->maps.pt_index, entries);
	bpf_map__set_max_entries(skel->maps.pt_dirs, entries);
	return 0;
}

int kpath_init(uint32_t max_conns, char *why, size_t whylen)
{
	struct passthru_bpf *skel;
	uint32_t entries = 2 * (max_conns + 1);
	int err, r;

	if (!bpf_privileged()) {
		snprintf(why, whylen, "no permission to use BPF (run as root, or with CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON)");
		return -EPERM;
	}
	r = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_SOCKHASH, NULL);
	if (r <= 0) {
		snprintf(why, whylen, "%s",
			 r == -EPERM ? "no permission to use BPF (needs root, or CAP_BPF + CAP_NET_ADMIN + CAP_PERFMON)"
			 : r == 0 ? "kernel lacks BPF_MAP_TYPE_SOCKHASH (CONFIG_BPF_STREAM_PARSER / sockmap)"
				  : "cannot probe BPF map types");
		return r < 0 ? r : -EOPNOTSUPP;
	}
	r = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SK_SKB, NULL);
	if (r <= 0) {
		snprintf(why, whylen, "kernel lacks BPF_PROG_TYPE_SK_SKB");
		return r < 0 ? r : -EOPNOTSUPP;
	}

	err = open_load(&skel, size_maps, &entries, "loading the BPF program failed", why, whylen);
	if (err)
		return err;
	/* Debian 12's libbpf (1.1) cannot attach sk_skb/verdict itself. */
	err = bpf_prog_attach(bpf_program__fd(skel->progs.pt_verdict_prog),
			      bpf_map__fd(skel->maps.pt_verdict),
			      BPF_SK_SKB_VERDICT, 0);
	if (err) {
		err = -errno;
		snprintf(why, whylen, "attaching the verdict program failed: %s",
			 strerror(-err));
		goto fail;
	}
	err = take_skel(skel, why, whylen);
	if (err)
		return err;
	if (attach_sockops(skel, K.bp_why, sizeof(K.bp_why)))
		detach_sockops();
	err = selftest(why, whylen);
	if (err) {
		kpath_fini();
		return err;
	}
	return 0;
fail:
	passthru_bpf__destroy(skel);
	return err;
}

int kpath_export(int fds[KP_NFDS], char *cgroup, size_t len)
{
	struct passthru_bpf *k = K.skel;

	if (!k)
		return -ENODEV;
	fds[KP_TARGETS] = bpf_map__fd(k->maps.pt_targets);
	fds[KP_VERDICT] = bpf_map__fd(k->maps.pt_verdict);
	fds[KP_INDEX] = bpf_map__fd(k->maps.pt_index);
	fds[KP_DIRS] = bpf_map__fd(k->maps.pt_dirs);
	fds[KP_STATS] = bpf_map__fd(k->maps.pt_stats);
	fds[KP_EVENTS] = bpf_map__fd(k->maps.pt_events);
	fds[KP_PROG] = bpf_program__fd(k->progs.pt_verdict_prog);
	fds[KP_LINK] = K.sockops ? bpf_link__fd(K.sockops) : -1;
	snprintf(cgroup, len, "%s", K.cg.dir);
	return 0;
}

void kpath_handed_over(void)
{
	/* Our programs stay attached through the successor's references;
	 * the cgroup holds the successor now. */
	K.cg.made[0] = '\0';
}

/* The maps, with every socket in them, are the predecessor's: this
 * binary's programs are loaded against them (same layout, checked by the
 * verifier and by the takeover's ABI number). */
static int reuse_maps(struct passthru_bpf *skel, const void *arg, char *why, size_t whylen)
{
	const int *fds = arg;
	struct bpf_map *maps[KP_PROG] = {
		[KP_TARGETS] = skel->maps.pt_targets,
		[KP_VERDICT] = skel->maps.pt_verdict,
		[KP_INDEX] = skel->maps.pt_index,
		[KP_DIRS] = skel->maps.pt_dirs,
		[KP_STATS] = skel->maps.pt_stats,
		[KP_EVENTS] = skel->maps.pt_events,
	};
	int err;

	for (int i = 0; i < KP_PROG; i++) {
		err = bpf_map__reuse_fd(maps[i], fds[i]);
		if (err) {
			snprintf(why, whylen, "reusing map %s: %s", bpf_map__name(maps[i]),
				 strerror(-err));
			return err;
		}
	}
	return 0;
}

int kpath_adopt(const int fds[KP_NFDS], const char *cgroup, char *why,
		size_t whylen)
{
	struct passthru_bpf *skel;
	int err, fd;

	err = open_load(&skel, reuse_maps, fds, "loading the BPF programs on the inherited maps",
			why, whylen);
	if (err)
		goto close_fds;
	/* New sockets get this program; those already in the map keep the
	 * one they were linked with, which stays alive with them. */
	err = bpf_prog_attach(bpf_program__fd(skel->progs.pt_verdict_prog),
			      bpf_map__fd(skel->maps.pt_verdict), BPF_SK_SKB_VERDICT, 0);
	if (err) {
		err = -errno;
		snprintf(why, whylen, "attaching the verdict program: %s", strerror(-err));
		goto fail;
	}
	err = take_skel(skel, why, whylen);
	if (err)
		goto close_fds;
	/* Into the predecessor's cgroup, where its sockets are, with our own
	 * sock_ops program; then its program can go. */
	if (cgroup[0]) {
		fd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0 && !cgroup_join(&K.cg, cgroup))
			K.sockops = bpf_program__attach_cgroup(skel->progs.pt_sock_ops, fd);
		if (K.sockops)
			attach_arm(skel, fd);
		if (fd >= 0)
			close(fd);
		if (!K.sockops)
			snprintf(K.bp_why, sizeof(K.bp_why), "cannot attach sock_ops to %.160s",
				 cgroup);
	}
	/* libbpf holds its own dups of the maps; the old programs stay as
	 * long as sockets are linked to them. */
	for (int i = 0; i < KP_NFDS; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	err = selftest(why, whylen);
	if (err)
		kpath_fini();
	return err;
fail:
	passthru_bpf__destroy(skel);
close_fds:
	for (int i = 0; i < KP_NFDS; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return err;
}

int64_t kpath_map_memory(void)
{
	struct bpf_map *m;
	int64_t sum = 0;

	if (!K.skel)
		return 0;
	bpf_object__for_each_map(m, K.skel->obj) {
		char path[64], line[128];
		long long v;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", bpf_map__fd(m));
		f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "memlock: %lld", &v) == 1)
				sum += v;
		fclose(f);
	}
	return sum;
}

const char *kpath_backpressure_why(void)
{
	return K.bp_why;
}

void kpath_fini(void)
{
	K.nodelay = false;
	detach_sockops();
	if (K.events)
		ring_buffer__free(K.events);
	K.events = NULL;
	if (K.dirs)
		munmap(K.dirs, K.dirs_len);
	K.dirs = NULL;
	if (K.skel)
		passthru_bpf__destroy(K.skel);
	K.skel = NULL;
	K.ndirs = 0;
}
