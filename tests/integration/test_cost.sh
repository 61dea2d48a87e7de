#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# What a connection costs passthru: syscalls per short connection (connect,
# a ClientHello and a 64-byte request, a 64-byte reply, close), counted by
# strace -c on the running passthru while ptbench cps loops.  The default
# mode must stay at 20 or less (issue 10), so that the count cannot creep
# back; the kernel and splice paths are reported beside it.
. "$(dirname "$0")/../lib/common.sh"

require_root
require_cmd "$PASSTHRU" "$OUTPUT/tests/ptbench" strace

PTB=$OUTPUT/tests/ptbench
MAX_SYSCALLS=${MAX_SYSCALLS:-20}

# syscalls MODE: "CALLS CONNS" for about 1.5 s of short connections.
syscalls() {
	local mode=$1 pt up n0 n1 st
	pt=$(free_port) up=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"servers":{"127.0.0.1:$pt":{"TLS":{"SNI bench.example":{"action":"FORWARD","to_addr":"127.0.0.1:$up"}}}}}
	EOF
	"$PTB" server --listen "127.0.0.1:$up" --threads 2 >"$D/srv.$mode" 2>&1 &
	wait_port 127.0.0.1 "$up" 5 || { echo "ptbench server did not start"; return 1; }
	pt_start "$D/c.json" --mode "$mode" || return 1
	# Warm: the workers' first connections pay for their pools.
	"$PTB" cps --connect "127.0.0.1:$pt" --conc 2 --size 64 --time 0.3 --warmup 0 >/dev/null 2>&1
	strace -f -c -o "$D/strace.$mode" -p "$PT_PID" 2>/dev/null &
	st=$!
	sleep 0.5
	n0=$(grep -c ' conn client=' "$PT_LOG")
	"$PTB" cps --connect "127.0.0.1:$pt" --conc 4 --size 64 --time 1.5 --warmup 0 \
		>"$D/cps.$mode" 2>&1
	sleep 0.3
	n1=$(grep -c ' conn client=' "$PT_LOG")
	kill -INT "$st"
	wait "$st" 2>/dev/null
	pt_stop >/dev/null 2>&1
	# strace -c: % time, seconds, usecs/call, calls, [errors,] syscall.
	echo "$(awk '$NF == "total" { print $4 }' "$D/strace.$mode") $((n1 - n0))"
}

t_syscalls() {
	newdir
	local out calls conns per m line= auto_per conns_auto
	for m in auto sockmap splice; do
		out=$(syscalls "$m") || { fail "$CUR_TEST" "$m: $out"; return; }
		read -r calls conns <<<"$out"
		[ "${conns:-0}" -gt 100 ] || { fail "$CUR_TEST" "$m: only ${conns:-0} connections under strace"; return; }
		per=$(awk -v c="$calls" -v n="$conns" 'BEGIN { printf "%.1f", c / n }')
		line="$line $m=$per"
		[ "$m" = auto ] && auto_per=$per conns_auto=$conns
	done
	echo "# syscalls per short connection:$line; the default mode's per connection:" \
		"$(awk -v n="$conns_auto" '$4 ~ /^[0-9]+$/ && $NF != "total" && $NF != "rt_sigtimedwait" { printf "%s %.1f, ", $NF, $4 / n }' "$D/strace.auto")"
	if awk -v p="$auto_per" -v m="$MAX_SYSCALLS" 'BEGIN { exit !(p <= m) }'; then
		pass "$CUR_TEST"
	else
		fail "$CUR_TEST" "the default mode makes $auto_per syscalls per short connection, want <= $MAX_SYSCALLS:$line"
	fi
}

run_test cost/syscalls-per-short-connection t_syscalls
