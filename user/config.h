/* SPDX-License-Identifier: GPL-2.0 */
/* The configuration: the original passthru JSON format, loaded into an
 * immutable tree shared by all workers.
 *
 *   servers -> "listen addr" -> PROTOCOL -> "RULE" -> {action, to_addr}
 *
 * Order is the file's order everywhere (cJSON keeps it).
 */
#ifndef PT_CONFIG_H
#define PT_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proto.h"

struct dns_entry;

enum action_type {
	ACT_REJECT = 0,
	ACT_FORWARD,
};

/* A to_addr: a literal address, or a host name the resolver keeps fresh. */
struct upstream {
	char *text;			/* as written */
	char host[256];
	uint16_t port;
	bool literal;
	struct sockaddr_storage addr;	/* literal only */
	socklen_t addrlen;
	struct dns_entry *dns;		/* host name only */
};

struct matcher {
	enum sniff_field field;
	char *arg;			/* NULL: any; else lower-cased name */
};

struct rule {
	char *key;			/* "SNI a.example", "CATCHALL" */
	char *path;			/* JSON path, for messages */
	bool catchall;
	struct matcher m;
	enum action_type action;
	struct upstream up;		/* ACT_FORWARD */
};

/* One protocol under a listener, with its rules in file order. */
struct pgroup {
	const struct proto *proto;
	struct rule *rules;
	int nrules;
	struct rule *catchall;		/* the protocol's CATCHALL rule */
};

struct listener {
	char *text;			/* as written: "0.0.0.0:443" */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	bool v6only;			/* [::] beside 0.0.0.0 on one port */
	struct pgroup *groups;
	int ngroups;
	struct rule *catchall;		/* "CATCHALL": {"CATCHALL": ...} */
};

enum data_mode {
	MODE_AUTO = 0,
	MODE_SOCKMAP,
	MODE_SPLICE,
};

struct settings {
	int workers;			/* 0: one per CPU */
	uint64_t sniff_timeout_ms;
	uint64_t sniff_max;		/* bytes peeked before giving up */
	uint64_t connect_timeout_ms;
	uint64_t resolve_interval_ms;
	uint64_t max_connections;	/* sizes the BPF maps */
	uint64_t conn_buffer;		/* per-direction kernel queue limit */
	enum data_mode mode;
};

struct config {
	char *file;
	char *version;
	struct listener *listeners;
	int nlisteners;
	struct settings set;
	struct dns_entry **dns;		/* unique host names, for the resolver */
	int ndns;
};

#define SNIFF_MAX_LIMIT (64 * 1024)

void settings_default(struct settings *s);
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

enum {
	SET_WORKERS = 1 << 0,
	SET_SNIFF_TIMEOUT = 1 << 1,
	SET_MODE = 1 << 2,
};

#endif /* PT_CONFIG_H */
