#!/bin/bash
# run.sh - benchmark tern against Postfix on this machine, in one run.
#
#   bench/run.sh [TERN_BUILDDIR]        (as root; see bench/README.md)
#
# Starts a private tern and a private Postfix, each entirely under one
# temporary directory and listening only on 127.0.0.1, drives both with the
# same smtp-source workload (alternating servers, R repetitions), times
# acceptance and delivery into a Maildir, counts the CPU time of each
# server's process tree, prints a table and writes
# bench/results/DATE-HOST.md.  Settings are environment variables (listed
# in usage() and README.md).
#
# It must never start, stop or reconfigure the system's own Postfix or
# anything else on port 25: the package is installed with services
# blocked, and the only servers it stops are the ones it started (or a
# Postfix master that its own package install started).
set -eu

usage() {
	cat <<'EOF'
usage: bench/run.sh [-h] [TERN_BUILDDIR]

Environment (defaults in brackets):
  TERN_BUILDDIR  tern build directory with ternd, tern-* [$top/build]
  M              messages per run [2000]
  SIZES          message body sizes, k = 1024 [2k 20k]
  CONCS          concurrent SMTP sessions [10 50]
  MODES          conn = one message per connection, session = many
                 messages per connection (smtp-source -d) [conn session]
  R              repetitions of each measurement [3]
  WARMUP         messages sent to each server before measuring [200]
  PORT_T PORT_P  tern / Postfix SMTP ports on 127.0.0.1 [2702 2701]
  LDA_CONC       if set, both servers deliver at most this many messages
                 at once (tern local_delivery_limit, Postfix
                 virtual_destination_concurrency_limit); empty keeps each
                 server's own default (tern 10, Postfix 20) []
  TERN_MAX_PROCS tern smtpd_max_procs [max(100, 2 * largest C)]
  TERN_MIN_SPARE tern smtpd_min_spare [largest C]
  PF_PROCS       Postfix default_process_limit [max(100, 2 * largest C)]
  BENCH_TMPDIR   where the temporary directory goes (keep it on the disk
                 you want to measure, not tmpfs) [/var/tmp]
  TIMEOUT        seconds to wait for one run's deliveries [600]
  NOTE           free text copied into the results file []
  RESULTS_DIR    [$top/bench/results]
  KEEP=1         keep the temporary directory (logs, Maildirs, configs)
  NO_INSTALL=1   never run apt-get (postfix must be installed)
EOF
}

case "${1:-}" in
-h | --help)
	usage
	exit 0
	;;
esac

top=$(cd "$(dirname "$0")/.." && pwd)
bench=$top/bench
TERN_BUILDDIR=${1:-${TERN_BUILDDIR:-$top/build}}
M=${M:-2000}
SIZES=${SIZES:-2k 20k}
CONCS=${CONCS:-10 50}
MODES=${MODES:-conn session}
R=${R:-3}
WARMUP=${WARMUP:-200}
PORT_T=${PORT_T:-2702}
PORT_P=${PORT_P:-2701}
LDA_CONC=${LDA_CONC:-}
BENCH_TMPDIR=${BENCH_TMPDIR:-/var/tmp}
TIMEOUT=${TIMEOUT:-600}
NOTE=${NOTE:-}
RESULTS_DIR=${RESULTS_DIR:-$bench/results}
KEEP=${KEEP:-0}
NO_INSTALL=${NO_INSTALL:-0}

maxc=0
for c in $CONCS; do
	[ "$c" -gt "$maxc" ] && maxc=$c
done
dflt_procs=$((2 * maxc > 100 ? 2 * maxc : 100))
TERN_MAX_PROCS=${TERN_MAX_PROCS:-$dflt_procs}
TERN_MIN_SPARE=${TERN_MIN_SPARE:-$maxc}
PF_PROCS=${PF_PROCS:-$dflt_procs}

PF_DAEMON_DIR=/usr/lib/postfix/sbin

