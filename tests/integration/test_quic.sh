#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# QUIC on UDP listeners: flows routed by the SNI (and ALPN) of their client
# Initials, forwarded in userspace.  Crafted Initials from
# tests/tools/quicsend (hellos cut over 2-3 Initials sent out of order,
# versions 1 and 2, many flows at once) to UDP echo upstreams that tag
# what they return, every byte checked both ways; REJECT, CATCHALL, ALPN,
# garbage and Version Negotiation, the idle timeout and its log line, the
# flow and pending bounds, a wildcard listener answering from the address
# the client used, IPv6, a reload, out of fds.  Then real HTTP/3: chromium through
# passthru to two caddy servers (SKIP without them).
#
# The data tests run once per UDP data path (UPATH): kernel (--mode
# auto: bpf/udpfwd.bpf.c forwards a decided flow's datagrams; the start-up
# line must say so, no silent fallback) and userspace (--mode splice).
# Then the kernel path's own: the program carries the datagrams (its
# counters against what was sent, passthru's CPU during a flood), and the
# fallback when it cannot load (unprivileged).
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/ops.sh"

QUICSEND=$OUTPUT/tests/quicsend

require_root
require_cmd "$PASSTHRU" "$QUICSEND" ss curl

# echo_up NAME ADDR:PORT TAG: a UDP echo upstream tagging its replies.
echo_up() {
	"$QUICSEND" echo --listen "$2" --tag "$3" >/dev/null 2>"$D/$1.err" &
	wait_for 5 _listening "udp:${2##*:}"
}

# q ARGS...: a quicsend run whose one-line report goes to $D/q.out.
q() { "$QUICSEND" "$@" >"$D/q.out" 2>&1; }
qwhy() { cat "$D/q.out"; }

# metric PORT REGEX: the value of the first metric line matching REGEX.
metric() {
	curl -s "http://127.0.0.1:$1/metrics" | grep -v '^#' | grep -E -- "$2" | head -n 1 | awk '{print $NF}'
}

_metric_ge() { [ "$(metric "$1" "$2")" -ge "$3" ] 2>/dev/null; }

flow_lines() { grep -E ' flow client=' "$PT_LOG"; }

# The usual config: QUIC rules a.example -> A, b.example -> B, ALPN x-alpn
# -> B, d.example REJECT, the rest to C (QUIC CATCHALL).  QSET adds
# top-level settings.
quic_cfg() {
	cat >"$D/c.json" <<-EOF
	{${QSET:-}"metrics":"127.0.0.1:$PM","servers":{"udp/${QLISTEN:-127.0.0.1}:$PT":{"QUIC":{
	  "SNI a.example":{"action":"FORWARD","to_addr":"127.0.0.1:$PA"},
	  "SNI ~^b[0-9]*\\\\.example\$":{"action":"FORWARD","to_addr":"127.0.0.1:$PB"},
	  "ALPN x-alpn":{"action":"FORWARD","to_addr":"127.0.0.1:$PB"},
	  "SNI d.example":{"action":"REJECT"},
	  "CATCHALL":{"action":"FORWARD","to_addr":"127.0.0.1:$PC"}}}}}
	EOF
}

UPATH=kernel
# The flow line's path= and passthru's arguments for $UPATH.
upath_log() { [ "$UPATH" = kernel ] && echo udp-kernel || echo udp; }
upath_args() { [ "$UPATH" = kernel ] && echo "--mode auto" || echo "--mode splice"; }

# pt_start for $UPATH, and the start-up line that says it runs.
pt_start_path() {
	pt_start "$@" $(upath_args) || return 1
	if [ "$UPATH" = kernel ] && ! wait_log 'udp data path: udp-kernel ' 3; then
		fail "$CUR_TEST" "the UDP kernel path did not start: $(grep 'udp data path' "$PT_LOG")"
		return 1
	fi
	if [ "$UPATH" = userspace ] && ! wait_log 'udp data path: userspace ' 3; then
		fail "$CUR_TEST" "no 'udp data path: userspace' line: $(grep 'udp data path' "$PT_LOG")"
		return 1
	fi
}

setup() {
	newdir
	PT=$(free_port) PA=$(free_port) PB=$(free_port) PC=$(free_port) PM=$(free_port)
	echo_up a "127.0.0.1:$PA" A: && echo_up b "127.0.0.1:$PB" B: && echo_up c "127.0.0.1:$PC" C: ||
		{ fail "$CUR_TEST" "echo upstreams did not start"; return 1; }
	quic_cfg
	pt_start_path "$D/c.json" "$@"
}

