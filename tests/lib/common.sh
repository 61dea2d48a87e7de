# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Helpers for tests/integration/test_*.sh.  Source it first:
#   . "$(dirname "$0")/../lib/common.sh"
# It gives each suite a temp dir $T, and an EXIT trap that kills every
# process the suite started and deletes the netns it created.
#
# A test is a function run by `run_test NAME FUNC [ARGS...]`; it prints
# exactly one result line through pass / fail / skip (run_test adds a FAIL if
# the function printed none) and everything it left running is killed after.
# Result lines: "PASS name", "FAIL name: why", "SKIP name: why".

set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUTPUT=${OUTPUT:-build}
case $OUTPUT in /*) ;; *) OUTPUT=$ROOT/$OUTPUT ;; esac
PASSTHRU=$OUTPUT/passthru
XFER=$OUTPUT/tests/xfer
MKHELLO=$OUTPUT/tests/mkhello
SUITE=$(basename "$0" .sh)
SUITE=${SUITE#test_}
T=$(mktemp -d "/tmp/pt-$SUITE.XXXXXX")
chmod 755 "$T"			# readable by the unprivileged-user tests
PT_LOG=$T/passthru.log
PT_PID=
PT_WRAP=			# command words put before passthru (e.g. setpriv ...)
PT_PREFIX=${PT_PREFIX:-}	# a whole pass's (the TSan pass's setarch -R)
CUR_TEST=
_RESULTED=0
_NETNS=()
NS_PREFIX=pt$$-

# ---- results ---------------------------------------------------------------

_oneline() { tr '\n\t' '  ' | sed 's/  */ /g; s/ $//' | cut -c1-400; }

# RESULT_PREFIX names a pass over the same tests (e.g. "san/").
pass() { echo "PASS ${RESULT_PREFIX:-}$1"; _RESULTED=1; }
fail() { echo "FAIL ${RESULT_PREFIX:-}$1: $(printf '%s' "${2:-failed}" | _oneline)"; _RESULTED=1; }
skip() { echo "SKIP ${RESULT_PREFIX:-}$1: $(printf '%s' "${2:-skipped}" | _oneline)"; _RESULTED=1; }

# check NAME CMD...: pass if CMD exits 0, else fail with its last output.
check() {
	local name=$1 out=$T/check.out
	shift
	if "$@" >"$out" 2>&1; then
		pass "$name"
	else
		fail "$name" "exit $?: \`$*\`: $(tail -n 5 "$out")"
	fi
}

# run_test NAME FUNC [ARGS...]: CUR_TEST=NAME while FUNC runs; then make
# sure one result line was printed and stop whatever the test left running.
# KEEP_TMP=1 keeps $T (configs, logs, reports) for a look afterwards.
run_test() {
	# ONLY=REGEX runs just the tests whose name matches (for debugging).
	[ -n "${ONLY:-}" ] && ! [[ $1 =~ $ONLY ]] && return 0
	CUR_TEST=$1
	_RESULTED=0
	shift
	"$@"
	[ "$_RESULTED" = 1 ] || fail "$CUR_TEST" "the test printed no result"
	# passthru must still be alive here and exit 0 on SIGTERM; a crash
	# during a test that otherwise passed is its own failure.
	local pid=$PT_PID rc
	pt_stop >/dev/null 2>&1
	rc=$?
	if [ -n "$pid" ] && [ "$rc" != 0 ]; then
		fail "$CUR_TEST/passthru-exit" "passthru exited with status $rc: $(tail -n 3 "$PT_LOG")"
		[ "$rc" -gt 128 ] && [ "$rc" != 137 ] && crash_report "$pid"
	fi
	kill_children
	CUR_TEST=
}

