#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Back-pressure on the kernel path (--mode sockmap).  A peer that stops
# reading must not let the other side fill kernel memory: past conn_buffer
# the sender is pushed back by TCP, in both directions, and every byte
# arrives in order once the reader resumes.
#
# Each flood test measures, 400 ms before the end of a STALL_MS stall of
# the reader:
#  - held: what passthru's side holds for the stalled direction, exactly:
#    the sender's tcpi_bytes_acked minus the reader's tcpi_bytes_received
#    (one `ss` snapshot)
#    (passthru's source receive queue + the psock queue + its target's send
#    queue + in flight).  Asserted <= conn_buffer + tcp_rmem max +
#    tcp_wmem max + 8 MiB.
#  - pushed: the sender's bytes_acked (everything it got rid of).
#    Asserted <= BOUND = conn_buffer + 2 * tcp_rmem max + 2 * tcp_wmem max
#    + 32 MiB (sender, passthru's two sockets, reader).
#  - growth: memory in use on the machine (MemTotal - MemAvailable), the
#    median of the stall's last 1.5 s minus that of the second before the
#    flood.  The psock queue is in no per-socket counter, so this is the
#    independent check; but other processes move it by hundreds of MB, so
#    it is asserted (<= BOUND per direction) only with MEM_STRICT=1 (CI, a
#    quiet machine) and reported otherwise.
# The "control" tests run the same flood with "conn_buffer": 0 (unlimited)
# and pass only if held and pushed exceed their bounds: the limited tests
# can fail.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/reliability.sh"

require_root
require_cmd "$PASSTHRU" "$XFER" "$MKHELLO" ss bpftool jq

STALL_MS=${STALL_MS:-4000}
FLOOD=${FLOOD:-2g}
WF=512m WF_BYTES=$((512 << 20))
CB=$((4 << 20))
RMAX=$(tcp_buf_max rmem)
WMAX=$(tcp_buf_max wmem)
SLACK=$((32 << 20))

MEM_STRICT=${MEM_STRICT:-}

bound() { echo $(($1 + 2 * RMAX + 2 * WMAX + SLACK)); }
held_bound() { echo $(($1 + RMAX + WMAX + (8 << 20))); }
mib() { echo $(($1 >> 20)); }

# bp_start CONN_BUFFER: config routing "SNI a.example" to $PA, hello in
# $D/hello, passthru -v in sockmap mode; sets PA PT HL.
bp_start() {
	PA=$(free_port) PT=$(free_port)
	cat >"$D/c.json" <<-EOF
	{"conn_buffer": $1, "servers":{"127.0.0.1:$PT":{
	  "TLS":{"SNI a.example":{"action":"FORWARD","to_addr":"127.0.0.1:$PA"},
	         "CATCHALL":{"action":"REJECT"}}}}}
	EOF
	"$MKHELLO" --sni a.example >"$D/hello" || { fail "$CUR_TEST" "mkhello"; return 1; }
	HL=$(size "$D/hello")
	pt_start "$D/c.json" --mode sockmap -v || return 1
	grep -q 'data path: sockmap' "$PT_LOG" ||
		{ fail "$CUR_TEST" "not on the sockmap path: $(grep 'data path' "$PT_LOG")"; return 1; }
	grep -q 'back-pressure unavailable' "$PT_LOG" &&
		{ fail "$CUR_TEST" "$(grep 'back-pressure unavailable' "$PT_LOG")"; return 1; }
	return 0
}

