#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Operations, system: least privilege (--user, world-writable configs),
# packaging (make install, man pages, the systemd unit) and exit codes.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/ops.sh"

require_root
require_cmd "$PASSTHRU" "$XFER" "$MKHELLO" ss

fwd() { printf '{"action":"FORWARD","to_addr":"127.0.0.1:%s"}' "$1"; }

# status_field NAME: the value of NAME: in /proc/$PT_PID/status (tabs -> spaces).
status_field() { sed -n "s/^$1:[[:space:]]*//p" "/proc/$PT_PID/status" | tr '\t' ' '; }

# A free port below 1024 (for CAP_NET_BIND_SERVICE), or nothing.
low_port() {
	local p
	for p in $(shuf -i 600-1000 -n 50); do
		[ -z "$(ss -Htan "( sport = :$p or dport = :$p )")" ] && { echo "$p"; return 0; }
	done
	return 1
}

# --user nobody: after start the process is uid/gid 65534 with exactly
# CAP_NET_BIND_SERVICE, CAP_NET_ADMIN and CAP_BPF (effective, permitted,
# bounding), no ambient ones, NoNewPrivs; the kernel path still forwards
# byte-exact; a reload as nobody still reads the file and binds a port
# below 1024 (why CAP_NET_BIND_SERVICE is kept).
t_user_nobody() {
	newdir
	local pt pa pl hl why f want
	pt=$(free_port) pa=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"version":"v0.2.0","control_socket":"$D/ctl.sock",
	 "servers":{"127.0.0.1:$pt":{"TLS":{"SNI a.example":$(fwd "$pa")}}}}
	EOF
	"$MKHELLO" --sni a.example >"$D/hello"
	hl=$(size "$D/hello")
	xfer_server up "127.0.0.1:$pa" --count 2 --send 2m --rate 8m || { fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" --mode sockmap --user nobody || return
	wait_log 'running as uid 65534' ||
		{ fail "$CUR_TEST" "no 'running as uid 65534' line: $(tail -n 3 "$PT_LOG")"; return; }
	for f in "Uid 65534 65534 65534 65534" "Gid 65534 65534 65534 65534" "Groups 65534" \
		 "CapEff 0000008000001400" "CapPrm 0000008000001400" "CapBnd 0000008000001400" \
		 "CapAmb 0000000000000000" "CapInh 0000000000000000" "NoNewPrivs 1"; do
		want=${f#* }
		[ "$(status_field "${f%% *}" | sed 's/ *$//')" = "$want" ] ||
			{ fail "$CUR_TEST" "/proc/$PT_PID/status ${f%% *}: '$(status_field "${f%% *}")', want '$want'"; return; }
	done
	xfer_client cli "127.0.0.1:$pt" --prefix-file "$D/hello" --send 2m --rate 8m --timeout-s 20
	why=$(check_transfer "$D/cli.rep" "$D/up.rep" $((hl + (2 << 20))) $((2 << 20))) || { fail "$CUR_TEST" "$why"; return; }
	wait_log "conn .*upstream=127\.0\.0\.1:$pa .*end=" 5
	grep -qE " path=sockmap .*end=eof" <<<"$(conn_line "$pa")" ||
		{ fail "$CUR_TEST" "as nobody, the connection did not take the sockmap path: $(conn_line "$pa")"; return; }
	# A reload as nobody, adding a listener on a port below 1024.
	pl=$(low_port) || { fail "$CUR_TEST" "no free port below 1024"; return; }
	cat >"$D/c.json.new" <<-EOF
	{"version":"v0.2.0","control_socket":"$D/ctl.sock",
	 "servers":{"127.0.0.1:$pt":{"TLS":{"SNI a.example":$(fwd "$pa")}},
	            "127.0.0.1:$pl":{"TLS":{"SNI a.example":$(fwd "$pa")}}}}
	EOF
	mv "$D/c.json.new" "$D/c.json"
	pt_reload 1 || { fail "$CUR_TEST" "reload as nobody not applied: $(tail -n 3 "$PT_LOG")"; return; }
	wait_for 3 _listening "$pl" || { fail "$CUR_TEST" "the reload did not bind port $pl (< 1024) as nobody: $(tail -n 3 "$PT_LOG")"; return; }
	: >"$D/up.rep"
	xfer_client cli2 "127.0.0.1:$pl" --prefix-file "$D/hello" --send 2m --rate 8m --timeout-s 20
	why=$(check_transfer "$D/cli2.rep" "$D/up.rep" $((hl + (2 << 20))) $((2 << 20))) ||
		{ fail "$CUR_TEST" "through the port below 1024: $why"; return; }
	pass "$CUR_TEST"
}

# The shipped unit runs --user and the default control socket lives in
# /run (root's): the control socket must still be there after the drop, and
# a successor (started as root, as systemd would) must take over.
t_user_takeover() {
	newdir
	local pt pa out
	pt=$(free_port) pa=$(free_port)
	mkdir -p "$D/run" && chmod 755 "$D/run"	# like /run: root's, 0755
	cat >"$D/c.json" <<-EOF
	{"version":"v0.2.0","control_socket":"$D/run/passthru.sock",
	 "servers":{"127.0.0.1:$pt":{"HTTP":{"Host a.example":$(fwd "$pa")}}}}
	EOF
	xfer_server a "127.0.0.1:$pa" --count 0 --http upstream-a || { fail "$CUR_TEST" "xfer server"; return; }
	pt_start "$D/c.json" --mode sockmap --user nobody || return
	wait_log ' started: ' || { fail "$CUR_TEST" "not started: $(tail -n 3 "$PT_LOG")"; return; }
	if grep -q 'live upgrade unavailable' "$PT_LOG" || ! [ -S "$D/run/passthru.sock" ]; then
		fail "$CUR_TEST" "no control socket after dropping to nobody: $(grep -m1 'control socket' "$PT_LOG")"
		return
	fi
	pt_takeover "$D/c.json" "$D/gen2.log" --mode sockmap --user nobody || { fail "$CUR_TEST" "$TK_WHY"; return; }
	[ "$OLD_RC" = 0 ] || { fail "$CUR_TEST" "the old passthru exited $OLD_RC"; return; }
	[ "$(status_field Uid | awk '{ print $1 }')" = 65534 ] ||
		{ fail "$CUR_TEST" "the successor runs as uid $(status_field Uid)"; return; }
	out=$(curl -sS --max-time 5 --resolve "a.example:$pt:127.0.0.1" "http://a.example:$pt/" 2>&1)
	[ "$out" = upstream-a ] || { fail "$CUR_TEST" "after the upgrade, curl got '$out'"; return; }
	pass "$CUR_TEST"
}

# A configuration anyone may write is refused at start (exit 1, no
# listener) and by --check.
t_world_writable() {
	newdir
	local pt rc out
	pt=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"version":"v0.2.0","control_socket":"$D/ctl.sock",
	 "servers":{"127.0.0.1:$pt":{"CATCHALL":{"CATCHALL":{"action":"REJECT"}}}}}
	EOF
	chmod 0646 "$D/c.json"
	timeout 10 "$PASSTHRU" -c "$D/c.json" >"$D/out" 2>&1 &
	local pid=$!
	wait_for 1 _listening "$pt" && { fail "$CUR_TEST" "passthru listens with a world-writable config"; return; }
	wait_pid "$pid" 12
	rc=$?
	if [ "$rc" != 1 ]; then
		fail "$CUR_TEST" "with a world-writable config passthru exited $rc, want 1: $(tail -n 2 "$D/out")"
	elif ! grep -q 'writable by everyone' "$D/out"; then
		fail "$CUR_TEST" "no 'writable by everyone' message: $(tail -n 2 "$D/out")"
	else
		out=$(timeout 10 "$PASSTHRU" -c "$D/c.json" --check 2>&1)
		rc=$?
		if [ "$rc" != 1 ] || ! grep -q 'writable by everyone' <<<"$out"; then
			fail "$CUR_TEST" "--check on a world-writable config: exit $rc: $out"
		else
			chmod 0644 "$D/c.json"
			check "$CUR_TEST" timeout 10 "$PASSTHRU" -c "$D/c.json" --check
		fi
	fi
}

