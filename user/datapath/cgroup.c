// SPDX-License-Identifier: GPL-2.0
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datapath/cgroup.h"

/* The cgroup v2 mount point and our cgroup in it. */
static int cgroup_find(char *mnt, size_t mlen, char *path, size_t plen)
{
	char line[1024];
	FILE *f;
	int found = 0;

	f = fopen("/proc/self/mountinfo", "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - cgroup2 ");
		char *p = line;

		if (!sep)
			continue;
		/* field 5 is the mount point */
		for (int i = 0; i < 4 && p; i++)
			p = strchr(p + 1, ' ');
		if (!p)
			continue;
		snprintf(mnt, mlen, "%.*s", (int)strcspn(p + 1, " "), p + 1);
		found = 1;
		break;
	}
	fclose(f);
	if (!found)
		return -ENOENT;
	f = fopen("/proc/self/cgroup", "r");
	if (!f)
		return -errno;
	found = 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(path, plen, "%.*s", (int)(plen - 1), line + 3);
		found = 1;
	}
	fclose(f);
	return found ? 0 : -ENOENT;
}

static int write_pid(const char *dir)
{
	char file[700], pid[32];
	int fd, n, err = 0;

	snprintf(file, sizeof(file), "%s/cgroup.procs", dir);
	fd = open(file, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = snprintf(pid, sizeof(pid), "%d", getpid());
	if (write(fd, pid, n) != n)
		err = -errno;
	close(fd);
	return err;
}

/* A passthru that ran unprivileged (--user) cannot leave its cgroup at
 * exit; the next one removes what is left empty. */
static void remove_stale(const char *mnt)
{
	char dir[700];
	struct dirent *e;
	DIR *d = opendir(mnt);

	if (!d)
		return;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, "passthru.", 9)) {
			snprintf(dir, sizeof(dir), "%s/%s", mnt, e->d_name);
			rmdir(dir);	/* fails, harmlessly, if in use */
		}
	closedir(d);
}

int cgroup_enter(struct pt_cgroup *cg, char *why, size_t whylen)
{
	char mnt[256], path[256];
	int err;

	memset(cg, 0, sizeof(*cg));
	err = cgroup_find(mnt, sizeof(mnt), path, sizeof(path));
	if (err) {
		snprintf(why, whylen, "no cgroup v2 hierarchy mounted");
		return err;
	}
	if (strcmp(path, "/")) {
		snprintf(cg->dir, sizeof(cg->dir), "%s%s", mnt, path);
		return 0;
	}
	/* The root cgroup holds every process of the machine: a child of
	 * our own keeps the program to our sockets. */
	remove_stale(mnt);
	snprintf(cg->parent, sizeof(cg->parent), "%s", mnt);
	snprintf(cg->dir, sizeof(cg->dir), "%s/passthru.%d", mnt, getpid());
	if (mkdir(cg->dir, 0755) && errno != EEXIST) {
		err = -errno;
		snprintf(why, whylen, "cannot create cgroup %.160s: %s", cg->dir, strerror(-err));
		return err;
	}
	err = write_pid(cg->dir);
	if (err) {
		rmdir(cg->dir);
		snprintf(why, whylen, "cannot join cgroup %.160s: %s", cg->dir, strerror(-err));
		return err;
	}
	snprintf(cg->made, sizeof(cg->made), "%s", cg->dir);
	return 0;
}

int cgroup_join(struct pt_cgroup *cg, const char *dir)
{
	const char *base = strrchr(dir, '/');
	int err;

	memset(cg, 0, sizeof(*cg));
	err = write_pid(dir);
	if (err)
		return err;
	snprintf(cg->dir, sizeof(cg->dir), "%s", dir);
	/* A child a predecessor made is ours to remove now. */
	if (base && !strncmp(base + 1, "passthru.", 9)) {
		snprintf(cg->made, sizeof(cg->made), "%s", dir);
		snprintf(cg->parent, sizeof(cg->parent), "%.*s", (int)(base - dir), dir);
	}
	return 0;
}

void cgroup_leave(struct pt_cgroup *cg)
{
	if (!cg->made[0])
		return;
	write_pid(cg->parent);
	rmdir(cg->made);
	cg->made[0] = '\0';
}
