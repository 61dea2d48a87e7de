#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Operations, live upgrade: `passthru --takeover` receives the running
# process's listeners, BPF maps and every live connection; nothing is
# dropped, not a byte is lost, and the old process exits 0.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/ops.sh"

require_root
require_cmd "$PASSTHRU" "$XFER" "$MKHELLO" ss curl

TRICKLE=$OUTPUT/tests/trickle
HELD=$(dirname "$0")/../tools/held_upstream.py
fwd() { printf '{"action":"FORWARD","to_addr":"127.0.0.1:%s"}' "$1"; }

# handed LOG: N of the predecessor's "takeover: handed N connection(s)".
handed() {
	sed -nE 's/.*takeover: handed ([0-9]+) connections? and [0-9]+ listening sockets? to pid [0-9]+: exiting.*/\1/p' "$1" | tail -n 1
}

# tk_check OLD_LOG NEW_LOG MIN_CONNS [MODE=sockmap]: the takeover went as
# documented: the old process exited 0 after handing at least MIN_CONNS
# connections over, the new one took the kernel path over (sockmap) or runs
# splice.  Uses OLD_RC (pt_takeover).
tk_check() {
	local n
	[ "$OLD_RC" = 0 ] || { echo "the old passthru exited with status $OLD_RC: $(tail -n 2 "$1")"; return 1; }
	n=$(handed "$1")
	[ -n "$n" ] || { echo "the old passthru did not log 'takeover: handed ...': $(tail -n 2 "$1")"; return 1; }
	[ "$n" -ge "$3" ] || { echo "the old passthru handed $n connections over, want >= $3"; return 1; }
	grep -q 'takeover: received ' "$2" || { echo "no 'takeover: received' line: $(head -n 3 "$2")"; return 1; }
	if [ "${4:-sockmap}" = sockmap ]; then
		grep -qF 'data path: sockmap (taken over: same maps, this binary'"'"'s programs)' "$2" ||
			{ echo "the successor did not take the kernel path over: $(grep 'data path' "$2")"; return 1; }
	fi
	# The pause (HELLO to OK) is the sockets crossing, not the verifier:
	# the successor loaded its programs while the predecessor served on.
	grep -q 'takeover: pid [0-9]* prepares on our maps' "$1" ||
		{ echo "the predecessor logged no 'prepares on our maps': $(grep takeover "$1" | tail -n 2)"; return 1; }
	local tload tpause
	tload=$(grep -m 1 'data path: ' "$2" | cut -d' ' -f1)
	tpause=$(grep 'pausing the workers' "$1" | tail -n 1 | cut -d' ' -f1)
	if [ -z "$tload" ] || [ -z "$tpause" ] || [[ "$tpause" < "$tload" ]]; then
		echo "the predecessor paused at ${tpause:-?}, before the successor's data path was ready at ${tload:-?}"
		return 1
	fi
}

# tk_pause_ms LOG: how long the predecessor's workers were paused (its
# "pausing the workers" to its "exiting"), from the log's timestamps.
tk_pause_ms() {
	grep -E 'pausing the workers|: exiting$' "$1" | tail -n 2 | cut -d' ' -f1 |
		awk -F'[T:Z]' '{ t = ($2 * 60 + $3) * 60 + $4; if (NR == 1) a = t; else printf "%d", (t - a) * 1000 }'
}

