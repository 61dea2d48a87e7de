#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Routing breadth, matching side: SNI forms, ALPN, ECH, client address and
# listen port conditions, REJECT variants, server-first protocols
# (on_timeout) and every protocol module, with real clients where Debian
# has one (openssl s_client, curl, ssh, psql, openvpn).  Upstreams and
# PROXY protocol: test_routing_upstream.sh; 1-byte segments:
# test_routing_perf.sh.
. "$(dirname "$0")/../lib/routing.sh"

require_root
require_cmd "$PASSTHRU" "$XFER" "$MKHELLO" ss openssl

# ---- TLS: SNI and ALPN --------------------------------------------------------

# got_cert OUT CN: s_client's output shows the certificate of CN.
got_cert() { grep -qE "^subject=.*CN ?= ?$2\$" "$1"; }

t_sni_forms() {
	newdir
	local pt pa pr pw pn why=
	pt=$(free_port) pa=$(free_port) pr=$(free_port) pw=$(free_port) pn=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"servers":{"127.0.0.1:$pt":{"TLS":[
	  {"match":"SNI a.example","action":"FORWARD","to_addr":"127.0.0.1:$pa"},
	  {"match":"SNI ~^api[0-9]+\\\\.example\$","action":"FORWARD","to_addr":"127.0.0.1:$pr"},
	  {"match":"SNI *.wild.example","action":"FORWARD","to_addr":"127.0.0.1:$pw"},
	  {"match":"SNI","action":"FORWARD","to_addr":"127.0.0.1:$pn"},
	  {"match":"CATCHALL","action":"REJECT"}]}}}
	EOF
	s_server a "$pa" a.example -naccept 2 && s_server r "$pr" api.example &&
		s_server w "$pw" wild.example && s_server n "$pn" nosni.example ||
		{ fail "$CUR_TEST" "s_server did not start"; return; }
	pt_start "$D/c.json" || return
	s_client "$D/c1.out" "$pt" -servername A.EXAMPLE
	got_cert "$D/c1.out" a.example || why="-servername A.EXAMPLE: not a.example's certificate"
	s_client "$D/c2.out" "$pt" -servername a.example.
	[ -z "$why" ] && ! got_cert "$D/c2.out" a.example && why="-servername a.example. (trailing dot): not a.example's certificate"
	s_client "$D/c3.out" "$pt" -servername api42.example
	[ -z "$why" ] && ! got_cert "$D/c3.out" api.example && why="api42.example did not match the regex rule"
	s_client "$D/c4.out" "$pt" -servername x.y.wild.example
	[ -z "$why" ] && ! got_cert "$D/c4.out" wild.example && why="x.y.wild.example did not match *.wild.example"
	s_client "$D/c5.out" "$pt" -noservername
	[ -z "$why" ] && ! got_cert "$D/c5.out" nosni.example && why="a hello without SNI did not match \"SNI\""
	s_client "$D/c6.out" "$pt" -servername api42.example.org
	[ -z "$why" ] && grep -q '^subject=' "$D/c6.out" && why="api42.example.org (regex anchored by \$) was not rejected"
	[ -z "$why" ] && ! wait_for 5 grep -q hello-through-passthru "$D/a.out" && why="s_server a.example did not get the client's line"
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why: $(conn_lines | tail -n 2)"
}

