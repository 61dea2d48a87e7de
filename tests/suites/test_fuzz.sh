#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# A short libFuzzer pass over every harness (parsers, router, config
# loader), from the checked-in seed corpora.  FUZZ_TIME seconds each
# (default 10 here; `make fuzz` runs longer).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
OUTPUT=${OUTPUT:-build}
if ! make -s -j"$(nproc)" OUTPUT="$OUTPUT" fuzz-build >"$OUTPUT/fuzz-build.log" 2>&1; then
	echo "FAIL fuzz/build: $(tail -n 3 "$OUTPUT/fuzz-build.log" | tr '\n' ' ')"
	exit 1
fi
FUZZ_TIME=${FUZZ_TIME:-10} OUTPUT=$OUTPUT tests/fuzz/run.sh
