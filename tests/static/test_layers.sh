#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The layers of user/, kept: tests/static/layers.py over the objects of
# this build (no circle between files, every call going down
#   base -> proto | datapath -> config -> conn -> ops -> main.c,
# protocol probes using memory and string functions only), then the
# checker itself against objects made to break each rule once.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUTPUT=${OUTPUT:-build}
case $OUTPUT in /*) ;; *) OUTPUT=$ROOT/$OUTPUT ;; esac
CHECK=$ROOT/tests/static/layers.py

if ! command -v python3 >/dev/null || ! command -v nm >/dev/null; then
	echo "SKIP layers: needs python3 and nm"
	exit 0
fi
if [ ! -d "$OUTPUT/obj/base" ]; then
	echo "FAIL layers: no objects in $OUTPUT/obj (make first)"
	exit 1
fi
python3 "$CHECK" "$OUTPUT/obj"

# Self-test: each rule broken once must give its FAIL line.
T=$(mktemp -d /tmp/pt-layers.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkobj() {	# mkobj DIR/NAME.o 'C source'
	mkdir -p "$T/$(dirname "$1")"
	printf '%s\n' "$2" | cc -x c -c -o "$T/$1" - 2>/dev/null
}
selftest() {	# selftest NAME REGEX: the checker's output for $T matches (!REGEX: does not)
	local out ok
	out=$(python3 "$CHECK" "$T" 2>&1)
	if [ "${2#!}" != "$2" ]; then
		! grep -qE -- "${2#!}" <<<"$out" && ok=1
	else
		grep -qE -- "$2" <<<"$out" && ok=1
	fi
	if [ -n "${ok:-}" ]; then
		echo "PASS layers/self-test/$1"
	else
		echo "FAIL layers/self-test/$1: the checker said: $(tr '\n' ' ' <<<"$out")"
	fi
	rm -rf "${T:?}"/*
}
mkobj base/a.o 'int b(void); int a(void) { return b(); }'
mkobj base/b.o 'int a(void); int b(void) { return a(); }'
selftest cycle 'FAIL layers/cycles: base/a.o base/b.o'
mkobj base/a.o 'int c(void); int a(void) { return c(); }'
mkobj conn/c.o 'int c(void) { return 1; }'
selftest upward 'FAIL layers/order: base/a.o -> conn/c.o'
mkobj proto/p.o 'int d(void); int p(void) { return d(); }'
mkobj datapath/d.o 'int d(void) { return 1; }'
selftest sideways 'FAIL layers/order: proto/p.o -> datapath/d.o'
mkobj proto/p.o '#include <stdlib.h>
void *p(void) { return malloc(1); }'
selftest impure 'FAIL layers/purity: proto/p.o uses malloc'
mkobj proto/quic.o 'int EVP_DecryptUpdate(void); int q(void) { return EVP_DecryptUpdate(); }'
selftest crypto-quic '!FAIL'
mkobj proto/p.o 'int EVP_DecryptUpdate(void); int p(void) { return EVP_DecryptUpdate(); }'
selftest crypto-probe 'FAIL layers/purity: proto/p.o uses EVP_DecryptUpdate'
mkobj base/a.o 'int a(void) { return 1; }'
mkobj conn/c.o 'int a(void); int c(void) { return a(); }'
selftest clean '!FAIL'
exit 0
