// SPDX-License-Identifier: GPL-2.0
/* Logging to stderr, one write(2) per line so lines from several workers
 * never interleave.  Three shapes:
 *   text     2026-11-25T09:52:33.567Z info listening on ...
 *   journal  <6>listening on ...        (stderr is journald: it stamps)
 *   json     {"ts":"...","level":"info","event":"conn","client":...}
 * In JSON, a message "word k=v k="v w" ..." becomes fields of the object,
 * so connection lines are machine-readable without a second code path. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "base/log.h"
#include "base/util.h"

enum log_level log_max = LOG_INFO;
static enum log_format fmt_kind = LOG_TEXT;

static const char *const level_name[] = { "error", "warn", "info", "debug" };
static const char level_prio[] = { '3', '4', '6', '7' };

void log_init(enum log_level max, enum log_format f)
{
	log_max = max;
	/* systemd sets JOURNAL_STREAM when stderr goes to the journal. */
	if (f == LOG_AUTO)
		f = getenv("JOURNAL_STREAM") ? LOG_JOURNAL : LOG_TEXT;
	fmt_kind = f;
}

int log_level_parse(const char *s, enum log_level *l)
{
	for (int i = 0; i <= LOG_DEBUG; i++)
		if (!strcmp(s, level_name[i])) {
			*l = i;
			return 0;
		}
	return -1;
}

int log_format_parse(const char *s, enum log_format *f)
{
	if (!strcmp(s, "text"))
		*f = LOG_TEXT;
	else if (!strcmp(s, "json"))
		*f = LOG_JSON;
	else if (!strcmp(s, "journal"))
		*f = LOG_JOURNAL;
	else if (!strcmp(s, "auto"))
		*f = LOG_AUTO;
	else
		return -1;
	return 0;
}

/* Appends s as a JSON string body (no quotes). */
static size_t json_str(char *out, size_t room, const char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 7 < room; i++) {
		unsigned char ch = s[i];

		if (ch == '"' || ch == '\\') {
			out[o++] = '\\';
			out[o++] = ch;
		} else if (ch < 0x20) {
			o += snprintf(out + o, room - o, "\\u%04x", ch);
		} else {
			out[o++] = ch;
		}
	}
	return o;
}

static bool is_number(const char *s, size_t n)
{
	if (!n || n > 18)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return n == 1 || s[0] != '0';
}

/* "conn client=1.2.3.4:5 rule="SNI a" up=3" -> ,"event":"conn","client":... */
static size_t json_fields(char *out, size_t room, const char *msg)
{
	const char *sp = strchr(msg, ' '), *p;
	size_t o = 0;

	if (!sp || memchr(msg, '=', sp - msg) || !strchr(sp, '=')) {
		o += snprintf(out + o, room - o, ",\"msg\":\"");
		o += json_str(out + o, room - o, msg, strlen(msg));
		o += snprintf(out + o, room - o, "\"");
		return o;
	}
	o += snprintf(out + o, room - o, ",\"event\":\"");
	o += json_str(out + o, room - o, msg, sp - msg);
	o += snprintf(out + o, room - o, "\"");
	for (p = sp; *p && o + 16 < room;) {
		const char *key, *eq, *v, *end;
		bool quoted;

		while (*p == ' ')
			p++;
		if (!*p)
			break;
		key = p;
		eq = strchr(p, '=');
		if (!eq || memchr(key, ' ', eq - key)) {
			o += snprintf(out + o, room - o, ",\"text\":\"");
			o += json_str(out + o, room - o, key, strlen(key));
			o += snprintf(out + o, room - o, "\"");
			break;
		}
		quoted = eq[1] == '"';
		v = eq + 1 + quoted;
		end = quoted ? strchr(v, '"') : strchr(v, ' ');
		if (!end)
			end = v + strlen(v);
		p = quoted && *end ? end + 1 : end;
		o += snprintf(out + o, room - o, ",\"");
		o += json_str(out + o, room - o, key, eq - key);
		o += snprintf(out + o, room - o, "\":");
		if (!quoted && is_number(v, end - v)) {
			o += snprintf(out + o, room - o, "%.*s", (int)(end - v), v);
		} else {
			o += snprintf(out + o, room - o, "\"");
			o += json_str(out + o, room - o, v, end - v);
			o += snprintf(out + o, room - o, "\"");
		}
	}
	return o;
}

