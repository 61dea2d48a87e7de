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

#include "config.h"
#include "log.h"
#include "resolve.h"
#include "util.h"

#define CONFIG_MAX_BYTES (16 << 20)

struct loader {
	const char *name;	/* file name, for messages */
	char *err;		/* all errors, one per line */
	size_t errlen, errused;
	int nerr;
	struct config *cfg;
};

static void cfg_error(struct loader *ld, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void cfg_error(struct loader *ld, const char *path, const char *fmt, ...)
{
	va_list ap;
	size_t room;
	int n;

	ld->nerr++;
	if (ld->errused + 1 >= ld->errlen)
		return;
	room = ld->errlen - ld->errused;
	n = snprintf(ld->err + ld->errused, room, "%s: %s%s", ld->name,
		     path ? path : "", path && *path ? ": " : "");
	if (n > 0 && (size_t)n < room) {
		ld->errused += n;
		room -= n;
		va_start(ap, fmt);
		n = vsnprintf(ld->err + ld->errused, room, fmt, ap);
		va_end(ap);
		if (n > 0)
			ld->errused += (size_t)n < room ? (size_t)n : room - 1;
	}
	if (ld->errused + 1 < ld->errlen) {
		ld->err[ld->errused++] = '\n';
		ld->err[ld->errused] = '\0';
	}
}

/* Path segments look like jq: bare identifiers, quoted otherwise. */
static char *path_join(const char *base, const char *key)
{
	bool bare = *key && (isalpha((unsigned char)*key) || *key == '_');
	char *out;

	for (const char *p = key; bare && *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			bare = false;
	if (asprintf(&out, bare ? "%s%s%s" : "%s%s\"%s\"", base,
		     *base ? "." : "", key) < 0)
		return NULL;
	return out;
}

/* cJSON keeps duplicate keys; a second "SNI a.com" would silently never
 * match, so it is an error. */
static void check_duplicates(struct loader *ld, const cJSON *obj,
			     const char *path)
{
	for (const cJSON *a = obj->child; a; a = a->next)
		for (const cJSON *b = a->next; b; b = b->next)
			if (a->string && b->string && !strcmp(a->string, b->string)) {
				char *p = path_join(path, b->string);

				cfg_error(ld, p, "duplicate key");
				free(p);
			}
}

void settings_default(struct settings *s)
{
	memset(s, 0, sizeof(*s));
	s->workers = 0;
	s->sniff_timeout_ms = 5000;
	s->sniff_max = 16384;
	s->connect_timeout_ms = 5000;
	s->resolve_interval_ms = 30000;
	s->max_connections = 65536;
	s->conn_buffer = 4 << 20;
	s->mode = MODE_AUTO;
}

static int get_duration(struct loader *ld, const cJSON *v, const char *path,
			uint64_t *out)
{
	if (cJSON_IsString(v) && !parse_duration_ms(v->valuestring, out))
		return 0;
	if (cJSON_IsNumber(v) && v->valuedouble >= 0) {
		*out = (uint64_t)(v->valuedouble * 1000);
		return 0;
	}
	cfg_error(ld, path, "expected a duration such as \"5s\" or \"500ms\"");
	return -EINVAL;
}

static int get_size(struct loader *ld, const cJSON *v, const char *path,
		    uint64_t *out)
{
	if (cJSON_IsString(v) && !parse_size(v->valuestring, out))
		return 0;
	if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e15) {
		*out = (uint64_t)v->valuedouble;
		return 0;
	}
	cfg_error(ld, path, "expected a size such as 16384 or \"16KiB\"");
	return -EINVAL;
}

static int get_count(struct loader *ld, const cJSON *v, const char *path,
		     uint64_t min, uint64_t max, uint64_t *out)
{
	if (cJSON_IsNumber(v) && v->valuedouble >= (double)min &&
	    v->valuedouble <= (double)max &&
	    v->valuedouble == (double)(uint64_t)v->valuedouble) {
		*out = (uint64_t)v->valuedouble;
		return 0;
	}
	cfg_error(ld, path, "expected a whole number from %llu to %llu",
		  (unsigned long long)min, (unsigned long long)max);
	return -EINVAL;
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

/* One resolver entry per host name, whatever the ports. */
static struct dns_entry *dns_intern(struct config *c, const char *host)
{
	struct dns_entry **grown, *e;

	for (int i = 0; i < c->ndns; i++)
		if (!strcasecmp(dns_entry_name(c->dns[i]), host))
			return c->dns[i];
	e = dns_entry_new(host);
	if (!e)
		return NULL;
	grown = realloc(c->dns, (c->ndns + 1) * sizeof(*grown));
	if (!grown) {
		dns_entry_free(e);
		return NULL;
	}
	c->dns = grown;
	c->dns[c->ndns++] = e;
	return e;
}

static void parse_upstream(struct loader *ld, const cJSON *v, const char *path,
			   struct upstream *up)
{
	const char *why = NULL;
	bool literal;

	if (!cJSON_IsString(v)) {
		cfg_error(ld, path, "expected a string \"host:port\"");
		return;
	}
	up->text = strdup(v->valuestring);
	if (addr_parse(v->valuestring, up->host, sizeof(up->host), &up->port,
		       &up->addr, &up->addrlen, &literal, &why)) {
		cfg_error(ld, path, "%s", why);
		return;
	}
	up->literal = literal;
	if (!literal) {
		up->dns = dns_intern(ld->cfg, up->host);
		if (!up->dns)
			cfg_error(ld, path, "out of memory");
	}
}

/* "SNI a.example" -> keyword SNI, argument a.example (normalised). */
static void parse_rule_key(struct loader *ld, const struct proto *proto,
			   const char *key, const char *path, struct rule *r)
{
	const struct proto_keyword *kw;
	const char *sp = strchr(key, ' ');
	size_t wlen = sp ? (size_t)(sp - key) : strlen(key);
	const char *arg = sp ? sp + 1 : NULL;

	if (!strcmp(key, "CATCHALL")) {
		r->catchall = true;
		return;
	}
	if (!proto) {
		cfg_error(ld, path, "the CATCHALL protocol takes only a \"CATCHALL\" rule");
		return;
	}
	kw = proto_keyword(proto, key, wlen);
	if (!kw) {
		char words[256] = "";
		size_t n = 0;

		for (const struct proto_keyword *k = proto->keywords;
		     k && k->word; k++)
			n += snprintf(words + n, sizeof(words) - n, "%s\"%s ...\"",
				      n ? ", " : "", k->word);
		cfg_error(ld, path, "unknown rule for %s (expected %s or \"CATCHALL\")",
			  proto->name, words);
		return;
	}
	while (arg && *arg == ' ')
		arg++;
	if (arg && !*arg)
		arg = NULL;
	if (kw->needs_arg && !arg) {
		cfg_error(ld, path, "rule \"%s\" needs a value, e.g. \"%s example.com\"",
			  kw->word, kw->word);
		return;
	}
	r->m.field = kw->field;
	if (arg) {
		size_t n;

		r->m.arg = strdup(arg);
		if (!r->m.arg)
			return;
		/* Names compare case-insensitively, without a trailing dot. */
		if (kw->field == FIELD_SNI || kw->field == FIELD_HOST) {
			for (char *p = r->m.arg; *p; p++)
				*p = tolower((unsigned char)*p);
			n = strlen(r->m.arg);
			if (n > 1 && r->m.arg[n - 1] == '.')
				r->m.arg[n - 1] = '\0';
		}
	}
}

static void parse_rule(struct loader *ld, const struct proto *proto,
		       const cJSON *v, const char *path, struct rule *r)
{
	const cJSON *act = NULL, *to = NULL;

	r->key = strdup(v->string);
	r->path = strdup(path);
	parse_rule_key(ld, proto, v->string, path, r);
	if (!cJSON_IsObject(v)) {
		cfg_error(ld, path, "expected an object {\"action\": ...}");
		return;
	}
	check_duplicates(ld, v, path);
	for (const cJSON *f = v->child; f; f = f->next) {
		char *fp = path_join(path, f->string);

		if (!strcmp(f->string, "action"))
			act = f;
		else if (!strcmp(f->string, "to_addr"))
			to = f;
		else
			cfg_error(ld, fp, "unknown key (expected \"action\", \"to_addr\")");
		free(fp);
	}
	if (!act) {
		cfg_error(ld, path, "\"action\" missing (FORWARD or REJECT)");
		return;
	}
	if (!cJSON_IsString(act) ||
	    (strcmp(act->valuestring, "FORWARD") && strcmp(act->valuestring, "REJECT"))) {
		char *fp = path_join(path, "action");

		cfg_error(ld, fp, "expected \"FORWARD\" or \"REJECT\"");
		free(fp);
		return;
	}
	r->action = strcmp(act->valuestring, "FORWARD") ? ACT_REJECT : ACT_FORWARD;
	if (r->action == ACT_FORWARD) {
		char *fp = path_join(path, "to_addr");

		if (!to)
			cfg_error(ld, path, "FORWARD needs \"to_addr\"");
		else
			parse_upstream(ld, to, fp, &r->up);
		free(fp);
	} else if (to) {
		char *fp = path_join(path, "to_addr");

		cfg_error(ld, fp, "REJECT takes no \"to_addr\"");
		free(fp);
	}
}

static void parse_group(struct loader *ld, const cJSON *v, const char *path,
			const struct proto *proto, struct pgroup *g,
			struct rule **catchall)
{
	const cJSON *rules = v;
	int n = 0;

	g->proto = proto;
	if (!cJSON_IsObject(v)) {
		cfg_error(ld, path, "expected an object of rules");
		return;
	}
	/* An early sample config wrapped rules in "rules": {...}. */
	if (cJSON_GetArraySize(v) == 1 && v->child->string &&
	    !strcmp(v->child->string, "rules") && cJSON_IsObject(v->child))
		rules = v->child;
	check_duplicates(ld, rules, path);
	g->rules = calloc(cJSON_GetArraySize(rules) + 1, sizeof(*g->rules));
	if (!g->rules) {
		cfg_error(ld, path, "out of memory");
		return;
	}
	for (const cJSON *r = rules->child; r; r = r->next) {
		char *rp = path_join(path, r->string);
		struct rule *dst = &g->rules[n];

		parse_rule(ld, proto, r, rp, dst);
		free(rp);
		if (dst->catchall) {
			if (!*catchall)
				*catchall = dst;
		}
		n++;
	}
	g->nrules = n;
	if (!n)
		cfg_error(ld, path, "no rules");
}

static void parse_listener(struct loader *ld, const cJSON *v, const char *path,
			   struct listener *l)
{
	char host[256];
	const char *why = NULL;
	uint16_t port;
	bool literal;
	int ng = 0;

	l->text = strdup(v->string);
	if (addr_parse(v->string, host, sizeof(host), &port, &l->addr,
		       &l->addrlen, &literal, &why)) {
		cfg_error(ld, path, "bad listen address: %s", why);
	} else if (!literal) {
		cfg_error(ld, path, "listen address must be an IP literal, e.g. 0.0.0.0:443 or [::]:443");
	}
	if (!cJSON_IsObject(v)) {
		cfg_error(ld, path, "expected an object of protocols");
		return;
	}
	check_duplicates(ld, v, path);
	l->groups = calloc(cJSON_GetArraySize(v) + 1, sizeof(*l->groups));
	if (!l->groups) {
		cfg_error(ld, path, "out of memory");
		return;
	}
	for (const cJSON *p = v->child; p; p = p->next) {
		char *pp = path_join(path, p->string);
		const struct proto *proto = NULL;

		if (!strcmp(p->string, "CATCHALL")) {
			struct pgroup tmp = { 0 };
			struct rule *ca = NULL;

			parse_group(ld, p, pp, NULL, &tmp, &ca);
			/* Kept for freeing; its only rule is the catchall. */
			l->groups[ng] = tmp;
			l->groups[ng].proto = NULL;
			l->catchall = ca;
			ng++;
		} else if ((proto = proto_find(p->string))) {
			struct rule *ca = NULL;

			parse_group(ld, p, pp, proto, &l->groups[ng], &ca);
			l->groups[ng].catchall = ca;
			ng++;
		} else {
			char names[256] = "";
			size_t n = 0;

			for (const struct proto *const *q = proto_table; *q; q++)
				n += snprintf(names + n, sizeof(names) - n, "%s, ",
					      (*q)->name);
			cfg_error(ld, pp, "unknown protocol (known: %sCATCHALL)", names);
		}
		free(pp);
	}
	l->ngroups = ng;
	if (!ng)
		cfg_error(ld, path, "no protocols: add at least a \"CATCHALL\"");
}

static void parse_settings(struct loader *ld, const cJSON *root,
			   struct settings *s)
{
	for (const cJSON *f = root->child; f; f = f->next) {
		const char *k = f->string;
		char *p = path_join("", k);
		uint64_t n = 0;

		if (!strcmp(k, "version") || !strcmp(k, "min_version")) {
			if (!cJSON_IsString(f))
				cfg_error(ld, p, "expected a string such as \"v0.2.0\"");
			else if (!ld->cfg->version)
				ld->cfg->version = strdup(f->valuestring);
		} else if (!strcmp(k, "servers")) {
			/* below */
		} else if (!strcmp(k, "workers")) {
			if (!get_count(ld, f, p, 0, 1024, &n))
				s->workers = (int)n;
		} else if (!strcmp(k, "sniff_timeout")) {
			get_duration(ld, f, p, &s->sniff_timeout_ms);
		} else if (!strcmp(k, "sniff_max_bytes")) {
			if (!get_size(ld, f, p, &n)) {
				if (n < 64 || n > SNIFF_MAX_LIMIT)
					cfg_error(ld, p, "must be from 64 to %d bytes",
						  SNIFF_MAX_LIMIT);
				else
					s->sniff_max = n;
			}
		} else if (!strcmp(k, "connect_timeout")) {
			get_duration(ld, f, p, &s->connect_timeout_ms);
		} else if (!strcmp(k, "resolve_interval")) {
			if (!get_duration(ld, f, p, &n)) {
				if (n < 1000)
					cfg_error(ld, p, "must be at least 1s");
				else
					s->resolve_interval_ms = n;
			}
		} else if (!strcmp(k, "max_connections")) {
			get_count(ld, f, p, 1, 1 << 22, &s->max_connections);
		} else if (!strcmp(k, "conn_buffer")) {
			if (!get_size(ld, f, p, &n)) {
				if (n && n < 65536)
					cfg_error(ld, p, "must be 0 (unlimited) or at least 64KiB");
				else if (n > (1ULL << 31))
					cfg_error(ld, p, "must be at most 2GiB");
				else
					s->conn_buffer = n;
			}
		} else if (!strcmp(k, "mode")) {
			if (!cJSON_IsString(f) || data_mode_parse(f->valuestring, &s->mode))
				cfg_error(ld, p, "expected \"auto\", \"sockmap\" or \"splice\"");
		} else {
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
 * alone, [::]:P takes both families as Go's listener did. */
static void mark_v6only(struct config *c)
{
	for (int i = 0; i < c->nlisteners; i++) {
		struct listener *l = &c->listeners[i];

		if (l->addr.ss_family != AF_INET6)
			continue;
		for (int j = 0; j < c->nlisteners; j++)
			if (c->listeners[j].addr.ss_family == AF_INET &&
			    addr_port((struct sockaddr *)&c->listeners[j].addr) ==
				    addr_port((struct sockaddr *)&l->addr))
				l->v6only = true;
	}
}

struct config *config_parse(const char *json, size_t len, const char *name,
			    const struct settings *cli, unsigned cli_set,
			    char *errbuf, size_t errlen)
{
	struct loader ld = { .name = name, .err = errbuf, .errlen = errlen };
	const char *end = NULL;
	const cJSON *servers;
	struct config *c;
	cJSON *root;
	int n = 0;

	if (errlen)
		errbuf[0] = '\0';
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	ld.cfg = c;
	c->file = strdup(name);
	settings_default(&c->set);

	root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
	if (!root) {
		int line = 1, col = 1;

		for (const char *p = json; end && p < end && p < json + len; p++) {
			if (*p == '\n') {
				line++;
				col = 1;
			} else {
				col++;
			}
		}
		cfg_error(&ld, NULL, "line %d column %d: JSON syntax error", line, col);
		goto out;
	}
	if (!cJSON_IsObject(root)) {
		cfg_error(&ld, NULL, "expected a JSON object at the top level");
		goto out;
	}
	check_duplicates(&ld, root, "");
	parse_settings(&ld, root, &c->set);

	servers = cJSON_GetObjectItemCaseSensitive(root, "servers");
	if (!servers || !cJSON_IsObject(servers) || !servers->child) {
		cfg_error(&ld, "servers", servers ? "expected a non-empty object of listen addresses"
						  : "missing");
		goto out;
	}
	check_duplicates(&ld, servers, "servers");
	c->listeners = calloc(cJSON_GetArraySize(servers), sizeof(*c->listeners));
	if (!c->listeners)
		goto out;
	for (const cJSON *s = servers->child; s; s = s->next) {
		char *sp = path_join("servers", s->string);

		parse_listener(&ld, s, sp, &c->listeners[n]);
		for (int j = 0; j < n; j++)
			if (c->listeners[j].addrlen &&
			    same_addr(&c->listeners[j], &c->listeners[n]))
				cfg_error(&ld, sp, "same address as \"%s\"",
					  c->listeners[j].text);
		free(sp);
		n++;
	}
	c->nlisteners = n;
	mark_v6only(c);

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

static void rule_free(struct rule *r)
{
	free(r->key);
	free(r->path);
	free(r->m.arg);
	free(r->up.text);
}

void config_free(struct config *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->nlisteners; i++) {
		struct listener *l = &c->listeners[i];

		for (int g = 0; g < l->ngroups; g++) {
			for (int r = 0; r < l->groups[g].nrules; r++)
				rule_free(&l->groups[g].rules[r]);
			free(l->groups[g].rules);
		}
		free(l->groups);
		free(l->text);
	}
	free(c->listeners);
	for (int i = 0; i < c->ndns; i++)
		dns_entry_free(c->dns[i]);
	free(c->dns);
	free(c->version);
	free(c->file);
	free(c);
}