say() { echo "bench: $*"; }
die() {
	echo "bench: error: $*" >&2
	exit 1
}

# listening PORT - true when something listens on 127.0.0.1:PORT or *:PORT
listening() {
	ss -Hltn 2>/dev/null | awk -v p="$1" '
		{ n = split($4, a, ":"); if (a[n] == p &&
		    (a[1] == "127.0.0.1" || a[1] == "0.0.0.0" || a[1] == "*" ||
		     $4 ~ /^\[::\]/)) found = 1 }
		END { exit !found }'
}

# postfix_masters - pids of running Postfix master processes, any instance
postfix_masters() {
	for d in /proc/[0-9]*; do
		[ "$(readlink "$d/exe" 2>/dev/null)" = "$PF_DAEMON_DIR/master" ] &&
			echo "${d#/proc/}"
	done
	return 0
}

[ "$(id -u)" -eq 0 ] ||
	die "run as root: Postfix's 'postfix start' is reserved for the superuser"

# ---- 1. install Postfix without starting it -------------------------------

install_postfix() {
	if command -v smtp-source >/dev/null 2>&1 &&
	    [ -x /usr/sbin/postfix ] && [ -x "$PF_DAEMON_DIR/master" ]; then
		return 0
	fi
	[ "$NO_INSTALL" = 1 ] && die "postfix is not installed (NO_INSTALL=1)"
	command -v apt-get >/dev/null 2>&1 ||
		die "postfix is not installed and this is not Debian (no apt-get)"
	port25_before=0
	listening 25 && port25_before=1
	masters_before=$(postfix_masters)
	created_policy=0
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\n# bench/run.sh: no service starts\nexit 101\n' \
			>/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		created_policy=1
	fi
	say "installing postfix (services blocked by policy-rc.d)"
	echo "postfix postfix/main_mailer_type select No configuration" |
		debconf-set-selections
	rc=0
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends postfix >/dev/null || rc=$?
	[ "$created_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
	[ "$rc" = 0 ] || die "apt-get install postfix failed ($rc)"
	# A master the package managed to start anyway is stopped; masters
	# that ran before the install are not ours to touch.
	for pid in $(postfix_masters); do
		echo "$masters_before" | grep -qx "$pid" && continue
		say "stopping Postfix master $pid started by the package install"
		postfix stop >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
	done
	sleep 1
	if [ "$port25_before" = 0 ] && listening 25; then
		die "something listens on port 25 after installing postfix"
	fi
}

install_postfix
command -v smtp-source >/dev/null 2>&1 || die "smtp-source not found"
for p in ternd tern-smtpd tern-queued tern-deliverd tern-lookupd; do
	[ -x "$TERN_BUILDDIR/$p" ] ||
		die "$TERN_BUILDDIR/$p missing: build tern first (TERN_BUILDDIR)"
done
for p in "$PORT_T" "$PORT_P"; do
	listening "$p" && die "port $p is in use: set PORT_T / PORT_P"
done
for u in _tern _ternq; do
	if ! id "$u" >/dev/null 2>&1; then
		say "creating system user $u"
		useradd --system --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin "$u"
	fi
done

# ---- 2. the two private servers -------------------------------------------

mkdir -p "$BENCH_TMPDIR"
tmp=$(mktemp -d "$BENCH_TMPDIR/tern-bench.XXXXXX")
chmod 755 "$tmp"
tern_pid=
pf_started=0

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
	set +e
	if [ -n "$tern_pid" ] && kill -0 "$tern_pid" 2>/dev/null; then
		kill -TERM "$tern_pid"
		for _ in $(seq 1 150); do
			kill -0 "$tern_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$tern_pid" 2>/dev/null && kill -KILL "$tern_pid"
	fi
	if [ "$pf_started" = 1 ]; then
		postfix -c "$tmp/pf-etc" stop >/dev/null 2>&1
		pf_started=0
	fi
	if [ "$KEEP" = 1 ]; then
		say "kept $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Both deliver as the same unprivileged owner.
mb_uid=$(id -u nobody)
mb_gid=$(id -g nobody)

# tern: mail for alice@bench.test goes to $tmp/tern-mail/alice/Maildir,
# written as the owner of $tmp/tern-mail/alice.
mkdir -p "$tmp/tern-mail/alice/Maildir/new" "$tmp/tern-mail/alice/Maildir/cur" \
	"$tmp/tern-mail/alice/Maildir/tmp"
chown -R "$mb_uid:$mb_gid" "$tmp/tern-mail/alice"
chmod 755 "$tmp/tern-mail"
tern_maildir=$tmp/tern-mail/alice/Maildir
cat >"$tmp/tern.conf" <<EOF
# written by bench/run.sh
myhostname = tern.bench.invalid
spool_dir = $tmp/tern-spool
daemon_directory = $TERN_BUILDDIR
smtp_listen = 127.0.0.1:$PORT_T
local_domains = bench.test
mynetworks = 127.0.0.0/8
mailbox_base = $tmp/tern-mail
alias_maps =
smtpd_max_procs = $TERN_MAX_PROCS
smtpd_min_spare = $TERN_MIN_SPARE
EOF
[ -n "$LDA_CONC" ] && echo "local_delivery_limit = $LDA_CONC" >>"$tmp/tern.conf"

"$TERN_BUILDDIR/ternd" -n -c "$tmp/tern.conf" >"$tmp/tern-check.log" 2>&1 ||
	die "ternd -n rejects the configuration: $(cat "$tmp/tern-check.log")"

# Postfix: virtual mailbox delivery of alice@bench.test into the Maildir
# $tmp/pf-mail/alice/ (trailing slash), as nobody.  Default fsync
# behaviour is kept (the queue file is fsynced before 250, the Maildir
# file before delivery is reported).
pf=$tmp/pf-etc
mkdir -p "$pf" "$tmp/pf-queue" "$tmp/pf-data" \
	"$tmp/pf-mail/alice/new" "$tmp/pf-mail/alice/cur" "$tmp/pf-mail/alice/tmp"
chown -R "$mb_uid:$mb_gid" "$tmp/pf-mail/alice"
chown postfix "$tmp/pf-data"
chmod 755 "$tmp/pf-mail"
pf_maildir=$tmp/pf-mail/alice
cat >"$pf/main.cf" <<EOF
# written by bench/run.sh
compatibility_level = 3.6
queue_directory = $tmp/pf-queue
data_directory = $tmp/pf-data
maillog_file = $tmp/postfix.log
myhostname = postfix.bench.invalid
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relay_domains =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
biff = no
append_dot_mydomain = no
readme_directory = no
default_process_limit = $PF_PROCS
virtual_mailbox_domains = bench.test
virtual_mailbox_base = $tmp/pf-mail
virtual_mailbox_maps = hash:$pf/vmailbox
virtual_uid_maps = static:$mb_uid
virtual_gid_maps = static:$mb_gid
EOF
[ -n "$LDA_CONC" ] &&
	echo "virtual_destination_concurrency_limit = $LDA_CONC" >>"$pf/main.cf"
# Only what this workload uses, nothing chrooted (tern's smtpd chroots, but
# a Postfix chroot needs copies of system files; it costs no throughput).
cat >"$pf/master.cf" <<EOF
# written by bench/run.sh
127.0.0.1:$PORT_P inet n - n - - smtpd
pickup     unix  n - n 60 1 pickup
cleanup    unix  n - n -  0 cleanup
qmgr       unix  n - n 300 1 qmgr
tlsmgr     unix  - - n 1000? 1 tlsmgr
rewrite    unix  - - n -  - trivial-rewrite
bounce     unix  - - n -  0 bounce
defer      unix  - - n -  0 bounce
trace      unix  - - n -  0 bounce
verify     unix  - - n -  1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -  - proxymap
proxywrite unix  - - n -  1 proxymap
smtp       unix  - - n -  - smtp
relay      unix  - - n -  - smtp
showq      unix  n - n -  - showq
error      unix  - - n -  - error
retry      unix  - - n -  - error
discard    unix  - - n -  - discard
virtual    unix  - n n -  - virtual
anvil      unix  - - n -  1 anvil
scache     unix  - - n -  1 scache
postlog    unix-dgram n - n - 1 postlogd
EOF
echo "alice@bench.test alice/" >"$pf/vmailbox"
postmap -c "$pf" "hash:$pf/vmailbox"

say "starting tern (127.0.0.1:$PORT_T) and Postfix (127.0.0.1:$PORT_P) in $tmp"
"$TERN_BUILDDIR/ternd" -d -c "$tmp/tern.conf" </dev/null >"$tmp/tern.log" 2>&1 &
tern_pid=$!
python3 "$bench/bench.py" wait-smtp "$PORT_T" 30 ||
	die "tern did not start; log: $(tail -n 20 "$tmp/tern.log")"

postfix -c "$pf" start >"$tmp/postfix-start.log" 2>&1 ||
	die "postfix start failed: $(cat "$tmp/postfix-start.log")
$(tail -n 20 "$tmp/postfix.log" 2>/dev/null)"
pf_started=1
python3 "$bench/bench.py" wait-smtp "$PORT_P" 30 ||
	die "Postfix did not start; log: $(tail -n 20 "$tmp/postfix.log")"
pf_pid=$(tr -d ' \n' <"$tmp/pf-queue/pid/master.pid")
kill -0 "$pf_pid" || die "no Postfix master pid"

# ---- 3. the runs ----------------------------------------------------------

raw=$tmp/raw.jsonl
: >"$raw"

# bytes SIZE - SIZE with an optional k or m suffix, in bytes
bytes() {
	case $1 in
	*k) echo $((${1%k} * 1024)) ;;
	*m) echo $((${1%m} * 1048576)) ;;
	*) echo "$1" ;;
	esac
}

