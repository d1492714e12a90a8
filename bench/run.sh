#!/bin/bash
# run.sh - benchmark tern against Postfix on this machine, in one run.
#
#   bench/run.sh [TERN_BUILDDIR]        (as root; see bench/README.md)
#
# Starts a private tern and a private Postfix, each entirely under one
# temporary directory and listening only on 127.0.0.1, and drives both
# with the same workloads, alternating servers, R repetitions:
#   local  smtp-source to a local Maildir (acceptance, delivery, CPU)
#   relay  smtp-source to a domain that each server relays through its
#          relayhost to its own smtp-sink (acceptance, end to end, CPU,
#          PSS peak)
#   probes one message at a time through the relay to a timestamping
#          sink (setup, end of data -> 250, session, 250 -> sink)
#   memory idle PSS of every process of each server, before and after
#   scale  (SCALE=1, bench/scale.sh) 100,000 deferred messages: idle CPU,
#          a new message to a healthy destination, restart time
# then prints a table and writes bench/results/DATE-HOST.md (report.py).
# Settings are environment variables (listed in usage() and README.md).
#
# It must never start, stop or reconfigure the system's own Postfix or
# anything else on port 25: the package is installed with services
# blocked, and the only processes it stops are the ones it started (or a
# Postfix master that its own package install started).
set -eu

