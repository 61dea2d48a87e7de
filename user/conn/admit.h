/* SPDX-License-Identifier: GPL-2.0 */
/* Admission at accept: a listener's per-source limits (max_conns_per_source,
 * new_conns_per_source) checked before anything else is done with a new
 * connection, refusals counted and logged.  The counting itself is
 * srclimit.c's; this file ties it to listeners, connections, metrics and
 * the log.
 *
 * A refused connection is reset at once (SO_LINGER 0, then close): no
 * sniffing, no connection object, no slot of max_connections, no FIN
 * handshake nor TIME_WAIT left behind, and no per-connection log line
 * (per source, one line per SRL_LOG_INTERVAL_US at most). */
#ifndef PT_ADMIT_H
#define PT_ADMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct config;
struct conn;
struct listener;
struct srcent;
struct worker;


/* A connection just accepted on l: true to go on, with *ent (NULL: not
 * counted) to keep in the connection; false if it was refused (fd closed). */
bool admit_accept(struct worker *w, const struct listener *l, int fd,
		  const struct sockaddr_storage *peer, struct srcent **ent);
/* A trusted peer's PROXY header named the client (c->src): limits apply
 * to that client, not to the proxy.  -1 if refused: the caller ends it
 * (end=source-limit, reset). */
int admit_proxied(struct conn *c);
/* A connection a live upgrade handed over: counted, never refused. */
void admit_import(struct conn *c);
/* The connection ends: once, from conn_end. */
void admit_release(struct conn *c);

/* Log lines for refusals no later connection reported (from the main
 * thread, every second or so). */
void admit_tick(void);
/* Each table's listener and how many sources it tracks (metrics). */
void admit_each(void (*fn)(const char *listener, uint32_t tracked, void *arg),
		void *arg);

#endif /* PT_ADMIT_H */
