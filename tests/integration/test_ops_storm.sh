#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Operations under fire: a reload storm.  SIGHUP every 20 to 50 ms for
# STORM_S seconds (60) to three passthru processes at once, one per mode
# (the default: relayed, then promoted to the kernel; sockmap; splice), while connections churn through both: short
# exchanges, 4 MiB duplex transfers, clients still being sniffed (a hello
# trickled in small segments), and an upstream known by a host name whose
# address changes under the resolver (a private /etc/hosts in a mount
# namespace).  The configurations alternate (a listener added and removed,
# a rule's upstream changed) and one reload in ten reads a broken file.
# Nothing may crash, every transfer must be byte-exact (checked against the
# payload stream at both ends), and every reload must be applied or refused
# with a log line.  The sanitizer passes run it under ASan and TSan.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/ops.sh"

require_root
require_cmd "$PASSTHRU" "$XFER" "$MKHELLO" "$OUTPUT/tests/trickle" "$OUTPUT/tests/hupstorm" \
	unshare mount ss

STORM_S=${STORM_S:-60}
# The default mode (relay, promoted to the kernel), then the two others.
MODES=${MODES:-auto sockmap splice}
TRICKLE=$OUTPUT/tests/trickle
UPNAME=storm-upstream.test

fwd() { printf '{"action":"FORWARD","to_addr":"%s"}' "$1"; }

# storm_cfg FILE VARIANT PORT ALT_PORT: the configurations a storm cycles
# through (hupstorm renames FILE.vN over the file passthru reads).  0 and 1 differ in a rule's upstream (both answer the same way)
# and in a second listener; 2 is broken (a reload must refuse it).
storm_cfg() {
	local f=$1 v=$2 p=$3 alt=$4 extra='' short=$SHORT
	[ "$v" = 1 ] && short=$SHORT2 &&
		extra=",\"127.0.0.1:$alt\":{\"TLS\":{\"SNI short.example\":$(fwd "127.0.0.1:$SHORT")}}"
	if [ "$v" = 2 ]; then
		printf '{"version":"v0.2.0","servers":{"127.0.0.1:%s":{"TLS":{"SNI short.example":{"action":"FORWARD"}}}}}\n' "$p" >"$f.tmp"
	else
		cat >"$f.tmp" <<-EOF
		{"version":"v0.2.0","control_socket":"$f.sock","resolve_interval":"1s",
		 "shutdown_grace":"20s",
		 "servers":{"127.0.0.1:$p":{
		   "TLS":{"SNI short.example":$(fwd "127.0.0.1:$short"),
		          "SNI bulk.example":$(fwd "127.0.0.1:$BULK"),
		          "SNI name.example":$(fwd "$UPNAME:$NAMED")}}$extra}}
		EOF
	fi
	mv "$f.tmp" "$f"
}

# storm_loop NAME PORT HELLO BYTES [XFER_ARGS...]: xfer clients one after the other until
# $D/stop exists, each sending HELLO then BYTES and expecting BYTES back;
# a line per connection in $D/NAME.loop: "N ok" or "N FAIL:why".  What the
# client reads is followed against the upstream's payload stream (--diag):
# a wrong byte is a failure even when the count is right.
storm_loop() {
	local name=$1 port=$2 hello=$3 bytes=$4
	shift 4
	(
		i=0
		while [ ! -e "$D/stop" ]; do
			i=$((i + 1))
			: >"$D/$name.one"
			"$XFER" client --connect "127.0.0.1:$port" --prefix-file "$hello" \
				--send "$bytes" --expect-recv "$bytes" --diag 2:0 --timeout-s 30 \
				--report "$D/$name.one" "$@" >/dev/null 2>&1
			if [ "$(field "$D/$name.one" result)" = ok ] &&
			   [ "$(field "$D/$name.one" diag)" = none ]; then
				echo "$i ok"
			else
				echo "$i FAIL:$(tail -n 1 "$D/$name.one")"
			fi
		done >"$D/$name.loop"
	) &
	LOOP_PIDS+=($!)
}

