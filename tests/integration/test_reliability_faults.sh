#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Faults: the upstream refuses, never answers the SYN (a black hole: connect
# timeout, not sniff timeout), resets mid-transfer, closes first while
# bytes are still queued toward the client, closes with bytes unread; the
# client resets mid-transfer; both half-close orders.  Each must end with
# the right bytes delivered (sha256 of what arrived against the sender's
# stream up to the failure), the right end= reason in the conn log line,
# and passthru's fds and threads back where they were.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/reliability.sh"

require_root
require_cmd "$PASSTHRU" "$XFER" "$MKHELLO" "$HOSTILE" ss

RUNS=${RUNS:-10}		# runs of the reset tests

# f_start [TO_ADDR] [EXTRA_SETTINGS]: "SNI a.example" -> TO_ADDR (default
# 127.0.0.1:$PA), the hello in $D/hello; passthru started; BASE_FDS and
# BASE_THREADS taken.  Sets PA PT HL.
f_start() {
	PA=$(free_port) PT=$(free_port)
	local to=${1:-127.0.0.1:$PA}
	cat >"$D/c.json" <<-EOF
	{${2:-} "connect_timeout": "1s", "sniff_timeout": "5s", "servers":{"127.0.0.1:$PT":{
	  "TLS":{"SNI a.example":{"action":"FORWARD","to_addr":"$to"},
	         "CATCHALL":{"action":"REJECT"}}}}}
	EOF
	"$MKHELLO" --sni a.example >"$D/hello" || { fail "$CUR_TEST" "mkhello"; return 1; }
	HL=$(size "$D/hello")
	pt_start "$D/c.json" --mode "$MODE" -v || return 1
	BASE_FDS=$(pt_fds) BASE_THREADS=$(pt_threads)
}

# no_leak: passthru back to its fds and threads (prints why not).
no_leak() {
	if ! wait_fds "$BASE_FDS" 10; then
		echo "passthru holds $(pt_fds) fds, $BASE_FDS before; now: $(fd_kinds)"
		return 1
	fi
	[ "$(pt_threads)" = "$BASE_THREADS" ] ||
		{ echo "passthru has $(pt_threads) threads, $BASE_THREADS before"; return 1; }
}

# one_line PATTERN: exactly one conn line, matching; prints why not.
# (Called as why=$(one_line ...).)
one_line() {
	local line
	wait_conns 1 10 || { echo "no conn line: $(tail -n 3 "$PT_LOG")"; return 1; }
	line=$(conn_lines)
	[ "$(wc -l <<<"$line")" = 1 ] || { echo "$(wc -l <<<"$line") conn lines"; return 1; }
	grep -qE -- "$1" <<<"$line" || { echo "log line does not match '$1': ${line#* conn }"; return 1; }
}

# last_line: the last conn line, from "client=" on.
last_line() {
	local l
	l=$(conn_lines | tail -n 1)
	echo "${l#* conn }"
}

# prefix_ok REPORT_LINE_FILE WHICH SEED PREFIX_FILE: the bytes WHICH (recv)
# in the report are the first bytes of the stream (prefix + payload of
# SEED): sha256 of the right length.
prefix_ok() {
	local n sha want
	n=$(field "$1" recv) sha=$(field "$1" recv_sha256)
	if [ -n "$4" ]; then
		[ "$n" -ge "$(size "$4")" ] || { echo "got $n bytes, less than the hello"; return 1; }
		want=$(stream_sha $((n - $(size "$4"))) "$3" "$4")
	else
		want=$(stream_sha "$n" "$3")
	fi
	[ "$sha" = "$want" ] || { echo "the $n bytes received are not the sender's first $n bytes"; return 1; }
}

t_refused() {
	newdir
	local dead why=
	dead=$(free_port)
	f_start "127.0.0.1:$dead" || return
	"$HOSTILE" send --connect "127.0.0.1:$PT" --file "$D/hello" --timeout-ms 5000 --report "$D/cli.rep"
	if [ "$(field "$D/cli.rep" end)" != eof ]; then
		why="the client was not closed with a FIN: $(cat "$D/cli.rep")"
	elif ! why=$(one_line "upstream=127.0.0.1:$dead .*end=upstream-refused error=\"Connection refused\""); then
		:
	elif ! why=$(no_leak); then
		:
	fi
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
	echo "#   $(last_line)"
}

