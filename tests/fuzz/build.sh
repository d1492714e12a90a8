#!/bin/sh
# build.sh - build the fuzz targets, as libFuzzer binaries (clang) or as
# replay binaries (any C compiler) that run saved inputs through the same
# LLVMFuzzerTestOneInput and its checks.
#
# usage: tests/fuzz/build.sh [-r] BUILDDIR [OUTDIR]
#   BUILDDIR holds config.h (a configured build directory).
#   Without -r: $FUZZ_CC (default clang) with -fsanitize=fuzzer,address,
#   undefined; binaries in OUTDIR (default BUILDDIR/fuzz).  "make fuzz"
#   (tests/fuzz/run.sh) builds and runs them.
#   With -r: $CC (default cc) with $FUZZ_CFLAGS and $FUZZ_LDFLAGS (the
#   build's own flags, sanitizers included when configured so) and
#   replay_main.c as main(); binaries in OUTDIR (default
#   BUILDDIR/tests/fuzz/replay).  "make check" (tests/fuzz/replay.sh) runs
#   them over every saved input.
#
# Every tests/fuzz/fuzz_NAME.c is a target; its "build" line below lists
# the tern sources it needs, relative to the top of the tree.  A new
# target is its .c file and one line here.  Each source is compiled once
# per run, however many targets share it.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
replay=0
if [ "${1:-}" = -r ]; then
	replay=1
	shift
fi
builddir=$(cd "${1:?usage: build.sh [-r] BUILDDIR [OUTDIR]}" && pwd)
if [ $replay = 1 ]; then
	outdir=${2:-$builddir/tests/fuzz/replay}
	cc=${CC:-cc}
	cflags="-g ${FUZZ_CFLAGS:-}"
	ldflags=${FUZZ_LDFLAGS:-}
else
	outdir=${2:-$builddir/fuzz}
	cc=${FUZZ_CC:-clang}
	cflags="-g -O1 -fsanitize=fuzzer,address,undefined
	    -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
	ldflags="-fsanitize=fuzzer,address,undefined"
fi
cppflags="-I$top/common -I$top/smtpd -I$top/deliverd -I$top/queued
	-I$top/lookupd -I$top/master -I$top/tools -I$builddir -DLIBBSD_NETBSD_VIS
	-DTERN_SYSCONFDIR=\"/etc\" -DTERN_SPOOLDIR=\"/var/spool/tern\"
	-DTERN_DAEMONDIR=\"/usr/libexec/tern\"
	$(pkg-config --cflags libbsd-overlay openssl)"
libs="$(pkg-config --libs libbsd-overlay openssl) ${DB_LIBS:--ldb-5.3}
	-lpthread"
mkdir -p "$outdir/obj"
objs=" "

# object SOURCE - compile SOURCE (relative to top, or absolute) once; add
# it to list
object() {
	case $1 in
	/*) src=$1 ;;
	*) src=$top/$1 ;;
	esac
	o=$outdir/obj/$(echo "${src#"$top"/}" | tr / _ | sed 's/\.c$/.o/')
	case $objs in
	*" $o "*) ;;
	*)
		# shellcheck disable=SC2086
		$cc $cflags $cppflags -c -o "$o" "$src"
		objs="$objs$o "
		;;
	esac
	list="$list $o"
}

# build NAME SOURCES... - the target NAME from tests/fuzz/NAME.c
build() {
	name=$1
	shift
	list=
	object "tests/fuzz/$name.c"
	[ $replay = 0 ] || object tests/fuzz/replay_main.c
	for s in "$@"; do
		object "$s"
	done
	# shellcheck disable=SC2086
	$cc $cflags $ldflags -o "$outdir/$name" $list $libs
	built="$built $name"
}
built=

# --- the targets: one line each ----------------------------------------
c=$top/common	# "$c/ipc.c" is common/ipc.c, as lines used to say
build fuzz_addr common/addr.c common/utf8.c
build fuzz_idna common/idna.c common/utf8.c
build fuzz_smtp_command smtpd/smtp_command.c common/addr.c common/utf8.c \
    common/dsn_param.c
build fuzz_envelope common/envelope.c common/dsn_param.c common/qid.c \
    common/addr.c common/utf8.c common/ipc.c common/log.c common/xmalloc.c
build fuzz_dns common/dns.c common/dns_tlsa.c common/log.c common/xmalloc.c
build fuzz_ipc common/ipc.c common/log.c common/xmalloc.c
build fuzz_msg_decode common/msg_codec.c common/ipc.c common/log.c \
    common/xmalloc.c
# fuzz_smtp_reply includes deliverd/smtp_client.c (its reader is static)
build fuzz_smtp_reply common/tls_client.c common/tls_ca.c \
    common/tls_dane.c common/tls_policy.c \
    common/deadline.c common/log.c common/xmalloc.c
build fuzz_sasl smtpd/smtp_auth.c smtpd/smtp_io.c common/deadline.c \
    common/log.c common/xmalloc.c
build fuzz_smtp_data smtpd/smtp_data.c smtpd/smtp_io.c \
    smtpd/smtp_received.c common/header.c common/deadline.c \
    common/msgfile.c \
    common/crc32c.c common/envelope.c common/dsn_param.c common/qid.c \
    common/addr.c common/utf8.c common/ipc.c common/log.c common/xmalloc.c
build fuzz_smtp_bdat smtpd/smtp_bdat.c smtpd/smtp_data.c smtpd/smtp_io.c \
    common/header.c common/deadline.c common/msgfile.c common/crc32c.c \
    common/envelope.c common/dsn_param.c common/qid.c common/addr.c \
    common/utf8.c \
    common/ipc.c common/log.c common/xmalloc.c
build fuzz_map common/map.c common/alias_target.c common/addr.c \
    common/utf8.c common/log.c \
    common/xmalloc.c
build fuzz_settings common/settings.c common/lmtp_target.c common/dns.c \
    common/dns_tlsa.c \
    common/tls_policy.c \
    common/log.c common/xmalloc.c
build fuzz_sendmail_msg tools/sendmail_msg.c tools/sendmail_addr.c \
    common/header.c common/addr.c common/utf8.c common/log.c common/xmalloc.c
build fuzz_virtual_path common/virtual_path.c
build fuzz_tls_policy common/tls_policy.c common/settings.c \
    common/lmtp_target.c common/dns.c common/dns_tlsa.c \
    common/log.c common/xmalloc.c
build fuzz_mtasts common/mtasts_policy.c deliverd/mtasts_fetch.c \
    common/tls_client.c common/tls_ca.c common/tls_dane.c \
    common/tls_policy.c \
    common/deadline.c common/dns.c common/dns_tlsa.c \
    common/log.c common/xmalloc.c

# Every fuzz_*.c must have its line above.
for f in "$here"/fuzz_*.c; do
	name=$(basename "$f" .c)
	case " $built " in
	*" $name "*) ;;
	*)
		echo "build.sh: $name.c has no build line" >&2
		exit 1
		;;
	esac
done
echo "built$built"
