/* SPDX-License-Identifier: GPL-2.0 */
/* The running process as a whole: what main() set up and what a reload
 * or a takeover works on. */
#ifndef PT_RUNTIME_H
#define PT_RUNTIME_H

#include "config/config.h"
#include "conn/worker.h"

#define MAX_WORKERS 1024

struct runtime {
	const char *file;
	struct settings cli;		/* command-line overrides */
	unsigned cli_set;
	struct config *cfg;		/* the current configuration (a ref; main thread) */
	/* Its max_connections, for the takeover thread (a reload frees the
	 * configuration it would read). */
	uint64_t max_connections;
	struct worker *workers;
	int nworkers;
	int wake[MAX_WORKERS];		/* workers' eventfds, for the resolver */
};

#endif /* PT_RUNTIME_H */
