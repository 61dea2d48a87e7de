// SPDX-License-Identifier: GPL-2.0
/* `passthru stats`: read a running passthru's metrics endpoint and print
 * them as a table, or as JSON with --json. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/config.h"
#include "base/log.h"
#include "base/metrics.h"
#include "ops/stats.h"
#include "base/util.h"

int metrics_fetch(const char *addr, char **out, size_t *len)
{
	static const char req[] = "GET /metrics HTTP/1.0\r\nHost: passthru\r\n\r\n";
	struct sockaddr_storage ss;
	socklen_t sslen;
	char host[256], *buf = NULL, *body;
	size_t got = 0, cap = 0;
	const char *why;
	uint16_t port;
	bool literal;
	int fd, err = 0;

	if (addr_parse(addr, host, sizeof(host), &port, &ss, &sslen, &literal, &why) ||
	    !literal)
		return -EINVAL;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, sslen) ||
	    send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != sizeof(req) - 1) {
		err = -errno;
		goto out;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 5000) != 1) {
			err = -ETIMEDOUT;
			goto out;
		}
		if (cap - got < 4096) {
			char *nb = realloc(buf, cap ? cap * 2 : 65536);

			if (!nb) {
				err = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap = cap ? cap * 2 : 65536;
		}
		n = recv(fd, buf + got, cap - got - 1, 0);
		if (n < 0) {
			err = -errno;
			goto out;
		}
		if (!n)
			break;
		got += n;
	}
	buf[got] = '\0';
	if (strncmp(buf, "HTTP/1.1 200", 12) || !(body = strstr(buf, "\r\n\r\n"))) {
		err = -EPROTO;
		goto out;
	}
	body += 4;
	*len = got - (body - buf);
	memmove(buf, body, *len + 1);
	*out = buf;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return err;
}

/* One sample: name{labels} value. */
struct sample {
	char name[96];
	char labels[640];
	double v;
};

static int parse_line(const char *line, struct sample *s)
{
	const char *brace = strchr(line, '{'), *sp;

	if (line[0] == '#' || !line[0])
		return -1;
	if (brace) {
		const char *close = strrchr(line, '}');

		if (!close)
			return -1;
		snprintf(s->name, sizeof(s->name), "%.*s", (int)(brace - line), line);
		snprintf(s->labels, sizeof(s->labels), "%.*s", (int)(close - brace - 1), brace + 1);
		sp = close + 1;
	} else {
		sp = strchr(line, ' ');
		if (!sp)
			return -1;
		snprintf(s->name, sizeof(s->name), "%.*s", (int)(sp - line), line);
		s->labels[0] = '\0';
	}
	s->v = strtod(sp, NULL);
	return 0;
}

/* The value of label `key` in `labels` (unescaped enough for display). */
static void label(const char *labels, const char *key, char *out, size_t n)
{
	char pat[64];
	const char *p;
	size_t o = 0;

	snprintf(pat, sizeof(pat), "%s=\"", key);
	out[0] = '\0';
	for (p = labels; (p = strstr(p, pat)); p++)
		if (p == labels || p[-1] == ',')
			break;
	if (!p)
		return;
	for (p += strlen(pat); *p && *p != '"' && o + 1 < n; p++) {
		if (*p == '\\' && p[1])
			p++;
		out[o++] = *p;
	}
	out[o] = '\0';
}

static const struct sample *lookup(const struct sample *ss, int n, const char *name,
				   const char *labels)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(ss[i].name, name) && !strcmp(ss[i].labels, labels))
			return &ss[i];
	return NULL;
}

static double find(struct sample *ss, int n, const char *name, const char *labels)
{
	const struct sample *s = lookup(ss, n, name, labels);

	return s ? s->v : 0;
}

/* The per-source columns of a listener: refused by each limit, and the
 * sources tracked (-1: the listener has no limits). */
