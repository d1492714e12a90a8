# shellcheck shell=bash disable=SC2154  # sourced by run.sh, which sets tmp, raw...
# scale.sh - the scale scenario of bench/run.sh (SCALE=1); sourced by
# run.sh after the other phases, with its functions and variables.
#
# For each server of SCALE_SERVERS, on its scale instance (default process
# pools, no relayhost; see run.sh):
#   1. SCALE_PROBE_N probe messages to live.test with an empty queue
#   2. SCALE_N messages to dead.test (nothing listens there), timed until
#      every one is deferred, then until the server is quiet
#   3. its CPU over SCALE_IDLE seconds of idleness (the whole process tree
#      and each program in it: queued, qmgr...), its memory
#   4. the same probe to live.test with the full queue
#   5. a restart: tern's ternd gets SIGTERM and starts again, timed until
#      queued logs "queue recovered" (its schedule is rebuilt) and until
#      the greeting; Postfix is stopped and started, timed until the
#      greeting (it has no schedule to rebuild: qmgr scans its deferred
#      queue directory every queue_run_delay); then SCALE_IDLE seconds of
#      CPU again
# SCALE_BACKOFF keeps the deferred mail deferred throughout.
#
# live.test is the probe's timestamping sink: 127.0.0.6 for tern (its MX
# record), 127.0.0.7 for Postfix (its transport map), port
# SCALE_SINK_PORT; dead.test is 127.0.0.5, where nothing listens.

say "scale: $SCALE_N deferred messages, on: $SCALE_SERVERS"
/usr/sbin/dnsmasq --keep-in-foreground --no-resolv --no-hosts --no-poll \
	--conf-file=/dev/null --port="$DNS_PORT" --listen-address=127.0.0.1 \
	--bind-interfaces --pid-file= --user=root \
	--log-facility="$tmp/dnsmasq.log" \
	--local=/dead.test/ --local=/live.test/ \
	--mx-host=dead.test,mx.dead.test,10 --host-record=mx.dead.test,127.0.0.5 \
	--mx-host=live.test,mx.live.test,10 --host-record=mx.live.test,127.0.0.6 \
	</dev/null >/dev/null 2>"$tmp/dnsmasq.err" &
started_pids="$started_pids $!"
for _ in $(seq 1 100); do
	ss -Hlun 2>/dev/null | awk -v p=":$DNS_PORT" '$4 ~ p"$" { f = 1 } END { exit !f }' &&
		break
	sleep 0.05
done

# scale_probe SERVER PORT SINK LOG LABEL - the probe to live.test
scale_probe() {
	python3 "$bench/probe.py" run --server "$1" --port "$2" \
		--rcpt probe@live.test --sink "$3" --count "$SCALE_PROBE_N" \
		--size "$PROBE_SIZE" --label "$5" --log "$4" --out "$raw" ||
		failures=$((failures + 1))
}

# scale_one SERVER - the whole scenario on one server
scale_one() {
	local s=$1 port sink log root off t0 t1 fill wait quiet
	local stop_s greet_s rec_s=null since
	if [ "$s" = tern ]; then
		port=$PORT_TS sink=127.0.0.6:$SCALE_SINK_PORT log=$tmp/terns.log
		tern_start terns "$port"
	else
		port=$PORT_PS sink=127.0.0.7:$SCALE_SINK_PORT log=$tmp/pfs.log
		pf_start pfs "$port"
	fi
	root=$last_pid
	scale_probe "$s" "$port" "$sink" "$log" scale-empty

	say "$s: filling the queue with $SCALE_N messages to dead.test"
	off=$(stat -c %s "$log")
	t0=$(date +%s.%N)
	smtp-source -d -s "$SCALE_FILL_CONC" -m "$SCALE_N" -l "$PROBE_SIZE" \
		-M client.bench.invalid -f sender@client.bench.invalid \
		-t user@dead.test "127.0.0.1:$port" ||
		{ say "$s: smtp-source failed while filling"; failures=$((failures + 1)); }
	t1=$(date +%s.%N)
	fill=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	if [ "$s" = tern ]; then
		wait=$(python3 "$bench/bench.py" wait-count --log "$log" \
			--offset "$off" --regex 'status=deferred' --n "$SCALE_N" \
			--timeout 3600) || wait=null
	else
		wait=$(python3 "$bench/bench.py" wait-count \
			--dir "$tmp/pfs-queue/deferred" --empty "$tmp/pfs-queue/incoming" \
			--empty "$tmp/pfs-queue/active" --empty "$tmp/pfs-queue/maildrop" \
			--n "$SCALE_N" --timeout 3600) || wait=null
	fi
	quiet=$(python3 "$bench/bench.py" quiet "$root" 600) || quiet=null
	say "$s: accepted in ${fill}s, all deferred ${wait}s later, quiet ${quiet}s later"
	python3 "$bench/bench.py" cpu-window "$root" "$SCALE_IDLE" --server "$s" \
		--label scale-idle --out "$raw"
	python3 "$bench/bench.py" mem "$root" --server "$s" --label scale-full --out "$raw"
	scale_probe "$s" "$port" "$sink" "$log" scale-full

	say "$s: restart with $SCALE_N messages in the queue"
	off=$(stat -c %s "$log")
	t0=$(date +%s.%N)
	if [ "$s" = tern ]; then
		stop_pid "$root"
	else
		pf_stop pfs
	fi
	since=$(date +%s.%N)
	stop_s=$(awk -v a="$t0" -v b="$since" 'BEGIN { printf "%.2f", b - a }')
	if [ "$s" = tern ]; then
		"$TERN_BUILDDIR/ternd" -d -c "$tmp/terns.conf" </dev/null >>"$log" 2>&1 &
		root=$!
		started_terns="$started_terns $root"
	else
		postfix -c "$tmp/pfs-etc" start >"$tmp/pfs-start.log" 2>&1 ||
			die "postfix (pfs) restart failed"
	fi
	greet_s=$(python3 "$bench/bench.py" wait-smtp "$port" 600 "$since") ||
		greet_s=null
	if [ "$s" = tern ]; then
		rec_s=$(python3 "$bench/bench.py" wait-log "$log" "$off" \
			'queue recovered' 600 "$since") || rec_s=null
	else
		root=$(tr -d ' \n' <"$tmp/pfs-queue/pid/master.pid")
	fi
	if [ "$s" = tern ]; then
		say "$s: stopped in ${stop_s}s; greeting ${greet_s}s, schedule rebuilt ${rec_s}s after the start"
	else
		say "$s: stopped in ${stop_s}s; greeting ${greet_s}s after the start"
	fi
	python3 "$bench/bench.py" record --out "$raw" -- kind=scale server="$s" \
		n="$SCALE_N" fill_s="$fill" deferred_after_s="$wait" \
		quiet_after_s="$quiet" stop_s="$stop_s" greet_s="$greet_s" \
		recovered_s="$rec_s"
	python3 "$bench/bench.py" cpu-window "$root" "$SCALE_IDLE" --server "$s" \
		--label scale-restarted --out "$raw"
	if [ "$s" = tern ]; then
		stop_pid "$root"
	else
		pf_stop pfs
	fi
}

for s in $SCALE_SERVERS; do
	scale_one "$s"
done