# flood WHICH SIZE: run one stalled flood and measure.  WHICH is up (the
# client floods, the upstream reads after STALL_MS), down (the upstream
# floods, the client reads after STALL_MS) or duplex (both at once).
# Waits for the end; sets PUSHED_UP PUSHED_DOWN HELD_UP HELD_DOWN GROWTH
# (bytes) and XFER_WHY (empty if both reports are exact).
flood() {
	local which=$1 size=$2 t0 t1 base peak cpid
	rm -f "$D"/cli.rep "$D"/up.rep
	mem_sampler_start "$D/mem"
	sleep 1.2
	case $which in
	up)
		xfer_server up "127.0.0.1:$PA" --mode recv-first --read-delay-ms "$STALL_MS" --timeout-s 90 \
			--diag "1:$HL" ||
			return 1
		t0=$(now_ms)
		xfer_client cli "127.0.0.1:$PT" --prefix-file "$D/hello" --send "$size" \
			--mode send-first --timeout-s 90 &
		;;
	down)
		xfer_server up "127.0.0.1:$PA" --mode send-first --send "$size" --timeout-s 90 || return 1
		t0=$(now_ms)
		xfer_client cli "127.0.0.1:$PT" --prefix-file "$D/hello" --send 0 \
			--mode recv-first --read-delay-ms "$STALL_MS" --timeout-s 90 --diag 2:0 &
		;;
	duplex)
		xfer_server up "127.0.0.1:$PA" --mode duplex --send "$size" --read-delay-ms "$STALL_MS" \
			--timeout-s 90 --diag "1:$HL" || return 1
		t0=$(now_ms)
		xfer_client cli "127.0.0.1:$PT" --prefix-file "$D/hello" --send "$size" \
			--mode duplex --read-delay-ms "$STALL_MS" --timeout-s 90 --diag 2:0 &
		;;
	esac
	cpid=$!
	sleep "$(awk -v s="$STALL_MS" 'BEGIN { printf "%.3f", (s - 400) / 1000 }')"
	ss_snap "$D/ss"
	t1=$(now_ms)
	# The client's socket has peer port PT, the upstream's local port PA.
	PUSHED_UP=$(snap_sum "$D/ss" acked pport "$PT")
	PUSHED_DOWN=$(snap_sum "$D/ss" acked lport "$PA")
	HELD_UP=$((PUSHED_UP - $(snap_sum "$D/ss" received lport "$PA")))
	HELD_DOWN=$((PUSHED_DOWN - $(snap_sum "$D/ss" received pport "$PT")))
	wait_pid "$cpid" 100
	mem_sampler_stop
	base=$(mem_median "$D/mem" $((t0 - 1000)) "$t0")
	peak=$(mem_median "$D/mem" $((t1 - 1500)) "$t1")
	GROWTH=$(((peak - base) * 1024))
	# (Not flood's status: that says whether the flood ran at all.)
	XFER_WHY=$(check_transfer "$D/cli.rep" "$D/up.rep") || true
}

# What a flood test prints after its result line.
flood_note() {
	echo "# $1: at the end of a ${STALL_MS} ms stall: held up $(mib "$HELD_UP") MiB," \
		"down $(mib "$HELD_DOWN") MiB (bound $(mib "$(held_bound "$CB")")); pushed up" \
		"$(mib "$PUSHED_UP") MiB, down $(mib "$PUSHED_DOWN") MiB; machine memory" \
		"growth $(mib "$GROWTH") MiB (bound $(mib "$2")${MEM_STRICT:+, asserted}); freezes $3;" \
		"retransmitted bytes cut $(pt_stat 7)"
}

# t_flood WHICH: with conn_buffer 4 MiB: bounded, pushed back, exact.
t_flood() {
	local which=$1 size=${2:-$FLOOD} b hb mb f g why=
	newdir
	bp_start "$CB" || return
	flood "$which" "$size" || { fail "$CUR_TEST" "xfer server did not start"; return; }
	b=$(bound "$CB") hb=$(held_bound "$CB") mb=$b
	[ "$which" = duplex ] && mb=$((2 * b))
	f=$(pt_stat 4) g=$(pt_stat 8)
	if [ -n "$XFER_WHY" ]; then
		why="$XFER_WHY"
	elif [ "${g:-1}" != 0 ]; then
		why="pt_stats[8] (skbs out of sequence the verdict could not repair) is ${g:-?}, want 0"
	elif [ "$which" != down ] && [ "$HELD_UP" -gt "$hb" ]; then
		why="passthru held $(mib "$HELD_UP") MiB client->upstream during the stall, bound $(mib "$hb") MiB"
	elif [ "$which" != up ] && [ "$HELD_DOWN" -gt "$hb" ]; then
		why="passthru held $(mib "$HELD_DOWN") MiB upstream->client during the stall, bound $(mib "$hb") MiB"
	elif [ "$which" != down ] && [ "$PUSHED_UP" -gt "$b" ]; then
		why="the client pushed $(mib "$PUSHED_UP") MiB during the stall, bound $(mib "$b") MiB"
	elif [ "$which" != up ] && [ "$PUSHED_DOWN" -gt "$b" ]; then
		why="the upstream pushed $(mib "$PUSHED_DOWN") MiB during the stall, bound $(mib "$b") MiB"
	elif [ -n "$MEM_STRICT" ] && [ "$GROWTH" -gt "$mb" ]; then
		why="memory grew by $(mib "$GROWTH") MiB during the stall, bound $(mib "$mb") MiB"
	elif ! [ "${f:-0}" -ge 1 ]; then
		why="pt_stats[4] (freezes) is ${f:-?}, want >= 1"
	elif ! grep -q ' frozen: ' "$PT_LOG" || ! grep -qE ' thawed | continues with splice' "$PT_LOG"; then
		why="no frozen/thawed log lines at -v"
	elif ! wait_log 'conn client=.* path=sockmap(\+splice)? .*end=eof'; then
		why="no 'path=sockmap ... end=eof' conn line: $(conn_lines | tail -n 1)"
	elif [ -n "${PT_TEST_ARM_AT_CONNECT:-}" ] && ! grep -q 'armed for back-pressure at connect' "$PT_LOG"; then
		why="PT_TEST_ARM_AT_CONNECT set, but no 'armed for back-pressure at connect' line"
	fi
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
	flood_note "$which" "$mb" "$f"
}