static void source_cols(struct sample *ss, int n, const char *labels, double out[3])
{
	static const char *const lim[2] = { "conns", "rate" };
	const struct sample *t = lookup(ss, n, "passthru_sources_tracked", labels);

	for (int i = 0; i < 2; i++) {
		char l[700];

		snprintf(l, sizeof(l), "%s,limit=\"%s\"", labels, lim[i]);
		out[i] = find(ss, n, "passthru_source_refused_total", l);
	}
	out[2] = t ? t->v : -1;
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
	putchar('"');
}

/* The memory figures; the kernel's only where the cgroup could be read. */
static void print_memory(struct sample *ss, int n, bool json)
{
	static const char *const mcols[][2] = {
		{ "passthru_memory_rss_bytes", "rss_bytes" },
		{ "passthru_memory_bpf_maps_bytes", "bpf_maps_bytes" },
		{ "passthru_memory_kernel_bytes", "kernel_bytes" },
		{ "passthru_memory_kernel_per_connection_bytes", "kernel_per_connection_bytes" },
	};
	bool first = true;

	for (size_t c = 0; c < ARRAY_SIZE(mcols); c++) {
		const struct sample *s = NULL;

		for (int i = 0; i < n && !s; i++)
			if (!strcmp(ss[i].name, mcols[c][0]))
				s = &ss[i];
		if (!s)
			continue;
		if (json)
			printf("%s\"%s\":%.0f", first ? "" : ",", mcols[c][1], s->v);
		else
			printf("memory_%-39s %.0f\n", mcols[c][1], s->v);
		first = false;
	}
}

static void print(struct sample *ss, int n, bool json)
{
	static const char *const rcols[][2] = {
		{ "passthru_rule_matched_total", "matched" },
		{ "passthru_rule_forwarded_total", "forwarded" },
		{ "passthru_rule_rejected_total", "rejected" },
		{ "passthru_rule_upstream_errors_total", "upstream_errors" },
		{ "passthru_rule_active", "active" },
	};
	bool first;

	if (json)
		printf("{\"listeners\":[");
	else
		printf("%-28s %10s %8s %10s %9s %9s %8s\n", "LISTENER", "ACCEPTED", "ACTIVE",
		       "TIMEOUTS", "SRC_CONNS", "SRC_RATE", "SOURCES");
	first = true;
	for (int i = 0; i < n; i++) {
		char l[256], srcs[16] = "-";
		double sc[3];

		if (strcmp(ss[i].name, "passthru_connections_accepted_total"))
			continue;
		label(ss[i].labels, "listener", l, sizeof(l));
		source_cols(ss, n, ss[i].labels, sc);
		if (json) {
			printf("%s{\"listener\":", first ? "" : ",");
			json_str(l);
			printf(",\"accepted\":%.0f,\"active\":%.0f,\"sniff_timeouts\":%.0f,"
			       "\"source_refused_conns\":%.0f,\"source_refused_rate\":%.0f", ss[i].v,
			       find(ss, n, "passthru_connections_active", ss[i].labels),
			       find(ss, n, "passthru_sniff_timeouts_total", ss[i].labels), sc[0], sc[1]);
			if (sc[2] >= 0)
				printf(",\"sources_tracked\":%.0f", sc[2]);
			printf("}");
		} else {
			if (sc[2] >= 0)
				snprintf(srcs, sizeof(srcs), "%.0f", sc[2]);
			printf("%-28s %10.0f %8.0f %10.0f %9.0f %9.0f %8s\n", l, ss[i].v,
			       find(ss, n, "passthru_connections_active", ss[i].labels),
			       find(ss, n, "passthru_sniff_timeouts_total", ss[i].labels),
			       sc[0], sc[1], srcs);
		}
		first = false;
	}
	if (json)
		printf("],\"rules\":[");
	else
		printf("\n%-22s %-8s %-24s %8s %9s %8s %8s %6s %12s %12s\n", "LISTENER", "PROTO",
		       "RULE", "MATCHED", "FORWARDED", "REJECTED", "UPERRORS", "ACTIVE",
		       "BYTES_UP", "BYTES_DOWN");
	first = true;
	for (int i = 0; i < n; i++) {
		char l[256], p[64], r[256], up[700], down[700];

		if (strcmp(ss[i].name, "passthru_rule_matched_total"))
			continue;
		label(ss[i].labels, "listener", l, sizeof(l));
		label(ss[i].labels, "proto", p, sizeof(p));
		label(ss[i].labels, "rule", r, sizeof(r));
		snprintf(up, sizeof(up), "%s,direction=\"up\"", ss[i].labels);
		snprintf(down, sizeof(down), "%s,direction=\"down\"", ss[i].labels);
		if (json) {
			printf("%s{\"listener\":", first ? "" : ",");
			json_str(l);
			printf(",\"proto\":");
			json_str(p);
			printf(",\"rule\":");
			json_str(r);
			for (size_t c = 0; c < ARRAY_SIZE(rcols); c++)
				printf(",\"%s\":%.0f", rcols[c][1], find(ss, n, rcols[c][0], ss[i].labels));
			printf(",\"bytes_up\":%.0f,\"bytes_down\":%.0f}",
			       find(ss, n, "passthru_rule_bytes_total", up),
			       find(ss, n, "passthru_rule_bytes_total", down));
		} else {
			printf("%-22s %-8s %-24s", l, p, r);
			for (size_t c = 0; c < ARRAY_SIZE(rcols); c++)
				printf(" %*.0f", c == 0 ? 8 : c == 1 ? 9 : c == 4 ? 6 : 8,
				       find(ss, n, rcols[c][0], ss[i].labels));
			printf(" %12.0f %12.0f\n", find(ss, n, "passthru_rule_bytes_total", up),
			       find(ss, n, "passthru_rule_bytes_total", down));
		}
		first = false;
	}
	if (json)
		printf("],\"kernel\":{");
	else
		printf("\n");
	first = true;
	for (int i = 0; i < n; i++) {
		const char *k = ss[i].name;

		if (strncmp(k, "passthru_kernel_", 16) && strncmp(k, "passthru_backpressure_", 22))
			continue;
		if (json)
			printf("%s\"%s\":%.0f", first ? "" : ",", k + 9, ss[i].v);
		else
			printf("%-46s %.0f\n", k + 9, ss[i].v);
		first = false;
	}
	if (json)
		printf("},\"memory\":{");
	else
		printf("\n");
	print_memory(ss, n, json);
	if (json)
		printf("}}\n");
}

