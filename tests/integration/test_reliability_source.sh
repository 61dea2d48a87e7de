#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Per-source limits (max_conns_per_source, new_conns_per_source,
# source_exempt): one source (127.0.0.2) opening connections is reset past
# its limit while another (127.0.0.3) gets through every time; the counts
# go down as connections end, survive a reload that changes the limit and
# a live upgrade; behind accept_proxy the client the PROXY header names is
# what counts; metrics, `passthru stats` and the rate-limited log lines
# agree with the traffic.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/ops.sh"
. "$(dirname "$0")/../lib/reliability.sh"

require_root
require_cmd "$PASSTHRU" "$XFER" "$HOSTILE" ss curl

A=127.0.0.2 B=127.0.0.3

# s_cfg LIMITS [LISTENER_EXTRA]: $D/c.json, one listener on 127.0.0.1:$PT
# with the listener keys LIMITS, "Host a.example" to the HTTP upstream
# $PA.  Silent clients stay in sniffing (10 s) and never reach it.
s_cfg() {
	cat >"$D/c.json" <<-EOF
	{"metrics":"127.0.0.1:$PM","control_socket":"$D/ctl.sock","sniff_timeout":"10s",
	 "servers":{"127.0.0.1:$PT":{$1 ${2:-}
	   "HTTP":{"Host a.example":{"action":"FORWARD","to_addr":"127.0.0.1:$PA"}}}}}
	EOF
}

# s_start LIMITS [LISTENER_EXTRA]: ports, upstream, config, passthru.
s_start() {
	PT=$(free_port) PA=$(free_port) PM=$(free_port)
	s_cfg "$@"
	xfer_server up "127.0.0.1:$PA" --count 0 --http upstream-a || { fail "$CUR_TEST" "xfer server"; return 1; }
	pt_start "$D/c.json" || return 1
	LST="listener=\"127.0.0.1:$PT\""
}

# get SRC: one HTTP request from address SRC; prints the body, or
# FAIL:curl's error.
get() {
	local out
	if out=$(curl -sS --max-time 5 --interface "$1" --resolve "a.example:$PT:127.0.0.1" \
		"http://a.example:$PT/" 2>&1); then
		echo "$out"
	else
		echo "FAIL:$out"
	fi
}

# got_reset RESULT: get's answer is a reset (the refusal), not a timeout
# nor a FIN.
got_reset() { [[ $1 == FAIL:*"reset by peer"* || $1 == FAIL:*"(7) Failed to connect"* ]]; }

# hold NAME SRC COUNT HOLD_S [ARGS...]: COUNT silent connections from SRC
# (default 127.0.0.1) in the background (report $D/NAME.rep), held HOLD_S
# s; waits until all are open or refused.  Not in $(...), which would wait
# for the holder: on failure the reason is in WHY.
hold() {
	local name=$1 src=$2 n=$3 s=$4
	shift 4
	"$HOSTILE" hold --connect "127.0.0.1:$PT" ${src:+--src "$src"} --count "$n" --hold-s "$s" \
		--ready "$D/$name.ready" --report "$D/$name.rep" "$@" >/dev/null 2>"$D/$name.err" &
	wait_for 5 test -s "$D/$name.ready" || { WHY="holder $name not ready: $(cat "$D/$name.err")"; return 1; }
	# A refusal is a reset right after accept: let the holder see them.
	sleep 0.3
}

# held NAME OPEN REFUSED: once the holder is done, OPEN connections were
# held to the end and REFUSED reset (some before the client saw its
# connect complete: "failed").
held() {
	local rep=$D/$1.rep o r
	wait_for 20 test -s "$rep" || { echo "holder $1 did not report"; return 1; }
	o=$(field "$rep" open) r=$(($(field "$rep" rst) + $(field "$rep" failed)))
	[ "$o" = "$2" ] && [ "$r" = "$3" ] && [ "$(field "$rep" eof)" = 0 ] && return 0
	echo "holder $1: want $2 open and $3 reset, got: $(cat "$rep")"
	return 1
}

# all_ok SRC N: N requests from SRC, all answered.
all_ok() {
	local i r
	for ((i = 1; i <= $2; i++)); do
		r=$(get "$1")
		[ "$r" = upstream-a ] || { echo "request $i of $2 from $1: $r"; return 1; }
	done
}

