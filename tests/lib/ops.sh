# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Helpers of the operations suites (tests/integration/test_ops*.sh: reload,
# drain, live upgrade, metrics, logs, privileges, packaging), on top of
# common.sh (source that first):
#   . "$(dirname "$0")/../lib/common.sh"
#   . "$(dirname "$0")/../lib/ops.sh"

# ---- metrics -------------------------------------------------------------------

# scrape ADDR:PORT FILE: GET /metrics into FILE (fails on any HTTP error).
scrape() {
	curl -sS --fail --max-time 5 "http://$1/metrics" >"$2"
}

# mval FILE NAME [LABELS]: the value of the sample `NAME{LABELS}` (LABELS
# exactly as rendered, e.g. listener="127.0.0.1:1",end="eof"), or of `NAME`
# without labels; nothing if there is no such sample.
mval() {
	local key=$2
	[ -n "${3:-}" ] && key="$2{$3}"
	awk -v k="$key" '
		/^#/ { next }
		match($0, / [^ ]+$/) && substr($0, 1, RSTART - 1) == k {
			print substr($0, RSTART + 1); exit
		}' "$1"
}

# mwant FILE NAME LABELS WANT: prints "NAME{LABELS} is V, want WANT" and
# returns 1 unless the sample exists and equals WANT.
mwant() {
	local v
	v=$(mval "$1" "$2" "$3")
	[ "$v" = "$4" ] && return 0
	echo "$2{$3} is ${v:-absent}, want $4"
	return 1
}

# ---- connection loops ----------------------------------------------------------

# A loop of short connections runs in the background until $D/stop exists
# and writes one line per connection to $D/NAME.loop: "SEQ RESULT", RESULT
# being what the upstream answered (http_loop) or "ok" (xfer_loop), else
# "FAIL:why".  LOOP_PIDS collects them; loops_stop ends them.
LOOP_PIDS=()

# http_loop NAME PORT HOST: curl http://HOST:PORT/ (to 127.0.0.1) again and
# again; RESULT is the body (an `xfer server --http NAME` says NAME).
http_loop() {
	local name=$1 port=$2 host=$3
	(
		i=0
		while [ ! -e "$D/stop" ]; do
			i=$((i + 1))
			if out=$(curl -sS --max-time 10 --resolve "$host:$port:127.0.0.1" \
				"http://$host:$port/" 2>&1) && [ -n "$out" ]; then
				echo "$i $out"
			else
				echo "$i FAIL:$(printf '%s' "$out" | tr '\n' ' ')"
			fi
		done >"$D/$name.loop"
	) &
	LOOP_PIDS+=($!)
}

# xfer_loop NAME PORT PREFIX_FILE BYTES: xfer clients, one after the other,
# each sending PREFIX_FILE then BYTES and expecting BYTES back (the upstream
# is an `xfer server --count 0 --send BYTES`), byte-exact.
xfer_loop() {
	local name=$1 port=$2 prefix=$3 bytes=$4
	(
		i=0
		while [ ! -e "$D/stop" ]; do
			i=$((i + 1))
			: >"$D/$name.one"
			if "$XFER" client --connect "127.0.0.1:$port" --prefix-file "$prefix" \
				--send "$bytes" --expect-recv "$bytes" --timeout-s 10 \
				--report "$D/$name.one" >/dev/null 2>&1; then
				echo "$i ok"
			else
				echo "$i FAIL:$(tail -n 1 "$D/$name.one")"
			fi
		done >"$D/$name.loop"
	) &
	LOOP_PIDS+=($!)
}

loops_stop() {
	local p
	touch "$D/stop"
	for p in "${LOOP_PIDS[@]}"; do
		wait_pid "$p" 20 || kill "$p" 2>/dev/null
	done
	LOOP_PIDS=()
	rm -f "$D/stop"
}

