#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# passthru against the direct connection and the other SNI multiplexers.
#
#   OUTPUT=build tests/bench/run.sh [--quick] [--runs N] [--only NAME,...]
#                                   [--tests LIST] [--idle-conns N] [--keep]
#   (ALT_PASSTHRU=PATH adds targets alt-sockmap, alt-splice: another build;
#    PT_CONN_BUFFER=SIZE sets passthru's conn_buffer, default 4MiB)
#
# Every target sits in front of the same upstream, one `ptbench server` on
# loopback, and every measurement is the same `ptbench` client, whose first
# bytes are a real ClientHello.  Targets: direct (no proxy: the floor),
# pt-sockmap, pt-splice, haproxy, nginx, sslh, sniproxy.  Tests: bulk
# (1 and 4 streams, up and down; whole-system and proxy CPU per GB), rr
# (64-byte request/response latency), cps (connections per second), idle
# (proxy memory with N open connections).  Runs are interleaved:
#   for run in 1..N: for target: for test: measure
# and reported as medians (CSV: also min and max).
#
# Writes $OUTPUT/bench/{raw.csv,metrics.csv,results.csv,table.md,bench.png}.
# Default ≤ 10 min, --quick ≤ 2 min; a run that would overshoot the time
# budget is skipped with a warning.  Everything started is stopped on exit.
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

ALL_TARGETS="direct pt-sockmap pt-splice haproxy nginx sslh sniproxy"
# ALT_PASSTHRU=/path/to/other/passthru adds alt-sockmap and alt-splice: a
# patched build measured interleaved with the current one.
[ -n "${ALT_PASSTHRU:-}" ] && ALL_TARGETS="$ALL_TARGETS alt-sockmap alt-splice"
ALL_TESTS="bulk rr cps idle"
PEERS="haproxy nginx sslh sniproxy"

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

# Durations (seconds).  Measured windows are short, runs many: the spread
# between runs tells more than one long run.
if [ "$QUICK" = 1 ]; then
	: "${RUNS:=2}" "${IDLE_N:=1000}"
	BULK_T=0.4 BULK_W=0.2 RR_T=0.4 CPS_T=0.4 SETTLE=0.2 BUDGET=100 SSLH_IDLE=300
else
	: "${RUNS:=5}" "${IDLE_N:=10000}"
	BULK_T=1.2 BULK_W=0.4 RR_T=1.2 CPS_T=1.2 SETTLE=0.5 BUDGET=570 SSLH_IDLE=1000
fi
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

# ---- dependencies, from Debian, only what is missing ----------------------

