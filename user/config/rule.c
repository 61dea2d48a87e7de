// SPDX-License-Identifier: GPL-2.0
/* Config loader, second half: the rules of a protocol (object or array
 * form), their keys ("SNI *.example"), conditions ("src", "alpn"...),
 * actions and upstreams, and a listener's on_timeout route. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config_int.h"
#include "base/metrics.h"
#include "base/resolve.h"
#include "base/util.h"

/* ---- targets ------------------------------------------------------------ */

/* One resolver entry per host name, whatever the ports. */
static struct target_state *target_state_new(void)
{
	return calloc(1, sizeof(struct target_state));
}

static void target_state_free(struct target_state *st)
{
	free(st);
}

static struct dns_entry *dns_intern(struct config *c, const char *host)
{
	struct dns_entry **grown, *e;

	for (int i = 0; i < c->ndns; i++)
		if (!strcasecmp(dns_entry_name(c->dns[i]), host))
			return c->dns[i];
	e = dns_ref(host);
	if (!e)
		return NULL;
	grown = realloc(c->dns, (c->ndns + 1) * sizeof(*grown));
	if (!grown) {
		dns_unref(e);
		return NULL;
	}
	c->dns = grown;
	c->dns[c->ndns++] = e;
	return e;
}

static void parse_target(struct loader *ld, const cJSON *v, const char *path,
			 struct target *t)
{
	const char *why = NULL;
	bool literal;

	t->st = target_state_new();
	if (!t->st) {
		cfg_error(ld, path, "out of memory");
		return;
	}
	if (!cJSON_IsString(v)) {
		cfg_error(ld, path, "expected a string \"host:port\"");
		return;
	}
	t->text = strdup(v->valuestring);
	if (addr_parse(v->valuestring, t->host, sizeof(t->host), &t->port,
		       &t->addr, &t->addrlen, &literal, &why)) {
		cfg_error(ld, path, "%s", why);
		return;
	}
	t->literal = literal;
	if (!literal) {
		t->dns = dns_intern(ld->cfg, t->host);
		if (!t->dns)
			cfg_error(ld, path, "out of memory");
	}
}

/* "to_addr": "host:port" or ["host:port", ...]. */
static void parse_to_addr(struct loader *ld, const cJSON *v, const char *path,
			  struct upstream *u)
{
	int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 1, i = 0;

	if (cJSON_IsArray(v) && (n < 1 || n > UP_MAX_TARGETS)) {
		cfg_error(ld, path, "expected 1 to %d addresses", UP_MAX_TARGETS);
		return;
	}
	u->t = calloc(n, sizeof(*u->t));
	u->rr = target_state_new();
	if (!u->t || !u->rr) {
		cfg_error(ld, path, "out of memory");
		return;
	}
	u->n = n;
	if (!cJSON_IsArray(v)) {
		parse_target(ld, v, path, &u->t[0]);
	} else {
		const cJSON *e;

		cJSON_ArrayForEach(e, v) {
			char *ep = cfg_path_index(path, i);

			parse_target(ld, e, ep, &u->t[i++]);
			free(ep);
		}
	}
	u->text = u->t[0].text ? strdup(u->t[0].text) : NULL;
}

/* ---- conditions ----------------------------------------------------------- */

/* A string or an array of strings, each passed to fn. */
typedef int (*elem_fn)(struct loader *ld, const cJSON *e, const char *path,
		       void *dst, int i);

static void parse_list(struct loader *ld, const cJSON *v, const char *path,
		       size_t size, void **out, int *n, elem_fn fn)
{
	int cnt = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 1, i = 0;
	char *arr;

	if (cJSON_IsArray(v) && !cnt) {
		cfg_error(ld, path, "empty list");
		return;
	}
	arr = calloc(cnt, size);
	if (!arr) {
		cfg_error(ld, path, "out of memory");
		return;
	}
	*out = arr;
	*n = cnt;
	if (!cJSON_IsArray(v)) {
		fn(ld, v, path, arr, 0);
		return;
	}
	for (const cJSON *e = v->child; e; e = e->next, i++) {
		char *ep = cfg_path_index(path, i);

		fn(ld, e, ep, arr + i * size, i);
		free(ep);
	}
}

static int cidr_elem(struct loader *ld, const cJSON *e, const char *path,
		     void *dst, int i)
{
	const char *why = NULL;

	if (!cJSON_IsString(e)) {
		cfg_error(ld, path, "expected a string such as \"10.0.0.0/8\" or \"::1/128\"");
		return -EINVAL;
	}
	if (cidr_parse(e->valuestring, dst, &why)) {
		cfg_error(ld, path, "%s", why);
		return -EINVAL;
	}
	return 0;
}

