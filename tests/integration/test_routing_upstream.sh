#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Routing breadth, upstream side: several upstreams per rule (roundrobin,
# leastconn, source), retry on the next, passive health, connect timeout,
# PROXY protocol sent to nginx and HAProxy (which echo the client address
# they were told), PROXY protocol accepted from HAProxy in front, IPv4 <->
# IPv6, and transparent mode in network namespaces.
. "$(dirname "$0")/../lib/routing.sh"

require_root
require_cmd "$PASSTHRU" "$XFER" "$MKHELLO" ss

MODE=sockmap

# lines FILE: how many report lines (connections) an xfer server wrote.
lines() { [ -s "$1" ] && wc -l <"$1" || echo 0; }

t_roundrobin() {
	newdir
	local pt a b c i
	pt=$(free_port) a=$(free_port) b=$(free_port) c=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"servers":{"127.0.0.1:$pt":{"TLS":{"SNI a.example":{"action":"FORWARD",
	  "to_addr":["127.0.0.1:$a","127.0.0.1:$b","127.0.0.1:$c"]}}}}}
	EOF
	"$MKHELLO" --sni a.example >"$D/hello"
	for i in a b c; do
		xfer_server "$i" "127.0.0.1:${!i}" --count 0 --mode recv-first || { fail "$CUR_TEST" "xfer server"; return; }
	done
	pt_start "$D/c.json" || return
	for i in 1 2 3 4 5 6; do
		xfer_client "c$i" "127.0.0.1:$pt" --prefix-file "$D/hello" --send 1k --mode send-first --timeout-s 10
	done
	wait_for 5 eval '[ $(( $(lines "$D/a.rep") + $(lines "$D/b.rep") + $(lines "$D/c.rep") )) = 6 ]'
	if [ "$(lines "$D/a.rep") $(lines "$D/b.rep") $(lines "$D/c.rep")" = "2 2 2" ]; then
		pass "$CUR_TEST"
	else
		fail "$CUR_TEST" "connections per upstream: $(lines "$D/a.rep") $(lines "$D/b.rep") $(lines "$D/c.rep"), want 2 2 2"
	fi
}

# A refused target is retried on the next at once; with passive health
# it is not tried again for the cooldown.
t_retry_health() {
	newdir
	local pt dead live n
	pt=$(free_port) dead=$(free_port) live=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"servers":{"127.0.0.1:$pt":{"TLS":{"SNI a.example":{"action":"FORWARD",
	  "to_addr":["127.0.0.1:$dead","127.0.0.1:$live"],"balance":"first",
	  "health":{"fails":1,"cooldown":"30s"}}}}}}
	EOF
	"$MKHELLO" --sni a.example >"$D/hello"
	xfer_server live "127.0.0.1:$live" --count 0 --mode recv-first || { fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" -v || return
	for n in 1 2 3 4; do
		xfer_client "c$n" "127.0.0.1:$pt" --prefix-file "$D/hello" --send 1k --mode send-first --timeout-s 10 ||
			{ fail "$CUR_TEST" "connection $n failed: $(tail -n 1 "$D/c$n.rep")"; return; }
	done
	wait_for 5 eval '[ "$(lines "$D/live.rep")" = 4 ]'
	# Log lines go out in batches (up to LOG_BATCH_MS late): once each
	# connection's end line is written, so is any refusal before it.
	wait_for 5 eval '[ "$(grep -c " upstream=127\.0\.0\.1:$live .*end=" "$PT_LOG")" = 4 ]'
	n=$(grep -c "connect 127\.0\.0\.1:$dead: Connection refused" "$PT_LOG")
	if [ "$(lines "$D/live.rep")" != 4 ]; then
		fail "$CUR_TEST" "the live upstream got $(lines "$D/live.rep") of 4 connections"
	elif [ "$n" != 1 ]; then
		fail "$CUR_TEST" "the dead upstream was tried $n times, want once (then skipped for the cooldown)"
	else
		pass "$CUR_TEST"
	fi
}