# idle: passthru holds no connection any more (its metrics say).
idle() {
	scrape "127.0.0.1:$PM" "$D/idle.m" && [ "$(mval "$D/idle.m" passthru_connections_active "$LST")" = 0 ]
}

# lines PATTERN: how many source-limit log lines match PATTERN.
lines() { grep -c "source-limit listen=127\.0\.0\.1:$PT $1" "$PT_LOG"; }

# ---- max_conns_per_source ------------------------------------------------------

# A holds 10 silent connections with a limit of 4: 4 stay, 6 are reset;
# meanwhile A's request is refused and B's 8 all succeed.  Once A's are
# closed, A gets in again (each connection counted down when it ends).
t_conns() {
	newdir
	local r why
	s_start '"max_conns_per_source": 4,' || return
	hold a "$A" 10 3 || { fail "$CUR_TEST" "$WHY"; return; }
	why=$(all_ok "$B" 8) || { fail "$CUR_TEST" "another source was refused: $why"; return; }
	r=$(get "$A")
	got_reset "$r" || { fail "$CUR_TEST" "a 5th connection from $A: $r, want a reset"; return; }
	why=$(held a 4 6) || { fail "$CUR_TEST" "$why"; return; }
	wait_for 10 idle || { fail "$CUR_TEST" "connections still open 10 s after the clients left"; return; }
	r=$(get "$A")
	[ "$r" = upstream-a ] || { fail "$CUR_TEST" "$A after its connections closed: $r"; return; }
	wait_for 5 idle
	scrape "127.0.0.1:$PM" "$D/m" || { fail "$CUR_TEST" "scrape failed"; return; }
	why=$(mwant "$D/m" passthru_source_refused_total "$LST,limit=\"conns\"" 7 &&
		mwant "$D/m" passthru_source_refused_total "$LST,limit=\"rate\"" 0 &&
		mwant "$D/m" passthru_connections_accepted_total "$LST" 13 &&
		mwant "$D/m" passthru_source_untracked_total "$LST" 0 &&
		mwant "$D/m" passthru_sources_tracked "$LST" 0) || { fail "$CUR_TEST" "$why"; return; }
	# One conn line per connection accepted, none for the 7 refused; a
	# source-limit line at the first refusal (the next is 10 s later), and
	# none about B.
	r=$(grep -c " conn client=" "$PT_LOG")
	[ "$r" = 13 ] || { fail "$CUR_TEST" "$r conn log lines, want 13 (refusals write none)"; return; }
	[ "$(lines "source=$A/32 refused_conns=1 refused_rate=0 open=4 since_ms=0")" = 1 ] &&
		[ "$(lines "source=$B")" = 0 ] ||
		{ fail "$CUR_TEST" "want one source-limit line for $A/32: $(grep source-limit "$PT_LOG")"; return; }
	"$PASSTHRU" stats --metrics "127.0.0.1:$PM" >"$D/stats.txt" 2>&1
	grep -qE "^127\.0\.0\.1:$PT +13 +0 +0 +7 +0 +0 *$" "$D/stats.txt" ||
		{ fail "$CUR_TEST" "passthru stats: no row '127.0.0.1:$PT 13 0 0 7 0 0': $(head -n 2 "$D/stats.txt")"; return; }
	pass "$CUR_TEST"
}

# ---- new_conns_per_source ------------------------------------------------------

