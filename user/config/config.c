// SPDX-License-Identifier: GPL-2.0
/* Config loader: JSON -> struct config, with every error reported as
 * `FILE: json.path: problem` so a broken file is fixed in one pass. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "config/config.h"
#include "config/config_int.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/resolve.h"
#include "base/util.h"

#define CONFIG_MAX_BYTES (16 << 20)
#define UDP_PREFIX "udp/"

/* "udp/0.0.0.0:443" or " udp/[::]:443, udp/0.0.0.0:443": a UDP listener. */
static bool is_udp_key(const char *key)
{
	while (*key == ' ')
		key++;
	return !strncmp(key, UDP_PREFIX, strlen(UDP_PREFIX));
}

void settings_default(struct settings *s)
{
	memset(s, 0, sizeof(*s));
	s->workers = 0;
	s->steering = STEER_CPU;
	s->sniff_timeout_ms = 5000;
	s->sniff_max = 16384;
	s->connect_timeout_ms = 5000;
	s->resolve_interval_ms = 30000;
	s->max_connections = 65536;
	s->conn_buffer = 4 << 20;
	s->kernel_after = 64 << 10;
	s->mode = MODE_AUTO;
	s->max_sniffing = 16384;
	s->shutdown_grace_ms = 30000;
	s->log_level = LOG_INFO;
	s->log_format = LOG_AUTO;
	srclimit_cfg_default(&s->lim);
	s->udp_idle_timeout_ms = 30000;
	s->max_udp_flows = 65536;
	s->udp_pending_datagrams = 16;
	s->udp_pending_bytes = 32 << 10;
}

uint64_t settings_kernel_slots(const struct settings *s)
{
	uint64_t n = s->kernel_connections;

	if (!n)
		n = s->mode == MODE_SOCKMAP ? s->max_connections : KERNEL_CONNECTIONS_DEFAULT;
	return n < s->max_connections ? n : s->max_connections;
}

int data_mode_parse(const char *s, enum data_mode *m)
{
	if (!strcmp(s, "auto"))
		*m = MODE_AUTO;
	else if (!strcmp(s, "sockmap"))
		*m = MODE_SOCKMAP;
	else if (!strcmp(s, "splice"))
		*m = MODE_SPLICE;
	else
		return -EINVAL;
	return 0;
}

/* A listener option: a lower-case key beside the protocols. */
static void parse_option(struct loader *ld, const cJSON *f, const char *path,
			 struct listener *l)
{
	uint64_t n = 0;

	if (l->udp) {
		cfg_error(ld, path, "unknown UDP listener option (a UDP listener takes \"QUIC\" and "
			  "\"CATCHALL\"; its settings are the top-level udp_idle_timeout, max_udp_flows, "
			  "udp_pending_datagrams, udp_pending_bytes)");
	} else if (!strcmp(f->string, "on_timeout")) {
		parse_on_timeout(ld, f, path, l);
	} else if (!strcmp(f->string, "accept_proxy")) {
		parse_cidrs(ld, f, path, &l->accept_proxy, &l->naccept_proxy);
	} else if (!strcmp(f->string, "regex_window")) {
		if (!cfg_get_count(ld, f, path, 1, BYTES_REGEX_MAX, &n))
			l->regex_window = (uint32_t)n;
	} else if (!parse_limit_key(ld, f, path, &l->lim)) {
		cfg_error(ld, path, "unknown listener option (expected \"on_timeout\", "
			  "\"accept_proxy\", \"regex_window\", \"max_conns_per_source\", "
			  "\"new_conns_per_source\", \"source_prefix\", \"source_exempt\"; "
			  "protocols are upper case: %s, CATCHALL)", proto_names());
	}
}

