#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Slow and silent clients, and the limits: 10k connections that send
# nothing must not slow down a real client's routing; clients that send
# one byte a second are cut at the sniff deadline; max_connections holds
# back connection N+1 until one ends; max_sniffing keeps a silent flood
# from starving real clients; running out of fds (EMFILE on accept)
# degrades without a busy loop or crash, and recovers; idle spliced
# connections hold no pipes.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/reliability.sh"

require_root
require_cmd "$PASSTHRU" "$MKHELLO" "$HOSTILE" ss prlimit

SILENT=${SILENT:-10000}
LAT_SLACK_US=${LAT_SLACK_US:-5000}	# p50 under the flood <= baseline + 5 ms
IDLE_TICKS_MAX=${IDLE_TICKS_MAX:-20}	# passthru CPU over 3 s: 0.2 s (busy loop: 300)

# Room for 10k connections on each side (passthru takes its hard limit).
ulimit -Hn 65536 2>/dev/null && ulimit -n 65536

# slow_start CFG_EXTRA [PT_ARGS...]: an echo upstream on $PA, a config
# sending "SNI a.example" there (TLS CATCHALL: REJECT, listener CATCHALL:
# REJECT) with the top-level keys CFG_EXTRA ('"k": v, ' form), the hello in
# $D/hello, passthru started; sets PA PT.
slow_start() {
	local extra=$1
	shift
	PA=$(free_port) PT=$(free_port)
	cat >"$D/c.json" <<-EOF
	{$extra "servers":{"127.0.0.1:$PT":{
	  "TLS":{"SNI a.example":{"action":"FORWARD","to_addr":"127.0.0.1:$PA"},
	         "CATCHALL":{"action":"REJECT"}},
	  "CATCHALL":{"CATCHALL":{"action":"REJECT"}}}}}
	EOF
	"$MKHELLO" --sni a.example >"$D/hello" || { fail "$CUR_TEST" "mkhello"; return 1; }
	"$HOSTILE" echo --listen "127.0.0.1:$PA" 2>"$D/echo.err" &
	wait_port 127.0.0.1 "$PA" 5 || { fail "$CUR_TEST" "echo upstream: $(cat "$D/echo.err")"; return 1; }
	pt_start "$D/c.json" "$@"
}

# latency NAME COUNT: COUNT real clients one after the other; report in
# $D/NAME.rep.
latency() {
	"$HOSTILE" latency --connect "127.0.0.1:$PT" --prefix-file "$D/hello" --count "$2" \
		--timeout-ms 5000 --report "$D/$1.rep" 2>>"$D/latency.err"
}

# hold NAME ARGS...: hostile hold in the background (PID in HOLD_PID),
# waiting until every connection is open (or failed).
hold() {
	local name=$1
	shift
	"$HOSTILE" hold --connect "127.0.0.1:$PT" --ready "$D/$name.ready" --report "$D/$name.rep" \
		"$@" 2>"$D/$name.err" &
	HOLD_PID=$!
	wait_for 60 test -s "$D/$name.ready"
}

# stop_hold: SIGTERM the holder and wait for its report.
stop_hold() {
	kill -TERM "$HOLD_PID" 2>/dev/null
	wait_pid "$HOLD_PID" 20
}