# 1 a minute, burst 5: A's loop of 12 gets 5 through and 7 reset, B's 5
# interleaved with it all succeed.  The log has one line at A's first
# refusal, then (from the main thread's flush, 10 s later) one with the 6
# that came after it.
t_rate() {
	newdir
	local r i ok=0 why
	s_start '"new_conns_per_source": {"rate": "1/m", "burst": 5},' || return
	for ((i = 1; i <= 12; i++)); do
		r=$(get "$A")
		if [ "$r" = upstream-a ]; then
			ok=$((ok + 1))
		elif ! got_reset "$r"; then
			fail "$CUR_TEST" "request $i from $A: $r, want an answer or a reset"
			return
		fi
		if [ "$i" -le 5 ]; then
			r=$(get "$B")
			[ "$r" = upstream-a ] || { fail "$CUR_TEST" "request $i from $B: $r"; return; }
		fi
	done
	[ "$ok" = 5 ] || { fail "$CUR_TEST" "$ok of 12 requests from $A got through, want the burst of 5"; return; }
	wait_for 5 idle
	scrape "127.0.0.1:$PM" "$D/m" || { fail "$CUR_TEST" "scrape failed"; return; }
	why=$(mwant "$D/m" passthru_source_refused_total "$LST,limit=\"rate\"" 7 &&
		mwant "$D/m" passthru_source_refused_total "$LST,limit=\"conns\"" 0 &&
		mwant "$D/m" passthru_connections_accepted_total "$LST" 10 &&
		mwant "$D/m" passthru_sources_tracked "$LST" 2) || { fail "$CUR_TEST" "$why"; return; }
	[ "$(lines "source=$A/32 refused_conns=0 refused_rate=1 open=0 since_ms=0")" = 1 ] ||
		{ fail "$CUR_TEST" "no line for $A's first refusal: $(grep source-limit "$PT_LOG")"; return; }
	wait_log "source-limit listen=127\.0\.0\.1:$PT source=$A/32 refused_conns=0 refused_rate=6 open=0 since_ms=1[0-9]{4}$" 14 ||
		{ fail "$CUR_TEST" "no line with the 6 later refusals 10 s on: $(grep source-limit "$PT_LOG")"; return; }
	[ "$(lines "")" = 2 ] || { fail "$CUR_TEST" "want 2 source-limit lines: $(grep source-limit "$PT_LOG")"; return; }
	pass "$CUR_TEST"
}

# ---- source_exempt ---------------------------------------------------------------

# One connection and one a minute per source, A exempt: A holds 5 and
# makes 3 more requests, all fine, and is not tracked; B gets its one.
t_exempt() {
	newdir
	local r why
	s_start '"max_conns_per_source": 1, "new_conns_per_source": {"rate": "1/m", "burst": 1},
	         "source_exempt": ["10.0.0.0/8", "127.0.0.2/32"],' || return
	hold a "$A" 5 3 || { fail "$CUR_TEST" "$WHY"; return; }
	why=$(all_ok "$A" 3) || { fail "$CUR_TEST" "the exempt source was refused: $why"; return; }
	hold b "$B" 2 1 || { fail "$CUR_TEST" "$WHY"; return; }
	why=$(held b 1 1) || { fail "$CUR_TEST" "$why"; return; }
	why=$(held a 5 0) || { fail "$CUR_TEST" "the exempt source: $why"; return; }
	scrape "127.0.0.1:$PM" "$D/m" || { fail "$CUR_TEST" "scrape failed"; return; }
	why=$(mwant "$D/m" passthru_source_refused_total "$LST,limit=\"conns\"" 1 &&
		mwant "$D/m" passthru_source_refused_total "$LST,limit=\"rate\"" 0 &&
		mwant "$D/m" passthru_connections_accepted_total "$LST" 9 &&
		mwant "$D/m" passthru_sources_tracked "$LST" 1) || { fail "$CUR_TEST" "$why"; return; }
	[ "$(lines "source=$A")" = 0 ] || { fail "$CUR_TEST" "a source-limit line about the exempt source"; return; }
	pass "$CUR_TEST"
}

# ---- reload ---------------------------------------------------------------------------

# A holds 2 with a limit of 2; the reload raises it to 4 while they stay
# open: they still count, so 2 of A's next 3 get in.  B is never refused.
t_reload() {
	newdir
	local r why
	s_start '"max_conns_per_source": 2,' || return
	hold a "$A" 2 8 || { fail "$CUR_TEST" "$WHY"; return; }
	r=$(get "$A")
	got_reset "$r" || { fail "$CUR_TEST" "a 3rd connection from $A: $r, want a reset"; return; }
	s_cfg '"max_conns_per_source": 4,'
	pt_reload 1 || { fail "$CUR_TEST" "reload not applied: $(tail -n 2 "$PT_LOG")"; return; }
	hold a2 "$A" 3 1 || { fail "$CUR_TEST" "$WHY"; return; }
	why=$(held a2 2 1) || { fail "$CUR_TEST" "after the reload (limit 4, 2 open): $why"; return; }
	why=$(all_ok "$B" 4) || { fail "$CUR_TEST" "another source was refused: $why"; return; }
	why=$(held a 2 0) || { fail "$CUR_TEST" "$why"; return; }
	scrape "127.0.0.1:$PM" "$D/m" || { fail "$CUR_TEST" "scrape failed"; return; }
	why=$(mwant "$D/m" passthru_source_refused_total "$LST,limit=\"conns\"" 2 &&
		mwant "$D/m" passthru_config_reloads_total "" 1) || { fail "$CUR_TEST" "$why"; return; }
	pass "$CUR_TEST"
}

