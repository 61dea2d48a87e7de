/* SPDX-License-Identifier: GPL-2.0 */
/* The configuration: the original passthru JSON format, loaded into an
 * immutable tree shared by all workers.
 *
 *   servers -> "listen addr" -> PROTOCOL -> "RULE" -> {action, to_addr}
 *
 * extended with rule conditions, rule arrays, several upstreams and
 * listener options (README, "Routing").  Order is the file's order
 * everywhere (cJSON keeps it); the first match wins (route.h).
 */
#ifndef PT_CONFIG_H
#define PT_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <regex.h>
#include <sys/socket.h>

#include "base/log.h"
#include "config/match.h"
#include "proto/proto.h"
#include "config/srclimit.h"

struct dns_entry;
struct mblock;

enum action_type {
	ACT_REJECT = 0,
	ACT_FORWARD,
};

/* How a REJECT ends the connection. */
enum reject_mode {
	REJECT_CLOSE = 0,	/* FIN, after reading what was peeked */
	REJECT_RST,		/* RST (SO_LINGER 0) */
	REJECT_TLS_ALERT,	/* a fatal TLS alert record, then FIN */
};

enum balance {
	BAL_ROUNDROBIN = 0,
	BAL_FIRST,		/* in the order written: failover */
	BAL_LEASTCONN,
	BAL_SOURCE,		/* hash of the client address */
};

/* Shared by all workers, updated with atomics (upstream.c). */
/* A target's state shared by every worker (and kept by a reload that
 * keeps the rule): the balance counters and its health. */
struct target_state {
	atomic_uint rr;			/* round-robin counter (set level) */
	atomic_int active;		/* connections now (leastconn) */
	atomic_uint fails;		/* connect failures in a row */
	atomic_ullong down_until;	/* ms: tried last until then */
};

/* One "host:port" of a to_addr: a literal address, or a host name the
 * resolver keeps fresh. */
struct target {
	char *text;			/* as written */
	char host[256];
	uint16_t port;
	bool literal;
	struct sockaddr_storage addr;	/* literal only */
	socklen_t addrlen;
	struct dns_entry *dns;		/* host name only */
	struct target_state *st;
};

#define UP_MAX_TARGETS 64

/* A FORWARD's to_addr (one string or an array) and how to use it. */
struct upstream {
	char *text;			/* the first target, as written (logs) */
	struct target *t;
	int n;
	enum balance balance;
	uint64_t connect_timeout_ms;	/* 0: the global connect_timeout */
	uint32_t health_fails;		/* 0: passive health checks off */
	uint64_t health_cooldown_ms;
	int send_proxy;			/* 0, or PROXY protocol version 1/2 */
	bool transparent;		/* connect from the client's address */
	struct target_state *rr;	/* round-robin counter */
};

struct matcher {
	enum sniff_field field;
	char *arg;			/* as written after the keyword */
	struct name_match name;		/* SNI, Host, SSH, Cookie */
	bool has_re;
	regex_t re;			/* REGEX */
};

/* Conditions a rule object may add to its key; all must hold. */
struct conds {
	struct cidr *src;		/* client address */
	int nsrc;
	struct cidr *dst;		/* address the client connected to */
	int ndst;
	struct port_range *port;	/* port the client connected to */
	int nport;
	char **alpn;			/* any offered ALPN is one of these */
	int nalpn;
	int8_t ech;			/* -1 any, 0 absent, 1 present */
};

struct rule {
	char *key;			/* "SNI a.example", "CATCHALL" */
	char *path;			/* JSON path, for messages */
	bool catchall;
	struct matcher m;
	struct conds c;
	enum action_type action;
	enum reject_mode reject;
	uint8_t alert;			/* REJECT_TLS_ALERT: description */
	struct upstream up;		/* ACT_FORWARD */
	struct mblock *mx;		/* metrics, set by metrics_attach() */
};

/* One protocol under a listener, with its rules in file order. */
struct pgroup {
	const struct proto *proto;
	struct rule *rules;
	int nrules;
	struct rule *catchall;		/* the protocol's CATCHALL rule */
};

struct listener {
	char *text;			/* as written: "0.0.0.0:443", "udp/[::]:443" */
	bool udp;			/* a UDP listener ("udp/ADDR"): QUIC */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	bool v6only;			/* [::] beside 0.0.0.0 on one port */
	bool shared;			/* groups belong to an earlier listener
					 * ("ADDR1, ADDR2": one rule set) */
	struct pgroup *groups;
	int ngroups;
	struct rule *catchall;		/* "CATCHALL": {"CATCHALL": ...} */
	/* Listener options (lower-case keys beside the protocols). */
	struct rule *on_timeout;	/* client silent for on_timeout_ms */
	uint64_t on_timeout_ms;
	struct cidr *accept_proxy;	/* who may send us a PROXY header */
	int naccept_proxy;
	uint32_t regex_window;		/* REGEX waits for at most this */
	struct srclimit_cfg lim;	/* per-source limits */
	struct srclimit *sl;		/* their counts, kept across reloads
					 * (limits_attach); NULL: no limits */
	struct mblock *mx;		/* metrics, set by metrics_attach() */
};

