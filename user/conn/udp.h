/* SPDX-License-Identifier: GPL-2.0 */
/* QUIC on UDP listeners ("udp/ADDR"): flows routed on the SNI and ALPN of
 * the client's Initial packets, forwarded in userspace in batches or,
 * once decided, by the kernel path (datapath/udpk.h) where it runs.
 *
 * Each worker has its own SO_REUSEPORT socket on every UDP listen
 * address, like TCP: the kernel hashes a client's address and port to
 * one socket, so all of a flow's datagrams reach one worker, whose flow
 * table (a hash on listener and client address) no other thread touches.
 *
 * A flow starts at a client Initial (a datagram of at least 1200 bytes
 * whose first packet decrypts, RFC 9000 14.1), and while its ClientHello
 * is incomplete its datagrams are kept (udp_pending_datagrams,
 * udp_pending_bytes) and fed to quic_initial_feed().  Once whole, the
 * listener's QUIC rules pick a route as for TLS over TCP.  FORWARD: a
 * socket connected to the upstream takes the kept datagrams in order,
 * then every later one; what the upstream answers goes back to the
 * client from the listening socket, from the address the client used
 * (pktinfo on a wildcard listener).  REJECT, or no route: the flow stays
 * known until it idles, its datagrams dropped at the cost of one lookup.
 * A flow ends after udp_idle_timeout without a datagram either way, or
 * its hello not whole after sniff_timeout; one log line then.
 * Datagrams that start no flow (not QUIC, not an Initial, a version
 * other than 1 and 2, which gets a Version Negotiation answer) are
 * dropped and counted by reason. */
#ifndef PT_UDP_H
#define PT_UDP_H

#include <stdint.h>

struct config;
struct evsrc;
struct worker;

/* The worker's UDP state (worker_setup). 0 or -ENOMEM. */
int udp_setup(struct worker *w, int nworkers);
/* Bind a socket for each UDP listener of w->cfg that has none. */
int udp_listen(struct worker *w);
/* A reload: sockets of addresses that stay are kept (their flows too,
 * under the rules they were routed by), new ones bound, gone ones closed
 * with their flows (end=shutdown).  0 or -errno. */
int udp_adopt(struct worker *w, const struct config *ncfg);
/* The loop's side: a listening socket readable (EV_UDP_LISTEN), a flow's
 * upstream socket readable (EV_UDP_UP), the UDP timers due (w->udp_tick),
 * and after a round of events, freeing what ended in it. */
void udp_readable(struct worker *w, struct evsrc *ev);
void udp_upstream(struct worker *w, struct evsrc *ev);
void udp_timers(struct worker *w, uint64_t now);
void udp_reap(struct worker *w);
/* End every flow (end=shutdown) and close the sockets. */
void udp_shutdown(struct worker *w);
/* Free it all, without a word (a worker that never ran). */
void udp_cleanup(struct worker *w);
uint32_t udp_nflows(const struct worker *w);

#endif /* PT_UDP_H */