t_alpn() {
	require_cmd curl nginx || return
	newdir
	local pt p1 p2 pa body why=
	pt=$(free_port) p1=$(free_port) p2=$(free_port) pa=$(free_port)
	mkcert a.example || { fail "$CUR_TEST" "mkcert"; return; }
	nginx_run ng "http {
	  server { listen 127.0.0.1:$p2 ssl http2; ssl_certificate $T/certs/a.example.crt;
	           ssl_certificate_key $T/certs/a.example.key; return 200 \"h2-backend \$server_protocol\"; }
	  server { listen 127.0.0.1:$p1 ssl; ssl_certificate $T/certs/a.example.crt;
	           ssl_certificate_key $T/certs/a.example.key; return 200 \"h1-backend \$server_protocol\"; }
	}" || { fail "$CUR_TEST" "nginx did not start"; return; }
	s_server acme "$pa" acme.example -alpn acme-tls/1 || { fail "$CUR_TEST" "s_server"; return; }
	cat >"$D/c.json" <<-EOF
	{"servers":{"127.0.0.1:$pt":{"TLS":[
	  {"match":"ALPN h2","action":"FORWARD","to_addr":"127.0.0.1:$p2"},
	  {"match":"SNI a.example","alpn":"acme-tls/1","action":"FORWARD","to_addr":"127.0.0.1:$pa"},
	  {"match":"CATCHALL","action":"FORWARD","to_addr":"127.0.0.1:$p1"}]}}}
	EOF
	pt_start "$D/c.json" || return
	body=$(curl -sk --http2 --max-time 10 --resolve "a.example:$pt:127.0.0.1" "https://a.example:$pt/" 2>&1)
	[ "$body" = "h2-backend HTTP/2.0" ] || why="curl --http2 got '$body', want 'h2-backend HTTP/2.0'"
	body=$(curl -sk --http1.1 --max-time 10 --resolve "a.example:$pt:127.0.0.1" "https://a.example:$pt/" 2>&1)
	[ -z "$why" ] && [ "$body" != "h1-backend HTTP/1.1" ] && why="curl --http1.1 got '$body', want 'h1-backend HTTP/1.1'"
	# h2 offered second, after http/1.1: any offered value counts
	s_client "$D/o1.out" "$pt" -servername a.example -alpn http/1.1,h2
	[ -z "$why" ] && ! grep -q "ALPN protocol: h2" "$D/o1.out" && why="-alpn http/1.1,h2 did not reach the h2 server: $(grep -i alpn "$D/o1.out")"
	s_client "$D/o2.out" "$pt" -servername a.example -alpn acme-tls/1
	[ -z "$why" ] && ! got_cert "$D/o2.out" acme.example && why="-alpn acme-tls/1 did not reach the acme server"
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
}

# openssl s_client offering 17 ALPN ids, the one a rule names last (one
# past the 16 passthru used to keep), by key and by condition; the debug
# line still shows the first id.
t_alpn_many() {
	newdir
	local pt pa pb ids='' i why=
	pt=$(free_port) pa=$(free_port) pb=$(free_port)
	for i in $(seq 1 16); do ids="${ids}p$i,"; done
	cat >"$D/c.json" <<-EOF
	{"servers":{"127.0.0.1:$pt":{"TLS":[
	  {"match":"ALPN last-by-key","action":"FORWARD","to_addr":"127.0.0.1:$pa"},
	  {"match":"SNI b.example","alpn":["x","last-by-cond"],"action":"FORWARD","to_addr":"127.0.0.1:$pb"},
	  {"match":"CATCHALL","action":"REJECT"}]}}}
	EOF
	s_server a "$pa" alpnkey.example && s_server b "$pb" alpncond.example ||
		{ fail "$CUR_TEST" "s_server did not start"; return; }
	pt_start "$D/c.json" --log-level debug || return
	s_client "$D/o1.out" "$pt" -servername a.example -alpn "${ids}last-by-key"
	got_cert "$D/o1.out" alpnkey.example || why="17 ids, the last named by \"ALPN last-by-key\": not routed by it"
	s_client "$D/o2.out" "$pt" -servername b.example -alpn "${ids}last-by-cond"
	[ -z "$why" ] && ! got_cert "$D/o2.out" alpncond.example &&
		why="17 ids, the last named by the \"alpn\" condition: not routed by it"
	[ -z "$why" ] && ! grep -q 'rule="ALPN last-by-key" sni=a.example alpn=p1,\.\.\.' "$PT_LOG" &&
		why="no debug line with alpn=p1,...: $(grep -m1 'sniffed=' "$PT_LOG")"
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why: $(conn_lines | tail -n 2)"
}

# ECH: no Debian client sends it yet (OpenSSL 3.0), so mkhello does: the
# hello is routed on its outer SNI, and "ech": true tells it apart.
t_ech() {
	newdir
	local pt pa pb
	pt=$(free_port) pa=$(free_port) pb=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"servers":{"127.0.0.1:$pt":{"TLS":[
	  {"match":"SNI public.example","ech":true,"action":"FORWARD","to_addr":"127.0.0.1:$pa"},
	  {"match":"SNI public.example","action":"FORWARD","to_addr":"127.0.0.1:$pb"}]}}}
	EOF
	"$MKHELLO" --sni public.example --ech --alpn h2 >"$D/ech"
	"$MKHELLO" --sni public.example --alpn h2 >"$D/plain"
	xfer_server a "127.0.0.1:$pa" --send 10k && xfer_server b "127.0.0.1:$pb" --send 10k ||
		{ fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" || return
	xfer_client ce "127.0.0.1:$pt" --prefix-file "$D/ech" --send 10k --timeout-s 10
	xfer_client cp "127.0.0.1:$pt" --prefix-file "$D/plain" --send 10k --timeout-s 10
	local why
	if why=$(check_transfer "$D/ce.rep" "$D/a.rep" $(( $(size "$D/ech") + 10240 )) 10240); then
		expect_ok "$CUR_TEST" check_transfer "$D/cp.rep" "$D/b.rep" $(( $(size "$D/plain") + 10240 )) 10240
	else
		fail "$CUR_TEST" "the ECH hello: $why"
	fi
}

# ---- client address and listen port --------------------------------------------

t_src_port() {
	require_cmd curl || return
	ip -6 addr show dev lo 2>/dev/null | grep -q '::1/128' || { skip "$CUR_TEST" "no ::1 on lo"; return; }
	newdir
	local p1 p2 ua ub uc ud body why=
	p1=$(free_port) p2=$(free_port) ua=$(free_port) ub=$(free_port) uc=$(free_port) ud=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"servers":{"127.0.0.1:$p1, 127.0.0.1:$p2, [::1]:$p1":{"HTTP":[
	  {"match":"Host a.example","src":["127.0.0.2/32"],"action":"FORWARD","to_addr":"127.0.0.1:$ua"},
	  {"match":"Host a.example","src":"::1/128","action":"FORWARD","to_addr":"127.0.0.1:$ub"},
	  {"match":"Host a.example","port":[$p2],"action":"FORWARD","to_addr":"127.0.0.1:$uc"},
	  {"match":"Host a.example","action":"FORWARD","to_addr":"127.0.0.1:$ud"}]}}}
	EOF
	xfer_server a "127.0.0.1:$ua" --http from-127.0.0.2 --count 0 && xfer_server b "127.0.0.1:$ub" --http from-v6 --count 0 &&
		xfer_server c "127.0.0.1:$uc" --http port-$p2 --count 0 && xfer_server d "127.0.0.1:$ud" --http default --count 0 ||
		{ fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" || return
	wait_port 127.0.0.1 "$p1" 5
	body=$(curl -sS --max-time 10 --interface 127.0.0.2 -H 'Host: a.example' "http://127.0.0.1:$p1/" 2>&1)
	[ "$body" = from-127.0.0.2 ] || why="client 127.0.0.2 got '$body'"
	body=$(curl -sS --max-time 10 -g -H 'Host: a.example' "http://[::1]:$p1/" 2>&1)
	[ -z "$why" ] && [ "$body" != from-v6 ] && why="client ::1 got '$body'"
	body=$(curl -sS --max-time 10 -H 'Host: a.example' "http://127.0.0.1:$p2/" 2>&1)
	[ -z "$why" ] && [ "$body" != "port-$p2" ] && why="listen port $p2 got '$body'"
	body=$(curl -sS --max-time 10 -H 'Host: a.example' "http://127.0.0.1:$p1/" 2>&1)
	[ -z "$why" ] && [ "$body" != default ] && why="client 127.0.0.1 on port $p1 got '$body'"
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
}

# ---- REJECT ----------------------------------------------------------------------

t_reject_variants() {
	newdir
	local pt why= r
	pt=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"servers":{"127.0.0.1:$pt":{"TLS":{
	  "SNI alert.example":{"action":"REJECT","reject":"tls-alert"},
	  "SNI failure.example":{"action":"REJECT","reject":"tls-alert","alert":"handshake_failure"},
	  "SNI rst.example":{"action":"REJECT","reject":"rst"},
	  "CATCHALL":{"action":"REJECT","reject":"close"}}}}}
	EOF
	pt_start "$D/c.json" || return
	s_client "$D/alert.out" "$pt" -servername alert.example
	grep -qiE "unrecognized.name|alert number 112" "$D/alert.out" ||
		why="s_client did not see an unrecognized_name alert: $(grep -iE 'alert|error' "$D/alert.out" | head -2)"
	s_client "$D/failure.out" "$pt" -servername failure.example
	[ -z "$why" ] && ! grep -qiE "handshake.failure|alert number 40" "$D/failure.out" &&
		why="s_client did not see a handshake_failure alert: $(grep -iE 'alert|error' "$D/failure.out" | head -2)"
	"$MKHELLO" --sni rst.example >"$D/rst"
	"$MKHELLO" --sni other.example >"$D/other"
	xfer_client rst "127.0.0.1:$pt" --prefix-file "$D/rst" --mode recv-first --timeout-s 10
	r=$(field "$D/rst.rep" result)
	[ -z "$why" ] && [ "$r" != error:recv-ECONNRESET ] && why="reject rst: client result $r, want error:recv-ECONNRESET"
	xfer_client close "127.0.0.1:$pt" --prefix-file "$D/other" --mode recv-first --timeout-s 10
	r=$(field "$D/close.rep" result)
	[ -z "$why" ] && { [ "$r" != ok ] || [ "$(field "$D/close.rep" recv)" != 0 ]; } &&
		why="reject close: client $(tail -n 1 "$D/close.rep"), want a clean EOF"
	[ -z "$why" ] && [ "$(conn_lines | grep -c 'action=REJECT.*end=reject')" != 4 ] &&
		why="want 4 'action=REJECT ... end=reject' lines: $(conn_lines)"
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
}