# 1 GB through the kernel path across two successive upgrades (the second
# takes over the first successor), with short connections all along: the
# sha256 is intact, every short connection succeeded, both old processes
# exited 0.
t_upgrade_1g() {
	newdir
	local pt pbig pa pha hl cli why log2=$D/gen2.log log3=$D/gen3.log line
	pt=$(free_port) pbig=$(free_port) pa=$(free_port) pha=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"version":"v0.2.0","control_socket":"$D/ctl.sock","servers":{"127.0.0.1:$pt":{
	  "TLS":{"SNI big.example":$(fwd "$pbig"),"SNI a.example":$(fwd "$pa")},
	  "HTTP":{"Host a.example":$(fwd "$pha")}}}}
	EOF
	"$MKHELLO" --sni big.example >"$D/big.hello" && "$MKHELLO" --sni a.example >"$D/a.hello" ||
		{ fail "$CUR_TEST" "mkhello failed"; return; }
	hl=$(size "$D/big.hello")
	xfer_server big "127.0.0.1:$pbig" --mode recv-first --send 0 --timeout-s 90 &&
		xfer_server a "127.0.0.1:$pa" --count 0 --send 10k &&
		xfer_server ha "127.0.0.1:$pha" --count 0 --http upstream-a ||
		{ fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" --mode sockmap || return
	# 1 GB at 110 MB/s: about 10 s.
	xfer_client cli "127.0.0.1:$pt" --prefix-file "$D/big.hello" --mode send-first --send 1g \
		--rate 110m --timeout-s 90 &
	cli=$!
	http_loop http "$pt" a.example
	xfer_loop tls "$pt" "$D/a.hello" 10k
	sleep 2
	trace takeover 1
	pt_takeover "$D/c.json" "$log2" --mode sockmap || { fail "$CUR_TEST" "first upgrade: $TK_WHY"; return; }
	why=$(tk_check "$PT_LOG" "$log2" 1) || { fail "$CUR_TEST" "first upgrade: $why"; return; }
	_alive "$cli" || { fail "$CUR_TEST" "the 1 GB transfer was over before the second upgrade: $(tail -n 1 "$D/cli.rep")"; return; }
	sleep 2
	trace takeover 2
	pt_takeover "$D/c.json" "$log3" --mode sockmap || { fail "$CUR_TEST" "second upgrade: $TK_WHY"; return; }
	why=$(tk_check "$log2" "$log3" 1) || { fail "$CUR_TEST" "second upgrade: $why"; return; }
	_alive "$cli" || { fail "$CUR_TEST" "the 1 GB transfer was over at the second upgrade: $(tail -n 1 "$D/cli.rep")"; return; }
	sleep 1
	loops_stop
	trace loops stopped
	wait_pid "$cli" 60
	trace transfer over
	why=$(check_transfer "$D/cli.rep" "$D/big.rep" $((hl + (1 << 30))) 0) || { fail "$CUR_TEST" "$why"; return; }
	for n in http tls; do
		why=$(loop_check "$n" 10) || { fail "$CUR_TEST" "$why"; return; }
	done
	wait_log "conn .*upstream=127\.0\.0\.1:$pbig .*end=" 5 "$log3"
	line=$(conn_line "$pbig" "$log3")
	grep -qE " path=sockmap .*up=$((hl + (1 << 30))) down=0 .*end=eof" <<<"$line" ||
		{ fail "$CUR_TEST" "want path=sockmap up=$((hl + (1 << 30))) down=0 end=eof in the last process's line: ${line:-none}"; return; }
	pass "$CUR_TEST"
	echo "# 1 GB in $(field "$D/cli.rep" ms) ms across 2 upgrades (workers paused $(tk_pause_ms "$PT_LOG") and $(tk_pause_ms "$log2") ms); $(cat "$D"/*.loop | wc -l) short connections meanwhile, 0 failed"
}

# check_proxied CLIENT_REP SERVER_REP PAYLOAD_FILE BYTES: the client sent a
# PROXY header, then PAYLOAD_FILE and BYTES of stream: the upstream got
# exactly PAYLOAD_FILE and the stream (the header was consumed), the client
# exactly what the upstream sent.
check_proxied() {
	local want_n want_sha
	wait_for 10 test -s "$2" || { echo "no report from the upstream server"; return 1; }
	[ "$(field "$1" result)" = ok ] || { echo "client: $(tail -n 1 "$1")"; return 1; }
	[ "$(field "$2" result)" = ok ] || { echo "server: $(tail -n 1 "$2")"; return 1; }
	want_n=$(( $(size "$3") + $4 ))
	want_sha=$("$XFER" gen --send "$4" --prefix-file "$3")
	if [ "$(field "$2" recv)" != "$want_n" ] || [ "$(field "$2" recv_sha256)" != "$want_sha" ]; then
		echo "the upstream got recv=$(field "$2" recv), want $want_n (or its sha256 differs)"
		return 1
	fi
	if [ "$(field "$2" sent)" != "$(field "$1" recv)" ] ||
	   [ "$(field "$2" sent_sha256)" != "$(field "$1" recv_sha256)" ]; then
		echo "the client got recv=$(field "$1" recv) of the upstream's sent=$(field "$2" sent) (or sha256 differs)"
		return 1
	fi
}

