// SPDX-License-Identifier: GPL-2.0
/* Fatal-signal reporter.  Only async-signal-safe calls after the signal:
 * write(2), backtrace_symbols_fd(3) (which writes without malloc), and
 * backtrace(3), whose first call may load libgcc: it is made once at
 * install time so that the signal handler never loads anything. */
#include <execinfo.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/crash.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define PT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define PT_SANITIZED 1
#endif
#endif

static const int fatal[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };

/* Decimal or hex into buf, no libc formatting (not signal-safe). */
static size_t fmt_num(char *buf, uint64_t v, unsigned base)
{
	char tmp[24];
	size_t n = 0, o = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (n)
		buf[o++] = tmp[--n];
	return o;
}

static void say(const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(STDERR_FILENO, s, n);

		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void on_fatal(int sig, siginfo_t *si, void *uctx)
{
	char line[160];
	size_t o = 0;
	void *frames[64];
	int n;
	const char *name = sigabbrev_np(sig);

	(void)uctx;
	memcpy(line + o, "passthru: fatal signal ", 23);
	o += 23;
	o += fmt_num(line + o, (uint64_t)sig, 10);
	if (name) {
		size_t l = strlen(name);

		line[o++] = ' ';
		line[o++] = '(';
		memcpy(line + o, "SIG", 3);
		o += 3;
		memcpy(line + o, name, l);
		o += l;
		line[o++] = ')';
	}
	memcpy(line + o, " address 0x", 11);
	o += 11;
	o += fmt_num(line + o, (uint64_t)(uintptr_t)si->si_addr, 16);
	memcpy(line + o, " thread ", 8);
	o += 8;
	o += fmt_num(line + o, (uint64_t)syscall(SYS_gettid), 10);
	memcpy(line + o, "; backtrace (addr2line -e passthru -f OFFSET):\n", 47);
	o += 47;
	say(line, o);
	n = backtrace(frames, 64);
	backtrace_symbols_fd(frames, n, STDERR_FILENO);
	/* Die of the same signal, with the default action: a core where they
	 * are enabled, and the parent sees what killed us. */
	signal(sig, SIG_DFL);
	raise(sig);
}

void crash_handlers_install(void)
{
#ifndef PT_SANITIZED
	/* the main thread's stack overflowing still reports */
	static char stack[64 * 1024];
	stack_t ss = { .ss_sp = stack, .ss_size = sizeof(stack) };
	struct sigaction sa;
	void *warm[1];

	backtrace(warm, 1);
	sigaltstack(&ss, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fatal;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		sigaction(fatal[i], &sa, NULL);
#endif
}