void parse_cidrs(struct loader *ld, const cJSON *v, const char *path,
		 struct cidr **out, int *n)
{
	parse_list(ld, v, path, sizeof(**out), (void **)out, n, cidr_elem);
}

static int port_elem(struct loader *ld, const cJSON *e, const char *path,
		     void *dst, int i)
{
	struct port_range *r = dst;
	const char *why = NULL;

	if (cJSON_IsNumber(e) && e->valuedouble >= 1 && e->valuedouble <= 65535 &&
	    e->valuedouble == (double)(int)e->valuedouble) {
		r->lo = r->hi = (uint16_t)e->valuedouble;
		return 0;
	}
	if (cJSON_IsString(e) && !port_range_parse(e->valuestring, r, &why))
		return 0;
	cfg_error(ld, path, "%s", why ? why : "expected a port from 1 to 65535 or a range such as \"8000-8099\"");
	return -EINVAL;
}

static int alpn_elem(struct loader *ld, const cJSON *e, const char *path,
		     void *dst, int i)
{
	char **s = dst;

	if (!cJSON_IsString(e) || !*e->valuestring || strlen(e->valuestring) > 255) {
		cfg_error(ld, path, "expected an ALPN protocol name such as \"h2\"");
		return -EINVAL;
	}
	*s = strdup(e->valuestring);
	return 0;
}

/* ---- rule keys -------------------------------------------------------------- */

/* "SNI a.example" -> keyword SNI, argument a.example.  The keyword alone
 * tests for absence where that means something ("SNI": no server_name). */
static void parse_rule_key(struct loader *ld, const struct proto *proto,
			   const char *key, const char *path, struct rule *r)
{
	const struct proto_keyword *kw;
	const char *sp = strchr(key, ' ');
	size_t wlen = sp ? (size_t)(sp - key) : strlen(key);
	const char *arg = sp ? sp + 1 : NULL, *why = NULL;
	char whybuf[256];

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
			n += snprintf(words + n, sizeof(words) - n, "%s\"%s%s\"",
				      n ? ", " : "", k->word, k->needs_arg ||
				      k->field != FIELD_ANY ? " ..." : "");
		if (!strcmp(proto->name, "TLS"))
			n += snprintf(words + n, sizeof(words) - n, ", \"ECH\"");
		cfg_error(ld, path, "unknown rule for %s (expected %s or \"CATCHALL\")",
			  proto->name, words);
		return;
	}
	while (arg && *arg == ' ')
		arg++;
	if (arg && !*arg)
		arg = NULL;
	/* "SNI" and "Host" alone: the name is absent. */
	if (kw->needs_arg && !arg && kw->field != FIELD_SNI && kw->field != FIELD_HOST) {
		cfg_error(ld, path, "rule \"%s\" needs a value, e.g. \"%s %s\"", kw->word,
			  kw->word, kw->field == FIELD_REGEX ? "^SSH-2\\\\.0" :
			  kw->field == FIELD_ALPN ? "h2" : "example.com");
		return;
	}
	r->m.field = kw->field;
	r->m.arg = arg ? strdup(arg) : NULL;
	switch (kw->field) {
	case FIELD_ANY:
	case FIELD_ECH:
		if (arg)
			cfg_error(ld, path, "rule \"%s\" takes no value", kw->word);
		return;
	case FIELD_SSH_BANNER:
		if (!arg) {
			r->m.field = FIELD_ANY;		/* "SSH": any client */
			return;
		}
		break;
	case FIELD_REGEX:
		if (bytes_regex_compile(&r->m.re, arg, false, whybuf, sizeof(whybuf), &why))
			cfg_error(ld, path, "%s", why);
		else
			r->m.has_re = true;
		return;
	default:
		break;
	}
	/* Names: SNI and Host as host names; banners, cookies and ALPN ids
	 * as written. */
	if (name_compile(&r->m.name, arg, kw->field == FIELD_SNI || kw->field == FIELD_HOST,
			 whybuf, sizeof(whybuf), &why))
		cfg_error(ld, path, "%s", why);
}

/* ---- rule objects ---------------------------------------------------------- */

enum where {
	W_RULE,		/* under a protocol */
	W_TIMEOUT,	/* a listener's on_timeout */
};

static const struct {
	const char *name;
	uint8_t code;
} alerts[] = {
	{ "unrecognized_name", 112 },
	{ "handshake_failure", 40 },
	{ "access_denied", 49 },
	{ "internal_error", 80 },
	{ "protocol_version", 70 },
	{ "no_application_protocol", 120 },
};