usage() {
	cat <<'USAGE'
usage: bench/run.sh [-h] [TERN_BUILDDIR]

Environment (defaults in brackets):
  TERN_BUILDDIR  tern build directory with ternd, tern-* [$top/build]
  SMOKE=1        a quick run for development: small counts, one
                 repetition (any setting given explicitly still wins)
  WORKLOADS      which of local, relay to run [local relay]
  R              repetitions of each measurement [3]
  WARMUP         messages sent to each server before measuring [200]
 local workload (delivery into a Maildir):
  M              messages per run [2000]
  SIZES          message body sizes, k = 1024 [2k 20k]
  CONCS          concurrent SMTP sessions [10 50]
  MODES          conn = one message per connection, session = many
                 messages per connection (smtp-source -d) [conn session]
 relay workload (relayhost to smtp-sink):
  RELAY_RUNS     scenarios SIZE:SESSIONS:MODE[:COUNT]
                 [1k:10:conn 1k:20:conn 1k:50:conn 1k:50:session
                  100k:10:conn:2000]
  M_RELAY        messages per relay run when COUNT is not given [5000]
  PSS_RUNS       extra relay runs (one per server, not in the throughput
                 table) sampling PSS every PSS_INTERVAL s [1k:50:conn]
  PSS_INTERVAL   seconds between PSS samples [0.1]
  SINK_PORT_T SINK_PORT_P  ports of tern's / Postfix's sink on
                 127.0.0.1 (their relayhost) [2725 2726]
 probes (one message at a time, relayed to a timestamping sink):
  PROBES=0       skip them [1]
  PROBE_N        measured messages per server and repetition [100]
  PROBE_SIZE     message body size in octets [1024]
 memory:
  IDLE_SETTLE    seconds of quiet before each idle PSS reading [5]
 scale scenario (bench/scale.sh):
  SCALE=1        run it (takes a while) [0]
  SCALE_N        deferred messages [100000]
  SCALE_SERVERS  servers to run it on [tern postfix]
  SCALE_IDLE     seconds of idle CPU measurement [30]
  SCALE_PROBE_N  probe messages to the healthy domain, each queue [50]
  SCALE_FILL_CONC  sessions filling the queue (smtp-source -d) [20]
  SCALE_BACKOFF  minimal_backoff_time of both (keeps the deferred mail
                 deferred during the measurement) [1h]
  PORT_TS PORT_PS DNS_PORT SCALE_SINK_PORT
                 scale instances' ports on 127.0.0.1 [2712 2711 2753 2727]
 servers:
  PORT_T PORT_P  tern / Postfix SMTP ports on 127.0.0.1 [2702 2701]
  LDA_CONC       if set, both servers deliver at most this many messages
                 locally at once (tern local_delivery_limit, Postfix
                 virtual_destination_concurrency_limit); empty keeps each
                 server's own default (tern 10, Postfix 20) []
  TERN_MAX_PROCS tern smtpd_max_procs [max(100, 2 * largest sessions)]
  TERN_MIN_SPARE tern smtpd_min_spare [5, tern's default]
  TERN_OWNER_CONC  tern local_owner_concurrency_limit (delivery
                 processes of one mailbox owner); empty keeps tern's
                 default []
  PF_PROCS       Postfix default_process_limit [max(100, 2 * largest)]
  BENCH_TMPDIR   where the temporary directory goes (keep it on the disk
                 you want to measure, not tmpfs) [/var/tmp]
  TIMEOUT        seconds to wait for one run's deliveries [600]
  NOTE           free text copied into the results file []
  RESULTS_DIR    [$top/bench/results]
  KEEP=1         keep the temporary directory (logs, Maildirs, configs)
  NO_INSTALL=1   never run apt-get (postfix must be installed)
  PERF=1         record perf -g of each server's process tree during its
                 first relay run at the largest session count (mode conn);
                 a text report goes next to the results file
USAGE
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
SMOKE=${SMOKE:-0}
if [ "$SMOKE" = 1 ]; then
	: "${M:=200}" "${R:=1}" "${WARMUP:=20}" "${SIZES:=2k}" "${CONCS:=10}"
	: "${MODES:=session}" "${M_RELAY:=300}" "${PROBE_N:=20}"
	: "${RELAY_RUNS:=1k:10:conn 1k:50:session 100k:10:conn:100}"
	: "${PSS_RUNS:=1k:50:conn}" "${IDLE_SETTLE:=2}"
	: "${SCALE_N:=2000}" "${SCALE_IDLE:=5}" "${SCALE_PROBE_N:=10}"
fi
WORKLOADS=${WORKLOADS:-local relay}
M=${M:-2000}
SIZES=${SIZES:-2k 20k}
CONCS=${CONCS:-10 50}
MODES=${MODES:-conn session}
R=${R:-3}
WARMUP=${WARMUP:-200}
RELAY_RUNS=${RELAY_RUNS:-1k:10:conn 1k:20:conn 1k:50:conn 1k:50:session 100k:10:conn:2000}
M_RELAY=${M_RELAY:-5000}
PSS_RUNS=${PSS_RUNS-1k:50:conn}
PSS_INTERVAL=${PSS_INTERVAL:-0.1}
SINK_PORT_T=${SINK_PORT_T:-2725}
SINK_PORT_P=${SINK_PORT_P:-2726}
PROBES=${PROBES:-1}
PROBE_N=${PROBE_N:-100}
PROBE_SIZE=${PROBE_SIZE:-1024}
IDLE_SETTLE=${IDLE_SETTLE:-5}
SCALE=${SCALE:-0}
SCALE_N=${SCALE_N:-100000}
SCALE_SERVERS=${SCALE_SERVERS:-tern postfix}
SCALE_IDLE=${SCALE_IDLE:-30}
SCALE_PROBE_N=${SCALE_PROBE_N:-50}
SCALE_FILL_CONC=${SCALE_FILL_CONC:-20}
SCALE_BACKOFF=${SCALE_BACKOFF:-1h}
PORT_TS=${PORT_TS:-2712}
PORT_PS=${PORT_PS:-2711}
DNS_PORT=${DNS_PORT:-2753}
SCALE_SINK_PORT=${SCALE_SINK_PORT:-2727}
PORT_T=${PORT_T:-2702}
PORT_P=${PORT_P:-2701}
LDA_CONC=${LDA_CONC:-}
TERN_OWNER_CONC=${TERN_OWNER_CONC:-}
BENCH_TMPDIR=${BENCH_TMPDIR:-/var/tmp}
TIMEOUT=${TIMEOUT:-600}
NOTE=${NOTE:-}
RESULTS_DIR=${RESULTS_DIR:-$bench/results}
KEEP=${KEEP:-0}
NO_INSTALL=${NO_INSTALL:-0}
PERF=${PERF:-0}

has_workload() { case " $WORKLOADS " in *" $1 "*) return 0 ;; esac; return 1; }

# The largest session count decides the process limits of both servers.
maxc=0
for c in $CONCS; do
	[ "$c" -gt "$maxc" ] && maxc=$c
done
for spec in $RELAY_RUNS $PSS_RUNS; do
	c=$(echo "$spec" | cut -d: -f2)
	[ "$c" -gt "$maxc" ] && maxc=$c
done
[ "$maxc" -lt "$SCALE_FILL_CONC" ] && maxc=$SCALE_FILL_CONC
dflt_procs=$((2 * maxc > 100 ? 2 * maxc : 100))
TERN_MAX_PROCS=${TERN_MAX_PROCS:-$dflt_procs}
TERN_MIN_SPARE=${TERN_MIN_SPARE:-5}
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
		    (a[1] ~ /^127\./ || a[1] == "0.0.0.0" || a[1] == "*" ||
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
command -v smtp-sink >/dev/null 2>&1 || die "smtp-sink not found"
TERN_BUILDDIR=$(cd "$TERN_BUILDDIR" 2>/dev/null && pwd) ||
	die "tern build directory not found"
for p in ternd tern-smtpd tern-queued tern-deliverd tern-lookupd; do
	[ -x "$TERN_BUILDDIR/$p" ] ||
		die "$TERN_BUILDDIR/$p missing: build tern first (TERN_BUILDDIR)"
done
for p in "$PORT_T" "$PORT_P" "$SINK_PORT_T" "$SINK_PORT_P" "$PORT_TS" \
    "$PORT_PS" "$SCALE_SINK_PORT" "$DNS_PORT"; do
	listening "$p" && die "port $p is in use: see bench/run.sh -h"
done
if [ "$SCALE" = 1 ]; then
	[ -x /usr/sbin/dnsmasq ] ||
		die "SCALE=1 needs dnsmasq (apt-get install dnsmasq-base)"
fi
if [ "$PERF" = 1 ]; then
	command -v perf >/dev/null 2>&1 || die "PERF=1 needs perf (linux-perf)"
fi
for u in _tern _ternq; do
	if ! id "$u" >/dev/null 2>&1; then
		say "creating system user $u"
		useradd --system --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin "$u"
	fi
done

# ---- 2. the private servers -----------------------------------------------

mkdir -p "$BENCH_TMPDIR"
tmp=$(mktemp -d "$BENCH_TMPDIR/tern-bench.XXXXXX")
chmod 755 "$tmp"
raw=$tmp/raw.jsonl
: >"$raw"
started_terns=   # ternd pids this script started
started_pf=      # Postfix instances (names) this script started
started_pids=    # sinks, dnsmasq, perf

# stop_pid PID - SIGTERM, then SIGKILL after 15 s; only pids we started
stop_pid() {
	kill -0 "$1" 2>/dev/null || return 0
	kill -TERM "$1" 2>/dev/null || true
	for _ in $(seq 1 150); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null || true
}

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
	set +e
	for pid in $started_pids $started_terns; do
		stop_pid "$pid"
	done
	for name in $started_pf; do
		postfix -c "$tmp/$name-etc" stop >/dev/null 2>&1
	done
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

# tern_config NAME PORT [LINE...] - $tmp/NAME.conf: SMTP on 127.0.0.1:PORT,
# mail for alice@bench.test into $tmp/NAME-mail/alice/Maildir (written as
# its owner), the extra setting lines appended
tern_config() {
	local name=$1 port=$2 mail=$tmp/$1-mail
	shift 2
	mkdir -p "$mail/alice/Maildir/new" "$mail/alice/Maildir/cur" \
		"$mail/alice/Maildir/tmp"
	chown -R "$mb_uid:$mb_gid" "$mail/alice"
	chmod 755 "$mail"
	{
		echo "# written by bench/run.sh"
		echo "myhostname = $name.bench.invalid"
		echo "spool_dir = $tmp/$name-spool"
		echo "daemon_directory = $TERN_BUILDDIR"
		echo "smtp_listen = 127.0.0.1:$port"
		echo "local_domains = bench.test"
		echo "mynetworks = 127.0.0.0/8"
		echo "mailbox_base = $mail"
		echo "alias_maps ="
		[ $# -gt 0 ] && printf '%s\n' "$@"
	} >"$tmp/$name.conf"
	"$TERN_BUILDDIR/ternd" -n -c "$tmp/$name.conf" >"$tmp/$name-check.log" 2>&1 ||
		die "ternd -n rejects $tmp/$name.conf: $(cat "$tmp/$name-check.log")"
}

# tern_start NAME PORT - start ternd -d on $tmp/NAME.conf (log appended to
# $tmp/NAME.log), wait for its greeting; the pid goes to $last_pid
tern_start() {
	"$TERN_BUILDDIR/ternd" -d -c "$tmp/$1.conf" </dev/null >>"$tmp/$1.log" 2>&1 &
	last_pid=$!
	started_terns="$started_terns $last_pid"
	python3 "$bench/bench.py" wait-smtp "$2" 60 ||
		die "tern ($1) did not start; log: $(tail -n 20 "$tmp/$1.log")"
}

# pf_config NAME PORT [LINE...] - a Postfix instance in $tmp/NAME-etc:
# smtpd on 127.0.0.1:PORT only, virtual mailbox delivery of
# alice@bench.test into the Maildir $tmp/NAME-mail/alice/ (trailing slash)
# as nobody, logging to $tmp/NAME.log, the extra main.cf lines appended.
# Default fsync behaviour is kept (the queue file is fsynced before 250,
# the Maildir file before delivery is reported).
pf_config() {
	local name=$1 port=$2 etc=$tmp/$1-etc mail=$tmp/$1-mail
	shift 2
	mkdir -p "$etc" "$tmp/$name-queue" "$tmp/$name-data" \
		"$mail/alice/new" "$mail/alice/cur" "$mail/alice/tmp"
	chown -R "$mb_uid:$mb_gid" "$mail/alice"
	chown postfix "$tmp/$name-data"
	chmod 755 "$mail"
	{
		cat <<MAINCF
# written by bench/run.sh
compatibility_level = 3.6
queue_directory = $tmp/$name-queue
data_directory = $tmp/$name-data
maillog_file = $tmp/$name.log
myhostname = $name.bench.invalid
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
virtual_mailbox_domains = bench.test
virtual_mailbox_base = $mail
virtual_mailbox_maps = hash:$etc/vmailbox
virtual_uid_maps = static:$mb_uid
virtual_gid_maps = static:$mb_gid
MAINCF
		[ $# -gt 0 ] && printf '%s\n' "$@"
	} >"$etc/main.cf"
	# Only what these workloads use, nothing chrooted (tern's smtpd
	# chroots, but a Postfix chroot needs copies of system files; it
	# costs no throughput).
	cat >"$etc/master.cf" <<MASTERCF
# written by bench/run.sh
127.0.0.1:$port inet n - n - - smtpd
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
MASTERCF
	echo "alice@bench.test alice/" >"$etc/vmailbox"
	postmap -c "$etc" "hash:$etc/vmailbox"
}

# pf_start NAME PORT - postfix -c $tmp/NAME-etc start, wait for the
# greeting; the master's pid goes to $last_pid
pf_start() {
	postfix -c "$tmp/$1-etc" start >"$tmp/$1-start.log" 2>&1 ||
		die "postfix ($1) start failed: $(cat "$tmp/$1-start.log")
$(tail -n 20 "$tmp/$1.log" 2>/dev/null)"
	case " $started_pf " in *" $1 "*) ;; *) started_pf="$started_pf $1" ;; esac
	python3 "$bench/bench.py" wait-smtp "$2" 60 ||
		die "Postfix ($1) did not start; log: $(tail -n 20 "$tmp/$1.log")"
	last_pid=$(tr -d ' \n' <"$tmp/$1-queue/pid/master.pid")
	kill -0 "$last_pid" || die "no Postfix master pid ($1)"
}

# pf_stop NAME - postfix -c $tmp/NAME-etc stop, and wait until it is gone
pf_stop() {
	local pid
	pid=$(tr -d ' \n' <"$tmp/$1-queue/pid/master.pid" 2>/dev/null || true)
	postfix -c "$tmp/$1-etc" stop >/dev/null 2>&1 || true
	for _ in $(seq 1 150); do
		if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
}

# sink_start NAME PORT - smtp-sink on 127.0.0.1:PORT counting messages
# into $tmp/NAME.out (smtp-sink -c); the pid goes to $last_pid
sink_start() {
	smtp-sink -c -u nobody "127.0.0.1:$2" 1024 >"$tmp/$1.out" \
		2>"$tmp/$1.err" </dev/null &
	last_pid=$!
	started_pids="$started_pids $last_pid"
	for _ in $(seq 1 100); do
		listening "$2" && return 0
		sleep 0.05
	done
	die "smtp-sink did not start on port $2: $(cat "$tmp/$1.err")"
}

# The main instances: both relay everything that is not local through
# their relayhost to their own sink on 127.0.0.1.
pool_t=("smtpd_max_procs = $TERN_MAX_PROCS" "smtpd_min_spare = $TERN_MIN_SPARE")
[ -n "$LDA_CONC" ] && pool_t+=("local_delivery_limit = $LDA_CONC")
[ -n "$TERN_OWNER_CONC" ] &&
	pool_t+=("local_owner_concurrency_limit = $TERN_OWNER_CONC")
pool_p=("default_process_limit = $PF_PROCS")
[ -n "$LDA_CONC" ] && pool_p+=("virtual_destination_concurrency_limit = $LDA_CONC")
tern_config tern "$PORT_T" "${pool_t[@]}" \
	"relayhost = [127.0.0.1]:$SINK_PORT_T"
pf_config pf "$PORT_P" "${pool_p[@]}" \
	"relayhost = [127.0.0.1]:$SINK_PORT_P"

# The scale instances (default process pools; also used for the idle
# memory at default settings): no relayhost; dead.test has no server
# listening, live.test is healthy.  tern routes by MX records from a
# private dnsmasq (tern has no transport map: relayhost is global),
# Postfix by its transport map; both use port SCALE_SINK_PORT.
tern_config terns "$PORT_TS" "dns_servers = 127.0.0.1:$DNS_PORT" \
	"smtp_port = $SCALE_SINK_PORT" \
	"minimal_backoff_time = $SCALE_BACKOFF" \
	"maximal_backoff_time = $SCALE_BACKOFF"
pf_config pfs "$PORT_PS" "transport_maps = hash:$tmp/pfs-etc/transport" \
	"minimal_backoff_time = $SCALE_BACKOFF" \
	"maximal_backoff_time = $SCALE_BACKOFF"
printf 'dead.test smtp:[127.0.0.5]:%s\nlive.test smtp:[127.0.0.7]:%s\n' \
	"$SCALE_SINK_PORT" "$SCALE_SINK_PORT" >"$tmp/pfs-etc/transport"
postmap -c "$tmp/pfs-etc" "hash:$tmp/pfs-etc/transport"

failures=0
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u '+%Y-%m-%d %H:%M:%S UTC')

# ---- 3. idle memory at default settings -------------------------------------

say "idle memory at default process pools (scale instances, empty queues)"
tern_start terns "$PORT_TS"
terns_pid=$last_pid
pf_start pfs "$PORT_PS"
pfs_pid=$last_pid
sleep "$IDLE_SETTLE"
python3 "$bench/bench.py" mem "$terns_pid" --server tern --label idle-default --out "$raw"
python3 "$bench/bench.py" mem "$pfs_pid" --server postfix --label idle-default --out "$raw"
stop_pid "$terns_pid"
pf_stop pfs

# ---- 4. the main instances --------------------------------------------------

say "starting tern (127.0.0.1:$PORT_T) and Postfix (127.0.0.1:$PORT_P) in $tmp"
tern_start tern "$PORT_T"
tern_pid=$last_pid
pf_start pf "$PORT_P"
pf_pid=$last_pid
sleep "$IDLE_SETTLE"
python3 "$bench/bench.py" mem "$tern_pid" --server tern --label idle-start --out "$raw"
python3 "$bench/bench.py" mem "$pf_pid" --server postfix --label idle-start --out "$raw"
if has_workload relay || [ "$PROBES" = 1 ]; then
	sink_start sink-tern "$SINK_PORT_T"
	sink_tern_pid=$last_pid
	sink_start sink-pf "$SINK_PORT_P"
	sink_pf_pid=$last_pid
fi

# bytes SIZE - SIZE with an optional k or m suffix, in bytes
bytes() {
	case $1 in
	*k) echo $((${1%k} * 1024)) ;;
	*m) echo $((${1%m} * 1048576)) ;;
	*) echo "$1" ;;
	esac
}

