#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Everything again with AddressSanitizer + UndefinedBehaviorSanitizer: the
# unit tests and the integration suites, against a passthru built with
# SAN=1 into $OUTPUT/san.  A sanitizer report aborts the process (UBSan
# does not recover), a leak at shutdown makes passthru exit non-zero, and
# the suites count both as failures.  Results are named "san/...".
# Eleven suites and the unit tests, each bounded inside (SUITE_TIMEOUT
# 900): the runner's 600 s for the whole killed it in CI, in its fifth
# suite (2-CPU machine), so the whole has its own bound:
# suite-timeout: 2400
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
OUTPUT=${OUTPUT:-build}
case $OUTPUT in /*) ;; *) OUTPUT=$ROOT/$OUTPUT ;; esac
SANOUT=$OUTPUT/san
if ! make -s -j"$(nproc)" OUTPUT="$SANOUT" SAN=1 check-build >"$OUTPUT/san-build.log" 2>&1; then
	echo "FAIL san/build: $(tail -n 3 "$OUTPUT/san-build.log" | tr '\n' ' ')"
	exit 1
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=23:log_path=$SANOUT/asan}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
rm -f "$SANOUT"/asan.*
# The suites to repeat: SAN_SUITES, or every unit test and the integration
# suites whose code paths the others do not reach (parsers of untrusted
# bytes are fuzzed under ASan already: test_fuzz.sh); the reset tests run
# RUNS (4) times instead of 10.
units=$(cd "$SANOUT/tests" && ls test_* 2>/dev/null | grep -v '\.' | tr '\n' ' ')
suites=${SAN_SUITES:-"$units core core_data routing_upstream reliability_faults reliability_source ops_metrics ops_reload ops_storm ops_upgrade quic"}
# shellcheck disable=SC2086
SAN=1 RUNS=${RUNS:-4} OUTPUT=$SANOUT EXTRA=0 RESULT_PREFIX=san/ SUITE_TIMEOUT=900 tests/run.sh $suites 2>&1 |
	sed -E '/^(PASS|FAIL|SKIP) san\//! s/^(PASS|FAIL|SKIP) /\1 san\//' |
	grep -vE '^[0-9]+ passed, '
for f in "$SANOUT"/asan.*; do
	[ -e "$f" ] || continue
	echo "FAIL san/report-${f##*/}: $(grep -m1 -E 'ERROR|SUMMARY' "$f")"
done
exit 0