# one SERVER SIZE CONC MODE REP COUNT [OUT] - one timed load on SERVER
one() {
	server=$1 size=$2 conc=$3 mode=$4 rep=$5 count=$6 out=${7:-$raw}
	if [ "$server" = tern ]; then
		port=$PORT_T root=$tern_pid maildir=$tern_maildir
		queue="--queue $tmp/tern-spool/msg --queue $tmp/tern-spool/incoming"
	else
		port=$PORT_P root=$pf_pid maildir=$pf_maildir
		queue=
		for q in incoming active deferred maildrop hold; do
			queue="$queue --queue $tmp/pf-queue/$q"
		done
	fi
	dflag=
	[ "$mode" = session ] && dflag=-d
	# shellcheck disable=SC2086
	python3 "$bench/bench.py" measure --server "$server" --size "$size" \
		--conc "$conc" --mode "$mode" --rep "$rep" --root "$root" \
		--maildir "$maildir" --count "$count" --timeout "$TIMEOUT" \
		--out "$out" $queue -- \
		smtp-source $dflag -s "$conc" -m "$count" -l "$(bytes "$size")" \
		-M client.bench.invalid -f sender@client.bench.invalid \
		-t alice@bench.test "127.0.0.1:$port" || failures=$((failures + 1))
}

