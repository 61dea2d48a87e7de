#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Core routing tests: the real passthru binary with real clients (openssl,
# curl, ssh) and xfer, each case once with --mode sockmap and once with
# --mode splice, plus the CLI checks.  Bulk transfers: test_core_data.sh.
. "$(dirname "$0")/../lib/common.sh"

require_root
require_cmd "$PASSTHRU" "$XFER" "$MKHELLO" ss

MODE=sockmap

# A self-signed certificate $T/certs/CN.{crt,key}, made once per suite.
mkcert() {
	mkdir -p "$T/certs"
	[ -s "$T/certs/$1.crt" ] && return 0
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$T/certs/$1.key" -out "$T/certs/$1.crt" -subj "/CN=$1" -days 2 \
		>"$T/certs/$1.log" 2>&1
}

# openssl s_server serving one connection.  It hangs up when its stdin ends,
# so stdin is a pipe from a sleep (a child of this shell, killed after the
# test like the server).
s_server() { # NAME PORT CN
	sleep 60 | openssl s_server -accept "127.0.0.1:$2" -naccept 1 -cert "$T/certs/$3.crt" \
		-key "$T/certs/$3.key" >"$D/$1.out" 2>&1 &
	wait_port 127.0.0.1 "$2" 5
}

t_tls_sni() {
	require_cmd openssl || return
	newdir
	local pa pb pt sni why=
	pa=$(free_port) pb=$(free_port) pt=$(free_port)
	mkcert a.example && mkcert b.example || { fail "$CUR_TEST" "openssl req failed"; return; }
	tls_cfg "$D/c.json" "$pt" "$pa" "$pb"
	s_server a "$pa" a.example && s_server b "$pb" b.example ||
		{ fail "$CUR_TEST" "s_server did not start: $(cat "$D"/*.out)"; return; }
	pt_start "$D/c.json" --mode "$MODE" || return
	for sni in a b; do
		printf 'hello-%s-through-passthru\n' "$sni" |
			timeout 15 openssl s_client -connect "127.0.0.1:$pt" -servername "$sni.example" \
			>"$D/client-$sni.out" 2>&1
		if ! grep -qE "^subject=.*CN ?= ?$sni\.example" "$D/client-$sni.out"; then
			why="s_client -servername $sni.example did not get the $sni.example certificate: $(grep -E '^subject=|errno|error' "$D/client-$sni.out" | head -3)"
			break
		fi
		if ! wait_for 5 grep -q "hello-$sni-through-passthru" "$D/$sni.out"; then
			why="s_server $sni.example did not receive the client's message"
			break
		fi
	done
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
}