# Connections in every state at the moment of the upgrade: one still
# sniffing (half a ClientHello sent; the rest after the upgrade, and it is
# routed then, not at the sniff deadline), one
# flowing through splice(2) (its PROXY header, hello and FIN came in one
# segment: the kernel refuses a socket past ESTABLISHED), one through the
# sockmap, one frozen by back-pressure (a reader that has not
# read yet, behind conn_buffer 256k); plus short connections all along.  Every one ends
# byte-exact.
t_upgrade_states() {
	require_cmd "$TRICKLE" bpftool jq || return
	newdir
	local p1 p2 psn psp pfl psl pa hl why log2=$D/gen2.log tr fz line n
	p1=$(free_port) p2=$(free_port) psn=$(free_port) psp=$(free_port)
	pfl=$(free_port) psl=$(free_port) pa=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"version":"v0.2.0","control_socket":"$D/ctl.sock","conn_buffer":"256k","sniff_timeout":"10s",
	 "servers":{
	 "127.0.0.1:$p1":{"TLS":{"SNI sniff.example":$(fwd "$psn"),"SNI flow.example":$(fwd "$pfl"),
	                         "SNI slow.example":$(fwd "$psl"),"SNI a.example":$(fwd "$pa")}},
	 "127.0.0.1:$p2":{"accept_proxy":["127.0.0.1/32"],
	                  "TLS":{"SNI splice.example":$(fwd "$psp")}}}}
	EOF
	for n in sniff flow slow splice a; do
		"$MKHELLO" --sni "$n.example" >"$D/$n.hello" || { fail "$CUR_TEST" "mkhello failed"; return; }
	done
	{ proxy_v1 10.9.8.7 40000 127.0.0.1 "$p2"; cat "$D/splice.hello"; } >"$D/splice.prefix"
	xfer_server s_sniff "127.0.0.1:$psn" --mode recv-first --send 50k --timeout-s 30 &&
		xfer_server s_splice "127.0.0.1:$psp" --send 16m --rate 2m --timeout-s 30 &&
		xfer_server s_flow "127.0.0.1:$pfl" --send 16m --rate 2m --timeout-s 30 &&
		xfer_server s_slow "127.0.0.1:$psl" --send 24m --timeout-s 30 &&
		xfer_server s_a "127.0.0.1:$pa" --count 0 --send 10k ||
		{ fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" --mode sockmap || return
	fz=$(pt_stat 4) || { fail "$CUR_TEST" "cannot read pt_stats: $(pt_stat 4 2>&1)"; return; }
	trace clients
	# Sniffing: the hello in two halves, 4 s apart (the upgrade comes
	# between), then 4 s more until its FIN.  (The sniff deadline is 10 s.)
	"$TRICKLE" --connect "127.0.0.1:$p1" --file "$D/sniff.hello" \
		--chunk $(( $(size "$D/sniff.hello") / 2 + 1 )) --gap-us 4000000 --timeout-s 30 \
		>"$D/trickle.out" 2>&1 &
	tr=$!
	# 8 s each: the spliced one only downloads (its client half-closed at
	# once), the sockmap one both ways.
	xfer_client c_splice "127.0.0.1:$p2" --prefix-file "$D/splice.prefix" --send 0 --mode send-first \
		--cork --timeout-s 30 &
	xfer_client c_flow "127.0.0.1:$p1" --prefix-file "$D/flow.hello" --send 16m --rate 2m --timeout-s 30 &
	# Reads nothing for 5 s, then 16 MB/s, of the 24 MB the server sends
	# at once: frozen by back-pressure at the upgrade.
	xfer_client c_slow "127.0.0.1:$p1" --prefix-file "$D/slow.hello" --mode recv-first --send 64k \
		--read-delay-ms 5000 --read-rate 16m --timeout-s 30 &
	xfer_loop tls "$p1" "$D/a.hello" 10k
	# The states are as intended right before the upgrade.
	wait_for 3 eval '[ "$(pt_stat 4)" -gt "$fz" ]' ||
		{ fail "$CUR_TEST" "back-pressure never froze the slow reader's direction (pt_stats[4] stays $fz)"; return; }
	grep -q "upstream=127\.0\.0\.1:$psn " "$PT_LOG" &&
		{ fail "$CUR_TEST" "the half ClientHello was routed before the upgrade"; return; }
	trace takeover
	pt_takeover "$D/c.json" "$log2" --mode sockmap || { fail "$CUR_TEST" "$TK_WHY"; return; }
	trace takeover done
	why=$(tk_check "$PT_LOG" "$log2" 4) || { fail "$CUR_TEST" "$why"; return; }
	_alive "$tr" || { fail "$CUR_TEST" "the sniffing client ended at the upgrade: $(cat "$D/trickle.out")"; return; }
	sleep 1
	loops_stop
	wait_for 30 eval '[ -s "$D/c_splice.rep" ] && [ -s "$D/c_flow.rep" ] && [ -s "$D/c_slow.rep" ] && ! _alive '"$tr"
	trace all over

	# Sniffing: the upstream got the whole hello, the client the answer,
	# and the successor routed it.
	if ! grep -qE "recv=$(size "$D/sniff.hello") recv_sha256=$(sha256 "$D/sniff.hello") .*result=ok" "$D/s_sniff.rep" 2>/dev/null; then
		fail "$CUR_TEST" "sniffing connection: the upstream did not get the hello byte-exact: $(tail -n 1 "$D/s_sniff.rep" 2>/dev/null) / client: $(cat "$D/trickle.out")"
		return
	fi
	grep -q "recv=51200 .*result=ok" "$D/trickle.out" ||
		{ fail "$CUR_TEST" "sniffing connection: the client got $(cat "$D/trickle.out"), want recv=51200 result=ok"; return; }
	# Routed when its hello was complete (at 4 s), not only at the
	# client's FIN (trickle waits 4 s more) or the sniff deadline (10 s):
	# the upstream connection lasted about 4 s.
	n=$(field "$D/s_sniff.rep" ms)
	[ "${n:-0}" -ge 2500 ] ||
		{ fail "$CUR_TEST" "sniffing connection: its upstream connection lasted ${n:-?} ms, want about 4000 (routed when the hello was complete)"; return; }
	grep -q "proto=TLS .*upstream=127\.0\.0\.1:$psn " "$log2" ||
		{ fail "$CUR_TEST" "the sniffing connection was not routed by the successor: $(grep -h "upstream=127\.0\.0\.1:$psn " "$PT_LOG" "$log2")"; return; }
	why=$(check_proxied "$D/c_splice.rep" "$D/s_splice.rep" "$D/splice.hello" 0) ||
		{ fail "$CUR_TEST" "splice connection: $why"; return; }
	hl=$(size "$D/flow.hello")
	why=$(check_transfer "$D/c_flow.rep" "$D/s_flow.rep" $((hl + (16 << 20))) $((16 << 20))) ||
		{ fail "$CUR_TEST" "sockmap connection: $why"; return; }
	why=$(check_transfer "$D/c_slow.rep" "$D/s_slow.rep" $((hl + 65536)) $((24 << 20))) ||
		{ fail "$CUR_TEST" "slow reader: $why"; return; }
	why=$(loop_check tls 10) || { fail "$CUR_TEST" "$why"; return; }
	# The paths were the ones intended (the successor logs the ends).
	for n in "$psp splice" "$pfl sockmap" "$psl sockmap(\+splice)?"; do
		line=$(conn_line "${n%% *}" "$log2")
		grep -qE " path=${n#* } .*end=eof" <<<"$line" ||
			{ fail "$CUR_TEST" "want path=${n#* } end=eof: ${line:-no conn line for upstream ${n%% *} in the successor log}"; return; }
	done
	pass "$CUR_TEST"
}