# A target that drops SYNs (a veth whose peer is down, with a static
# neighbour: the SYN goes nowhere, in a netns): after connect_timeout,
# the next one.
t_connect_timeout() {
	newdir
	local pt live ms
	pt=$(free_port) live=$(free_port)
	ns_create px || { skip "$CUR_TEST" "cannot create a netns"; return; }
	ns_exec px ip link set lo up
	ns_exec px ip link add bh0 type veth peer name bh1 && ns_exec px ip addr add 10.99.0.1/24 dev bh0 &&
		ns_exec px ip link set bh0 up &&
		ns_exec px ip neigh replace 10.99.0.2 lladdr 02:00:00:00:00:02 dev bh0 nud permanent ||
		{ skip "$CUR_TEST" "cannot make a black hole: no veth"; return; }
	cat >"$D/c.json" <<-EOF
	{"servers":{"127.0.0.1:$pt":{"TLS":{"SNI a.example":{"action":"FORWARD",
	  "to_addr":["10.99.0.2:80","127.0.0.1:$live"],"balance":"first","connect_timeout":"300ms"}}}}}
	EOF
	"$MKHELLO" --sni a.example >"$D/hello"
	ns_exec px "$XFER" server --listen "127.0.0.1:$live" --report "$D/live.rep" --mode recv-first >/dev/null 2>&1 &
	WAIT_NS=px wait_port 127.0.0.1 "$live" 5 || { fail "$CUR_TEST" "xfer server"; return; }
	PT_NS=px pt_start "$D/c.json" || return
	ns_exec px "$XFER" client --connect "127.0.0.1:$pt" --prefix-file "$D/hello" --send 1k \
		--mode send-first --timeout-s 10 --report "$D/cli.rep" >/dev/null 2>&1
	ms=$(field "$D/cli.rep" ms)
	if [ "$(field "$D/cli.rep" result)" != ok ]; then
		fail "$CUR_TEST" "client: $(tail -n 1 "$D/cli.rep"); $(conn_lines)"
	elif ! [ "$ms" -ge 250 ] 2>/dev/null || [ "$ms" -gt 3000 ]; then
		fail "$CUR_TEST" "served after $ms ms, want about 300"
	else
		expect_ok "$CUR_TEST" check_transfer "$D/cli.rep" "$D/live.rep" $(( $(size "$D/hello") + 1024 )) 0
	fi
}

# A target whose name does not resolve (fails, or gets no answer within
# connect_timeout) is skipped for the next.  A rule with no other target
# ends end=resolve-failed with the resolver's words (not strerror's "No
# such file or directory" for EAI_NONAME), and a name that never resolved
# is not said to keep "the previous answer" when asked again (a reload).
t_resolve_next() {
	newdir
	local pt live
	pt=$(free_port) live=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"servers":{"127.0.0.1:$pt":{"TLS":{"SNI a.example":{"action":"FORWARD",
	  "to_addr":["no-such-host.invalid:80","127.0.0.1:$live"],"balance":"first","connect_timeout":"500ms"},
	  "SNI b.example":{"action":"FORWARD","to_addr":"no-such-host.invalid:80","connect_timeout":"500ms"}}}}}
	EOF
	"$MKHELLO" --sni a.example >"$D/hello"
	"$MKHELLO" --sni b.example >"$D/hello-b"
	xfer_server live "127.0.0.1:$live" --mode recv-first || { fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" || return
	xfer_client cli "127.0.0.1:$pt" --prefix-file "$D/hello" --send 1k --mode send-first --timeout-s 10
	if ! wait_log "conn .*upstream=127\.0\.0\.1:$live .*end=eof"; then
		fail "$CUR_TEST" "not served by the second target: $(conn_lines)"
		return
	fi
	check_transfer "$D/cli.rep" "$D/live.rep" $(( $(size "$D/hello") + 1024 )) 0 || { fail "$CUR_TEST" "the transfer"; return; }
	xfer_client nb "127.0.0.1:$pt" --prefix-file "$D/hello-b" --send 0 --mode send-first --timeout-s 10
	if ! wait_log 'conn .*rule="SNI b.example" .*end=resolve-failed error="(Name or service not known|Temporary failure in name resolution|Connection timed out)"'; then
		fail "$CUR_TEST" "no resolve-failed line in the resolver's words: $(conn_lines | tail -n 1)"
		return
	fi
	kill -HUP "$PT_PID"
	wait_log 'reload: applied' 5 && wait_for 5 eval '[ "$(grep -c "resolve no-such-host.invalid" "$PT_LOG")" -ge 2 ]'
	if grep -q 'resolve no-such-host.invalid: .*keeping the previous answer' "$PT_LOG"; then
		fail "$CUR_TEST" "a name that never resolved keeps 'the previous answer': $(grep -m1 'keeping the previous' "$PT_LOG")"
	else
		pass "$CUR_TEST"
	fi
}