failures=0
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
say "warm-up: $WARMUP messages to each server"
for s in tern postfix; do
	one "$s" 2k "$maxc" conn 0 "$WARMUP" "$tmp/warmup.jsonl"
done
say "measuring: M=$M SIZES='$SIZES' CONCS='$CONCS' MODES='$MODES' R=$R"
for mode in $MODES; do
	for size in $SIZES; do
		for conc in $CONCS; do
			for rep in $(seq 1 "$R"); do
				# Alternate which server goes first.
				if [ $((rep % 2)) = 1 ]; then
					order="tern postfix"
				else
					order="postfix tern"
				fi
				for s in $order; do
					one "$s" "$size" "$conc" "$mode" "$rep" "$M"
				done
			done
		done
	done
done
finished=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- 4. report ------------------------------------------------------------

host=$(hostname -s 2>/dev/null || hostname)
mkdir -p "$RESULTS_DIR"
result=$RESULTS_DIR/$(date -u +%Y%m%d-%H%M%S)-$host.md

tmpdev=$(df -P "$tmp" | awk 'NR == 2 { print $1 }')
tmpfs=$(df -PT "$tmp" | awk 'NR == 2 { print $2 }')
disk="$tmpdev ($tmpfs)"
blk=$(lsblk -ndo PKNAME "$tmpdev" 2>/dev/null || true)
[ -n "$blk" ] || blk=$(basename "$tmpdev")
if [ -r "/sys/block/$blk/queue/rotational" ]; then
	if [ "$(cat "/sys/block/$blk/queue/rotational")" = 1 ]; then
		disk="$disk, reported rotational"
	else
		disk="$disk, reported non-rotational"
	fi
	model=$(xargs 2>/dev/null <"/sys/block/$blk/device/model" || true)
	[ -n "$model" ] && disk="$disk, model $model"
	case $blk in
	vd*) disk="$disk, virtio block device (virtual machine)" ;;
	esac