/* One write per line, or per batch of whole lines of at most PIPE_BUF
 * bytes: atomic on a pipe and never torn between threads. */
static __thread struct {
	bool on;
	size_t len;
	uint64_t flushed_ms;	/* when the batch last went out */
	char buf[4096];
} batch;

static void out(const char *p, size_t n)
{
	if (write(STDERR_FILENO, p, n) < 0) {
		/* nowhere left to report it */
	}
}

/* "2026-11-25T09:52:33." for the current second: gmtime_r and a printf
 * once a second per thread, not once per line. */
static size_t stamp(char *out, const struct timespec *ts)
{
	static __thread time_t sec = -1;
	static __thread char pre[32];
	static __thread size_t plen;
	unsigned ms = (unsigned)(ts->tv_nsec / 1000000);

	if (ts->tv_sec != sec) {
		struct tm tm;

		gmtime_r(&ts->tv_sec, &tm);
		plen = (size_t)snprintf(pre, sizeof(pre), "%04d-%02d-%02dT%02d:%02d:%02d.",
					tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
					tm.tm_hour, tm.tm_min, tm.tm_sec);
		sec = ts->tv_sec;
	}
	memcpy(out, pre, plen);
	out[plen] = (char)('0' + ms / 100);
	out[plen + 1] = (char)('0' + ms / 10 % 10);
	out[plen + 2] = (char)('0' + ms % 10);
	out[plen + 3] = 'Z';
	return plen + 4;
}

static void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
	char msg[2048], line[4096];
	struct timespec ts;
	size_t n = 0;
	int k;

	if (lvl > log_max)
		return;
	if (fmt_kind == LOG_TEXT) {
		/* The message formatted in place, after the stamp. */
		clock_gettime(CLOCK_REALTIME, &ts);
		n = stamp(line, &ts);
		line[n++] = ' ';
		k = (int)strlen(level_name[lvl]);
		memcpy(line + n, level_name[lvl], (size_t)k);
		n += (size_t)k;
		line[n++] = ' ';
		k = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		n = k < 0 ? n : n + (size_t)k < sizeof(line) ? n + (size_t)k : sizeof(line) - 1;
		while (n && line[n - 1] == '\n')
			n--;
	} else {
		vsnprintf(msg, sizeof(msg), fmt, ap);
		for (size_t m = strlen(msg); m && msg[m - 1] == '\n'; m--)
			msg[m - 1] = '\0';
		if (fmt_kind == LOG_JOURNAL) {
			n = snprintf(line, sizeof(line), "<%c>%s", level_prio[lvl], msg);
		} else {
			clock_gettime(CLOCK_REALTIME, &ts);
			memcpy(line, "{\"ts\":\"", 7);
			n = 7 + stamp(line + 7, &ts);
			n += snprintf(line + n, sizeof(line) - n, "\",\"level\":\"%s\"",
				      level_name[lvl]);
			n += json_fields(line + n, sizeof(line) - n - 2, msg);
			n += snprintf(line + n, sizeof(line) - n, "}");
		}
	}
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (batch.on && lvl >= LOG_INFO) {
		/* A worker's connection lines: written together at the end of
		 * its round of events (log_flush). */
		if (batch.len + n > sizeof(batch.buf))
			log_flush();
		memcpy(batch.buf + batch.len, line, n);
		batch.len += n;
		return;
	}
	log_flush();	/* in order: what was batched before goes first */
	out(line, n);
}

void log_batch(bool on)
{
	if (!on)
		log_flush();
	batch.on = on;
}

void log_flush(void)
{
	if (batch.len) {
		out(batch.buf, batch.len);
		batch.flushed_ms = now_ms();
	}
	batch.len = 0;
}

int log_flush_idle(uint64_t now)
{
	uint64_t due = batch.flushed_ms + LOG_BATCH_MS;

	if (!batch.len)
		return -1;
	if (now >= due) {
		log_flush();
		return -1;
	}
	return (int)(due - now);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(lvl, fmt, ap);
	va_end(ap);
}

/* libbpf's warnings are mostly about feature probes we expect to fail:
 * they show only with -v, as debug. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	char buf[1024];

	if (log_max < LOG_DEBUG)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	log_msg(LOG_DEBUG, "libbpf: %s", buf);
	return 0;
}

void log_libbpf_setup(void)
{
	libbpf_set_print(libbpf_print);
}