t_sni_routing() {
	setup || return
	local why=
	q client --connect "127.0.0.1:$PT" --sni a.example --expect A: --split 3 --order 2,0,1 --pad 2600 --flows 10 --count 40 ||
		why="a.example, 3 Initials out of order: $(qwhy)"
	[ -z "$why" ] && { q client --connect "127.0.0.1:$PT" --sni b42.example --expect B: --split 2 --order 1,0 --flows 10 ||
		why="b42.example: $(qwhy)"; }
	[ -z "$why" ] && { q client --connect "127.0.0.1:$PT" --sni a.example --expect A: --version 2 --split 3 --pad 2600 ||
		why="QUIC version 2: $(qwhy)"; }
	[ -z "$why" ] && { q client --connect "127.0.0.1:$PT" --sni a.example --expect A: --split 1 --pad 600 --size 1400 ||
		why="a hello in one Initial: $(qwhy)"; }
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
}

# A client port used again by a new connection (a restarted client, a
# NAT handing the port on): the new connection is routed on its own hello,
# not sent down the old flow to the old upstream (seen as a flake: one
# quicsend run got a port of the previous run, and its b.example hello
# came back from A), its 0-RTT packets with it.  The old flow ends
# end=replaced.  A flow REJECTed
# gives way the same.  A second hello under a new DCID but the same SCID
# (a client after a Retry) is the same connection: it stays on its flow.
t_port_reuse() {
	setup || return
	local why= pr pr2 n
	pr=$(free_port) pr2=$(free_port)
	q client --connect "127.0.0.1:$PT" --bind "127.0.0.1:$pr" --sni a.example --expect A: --count 4 ||
		why="a.example: $(qwhy)"
	[ -z "$why" ] && { q client --connect "127.0.0.1:$PT" --bind "127.0.0.1:$pr" --sni b.example --expect B: --count 4 --zero-rtt 3 ||
		why="b.example (and 0-RTT) from the port a.example used: $(qwhy)"; }
	[ -z "$why" ] && { q client --connect "127.0.0.1:$PT" --bind "127.0.0.1:$pr" --sni d.example --expect none --timeout 500 ||
		why="d.example (REJECT) from that port: $(qwhy)"; }
	[ -z "$why" ] && { q client --connect "127.0.0.1:$PT" --bind "127.0.0.1:$pr" --sni a.example --expect A: --count 4 ||
		why="a.example after the REJECT from that port: $(qwhy)"; }
	[ -z "$why" ] && { q client --connect "127.0.0.1:$PT" --bind "127.0.0.1:$pr2" --sni a.example --again-sni b.example --expect A: --count 4 ||
		why="a hello after a Retry (same SCID) left its flow: $(qwhy)"; }
	[ -z "$why" ] && ! wait_log " flow client=127.0.0.1:$pr .* rule=\"SNI d.example\" action=REJECT .* end=replaced" 3 &&
		why="no end=replaced line for the REJECTed flow: $(flow_lines | tail -n 4)"
	n=$(flow_lines | grep -c " client=127.0.0.1:$pr .* end=replaced")
	[ -z "$why" ] && [ "$n" != 3 ] && why="$n end=replaced lines, want 3: $(flow_lines | tail -n 4)"
	n=$(metric "$PM" 'passthru_udp_flows_ended_total.*end="replaced"')
	[ -z "$why" ] && [ "$n" != 3 ] && why="passthru_udp_flows_ended_total{end=replaced} is $n, want 3"
	[ -z "$why" ] && [ "$(metric "$PM" 'passthru_udp_flows_active')" != 2 ] &&
		why="passthru_udp_flows_active is $(metric "$PM" 'passthru_udp_flows_active'), want 2"
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
}

# An upstream that refuses (ICMP port unreachable) before it ever
# answered: the flow ends end=upstream-error with a strike toward
# `health`, and the client's next Initial is routed afresh, to the next
# target.  Before, a QUIC flow stuck to a dead target until it idled,
# and `health` never saw a UDP failure (a UDP connect always succeeds).
t_upstream_refuses() {
	setup || return
	local why= pdead
	pdead=$(free_port)
	sed -i "s|\"SNI a.example\":{\"action\":\"FORWARD\",\"to_addr\":\"127.0.0.1:$PA\"}|\"SNI a.example\":{\"action\":\"FORWARD\",\"to_addr\":[\"127.0.0.1:$pdead\",\"127.0.0.1:$PA\"],\"balance\":\"first\",\"health\":{\"fails\":1,\"cooldown\":\"60s\"}}|" "$D/c.json"
	grep -q "$pdead" "$D/c.json" || { fail "$CUR_TEST" "the config was not rewritten"; return; }
	kill -HUP "$PT_PID"
	wait_log 'reload: applied' 5 || why="no reload: $(tail -n 2 "$PT_LOG")"
	[ -z "$why" ] && { q client --connect "127.0.0.1:$PT" --sni a.example --expect A: --timeout 500
		grep -q 'flows_silent=1' "$D/q.out" || why="the first flow, to a dead target, was answered: $(qwhy)"; }
	[ -z "$why" ] && ! wait_log " flow client=.* rule=\"SNI a.example\" action=FORWARD upstream=127.0.0.1:$pdead .* end=upstream-error error=\"Connection refused\"" 3 &&
		why="no end=upstream-error line for the dead target: $(flow_lines | tail -n 2)"
	[ -z "$why" ] && { q client --connect "127.0.0.1:$PT" --sni a.example --expect A: ||
		why="the next flow did not move to the live target: $(qwhy)"; }
	[ -z "$why" ] && [ "$(metric "$PM" 'passthru_udp_flows_ended_total.*end="upstream_error"')" != 1 ] &&
		why="passthru_udp_flows_ended_total{end=upstream_error} is $(metric "$PM" 'passthru_udp_flows_ended_total.*end="upstream_error"'), want 1"
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
}