# one WORKLOAD SERVER SIZE CONC MODE REP COUNT [OUT [ARG...]] - one timed
# load on SERVER: local = to alice@bench.test (Maildir), relay = to
# sink.test (through the relayhost to the server's smtp-sink)
one() {
	local workload=$1 server=$2 size=$3 conc=$4 mode=$5 rep=$6 count=$7
	local out=${8:-$raw} port root rcpt dflag="" q
	shift 8 2>/dev/null || shift $#
	local queue=()
	if [ "$server" = tern ]; then
		port=$PORT_T root=$tern_pid
		queue=(--queue "$tmp/tern-spool/msg" --queue "$tmp/tern-spool/incoming")
		if [ "$workload" = local ]; then
			fin=(--maildir "$tmp/tern-mail/alice/Maildir")
		else
			fin=(--sink-file "$tmp/sink-tern.out")
		fi
	else
		port=$PORT_P root=$pf_pid
		for q in incoming active deferred maildrop hold; do
			queue+=(--queue "$tmp/pf-queue/$q")
		done
		if [ "$workload" = local ]; then
			fin=(--maildir "$tmp/pf-mail/alice")
		else
			fin=(--sink-file "$tmp/sink-pf.out")
		fi
	fi
	rcpt=alice@bench.test
	[ "$workload" = relay ] && rcpt=user@sink.test
	[ "$mode" = session ] && dflag=-d
	python3 "$bench/bench.py" measure --workload "$workload" \
		--server "$server" --size "$size" --conc "$conc" --mode "$mode" \
		--rep "$rep" --root "$root" --count "$count" --timeout "$TIMEOUT" \
		--out "$out" "${fin[@]}" "${queue[@]}" "$@" -- \
		smtp-source $dflag -s "$conc" -m "$count" -l "$(bytes "$size")" \
		-M client.bench.invalid -f sender@client.bench.invalid \
		-t "$rcpt" "127.0.0.1:$port" || failures=$((failures + 1))
}

