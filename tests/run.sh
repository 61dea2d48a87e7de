#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The test runner: every unit binary $OUTPUT/tests/test_*, the static
# checks tests/static/test_*.sh, every integration script
# tests/integration/test_*.sh, or only the suites named
# (e.g. "sha256", "test_core", "core_dns.sh").  Output is streamed; lines
# starting "PASS ", "FAIL " and "SKIP " are counted, and the last line is
#   N passed, N failed, N skipped
# A suite that exits non-zero without a FAIL line, or runs longer than
# SUITE_TIMEOUT seconds (default 600; a script may declare its own with a
# line "# suite-timeout: N"), counts as one more failure.
# Exit status 0 iff nothing failed.  Integration suites need root (BPF,
# netns) and print SKIP lines without it.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
OUTPUT=${OUTPUT:-build}
case $OUTPUT in /*) ;; *) OUTPUT=$ROOT/$OUTPUT ;; esac
export OUTPUT SAN="${SAN:-}"
SUITE_TIMEOUT=${SUITE_TIMEOUT:-600}

passed=0 failed=0 skipped=0

# The suites to run, as paths; a name matches a suite's file name with or
# without the "test_" prefix and ".sh" suffix.
suites=()
all=()
for f in "$OUTPUT"/tests/test_*; do
	[ -f "$f" ] && [ -x "$f" ] && all+=("$f")
done
for f in tests/static/test_*.sh tests/integration/test_*.sh; do
	[ -f "$f" ] && all+=("$f")
done
# Whole-suite passes last: fuzzing, and everything again under sanitizers.
# EXTRA=0 leaves them out (a nested run does).
if [ "${EXTRA:-1}" != 0 ]; then
	for f in tests/suites/test_*.sh; do
		[ -f "$f" ] && all+=("$f")
	done
fi
if [ $# -eq 0 ]; then
	suites=("${all[@]}")
else
	for want in "$@"; do
		want=${want##*/}
		want=${want%.sh}
		want=${want#test_}
		found=
		for f in "${all[@]}"; do
			name=${f##*/}
			name=${name%.sh}
			if [ "${name#test_}" = "$want" ]; then
				suites+=("$f")
				found=1
			fi
		done
		if [ -z "$found" ]; then
			echo "FAIL $want: no such suite"
			failed=$((failed + 1))
		fi
	done
fi

[ "$(id -u)" = 0 ] || echo "note: not root: integration suites will skip" >&2

for s in "${suites[@]}"; do
	name=${s##*/}
	name=${name%.sh}
	echo "=== $name"
	log=$(mktemp)
	start=$SECONDS
	# timeout runs the suite in its own process group and signals all of
	# it; the suite's EXIT trap then kills what it started.
	run=("$s")
	limit=$SUITE_TIMEOUT
	if [ "${s%.sh}" != "$s" ]; then
		run=(bash "$s")
		# Whole-suite passes (everything again under a sanitizer) run
		# many suites, each bounded by its own limit inside: theirs
		# is the sum, declared in the script.
		own=$(sed -n 's/^# suite-timeout: \([0-9][0-9]*\)$/\1/p' "$s" | head -n 1)
		[ -n "$own" ] && [ "$own" -gt "$limit" ] && limit=$own
	fi
	timeout --kill-after=15 "$limit" "${run[@]}" </dev/null 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	p=$(grep -c '^PASS ' "$log")
	f=$(grep -c '^FAIL ' "$log")
	k=$(grep -c '^SKIP ' "$log")
	rm -f "$log"
	if { [ "$rc" = 124 ] || [ "$rc" = 137 ]; } &&
	   [ $((SECONDS - start)) -ge "$limit" ]; then
		echo "FAIL $name: killed after the ${limit} s time limit"
		f=$((f + 1))
	elif [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		echo "FAIL $name: exited with status $rc"
		f=$((f + 1))
	fi
	echo "=== $name: PASS $p, FAIL $f, SKIP $k in $((SECONDS - start)) s"
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + k))
done

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
