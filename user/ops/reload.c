// SPDX-License-Identifier: GPL-2.0
/* Configuration reload.  A connection keeps the configuration it was
 * accepted under (a reference) until it ends, so nothing established is
 * touched: rules, listeners and upstreams change for new connections
 * only.  Listening sockets whose address stays are kept, with whatever
 * waits in their accept queues. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "conn/listen.h"
#include "base/log.h"
#include "base/metrics.h"
#include "ops/metrics_http.h"
#include "base/resolve.h"
#include "ops/reload.h"
#include "ops/runtime.h"
#include "base/util.h"

static bool listed(const struct config *c, const struct listener *l)
{
	const struct listener *ls = l->udp ? c->udp : c->listeners;
	int n = l->udp ? c->nudp : c->nlisteners;

	for (int i = 0; i < n; i++)
		if (ls[i].addrlen == l->addrlen &&
		    !memcmp(&ls[i].addr, &l->addr, l->addrlen))
			return true;
	return false;
}

/* Settings a running process cannot change: they sized memory, threads or
 * BPF maps at start, or were used before dropping privileges. */
static void keep_fixed(const struct config *cur, struct config *n)
{
	const struct settings *o = &cur->set;
	struct settings *s = &n->set;

#define FIXED(field, name)                                                   \
	do {                                                                 \
		if (memcmp(&o->field, &s->field, sizeof(o->field))) {        \
			pr_warn("reload: \"%s\" changes only at restart; keeping the running value", \
				name);                                       \
			memcpy(&s->field, &o->field, sizeof(o->field));      \
		}                                                            \
	} while (0)
	FIXED(workers, "workers");
	FIXED(max_connections, "max_connections");
	FIXED(max_udp_flows, "max_udp_flows");
	FIXED(kernel_connections, "kernel_connections");
	FIXED(mode, "mode");
	FIXED(metrics, "metrics");
	FIXED(control_socket, "control_socket");
	FIXED(user, "user");
#undef FIXED
}

int reload(struct runtime *rt)
{
	struct config *cur = rt->cfg, *n;
	uint64_t deadline;
	int rules = 0, unbound = 0;

	pr_info("SIGHUP: reloading %s", rt->file);
	n = config_load(rt->file, &rt->cli, rt->cli_set);
	if (!n) {
		pr_err("reload: %s is not valid: keeping the running configuration", rt->file);
		metrics_reload(false);
		return -EINVAL;
	}
	keep_fixed(cur, n);
	for (int i = 0; i < n->nlisteners + n->nudp; i++) {
		const struct listener *l = i < n->nlisteners ? &n->listeners[i]
							     : &n->udp[i - n->nlisteners];
		int err;

		if (listed(cur, l))
			continue;
		err = listener_available(l);
		if (err) {
			pr_err("reload: servers.\"%s\": cannot listen: %s: keeping the running configuration",
			       l->text, strerror(-err));
			config_put(n);
			metrics_reload(false);
			return err;
		}
	}
	if (limits_attach(n)) {
		pr_err("reload: out of memory for the per-source tables: keeping the running configuration");
		config_put(n);
		metrics_reload(false);
		return -ENOMEM;
	}
	metrics_attach(n);
	resolver_reload(n->set.resolve_interval_ms);

	for (int i = 0; i < rt->nworkers; i++)
		worker_adopt(&rt->workers[i], n);
	/* Each worker switches between two rounds of events. */
	deadline = now_ms() + 5000;
	for (int i = 0; i < rt->nworkers; i++)
		while (__atomic_load_n(&rt->workers[i].cfg, __ATOMIC_ACQUIRE) != n &&
		       !rt->workers[i].done && now_ms() < deadline)
			usleep(1000);
	rt->cfg = n;
	__atomic_store_n(&rt->max_connections, n->set.max_connections, __ATOMIC_RELAXED);
	config_put(cur);
	for (int i = 0; i < n->nlisteners; i++)
		for (int g = 0; g < n->listeners[i].ngroups; g++)
			rules += n->listeners[i].groups[g].nrules;
	for (int i = 0; i < n->nudp; i++)
		for (int g = 0; g < n->udp[i].ngroups; g++)
			rules += n->udp[i].groups[g].nrules;
	/* A port free at the check above may be taken before a worker binds
	 * it (by anyone, our own upstream connects' ephemeral ports too):
	 * the rest is applied, and this must not read as all of it. */
	for (int i = 0; i < rt->nworkers; i++)
		if (__atomic_load_n(&rt->workers[i].cfg, __ATOMIC_ACQUIRE) == n)
			unbound += rt->workers[i].reload_unbound;
	if (unbound) {
		pr_err("reload: applied: %d listener%s, %d rule%s; but %d listening socket%s could not be bound (see above): not served there until a reload binds %s",
		       n->nlisteners + n->nudp, n->nlisteners + n->nudp == 1 ? "" : "s",
		       rules, rules == 1 ? "" : "s", unbound, unbound == 1 ? "" : "s",
		       unbound == 1 ? "it" : "them");
		metrics_reload(true);
		return -EADDRINUSE;
	}
	pr_info("reload: applied: %d listener%s, %d rule%s", n->nlisteners + n->nudp,
		n->nlisteners + n->nudp == 1 ? "" : "s", rules, rules == 1 ? "" : "s");
	metrics_reload(true);
	return 0;
}
