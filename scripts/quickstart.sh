#!/bin/sh
# quickstart.sh - the two Quick start commands of README.md.
#
#   scripts/quickstart.sh start   install build dependencies, build, and run
#                                 tern in the foreground on 127.0.0.1:2525,
#                                 delivering into ./demo/mailboxes/USER/Maildir
#   scripts/quickstart.sh test    install dependencies, build, and run the
#                                 whole test suite (unit + integration), then
#                                 again in a sanitizer (ASan + UBSan, and
#                                 LeakSanitizer where a process can run it)
#                                 build, then each fuzz target for 20
#                                 seconds and
#                                 the 2-minute torture test; with
#                                 TERN_PACKAGE_TEST=1 also the Debian
#                                 package test (tests/package/)
#
# Dependencies are installed with apt-get when run as root on Debian; as an
# ordinary user they must already be there.  Builds go to ./build and
# ./build-sanitize; nothing is installed outside the checkout except the
# _tern and _ternq system users and the _terndrop group (of tern-postdrop)
# when run as root (ternd refuses to run as root without the users, as a
# package's postinst would create them).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)

# apt_install PACKAGE... - apt-get install, without starting the services
# that packages bring (dovecot, nsd, unbound, fail2ban): the tests run
# their own on loopback, and none may take this machine's port 53 or 143.
apt_install() {
	rc_policy=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		rc_policy=1
	fi
	status=0
	apt-get install -y -qq --no-install-recommends "$@" >/dev/null ||
	    status=$?
	[ -z "$rc_policy" ] || rm -f /usr/sbin/policy-rc.d
	return "$status"
}

# deps build|test - what building (and trying) tern needs, or also what
# the whole test suite needs
deps() {
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "quickstart: installing $1 dependencies"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt_install build-essential autoconf automake pkg-config \
			libssl-dev libdb5.3-dev libbsd-dev libcrypt-dev check \
			swaks openssl
		[ "$1" = test ] || return 0
		apt_install python3 passwd procps tzdata cppcheck fail2ban \
			dnsmasq-base python3-aiosmtpd libnet-ssleay-perl \
			libio-socket-ssl-perl libfuse3-dev fuse3 e2fsprogs mount \
			db5.3-util clang libclang-rt-14-dev s-nail mandoc groff-base \
			dovecot-imapd dovecot-pop3d dovecot-lmtpd nsd unbound ldnsutils
		if [ "${TERN_PACKAGE_TEST:-0}" = 1 ]; then
			apt_install dpkg-dev debhelper debootstrap \
				debian-archive-keyring lintian iproute2 systemd
		fi
	fi
}

users() {
	[ "$(id -u)" -eq 0 ] || return 0
	for u in _tern _ternq; do
		if ! id "$u" >/dev/null 2>&1; then
			echo "quickstart: creating system user $u"
			useradd --system --no-create-home --home-dir /nonexistent \
				--shell /usr/sbin/nologin "$u"
		fi
	done
	# The group of tern-postdrop (setgid_group), which sendmail uses.
	if ! getent group _terndrop >/dev/null 2>&1; then
		echo "quickstart: creating system group _terndrop"
		groupadd --system _terndrop
	fi
	# tern_admin_group: its members may use every ternctl command.
	if ! getent group ternadm >/dev/null 2>&1; then
		echo "quickstart: creating system group ternadm"
		groupadd --system ternadm
	fi
}

# build DIR [configure options...]
build() {
	dir=$1
	shift
	cd "$top"
	if [ ! -x configure ] || [ configure.ac -nt configure ] ||
	    [ Makefile.am -nt Makefile.in ]; then
		autoreconf -fi
	fi
	mkdir -p "$dir"
	cd "$dir"
	if [ ! -f Makefile ] || [ "$top/configure" -nt config.status ]; then
		"$top/configure" -q "$@"
	fi
	make -s -j"$jobs"
}

start() {
	deps build
	build "$top/build"
	users
	demo="$top/demo"
	mkdir -p "$demo/mailboxes/alice" "$demo/mailboxes/bob"
	if [ ! -f "$demo/tern.conf" ]; then
		cat >"$demo/tern.conf" <<CONF
# tern Quick start configuration (made by scripts/quickstart.sh).
# Local mail only, on 127.0.0.1:2525.  Mail for alice@localhost or
# bob@localhost lands in $demo/mailboxes/USER/Maildir/new/.
# Add a user: mkdir $demo/mailboxes/NAME
smtp_listen = 127.0.0.1:2525
spool_dir = $demo/spool
daemon_directory = $top/build
mailbox_base = $demo/mailboxes
alias_maps = $demo/aliases
CONF
	fi
	if [ ! -f "$demo/aliases" ]; then
		printf 'postmaster: alice\nabuse: alice\n' >"$demo/aliases"
	fi
	"$top/build/ternmap" -a "$demo/aliases"
	"$top/build/ternd" -n -c "$demo/tern.conf"
	echo "quickstart: tern listens on 127.0.0.1:2525; try:"
	echo "  swaks --server 127.0.0.1:2525 --to alice@localhost"
	echo "  ls $demo/mailboxes/alice/Maildir/new/"
	exec "$top/build/ternd" -d -c "$demo/tern.conf"
}

run_tests() {
	dir=$1
	shift
	build "$dir" "$@"
	cd "$dir"
	if ! make -s check -j1; then
		for f in tests/unit/check_tern.log tests/fuzz/replay.sh.log \
		    tests/integration.sh.log; do
			[ -f "$f" ] && { echo "==== $f"; tail -n 200 "$f"; }
		done
		return 1
	fi
	for f in tests/unit/check_tern.log tests/fuzz/replay.sh.log \
	    tests/integration.sh.log; do
		[ -f "$f" ] && grep -aE '^[0-9]+%: Checks|^replay:|^integration:' \
		    "$f" || true
	done
}

test_all() {
	deps test
	users
	echo "quickstart: build and test"
	run_tests "$top/build"
	if command -v cppcheck >/dev/null 2>&1; then
		echo "quickstart: static analysis (cppcheck)"
		make -s -C "$top/build" cppcheck
	fi
	if [ "${TERN_SKIP_SANITIZE:-0}" != 1 ]; then
		echo "quickstart: sanitizer (ASan + UBSan) build and test"
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			run_tests "$top/build-sanitize" --enable-sanitizers
	fi
	if [ "${TERN_SKIP_FUZZ:-0}" != 1 ]; then
		echo "quickstart: fuzzing (each libFuzzer target for 20s)"
		make -s -C "$top/build" fuzz FUZZ_SECONDS=20
	fi
	echo "quickstart: torture test (SIGKILLs under load for 2 minutes)"
	make -s -C "$top/build" torture TORTURE_SECONDS=120
	if [ "${TERN_PACKAGE_TEST:-0}" = 1 ]; then
		echo "quickstart: Debian package test (build, lintian, exim4 replaced)"
		sh "$top/tests/package/test_package.sh"
	fi
	echo "quickstart: all tests passed"
}

case "${1:-}" in
start) start ;;
test) test_all ;;
*)
	echo "usage: $0 start|test" >&2
	exit 2
	;;
esac
