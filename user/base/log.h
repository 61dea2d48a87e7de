/* SPDX-License-Identifier: GPL-2.0 */
/* Logging: levels like libbpf's, whole lines per write(2), so lines from
 * several workers never interleave. */
#ifndef PT_LOG_H
#define PT_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

enum log_level {
	LOG_ERROR = 0,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG,
};

enum log_format {
	LOG_AUTO = 0,	/* journal if stderr is journald's, else text */
	LOG_TEXT,
	LOG_JOURNAL,
	LOG_JSON,
};

extern enum log_level log_max;

void log_init(enum log_level max, enum log_format f);
int log_level_parse(const char *s, enum log_level *l);
int log_format_parse(const char *s, enum log_format *f);
void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_libbpf_setup(void);
/* A thread that handles many connections (a worker) batches its info and
 * debug lines: a write(2) per LOG_BATCH_MS at most, not one per
 * connection (a short connection's only write of its own otherwise).
 * Before it sleeps it calls log_flush_idle(): the batch goes out now if
 * the last one went out LOG_BATCH_MS ago or more (a quiet worker's lines
 * are not delayed), else it returns the ms until it is due (-1: nothing
 * waits), which bounds the sleep.  Warnings and errors are written at
 * once (after what was batched). */
#define LOG_BATCH_MS 10
void log_batch(bool on);
void log_flush(void);
int log_flush_idle(uint64_t now);

#define pr_err(...)   log_msg(LOG_ERROR, __VA_ARGS__)
#define pr_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define pr_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define pr_debug(...)                                                    \
	do {                                                             \
		if (log_max >= LOG_DEBUG)                                \
			log_msg(LOG_DEBUG, __VA_ARGS__);                 \
	} while (0)

#endif /* PT_LOG_H */