# leastconn: while one connection lasts on the first upstream, the next
# ones go to the other.
t_leastconn() {
	newdir
	local pt a b i
	pt=$(free_port) a=$(free_port) b=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"servers":{"127.0.0.1:$pt":{"TLS":{"SNI a.example":{"action":"FORWARD",
	  "to_addr":["127.0.0.1:$a","127.0.0.1:$b"],"balance":"leastconn"}}}}}
	EOF
	"$MKHELLO" --sni a.example >"$D/hello"
	xfer_server a "127.0.0.1:$a" --count 0 --mode recv-first && xfer_server b "127.0.0.1:$b" --count 0 --mode recv-first ||
		{ fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" || return
	# 60 KB at 20 KB/s: three seconds on whichever upstream it gets
	xfer_client long "127.0.0.1:$pt" --prefix-file "$D/hello" --send 60k --rate 20k --mode send-first --timeout-s 20 &
	local long=$!
	wait_for 5 eval '[ -n "$(ss -Htn state established "( dport = :$a or dport = :$b )")" ]'
	local busy=$a
	[ -n "$(ss -Htn state established "( dport = :$b )")" ] && busy=$b
	for i in 1 2 3; do
		xfer_client "q$i" "127.0.0.1:$pt" --prefix-file "$D/hello" --send 1k --mode send-first --timeout-s 10
	done
	wait "$long"
	wait_for 5 eval '[ $(( $(lines "$D/a.rep") + $(lines "$D/b.rep") )) = 4 ]'
	local na nb
	na=$(lines "$D/a.rep") nb=$(lines "$D/b.rep")
	if { [ "$busy" = "$a" ] && [ "$na $nb" = "1 3" ]; } || { [ "$busy" = "$b" ] && [ "$na $nb" = "3 1" ]; }; then
		pass "$CUR_TEST"
	else
		fail "$CUR_TEST" "connections a=$na b=$nb with the long one on $([ "$busy" = "$a" ] && echo a || echo b): want the 3 short ones on the other"
	fi
}

# source: one client address, one upstream, every time.
t_source_hash() {
	require_cmd curl || return
	newdir
	local pt a b c ip i first body why=
	pt=$(free_port) a=$(free_port) b=$(free_port) c=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"servers":{"127.0.0.1:$pt":{"HTTP":{"Host a.example":{"action":"FORWARD",
	  "to_addr":["127.0.0.1:$a","127.0.0.1:$b","127.0.0.1:$c"],"balance":"source"}}}}}
	EOF
	for i in a b c; do
		xfer_server "$i" "127.0.0.1:${!i}" --count 0 --http "up-$i" || { fail "$CUR_TEST" "xfer server"; return; }
	done
	pt_start "$D/c.json" || return
	for ip in 127.0.0.1 127.0.0.2 127.0.0.3 127.0.0.4; do
		first=
		for i in 1 2 3 4; do
			body=$(curl -sS --max-time 10 --interface "$ip" -H 'Host: a.example' "http://127.0.0.1:$pt/" 2>&1)
			[ -z "$first" ] && first=$body
			[ "$body" != "$first" ] && why="client $ip went to $first, then to $body"
		done
		case $first in up-?) ;; *) why="client $ip got '$first'" ;; esac
	done
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
}

