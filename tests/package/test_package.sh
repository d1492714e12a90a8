#!/bin/sh
# test_package.sh - the Debian package, as a new administrator meets it.
#
# Builds tern_*.deb from a copy of the tree (dpkg-buildpackage -us -uc -b)
# and lints it (no lintian error may remain), then installs it into a
# fresh Debian 12 root made by debootstrap from the host's own apt mirror,
# where exim4 was installed first, and checks that:
#   - apt replaces exim4 with tern, programs that need an MTA (bsd-mailx)
#     stay installed, and /usr/sbin/sendmail and its links are tern's;
#   - postinst made the users and groups, the statoverride of the setgid
#     maildrop helper, /etc/aliases.db from exim's leftover /etc/aliases,
#     kept /etc/mailname, enabled the service and started ternd;
#   - mail to root (sendmail, mailx, SMTP) and to postmaster (an alias of
#     root) lands in /root/Maildir;
#   - dpkg --purge leaves no tern user, group, statoverride or file.
#
# Run as root:  sh tests/package/test_package.sh
# (scripts/quickstart.sh test runs it when TERN_PACKAGE_TEST=1).
#
# The Debian root runs in its own network, PID and mount namespaces: ternd
# listens on the namespace's own loopback, every process of the test dies
# with the namespace, and its /proc mount is never visible on the host.
# Nothing is installed on the host.  The root with exim4 is cached as a
# tarball in $TERN_PACKAGE_WORKDIR (default ./build-package) for a week.
#
# Exit status: 0 when every check passed; 1 when one failed or could not
# be run (a tree without sendmail: "NOT TESTED: sendmail missing").
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
work=${TERN_PACKAGE_WORKDIR:-$top/build-package}
suite=bookworm
root=$work/root
log=$work/test.log
holder=
nspid=
passed=0
failed=0
untested=0
start_time=$(date +%s)

# say MSG - progress on stdout
say()
{
	echo "test_package: $*"
}

# die MSG - the test cannot go on
die()
{
	echo "test_package: ERROR: $*" >&2
	exit 1
}

# ok DESC / bad DESC / untested DESC - one check's outcome
ok()
{
	passed=$((passed + 1))
	echo "ok: $*"
}
bad()
{
	failed=$((failed + 1))
	echo "FAIL: $*"
}
untested()
{
	untested=$((untested + 1))
	echo "NOT TESTED: sendmail missing: $*"
}

# check DESC CMD... - ok when CMD succeeds; its output goes to the log
check()
{
	desc=$1
	shift
	echo "== $desc: $*" >>"$log"
	if "$@" >>"$log" 2>&1; then
		ok "$desc"
	else
		bad "$desc (see $log)"
	fi
}