static void parse_alert(struct loader *ld, const cJSON *v, const char *path,
			struct rule *r)
{
	if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 255 &&
	    v->valuedouble == (double)(int)v->valuedouble) {
		r->alert = (uint8_t)v->valuedouble;
		return;
	}
	for (size_t i = 0; cJSON_IsString(v) && i < ARRAY_SIZE(alerts); i++) {
		if (!strcmp(v->valuestring, alerts[i].name)) {
			r->alert = alerts[i].code;
			return;
		}
	}
	cfg_error(ld, path, "expected an alert number or one of \"unrecognized_name\", "
		  "\"handshake_failure\", \"access_denied\", \"internal_error\", "
		  "\"protocol_version\", \"no_application_protocol\"");
}

static void parse_health(struct loader *ld, const cJSON *v, const char *path,
			 struct upstream *u)
{
	uint64_t n = 3;

	u->health_fails = 3;
	u->health_cooldown_ms = 10000;
	if (!cJSON_IsObject(v)) {
		cfg_error(ld, path, "expected {\"fails\": 3, \"cooldown\": \"10s\"}");
		return;
	}
	for (const cJSON *f = v->child; f; f = f->next) {
		char *fp = cfg_path_join(path, f->string);

		if (!strcmp(f->string, "fails")) {
			if (!cfg_get_count(ld, f, fp, 1, 1000, &n))
				u->health_fails = (uint32_t)n;
		} else if (!strcmp(f->string, "cooldown")) {
			cfg_get_duration(ld, f, fp, &u->health_cooldown_ms);
		} else {
			cfg_error(ld, fp, "unknown key (expected \"fails\", \"cooldown\")");
		}
		free(fp);
	}
}

/* Keys only a FORWARD takes, and only a REJECT takes: named in errors. */
#define FORWARD_KEYS "to_addr, balance, connect_timeout, health, send_proxy, transparent"

static void parse_rule_obj(struct loader *ld, const struct proto *proto,
			   const cJSON *v, const char *path, struct rule *r,
			   enum where where, bool array_form)
{
	const cJSON *act = NULL, *to = NULL;
	const char *fwd_key = NULL, *rej_key = NULL, *cond_key = NULL;