# ---- server-first protocols ----------------------------------------------------------

# A real ssh client made to wait for the server's banner before it sends
# its own (as some clients do): passthru sees nothing, and after
# on_timeout.after routes it to sshd, on the port where TLS also works.
t_on_timeout_ssh() {
	require_cmd ssh ssh-keygen /usr/sbin/sshd || return
	newdir
	local pt sp pa out ms
	pt=$(free_port) sp=$(free_port) pa=$(free_port)
	sshd_start "$sp" || { fail "$CUR_TEST" "sshd did not start: $(tail -n 3 "$D/sshd.log")"; return; }
	s_server a "$pa" a.example || { fail "$CUR_TEST" "s_server"; return; }
	cat >"$D/c.json" <<-EOF
	{"servers":{"127.0.0.1:$pt":{
	  "on_timeout":{"after":"300ms","action":"FORWARD","to_addr":"127.0.0.1:$sp"},
	  "TLS":{"SNI a.example":{"action":"FORWARD","to_addr":"127.0.0.1:$pa"}},
	  "CATCHALL":{"CATCHALL":{"action":"REJECT"}}}}}
	EOF
	# The ProxyCommand holds the client's bytes until the server spoke.
	cat >"$D/wait-banner.sh" <<-'EOF'
	exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
	IFS= read -r line <&3 || exit 1
	printf '%s\n' "$line"
	cat <&3 &
	reader=$!
	# ssh closed our stdin: close the connection too (the reader
	# would otherwise hold it, and sshd and $(...) with it, open).
	cat >&3
	kill "$reader" 2>/dev/null
	exit 0
	EOF
	pt_start "$D/c.json" -t 5s || return
	out=$(timeout 20 ssh $(ssh_opts) -o "ProxyCommand=bash $D/wait-banner.sh $pt" root@127.0.0.1 echo ssh-ok 2>&1)
	if [ "$out" != ssh-ok ]; then
		fail "$CUR_TEST" "ssh printed '$out'; sshd: $(tail -n 2 "$D/sshd.log"); $(conn_lines | tail -n 1)"
		return
	fi
	wait_log 'conn .*proto=TIMEOUT rule="on_timeout"' ||
		{ fail "$CUR_TEST" "no 'proto=TIMEOUT rule=\"on_timeout\"' line: $(conn_lines)"; return; }
	s_client "$D/tls.out" "$pt" -servername a.example
	got_cert "$D/tls.out" a.example || { fail "$CUR_TEST" "TLS on the same port: $(conn_lines | tail -n 1)"; return; }
	pass "$CUR_TEST"
}