# Many flows at once, both upstreams, two clients in parallel.
t_many_flows() {
	setup || return
	local why= pa pb
	"$QUICSEND" client --connect "127.0.0.1:$PT" --sni a.example --expect A: --flows 100 --count 20 --window 4 >"$D/qa.out" 2>&1 &
	pa=$!
	"$QUICSEND" client --connect "127.0.0.1:$PT" --sni b.example --expect B: --flows 100 --count 20 --window 4 --split 3 --pad 2600 >"$D/qb.out" 2>&1 &
	pb=$!
	wait "$pa" || why="a.example: $(cat "$D/qa.out")"
	wait "$pb" || why="$why b.example: $(cat "$D/qb.out")"
	[ -z "$why" ] && [ "$(metric "$PM" 'passthru_udp_flows_active')" != 200 ] &&
		why="passthru_udp_flows_active is $(metric "$PM" 'passthru_udp_flows_active'), want 200"
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
}

t_reject_catchall_alpn() {
	QSET='"udp_idle_timeout":"500ms",' setup || return
	local why=
	q client --connect "127.0.0.1:$PT" --sni d.example --expect none --timeout 700 ||
		why="REJECT: $(qwhy)"
	[ -z "$why" ] && { q client --connect "127.0.0.1:$PT" --sni zzz.example --expect C: ||
		why="CATCHALL: $(qwhy)"; }
	[ -z "$why" ] && { q client --connect "127.0.0.1:$PT" --sni zzz.example --alpn h3,x-alpn --expect B: ||
		why="ALPN x-alpn: $(qwhy)"; }
	[ -z "$why" ] && ! wait_log ' flow client=.* rule="SNI d.example" action=REJECT upstream=- path=udp up=0 down=0 dgrams_up=0 dgrams_down=0 .* end=rejected' 3 &&
		why="no end=rejected line: $(flow_lines | tail -n 3)"
	[ -z "$why" ] && [ "$(metric "$PM" 'passthru_udp_dropped_datagrams_total.*reason="rejected"')" != 2 ] &&
		why="rejected drops: $(metric "$PM" 'passthru_udp_dropped_datagrams_total.*reason="rejected"'), want 2"
	[ -z "$why" ] && [ "$(metric "$PM" 'passthru_rule_rejected_total.*rule="SNI d.example"')" != 1 ] &&
		why="passthru_rule_rejected_total is not 1"
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
}

# Datagrams that start no flow: dropped, counted by reason, no reply but
# the Version Negotiation answer.
t_garbage() {
	setup || return
	local why= r n
	for r in "--garbage 1300:not_initial" "--garbage 40:not_initial" "--short 1200:not_initial" \
		 "--hex c00000000108:not_quic" "--hex 80:not_quic" "--vn:version_negotiation" \
		 "--small-initial:too_short" "--bad-initial:bad_initial" "--hex 8a1a2a3a4a0000:unknown_version"; do
		q raw --connect "127.0.0.1:$PT" ${r%%:*} --wait 300 || { why="$r: $(qwhy)"; break; }
		n=$(metric "$PM" "passthru_udp_dropped_datagrams_total.*reason=\"${r##*:}\"")
		[ "${n:-0}" -ge 1 ] || { why="$r: not counted as ${r##*:} ($n)"; break; }
	done
	[ -z "$why" ] && { q raw --connect "127.0.0.1:$PT" --unknown-version ||
		why="unknown version: $(qwhy)"; }
	[ -z "$why" ] && [ "$(metric "$PM" 'passthru_udp_flows_total')" != 0 ] &&
		why="a flow was made: $(flow_lines | tail -n 2)"
	# And the listener still routes.
	[ -z "$why" ] && { q client --connect "127.0.0.1:$PT" --sni a.example --expect A: ||
		why="after the garbage: $(qwhy)"; }
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
}