# Where pt_arm does not work (kernels before 6.12), every socket is armed
# for pt_sock_ops at ESTABLISHED instead of as it enters the maps: the
# same flood must stay as bounded that way.
t_flood_armed_at_connect() {
	export PT_TEST_ARM_AT_CONNECT=1
	t_flood down
	unset PT_TEST_ARM_AT_CONNECT
}

# t_control WHICH: the same flood with "conn_buffer": 0 must exceed the
# bound, or the limited test proves nothing.
t_control() {
	local which=$1 b hb pushed held
	newdir
	bp_start 0 || return
	flood "$which" "$FLOOD" || { fail "$CUR_TEST" "xfer server did not start"; return; }
	b=$(bound "$CB") hb=$(held_bound "$CB")
	pushed=$PUSHED_UP held=$HELD_UP
	[ "$which" = down ] && pushed=$PUSHED_DOWN held=$HELD_DOWN
	if [ -n "$XFER_WHY" ]; then
		fail "$CUR_TEST" "unlimited: $XFER_WHY"
	elif [ "$held" -le "$hb" ] || [ "$pushed" -le "$b" ] ||
	     { [ -n "$MEM_STRICT" ] && [ "$GROWTH" -le "$b" ]; }; then
		fail "$CUR_TEST" "with conn_buffer 0 passthru held $(mib "$held") MiB (bound $(mib "$hb")), the sender pushed $(mib "$pushed") MiB and memory grew $(mib "$GROWTH") MiB (bound $(mib "$b")): not above the bounds, so the limited test cannot fail"
	else
		pass "$CUR_TEST"
	fi
	flood_note "$which (unlimited)" "$b" "$(pt_stat 4)"
}

# t_write_first: the client writes WF bytes before reading anything while
# the upstream sends it as much at once: the upstream->client direction freezes
# and must not stall client->upstream (no coupling of the directions).
t_write_first() {
	local t0 base peak b f why=
	newdir
	bp_start "$CB" || return
	xfer_server up "127.0.0.1:$PA" --mode duplex --send "$WF" --timeout-s 90 --diag "1:$HL" ||
		{ fail "$CUR_TEST" "xfer server"; return; }
	mem_sampler_start "$D/mem"
	sleep 1.2
	t0=$(now_ms)
	xfer_client cli "127.0.0.1:$PT" --prefix-file "$D/hello" --send "$WF" --mode send-first --timeout-s 90 \
		--diag 2:0
	mem_sampler_stop
	base=$(mem_median "$D/mem" $((t0 - 1000)) "$t0")
	# The highest 1-second median over the run.
	peak=$(awk '{ print $1 }' "$D/mem" | awk -v t0="$t0" '$1 > t0' | while read -r t; do
		mem_median "$D/mem" $((t - 1000)) "$t"; done | sort -n | tail -n 1)
	GROWTH=$(((${peak:-$base} - base) * 1024))
	b=$((2 * $(bound "$CB")))
	f=$(pt_stat 4)
	if ! why=$(check_transfer "$D/cli.rep" "$D/up.rep" $((HL + WF_BYTES)) "$WF_BYTES"); then
		:
	elif [ -n "$MEM_STRICT" ] && [ "$GROWTH" -gt "$b" ]; then
		why="memory grew by $(mib "$GROWTH") MiB, bound $(mib "$b") MiB"
	elif ! [ "${f:-0}" -ge 1 ]; then
		why="pt_stats[4] (freezes) is ${f:-?}: the upstream->client direction never froze"
	else
		why=
	fi
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
	echo "# write-first $WF each way in $(field "$D/cli.rep" ms) ms, peak growth $(mib "$GROWTH") MiB, freezes $f"
}