# ---- accept_proxy ------------------------------------------------------------------

# The load balancer (127.0.0.1) is trusted: what counts is the client its
# PROXY header names.  3 connections naming 192.0.2.7 with a limit of 2:
# one is reset after its header; 2 naming 192.0.2.8 are fine; the
# balancer itself holds 4, over the limit, and is never refused.
t_proxy() {
	newdir
	local why
	s_start '"max_conns_per_source": 2,' '"accept_proxy": ["127.0.0.1/32"],' || return
	proxy_v1 192.0.2.7 40007 127.0.0.1 "$PT" >"$D/p7"
	proxy_v1 192.0.2.8 40008 127.0.0.1 "$PT" >"$D/p8"
	hold c7 "" 3 2 --prefix-file "$D/p7" || { fail "$CUR_TEST" "$WHY"; return; }
	hold c8 "" 2 1 --prefix-file "$D/p8" || { fail "$CUR_TEST" "$WHY"; return; }
	why=$(held c8 2 0) || { fail "$CUR_TEST" "192.0.2.8: $why"; return; }
	why=$(held c7 2 1) || { fail "$CUR_TEST" "192.0.2.7: $why"; return; }
	scrape "127.0.0.1:$PM" "$D/m" || { fail "$CUR_TEST" "scrape failed"; return; }
	why=$(mwant "$D/m" passthru_source_refused_total "$LST,limit=\"conns\"" 1 &&
		mwant "$D/m" passthru_connections_accepted_total "$LST" 5 &&
		mwant "$D/m" passthru_connections_ended_total "$LST,end=\"source_limit\"" 1) ||
		{ fail "$CUR_TEST" "$why"; return; }
	[ "$(lines "source=192\.0\.2\.7/32 refused_conns=1 ")" = 1 ] ||
		{ fail "$CUR_TEST" "no source-limit line for 192.0.2.7: $(grep source-limit "$PT_LOG")"; return; }
	grep -q "end=source-limit" "$PT_LOG" && { fail "$CUR_TEST" "a conn line for the refused connection"; return; }
	pass "$CUR_TEST"
}

# ---- live upgrade ---------------------------------------------------------------------

# A holds 2 with a limit of 2 across a --takeover: the successor counts
# the connections it took over (A's next is reset, B's fine), and counts
# them down when they end (A gets in again).
t_takeover() {
	newdir
	local r why log2=$D/gen2.log
	s_start '"max_conns_per_source": 2,' || return
	hold a "$A" 2 4 || { fail "$CUR_TEST" "$WHY"; return; }
	pt_takeover "$D/c.json" "$log2" || { fail "$CUR_TEST" "$TK_WHY"; return; }
	r=$(get "$A")
	got_reset "$r" || { fail "$CUR_TEST" "after the upgrade, a 3rd connection from $A: $r, want a reset"; return; }
	why=$(all_ok "$B" 3) || { fail "$CUR_TEST" "another source was refused: $why"; return; }
	why=$(held a 2 0) || { fail "$CUR_TEST" "$why"; return; }
	wait_for 10 idle
	r=$(get "$A")
	[ "$r" = upstream-a ] || { fail "$CUR_TEST" "$A once its connections ended in the successor: $r"; return; }
	pass "$CUR_TEST"
}

R=reliability/source
run_test $R/conns-limit-one-source-refused-other-served t_conns
run_test $R/rate-limit-one-source-refused-other-served t_rate
run_test $R/exempt-source-not-limited t_exempt
run_test $R/reload-changes-limit-counts-kept t_reload
run_test $R/proxy-protocol-client-counted t_proxy
run_test $R/takeover-keeps-counts t_takeover
