// SPDX-License-Identifier: GPL-2.0
/* passthru: one port, many protocols, spliced in the kernel. */
#include <errno.h>
#include <sched.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "conn/admit.h"
#include "config/config.h"
#include "base/crash.h"
#include "conn/listen.h"
#include "base/log.h"
#include "base/metrics.h"
#include "ops/memstat.h"
#include "ops/metrics_http.h"
#include "ops/stats.h"
#include "ops/reload.h"
#include "ops/runtime.h"
#include "ops/takeover.h"
#include "ops/privs.h"
#include "ops/feature_probe.h"
#include "base/resolve.h"
#include "datapath/kpath.h"
#include "datapath/steer.h"
#include "datapath/udpk.h"
#include "base/util.h"
#include "conn/worker.h"

static const char usage[] =
	"Usage: passthru -c FILE [options]\n"
	"\n"
	"Route each TCP connection by its first bytes (TLS SNI, HTTP Host, SSH\n"
	"banner, ...) to an upstream, then splice both sockets in the kernel.\n"
	"\n"
	"  -c, --config FILE        JSON configuration (required)\n"
	"  -w, --workers N          event-loop threads (default: one per CPU)\n"
	"  -t, --timeout DURATION   sniff timeout, e.g. 5s, 500ms (default 5s)\n"
	"      --mode MODE          data path: auto (default), sockmap, splice\n"
	"      --check              validate the configuration and exit\n"
	"      --takeover           take over a running passthru with this\n"
	"                           configuration: its sockets, maps, connections\n"
	"      --probe              report what the kernel supports and which\n"
	"                           data path would run (exit 0: sockmap, 1: splice)\n"
	"      --user USER          after binding and loading BPF, run as USER\n"
	"                           with only the capabilities needed (see passthru(8))\n"
	"      --log-level LEVEL    error, warn, info (default), debug\n"
	"      --log-format FMT     text, json, journal, auto (default: journal\n"
	"                           when stderr is journald's, else text)\n"
	"  -v, --verbose            debug logs, including libbpf's\n"
	"  -h, --help               this help\n"
	"  -V, --version            print the version\n"
	"\n"
	"\n"
	"       passthru stats (-c FILE | --metrics HOST:PORT) [--json]\n"
	"                           print a running passthru's counters\n"
	"\n"
	"Signals: SIGHUP reloads the configuration; SIGTERM stops accepting and\n"
	"lets connections finish (shutdown_grace), a second one closes them.\n"
	"Exit status: 0 ok, 1 runtime or configuration error, 2 usage error.\n";

static void die_usage(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

static void die_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "passthru: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'passthru --help'.\n");
	exit(2);
}

