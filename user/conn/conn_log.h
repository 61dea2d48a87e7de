/* SPDX-License-Identifier: GPL-2.0 */
/* What a connection leaves behind when it ends: its log line and its
 * counters. */
#ifndef PT_CONN_LOG_H
#define PT_CONN_LOG_H

#include <stdint.h>

#include "base/metrics.h"

struct conn;

/* bytes: client->upstream and upstream->client, all paths together. */
void conn_report(const struct conn *c, enum m_end reason, int err,
		 const uint64_t bytes[2]);

#endif /* PT_CONN_LOG_H */
