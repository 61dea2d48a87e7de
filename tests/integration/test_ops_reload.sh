#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Operations, signals: reload on SIGHUP (under load, with a broken config,
# listeners added and removed) and the SIGTERM drain (in-flight transfers
# finish, new connections refused, the grace deadline, a second SIGTERM).
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/ops.sh"

require_root
require_cmd "$PASSTHRU" "$XFER" "$MKHELLO" ss curl

MODE=sockmap

fwd() { printf '{"action":"FORWARD","to_addr":"127.0.0.1:%s"}' "$1"; }

# reload_cfg FILE STAGE: the configurations the reload test goes through.
#   1: P1 {TLS long->LONG1, a->XA; HTTP b->HB1}, P2 {TLS long->LONG2}
#   2: P1 long->LONGNEW, b->HB2; P2 kept; P3 added {HTTP b->HB2}
#   3: P2 removed
#   4: P1 a->XA2
reload_cfg() {
	local st=$2 long=$LONG1 hb=$HB1 xa=$XA p2= p3=
	[ "$st" -ge 2 ] && long=$LONGNEW hb=$HB2 &&
		p3=",\"127.0.0.1:$P3\":{\"HTTP\":{\"Host b.example\":$(fwd "$HB2")}}"
	[ "$st" -le 2 ] && p2=",\"127.0.0.1:$P2\":{\"TLS\":{\"SNI long.example\":$(fwd "$LONG2")}}"
	[ "$st" -ge 4 ] && xa=$XA2
	cat >"$1.tmp" <<-EOF
	{"version":"v0.2.0","metrics":"127.0.0.1:$PM","control_socket":"$D/ctl.sock",
	 "shutdown_grace":"10s",
	 "servers":{"127.0.0.1:$P1":{
	   "TLS":{"SNI long.example":$(fwd "$long"),"SNI a.example":$(fwd "$xa")},
	   "HTTP":{"Host b.example":$(fwd "$hb")}}$p2$p3}}
	EOF
	mv "$1.tmp" "$1"	# atomic: a reload never reads half a file
}

