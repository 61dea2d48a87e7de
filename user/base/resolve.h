/* SPDX-License-Identifier: GPL-2.0 */
/* Host-name upstreams, resolved off the event loop.
 *
 * One resolver thread, started once, keeps every host name of every
 * configuration still in use fresh (every resolve_interval, keeping the
 * last good answer if a refresh fails).  Configurations share the entry
 * of a name (a reload keeps its answer).  A worker that needs an address
 * that is not known yet parks the connection and is woken through its
 * eventfd when an answer arrives. */
#ifndef PT_RESOLVE_H
#define PT_RESOLVE_H

#include <stdint.h>
#include <sys/socket.h>

#define DNS_MAX_ADDRS 8

struct dns_entry;

/* The entry of a host name, shared, with a reference (NULL: out of
 * memory); a new name is resolved at once. */
struct dns_entry *dns_ref(const char *host);
void dns_unref(struct dns_entry *e);
const char *dns_entry_name(const struct dns_entry *e);

/* Copies up to max addresses (port left 0: the caller sets it).  Returns their number, 0 if no answer yet
 * (the caller waits for a wakeup), or -errno if the name does not resolve. */
int dns_get(struct dns_entry *e, struct sockaddr_storage *out, int max);

/* The text of a dns_get error, as getaddrinfo says it: "Name or service
 * not known" for -ENOENT, not strerror's "No such file or directory". */
const char *dns_strerror(int err);

/* Workers' eventfds, written when any entry gets its first answer. */
int resolver_start(uint64_t interval_ms, const int *wake_fds, int nwake);
/* A reload: its resolve_interval, and every name asked again now (the
 * last answer serves meanwhile). */
void resolver_reload(uint64_t interval_ms);
void resolver_stop(void);

#endif /* PT_RESOLVE_H */
