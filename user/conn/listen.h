/* SPDX-License-Identifier: GPL-2.0 */
/* A worker's listening sockets (listen.c). */
#ifndef PT_LISTEN_H
#define PT_LISTEN_H

#include <stdbool.h>
#include <sys/socket.h>

struct config;
struct listener;
struct lsock;
struct worker;

/* Could this process listen on l's address?  Workers share it through
 * SO_REUSEPORT, which would just as silently share it with anyone else
 * there: a plain bind says whether someone holds it.  0 or -errno. */
int listener_available(const struct listener *l);
/* Bind a socket for each listener of the worker's configuration that has
 * none yet (start), or adopt an inherited one (takeover; -ENOENT if its
 * address is no longer configured: the caller closes it). */
int worker_listen(struct worker *w);
int worker_add_listener(struct worker *w, const struct sockaddr_storage *addr,
			socklen_t addrlen, int fd);

/* The loop's side: accept a batch; stop accepting for a while (out of
 * fds: for ACCEPT_PAUSE_MS when timed, else until a connection ends) and
 * start again; move to a reloaded configuration (how many new listeners
 * could not be bound, or -ENOMEM, nothing changed); free the arrays a
 * reload replaced, once the batch of events that may name them is over;
 * close them all (drain). */
void listen_accept(struct worker *w, struct lsock *ls);
void listen_pause(struct worker *w, bool timed);
void listen_resume(struct worker *w);
/* Tell accept steering whether this worker has room (cheap: call often). */
void listen_steer(struct worker *w);
int listen_adopt(struct worker *w, const struct config *ncfg);
void listen_free_retired(struct worker *w);
void listen_close(struct worker *w);

#endif /* PT_LISTEN_H */
