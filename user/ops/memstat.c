// SPDX-License-Identifier: GPL-2.0
/* Memory figures from /proc and the memory cgroup.  Read on each scrape:
 * a few small files, no state but the paths. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ops/memstat.h"

static struct {
	char dir[1040];		/* the memory cgroup's directory */
	int v;			/* 2, 1, or 0: none */
	int64_t base, bpf;
} S = { .base = -1 };

/* The mount point of a cgroup hierarchy: v2 (want == NULL) or the v1 one
 * that carries controller want; its root (a container may see a subtree)
 * in root. */
static int mount_of(const char *want, char *mnt, size_t mlen, char *root, size_t rlen)
{
	char line[1024];
	FILE *f = fopen("/proc/self/mountinfo", "r");
	int found = -1;

	if (!f)
		return -1;
	while (found && fgets(line, sizeof(line), f)) {
		char r[512], m[512], type[32], opts[512];
		char *sep = strstr(line, " - ");

		if (!sep || sscanf(line, "%*s %*s %*s %511s %511s", r, m) != 2 ||
		    sscanf(sep + 3, "%31s %*s %511s", type, opts) != 2)
			continue;
		if (want ? strcmp(type, "cgroup") || !strstr(opts, want)
			 : strcmp(type, "cgroup2"))
			continue;
		snprintf(mnt, mlen, "%s", m);
		snprintf(root, rlen, "%s", r);
		found = 0;
	}
	fclose(f);
	return found;
}

static int64_t read_num(const char *dir, const char *name)
{
	char path[1100];
	long long v;
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	ok = fscanf(f, "%lld", &v) == 1;
	fclose(f);
	return ok ? v : -1;
}

/* v2: memory.stat's kernel (slab, stacks, page tables, percpu, vmalloc)
 * plus sock (socket buffers), which kernel leaves out.  Kernels before
 * 5.18 have no "kernel" line: its parts then. */
static int64_t read_v2(void)
{
	char path[1100], key[64];
	long long v, kernel = -1, parts = 0, sock = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/memory.stat", S.dir);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fscanf(f, "%63s %lld", key, &v) == 2) {
		if (!strcmp(key, "kernel"))
			kernel = v;
		else if (!strcmp(key, "sock"))
			sock = v;
		else if (!strcmp(key, "slab") || !strcmp(key, "kernel_stack") ||
			 !strcmp(key, "pagetables") || !strcmp(key, "percpu"))
			parts += v;
	}
	fclose(f);
	return (kernel >= 0 ? kernel : parts) + sock;
}

/* v1: kmem (slab and the rest); kmem.tcp counts socket buffers only
 * where a tcp limit was ever set, else reads 0. */
static int64_t read_v1(void)
{
	int64_t k = read_num(S.dir, "memory.kmem.usage_in_bytes");
	int64_t t = read_num(S.dir, "memory.kmem.tcp.usage_in_bytes");

	return k < 0 ? -1 : k + (t > 0 ? t : 0);
}

static int64_t read_kernel(void)
{
	return S.v == 2 ? read_v2() : S.v == 1 ? read_v1() : -1;
}

/* Our cgroup for hierarchy id 0 (v2) or the v1 one listing memory. */
static int cgroup_path(bool v2, char *out, size_t len)
{
	char line[1024];
	FILE *f = fopen("/proc/self/cgroup", "r");
	int found = -1;

	if (!f)
		return -1;
	while (found && fgets(line, sizeof(line), f)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		bool match;

		if (!c2)
			continue;
		line[strcspn(line, "\n")] = '\0';
		*c2 = '\0';
		if (v2) {
			match = !strncmp(line, "0:", 2) && c2 == c1 + 1;
		} else {
			char *ctl = c1 + 1, *tok, *save;

			match = false;
			for (tok = strtok_r(ctl, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
				match |= !strcmp(tok, "memory");
		}
		if (match) {
			snprintf(out, len, "%s", c2 + 1);
			found = 0;
		}
	}
	fclose(f);
	return found;
}

static bool find_dir(bool v2)
{
	char mnt[512], root[512], path[512];
	const char *rel;

	if (cgroup_path(v2, path, sizeof(path)) ||
	    mount_of(v2 ? NULL : "memory", mnt, sizeof(mnt), root, sizeof(root)))
		return false;
	rel = path;
	if (strcmp(root, "/") && !strncmp(path, root, strlen(root)))
		rel = path + strlen(root);
	snprintf(S.dir, sizeof(S.dir), "%s%s", mnt, strcmp(rel, "/") ? rel : "");
	S.v = v2 ? 2 : 1;
	if (read_kernel() >= 0)
		return true;
	S.v = 0;
	S.dir[0] = '\0';
	return false;
}

void memstat_init(int64_t bpf_maps)
{
	S.bpf = bpf_maps;
	if (!find_dir(true))
		find_dir(false);
	S.base = read_kernel();
}

const char *memstat_cgroup(void)
{
	return S.dir;
}

void memstat_read(struct memstat *m)
{
	long long pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	m->rss = -1;
	if (f) {
		if (fscanf(f, "%*s %lld", &pages) == 1)
			m->rss = pages * sysconf(_SC_PAGESIZE);
		fclose(f);
	}
	m->kernel = read_kernel();
	m->kernel_base = S.base;
	m->bpf_maps = S.bpf;
}
