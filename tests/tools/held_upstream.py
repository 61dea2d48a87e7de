#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""An upstream whose accept queue is full until told otherwise, so that a
proxy's connect to it stays in SYN-SENT (the SYNs are dropped).

  held_upstream.py PORT REPORT GO [WANT]

Listens on 127.0.0.1:PORT with a backlog of 0 and fills the queue with a
connection of its own; writes "ready" to REPORT.  Once the file GO exists,
accepts that connection (closed) and every later one for 20 s: reads WANT
bytes (default: until EOF), answers "pong", closes, and appends a line
"conn port=P recv=N" (P the peer's source port) to REPORT.
"""
import os
import socket
import sys
import time

port, report, go = int(sys.argv[1]), sys.argv[2], sys.argv[3]
want = int(sys.argv[4]) if len(sys.argv) > 4 else -1

ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(0)
filler = socket.create_connection(("127.0.0.1", port))
with open(report, "w") as f:
    f.write("ready\n")
while not os.path.exists(go):
    time.sleep(0.05)
c, _ = ls.accept()
c.close()
filler.close()
ls.settimeout(0.2)
end = time.time() + 20
while time.time() < end:
    try:
        c, peer = ls.accept()
    except socket.timeout:
        continue
    c.settimeout(10)
    got = b""
    try:
        while want < 0 or len(got) < want:
            b = c.recv(65536)
            if not b:
                break
            got += b
        c.sendall(b"pong")
    except OSError:
        pass
    c.close()
    with open(report, "a") as f:
        f.write("conn port=%d recv=%d\n" % (peer[1], len(got)))
