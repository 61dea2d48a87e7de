#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# What a connection costs passthru: syscalls per short connection (connect,
# a ClientHello and a 64-byte request, a 64-byte reply, close), counted by
# strace -c on the running passthru while ptbench cps loops.  The default
# mode must stay at 20 or less (issue 10), so that the count cannot creep
# back; the kernel and splice paths are reported beside it.
. "$(dirname "$0")/../lib/common.sh"

require_root
require_cmd "$PASSTHRU" "$OUTPUT/tests/ptbench" "$MKHELLO" strace python3 bpftool jq

PTB=$OUTPUT/tests/ptbench
MAX_SYSCALLS=${MAX_SYSCALLS:-20}

# syscalls MODE: "CALLS CONNS" for about 1.5 s of short connections.
syscalls() {
	local mode=$1 pt up n0 n1 st srv
	pt=$(free_port) up=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"servers":{"127.0.0.1:$pt":{"TLS":{"SNI bench.example":{"action":"FORWARD","to_addr":"127.0.0.1:$up"}}}}}
	EOF
	# Called in $(...): the subshell's children outlive it unless killed
	# here (the harness only reaps its own descendants).
	"$PTB" server --listen "127.0.0.1:$up" --threads 2 >"$D/srv.$mode" 2>&1 &
	srv=$!
	wait_port 127.0.0.1 "$up" 5 || { kill "$srv"; echo "ptbench server did not start"; return 1; }
	pt_start "$D/c.json" --mode "$mode" || { kill "$srv"; return 1; }
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
	kill "$srv"
	wait "$srv" 2>/dev/null
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