# crash_report PID: passthru PID died of a signal.  Print (as "# " lines,
# which the runner does not count) the backtrace it logged and, if a core
# was written, every thread's stack from gdb; keep core and binary in
# $OUTPUT/crash/ for a closer look.
crash_report() {
	local pid=$1 core='' dest
	echo "# passthru (pid $pid) crashed; its log ends:"
	tail -n 40 "$PT_LOG" | sed 's/^/#   /'
	for core in "$T/core.$pid" "$T/core"; do
		[ -s "$core" ] && break
		core=''
	done
	if [ -z "$core" ]; then
		echo "# no core in $T (kernel.core_pattern: $(cat /proc/sys/kernel/core_pattern 2>/dev/null))"
		return 0
	fi
	dest=$OUTPUT/crash/$(printf '%s' "${CUR_TEST:-$SUITE}" | tr -c 'A-Za-z0-9._-' '_').$pid
	mkdir -p "$dest" && cp "$core" "$dest/core" && cp "$PASSTHRU" "$dest/passthru" && cp "$PT_LOG" "$dest/"
	echo "# core and binary kept in $dest"
	command -v gdb >/dev/null 2>&1 &&
		gdb -q -batch -ex 'info threads' -ex 'thread apply all bt 20' "$PASSTHRU" "$core" 2>&1 |
		grep -vE '^\[New |^warning: ' | head -n 150 | sed 's/^/#   /'
	return 0
}

# ---- requirements -----------------------------------------------------------

# Skip the current test (inside run_test: return 1) or the whole suite.
_skip_here() {
	if [ -n "$CUR_TEST" ]; then
		skip "$CUR_TEST" "$1"
		return 1
	fi
	skip "$SUITE" "$1"
	exit 0
}

require_root() { [ "$(id -u)" = 0 ] || _skip_here "needs root (BPF, netns)"; }
require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || [ -x "$c" ] || _skip_here "needs $c" || return 1
	done
}

# ---- processes ---------------------------------------------------------------