# order REP - the two servers, first one flipped every repetition
order() {
	if [ $(($1 % 2)) = 1 ]; then echo "tern postfix"; else echo "postfix tern"; fi
}

# perf_start SERVER ROOT / perf_stop - perf record -g of ROOT's process
# tree (the processes alive now, and the children they fork meanwhile)
# around one run
perf_pid=
perf_start() {
	perf record -g -p "$(python3 "$bench/bench.py" tree-pids "$2")" \
		-o "$tmp/perf-$1.data" -q >/dev/null 2>"$tmp/perf-$1.err" &
	perf_pid=$!
	started_pids="$started_pids $perf_pid"
	sleep 1
}
perf_stop() {
	kill -INT "$perf_pid" 2>/dev/null || true
	wait "$perf_pid" 2>/dev/null || true
	perf_pid=
}

say "warm-up: $WARMUP messages to each server and workload"
for s in tern postfix; do
	has_workload local && one local "$s" 2k "$maxc" conn 0 "$WARMUP" "$tmp/warmup.jsonl"
	if has_workload relay || [ "$PROBES" = 1 ]; then
		one relay "$s" 1k "$maxc" conn 0 "$WARMUP" "$tmp/warmup.jsonl"
	fi
done

if has_workload local; then
	say "local: M=$M SIZES='$SIZES' CONCS='$CONCS' MODES='$MODES' R=$R"
	for mode in $MODES; do
		for size in $SIZES; do
			for conc in $CONCS; do
				for rep in $(seq 1 "$R"); do
					for s in $(order "$rep"); do
						one local "$s" "$size" "$conc" "$mode" "$rep" "$M"
					done
				done
			done
		done
	done