	r->c.ech = -1;
	if (!cJSON_IsObject(v)) {
		cfg_error(ld, path, "expected an object {\"action\": ...}");
		return;
	}
	cfg_check_duplicates(ld, v, path);
	for (const cJSON *f = v->child; f; f = f->next) {
		const char *k = f->string;
		char *fp;
		uint64_t n = 0;

		if (cfg_dup_before(v, f))
			continue;	/* reported by check_duplicates */
		fp = cfg_path_join(path, k);
		if (!strcmp(k, "action")) {
			act = f;
		} else if (!strcmp(k, "to_addr")) {
			to = f;
			fwd_key = k;
		} else if (!strcmp(k, "match") && array_form) {
			/* read by parse_group */
		} else if (!strcmp(k, "after") && where == W_TIMEOUT) {
			/* read by parse_on_timeout */
		} else if (!strcmp(k, "balance")) {
			fwd_key = k;
			if (!cJSON_IsString(f))
				cfg_error(ld, fp, "expected \"roundrobin\", \"first\", \"leastconn\" or \"source\"");
			else if (!strcmp(f->valuestring, "roundrobin"))
				r->up.balance = BAL_ROUNDROBIN;
			else if (!strcmp(f->valuestring, "first"))
				r->up.balance = BAL_FIRST;
			else if (!strcmp(f->valuestring, "leastconn"))
				r->up.balance = BAL_LEASTCONN;
			else if (!strcmp(f->valuestring, "source"))
				r->up.balance = BAL_SOURCE;
			else
				cfg_error(ld, fp, "expected \"roundrobin\", \"first\", \"leastconn\" or \"source\"");
		} else if (!strcmp(k, "connect_timeout")) {
			fwd_key = k;
			if (!cfg_get_duration(ld, f, fp, &n)) {
				if (!n)
					cfg_error(ld, fp, "must be more than 0");
				r->up.connect_timeout_ms = n;
			}
		} else if (!strcmp(k, "health")) {
			fwd_key = k;
			parse_health(ld, f, fp, &r->up);
		} else if (!strcmp(k, "send_proxy")) {
			fwd_key = k;
			if (cJSON_IsString(f) && !strcmp(f->valuestring, "v1"))
				r->up.send_proxy = 1;
			else if (cJSON_IsString(f) && !strcmp(f->valuestring, "v2"))
				r->up.send_proxy = 2;
			else if (!cJSON_IsFalse(f))
				cfg_error(ld, fp, "expected \"v1\" or \"v2\"");
		} else if (!strcmp(k, "transparent")) {
			fwd_key = k;
			if (!cJSON_IsBool(f))
				cfg_error(ld, fp, "expected true or false");
			r->up.transparent = cJSON_IsTrue(f);
		} else if (!strcmp(k, "reject")) {
			rej_key = k;
			if (cJSON_IsString(f) && !strcmp(f->valuestring, "close"))
				r->reject = REJECT_CLOSE;
			else if (cJSON_IsString(f) && !strcmp(f->valuestring, "rst"))
				r->reject = REJECT_RST;
			else if (cJSON_IsString(f) && !strcmp(f->valuestring, "tls-alert"))
				r->reject = REJECT_TLS_ALERT;
			else
				cfg_error(ld, fp, "expected \"close\", \"rst\" or \"tls-alert\"");
			if (r->reject == REJECT_TLS_ALERT && (!proto || strcmp(proto->name, "TLS")))
				cfg_error(ld, fp, "\"tls-alert\" is for rules under \"TLS\" only");
		} else if (!strcmp(k, "alert")) {
			rej_key = k;
			parse_alert(ld, f, fp, r);
		} else if (!strcmp(k, "src") && where == W_RULE) {
			cond_key = k;
			parse_cidrs(ld, f, fp, &r->c.src, &r->c.nsrc);
		} else if (!strcmp(k, "dst") && where == W_RULE) {
			cond_key = k;
			parse_cidrs(ld, f, fp, &r->c.dst, &r->c.ndst);
		} else if (!strcmp(k, "port") && where == W_RULE) {
			cond_key = k;
			parse_list(ld, f, fp, sizeof(*r->c.port), (void **)&r->c.port,
				   &r->c.nport, port_elem);
		} else if (!strcmp(k, "alpn") && where == W_RULE) {
			cond_key = k;
			parse_list(ld, f, fp, sizeof(*r->c.alpn), (void **)&r->c.alpn,
				   &r->c.nalpn, alpn_elem);
			if (!proto || !proto_is_tls(proto))
				cfg_error(ld, fp, "\"alpn\" is for rules under \"TLS\" or \"QUIC\" only");
		} else if (!strcmp(k, "ech") && where == W_RULE) {
			cond_key = k;
			if (!cJSON_IsBool(f))
				cfg_error(ld, fp, "expected true or false");
			r->c.ech = cJSON_IsTrue(f);
			if (!proto || !proto_is_tls(proto))
				cfg_error(ld, fp, "\"ech\" is for rules under \"TLS\" or \"QUIC\" only");
		} else {
			cfg_error(ld, fp, "unknown key (expected action, %s%s, reject, alert%s)",
				  FORWARD_KEYS, where == W_TIMEOUT ? ", after" : "",
				  where == W_RULE ? ", src, dst, port, alpn, ech" : "");
		}
		free(fp);
	}
	if (cond_key && r->catchall)
		cfg_error(ld, path, "a CATCHALL rule takes no condition (\"%s\"): it is what no other rule matched",
			  cond_key);
	if (!act) {
		cfg_error(ld, path, "\"action\" missing (FORWARD or REJECT)");
		return;
	}
	if (!cJSON_IsString(act) ||
	    (strcmp(act->valuestring, "FORWARD") && strcmp(act->valuestring, "REJECT"))) {
		char *fp = cfg_path_join(path, "action");

		cfg_error(ld, fp, "expected \"FORWARD\" or \"REJECT\"");
		free(fp);
		return;
	}
	r->action = strcmp(act->valuestring, "FORWARD") ? ACT_REJECT : ACT_FORWARD;
	if (r->action == ACT_FORWARD) {
		char *fp = cfg_path_join(path, "to_addr");

		if (!to)
			cfg_error(ld, path, "FORWARD needs \"to_addr\"");
		else
			parse_to_addr(ld, to, fp, &r->up);
		if (rej_key)
			cfg_error(ld, path, "\"%s\" is for REJECT rules", rej_key);
		free(fp);
	} else {
		if (fwd_key) {
			char *fp = cfg_path_join(path, fwd_key);

			cfg_error(ld, fp, "REJECT takes no \"%s\"", fwd_key);
			free(fp);
		}
		if (r->reject == REJECT_TLS_ALERT && !r->alert)
			r->alert = 112;		/* unrecognized_name */
		else if (r->alert && r->reject != REJECT_TLS_ALERT)
			cfg_error(ld, path, "\"alert\" needs \"reject\": \"tls-alert\"");
	}
}