# 10k silent connections, then real clients: routing latency against a
# baseline taken just before.
t_silent_flood() {
	newdir
	local base_fds fds p50b p50 t0 t1 why=
	slow_start '"sniff_timeout": "60s",' --mode sockmap || return
	latency base 300
	p50b=$(field "$D/base.rep" p50_us)
	[ "$(field "$D/base.rep" count)" = 300 ] ||
		{ fail "$CUR_TEST" "baseline: $(cat "$D/base.rep")"; return; }
	base_fds=$(pt_fds)
	hold flood --count "$SILENT" --src-ips 32 --hold-s 120 ||
		{ fail "$CUR_TEST" "the flood did not open: $(cat "$D/flood.err")"; return; }
	wait_for 20 test "$(pt_fds)" -ge $((base_fds + SILENT))
	fds=$(pt_fds)
	t0=$(proc_cpu_ticks "$PT_PID")
	sleep 3
	t1=$(proc_cpu_ticks "$PT_PID")
	latency lat-flood 300
	p50=$(field "$D/lat-flood.rep" p50_us)
	if [ "$(field "$D/flood.ready" opened)" != "$SILENT" ]; then
		why="only $(cat "$D/flood.ready") of $SILENT silent connections"
	elif [ "$fds" -lt $((base_fds + SILENT)) ]; then
		why="passthru holds $fds fds, want >= $((base_fds + SILENT)): it did not accept the flood"
	elif [ "$(field "$D/lat-flood.rep" count)" != 300 ]; then
		why="under the flood: $(cat "$D/lat-flood.rep")"
	elif [ "$p50" -gt $((p50b + LAT_SLACK_US)) ]; then
		why="p50 routing latency ${p50} us under $SILENT silent connections, baseline ${p50b} us (+${LAT_SLACK_US} allowed)"
	elif [ $((t1 - t0)) -gt "$IDLE_TICKS_MAX" ]; then
		why="passthru used $((t1 - t0)) CPU ticks in 3 s holding $SILENT idle connections"
	fi
	stop_hold
	# They all go away again.
	if [ -z "$why" ] && ! wait_fds $((base_fds + 2)) 20; then
		why="$(pt_fds) fds left after the flood closed, baseline $base_fds"
	fi
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
	echo "# latency p50/p99: baseline $(field "$D/base.rep" p50_us)/$(field "$D/base.rep" p99_us) us," \
		"under $SILENT silent $p50/$(field "$D/lat-flood.rep" p99_us) us; passthru fds $base_fds -> $fds," \
		"CPU $((t1 - t0)) ticks in 3 s"
}

# t_drip MS PATTERN: 20 clients sending a ClientHello one byte every MS ms
# (0: nothing at all) are cut when the sniff deadline (2 s) passes, not
# kept alive by each byte, with one conn log line each matching PATTERN.
# At 1 byte/s two bytes are in at the deadline: not enough to tell TLS, the
# listener's CATCHALL.  At 1 byte/50 ms forty: a TLS record and handshake
# header, but no whole hello: the TLS probe still says "more", and
# route.c then moves on to the listener's CATCHALL; the protocol's
# CATCHALL would be as right, so both are accepted.
t_drip() {
	local ms=$1 want=$2 n=20 lines why=
	newdir
	slow_start '"sniff_timeout": "2s",' --mode sockmap || return
	if [ "$ms" != 0 ]; then
		hold drip --count "$n" --prefix-file "$D/hello" --drip-ms "$ms" --hold-s 6
	else
		hold drip --count "$n" --hold-s 6
	fi || { fail "$CUR_TEST" "hostile hold: $(cat "$D/drip.err")"; return; }
	wait_pid "$HOLD_PID" 20
	wait_conns "$n" 5
	lines=$(conn_lines | wc -l)
	local closed=$(($(field "$D/drip.rep" eof) + $(field "$D/drip.rep" rst)))
	local cmin cmax
	cmin=$(field "$D/drip.rep" close_ms_min) cmax=$(field "$D/drip.rep" close_ms_max)
	if [ "$closed" != "$n" ]; then
		why="$closed of $n closed by passthru: $(cat "$D/drip.rep")"
	elif [ "$cmin" -lt 1900 ] || [ "$cmax" -gt 3000 ]; then
		why="closed after $cmin..$cmax ms, want the 2 s deadline (1900..3000)"
	elif [ "$lines" != "$n" ]; then
		why="$lines conn lines for $n clients"
	elif [ "$(conn_lines "$want" | wc -l)" != "$n" ]; then
		why="want every line to match '$want': $(conn_lines | head -n 1)"
	elif [ "$(field "$D/drip.rep" recv)" != 0 ]; then
		why="the clients received bytes"
	fi
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
	echo "# $n clients (1 byte/${ms} ms) closed after $cmin..$cmax ms ($(field "$D/drip.rep" eof) FIN," \
		"$(field "$D/drip.rep" rst) RST); log: $(conn_lines | head -n 1 | sed 's/.* conn //')"
}

