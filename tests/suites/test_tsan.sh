#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The multi-threaded suites again under ThreadSanitizer: reload (and the
# reload storm), live upgrade, metrics, the resolver (host-name upstreams)
# and the soak, against a passthru built with TSAN=1 into $OUTPUT/tsan.
# Any report makes passthru exit 66 (the suites count that as a failure)
# and leaves a file $OUTPUT/tsan/tsan.PID, reported here as its own
# failure.  Zero reports, and no suppression.  Results are named "tsan/...".
# Measured 448 s in CI (2 CPUs), near the runner's 600 s: its own bound:
# suite-timeout: 1800
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
OUTPUT=${OUTPUT:-build}
case $OUTPUT in /*) ;; *) OUTPUT=$ROOT/$OUTPUT ;; esac
TOUT=$OUTPUT/tsan
if ! make -s -j"$(nproc)" OUTPUT="$TOUT" TSAN=1 check-build >"$OUTPUT/tsan-build.log" 2>&1; then
	echo "FAIL tsan/build: $(tail -n 3 "$OUTPUT/tsan-build.log" | tr '\n' ' ')"
	exit 1
fi
# TSan maps its shadow at fixed addresses; with more ASLR entropy than it
# knows (vm.mmap_rnd_bits > 28 on some kernels) it refuses to start: run
# without address randomization then.
WRAP=
if ! "$TOUT/passthru" --version >/dev/null 2>&1; then
	if setarch "$(uname -m)" -R "$TOUT/passthru" --version >/dev/null 2>&1; then
		WRAP="setarch $(uname -m) -R"
		echo "# tsan: running without ASLR (setarch -R): $("$TOUT/passthru" --version 2>&1 | head -n 1)"
	else
		echo "FAIL tsan/start: $("$TOUT/passthru" --version 2>&1 | head -n 2 | tr '\n' ' ')"
		exit 1
	fi
fi
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=0:exitcode=66:second_deadlock_stack=1:log_path=$TOUT/tsan}
rm -f "$TOUT"/tsan.*
suites=${TSAN_SUITES:-"ops_reload ops_storm ops_upgrade ops_metrics routing_upstream reliability_soak quic steer"}
# SAN relaxes the suites' speed expectations, as under ASan.
# shellcheck disable=SC2086
SAN=tsan PT_PREFIX="$WRAP" RUNS=${RUNS:-4} OUTPUT=$TOUT EXTRA=0 RESULT_PREFIX=tsan/ SUITE_TIMEOUT=900 \
	tests/run.sh $suites 2>&1 |
	sed -E '/^(PASS|FAIL|SKIP) tsan\//! s/^(PASS|FAIL|SKIP) /\1 tsan\//' |
	grep -vE '^[0-9]+ passed, '
for f in "$TOUT"/tsan.*; do
	[ -e "$f" ] || continue
	echo "FAIL tsan/report-${f##*/}: $(grep -m1 -E 'WARNING|ERROR|SUMMARY' "$f") $(grep -m3 -E '^    #[0-9] ' "$f" | tr -s ' ' | tr '\n' ' ')"
done
exit 0