fi

if has_workload relay; then
	say "relay: RELAY_RUNS='$RELAY_RUNS' M_RELAY=$M_RELAY R=$R"
	perf_done=
	for spec in $RELAY_RUNS; do
		IFS=: read -r size conc mode count <<<"$spec"
		count=${count:-$M_RELAY}
		for rep in $(seq 1 "$R"); do
			for s in $(order "$rep"); do
				if [ "$PERF" = 1 ] && [ "$conc" = "$maxc" ] &&
				    [ "$mode" = conn ] &&
				    ! echo "$perf_done" | grep -qw "$s"; then
					if [ "$s" = tern ]; then
						perf_start "$s" "$tern_pid"
					else
						perf_start "$s" "$pf_pid"
					fi
					one relay "$s" "$size" "$conc" "$mode" "$rep" "$count"
					perf_stop
					perf_done="$perf_done $s"
				else
					one relay "$s" "$size" "$conc" "$mode" "$rep" "$count"
				fi
			done
		done
	done
	for spec in $PSS_RUNS; do
		IFS=: read -r size conc mode count <<<"$spec"
		count=${count:-$M_RELAY}
		for s in $(order 1); do
			one relay "$s" "$size" "$conc" "$mode" pss "$count" "$raw" \
				--pss-interval "$PSS_INTERVAL" --label pss
		done
	done