# The upstream address is routed into a netns that drops everything: the
# SYN is never answered.  connect_timeout 1s, sniff_timeout 5s: the end
# comes after ~1 s with end=upstream-timeout.
t_blackhole() {
	newdir
	local why= ms
	local bh=bh$MODE void=void$MODE dev
	ns_create $bh && ns_create $void && veth_pair $bh $void 10.99.0.1/24 10.99.0.3/24 ||
		{ fail "$CUR_TEST" "netns setup failed"; return; }
	dev=$(ns_exec $bh ip -o link show type veth | awk -F': ' '{ print $2 }' | cut -d@ -f1)
	ns_exec $bh ip neigh add 10.99.0.2 lladdr 02:00:00:00:00:02 dev "$dev" nud permanent ||
		{ fail "$CUR_TEST" "neigh add failed"; return; }
	PT_NS=$bh
	f_start 10.99.0.2:443
	local rc=$?
	PT_NS=
	[ "$rc" = 0 ] || return
	ns_exec $bh "$HOSTILE" send --connect "127.0.0.1:$PT" --file "$D/hello" --timeout-ms 8000 --report "$D/cli.rep"
	ms=$(field "$D/cli.rep" ms)
	if [ "$(field "$D/cli.rep" end)" != eof ]; then
		why="the client was not closed with a FIN: $(cat "$D/cli.rep")"
	elif [ "$ms" -lt 950 ] || [ "$ms" -gt 2000 ]; then
		why="closed after $ms ms, want the 1 s connect timeout"
	elif ! why=$(one_line "upstream=10.99.0.2:443 .*ms=1[0-9]{3} end=upstream-timeout"); then
		:
	elif ! why=$(no_leak); then
		:
	fi
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
	echo "#   client closed after $ms ms: $(last_line)"
}

# all_lines N PATTERN: exactly N conn lines, all matching; prints why not.
all_lines() {
	local n
	wait_conns "$1" 10 || { echo "$(conn_lines | wc -l) conn lines, want $1"; return 1; }
	n=$(conn_lines "$2" | wc -l)
	[ "$n" = "$1" ] || { echo "$n of $1 conn lines match '$2': $(last_line)"; return 1; }
}

# The upstream reads the hello and 1 MiB, sends 256 KiB, waits until they
# are acknowledged, then resets.  The client sends the hello and 1 MiB and
# reads until the reset (xfer stops reading at its first send error, so it
# must not be sending when the reset comes).  Every byte passthru
# acknowledged to the upstream must reach the client before the reset, as
# it would without passthru in between.  RUNS times: a race shows.
t_upstream_rst() {
	newdir
	local why= got i lost=0 min=
	f_start || return
	"$HOSTILE" upstream --listen "127.0.0.1:$PA" --recv-before $((HL + (1 << 20))) \
		--send-before 256k --end rst --count "$RUNS" --report "$D/up.rep" &
	wait_port 127.0.0.1 "$PA" 5
	for ((i = 1; i <= RUNS; i++)); do
		xfer_client "cli$i" "127.0.0.1:$PT" --prefix-file "$D/hello" --send 1m --timeout-s 20
		wait_for 5 test "$(wc -l <"$D/up.rep")" -ge "$i"
		got=$(field "$D/cli$i.rep" recv)
		[ -z "$min" ] || [ "$got" -lt "$min" ] && min=$got
		[ "$got" != $((256 << 10)) ] && lost=$((lost + 1))
		if [ -z "$why" ]; then
			if [ "$(field "$D/cli$i.rep" result)" = ok ] || [ "$(field "$D/cli$i.rep" result)" = error:timeout ]; then
				why="run $i: the client was not reset: $(cat "$D/cli$i.rep")"
			elif [ "$(sed -n "${i}p" "$D/up.rep" | tr ' ' '\n' | sed -n 's/^recv_sha256=//p')" != "$(stream_sha 1m 1 "$D/hello")" ]; then
				why="run $i: the upstream did not get the hello and the first 1 MiB exactly: $(sed -n "${i}p" "$D/up.rep")"
			elif ! why=$(prefix_ok "$D/cli$i.rep" recv 2 ""); then
				why="run $i: client: $why"
			fi
		fi
	done
	if [ -n "$why" ]; then
		:
	elif [ "$lost" != 0 ]; then
		why="in $lost of $RUNS runs the client got less than the 262144 bytes the upstream sent (and passthru acknowledged) before its reset, as few as $min: passthru reset the client with bytes still queued"
	elif ! why=$(all_lines "$RUNS" "down=262144 .*end=upstream-reset error=\"Connection reset by peer\""); then
		:
	elif ! why=$(no_leak); then
		:
	fi
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
	echo "#   $RUNS runs, client got >= ${min:-?} of 262144 bytes: $(last_line)"
}

