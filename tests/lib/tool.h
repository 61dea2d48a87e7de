/* SPDX-License-Identifier: GPL-2.0 */
/* What every test tool (tests/tools/) needs: a fatal error, a clock, the machine's CPU. */
#ifndef PT_TEST_TOOL_H
#define PT_TEST_TOOL_H

#include <stdint.h>

/* "<program>: message" on stderr, exit status 2 (a usage or setup error,
 * never a test result). */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* CLOCK_MONOTONIC in microseconds. */
int64_t clock_us(void);
/* Seconds all CPUs spent busy (/proc/stat: all but idle and iowait; guest
 * time is inside user), 0 if unreadable.  A kernel data path runs in
 * softirq, in no process: only the machine's total shows its cost. */
double sys_busy_s(void);

#endif /* PT_TEST_TOOL_H */
