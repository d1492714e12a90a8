#!/usr/bin/env python3
"""
bench.py - measuring helpers for bench/run.sh (tern against Postfix).

Called only by bench/run.sh:
  bench.py wait-smtp PORT TIMEOUT [SINCE]
                                       wait until PORT on 127.0.0.1 greets
                                       220 (and print the seconds since
                                       SINCE, epoch)
  bench.py measure [options] -- CMD    run one timed load (CMD = smtp-source
                                       command line) and append one JSON
                                       record to --out
  bench.py mem ROOT [--out F --server S --label L]
                                       PSS and USS of ROOT's process tree now
  bench.py cpu-window ROOT SECONDS [--out F --server S --label L]
                                       CPU used by ROOT's tree (and by each
                                       program in it) over SECONDS
  bench.py sink-count FILE             messages smtp-sink -c has counted
  bench.py tree-pids ROOT              ROOT and its descendants, comma-separated
  bench.py wait-count [options]        wait until a log has N matching lines
                                       or a queue directory N files
  bench.py wait-log FILE OFFSET REGEX TIMEOUT SINCE
                                       seconds from SINCE (epoch) until a
                                       line matching REGEX appears in FILE
                                       after OFFSET
  bench.py quiet ROOT TIMEOUT          wait until ROOT's tree uses < 5% CPU
  bench.py record KEY=VALUE... --out F append one JSON record

Reports are written by report.py.  This file only reads /proc, the given
Maildirs, queue directories, sink counter files and logs, and only deletes
the files in the given Maildir (between runs).  It never signals a
process: starting and stopping servers is run.sh's job.
"""

import json
import os
import re
import resource
import socket
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def die(msg):
    sys.stderr.write("bench.py: %s\n" % msg)
    sys.exit(2)


def parse_opts(args, multi=()):
    """--key value pairs up to "--"; keys in multi collect lists."""
    opts = {k: [] for k in multi}
    while args and args[0] != "--":
        key = args.pop(0).lstrip("-")
        if not args:
            die("option --%s needs a value" % key)
        val = args.pop(0)
        if key in multi:
            opts[key].append(val)
        else:
            opts[key] = val
    return opts


def append_record(path, rec):
    with open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")


# --- processes ---------------------------------------------------------------

def proc_table():
    """{pid: (ppid, ticks, comm)} for every process; ticks = utime + stime
    of the process plus cutime + cstime of the children it has reaped."""
    table = {}
    for ent in os.listdir("/proc"):
        if not ent.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % ent, "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # comm may hold spaces and parentheses: split after the last ')'.
        close = stat.rfind(b")")
        comm = stat[stat.find(b"(") + 1:close].decode("ascii", "replace")
        rest = stat[close + 2:].split()
        try:
            ppid = int(rest[1])
            ticks = sum(int(x) for x in rest[11:15])
        except (IndexError, ValueError):
            continue
        table[int(ent)] = (ppid, ticks, comm)
    return table


