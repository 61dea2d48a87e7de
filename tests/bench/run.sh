#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# passthru against the direct connection and the other SNI multiplexers.
#
#   OUTPUT=build tests/bench/run.sh [--quick] [--runs N] [--only NAME,...]
#                                   [--tests LIST] [--idle-conns N] [--keep]
#   (ALT_PASSTHRU=PATH adds targets alt-auto, alt-sockmap, alt-splice:
#    another build; PT_CONN_BUFFER=SIZE sets passthru's conn_buffer,
#    default 4MiB; PT_KERNEL_AFTER=SIZE its kernel_after, default 64KiB)
#
# Every target sits in front of the same upstream, one `ptbench server` on
# loopback, and every measurement is the same `ptbench` client, whose first
# bytes are a real ClientHello.  Targets: direct (no proxy: the floor),
# pt-auto (passthru's default mode), pt-sockmap, pt-splice, haproxy,
# nginx, sslh-select, sniproxy, each proxy in its own cgroup.  Tests: bulk
# (1 and 4 streams, up and down; whole-system and proxy CPU per GB), rr
# (64-byte request/response latency), cps (connections per second and CPU
# per connection), mixed (95 % of the connections 4 KB each way, 5 %
# 16 MiB; CPU per connection and per GB), idle (the proxy's RSS and the
# kernel memory charged to its cgroup, with N open connections), quic
# (QUIC-shaped datagrams on UDP, `quicsend flood` against a `quicsend
# echo` upstream: datagrams/s, MB/s, whole-system and proxy CPU per GB;
# direct, pt-auto on the UDP kernel path, pt-splice on the userspace UDP
# path; the peers do not pass QUIC through by SNI).  Runs are interleaved:
#   for run in 1..N: for target (starting one further each run): for test: measure
# and reported as medians (CSV: also min and max).
#
# Writes $OUTPUT/bench/{raw.csv,metrics.csv,results.csv,table.md,
# targets.txt,bench.png}.  Default ≤ 10 min, --quick ≤ 2 min; a run that
# would overshoot the time budget is skipped with a warning.  Everything
# started is stopped on exit, every cgroup made removed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