# ---- PROXY protocol out ----------------------------------------------------------

# proxy_echo_nginx NAME LISTEN: nginx answering "PROXY_ADDR PROXY_PORT PEER"
# to a connection that starts with a PROXY header (v1 or v2).
proxy_echo_nginx() {
	nginx_run "$1" "http { server { listen $2 proxy_protocol;
	  return 200 \"\$proxy_protocol_addr \$proxy_protocol_port \$remote_addr\"; } }"
}

# curl_via NAME CLIENT_IP URL: body and curl's local port, "BODY|PORT".
curl_via() {
	curl -sS --max-time 10 --interface "$1" -H 'Host: a.example' -w '|%{local_port}' "$2" 2>&1
}

# send_proxy VERSION: HTTP through passthru to nginx, which must name the
# client 127.0.0.2 and its port.
t_send_proxy_nginx() {
	require_cmd curl nginx || return
	newdir
	local v=$1 pt pn out body port
	pt=$(free_port) pn=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"servers":{"127.0.0.1:$pt":{"HTTP":{"Host a.example":{"action":"FORWARD",
	  "to_addr":"127.0.0.1:$pn","send_proxy":"v$v"}}}}}
	EOF
	proxy_echo_nginx ng "127.0.0.1:$pn" || { fail "$CUR_TEST" "nginx did not start"; return; }
	pt_start "$D/c.json" --mode "$MODE" || return
	out=$(curl_via 127.0.0.2 "http://127.0.0.1:$pt/")
	body=${out%|*} port=${out##*|}
	if [ "$body" != "127.0.0.2 $port 127.0.0.1" ]; then
		fail "$CUR_TEST" "nginx answered '$body', want '127.0.0.2 $port 127.0.0.1': $(tail -n 2 "$D/ng.err")"
	elif ! wait_log "conn .*path=$MODE "; then
		fail "$CUR_TEST" "not on the $MODE path: $(conn_lines)"
	else
		pass "$CUR_TEST"
	fi
}

# HAProxy (accept-proxy) as the upstream of a v2 header.
t_send_proxy_haproxy() {
	require_cmd curl haproxy || return
	newdir
	local pt ph out body port
	pt=$(free_port) ph=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"servers":{"127.0.0.1:$pt":{"HTTP":{"Host a.example":{"action":"FORWARD",
	  "to_addr":"127.0.0.1:$ph","send_proxy":"v2"}}}}}
	EOF
	haproxy_run hap "frontend echo
	  mode http
	  bind 127.0.0.1:$ph accept-proxy
	  http-request return status 200 content-type text/plain lf-string \"%[src] %[src_port]\"" ||
		{ fail "$CUR_TEST" "haproxy did not start: $(tail -n 3 "$D/hap.out")"; return; }
	pt_start "$D/c.json" --mode "$MODE" || return
	out=$(curl_via 127.0.0.2 "http://127.0.0.1:$pt/")
	body=${out%|*} port=${out##*|}
	if [ "$body" = "127.0.0.2 $port" ]; then
		pass "$CUR_TEST"
	else
		fail "$CUR_TEST" "haproxy answered '$body', want '127.0.0.2 $port': $(tail -n 2 "$D/hap.out")"
	fi
}

