// SPDX-License-Identifier: GPL-2.0
/* hupstorm: a reload storm against running processes.
 *
 *   hupstorm --target PID:FILE [--target PID:FILE ...] --seconds S
 *            [--min-ms 20] [--max-ms 50] [--bad-every 10]
 *
 * Every MIN..MAX ms (random) and for each target in turn, FILE is replaced
 * (rename(2), so a reload never reads half a file) by the next of the
 * prepared FILE.v0 and FILE.v1, or by FILE.v2 (meant to be broken) every
 * BAD_EVERY-th time, and PID gets SIGHUP.  A shell loop cannot keep that
 * pace on a loaded 2-CPU machine (three forks a signal).  Prints one line
 * per target at the end: "PID sent=N bad=N".  Exit status 0 unless a
 * target went away. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"

#define MAX_TARGETS 8

struct target {
	pid_t pid;
	const char *file;
	unsigned long sent, bad;
	int gone;
};

/* Copy FILE.vN to FILE.tmp, then rename it over FILE. */
static void switch_to(const struct target *t, int v)
{
	char src[4096], tmp[4096], buf[65536];
	int in, out;
	ssize_t n;

	snprintf(src, sizeof(src), "%s.v%d", t->file, v);
	snprintf(tmp, sizeof(tmp), "%s.hupstorm.tmp", t->file);
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		die("%s: %s", src, strerror(errno));
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0)
		die("%s: %s", tmp, strerror(errno));
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			die("%s: short write", tmp);
	close(in);
	close(out);
	if (rename(tmp, t->file))
		die("rename %s: %s", t->file, strerror(errno));
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "target", required_argument, NULL, 't' },
		{ "seconds", required_argument, NULL, 's' },
		{ "min-ms", required_argument, NULL, 'a' },
		{ "max-ms", required_argument, NULL, 'b' },
		{ "bad-every", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	struct target tg[MAX_TARGETS];
	int nt = 0, c, status = 0;
	long min_ms = 20, max_ms = 50, bad_every = 10;
	double seconds = 0;
	int64_t end;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *colon;

		switch (c) {
		case 't':
			colon = strchr(optarg, ':');
			if (!colon || nt == MAX_TARGETS)
				die("--target PID:FILE (at most %d)", MAX_TARGETS);
			*colon = '\0';
			tg[nt] = (struct target){ .pid = (pid_t)atol(optarg), .file = colon + 1 };
			nt++;
			break;
		case 's': seconds = atof(optarg); break;
		case 'a': min_ms = atol(optarg); break;
		case 'b': max_ms = atol(optarg); break;
		case 'e': bad_every = atol(optarg); break;
		default:
			die("usage: hupstorm --target PID:FILE ... --seconds S [--min-ms N] [--max-ms N] [--bad-every N]");
		}
	}
	if (!nt || seconds <= 0 || min_ms < 1 || max_ms < min_ms)
		die("usage: hupstorm --target PID:FILE ... --seconds S [--min-ms N] [--max-ms N] [--bad-every N]");
	srandom((unsigned)getpid());
	end = clock_us() + (int64_t)(seconds * 1e6);
	while (clock_us() < end) {
		long ms = min_ms + random() % (max_ms - min_ms + 1);
		struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
		int live = 0;

		for (int i = 0; i < nt; i++) {
			struct target *t = &tg[i];
			unsigned long n = t->sent + 1;
			int v = bad_every > 0 && n % (unsigned long)bad_every == 0 ? 2 : (int)(n % 2);

			if (t->gone)
				continue;
			switch_to(t, v);
			if (kill(t->pid, SIGHUP)) {
				t->gone = 1;
				status = 1;
				continue;
			}
			t->sent = n;
			t->bad += v == 2;
			live++;
		}
		if (!live)
			break;
		nanosleep(&ts, NULL);
	}
	for (int i = 0; i < nt; i++)
		printf("%d sent=%lu bad=%lu%s\n", (int)tg[i].pid, tg[i].sent, tg[i].bad,
		       tg[i].gone ? " gone" : "");
	return status;
}