need_pkgs() {
	local pkgs=()
	command -v gnuplot >/dev/null || pkgs+=(gnuplot-nox)
	command -v ss >/dev/null || pkgs+=(iproute2)
	case " $TARGETS " in *" haproxy "*) command -v haproxy >/dev/null || pkgs+=(haproxy) ;; esac
	case " $TARGETS " in *" nginx "*)
		command -v nginx >/dev/null || pkgs+=(nginx)
		[ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || pkgs+=(libnginx-mod-stream) ;;
	esac
	case " $TARGETS " in *" sslh "*) command -v sslh >/dev/null || pkgs+=(sslh) ;; esac
	case " $TARGETS " in *" sniproxy "*) command -v sniproxy >/dev/null || pkgs+=(sniproxy) ;; esac
	[ ${#pkgs[@]} -eq 0 ] && return 0
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

declare -A ADDR PID PORT
W=$(mktemp -d /tmp/ptbench.XXXXXX)
chmod 755 "$W"		# sniproxy and sslh may drop privileges

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	svc_stop_all
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

start_target() { # NAME -> sets ADDR, PID, PORT; returns 1 if it cannot run
	local t=$1 p pid
	free_port p
	case $t in
	direct)
		ADDR[$t]=127.0.0.1:$UP PORT[$t]=$UP PID[$t]=
		return 0 ;;
	pt-sockmap | pt-splice | alt-sockmap | alt-splice)
		local bin=$PASSTHRU
		[ "${t%%-*}" = alt ] && bin=$ALT_PASSTHRU
		render "$HERE/passthru.json.in" "$W/$t.json" PORT="$p" UP="$UP" SNI="$SNI" \
			CONN_BUFFER="${PT_CONN_BUFFER:-4MiB}"
		svc_start pid "$W/$t.log" "$bin" -c "$W/$t.json" --mode "${t#*-}" -w 2 ;;
	haproxy)
		command -v haproxy >/dev/null || return 1
		render "$HERE/haproxy.cfg.in" "$W/haproxy.cfg" PORT="$p" UP="$UP" SNI="$SNI" \
			DIR="$W" MAXCONN=$(((FD_MAX - 100) / 2)) \
			HAPROXY_GLOBAL="${HAPROXY_GLOBAL:-}" \
			HAPROXY_DEFAULTS="${HAPROXY_DEFAULTS:-}"
		svc_start pid "$W/$t.log" haproxy -f "$W/haproxy.cfg" -db ;;
	nginx)
		command -v nginx >/dev/null && [ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || return 1
		mkdir -p "$W/nginx"
		render "$HERE/nginx.conf.in" "$W/nginx.conf" PORT="$p" UP="$UP" SNI="$SNI" DIR="$W"
		svc_start pid "$W/$t.log" nginx -p "$W/nginx" -e "$W/nginx.err" \
			-c "$W/nginx.conf" -g 'daemon off;' ;;
	sslh)
		command -v sslh >/dev/null || return 1
		render "$HERE/sslh.cfg.in" "$W/sslh.cfg" PORT="$p" UP="$UP" SNI="$SNI" DIR="$W" \
			SSLH=sslh-fork
		svc_start pid "$W/$t.log" sslh -F"$W/sslh.cfg" ;;
	sniproxy)
		command -v sniproxy >/dev/null || return 1
		render "$HERE/sniproxy.conf.in" "$W/sniproxy.conf" PORT="$p" UP="$UP" \
			SNI_RE="${SNI//./\\\\.}" DIR="$W" USER=root
		svc_start pid "$W/$t.log" sniproxy -f -c "$W/sniproxy.conf" ;;
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

# measure RUN TARGET TEST ARGS...: one ptbench client run -> $W/r/..kv,
# every key appended to raw.csv.
measure() {
	local run=$1 t=$2 test=$3 f dur
	shift 3
	f=$W/r/$run.$t.$test.kv
	mkdir -p "$W/r"
	# The budget holds even when the machine is slower than planned
	# (other load): what does not fit is left out of the table.
	if cmp "$(elapsed)" '>' "$((BUDGET - 3))"; then
		[ -n "${OVER_BUDGET:-}" ] || log "time budget (${BUDGET}s) used up: skipping the remaining measurements"
		OVER_BUDGET=1
		: >"$f"
		return 0
	fi
	dur=$(awk -v b="$BULK_T" -v r="$RR_T" -v c="$CPS_T" 'BEGIN { print int(b + r + c + 40) }')
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
}

metric() { echo "$1,$2,$3,$4" >>"$METRICS"; }

measure_target() { # RUN TARGET
	local run=$1 t=$2 f d s n test
	for test in $TESTS; do
		case $test in
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
			metric "$run" "$t" cps_failed "$(kv "$f" failed)" ;;
		idle)
			# Memory of a proxy: nothing to measure without one.
			[ "$t" = direct ] && continue
			# sslh-fork forks per connection (~200/s here): fewer, and
			# the 10k figure comes from the per-connection slope.
			n=$IDLE_N
			[ "$t" = sslh ] && [ "$n" -gt "$SSLH_IDLE" ] && n=$SSLH_IDLE
			measure "$run" "$t" idle idle --count "$n" --settle "$SETTLE" \
				--timeout-s 20
			f=$W/r/$run.$t.idle.kv
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
free_port UP
svc_start UP_PID "$W/upstream.log" "$PTB" server --listen "127.0.0.1:$UP" --threads 2
wait_port "$UP" 5 || die "ptbench server did not start: $(cat "$W/upstream.log")"

RUN_TARGETS=
for t in $TARGETS; do
	if start_target "$t"; then
		RUN_TARGETS="$RUN_TARGETS $t"
	else
		log "skipping $t"
	fi