t_idle_log() {
	QSET='"udp_idle_timeout":"1s",' setup || return
	local why= t0 line
	q client --connect "127.0.0.1:$PT" --sni a.example --expect A: --split 2 --count 10 --size 500 ||
		{ fail "$CUR_TEST" "$(qwhy)"; return; }
	t0=$SECONDS
	if ! wait_log ' flow client=127\.0\.0\.1:[0-9]+ listen=udp/127\.0\.0\.1:'"$PT"' proto=QUIC rule="SNI a\.example" action=FORWARD upstream=127\.0\.0\.1:'"$PA"' path='"$(upath_log)"' up=7400 down=7424 dgrams_up=12 dgrams_down=12 ms=[0-9]+ end=idle' 4; then
		why="no such flow line: $(flow_lines | tail -n 2)"
	elif [ $((SECONDS - t0)) -gt 3 ]; then
		why="the flow ended $((SECONDS - t0)) s after its last datagram, idle timeout 1 s"
	fi
	[ -z "$why" ] && [ "$(metric "$PM" 'passthru_udp_flows_active')" != 0 ] && why="flows still active"
	[ -z "$why" ] && [ "$(metric "$PM" 'passthru_udp_flows_ended_total.*end="idle"')" != 1 ] && why="ended idle not 1"
	[ -z "$why" ] && [ "$(metric "$PM" 'passthru_rule_datagrams_total.*rule="SNI a.example",direction="down"')" != 12 ] &&
		why="rule datagrams down not 12"
	# A new flow from the same client address after the end: a new Initial.
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
}

t_flow_bound() {
	QSET='"max_udp_flows":4,' setup -w 1 || return
	local why=
	q client --connect "127.0.0.1:$PT" --sni a.example --expect A: --flows 6 --timeout 700
	grep -q 'flows_ok=4 flows_silent=2 flows_bad=0' "$D/q.out" || why="want 4 flows served, 2 dropped: $(qwhy)"
	[ -z "$why" ] && [ "$(metric "$PM" 'passthru_udp_dropped_datagrams_total.*reason="flow_limit"')" -lt 2 ] &&
		why="flow_limit drops: $(metric "$PM" 'passthru_udp_dropped_datagrams_total.*reason="flow_limit"')"
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
}

# A hello that needs 3 Initials, with room for 2 while deciding.
t_pending_bound() {
	QSET='"udp_pending_datagrams":2,' setup || return
	local why=
	q client --connect "127.0.0.1:$PT" --sni a.example --expect A: --split 3 --pad 2600 --timeout 700
	grep -q 'flows_ok=0 flows_silent=1' "$D/q.out" || why="the flow was served: $(qwhy)"
	[ -z "$why" ] && ! wait_log ' flow client=.* rule="-" action=- .* dgrams_up=0 .* end=undecided' 2 &&
		why="no end=undecided line: $(flow_lines | tail -n 2)"
	[ -z "$why" ] && [ "$(metric "$PM" 'passthru_udp_dropped_datagrams_total.*reason="pending_full"')" != 3 ] &&
		why="pending_full drops not 3"
	[ -z "$why" ] && { q client --connect "127.0.0.1:$PT" --sni a.example --expect A: --split 2 ||
		why="a 2-Initial hello: $(qwhy)"; }
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
}

# A hello never completed: ended at the sniff deadline.
t_deciding_deadline() {
	setup -t 500ms || return
	local why=
	q client --connect "127.0.0.1:$PT" --sni a.example --expect A: --split 3 --order 0,0,1 --pad 2600 --timeout 1200
	grep -q 'flows_silent=1' "$D/q.out" || why="the flow was served: $(qwhy)"
	[ -z "$why" ] && ! wait_log ' flow client=.* ms=(4|5|6|7|8|9)[0-9][0-9] end=undecided' 2 &&
		why="no end=undecided line after ~500 ms: $(flow_lines | tail -n 2)"
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
}

# 0.0.0.0: a client of 127.0.0.2 gets its replies from 127.0.0.2 (its
# connected socket takes nothing else).
t_wildcard_pktinfo() {
	QSET='"udp_idle_timeout":"1s",' QLISTEN=0.0.0.0 setup || return
	local why=
	q client --connect "127.0.0.2:$PT" --sni a.example --expect A: --flows 3 ||
		why="127.0.0.2: $(qwhy)"
	[ -z "$why" ] && { q client --connect "127.0.0.1:$PT" --sni b.example --expect B: ||
		why="127.0.0.1: $(qwhy)"; }
	[ -z "$why" ] && ! wait_log ' flow client=127\.0\.0\.1:.* path='"$(upath_log)"' up=22400 down=22444 dgrams_up=22 .*end=idle' 4 &&
		why="no path=$(upath_log) line with the counts: $(flow_lines | tail -n 2)"
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
}