fi

if [ "$PROBES" = 1 ]; then
	# The timestamping sink takes the smtp-sinks' places: same address,
	# so neither server is reconfigured.
	stop_pid "$sink_tern_pid"
	stop_pid "$sink_pf_pid"
	say "probes: $PROBE_N messages one at a time, R=$R"
	for rep in $(seq 1 "$R"); do
		for s in $(order "$rep"); do
			if [ "$s" = tern ]; then
				port=$PORT_T sink=$SINK_PORT_T log=$tmp/tern.log
			else
				port=$PORT_P sink=$SINK_PORT_P log=$tmp/pf.log
			fi
			python3 "$bench/probe.py" run --server "$s" --port "$port" \
				--rcpt probe@sink.test --sink "127.0.0.1:$sink" \
				--count "$PROBE_N" --size "$PROBE_SIZE" --rep "$rep" \
				--label relay --log "$log" --out "$raw" ||
				failures=$((failures + 1))
		done
	done
fi

sleep "$IDLE_SETTLE"
python3 "$bench/bench.py" mem "$tern_pid" --server tern --label idle-end --out "$raw"
python3 "$bench/bench.py" mem "$pf_pid" --server postfix --label idle-end --out "$raw"
for pid in $started_pids; do
	stop_pid "$pid"
