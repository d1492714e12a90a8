#!/bin/sh
# replay.sh - the fuzz inputs kept in the tree, replayed by "make check".
#
# Builds every fuzz target without libFuzzer, with the build's own
# compiler and flags (so with ASan and UBSan in a sanitizer build), and
# runs each once over every input of tests/fuzz/corpus/TARGET/ and
# tests/fuzz/regressions/TARGET/: any abort, sanitizer report or crash
# fails the test (and a seed of fuzz_msg_decode that no longer decodes
# as the message it names), so a crash once found stays fixed without clang.
# Inputs in tests/fuzz/unfixed/TARGET/ are crashes of bugs not fixed yet:
# each must still fail (XFAIL); one that passes (XPASS) is reported, to
# be moved to regressions/ with its fix.
#
# Run by make check (TESTS), which sets TERN_SRCDIR, TERN_BUILDDIR, CC,
# FUZZ_CFLAGS, FUZZ_LDFLAGS and DB_LIBS.
set -eu

here=${TERN_SRCDIR:?}/tests/fuzz
builddir=${TERN_BUILDDIR:?}
out=$builddir/tests/fuzz/replay

mkdir -p "$out"
if ! sh "$here/build.sh" -r "$builddir" "$out" >"$out/build.log" 2>&1; then
	cat "$out/build.log"
	echo "replay: building the fuzz targets failed"
	exit 1
fi

failed=0
targets=0
for src in "$here"/fuzz_*.c; do
	t=$(basename "$src" .c)
	targets=$((targets + 1))
	# The seeds must also still be what they were saved as (a target
	# that can tell, fuzz_msg_decode, checks it under this variable);
	# regression inputs need only not crash.
	if [ -d "$here/corpus/$t" ] &&
	    ! FUZZ_MSG_DECODE_STRICT=1 "$out/$t" "$here/corpus/$t"; then
		echo "FAIL: $t: a seed fails (see above)"
		failed=1
	fi
	if [ -d "$here/regressions/$t" ] &&
	    ! "$out/$t" "$here/regressions/$t"; then
		echo "FAIL: $t: a regression input fails (see above)"
		failed=1
	fi
	[ -d "$here/unfixed/$t" ] || continue
	for f in "$here/unfixed/$t"/*; do
		[ -f "$f" ] || continue
		if "$out/$t" "$f" >"$out/$t.unfixed.log" 2>&1; then
			echo "XPASS: $t: $f no longer fails: its bug is fixed," \
			    "git mv it to tests/fuzz/regressions/$t/"
		else
			echo "XFAIL: $t: $(basename "$f") (a known, unfixed bug)"
		fi
	done
done
[ "$failed" = 0 ] || exit 1
echo "replay: $targets fuzz targets replayed every saved input"
