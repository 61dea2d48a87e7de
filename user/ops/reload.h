/* SPDX-License-Identifier: GPL-2.0 */
/* Configuration reload (SIGHUP). */
#ifndef PT_RELOAD_H
#define PT_RELOAD_H

#include "ops/runtime.h"

/* Load, validate, and hand the new configuration to every worker; on any
 * error keep the running one.  0 or -errno. */
int reload(struct runtime *rt);

#endif /* PT_RELOAD_H */