int stats_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL, *addr = NULL;
	char from_file[sizeof(((struct settings *)0)->metrics)];
	struct sample *ss = NULL;
	char *text = NULL, *save = NULL;
	bool json = false;
	int opt, n = 0, cap = 0, err;
	size_t len;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:m:jh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			file = optarg;
			break;
		case 'm':
			addr = optarg;
			break;
		case 'j':
			json = true;
			break;
		default:
			fprintf(opt == 'h' ? stdout : stderr,
				"Usage: passthru stats (-c FILE | --metrics HOST:PORT) [--json]\n"
				"Print a running passthru's counters (its \"metrics\" endpoint).\n");
			return opt == 'h' ? 0 : 2;
		}
	}
	if (!addr && file) {
		struct config *c = config_load(file, NULL, 0);

		if (!c)
			return 1;
		if (c->set.metrics[0]) {
			snprintf(from_file, sizeof(from_file), "%s", c->set.metrics);
			addr = from_file;
		}
		config_free(c);
		if (!addr) {
			fprintf(stderr, "passthru stats: %s has no \"metrics\" address\n", file);
			return 1;
		}
	}
	if (!addr) {
		fprintf(stderr, "passthru stats: give -c FILE or --metrics HOST:PORT\n");
		return 2;
	}
	err = metrics_fetch(addr, &text, &len);
	if (err) {
		fprintf(stderr, "passthru stats: %s: %s\n", addr, strerror(-err));
		return 1;
	}
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct sample s;

		if (parse_line(line, &s))
			continue;
		if (n == cap) {
			struct sample *g = realloc(ss, (cap = cap ? cap * 2 : 256) * sizeof(*ss));

			if (!g)
				break;
			ss = g;
		}
		ss[n++] = s;
	}
	print(ss, n, json);
	free(ss);
	free(text);
	return 0;
}
