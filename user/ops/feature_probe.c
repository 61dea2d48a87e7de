// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "ops/feature_probe.h"
#include "datapath/kpath.h"
#include "datapath/udpk.h"
#include "base/util.h"

static void line(bool ok, const char *what, const char *detail)
{
	printf("  %-4s %-40s %s\n", ok ? "ok" : "--", what, detail ? detail : "");
}

static const char *probe_str(int r)
{
	return r == 1 ? "supported" : r == 0 ? "not supported (or not permitted)"
		: r == -EPERM ? "not permitted" : strerror(-r);
}

int feature_probe_report(void)
{
	unsigned long long eff = cap_effective();
	struct utsname u;
	char why[256] = "", caps[128];
	int r, err;

	uname(&u);
	printf("passthru %s kernel probe\n", PASSTHRU_VERSION);
	line(true, "kernel", u.release);
	snprintf(caps, sizeof(caps), "euid %u; CAP_BPF %s, CAP_NET_ADMIN %s, CAP_PERFMON %s",
		 geteuid(), (eff & CAPBIT(CAP_BPF_NR)) ? "yes" : "no",
		 (eff & CAPBIT(CAP_NET_ADMIN_NR)) ? "yes" : "no", (eff & CAPBIT(CAP_PERFMON_NR)) ? "yes" : "no");
	line(geteuid() == 0 || ((eff & CAPBIT(CAP_BPF_NR)) && (eff & CAPBIT(CAP_NET_ADMIN_NR))),
	     "privileges (root, or CAP_BPF+NET_ADMIN+PERFMON)", caps);
	line(!access("/sys/kernel/btf/vmlinux", R_OK), "kernel BTF (/sys/kernel/btf/vmlinux)",
	     access("/sys/kernel/btf/vmlinux", R_OK) ? "missing: CO-RE needs CONFIG_DEBUG_INFO_BTF" : "present");

	r = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_SOCKHASH, NULL);
	line(r == 1, "map type SOCKHASH (sockmap)", probe_str(r));
	r = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL);
	line(r == 1, "map type RINGBUF (back-pressure events)", probe_str(r));
	r = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SK_SKB, NULL);
	line(r == 1, "program type SK_SKB (verdict)", probe_str(r));

	err = kpath_init(16, why, sizeof(why));
	line(!err, "load, attach, and redirect bytes on loopback",
	     err ? why : "passthru's verdict program forwarded a test stream");
	kpath_fini();
	{
		char uwhy[256] = "";
		int uerr = udpk_init(16, uwhy, sizeof(uwhy));

		line(!uerr, "UDP kernel path (tc program, QUIC flows)",
		     uerr ? uwhy : "forwarded test datagrams both ways on loopback");
		udpk_fini();
		printf("udp data path: %s%s%s\n", uerr ? "userspace (fallback: " : "udp-kernel",
		       uerr ? uwhy : "", uerr ? ")" : "");
	}
	line(true, "splice(2) fallback", "always available");
	if (!err) {
		printf("data path: sockmap (in-kernel redirect; userspace never touches payload)\n");
		return 0;
	}
	printf("data path: splice (fallback: %s)\n", why);
	return 1;
}