# max_connections 4 (one worker): four connections established through
# passthru, the fifth waits (not routed, not refused) until one ends.
t_max_conns() {
	local why=
	newdir
	slow_start '"max_connections": 4, "workers": 1, "sniff_timeout": "30s",' --mode sockmap || return
	hold four --count 4 --prefix-file "$D/hello" --hold-s 60 ||
		{ fail "$CUR_TEST" "hostile hold: $(cat "$D/four.err")"; return; }
	wait_for 5 test "$(ss -Htn state established "( sport = :$PA )" | wc -l)" = 4 ||
		{ fail "$CUR_TEST" "4 connections did not reach the upstream: $(ss -Htn state established "( sport = :$PA )" | wc -l)"; return; }
	"$HOSTILE" latency --connect "127.0.0.1:$PT" --prefix-file "$D/hello" --count 1 \
		--timeout-ms 15000 --report "$D/fifth.rep" &
	local fifth=$!
	sleep 2
	if [ -s "$D/fifth.rep" ]; then
		why="the fifth connection ended while four were open: $(cat "$D/fifth.rep")"
	elif [ "$(ss -Htn state established "( sport = :$PA )" | wc -l)" != 4 ]; then
		why="the upstream has $(ss -Htn state established "( sport = :$PA )" | wc -l) connections, want 4"
	elif ! grep -q 'connections, the limit: not accepting' "$PT_LOG"; then
		why="no 'the limit: not accepting' warning"
	fi
	stop_hold
	wait_pid "$fifth" 15
	if [ -z "$why" ] && [ "$(field "$D/fifth.rep" count)" != 1 ]; then
		why="the fifth connection was not served once the others closed: $(cat "$D/fifth.rep")"
	elif [ -z "$why" ] && [ "$(field "$D/fifth.rep" p50_us)" -lt 1900000 ]; then
		why="the fifth connection was served after $(field "$D/fifth.rep" p50_us) us, before a slot was free"
	fi
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
	echo "# fifth connection served after $(($(field "$D/fifth.rep" p50_us) / 1000)) ms (a slot freed at ~2000 ms)"
}

# max_sniffing 100: 2000 silent connections must not keep a real client
# from being routed, nor hold more than ~100 sniffing connections.
t_max_sniffing() {
	local why= out base_fds fds
	newdir
	PT=$(free_port)
	cat >"$D/check.json" <<-EOF
	{"max_sniffing": 100, "servers":{"127.0.0.1:$PT":{"CATCHALL":{"CATCHALL":{"action":"REJECT"}}}}}
	EOF
	if ! out=$("$PASSTHRU" --check -c "$D/check.json" 2>&1); then
		skip "$CUR_TEST" "the \"max_sniffing\" key is not implemented yet (--check: ${out##*error })"
		return
	fi
	slow_start '"max_sniffing": 100, "sniff_timeout": "60s",' --mode sockmap || return
	base_fds=$(pt_fds)
	hold flood --count 2000 --src-ips 8 --hold-s 60 ||
		{ fail "$CUR_TEST" "the flood did not open: $(cat "$D/flood.err")"; return; }
	sleep 1
	fds=$(pt_fds)
	latency real 20
	if [ "$(field "$D/real.rep" count)" != 20 ]; then
		why="real clients under a silent flood beyond max_sniffing: $(cat "$D/real.rep")"
	elif [ "$fds" -gt $((base_fds + 100 + 16)) ]; then
		why="passthru holds $fds fds under the flood (baseline $base_fds, max_sniffing 100)"
	fi
	local evicted
	evicted=$(conn_lines 'end=sniff-evicted' | wc -l)
	if [ -z "$why" ] && [ "$evicted" -lt 1800 ]; then
		why="$evicted 'end=sniff-evicted' conn lines, want >= 1800 of the 2000 silent connections"
	elif [ -z "$why" ] && [ "$(conn_lines 'echo|SNI a.example' | grep -c 'end=sniff-evicted')" != 0 ]; then
		why="a real client was evicted"
	fi
	stop_hold
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
	echo "# max_sniffing 100: fds $base_fds -> $fds under 2000 silent, $evicted evicted; real clients p50 $(field "$D/real.rep" p50_us) us"
}