# (a) Three reloads (a listener added, one removed, rules' upstreams
# changed) while loops of short HTTP and TLS connections run and two long
# transfers flow, one on the listener that goes away, one on a rule whose
# upstream changes: no connection fails, the long ones end byte-exact at
# their original upstreams, new connections follow the new rules at once.
t_reload_load() {
	newdir
	local why= hl first_hb2 n out=
	P1=$(free_port) P2=$(free_port) P3=$(free_port) PM=$(free_port)
	HB1=$(free_port) HB2=$(free_port) XA=$(free_port) XA2=$(free_port)
	LONG1=$(free_port) LONG2=$(free_port) LONGNEW=$(free_port)
	"$MKHELLO" --sni long.example >"$D/long.hello" && "$MKHELLO" --sni a.example >"$D/a.hello" ||
		{ fail "$CUR_TEST" "mkhello failed"; return; }
	hl=$(size "$D/long.hello")
	reload_cfg "$D/c.json" 1
	xfer_server hb1 "127.0.0.1:$HB1" --count 0 --http hb1 &&
		xfer_server hb2 "127.0.0.1:$HB2" --count 0 --http hb2 &&
		xfer_server xa "127.0.0.1:$XA" --count 0 --send 10k &&
		xfer_server xa2 "127.0.0.1:$XA2" --count 0 --send 10k &&
		xfer_server long1 "127.0.0.1:$LONG1" --send 32m --rate 2500k --timeout-s 40 &&
		xfer_server long2 "127.0.0.1:$LONG2" --send 32m --rate 2500k --timeout-s 40 &&
		xfer_server longnew "127.0.0.1:$LONGNEW" --send 1k ||
		{ fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" --mode "$MODE" || return
	# The two long transfers, about 8 s each, then the loops.
	xfer_client l1 "127.0.0.1:$P1" --prefix-file "$D/long.hello" --send 32m --rate 2500k --timeout-s 40 &
	local l1=$!
	xfer_client l2 "127.0.0.1:$P2" --prefix-file "$D/long.hello" --send 32m --rate 2500k --timeout-s 40 &
	local l2=$!
	http_loop http1 "$P1" b.example
	http_loop http2 "$P1" b.example
	xfer_loop tls "$P1" "$D/a.hello" 10k
	sleep 1.5

	trace reload 1
	reload_cfg "$D/c.json" 2
	if ! pt_reload 1; then
		why="reload 1 not applied: $(grep -E 'reload|error' "$PT_LOG" | tail -n 3)"
	elif [ "$(curl -sS --max-time 5 --resolve "b.example:$P1:127.0.0.1" "http://b.example:$P1/" 2>&1)" != hb2 ]; then
		why="after reload 1, Host b.example on the kept listener did not reach the new upstream"
	elif [ "$(curl -sS --max-time 5 --resolve "b.example:$P3:127.0.0.1" "http://b.example:$P3/" 2>&1)" != hb2 ]; then
		why="after reload 1, the added listener $P3 did not route Host b.example"
	elif ! trace checked 1a || ! xfer_client new "127.0.0.1:$P1" --prefix-file "$D/long.hello" --send 1k --timeout-s 10 ||
	     ! out=$(check_transfer "$D/new.rep" "$D/longnew.rep" $((hl + 1024)) 1024); then
		why="after reload 1, a new SNI long.example connection did not reach the new upstream: ${out:-$(tail -n 1 "$D/new.rep")}"
	fi
	trace checked 1
	sleep 1

	trace reload 2
	reload_cfg "$D/c.json" 3
	if [ -n "$why" ]; then
		:
	elif ! pt_reload 2; then
		why="reload 2 not applied: $(grep -E 'reload|error' "$PT_LOG" | tail -n 3)"
	elif ! wait_for 3 refused "$P2"; then
		why="after reload 2 removed it, listener $P2 still accepts connections"
	elif ! _alive "$l2"; then
		why="the long transfer on the removed listener ended at the reload: $(tail -n 1 "$D/l2.rep")"
	fi
	sleep 1

	trace reload 3
	reload_cfg "$D/c.json" 4
	if [ -n "$why" ]; then
		:
	elif ! pt_reload 3; then
		why="reload 3 not applied: $(grep -E 'reload|error' "$PT_LOG" | tail -n 3)"
	elif ! xfer_client a2 "127.0.0.1:$P1" --prefix-file "$D/a.hello" --send 12345 --expect-recv 10240 --timeout-s 10 ||
	     ! wait_for 5 grep -q "recv=$(( $(size "$D/a.hello") + 12345 )) " "$D/xa2.rep"; then
		why="after reload 3, SNI a.example did not reach the new upstream: $(tail -n 1 "$D/a2.rep")"
	fi
	trace checked 3
	# Go on a little, until 300 short connections in all (at most 15 s).
	sleep 2
	wait_for 15 eval '[ "$(cat "$D"/*.loop | wc -l)" -ge 300 ]'
	loops_stop
	trace loops stopped
	wait_pid "$l1" 30
	wait_pid "$l2" 30
	[ -n "$why" ] && { fail "$CUR_TEST" "$why"; return; }

	# Hundreds of connections in all (the machine may be slow: each loop
	# at least 20).
	for n in http1 http2 tls; do
		why=$(loop_check "$n" 20) || { fail "$CUR_TEST" "$why"; return; }
	done
	n=$(cat "$D"/*.loop | wc -l)
	[ "$n" -ge 200 ] || { fail "$CUR_TEST" "only $n short connections in all, want >= 200"; return; }
	# Each HTTP loop saw hb1, then hb2, never hb1 again.
	for n in http1 http2; do
		first_hb2=$(awk '$2 == "hb2" { print $1; exit }' "$D/$n.loop")
		if [ -z "$first_hb2" ] || ! grep -q ' hb1$' "$D/$n.loop"; then
			fail "$CUR_TEST" "loop $n did not see both upstreams: $(cut -d' ' -f2 "$D/$n.loop" | sort | uniq -c | tr '\n' ' ')"
			return
		fi
		n=$(awk -v f="$first_hb2" '$1 > f && $2 == "hb1"' "$D/$n.loop" | wc -l)
		[ "$n" = 0 ] || { fail "$CUR_TEST" "$n connections went to the old upstream after one went to the new"; return; }
	done
	[ -s "$D/xa.rep" ] && [ -s "$D/xa2.rep" ] ||
		{ fail "$CUR_TEST" "the TLS loop did not reach both the old and the new upstream of SNI a.example"; return; }
	for n in 1 2; do
		why=$(check_transfer "$D/l$n.rep" "$D/long$n.rep" $((hl + (32 << 20))) $((32 << 20))) ||
			{ fail "$CUR_TEST" "long transfer $n: $why"; return; }
		local p=LONG$n
		wait_log "conn .*upstream=127\.0\.0\.1:${!p} .*end=" 5
		grep -qE " path=$MODE(\+splice)? " <<<"$(conn_line "${!p}")" ||
			{ fail "$CUR_TEST" "long transfer $n did not take the $MODE path: $(conn_line "${!p}")"; return; }
	done
	scrape "127.0.0.1:$PM" "$D/m" || { fail "$CUR_TEST" "metrics scrape failed"; return; }
	why=$(mwant "$D/m" passthru_config_reloads_total "" 3 && mwant "$D/m" passthru_config_reload_failures_total "" 0) ||
		{ fail "$CUR_TEST" "$why"; return; }
	pass "$CUR_TEST"
	echo "# $(cat "$D"/http?.loop | wc -l) HTTP + $(wc -l <"$D/tls.loop") TLS connections across 3 reloads, 0 failed"
}

# (b) A broken configuration (and then a world-writable one) on SIGHUP:
# the error is logged, the running configuration goes on serving, and a
# listener only the broken file names is not opened.
# reload_refused PATTERN WHAT: SIGHUP; the log must say PATTERN, the new
# file's listener ($p2) stay closed and the running configuration ($p1 ->
# upstream-a) still serve.  Says why not, on stdout.
reload_refused() {
	local out
	kill -HUP "$PT_PID"
	wait_log "$1" || { echo "$2 on SIGHUP was not refused: $(tail -n 3 "$PT_LOG")"; return 1; }
	sleep 0.3
	_listening "$p2" && { echo "$2 was applied (listener $p2 open)"; return 1; }
	out=$(curl -sS --max-time 5 --resolve "a.example:$p1:127.0.0.1" "http://a.example:$p1/" 2>&1)
	[ "$out" = upstream-a ] ||
		{ echo "after $2 was refused, the old config does not serve: curl got '$out'"; return 1; }
}

t_reload_bad() {
	newdir
	local p1 p2 pa pm out why
	p1=$(free_port) p2=$(free_port) pa=$(free_port) pm=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"version":"v0.2.0","metrics":"127.0.0.1:$pm","control_socket":"$D/ctl.sock",
	 "servers":{"127.0.0.1:$p1":{"HTTP":{"Host a.example":$(fwd "$pa")}}}}
	EOF
	xfer_server a "127.0.0.1:$pa" --count 0 --http upstream-a || { fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" --mode "$MODE" || return
	cat >"$D/c.json" <<-EOF
	{"version":"v0.2.0","metrics":"127.0.0.1:$pm","control_socket":"$D/ctl.sock",
	 "servers":{"127.0.0.1:$p1":{"HTTP":{"Host a.example":{"action":"FORWARD","to_addr":"127.0.0.1"}}},
	            "127.0.0.1:$p2":{"HTTP":{"Host a.example":$(fwd "$pa")}}}}
	EOF
	kill -HUP "$PT_PID"
	if ! wait_log 'reload: .* is not valid: keeping the running configuration'; then
		fail "$CUR_TEST" "no 'is not valid: keeping the running configuration' line: $(tail -n 3 "$PT_LOG")"
		return
	fi
	grep -qF "servers.\"127.0.0.1:$p1\".HTTP.\"Host a.example\".to_addr" "$PT_LOG" ||
		{ fail "$CUR_TEST" "the reload error does not name the bad key: $(tail -n 3 "$PT_LOG")"; return; }
	_listening "$p2" && { fail "$CUR_TEST" "the broken config's listener $p2 was opened"; return; }
	out=$(curl -sS --max-time 5 --resolve "a.example:$p1:127.0.0.1" "http://a.example:$p1/" 2>&1)
	[ "$out" = upstream-a ] || { fail "$CUR_TEST" "after the bad reload, the old config does not serve: curl got '$out'"; return; }

	# A valid file anyone may write is refused just the same.
	cat >"$D/c.json" <<-EOF
	{"version":"v0.2.0","metrics":"127.0.0.1:$pm","control_socket":"$D/ctl.sock",
	 "servers":{"127.0.0.1:$p2":{"HTTP":{"Host a.example":$(fwd "$pa")}}}}
	EOF
	chmod 0666 "$D/c.json"
	why=$(reload_refused 'writable by everyone' "a world-writable config") ||
		{ fail "$CUR_TEST" "$why"; return; }

	# A valid configuration with a second one pasted after it: which of
	# the two was meant is not ours to guess.
	rm -f "$D/c.json"
	cat >"$D/c.json" <<-EOF
	{"version":"v0.2.0","metrics":"127.0.0.1:$pm","control_socket":"$D/ctl.sock",
	 "servers":{"127.0.0.1:$p2":{"HTTP":{"Host a.example":$(fwd "$pa")}}}}
	{"version":"v0.2.0","servers":{}}
	EOF
	chmod 0644 "$D/c.json"
	why=$(reload_refused "line 3 column 1: text after the configuration's closing brace" \
		"a config with text after its object") || { fail "$CUR_TEST" "$why"; return; }
	scrape "127.0.0.1:$pm" "$D/m" || { fail "$CUR_TEST" "metrics scrape failed"; return; }
	why=$(mwant "$D/m" passthru_config_reload_failures_total "" 3 && mwant "$D/m" passthru_config_reloads_total "" 0) ||
		{ fail "$CUR_TEST" "$why"; return; }
	grep -q 'reload: applied' "$PT_LOG" && { fail "$CUR_TEST" "a reload was applied: $(grep 'reload: applied' "$PT_LOG")"; return; }
	pass "$CUR_TEST"
}

# listeners_cfg FILE UP PORT...: one HTTP listener on each 127.0.0.1:PORT,
# "Host a.example" forwarded to 127.0.0.1:UP.
listeners_cfg() {
	local f=$1 up=$2 p sep= servers=
	shift 2
	for p in "$@"; do
		servers="$servers$sep\"127.0.0.1:$p\":{\"HTTP\":{\"Host a.example\":$(fwd "$up")}}"
		sep=,
	done
	printf '{"version":"v0.2.0","control_socket":"%s","servers":{%s}}\n' "$D/ctl.sock" "$servers" >"$f"
}

# (c) A reload that swaps a listener for another: the removed one refuses
# connections, the added one routes, the kept one goes on.
t_reload_listeners() {
	newdir
	local p1 p2 p3 pa out p
	p1=$(free_port) p2=$(free_port) p3=$(free_port) pa=$(free_port)
	xfer_server a "127.0.0.1:$pa" --count 0 --http upstream-a || { fail "$CUR_TEST" "xfer server"; return; }
	listeners_cfg "$D/c.json" "$pa" "$p1" "$p2"
	pt_start "$D/c.json" --mode "$MODE" || return
	for p in "$p1" "$p2"; do
		out=$(curl -sS --max-time 5 --resolve "a.example:$p:127.0.0.1" "http://a.example:$p/" 2>&1)
		[ "$out" = upstream-a ] || { fail "$CUR_TEST" "before the reload, listener $p: curl got '$out'"; return; }
	done
	listeners_cfg "$D/c.json.new" "$pa" "$p1" "$p3"
	mv "$D/c.json.new" "$D/c.json"
	pt_reload 1 || { fail "$CUR_TEST" "reload not applied: $(tail -n 3 "$PT_LOG")"; return; }
	if ! wait_for 3 refused "$p2"; then
		fail "$CUR_TEST" "the removed listener $p2 still accepts connections"
		return
	fi
	for p in "$p3" "$p1"; do
		out=$(curl -sS --max-time 5 --resolve "a.example:$p:127.0.0.1" "http://a.example:$p/" 2>&1)
		[ "$out" = upstream-a ] || { fail "$CUR_TEST" "after the reload, listener $p: curl got '$out'"; return; }
	done
	pass "$CUR_TEST"
}

# A new listener whose port is free at the reload's check but taken
# before a worker binds it (simulated: PT_TEST_RELOAD_BIND_FAIL=PORT):
# the rest of the reload applies, and its line says what was not bound
# (it said "reload: applied" as if all of it had been).
t_reload_unbound() {
	newdir
	local p1 p3 pa out
	p1=$(free_port) p3=$(free_port) pa=$(free_port)
	xfer_server a "127.0.0.1:$pa" --count 0 --http upstream-a || { fail "$CUR_TEST" "xfer server"; return; }
	listeners_cfg "$D/c.json" "$pa" "$p1"
	PT_WRAP="env PT_TEST_RELOAD_BIND_FAIL=$p3" pt_start "$D/c.json" --mode "$MODE" -w 2 || return
	listeners_cfg "$D/c.json.new" "$pa" "$p1" "$p3"
	mv "$D/c.json.new" "$D/c.json"
	kill -HUP "$PT_PID"
	wait_log "reload: applied: 2 listeners, 2 rules; but 2 listening sockets could not be bound" 10 ||
		{ fail "$CUR_TEST" "no line saying the reload left 2 sockets unbound: $(grep 'reload:' "$PT_LOG" | tail -n 3)"; return; }
	grep -q "info reload: applied" "$PT_LOG" &&
		{ fail "$CUR_TEST" "the reload also said it was applied whole"; return; }
	refused "$p3" || { fail "$CUR_TEST" "something accepts on $p3"; return; }
	out=$(curl -sS --max-time 5 --resolve "a.example:$p1:127.0.0.1" "http://a.example:$p1/" 2>&1)
	[ "$out" = upstream-a ] || { fail "$CUR_TEST" "after the reload, listener $p1: curl got '$out'"; return; }
	pass "$CUR_TEST"
}

# ---- SIGTERM -----------------------------------------------------------------

# drain_cfg FILE PT_PORT UP_PORT GRACE: SNI a.example -> UP_PORT.
drain_cfg() {
	cat >"$1" <<-EOF
	{"version":"v0.2.0","control_socket":"$D/ctl.sock","shutdown_grace":"$4",
	 "servers":{"127.0.0.1:$2":{"TLS":{"SNI a.example":$(fwd "$3")}}}}
	EOF
}

# An in-flight transfer finishes byte-exact after SIGTERM, new connections
# are refused meanwhile, and passthru exits 0 right after the transfer ends.
t_drain_transfer() {
	newdir
	local pt pa hl cli t_end why
	pt=$(free_port) pa=$(free_port)
	drain_cfg "$D/c.json" "$pt" "$pa" 20s
	"$MKHELLO" --sni a.example >"$D/hello"
	hl=$(size "$D/hello")
	xfer_server up "127.0.0.1:$pa" --send 6m --rate 2m --timeout-s 30 || { fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" --mode "$MODE" || return
	xfer_client cli "127.0.0.1:$pt" --prefix-file "$D/hello" --send 6m --rate 2m --timeout-s 30 &
	cli=$!
	sleep 1
	kill -TERM "$PT_PID"
	if ! wait_log 'no longer accepting; 1 connection open, waiting up to 20000 ms'; then
		fail "$CUR_TEST" "no 'no longer accepting; 1 connection open, waiting up to 20000 ms' line: $(tail -n 2 "$PT_LOG")"
		return
	fi
	if ! refused "$pt"; then
		fail "$CUR_TEST" "a new connection was not refused after SIGTERM"
		return
	fi
	_alive "$cli" || { fail "$CUR_TEST" "the transfer ended right at SIGTERM: $(tail -n 1 "$D/cli.rep")"; return; }
	_alive "$PT_PID" || { fail "$CUR_TEST" "passthru exited while the transfer was in flight: $(tail -n 2 "$PT_LOG")"; return; }
	wait_pid "$cli" 30
	t_end=$(date +%s%3N)
	pt_wait_exit 10
	if [ "$PT_RC" = 124 ]; then
		fail "$CUR_TEST" "passthru still runs 10 s after the last connection ended"
	elif [ "$PT_RC" != 0 ]; then
		fail "$CUR_TEST" "passthru exited with status $PT_RC: $(tail -n 2 "$PT_LOG")"
	elif [ $(($(date +%s%3N) - t_end)) -gt 3000 ]; then
		fail "$CUR_TEST" "passthru exited $(($(date +%s%3N) - t_end)) ms after the transfer ended, want < 3 s"
	elif ! why=$(check_transfer "$D/cli.rep" "$D/up.rep" $((hl + (6 << 20))) $((6 << 20))); then
		fail "$CUR_TEST" "$why"
	elif ! grep -qE " path=$MODE(\+splice)? .*end=eof" <<<"$(conn_line "$pa")"; then
		fail "$CUR_TEST" "want path=$MODE and end=eof: $(conn_line "$pa")"
	else
		pass "$CUR_TEST"
	fi
}

# stuck_conn PT_PORT UP_PORT: a forwarded connection on which nobody sends
# (client and upstream both wait for the other's EOF); waits for it to be
# flowing.  Client report: $D/cli.rep.
stuck_conn() {
	"$MKHELLO" --sni a.example >"$D/hello"
	xfer_server up "127.0.0.1:$2" --mode recv-first --send 0 --timeout-s 60 || return 1
	xfer_client cli "127.0.0.1:$1" --prefix-file "$D/hello" --mode recv-first --send 0 --timeout-s 60 &
	STUCK=$!
	wait_for 5 eval "[ \"\$(ss -Htn state established '( dport = :$2 )' | wc -l)\" -ge 1 ]"
}

# With shutdown_grace 1s and a connection that never ends, passthru exits
# (status 0) at the deadline and closes the connection (end=shutdown).
t_drain_deadline() {
	newdir
	local pt pa
	pt=$(free_port) pa=$(free_port)
	drain_cfg "$D/c.json" "$pt" "$pa" 1s
	pt_start "$D/c.json" --mode "$MODE" || return
	stuck_conn "$pt" "$pa" || { fail "$CUR_TEST" "the stuck connection did not reach its upstream"; return; }
	sleep 0.3
	kill -TERM "$PT_PID"
	pt_wait_exit 10
	if [ "$PT_RC" = 124 ]; then
		fail "$CUR_TEST" "passthru still runs 10 s after SIGTERM with shutdown_grace 1s"
	elif [ "$PT_RC" != 0 ]; then
		fail "$CUR_TEST" "passthru exited with status $PT_RC: $(tail -n 2 "$PT_LOG")"
	elif [ "$PT_MS" -lt 800 ] || [ "$PT_MS" -gt 3000 ]; then
		fail "$CUR_TEST" "passthru exited $PT_MS ms after SIGTERM, want about 1000 (shutdown_grace 1s)"
	elif ! grep -q 'end=shutdown' <<<"$(conn_line "$pa")"; then
		fail "$CUR_TEST" "the stuck connection's line does not say end=shutdown: $(conn_line "$pa")"
	elif ! wait_pid "$STUCK" 5; then
		fail "$CUR_TEST" "the client was not disconnected when passthru exited"
	else
		pass "$CUR_TEST"
	fi
}

# A second SIGTERM during the grace period closes everything and exits at once.
t_drain_second_signal() {
	newdir
	local pt pa
	pt=$(free_port) pa=$(free_port)
	drain_cfg "$D/c.json" "$pt" "$pa" 30s
	pt_start "$D/c.json" --mode "$MODE" || return
	stuck_conn "$pt" "$pa" || { fail "$CUR_TEST" "the stuck connection did not reach its upstream"; return; }
	kill -TERM "$PT_PID"
	wait_log 'no longer accepting' 5 && sleep 1
	_alive "$PT_PID" || { fail "$CUR_TEST" "passthru exited at the first SIGTERM with a connection open and 30 s of grace"; return; }
	kill -TERM "$PT_PID"
	pt_wait_exit 10
	if [ "$PT_RC" = 124 ]; then
		fail "$CUR_TEST" "passthru still runs 10 s after a second SIGTERM"
	elif [ "$PT_RC" != 0 ]; then
		fail "$CUR_TEST" "passthru exited with status $PT_RC: $(tail -n 2 "$PT_LOG")"
	elif [ "$PT_MS" -gt 1500 ]; then
		fail "$CUR_TEST" "passthru took $PT_MS ms to exit after the second SIGTERM, want < 1.5 s"
	elif ! grep -q 'again: closing every connection now' "$PT_LOG"; then
		fail "$CUR_TEST" "no 'again: closing every connection now' line: $(tail -n 2 "$PT_LOG")"
	elif ! wait_pid "$STUCK" 5; then
		fail "$CUR_TEST" "the client was not disconnected when passthru exited"
	else
		pass "$CUR_TEST"
	fi
}

for MODE in sockmap splice; do
	run_test "ops/$MODE/reload-under-load" t_reload_load
	run_test "ops/$MODE/sigterm-drain-transfer" t_drain_transfer
done
MODE=sockmap
run_test ops/reload-bad-config-kept t_reload_bad
run_test ops/reload-listeners-added-removed t_reload_listeners
run_test ops/reload-listener-not-bound t_reload_unbound
run_test ops/sigterm-grace-deadline t_drain_deadline
run_test ops/sigterm-second-signal t_drain_second_signal