# A slow reader is not a reader that stopped: the upstream sends 8 MiB,
# waits until passthru acknowledged them, then resets; the client reads at
# 320 KiB/s, so most of it is still on its way when the reset comes and its
# delivery takes longer than the 10 s a peer that reads nothing gets.  The
# client must get every byte, then the reset.
t_upstream_rst_slow_reader() {
	newdir
	local why= t_fail t_end
	f_start || return
	"$HOSTILE" upstream --listen "127.0.0.1:$PA" --recv-before "$HL" \
		--send-before 8m --end rst --count 1 --timeout-ms 60000 --report "$D/up.rep" &
	wait_port 127.0.0.1 "$PA" 5
	xfer_client cli "127.0.0.1:$PT" --prefix-file "$D/hello" --send 0 --read-rate 320k --diag 2:0 \
		--timeout-s 60
	if [ "$(field "$D/cli.rep" result)" = ok ] || [ "$(field "$D/cli.rep" result)" = error:timeout ]; then
		why="the client was not reset: $(cat "$D/cli.rep")"
	elif [ "$(field "$D/cli.rep" recv)" != $((8 << 20)) ]; then
		why="the client got $(field "$D/cli.rep" recv) of the $((8 << 20)) bytes the upstream sent before its reset"
	elif ! why=$(prefix_ok "$D/cli.rep" recv 2 ""); then
		:
	elif ! why=$(one_line "down=$((8 << 20)) .*end=upstream-reset"); then
		:
	else
		# The delivery after the reset outlasted the no-read bound, or
		# the test proves nothing.
		t_fail=$(grep -m1 'upstream failed' "$PT_LOG" | cut -d' ' -f1)
		t_end=$(grep -m1 ' conn client=.* end=' "$PT_LOG" | cut -d' ' -f1)
		t_fail=$(date -d "$t_fail" +%s%3N) t_end=$(date -d "$t_end" +%s%3N)
		[ $((t_end - t_fail)) -ge 10200 ] ||
			why="the reset came only $((t_end - t_fail)) ms before the end: the test needs over 10 s of delivery after it"
	fi
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
	echo "#   $(last_line)"
}

# A client that reads nothing for 10 s after the upstream's reset gets the
# reset then, with what it has not read (the README's bound).
t_upstream_rst_stopped_reader() {
	newdir
	local why=
	f_start || return
	"$HOSTILE" upstream --listen "127.0.0.1:$PA" --recv-before "$HL" \
		--send-before 6m --end rst --count 1 --report "$D/up.rep" &
	wait_port 127.0.0.1 "$PA" 5
	xfer_client cli "127.0.0.1:$PT" --prefix-file "$D/hello" --send 0 --read-delay-ms 14000 \
		--timeout-s 30 &
	local cli=$!
	if ! wait_log 'read nothing of what its failed peer sent for 10000 ms: reset now' 14; then
		why="no 'read nothing ... for 10000 ms: reset now' line within 14 s: $(tail -n 2 "$PT_LOG")"
	elif ! why=$(one_line "end=upstream-reset"); then
		:
	fi
	wait_pid "$cli" 30
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
}

# The client sends the hello and 1 MiB (all acknowledged), then resets.
# The upstream (hostile: reads until the reset, sends nothing, never
# half-closes, so the connection stays on the sockmap path) must read
# every byte the client had sent before the reset.  RUNS times.
t_client_rst() {
	newdir
	local why= got i lost=0 min= line
	f_start || return
	"$HOSTILE" upstream --listen "127.0.0.1:$PA" --recv-before 100m --timeout-ms 20000 \
		--count "$RUNS" --report "$D/up.rep" &
	wait_port 127.0.0.1 "$PA" 5
	for ((i = 1; i <= RUNS; i++)); do
		xfer_client "cli$i" "127.0.0.1:$PT" --prefix-file "$D/hello" --send 10m --rst-after 1m --timeout-s 20
		wait_for 10 test "$(wc -l <"$D/up.rep" 2>/dev/null || echo 0)" -ge "$i"
		line=$(sed -n "${i}p" "$D/up.rep")
		echo "$line" >"$D/up$i.rep"
		got=$(field "$D/up$i.rep" recv)
		[ -z "$min" ] || [ "$got" -lt "$min" ] && min=$got
		[ "$got" != $((HL + (1 << 20))) ] && lost=$((lost + 1))
		if [ -z "$why" ]; then
			if [ "$(field "$D/up$i.rep" end)" != early-rst ]; then
				why="run $i: the upstream was not reset: $line"
			elif ! why=$(prefix_ok "$D/up$i.rep" recv 1 "$D/hello"); then
				why="run $i: upstream: $why"
			fi
		fi
	done
	if [ -n "$why" ]; then
		:
	elif [ "$lost" != 0 ]; then
		why="in $lost of $RUNS runs the upstream got less than the $((HL + (1 << 20))) bytes the client sent (and passthru acknowledged) before its reset, as few as $min: passthru reset the upstream with bytes still queued"
	elif ! why=$(all_lines "$RUNS" "up=$((HL + (1 << 20))) .*end=client-reset error=\"Connection reset by peer\""); then
		:
	elif ! why=$(no_leak); then
		:
	fi
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
	echo "#   $RUNS runs, upstream got >= ${min:-?} of $((HL + (1 << 20))) bytes: $(last_line)"
}