done
TARGETS=${RUN_TARGETS# }
log "targets: $TARGETS; tests: $TESTS; $RUNS runs; idle conns $IDLE_N; budget ${BUDGET}s"

RUNS_DONE=0 RUN_DUR=0
for ((run = 1; run <= RUNS; run++)); do
	t0=$(elapsed)
	if [ "$run" -gt 1 ] && { [ -n "${OVER_BUDGET:-}" ] ||
		cmp "$t0" '>' "$(awk -v b="$BUDGET" -v d="$RUN_DUR" 'BEGIN { print b - d }')"; }; then
		log "run $run would end past the ${BUDGET}s budget: stopping after $((run - 1)) runs"
		break
	fi
	for t in $TARGETS; do
		t1=$(elapsed)
		measure_target "$run" "$t"
		[ "${BENCH_VERBOSE:-0}" = 1 ] && log "run $run $t: $(awk -v a="$t1" -v b="$(elapsed)" 'BEGIN { print b - a }')s"
	done
	RUN_DUR=$(awk -v a="$t0" -v b="$(elapsed)" 'BEGIN { print b - a }')
	RUNS_DONE=$run
	log "run $run/$RUNS done in ${RUN_DUR}s"
done
svc_stop_all

# ---- report --------------------------------------------------------------------

SUMMARY=$W/summary.csv
summarize "$METRICS" >"$SUMMARY"

# One awk pass (process spawns are slow on a loaded machine): results.csv
# (medians, min/max, ratio to direct), the table rows, the chart's data.
awk -F, -v targets="$TARGETS" -v results="$OUT/results.csv" -v dat="$OUT/bench.dat" '
function unit(m) {
	if (m ~ /^thr_/) return "Gbit/s"
	if (m == "cpu_gb") return "cpu_s/GB"
	if (m == "proc_ms_gb") return "cpu_ms/GB"
	if (m ~ /_us$/) return "us"
	if (m == "cps") return "conn/s"
	if (m == "cps_failed" || m == "idle_open") return "conns"
	if (m ~ /_mb$/) return "MiB"
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
	nm = split("thr_1_up thr_1_down thr_4_up thr_4_down cpu_gb proc_ms_gb p50_us p99_us cps rss10k_mb", M, " ")
	print "# target " "thr_1_up thr_1_down thr_4_up thr_4_down cpu_gb proc_ms_gb p50_us p99_us cps rss10k_mb" >dat
	for (i = 1; i <= nt; i++) {
		t = T[i]
		printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", t,
			cell(t, "thr_1_up", 1), cell(t, "thr_1_down", 1), cell(t, "thr_4_up", 1),
			cell(t, "thr_4_down", 1), cell(t, "cpu_gb", 3), num(med[t, "proc_ms_gb"], 1),
			num(med[t, "p50_us"], 1), num(med[t, "p99_us"], 1), cell(t, "cps", 0),
			num(med[t, "rss10k_mb"], 1), num(med[t, "idle_open"], 0)
		printf "%s", t >dat
		for (j = 1; j <= nm; j++)
			printf " %s", med[t, M[j]] == "" ? "NaN" : med[t, M[j]] >dat
		print "" >dat
	}
}' "$SUMMARY" >"$W/rows.md"

{
	echo "Medians of $RUNS_DONE interleaved runs${OVER_BUDGET:+ (the last one cut short by the ${BUDGET}s budget)}; in parentheses the ratio to direct."
	echo "Throughput in Gbit/s, 1 or 4 streams, up = client to server, down = server to client."
	echo "CPU s/GB: whole-system CPU (all CPUs, /proc/stat) per GB over the 4 bulk tests; proxy ms/GB: the proxy's own processes."
	echo "p50/p99: 64-byte request/response on one connection, µs. conn/s: connect, ClientHello, 64-byte reply, close; 4 loops."
	echo "RSS at 10k: all the proxy's processes, measured with N idle connections open (N = $IDLE_N, sslh $SSLH_IDLE; 'open' = how many of N"
	echo "the proxy actually held) and scaled to 10,000 by the measured per-connection slope; PSS and the raw figures are in results.csv."
	echo
	echo "| target | 1↑ | 1↓ | 4↑ | 4↓ | CPU s/GB | proxy ms/GB | p50 µs | p99 µs | conn/s | RSS MiB at 10k | open |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
	cat "$W/rows.md"
} >"$OUT/table.md"

# Medians for the checks below, without a process per look-up.
declare -A MED
while IFS=, read -r t m _ v _; do
	MED[$t,$m]=$v
done <"$SUMMARY"
med() { echo "${MED[$1,$2]:-}"; }

# ---- the targets of issue 3, for passthru in sockmap mode -----------------

best_peer() { # METRIC max|min: the best peer's median, empty if no peer ran
	local t v best=
	for t in $TARGETS; do
		case " $PEERS " in *" $t "*) ;; *) continue ;; esac
		v=$(med "$t" "$1")
		[ -z "$v" ] && continue
		if [ -z "$best" ] || cmp "$v" "$([ "$2" = max ] && echo '>' || echo '<')" "$best"; then
			best=$v
		fi
	done
	echo "$best"
}
verdict() { # OK? TEXT
	if [ "$1" = 1 ]; then echo "MET      $2"; else echo "NOT MET  $2"; fi
}
check_targets() {
	local pt=pt-sockmap m v d b ok
	case " $TARGETS " in *" $pt "*) ;; *) echo "(pt-sockmap did not run: no target checks)"; return ;; esac
	for m in thr_1_up thr_1_down thr_4_up thr_4_down; do
		v=$(med $pt $m) d=$(med direct $m) b=$(best_peer $m max)
		[ -z "$v" ] && continue
		ok=0
		cmp "$v" '>=' "$(awk -v d="$d" 'BEGIN { print 0.95 * d }')" &&
			{ [ -z "$b" ] || cmp "$v" '>' "$b"; } && ok=1
		verdict $ok "throughput $m: $(fmt "$v" 1) Gbit/s = $(ratio "$v" "$d") x direct (>= 0.95), best peer $(fmt "$b" 1)"
	done
	v=$(med $pt cpu_gb) d=$(med direct cpu_gb) b=$(best_peer cpu_gb min)
	if [ -n "$v" ]; then
		ok=0
		cmp "$v" '<=' "$d" && { [ -z "$b" ] || cmp "$v" '<=' "$(awk -v b="$b" 'BEGIN { print 0.6 * b }')"; } && ok=1
		verdict $ok "whole-system CPU: $(fmt "$v" 3) s/GB = $(ratio "$v" "$d") x direct (<= 1.0), $(ratio "$v" "$b") x best peer (<= 0.6)"
		v=$(med $pt proc_ms_gb)
		ok=0; cmp "$v" '<' 5 && ok=1
		verdict $ok "passthru's own CPU: $(fmt "$v" 2) ms/GB (< 5)"
	fi
	v=$(med $pt p99_us) d=$(med direct p99_us)
	if [ -n "$v" ]; then
		ok=0; cmp "$(awk -v a="$v" -v b="$d" 'BEGIN { print a - b }')" '<=' 10 && ok=1
		verdict $ok "p99 latency: $(fmt "$v" 1) µs, $(awk -v a="$v" -v b="$d" 'BEGIN { printf "%+.1f", a - b }') µs over direct (<= +10)"
	fi
	v=$(med $pt cps) b=$(best_peer cps max)
	if [ -n "$v" ]; then
		ok=0; { [ -z "$b" ] || cmp "$v" '>=' "$(awk -v b="$b" 'BEGIN { print 1.2 * b }')"; } && ok=1
		verdict $ok "connection rate: $(fmt "$v" 0)/s = $(ratio "$v" "$b") x best peer (>= 1.2)"
	fi
	v=$(med $pt rss10k_mb)
	if [ -n "$v" ]; then
		ok=0; cmp "$v" '<' 64 && ok=1
		verdict $ok "RSS with 10k idle connections: $(fmt "$v" 1) MiB (< 64; measured $(fmt "$(med $pt rss_mb)" 1) MiB with $(fmt "$(med $pt idle_open)" 0) open, scaled)"
	fi
}

# ---- chart ------------------------------------------------------------------------

if command -v gnuplot >/dev/null; then
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