# IPv6 both ways: a [::1] listener, an upstream on [::1] (the kernel path
# rewrites IPv6 addresses and the mandatory UDP checksum), and the flow's
# counts exact at its idle end.
t_ipv6() {
	QSET='"udp_idle_timeout":"1s",' QLISTEN='[::1]' setup || return
	local why= p6
	pt_stop >/dev/null 2>&1
	p6=$(free_port)
	echo_up a6 "[::1]:$p6" A6: || { fail "$CUR_TEST" "IPv6 echo upstream did not start"; return; }
	sed -i "s/\"to_addr\":\"127\\.0\\.0\\.1:$PA\"/\"to_addr\":\"[::1]:$p6\"/" "$D/c.json"
	grep -q "\[::1\]:$p6" "$D/c.json" || { fail "$CUR_TEST" "config: $(cat "$D/c.json")"; return; }
	pt_start_path "$D/c.json" || return
	q client --connect "[::1]:$PT" --sni a.example --expect A6: --flows 3 --count 30 --size 1300 || why="$(qwhy)"
	[ -z "$why" ] && ! wait_log ' flow client=\[::1\]:[0-9]+ .* upstream=\[::1\]:'"$p6"' path='"$(upath_log)"' up=4[0-9]{4} down=4[0-9]{4} dgrams_up=32 dgrams_down=32 .*end=idle' 4 &&
		why="no path=$(upath_log) line with 32 datagrams each way: $(flow_lines | tail -n 2)"
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
}

# A reload swapping the routes: a flow routed before keeps its upstream,
# new flows take the new rules.
t_reload() {
	QSET='"udp_idle_timeout":"5s",' setup || return
	local why= pq
	"$QUICSEND" client --connect "127.0.0.1:$PT" --sni a.example --expect A: --count 400 --window 1 >"$D/long.out" 2>&1 &
	pq=$!
	sleep 0.3
	sed -i "s/\"SNI a.example\":{\"action\":\"FORWARD\",\"to_addr\":\"127.0.0.1:$PA\"}/\"SNI a.example\":{\"action\":\"FORWARD\",\"to_addr\":\"127.0.0.1:$PC\"}/" "$D/c.json"
	kill -HUP "$PT_PID"
	wait_log 'reload: applied' 5 || why="no reload"
	wait "$pq" || why="the flow begun before the reload: $(cat "$D/long.out")"
	[ -z "$why" ] && { q client --connect "127.0.0.1:$PT" --sni a.example --expect C: ||
		why="a new flow after the reload: $(qwhy)"; }
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
}

t_check() {
	newdir
	PT=$(free_port) PA=$(free_port) PB=$(free_port) PC=$(free_port) PM=$(free_port)
	quic_cfg
	local out
	out=$("$PASSTHRU" -c "$D/c.json" --check 2>&1)
	if [ "$out" != "$D/c.json: OK (1 listener, 5 rules)" ]; then
		fail "$CUR_TEST" "--check: $out"
		return
	fi
	sed -i 's/"action":"REJECT"}/"action":"REJECT","reject":"rst"}/' "$D/c.json"
	out=$("$PASSTHRU" -c "$D/c.json" --check 2>&1)
	if ! grep -q "servers.\"udp/127.0.0.1:$PT\".QUIC.\"SNI d.example\": a UDP flow is rejected by dropping its datagrams" <<<"$out"; then
		fail "$CUR_TEST" "--check of a bad file: $out"
		return
	fi
	pass "$CUR_TEST"
}

# ---- real HTTP/3: chromium -> passthru -> caddy --------------------------------