# loop_check NAME MIN: prints why and returns 1 unless the loop made at
# least MIN connections and none failed.
loop_check() {
	local n f min=$2
	# Under ASan + UBSan everything runs a few times slower.
	[ -n "${SAN:-}" ] && min=$(((min + 2) / 3))
	n=$(wc -l <"$D/$1.loop")
	f=$(grep -c ' FAIL:' "$D/$1.loop")
	if [ "$f" != 0 ]; then
		echo "loop $1: $f of $n connections failed, first: $(grep -m1 ' FAIL:' "$D/$1.loop")"
		return 1
	fi
	if [ "$n" -lt "$min" ]; then
		echo "loop $1: only $n connections, want >= $min (too slow to be a load)"
		return 1
	fi
}

# ---- passthru ------------------------------------------------------------------

# conn_line UPSTREAM_PORT [LOG...]: the last conn log line of a connection
# forwarded to 127.0.0.1:UPSTREAM_PORT (default log: $PT_LOG).
conn_line() {
	local p=$1
	shift
	grep -hE "conn .*upstream=127\.0\.0\.1:$p " "${@:-$PT_LOG}" 2>/dev/null | tail -n 1
}

# reloads_done: how many "reload: applied" lines $PT_LOG has.
reloads_done() { grep -c 'reload: applied' "$PT_LOG"; }

# pt_reload N: SIGHUP passthru and wait for the N-th "reload: applied".
pt_reload() {
	kill -HUP "$PT_PID" || return 1
	wait_for 10 eval '[ "$(reloads_done)" -ge '"$1"' ]'
}

# refused PORT: a TCP connect to 127.0.0.1:PORT is refused (nothing listens
# and nothing accepts), within 3 s.
refused() {
	! timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# pt_takeover CFG LOG [ARGS...]: start a successor `passthru -c CFG
# --takeover ARGS` (log in LOG) and wait until the running one ($PT_PID) has
# exited; then PT_PID is the successor and OLD_RC the predecessor's exit
# status.  Returns 1, with the reason in TK_WHY, if the predecessor still
# runs 15 s later or the successor did not start; PT_PID is then whichever
# still runs (the predecessor, carrying on, is kept; the successor killed).
pt_takeover() {
	local cfg=$1 log=$2 new
	shift 2
	OLD_PID=$PT_PID TK_WHY=
	"$PASSTHRU" -c "$cfg" --takeover "$@" >"$log" 2>&1 &
	new=$!
	wait_pid "$OLD_PID" 15
	OLD_RC=$?
	if [ "$OLD_RC" = 124 ]; then
		TK_WHY="the old passthru (pid $OLD_PID) still runs 15 s after --takeover"
	elif ! wait_for 10 grep -q ' started: ' "$log" || ! _alive "$new"; then
		TK_WHY="the successor did not start"
	fi
	if [ -n "$TK_WHY" ]; then
		TK_WHY="$TK_WHY; new: $(tail -n 3 "$log" | tr '\n' ' ')old: $(tail -n 2 "$PT_LOG" | tr '\n' ' ')"
		if _alive "$OLD_PID"; then
			kill -KILL "$new" 2>/dev/null
			wait "$new" 2>/dev/null
		elif _alive "$new"; then
			PT_PID=$new
		else
			PT_PID=
		fi
		return 1
	fi
	PT_PID=$new
}

# pt_wait_exit TIMEOUT_S: wait for passthru to exit by itself (after a
# SIGTERM); sets PT_RC (124: still running) and PT_MS (how long it took),
# and forgets PT_PID once it has exited.
pt_wait_exit() {
	local t0
	t0=$(date +%s%3N)
	wait_pid "$PT_PID" "$1"
	PT_RC=$?
	PT_MS=$(($(date +%s%3N) - t0))
	[ "$PT_RC" = 124 ] || PT_PID=
}

# proxy_v1 SRC_IP SRC_PORT DST_IP DST_PORT: a PROXY protocol v1 line.
proxy_v1() { printf 'PROXY TCP4 %s %s %s %s\r\n' "$1" "$3" "$2" "$4"; }

sha256() { sha256sum "$1" | cut -d' ' -f1; }

# trace WORDS: a timestamped line in $D/trace (what the test did when).
trace() { echo "$(date +%T.%3N) $*" >>"$D/trace"; }
