#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Operations, observability: the Prometheus metrics and `passthru stats`
# checked against known traffic, and the log formats (JSON lines, journal
# priorities, levels).
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/ops.sh"

require_root
require_cmd "$PASSTHRU" "$XFER" "$MKHELLO" ss curl jq

MODE=sockmap
fwd() { printf '{"action":"FORWARD","to_addr":"127.0.0.1:%s"}' "$1"; }

# ---- metrics -----------------------------------------------------------------

# Known traffic on one listener, then every counter checked exactly:
#   3 x SNI a.example    FORWARD, hello + 100000 up, 200000 down
#   2 x Host b.example   FORWARD, request + 50000 up, 70000 down
#   2 x SNI r.example    REJECT
#   1 x SNI down.example FORWARD to a closed port (upstream refused)
#   1 x silent client    sniff timeout -> listener CATCHALL, 1000 up, 4096 down
t_metrics() {
	newdir
	local pt pm pa pb pc pdown hla req hlb i why= k0 k1 total lst up down
	pt=$(free_port) pm=$(free_port) pa=$(free_port) pb=$(free_port) pc=$(free_port) pdown=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"version":"v0.2.0","control_socket":"$D/ctl.sock","metrics":"127.0.0.1:$pm","sniff_timeout":"500ms",
	 "servers":{"127.0.0.1:$pt":{
	  "TLS":{"SNI a.example":$(fwd "$pa"),"SNI r.example":{"action":"REJECT"},
	         "SNI down.example":$(fwd "$pdown")},
	  "HTTP":{"Host b.example":$(fwd "$pb")},
	  "CATCHALL":{"CATCHALL":$(fwd "$pc")}}}}
	EOF
	"$MKHELLO" --sni a.example >"$D/a.hello" && "$MKHELLO" --sni r.example >"$D/r.hello" &&
		"$MKHELLO" --sni down.example >"$D/down.hello" || { fail "$CUR_TEST" "mkhello failed"; return; }
	printf 'POST /upload HTTP/1.1\r\nHost: b.example\r\nContent-Length: 50000\r\n\r\n' >"$D/b.req"
	hla=$(size "$D/a.hello") hlb=$(size "$D/b.req")
	# Rate-limited both ways, so every socket is still ESTABLISHED when it
	# joins the sockmap (one that got a FIN would take splice).
	xfer_server a "127.0.0.1:$pa" --count 3 --send 200000 --rate 2m &&
		xfer_server b "127.0.0.1:$pb" --count 2 --send 70000 --rate 1m &&
		xfer_server c "127.0.0.1:$pc" --mode send-first --send 4096 ||
		{ fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" --mode "$MODE" || return
	scrape "127.0.0.1:$pm" "$D/m0" || { fail "$CUR_TEST" "cannot scrape http://127.0.0.1:$pm/metrics"; return; }
	k0=$(mval "$D/m0" passthru_kernel_redirected_bytes_total)

	for i in 1 2 3; do
		xfer_client a$i "127.0.0.1:$pt" --prefix-file "$D/a.hello" --send 100000 --rate 2m --timeout-s 20 ||
			why="SNI a.example client $i: $(tail -n 1 "$D/a$i.rep")"
	done
	for i in 1 2; do
		xfer_client b$i "127.0.0.1:$pt" --prefix-file "$D/b.req" --send 50000 --rate 1m --timeout-s 20 ||
			why="Host b.example client $i: $(tail -n 1 "$D/b$i.rep")"
		xfer_client r$i "127.0.0.1:$pt" --prefix-file "$D/r.hello" --mode recv-first --send 0 --timeout-s 20 ||
			why="rejected client $i: $(tail -n 1 "$D/r$i.rep")"
	done
	xfer_client down "127.0.0.1:$pt" --prefix-file "$D/down.hello" --mode recv-first --send 0 --timeout-s 20
	xfer_client silent "127.0.0.1:$pt" --mode recv-first --send 1000 --rate 100k --timeout-s 20 ||
		why="silent client: $(tail -n 1 "$D/silent.rep")"
	[ -z "$why" ] || { fail "$CUR_TEST" "$why"; return; }
	wait_for 5 eval '[ "$(grep -c " conn " "$PT_LOG")" -ge 9 ]' ||
		{ fail "$CUR_TEST" "want 9 conn log lines, got $(grep -c ' conn ' "$PT_LOG")"; return; }
	for i in 1 2 3; do
		sed -n "${i}p" "$D/a.rep" >"$D/a$i.srv"
		why=$(check_transfer "$D/a$i.rep" "$D/a$i.srv" $((hla + 100000)) 200000) ||
			{ fail "$CUR_TEST" "SNI a.example connection $i: $why"; return; }
	done
	if [ "$MODE" = sockmap ]; then
		i=$(grep ' conn ' "$PT_LOG" | grep ' action=FORWARD ' | grep -v 'end=upstream' | grep -vc ' path=sockmap ')
		[ "$i" = 0 ] || { fail "$CUR_TEST" "$i forwarded connections did not take the sockmap path (the byte check needs it): $(grep ' conn ' "$PT_LOG" | grep ' action=FORWARD ' | grep -v ' path=sockmap ' | head -n 1)"; return; }
	fi

	scrape "127.0.0.1:$pm" "$D/m" || { fail "$CUR_TEST" "cannot scrape the metrics"; return; }
	lst="listener=\"127.0.0.1:$pt\""
	local ra="$lst,proto=\"TLS\",rule=\"SNI a.example\"" rr="$lst,proto=\"TLS\",rule=\"SNI r.example\""
	local rd="$lst,proto=\"TLS\",rule=\"SNI down.example\"" rb="$lst,proto=\"HTTP\",rule=\"Host b.example\""
	local rc="$lst,proto=\"CATCHALL\",rule=\"CATCHALL\""
	local a_up=$((3 * (hla + 100000))) a_down=600000 b_up=$((2 * (hlb + 50000))) b_down=140000
	why=$(
		mwant "$D/m" passthru_info "version=\"$("$PASSTHRU" --version | awk '{ print $2 }')\",path=\"$MODE\"" 1 &&
		mwant "$D/m" passthru_connections_accepted_total "$lst" 9 &&
		mwant "$D/m" passthru_connections_active "$lst" 0 &&
		mwant "$D/m" passthru_sniff_timeouts_total "$lst" 1 &&
		mwant "$D/m" passthru_connections_ended_total "$lst,end=\"eof\"" 6 &&
		mwant "$D/m" passthru_connections_ended_total "$lst,end=\"reject\"" 2 &&
		mwant "$D/m" passthru_connections_ended_total "$lst,end=\"upstream_refused\"" 1 &&
		mwant "$D/m" passthru_rule_matched_total "$ra" 3 &&
		mwant "$D/m" passthru_rule_matched_total "$rb" 2 &&
		mwant "$D/m" passthru_rule_matched_total "$rr" 2 &&
		mwant "$D/m" passthru_rule_matched_total "$rd" 1 &&
		mwant "$D/m" passthru_rule_matched_total "$rc" 1 &&
		mwant "$D/m" passthru_rule_forwarded_total "$ra" 3 &&
		mwant "$D/m" passthru_rule_forwarded_total "$rb" 2 &&
		mwant "$D/m" passthru_rule_forwarded_total "$rc" 1 &&
		mwant "$D/m" passthru_rule_forwarded_total "$rr" 0 &&
		mwant "$D/m" passthru_rule_forwarded_total "$rd" 0 &&
		mwant "$D/m" passthru_rule_rejected_total "$rr" 2 &&
		mwant "$D/m" passthru_rule_rejected_total "$ra" 0 &&
		mwant "$D/m" passthru_rule_upstream_errors_total "$rd" 1 &&
		mwant "$D/m" passthru_rule_upstream_errors_total "$ra" 0 &&
		mwant "$D/m" passthru_rule_bytes_total "$ra,direction=\"up\"" "$a_up" &&
		mwant "$D/m" passthru_rule_bytes_total "$ra,direction=\"down\"" "$a_down" &&
		mwant "$D/m" passthru_rule_bytes_total "$rb,direction=\"up\"" "$b_up" &&
		mwant "$D/m" passthru_rule_bytes_total "$rb,direction=\"down\"" "$b_down" &&
		mwant "$D/m" passthru_rule_bytes_total "$rc,direction=\"up\"" 1000 &&
		mwant "$D/m" passthru_rule_bytes_total "$rc,direction=\"down\"" 4096 &&
		mwant "$D/m" passthru_rule_bytes_total "$rr,direction=\"up\"" 0 &&
		mwant "$D/m" passthru_rule_bytes_total "$rd,direction=\"up\"" 0 &&
		for r in "$ra" "$rb" "$rr" "$rd" "$rc"; do mwant "$D/m" passthru_rule_active "$r" 0 || exit 1; done
	) || { fail "$CUR_TEST" "$why"; return; }
	total=$((a_up + a_down + b_up + b_down + 1000 + 4096))
	if [ "$MODE" = sockmap ]; then
		k1=$(mval "$D/m" passthru_kernel_redirected_bytes_total)
		[ -n "$k0" ] && [ -n "$k1" ] && [ $((k1 - k0)) -ge "$total" ] ||
			{ fail "$CUR_TEST" "passthru_kernel_redirected_bytes_total grew by $((${k1:-0} - ${k0:-0})), want >= $total (every byte forwarded)"; return; }
	fi

	# passthru stats --json: valid JSON, and the same numbers.
	if ! "$PASSTHRU" stats --metrics "127.0.0.1:$pm" --json >"$D/stats.json" 2>"$D/stats.err" ||
	   ! jq -e . "$D/stats.json" >/dev/null 2>&1; then
		fail "$CUR_TEST" "passthru stats --json: exit or invalid JSON: $(head -c 300 "$D/stats.json") $(cat "$D/stats.err")"
		return
	fi
	why=$(jq -r --arg l "127.0.0.1:$pt" '
		def want(v; w; what): if v == w then empty else "\(what) is \(v), want \(w)" end;
		(.listeners[] | select(.listener == $l)) as $L |
		want($L.accepted; 9; "accepted"), want($L.active; 0; "active"), want($L.sniff_timeouts; 1; "sniff_timeouts"),
		(.rules[] | select(.listener == $l) |
			. as $r | {"SNI a.example": [3,3,0,0,'"$a_up"','"$a_down"'], "Host b.example": [2,2,0,0,'"$b_up"','"$b_down"'],
			 "SNI r.example": [2,0,2,0,0,0], "SNI down.example": [1,0,0,1,0,0], "CATCHALL": [1,1,0,0,1000,4096]}[$r.rule] as $w |
			if $w == null then "unexpected rule \($r.rule)" else
			want([$r.matched, $r.forwarded, $r.rejected, $r.upstream_errors, $r.bytes_up, $r.bytes_down]; $w;
			     "rule \($r.rule) [matched,forwarded,rejected,upstream_errors,bytes_up,bytes_down]"),
			want($r.active; 0; "rule \($r.rule) active") end),
		(if ([.rules[] | select(.listener == $l)] | length) == 5 then empty else "want 5 rules" end),
		(if (.kernel | type) == "object" then empty else "no kernel object" end)
		' "$D/stats.json" 2>&1 | head -n 3)
	[ -z "$why" ] || { fail "$CUR_TEST" "passthru stats --json: $why"; return; }
	# The table (-c FILE finds the endpoint): a row per rule with its numbers.
	"$PASSTHRU" stats -c "$D/c.json" >"$D/stats.txt" 2>&1 ||
		{ fail "$CUR_TEST" "passthru stats -c: $(cat "$D/stats.txt")"; return; }
	for i in "TLS +SNI a\.example +3 +3 +0 +0 +0 +$a_up +$a_down" "HTTP +Host b\.example +2 +2 +0 +0 +0 +$b_up +$b_down" \
		 "TLS +SNI r\.example +2 +0 +2 +0 +0 +0 +0" "TLS +SNI down\.example +1 +0 +0 +1 +0 +0 +0" \
		 "CATCHALL +CATCHALL +1 +1 +0 +0 +0 +1000 +4096"; do
		grep -qE "^127\.0\.0\.1:$pt +$i *$" "$D/stats.txt" ||
			{ fail "$CUR_TEST" "passthru stats: no row matching '$i': $(cat "$D/stats.txt")"; return; }
	done
	grep -qE "^127\.0\.0\.1:$pt +9 +0 +1 +0 +0 +- *$" "$D/stats.txt" ||
		{ fail "$CUR_TEST" "passthru stats: no listener row '127.0.0.1:$pt 9 0 1': $(head -n 3 "$D/stats.txt")"; return; }
	pass "$CUR_TEST"
}

# Counters are live: during a transfer, active is 1 and the kernel bytes
# grow; the per-rule bytes appear when it ends.
t_metrics_live() {
	newdir
	local pt pm pa hl k0 k1 cli why
	pt=$(free_port) pm=$(free_port) pa=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"version":"v0.2.0","control_socket":"$D/ctl.sock","metrics":"127.0.0.1:$pm",
	 "servers":{"127.0.0.1:$pt":{"TLS":{"SNI a.example":$(fwd "$pa")}}}}
	EOF
	"$MKHELLO" --sni a.example >"$D/hello"
	hl=$(size "$D/hello")
	xfer_server up "127.0.0.1:$pa" --mode recv-first --send 0 || { fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" --mode sockmap || return
	xfer_client cli "127.0.0.1:$pt" --prefix-file "$D/hello" --mode send-first --send 20m --rate 10m --timeout-s 20 &
	cli=$!
	sleep 0.7
	scrape "127.0.0.1:$pm" "$D/m1" || { fail "$CUR_TEST" "scrape failed"; return; }
	sleep 0.5
	scrape "127.0.0.1:$pm" "$D/m2" || { fail "$CUR_TEST" "scrape failed"; return; }
	k0=$(mval "$D/m1" passthru_kernel_redirected_bytes_total) k1=$(mval "$D/m2" passthru_kernel_redirected_bytes_total)
	_alive "$cli" || { fail "$CUR_TEST" "the transfer was over too soon: $(tail -n 1 "$D/cli.rep")"; return; }
	why=$(mwant "$D/m1" passthru_connections_active "listener=\"127.0.0.1:$pt\"" 1 &&
	      mwant "$D/m2" passthru_rule_active "listener=\"127.0.0.1:$pt\",proto=\"TLS\",rule=\"SNI a.example\"" 1) ||
		{ fail "$CUR_TEST" "during the transfer: $why"; return; }
	[ $((k1 - k0)) -ge $((2 << 20)) ] ||
		{ fail "$CUR_TEST" "passthru_kernel_redirected_bytes_total grew by $((k1 - k0)) in 0.5 s of a 10 MB/s transfer, want >= 2 MiB (live)"; return; }
	wait_pid "$cli" 20
	why=$(check_transfer "$D/cli.rep" "$D/up.rep" $((hl + (20 << 20))) 0) || { fail "$CUR_TEST" "$why"; return; }
	wait_for 5 eval 'scrape "127.0.0.1:$pm" "$D/m3" && [ "$(mval "$D/m3" passthru_connections_active "listener=\"127.0.0.1:$pt\"")" = 0 ]'
	why=$(mwant "$D/m3" passthru_connections_active "listener=\"127.0.0.1:$pt\"" 0 &&
	      mwant "$D/m3" passthru_rule_bytes_total "listener=\"127.0.0.1:$pt\",proto=\"TLS\",rule=\"SNI a.example\",direction=\"up\"" $((hl + (20 << 20)))) ||
		{ fail "$CUR_TEST" "after the transfer: $why"; return; }
	pass "$CUR_TEST"
}

# Reloads that rename a rule: a removed rule's series stay while a
# connection it routed lives (and that connection's bytes are counted
# there), then leave; twenty renames leave one rule's series, not twenty.
t_metrics_removed_rules() {
	newdir
	local pt pm pk i hl cli why= keep lst
	pt=$(free_port) pm=$(free_port) pk=$(free_port)
	lst="listener=\"127.0.0.1:$pt\""
	keep="$lst,proto=\"TLS\",rule=\"SNI keep.example\""
	"$MKHELLO" --sni keep.example >"$D/k.hello" && "$MKHELLO" --sni r0.example >"$D/r.hello" ||
		{ fail "$CUR_TEST" "mkhello failed"; return; }
	hl=$(size "$D/k.hello")
	cat >"$D/c.json" <<-EOF
	{"metrics":"127.0.0.1:$pm","servers":{"127.0.0.1:$pt":{"TLS":{
	 "SNI r0.example":{"action":"REJECT"},"SNI keep.example":$(fwd "$pk")}}}}
	EOF
	xfer_server up "127.0.0.1:$pk" --mode recv-first --send 0 || { fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" || return
	xfer_client r "127.0.0.1:$pt" --prefix-file "$D/r.hello" --mode recv-first --send 0 --timeout-s 10
	xfer_client cli "127.0.0.1:$pt" --prefix-file "$D/k.hello" --mode send-first --send 3m --rate 1m --timeout-s 20 &
	cli=$!
	wait_for 5 eval 'scrape "127.0.0.1:$pm" "$D/m0" && [ "$(mval "$D/m0" passthru_rule_active "$keep")" = 1 ]' ||
		{ fail "$CUR_TEST" "the kept connection is not active under its rule: $(grep rule_active "$D/m0" | head -n 3)"; return; }
	for i in $(seq 1 20); do
		cat >"$D/c.json" <<-EOF
		{"metrics":"127.0.0.1:$pm","servers":{"127.0.0.1:$pt":{"TLS":{"SNI r$i.example":{"action":"REJECT"}}}}}
		EOF
		pt_reload "$i" || { fail "$CUR_TEST" "reload $i not applied: $(tail -n 2 "$PT_LOG")"; return; }
	done
	scrape "127.0.0.1:$pm" "$D/m1" || { fail "$CUR_TEST" "scrape failed"; return; }
	_alive "$cli" || { fail "$CUR_TEST" "the transfer was over before the reloads were: $(tail -n 1 "$D/cli.rep")"; return; }
	why=$(mwant "$D/m1" passthru_rule_active "$keep" 1) ||
		{ fail "$CUR_TEST" "a removed rule with a live connection: $why"; return; }
	grep -q 'rule="SNI r1[0-9]*\.example"' "$D/m1" &&
		{ fail "$CUR_TEST" "series of rules removed with no connection left stay: $(grep -m1 'rule="SNI r1' "$D/m1")"; return; }
	wait_pid "$cli" 20
	why=$(check_transfer "$D/cli.rep" "$D/up.rep" $((hl + (3 << 20))) 0) || { fail "$CUR_TEST" "$why"; return; }
	wait_for 5 eval 'scrape "127.0.0.1:$pm" "$D/m2" && ! grep -q "SNI keep.example" "$D/m2"' ||
		{ fail "$CUR_TEST" "the removed rule's series stay after its last connection: $(grep -m1 'SNI keep' "$D/m2")"; return; }
	i=$(grep -o 'rule="[^"]*"' "$D/m2" | sort -u | tr '\n' ' ')
	[ "$i" = 'rule="SNI r20.example" ' ] || { fail "$CUR_TEST" "rules in the exposition after 20 renames: $i"; return; }
	grep -q "SNI keep.example.*end=eof" "$PT_LOG" || grep -q 'rule="SNI keep.example".*end=' "$PT_LOG" ||
		{ fail "$CUR_TEST" "no log line for the kept connection"; return; }
	pass "$CUR_TEST"
}

# ---- logs --------------------------------------------------------------------

# log_traffic PT PA: one forwarded connection (hello + 12345 up, 54321
# down), one upstream-refused (to the closed port of "SNI down.example").
# A metrics client that holds on, trickling its request (a byte every
# 0.4 s): it may keep the endpoint from the next scrape no longer than the
# request's second, and a SIGTERM meanwhile still ends passthru
# (shutdown_grace 1s).  It held the one serving thread for as long as it
# trickled: scrapes timed out, and passthru outlived two SIGTERMs.  (A
# client that does not read the answer is cut at METRICS_SEND_MS, or at
# once by a stop, the same way.)
t_metrics_slow_clients() {
	newdir
	local pt pm t0 ms
	pt=$(free_port) pm=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"version":"v0.2.0","control_socket":"$D/ctl.sock","metrics":"127.0.0.1:$pm","shutdown_grace":"1s",
	 "servers":{"127.0.0.1:$pt":{"TLS":{"SNI a.example":$(fwd "$(free_port)")}}}}
	EOF
	pt_start "$D/c.json" || return
	cat >"$D/slow.py" <<-'EOF'
	import socket, sys, time
	port = int(sys.argv[1])
	s = socket.create_connection(("127.0.0.1", port))
	for c in b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 200:
	    try:
	        s.send(bytes([c]))
	    except OSError:
	        break
	    time.sleep(0.4)
	EOF
	python3 "$D/slow.py" "$pm" &
	sleep 0.3
	t0=$(date +%s%N)
	scrape "127.0.0.1:$pm" "$D/m1" || { fail "$CUR_TEST" "a scrape behind a trickling client failed (curl --max-time 5)"; return; }
	ms=$((($(date +%s%N) - t0) / 1000000))
	[ "$ms" -le 3000 ] || { fail "$CUR_TEST" "a scrape behind a trickling client took $ms ms"; return; }
	# The paths: /metrics, /metrics?query and / answer; others do not.
	local p code
	for p in /metrics '/metrics?x=1' / /metricsXYZ /metrics/x /other; do
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$pm$p")
		case $p in /metrics | '/metrics?x=1' | /) [ "$code" = 200 ] ;; *) [ "$code" = 404 ] ;; esac ||
			{ fail "$CUR_TEST" "GET $p answered $code"; return; }
	done
	python3 "$D/slow.py" "$pm" &
	sleep 0.3
	kill -TERM "$PT_PID"
	wait_pid "$PT_PID" 6 || { fail "$CUR_TEST" "passthru still up 6 s after SIGTERM, a client trickling to its metrics port"; kill -KILL "$PT_PID"; PT_PID=; return; }
	PT_PID=
	pass "$CUR_TEST"
	echo "# a scrape behind a trickling client: $ms ms; SIGTERM then ended passthru"
}

