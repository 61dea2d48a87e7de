/* SPDX-License-Identifier: GPL-2.0 */
/* `passthru --probe`: what this kernel and these privileges allow, and
 * which data path passthru would run. */
#ifndef PT_FEATURE_PROBE_H
#define PT_FEATURE_PROBE_H

/* Prints a report to stdout.  Returns 0 if the sockmap path works, 1 if
 * only the splice fallback would run. */
int feature_probe_report(void);

#endif /* PT_FEATURE_PROBE_H */
