/* SPDX-License-Identifier: GPL-2.0 */
/* A crash leaves its backtrace in the log, cores or not. */
#ifndef PT_CRASH_H
#define PT_CRASH_H

/* SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGABRT print the signal, the
 * faulting address, the thread and a backtrace to stderr, then die of the
 * same signal (so a core is still written where cores are enabled).  Not
 * installed under a sanitizer, whose own report is better. */
void crash_handlers_install(void);

#endif /* PT_CRASH_H */