log_traffic() {
	"$MKHELLO" --sni a.example >"$D/a.hello" && "$MKHELLO" --sni down.example >"$D/down.hello"
	xfer_server up "127.0.0.1:$2" --send 54321 --rate 1m || return 1
	xfer_client ok "127.0.0.1:$1" --prefix-file "$D/a.hello" --send 12345 --rate 1m --timeout-s 20 || return 1
	xfer_client down "127.0.0.1:$1" --prefix-file "$D/down.hello" --mode recv-first --send 0 --timeout-s 20
	wait_log 'upstream-refused'
}

log_cfg() { # FILE PT PA [EXTRA_KEYS]
	cat >"$1" <<-EOF
	{"version":"v0.2.0","control_socket":"$D/ctl.sock"${4:+,$4},
	 "servers":{"127.0.0.1:$2":{"TLS":{"SNI a.example":$(fwd "$3"),
	   "SNI down.example":$(fwd "$(free_port)")}}}}
	EOF
}

# --log-format json: every line (start, connections, stop) is one JSON
# object; the conn line's fields have the right types and values.
t_log_json() {
	require_cmd python3 || return
	newdir
	local pt pa hl why
	pt=$(free_port) pa=$(free_port)
	log_cfg "$D/c.json" "$pt" "$pa"
	pt_start "$D/c.json" --mode "$MODE" --log-format json || return
	log_traffic "$pt" "$pa" || { fail "$CUR_TEST" "traffic failed: $(tail -n 1 "$D/ok.rep")"; return; }
	hl=$(size "$D/a.hello")
	pt_stop || { fail "$CUR_TEST" "passthru did not stop cleanly"; return; }
	why=$(python3 - "$PT_LOG" "$pt" "$pa" $((hl + 12345)) 54321 "$MODE" 2>&1 <<-'EOF'
	import json, sys
	path, pt, pa, up, down, mode = sys.argv[1:]
	lines = open(path, encoding="utf-8").read().splitlines()
	if len(lines) < 5:
	    sys.exit(f"only {len(lines)} lines")
	objs = []
	for i, l in enumerate(lines, 1):
	    try:
	        o = json.loads(l)
	    except ValueError as e:
	        sys.exit(f"line {i} is not one JSON object ({e}): {l[:200]}")
	    if not isinstance(o, dict) or not isinstance(o.get("ts"), str) or o.get("level") not in ("error", "warn", "info", "debug"):
	        sys.exit(f"line {i}: want an object with ts and level: {l[:200]}")
	    if "msg" not in o and "event" not in o:
	        sys.exit(f"line {i}: neither msg nor event: {l[:200]}")
	    objs.append(o)
	conns = [o for o in objs if o.get("event") == "conn"]
	ok = [o for o in conns if o.get("upstream") == f"127.0.0.1:{pa}"]
	if len(conns) != 2 or len(ok) != 1:
	    sys.exit(f"want 2 conn objects, one to 127.0.0.1:{pa}: {conns}")
	c = ok[0]
	want = {"client": str, "listen": str, "proto": str, "rule": str, "action": str,
	        "upstream": str, "path": str, "up": int, "down": int, "ms": int, "end": str}
	for k, t in want.items():
	    if not isinstance(c.get(k), t) or isinstance(c.get(k), bool):
	        sys.exit(f"conn field {k} is {c.get(k)!r}, want a {t.__name__}: {c}")
	exp = {"listen": f"127.0.0.1:{pt}", "proto": "TLS", "rule": "SNI a.example", "action": "FORWARD",
	       "up": int(up), "down": int(down), "end": "eof", "level": "info"}
	for k, v in exp.items():
	    if c.get(k) != v:
	        sys.exit(f"conn field {k} is {c.get(k)!r}, want {v!r}: {c}")
	# A client FIN that came before the hand-off keeps that direction in
	# splice(2) (the sockmap cannot pass it on): "sockmap+splice".
	paths = (mode, mode + "+splice") if mode == "sockmap" else (mode,)
	if c.get("path") not in paths:
	    sys.exit(f"conn field path is {c.get('path')!r}, want one of {paths}: {c}")
	if not c["client"].startswith("127.0.0.1:"):
	    sys.exit(f"client is {c['client']!r}")
	bad = [o for o in conns if o is not c][0]
	if bad.get("end") != "upstream-refused" or bad.get("level") != "warn":
	    sys.exit(f"the refused connection: want end upstream-refused at level warn: {bad}")
	if bad.get("error") != "Connection refused" or "text" in bad:
	    sys.exit(f"the refused connection: want \"error\": \"Connection refused\" (one field), got error={bad.get('error')!r} text={bad.get('text')!r} (log: error=Connection refused, unquoted)")
	EOF
	) || { fail "$CUR_TEST" "$why"; return; }
	pass "$CUR_TEST"
}

