# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Helpers for tests/bench/run.sh: free ports, config templates, starting
# and stopping the proxies, and the statistics (median/min/max in awk, so
# mawk is enough).

# Every process group started here; killed by svc_stop_all.
SVC_PGIDS=()

log() { printf '[%6.1fs] %s\n' "$(elapsed)" "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

T_START=$(date +%s.%N)
elapsed() { awk -v a="$T_START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

port_busy() { [ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ]; }

# free_port VAR: a port nobody uses on TCP or UDP (the quic test's
# listeners and echo are UDP), below the ephemeral range (the cps test
# churns through that), not handed out before.  Sets VAR rather
# than printing, so the list of given ports survives (no subshell).
USED_PORTS=" "
free_port() {
	local _p _i _lo=32768
	read -r _lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
	[ "$_lo" -gt 12000 ] || _lo=60000
	for ((_i = 0; _i < 200; _i++)); do
		_p=$((10000 + (RANDOM * 32768 + RANDOM) % (_lo - 10000)))
		case $USED_PORTS in *" $_p "*) continue ;; esac
		[ -n "$(ss -Htuan "( sport = :$_p or dport = :$_p )" 2>/dev/null)" ] && continue
		USED_PORTS="$USED_PORTS$_p "
		printf -v "$1" '%s' "$_p"
		return 0
	done
	die "no free port found"
}

udp_bound() { [ -n "$(ss -Huan "sport = :$1" 2>/dev/null)" ]; }

wait_port() { # PORT SECONDS
	local i n=$(($2 * 20))
	for ((i = 0; i < n; i++)); do
		port_busy "$1" && return 0
		sleep 0.05
	done
	return 1
}

# render TEMPLATE OUT VAR=VALUE...: replace each @VAR@.
render() {
	local in=$1 out=$2 kv args=()
	shift 2
	for kv in "$@"; do
		# Values are paths, ports and names: escape sed's specials.
		local v=${kv#*=}
		v=$(printf '%s' "$v" | sed 's/[\/&|]/\\&/g')
		args+=(-e "s|@${kv%%=*}@|$v|g")
	done
	sed "${args[@]}" "$in" >"$out"
}

# svc_start VAR LOGFILE CMD...: run CMD in its own process group (so its
# workers and forked children go with it) and set VAR to its pid, which is
# also the group id.  (Not $(...): the list of groups must survive.)
svc_start() {
	local var=$1 logf=$2
	shift 2
	setsid "$@" >"$logf" 2>&1 </dev/null &
	SVC_PGIDS+=("$!")
	printf -v "$var" '%s' "$!"
}

# svc_start_in "DIR..." VAR LOGFILE CMD...: svc_start, CMD joining the
# cgroups DIR... (space-separated; none: plain svc_start) before it execs,
# so every socket it creates or accepts and every child it forks is
# charged there from the start.
svc_start_in() {
	local dirs=$1
	shift
	if [ -z "$dirs" ]; then
		svc_start "$@"
		return
	fi
	local var=$1 logf=$2
	shift 2
	# shellcheck disable=SC2016	# expanded by the inner sh
	svc_start "$var" "$logf" sh -c \
		'for d in $1; do echo $$ >"$d/cgroup.procs" || exit 126; done; shift; exec "$@"' \
		sh "$dirs" "$@"
}

# A group is alive while a member is not a zombie: the leader stays a
# zombie until reaped, and kill -0 succeeds on zombies.
# shellcheck disable=SC2009	# pgrep cannot tell zombies apart
group_alive() { ps -o stat= -g "$1" 2>/dev/null | grep -qv '^Z'; }

# svc_stop PID: TERM the group, KILL after 3 s, reap the leader.
svc_stop() {
	local pg=$1 i
	kill -TERM -- "-$pg" 2>/dev/null || { wait "$pg" 2>/dev/null || true; return 0; }
	for ((i = 0; i < 60; i++)); do
		group_alive "$pg" || break
		sleep 0.05
	done
	kill -KILL -- "-$pg" 2>/dev/null || true
	wait "$pg" 2>/dev/null || true
}

# svc_stop_one PID: svc_stop, and forget the group: once it is gone its id
# may be handed to someone else's process, which svc_stop_all must not hit.
svc_stop_one() {
	local pg kept=()
	svc_stop "$1"
	for pg in "${SVC_PGIDS[@]}"; do
		[ "$pg" = "$1" ] || kept+=("$pg")
	done
	SVC_PGIDS=("${kept[@]}")
}

# All at once: TERM every group, then wait for them together.
svc_stop_all() {
	local pg i alive
	for pg in "${SVC_PGIDS[@]}"; do
		kill -TERM -- "-$pg" 2>/dev/null || true
	done
	for ((i = 0; i < 60; i++)); do
		alive=0
		for pg in "${SVC_PGIDS[@]}"; do
			group_alive "$pg" && alive=1 && break
		done
		[ "$alive" = 0 ] && break
		sleep 0.05
	done
	for pg in "${SVC_PGIDS[@]}"; do
		kill -KILL -- "-$pg" 2>/dev/null || true
		wait "$pg" 2>/dev/null || true
	done
	SVC_PGIDS=()
}

# kv FILE KEY: the value of KEY= in a ptbench report (empty if absent).
kv() { sed -n "s/^$2=//p" "$1" 2>/dev/null | head -n 1; }

# Established connections on a local port (the proxy's listener).
estab() { ss -Htn state established "( sport = :$1 )" 2>/dev/null | wc -l; }

# wait_quiet PORT SECONDS: until nothing is connected to PORT any more, so
# one measurement's teardown does not run into the next one.
wait_quiet() {
	local i n=$(($2 * 10))
	for ((i = 0; i < n; i++)); do
		[ "$(estab "$1")" -eq 0 ] && return 0
		sleep 0.1
	done
	return 1
}

# summarize METRICS_CSV > SUMMARY_CSV
# in:  run,target,metric,value
# out: target,metric,n,median,min,max
summarize() {
	awk -F, '
	function isort(a, n,   i, j, t) {
		for (i = 2; i <= n; i++) {
			t = a[i]
			for (j = i - 1; j >= 1 && a[j] > t; j--)
				a[j + 1] = a[j]
			a[j + 1] = t
		}
	}
	NR > 1 && $4 != "" {
		k = $2 "," $3
		if (!(k in n)) order[++nk] = k
		v[k, ++n[k]] = $4 + 0
	}
	END {
		print "target,metric,n,median,min,max"
		for (i = 1; i <= nk; i++) {
			k = order[i]
			m = n[k]
			delete s
			for (j = 1; j <= m; j++) s[j] = v[k, j]
			isort(s, m)
			med = m % 2 ? s[(m + 1) / 2] : (s[m / 2] + s[m / 2 + 1]) / 2
			printf "%s,%d,%.6g,%.6g,%.6g\n", k, m, med, s[1], s[m]
		}
	}' "$1"
}

# fmt NUMBER DIGITS: printf with a dash for empty.
fmt() { [ -n "$1" ] && printf "%.${2}f" "$1" || printf -- '-'; }

# ratio A B: A/B, or empty.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "" && b + 0 != 0) printf "%.3f", a / b }'; }

# cmp A OP B: awk comparison of two numbers, for the target checks.
cmp() { awk -v a="$1" -v b="$3" "BEGIN { exit !(a != \"\" && b != \"\" && a $2 b) }"; }