done
stop_pid "$tern_pid"
pf_stop pf

if [ "$SCALE" = 1 ]; then
	# shellcheck source=bench/scale.sh
	. "$bench/scale.sh"
fi

finished=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- 5. report ------------------------------------------------------------

host=$(hostname -s 2>/dev/null || hostname)
mkdir -p "$RESULTS_DIR"
stamp=$(date -u +%Y%m%d-%H%M%S)
result=$RESULTS_DIR/$stamp-$host.md

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
# ext4 without a journal changes both sides: fsync is cheap (no journal
# commit), but creating a file soon after many deletions scans the
# recently deleted inodes (ext4's recently_deleted(), journal-less only).
if [ "$tmpfs" = ext4 ] && [ -r "/sys/fs/ext4/$(basename "$tmpdev")/journal_task" ]; then
	if [ "$(cat "/sys/fs/ext4/$(basename "$tmpdev")/journal_task")" = "<none>" ]; then
		disk="$disk, no journal"
	else
		disk="$disk, journaled"
	fi
fi
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(GIT_OPTIONAL_LOCKS=0 git -C "$top" status --porcelain \
    --untracked-files=no 2>/dev/null)" ]; then
	commit="$commit (with uncommitted changes)"
fi
pfver=$(postconf -c "$tmp/pf-etc" -h mail_version 2>/dev/null || echo unknown)
ssv=$(dpkg-query -W -f='${Version}' postfix 2>/dev/null || echo unknown)
cflags=$(sed -n 's/^CFLAGS = //p' "$TERN_BUILDDIR/Makefile" 2>/dev/null || true)

perf_files=
if [ "$PERF" = 1 ]; then
	for s in tern postfix; do
		[ -s "$tmp/perf-$s.data" ] || continue
		f=$RESULTS_DIR/$stamp-$host-perf-$s.txt
		{
			echo "# perf record -g of $s's process tree during its first relay run at $maxc sessions"
			echo "# share of samples by program:"
			perf report -i "$tmp/perf-$s.data" --stdio --no-children \
				--sort comm -g none 2>/dev/null | grep '%'
			echo
			echo "# by program and shared object:"
			perf report -i "$tmp/perf-$s.data" --stdio --no-children \
				--sort comm,dso -g none --percent-limit 0.2 2>/dev/null |
				grep '%'
			echo
			echo "# by program and symbol (self), >= 0.3%:"
			perf report -i "$tmp/perf-$s.data" --stdio --no-children \
				--sort comm,dso,sym -g none --percent-limit 0.3 2>/dev/null |
				grep '%' | sed 's/  *$//'
			echo
			echo "# system calls and other kernel entries, by program (with children), >= 0.3%:"
			perf report -i "$tmp/perf-$s.data" --stdio --children \
				--sort comm,sym -g none --percent-limit 0.3 2>/dev/null |
				grep -E '\[k\] (__x64_sys_|__do_sys_|ret_from_fork|asm_exc_page_fault|do_exit|schedule$)' |
				sed 's/  *$//'
		} >"$f"
		perf_files="$perf_files $(basename "$f")"
	done