# ---- packaging ---------------------------------------------------------------

# make install DESTDIR=... PREFIX=/usr puts every file in place (the unit
# naming the installed binary), and make uninstall takes them away.
t_install() {
	require_cmd make || return
	newdir
	local r=$D/root f out
	out=$(make -s -C "$ROOT" -o "$OUTPUT/passthru" OUTPUT="$OUTPUT" install DESTDIR="$r" PREFIX=/usr 2>&1) ||
		{ fail "$CUR_TEST" "make install failed: $out"; return; }
	for f in "usr/sbin/passthru 755" "usr/share/man/man8/passthru.8 644" "usr/share/man/man5/passthru.json.5 644" \
		 "usr/share/doc/passthru/example.json 644" "lib/systemd/system/passthru.service 644"; do
		[ -f "$r/${f% *}" ] || { fail "$CUR_TEST" "make install did not install ${f% *}: $(cd "$r" && find . -type f)"; return; }
		[ "$(stat -c %a "$r/${f% *}")" = "${f#* }" ] ||
			{ fail "$CUR_TEST" "${f% *} has mode $(stat -c %a "$r/${f% *}"), want ${f#* }"; return; }
	done
	cmp -s "$r/usr/sbin/passthru" "$OUTPUT/passthru" || { fail "$CUR_TEST" "the installed binary is not the built one"; return; }
	"$r/usr/sbin/passthru" --version | grep -qx "passthru $(cat "$ROOT/VERSION")" ||
		{ fail "$CUR_TEST" "installed passthru --version: $("$r/usr/sbin/passthru" --version 2>&1)"; return; }
	grep -q '/usr/local' "$r/lib/systemd/system/passthru.service" &&
		{ fail "$CUR_TEST" "the installed unit still names /usr/local: $(grep /usr/local "$r/lib/systemd/system/passthru.service" | head -n 1)"; return; }
	grep -q '^ExecStart=/usr/sbin/passthru ' "$r/lib/systemd/system/passthru.service" ||
		{ fail "$CUR_TEST" "the installed unit's ExecStart is not /usr/sbin/passthru: $(grep ExecStart= "$r/lib/systemd/system/passthru.service")"; return; }
	"$r/usr/sbin/passthru" -c "$r/usr/share/doc/passthru/example.json" --check >/dev/null 2>&1 ||
		{ fail "$CUR_TEST" "the installed example.json does not pass --check: $("$r/usr/sbin/passthru" -c "$r/usr/share/doc/passthru/example.json" --check 2>&1)"; return; }
	out=$(make -s -C "$ROOT" -o "$OUTPUT/passthru" OUTPUT="$OUTPUT" uninstall DESTDIR="$r" PREFIX=/usr 2>&1) ||
		{ fail "$CUR_TEST" "make uninstall failed: $out"; return; }
	f=$(cd "$r" && find . -type f)
	[ -z "$f" ] || { fail "$CUR_TEST" "make uninstall left: $f"; return; }
	pass "$CUR_TEST"
}