static void parse_rule(struct loader *ld, const struct proto *proto,
		       const char *key, const cJSON *v, const char *path,
		       struct rule *r, bool array_form)
{
	r->key = strdup(key);
	r->path = strdup(path);
	parse_rule_key(ld, proto, key, path, r);
	parse_rule_obj(ld, proto, v, path, r, W_RULE, array_form);
}

/* A protocol's rules: {"KEY": {...}, ...} (the original form, also
 * wrapped as {"rules": {...}} by an early sample), or
 * [{"match": "KEY", ...}, ...] where a key may repeat with different
 * conditions.  Both keep the file's order. */
void parse_group(struct loader *ld, const cJSON *v, const char *path,
		 const struct proto *proto, struct pgroup *g,
		 struct rule **catchall)
{
	const cJSON *rules = v;
	bool array = cJSON_IsArray(v);
	int n = 0;

	g->proto = proto;
	if (!cJSON_IsObject(v) && !array) {
		cfg_error(ld, path, "expected an object of rules or an array of rule objects");
		return;
	}
	if (!array && cJSON_GetArraySize(v) == 1 && v->child->string &&
	    !strcmp(v->child->string, "rules") && cJSON_IsObject(v->child))
		rules = v->child;
	if (!array)
		cfg_check_duplicates(ld, rules, path);
	g->rules = calloc(cJSON_GetArraySize(rules) + 1, sizeof(*g->rules));
	if (!g->rules) {
		cfg_error(ld, path, "out of memory");
		return;
	}
	for (const cJSON *r = rules->child; r; r = r->next) {
		struct rule *dst = &g->rules[n];
		char *rp = array ? cfg_path_index(path, n) : cfg_path_join(path, r->string);
		const char *key = r->string;

		if (array) {
			const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "match");

			if (!cJSON_IsObject(r)) {
				cfg_error(ld, rp, "expected a rule object {\"match\": ..., \"action\": ...}");
				key = NULL;
			} else if (!cJSON_IsString(m)) {
				cfg_error(ld, rp, "\"match\" missing: a rule key such as \"SNI a.example\" or \"CATCHALL\"");
				key = NULL;
			} else {
				key = m->valuestring;
			}
		}
		if (key)
			parse_rule(ld, proto, key, r, rp, dst, array);
		if (dst->catchall && proto && proto->rules_decide)
			cfg_error(ld, rp, "%s matches only through its rules: put the fallback in the listener's CATCHALL",
				  proto->name);
		else if (dst->catchall) {
			if (!*catchall)
				*catchall = dst;
			else if (array)
				cfg_error(ld, rp, "a second CATCHALL would never be used");
		}
		free(rp);
		n++;
	}
	g->nrules = n;
	if (!n)
		cfg_error(ld, path, "no rules");
}

/* "on_timeout": {"after": "300ms", "action": ..., "to_addr": ...}: where a
 * client that sends nothing goes (server-first protocols). */
void parse_on_timeout(struct loader *ld, const cJSON *v, const char *path,
		      struct listener *l)
{
	const cJSON *after = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "after") : NULL;
	struct rule *r = calloc(1, sizeof(*r));

	if (!r) {
		cfg_error(ld, path, "out of memory");
		return;
	}
	l->on_timeout = r;
	r->key = strdup("on_timeout");
	r->path = strdup(path);
	parse_rule_obj(ld, NULL, v, path, r, W_TIMEOUT, false);
	if (!cJSON_IsObject(v))
		return;
	if (!after) {
		cfg_error(ld, path, "\"after\" missing: how long a silent client waits, e.g. \"300ms\"");
	} else {
		char *fp = cfg_path_join(path, "after");

		if (!cfg_get_duration(ld, after, fp, &l->on_timeout_ms) && !l->on_timeout_ms)
			cfg_error(ld, fp, "must be more than 0");
		free(fp);
	}
}

void rule_free(struct rule *r)
{
	metrics_put(r->mx);
	free(r->key);
	free(r->path);
	free(r->m.arg);
	name_free(&r->m.name);
	if (r->m.has_re)
		regfree(&r->m.re);
	free(r->c.src);
	free(r->c.dst);
	free(r->c.port);
	for (int i = 0; i < r->c.nalpn; i++)
		free(r->c.alpn[i]);
	free(r->c.alpn);
	for (int i = 0; i < r->up.n; i++) {
		free(r->up.t[i].text);
		target_state_free(r->up.t[i].st);
	}
	free(r->up.t);
	free(r->up.text);
	target_state_free(r->up.rr);
}
