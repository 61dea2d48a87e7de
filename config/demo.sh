#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make run`: start passthru on config/example.json in the foreground, with
# the demo upstreams it routes to, all on loopback:
#   127.0.0.1:9443  openssl s_server -www  (TLS, SNI secure.example)
#   127.0.0.1:9081  HTTP, answers "a.example"   (Host a.example, CATCHALL)
#   127.0.0.1:9082  HTTP, answers "b.example"   (Host b.example)
# SSH goes to 127.0.0.1:22 if an sshd runs there.  Ctrl-C stops everything.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUTPUT:-$ROOT/build}
CONFIG=${CONFIG:-$ROOT/config/example.json}
DIR=$(mktemp -d /tmp/passthru-demo.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=secure.example \
	-keyout "$DIR/key.pem" -out "$DIR/cert.pem" 2>/dev/null
openssl s_server -quiet -www -accept 127.0.0.1:9443 -cert "$DIR/cert.pem" \
	-key "$DIR/key.pem" >/dev/null 2>&1 &
pids+=($!)
"$OUT/tests/xfer" server --listen 127.0.0.1:9081 --count 0 --http a.example >/dev/null &
pids+=($!)
"$OUT/tests/xfer" server --listen 127.0.0.1:9082 --count 0 --http b.example >/dev/null &
pids+=($!)

cat >&2 <<MSG
passthru demo: listening on 127.0.0.1:8443 with $CONFIG. Try, in another shell:
  curl --resolve a.example:8443:127.0.0.1 http://a.example:8443/      # -> a.example
  curl --resolve b.example:8443:127.0.0.1 http://b.example:8443/      # -> b.example
  curl -k --resolve secure.example:8443:127.0.0.1 https://secure.example:8443/
  openssl s_client -connect 127.0.0.1:8443 -servername other.example  # rejected
MSG
"$OUT/passthru" -c "$CONFIG" "$@" &
pids+=($!)
wait "${pids[-1]}"