# The same with the metrics endpoint configured (as a production config
# has): the successor must serve it once the old process is gone.
t_upgrade_metrics() {
	newdir
	local pt pa pm out
	pt=$(free_port) pa=$(free_port) pm=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"version":"v0.2.0","control_socket":"$D/ctl.sock","metrics":"127.0.0.1:$pm",
	 "servers":{"127.0.0.1:$pt":{"HTTP":{"Host a.example":$(fwd "$pa")}}}}
	EOF
	xfer_server a "127.0.0.1:$pa" --count 0 --http upstream-a || { fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" --mode sockmap || return
	pt_takeover "$D/c.json" "$D/gen2.log" --mode sockmap || { fail "$CUR_TEST" "$TK_WHY"; return; }
	why=$(tk_check "$PT_LOG" "$D/gen2.log" 0) || { fail "$CUR_TEST" "$why"; return; }
	out=$(curl -sS --max-time 5 --resolve "a.example:$pt:127.0.0.1" "http://a.example:$pt/" 2>&1)
	[ "$out" = upstream-a ] || { fail "$CUR_TEST" "after the upgrade, curl got '$out'"; return; }
	scrape "127.0.0.1:$pm" "$D/m" && grep -q '^passthru_info{.*path="sockmap"} 1$' "$D/m" ||
		{ fail "$CUR_TEST" "the successor does not serve metrics on 127.0.0.1:$pm"; return; }
	pass "$CUR_TEST"
}

