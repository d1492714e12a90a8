#!/bin/sh
# run.sh - "make fuzz": build every libFuzzer target and run each for a
# while against its seed corpus, after replaying its saved crashes.
#
# usage: tests/fuzz/run.sh BUILDDIR [SECONDS]   (SECONDS defaults to 20)
#   FUZZ_CC names the clang to use (build.sh).
#
# Each target starts from a scratch copy of tests/fuzz/corpus/TARGET/,
# so the tree's corpus never changes, plus tests/fuzz/regressions/TARGET/
# (libFuzzer runs every input of both before it mutates anything).  Any
# crash, leak, sanitizer report or input slower than 10 s fails the run:
# the input is printed (path and base64) so that it can be saved from a
# CI log.  Per target one line tells runs, coverage and corpus size, so
# that runs can be compared.  Targets run as many at a time as there are
# CPUs (each gets SECONDS of its own).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
builddir=$(cd "${1:?usage: run.sh BUILDDIR [SECONDS]}" && pwd)
seconds=${2:-20}
out=$builddir/fuzz
work=$out/run

case $seconds in
'' | *[!0-9]*)
	echo "run.sh: FUZZ_SECONDS must be a number of seconds" >&2
	exit 2
	;;
esac
sh "$here/build.sh" "$builddir" "$out"

# Whatever the caller's sanitizer options say, leaks are errors here.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1
UBSAN_OPTIONS=${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS UBSAN_OPTIONS

# fuzz_target T - run target T; its report goes to $work/T/report, and
# $work/T/failed exists when it failed
fuzz_target() {
	t=$1
	rm -rf "${work:?}/$t"
	mkdir -p "$work/$t/corpus"
	if [ -d "$here/corpus/$t" ]; then
		cp -R "$here/corpus/$t/." "$work/$t/corpus/"
	fi
	dirs="$work/$t/corpus"
	[ -d "$here/regressions/$t" ] && dirs="$dirs $here/regressions/$t"
	log=$work/$t/log
	if "$out/$t" -max_total_time="$seconds" -timeout=10 \
	    -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="$work/$t/" $dirs >"$log" 2>&1; then
		st=$(grep -a '^#[0-9]*.* cov: ' "$log" | tail -n 1)
		cov=$(echo "$st" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
		ft=$(echo "$st" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
		corp=$(echo "$st" | sed -n 's/.* corp: \([^ ]*\).*/\1/p')
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
		echo "fuzz: $t: ${runs:-?} runs (${eps:-?}/s), cov ${cov:-?}," \
		    "ft ${ft:-?}, corpus ${corp:-?} (inputs/octets)" \
		    >"$work/$t/report"
		return 0
	fi
	: >"$work/$t/failed"
	{
		echo "fuzz: $t: FAILED; the end of $log:"
		tail -n 60 "$log"
		for a in "$work/$t"/crash-* "$work/$t"/leak-* \
		    "$work/$t"/timeout-* "$work/$t"/oom-*; do
			[ -f "$a" ] || continue
			echo "fuzz: $t: failing input $a ($(wc -c <"$a")" \
			    "octets), base64:"
			head -c 65536 "$a" | base64
			echo "fuzz: replay it with: $out/$t $a"
		done
	} >"$work/$t/report"
}

# As many targets at a time as there are CPUs; reports in target order.
ncpu=$(nproc 2>/dev/null || echo 1)
failed=
batch=
for src in "$here"/fuzz_*.c; do
	t=$(basename "$src" .c)
	fuzz_target "$t" &
	batch="$batch $t"
	[ "$(echo $batch | wc -w)" -lt "$ncpu" ] && continue
	wait
	for b in $batch; do
		cat "$work/$b/report"
		[ -f "$work/$b/failed" ] && failed="$failed $b"
	done
	batch=
done
wait
for b in $batch; do
	cat "$work/$b/report"
	[ -f "$work/$b/failed" ] && failed="$failed $b"
done
if [ -n "$failed" ]; then
	echo "fuzz: FAILED:$failed"
	echo "fuzz: save each failing input in tests/fuzz/regressions/TARGET/"
	echo "fuzz: once fixed (tests/fuzz/unfixed/TARGET/ until then)"
	exit 1
fi
echo "fuzz: all targets ran ${seconds}s each without a failure"