t_tls_reject() {
	newdir
	local pa pb pt
	pa=$(free_port) pb=$(free_port) pt=$(free_port)
	tls_cfg "$D/c.json" "$pt" "$pa" "$pb"
	"$MKHELLO" --sni c.example >"$D/hello"
	xfer_server a "127.0.0.1:$pa" && xfer_server b "127.0.0.1:$pb" || { fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" --mode "$MODE" || return
	# recv-first: send the hello, then wait for the proxy to close.
	xfer_client c "127.0.0.1:$pt" --prefix-file "$D/hello" --mode recv-first --send 1000 --timeout-s 10
	local res recv
	res=$(field "$D/c.rep" result) recv=$(field "$D/c.rep" recv)
	if [ "$res" = error:timeout ]; then
		fail "$CUR_TEST" "the connection was not closed within 10 s"
	elif [ "$recv" != 0 ]; then
		fail "$CUR_TEST" "the client received $recv bytes"
	elif [ -s "$D/a.rep" ] || [ -s "$D/b.rep" ] || [ "$(ss -Htn state established "( dport = :$pa or dport = :$pb )" | wc -l)" != 0 ]; then
		fail "$CUR_TEST" "an upstream got a connection"
	elif ! wait_log 'conn .*action=REJECT.*end=reject'; then
		fail "$CUR_TEST" "no 'action=REJECT ... end=reject' log line: $(grep 'conn ' "$PT_LOG" | tail -n 2)"
	else
		pass "$CUR_TEST"
	fi
}

t_http_host() {
	require_cmd curl || return
	newdir
	local pa pb pt host body why=
	pa=$(free_port) pb=$(free_port) pt=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"version":"v0.2.0","servers":{"127.0.0.1:$pt":{
	  "HTTP":{"Host a.example":{"action":"FORWARD","to_addr":"127.0.0.1:$pa"},
	          "Host b.example":{"action":"FORWARD","to_addr":"127.0.0.1:$pb"}}}}}
	EOF
	xfer_server a "127.0.0.1:$pa" --http upstream-a && xfer_server b "127.0.0.1:$pb" --http upstream-b ||
		{ fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" --mode "$MODE" || return
	for host in b a; do	# b first: not just the first rule
		body=$(curl -sS --max-time 10 --resolve "$host.example:$pt:127.0.0.1" \
			"http://$host.example:$pt/" 2>&1)
		if [ "$body" != "upstream-$host" ]; then
			why="curl http://$host.example:$pt/ got '$body', want 'upstream-$host'"
			break
		fi
	done
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
}

t_ssh() {
	require_cmd ssh ssh-keygen /usr/sbin/sshd || return
	newdir
	local sp pt out decoy
	sp=$(free_port) pt=$(free_port) decoy=$(free_port)
	ssh-keygen -q -t ed25519 -N '' -f "$D/host_key" &&
		ssh-keygen -q -t ed25519 -N '' -f "$D/user_key" ||
		{ fail "$CUR_TEST" "ssh-keygen failed"; return; }
	cp "$D/user_key.pub" "$D/authorized_keys"
	cat >"$D/sshd_config" <<-EOF
	Port $sp
	ListenAddress 127.0.0.1
	HostKey $D/host_key
	AuthorizedKeysFile $D/authorized_keys
	PidFile none
	UsePAM no
	StrictModes no
	PermitRootLogin prohibit-password
	PasswordAuthentication no
	KbdInteractiveAuthentication no
	LogLevel VERBOSE
	EOF
	mkdir -p /run/sshd
	/usr/sbin/sshd -D -e -f "$D/sshd_config" 2>"$D/sshd.log" &
	wait_port 127.0.0.1 "$sp" 5 || { fail "$CUR_TEST" "sshd did not start: $(tail -n 3 "$D/sshd.log")"; return; }
	cat >"$D/c.json" <<-EOF
	{"version":"v0.2.0","servers":{"127.0.0.1:$pt":{
	  "TLS":{"SNI a.example":{"action":"FORWARD","to_addr":"127.0.0.1:$decoy"}},
	  "SSH":{"SSH":{"action":"FORWARD","to_addr":"127.0.0.1:$sp"}},
	  "CATCHALL":{"CATCHALL":{"action":"FORWARD","to_addr":"127.0.0.1:$decoy"}}}}}
	EOF
	pt_start "$D/c.json" --mode "$MODE" || return
	out=$(timeout 20 ssh -F /dev/null -p "$pt" -i "$D/user_key" -o StrictHostKeyChecking=no \
		-o UserKnownHostsFile=/dev/null -o BatchMode=yes -o ConnectTimeout=10 \
		-o LogLevel=ERROR root@127.0.0.1 echo ssh-ok 2>&1)
	if [ "$out" = ssh-ok ]; then
		pass "$CUR_TEST"
	else
		fail "$CUR_TEST" "ssh printed '$out'; sshd: $(tail -n 2 "$D/sshd.log")"
	fi
}

t_catchall_garbage() {
	newdir
	local pa pc pt
	pa=$(free_port) pc=$(free_port) pt=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"version":"v0.2.0","servers":{"127.0.0.1:$pt":{
	  "TLS":{"SNI a.example":{"action":"FORWARD","to_addr":"127.0.0.1:$pa"}},
	  "HTTP":{"Host a.example":{"action":"FORWARD","to_addr":"127.0.0.1:$pa"}},
	  "SSH":{"SSH":{"action":"FORWARD","to_addr":"127.0.0.1:$pa"}},
	  "CATCHALL":{"CATCHALL":{"action":"FORWARD","to_addr":"127.0.0.1:$pc"}}}}}
	EOF
	printf '\x00\x01\x02 this is no protocol at all \xff\xfe\r\n\r\n' >"$D/garbage"
	xfer_server a "127.0.0.1:$pa" && xfer_server c "127.0.0.1:$pc" --send 100k ||
		{ fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" --mode "$MODE" -t 5s || return
	xfer_client cli "127.0.0.1:$pt" --prefix-file "$D/garbage" --send 100k --timeout-s 20
	if [ -s "$D/a.rep" ]; then
		fail "$CUR_TEST" "garbage was routed to a protocol rule"
	elif [ "$(field "$D/cli.rep" ms)" -ge 4000 ] 2>/dev/null; then
		fail "$CUR_TEST" "took $(field "$D/cli.rep" ms) ms: garbage waited for the sniff timeout"
	else
		expect_ok "$CUR_TEST" check_transfer "$D/cli.rep" "$D/c.rep" $(( $(size "$D/garbage") + 102400 )) 102400
	fi
}

t_upstream_refused() {
	newdir
	local pa pb pt
	pa=$(free_port) pb=$(free_port) pt=$(free_port)
	tls_cfg "$D/c.json" "$pt" "$pa" "$pb"	# nothing listens on pa
	"$MKHELLO" --sni a.example >"$D/hello"
	pt_start "$D/c.json" --mode "$MODE" || return
	xfer_client c "127.0.0.1:$pt" --prefix-file "$D/hello" --mode recv-first --timeout-s 10
	if [ "$(field "$D/c.rep" result)" != ok ] || [ "$(field "$D/c.rep" recv)" != 0 ]; then
		fail "$CUR_TEST" "want a clean close (EOF) with no bytes: $(tail -n 1 "$D/c.rep")"
	elif ! wait_log "conn .*upstream=127\.0\.0\.1:$pa.*end=upstream-refused"; then
		fail "$CUR_TEST" "no 'end=upstream-refused' log line: $(grep 'conn ' "$PT_LOG" | tail -n 2)"
	else
		pass "$CUR_TEST"
	fi
}

# hello_routes NAME MIN_SIZE HELLO_ARGS...: the hello made by mkhello
# HELLO_ARGS (at least MIN_SIZE bytes) goes to upstream NAME (a or b) of
# tls_cfg, byte-exact, with 1 MB each way.
hello_routes() {
	local want=$1 min=$2 pa pb pt other
	shift 2
	newdir
	pa=$(free_port) pb=$(free_port) pt=$(free_port)
	tls_cfg "$D/c.json" "$pt" "$pa" "$pb"
	"$MKHELLO" "$@" >"$D/hello" || { fail "$CUR_TEST" "mkhello $* failed"; return; }
	[ "$(size "$D/hello")" -ge "$min" ] ||
		{ fail "$CUR_TEST" "mkhello $* made $(size "$D/hello") bytes, want >= $min"; return; }
	xfer_server a "127.0.0.1:$pa" --send 1m && xfer_server b "127.0.0.1:$pb" --send 1m ||
		{ fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" --mode "$MODE" || return
	xfer_client cli "127.0.0.1:$pt" --prefix-file "$D/hello" --send 1m --timeout-s 20
	other=a
	[ "$want" = a ] && other=b
	if [ -s "$D/$other.rep" ]; then
		fail "$CUR_TEST" "routed to upstream $other, not $want"
	else
		expect_ok "$CUR_TEST" check_transfer "$D/cli.rep" "$D/$want.rep" \
			$(( $(size "$D/hello") + 1048576 )) 1048576
	fi
}

# Every byte of the hello in its own TLS record (5-byte header each).
t_hello_1byte() { hello_routes b 1000 --sni b.example --record-size 1; }
# The size of a post-quantum (X25519MLKEM768) ClientHello; b is the 2nd rule.
t_hello_pq() { hello_routes b 2000 --sni b.example --alpn h2,http/1.1 --pad-to 2048; }

t_ipv6() {
	ip -6 addr show dev lo 2>/dev/null | grep -q '::1/128' ||
		{ skip "$CUR_TEST" "no ::1 on lo"; return; }
	newdir
	local pa pt
	pa=$(free_port) pt=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"version":"v0.2.0","servers":{"[::1]:$pt":{
	  "TLS":{"SNI b.example":{"action":"FORWARD","to_addr":"127.0.0.1:$(free_port)"},
	         "SNI a.example":{"action":"FORWARD","to_addr":"127.0.0.1:$pa"}}}}}
	EOF
	"$MKHELLO" --sni a.example >"$D/hello"
	xfer_server a "127.0.0.1:$pa" --send 300k || { fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" --mode "$MODE" || return
	xfer_client cli "[::1]:$pt" --prefix-file "$D/hello" --send 200k --timeout-s 20
	expect_ok "$CUR_TEST" check_transfer "$D/cli.rep" "$D/a.rep" $(( $(size "$D/hello") + 204800 )) 307200
}

t_localhost() {
	newdir
	local pa pt rep
	pa=$(free_port) pt=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"version":"v0.2.0","servers":{"127.0.0.1:$pt":{
	  "TLS":{"SNI b.example":{"action":"FORWARD","to_addr":"127.0.0.1:$(free_port)"},
	         "SNI a.example":{"action":"FORWARD","to_addr":"localhost:$pa"}}}}}
	EOF
	"$MKHELLO" --sni a.example >"$D/hello"
	# localhost may resolve to 127.0.0.1 or ::1: listen on both.
	xfer_server v4 "127.0.0.1:$pa" --send 300k || { fail "$CUR_TEST" "xfer server"; return; }
	"$XFER" server --listen "[::1]:$pa" --report "$D/v6.rep" --send 300k >/dev/null 2>&1 &
	pt_start "$D/c.json" --mode "$MODE" || return
	xfer_client cli "127.0.0.1:$pt" --prefix-file "$D/hello" --send 200k --timeout-s 20
	wait_for 5 eval '[ -s "$D/v4.rep" ] || [ -s "$D/v6.rep" ]'
	rep=$D/v4.rep
	[ -s "$rep" ] || rep=$D/v6.rep
	expect_ok "$CUR_TEST" check_transfer "$D/cli.rep" "$rep" $(( $(size "$D/hello") + 204800 )) 307200
}

# The silent client: no protocol speaks, so after -t 300ms the listener's
# CATCHALL route is taken, to a server that speaks first.
t_sniff_timeout() {
	newdir
	local pa pc pt ms banner=$'220 catchall speaks first\r\n'
	pa=$(free_port) pc=$(free_port) pt=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"version":"v0.2.0","servers":{"127.0.0.1:$pt":{
	  "TLS":{"SNI a.example":{"action":"FORWARD","to_addr":"127.0.0.1:$pa"}},
	  "SSH":{"SSH":{"action":"FORWARD","to_addr":"127.0.0.1:$pa"}},
	  "CATCHALL":{"CATCHALL":{"action":"FORWARD","to_addr":"127.0.0.1:$pc"}}}}}
	EOF
	xfer_server c "127.0.0.1:$pc" --banner "$banner" --mode send-first --send 64k ||
		{ fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" --mode "$MODE" -t 300ms || return
	xfer_client cli "127.0.0.1:$pt" --mode recv-first --send 64k --timeout-s 20
	ms=$(field "$D/cli.rep" ms)
	if ! [ "${ms:-0}" -ge 250 ] 2>/dev/null || [ "$ms" -gt 3000 ]; then
		fail "$CUR_TEST" "the silent client was served after ${ms:-?} ms, want about 300 ms: $(tail -n 1 "$D/cli.rep")"
	else
		expect_ok "$CUR_TEST" check_transfer "$D/cli.rep" "$D/c.rep" 65536 $((65536 + ${#banner}))
	fi
}

# A client that half-closes without a byte: the listener's CATCHALL at once
# (not after the 5 s sniff timeout), and the upstream's answer still flows.
t_half_close_before_sniff() {
	newdir
	local pa pc pt ms
	pa=$(free_port) pc=$(free_port) pt=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"version":"v0.2.0","servers":{"127.0.0.1:$pt":{
	  "TLS":{"SNI a.example":{"action":"FORWARD","to_addr":"127.0.0.1:$pa"}},
	  "CATCHALL":{"CATCHALL":{"action":"FORWARD","to_addr":"127.0.0.1:$pc"}}}}}
	EOF
	xfer_server c "127.0.0.1:$pc" --mode recv-first --send 10k || { fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" --mode "$MODE" -t 5s || return
	xfer_client cli "127.0.0.1:$pt" --mode send-first --send 0 --timeout-s 20
	ms=$(field "$D/cli.rep" ms)
	if [ "${ms:-0}" -ge 3000 ] 2>/dev/null; then
		fail "$CUR_TEST" "served after $ms ms: the half-close did not end the sniff"
	else
		expect_ok "$CUR_TEST" check_transfer "$D/cli.rep" "$D/c.rep" 0 10240
	fi
}

# The conn log line: every field, and up/down equal to the bytes sent.
t_log_line() {
	newdir
	local pa pb pt hl line want
	pa=$(free_port) pb=$(free_port) pt=$(free_port)
	tls_cfg "$D/c.json" "$pt" "$pa" "$pb"
	"$MKHELLO" --sni a.example >"$D/hello"
	hl=$(size "$D/hello")
	# Rate-limited, so both sockets are still ESTABLISHED when passthru
	# hands them over (a socket that already got a FIN cannot join a
	# sockmap, and passthru rightly uses splice for it).
	xfer_server a "127.0.0.1:$pa" --send 76543 --rate 500k || { fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" --mode "$MODE" || return
	xfer_client cli "127.0.0.1:$pt" --prefix-file "$D/hello" --send 123457 --rate 500k --timeout-s 20
	if ! wait_log "conn .*upstream=127\.0\.0\.1:$pa"; then
		fail "$CUR_TEST" "no conn line for upstream $pa: $(tail -n 3 "$PT_LOG")"
		return
	fi
	line=$(grep -E "conn .*upstream=127\.0\.0\.1:$pa" "$PT_LOG" | tail -n 1)
	if ! grep -qE "^data path: $MODE|data path: $MODE " "$PT_LOG"; then
		fail "$CUR_TEST" "no 'data path: $MODE' line: $(grep 'data path' "$PT_LOG")"
		return
	fi
	for want in "client=127\.0\.0\.1:[0-9]+" "listen=127\.0\.0\.1:$pt" "proto=TLS" \
		    'rule="SNI a\.example"' "action=FORWARD" "upstream=127\.0\.0\.1:$pa" \
		    "path=$MODE" "up=$((hl + 123457))" "down=76543" "ms=[0-9]+" "end=eof"; do
		if ! grep -qE "(^| )$want( |$)" <<<"$line"; then
			fail "$CUR_TEST" "want ${want//\\/} in: $line"
			return
		fi
	done
	expect_ok "$CUR_TEST" check_transfer "$D/cli.rep" "$D/a.rep" $((hl + 123457)) 76543
}

t_sigterm() {
	newdir
	local pa pb pt rc
	pa=$(free_port) pb=$(free_port) pt=$(free_port)
	tls_cfg "$D/c.json" "$pt" "$pa" "$pb"
	"$MKHELLO" --sni a.example >"$D/hello"
	xfer_server a "127.0.0.1:$pa" --send 1000 || { fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" --mode "$MODE" || return
	xfer_client cli "127.0.0.1:$pt" --prefix-file "$D/hello" --send 1000 --timeout-s 20
	wait_log "conn .*upstream=127\.0\.0\.1:$pa"
	pt_stop
	rc=$?
	if [ "$rc" != 0 ]; then
		fail "$CUR_TEST" "passthru exited with status $rc after SIGTERM: $(tail -n 3 "$PT_LOG")"
	elif grep -qE 'Sanitizer|runtime error' "$PT_LOG"; then
		fail "$CUR_TEST" "sanitizer report: $(grep -m1 -E 'Sanitizer|runtime error' "$PT_LOG")"
	else
		pass "$CUR_TEST"
	fi
}

# ---- CLI ----------------------------------------------------------------------

t_check_good() {
	newdir
	local p1 p2 p3
	p1=$(free_port) p2=$(free_port) p3=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"version":"v0.2.0","servers":{
	  "127.0.0.1:$p1":{
	    "TLS":{"SNI a.example":{"action":"FORWARD","to_addr":"127.0.0.1:$p2"},
	           "CATCHALL":{"action":"REJECT"}},
	    "HTTP":{"Host a.example":{"action":"FORWARD","to_addr":"localhost:$p2"}},
	    "SSH":{"SSH":{"action":"FORWARD","to_addr":"127.0.0.1:$p3"}},
	    "CATCHALL":{"CATCHALL":{"action":"FORWARD","to_addr":"127.0.0.1:$p3"}}},
	  "[::1]:$p1":{"CATCHALL":{"CATCHALL":{"action":"REJECT"}}}}}
	EOF
	check "$CUR_TEST" timeout 10 "$PASSTHRU" -c "$D/c.json" --check
}

bad_cfg() { # FILE PORT: the rule "SNI a.example" has a to_addr without a port
	cat >"$1" <<-EOF
	{"version":"v0.2.0","servers":{"127.0.0.1:$2":{
	  "TLS":{"SNI a.example":{"action":"FORWARD","to_addr":"127.0.0.1"}}}}}
	EOF
}

t_check_bad() {
	newdir
	local pt out rc
	pt=$(free_port)
	bad_cfg "$D/c.json" "$pt"
	out=$(timeout 10 "$PASSTHRU" -c "$D/c.json" --check 2>&1)
	rc=$?
	if [ "$rc" != 1 ]; then
		fail "$CUR_TEST" "--check on a bad config exited $rc, want 1: $out"
	elif ! grep -qF "servers.\"127.0.0.1:$pt\".TLS.\"SNI a.example\".to_addr" <<<"$out"; then
		fail "$CUR_TEST" "the error does not name servers.\"127.0.0.1:$pt\".TLS.\"SNI a.example\".to_addr: $out"
	else
		pass "$CUR_TEST"
	fi
}

t_bad_config_no_listen() {
	newdir
	local pt rc
	pt=$(free_port)
	bad_cfg "$D/c.json" "$pt"
	timeout 10 "$PASSTHRU" -c "$D/c.json" >"$D/out" 2>&1 &
	local pid=$!
	# While it runs (if it does), nothing may listen.
	wait_for 1 _listening "$pt" && { fail "$CUR_TEST" "passthru listens on $pt with a bad config"; return; }
	wait_pid "$pid" 12
	rc=$?
	if [ "$rc" = 0 ] || [ "$rc" = 124 ]; then
		fail "$CUR_TEST" "passthru with a bad config: exit status $rc, want non-zero: $(tail -n 2 "$D/out")"
	else
		pass "$CUR_TEST"
	fi
}

for MODE in sockmap splice; do
	run_test "core/$MODE/tls-sni-routing" t_tls_sni
	run_test "core/$MODE/tls-unknown-sni-reject" t_tls_reject
	run_test "core/$MODE/http-host-routing" t_http_host
	run_test "core/$MODE/ssh-routing" t_ssh
	run_test "core/$MODE/catchall-garbage" t_catchall_garbage
	run_test "core/$MODE/upstream-refused" t_upstream_refused
	run_test "core/$MODE/hello-1-byte-records" t_hello_1byte
	run_test "core/$MODE/hello-pq-2k" t_hello_pq
	run_test "core/$MODE/ipv6-listener" t_ipv6
	run_test "core/$MODE/to-addr-localhost" t_localhost
	run_test "core/$MODE/sniff-timeout-silent-client" t_sniff_timeout
	run_test "core/$MODE/half-close-before-sniff" t_half_close_before_sniff
	run_test "core/$MODE/log-line-fields" t_log_line
	run_test "core/$MODE/sigterm-exits-0" t_sigterm
done
run_test core/check-good-config t_check_good
run_test core/check-bad-config t_check_bad
run_test core/bad-config-refuses-to-start t_bad_config_no_listen
