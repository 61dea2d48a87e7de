#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The cost of sniffing a client that sends one byte per TCP segment, up to
# the 16 KiB sniff cap: passthru must not re-peek and re-parse everything
# for every byte (that is O(cap^2): seconds of CPU per connection).  The
# router's hints (proto.h) and SO_RCVLOWAT / SO_PEEK_OFF in conn.c make it
# a handful of parses.  The yardstick is the client's own CPU in the same
# run (~16k send calls): passthru must use less than 1/RATIO of it.  The
# client pauses ~30 us between bytes (GAP_US) so that each byte is its own
# segment and wakeup: without the hints, passthru spent 45-60 ms here
# against 3-16 ms with them, the client 350-400 ms (2-vCPU dev VM).
. "$(dirname "$0")/../lib/routing.sh"

require_root
require_cmd "$PASSTHRU" "$XFER" "$MKHELLO" "$TRICKLE" ss sha256sum

# (ASan + UBSan builds run several times slower)
RATIO=${RATIO:-$([ -n "${SAN:-}" ] && echo 3 || echo 10)}

# trickle_routes NAME FILE UPSTREAM_ARGS...: FILE sent a byte per segment
# reaches the rule's upstream whole, for less than 1/RATIO of the client's CPU.
trickle_routes() {
	local file=$1 pt pu before after ms cms out
	shift
	pt=$(free_port) pu=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"servers":{"127.0.0.1:$pt":{
	  "TLS":{"SNI t.example":{"action":"FORWARD","to_addr":"127.0.0.1:$pu"}},
	  "HTTP":{"Host h.example":{"action":"FORWARD","to_addr":"127.0.0.1:$pu"}},
	  "SSH":{"SSH":{"action":"REJECT"}},
	  "CATCHALL":{"CATCHALL":{"action":"REJECT"}}}}}
	EOF
	xfer_server up "127.0.0.1:$pu" "$@" || { fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" -t 20s || return
	before=$(cpu_ns "$PT_PID")
	# The client's own CPU (bash's `times`, children line) is the yardstick.
	out=$("$TRICKLE" --connect "127.0.0.1:$pt" --file "$file" --chunk 1 --gap-us "${GAP_US:-30}" --timeout-s 60; times)
	wait_log 'conn .*end=' 10
	after=$(cpu_ns "$PT_PID")
	ms=$(( (after - before) / 1000000 ))
	cms=$(tail -n 1 <<<"$out" | awk '{ n = split($0, t, " "); s = 0
		for (i = 1; i <= n; i++) { split(t[i], a, "m"); sub("s", "", a[2]); s += a[1] * 60000 + a[2] * 1000 }
		printf "%d", s }')
	out=$(head -n 1 <<<"$out")
	echo "# $CUR_TEST: $(size "$file") bytes in 1-byte segments: passthru CPU ${ms} ms, client CPU ${cms} ms; client: $out"
	if ! wait_for 10 test -s "$D/up.rep"; then
		fail "$CUR_TEST" "the upstream got nothing: $(conn_lines | tail -n 1); client: $out"
	elif [ "$(field "$D/up.rep" recv)" != "$(size "$file")" ] ||
	     [ "$(field "$D/up.rep" recv_sha256)" != "$(sha256sum "$file" | cut -d' ' -f1)" ]; then
		fail "$CUR_TEST" "the upstream got recv=$(field "$D/up.rep" recv) of $(size "$file") bytes (or another sha256)"
	elif [ $((ms * RATIO)) -ge "$cms" ]; then
		fail "$CUR_TEST" "passthru used $ms ms of CPU, the client $cms ms: want less than 1/$RATIO of it"
	else
		pass "$CUR_TEST"
	fi
}

# A 16 KB ClientHello (one record), a byte per segment.
t_tls() {
	newdir
	"$MKHELLO" --sni t.example --alpn h2 --pad-to 16000 >"$D/hello"
	[ "$(size "$D/hello")" -gt 16000 ] && [ "$(size "$D/hello")" -le 16384 ] ||
		{ fail "$CUR_TEST" "mkhello made $(size "$D/hello") bytes"; return; }
	trickle_routes "$D/hello" --mode recv-first
}

# The same hello in 100-byte records (a record header every 105 bytes).
t_tls_records() {
	newdir
	"$MKHELLO" --sni t.example --pad-to 15000 --record-size 100 >"$D/hello"
	trickle_routes "$D/hello" --mode recv-first
}

# An HTTP/1.1 request of 16 KB of headers, Host last.
t_http() {
	newdir
	{
		printf 'GET /big HTTP/1.1\r\n'
		for i in $(seq 1 250); do printf 'X-Pad-%03d: %s\r\n' "$i" "$(printf '%050d' "$i")"; done
		printf 'Host: h.example\r\nConnection: close\r\n\r\n'
	} >"$D/req"
	[ "$(size "$D/req")" -gt 15000 ] || { fail "$CUR_TEST" "request of $(size "$D/req") bytes"; return; }
	trickle_routes "$D/req" --http big-ok
}

run_test routing-perf/tls-16k-1-byte-segments t_tls
run_test routing-perf/tls-15k-100-byte-records-1-byte-segments t_tls_records
run_test routing-perf/http-16k-headers-1-byte-segments t_http