# in_root CMD... - CMD in the Debian root with a clean environment
in_root()
{
	chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
	    LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

# in_ns CMD... - in_root inside the test's namespaces
in_ns()
{
	nsenter -t "$nspid" -n -m -p chroot "$root" env -i \
	    PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
	    DEBIAN_FRONTEND=noninteractive "$@"
}

# in_proc CMD... - in_root with /proc, in a mount and PID namespace that
# end with CMD (for apt and dpkg while the network is still needed)
in_proc()
{
	unshare --mount --pid --fork --kill-child --mount-proc="$root/proc" \
	    chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	    HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

# cleanup - end the namespaces (so every process started in them) and
# remove the Debian root unless TERN_PACKAGE_KEEP=1
cleanup()
{
	# unshare blocks SIGTERM while it waits; the namespace ends with
	# its first process, killing every other one in it.
	if [ -n "$nspid" ]; then
		kill -KILL "$nspid" 2>/dev/null || true
	fi
	if [ -n "$holder" ]; then
		wait "$holder" 2>/dev/null || true
	fi
	if grep -q " $root/" /proc/self/mountinfo 2>/dev/null; then
		echo "test_package: ERROR: mounts left below $root" >&2
		return
	fi
	if [ "${TERN_PACKAGE_KEEP:-0}" != 1 ] && [ -d "$root" ]; then
		rm -rf --one-file-system "$root"
	fi
}

# need CMD PACKAGE - the host must have CMD (from PACKAGE)
need()
{
	command -v "$1" >/dev/null 2>&1 ||
	    die "$1 missing (apt-get install $2)"
}

# apt_mirror - the URI the host's apt uses for Debian $suite
apt_mirror()
{
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk -v s="$suite" '$1 == "deb" {
			i = 2
			if ($i ~ /^\[/) {
				while (i <= NF && $i !~ /\]$/) i++
				i++
			}
			if ($(i + 1) == s) { print $i; exit }
		}' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk -v s="$suite" 'BEGIN { RS = ""; FS = "\n" } {
			deb = 0; has = 0; off = 0; uri = ""
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^#/) continue
				n = index($i, ":")
				k = tolower(substr($i, 1, n - 1))
				v = " " substr($i, n + 1) " "
				if (k == "types" && v ~ / deb /) deb = 1
				if (k == "suites" && index(v, " " s " ")) has = 1
				if (k == "enabled" && v ~ / no /) off = 1
				if (k == "uris") { split(v, u, " "); uri = u[1] }
			}
			if (deb && has && !off && uri != "") { print uri; exit }
		}' "$f"
	done
}

# tree_copy DIR - the source tree (tracked and new files, not builds)
tree_copy()
{
	mkdir -p "$1"
	if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
		(cd "$top" && git ls-files -co --exclude-standard -z |
		    tar --null -T - -cf -) | tar -xf - -C "$1"
	else
		# Not the builds, nor this test's own directory (below $top
		# when TERN_PACKAGE_WORKDIR says so): tar would copy its copy.
		(cd "$top" && tar --exclude='./build*' --exclude=./demo \
		    --exclude="./${work#"$top"/}" -cf - .) | tar -xf - -C "$1"
	fi
}

# package_build - build the .deb in a copy of the tree; sets $deb
package_build()
{
	rm -rf "$work/src"
	tree_copy "$work/src/tern"
	profiles=
	if [ "$have_sendmail" = no ]; then
		profiles=pkg.tern.nosendmail
	fi
	say "building the package (dpkg-buildpackage -us -uc -b)"
	if ! (cd "$work/src/tern" &&
	    DEB_BUILD_PROFILES=$profiles \
	    DEB_BUILD_OPTIONS="parallel=$(nproc 2>/dev/null || echo 2)" \
	    dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
		tail -n 40 "$work/build.log"
		die "dpkg-buildpackage failed (whole log: $work/build.log)"
	fi
	deb=$(ls "$work"/src/tern_*_*.deb)
	ok "dpkg-buildpackage -us -uc -b built $(basename "$deb")"
}

# package_lint - lintian on the build; errors fail, warnings are shown
package_lint()
{
	changes=$(ls "$work"/src/tern_*.changes)
	lintian --fail-on error "$changes" >"$work/lintian.log" 2>&1 &&
	    r=0 || r=$?
	grep -v 'running with root privileges' "$work/lintian.log" || true
	if [ "$r" = 0 ]; then
		ok "lintian: no errors"
	else
		bad "lintian: errors (above)"
	fi
}

# base_root - $root: Debian $suite with exim4, from the cache if fresh
base_root()
{
	mirror=$(apt_mirror | head -n 1)
	[ -n "$mirror" ] || die "no apt source for $suite in /etc/apt"
	key=$(echo "$mirror" | md5sum | cut -c1-8)
	cache=$work/cache/$suite-exim4-$key.tar
	if [ -f "$cache" ] && [ -z "$(find "$cache" -mtime +6)" ]; then
		say "Debian root from $cache"
	else
		say "debootstrap $suite from $mirror, then exim4"
		rm -rf --one-file-system "$root"
		mkdir -p "$work/cache"
		debootstrap --variant=minbase "$suite" "$root" "$mirror" \
		    >"$work/debootstrap.log" 2>&1 ||
		    { tail -n 20 "$work/debootstrap.log"; die "debootstrap failed"; }
		# No service may start in the root (exim4 would bind the
		# host's port 25); the test's own policy comes later.
		printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
		chmod 0755 "$root/usr/sbin/policy-rc.d"
		in_proc apt-get install -y -q exim4 >"$work/exim4.log" 2>&1 ||
		    { tail -n 20 "$work/exim4.log"; die "installing exim4 failed"; }
		in_proc apt-get clean
		tar -C "$root" -cf "$cache.new" .
		mv "$cache.new" "$cache"
	fi
	rm -rf --one-file-system "$root"
	mkdir -p "$root"
	tar -C "$root" -xf "$cache"
	# As exim4's postinst would have written it on this host today.
	hostname --fqdn >"$root/etc/mailname" 2>/dev/null ||
	    hostname >"$root/etc/mailname"
	cp /etc/hosts "$root/etc/hosts"
	# Only tern's init script may run: postinst starts ternd, prerm
	# stops it, inside the namespaces (nothing else of the root runs).
	cat >"$root/usr/sbin/policy-rc.d" <<'EOF'
#!/bin/sh
case "$1" in tern) exit 0 ;; esac
exit 101
EOF
	chmod 0755 "$root/usr/sbin/policy-rc.d"
}

