#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Bad input: malformed, truncated, oversized and 1-byte-record
# ClientHellos, bogus lengths, odd SNIs, HTTP without Host, SSH oddities,
# binary garbage, hellos in 1-byte TCP segments.  Each case must end at the
# route the config names (a protocol's CATCHALL, the listener's CATCHALL, a
# named rule) with every byte delivered upstream (sha256), or be closed
# cleanly (FIN, at once or at the sniff deadline) by a REJECT or for lack of
# a route; passthru stays alive and serves a normal client afterwards.
#
# Clients that stop and wait (reliability/input/stall/MODE/...): bytes sent
# in segments with gaps, the last of which makes the input something the
# probe that waits can no longer complete (tlsfuzzer's
# test-tls13-zero-length-data: two 2-byte handshake records announcing a
# 209-byte hello, then an application_data record), after which the client
# waits for an answer.  Routed when that segment comes, well under the
# sniff deadline (5 s there), to the protocol's CATCHALL or the next
# protocol, on both data paths.
#
# The FORWARD config (every case):
#   TLS   "SNI a.example" -> A       CATCHALL -> T
#   HTTP  "Host a.example" -> A      CATCHALL -> H
#   SSH   "SSH" -> S
#   CATCHALL -> L
# Each upstream is an xfer server that sends nothing and reports what it
# received; the client (hostile send) never half-closes unless the case
# says so, so a truncated input waits for the sniff deadline (1 s).
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/reliability.sh"

require_root
require_cmd "$PASSTHRU" "$XFER" "$MKHELLO" "$HOSTILE" ss

MODE=${MODE:-sockmap}
C=$T/cases
mkdir -p "$C"

# ---- the inputs -----------------------------------------------------------------