# Half-close in both orders, 4 MiB each way.
t_half_close() {
	newdir
	local why=
	f_start || return
	xfer_server up "127.0.0.1:$PA" --send 4m --mode "$2" --timeout-s 20 || { fail "$CUR_TEST" "xfer server"; return; }
	xfer_client cli "127.0.0.1:$PT" --prefix-file "$D/hello" --send 4m --mode "$1" --timeout-s 20
	if ! why=$(check_transfer "$D/cli.rep" "$D/up.rep" $((HL + (4 << 20))) $((4 << 20))); then
		:
	elif ! why=$(one_line "up=$((HL + (4 << 20))) down=$((4 << 20)) .*end=eof"); then
		:
	elif ! why=$(no_leak); then
		:
	fi
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
	echo "#   $(last_line)"
}

# The upstream sends 64 MiB and closes (close(), not shutdown) at once;
# the client starts reading 2 s later: most of it is still queued in
# passthru when the upstream's FIN arrives.  Every byte, then EOF.
t_upstream_closes_first() {
	newdir
	local why=
	f_start || return
	"$HOSTILE" upstream --listen "127.0.0.1:$PA" --recv-before "$HL" --send-before 64m \
		--end close --timeout-ms 30000 --report "$D/up.rep" &
	wait_port 127.0.0.1 "$PA" 5
	xfer_client cli "127.0.0.1:$PT" --prefix-file "$D/hello" --send 0 --mode recv-first \
		--read-delay-ms 2000 --timeout-s 30
	if [ "$(field "$D/cli.rep" result)" != ok ]; then
		why="client: $(cat "$D/cli.rep")"
	elif [ "$(field "$D/cli.rep" recv)" != $((64 << 20)) ] ||
	     [ "$(field "$D/cli.rep" recv_sha256)" != "$(stream_sha 64m 2)" ]; then
		why="the client got $(field "$D/cli.rep" recv) bytes of 64 MiB (or another sha256)"
	elif ! why=$(one_line "down=$((64 << 20)) .*end=eof"); then
		:
	elif ! why=$(no_leak); then
		:
	fi
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
	echo "#   $(last_line)"
}

# The client sends 64 MiB; the upstream reads 1 MiB and closes with the
# rest unread, which makes its kernel reset the connection: passthru must
# end it (end=upstream-reset) and reset the client, not hang or spin.
t_upstream_closes_unread() {
	newdir
	local why=
	f_start || return
	"$HOSTILE" upstream --listen "127.0.0.1:$PA" --recv-before $((HL + (1 << 20))) \
		--end close --report "$D/up.rep" &
	wait_port 127.0.0.1 "$PA" 5
	xfer_client cli "127.0.0.1:$PT" --prefix-file "$D/hello" --send 64m --mode send-first --timeout-s 20
	wait_for 5 test -s "$D/up.rep"
	if [ "$(field "$D/cli.rep" result)" = ok ] || [ "$(field "$D/cli.rep" result)" = error:timeout ]; then
		why="the client was not reset: $(cat "$D/cli.rep")"
	elif [ "$(field "$D/up.rep" recv_sha256)" != "$(stream_sha 1m 1 "$D/hello")" ]; then
		why="the upstream did not get the hello and the first 1 MiB exactly: $(cat "$D/up.rep")"
	elif ! why=$(one_line "end=upstream-reset"); then
		:
	elif ! why=$(no_leak); then
		:
	fi
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
	echo "#   client: $(field "$D/cli.rep" result) after sending $(field "$D/cli.rep" sent); $(last_line)"
}