# --log-format journal: every line starts with a syslog priority <N> and no
# timestamp (journald stamps); info is <6>, a failed connection <4>.  With
# JOURNAL_STREAM set (systemd did it), the default format is journal too.
t_log_journal() {
	newdir
	local pt pa bad wrap
	for wrap in "--log-format journal" "JOURNAL_STREAM"; do
		pt=$(free_port) pa=$(free_port)
		log_cfg "$D/c.json" "$pt" "$pa"
		if [ "$wrap" = JOURNAL_STREAM ]; then
			JOURNAL_STREAM=8:12345 pt_start "$D/c.json" --mode "$MODE" || return
		else
			pt_start "$D/c.json" --mode "$MODE" $wrap || return
		fi
		log_traffic "$pt" "$pa" || { fail "$CUR_TEST" "traffic failed: $(tail -n 1 "$D/ok.rep")"; return; }
		pt_stop || { fail "$CUR_TEST" "passthru did not stop cleanly"; return; }
		bad=$(grep -vE '^<[0-7]>[^<]' "$PT_LOG" | head -n 1)
		[ -z "$bad" ] || { fail "$CUR_TEST" "$wrap: a line without a <N> priority prefix: $bad"; return; }
		grep -qE '^<[0-7]>[0-9]{4}-[0-9]{2}-' "$PT_LOG" &&
			{ fail "$CUR_TEST" "$wrap: lines carry a timestamp: $(head -n 1 "$PT_LOG")"; return; }
		grep -qE "^<6>conn .*upstream=127\.0\.0\.1:$pa .*end=eof" "$PT_LOG" ||
			{ fail "$CUR_TEST" "$wrap: no '<6>conn ... end=eof' line: $(grep conn "$PT_LOG")"; return; }
		grep -qE "^<4>conn .*end=upstream-refused" "$PT_LOG" ||
			{ fail "$CUR_TEST" "$wrap: no '<4>conn ... end=upstream-refused' line: $(grep conn "$PT_LOG")"; return; }
		grep -qE '^<6>listening on ' "$PT_LOG" ||
			{ fail "$CUR_TEST" "$wrap: no '<6>listening on' line: $(head -n 3 "$PT_LOG")"; return; }
	done
	pass "$CUR_TEST"
}