fi

{
	echo "# tern vs Postfix: $started"
	echo
	[ -n "$NOTE" ] && { echo "$NOTE"; echo; }
	echo "## Machine"
	echo
	echo "- host: $host; $(nproc) CPUs ($cpu); memory $mem"
	echo "- kernel: $(uname -srm)"
	echo "- spool, Maildirs and queues on: $disk"
	echo "- runs from $started to $finished"
	echo "- load average (1/5/15 min) at start: $load_start; at end: $load_end"
	echo
	echo "## Versions"
	echo
	echo "- tern: git $commit, built in $TERN_BUILDDIR (CFLAGS ${cflags:-unknown})"
	echo "- Postfix: $pfver (Debian package $ssv); client smtp-source and sink smtp-sink from the same package"
	echo
	echo "## Parameters"
	echo
	echo "- workloads: $WORKLOADS; repetitions R=$R (servers alternate, the order flips every repetition); warm-up $WARMUP messages each"
	echo "- local: M=$M, SIZES='$SIZES', CONCS='$CONCS', MODES='$MODES'; one recipient, alice@bench.test, delivered into a Maildir owned by nobody (uid $mb_uid)"
	echo "- relay: RELAY_RUNS='$RELAY_RUNS' (size:sessions:mode[:count]), M_RELAY=$M_RELAY; one recipient, user@sink.test, relayed through relayhost = [127.0.0.1]:$SINK_PORT_T (tern) / [127.0.0.1]:$SINK_PORT_P (Postfix), each an \`smtp-sink -c\`; PSS sampled every ${PSS_INTERVAL}s in the separate runs PSS_RUNS='$PSS_RUNS'"
	echo "- mode conn: \`smtp-source -s C -m M -l SIZE\` (a new connection per message); mode session: the same with \`-d\` (each session sends M/C messages over one connection)"
	echo "- probes: PROBES=$PROBES, PROBE_N=$PROBE_N per server and repetition (after 5 unmeasured), body $PROBE_SIZE octets, to probe@sink.test through the same relayhost, where bench/probe.py's timestamping sink replaces smtp-sink"
	echo "- tern: smtpd_max_procs=$TERN_MAX_PROCS smtpd_min_spare=$TERN_MIN_SPARE local_delivery_limit=${LDA_CONC:-default} local_owner_concurrency_limit=${TERN_OWNER_CONC:-default}, other settings default"
	echo "- Postfix: compatibility_level=3.6, default_process_limit=$PF_PROCS, virtual_destination_concurrency_limit=${LDA_CONC:-default}, default fsync behaviour, no chroot, logging to a file (maillog_file), other settings default"
	echo "- idle memory: after ${IDLE_SETTLE}s of quiet; idle-default = instances with default process pools (tern smtpd_min_spare 5, Postfix default_process_limit 100), idle-start / idle-end = the benchmark instances before and after the load"
	if [ "$SCALE" = 1 ]; then
		echo "- scale: SCALE_N=$SCALE_N messages to dead.test (nothing listens) filled by \`smtp-source -d -s $SCALE_FILL_CONC\`, minimal/maximal_backoff_time=$SCALE_BACKOFF on both, idle CPU over SCALE_IDLE=${SCALE_IDLE}s, SCALE_PROBE_N=$SCALE_PROBE_N probes to live.test; tern routes by MX (private dnsmasq, dns_servers), Postfix by transport_maps"
	fi
	[ -n "$perf_files" ] && echo "- perf reports:$perf_files"
	echo
	python3 "$bench/report.py" "$raw"
	echo
	echo "## Raw data"
	echo
	echo "One JSON record per run, probe, memory or CPU reading (probe times in ms)."
	echo
	echo '```'
	cat "$raw"
	echo '```'
} >"$result"

echo
python3 "$bench/report.py" "$raw"
echo
say "results written to $result"
[ "$failures" = 0 ] || { say "$failures run(s) failed"; exit 1; }
exit 0