/* The protocols and options of one listener object. */
static void parse_listener_body(struct loader *ld, const cJSON *v,
				const char *path, struct listener *l)
{
	int ng = 0;

	l->regex_window = 256;
	/* The top-level limits, until the listener says otherwise. */
	if (srclimit_cfg_copy(&l->lim, &ld->cfg->set.lim))
		cfg_error(ld, path, "out of memory");
	if (!cJSON_IsObject(v)) {
		cfg_error(ld, path, "expected an object of protocols");
		return;
	}
	cfg_check_duplicates(ld, v, path);
	l->groups = calloc(cJSON_GetArraySize(v) + 1, sizeof(*l->groups));
	if (!l->groups) {
		cfg_error(ld, path, "out of memory");
		return;
	}
	for (const cJSON *p = v->child; p; p = p->next) {
		char *pp = cfg_path_join(path, p->string);
		const struct proto *proto = NULL;

		if (cfg_dup_before(v, p)) {
			/* reported by check_duplicates */
		} else if (islower((unsigned char)p->string[0])) {
			parse_option(ld, p, pp, l);
		} else if (!strcmp(p->string, "CATCHALL")) {
			struct pgroup tmp = { 0 };
			struct rule *ca = NULL;

			parse_group(ld, p, pp, NULL, &tmp, &ca);
			/* Kept for freeing; its only rule is the catchall. */
			l->groups[ng] = tmp;
			l->groups[ng].proto = NULL;
			l->catchall = ca;
			ng++;
		} else if ((proto = l->udp ? proto_find_dgram(p->string) : proto_find(p->string))) {
			struct rule *ca = NULL;

			parse_group(ld, p, pp, proto, &l->groups[ng], &ca);
			l->groups[ng].catchall = ca;
			ng++;
		} else if (l->udp) {
			cfg_error(ld, pp, "unknown protocol for a UDP listener (known: QUIC, CATCHALL)");
		} else if (proto_find_dgram(p->string)) {
			cfg_error(ld, pp, "%s runs over UDP: put it under a UDP listener, \"udp/%s\"",
				  p->string, l->text ? l->text : "ADDR");
		} else {
			cfg_error(ld, pp, "unknown protocol (known: %s, CATCHALL)", proto_names());
		}
		free(pp);
	}
	l->ngroups = ng;
	if (!ng)
		cfg_error(ld, path, "no protocols: add at least a \"CATCHALL\"");
	if (l->regex_window > ld->cfg->set.sniff_max)
		l->regex_window = (uint32_t)ld->cfg->set.sniff_max;
}

/* One address of a listener key: "0.0.0.0:443". */
static void parse_listen_addr(struct loader *ld, const char *text,
			      const char *path, struct listener *l)
{
	char host[256];
	const char *why = NULL;
	uint16_t port;
	bool literal;

	l->text = strdup(text);
	l->udp = !strncmp(text, UDP_PREFIX, strlen(UDP_PREFIX));
	if (l->udp)
		text += strlen(UDP_PREFIX);
	if (addr_parse(text, host, sizeof(host), &port, &l->addr,
		       &l->addrlen, &literal, &why)) {
		cfg_error(ld, path, "bad listen address%s%s: %s", strcmp(text, path) ? " " : "",
			  text, why);
	} else if (!literal) {
		cfg_error(ld, path, "listen address must be an IP literal, e.g. 0.0.0.0:443 or [::]:443");
	}
}

/* A listener key names one address or several, comma-separated
 * ("0.0.0.0:443, [::]:443, 0.0.0.0:8443"): one socket each, one rule set.
 * "udp/ADDR" is a UDP listener (QUIC); a key's addresses are all UDP or
 * all TCP.  Returns the number of listeners filled in from l on. */
static int parse_listener(struct loader *ld, const cJSON *v, const char *path,
			  struct listener *l)
{
	char *keys = strdup(v->string), *save = NULL, *tok;
	int n = 0;