# SMTP-like: the server greets first; the silent client is served after
# on_timeout.after, well before the 5 s sniff timeout.
t_on_timeout_banner() {
	newdir
	local pt pc ms banner=$'220 mail.example ESMTP\r\n'
	pt=$(free_port) pc=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"servers":{"127.0.0.1:$pt":{
	  "TLS":{"CATCHALL":{"action":"REJECT"}},
	  "on_timeout":{"after":"200ms","action":"FORWARD","to_addr":"127.0.0.1:$pc"}}}}
	EOF
	xfer_server c "127.0.0.1:$pc" --banner "$banner" --mode send-first --send 20k ||
		{ fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" -t 5s || return
	xfer_client cli "127.0.0.1:$pt" --mode recv-first --send 20k --timeout-s 10
	ms=$(field "$D/cli.rep" ms)
	if ! [ "${ms:-0}" -ge 150 ] 2>/dev/null || [ "$ms" -gt 2000 ]; then
		fail "$CUR_TEST" "served after ${ms:-?} ms, want about 200: $(tail -n 1 "$D/cli.rep")"
	else
		expect_ok "$CUR_TEST" check_transfer "$D/cli.rep" "$D/c.rep" 20480 $((20480 + ${#banner}))
	fi
}

# A client that sent something incomplete is not silent: it waits for
# the sniff timeout and takes the listener's CATCHALL, not on_timeout.
t_on_timeout_not_partial() {
	newdir
	local pt pc pd
	pt=$(free_port) pc=$(free_port) pd=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"servers":{"127.0.0.1:$pt":{
	  "on_timeout":{"after":"200ms","action":"FORWARD","to_addr":"127.0.0.1:$pc"},
	  "TLS":{"SNI a":{"action":"REJECT"}},
	  "CATCHALL":{"CATCHALL":{"action":"FORWARD","to_addr":"127.0.0.1:$pd"}}}}}
	EOF
	"$MKHELLO" --sni a.example | head -c 20 >"$D/partial"
	xfer_server c "127.0.0.1:$pc" && xfer_server d "127.0.0.1:$pd" || { fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" -t 1s || return
	xfer_client cli "127.0.0.1:$pt" --prefix-file "$D/partial" --mode recv-first --timeout-s 10
	if [ -s "$D/c.rep" ]; then
		fail "$CUR_TEST" "a client that sent 20 bytes took the on_timeout route"
	else
		expect_ok "$CUR_TEST" check_transfer "$D/cli.rep" "$D/d.rep" 20 0
	fi
}

# ---- protocol modules --------------------------------------------------------------------

# all_cfg FILE PT: one listener with every protocol; each rule forwards to
# its own upstream port, $UP_<NAME>.
all_cfg() {
	local n
	for n in TLS HTTP SSH HTTP2 SOCKS5 OPENVPN XMPP POSTGRES RDP RDPC REGEX CATCHALL; do
		printf -v "UP_$n" '%s' "$(free_port)"
	done
	cat >"$1" <<-EOF
	{"servers":{"127.0.0.1:$2":{
	  "TLS":{"SNI t.example":{"action":"FORWARD","to_addr":"127.0.0.1:$UP_TLS"}},
	  "HTTP":{"Host h.example":{"action":"FORWARD","to_addr":"127.0.0.1:$UP_HTTP"}},
	  "SSH":{"SSH":{"action":"FORWARD","to_addr":"127.0.0.1:$UP_SSH"}},
	  "HTTP2":{"HTTP2":{"action":"FORWARD","to_addr":"127.0.0.1:$UP_HTTP2"}},
	  "SOCKS5":{"SOCKS5":{"action":"FORWARD","to_addr":"127.0.0.1:$UP_SOCKS5"}},
	  "OPENVPN":{"OPENVPN":{"action":"FORWARD","to_addr":"127.0.0.1:$UP_OPENVPN"}},
	  "XMPP":{"Host chat.example":{"action":"FORWARD","to_addr":"127.0.0.1:$UP_XMPP"}},
	  "POSTGRES":{"POSTGRES":{"action":"FORWARD","to_addr":"127.0.0.1:$UP_POSTGRES"}},
	  "RDP":{"Cookie alice":{"action":"FORWARD","to_addr":"127.0.0.1:$UP_RDPC"},
	         "RDP":{"action":"FORWARD","to_addr":"127.0.0.1:$UP_RDP"}},
	  "REGEX":{"REGEX ^HELO [a-z]+\\\\.example\\\\r\\\\n":{"action":"FORWARD","to_addr":"127.0.0.1:$UP_REGEX"}},
	  "CATCHALL":{"CATCHALL":{"action":"FORWARD","to_addr":"127.0.0.1:$UP_CATCHALL"}}}}}
	EOF
}

# fixture_routes UP_NAME PROTO FILE: FILE then 50 KB go to upstream UP_NAME,
# byte-exact, logged with proto=PROTO.
fixture_routes() {
	local want=$1 proto=$2 file=$3 pt var
	newdir
	pt=$(free_port)
	all_cfg "$D/c.json" "$pt"
	var=UP_$want
	xfer_server up "127.0.0.1:${!var}" --send 50k || { fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" -t 2s || return
	xfer_client cli "127.0.0.1:$pt" --prefix-file "$file" --send 50k --timeout-s 10
	if ! wait_log "conn .*proto=$proto .*upstream=127\.0\.0\.1:${!var} "; then
		fail "$CUR_TEST" "no 'proto=$proto ... upstream=127.0.0.1:${!var}' line: $(conn_lines)"
	else
		expect_ok "$CUR_TEST" check_transfer "$D/cli.rep" "$D/up.rep" $(( $(size "$file") + 51200 )) 51200
	fi
}

fx() { printf "$2" >"$T/fx-$1"; echo "$T/fx-$1"; }

t_xmpp() { fixture_routes XMPP XMPP "$(fx xmpp "<?xml version='1.0'?><stream:stream to='Chat.Example' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")"; }
t_rdp_cookie() { fixture_routes RDPC RDP "$(fx rdpc '\x03\x00\x00\x2b\x26\xe0\x00\x00\x00\x00\x00Cookie: mstshash=alice\r\n\x01\x00\x08\x00\x03\x00\x00\x00')"; }
t_rdp() { fixture_routes RDP RDP "$(fx rdp '\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x03\x00\x00\x00')"; }
t_regex() { fixture_routes REGEX REGEX "$(fx regex 'HELO relay.example\r\n')"; }
t_regex_miss() { fixture_routes CATCHALL CATCHALL "$(fx regexmiss 'HELO relay.example.org\r\n')"; }
t_socks5_fixture() { fixture_routes SOCKS5 SOCKS5 "$(fx socks5 '\x05\x02\x00\x02')"; }

# curl --http2-prior-knowledge to nginx speaking h2c.
t_h2c() {
	require_cmd curl nginx || return
	newdir
	local pt body
	pt=$(free_port)
	all_cfg "$D/c.json" "$pt"
	nginx_run ng "http { server { listen 127.0.0.1:$UP_HTTP2 http2; return 200 \"h2c-backend \$server_protocol\"; } }" ||
		{ fail "$CUR_TEST" "nginx did not start"; return; }
	pt_start "$D/c.json" || return
	body=$(curl -sS --http2-prior-knowledge --max-time 10 "http://127.0.0.1:$pt/" 2>&1)
	if [ "$body" != "h2c-backend HTTP/2.0" ]; then
		fail "$CUR_TEST" "curl --http2-prior-knowledge got '$body': $(conn_lines | tail -n 1)"
	elif ! wait_log 'conn .*proto=HTTP2 rule="HTTP2"'; then
		fail "$CUR_TEST" "no proto=HTTP2 line: $(conn_lines)"
	else
		pass "$CUR_TEST"
	fi
}

# curl through passthru to a real SOCKS5 server (ssh -D), then to HTTP.
t_socks5() {
	require_cmd curl ssh ssh-keygen /usr/sbin/sshd || return
	newdir
	local pt sp web body
	pt=$(free_port) sp=$(free_port) web=$(free_port)
	all_cfg "$D/c.json" "$pt"
	sshd_start "$sp" || { fail "$CUR_TEST" "sshd did not start"; return; }
	ssh $(ssh_opts) -p "$sp" -N -D "127.0.0.1:$UP_SOCKS5" root@127.0.0.1 2>"$D/ssh-D.log" &
	wait_port 127.0.0.1 "$UP_SOCKS5" 10 || { fail "$CUR_TEST" "ssh -D did not listen: $(cat "$D/ssh-D.log")"; return; }
	xfer_server web "127.0.0.1:$web" --http via-socks5 || { fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" || return
	body=$(curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$pt" "http://127.0.0.1:$web/" 2>&1)
	if [ "$body" != via-socks5 ]; then
		fail "$CUR_TEST" "curl --socks5-hostname got '$body': $(conn_lines | tail -n 1)"
	elif ! wait_log 'conn .*proto=SOCKS5'; then
		fail "$CUR_TEST" "no proto=SOCKS5 line: $(conn_lines)"
	else
		pass "$CUR_TEST"
	fi
}

# psql (sslmode=prefer: an SSLRequest first) through passthru to a real
# PostgreSQL server without TLS: it answers 'N' and the session goes on.
t_postgres() {
	local bin=/usr/lib/postgresql/15/bin
	require_cmd psql "$bin/postgres" "$bin/initdb" setpriv || return
	id postgres >/dev/null 2>&1 || { skip "$CUR_TEST" "no postgres user"; return; }
	newdir
	local pt out
	pt=$(free_port)
	all_cfg "$D/c.json" "$pt"
	mkdir -p "$D/pg" && chown postgres "$D/pg"
	setpriv --reuid postgres --regid postgres --clear-groups "$bin/initdb" -D "$D/pg/data" -A trust -U postgres \
		>"$D/initdb.log" 2>&1 || { fail "$CUR_TEST" "initdb: $(tail -n 3 "$D/initdb.log")"; return; }
	setpriv --reuid postgres --regid postgres --clear-groups "$bin/postgres" -D "$D/pg/data" \
		-h 127.0.0.1 -p "$UP_POSTGRES" -k "$D/pg" -c ssl=off >"$D/pg.log" 2>&1 &
	wait_port 127.0.0.1 "$UP_POSTGRES" 20 || { fail "$CUR_TEST" "postgres did not start: $(tail -n 3 "$D/pg.log")"; return; }
	pt_start "$D/c.json" || return
	out=$(PGCONNECT_TIMEOUT=10 timeout 20 psql "host=127.0.0.1 port=$pt user=postgres dbname=postgres sslmode=prefer" \
		-Atc "select 'pg-' || 'ok'" 2>&1)
	if [ "$out" != pg-ok ]; then
		fail "$CUR_TEST" "psql printed '$out': $(conn_lines | tail -n 1)"
	elif ! wait_log "conn .*proto=POSTGRES .*upstream=127\.0\.0\.1:$UP_POSTGRES "; then
		fail "$CUR_TEST" "no proto=POSTGRES line: $(conn_lines)"
	else
		pass "$CUR_TEST"
	fi
}

# The openvpn client's first packet (a hard reset) reaches the OPENVPN
# upstream byte-exact; no OpenVPN server is needed to see where it went.
t_openvpn() {
	require_cmd openvpn || return
	newdir
	local pt
	pt=$(free_port)
	all_cfg "$D/c.json" "$pt"
	mkcert vpn.example || { fail "$CUR_TEST" "mkcert"; return; }
	xfer_server up "127.0.0.1:$UP_OPENVPN" --mode recv-first --timeout-s 5 || { fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" || return
	timeout 5 openvpn --client --dev null --proto tcp-client --remote 127.0.0.1 "$pt" \
		--ca "$T/certs/vpn.example.crt" --cert "$T/certs/vpn.example.crt" --key "$T/certs/vpn.example.key" \
		--connect-retry-max 1 --verb 1 >"$D/openvpn.log" 2>&1
	if ! wait_log "conn .*proto=OPENVPN .*upstream=127\.0\.0\.1:$UP_OPENVPN "; then
		fail "$CUR_TEST" "no proto=OPENVPN line: $(conn_lines); openvpn: $(tail -n 2 "$D/openvpn.log")"
	elif ! wait_for 8 test -s "$D/up.rep" || [ "$(field "$D/up.rep" recv)" -lt 16 ] 2>/dev/null; then
		fail "$CUR_TEST" "the upstream got: $(cat "$D/up.rep" 2>/dev/null)"
	else
		pass "$CUR_TEST"
	fi
}

# A real ssh client (it speaks first) still routes by its banner.
t_ssh_banner() {
	require_cmd ssh ssh-keygen /usr/sbin/sshd || return
	newdir
	local pt out
	pt=$(free_port)
	all_cfg "$D/c.json" "$pt"
	sshd_start "$UP_SSH" || { fail "$CUR_TEST" "sshd did not start"; return; }
	pt_start "$D/c.json" || return
	out=$(timeout 20 ssh $(ssh_opts) -p "$pt" root@127.0.0.1 echo ssh-ok 2>&1)
	[ "$out" = ssh-ok ] && pass "$CUR_TEST" || fail "$CUR_TEST" "ssh printed '$out'"
}

# Every example of the README's Routing section loads.
t_config_examples() {
	local f out
	for f in "$ROOT"/config/routing-*.json; do
		out=$("$PASSTHRU" -c "$f" --check 2>&1) || { fail "$CUR_TEST" "$out"; return; }
	done
	pass "$CUR_TEST"
}

run_test routing/config-examples-load t_config_examples
run_test routing/sni-exact-regex-wildcard-none t_sni_forms
run_test routing/alpn-h2-http1-acme t_alpn
run_test routing/alpn-17-ids-last-matches t_alpn_many
run_test routing/ech-outer-sni t_ech
run_test routing/src-cidr-and-listen-port t_src_port
run_test routing/reject-alert-rst-close t_reject_variants
run_test routing/on-timeout-ssh-waits-for-banner t_on_timeout_ssh
run_test routing/on-timeout-server-greets t_on_timeout_banner
run_test routing/on-timeout-not-for-partial t_on_timeout_not_partial
run_test routing/proto-http2-prior-knowledge t_h2c
run_test routing/proto-socks5-curl t_socks5
run_test routing/proto-socks5-fixture t_socks5_fixture
run_test routing/proto-postgres-psql t_postgres
run_test routing/proto-openvpn-client t_openvpn
run_test routing/proto-ssh-client t_ssh_banner
run_test routing/proto-xmpp t_xmpp
run_test routing/proto-rdp-cookie t_rdp_cookie
run_test routing/proto-rdp t_rdp
run_test routing/proto-regex t_regex
run_test routing/proto-regex-miss t_regex_miss