# An IPv6 client, an IPv4 upstream: the v2 header carries the v6 address.
t_v6_client_v4_upstream() {
	require_cmd curl nginx || return
	ip -6 addr show dev lo 2>/dev/null | grep -q '::1/128' || { skip "$CUR_TEST" "no ::1 on lo"; return; }
	newdir
	local pt pn out body port
	pt=$(free_port) pn=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"servers":{"[::1]:$pt":{"HTTP":{"Host a.example":{"action":"FORWARD",
	  "to_addr":"127.0.0.1:$pn","send_proxy":"v2"}}}}}
	EOF
	proxy_echo_nginx ng "127.0.0.1:$pn" || { fail "$CUR_TEST" "nginx did not start"; return; }
	pt_start "$D/c.json" || return
	out=$(curl_via ::1 "http://[::1]:$pt/")
	body=${out%|*} port=${out##*|}
	[ "$body" = "::1 $port 127.0.0.1" ] && pass "$CUR_TEST" ||
		fail "$CUR_TEST" "nginx answered '$body', want '::1 $port 127.0.0.1'"
}

# An IPv4 client, an IPv6 upstream.
t_v4_client_v6_upstream() {
	require_cmd curl nginx || return
	ip -6 addr show dev lo 2>/dev/null | grep -q '::1/128' || { skip "$CUR_TEST" "no ::1 on lo"; return; }
	newdir
	local pt pn out body port
	pt=$(free_port) pn=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"servers":{"127.0.0.1:$pt":{"HTTP":{"Host a.example":{"action":"FORWARD",
	  "to_addr":"[::1]:$pn","send_proxy":"v1"}}}}}
	EOF
	proxy_echo_nginx ng "[::1]:$pn" || { fail "$CUR_TEST" "nginx did not start"; return; }
	pt_start "$D/c.json" || return
	out=$(curl_via 127.0.0.2 "http://127.0.0.1:$pt/")
	body=${out%|*} port=${out##*|}
	[ "$body" = "127.0.0.2 $port ::1" ] && pass "$CUR_TEST" ||
		fail "$CUR_TEST" "nginx answered '$body', want '127.0.0.2 $port ::1'"
}

# ---- PROXY protocol in ---------------------------------------------------------------

# HAProxy in front sends v2; passthru trusts it, routes on the real client
# address and passes it on (v1) to nginx.
t_accept_proxy() {
	require_cmd curl nginx haproxy || return
	newdir
	local pt ph pn pd out body port
	pt=$(free_port) ph=$(free_port) pn=$(free_port) pd=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"servers":{"127.0.0.1:$pt":{"accept_proxy":["127.0.0.1/32"],"HTTP":[
	  {"match":"Host a.example","src":"127.0.0.2/32","action":"FORWARD","to_addr":"127.0.0.1:$pn","send_proxy":"v1"},
	  {"match":"Host a.example","action":"FORWARD","to_addr":"127.0.0.1:$pd"}]}}}
	EOF
	proxy_echo_nginx ng "127.0.0.1:$pn" || { fail "$CUR_TEST" "nginx did not start"; return; }
	xfer_server d "127.0.0.1:$pd" --count 0 --http not-the-real-client || { fail "$CUR_TEST" "xfer server"; return; }
	haproxy_run hap "listen front
	  mode tcp
	  bind 127.0.0.1:$ph
	  server pt 127.0.0.1:$pt send-proxy-v2" || { fail "$CUR_TEST" "haproxy did not start: $(tail -n 3 "$D/hap.out")"; return; }
	pt_start "$D/c.json" || return
	out=$(curl_via 127.0.0.2 "http://127.0.0.1:$ph/")
	body=${out%|*} port=${out##*|}
	if [ "$body" != "127.0.0.2 $port 127.0.0.1" ]; then
		fail "$CUR_TEST" "through haproxy and passthru nginx answered '$body', want '127.0.0.2 $port 127.0.0.1'; $(conn_lines | tail -n 1)"
	elif ! wait_log "conn client=127\.0\.0\.2:$port via=127\.0\.0\.1:[0-9]+ "; then
		fail "$CUR_TEST" "no 'client=127.0.0.2:$port via=127.0.0.1:...' line: $(conn_lines)"
	else
		pass "$CUR_TEST"
	fi
}

