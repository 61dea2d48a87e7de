/* SPDX-License-Identifier: GPL-2.0 */
/* passthru's own cgroup v2: the back-pressure sock_ops program is attached
 * there (kpath.c), so that it sees passthru's sockets and no one else's. */
#ifndef PT_CGROUP_H
#define PT_CGROUP_H

#include <stddef.h>

struct pt_cgroup {
	char dir[640];		/* ours: where sock_ops is attached */
	char made[640];		/* one we made (we ran in the root cgroup) */
	char parent[640];	/* where to go back before removing it */
};

/* Find our cgroup; in the root cgroup, make a child "passthru.PID" and
 * move there.  Must run before any socket of ours exists: a socket
 * belongs to its creator's cgroup.  -errno and why on failure. */
int cgroup_enter(struct pt_cgroup *cg, char *why, size_t whylen);
/* Move into dir (a predecessor's, at a live upgrade). */
int cgroup_join(struct pt_cgroup *cg, const char *dir);
/* Back to the parent and remove the child we made, if any. */
void cgroup_leave(struct pt_cgroup *cg);

#endif /* PT_CGROUP_H */