# EMFILE: passthru with 64 fds.  A flood of 300 silent connections
# exhausts them; accept fails with EMFILE: passthru must pause (low CPU),
# stay alive, warn, and serve again once the flood is gone.
t_emfile() {
	local why= t0 t1 base_fds
	newdir
	PT_WRAP="prlimit --nofile=64:64"
	slow_start '"sniff_timeout": "60s",' --mode sockmap
	local rc=$?
	PT_WRAP=
	[ "$rc" = 0 ] || return
	base_fds=$(pt_fds)
	[ "$(awk '/Max open files/ { print $4 }' "/proc/$PT_PID/limits")" = 64 ] ||
		{ fail "$CUR_TEST" "prlimit did not apply: $(grep 'Max open files' "/proc/$PT_PID/limits")"; return; }
	hold flood --count 300 --hold-s 60 ||
		{ fail "$CUR_TEST" "the flood did not open: $(cat "$D/flood.err")"; return; }
	wait_for 5 test "$(pt_fds)" -ge 60
	t0=$(proc_cpu_ticks "$PT_PID")
	sleep 3
	t1=$(proc_cpu_ticks "$PT_PID")
	if ! _alive "$PT_PID"; then
		why="passthru died under EMFILE: $(tail -n 3 "$PT_LOG")"
	elif [ "$(pt_fds)" -lt 60 ]; then
		why="passthru holds $(pt_fds) fds: the flood did not exhaust them"
	elif [ $((t1 - t0)) -gt "$IDLE_TICKS_MAX" ]; then
		why="passthru used $((t1 - t0)) CPU ticks in 3 s out of fds: a busy loop"
	elif ! grep -q 'accept: Too many open files' "$PT_LOG"; then
		why="no 'accept: Too many open files' warning: $(tail -n 2 "$PT_LOG")"
	fi
	local warns
	warns=$(grep -c 'accept: Too many open files' "$PT_LOG")
	stop_hold
	# Recovery: the silent connections go, real clients are served.
	if [ -z "$why" ]; then
		if ! wait_fds $((base_fds + 2)) 20; then
			why="$(pt_fds) fds still open after the flood closed (baseline $base_fds)"
		else
			latency after 20
			[ "$(field "$D/after.rep" count)" = 20 ] ||
				why="not serving after the flood: $(cat "$D/after.rep")"
		fi
	fi
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
	echo "# out of fds (64): CPU $((t1 - t0)) ticks in 3 s, $warns warning lines, fds $base_fds at rest"
}