# --log-level warn (and "log_level": "warn" in the file): no line for a
# connection that went well, the failed one still logged, no info lines.
t_log_warn() {
	newdir
	local pt pa how
	for how in cli file; do
		pt=$(free_port) pa=$(free_port)
		if [ "$how" = cli ]; then
			log_cfg "$D/c.json" "$pt" "$pa"
			pt_start "$D/c.json" --mode "$MODE" --log-level warn || return
		else
			log_cfg "$D/c.json" "$pt" "$pa" '"log_level":"warn"'
			pt_start "$D/c.json" --mode "$MODE" || return
		fi
		log_traffic "$pt" "$pa" || { fail "$CUR_TEST" "traffic failed: $(tail -n 1 "$D/ok.rep")"; return; }
		# Stopped first: every connection has ended and been logged.
		pt_stop || { fail "$CUR_TEST" "passthru did not stop cleanly"; return; }
		grep -q "upstream=127\.0\.0\.1:$pa " "$PT_LOG" &&
			{ fail "$CUR_TEST" "$how: the successful connection was logged: $(grep "upstream=127\.0\.0\.1:$pa " "$PT_LOG")"; return; }
		grep -qE ' warn conn .*end=upstream-refused' "$PT_LOG" ||
			{ fail "$CUR_TEST" "$how: the refused connection was not logged at warn: $(cat "$PT_LOG")"; return; }
		grep -qE '^[^ ]+ (info|debug) ' "$PT_LOG" &&
			{ fail "$CUR_TEST" "$how: info lines at level warn: $(grep -m1 -E '^[^ ]+ (info|debug) ' "$PT_LOG")"; return; }
	done
	pass "$CUR_TEST"
}

for MODE in sockmap splice; do
	run_test "ops/$MODE/metrics-known-traffic" t_metrics
done
MODE=sockmap
run_test ops/metrics-live-during-transfer t_metrics_live
run_test ops/metrics-slow-clients t_metrics_slow_clients
run_test ops/metrics-removed-rules-leave t_metrics_removed_rules
run_test ops/log-json-lines t_log_json
run_test ops/log-journal-priorities t_log_journal
run_test ops/log-level-warn t_log_warn