# ns_start - the namespaces (network with loopback up, PID, mount with
# the root's /proc) held open by a sleeping process; sets $nspid
ns_start()
{
	unshare --net --mount --pid --fork --kill-child \
	    --mount-proc="$root/proc" sleep 3600 2>>"$log" &
	holder=$!
	for _ in $(seq 50); do
		nspid=$(awk '{ print $1 }' \
		    "/proc/$holder/task/$holder/children" 2>/dev/null || true)
		[ -n "$nspid" ] && break
		sleep 0.1
	done
	[ -n "$nspid" ] || die "the namespaces did not start"
	nsenter -t "$nspid" -n ip link set lo up
	nsenter -t "$nspid" -m mount -t devpts -o newinstance devpts \
	    "$root/dev/pts"
}

# installed PKG - 0 when PKG is installed in the root
installed()
{
	[ "$(in_ns dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = \
	    "install ok installed" ]
}

# removed PKG - 0 when PKG is not installed in the root (its
# configuration files may be left)
removed()
{
	st=$(in_ns dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null ||
	    true)
	[ -z "$st" ] || [ "$st" = not-installed ] || [ "$st" = config-files ]
}

# purged PKG - 0 when dpkg knows nothing of PKG in the root
purged()
{
	st=$(in_ns dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null ||
	    true)
	[ -z "$st" ] || [ "$st" = not-installed ]
}

# account_absent NAME - no user and no group NAME in the root
account_absent()
{
	! grep -q "^$1:" "$root/etc/passwd" "$root/etc/group" \
	    "$root/etc/shadow" "$root/etc/gshadow"
}

# mail_arrived TOKEN - 0 once a message with TOKEN is in /root/Maildir
# (waits for the delivery, at most 60 seconds)
mail_arrived()
{
	for _ in $(seq 120); do
		if grep -rlqs -- "$1" "$root/root/Maildir/new" \
		    "$root/root/Maildir/cur"; then
			return 0
		fi
		sleep 0.5
	done
	echo "no message with $1 in /root/Maildir" >&2
	ls -laR "$root/root/Maildir" "$root/var/spool/tern" >&2 || true
	return 1
}

# smtp_send RCPT TOKEN - one message over SMTP to 127.0.0.1:25 in the
# root (bash's /dev/tcp: the minimal root has no SMTP client)
smtp_send()
{
	in_ns bash -c '
		exec 3<>/dev/tcp/127.0.0.1/25 || exit 1
		cr=$(printf "\r")
		reply() {
			while IFS= read -r -t 30 line <&3; do
				line=${line%"$cr"}
				echo "S: $line"
				case $line in
				[0-9][0-9][0-9]-*) ;;
				[23][0-9][0-9]*) return 0 ;;
				*) return 1 ;;
				esac
			done
			return 1
		}
		send() { echo "C: $1"; printf "%s\r\n" "$1" >&3; }
		reply || exit 1
		send "EHLO localhost"; reply || exit 1
		send "MAIL FROM:<root@localhost>"; reply || exit 1
		send "RCPT TO:<$1>"; reply || exit 1
		send DATA; reply || exit 1
		send "Subject: $2"; send ""; send "$2 over SMTP"; send "."
		reply || exit 1
		send QUIT; reply
	' smtp_send "$1" "$2"
}