def tree_pids(root, table):
    """root and all its living descendants."""
    if root not in table:
        return []
    children = {}
    for pid, row in table.items():
        children.setdefault(row[0], []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def tree_cpu(root):
    """
    CPU seconds used so far by root and all its descendants, living or
    reaped (a reaped child's time is in its parent's cutime/cstime).
    Returns (seconds, number of living processes).
    """
    table = proc_table()
    pids = tree_pids(root, table)
    if not pids:
        return None, 0
    return sum(table[p][1] for p in pids) / CLK_TCK, len(pids)


def tree_cpu_by_comm(root):
    """{comm: own ticks} of the living processes of root's tree (the
    ticks of children reaped by a process count as its own)."""
    table = proc_table()
    out = {}
    for pid in tree_pids(root, table):
        out[table[pid][2]] = out.get(table[pid][2], 0) + table[pid][1]
    return out


def smaps_rollup(pid):
    """(Pss, Private_Clean + Private_Dirty) of pid in KiB, or None."""
    pss = uss = 0
    try:
        with open("/proc/%d/smaps_rollup" % pid, "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    pss = int(line.split()[1])
                elif line.startswith(b"Private_"):
                    uss += int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pss, uss


def tree_mem(root):
    """{"pss_kib", "uss_kib", "nproc", "by_comm": {comm: [n, pss]}} of
    root's tree now, or None when root is gone."""
    table = proc_table()
    pids = tree_pids(root, table)
    if not pids:
        return None
    total = {"pss_kib": 0, "uss_kib": 0, "nproc": 0, "by_comm": {}}
    for pid in pids:
        m = smaps_rollup(pid)
        if m is None:
            continue        # exited meanwhile, or a kernel thread
        total["pss_kib"] += m[0]
        total["uss_kib"] += m[1]
        total["nproc"] += 1
        row = total["by_comm"].setdefault(table[pid][2], [0, 0])
        row[0] += 1
        row[1] += m[0]
    return total


# --- files -------------------------------------------------------------------

def count_files(d):
    try:
        with os.scandir(d) as it:
            return sum(1 for e in it if e.name[0] != ".")
    except FileNotFoundError:
        return 0


def count_tree(dirs):
    n = 0
    for top in dirs:
        for _, _, files in os.walk(top):
            n += len(files)
    return n


def count_queued(dirs):
    """
    Queue files that hold something.  tern keeps empty files made ahead
    for the next messages (queued's pool, and one per smtpd worker), which
    are no work left; counting them made every tern run wait out the
    60 s limit for an empty queue while Postfix's started at once.
    """
    n = 0
    for top in dirs:
        for d, _, files in os.walk(top):
            for f in files:
                try:
                    n += os.lstat(os.path.join(d, f)).st_size > 0
                except FileNotFoundError:
                    pass
    return n


def clear_maildir(maildir):
    """
    Empty the Maildir for the next run by moving its files into a trash
    directory beside it, on the same file system, which the bench's
    temporary directory takes away at the end.  Deleting them here would
    free thousands of inodes in the Maildir's block group seconds before
    the run, and on ext4 without a journal every file created there
    soon after scans past each recently freed inode (bench/README.md,
    items 6 and 8): a cost the bench would add to both servers' delivery
    that no mail system sees from its own work.
    """
    trash = os.path.join(os.path.dirname(os.path.normpath(maildir)),
                         ".bench-trash")
    os.makedirs(trash, exist_ok=True)
    for sub in ("new", "cur", "tmp"):
        d = os.path.join(maildir, sub)
        try:
            with os.scandir(d) as it:
                for e in it:
                    if e.is_file(follow_symlinks=False):
                        os.rename(e.path, os.path.join(
                            trash, "%s-%d-%s" % (sub, time.monotonic_ns(),
                                                 e.name)))
        except FileNotFoundError:
            pass


SINK_RE = re.compile(rb"mesg=(\d+)")


def sink_count(path):
    """
    Messages counted so far by an smtp-sink -c whose stdout is path.  It
    writes "sess=N quit=N mesg=N" followed by a carriage return after
    every session, QUIT and ".", so the last complete record is the one
    before the last carriage return.
    """
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 512))
            data = f.read()
    except FileNotFoundError:
        return 0
    for part in reversed(data.split(b"\r")[:-1]):
        m = SINK_RE.search(part)
        if m:
            return int(m.group(1))
    return 0


# --- commands ----------------------------------------------------------------

def cmd_wait_smtp(args):
    """PORT TIMEOUT [SINCE]: with SINCE (epoch seconds), print the seconds
    from SINCE until the greeting."""
    port, timeout = int(args[0]), float(args[1])
    since = float(args[2]) if len(args) > 2 else None
    deadline = time.monotonic() + timeout
    last = "nothing"
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.settimeout(5)
                data = b""
                while b"\n" not in data:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                if data.startswith(b"220"):
                    if since is not None:
                        print("%.3f" % (time.time() - since))
                    s.sendall(b"QUIT\r\n")
                    return 0
                last = repr(data[:80])
        except OSError as e:
            last = str(e)
        time.sleep(0.02)
    die("no 220 greeting on 127.0.0.1:%d after %ss (%s)"
        % (port, timeout, last))


