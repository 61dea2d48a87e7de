# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Helpers of the reliability suites (tests/integration/test_reliability*.sh),
# on top of common.sh (source that first):
#   . "$(dirname "$0")/../lib/common.sh"
#   . "$(dirname "$0")/../lib/reliability.sh"

HOSTILE=$OUTPUT/tests/hostile

# ---- memory ------------------------------------------------------------------

# mem_used_kb: memory in use on the machine (MemTotal - MemAvailable), KiB.
# Kernel socket memory (skbs queued anywhere, psock queues included) shows
# here, while the per-socket counters miss the psock queue.
mem_used_kb() {
	awk '/^MemTotal:/ { t = $2 } /^MemAvailable:/ { a = $2 } END { print t - a }' /proc/meminfo
}

# tcp_buf_max rmem|wmem: the largest a TCP socket buffer may grow (bytes).
tcp_buf_max() {
	awk '{ print $3 }' "/proc/sys/net/ipv4/tcp_$1"
}

# mem_sampler_start FILE: sample mem_used_kb every 100 ms ("ms kib" lines,
# ms on the monotonic-ish clock of date +%s%3N).  Sets SAMPLER_PID.
mem_sampler_start() {
	(
		while :; do
			echo "$(date +%s%3N) $(mem_used_kb)"
			sleep 0.1
		done
	) >"$1" 2>/dev/null &
	SAMPLER_PID=$!
}

mem_sampler_stop() {
	[ -n "${SAMPLER_PID:-}" ] || return 0
	kill "$SAMPLER_PID" 2>/dev/null
	wait "$SAMPLER_PID" 2>/dev/null
	SAMPLER_PID=
}

# mem_median FILE FROM_MS TO_MS: the median of the samples taken in
# [FROM_MS, TO_MS] (KiB), or nothing if none.  A median, not a max: another
# process allocating for a moment (a compiler next door) is not ours.
mem_median() {
	awk -v a="$2" -v b="$3" '$1 >= a && $1 <= b { print $2 }' "$1" | sort -n |
		awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}

now_ms() { date +%s%3N; }

# ---- sockets -------------------------------------------------------------------

# ss_snap FILE: one consistent view of every connected TCP socket (one ss
# call, so figures of different sockets are comparable), a line each:
#   LOCAL_PORT PEER_PORT BYTES_ACKED BYTES_RECEIVED
ss_snap() {
	ss -Htni state connected 2>/dev/null | awk '
		/^[^ \t]/ { lp = $4; sub(/.*:/, "", lp); pp = $5; sub(/.*:/, "", pp); next }
		{
			a = 0; r = 0
			if (match($0, /bytes_acked:[0-9]+/)) a = substr($0, RSTART + 12, RLENGTH - 12)
			if (match($0, /bytes_received:[0-9]+/)) r = substr($0, RSTART + 15, RLENGTH - 15)
			print lp, pp, a, r
		}' >"$1"
}

# snap_sum FILE acked|received lport|pport PORT: the sum of a column over
# the sockets of a snapshot whose local (lport) or peer (pport) port is PORT.
snap_sum() {
	awk -v col="$2" -v side="$3" -v port="$4" '
		(side == "lport" ? $1 : $2) == port { s += (col == "acked" ? $3 : $4) }
		END { printf "%.0f\n", s }' "$1"
}

# ---- passthru ------------------------------------------------------------------

pt_fds() { ls "/proc/$PT_PID/fd" 2>/dev/null | wc -l; }
pt_rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$PT_PID/status" 2>/dev/null; }
# fd_kinds: what passthru's fds are ("12 socket 3 pipe 2 anon_inode:bpf-map").
fd_kinds() {
	ls -l "/proc/$PT_PID/fd" 2>/dev/null | awk 'NF > 3 { print $NF }' |
		sed -E 's/:\[[0-9]+\]$//; s/^\/.*/file/' | sort | uniq -c | sort -rn |
		awk '{ printf("%s%s %s", (NR > 1 ? ", " : ""), $1, $2) }'
}

# pt_sockets: passthru's TCP sockets as ss shows them (state, queues, ports).
pt_sockets() {
	ss -Htanp 2>/dev/null | grep "pid=$PT_PID," | awk '{ print $1, $2, $3, $4, $5 }'
}

pt_threads() { ls "/proc/$PT_PID/task" 2>/dev/null | wc -l; }

# conn_lines [PATTERN]: passthru's finished-connection log lines (matching
# the ERE PATTERN if given).
conn_lines() {
	grep -E ' conn client=.* end=' "$PT_LOG" | grep -E -- "${1:-.}"
}

# wait_conns N [TIMEOUT_S=10] [PATTERN]: until N conn lines (matching) are logged.
wait_conns() {
	wait_for "${2:-10}" _conns_at_least "$1" "${3:-.}"
}
_conns_at_least() { [ "$(conn_lines "$2" | wc -l)" -ge "$1" ]; }

# wait_fds N [TIMEOUT_S=10]: until passthru holds at most N fds.
wait_fds() {
	wait_for "${2:-10}" _fds_at_most "$1"
}
_fds_at_most() { [ "$(pt_fds)" -le "$1" ]; }

# san_build: whether passthru was built with sanitizers (RSS and CPU
# figures differ there).
san_build() { [ -n "${SAN:-}" ] || nm -an "$PASSTHRU" 2>/dev/null | grep -q __asan_init; }

# sha_file FILE: its sha256.
sha_file() { sha256sum "$1" | cut -d' ' -f1; }

# stream_sha BYTES SEED [PREFIX_FILE]: the sha256 of xfer's stream.
stream_sha() {
	if [ -n "${3:-}" ]; then
		"$XFER" gen --send "$1" --seed "$2" --prefix-file "$3"
	else
		"$XFER" gen --send "$1" --seed "$2"
	fi
}

# kv FILE KEY: KEY=value from the last line of a hostile report.
kv() { field "$@"; }