# unit_verify - systemd-analyze verify finds nothing wrong in the unit
# the package installed (but that ternd is not on the host)
unit_verify()
{
	out=$(systemd-analyze verify --man=no \
	    "$root/lib/systemd/system/tern.service" 2>&1 || true)
	echo "$out"
	! echo "$out" | grep -v \
	    'Command /usr/sbin/ternd is not executable' | grep -q .
}

# no_tern_process - 0 when no process in the namespaces is tern's
# (zombies aside: the namespace's first process, sleep, reaps nothing)
no_tern_process()
{
	procs=$(in_ns sh -c 'for p in /proc/[0-9]*; do
		sed -n "s/^Name:[[:space:]]*//p; s/^State:[[:space:]]*//p" \
		    "$p/status" 2>/dev/null | paste -sd " "
	done')
	echo "$procs"
	! echo "$procs" | grep -v ' Z ' | grep -q '^tern'
}

# no_leftovers - 0 when no name in the root (outside /tmp) looks like
# tern's: tern, ternd, tern.conf, _ternq, tern-smtpd, ...; lists them
no_leftovers()
{
	found=$(find "$root" -xdev -path "$root/tmp" -prune -o \
	    -regextype posix-extended \
	    -regex '.*/([^/]*[^a-z/])?_?tern(d|ctl|map|adm|q|drop)?([^a-z/][^/]*)?' \
	    -print | sed "s|^$root||")
	[ -z "$found" ] && return 0
	echo "$found"
	return 1
}

# purge_check - apt-get purge tern leaves nothing of tern behind
purge_check()
{
	# apt-get purge: dpkg --purge, and bsd-mailx goes too if it is
	# there (it needs an MTA).
	check "apt-get purge tern" in_ns apt-get purge -y -q tern
	check "tern is purged" purged tern
	check "no tern process runs" no_tern_process
	for a in _tern _ternq _terndrop ternadm; do
		check "no user or group $a" account_absent "$a"
	done
	check "no statoverride" sh -c \
	    "! grep -q tern '$root/var/lib/dpkg/statoverride'"
	for d in /etc/tern /var/spool/tern /var/lib/tern /etc/aliases.db; do
		check "no $d" test ! -e "$root$d"
	done
	check "no file named after tern" no_leftovers
}

# --- the test --------------------------------------------------------
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot, namespaces)"
need dpkg-buildpackage dpkg-dev
need dh debhelper
need debootstrap debootstrap
need lintian lintian
need unshare util-linux
need nsenter util-linux
need ip iproute2
need systemd-analyze systemd

if [ -f "$top/tools/sendmail.c" ]; then
	have_sendmail=yes
else
	have_sendmail=no
	echo "test_package: NOT TESTED: sendmail missing (no tools/sendmail.c):" \
	    "the package is built without it, the sendmail checks are skipped" \
	    "and the test fails" >&2
fi

mkdir -p "$work"
: >"$log"
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