class Done:
    """How a run knows that every message arrived: files in a Maildir's
    new/ (local delivery) or the counter of an smtp-sink (relay)."""

    def __init__(self, opts):
        self.maildir = opts.get("maildir")
        self.sink = opts.get("sink-file")
        if not self.maildir and not self.sink:
            die("measure: --maildir or --sink-file is needed")
        self.base = 0

    def reset(self):
        if self.maildir:
            clear_maildir(self.maildir)
        else:
            self.base = sink_count(self.sink)

    def count(self):
        if self.maildir:
            return count_files(os.path.join(self.maildir, "new"))
        return sink_count(self.sink) - self.base


def cmd_measure(args):
    opts = parse_opts(args, multi=("queue",))
    if not args:
        die("measure: missing -- CMD")
    cmd = args[1:]
    for k in ("root", "count", "out", "timeout"):
        if k not in opts:
            die("measure: missing --%s" % k)
    root = int(opts["root"])
    count = int(opts["count"])
    timeout = float(opts["timeout"])
    interval = float(opts.get("poll", "0.02"))
    pss_interval = float(opts.get("pss-interval", "0"))
    done = Done(opts)

    # Start from an empty Maildir and an empty queue, so that every run
    # sees the same directory sizes and no leftover work.
    done.reset()
    deadline = time.monotonic() + 60
    while count_queued(opts["queue"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = count_queued(opts["queue"])
    time.sleep(float(opts.get("settle", "0.5")))
    done.reset()

    rec = {k: opts[k] for k in ("workload", "server", "size", "conc", "mode",
                                "rep", "label") if k in opts}
    rec.update({"kind": "load", "count": count, "cmd": " ".join(cmd),
                "queue_left_before": left})
    cpu0, nproc0 = tree_cpu(root)
    if cpu0 is None:
        die("server process %d is not running" % root)
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t_accept = t_deliver = None
    cpu_accept = None
    delivered = 0
    peak = None
    next_pss = t0
    # Count deliveries only once the client has exited: no run can be
    # complete before its last message was accepted, and counting a
    # Maildir of thousands of files every 20 ms while the client runs
    # takes a few per cent of a CPU from whichever server is measured.
    while True:
        now = time.monotonic()
        if t_accept is None and proc.poll() is not None:
            t_accept = now - t0
            cpu_accept = tree_cpu(root)[0]
        if t_accept is not None or not done.maildir:
            delivered = done.count()
        if delivered >= count:
            t_deliver = time.monotonic() - t0
            break
        if now - t0 > timeout:
            break
        if t_accept is not None and proc.returncode != 0 and \
           now - t0 > t_accept + 5:
            break   # the client failed: do not wait for mail never sent
        if pss_interval > 0 and now >= next_pss:
            m = tree_mem(root)
            if m is not None and (peak is None or
                                  m["pss_kib"] > peak["pss_kib"]):
                peak = m
            next_pss = now + pss_interval
        if t_accept is None:
            try:    # returns as soon as the client exits
                proc.wait(timeout=interval)
            except subprocess.TimeoutExpired:
                pass
        else:
            time.sleep(interval)
    cpu1, nproc1 = tree_cpu(root)
    if t_accept is None:
        try:
            proc.wait(timeout=max(1.0, timeout - (time.monotonic() - t0)))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        t_accept = time.monotonic() - t0
        cpu_accept = tree_cpu(root)[0]
    err = proc.stderr.read().decode("utf-8", "replace")
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    rec.update({
        "rc": proc.returncode,
        "stderr": err[-500:],
        "accept_s": round(t_accept, 4),
        "deliver_s": round(t_deliver, 4) if t_deliver is not None else None,
        "delivered": delivered,
        "server_cpu_accept_s": (round(cpu_accept - cpu0, 3)
                                if cpu_accept is not None else None),
        "server_cpu_s": (round(cpu1 - cpu0, 3)
                         if cpu1 is not None else None),
        "client_cpu_s": round((ru1.ru_utime + ru1.ru_stime)
                              - (ru0.ru_utime + ru0.ru_stime), 3),
        "server_procs": [nproc0, nproc1],
        "ok": proc.returncode == 0 and t_deliver is not None,
        "time": time.strftime("%H:%M:%S"),
    })
    if peak is not None:
        rec.update({"pss_peak_kib": peak["pss_kib"],
                    "uss_at_peak_kib": peak["uss_kib"],
                    "nproc_at_peak": peak["nproc"],
                    "by_comm_at_peak": peak["by_comm"]})
    append_record(opts["out"], rec)
    rate_a = count / t_accept if t_accept else 0
    rate_d = count / t_deliver if t_deliver else 0
    print("  %-7s %-5s size=%-5s conc=%-3s mode=%-7s rep=%-3s accept %6.2fs "
          "(%6.1f/s)  done %s  cpu %s%s  %s"
          % (rec.get("server"), rec.get("workload", ""), rec.get("size"),
             rec.get("conc"), rec.get("mode"), rec.get("rep"), t_accept,
             rate_a, ("%6.2fs (%6.1f/s)" % (t_deliver, rate_d))
             if t_deliver else "TIMEOUT (%d/%d)" % (delivered, count),
             "%.2fs" % (cpu1 - cpu0) if cpu1 is not None else "?",
             ("  pss %.1f MiB" % (peak["pss_kib"] / 1024.0)) if peak else "",
             "ok" if rec["ok"] else "FAILED rc=%s %s"
             % (proc.returncode, err.strip()[-200:])), flush=True)
    return 0 if rec["ok"] else 1


def meta(opts):
    return {k: opts[k] for k in ("server", "label") if k in opts}


def cmd_mem(args):
    root = int(args.pop(0))
    opts = parse_opts(args)
    m = tree_mem(root)
    if m is None:
        die("process %d is not running" % root)
    rec = {"kind": "mem"}
    rec.update(meta(opts))
    rec.update(m)
    if "out" in opts:
        append_record(opts["out"], rec)
    print("  %-7s memory %-12s PSS %.1f MiB, USS %.1f MiB, %d processes"
          % (opts.get("server", ""), opts.get("label", ""),
             m["pss_kib"] / 1024.0, m["uss_kib"] / 1024.0, m["nproc"]),
          flush=True)
    return 0


def cmd_cpu_window(args):
    root, seconds = int(args.pop(0)), float(args.pop(0))
    opts = parse_opts(args)
    tot0, _ = tree_cpu(root)
    by0 = tree_cpu_by_comm(root)
    t0 = time.monotonic()
    time.sleep(seconds)
    tot1, n = tree_cpu(root)
    by1 = tree_cpu_by_comm(root)
    wall = time.monotonic() - t0
    if tot0 is None or tot1 is None:
        die("process %d is not running" % root)
    by = {c: round(100.0 * (by1[c] - by0.get(c, 0)) / CLK_TCK / wall, 3)
          for c in by1}
    rec = {"kind": "cpu", "seconds": round(wall, 2),
           "tree_pct": round(100.0 * (tot1 - tot0) / wall, 3),
           "by_comm_pct": by, "nproc": n}
    rec.update(meta(opts))
    if "out" in opts:
        append_record(opts["out"], rec)
    busiest = sorted(by.items(), key=lambda kv: -kv[1])[:3]
    print("  %-7s CPU over %.0fs %s: whole tree %.2f%% (%s)"
          % (opts.get("server", ""), wall, opts.get("label", ""),
             rec["tree_pct"], ", ".join("%s %.2f%%" % kv for kv in busiest)),
          flush=True)
    return 0


def cmd_tree_pids(args):
    print(",".join(str(p) for p in tree_pids(int(args[0]), proc_table())))
    return 0


def cmd_sink_count(args):
    print(sink_count(args[0]))
    return 0


def count_lines(path, offset, regex, state):
    """Lines matching regex in path from offset on; state keeps the
    position and the count between calls (a growing log is read once)."""
    if "pos" not in state:
        state.update(pos=offset, n=0, rest=b"")
    try:
        with open(path, "rb") as f:
            f.seek(state["pos"])
            data = f.read()
    except FileNotFoundError:
        return 0
    state["pos"] += len(data)
    lines = (state["rest"] + data).split(b"\n")
    state["rest"] = lines.pop()
    state["n"] += sum(1 for line in lines if regex.search(line))
    return state["n"]


def cmd_wait_count(args):
    """--n N --timeout T and either --log FILE --offset O --regex R or
    --dir DIR (files under it, repeated) with --empty DIR (repeated) that
    must hold no files.  Prints the seconds waited; 1 on timeout."""
    opts = parse_opts(args, multi=("dir", "empty"))
    n, timeout = int(opts["n"]), float(opts["timeout"])
    regex = re.compile(opts["regex"].encode()) if "regex" in opts else None
    state = {}
    t0 = time.monotonic()
    got = 0
    while time.monotonic() - t0 < timeout:
        if regex is not None:
            got = count_lines(opts["log"], int(opts.get("offset", "0")),
                              regex, state)
            ok = got >= n
        else:
            got = count_tree(opts["dir"])
            ok = got >= n and count_tree(opts["empty"]) == 0
        if ok:
            print("%.2f" % (time.monotonic() - t0))
            return 0
        time.sleep(0.5)
    sys.stderr.write("bench.py: wait-count: %d of %d after %ss\n"
                     % (got, n, timeout))
    return 1


def cmd_wait_log(args):
    path, offset, regex, timeout, since = args
    offset, timeout, since = int(offset), float(timeout), float(since)
    regex = re.compile(regex.encode())
    state = {}
    while time.time() - since < timeout:
        if count_lines(path, offset, regex, state) > 0:
            print("%.3f" % (time.time() - since))
            return 0
        time.sleep(0.01)
    return 1


def cmd_quiet(args):
    """Wait until root's tree used under 5% of a CPU over one second;
    prints the seconds waited."""
    root, timeout = int(args[0]), float(args[1])
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        a, _ = tree_cpu(root)
        time.sleep(1)
        b, _ = tree_cpu(root)
        if a is None or b is None:
            die("process %d is not running" % root)
        if b - a < 0.05:
            print("%.1f" % (time.monotonic() - t0))
            return 0
    return 1


def cmd_record(args):
    opts = parse_opts(args)
    out = opts.pop("out")
    rec = {}
    for item in args[1:] if args and args[0] == "--" else args:
        k, _, v = item.partition("=")
        try:
            rec[k] = json.loads(v)
        except ValueError:
            rec[k] = v
    append_record(out, rec)
    return 0


COMMANDS = {
    "wait-smtp": cmd_wait_smtp, "measure": cmd_measure, "mem": cmd_mem,
    "cpu-window": cmd_cpu_window, "sink-count": cmd_sink_count,
    "tree-pids": cmd_tree_pids,
    "wait-count": cmd_wait_count, "wait-log": cmd_wait_log,
    "quiet": cmd_quiet, "record": cmd_record,
}


def main(argv):
    if len(argv) < 2 or argv[1] not in COMMANDS:
        die("usage: bench.py %s ..." % "|".join(sorted(COMMANDS)))
    return COMMANDS[argv[1]](argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
