#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Run every libFuzzer harness in $OUTPUT/fuzz for $FUZZ_TIME seconds each.
#
# Each harness starts from its checked-in seed corpus,
# tests/fuzz/corpus/<name>/, copied to a scratch directory so that the new
# inputs libFuzzer finds do not pollute the tree.  One line per harness:
# "PASS fuzz/<name>" or "FAIL fuzz/<name>: why"; on a failure the crashing
# input is kept in $OUTPUT/fuzz/artifacts/<name>/.  Exits 1 if any failed.
#
#   FUZZ_TIME=30 OUTPUT=build tests/fuzz/run.sh [name...]

OUTPUT=${OUTPUT:-build}
FUZZ_TIME=${FUZZ_TIME:-60}
here=$(cd "$(dirname "$0")" && pwd)
fails=0

scratch=$(mktemp -d "${TMPDIR:-/tmp}/passthru-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$scratch"' EXIT INT TERM

if [ $# -gt 0 ]; then
	bins=
	for n in "$@"; do bins="$bins $OUTPUT/fuzz/fuzz_$n"; done
else
	bins=$(ls "$OUTPUT"/fuzz/fuzz_* 2>/dev/null)
fi
if [ -z "$bins" ]; then
	echo "FAIL fuzz: no harness in $OUTPUT/fuzz (make fuzz builds them)"
	exit 1
fi

for bin in $bins; do
	name=${bin##*/fuzz_}
	if [ ! -x "$bin" ]; then
		echo "FAIL fuzz/$name: $bin not built"
		fails=$((fails + 1))
		continue
	fi
	corpus=$scratch/$name
	artifacts=$OUTPUT/fuzz/artifacts/$name
	mkdir -p "$corpus" "$artifacts"
	[ -d "$here/corpus/$name" ] && cp "$here/corpus/$name"/* "$corpus"/ 2>/dev/null
	log=$scratch/$name.log

	# -timeout: one input taking seconds is a bug (the probes are linear).
	"$bin" -max_total_time="$FUZZ_TIME" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$artifacts/" \
		"$corpus" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	if [ $rc -eq 0 ]; then
		echo "PASS fuzz/$name"
		echo "     fuzz/$name: ${execs:-?} runs in ${FUZZ_TIME}s," \
		     "corpus $(ls "$corpus" | wc -l) inputs"
	else
		why=$(grep -m1 -E '^(==[0-9]+==ERROR|SUMMARY|fuzz_[a-z]+:|.*runtime error)' "$log")
		echo "FAIL fuzz/$name: ${why:-exit $rc} (log: $artifacts/log," \
		     "input: $(ls "$artifacts" | grep -v '^log$' | head -n 1))"
		cp "$log" "$artifacts/log"
		fails=$((fails + 1))
	fi
done

[ $fails -eq 0 ]