t_chromium_caddy() {
	local c b
	c=$(command -v chromium || command -v chromium-browser)
	[ -n "$c" ] || { skip "$CUR_TEST" "needs chromium (apt-get install chromium)"; return; }
	command -v caddy >/dev/null || { skip "$CUR_TEST" "needs caddy (apt-get install caddy)"; return; }
	command -v openssl >/dev/null || { skip "$CUR_TEST" "needs openssl"; return; }
	newdir
	local pt pa pb pm why= n spki=
	pt=$(free_port) pa=$(free_port) pb=$(free_port) pm=$(free_port)
	for n in a b; do
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$n.example" \
			-addext "subjectAltName=DNS:$n.example" -keyout "$D/$n.key" -out "$D/$n.crt" 2>/dev/null ||
			{ fail "$CUR_TEST" "openssl req"; return; }
		# Chromium's QUIC takes a self-signed certificate only by its key.
		spki="$spki,$(openssl x509 -pubkey -noout -in "$D/$n.crt" | openssl pkey -pubin -outform der |
			openssl dgst -sha256 -binary | base64)"
	done
	# Each caddy listens on TCP and UDP of its own port (HTTP/3 on by default).
	cat >"$D/Caddyfile" <<-EOF
	{
	  admin off
	  auto_https disable_redirects
	  servers {
	    protocols h1 h2 h3
	  }
	}
	https://a.example:$pa {
	  tls $D/a.crt $D/a.key
	  respond "site a.example proto={http.request.proto}"
	}
	https://b.example:$pb {
	  tls $D/b.crt $D/b.key
	  respond "site b.example proto={http.request.proto}"
	}
	EOF
	HOME=$D XDG_DATA_HOME=$D XDG_CONFIG_HOME=$D caddy run --adapter caddyfile --config "$D/Caddyfile" >"$D/caddy.out" 2>&1 &
	wait_for 10 _listening "udp:$pa" && wait_for 10 _listening "udp:$pb" ||
		{ fail "$CUR_TEST" "caddy did not start: $(tail -n 3 "$D/caddy.out")"; return; }
	cat >"$D/c.json" <<-EOF
	{"metrics":"127.0.0.1:$pm","servers":{
	  "udp/127.0.0.1:$pt":{"QUIC":{
	    "SNI a.example":{"action":"FORWARD","to_addr":"127.0.0.1:$pa"},
	    "SNI b.example":{"action":"FORWARD","to_addr":"127.0.0.1:$pb"},
	    "CATCHALL":{"action":"REJECT"}}}}}
	EOF
	pt_start_path "$D/c.json" || return
	for n in a b; do
		timeout 60 "$c" --headless --disable-gpu --no-sandbox --ignore-certificate-errors \
			--ignore-certificate-errors-spki-list="${spki#,}" \
			--user-data-dir="$D/chrome-$n" --no-first-run --disable-extensions \
			--origin-to-force-quic-on="$n.example:443" \
			--host-resolver-rules="MAP $n.example:443 127.0.0.1:$pt" \
			--dump-dom "https://$n.example/" >"$D/dom-$n.html" 2>"$D/chrome-$n.err"
		# caddy says which protocol the request came in: HTTP/3.0.
		if ! grep -q "site $n.example proto=HTTP/3" "$D/dom-$n.html"; then
			why="chromium did not get $n.example's page over HTTP/3: $(head -c 300 "$D/dom-$n.html") $(grep -v -e '^$' -e dbus "$D/chrome-$n.err" | tail -n 3)"
			break
		fi
	done
	# (The kernel path's counts reach the metrics within a second.)
	[ -z "$why" ] && ! wait_for 3 _metric_ge "$pm" 'passthru_rule_datagrams_total.*rule="SNI a.example",direction="down"' 1 &&
		why="no datagram through passthru for a.example"
	[ -z "$why" ] && ! wait_for 3 _metric_ge "$pm" 'passthru_rule_datagrams_total.*rule="SNI b.example",direction="down"' 1 &&
		why="no datagram through passthru for b.example"
	[ -z "$why" ] && [ "$(metric "$pm" 'passthru_rule_matched_total.*rule="CATCHALL"')" != 0 ] &&
		why="a flow went to the CATCHALL"
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
}

# ---- the kernel path's own -------------------------------------------------------