# Both man pages render without a groff/man warning, with their sections.
t_man() {
	require_cmd man groff || return
	newdir
	local f out err s
	for f in man/passthru.8 man/passthru.json.5; do
		out=$(MANWIDTH=80 man --warnings -l "$ROOT/$f" 2>"$D/err" | col -b 2>/dev/null)
		err=$(cat "$D/err")
		[ -z "$err" ] || { fail "$CUR_TEST" "man --warnings -l $f: $err"; return; }
		err=$(groff -ww -z -man -Tutf8 "$ROOT/$f" 2>&1)
		[ -z "$err" ] || { fail "$CUR_TEST" "groff -ww $f: $err"; return; }
		for s in NAME SYNOPSIS DESCRIPTION "SEE ALSO"; do
			grep -q "^$s" <<<"$out" || { fail "$CUR_TEST" "$f renders no $s section"; return; }
		done
	done
	# passthru(8) documents what the issue asks it to.
	out=$(MANWIDTH=200 man -l "$ROOT/man/passthru.8" 2>/dev/null | col -b)
	for s in SIGHUP SIGTERM shutdown_grace --takeover --user CAP_NET_BIND_SERVICE CAP_NET_ADMIN CAP_BPF \
		 NO_NEW_PRIVS "EXIT STATUS" --probe "passthru stats"; do
		grep -qF -- "$s" <<<"$out" || { fail "$CUR_TEST" "passthru(8) does not mention $s"; return; }
	done
	out=$(MANWIDTH=200 man -l "$ROOT/man/passthru.json.5" 2>/dev/null | col -b)
	for s in metrics shutdown_grace control_socket user log_level log_format; do
		grep -qw -- "$s" <<<"$out" || { fail "$CUR_TEST" "passthru.json(5) does not document $s"; return; }
	done
	pass "$CUR_TEST"
}