# A splice-mode process upgraded with a duplex transfer in flight (bytes
# may sit in its pipes at that moment).
t_upgrade_splice() {
	newdir
	local pt pa hl cli why rate=4m
	pt=$(free_port) pa=$(free_port)
	# It must outlast the upgrade, which takes seconds under the sanitizers.
	[ -n "${SAN:-}" ] && rate=1m
	cat >"$D/c.json" <<-EOF
	{"version":"v0.2.0","control_socket":"$D/ctl.sock","mode":"splice",
	 "servers":{"127.0.0.1:$pt":{"TLS":{"SNI a.example":$(fwd "$pa")}}}}
	EOF
	"$MKHELLO" --sni a.example >"$D/hello"
	hl=$(size "$D/hello")
	xfer_server up "127.0.0.1:$pa" --send 16m --rate "$rate" --timeout-s 40 || { fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" || return
	xfer_client cli "127.0.0.1:$pt" --prefix-file "$D/hello" --send 16m --rate "$rate" --timeout-s 40 &
	cli=$!
	sleep 1.5
	pt_takeover "$D/c.json" "$D/gen2.log" || { fail "$CUR_TEST" "$TK_WHY"; return; }
	why=$(tk_check "$PT_LOG" "$D/gen2.log" 1 splice) || { fail "$CUR_TEST" "$why"; return; }
	_alive "$cli" || { fail "$CUR_TEST" "the transfer was over at the upgrade: $(tail -n 1 "$D/cli.rep")"; return; }
	wait_pid "$cli" 40
	why=$(check_transfer "$D/cli.rep" "$D/up.rep" $((hl + (16 << 20))) $((16 << 20))) || { fail "$CUR_TEST" "$why"; return; }
	wait_log "conn .*upstream=127\.0\.0\.1:$pa .*end=" 5 "$D/gen2.log"
	grep -qE " path=splice .*end=eof" <<<"$(conn_line "$pa" "$D/gen2.log")" ||
		{ fail "$CUR_TEST" "want path=splice end=eof from the successor: $(conn_line "$pa" "$D/gen2.log")"; return; }
	pass "$CUR_TEST"
}

# Relayed connections (the default mode, before kernel_after) across an
# upgrade: a duplex transfer that the relay carries whole, and one to a
# slow reader, where the relay holds what the client's socket did not take
# (that crosses in a pipe, and the connection goes on through splice):
# both exact.
t_upgrade_relay() {
	newdir
	local pt pa pb hl c1 c2 why rate=4m rrate=2m
	pt=$(free_port) pa=$(free_port) pb=$(free_port)
	# Both must outlast the upgrade, which takes seconds under the
	# sanitizers (TSan: a 4 s transfer was over before it).
	[ -n "${SAN:-}" ] && rate=1m rrate=1m
	cat >"$D/c.json" <<-EOF
	{"version":"v0.2.0","control_socket":"$D/ctl.sock","kernel_after":"1GiB",
	 "servers":{"127.0.0.1:$pt":{"TLS":{"SNI a.example":$(fwd "$pa"),"SNI b.example":$(fwd "$pb")}}}}
	EOF
	"$MKHELLO" --sni a.example >"$D/hello_a"
	"$MKHELLO" --sni b.example >"$D/hello_b"
	hl=$(size "$D/hello_a")
	xfer_server ua "127.0.0.1:$pa" --send 16m --rate "$rate" --timeout-s 40 --diag "1:$hl" &&
		xfer_server ub "127.0.0.1:$pb" --send 16m --mode send-first --timeout-s 40 ||
		{ fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" || return
	xfer_client ca "127.0.0.1:$pt" --prefix-file "$D/hello_a" --send 16m --rate "$rate" --timeout-s 40 --diag 2:0 &
	c1=$!
	xfer_client cb "127.0.0.1:$pt" --prefix-file "$D/hello_b" --send 0 --mode recv-first \
		--read-rate "$rrate" --timeout-s 40 --diag 2:0 &
	c2=$!
	sleep 1.5
	pt_takeover "$D/c.json" "$D/gen2.log" || { fail "$CUR_TEST" "$TK_WHY"; return; }
	why=$(tk_check "$PT_LOG" "$D/gen2.log" 2) || { fail "$CUR_TEST" "$why"; return; }
	_alive "$c1" && _alive "$c2" ||
		{ fail "$CUR_TEST" "a transfer was over at the upgrade: $(tail -q -n 1 "$D/ca.rep" "$D/cb.rep" 2>/dev/null)"; return; }
	wait_pid "$c1" 40
	wait_pid "$c2" 40
	why=$(check_transfer "$D/ca.rep" "$D/ua.rep" $((hl + (16 << 20))) $((16 << 20))) ||
		{ fail "$CUR_TEST" "duplex: $why"; return; }
	why=$(check_transfer "$D/cb.rep" "$D/ub.rep" "$hl" $((16 << 20))) ||
		{ fail "$CUR_TEST" "slow reader: $why"; return; }
	wait_log "conn .*upstream=127\.0\.0\.1:$pa .*end=" 5 "$D/gen2.log"
	grep -qE " path=relay .*end=eof" <<<"$(conn_line "$pa" "$D/gen2.log")" ||
		{ fail "$CUR_TEST" "want path=relay end=eof from the successor: $(conn_line "$pa" "$D/gen2.log")"; return; }
	pass "$CUR_TEST"
	echo "# slow reader: $(conn_line "$pb" "$D/gen2.log" | grep -o ' path=[a-z+]*')"
}

# In the default mode a sniff reads the client's first bytes (the relay
# sends them, no second read): half a ClientHello, read by the predecessor
# (its socket's queue is empty: read, not peeked), crosses the upgrade in
# a pipe; the successor routes the whole hello and the upstream gets it
# byte-exact.  Twice: the successor in the default mode, and in sockmap
# mode (the bytes go out through the relay all the same, then the kernel
# takes the connection).  MODE2: the successor's --mode.
t_upgrade_sniff_read() {
	require_cmd "$TRICKLE" || return
	newdir
	local pt ps hl tr why line q
	pt=$(free_port) ps=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"version":"v0.2.0","control_socket":"$D/ctl.sock","sniff_timeout":"20s",
	 "servers":{"127.0.0.1:$pt":{"TLS":{"SNI sniff.example":$(fwd "$ps")}}}}
	EOF
	"$MKHELLO" --sni sniff.example >"$D/hello" || { fail "$CUR_TEST" "mkhello failed"; return; }
	hl=$(size "$D/hello")
	xfer_server s "127.0.0.1:$ps" --mode recv-first --send 50k --timeout-s 30 ||
		{ fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" || return
	# The halves 4 s apart (the upgrade between), then 4 s to its FIN.
	"$TRICKLE" --connect "127.0.0.1:$pt" --file "$D/hello" --chunk $((hl / 2 + 1)) \
		--gap-us 4000000 --timeout-s 30 >"$D/trickle.out" 2>&1 &
	tr=$!
	# passthru read the first half: its socket holds nothing.
	q() { ss -tnH state established "( sport = :$pt )" | awk '{print $1}' | head -n 1; }
	wait_for 3 eval '[ "$(q)" = 0 ]' ||
		{ fail "$CUR_TEST" "the first half is still in passthru's socket (Recv-Q $(q)): not read while sniffing"; return; }
	pt_takeover "$D/c.json" "$D/gen2.log" ${MODE2:+--mode "$MODE2"} || { fail "$CUR_TEST" "$TK_WHY"; return; }
	why=$(tk_check "$PT_LOG" "$D/gen2.log" 1 "${MODE2:-auto}") || { fail "$CUR_TEST" "$why"; return; }
	_alive "$tr" || { fail "$CUR_TEST" "the client ended at the upgrade: $(cat "$D/trickle.out")"; return; }
	wait_for 15 eval '! _alive '"$tr"
	grep -qE "recv=$hl recv_sha256=$(sha256 "$D/hello") .*result=ok" "$D/s.rep" 2>/dev/null ||
		{ fail "$CUR_TEST" "the upstream did not get the hello byte-exact: $(tail -n 1 "$D/s.rep" 2>/dev/null) / client: $(cat "$D/trickle.out")"; return; }
	grep -q "recv=51200 .*result=ok" "$D/trickle.out" ||
		{ fail "$CUR_TEST" "the client got $(cat "$D/trickle.out"), want recv=51200 result=ok"; return; }
	wait_log "conn .*upstream=127\.0\.0\.1:$ps .*end=" 5 "$D/gen2.log"
	line=$(conn_line "$ps" "$D/gen2.log")
	grep -qE " path=$([ "${MODE2:-}" = sockmap ] && echo sockmap || echo relay) up=$hl down=51200 .*end=eof" <<<"$line" ||
		{ fail "$CUR_TEST" "want path=$([ "${MODE2:-}" = sockmap ] && echo sockmap || echo relay) up=$hl down=51200 end=eof from the successor: ${line:-no conn line}"; return; }
	pass "$CUR_TEST"
}

# A successor that fails after receiving everything (here: --user names no
# one, so it gives up at the privilege drop): the old process carries on,
# its transfer in flight untouched, and keeps accepting.
t_upgrade_failed() {
	newdir
	local pt pa hl cli why rc out
	pt=$(free_port) pa=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"version":"v0.2.0","control_socket":"$D/ctl.sock",
	 "servers":{"127.0.0.1:$pt":{"TLS":{"SNI a.example":$(fwd "$pa")}}}}
	EOF
	"$MKHELLO" --sni a.example >"$D/hello"
	hl=$(size "$D/hello")
	xfer_server up "127.0.0.1:$pa" --count 2 --send 8m --rate 4m --timeout-s 30 || { fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" --mode sockmap || return
	xfer_client cli "127.0.0.1:$pt" --prefix-file "$D/hello" --send 8m --rate 4m --timeout-s 30 &
	cli=$!
	sleep 0.5
	timeout 40 "$PASSTHRU" -c "$D/c.json" --mode sockmap --takeover --user no-such-user-pt >"$D/gen2.log" 2>&1
	rc=$?
	if [ "$rc" != 1 ]; then
		fail "$CUR_TEST" "the failing successor exited $rc, want 1: $(tail -n 2 "$D/gen2.log")"
		return
	elif ! wait_log 'takeover by pid [0-9]+ failed .*: carrying on' 35; then
		fail "$CUR_TEST" "the old passthru did not log 'takeover by pid P failed (...): carrying on': $(tail -n 2 "$PT_LOG")"
		return
	elif ! _alive "$PT_PID"; then
		fail "$CUR_TEST" "the old passthru is gone: $(tail -n 2 "$PT_LOG")"
		return
	elif grep -q "accept steering: worker .*listening socket" "$PT_LOG"; then
		# The successor joined its sockets to its own steering map
		# before it failed: it must leave it, or the old process
		# cannot join them again (EBUSY) and its steering is gone.
		fail "$CUR_TEST" "the old passthru after the failed takeover: $(grep -m1 'accept steering: worker' "$PT_LOG")"
		return
	fi
	wait_pid "$cli" 30
	why=$(check_transfer "$D/cli.rep" "$D/up.rep" $((hl + (8 << 20))) $((8 << 20))) ||
		{ fail "$CUR_TEST" "the transfer in flight: $why"; return; }
	# A new connection, served by the old process, still in the kernel.
	xfer_client cli2 "127.0.0.1:$pt" --prefix-file "$D/hello" --send 1m --timeout-s 20
	wait_for 5 eval '[ "$(wc -l <"$D/up.rep")" -ge 2 ]'
	tail -n 1 "$D/up.rep" >"$D/up2.rep"
	why=$(check_transfer "$D/cli2.rep" "$D/up2.rep" $((hl + (1 << 20))) $((8 << 20))) ||
		{ fail "$CUR_TEST" "a new connection after the failed takeover: $why"; return; }
	wait_log "conn .*upstream=127\.0\.0\.1:$pa .*up=$((hl + (1 << 20))) " 5
	grep -qE " path=sockmap .*end=eof" <<<"$(conn_line "$pa")" ||
		{ fail "$CUR_TEST" "the new connection did not take the sockmap path: $(conn_line "$pa")"; return; }
	pass "$CUR_TEST"
}

# --takeover with nothing to take over: exit 1, a clear message, no listener.
t_upgrade_nothing() {
	newdir
	local pt rc out
	pt=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"version":"v0.2.0","control_socket":"$D/ctl.sock",
	 "servers":{"127.0.0.1:$pt":{"CATCHALL":{"CATCHALL":{"action":"REJECT"}}}}}
	EOF
	out=$(timeout 10 "$PASSTHRU" -c "$D/c.json" --takeover 2>&1)
	rc=$?
	if [ "$rc" != 1 ]; then
		fail "$CUR_TEST" "exit status $rc, want 1: $out"
	elif ! grep -qF "takeover: no running passthru at $D/ctl.sock" <<<"$out"; then
		fail "$CUR_TEST" "want 'takeover: no running passthru at $D/ctl.sock' in: $out"
	elif _listening "$pt"; then
		fail "$CUR_TEST" "something listens on $pt"
	else
		pass "$CUR_TEST"
	fi
}

# A connection whose upstream connect is still going on at the upgrade
# (the upstream's accept queue is full: its SYNs are dropped) crosses with
# its upstream socket: the successor routes it again and, picking the same
# address, carries that connect on, so the upstream sees one connection
# (the same source port), not a reset and a second one.  Another one,
# whose rule now names another upstream (the file changed before the
# upgrade), goes there and its old socket is closed.
# syn_sent PORT N: N connects to 127.0.0.1:PORT wait in SYN-SENT.
syn_sent() { [ "$(ss -tnH state syn-sent dst "127.0.0.1:$1" | wc -l)" = "$2" ]; }

t_upgrade_connecting() {
	newdir
	local pt up up2 ha hb hl pa pb ports n line
	pt=$(free_port) up=$(free_port) up2=$(free_port)
	"$MKHELLO" --sni a.example >"$D/hello_a" && "$MKHELLO" --sni b.example >"$D/hello_b" ||
		{ fail "$CUR_TEST" "mkhello failed"; return; }
	hl=$(size "$D/hello_a")
	cfg() {
		cat >"$D/c.json" <<-EOF
		{"version":"v0.2.0","control_socket":"$D/ctl.sock","connect_timeout":"30s",
		 "servers":{"127.0.0.1:$pt":{"TLS":{"SNI a.example":$(fwd "$up"),"SNI b.example":$(fwd "$1")}}}}
		EOF
	}
	cfg "$up"
	python3 "$HELD" "$up" "$D/up.rep" "$D/go" $((hl + 5)) &
	python3 "$HELD" "$up2" "$D/up2.rep" "$D/go2" $((hl + 5)) &
	touch "$D/go2"
	wait_for 5 grep -qs ready "$D/up.rep" || { fail "$CUR_TEST" "held upstream did not start"; return; }
	pt_start "$D/c.json" || return
	for c in a b; do
		python3 - "$pt" "$D/hello_$c" >"$D/client_$c" 2>&1 <<-'PY' &
		import socket, sys
		s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=40)
		s.sendall(open(sys.argv[2], "rb").read() + b"ping!")
		got = b""
		while True:
		    b = s.recv(100)
		    if not b:
		        break
		    got += b
		print(got.decode())
		PY
	done
	# Both connects wait in SYN-SENT; their source ports.
	wait_for 10 syn_sent "$up" 2 ||
		{ fail "$CUR_TEST" "want 2 connects to the held upstream: $(ss -tnH state syn-sent dst "127.0.0.1:$up")"; return; }
	ports=$(ss -tnH state syn-sent dst "127.0.0.1:$up" | awk '{ sub(/.*:/, "", $3); print $3 }' | sort | tr '\n' ' ')
	cfg "$up2"
	pt_takeover "$D/c.json" "$D/gen2.log" || { fail "$CUR_TEST" "$TK_WHY"; return; }
	[ "$OLD_RC" = 0 ] || { fail "$CUR_TEST" "the old passthru exited with status $OLD_RC"; return; }
	# b went to the other upstream; its connect to the held one is gone.
	wait_for 10 grep -q '^conn ' "$D/up2.rep" ||
		{ fail "$CUR_TEST" "b.example did not reach its new upstream: $(tail -n 3 "$D/gen2.log")"; return; }
	wait_for 5 syn_sent "$up" 1 ||
		{ fail "$CUR_TEST" "want 1 connect left to the held upstream (a's), have: $(ss -tnH state syn-sent dst "127.0.0.1:$up" | wc -l)"; return; }
	pa=$(ss -tnH state syn-sent dst "127.0.0.1:$up" | awk '{ sub(/.*:/, "", $3); print $3 }')
	case " $ports " in *" $pa "*) ;; *)
		fail "$CUR_TEST" "a's connect after the upgrade is from port $pa, not one of the predecessor's ($ports): a new socket"; return ;;
	esac
	touch "$D/go"
	# The next SYN retransmission (up to ~8 s away) completes it.
	wait_for 20 grep -q '^pong' "$D/client_a" ||
		{ fail "$CUR_TEST" "client a got no answer: $(cat "$D/client_a"); upstream: $(cat "$D/up.rep")"; return; }
	grep -q '^pong' "$D/client_b" || { fail "$CUR_TEST" "client b got no answer: $(cat "$D/client_b")"; return; }
	sleep 0.5
	n=$(grep -c '^conn ' "$D/up.rep")
	line=$(grep '^conn ' "$D/up.rep")
	[ "$n" = 1 ] && [ "$line" = "conn port=$pa recv=$((hl + 5))" ] ||
		{ fail "$CUR_TEST" "the held upstream saw $n connection(s): $line (want one, port=$pa recv=$((hl + 5)))"; return; }
	pass "$CUR_TEST"
}

run_test ops/upgrade/1g-sockmap-two-upgrades t_upgrade_1g
run_test ops/upgrade/connections-in-every-state t_upgrade_states
run_test ops/upgrade/splice-mode-transfer t_upgrade_splice
run_test ops/upgrade/relayed-connections t_upgrade_relay
run_test ops/upgrade/sniff-read-bytes-cross t_upgrade_sniff_read
run_test ops/upgrade/connecting-upstream-kept t_upgrade_connecting
MODE2=sockmap run_test ops/upgrade/sniff-read-bytes-cross-to-sockmap t_upgrade_sniff_read
run_test ops/upgrade/with-metrics-endpoint t_upgrade_metrics
run_test ops/upgrade/failed-successor-old-carries-on t_upgrade_failed
run_test ops/upgrade/no-running-process t_upgrade_nothing