	if (!keys) {
		cfg_error(ld, path, "out of memory");
		return 0;
	}
	for (tok = strtok_r(keys, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *end;

		while (*tok == ' ')
			tok++;
		end = tok + strlen(tok);
		while (end > tok && end[-1] == ' ')
			*--end = '\0';
		parse_listen_addr(ld, tok, path, &l[n]);
		if (n && l[n].udp != l[0].udp)
			cfg_error(ld, path, "\"%s\": the addresses of one key are all UDP (\"udp/ADDR\") or all TCP",
				  tok);
		l[n].udp = l[0].udp;
		if (n) {
			struct listener *first = &l[0];

			l[n].shared = true;
			l[n].groups = first->groups;
			l[n].ngroups = first->ngroups;
			l[n].catchall = first->catchall;
			l[n].on_timeout = first->on_timeout;
			l[n].on_timeout_ms = first->on_timeout_ms;
			l[n].accept_proxy = first->accept_proxy;
			l[n].naccept_proxy = first->naccept_proxy;
			l[n].regex_window = first->regex_window;
			l[n].lim = first->lim;
		} else {
			parse_listener_body(ld, v, path, &l[0]);
		}
		n++;
	}
	if (!n) {
		l[0].udp = is_udp_key(v->string);
		parse_listen_addr(ld, v->string, path, &l[0]);
		parse_listener_body(ld, v, path, &l[0]);
		n = 1;
	}
	free(keys);
	return n;
}

/* "host:port" with a literal IP, for addresses passthru itself binds. */
static void get_addr(struct loader *ld, const cJSON *v, const char *path,
		     char *out, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	char host[256];
	const char *why = NULL;
	uint16_t port;
	bool literal;

	if (!cJSON_IsString(v) || strlen(v->valuestring) >= len) {
		cfg_error(ld, path, "expected \"ip:port\", e.g. \"127.0.0.1:9100\"");
		return;
	}
	if (addr_parse(v->valuestring, host, sizeof(host), &port, &ss, &sslen,
		       &literal, &why)) {
		cfg_error(ld, path, "%s", why);
		return;
	}
	if (!literal) {
		cfg_error(ld, path, "must be an IP address, not a host name");
		return;
	}
	snprintf(out, len, "%s", v->valuestring);
}

static void parse_settings(struct loader *ld, const cJSON *root,
			   struct settings *s)
{
	for (const cJSON *f = root->child; f; f = f->next) {
		const char *k = f->string;
		char *p = cfg_path_join("", k);
		uint64_t n = 0;

		if (!strcmp(k, "version") || !strcmp(k, "min_version")) {
			if (!cJSON_IsString(f))
				cfg_error(ld, p, "expected a string such as \"v0.2.0\"");
			else if (!ld->cfg->version)
				ld->cfg->version = strdup(f->valuestring);
		} else if (!strcmp(k, "servers")) {
			/* below */
		} else if (!strcmp(k, "workers")) {
			if (!cfg_get_count(ld, f, p, 0, 1024, &n))
				s->workers = (int)n;
		} else if (!strcmp(k, "sniff_timeout")) {
			cfg_get_duration(ld, f, p, &s->sniff_timeout_ms);
		} else if (!strcmp(k, "sniff_max_bytes")) {
			if (!cfg_get_size(ld, f, p, &n)) {
				if (n < 64 || n > SNIFF_MAX_LIMIT)
					cfg_error(ld, p, "must be from 64 to %d bytes",
						  SNIFF_MAX_LIMIT);
				else
					s->sniff_max = n;
			}
		} else if (!strcmp(k, "connect_timeout")) {
			cfg_get_duration(ld, f, p, &s->connect_timeout_ms);
		} else if (!strcmp(k, "resolve_interval")) {
			if (!cfg_get_duration(ld, f, p, &n)) {
				if (n < 1000)
					cfg_error(ld, p, "must be at least 1s");
				else
					s->resolve_interval_ms = n;
			}
		} else if (!strcmp(k, "max_connections")) {
			cfg_get_count(ld, f, p, 1, 1 << 22, &s->max_connections);
		} else if (!strcmp(k, "kernel_connections")) {
			cfg_get_count(ld, f, p, 1, 1 << 22, &s->kernel_connections);
		} else if (!strcmp(k, "conn_buffer")) {
			if (!cfg_get_size(ld, f, p, &n)) {
				if (n && n < 65536)
					cfg_error(ld, p, "must be 0 (unlimited) or at least 64KiB");
				else if (n > (1ULL << 31))
					cfg_error(ld, p, "must be at most 2GiB");
				else
					s->conn_buffer = n;
			}
		} else if (!strcmp(k, "kernel_after")) {
			if (!cfg_get_size(ld, f, p, &n)) {
				if (n > (1ULL << 31))
					cfg_error(ld, p, "must be at most 2GiB");
				else
					s->kernel_after = n;
			}
		} else if (!strcmp(k, "mode")) {
			if (!cJSON_IsString(f) || data_mode_parse(f->valuestring, &s->mode))
				cfg_error(ld, p, "expected \"auto\", \"sockmap\" or \"splice\"");
		} else if (!strcmp(k, "max_sniffing")) {
			cfg_get_count(ld, f, p, 1, 1 << 22, &s->max_sniffing);
		} else if (!strcmp(k, "shutdown_grace")) {
			cfg_get_duration(ld, f, p, &s->shutdown_grace_ms);
		} else if (!strcmp(k, "metrics")) {
			get_addr(ld, f, p, s->metrics, sizeof(s->metrics));
		} else if (!strcmp(k, "control_socket")) {
			if (!cJSON_IsString(f) || f->valuestring[0] != '/' ||
			    strlen(f->valuestring) >= sizeof(s->control_socket))
				cfg_error(ld, p, "expected an absolute path of at most %zu bytes",
					  sizeof(s->control_socket) - 1);
			else
				snprintf(s->control_socket, sizeof(s->control_socket), "%s",
					 f->valuestring);
		} else if (!strcmp(k, "user")) {
			uid_t uid;
			gid_t gid;
			int err;

			if (!cJSON_IsString(f) || !f->valuestring[0] ||
			    strlen(f->valuestring) >= sizeof(s->user)) {
				cfg_error(ld, p, "expected a user name");
			} else if ((err = user_lookup(f->valuestring, &uid, &gid))) {
				/* Found at start only, it would stop passthru there. */
				cfg_error(ld, p, err == -ENOENT ? "no such user \"%s\""
					  : "\"%s\" is root: nothing to drop to", f->valuestring);
			} else {
				snprintf(s->user, sizeof(s->user), "%s", f->valuestring);
			}
		} else if (!strcmp(k, "log_level")) {
			if (!cJSON_IsString(f) || log_level_parse(f->valuestring, &s->log_level))
				cfg_error(ld, p, "expected \"error\", \"warn\", \"info\" or \"debug\"");
			else
				s->log_level_set = true;
		} else if (!strcmp(k, "log_format")) {
			if (!cJSON_IsString(f) || log_format_parse(f->valuestring, &s->log_format))
				cfg_error(ld, p, "expected \"text\", \"json\", \"journal\" or \"auto\"");
		} else if (!strcmp(k, "udp_idle_timeout")) {
			if (!cfg_get_duration(ld, f, p, &n)) {
				if (n < 100)
					cfg_error(ld, p, "must be at least 100ms");
				else
					s->udp_idle_timeout_ms = n;
			}
		} else if (!strcmp(k, "max_udp_flows")) {
			cfg_get_count(ld, f, p, 1, 1 << 22, &s->max_udp_flows);
		} else if (!strcmp(k, "udp_pending_datagrams")) {
			cfg_get_count(ld, f, p, 1, 1024, &s->udp_pending_datagrams);
		} else if (!strcmp(k, "udp_data_path")) {
			cfg_get_either(ld, f, p, "auto", "userspace", &s->udp_userspace);
		} else if (!strcmp(k, "worker_steering")) {
			static const char *const steering[] = { "cpu", "pack", "hash", NULL };

			cfg_get_choice(ld, f, p, steering, &s->steering);
		} else if (!strcmp(k, "udp_pending_bytes")) {
			if (!cfg_get_size(ld, f, p, &n)) {
				if (n < 1500 || n > (1 << 20))
					cfg_error(ld, p, "must be from 1500 bytes to 1MiB");
				else
					s->udp_pending_bytes = n;
			}
		} else if (!parse_limit_key(ld, f, p, &s->lim)) {
			cfg_error(ld, p, "unknown key");
		}
		free(p);
	}
}

static bool same_addr(const struct listener *a, const struct listener *b)
{
	return a->addrlen == b->addrlen && !memcmp(&a->addr, &b->addr, a->addrlen);
}

/* [::]:P beside 0.0.0.0:P needs IPV6_V6ONLY or the second bind fails;
 * alone, [::]:P takes both families as Go's listener did.  (TCP and UDP
 * apart: each is its own port space.) */
static void mark_v6only(struct listener *ls, int n)
{
	for (int i = 0; i < n; i++) {
		struct listener *l = &ls[i];

		if (l->addr.ss_family != AF_INET6)
			continue;
		for (int j = 0; j < n; j++)
			if (ls[j].addr.ss_family == AF_INET &&
			    addr_port((struct sockaddr *)&ls[j].addr) ==
				    addr_port((struct sockaddr *)&l->addr))
				l->v6only = true;
	}
}

/* What a UDP flow cannot do: it has no connection to reset, no stream to
 * put a PROXY header in front of, no connect to time out. */
static void check_udp_rule(struct loader *ld, const struct rule *r)
{
	if (!r->path)
		return;
	if (r->action == ACT_REJECT && r->reject != REJECT_CLOSE)
		cfg_error(ld, r->path, "a UDP flow is rejected by dropping its datagrams: no \"reject\" mode");
	if (r->action != ACT_FORWARD)
		return;
	if (r->up.send_proxy)
		cfg_error(ld, r->path, "\"send_proxy\" is for TCP listeners");
	if (r->up.transparent)
		cfg_error(ld, r->path, "\"transparent\" is for TCP listeners");
	if (r->up.connect_timeout_ms)
		cfg_error(ld, r->path, "\"connect_timeout\" is for TCP listeners");
}

static void check_udp_listener(struct loader *ld, const struct listener *l)
{
	if (l->shared)
		return;
	for (int g = 0; g < l->ngroups; g++)
		for (int r = 0; r < l->groups[g].nrules; r++)
			check_udp_rule(ld, &l->groups[g].rules[r]);
}

struct config *config_parse(const char *json, size_t len, const char *name,
			    const struct settings *cli, unsigned cli_set,
			    char *errbuf, size_t errlen)
{
	struct loader ld = { .name = name, .err = errbuf, .errlen = errlen };
	const cJSON *servers;
	struct config *c;
	cJSON *root;
	int n = 0;

	if (errlen)
		errbuf[0] = '\0';
	c = calloc(1, sizeof(*c));
	if (c)
		c->refs = 1;
	if (!c)
		return NULL;
	ld.cfg = c;
	c->file = strdup(name);
	settings_default(&c->set);

	root = cfg_parse_text(&ld, json, len);
	if (!root)
		goto out;
	if (!cJSON_IsObject(root)) {
		cfg_error(&ld, NULL, "expected a JSON object at the top level");
		goto out;
	}
	cfg_check_duplicates(&ld, root, "");
	parse_settings(&ld, root, &c->set);

	servers = cJSON_GetObjectItemCaseSensitive(root, "servers");
	if (!servers || !cJSON_IsObject(servers) || !servers->child) {
		cfg_error(&ld, "servers", servers ? "expected a non-empty object of listen addresses"
						  : "missing");
		goto out;
	}
	cfg_check_duplicates(&ld, servers, "servers");
	for (const cJSON *s = servers->child; s; s = s->next) {
		n++;
		for (const char *p = s->string; *p; p++)
			n += *p == ',';
	}
	/* Each array has room for all: a key's kind is known when parsed. */
	c->listeners = calloc(n, sizeof(*c->listeners));
	c->udp = calloc(n, sizeof(*c->udp));
	if (!c->listeners || !c->udp)
		goto out;
	n = 0;
	for (const cJSON *s = servers->child; s; s = s->next) {
		char *sp = cfg_path_join("servers", s->string);
		bool udp = is_udp_key(s->string);
		struct listener *ls = udp ? c->udp : c->listeners;
		int *cnt = udp ? &c->nudp : &n;
		int added = parse_listener(&ld, s, sp, &ls[*cnt]);

		for (int k = *cnt; k < *cnt + added; k++)
			for (int j = 0; j < k; j++)
				if (ls[j].addrlen && same_addr(&ls[j], &ls[k]))
					cfg_error(&ld, sp, "same address as \"%s\"", ls[j].text);
		for (int k = *cnt; udp && k < *cnt + added; k++)
			check_udp_listener(&ld, &ls[k]);
		free(sp);
		*cnt += added;
	}
	c->nlisteners = n;
	mark_v6only(c->listeners, c->nlisteners);
	mark_v6only(c->udp, c->nudp);

out:
	cJSON_Delete(root);
	if (cli) {
		if (cli_set & SET_WORKERS)
			c->set.workers = cli->workers;
		if (cli_set & SET_SNIFF_TIMEOUT)
			c->set.sniff_timeout_ms = cli->sniff_timeout_ms;
		if (cli_set & SET_MODE)
			c->set.mode = cli->mode;
	}
	if (ld.nerr) {
		config_free(c);
		return NULL;
	}
	return c;
}

struct config *config_load(const char *file, const struct settings *cli,
			   unsigned cli_set)
{
	char *buf = NULL, errbuf[16384];
	struct config *c = NULL;
	struct stat st;
	ssize_t got = 0;
	int fd;

	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		pr_err("%s: cannot open: %s", file, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > CONFIG_MAX_BYTES) {
		pr_err("%s: not a regular file of at most %d MiB", file,
		       CONFIG_MAX_BYTES >> 20);
		goto out;
	}
	/* Whoever can write the routes can send traffic anywhere. */
	if (st.st_mode & S_IWOTH) {
		pr_err("%s: writable by everyone (mode %04o): refusing it; chmod o-w",
		       file, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	buf = malloc(st.st_size + 1);
	if (!buf)
		goto out;
	while (got < st.st_size) {
		ssize_t n = read(fd, buf + got, st.st_size - got);

		if (n <= 0) {
			pr_err("%s: read failed: %s", file, n ? strerror(errno) : "short read");
			goto out;
		}
		got += n;
	}
	buf[got] = '\0';
	c = config_parse(buf, got, file, cli, cli_set, errbuf, sizeof(errbuf));
	if (!c) {
		for (char *line = strtok(errbuf, "\n"); line; line = strtok(NULL, "\n"))
			pr_err("%s", line);
	}
out:
	free(buf);
	close(fd);
	return c;
}

struct config *config_get(struct config *c)
{
	if (c)
		__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
	return c;
}

void config_put(struct config *c)
{
	if (c && __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0)
		config_free(c);
}

static void listener_free(struct listener *l)
{
	free(l->text);
	limits_detach(l);
	metrics_put(l->mx);
	if (l->shared)
		return;
	for (int g = 0; g < l->ngroups; g++) {
		for (int r = 0; r < l->groups[g].nrules; r++)
			rule_free(&l->groups[g].rules[r]);
		free(l->groups[g].rules);
	}
	free(l->groups);
	if (l->on_timeout) {
		rule_free(l->on_timeout);
		free(l->on_timeout);
	}
	free(l->accept_proxy);
	srclimit_cfg_free(&l->lim);
}

void config_free(struct config *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->nlisteners; i++)
		listener_free(&c->listeners[i]);
	for (int i = 0; i < c->nudp; i++)
		listener_free(&c->udp[i]);
	free(c->listeners);
	free(c->udp);
	for (int i = 0; i < c->ndns; i++)
		dns_unref(c->dns[i]);
	free(c->dns);
	srclimit_cfg_free(&c->set.lim);
	free(c->version);
	free(c->file);
	free(c);
}
