#!/bin/sh
# build.sh - build the libFuzzer targets against the parser sources.
#
# usage: tests/fuzz/build.sh BUILDDIR [OUTDIR]
#   BUILDDIR holds config.h (an out-of-tree configure); OUTDIR defaults to
#   BUILDDIR/fuzz.  Run a target with e.g.
#   OUTDIR/fuzz_addr -max_total_time=60 OUTDIR/corpus-addr
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
builddir=${1:?usage: build.sh BUILDDIR [OUTDIR]}
outdir=${2:-$builddir/fuzz}
CC=${CC:-clang}

mkdir -p "$outdir"
cflags="-g -O1 -fsanitize=fuzzer,address,undefined
	-fno-sanitize-recover=undefined
	-I$top/common -I$builddir -DLIBBSD_NETBSD_VIS
	$(pkg-config --cflags libbsd-overlay)"
libs=$(pkg-config --libs libbsd-overlay)

# shellcheck disable=SC2086
$CC $cflags -o "$outdir/fuzz_addr" "$here/fuzz_addr.c" "$top/common/addr.c" \
	$libs
# shellcheck disable=SC2086
$CC $cflags -I"$top/smtpd" -o "$outdir/fuzz_smtp_command" \
	"$here/fuzz_smtp_command.c" "$top/smtpd/smtp_command.c" \
	"$top/common/addr.c" $libs
echo "built $outdir/fuzz_addr $outdir/fuzz_smtp_command"