# Out of fds on the splice path: routed connections each need a pipe per
# direction, so with 64 fds some get their client and upstream sockets but
# no pipe, or no upstream socket.  Those end with end=no-resources (never
# as the upstream's error: the shortage is ours), passthru neither crashes
# nor spins, and serves again once they are gone.
t_emfile_splice() {
	local why= base_fds
	newdir
	PT_WRAP="prlimit --nofile=64:64"
	slow_start '"sniff_timeout": "60s",' --mode splice -w 1
	local rc=$?
	PT_WRAP=
	[ "$rc" = 0 ] || return
	base_fds=$(pt_fds)
	hold routed --count 40 --prefix-file "$D/hello" --hold-s 60 ||
		{ fail "$CUR_TEST" "the clients did not open: $(cat "$D/routed.err")"; return; }
	wait_for 5 grep -q 'end=no-resources' "$PT_LOG"
	if ! _alive "$PT_PID"; then
		why="passthru died out of fds: $(tail -n 3 "$PT_LOG")"
	elif grep -q 'end=upstream-error error="Too many open files"' "$PT_LOG"; then
		why="our own fd shortage logged as the upstream's error: $(grep -m1 'end=upstream-error' "$PT_LOG")"
	elif ! grep -q 'end=no-resources error="Too many open files"' "$PT_LOG"; then
		why="no connection ended with 'end=no-resources error=\"Too many open files\"': $(conn_lines | tail -n 2)"
	fi
	stop_hold
	if [ -z "$why" ]; then
		if ! wait_fds $((base_fds + 2)) 20; then
			why="$(pt_fds) fds still open after the clients closed (baseline $base_fds)"
		else
			latency after 20
			[ "$(field "$D/after.rep" count)" = 20 ] ||
				why="not serving after the clients left: $(cat "$D/after.rep")"
		fi
	fi
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
	echo "# $(conn_lines | grep -o 'end=[a-z-]*' | sort | uniq -c | tr '\n' ' ')"
}

# Idle spliced connections hold no pipes: a direction takes one from its
# worker's pool (64 at most) only while bytes are in it.  300 routed
# connections whose hello was echoed, then idle: their pipe fds must be
# within the pool's bound (it was 4 per connection), and once they are
# gone the idle worker closes its spare pipes too.
t_idle_splice() {
	local why= base_fds n=300 pipes fds estab
	newdir
	slow_start '"sniff_timeout": "60s",' --mode splice -w 1 || return
	base_fds=$(pt_fds)
	hold routed --count "$n" --prefix-file "$D/hello" --hold-s 60 ||
		{ fail "$CUR_TEST" "the clients did not open: $(cat "$D/routed.err")"; return; }
	wait_for 10 test "$(pt_sockets | grep -c '^ESTAB')" -ge $((2 * n))
	sleep 0.5	# the echoes
	pipes=$(ls -l "/proc/$PT_PID/fd" 2>/dev/null | grep -c 'pipe:')
	fds=$(pt_fds)
	estab=$(pt_sockets | grep -c '^ESTAB')
	if [ "$estab" -lt $((2 * n)) ]; then
		why="passthru holds $estab connected sockets, not $((2 * n))"
	elif [ "$pipes" -gt 128 ]; then
		why="$pipes pipe fds for $n idle connections (the pool holds at most 128)"
	elif [ "$fds" -gt $((base_fds + 2 * n + 128)) ]; then
		why="$fds fds for $n idle connections, baseline $base_fds: $(fd_kinds)"
	fi
	stop_hold
	if [ -z "$why" ] && ! wait_fds "$base_fds" 10; then
		why="$(pt_fds) fds 10 s after the clients left (baseline $base_fds): $(fd_kinds)"
	fi
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
	echo "# $n idle spliced connections: $fds fds (baseline $base_fds), $pipes of them pipes"
}

run_test reliability/slow/10k-silent-real-client-latency t_silent_flood
run_test reliability/slow/1-byte-per-second-cut-at-sniff-deadline t_drip 1000 \
	'proto=CATCHALL rule="CATCHALL" action=REJECT .* ms=2[0-9]{3} end=reject'
run_test reliability/slow/1-byte-per-50ms-cut-at-sniff-deadline t_drip 50 \
	'proto=(TLS|CATCHALL) rule="CATCHALL" action=REJECT .* ms=2[0-9]{3} end=reject'
run_test reliability/slow/silent-cut-at-sniff-deadline t_drip 0 \
	'proto=CATCHALL rule="CATCHALL" action=REJECT .* ms=2[0-9]{3} end=reject'

run_test reliability/slow/max-connections-holds-n-plus-1 t_max_conns
run_test reliability/slow/max-sniffing-silent-flood t_max_sniffing
run_test reliability/slow/emfile-no-busy-loop-recovers t_emfile
run_test reliability/slow/emfile-splice-pipes t_emfile_splice
run_test reliability/slow/idle-spliced-connections-hold-no-pipes t_idle_splice
