#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""nodelay_check.py PID PT_PORT UP_PORT HELLO_FILE

Holds one routed connection through passthru (PID, listening on
127.0.0.1:PT_PORT) to a listener it opens on 127.0.0.1:UP_PORT, takes
passthru's upstream socket with pidfd_getfd(2) and prints its TCP_NODELAY
(1 or 0): the proxy must not add Nagle's delay, however it set it."""
import ctypes, os, socket, sys

pid, pt, up, hello = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
libc = ctypes.CDLL(None, use_errno=True)
SYS_pidfd_open, SYS_pidfd_getfd = 434, 438

lst = socket.socket()
lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lst.bind(("127.0.0.1", up))
lst.listen(4)
cli = socket.create_connection(("127.0.0.1", pt), timeout=5)
cli.sendall(open(hello, "rb").read())
lst.settimeout(5)
srv, _ = lst.accept()
srv.settimeout(5)
srv.recv(1)		# the hello crossed: passthru's upstream socket is connected
peer_port = srv.getpeername()[1]

pidfd = libc.syscall(SYS_pidfd_open, pid, 0)
if pidfd < 0:
    sys.exit("pidfd_open: " + os.strerror(ctypes.get_errno()))
for name in os.listdir(f"/proc/{pid}/fd"):
    fd = libc.syscall(SYS_pidfd_getfd, pidfd, int(name), 0)
    if fd < 0:
        continue
    try:
        s = socket.socket(fileno=fd)
    except OSError:
        os.close(fd)
        continue
    try:
        if s.type == socket.SOCK_STREAM and s.getsockname()[1] == peer_port \
           and s.getpeername() == ("127.0.0.1", up):
            print(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) and 1 or 0)
            sys.exit(0)
    except (OSError, IndexError, TypeError):
        pass
    finally:
        s.close()
sys.exit("passthru's upstream socket not found")