# The program's map entries of passthru's flows, as JSON lines
# {"dir":0|1,"packets":N,"bytes":N} (bpftool, the map found by passthru's fds).
kmap_dump() {
	local id
	id=$(grep -h '^map_id:' /proc/"$PT_PID"/fdinfo/* 2>/dev/null | awk '{print $2}' | while read -r m; do
		bpftool map show id "$m" -j 2>/dev/null | jq -r 'select(.name == "udpk_flows") | .id'
	done | head -n 1)
	[ -n "$id" ] || return 1
	bpftool map dump id "$id" -j | jq -c '.[] | .formatted | {packets: .value.packets, bytes: .value.bytes, dport: .key.dport}'
}

# After the decision, every datagram both ways crosses the program: its
# counters equal what was sent (the 2 Initials were kept and sent by
# passthru; their 2 answers already met the entry), so the flow's socket
# and the listening socket got none.  Then the flow line, exact.
t_kernel_carries() {
	QSET='"udp_idle_timeout":"2s",' setup || return
	local why= d pk
	q client --connect "127.0.0.1:$PT" --sni a.example --expect A: --split 2 --count 200 --window 8 --size 1000 ||
		{ fail "$CUR_TEST" "$(qwhy)"; return; }
	d=$(kmap_dump) || { fail "$CUR_TEST" "no udpk_flows map in passthru's fds"; return; }
	pk=$(jq -s -c 'map(.packets) | sort' <<<"$d")
	[ "$pk" = "[200,202]" ] || why="the program's per-direction datagrams: $pk, want [200,202] (what was sent after the decision): $d"
	[ -z "$why" ] && ! wait_log ' flow client=.* path=udp-kernel up=202400 down=202804 dgrams_up=202 dgrams_down=202 .*end=idle' 5 &&
		why="no exact path=udp-kernel flow line: $(flow_lines | tail -n 2)"
	[ -z "$why" ] && [ "$(metric "$PM" 'passthru_rule_datagrams_total.*rule="SNI a.example",direction="up"')" != 202 ] &&
		why="rule datagrams up: $(metric "$PM" 'passthru_rule_datagrams_total.*rule="SNI a.example",direction="up"'), want 202"
	[ -z "$why" ] && [ -n "$(kmap_dump)" ] && why="map entries left after the flow ended: $(kmap_dump)"
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
}

# cpu_ticks PID: utime + stime of a process, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# A 3 s flood of 8 flows: passthru's own CPU stays ~0 (the userspace path
# takes about half a CPU here).
t_kernel_flood_cpu() {
	setup -w 2 || return
	local why= c0 c1 hz
	hz=$(getconf CLK_TCK)
	q client --connect "127.0.0.1:$PT" --sni a.example --expect A: ||
		{ fail "$CUR_TEST" "$(qwhy)"; return; }
	c0=$(cpu_ticks "$PT_PID")
	"$QUICSEND" flood --connect "127.0.0.1:$PT" --sni a.example --expect A: --flows 8 --window 16 --size 1200 --seconds 3 >"$D/flood.out" 2>&1 ||
		why="flood: $(cat "$D/flood.out")"
	c1=$(cpu_ticks "$PT_PID")
	# 3 s of flood: at most 0.1 s of passthru's CPU (its decisions, the
	# counters read each second).
	[ -z "$why" ] && [ $(((c1 - c0) * 1000 / hz)) -gt 100 ] &&
		why="passthru used $(((c1 - c0) * 1000 / hz)) ms of CPU in a 3 s flood: $(cat "$D/flood.out")"
	echo "# $CUR_TEST: passthru $(((c1 - c0) * 1000 / hz)) ms CPU in the flood; $(cat "$D/flood.out")"
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
}

# pt_udp_fwd programs loaded (any process): one per passthru running; a
# tcx link left attached would keep its program loaded.
kprogs_on_lo() {
	bpftool prog show -j 2>/dev/null | jq '[.[] | select(.name == "pt_udp_fwd")] | length'
}

# A live upgrade does not carry UDP flows, but leaves nothing stale: the
# successor attaches its own program and forwards new flows in the kernel,
# the predecessor's program goes with it, and none is left after the end.
t_kernel_takeover() {
	QSET='"control_socket":"'"$T"'/ctl-'"$$"'.sock","udp_idle_timeout":"1s",' setup || return
	local why= n0 n1 n2
	n0=$(kprogs_on_lo)
	q client --connect "127.0.0.1:$PT" --sni a.example --expect A: || { fail "$CUR_TEST" "$(qwhy)"; return; }
	pt_takeover "$D/c.json" "$D/new.log" || { fail "$CUR_TEST" "$TK_WHY"; return; }
	local PT_LOG=$D/new.log
	wait_log 'udp data path: udp-kernel ' 3 || why="the successor: $(grep 'udp data path' "$D/new.log")"
	n1=$(kprogs_on_lo)
	[ -z "$why" ] && [ "$n1" != "$n0" ] && why="$n1 pt_udp_fwd programs loaded after the upgrade, $n0 before (one each)"
	[ -z "$why" ] && { q client --connect "127.0.0.1:$PT" --sni b.example --expect B: --count 50 ||
		why="a flow after the upgrade: $(qwhy)"; }
	[ -z "$why" ] && ! wait_log ' flow client=.* path=udp-kernel .*dgrams_up=52 dgrams_down=52 .*end=idle' 4 &&
		why="no path=udp-kernel line from the successor: $(flow_lines | tail -n 2)"
	pt_stop >/dev/null 2>&1
	n2=$(kprogs_on_lo)
	[ -z "$why" ] && [ "$n2" != $((n0 - 1)) ] && why="$n2 pt_udp_fwd programs loaded after the end, $((n0 - 1)) before the start"
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
}

# Where the program cannot load (unprivileged here): the start-up log says
# so loudly, and userspace forwards.
t_fallback_unprivileged() {
	require_cmd setpriv || return
	QSET='"udp_idle_timeout":"1s",' UPATH=kernel
	newdir
	PT=$(free_port) PA=$(free_port) PB=$(free_port) PC=$(free_port) PM=$(free_port)
	echo_up a "127.0.0.1:$PA" A: || { fail "$CUR_TEST" "echo upstream did not start"; return; }
	quic_cfg
	local why= pt_bin=$PASSTHRU
	cp "$PASSTHRU" "$D/passthru" && chmod 755 "$D/passthru" && chmod 755 "$D" && chmod 644 "$D/c.json"
	PASSTHRU=$D/passthru PT_WRAP="setpriv --reuid=65534 --regid=65534 --clear-groups"
	pt_start "$D/c.json"
	local rc=$?
	PASSTHRU=$pt_bin PT_WRAP=
	[ "$rc" = 0 ] || return
	wait_log 'warn.*udp data path: userspace \(FALLBACK: the kernel path is unavailable: ' 3 ||
		why="no FALLBACK line: $(grep 'data path' "$PT_LOG")"
	[ -z "$why" ] && { q client --connect "127.0.0.1:$PT" --sni a.example --expect A: --count 10 --size 500 ||
		why="$(qwhy)"; }
	[ -z "$why" ] && ! wait_log ' flow client=.* path=udp up=7400 down=7424 dgrams_up=12 dgrams_down=12 .*end=idle' 4 &&
		why="no path=udp flow line: $(flow_lines | tail -n 2)"
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
}

# Out of fds when a decided flow opens its upstream socket: the flow ends
# end=no-resources (the shortage is ours, not the upstream's: no
# upstream-error, the target stays healthy), passthru lives, and serves
# again once the flows that hold fds end.
t_emfile() {
	QSET='"udp_idle_timeout":"1s",' setup -w 1 || return
	local why= fds
	fds=$(ls "/proc/$PT_PID/fd" | wc -l)
	prlimit --pid "$PT_PID" --nofile=$((fds + 4)):$((fds + 4)) ||
		{ fail "$CUR_TEST" "prlimit failed"; return; }
	q client --connect "127.0.0.1:$PT" --sni a.example --expect A: --flows 12 --timeout 700
	if ! _alive "$PT_PID"; then
		why="passthru died out of fds: $(tail -n 3 "$PT_LOG")"
	elif ! grep -Eq 'flows_ok=[1-9][0-9]* flows_silent=[1-9]' "$D/q.out"; then
		why="want some flows served and some not (4 fds spare): $(qwhy)"
	elif ! wait_log ' flow client=.* rule="SNI a\.example" action=FORWARD .* end=no-resources error="Too many open files"' 3; then
		why="no flow ended 'end=no-resources error=\"Too many open files\"': $(flow_lines | tail -n 2)"
	elif grep -q 'end=upstream-error' "$PT_LOG"; then
		why="our own fd shortage logged as the upstream's error: $(grep -m1 'end=upstream-error' "$PT_LOG")"
	fi
	# The served flows end idle after 1 s and give their fds back (the
	# metrics endpoint needs one too).
	[ -z "$why" ] && ! wait_for 5 _metric_ge "$PM" 'passthru_udp_flows_ended_total.*end="idle"' 1 &&
		why="the served flows did not end idle"
	[ -z "$why" ] && ! _metric_ge "$PM" 'passthru_udp_flows_ended_total.*end="no_resources"' 1 &&
		why="passthru_udp_flows_ended_total{end=\"no_resources\"}: $(metric "$PM" 'passthru_udp_flows_ended_total.*end="no_resources"')"
	[ -z "$why" ] && { q client --connect "127.0.0.1:$PT" --sni a.example --expect A: --flows 3 ||
		why="not serving once fds are free: $(qwhy)"; }
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
}

for UPATH in kernel userspace; do
	run_test "quic/$UPATH/sni-routing-split-out-of-order" t_sni_routing
	run_test "quic/$UPATH/many-flows" t_many_flows
	run_test "quic/$UPATH/client-port-used-again" t_port_reuse
	run_test "quic/$UPATH/upstream-refuses-next-target" t_upstream_refuses
	run_test "quic/$UPATH/idle-timeout-log" t_idle_log
	run_test "quic/$UPATH/wildcard-replies-from-local-address" t_wildcard_pktinfo
	run_test "quic/$UPATH/ipv6" t_ipv6
	run_test "quic/$UPATH/reload" t_reload
	run_test "quic/$UPATH/http3-chromium-caddy" t_chromium_caddy
done
UPATH=kernel
run_test quic/kernel/carries-the-datagrams t_kernel_carries
run_test quic/kernel/flood-passthru-cpu t_kernel_flood_cpu
run_test quic/kernel/fallback-unprivileged t_fallback_unprivileged
run_test quic/kernel/takeover-leaves-nothing-stale t_kernel_takeover
run_test quic/reject-catchall-alpn t_reject_catchall_alpn
run_test quic/garbage-and-version-negotiation t_garbage
run_test quic/flow-bound t_flow_bound
run_test quic/pending-bound t_pending_bound
run_test quic/deciding-deadline t_deciding_deadline
run_test quic/check t_check
UPATH=userspace
run_test quic/userspace/out-of-fds t_emfile