# From a trusted address, a connection without a valid header is closed,
# and the log says why: not a header, a malformed one, one cut short.
t_accept_proxy_required() {
	newdir
	local pt pd
	pt=$(free_port) pd=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"servers":{"127.0.0.1:$pt":{"accept_proxy":"127.0.0.1",
	  "CATCHALL":{"CATCHALL":{"action":"FORWARD","to_addr":"127.0.0.1:$pd"}}}}}
	EOF
	printf 'GET / HTTP/1.1\r\nHost: a\r\n\r\n' >"$D/req"
	xfer_server d "127.0.0.1:$pd" || { fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" || return
	xfer_client cli "127.0.0.1:$pt" --prefix-file "$D/req" --mode recv-first --timeout-s 10
	if [ -s "$D/d.rep" ]; then
		fail "$CUR_TEST" "a connection without a PROXY header reached the upstream"
	elif ! wait_log 'conn .*end=proxy-bad error="not a PROXY header"'; then
		fail "$CUR_TEST" "no end=proxy-bad error=\"not a PROXY header\" line: $(conn_lines)"
	else
		printf 'PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n' >"$D/bad1"
		printf 'PROXY TCP4 1.2.3.4 5.6' >"$D/cut"
		xfer_client bad1 "127.0.0.1:$pt" --prefix-file "$D/bad1" --mode recv-first --timeout-s 10
		xfer_client cut "127.0.0.1:$pt" --prefix-file "$D/cut" --mode recv-first --timeout-s 10
		if ! wait_log 'conn .*end=proxy-bad error="a malformed PROXY header"'; then
			fail "$CUR_TEST" "a malformed v1 line: $(conn_lines | tail -n 2)"
		elif ! wait_log 'conn .*end=proxy-bad error="the PROXY header was cut short"'; then
			fail "$CUR_TEST" "a header cut short: $(conn_lines | tail -n 2)"
		else
			pass "$CUR_TEST"
		fi
	fi
}

# ---- transparent -------------------------------------------------------------------------

# Three namespaces: client 10.11.1.2 -- 10.11.1.1 passthru 10.11.2.1 --
# 10.11.2.2 server, whose default route is passthru.  Replies to the
# client's address come back to passthru's host, and the policy route
# "iif <server side> lookup 100; local 0.0.0.0/0 dev lo table 100" hands
# them to the transparent socket.  The server must see 10.11.1.2.
t_transparent() {
	newdir
	local pt=8443 ps=9000 vc=vc$$ vs=vs$$
	ns_create cli && ns_create tp && ns_create srv || { skip "$CUR_TEST" "cannot create netns"; return; }
	ip link add "${vc}a" netns "${NS_PREFIX}cli" type veth peer name "${vc}b" netns "${NS_PREFIX}tp" &&
		ip link add "${vs}a" netns "${NS_PREFIX}srv" type veth peer name "${vs}b" netns "${NS_PREFIX}tp" ||
		{ skip "$CUR_TEST" "cannot create veth pairs"; return; }
	ns_exec cli ip addr add 10.11.1.2/24 dev "${vc}a"
	ns_exec tp ip addr add 10.11.1.1/24 dev "${vc}b"
	ns_exec tp ip addr add 10.11.2.1/24 dev "${vs}b"
	ns_exec srv ip addr add 10.11.2.2/24 dev "${vs}a"
	ns_exec cli ip link set "${vc}a" up
	ns_exec tp ip link set "${vc}b" up
	ns_exec tp ip link set "${vs}b" up
	ns_exec srv ip link set "${vs}a" up
	ns_exec srv ip route add default via 10.11.2.1
	ns_exec cli ip route add default via 10.11.1.1
	ns_exec tp sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf."${vs}b".rp_filter=0
	ns_exec tp ip rule add iif "${vs}b" lookup 100
	ns_exec tp ip route add local 0.0.0.0/0 dev lo table 100
	cat >"$D/c.json" <<-EOF
	{"servers":{"10.11.1.1:$pt":{"TLS":{"SNI a.example":{"action":"FORWARD",
	  "to_addr":"10.11.2.2:$ps","transparent":true}}}}}
	EOF
	"$MKHELLO" --sni a.example >"$D/hello"
	ns_exec srv "$XFER" server --listen "10.11.2.2:$ps" --report "$D/srv.rep" --send 100k >/dev/null 2>&1 &
	WAIT_NS=srv wait_port 10.11.2.2 "$ps" 5 || { fail "$CUR_TEST" "xfer server"; return; }
	PT_NS=tp pt_start "$D/c.json" || return
	ns_exec cli "$XFER" client --connect "10.11.1.1:$pt" --prefix-file "$D/hello" --send 100k \
		--timeout-s 10 --report "$D/cli.rep" >/dev/null 2>&1
	local peer
	wait_for 5 test -s "$D/srv.rep"
	peer=$(field "$D/srv.rep" peer)
	if [ "${peer%:*}" != 10.11.1.2 ]; then
		fail "$CUR_TEST" "the server saw ${peer:-nothing}, want 10.11.1.2; $(conn_lines)"
	else
		expect_ok "$CUR_TEST" check_transfer "$D/cli.rep" "$D/srv.rep" $(( $(size "$D/hello") + 102400 )) 102400
	fi
}