# Resets at the hand-over: 600 clients (30 at a time) send the hello and
# 0-3 KiB and reset at once, toward an upstream that half-closes at
# accept (so many connections take the splice path, the sockmap refusing
# a socket with a FIN).  Some resets land between connect and the first
# splice.  Every connection logs one line and passthru's fds come back:
# a leak here is two pipe fds per connection.
t_reset_storm() {
	newdir
	local why= r i pids
	f_start || return
	xfer_server up "127.0.0.1:$PA" --count 0 --send 0 --timeout-s 20 || { fail "$CUR_TEST" "xfer server"; return; }
	for ((r = 0; r < 20; r++)); do
		pids=()
		for ((i = 0; i < 30; i++)); do
			"$XFER" client --connect "127.0.0.1:$PT" --prefix-file "$D/hello" --send 1m \
				--rst-after $(((RANDOM % 4) << 10)) --timeout-s 10 --report "$D/cli.rep" \
				>/dev/null 2>&1 &
			pids+=($!)
		done
		wait "${pids[@]}"
	done
	if ! wait_conns 600 10; then
		why="$(conn_lines | wc -l) conn lines for 600 connections"
	elif [ "$(conn_lines 'end=kernel-error' | wc -l)" != 0 ]; then
		why="end=kernel-error: $(conn_lines 'end=kernel-error' | head -n 1 | sed 's/.* conn //')"
	elif ! why=$(no_leak); then
		why="$why ($(conn_lines | grep -o ' path=[a-z+-]*' | sort | uniq -c | tr '\n' ' '))"
	fi
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
	echo "#   600 resets: $(conn_lines | grep -o ' path=[a-z+-]* .* end=[a-z-]*' | sed -E 's/ up=.* end=/ end=/' | sort | uniq -c | tr '\n' ' ')"
}

# The same two resets without passthru in between: every byte arrives
# before the reset (what the tests above demand of passthru).
t_direct() {
	newdir
	local why= i
	PA=$(free_port)
	"$HOSTILE" upstream --listen "127.0.0.1:$PA" --recv-before 1m --send-before 256k --end rst \
		--count 3 --report "$D/up1.rep" &
	wait_port 127.0.0.1 "$PA" 5
	for i in 1 2 3; do
		"$XFER" client --connect "127.0.0.1:$PA" --send 1m --report "$D/cli1.rep" >/dev/null 2>&1
	done
	wait_for 5 test "$(wc -l <"$D/up1.rep")" = 3
	PA=$(free_port)
	"$HOSTILE" upstream --listen "127.0.0.1:$PA" --recv-before 100m --count 3 --report "$D/up2.rep" &
	wait_port 127.0.0.1 "$PA" 5
	for i in 1 2 3; do
		"$XFER" client --connect "127.0.0.1:$PA" --send 10m --rst-after 1m --report "$D/cli2.rep" >/dev/null 2>&1
	done
	wait_for 5 test "$(wc -l <"$D/up2.rep")" = 3
	if [ "$(grep -c ' recv=262144 .*result=error:recv-ECONNRESET' "$D/cli1.rep")" != 3 ]; then
		why="direct upstream reset: $(cat "$D/cli1.rep")"
	elif [ "$(grep -c '^recv=1048576 .*end=early-rst' "$D/up2.rep")" != 3 ]; then
		why="direct client reset: $(cat "$D/up2.rep")"
	fi
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
}

run_test reliability/faults/control-direct-resets-deliver-everything t_direct
for MODE in sockmap splice; do
	R=reliability/faults/$MODE
	run_test $R/upstream-refused t_refused
	run_test $R/upstream-black-hole-connect-timeout t_blackhole
	run_test $R/upstream-resets-mid-transfer t_upstream_rst
	run_test $R/client-resets-mid-transfer t_client_rst
	run_test $R/upstream-resets-slow-reader-gets-everything t_upstream_rst_slow_reader
	run_test $R/reset-storm-at-handover-no-fd-leak t_reset_storm
	run_test $R/half-close-client-first t_half_close send-first recv-first
	run_test $R/half-close-upstream-first t_half_close recv-first send-first
	run_test $R/upstream-closes-first-data-queued-to-client t_upstream_closes_first
	run_test $R/upstream-closes-with-data-unread t_upstream_closes_unread
done
MODE=sockmap
run_test reliability/faults/upstream-resets-stopped-reader-reset-after-10s t_upstream_rst_stopped_reader