# Every descendant of PID but the subshell asking (builtins only, no forks).
_descendants() {
	local f kids k
	for f in /proc/"$1"/task/*/children; do
		[ -r "$f" ] || continue
		read -r -a kids <"$f" || true
		for k in "${kids[@]}"; do
			[ "$k" = "$BASHPID" ] && continue
			echo "$k"
			_descendants "$k"
		done
	done
}

# _alive PID: PID exists and is not a zombie.
_alive() {
	local st
	{ read -r st <"/proc/$1/stat"; } 2>/dev/null || return 1
	st=${st##*) }
	[ "${st%% *}" != Z ]
}

# Kill every process this shell started (TERM, then KILL after 2 s).
kill_children() {
	local pids p i left
	pids=$(_descendants $$)
	pids=${pids//$'\n'/ }
	[ -n "$pids" ] || return 0
	kill -TERM $pids 2>/dev/null
	for ((i = 0; i < 40; i++)); do
		left=
		for p in $pids; do
			_alive "$p" && left=1 && break
		done
		[ -z "$left" ] && break
		sleep 0.05
	done
	[ -n "$left" ] && kill -KILL $pids 2>/dev/null
	wait 2>/dev/null
	return 0
}

_cleanup() {
	local ns
	trap - EXIT INT TERM
	kill_children
	for ns in "${_NETNS[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	if [ -n "${KEEP_TMP:-}" ]; then
		echo "# temp dir kept: $T"
	else
		rm -rf "$T"
	fi
}
trap _cleanup EXIT
trap 'exit 130' INT TERM

# proc_cpu_ticks PID: utime + stime of PID (all threads), in clock ticks.
proc_cpu_ticks() {
	local stat rest
	read -r stat <"/proc/$1/stat" || return 1
	rest=${stat##*) }		# fields from 3 (state) on
	set -- $rest
	echo $(( ${12} + ${13} ))	# fields 14 and 15
}

# wait_for TIMEOUT_S CMD...: run CMD every 50 ms until it succeeds.
wait_for() {
	local end=$((SECONDS + $1))
	shift
	while ! "$@"; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.05
	done
}

# wait_pid PID [TIMEOUT_S=10]: wait for a background child to exit; returns
# its status, or 124 (and leaves it running) after the timeout.
wait_pid() {
	local end=$((SECONDS + ${2:-10}))
	while _alive "$1"; do
		[ "$SECONDS" -lt "$end" ] || return 124
		sleep 0.05
	done
	wait "$1"
}

# ---- ports ---------------------------------------------------------------------

# free_port: a TCP port nobody uses on this host (nor handed out before),
# below the ephemeral range so no outgoing connection takes it meanwhile.
free_port() {
	local p i lo=32768 span
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null
	span=$((lo - 10000))
	[ "$span" -ge 2000 ] || span=0
	for ((i = 0; i < 200; i++)); do
		if [ "$span" -gt 0 ]; then
			p=$((10000 + (RANDOM * 32768 + RANDOM) % span))
		else
			p=$((20000 + RANDOM % 40000))
		fi
		# (called as $(free_port): remember ports in a file, not a variable)
		grep -qx "$p" "$T/ports" 2>/dev/null && continue
		# Free for TCP and UDP: the QUIC tests bind the same ports as UDP.
		if [ -z "$(ss -Htuan "( sport = :$p or dport = :$p )" 2>/dev/null)" ]; then
			echo "$p" >>"$T/ports"
			echo "$p"
			return 0
		fi
	done
	echo "free_port: none found" >&2
	return 1
}

_listening() {
	case $1 in
	udp:*) [ -n "$(${_NS_CMD:-} ss -Hlun "sport = :${1#udp:}" 2>/dev/null)" ] ;;
	*) [ -n "$(${_NS_CMD:-} ss -Hltn "sport = :$1" 2>/dev/null)" ] ;;
	esac
}

# wait_port HOST PORT [TIMEOUT_S=10]: until something listens on PORT.  It
# looks at the socket table instead of connecting, so the servers see no
# extra connection.  With WAIT_NS=NAME it looks in that netns.
wait_port() {
	local _NS_CMD=
	[ -n "${WAIT_NS:-}" ] && _NS_CMD="ip netns exec $NS_PREFIX$WAIT_NS"
	wait_for "${3:-10}" _listening "$2"
}

# wait_log PATTERN [TIMEOUT_S=5] [FILE=$PT_LOG]: until an ERE matches a line.
wait_log() {
	wait_for "${2:-5}" grep -qE -- "$1" "${3:-$PT_LOG}"
}

# ---- passthru ------------------------------------------------------------------

# The listen ports of a config: keys "ADDR:PORT" whose value is an object
# ("udp:PORT" for a UDP listener's "udp/ADDR:PORT").
config_ports() {
	grep -oE '"[^"]*:[0-9]+"[[:space:]]*:[[:space:]]*\{' "$1" |
		sed -E 's/^"[[:space:]]*udp\/.*:([0-9]+)"[[:space:]]*:.*$/udp:\1/; t; s/^.*:([0-9]+)"[[:space:]]*:.*$/\1/'
}

# pt_start CONFIG [ARGS...]: run passthru in the background, log in $PT_LOG,
# and wait until every listen port of CONFIG is listening.  Sets PT_PID.
# Returns 1 (after a FAIL line for the current test) if it does not start.
# PT_WRAP="CMD ARGS" runs it under CMD (e.g. setpriv); PT_NS=NAME in a netns.
pt_start() {
	local cfg=$1 p _NS_CMD=
	shift
	[ -n "${PT_NS:-}" ] && _NS_CMD="ip netns exec $NS_PREFIX$PT_NS"
	[ -s "$PT_LOG" ] && cat "$PT_LOG" >>"$T/passthru.old.log"
	: >"$PT_LOG"
	# Cores enabled, written in $T (where core_pattern is a plain name):
	# a crash leaves what is needed to fix it (crash_report).
	(
		ulimit -c unlimited 2>/dev/null
		cd "$T" || exit 1
		exec $_NS_CMD $PT_WRAP $PT_PREFIX "$PASSTHRU" -c "$cfg" "$@"
	) >"$PT_LOG" 2>&1 &
	PT_PID=$!
	for p in $(config_ports "$cfg"); do
		if ! wait_for 10 _pt_up "$p"; then
			local why="passthru did not start"
			if _alive "$PT_PID"; then
				why="$why: port $p not listening after 10 s"
			else
				wait "$PT_PID"
				why="$why: exited with status $?"
			fi
			fail "${CUR_TEST:-$SUITE}" "$why: $(tail -n 5 "$PT_LOG")"
			pt_stop >/dev/null 2>&1
			return 1
		fi
	done
	export PT_PID
}
_pt_up() { _alive "$PT_PID" && _listening "$1"; }

# tls_cfg FILE PT_PORT UP_A UP_B: a config with one listener whose TLS rules
# send "SNI a.example" to UP_A, "SNI b.example" to UP_B, and REJECT the rest.
# TLS_SETTINGS='"key":value,' adds top-level settings.
tls_cfg() {
	cat >"$1" <<-EOF
	{${TLS_SETTINGS:-}"version":"v0.2.0","servers":{"127.0.0.1:$2":{
	  "TLS":{"SNI a.example":{"action":"FORWARD","to_addr":"127.0.0.1:$3"},
	         "SNI b.example":{"action":"FORWARD","to_addr":"127.0.0.1:$4"},
	         "CATCHALL":{"action":"REJECT"}}}}}
	EOF
}

# pt_stop: SIGTERM, wait, SIGKILL after 5 s.  Returns passthru's exit status
# (137 if it had to be killed).
pt_stop() {
	local rc=0
	[ -n "$PT_PID" ] || return 0
	kill -TERM "$PT_PID" 2>/dev/null
	wait_pid "$PT_PID" 5
	rc=$?
	if [ "$rc" = 124 ]; then
		kill -KILL "$PT_PID" 2>/dev/null
		wait "$PT_PID" 2>/dev/null
		rc=137
	fi
	PT_PID=
	return "$rc"
}

# ---- network namespaces ------------------------------------------------------------

# ns_create NAME: a netns (real name $NS_PREFIX$NAME) with lo up.
ns_create() {
	ip netns add "$NS_PREFIX$1" || return 1
	_NETNS+=("$NS_PREFIX$1")
	ip -n "$NS_PREFIX$1" link set lo up
}

# ns_exec NAME CMD...: run CMD inside the netns.
ns_exec() {
	local ns=$1
	shift
	ip netns exec "$NS_PREFIX$ns" "$@"
}

# veth_pair NS1 NS2 IP1/LEN IP2/LEN: a veth link between two netns.
veth_pair() {
	local a=v$$a$RANDOM b=v$$b$RANDOM
	a=${a:0:15} b=${b:0:15}
	ip link add "$a" netns "$NS_PREFIX$1" type veth peer name "$b" netns "$NS_PREFIX$2" || return 1
	ip -n "$NS_PREFIX$1" addr add "$3" dev "$a"
	ip -n "$NS_PREFIX$2" addr add "$4" dev "$b"
	ip -n "$NS_PREFIX$1" link set "$a" up
	ip -n "$NS_PREFIX$2" link set "$b" up
}

# ---- xfer reports --------------------------------------------------------------------

# field FILE KEY: the value of KEY=... in the last report line of FILE.
field() {
	tail -n 1 "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# newdir: a fresh directory $D for the current test's files.
newdir() {
	D=$T/$(printf '%s' "${CUR_TEST:-misc}" | tr -c 'A-Za-z0-9._-' '_')
	rm -rf "$D"
	mkdir -p "$D"
}

# xfer_server NAME ADDR:PORT [ARGS...]: an xfer server in the background,
# reporting to $D/NAME.rep (stderr in $D/NAME.err); waits until it listens.
xfer_server() {
	local name=$1 addr=$2
	shift 2
	"$XFER" server --listen "$addr" --report "$D/$name.rep" "$@" >/dev/null 2>"$D/$name.err" &
	wait_port "${addr%:*}" "${addr##*:}" 5 || { echo "# xfer server $name: $(cat "$D/$name.err")"; return 1; }
}

# xfer_client NAME ADDR:PORT [ARGS...]: an xfer client in the foreground,
# reporting to $D/NAME.rep; returns its exit status.
xfer_client() {
	local name=$1 addr=$2
	shift 2
	"$XFER" client --connect "$addr" --report "$D/$name.rep" "$@" >/dev/null 2>"$D/$name.err"
}

# diag_of REPORT: " diag=..." if the receiver ran with --diag (where its
# bytes left the stream: AT:FROM payload offsets, see streamdiag.h).
diag_of() {
	local d
	d=$(field "$1" diag)
	[ -z "$d" ] || echo " diag=$d"
}

# check_transfer CLIENT_REP SERVER_REP [CLIENT_SENT SERVER_SENT]: both ended
# ok, each received exactly what the other sent (count and sha256) and, if
# given, the client sent CLIENT_SENT bytes and the server SERVER_SENT.
# Prints why not and returns 1.
check_transfer() {
	local c=$1 s=$2 want_c=${3:-} want_s=${4:-}
	wait_for 10 test -s "$s" ||
		{ echo "no report from the upstream server (no connection, or not done 10 s after the client); client: $(tail -n 1 "$c")"; return 1; }
	[ "$(field "$c" result)" = ok ] || { echo "client: $(tail -n 1 "$c")"; return 1; }
	[ "$(field "$s" result)" = ok ] || { echo "server: $(tail -n 1 "$s")"; return 1; }
	if [ "$(field "$c" sent)" != "$(field "$s" recv)" ] ||
	   [ "$(field "$c" sent_sha256)" != "$(field "$s" recv_sha256)" ]; then
		echo "upstream got recv=$(field "$s" recv) of the client's sent=$(field "$c" sent) (or sha256 differs)$(diag_of "$s")"
		return 1
	fi
	if [ "$(field "$s" sent)" != "$(field "$c" recv)" ] ||
	   [ "$(field "$s" sent_sha256)" != "$(field "$c" recv_sha256)" ]; then
		echo "client got recv=$(field "$c" recv) of the upstream's sent=$(field "$s" sent) (or sha256 differs)$(diag_of "$c")"
		return 1
	fi
	if [ -n "$want_c" ] && [ "$(field "$c" sent)" != "$want_c" ]; then
		echo "client sent $(field "$c" sent) bytes, want $want_c"
		return 1
	fi
	if [ -n "$want_s" ] && [ "$(field "$s" sent)" != "$want_s" ]; then
		echo "server sent $(field "$s" sent) bytes, want $want_s"
		return 1
	fi
}

# expect_ok NAME CMD...: pass NAME if CMD (a check printing why on failure)
# succeeds, else fail with what it printed.
expect_ok() {
	local name=$1 why
	shift
	if why=$("$@" 2>&1); then
		pass "$name"
	else
		fail "$name" "$why"
	fi
}

# size FILE: its length in bytes.
size() { stat -c %s "$1"; }

# pt_stat INDEX: the sum over CPUs of pt_stats[INDEX] of the running
# passthru ($PT_PID): its own map, found through the map ids in its fdinfo.
pt_stat() {
	local id='' m
	for m in $(sed -n 's/^map_id:[[:space:]]*//p' /proc/"$PT_PID"/fdinfo/* 2>/dev/null | sort -u); do
		if [ "$(bpftool -j map show id "$m" 2>/dev/null | jq -r .name)" = pt_stats ]; then
			id=$m
			break
		fi
	done
	[ -n "$id" ] || { echo "passthru (pid $PT_PID) holds no pt_stats map" >&2; return 1; }
	bpftool -j map lookup id "$id" key "$1" 0 0 0 2>/dev/null | jq -r '
		def le: [.[] | ltrimstr("0x") | explode | map(if . >= 97 then . - 87 else . - 48 end) | .[0] * 16 + .[1]]
			| reverse | reduce .[] as $b (0; . * 256 + $b);
		if .formatted then [.formatted.values[].value] | add
		else [.values[].value | le] | add end'
}