# The kernel refusing a thaw (EBUSY: seen on 6.18, rarely, in fast
# freeze/thaw cycles right after a live upgrade) must cost nothing but
# time.  PT_TEST_THAW_EBUSY=N makes passthru's next N thaws fail that way:
#   retry     N=3: the thaws are tried again and succeed, no direction
#             leaves the kernel path for it (one still does at its FIN,
#             as always: the kernel takes no half-closed socket)
#   fallback  N=huge: every thaw fails, the directions go on through
#             splice (after ~0.2 s of retries)
# 24 MiB up and 16 MiB down, both readers at 16 MiB/s, conn_buffer 256 KiB:
# both directions freeze and thaw.  Every byte, both ways, and a clean EOF.
t_thaw_busy() {
	local kind=$1 n why= line
	newdir
	[ "$kind" = retry ] && n=3 || n=1000000000
	export PT_TEST_THAW_EBUSY=$n
	bp_start 262144 || { unset PT_TEST_THAW_EBUSY; return; }
	unset PT_TEST_THAW_EBUSY
	xfer_server up "127.0.0.1:$PA" --mode duplex --send 16m --read-rate 16m --timeout-s 60 ||
		{ fail "$CUR_TEST" "xfer server"; return; }
	xfer_client cli "127.0.0.1:$PT" --prefix-file "$D/hello" --send 24m --read-rate 16m \
		--mode duplex --timeout-s 60
	wait_conns 1 10
	line=$(conn_lines | tail -n 1)
	if ! why=$(check_transfer "$D/cli.rep" "$D/up.rep" $((HL + (24 << 20))) $((16 << 20))); then
		:
	elif ! grep -q 'end=eof' <<<"$line"; then
		why="did not end in EOF: $line"
	elif ! grep -q 'the kernel path is busy, thawing later' "$PT_LOG"; then
		why="no thaw was refused (no freeze?): freezes $(pt_stat 4)"
	elif [ "$kind" = retry ] && grep -q 'refused the socket back' "$PT_LOG"; then
		why="3 refusals made a direction leave the kernel path: $(grep -m1 'refused the socket back' "$PT_LOG")"
	elif [ "$kind" = fallback ] && ! grep -q 'refused the socket back' "$PT_LOG"; then
		why="no direction fell back to splice"
	fi
	[ -z "$why" ] && pass "$CUR_TEST" || fail "$CUR_TEST" "$why"
	echo "# $(grep -c 'busy, thawing later' "$PT_LOG") thaws refused, $(grep -c 'refused the socket back' "$PT_LOG") fallbacks: $(grep -o 'path=.*' <<<"$line")"
}

run_test reliability/backpressure/thaw-refused-retried t_thaw_busy retry
run_test reliability/backpressure/thaw-refused-falls-back-to-splice t_thaw_busy fallback
run_test reliability/backpressure/upstream-stalls-2g t_flood up
run_test reliability/backpressure/control-unlimited-upstream-stalls t_control up
run_test reliability/backpressure/client-stalls-2g t_flood down
run_test reliability/backpressure/control-unlimited-client-stalls t_control down
run_test reliability/backpressure/client-stalls-armed-at-connect t_flood_armed_at_connect
for i in 1 2 3; do
	run_test "reliability/backpressure/duplex-both-stall-512m-run$i" t_flood duplex 512m
done
run_test reliability/backpressure/write-first-client-512m t_write_first