# trickle_loop NAME PORT HELLO: clients that send their hello 24 bytes at a
# time, 15 ms apart (still being sniffed while reloads come), then wait
# for the 4 KiB answer.
trickle_loop() {
	local name=$1 port=$2 hello=$3
	(
		i=0
		while [ ! -e "$D/stop" ]; do
			i=$((i + 1))
			out=$("$TRICKLE" --connect "127.0.0.1:$port" --file "$hello" --chunk 24 \
				--gap-us 15000 --timeout-s 30 2>&1)
			case $out in
			*"recv=4096 "*result=ok*) echo "$i ok" ;;
			*) echo "$i FAIL:$out" ;;
			esac
		done >"$D/$name.loop"
	) &
	LOOP_PIDS+=($!)
}

# hosts_flip: the upstream's name alternates between two loopback
# addresses (both reach the same server) every 0.4 s, written in place so
# that the bind mount sees it.
hosts_flip() {
	(
		i=0
		while [ ! -e "$D/stop" ]; do
			i=$((i + 1))
			printf '127.0.0.1 localhost\n127.0.0.%d %s\n' $((1 + i % 2)) "$UPNAME" >"$D/hosts"
			sleep 0.4
		done
	) &
	LOOP_PIDS+=($!)
}

# reload_check LOG SENT: every reload the process began ended applied or
# refused, with its line; most signals began one (signals that arrive
# during a reload merge into one).
reload_check() {
	local log=$1 sent=$2 began applied refused
	began=$(grep -c 'SIGHUP: reloading' "$log")
	applied=$(grep -c 'reload: applied' "$log")
	refused=$(grep -cE 'reload: .*keeping the running configuration$' "$log")
	if [ "$began" != $((applied + refused)) ]; then
		echo "$began reloads began, $applied applied and $refused refused"
		return 1
	fi
	if [ "$began" -lt $((sent / 4)) ] || [ "$refused" = 0 ]; then
		echo "only $began reloads of $sent signals ($refused refused)"
		return 1
	fi
	echo "$began reloads ($applied applied, $refused refused) of $sent signals"
}

