/* SPDX-License-Identifier: GPL-2.0 */
/* Least privilege: after binding and loading BPF, become an unprivileged
 * user and keep only the capabilities passthru uses at run time. */
#ifndef PT_PRIVS_H
#define PT_PRIVS_H

/* Switch to `user` (name or numeric uid), keeping CAP_NET_BIND_SERVICE
 * (listeners added by a reload), CAP_NET_ADMIN (transparent mode, sockmap
 * updates) and CAP_BPF (map updates on this kernel).  0 or -errno. */
int privs_drop(const char *user);

#endif /* PT_PRIVS_H */