OUTPUT=${OUTPUT:-build}
case $OUTPUT in /*) ;; *) OUTPUT=$ROOT/$OUTPUT ;; esac
PASSTHRU=$OUTPUT/passthru
PTB=$OUTPUT/tests/ptbench
OUT=$OUTPUT/bench
SNI=bench.example

ALL_TARGETS="direct pt-auto pt-sockmap pt-splice haproxy nginx sslh-select sniproxy"
# ALT_PASSTHRU=/path/to/other/passthru adds alt-auto, alt-sockmap and
# alt-splice: a patched build measured interleaved with the current one.
[ -n "${ALT_PASSTHRU:-}" ] && ALL_TARGETS="$ALL_TARGETS alt-auto alt-sockmap alt-splice"
ALL_TESTS="bulk rr cps mixed idle quic"
PEERS="haproxy nginx sslh-select sniproxy"
# The quic test's targets.  pt-sockmap is left out: --mode picks the TCP
# data path only, its UDP path is pt-auto's (the same tc program).
QUIC_TARGETS="direct pt-auto pt-splice alt-auto alt-splice"

usage() {
	sed -n '3,/^set /{/^#/p}' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-2}"
}

QUICK=0 RUNS='' ONLY='' TESTS=$ALL_TESTS IDLE_N='' KEEP=${KEEP:-0}
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--runs) RUNS=${2:?}; shift ;;
	--runs=*) RUNS=${1#*=} ;;
	--only) ONLY=${2:?}; shift ;;
	--only=*) ONLY=${1#*=} ;;
	--tests) TESTS=${2:?}; shift ;;
	--tests=*) TESTS=${1#*=} ;;
	--idle-conns) IDLE_N=${2:?}; shift ;;
	--idle-conns=*) IDLE_N=${1#*=} ;;
	--keep) KEEP=1 ;;
	-h | --help) usage 0 ;;
	*) usage ;;
	esac
	shift
done
TESTS=${TESTS//,/ }
# Everything but quic runs through one TCP instance of each target.
TCP_TESTS=
for t in $TESTS; do
	[ "$t" = quic ] || TCP_TESTS="$TCP_TESTS $t"
done
TCP_TESTS=${TCP_TESTS# }
has_test() { case " $TESTS " in *" $1 "*) return 0 ;; esac; return 1; }

# Durations (seconds).  Measured windows are short, runs many: the spread
# between runs tells more than one long run.
# sslh-select watches its fds with select(2): past fd 1023 (FD_SETSIZE) it
# drops connections ("too many open file descriptor"), then aborts
# (glibc's fd_set check; measured: 508 open of 600).  Two fds per
# connection: its idle test opens SSLH_IDLE, which it can hold.
if [ "$QUICK" = 1 ]; then
	: "${RUNS:=2}" "${IDLE_N:=1000}"
	BULK_T=0.4 BULK_W=0.2 RR_T=0.4 CPS_T=0.4 MIX_T=0.6 SETTLE=0.2 BUDGET=100 SSLH_IDLE=300
	QUIC_T=1 QUIC_W=0.3 QUIC_BUDGET=15
else
	: "${RUNS:=5}" "${IDLE_N:=10000}"
	BULK_T=1.2 BULK_W=0.4 RR_T=1.2 CPS_T=1.2 MIX_T=1.5 SETTLE=0.5 BUDGET=570 SSLH_IDLE=450
	QUIC_T=2 QUIC_W=0.5 QUIC_BUDGET=45
fi
# quic: per measurement ~QUIC_W + QUIC_T, plus ~0.5 s to start and stop
# passthru; 3 targets a run.  Its own share of the budget, so adding it
# does not cost the other tests a run (4 fit in 570 s on the dev VM).
has_test quic && BUDGET=$((BUDGET + QUIC_BUDGET))
# quic flood: 8 flows (8 client sockets, spread over passthru's workers
# by SO_REUSEPORT), 16 datagrams of 1200 bytes (QUIC's usual size) in
# flight on each.
QUIC_FLOWS=8 QUIC_WINDOW=16 QUIC_SIZE=1200
# mixed: MIX_CONC loops; connection i carries MIX_BIG bytes each way if
# i % MIX_EVERY = MIX_EVERY - 1 (5 %), else MIX_SMALL.
MIX_CONC=8 MIX_SMALL=4096 MIX_BIG=$((16 << 20)) MIX_EVERY=20
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs: expected a positive number"
[[ $IDLE_N =~ ^[1-9][0-9]*$ ]] || die "--idle-conns: expected a positive number"
for t in $TESTS; do
	case " $ALL_TESTS " in *" $t "*) ;; *) die "--tests: unknown test '$t' ($ALL_TESTS)" ;; esac
done

TARGETS=direct		# always: every ratio is to it
LIST=$ALL_TARGETS
[ -n "$ONLY" ] && LIST=${ONLY//,/ }
for t in $LIST; do
	case " $ALL_TARGETS " in *" $t "*) ;; *) die "--only: unknown target '$t' ($ALL_TARGETS)" ;; esac
	case " $TARGETS " in *" $t "*) ;; *) TARGETS="$TARGETS $t" ;; esac
done

[ "$(id -u)" = 0 ] || die "needs root (BPF sockmap, apt-get, fd limits)"
if [ ! -x "$PASSTHRU" ] || [ ! -x "$PTB" ]; then
	die "build first: make $OUTPUT/passthru $OUTPUT/tests/ptbench"
fi
QS=$OUTPUT/tests/quicsend
if has_test quic && [ ! -x "$QS" ]; then
	die "build first: make $OUTPUT/tests/quicsend"
fi

# ---- dependencies, from Debian, only what is missing ----------------------

need_pkgs() {
	local pkgs=()
	command -v gnuplot >/dev/null || pkgs+=(gnuplot-nox)
	command -v ss >/dev/null || pkgs+=(iproute2)
	[ -n "$TCP_TESTS" ] || { [ ${#pkgs[@]} -eq 0 ] || apt_install "${pkgs[@]}"; return 0; }
	case " $TARGETS " in *" haproxy "*) command -v haproxy >/dev/null || pkgs+=(haproxy) ;; esac
	case " $TARGETS " in *" nginx "*)
		command -v nginx >/dev/null || pkgs+=(nginx)
		[ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || pkgs+=(libnginx-mod-stream) ;;
	esac
	case " $TARGETS " in *" sslh-select "*) command -v sslh-select >/dev/null || pkgs+=(sslh) ;; esac
	case " $TARGETS " in *" sniproxy "*) command -v sniproxy >/dev/null || pkgs+=(sniproxy) ;; esac
	[ ${#pkgs[@]} -eq 0 ] && return 0
	apt_install "${pkgs[@]}"
}

apt_install() {
	local pkgs=("$@")
	log "installing ${pkgs[*]}"
	# No services are started here (no init system); policy-rc.d or not,
	# the packages' own daemons are never used by the bench.
	export DEBIAN_FRONTEND=noninteractive
	timeout 300 apt-get install -y -q "${pkgs[@]}" >"$W/apt.log" 2>&1 ||
		{ timeout 300 apt-get update -q >>"$W/apt.log" 2>&1 &&
			timeout 300 apt-get install -y -q "${pkgs[@]}" >>"$W/apt.log" 2>&1; } ||
		log "apt-get install ${pkgs[*]} failed (see $W/apt.log): those targets are skipped"
}

# ---- targets ----------------------------------------------------------------

declare -A ADDR PID PORT CGDIRS CGMEMDIR QPORT QMISSING
CG_MADE=()
W=$(mktemp -d /tmp/ptbench.XXXXXX)
chmod 755 "$W"		# sniproxy and sslh may drop privileges

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	svc_stop_all
	cg_remove_all
	if [ "$KEEP" = 1 ]; then
		log "kept $W"
	else
		rm -rf "$W"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A proxy holds two fds per connection; children inherit the limit.  Where
# the hard limit cannot be raised (no CAP_SYS_RESOURCE, as in some
# containers), the idle test opens as many as one process can hold and
# the report extrapolates to 10k from the per-connection slope.
ulimit -Hn 1048576 2>/dev/null || true
ulimit -n "$(ulimit -Hn)"
FD_MAX=$(ulimit -Hn)
[ "$FD_MAX" = unlimited ] && FD_MAX=1048576
if [ "$IDLE_N" -gt $(((FD_MAX - 100) / 2)) ]; then
	log "fd hard limit $FD_MAX (cannot raise it here): idle test with $(((FD_MAX - 100) / 2)) connections instead of $IDLE_N"
	IDLE_N=$(((FD_MAX - 100) / 2))
fi

# ---- cgroups: each proxy in its own -----------------------------------------
#
# A socket is charged to the memory cgroup of the process that creates or
# accepts it, when it does so; so every proxy joins its own cgroup before
# it execs (svc_start_in), and the idle test reads what the kernel charged
# there before and after opening its connections (ptbench idle --cgroup).
# The client's and the upstream server's sockets stay in the bench's
# cgroup: not counted.
#   cgroup v2: $CG_V2/ptbench-TARGET; memory.stat kernel + sock.  Made for
#     every proxy even without the memory controller: passthru attaches
#     its sock_ops program to its own cgroup v2 (it moves itself into a
#     child only when it finds itself in the root cgroup).
#   cgroup v1, where the memory controller is bound to a v1 hierarchy
#     (hybrid systems, some containers): a child ptbench-TARGET of the
#     bench's own memory cgroup; kmem.usage + kmem.tcp.usage (v1 counts
#     socket buffers only under a tcp limit: an unlimited one is set).
CG_V2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
CG_V1='' CG_MEM='' CG_MEM_WHY=''
if [ -n "$CG_V2" ] && [ -w "$CG_V2/cgroup.procs" ]; then
	if grep -qw memory "$CG_V2/cgroup.controllers" 2>/dev/null; then
		grep -qw memory "$CG_V2/cgroup.subtree_control" ||
			echo +memory >"$CG_V2/cgroup.subtree_control" 2>/dev/null || true
		if grep -qw memory "$CG_V2/cgroup.subtree_control"; then
			CG_MEM=v2
		else
			CG_MEM_WHY="cannot enable the memory controller in $CG_V2"
		fi
	fi
else
	CG_V2=
fi
if [ -z "$CG_MEM" ]; then
	cg_mnt=$(awk '$3 == "cgroup" && $4 ~ /(^|,)memory(,|$)/ { print $2; exit }' /proc/mounts)
	cg_rel=$(sed -n 's/^[0-9]*:\([^:]*,\)\{0,1\}memory\(,[^:]*\)\{0,1\}:\(.*\)$/\3/p' /proc/self/cgroup)
	if [ -n "$cg_mnt" ] && [ -e "$cg_mnt${cg_rel%/}/memory.kmem.usage_in_bytes" ]; then
		CG_V1=$cg_mnt${cg_rel%/} CG_MEM=v1
	elif [ -z "$CG_MEM_WHY" ]; then
		CG_MEM_WHY="no memory controller on cgroup v2${CG_V2:+ ($CG_V2)}, no cgroup v1 kmem accounting"
	fi
fi

cg_make() { # TARGET: its cgroups; sets CGDIRS (to join) and CGMEMDIR (to read)
	local t=$1 d dirs=
	CGMEMDIR[$t]=
	for d in ${CG_V2:+"$CG_V2/ptbench-$t"} ${CG_V1:+"$CG_V1/ptbench-$t"}; do
		rmdir "$d" 2>/dev/null || true		# left by a killed run
		if ! mkdir "$d" 2>/dev/null; then
			log "cannot make cgroup $d: $t runs without it"
			continue
		fi
		CG_MADE+=("$d")
		dirs="$dirs $d"
		case $d in
		"$CG_V2"/*) [ "$CG_MEM" = v2 ] && CGMEMDIR[$t]=$d ;;
		*)
			echo -1 >"$d/memory.kmem.tcp.limit_in_bytes" 2>/dev/null || true
			CGMEMDIR[$t]=$d ;;
		esac
	done
	CGDIRS[$t]=${dirs# }
}

# Once every process in them is gone.
cg_remove_all() {
	local d i
	for d in "${CG_MADE[@]}"; do
		for ((i = 0; i < 60; i++)); do
			rmdir "$d" 2>/dev/null && break
			[ -d "$d" ] || break
			sleep 0.05
		done
		[ -d "$d" ] && log "could not remove cgroup $d: $(tr '\n' ' ' <"$d/cgroup.procs" 2>/dev/null)"
	done
	CG_MADE=()
}

start_target() { # NAME -> sets ADDR, PID, PORT; returns 1 if it cannot run
	local t=$1 p pid cg
	free_port p
	# The quic test starts its own passthru for each measurement (see
	# quic_start); with no other test, the TCP instance is not needed.
	if [ -z "$TCP_TESTS" ]; then
		ADDR[$t]='' PORT[$t]='' PID[$t]=''
		return 0
	fi
	if [ "$t" = direct ]; then
		ADDR[$t]=127.0.0.1:$UP PORT[$t]=$UP PID[$t]=
		return 0
	fi
	cg_make "$t"
	cg=${CGDIRS[$t]}
	case $t in
	pt-* | alt-*)
		local bin=$PASSTHRU mode=()
		[ "${t%%-*}" = alt ] && bin=$ALT_PASSTHRU
		# pt-auto: no --mode at all, what a user gets.
		[ "${t#*-}" = auto ] || mode=(--mode "${t#*-}")
		render "$HERE/passthru.json.in" "$W/$t.json" PORT="$p" UP="$UP" SNI="$SNI" \
			CONN_BUFFER="${PT_CONN_BUFFER:-4MiB}" \
			KERNEL_AFTER="${PT_KERNEL_AFTER:+\"kernel_after\": \"$PT_KERNEL_AFTER\",}"
		svc_start_in "$cg" pid "$W/$t.log" "$bin" -c "$W/$t.json" "${mode[@]}" -w 2 ;;
	haproxy)
		command -v haproxy >/dev/null || return 1
		render "$HERE/haproxy.cfg.in" "$W/haproxy.cfg" PORT="$p" UP="$UP" SNI="$SNI" \
			DIR="$W" MAXCONN=$(((FD_MAX - 100) / 2)) \
			HAPROXY_GLOBAL="${HAPROXY_GLOBAL:-}" \
			HAPROXY_DEFAULTS="${HAPROXY_DEFAULTS:-}"
		svc_start_in "$cg" pid "$W/$t.log" haproxy -f "$W/haproxy.cfg" -db ;;
	nginx)
		command -v nginx >/dev/null && [ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || return 1
		mkdir -p "$W/nginx"
		render "$HERE/nginx.conf.in" "$W/nginx.conf" PORT="$p" UP="$UP" SNI="$SNI" DIR="$W"
		svc_start_in "$cg" pid "$W/$t.log" nginx -p "$W/nginx" -e "$W/nginx.err" \
			-c "$W/nginx.conf" -g 'daemon off;' ;;
	sslh-select)
		command -v sslh-select >/dev/null || return 1
		render "$HERE/sslh.cfg.in" "$W/sslh.cfg" PORT="$p" UP="$UP" SNI="$SNI" DIR="$W"
		svc_start_in "$cg" pid "$W/$t.log" sslh-select -F"$W/sslh.cfg" ;;
	sniproxy)
		command -v sniproxy >/dev/null || return 1
		render "$HERE/sniproxy.conf.in" "$W/sniproxy.conf" PORT="$p" UP="$UP" \
			SNI_RE="${SNI//./\\\\.}" DIR="$W" USER=root
		svc_start_in "$cg" pid "$W/$t.log" sniproxy -f -c "$W/sniproxy.conf" ;;
	esac
	ADDR[$t]=127.0.0.1:$p PORT[$t]=$p PID[$t]=$pid
	if ! wait_port "$p" 5 || ! kill -0 "${PID[$t]}" 2>/dev/null; then
		log "$t did not start: $(tail -n 3 "$W/$t.log" 2>/dev/null | tr '\n' ' ')"
		return 1
	fi
	# A routed connection end to end, so a broken config shows here, not
	# as zeros in the table.
	if ! timeout 15 "$PTB" rr --connect "${ADDR[$t]}" --sni "$SNI" --time 0.1 \
		--warmup 0 --timeout-s 5 >"$W/$t.probe" 2>&1; then
		log "$t does not route: $(tr '\n' ' ' <"$W/$t.probe")"
		return 1
	fi
}

# ---- measurements --------------------------------------------------------------

mkdir -p "$OUT"
RAW=$OUT/raw.csv METRICS=$OUT/metrics.csv
echo "run,target,test,key,value" >"$RAW"
echo "run,target,metric,value" >"$METRICS"

# The budget holds even when the machine is slower than planned (other
# load): what does not fit is left out of the table.
budget_used() {
	cmp "$(elapsed)" '>' "$((BUDGET - 3))" || return 1
	[ -n "${OVER_BUDGET:-}" ] || log "time budget (${BUDGET}s) used up: skipping the remaining measurements"
	OVER_BUDGET=1
}

# measure RUN TARGET TEST ARGS...: one ptbench client run -> $W/r/..kv,
# every key appended to raw.csv.
measure() {
	local run=$1 t=$2 test=$3 f dur t0
	shift 3
	t0=$(elapsed)
	f=$W/r/$run.$t.$test.kv
	mkdir -p "$W/r"
	if budget_used; then
		: >"$f"
		return 0
	fi
	dur=$(awk -v b="$BULK_T" -v r="$RR_T" -v c="$CPS_T" -v m="$MIX_T" 'BEGIN { print int(b + r + c + m + 40) }')
	timeout -k 3 "$dur" "$PTB" "$@" --connect "${ADDR[$t]}" --sni "$SNI" \
		${PID[$t]:+--pid "${PID[$t]}"} >"$f" 2>"$f.err" ||
		log "run $run $t $test: ptbench exited $?: $(grep -h '^error=' "$f" "$f.err" | head -n 1) $(head -c 200 "$f.err")"
	awk -F= -v p="$run,$t,$test" 'NF == 2 && $1 != "mode" && $1 != "dir" && $1 != "error" { print p "," $1 "," $2 }' \
		"$f" >>"$RAW"
	# The next measurement starts on a quiet proxy.  (Direct: the
	# client is gone, so are its connections; the upstream's port also
	# carries the proxies' upstream sides, which are not this test's.)
	[ "$t" = direct ] ||
		wait_quiet "${PORT[$t]}" 5 || log "run $run $t $test: connections still open after 5 s"
	if [ "${BENCH_VERBOSE:-0}" = 1 ]; then
		log "run $run $t $test: $(awk -v a="$t0" -v b="$(elapsed)" 'BEGIN { print b - a }')s"
	fi
}

metric() { echo "$1,$2,$3,$4" >>"$METRICS"; }

# ---- quic ------------------------------------------------------------------------
#
# A passthru with a UDP listener in --mode auto attaches a tc program at
# ingress of every interface, lo included, which every other target's
# packets would then cross.  So the quic test starts its own passthru
# (UDP listener only) for each of its measurements and stops it after:
# the TCP tests and the direct flows never run with it there.

# quic_start RUN TARGET: its passthru, up, on the UDP data path the target
# stands for; sets QPID.  Returns 1 (QMISSING says why) otherwise.
quic_start() {
	local run=$1 t=$2 bin=$PASSTHRU mode=() lg i want
	[ "${t%%-*}" = alt ] && bin=$ALT_PASSTHRU
	# pt-auto: no --mode, as for TCP: what a user gets.
	[ "${t#*-}" = auto ] || mode=(--mode "${t#*-}")
	[ -n "${CGDIRS[$t-quic]+set}" ] || cg_make "$t-quic"
	lg=$W/$t.quic.$run.log
	render "$HERE/passthru-quic.json.in" "$W/$t-quic.json" PORT="${QPORT[$t]}" UP="$QUP" SNI="$SNI"
	svc_start_in "${CGDIRS[$t-quic]}" QPID "$lg" "$bin" -c "$W/$t-quic.json" "${mode[@]}" -w 2
	for ((i = 0; i < 100; i++)); do
		grep -q ' started: ' "$lg" 2>/dev/null && udp_bound "${QPORT[$t]}" && break
		kill -0 "$QPID" 2>/dev/null || break
		sleep 0.05
	done
	# The kernel path can fall back to userspace (no privilege, an old
	# kernel, a failed self-test): then there is no kernel figure to give.
	want='udp data path: userspace '
	[ "${t#*-}" = auto ] && want='udp data path: udp-kernel '
	if ! grep -q ' started: ' "$lg" || ! grep -q "$want" "$lg"; then
		QMISSING[$t]="no '${want% }' at start: $(grep -m 1 -e 'udp data path' -e error "$lg" | cut -c 1-200)"
		svc_stop_one "$QPID"
		return 1
	fi
}

# measure_quic RUN TARGET: one flood through the target -> $W/r/..quic.kv
# and metrics.  Datagrams/s counts what the proxy forwards: the client's
# datagrams up plus the echo's down (2 x round trips); MB/s is their UDP
# payload, both ways; CPU per GB of that payload.
measure_quic() {
	local run=$1 t=$2 f addr pid='' why='' n
	f=$W/r/$run.$t.quic.kv
	mkdir -p "$W/r"
	: >"$f"
	budget_used && return 0
	if [ -n "${QMISSING[$t]:-}" ]; then
		return 0
	elif [ "$t" = direct ]; then
		addr=127.0.0.1:$QUP
	else
		quic_start "$run" "$t" || { log "run $run $t quic: missing: ${QMISSING[$t]}"; return 0; }
		addr=127.0.0.1:${QPORT[$t]} pid=$QPID
	fi
	timeout -k 3 "$(awk -v a="$QUIC_W" -v b="$QUIC_T" 'BEGIN { print int(a + b + 15) }')" \
		"$QS" flood --connect "$addr" --sni "$SNI" --expect Q: --flows "$QUIC_FLOWS" \
		--window "$QUIC_WINDOW" --size "$QUIC_SIZE" --seconds "$QUIC_T" --warmup "$QUIC_W" \
		${pid:+--pid "$pid"} >"$f.line" 2>"$f.err" ||
		why="quicsend exited $?: $(head -c 300 "$f.line" "$f.err" | tr '\n' ' ')"
	if [ -n "$pid" ]; then
		# Its flows end (and log their path) as it stops.
		svc_stop_one "$pid"
		n=$(grep -c ' flow client=.* path=' "$W/$t.quic.$run.log" || true)
		if [ "${t#*-}" = auto ] && [ -z "$why" ] &&
			grep -q ' flow client=.* path=udp ' "$W/$t.quic.$run.log"; then
			why="flows forwarded in userspace, not by the kernel path: $(grep -c ' path=udp ' "$W/$t.quic.$run.log") of $n"
		fi
	fi
	if [ -n "$why" ]; then
		log "run $run $t quic: $why (no figures)"
		return 0
	fi
	# One line of key=value words; the numeric ones are the report.
	tr ' ' '\n' <"$f.line" | grep -E '^[a-z_]+=[0-9.]+$' >"$f" || true
	awk -F= -v p="$run,$t,quic" '{ print p "," $1 "," $2 }' "$f" >>"$RAW"
	awk -F= -v run="$run" -v t="$t" '
		{ v[$1] = $2 }
		END {
			s = v["win_s"]; b = v["win_bytes_up"] + v["win_bytes_down"]
			if (s <= 0 || b <= 0) exit
			printf "%s,%s,quic_dgrams_both_s,%.0f\n", run, t, (v["win_dgrams_up"] + v["win_dgrams_down"]) / s
			printf "%s,%s,quic_mb_both_s,%.1f\n", run, t, b / s / 1e6
			printf "%s,%s,quic_cpu_s_gb,%.4f\n", run, t, v["win_sys_cpu_s"] / (b / 1e9)
			if ("win_proc_cpu_s" in v)
				printf "%s,%s,quic_proc_ms_gb,%.3f\n", run, t, 1000 * v["win_proc_cpu_s"] / (b / 1e9)
		}' "$f" >>"$METRICS"
}

measure_target() { # RUN TARGET
	local run=$1 t=$2 f d s n test
	for test in $TESTS; do
		case $test in
		quic)
			case " $QUIC_TARGETS " in *" $t "*) measure_quic "$run" "$t" ;; esac ;;
		bulk)
			for s in 1 4; do
				for d in up down; do
					measure "$run" "$t" "bulk$s$d" bulk --streams "$s" --dir "$d" \
						--time "$BULK_T" --warmup "$BULK_W"
					f=$W/r/$run.$t.bulk$s$d.kv
					metric "$run" "$t" "thr_${s}_$d" "$(kv "$f" gbit_s)"
				done
			done
			# CPU per GB over the four bulk tests together.
			awk -F= -v run="$run" -v t="$t" '
				$1 == "bytes" { gb += $2 / 1e9 }
				$1 == "sys_cpu_s" { sys += $2 }
				$1 == "proc_cpu_s" { proc += $2; hp = 1 }
				END {
					if (gb > 0) {
						printf "%s,%s,cpu_gb,%.4f\n", run, t, sys / gb
						if (hp) printf "%s,%s,proc_ms_gb,%.3f\n", run, t, 1000 * proc / gb
					}
				}' "$W/r/$run.$t".bulk*.kv >>"$METRICS" ;;
		rr)
			measure "$run" "$t" rr rr --size 64 --time "$RR_T" --warmup 0.2
			f=$W/r/$run.$t.rr.kv
			metric "$run" "$t" p50_us "$(kv "$f" p50_us)"
			metric "$run" "$t" p99_us "$(kv "$f" p99_us)" ;;
		cps)
			measure "$run" "$t" cps cps --conc 4 --size 64 --time "$CPS_T" --warmup 0.2
			f=$W/r/$run.$t.cps.kv
			metric "$run" "$t" cps "$(kv "$f" conn_s)"
			metric "$run" "$t" cps_failed "$(kv "$f" failed)"
			metric "$run" "$t" cps_sys_us "$(kv "$f" sys_cpu_us_per_conn)"
			metric "$run" "$t" cps_proc_us "$(kv "$f" proc_cpu_us_per_conn)"
			metric "$run" "$t" cps_runs "$(kv "$f" proc_runs_per_conn)" ;;
		mixed)
			measure "$run" "$t" mixed mixed --conc "$MIX_CONC" --small "$MIX_SMALL" \
				--big "$MIX_BIG" --big-every "$MIX_EVERY" --time "$MIX_T" --warmup 0.3
			f=$W/r/$run.$t.mixed.kv
			metric "$run" "$t" mix_cps "$(kv "$f" conn_s)"
			metric "$run" "$t" mix_gbit "$(kv "$f" gbit_s)"
			metric "$run" "$t" mix_big "$(kv "$f" big_conns)"
			metric "$run" "$t" mix_failed "$(kv "$f" failed)"
			metric "$run" "$t" mix_sys_us "$(kv "$f" sys_cpu_us_per_conn)"
			metric "$run" "$t" mix_sys_s_gb "$(kv "$f" sys_cpu_s_per_gb)"
			metric "$run" "$t" mix_proc_us "$(kv "$f" proc_cpu_us_per_conn)"
			metric "$run" "$t" mix_proc_ms_gb "$(kv "$f" proc_cpu_ms_per_gb)" ;;
		idle)
			# (direct: no proxy, but the machine-wide kernel memory
			# per connection of its two sockets is the floor.)
			# sslh-select cannot hold more (select(2)): fewer, and the
			# 10k figure comes from the per-connection slope.
			n=$IDLE_N
			[ "$t" = sslh-select ] && [ "$n" -gt "$SSLH_IDLE" ] && n=$SSLH_IDLE
			measure "$run" "$t" idle idle --count "$n" --settle "$SETTLE" \
				--timeout-s 20 ${CGMEMDIR[$t]:+--cgroup "${CGMEMDIR[$t]}"}
			f=$W/r/$run.$t.idle.kv
			# Kernel memory charged to the proxy's cgroup per connection.
			metric "$run" "$t" kmem_kb "$(awk -v b="$(kv "$f" kmem_per_conn_b)" 'BEGIN { if (b != "") printf "%.2f", b / 1024 }')"
			metric "$run" "$t" sock_kb "$(awk -v b="$(kv "$f" sock_per_conn_b)" 'BEGIN { if (b != "") printf "%.2f", b / 1024 }')"
			metric "$run" "$t" slab_kb "$(awk -v b="$(kv "$f" slab_per_conn_b)" 'BEGIN { if (b != "") printf "%.2f", b / 1024 }')"
			metric "$run" "$t" sys_kmem_kb "$(awk -v b="$(kv "$f" sys_kmem_per_conn_b)" 'BEGIN { if (b != "") printf "%.2f", b / 1024 }')"
			metric "$run" "$t" rss_kb_conn "$(awk -v b="$(kv "$f" rss_per_conn_b)" 'BEGIN { if (b != "") printf "%.2f", b / 1024 }')"
			metric "$run" "$t" idle_open "$(kv "$f" open)"
			metric "$run" "$t" rss_mb "$(awk -v k="$(kv "$f" rss_kb)" 'BEGIN { if (k != "") printf "%.1f", k / 1024 }')"
			metric "$run" "$t" pss_mb "$(awk -v k="$(kv "$f" pss_kb)" 'BEGIN { if (k != "") printf "%.1f", k / 1024 }')"
			# The same at 10k connections: base + 10000 x the slope.
			metric "$run" "$t" rss10k_mb "$(awk -v b="$(kv "$f" rss_base_kb)" \
				-v s="$(kv "$f" rss_per_conn_b)" 'BEGIN { if (b != "" && s != "") printf "%.1f", (b * 1024 + 10000 * s) / 1048576 }')" ;;
		esac
	done
}

need_pkgs
if [ -n "$TCP_TESTS" ]; then
	free_port UP
	svc_start UP_PID "$W/upstream.log" "$PTB" server --listen "127.0.0.1:$UP" --threads 2
	wait_port "$UP" 5 || die "ptbench server did not start: $(cat "$W/upstream.log")"
fi
if has_test quic; then
	# One thread, as every target's flows meet the same one.
	free_port QUP
	svc_start QUP_PID "$W/quic-echo.log" "$QS" echo --listen "127.0.0.1:$QUP" --tag Q:
	for ((i = 0; i < 100; i++)); do udp_bound "$QUP" && break; sleep 0.05; done
	udp_bound "$QUP" || die "quicsend echo did not start: $(cat "$W/quic-echo.log")"
	q_skip=
	for t in $TARGETS; do
		case " $QUIC_TARGETS " in *" $t "*) free_port "QPORT[$t]" ;; *) q_skip="$q_skip $t" ;; esac
	done
	[ -n "$q_skip" ] && log "quic: not measured for${q_skip}: the peers route TCP by SNI and none passes QUIC through by the SNI of its Initials; pt-sockmap's UDP path is pt-auto's"
fi

RUN_TARGETS=
for t in $TARGETS; do
	# A target with no test of its own to run (a peer or pt-sockmap in a
	# quic-only run) is not started at all.
	if [ -z "$TCP_TESTS" ] && [ -z "${QPORT[$t]+set}" ] && [ "$t" != direct ]; then
		continue
	fi
	if start_target "$t"; then
		RUN_TARGETS="$RUN_TARGETS $t"
	else
		log "skipping $t"
	fi
done
TARGETS=${RUN_TARGETS# }
log "targets: $TARGETS; tests: $TESTS; $RUNS runs; idle conns $IDLE_N; budget ${BUDGET}s"
for t in $TARGETS; do
	[ -n "$TCP_TESTS" ] || break
	case $t in pt-* | alt-*)
		log "$t: $(grep -m 1 -o 'data path: [a-z]*' "$W/$t.log")${CGDIRS[$t]:+, cgroups ${CGDIRS[$t]}}"
		{ grep -i 'back-pressure' "$W/$t.log" || true; } | head -n 2 | while read -r l; do log "$t: $l"; done ;;
	esac
done
if [ -n "$CG_MEM" ]; then
	log "kernel memory per idle connection: from cgroup $CG_MEM memory accounting"
else
	log "kernel memory per idle connection: not measured: $CG_MEM_WHY"
fi

# rotated RUN T1 T2 ...: the targets, starting one further each run.  A
# measurement inherits the previous one's TIME_WAIT sockets (the same
# upstream port for all; under a second old they cannot be reused, so
# connect searches past them): in a fixed order each target had the same
# predecessor every run.
rotated() {
	local k=$(($1 - 1)) n i
	shift
	n=$#
	for ((i = 0; i < n; i++)); do
		echo "${@:$(((k + i) % n + 1)):1}"
	done
}

RUNS_DONE=0 RUN_DUR=0
for ((run = 1; run <= RUNS; run++)); do
	t0=$(elapsed)
	if [ "$run" -gt 1 ] && { [ -n "${OVER_BUDGET:-}" ] ||
		cmp "$t0" '>' "$(awk -v b="$BUDGET" -v d="$RUN_DUR" 'BEGIN { print b - d }')"; }; then
		log "run $run would end past the ${BUDGET}s budget: stopping after $((run - 1)) runs"
		break
	fi
	for t in $(rotated "$run" $TARGETS); do
		t1=$(elapsed)
		measure_target "$run" "$t"
		[ "${BENCH_VERBOSE:-0}" = 1 ] && log "run $run $t: $(awk -v a="$t1" -v b="$(elapsed)" 'BEGIN { print b - a }')s"
	done
	RUN_DUR=$(awk -v a="$t0" -v b="$(elapsed)" 'BEGIN { print b - a }')
	RUNS_DONE=$run
	log "run $run/$RUNS done in ${RUN_DUR}s"
done
svc_stop_all
cg_remove_all

# What passthru's connections ended on (path= of each log line): relay,
# sockmap, splice.
PATHS=
for t in $TARGETS; do
	[ -n "$TCP_TESTS" ] || break
	case $t in pt-* | alt-*)
		PATHS="$PATHS$t: $({ grep -o ' path=[a-z]*' "$W/$t.log" || true; } | sort | uniq -c |
			awk '{ printf "%s%s %s", n++ ? ", " : "", $2, $1 }')"$'\n' ;;
	esac
done
[ -n "$PATHS" ] && printf '%s' "$PATHS" | while read -r l; do log "connections by path: $l"; done
# The same for the quic test's flows (udp-kernel or udp), every run.
if has_test quic; then
	for t in $TARGETS; do
		if [ -z "${QPORT[$t]+set}" ] || [ "$t" = direct ]; then continue; fi
		l=$(cat "$W/$t".quic.*.log 2>/dev/null | { grep -o ' flow client=.* path=[a-z-]*' || true; } |
			sed 's/.* path=//' | sort | uniq -c | awk '{ printf "%s%s %s", n++ ? ", " : "", $2, $1 }')
		log "quic flows by path: $t: ${l:-none}${QMISSING[$t]:+ (missing: ${QMISSING[$t]})}"
	done
fi

# ---- report --------------------------------------------------------------------

SUMMARY=$W/summary.csv
summarize "$METRICS" >"$SUMMARY"

# The chart's columns, in plot.gp's order.
DAT_COLS="thr_1_up thr_1_down thr_4_up thr_4_down cpu_gb proc_ms_gb p50_us p99_us cps cps_sys_us cps_proc_us mix_cps mix_gbit mix_sys_us mix_proc_us mix_sys_s_gb mix_proc_ms_gb rss10k_mb kmem_kb"

# One awk pass (process spawns are slow on a loaded machine): results.csv
# (medians, min/max, ratio to direct), the three tables' rows, the chart's
# data.
awk -F, -v targets="$TARGETS" -v results="$OUT/results.csv" -v dat="$OUT/bench.dat" \
	-v cols="$DAT_COLS" -v rows="$W/rows" -v qts=" $QUIC_TARGETS " '
function unit(m) {
	if (m ~ /^thr_/ || m == "mix_gbit") return "Gbit/s"
	if (m == "quic_dgrams_both_s") return "datagrams/s (up + down)"
	if (m == "quic_mb_both_s") return "MB/s (payload up + down)"
	if (m == "quic_cpu_s_gb") return "cpu_s/GB"
	if (m == "quic_proc_ms_gb") return "cpu_ms/GB"
	if (m == "cpu_gb" || m == "mix_sys_s_gb") return "cpu_s/GB"
	if (m == "proc_ms_gb" || m == "mix_proc_ms_gb") return "cpu_ms/GB"
	if (m ~ /_us$/) return "us"
	if (m == "cps" || m == "mix_cps") return "conn/s"
	if (m == "cps_failed" || m == "mix_failed" || m == "mix_big" || m == "idle_open") return "conns"
	if (m ~ /_mb$/) return "MiB"
	if (m ~ /_kb$/ || m == "rss_kb_conn") return "KiB/conn"
	return ""
}
function num(v, d) { return v == "" ? "-" : sprintf("%." d "f", v) }
function cell(t, m, d,   v, r) {
	v = med[t, m]
	if (v == "") return "-"
	if (t == "direct" || med["direct", m] == "" || med["direct", m] + 0 == 0)
		return num(v, d)
	return sprintf("%s (%.2f)", num(v, d), v / med["direct", m])
}
NR == 1 { next }
{ med[$1, $2] = $4; row[++n] = $0 }
END {
	print "target,metric,unit,runs,median,min,max,ratio_to_direct" >results
	for (i = 1; i <= n; i++) {
		split(row[i], f, ",")
		d = med["direct", f[2]]
		r = d != "" && d + 0 != 0 ? sprintf("%.3f", f[4] / d) : ""
		printf "%s,%s,%s,%s,%s,%s,%s,%s\n", f[1], f[2], unit(f[2]), f[3], f[4], f[5], f[6], r >results
	}
	nt = split(targets, T, " ")
	nm = split(cols, M, " ")
	print "# target " cols >dat
	for (i = 1; i <= nt; i++) {
		t = T[i]
		printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", t,
			cell(t, "thr_1_up", 1), cell(t, "thr_1_down", 1), cell(t, "thr_4_up", 1),
			cell(t, "thr_4_down", 1), cell(t, "cpu_gb", 3), num(med[t, "proc_ms_gb"], 1),
			num(med[t, "p50_us"], 1), num(med[t, "p99_us"], 1) >(rows ".bytes")
		printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", t,
			cell(t, "cps", 0), num(med[t, "cps_sys_us"], 0), num(med[t, "cps_proc_us"], 0),
			num(med[t, "cps_runs"], 2),
			num(med[t, "rss10k_mb"], 1), num(med[t, "kmem_kb"], 2),
			num(med[t, "sys_kmem_kb"], 1), num(med[t, "idle_open"], 0),
			num(med[t, "cps_failed"], 0) >(rows ".conn")
		printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", t,
			num(med[t, "mix_cps"], 0), num(med[t, "mix_gbit"], 2), num(med[t, "mix_sys_us"], 0),
			num(med[t, "mix_sys_s_gb"], 3), num(med[t, "mix_proc_us"], 0),
			num(med[t, "mix_proc_ms_gb"], 1), num(med[t, "mix_failed"], 0) >(rows ".mixed")
		if (med[t, "quic_dgrams_both_s"] != "" || t == "direct" || index(qts, " " t " "))
			printf "| %s | %s | %s | %s | %s |\n", t,
				cell(t, "quic_dgrams_both_s", 0), cell(t, "quic_mb_both_s", 1),
				cell(t, "quic_cpu_s_gb", 3), num(med[t, "quic_proc_ms_gb"], 1) >(rows ".quic")
		printf "%s", t >dat
		for (j = 1; j <= nm; j++)
			printf " %s", med[t, M[j]] == "" ? "NaN" : med[t, M[j]] >dat
		print "" >dat
	}
}' "$SUMMARY"

case $CG_MEM in
v2) KMEM_HOW="cgroup v2 memory.stat: kernel + sock" ;;
v1) KMEM_HOW="cgroup v1 (the memory controller is not on v2 here): memory.kmem.usage + memory.kmem.tcp.usage" ;;
*) KMEM_HOW="not measured: $CG_MEM_WHY" ;;
esac
{
	echo "Medians of $RUNS_DONE interleaved runs${OVER_BUDGET:+ (the last one cut short by the ${BUDGET}s budget)}; in parentheses the ratio to direct."
	# A table only for the tests that ran.
	if has_test bulk || has_test rr; then
		echo
		echo "Per byte. Throughput in Gbit/s, 1 or 4 streams, up = client to server, down = server to client."
		echo "CPU s/GB: whole-system CPU (all CPUs, /proc/stat) per GB over the 4 bulk tests; proxy ms/GB: the proxy's own processes."
		echo "p50/p99: 64-byte request/response on one connection, µs."
		echo
		echo "| target | 1↑ | 1↓ | 4↑ | 4↓ | CPU s/GB | proxy ms/GB | p50 µs | p99 µs |"
		echo "|---|---|---|---|---|---|---|---|---|"
		cat "$W/rows.bytes"
	fi
	if has_test cps || has_test idle; then
		echo
		echo "Per connection. conn/s: connect, ClientHello, 64-byte reply, close; 4 loops. CPU µs/conn: whole-system CPU per"
		echo "connection in that test; proxy µs/conn: the proxy's own; proxy runs/conn: how often its threads were put on a CPU"
		echo "(schedstat timeslices: wake-ups and preemptions) per connection. RSS at 10k: all the proxy's processes, measured with N idle"
		echo "connections open (N = $IDLE_N, sslh-select $SSLH_IDLE, all it can hold with select(2); 'open' = how many of N it held) and"
		echo "scaled to 10,000 by the per-connection slope. kernel KiB/conn: kernel memory charged to the proxy's cgroup per idle"
		echo "connection ($KMEM_HOW): its two sockets, files, epoll, pipes; not the client's and upstream's sockets."
		echo "machine KiB/conn: the same from the whole machine (/proc/meminfo Slab + KernelStack + PageTables, sockstat TCP pages):"
		echo "every socket (direct: the client's and the upstream's, the floor), also what no cgroup is charged for; other load adds noise."
		echo
		echo "| target | conn/s | CPU µs/conn | proxy µs/conn | proxy runs/conn | RSS MiB at 10k | kernel KiB/conn | machine KiB/conn | open | failed |"
		echo "|---|---|---|---|---|---|---|---|---|---|"
		cat "$W/rows.conn"
	fi
	if has_test mixed; then
		echo
		echo "Mixed: $MIX_CONC loops; connection i exchanges $((MIX_BIG >> 20)) MiB each way if i % $MIX_EVERY = $((MIX_EVERY - 1)), else $MIX_SMALL bytes"
		echo "($((100 / MIX_EVERY)) % long, $((100 - 100 / MIX_EVERY)) % short); connections ended per second, Gbit/s of payload (both ways), CPU per"
		echo "connection and per GB: whole system (CPU) and the proxy's own (proxy)."
		echo
		echo "| target | conn/s | Gbit/s | CPU µs/conn | CPU s/GB | proxy µs/conn | proxy ms/GB | failed |"
		echo "|---|---|---|---|---|---|---|---|"
		cat "$W/rows.mixed"
	fi
	if has_test quic; then
		echo
		echo "QUIC on UDP: quicsend flood, $QUIC_FLOWS flows x $QUIC_WINDOW datagrams of $QUIC_SIZE bytes in flight, to a UDP echo,"
		echo "${QUIC_T}s after ${QUIC_W}s of warm-up. Datagrams/s: what the proxy forwards, up + down (2 x round trips);"
		echo "MB/s: their payload, up + down; CPU s/GB: whole-system CPU per GB of it; proxy ms/GB: passthru's own."
		echo "pt-auto: the UDP kernel path (tc), checked at start and on every flow's line; pt-splice: userspace UDP."
		echo
		echo "| target | datagrams/s | MB/s | CPU s/GB | proxy ms/GB |"
		echo "|---|---|---|---|---|"
		cat "$W/rows.quic"
		for t in $TARGETS; do
			if [ -n "${QMISSING[$t]:-}" ]; then echo "$t: missing: ${QMISSING[$t]}"; fi
		done
	fi
} >"$OUT/table.md"

# Medians for the checks below, without a process per look-up.
declare -A MED
while IFS=, read -r t m _ v _; do
	MED[$t,$m]=$v
done <"$SUMMARY"
med() { echo "${MED[$1,$2]:-}"; }

# ---- the targets of issue 10, for passthru in its default mode ------------

# best_peer METRIC max|min [FAILED]: "VALUE NAME" of the best peer, empty
# if none ran.  With FAILED (cps_failed, mix_failed), a peer that failed
# connections in that test (median over the runs > 0) is no bar: it did
# less than the work measured (sslh-select 1.20 resets ~1 in 8 of the cps
# test's connections; strace shows no shutdown(2): it closes both sides at
# the first EOF); unfit says which.
best_peer() {
	local t v best='' name=''
	for t in $TARGETS; do
		case " $PEERS " in *" $t "*) ;; *) continue ;; esac
		v=$(med "$t" "$1")
		[ -z "$v" ] && continue
		[ -n "${3:-}" ] && failed_in "$t" "$3" >/dev/null && continue
		if [ -z "$best" ] || cmp "$v" "$([ "$2" = max ] && echo '>' || echo '<')" "$best"; then
			best=$v name=$t
		fi
	done
	[ -n "$best" ] && echo "$best $name"
	return 0
}
verdict() { # OK? TEXT
	if [ "$1" = 1 ]; then echo "MET      $2"; else echo "NOT MET  $2"; fi
}
check_targets() {
	[ -z "$TCP_TESTS" ] || check_tcp_targets
	if has_test quic; then check_quic_targets; fi
	return 0
}
check_tcp_targets() {
	local pt=pt-auto m v b bn ok r t lo lon
	case " $TARGETS " in *" $pt "*) ;; *) echo "(pt-auto did not run: no target checks)"; return ;; esac
	v=$(med $pt cps)
	read -r b bn <<<"$(best_peer cps max cps_failed)"
	if [ -n "$v" ] && [ -n "$b" ]; then
		r=$(ratio "$v" "$b") ok=0
		cmp "$r" '>=' 1.0 && ok=1
		verdict $ok "new connections/s: $(fmt "$v" 0) = $r x the best peer ($bn $(fmt "$b" 0)) (>= 1.0; stretch 1.1: $(cmp "$r" '>=' 1.1 && echo met || echo not met))"
	fi
	v=$(med $pt cps_proc_us)
	read -r b bn <<<"$(best_peer cps_proc_us min cps_failed)"
	if [ -n "$v" ] && [ -n "$b" ]; then
		ok=0; cmp "$v" '<=' "$b" && ok=1
		verdict $ok "passthru's own CPU per connection: $(fmt "$v" 0) µs = $(ratio "$v" "$b") x the best peer ($bn $(fmt "$b" 0) µs) (<= 1.0)"
	fi
	for m in thr_1_up thr_1_down thr_4_up thr_4_down; do
		v=$(med $pt $m)
		read -r b bn <<<"$(best_peer $m max)"
		[ -z "$v" ] || [ -z "$b" ] && continue
		r=$(ratio "$v" "$b") ok=0
		cmp "$r" '>=' 1.5 && ok=1
		verdict $ok "throughput $m: $(fmt "$v" 1) Gbit/s = $r x the best peer ($bn $(fmt "$b" 1)) (>= 1.5)"
	done
	v=$(med $pt cpu_gb)
	read -r b bn <<<"$(best_peer cpu_gb min)"
	if [ -n "$v" ] && [ -n "$b" ]; then
		r=$(ratio "$v" "$b") ok=0
		cmp "$r" '<=' 0.6 && ok=1
		verdict $ok "whole-system CPU per GB: $(fmt "$v" 3) s = $r x the best peer ($bn $(fmt "$b" 3)) (<= 0.6)"
	fi
	# The lowest p99 of every peer that ran (the direct connection is
	# the floor; pt-* and alt-* are passthru itself).
	v=$(med $pt p99_us) lo='' lon=''
	if [ -n "$v" ]; then
		for t in $TARGETS; do
			case $t in direct | alt-* | pt-*) continue ;; esac
			b=$(med "$t" p99_us)
			[ -z "$b" ] && continue
			if [ -z "$lo" ] || cmp "$b" '<' "$lo"; then lo=$b lon=$t; fi
		done
		ok=0; { [ -z "$lo" ] || cmp "$v" '<' "$lo"; } && ok=1
		verdict $ok "p99 latency: $(fmt "$v" 1) µs, below every peer (lowest peer: ${lon:--} $(fmt "$lo" 1); direct $(fmt "$(med direct p99_us)" 1))"
	fi
	v=$(med $pt kmem_kb)
	read -r b bn <<<"$(best_peer kmem_kb min)"
	if ! has_test idle; then
		:
	elif [ -n "$v" ]; then
		verdict 1 "kernel memory per idle connection reported: $(fmt "$v" 2) KiB (pt-sockmap $(fmt "$(med pt-sockmap kmem_kb)" 2), pt-splice $(fmt "$(med pt-splice kmem_kb)" 2), lowest peer ${bn:--} $(fmt "$b" 2))"
	else
		verdict 0 "kernel memory per idle connection: not measured ($KMEM_HOW)"
	fi
	v=$(med $pt rss10k_mb)
	if [ -n "$v" ]; then
		ok=0; cmp "$v" '<' 64 && ok=1
		verdict $ok "RSS with 10k idle connections: $(fmt "$v" 1) MiB (< 64, issue 3; measured $(fmt "$(med $pt rss_mb)" 1) MiB with $(fmt "$(med $pt idle_open)" 0) open, scaled)"
	fi
	# Not targets: the mixed workload against the best peer.
	mixname() {
		case $1 in
		mix_sys_us) echo "whole-system CPU µs per connection" ;;
		mix_proc_us) echo "passthru's own CPU µs per connection" ;;
		mix_sys_s_gb) echo "whole-system CPU s per GB" ;;
		esac
	}
	v=$(med $pt mix_cps)
	read -r b bn <<<"$(best_peer mix_cps max mix_failed)"
	[ -n "$v" ] && [ -n "$b" ] &&
		echo "INFO     mixed: $(fmt "$v" 0) conn/s = $(ratio "$v" "$b") x the best peer ($bn $(fmt "$b" 0))"
	for m in mix_sys_us mix_proc_us mix_sys_s_gb; do
		v=$(med $pt $m)
		read -r b bn <<<"$(best_peer $m min mix_failed)"
		[ -n "$v" ] && [ -n "$b" ] &&
			echo "INFO     mixed, $(mixname $m): $(fmt "$v" 3) = $(ratio "$v" "$b") x the best peer ($bn $(fmt "$b" 3))"
	done
	unfit cps_failed "the cps test"
	unfit mix_failed "the mixed test"
	return 0
}
# failed_in TARGET FAILED: its median failed connections, if above 0.
failed_in() {
	local f
	f=$(med "$1" "$2")
	[ -n "$f" ] && cmp "$f" '>' 0 && echo "$f"
}
# unfit FAILED TEXT: the peers best_peer passes over, and why.
unfit() {
	local t f
	for t in $PEERS; do
		f=$(failed_in "$t" "$1") &&
			echo "INFO     $t is not compared with in $2: it failed connections ($(fmt "$f" 0) per run, median; see the log)"
	done
	return 0
}

# QUIC on UDP against the direct flow (the peers do not route it).  The
# kernel path adds a lookup, a rewrite and two checksum updates per
# datagram in the softirq that already carries it: near direct in rate
# (>= 0.85) and whole-system CPU per GB (<= 1.2), and of passthru's own
# CPU only its reading of the counters each second (<= 0.01 x what the
# userspace path costs it).  The userspace path receives and sends every datagram
# once more (recvmmsg/sendmmsg, ~4 µs each on this VM), on the same 2 CPUs
# as the client and the echo: >= 0.5 of direct.
check_quic_targets() {
	local d v r ok t b
	d=$(med direct quic_dgrams_both_s)
	if [ -z "$d" ]; then
		echo "NOT MET  QUIC: no direct figure to compare with"
		return 0
	fi
	for t in pt-auto pt-splice; do
		case " $TARGETS " in *" $t "*) ;; *) continue ;; esac
		v=$(med $t quic_dgrams_both_s)
		if [ -z "$v" ]; then
			verdict 0 "QUIC $t: missing${QMISSING[$t]:+: ${QMISSING[$t]}}"
			continue
		fi
		r=$(ratio "$v" "$d") ok=0
		if [ $t = pt-auto ]; then
			cmp "$r" '>=' 0.85 && ok=1
			verdict $ok "QUIC datagrams/s, UDP kernel path: $(fmt "$v" 0) = $r x direct ($(fmt "$d" 0)) (>= 0.85)"
			v=$(med $t quic_cpu_s_gb) ok=0
			r=$(ratio "$v" "$(med direct quic_cpu_s_gb)")
			cmp "$r" '<=' 1.2 && ok=1
			verdict $ok "QUIC whole-system CPU per GB, UDP kernel path: $(fmt "$v" 3) s = $r x direct ($(fmt "$(med direct quic_cpu_s_gb)" 3)) (<= 1.2)"
			v=$(med $t quic_proc_ms_gb) b=$(med pt-splice quic_proc_ms_gb)
			if [ -n "$b" ]; then
				r=$(ratio "$v" "$b") ok=0
				cmp "$r" '<=' 0.01 && ok=1
				verdict $ok "QUIC passthru's own CPU per GB, UDP kernel path: $(fmt "$v" 1) ms = $r x the userspace path's ($(fmt "$b" 1)) (<= 0.01)"
			fi
		else
			cmp "$r" '>=' 0.5 && ok=1
			verdict $ok "QUIC datagrams/s, userspace UDP path: $(fmt "$v" 0) = $r x direct ($(fmt "$d" 0)) (>= 0.5)"
		fi
	done
	return 0
}

# ---- chart ------------------------------------------------------------------------

# The chart is the TCP tests'; a quic-only run leaves none (not an old one).
if [ -z "$TCP_TESTS" ]; then
	rm -f "$OUT/bench.png"
elif command -v gnuplot >/dev/null; then
	gnuplot -e "datafile='$OUT/bench.dat'; outfile='$OUT/bench.png'; runs=$RUNS_DONE; idle_n=$IDLE_N" \
		"$HERE/plot.gp" 2>"$W/gnuplot.err" || log "gnuplot failed: $(head -n 3 "$W/gnuplot.err")"
else
	log "no gnuplot: no chart"
fi

echo
cat "$OUT/table.md"
echo
check_targets | tee "$OUT/targets.txt"
echo
log "wrote $OUT/{results.csv,metrics.csv,raw.csv,table.md,targets.txt,bench.png}"
