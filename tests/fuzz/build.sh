#!/bin/sh
# build.sh - build the libFuzzer targets against the parser sources.
#
# usage: tests/fuzz/build.sh BUILDDIR [OUTDIR]
#   BUILDDIR holds config.h (an out-of-tree configure); OUTDIR defaults to
#   BUILDDIR/fuzz.  Run a target with e.g.
#   OUTDIR/fuzz_addr -max_total_time=60 OUTDIR/corpus-addr
# Targets: fuzz_addr fuzz_smtp_command fuzz_envelope fuzz_dns fuzz_ipc
# fuzz_smtp_reply fuzz_sasl fuzz_msg_decode (one .c each in this directory).
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

ssl=$(pkg-config --libs openssl)
c="$top/common"

# build NAME SOURCES... - one target from its .c and the sources it needs
build() {
	name=$1
	shift
	# shellcheck disable=SC2086
	$CC $cflags -I"$top/smtpd" -I"$top/deliverd" -o "$outdir/$name" \
	    "$here/$name.c" "$@" $libs
	built="$built $outdir/$name"
}
built=

build fuzz_addr "$c/addr.c"
build fuzz_smtp_command "$top/smtpd/smtp_command.c" "$c/addr.c"
build fuzz_envelope "$c/envelope.c" "$c/ipc.c" "$c/log.c" "$c/xmalloc.c"
build fuzz_dns "$c/dns.c" "$c/log.c" "$c/xmalloc.c"
build fuzz_ipc "$c/ipc.c" "$c/log.c" "$c/xmalloc.c"
build fuzz_msg_decode "$c/msg_codec.c" "$c/ipc.c" "$c/log.c" "$c/xmalloc.c"
# fuzz_smtp_reply includes deliverd/smtp_client.c (its reader is static)
build fuzz_smtp_reply "$c/tls_client.c" "$c/deadline.c" "$c/log.c" \
    "$c/xmalloc.c" $ssl
build fuzz_sasl "$top/smtpd/smtp_auth.c" "$top/smtpd/smtp_io.c" \
    "$c/deadline.c" "$c/log.c" "$c/xmalloc.c" $ssl
echo "built$built"