fi
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(GIT_OPTIONAL_LOCKS=0 git -C "$top" status --porcelain \
    --untracked-files=no 2>/dev/null)" ]; then
	commit="$commit (with uncommitted changes)"
fi
pfver=$(postconf -c "$pf" -h mail_version 2>/dev/null || echo unknown)
ssv=$(dpkg-query -W -f='${Version}' postfix 2>/dev/null || echo unknown)

{
	echo "# tern vs Postfix: $started"
	echo
	[ -n "$NOTE" ] && { echo "$NOTE"; echo; }
	echo "## Machine"
	echo
	echo "- host: $host; $(nproc) CPUs ($cpu); memory $mem"
	echo "- kernel: $(uname -srm)"
	echo "- spool and Maildirs on: $disk"
	echo "- runs from $started to $finished"
	echo "- load average (1/5/15 min) at start: $load_start; at end: $load_end"
	echo
	echo "## Versions"
	echo
	echo "- tern: git $commit, built in $TERN_BUILDDIR"
	echo "- Postfix: $pfver (Debian package $ssv); client: smtp-source from the same package"
	echo
	echo "## Parameters"
	echo
	echo "- messages per run M=$M, body sizes SIZES='$SIZES', sessions CONCS='$CONCS', modes MODES='$MODES', repetitions R=$R (servers alternate, order flipped every repetition), warm-up $WARMUP messages each"
	echo "- one recipient per message, alice@bench.test, delivered to a Maildir owned by nobody (uid $mb_uid)"
	echo "- mode conn: \`smtp-source -s C -m M -l SIZE\` (a new connection per message); mode session: the same with \`-d\` (each session sends messages until M are sent)"
	echo "- tern: smtpd_max_procs=$TERN_MAX_PROCS smtpd_min_spare=$TERN_MIN_SPARE local_delivery_limit=${LDA_CONC:-default}"
	echo "- Postfix: compatibility_level=3.6, default_process_limit=$PF_PROCS, virtual_destination_concurrency_limit=${LDA_CONC:-default}, default fsync behaviour, no chroot, logging to a file (maillog_file)"
	echo "- accepted msg/s = M / time until smtp-source exits (every message got 250); delivered msg/s = M / time until M files are in the Maildir's new/; server CPU = utime+stime of the server's process tree, reaped children included, from start until the last delivery"
	echo
	echo "## Results"
	echo
	echo "Median (min-max) over the repetitions."
	echo
	python3 "$bench/bench.py" report "$raw"
	echo
	echo "## Raw runs"
	echo
	echo '```'
	cat "$raw"
	echo '```'
} >"$result"

echo
python3 "$bench/bench.py" report "$raw"
echo
say "results written to $result"
[ "$failures" = 0 ] || { say "$failures run(s) failed"; exit 1; }
exit 0