package_build
package_lint
base_root
mkdir -p "$root/tmp/pkg"
cp "$deb" "$root/tmp/pkg/"
pkg=/tmp/pkg/$(basename "$deb")

say "apt install ./$(basename "$deb") in the $suite root with exim4"
in_proc apt-get update -q >>"$log" 2>&1 || die "apt-get update failed"
# Fetch what tern needs while the network is there; the installation
# itself runs in the namespace, where postinst starts ternd, and finds
# everything in apt's cache.
in_proc apt-get install -y -q --download-only "$pkg" >>"$log" 2>&1 ||
    die "apt-get install --download-only failed (see $log)"
ns_start
check "exim4 was installed first" installed exim4-daemon-light
check "apt install ./tern_*.deb replaces exim4" \
    in_ns apt-get install -y -q "$pkg"
check "tern is installed" installed tern
check "exim4-daemon-light was removed" removed exim4-daemon-light
check "exim4 was removed" removed exim4
check "bsd-mailx (Depends: mail-transport-agent) stays installed" \
    installed bsd-mailx
check "apt sees no broken dependency" in_ns apt-get check -q
if [ "$have_sendmail" = yes ]; then
	for f in /usr/sbin/sendmail /usr/lib/sendmail /usr/bin/mailq \
	    /usr/bin/newaliases; do
		check "$f belongs to tern" sh -c \
		    "chroot '$root' dpkg -S $f | grep -q '^tern:'"
	done
	check "the maildrop helper is setgid _terndrop by statoverride" \
	    sh -c "chroot '$root' dpkg-statoverride --list \
	    /usr/lib/tern/tern-postdrop | grep -qx 'root _terndrop 2755 /usr/lib/tern/tern-postdrop' &&
	    [ \"\$(chroot '$root' stat -c '%A %G' /usr/lib/tern/tern-postdrop)\" = '-rwxr-sr-x _terndrop' ]"
else
	untested "/usr/sbin/sendmail, /usr/lib/sendmail, mailq, newaliases"
	untested "the setgid maildrop helper's statoverride"
fi
check "/etc/tern/tern.conf is a conffile" sh -c \
    "chroot '$root' dpkg-query -W -f='\${Conffiles}\n' tern | grep -q ' /etc/tern/tern.conf '"
for u in _tern _ternq; do
	check "postinst created user $u" in_ns getent passwd "$u"
done
for g in _terndrop ternadm; do
	check "postinst created group $g" in_ns getent group "$g"
done
check "/etc/mailname kept" sh -c \
    "[ \"\$(cat '$root/etc/mailname')\" = \"\$(hostname --fqdn 2>/dev/null || hostname)\" ]"
check "exim's /etc/aliases compiled: postmaster is root" sh -c \
    "chroot '$root' ternmap -a -q postmaster /etc/aliases | grep -qx 'root@.*\|root'"
check "the service is enabled for systemd" \
    test -L "$root/etc/systemd/system/multi-user.target.wants/tern.service"
check "the service is enabled for sysvinit" \
    sh -c "ls '$root'/etc/rc2.d/S*tern"
check "systemd-analyze verify: the unit is sound" unit_verify
check "postinst started ternd (/etc/init.d/tern status)" \
    in_ns /etc/init.d/tern status
check "ternd -n finds no problem in the packaged configuration" \
    in_ns ternd -n

say "mail to root"
check "SMTP to root@localhost accepted" smtp_send root@localhost tern-test-smtp-root
check "SMTP to root@localhost lands in /root/Maildir" \
    mail_arrived tern-test-smtp-root
check "SMTP to postmaster@localhost (alias) accepted" \
    smtp_send postmaster@localhost tern-test-smtp-postmaster
check "mail to postmaster (exim's alias of root) lands in /root/Maildir" \
    mail_arrived tern-test-smtp-postmaster
if [ "$have_sendmail" = yes ]; then
	check "echo | sendmail root (as root)" in_ns sh -c \
	    'printf "Subject: tern-test-sendmail-root\n\nhi\n" | /usr/sbin/sendmail root'
	check "sendmail root (as root): lands in /root/Maildir" \
	    mail_arrived tern-test-sendmail-root
	check "sendmail root (as nobody, through the setgid helper)" in_ns \
	    setpriv --reuid=nobody --regid=nogroup --clear-groups sh -c \
	    'printf "Subject: tern-test-sendmail-nobody\n\nhi\n" | /usr/sbin/sendmail root'
	check "sendmail root (as nobody): lands in /root/Maildir" \
	    mail_arrived tern-test-sendmail-nobody
	check "mailx -s ... root (bsd-mailx through /usr/sbin/sendmail)" in_ns \
	    sh -c 'echo hi | mail -s tern-test-mailx root'
	check "mailx: lands in /root/Maildir" mail_arrived tern-test-mailx
	check "newaliases compiles /etc/aliases" in_ns newaliases
	check "mailq runs" in_ns mailq
else
	untested "echo hi | /usr/sbin/sendmail root, as root and as nobody"
	untested "mail(1) from bsd-mailx through /usr/sbin/sendmail"
	untested "newaliases and mailq"
fi
check "/etc/init.d/tern reload" in_ns /etc/init.d/tern reload

say "upgrade path: the same package again"
echo "# edited by test_package.sh" >>"$root/etc/tern/tern.conf"
pid_before=$(cat "$root/var/spool/tern/run/ternd.pid")
check "dpkg -i again" in_ns dpkg -i "$pkg"
check "the edited /etc/tern/tern.conf is kept" \
    grep -q '^# edited by test_package.sh' "$root/etc/tern/tern.conf"
check "postinst restarted ternd" sh -c \
    "[ \"\$(cat '$root/var/spool/tern/run/ternd.pid')\" != '$pid_before' ]"
check "ternd runs after the upgrade" in_ns /etc/init.d/tern status
check "SMTP to root after the upgrade accepted" \
    smtp_send root@localhost tern-test-upgrade
check "SMTP to root after the upgrade lands in /root/Maildir" \
    mail_arrived tern-test-upgrade

say "apt-get purge tern (dpkg --purge)"
purge_check
check "exim's /etc/aliases and /etc/mailname stay" \
    test -f "$root/etc/aliases" -a -f "$root/etc/mailname"

say "a host with no MTA, no /etc/aliases and no /etc/mailname"
rm -f "$root/etc/aliases" "$root/etc/mailname"
check "apt install ./tern_*.deb" in_ns apt-get install -y -q "$pkg"
check "postinst wrote /etc/mailname (hostname --fqdn)" sh -c \
    "[ \"\$(cat '$root/etc/mailname')\" = \"\$(hostname --fqdn 2>/dev/null || hostname)\" ]"
check "postinst wrote /etc/aliases from tern's template" \
    cmp "$root/etc/aliases" "$root/usr/share/tern/aliases"
check "SMTP to postmaster@localhost accepted" \
    smtp_send postmaster@localhost tern-test-fresh-postmaster
check "mail to postmaster (tern's alias of root) lands in /root/Maildir" \
    mail_arrived tern-test-fresh-postmaster
purge_check
check "the /etc/aliases and /etc/mailname that postinst wrote are gone" \
    test ! -e "$root/etc/aliases" -a ! -e "$root/etc/mailname"

elapsed=$(($(date +%s) - start_time))
echo "test_package: $passed passed, $failed failed, $untested not tested" \
    "(${elapsed}s; details in $log)"
# A check not run counts as failed.
echo "package: $passed passed, $((failed + untested)) failed"
if [ "$untested" -gt 0 ]; then
	echo "test_package: NOT TESTED: sendmail missing: $untested checks" \
	    "were not run; this is not a pass" >&2
	exit 1
fi
[ "$failed" = 0 ]