# pt_sock_ops runs per short connection in the default mode.  Its socket
# callbacks at connect are few (4.5 runs per connection here); armed for
# its per-packet callback at connect, every packet of every connection
# would run it too (10.5), though a relayed connection has nothing in the
# maps to freeze.  Sockets are armed only as they enter the maps (pt_arm):
# at most MAX_SOCKOPS_RUNS.  Counted by the kernel (kernel.bpf_stats_enabled)
# on passthru's own program, found by its fds.
MAX_SOCKOPS_RUNS=${MAX_SOCKOPS_RUNS:-7}
sockops_runs() { # PID: run_cnt of that process's pt_sock_ops
	local id
	for id in $(sed -n 's/^prog_id:[[:space:]]*//p' /proc/"$1"/fdinfo/* 2>/dev/null | sort -u); do
		bpftool prog show id "$id" -j 2>/dev/null |
			jq -r 'select(.name == "pt_sock_ops") | .run_cnt // 0'
	done | awk '{ s += $1 } END { print s + 0 }'
}
t_sockops_runs() {
	newdir
	local pt up srv old r0 r1 n0 n1 per
	pt=$(free_port) up=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"servers":{"127.0.0.1:$pt":{"TLS":{"SNI bench.example":{"action":"FORWARD","to_addr":"127.0.0.1:$up"}}}}}
	EOF
	"$PTB" server --listen "127.0.0.1:$up" --threads 2 >"$D/srv" 2>&1 &
	srv=$!
	wait_port 127.0.0.1 "$up" 5 || { fail "$CUR_TEST" "ptbench server did not start"; return; }
	pt_start "$D/c.json" -v || return
	if grep -q 'armed for back-pressure at connect' "$PT_LOG"; then
		skip "$CUR_TEST" "this kernel arms sockets at connect: $(grep -o 'at connect (.*)' "$PT_LOG" | head -n 1)"
		return
	fi
	grep -q 'armed for back-pressure as they enter the maps' "$PT_LOG" ||
		{ fail "$CUR_TEST" "no line says how sockets are armed: $(grep -m1 'data path' "$PT_LOG")"; return; }
	old=$(sysctl -n kernel.bpf_stats_enabled)
	sysctl -qw kernel.bpf_stats_enabled=1
	r0=$(sockops_runs "$PT_PID")
	n0=$(grep -c ' conn client=' "$PT_LOG")
	"$PTB" cps --connect "127.0.0.1:$pt" --conc 2 --size 64 --time 0.5 --warmup 0 >"$D/cps" 2>&1
	sleep 0.3
	n1=$(grep -c ' conn client=' "$PT_LOG")
	r1=$(sockops_runs "$PT_PID")
	sysctl -qw kernel.bpf_stats_enabled="$old"
	kill "$srv"
	wait "$srv" 2>/dev/null
	[ $((n1 - n0)) -gt 100 ] || { fail "$CUR_TEST" "only $((n1 - n0)) connections: $(cat "$D/cps")"; return; }
	per=$(awk -v r=$((r1 - r0)) -v n=$((n1 - n0)) 'BEGIN { printf "%.1f", r / n }')
	echo "# pt_sock_ops runs per short connection: $per ($((r1 - r0)) runs, $((n1 - n0)) connections)"
	if awk -v p="$per" -v m="$MAX_SOCKOPS_RUNS" 'BEGIN { exit !(p > 0 && p <= m) }'; then
		pass "$CUR_TEST"
	else
		fail "$CUR_TEST" "pt_sock_ops ran $per times per short connection, want 0 < runs <= $MAX_SOCKOPS_RUNS"
	fi
}

run_test cost/sock-ops-runs-per-short-connection t_sockops_runs

# Passthru's upstream sockets have TCP_NODELAY in every mode: set by
# pt_sock_ops at connect when the kernel path is loaded (no syscall), by
# setsockopt otherwise.  Read from the socket itself (pidfd_getfd).
t_nodelay() {
	newdir
	local m pt up v why=
	"$MKHELLO" --sni a.example >"$D/hello" || { fail "$CUR_TEST" "mkhello failed"; return; }
	for m in auto sockmap splice; do
		pt=$(free_port) up=$(free_port)
		cat >"$D/c.json" <<-EOF
		{"servers":{"127.0.0.1:$pt":{"TLS":{"SNI a.example":{"action":"FORWARD","to_addr":"127.0.0.1:$up"}}}}}
		EOF
		pt_start "$D/c.json" --mode "$m" || return
		v=$(python3 "$(dirname "$0")/../tools/nodelay_check.py" "$PT_PID" "$pt" "$up" "$D/hello" 2>&1)
		pt_stop >/dev/null 2>&1
		[ "$v" = 1 ] || { why="$why $m: TCP_NODELAY=$v"; continue; }
	done
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "upstream sockets without TCP_NODELAY:$why"
}

run_test cost/upstream-sockets-nodelay t_nodelay

# ---- memory -------------------------------------------------------------------
#
# A memory cgroup of its own for passthru, so that what the kernel charges
# there is passthru's: a child of ours on cgroup v2 with the memory
# controller, else on the v1 memory hierarchy.  Sets MEMCG, or returns 1.
MEMCG=
memcg_make() {
	local v2 rel mnt
	v2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
	rel=$(sed -n 's/^0::\(.*\)$/\1/p' /proc/self/cgroup)
	if [ -n "$v2" ] && grep -qw memory "$v2$rel/cgroup.subtree_control" 2>/dev/null; then
		MEMCG=$v2$rel/ptcost.$$
	else
		mnt=$(awk '$3 == "cgroup" && $4 ~ /(^|,)memory(,|$)/ { print $2; exit }' /proc/mounts)
		rel=$(sed -n 's/^[0-9]*:\([^:]*,\)\{0,1\}memory\(,[^:]*\)\{0,1\}:\(.*\)$/\3/p' /proc/self/cgroup)
		[ -n "$mnt" ] && [ -e "$mnt${rel%/}/memory.kmem.usage_in_bytes" ] || return 1
		MEMCG=$mnt${rel%/}/ptcost.$$
	fi
	mkdir "$MEMCG" 2>/dev/null || { MEMCG=; return 1; }
	printf '#!/bin/sh\necho $$ >"%s/cgroup.procs" || exit 126\nexec "$@"\n' "$MEMCG" >"$D/cgexec"
	chmod +x "$D/cgexec"
}
memcg_remove() {
	[ -n "$MEMCG" ] || return 0
	for _ in 1 2 3 4 5 6 7 8 9 10; do rmdir "$MEMCG" 2>/dev/null && break; sleep 0.2; done
	MEMCG=
}

# json_num FILE KEY: a number from `passthru stats --json`'s memory object.
json_num() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["memory"].get(sys.argv[2], ""))' "$1" "$2"
}

MAX_RSS_PER_CONN=${MAX_RSS_PER_CONN:-512}		# bytes, issue 12
MAX_KERNEL_PER_CONN=${MAX_KERNEL_PER_CONN:-12288}	# bytes, measured ~8 KiB
IDLE_N=${IDLE_N:-4000}

# idle_cost MODE: passthru (in its cgroup) holding IDLE_N idle connections,
# routed and forwarded; "RSS_PER_CONN KERNEL_PER_CONN OPEN".
idle_cost() {
	local mode=$1 pt up mp ip k srv
	pt=$(free_port) up=$(free_port) mp=$(free_port)
	cat >"$D/m.json" <<-EOF
	{"metrics":"127.0.0.1:$mp","servers":{"127.0.0.1:$pt":{"TLS":{"SNI bench.example":{"action":"FORWARD","to_addr":"127.0.0.1:$up"}}}}}
	EOF
	"$PTB" server --listen "127.0.0.1:$up" --threads 2 >"$D/srv.m.$mode" 2>&1 &
	srv=$!
	wait_port 127.0.0.1 "$up" 5 || { kill "$srv"; echo "ptbench server did not start"; return 1; }
	PT_WRAP=${MEMCG:+$D/cgexec} pt_start "$D/m.json" --mode "$mode" -w 2 --log-level warn ||
		{ kill "$srv"; return 1; }
	"$PTB" idle --connect "127.0.0.1:$pt" --count "$IDLE_N" --settle 1 --hold 4 \
		--timeout-s 20 --pid "$PT_PID" >"$D/idle.$mode" 2>&1 &
	ip=$!
	# Once every connection is open and settled (ptbench prints its
	# figures then), the kernel's share, before they close.  -s: the job
	# opens its output after fork, maybe after our first look.
	wait_for 25 grep -qs '^rss_per_conn_b=' "$D/idle.$mode"
	"$PASSTHRU" stats --metrics "127.0.0.1:$mp" --json >"$D/stats.$mode" 2>&1
	wait "$ip" 2>/dev/null
	pt_stop >/dev/null 2>&1
	kill "$srv"
	wait "$srv" 2>/dev/null
	k=$(json_num "$D/stats.$mode" kernel_per_connection_bytes 2>/dev/null)
	echo "$(sed -n 's/^rss_per_conn_b=//p' "$D/idle.$mode") ${k:--} $(sed -n 's/^open=//p' "$D/idle.$mode")"
}

t_idle_memory() {
	newdir
	local m out rss k open line= bad=
	memcg_make || echo "# no memory cgroup to run passthru in: the kernel's share is not checked"
	for m in auto sockmap splice; do
		out=$(idle_cost "$m") || { memcg_remove; fail "$CUR_TEST" "$m: $out"; return; }
		read -r rss k open <<<"$out"
		line="$line $m: RSS $rss B, kernel ${k} B per connection ($open open);"
		[ "${open:-0}" -ge $((IDLE_N * 9 / 10)) ] || bad="$bad $m held only ${open:-0} of $IDLE_N;"
		[ -n "$rss" ] && [ "$rss" -le "$MAX_RSS_PER_CONN" ] ||
			bad="$bad $m: RSS ${rss:-?} B per connection > $MAX_RSS_PER_CONN;"
		if [ -n "$MEMCG" ]; then
			[ "$k" != - ] && [ "$k" -gt 0 ] && [ "$k" -le "$MAX_KERNEL_PER_CONN" ] ||
				bad="$bad $m: kernel ${k} B per connection, want 1..$MAX_KERNEL_PER_CONN;"
		fi
	done
	memcg_remove
	echo "# idle connections:$line"
	if [ -z "$bad" ]; then pass "$CUR_TEST"; else fail "$CUR_TEST" "$bad"; fi
}

# start_cost MAX [KERNEL]: "RSS_KB MAPS_BYTES KSLOTS" of a passthru that
# has just started with max_connections MAX (and kernel_connections).
start_cost() {
	local pt mp rss maps k=
	pt=$(free_port) mp=$(free_port)
	[ -n "${2:-}" ] && k="\"kernel_connections\":$2,"
	cat >"$D/s.json" <<-EOF
	{"max_connections":$1,$k"metrics":"127.0.0.1:$mp","servers":{"127.0.0.1:$pt":{"TLS":{"CATCHALL":{"action":"FORWARD","to_addr":"127.0.0.1:9"}}}}}
	EOF
	pt_start "$D/s.json" -w 2 || return 1
	sleep 0.3
	rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$PT_PID/status")
	"$PASSTHRU" stats --metrics "127.0.0.1:$mp" --json >"$D/s.stats" 2>&1
	maps=$(json_num "$D/s.stats" bpf_maps_bytes)
	pt_stop >/dev/null 2>&1
	echo "$rss $maps $(grep -o '[0-9]* connections there at once' "$PT_LOG" | cut -d' ' -f1)"
}

t_start_memory() {
	newdir
	local r64 m64 k64 r1m m1m k1m rk mk kk
	read -r r64 m64 k64 <<<"$(start_cost 65536)"
	read -r r1m m1m k1m <<<"$(start_cost 1000000)"
	read -r rk mk kk <<<"$(start_cost 1000000 262144)"
	echo "# at start: max_connections 65536: RSS $r64 KiB, BPF maps $m64 B ($k64 kernel slots);" \
		"1000000: RSS $r1m KiB, maps $m1m B ($k1m slots); 1000000 with kernel_connections 262144:" \
		"RSS $rk KiB, maps $mk B ($kk slots)"
	if [ -z "$r64" ] || [ -z "$r1m" ] || [ -z "$m64" ]; then
		fail "$CUR_TEST" "no figures: $(tail -n 3 "$PT_LOG")"
	elif [ "$m64" -gt 0 ] && [ "$m1m" != "$m64" ]; then
		fail "$CUR_TEST" "1M connections cost $m1m B of maps at start, 64k $m64 B"
	elif [ "$r1m" -gt $((r64 + 2048)) ]; then
		fail "$CUR_TEST" "1M connections cost $r1m KiB RSS at start, 64k $r64 KiB"
	elif [ "$m64" -gt 0 ] && { [ "$kk" != 262144 ] || [ "$mk" -le "$m64" ]; }; then
		fail "$CUR_TEST" "kernel_connections 262144 not applied: $kk slots, maps $mk B"
	else
		pass "$CUR_TEST"
	fi
}

run_test cost/memory-per-idle-connection t_idle_memory
run_test cost/memory-at-start-1m-like-64k t_start_memory