enum data_mode {
	MODE_AUTO = 0,
	MODE_SOCKMAP,
	MODE_SPLICE,
};

enum steering { STEER_CPU, STEER_PACK, STEER_HASH };

struct settings {
	int workers;			/* 0: one per CPU */
	uint64_t sniff_timeout_ms;
	uint64_t sniff_max;		/* bytes peeked before giving up */
	uint64_t connect_timeout_ms;
	uint64_t resolve_interval_ms;
	uint64_t max_connections;	/* open at once, all paths */
	/* Connections on the kernel path at once: sizes the BPF maps, which
	 * the kernel allocates whole at start (~360 B per slot); 0 = the
	 * default (settings_kernel_slots). */
	uint64_t kernel_connections;
	uint64_t conn_buffer;		/* per-direction kernel queue limit */
	uint64_t kernel_after;		/* auto: relayed bytes before the kernel */
	enum data_mode mode;
	uint64_t max_sniffing;		/* connections being sniffed at once */
	uint64_t shutdown_grace_ms;	/* SIGTERM: time left to connections */
	char metrics[64];		/* "ip:port" of the metrics endpoint */
	char control_socket[108];	/* unix socket for --takeover */
	char user[64];			/* run as, after start-up */
	enum log_level log_level;
	bool log_level_set;
	enum log_format log_format;
	struct srclimit_cfg lim;	/* every listener's default */
	/* UDP listeners (QUIC): a flow ends after this long without a
	 * datagram either way; at most max_udp_flows at once; while its
	 * route is not known, a flow keeps at most udp_pending_datagrams
	 * datagrams and udp_pending_bytes bytes. */
	uint64_t udp_idle_timeout_ms;
	uint64_t max_udp_flows;
	uint64_t udp_pending_datagrams;
	uint64_t udp_pending_bytes;
	/* "udp_data_path": "userspace" keeps UDP flows in userspace even
	 * where the kernel path loads (read at start only). */
	bool udp_userspace;
	/* "worker_steering" (start only): STEER_CPU, the worker of the CPU
	 * that took the SYN, else the first not busy; STEER_PACK, the first
	 * not busy; STEER_HASH, the kernel's reuseport hash. */
	int steering;
};

struct config {
	int refs;			/* config_get/config_put */
	char *file;
	char *version;
	struct listener *listeners;	/* TCP */
	int nlisteners;
	struct listener *udp;		/* UDP ("udp/ADDR" keys of servers) */
	int nudp;
	struct settings set;
	struct dns_entry **dns;		/* unique host names, for the resolver */
	int ndns;
};

#define SNIFF_MAX_LIMIT (64 * 1024)

void settings_default(struct settings *s);
/* How many connections the kernel path holds at once (its BPF maps'
 * size): kernel_connections if set, else every connection in --mode
 * sockmap (the user asked for all of them there), else at most
 * KERNEL_CONNECTIONS_DEFAULT: in the default mode only connections that
 * prove long reach it, and the maps cost kernel memory from the start
 * whether used or not.  Never more than max_connections. */
#define KERNEL_CONNECTIONS_DEFAULT 65536
uint64_t settings_kernel_slots(const struct settings *s);
/* limits.c: per-source limits, "off" with /32 and /64 sources. */
void srclimit_cfg_default(struct srclimit_cfg *c);
/* Give every listener of cfg that has limits its table: the one its
 * address had in a configuration still alive (a reload keeps the counts),
 * else a new one of max_connections entries.  0 or -ENOMEM. */
int limits_attach(struct config *cfg);
/* config_free: the listener's reference to its table. */
void limits_detach(struct listener *l);
/* Each table (by listen address), under the registry's lock. */
void limits_each(void (*fn)(const char *name, struct srclimit *t, void *arg), void *arg);
int srclimit_cfg_copy(struct srclimit_cfg *dst, const struct srclimit_cfg *src);
void srclimit_cfg_free(struct srclimit_cfg *c);
int data_mode_parse(const char *s, enum data_mode *m);
/* Load and validate.  Returns NULL after printing every error found (each
 * one line: FILE: JSON.PATH: problem).  `cli` overrides file settings for
 * the fields whose cli_set bit is set. */
struct config *config_load(const char *file, const struct settings *cli,
			   unsigned cli_set);
/* Same from a string; errors go to errbuf (one per line). */
struct config *config_parse(const char *json, size_t len, const char *name,
			    const struct settings *cli, unsigned cli_set,
			    char *errbuf, size_t errlen);
void config_free(struct config *c);
/* What a rule holds, not the rule itself; also a zeroed rule with a few
 * fields set (a handed-over connection's own copy: ops/handover.c). */
void rule_free(struct rule *r);
/* Workers and connections hold references: a reloaded configuration is
 * freed when its last connection ends. */
struct config *config_get(struct config *c);
void config_put(struct config *c);

enum {
	SET_WORKERS = 1 << 0,
	SET_SNIFF_TIMEOUT = 1 << 1,
	SET_MODE = 1 << 2,
};

#endif /* PT_CONFIG_H */