# patch FILE OFFSET HEXBYTES: overwrite bytes in place ("ffff").
patch() {
	printf "$(sed 's/../\\x&/g' <<<"$3")" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

mkcases() {
	local h=$MKHELLO
	"$h" --sni a.example >"$C/tls_a"
	"$h" >"$C/tls_no_sni"
	"$h" --sni b.example >"$C/tls_b"
	"$h" --sni a.example --record-size 1 >"$C/tls_rec1"
	"$h" --sni a.example --record-size 7 >"$C/tls_rec7"
	"$h" --sni a.example --pad-to 16000 >"$C/tls_16k"		# 16 014 bytes: fits 16 KiB
	"$h" --sni a.example --pad-to 20000 >"$C/tls_20k"		# over sniff_max_bytes
	"$h" --sni a.example --record-size 1 --pad-to 4000 >"$C/tls_rec1_big"	# 24 KB on the wire
	"$h" --sni a.example --pad-to 1800 >"$C/tls_pq"
	head -c 100 "$C/tls_a" >"$C/tls_trunc100"
	head -c 5 "$C/tls_a" >"$C/tls_trunc5"
	# Record length 0xffff, more than follows.
	cp "$C/tls_a" "$C/tls_reclen_big" && patch "$C/tls_reclen_big" 3 ffff
	# Record length 10: the hello runs past its record into "another".
	cp "$C/tls_a" "$C/tls_reclen_small" && patch "$C/tls_reclen_small" 3 000a
	# Handshake length 0xffffff, larger than any record.
	cp "$C/tls_a" "$C/tls_hslen_big" && patch "$C/tls_hslen_big" 6 ffffff
	# Handshake length 0.
	cp "$C/tls_a" "$C/tls_hslen_zero" && patch "$C/tls_hslen_zero" 6 000000
	# A zero-length record before the hello.
	{ printf '\x16\x03\x01\x00\x00'; cat "$C/tls_a"; } >"$C/tls_empty_record"
	# Not a ClientHello: handshake type 2 (ServerHello).
	cp "$C/tls_a" "$C/tls_server_hello" && patch "$C/tls_server_hello" 5 02
	# Record type 0x17 (application data) with a hello inside.
	cp "$C/tls_a" "$C/tls_appdata" && patch "$C/tls_appdata" 0 17
	# SSLv2-style hello.
	printf '\x80\x2e\x01\x03\x01\x00\x15\x00\x00\x00\x10' >"$C/sslv2"; head -c 37 /dev/zero >>"$C/sslv2"
	# A server_name extension whose lengths lie: one byte past the list.
	"$h" --sni a.example --pad-to 600 >"$C/tls_sni_ok600"
	# Odd SNIs: upper case and a trailing dot (normalised), a control
	# byte, an empty label, 300 characters, a wildcard, a space.
	"$h" --sni A.EXAMPLE. >"$C/tls_sni_upper_dot"
	"$h" --sni $'a\x01.example' >"$C/tls_sni_ctrl"
	"$h" --sni a..example >"$C/tls_sni_empty_label"
	"$h" --sni "$(printf 'a%.0s' {1..250}).example" >"$C/tls_sni_long"
	"$h" --sni '*.example' >"$C/tls_sni_star"
	"$h" --sni 'a example' >"$C/tls_sni_space"
	"$h" --sni $'a.example\xff' >"$C/tls_sni_high"
	# HTTP.
	printf 'GET / HTTP/1.1\r\nHost: a.example\r\n\r\n' >"$C/http_a"
	printf 'GET / HTTP/1.1\r\nHost: A.Example.:8080\r\n\r\n' >"$C/http_a_port"
	printf 'GET / HTTP/1.1\r\nUser-Agent: x\r\n\r\n' >"$C/http_no_host"
	printf 'GET / HTTP/1.0\r\n\r\n' >"$C/http10_no_host"
	printf 'GET / HTTP/1.1\r\nHost: \r\n\r\n' >"$C/http_empty_host"
	printf 'GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n' >"$C/http_two_hosts"
	printf 'GET / HTTP/1.1\r\nHost: a\x01b\r\n\r\n' >"$C/http_ctrl_host"
	printf 'GET / HTTP/1.1\nHost: a.example\n\n' >"$C/http_bare_lf"
	{ printf 'GET / HTTP/1.1\r\nX-Big: '; head -c 20000 /dev/zero | tr '\0' 'x'; } >"$C/http_huge_header"
	printf 'GET / HTTP/1.1\r\nHost: a.exam' >"$C/http_trunc"
	printf 'BREW /pot HTCPCP/1.0\r\n\r\n' >"$C/http_bad_method"
	# SSH.
	printf 'SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n' >"$C/ssh"
	printf 'SSH-2.0-' >"$C/ssh_trunc"
	{ printf 'SSH-2.0-'; head -c 400 /dev/zero | tr '\0' 'A'; printf '\r\n'; } >"$C/ssh_long"
	# Garbage.
	{ printf '\x00'; head -c 4095 /dev/urandom; } >"$C/garbage"
	head -c 1000 /dev/zero >"$C/zeros"
	printf '\x00' >"$C/one_zero"
	{ printf '\xff'; head -c 19999 /dev/urandom; } >"$C/garbage_20k"
	: >"$C/empty"
	mkstall
}

# The inputs of the stall tests; $C/NAME.cuts holds where their segments end.
stall_case() { printf "$2" >"$C/$1"; echo "$3" >"$C/$1.cuts"; }
mkstall() {
	stall_case st_tls_zero_length_data '\x16\x03\x00\x00\x02\x01\x00\x16\x03\x00\x00\x02\x00\xd1\x17\x03\x00\x00\x00' 7,14
	stall_case st_tls_alert_after_record '\x16\x03\x01\x00\x05\x01\x00\x00\xd1\x03\x15\x03\x03\x00\x02\x02\x28' 10
	"$MKHELLO" --sni a.example --record-size 100 | head -c 105 >"$C/st_tls_ccs_mid_hello"
	printf '\x14\x03\x03\x00\x01\x01' >>"$C/st_tls_ccs_mid_hello"
	echo 50,105 >"$C/st_tls_ccs_mid_hello.cuts"
	"$MKHELLO" --sni a.example --record-size 1 | head -c 240 >"$C/st_tls_rec1_appdata"
	printf '\x17\x03\x03\x00\x00' >>"$C/st_tls_rec1_appdata"
	echo 120,240 >"$C/st_tls_rec1_appdata.cuts"
	stall_case st_http_ctl_in_value 'GET / HTTP/1.1\r\nHost: a\x01' 16,23
	stall_case st_http_space_in_name 'GET / HTTP/1.1\r\nX Y' 16,17
	stall_case st_h2_not_preface 'PRI * HTTP/1.1\r\n\r\n' 4
	stall_case st_socks5_bad_method '\x05\x03\x00\xff' 2
	stall_case st_openvpn_bad_opcode '\x00\x0e\x41' 2
	stall_case st_postgres_bad_code '\x00\x00\x00\x08\x05' 4
	stall_case st_rdp_bad_li '\x03\x00\x00\x13\x0f' 4
	stall_case st_proxy_v2_bad_sig '\x0d\x0a\x0d\x0a\x01' 3
	# the alert a "tls-alert" REJECT sends: fatal, unrecognized_name
	printf '\x15\x03\x03\x00\x02\x02\x70' >"$C/alert_112"
}

# ---- one case -------------------------------------------------------------------

UPS="A T H S L"

# in_start: the five upstreams and passthru with the FORWARD config.
in_start() {
	local u
	PT=$(free_port)
	for u in $UPS; do
		eval "P_$u=$(free_port)"
	done
	cat >"$D/c.json" <<-EOF
	{"sniff_timeout": "1s", "servers":{"127.0.0.1:$PT":{
	  "TLS":{"SNI a.example":{"action":"FORWARD","to_addr":"127.0.0.1:$P_A"},
	         "CATCHALL":{"action":"FORWARD","to_addr":"127.0.0.1:$P_T"}},
	  "HTTP":{"Host a.example":{"action":"FORWARD","to_addr":"127.0.0.1:$P_A"},
	          "CATCHALL":{"action":"FORWARD","to_addr":"127.0.0.1:$P_H"}},
	  "SSH":{"SSH":{"action":"FORWARD","to_addr":"127.0.0.1:$P_S"}},
	  "CATCHALL":{"CATCHALL":{"action":"FORWARD","to_addr":"127.0.0.1:$P_L"}}}}}
	EOF
	for u in $UPS; do
		xfer_server "up$u" "127.0.0.1:$(eval echo "\$P_$u")" --count 0 --mode duplex --send 0 \
			--timeout-s 20 || { fail "$CUR_TEST" "xfer server $u"; return 1; }
	done
	pt_start "$D/c.json" --mode "$MODE"
}

# which_upstream: the upstreams that reported a connection.
which_upstream() {
	local u out=
	for u in $UPS; do
		[ -s "$D/up$u.rep" ] && out="$out$u"
	done
	echo "${out:--}"
}

# t_case FILE WANT PATTERN [hostile send ARGS...]: send $C/FILE; WANT is
# the upstream letter(s) allowed (e.g. "T" or "TL"), PATTERN an ERE the
# conn line must match.
t_case() {
	local f=$C/$1 want=$2 pat=$3 got line why= u
	shift 3
	newdir
	in_start || return
	"$HOSTILE" send --connect "127.0.0.1:$PT" --file "$f" --timeout-ms 8000 \
		--report "$D/cli.rep" "$@" 2>"$D/cli.err"
	wait_conns 1 5
	got=$(which_upstream)
	line=$(conn_lines | tail -n 1)
	u=${got:0:1}
	if [ "$(field "$D/cli.rep" end)" != eof ]; then
		why="the client's connection did not end cleanly: $(cat "$D/cli.rep" "$D/cli.err")"
	elif [ "${#got}" != 1 ] || [[ $want != *"$got"* ]]; then
		why="went to upstream '$got', want one of '$want'; log: ${line#* conn }"
	elif ! wait_for 5 test -s "$D/up$u.rep"; then
		why="no report from upstream $u"
	elif [ "$(field "$D/up$u.rep" recv)" != "$(size "$f")" ] ||
	     [ "$(field "$D/up$u.rep" recv_sha256)" != "$(sha_file "$f")" ]; then
		why="upstream $u got $(field "$D/up$u.rep" recv) bytes of $(size "$f") (or another sha256)"
	elif ! grep -qE -- "$pat" <<<"$line"; then
		why="log line does not match '$pat': ${line#* conn }"
	elif ! grep -qE ' end=eof' <<<"$line"; then
		why="log line does not end with end=eof: ${line#* conn }"
	fi
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
	echo "#   -> $got: ${line#* conn client=* }"
}

# t_reject FILE PATTERN CFG_PROTOCOLS [hostile send ARGS...]: a config
# whose routes for this input are REJECT or none: the client is closed
# (FIN, no bytes back) at once or at the deadline, and no upstream is
# contacted.
t_reject() {
	local f=$C/$1 pat=$2 line why= cfg=$3
	shift 3
	newdir
	PT=$(free_port) P_A=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"sniff_timeout": "1s", "servers":{"127.0.0.1:$PT":{$cfg}}}
	EOF
	xfer_server upA "127.0.0.1:$P_A" --count 0 --send 0 || { fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" --mode "$MODE" || return
	"$HOSTILE" send --connect "127.0.0.1:$PT" --file "$f" --timeout-ms 5000 \
		--report "$D/cli.rep" "$@" 2>"$D/cli.err"
	wait_conns 1 5
	line=$(conn_lines | tail -n 1)
	if [ "$(field "$D/cli.rep" end)" != eof ]; then
		why="not closed cleanly (want a FIN): $(cat "$D/cli.rep" "$D/cli.err")"
	elif [ "$(field "$D/cli.rep" recv)" != 0 ]; then
		why="the client received $(field "$D/cli.rep" recv) bytes"
	elif [ "$(field "$D/cli.rep" ms)" -gt 2500 ]; then
		why="closed after $(field "$D/cli.rep" ms) ms"
	elif [ -s "$D/upA.rep" ]; then
		why="an upstream was contacted"
	elif ! grep -qE -- "$pat" <<<"$line"; then
		why="log line does not match '$pat': ${line#* conn }"
	fi
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
	echo "#   closed after $(field "$D/cli.rep" ms) ms: ${line#* conn client=* }"
}

# A client that resets mid-hello (60 bytes of it, then an RST 0.2 s
# later) where no rule matches what came: closed at the reset, logged as
# the reset (end=client-reset), not as a missing route.
t_reset_mid_hello() {
	local line why=
	newdir
	PT=$(free_port) P_A=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"sniff_timeout": "5s", "servers":{"127.0.0.1:$PT":{"TLS":{"SNI a.example":{"action":"FORWARD","to_addr":"127.0.0.1:$P_A"}}}}}
	EOF
	xfer_server upA "127.0.0.1:$P_A" --count 0 --send 0 || { fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" --mode "$MODE" || return
	python3 - "$PT" "$C/tls_a" <<-'EOF' || { fail "$CUR_TEST" "the client failed"; return; }
	import socket, struct, sys, time
	s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
	s.sendall(open(sys.argv[2], "rb").read()[:60])
	time.sleep(0.2)
	s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
	s.close()
	EOF
	wait_conns 1 5
	line=$(conn_lines | tail -n 1)
	if [ -z "$line" ]; then
		why="no conn line"
	elif ! grep -qE 'rule="-" action=- .* ms=[0-9]{1,3} end=client-reset' <<<"$line"; then
		why="want rule=\"-\", closed within 1 s, end=client-reset: ${line#* conn }"
	elif [ -s "$D/upA.rep" ]; then
		why="an upstream was contacted"
	fi
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
}

# ---- clients that stop and wait -------------------------------------------------

# stall_start [LISTENER_KEYS]: the five upstreams and passthru (5 s sniff
# deadline) with every protocol on the listener: TLS and HTTP as in
# in_start, the others to A.
stall_start() {
	local u
	PT=$(free_port)
	for u in $UPS; do
		eval "P_$u=$(free_port)"
	done
	cat >"$D/c.json" <<-EOF
	{"sniff_timeout": "5s", "servers":{"127.0.0.1:$PT":{${1:-}
	  "TLS":{"SNI a.example":{"action":"FORWARD","to_addr":"127.0.0.1:$P_A"},
	         "CATCHALL":{"action":"FORWARD","to_addr":"127.0.0.1:$P_T"}},
	  "HTTP":{"Host a.example":{"action":"FORWARD","to_addr":"127.0.0.1:$P_A"},
	          "CATCHALL":{"action":"FORWARD","to_addr":"127.0.0.1:$P_H"}},
	  "SSH":{"SSH":{"action":"FORWARD","to_addr":"127.0.0.1:$P_S"}},
	  "HTTP2":{"HTTP2":{"action":"FORWARD","to_addr":"127.0.0.1:$P_A"}},
	  "SOCKS5":{"SOCKS5":{"action":"FORWARD","to_addr":"127.0.0.1:$P_A"}},
	  "OPENVPN":{"OPENVPN":{"action":"FORWARD","to_addr":"127.0.0.1:$P_A"}},
	  "XMPP":{"XMPP":{"action":"FORWARD","to_addr":"127.0.0.1:$P_A"}},
	  "POSTGRES":{"POSTGRES":{"action":"FORWARD","to_addr":"127.0.0.1:$P_A"}},
	  "RDP":{"RDP":{"action":"FORWARD","to_addr":"127.0.0.1:$P_A"}},
	  "CATCHALL":{"CATCHALL":{"action":"FORWARD","to_addr":"127.0.0.1:$P_L"}}}}}
	EOF
	for u in $UPS; do
		xfer_server "up$u" "127.0.0.1:$(eval echo "\$P_$u")" --count 0 --mode duplex --send 0 \
			--timeout-s 20 || { fail "$CUR_TEST" "xfer server $u"; return 1; }
	done
	pt_start "$D/c.json" --mode "$MODE"
}

# STALL_MS: the longest a stall case may take, client side, from connect
# to the upstream's FIN: two 150 ms gaps and the rest, far from the 5 s
# sniff deadline a missed wakeup waits for.
STALL_MS=${STALL_MS:-1500}

# t_stall FILE WANT PATTERN [HOSTILE_SEND_ARGS...]: send $C/FILE cut at
# $C/FILE.cuts, 150 ms apart (or as the arguments say), never
# half-closing; it must reach upstream WANT (all of it, the conn line
# matching PATTERN) within STALL_MS.
t_stall() {
	local f=$C/$1 want=$2 pat=$3 got line why= ms
	shift 3
	[ $# -gt 0 ] || set -- --seg-ends "$(cat "$f.cuts")" --seg-delay-ms 150
	newdir
	stall_start || return
	"$HOSTILE" send --connect "127.0.0.1:$PT" --file "$f" "$@" \
		--timeout-ms 8000 --report "$D/cli.rep" 2>"$D/cli.err"
	wait_conns 1 5
	got=$(which_upstream)
	line=$(conn_lines | tail -n 1)
	ms=$(field "$D/cli.rep" ms)
	if [ "$(field "$D/cli.rep" end)" != eof ]; then
		why="the client's connection did not end cleanly: $(cat "$D/cli.rep" "$D/cli.err")"
	elif [ "${ms:-99999}" -gt "$STALL_MS" ]; then
		why="answered after $ms ms (want <= $STALL_MS; the sniff deadline is 5000): ${line#* conn }"
	elif [ "$got" != "$want" ]; then
		why="went to upstream '$got', want '$want'; log: ${line#* conn }"
	elif ! wait_for 5 test -s "$D/up$want.rep"; then
		why="no report from upstream $want"
	elif [ "$(field "$D/up$want.rep" recv_sha256)" != "$(sha_file "$f")" ]; then
		why="upstream $want got $(field "$D/up$want.rep" recv) bytes of $(size "$f") (or another sha256)"
	elif ! grep -qE -- "$pat" <<<"$line"; then
		why="log line does not match '$pat': ${line#* conn }"
	fi
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
	echo "#   $ms ms -> $got: ${line#* conn client=* }"
}

# t_stall_alert: tlsfuzzer's sequence with the TLS CATCHALL a "tls-alert"
# REJECT: the alert, then a FIN, well under 1 s.
t_stall_alert() {
	local f=$C/st_tls_zero_length_data line why= ms
	newdir
	PT=$(free_port) P_A=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"sniff_timeout": "5s", "servers":{"127.0.0.1:$PT":{
	  "TLS":{"SNI a.example":{"action":"FORWARD","to_addr":"127.0.0.1:$P_A"},
	         "CATCHALL":{"action":"REJECT","reject":"tls-alert"}}}}}
	EOF
	pt_start "$D/c.json" --mode "$MODE" || return
	"$HOSTILE" send --connect "127.0.0.1:$PT" --file "$f" --seg-ends "$(cat "$f.cuts")" \
		--seg-delay-ms 150 --timeout-ms 8000 --report "$D/cli.rep" 2>"$D/cli.err"
	wait_conns 1 5
	line=$(conn_lines | tail -n 1)
	ms=$(field "$D/cli.rep" ms)
	if [ "$(field "$D/cli.rep" end)" != eof ]; then
		why="not closed cleanly (want the alert, then a FIN): $(cat "$D/cli.rep" "$D/cli.err")"
	elif [ "${ms:-99999}" -gt 1000 ]; then
		why="answered after $ms ms (want < 1000; the sniff deadline is 5000)"
	elif [ "$(field "$D/cli.rep" recv_sha256)" != "$(sha_file "$C/alert_112")" ]; then
		why="the client got $(field "$D/cli.rep" recv) bytes, not the 7-byte alert"
	elif ! grep -qE 'proto=TLS rule="CATCHALL" action=REJECT .*end=reject' <<<"$line"; then
		why="log line: ${line#* conn }"
	fi
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
	echo "#   alert after $ms ms: ${line#* conn client=* }"
}

# t_stall_proxy: a trusted peer whose PROXY v2 signature goes wrong at its
# fifth byte, then waits: closed as proxy-bad at once, the log saying why.
t_stall_proxy() {
	local f=$C/st_proxy_v2_bad_sig line why= ms
	newdir
	stall_start '"accept_proxy":["127.0.0.1/32"],' || return
	"$HOSTILE" send --connect "127.0.0.1:$PT" --file "$f" --seg-ends "$(cat "$f.cuts")" \
		--seg-delay-ms 150 --timeout-ms 8000 --report "$D/cli.rep" 2>"$D/cli.err"
	wait_conns 1 5
	line=$(conn_lines | tail -n 1)
	ms=$(field "$D/cli.rep" ms)
	if [ "${ms:-99999}" -gt "$STALL_MS" ]; then
		why="closed after $ms ms (want <= $STALL_MS; the sniff deadline is 5000)"
	elif [ "$(which_upstream)" != - ]; then
		why="an upstream was contacted"
	elif ! grep -qE 'end=proxy-bad error="not a PROXY header"' <<<"$line"; then
		why="log line: ${line#* conn }"
	fi
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
	echo "#   closed after $ms ms: ${line#* conn client=* }"
}

# After everything: still alive, serving a normal client exactly.
t_after() {
	newdir
	in_start || return
	xfer_client cli "127.0.0.1:$PT" --prefix-file "$C/tls_a" --send 1m --timeout-s 20
	expect_ok "$CUR_TEST" check_transfer "$D/cli.rep" "$D/upA.rep" $(($(size "$C/tls_a") + (1 << 20))) 0
}

mkcases

TLS_A='proto=TLS rule="SNI a.example" action=FORWARD'
TLS_CA='proto=TLS rule="CATCHALL" action=FORWARD'
HTTP_A='proto=HTTP rule="Host a.example" action=FORWARD'
HTTP_CA='proto=HTTP rule="CATCHALL" action=FORWARD'
L_CA='proto=CATCHALL rule="CATCHALL" action=FORWARD'
ANY_CA='proto=(TLS|HTTP|SSH|CATCHALL) rule="CATCHALL" action=FORWARD'
R=reliability/input

# Well-formed, for reference.
run_test $R/tls-sni-a t_case tls_a A "$TLS_A"
run_test $R/tls-no-sni t_case tls_no_sni T "$TLS_CA"
run_test $R/tls-other-sni t_case tls_b T "$TLS_CA"
# Record and size shapes: the SNI must still be found.
run_test $R/tls-1-byte-records t_case tls_rec1 A "$TLS_A"
run_test $R/tls-7-byte-records t_case tls_rec7 A "$TLS_A"
run_test $R/tls-pq-1800 t_case tls_pq A "$TLS_A"
run_test $R/tls-16k-hello t_case tls_16k A "$TLS_A"
# Larger than sniff_max_bytes: cannot be read whole.  The TLS CATCHALL or
# the listener's, never the SNI rule by a guess, never a hang.
run_test $R/tls-20k-hello-over-sniff-max t_case tls_20k TL "$ANY_CA"
run_test $R/tls-1-byte-records-24k t_case tls_rec1_big TL "$ANY_CA"
# 1-byte TCP segments, 1 ms apart (about 600 segments).
run_test $R/tls-hello-1-byte-segments t_case tls_a A "$TLS_A" --seg-size 1 --seg-delay-ms 1
run_test $R/http-1-byte-segments t_case http_a A "$HTTP_A" --seg-size 1 --seg-delay-ms 5
# Truncated: at the sniff deadline, or at the client's EOF.
run_test $R/tls-truncated-100-deadline t_case tls_trunc100 TL "$ANY_CA"
run_test $R/tls-truncated-100-eof t_case tls_trunc100 TL "$ANY_CA" --shut
run_test $R/tls-truncated-5-deadline t_case tls_trunc5 TL "$ANY_CA"
# Bogus lengths.
run_test $R/tls-record-length-ffff t_case tls_reclen_big TL "$ANY_CA"
run_test $R/tls-record-length-10 t_case tls_reclen_small TL "$ANY_CA"
run_test $R/tls-handshake-length-ffffff t_case tls_hslen_big TL "$ANY_CA"
run_test $R/tls-handshake-length-0 t_case tls_hslen_zero TL "$ANY_CA"
run_test $R/tls-empty-record-first t_case tls_empty_record TL "$ANY_CA"
run_test $R/tls-server-hello t_case tls_server_hello L "$L_CA"
run_test $R/tls-appdata-record t_case tls_appdata L "$L_CA"
run_test $R/sslv2-hello t_case sslv2 L "$L_CA"
# Odd SNIs.
run_test $R/tls-sni-upper-trailing-dot t_case tls_sni_upper_dot A "$TLS_A"
run_test $R/tls-sni-control-byte t_case tls_sni_ctrl T "$TLS_CA"
run_test $R/tls-sni-empty-label t_case tls_sni_empty_label T "$TLS_CA"
run_test $R/tls-sni-258-chars t_case tls_sni_long T "$TLS_CA"
run_test $R/tls-sni-star t_case tls_sni_star T "$TLS_CA"
run_test $R/tls-sni-space t_case tls_sni_space T "$TLS_CA"
run_test $R/tls-sni-high-byte t_case tls_sni_high T "$TLS_CA"
# HTTP.
run_test $R/http-host-a t_case http_a A "$HTTP_A"
run_test $R/http-host-upper-dot-port t_case http_a_port A "$HTTP_A"
run_test $R/http-no-host t_case http_no_host H "$HTTP_CA"
run_test $R/http10-no-host t_case http10_no_host H "$HTTP_CA"
run_test $R/http-empty-host t_case http_empty_host H "$HTTP_CA"
run_test $R/http-two-hosts t_case http_two_hosts AH "proto=HTTP rule=\"(Host a.example|CATCHALL)\""
# A control byte in Host: the HTTP probe calls the request not HTTP (the
# listener's CATCHALL), where a bad SNI stays TLS (the TLS CATCHALL); the
# HTTP CATCHALL would be as right.
run_test $R/http-control-byte-in-host t_case http_ctrl_host HL "$ANY_CA"
run_test $R/http-bare-lf t_case http_bare_lf AH "proto=HTTP rule=\"(Host a.example|CATCHALL)\""
run_test $R/http-header-over-sniff-max t_case http_huge_header HL "$ANY_CA"
run_test $R/http-truncated-deadline t_case http_trunc HL "$ANY_CA"
run_test $R/http-unknown-method t_case http_bad_method L "$L_CA"
# SSH.
run_test $R/ssh t_case ssh S 'proto=SSH rule="SSH" action=FORWARD'
run_test $R/ssh-truncated-deadline t_case ssh_trunc SL 'proto=(SSH|CATCHALL) rule="(SSH|CATCHALL)"'
run_test $R/ssh-banner-over-255 t_case ssh_long SL 'proto=(SSH|CATCHALL) rule="(SSH|CATCHALL)"'
# Garbage.
run_test $R/garbage-4k t_case garbage L "$L_CA"
run_test $R/garbage-20k-over-sniff-max t_case garbage_20k L "$L_CA"
run_test $R/zeros-1000 t_case zeros L "$L_CA"
run_test $R/one-zero-byte-eof t_case one_zero L "$L_CA" --shut

# REJECT and no-route endings.
run_test $R/reject/garbage-listener-catchall t_reject garbage 'proto=CATCHALL rule="CATCHALL" action=REJECT .*end=reject' \
	'"TLS":{"CATCHALL":{"action":"REJECT"}},"CATCHALL":{"CATCHALL":{"action":"REJECT"}}'
run_test $R/reject/tls-no-sni-protocol-catchall t_reject tls_no_sni 'proto=TLS rule="CATCHALL" action=REJECT .*end=reject' \
	'"TLS":{"CATCHALL":{"action":"REJECT"}},"CATCHALL":{"CATCHALL":{"action":"REJECT"}}'
run_test $R/reject/tls-truncated-deadline t_reject tls_trunc100 'rule="CATCHALL" action=REJECT .*end=reject' \
	'"TLS":{"CATCHALL":{"action":"REJECT"}},"CATCHALL":{"CATCHALL":{"action":"REJECT"}}'
run_test $R/no-route/garbage t_reject garbage 'rule="-" action=- .*end=no-route' \
	'"TLS":{"SNI a.example":{"action":"REJECT"}}'
run_test $R/no-route/http-no-host t_reject http_no_host 'end=no-route' \
	'"HTTP":{"Host a.example":{"action":"REJECT"}}'
run_test $R/no-route/silent-connection-deadline t_reject empty 'ms=1[0-9]{3} end=no-route' \
	'"TLS":{"SNI a.example":{"action":"REJECT"}}'
run_test $R/no-route/empty-connection-eof t_reject empty 'end=no-route' \
	'"TLS":{"SNI a.example":{"action":"REJECT"}}' --shut
run_test $R/no-route/client-reset-mid-hello t_reset_mid_hello

for MODE in sockmap splice; do
	S=$R/stall/$MODE
	run_test $S/tls-zero-length-data t_stall st_tls_zero_length_data T "$TLS_CA"
	run_test $S/tls-alert-after-a-record t_stall st_tls_alert_after_record T "$TLS_CA"
	run_test $S/tls-ccs-mid-hello t_stall st_tls_ccs_mid_hello T "$TLS_CA"
	run_test $S/tls-1-byte-records-then-appdata t_stall st_tls_rec1_appdata T "$TLS_CA"
	# a byte per segment: polled as a trickling client when it stops
	run_test $S/tls-1-byte-records-1-byte-segments-then-appdata t_stall st_tls_rec1_appdata \
		T "$TLS_CA" --seg-size 1 --seg-delay-ms 2
	run_test $S/tls-zero-length-data-reject-alert t_stall_alert
	run_test $S/http-control-byte-in-value t_stall st_http_ctl_in_value L "$L_CA"
	run_test $S/http-space-in-header-name t_stall st_http_space_in_name L "$L_CA"
	run_test $S/http2-not-the-preface t_stall st_h2_not_preface L "$L_CA"
	run_test $S/socks5-bad-method t_stall st_socks5_bad_method L "$L_CA"
	run_test $S/openvpn-bad-opcode t_stall st_openvpn_bad_opcode L "$L_CA"
	run_test $S/postgres-bad-code t_stall st_postgres_bad_code L "$L_CA"
	run_test $S/rdp-bad-length-indicator t_stall st_rdp_bad_li L "$L_CA"
	run_test $S/proxy-v2-bad-signature t_stall_proxy
done
MODE=sockmap

run_test $R/normal-client-after-all-that t_after