/* Go's flag package, which the original passthru used, writes -c=file. */
static const char *optval(const char *s)
{
	return s && s[0] == '=' ? s + 1 : s;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	/* Two fds per connection: take all the hard limit allows. */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int data_path_init(const struct config *cfg)
{
	char why[256] = "";
	int err;

	if (cfg->set.mode == MODE_SPLICE) {
		pr_warn("data path: splice (requested by --mode splice; bytes are moved by splice(2) through pipes)");
		return 0;
	}
	err = kpath_init((uint32_t)settings_kernel_slots(&cfg->set), why, sizeof(why));
	if (!err) {
		if (kpath_backpressure() || cfg->set.mode == MODE_SOCKMAP ||
		    !cfg->set.conn_buffer)
			pr_info("data path: sockmap (BPF sk_skb verdict redirects bytes in the kernel; %u connections there at once, kernel_connections)",
				kpath_slots());
		if (kpath_backpressure() || !cfg->set.conn_buffer)
			return 0;
		if (cfg->set.mode == MODE_SOCKMAP) {
			pr_warn("back-pressure unavailable (%s): a peer that stops reading lets kernel memory grow",
				kpath_backpressure_why());
			return 0;
		}
		/* auto never trades the memory bound for speed. */
		kpath_fini();
		pr_warn("data path: splice (FALLBACK: the kernel path would run without back-pressure: %s; --mode sockmap runs it anyway)",
			kpath_backpressure_why());
		return 0;
	}
	if (cfg->set.mode == MODE_SOCKMAP) {
		pr_err("data path: sockmap requested but unavailable: %s", why);
		return err;
	}
	pr_warn("data path: splice (FALLBACK: sockmap unavailable: %s)", why);
	return 0;
}

/* Accept steering: with one worker there is nothing to choose; without
 * BPF the kernel's hash spreads connections, as in every SO_REUSEPORT
 * server. */
static void steer_start(const struct config *cfg, int nworkers)
{
	char why[256] = "";
	bool by_cpu = cfg->set.steering == STEER_CPU;

	if (nworkers < 2)
		return;
	if (cfg->set.steering == STEER_HASH) {
		pr_info("accept steering: hash (worker_steering \"hash\": the kernel spreads new connections over the %d workers)",
			nworkers);
		return;
	}
	if (steer_init(nworkers, by_cpu, why, sizeof(why))) {
		pr_warn("accept steering: hash (FALLBACK: %s): every worker wakes for its share of new connections",
			why);
	} else if (steer_by_cpu()) {
		pr_info("accept steering: cpu (each of the %d workers pinned to a CPU; a reuseport BPF program gives a new connection to the worker of the CPU that took its SYN, or, past %d%% of a CPU, to the first using less)",
			nworkers, steer_full_permille() / 10);
	} else {
		pr_info("accept steering: pack (a reuseport BPF program gives a new connection to the first of the %d workers using less than %d%% of a CPU)%s%s%s",
			nworkers, steer_full_permille() / 10, by_cpu ? "; not cpu: " : "",
			by_cpu ? why : "", by_cpu && !why[0] ? "?" : "");
	}
}

/* The UDP data path (QUIC flows), the TCP rule: --mode auto (and
 * sockmap) use the kernel path when it loads, and say loudly when it
 * does not; --mode splice, or "udp_data_path": "userspace", keep UDP in
 * userspace.  Only with UDP listeners: the program would otherwise look
 * at every UDP datagram of the host for nothing.  A UDP listener added
 * by a reload runs in userspace until the next start. */
static void udp_path_init(const struct config *cfg)
{
	char why[256] = "";

	if (!cfg->nudp)
		return;
	if (cfg->set.mode == MODE_SPLICE) {
		pr_info("udp data path: userspace (requested by --mode splice)");
		return;
	}
	if (cfg->set.udp_userspace) {
		pr_info("udp data path: userspace (requested by \"udp_data_path\": \"userspace\")");
		return;
	}
	if (udpk_init((uint32_t)cfg->set.max_udp_flows, why, sizeof(why))) {
		pr_warn("udp data path: userspace (FALLBACK: the kernel path is unavailable: %s)", why);
		return;
	}
	pr_info("udp data path: udp-kernel (a tc program on %s forwards decided flows' datagrams in the kernel)",
		udpk_ifaces());
}

static bool all_done(const struct worker *ws, int n)
{
	for (int i = 0; i < n; i++)
		if (!ws[i].done)
			return false;
	return true;
}

/* SIGTERM: stop accepting, let the connections finish within the grace
 * period; a second signal, or the end of the period, closes the rest. */
static void drain(struct worker *ws, int n, const sigset_t *sigs, int sig,
		  uint64_t grace_ms)
{
	struct timespec tick = { .tv_nsec = 100 * 1000 * 1000 };
	uint64_t deadline = now_ms() + grace_ms;
	unsigned open = 0;

	for (int i = 0; i < n; i++)
		open += ws[i].nconns;
	pr_info("%s: no longer accepting; %u connection%s open, waiting up to %llu ms",
		strsignal(sig), open, open == 1 ? "" : "s", (unsigned long long)grace_ms);
	for (int i = 0; i < n; i++)
		worker_drain(&ws[i], deadline);
	while (!all_done(ws, n)) {
		int s = sigtimedwait(sigs, NULL, &tick);

		if (s == SIGTERM || s == SIGINT) {
			pr_info("%s again: closing every connection now", strsignal(s));
			for (int i = 0; i < n; i++)
				worker_stop(&ws[i]);
			break;
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "workers", required_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ "mode", required_argument, NULL, 'm' },
		{ "check", no_argument, NULL, 'C' },
		{ "probe", no_argument, NULL, 'P' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "user", required_argument, NULL, 'U' },
		{ "takeover", no_argument, NULL, 'T' },
		{ "log-format", required_argument, NULL, 'F' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static struct runtime rt;
	const char *user = NULL;
	bool check = false, probe = false, level_set = false, fmt_set = false;
	bool takeover = false;
	struct inherited in = { .sock = -1 };
	enum log_level level = LOG_INFO;
	enum log_format logfmt = LOG_AUTO;
	int verbose = 0, opt, status = 0, sig;
	struct config *cfg;
	sigset_t sigs;

	if (argc > 1 && !strcmp(argv[1], "stats"))
		return stats_main(argc - 1, argv + 1);

	settings_default(&rt.cli);
	while ((opt = getopt_long(argc, argv, "c:w:t:vhV", opts, NULL)) != -1) {
		const char *v = optval(optarg);
		uint64_t n;

		switch (opt) {
		case 'c':
			rt.file = v;
			break;
		case 'w': {
			char *end;
			long l = strtol(v, &end, 10);

			if (!*v || *end || l < 0 || l > MAX_WORKERS)
				die_usage("-w: expected a number of workers from 0 to %d, got '%s'",
					  MAX_WORKERS, v);
			rt.cli.workers = (int)l;
			rt.cli_set |= SET_WORKERS;
			break;
		}
		case 't':
			if (parse_duration_ms(v, &n) || !n)
				die_usage("-t: expected a duration such as 5s or 500ms, got '%s'", v);
			rt.cli.sniff_timeout_ms = n;
			rt.cli_set |= SET_SNIFF_TIMEOUT;
			break;
		case 'm':
			if (data_mode_parse(v, &rt.cli.mode))
				die_usage("--mode: expected auto, sockmap or splice, got '%s'", v);
			rt.cli_set |= SET_MODE;
			break;
		case 'C':
			check = true;
			break;
		case 'P':
			probe = true;
			break;
		case 'U':
			user = v;
			break;
		case 'T':
			takeover = true;
			break;
		case 'L':
			if (log_level_parse(v, &level))
				die_usage("--log-level: expected error, warn, info or debug, got '%s'", v);
			level_set = true;
			break;
		case 'F':
			if (log_format_parse(v, &logfmt))
				die_usage("--log-format: expected text, json, journal or auto, got '%s'", v);
			fmt_set = true;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case 'V':
			printf("passthru %s\n", PASSTHRU_VERSION);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind < argc)
		die_usage("unexpected argument '%s'", argv[optind]);
	log_init(verbose ? LOG_DEBUG : level, logfmt);
	log_libbpf_setup();
	if (probe)
		return feature_probe_report();
	if (!rt.file)
		die_usage("%s", "a configuration file is required: -c FILE");

	cfg = config_load(rt.file, &rt.cli, rt.cli_set);
	if (!cfg)
		return 1;
	if (check) {
		int rules = 0;

		for (int i = 0; i < cfg->nlisteners; i++)
			if (!cfg->listeners[i].shared)
				for (int g = 0; g < cfg->listeners[i].ngroups; g++)
					rules += cfg->listeners[i].groups[g].nrules;
		for (int i = 0; i < cfg->nudp; i++)
			if (!cfg->udp[i].shared)
				for (int g = 0; g < cfg->udp[i].ngroups; g++)
					rules += cfg->udp[i].groups[g].nrules;
		printf("%s: OK (%d listener%s, %d rule%s)\n", rt.file, cfg->nlisteners + cfg->nudp,
		       cfg->nlisteners + cfg->nudp == 1 ? "" : "s", rules, rules == 1 ? "" : "s");
		config_put(cfg);
		return 0;
	}
	/* The file's logging settings, unless the command line said. */
	if (!verbose && (cfg->set.log_level_set || cfg->set.log_format != LOG_AUTO))
		log_init(level_set || !cfg->set.log_level_set ? level : cfg->set.log_level,
			 fmt_set ? logfmt : cfg->set.log_format);
	if (!user && cfg->set.user[0])
		user = cfg->set.user;
	rt.cfg = cfg;
	__atomic_store_n(&rt.max_connections, cfg->set.max_connections, __ATOMIC_RELAXED);

	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	crash_handlers_install();
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	/* Threads inherit the mask: only the main thread takes signals. */
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	if (takeover) {
		if (takeover_prepare(&rt, &in)) {
			inherited_free(&in);
			config_put(cfg);
			return 1;
		}
		/* The maps were sized by the predecessor. */
		if (in.max_connections && in.max_connections != cfg->set.max_connections) {
			pr_warn("takeover: keeping max_connections %u of the running process",
				in.max_connections);
			cfg->set.max_connections = in.max_connections;
		}
	}
	for (int i = 0; !takeover && i < cfg->nlisteners + cfg->nudp; i++) {
		const struct listener *l = i < cfg->nlisteners ? &cfg->listeners[i]
							       : &cfg->udp[i - cfg->nlisteners];
		int err = listener_available(l);

		if (err) {
			pr_err("servers.\"%s\": cannot listen: %s%s", l->text,
			       strerror(-err),
			       err == -EADDRINUSE ? " (is another passthru or server running there?)"
			       : err == -EACCES ? " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
			       : err == -EADDRNOTAVAIL ? " (no local interface has this address)" : "");
			config_put(cfg);
			return 1;
		}
	}
	if (in.kernel) {
		char why[256];

		if (kpath_adopt(in.bpf, in.cgroup, why, sizeof(why))) {
			pr_err("takeover: the kernel path cannot be taken over: %s", why);
			in.kernel = false;	/* closed by kpath_adopt */
			inherited_free(&in);
			config_put(cfg);
			return 1;
		}
		pr_info("data path: sockmap (taken over: same maps, this binary's programs)");
	} else if (data_path_init(cfg)) {
		inherited_free(&in);
		config_put(cfg);
		return 1;
	}
	udp_path_init(cfg);

	rt.nworkers = cfg->set.workers;
	if (rt.nworkers <= 0) {
		/* One per CPU it may run on (a cpuset or taskset leaves
		 * fewer than are online): more would only take turns. */
		cpu_set_t cs;
		long n = !sched_getaffinity(0, sizeof(cs), &cs) ? CPU_COUNT(&cs)
							       : sysconf(_SC_NPROCESSORS_ONLN);

		rt.nworkers = n > 0 ? (int)(n < MAX_WORKERS ? n : MAX_WORKERS) : 1;
	}
	if ((uint64_t)rt.nworkers > cfg->set.max_connections)
		rt.nworkers = (int)cfg->set.max_connections;
	steer_start(cfg, rt.nworkers);
	kpath_set_limit(cfg->set.conn_buffer);
	{
		int rb = kpath_rcvbuf();

		up_set_rcvbuf(rb);
		if (rb)
			pr_info("data path: net.ipv4.tcp_rmem allows less than %d MiB of receive buffer: kernel-path sockets get SO_RCVBUF %d MiB (back-pressure stalls in smaller windows)",
				rb >> 20, rb >> 20);
	}
	metrics_init(rt.nworkers);
	metrics_set_path(kpath_ready() ? "sockmap" : "splice");
	metrics_attach(cfg);
	/* The baseline of kernel memory: before any connection of ours. */
	memstat_init(kpath_map_memory());
	if (limits_attach(cfg)) {
		pr_err("out of memory for the per-source tables");
		status = 1;
		goto out;
	}
	if (cfg->set.metrics[0] && metrics_serve(cfg->set.metrics, takeover)) {
		status = 1;
		goto out;
	}
	rt.workers = calloc(rt.nworkers, sizeof(*rt.workers));
	if (!rt.workers) {
		status = 1;
		goto out;
	}
	/* Kernel slots: as many as the maps hold (a predecessor's maps keep
	 * its size), split between the workers like the connections. */
	uint32_t kslots = kpath_ready() ? kpath_slots() : 0;

	for (int i = 0; i < rt.nworkers; i++) {
		uint32_t per = kslots / (uint32_t)rt.nworkers;

		if (worker_setup(&rt.workers[i], i, cfg, i * per, per, rt.nworkers)) {
			status = 1;
			rt.nworkers = i + 1;
			goto out_workers;
		}
		rt.wake[i] = rt.workers[i].wakefd;
	}
	/* Programs loaded and proven, workers ready: only now does the
	 * predecessor pause, for as long as its sockets take to cross. */
	if (takeover && takeover_receive(&rt, &in)) {
		status = 1;
		goto out_workers;
	}
	if (takeover ? takeover_adopt(&rt, &in) : 0) {
		status = 1;
		goto out_workers;
	}
	for (int i = 0; !takeover && i < rt.nworkers; i++) {
		if (worker_listen(&rt.workers[i])) {
			status = 1;
			goto out_workers;
		}
	}
	control_bind(&rt);
	if (user && privs_drop(user)) {
		status = 1;
		goto out_workers;
	}
	worker_registry(rt.workers, rt.nworkers);
	for (int i = 0; i < cfg->nlisteners; i++)
		pr_info("listening on %s", cfg->listeners[i].text);
	for (int i = 0; i < cfg->nudp; i++)
		pr_info("listening on %s (QUIC, forwarded %s)", cfg->udp[i].text,
			udpk_ready() ? "by the kernel path once decided" : "in userspace");
	if (resolver_start(cfg->set.resolve_interval_ms, rt.wake, rt.nworkers)) {
		pr_err("cannot start the resolver thread");
		status = 1;
		goto out_workers;
	}
	for (int i = 0; i < rt.nworkers; i++) {
		if (worker_start(&rt.workers[i])) {
			pr_err("cannot start worker %d", i);
			status = 1;
			for (int j = 0; j < i; j++) {
				worker_stop(&rt.workers[j]);
				worker_join(&rt.workers[j]);
			}
			goto out_resolver;
		}
	}
	if (takeover) {
		/* The predecessor exits when it reads this. */
		takeover_finish(&in);
		inherited_free(&in);
	}
	control_start(&rt);
	pr_info("passthru %s started: %d worker%s, sniff timeout %llu ms",
		PASSTHRU_VERSION, rt.nworkers, rt.nworkers == 1 ? "" : "s",
		(unsigned long long)cfg->set.sniff_timeout_ms);

	for (;;) {
		/* Each second: log lines of per-source refusals still due. */
		sig = sigtimedwait(&sigs, NULL, &(struct timespec){ .tv_sec = 1 });
		if (sig < 0) {
			admit_tick();
			continue;
		}
		if (sig == SIGHUP) {
			reload(&rt);
			continue;
		}
		break;
	}
	control_stop();
	drain(rt.workers, rt.nworkers, &sigs, sig, rt.cfg->set.shutdown_grace_ms);
	for (int i = 0; i < rt.nworkers; i++)
		worker_join(&rt.workers[i]);
out_resolver:
	resolver_stop();
out_workers:
	for (int i = 0; i < rt.nworkers; i++)
		worker_cleanup(&rt.workers[i]);
out:
	if (takeover)
		inherited_free(&in);
	metrics_stop();
	free(rt.workers);
	kpath_fini();
	udpk_fini();
	steer_fini();
	config_put(rt.cfg ? rt.cfg : cfg);
	return status;
}
