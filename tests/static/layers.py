#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The layer check: who calls whom among passthru's objects, from nm.

    layers.py OBJDIR

OBJDIR holds the userspace objects as the Makefile builds them, one folder
per layer (OBJDIR/base/util.o, OBJDIR/proto/tls.o, ...; main.o at the top).
Prints one line per problem, "FAIL layers/...: why", or "PASS layers/..."
for each of the three checks, and exits 1 if any failed:

  cycles   no circle between files: the graph of "a calls a symbol b
           defines" has no strongly connected component of two or more;
  order    no call from a lower layer into a higher one, and none between
           proto/ and datapath/, which sit side by side:
               base -> proto | datapath -> config -> conn -> ops -> main
  purity   proto/ objects use nothing beyond memory and string functions
           (parsers of untrusted bytes: no I/O, no allocation); only
           proto/quic.o may also call the libcrypto functions that take a
           QUIC Initial apart (CRYPTO_OK).
"""
import os
import subprocess
import sys

RANK = {"base": 0, "proto": 1, "datapath": 1, "config": 2, "conn": 3, "ops": 4, "": 5}
PURE_OK = {
    "memchr", "memcmp", "memcpy", "memmove", "memset", "memmem", "memrchr",
    "strchr", "strcmp", "strlen", "strncasecmp", "strcasecmp", "strncmp", "strnlen",
    "strrchr", "strstr", "strspn", "strcspn", "strpbrk", "snprintf",
    "inet_pton", "inet_ntop", "__stack_chk_fail",
}
# HKDF by HMAC, AES-ECB header protection, AES-GCM: no I/O, and the one
# allocation (the cipher context) is freed before quic.c returns.
CRYPTO_OK = {
    "HMAC", "EVP_sha256", "EVP_aes_128_ecb", "EVP_aes_128_gcm",
    "EVP_CIPHER_CTX_new", "EVP_CIPHER_CTX_free", "EVP_CIPHER_CTX_ctrl",
    "EVP_CIPHER_CTX_set_padding", "EVP_EncryptInit_ex", "EVP_EncryptUpdate",
    "EVP_DecryptInit_ex", "EVP_DecryptUpdate", "EVP_DecryptFinal_ex",
}
PURE_EXTRA = {"proto/quic.o": CRYPTO_OK}


def nm(path, *flags):
    out = subprocess.run(["nm", *flags, path], check=True, capture_output=True, text=True).stdout
    syms = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            syms.add(parts[-1])
    return syms


def tarjan(graph):
    index, low, stack, on, sccs, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            sccs.append(sorted(scc))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sccs


def main():
    root = sys.argv[1]
    objs = []
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith(".o"):
                objs.append(os.path.relpath(os.path.join(d, f), root))
    objs.sort()
    defined, undefined = {}, {}
    for o in objs:
        p = os.path.join(root, o)
        defined[o] = nm(p, "--defined-only", "-g")
        undefined[o] = nm(p, "-u")
    owner = {}
    for o, syms in defined.items():
        for s in syms:
            owner.setdefault(s, o)
    graph = {o: set() for o in objs}
    why = {}
    for o in objs:
        for s in undefined[o]:
            d = owner.get(s)
            if d and d != o:
                graph[o].add(d)
                why.setdefault((o, d), []).append(s)
    failed = False

    def folder(o):
        return os.path.dirname(o)

    cycles = [c for c in tarjan(graph) if len(c) > 1]
    for c in cycles:
        failed = True
        edges = ["%s -> %s (%s)" % (a, b, ",".join(sorted(why[(a, b)])[:3]))
                 for a in c for b in sorted(graph[a]) if b in c]
        print("FAIL layers/cycles: %s: %s" % (" ".join(c), "; ".join(edges)))
    if not cycles:
        print("PASS layers/cycles: %d objects, no circle" % len(objs))

    bad = []
    for a in objs:
        for b in sorted(graph[a]):
            fa, fb = folder(a), folder(b)
            if fa not in RANK or fb not in RANK:
                bad.append("%s or %s: not a known layer" % (a, b))
            elif RANK[fb] > RANK[fa] or (RANK[fa] == RANK[fb] == 1 and fa != fb):
                bad.append("%s -> %s (%s)" % (a, b, ",".join(sorted(why[(a, b)])[:3])))
    for b in bad:
        failed = True
        print("FAIL layers/order: %s" % b)
    if not bad:
        print("PASS layers/order: every call goes down base -> proto|datapath -> config -> conn -> ops -> main")

    impure = []
    for o in objs:
        if folder(o) != "proto":
            continue
        ok = PURE_OK | PURE_EXTRA.get(o, set())
        extra = sorted(s for s in undefined[o] if s not in ok and owner.get(s, "").split("/")[0] != "proto")
        if extra:
            impure.append("%s uses %s" % (o, ",".join(extra)))
    for i in impure:
        failed = True
        print("FAIL layers/purity: %s" % i)
    if not impure:
        print("PASS layers/purity: proto/ uses memory and string functions only (and quic.o its ciphers)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