# The installed unit passes systemd-analyze verify (its binary and man
# pages found in the install tree) and rates as hardened.
t_unit() {
	require_cmd systemd-analyze make || return
	newdir
	local r=$D/root out lvl
	make -s -C "$ROOT" -o "$OUTPUT/passthru" OUTPUT="$OUTPUT" install DESTDIR="$r" PREFIX=/usr >/dev/null 2>&1 ||
		{ fail "$CUR_TEST" "make install failed"; return; }
	# The unit as installed, its binary path pointed into the install tree.
	sed "s|/usr/sbin/passthru|$r/usr/sbin/passthru|g" "$r/lib/systemd/system/passthru.service" >"$D/passthru.service"
	out=$(MANPATH=$r/usr/share/man systemd-analyze verify "$D/passthru.service" 2>&1) ||
		{ fail "$CUR_TEST" "systemd-analyze verify: $out"; return; }
	[ -z "$out" ] || { fail "$CUR_TEST" "systemd-analyze verify warns: $out"; return; }
	out=$(systemd-analyze security --offline=true "$D/passthru.service" 2>&1 | tail -n 1)
	lvl=$(sed -n 's/.*Overall exposure level for passthru.service: \([0-9.]*\) \([A-Z]*\).*/\2/p' <<<"$out")
	case $lvl in
	SAFE | OK) pass "$CUR_TEST" ;;
	"") skip "$CUR_TEST" "systemd-analyze security --offline unavailable: $out" ;;
	*) fail "$CUR_TEST" "systemd-analyze security rates the unit $lvl: $out" ;;
	esac
}

# Exit codes: --check on a bad config 1, a usage error 2, --probe 0 as root
# and 1 as nobody (no CAP_BPF: splice only), stats without a source 2 and
# on a dead endpoint 1.
t_exit_codes() {
	require_cmd setpriv || return
	newdir
	local rc out pt c
	pt=$(free_port)
	cat >"$D/bad.json" <<-EOF
	{"version":"v0.2.0","servers":{"127.0.0.1:$pt":{"TLS":{"SNI a":{"action":"FORWARD","to_addr":"127.0.0.1"}}}}}
	EOF
	cp "$PASSTHRU" "$D/passthru" && chmod 755 "$D/passthru"
	for c in "1|-c $D/bad.json --check" "1|-c $D/missing.json --check" "2|--no-such-option" "2|--mode fast -c $D/bad.json" \
		 "2|-w x -c $D/bad.json" "2|" "0|--probe" "2|stats" "1|stats --metrics 127.0.0.1:$pt" "0|--version" "0|--help"; do
		out=$(timeout 20 "$PASSTHRU" ${c#*|} 2>&1 </dev/null)
		rc=$?
		[ "$rc" = "${c%%|*}" ] || { fail "$CUR_TEST" "passthru ${c#*|}: exit $rc, want ${c%%|*}: $(tail -n 2 <<<"$out")"; return; }
	done
	out=$(timeout 20 setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all \
		"$D/passthru" --probe 2>&1)
	rc=$?
	[ "$rc" = 1 ] || { fail "$CUR_TEST" "passthru --probe as nobody: exit $rc, want 1: $(tail -n 3 <<<"$out")"; return; }
	grep -qi splice <<<"$out" || { fail "$CUR_TEST" "passthru --probe as nobody does not say splice: $out"; return; }
	out=$(timeout 20 "$PASSTHRU" --probe 2>&1)
	grep -qi sockmap <<<"$out" || { fail "$CUR_TEST" "passthru --probe as root does not say sockmap: $out"; return; }
	pass "$CUR_TEST"
}

run_test ops/privs/user-nobody t_user_nobody
run_test ops/privs/user-nobody-takeover t_user_takeover
run_test ops/privs/world-writable-config t_world_writable
run_test ops/pkg/make-install t_install
run_test ops/pkg/man-pages t_man
run_test ops/pkg/systemd-unit t_unit
run_test ops/exit-codes t_exit_codes
