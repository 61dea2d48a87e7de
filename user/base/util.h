/* SPDX-License-Identifier: GPL-2.0 */
/* Small helpers: addresses, durations, sizes, clocks. */
#ifndef PT_UTIL_H
#define PT_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#define ADDR_STRLEN 64	/* "[ffff:...:ffff%ifname]:65535" */

/* "host:port" split.  On success *host is NUL-terminated; if it is a
 * literal (v4 or bracketed v6) *ss and *sslen are filled and *literal set.
 * Errors return -EINVAL with *why set to a short reason. */
int addr_parse(const char *text, char *host, size_t hostlen, uint16_t *port,
	       struct sockaddr_storage *ss, socklen_t *sslen, bool *literal,
	       const char **why);
/* "1.2.3.4:80" / "[::1]:80"; v4-mapped v6 shown as v4. */
const char *addr_str(const struct sockaddr *sa, char *buf, size_t len);
int addr_port(const struct sockaddr *sa);
/* Turn a v4-mapped IPv6 address into its IPv4 form, in place: sa is a
 * sockaddr_storage or a union paddr. */
void addr_unmap(void *sa);

/* An IPv4 or IPv6 socket address in the room it needs (28 bytes, where a
 * sockaddr_storage takes 128): what a connection keeps of its peers. */
union paddr {
	struct sockaddr sa;
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;
};

/* From any socket address (not IPv4 or IPv6: AF_UNSPEC). */
void paddr_set(union paddr *p, const void *sa);
/* Same family, address and port (IPv6: and scope); a and b are
 * sockaddr_storage or union paddr.  Inline: a UDP flow lookup per
 * datagram uses it. */
static inline bool paddr_eq(const void *a, const void *b)
{
	const struct sockaddr *x = a, *y = b;

	if (x->sa_family != y->sa_family)
		return false;
	if (x->sa_family == AF_INET) {
		const struct sockaddr_in *p = a, *q = b;

		return p->sin_port == q->sin_port && p->sin_addr.s_addr == q->sin_addr.s_addr;
	}
	if (x->sa_family == AF_INET6) {
		const struct sockaddr_in6 *p = a, *q = b;

		return p->sin6_port == q->sin6_port && p->sin6_scope_id == q->sin6_scope_id &&
		       !memcmp(&p->sin6_addr, &q->sin6_addr, sizeof(p->sin6_addr));
	}
	return false;
}
/* 0.0.0.0 or :: */
bool addr_is_any(const struct sockaddr *sa);

/* "5s", "500ms", "2m", "1.5s", "250us" or a bare number of seconds. */
int parse_duration_ms(const char *s, uint64_t *ms);
/* "16384", "16k", "16KiB", "4M", "1MiB", "2g". */
int parse_size(const char *s, uint64_t *bytes);

uint64_t now_ms(void);
uint64_t now_us(void);

/* Out of fds or memory: a shortage of ours, not the peer's fault. */
static inline bool err_no_resources(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

int set_nonblock(int fd);
/* SO_ERROR (which reading clears): the errno, 0, or errno if it fails. */
int sock_error(int fd);
/* SO_SNDBUF or SO_RCVBUF (rcv) of bytes: the FORCE variant, past
 * net.core.[rw]mem_max, where CAP_NET_ADMIN allows; else the capped one.
 * 0 bytes: leave autotuning alone. */
void sock_set_buf(int fd, bool rcv, int bytes);

/* Effective capabilities from /proc/self/status (no libcap needed). */
#define CAP_NET_BIND_SERVICE_NR 10
#define CAP_NET_ADMIN_NR 12
#define CAP_NET_RAW_NR 13
#define CAP_SYS_ADMIN_NR 21
#define CAP_PERFMON_NR 38
#define CAP_BPF_NR 39
#define CAPBIT(n) (1ULL << (n))
unsigned long long cap_effective(void);
/* Root or CAP_BPF + CAP_NET_ADMIN + CAP_PERFMON (or CAP_SYS_ADMIN). */
bool bpf_privileged(void);

/* A service thread's loop: accept on lfd and hand each connection to
 * one() (which closes it), until stopfd becomes readable. */
void accept_until(int lfd, int stopfd, void (*one)(int fd));
/* fd ready for events (or in error) before deadline_ms (now_ms() clock),
 * and stopfd not readable: 0; else -ETIMEDOUT, -ESHUTDOWN (stopfd) or
 * -errno.  For the threads that block (metrics, takeover), so that a
 * stop ends their wait at once. */
int fd_wait(int fd, short events, int stopfd, uint64_t deadline_ms);

/* A user name, or a number (> 0), to its ids.  Returns 0, -ENOENT (no
 * such user) or -EPERM (root: nothing to drop to). */
int user_lookup(const char *user, uid_t *uid, gid_t *gid);

#endif /* PT_UTIL_H */