# An IPv4 client cannot be the source of an IPv6 connection: a clean
# failure, named in the log.
t_transparent_family() {
	ip -6 addr show dev lo 2>/dev/null | grep -q '::1/128' || { skip "$CUR_TEST" "no ::1 on lo"; return; }
	newdir
	local pt pu
	pt=$(free_port) pu=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"servers":{"127.0.0.1:$pt":{"TLS":{"SNI a.example":{"action":"FORWARD",
	  "to_addr":"[::1]:$pu","transparent":true}}}}}
	EOF
	"$MKHELLO" --sni a.example >"$D/hello"
	pt_start "$D/c.json" || return
	xfer_client cli "127.0.0.1:$pt" --prefix-file "$D/hello" --mode recv-first --timeout-s 10
	if [ "$(field "$D/cli.rep" recv)" != 0 ] || [ "$(field "$D/cli.rep" result)" = error:timeout ]; then
		fail "$CUR_TEST" "client: $(tail -n 1 "$D/cli.rep")"
	elif ! wait_log 'conn .*end=upstream-unreachable error="Address family not supported'; then
		fail "$CUR_TEST" "no 'end=upstream-unreachable error=\"Address family not supported' line: $(conn_lines)"
	else
		pass "$CUR_TEST"
	fi
}

run_test routing-up/roundrobin t_roundrobin
run_test routing-up/retry-and-passive-health t_retry_health
run_test routing-up/connect-timeout-next t_connect_timeout
run_test routing-up/resolve-failure-next t_resolve_next
run_test routing-up/leastconn t_leastconn
run_test routing-up/source-hash t_source_hash
for MODE in sockmap splice; do
	run_test "routing-up/$MODE/send-proxy-v1-nginx" t_send_proxy_nginx 1
	run_test "routing-up/$MODE/send-proxy-v2-nginx" t_send_proxy_nginx 2
	run_test "routing-up/$MODE/send-proxy-v2-haproxy" t_send_proxy_haproxy
done
run_test routing-up/ipv6-client-ipv4-upstream-proxy-v2 t_v6_client_v4_upstream
run_test routing-up/ipv4-client-ipv6-upstream-proxy-v1 t_v4_client_v6_upstream
run_test routing-up/accept-proxy-from-haproxy t_accept_proxy
run_test routing-up/accept-proxy-required t_accept_proxy_required
run_test routing-up/transparent-netns t_transparent
run_test routing-up/transparent-family-mismatch t_transparent_family