t_storm() {
	newdir
	local hs hb hn why='' l n v min name mode pid done_= report=
	local -A port alt pid_of log_of
	SHORT=$(free_port) SHORT2=$(free_port) BULK=$(free_port) NAMED=$(free_port)
	for mode in $MODES; do
		port[$mode]=$(free_port)
		alt[$mode]=$(free_port)
	done
	"$MKHELLO" --sni short.example >"$D/short.hello" &&
		"$MKHELLO" --sni bulk.example >"$D/bulk.hello" &&
		"$MKHELLO" --sni name.example >"$D/name.hello" ||
		{ fail "$CUR_TEST" "mkhello failed"; return; }
	hs=$(size "$D/short.hello") hb=$(size "$D/bulk.hello") hn=$(size "$D/name.hello")
	printf '127.0.0.1 localhost\n127.0.0.1 %s\n' "$UPNAME" >"$D/hosts"
	# The servers follow what they read against the client's stream too.
	xfer_server short "127.0.0.1:$SHORT" --count 0 --send 4k --diag "1:$hs" &&
		xfer_server short2 "127.0.0.1:$SHORT2" --count 0 --send 4k --diag "1:$hs" &&
		xfer_server bulk "127.0.0.1:$BULK" --count 0 --send 4m --diag "1:$hb" --timeout-s 60 &&
		xfer_server named "0.0.0.0:$NAMED" --count 0 --send 4k --diag "1:$hn" ||
		{ fail "$CUR_TEST" "xfer server"; return; }
	# passthru reads /etc/hosts of its own mount namespace: $D/hosts.
	printf '#!/bin/sh\nmount --bind "%s" /etc/hosts && exec "$@"\n' "$D/hosts" >"$D/withhosts"
	chmod +x "$D/withhosts"

	# One process per mode; the last one started is $PT_PID (the
	# harness's), the others are stopped here.
	PT_WRAP="unshare -m --propagation private $D/withhosts"
	for mode in $MODES; do
		storm_cfg "$D/$mode.json" 0 "${port[$mode]}" "${alt[$mode]}"
		PT_LOG=$D/$mode.log
		if ! pt_start "$D/$mode.json" --mode "$mode"; then
			PT_WRAP=
			for pid in "${pid_of[@]}"; do kill "$pid"; done
			return
		fi
		pid_of[$mode]=$PT_PID log_of[$mode]=$PT_LOG
	done
	PT_WRAP=

	for mode in $MODES; do
		for l in 1 2 3; do
			storm_loop "$mode-short$l" "${port[$mode]}" "$D/short.hello" 4k
		done
		storm_loop "$mode-bulk" "${port[$mode]}" "$D/bulk.hello" 4m
		storm_loop "$mode-name" "${port[$mode]}" "$D/name.hello" 4k
		trickle_loop "$mode-sniff" "${port[$mode]}" "$D/short.hello"
	done
	hosts_flip
	local targets=()
	for mode in $MODES; do
		for v in 0 1 2; do
			storm_cfg "$D/$mode.json.v$v" "$v" "${port[$mode]}" "${alt[$mode]}"
		done
		targets+=(--target "${pid_of[$mode]}:$D/$mode.json")
	done
	"$OUTPUT/tests/hupstorm" --seconds "$STORM_S" --min-ms 20 --max-ms 50 --bad-every 10 \
		"${targets[@]}" >"$D/storm.out" 2>&1
	loops_stop

	# Every process alive, then a clean stop of those the harness does
	# not stop (exit 0: no sanitizer report, no leak).
	for mode in $MODES; do
		_alive "${pid_of[$mode]}" ||
			why="${why:+$why; }$mode: passthru pid ${pid_of[$mode]} died during the storm"
	done
	for mode in $MODES; do
		pid=${pid_of[$mode]}
		[ "$pid" = "$PT_PID" ] && continue
		kill -TERM "$pid" 2>/dev/null
		wait_pid "$pid" 30
		l=$?
		if [ "$l" != 0 ]; then
			why="${why:+$why; }the $mode instance exited with status $l: $(tail -n 3 "${log_of[$mode]}")"
			if [ "$l" -gt 128 ]; then
				local keep=$PT_LOG
				PT_LOG=${log_of[$mode]} crash_report "$pid"
				PT_LOG=$keep
			fi
		fi
	done
	[ -n "$why" ] && { fail "$CUR_TEST" "$why"; return; }

	# Every connection of every loop exact; each loop made progress.
	for mode in $MODES; do
		for name in short1 short2 short3 bulk name sniff; do
			min=10
			[ "$name" = bulk ] && min=3
			why=$(loop_check "$mode-$name" "$min") || { fail "$CUR_TEST" "$mode: $why"; return; }
		done
	done
	for name in short short2 bulk named; do
		n=$(grep -vc ' result=ok diag=none$' "$D/$name.rep")
		[ "$n" = 0 ] || { fail "$CUR_TEST" "upstream $name: $n connections not exact: $(grep -v ' result=ok diag=none$' "$D/$name.rep" | head -n 1)"; return; }
	done
	# Both addresses of the name were used (it was re-resolved).
	for n in 1 2; do
		grep -q "upstream=127.0.0.$n:$NAMED " "${log_of[@]}" ||
			{ fail "$CUR_TEST" "no connection went to 127.0.0.$n:$NAMED: the name was not re-resolved"; return; }
	done
	# The default mode: its short exchanges stayed in the relay, its bulk
	# transfers left it for the kernel mid-stream while reloads came.
	case " $MODES " in *" auto "*)
		grep -q 'rule="SNI short.example" .* path=relay ' "${log_of[auto]}" &&
			grep -q 'rule="SNI bulk.example" .* path=sockmap ' "${log_of[auto]}" ||
			{ fail "$CUR_TEST" "auto: want short exchanges path=relay and bulk ones promoted, path=sockmap: $(grep -c ' path=relay ' "${log_of[auto]}") relayed, $(grep -c ' path=sockmap ' "${log_of[auto]}") promoted"; return; }
	esac
	for mode in $MODES; do
		pid=${pid_of[$mode]}
		why=$(reload_check "${log_of[$mode]}" "$(sed -n "s/^$pid sent=\([0-9]*\).*/\1/p" "$D/storm.out")") ||
			{ fail "$CUR_TEST" "$mode: $why"; return; }
		report="$report; $mode: $why"
	done
	n=$(cat "$D"/*.loop | wc -l)
	pass "$CUR_TEST"
	echo "# storm ${STORM_S}s: $n connections exact$report"
}

# Live upgrades under churn, in the default mode: UPGRADES successive
# `--takeover`s (the last two into sockmap mode, then back) while short
# exchanges, 4 MiB transfers (promoted to the kernel mid-stream) and
# clients still being sniffed come and go.  Every connection of every
# loop exact, each predecessor exits 0 having handed its connections.
UPGRADES=${UPGRADES:-5}
t_upgrade_storm() {
	newdir
	local pt hs hb why n i mode log prev handed_all=0 m
	pt=$(free_port) SHORT=$(free_port) BULK=$(free_port)
	"$MKHELLO" --sni short.example >"$D/short.hello" &&
		"$MKHELLO" --sni bulk.example >"$D/bulk.hello" ||
		{ fail "$CUR_TEST" "mkhello failed"; return; }
	hs=$(size "$D/short.hello") hb=$(size "$D/bulk.hello")
	xfer_server short "127.0.0.1:$SHORT" --count 0 --send 4k --diag "1:$hs" &&
		xfer_server bulk "127.0.0.1:$BULK" --count 0 --send 4m --diag "1:$hb" --timeout-s 60 ||
		{ fail "$CUR_TEST" "xfer server"; return; }
	cat >"$D/c.json" <<-EOF
	{"version":"v0.2.0","control_socket":"$D/ctl.sock","sniff_timeout":"20s",
	 "servers":{"127.0.0.1:$pt":{"TLS":{"SNI short.example":$(fwd "127.0.0.1:$SHORT"),
	                                  "SNI bulk.example":$(fwd "127.0.0.1:$BULK")}}}}
	EOF
	PT_LOG=$D/gen0.log
	pt_start "$D/c.json" || return
	for i in 1 2 3; do
		storm_loop "short$i" "$pt" "$D/short.hello" 4k
	done
	storm_loop bulk "$pt" "$D/bulk.hello" 4m
	# Slow ones (1 s each): live, mid-stream, at every upgrade.
	storm_loop slow1 "$pt" "$D/bulk.hello" 4m --rate 4m
	storm_loop slow2 "$pt" "$D/bulk.hello" 4m --rate 4m
	trickle_loop sniff "$pt" "$D/short.hello"
	prev=$PT_LOG
	for i in $(seq 1 "$UPGRADES"); do
		sleep 2
		mode=auto
		[ "$i" = $((UPGRADES - 1)) ] && mode=sockmap
		log=$D/gen$i.log
		if ! pt_takeover "$D/c.json" "$log" --mode "$mode"; then
			loops_stop
			fail "$CUR_TEST" "upgrade $i (to --mode $mode): $TK_WHY"
			return
		fi
		PT_LOG=$log
		[ "$OLD_RC" = 0 ] || { loops_stop; fail "$CUR_TEST" "upgrade $i: the predecessor exited with status $OLD_RC: $(tail -n 2 "$prev")"; return; }
		n=$(sed -nE 's/.*takeover: handed ([0-9]+) connections? .*/\1/p' "$prev" | tail -n 1)
		[ -n "$n" ] || { loops_stop; fail "$CUR_TEST" "upgrade $i: no 'takeover: handed' line: $(tail -n 2 "$prev")"; return; }
		handed_all=$((handed_all + n))
		prev=$log
	done
	sleep 2
	loops_stop
	for m in short1 short2 short3 bulk slow1 slow2 sniff; do
		n=10
		case $m in bulk | slow*) n=3 ;; esac
		why=$(loop_check "$m" "$n") || { fail "$CUR_TEST" "$why"; return; }
	done
	for m in short bulk; do
		n=$(grep -vc ' result=ok diag=none$' "$D/$m.rep")
		[ "$n" = 0 ] || { fail "$CUR_TEST" "upstream $m: $n connections not exact: $(grep -v ' result=ok diag=none$' "$D/$m.rep" | head -n 1)"; return; }
	done
	[ "$handed_all" -gt 0 ] || { fail "$CUR_TEST" "no connection was live at any upgrade"; return; }
	# One log line for every connection an upstream saw, whichever
	# generation ended it: a predecessor's batched lines go out before
	# it exits (they were lost, ~7 per upgrade under this churn).
	sleep 0.1
	for m in short bulk; do
		local port=$SHORT seen logged
		[ $m = bulk ] && port=$BULK
		seen=$(wc -l <"$D/$m.rep")
		logged=$(cat "$D"/gen*.log | grep -c " upstream=127.0.0.1:$port ")
		[ "$logged" = "$seen" ] || { fail "$CUR_TEST" "upstream $m saw $seen connections, the logs have $logged lines for them"; return; }
	done
	n=$(cat "$D"/*.loop | wc -l)
	pass "$CUR_TEST"
	echo "# $UPGRADES upgrades: $n connections exact, $handed_all handed over live, each logged once"
}

run_test ops/reload-storm t_storm
run_test ops/upgrade-storm t_upgrade_storm
