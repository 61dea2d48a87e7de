// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <grp.h>
#include <stdbool.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/log.h"
#include "ops/privs.h"
#include "base/util.h"

#ifndef CAP_BPF
#define CAP_BPF 39
#endif

static const int keep[] = { CAP_NET_BIND_SERVICE, CAP_NET_ADMIN, CAP_BPF };

/* Raw capset: no libcap dependency for three bits. */
static int caps_set(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	for (size_t i = 0; i < ARRAY_SIZE(keep); i++) {
		data[keep[i] / 32].effective |= 1u << (keep[i] % 32);
		data[keep[i] / 32].permitted |= 1u << (keep[i] % 32);
	}
	if (syscall(SYS_capset, &hdr, data))
		return -errno;
	return 0;
}

int privs_drop(const char *user)
{
	uid_t uid;
	gid_t gid;
	int err = user_lookup(user, &uid, &gid);

	if (err == -ENOENT) {
		pr_err("--user %s: no such user", user);
		return err;
	}
	if (err) {
		pr_err("--user %s: refusing to \"drop\" to root", user);
		return -EINVAL;
	}
	/* Nothing we could ever exec gets more than we keep. */
	for (int cap = 0; cap <= 63; cap++) {
		bool kept = false;

		for (size_t i = 0; i < ARRAY_SIZE(keep); i++)
			kept |= keep[i] == cap;
		if (!kept && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) && errno != EINVAL)
			break;
	}
	/* Keep the permitted set across setuid, then trim it. */
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) ||
	    setgroups(1, &gid) || setresgid(gid, gid, gid) || setresuid(uid, uid, uid)) {
		err = -errno;
		pr_err("--user %s: cannot switch: %s", user, strerror(-err));
		return err;
	}
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	if (caps_set()) {
		err = -errno;
		pr_err("--user %s: cannot keep capabilities: %s", user, strerror(-err));
		return err;
	}
	/* Nothing we exec could regain more. */
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	pr_info("running as uid %u gid %u with CAP_NET_BIND_SERVICE, CAP_NET_ADMIN, CAP_BPF",
		(unsigned)uid, (unsigned)gid);
	return 0;
}
