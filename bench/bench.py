#!/usr/bin/env python3
"""
bench.py - measuring helpers for bench/run.sh (tern against Postfix).

Called only by bench/run.sh:
  bench.py wait-smtp PORT TIMEOUT      wait until PORT on 127.0.0.1 greets 220
  bench.py measure [options] -- CMD    run one timed load (CMD = smtp-source
                                       command line) and append one JSON
                                       record to --out
  bench.py report RAW.jsonl            print the results table (markdown)

It only reads /proc and the given Maildir and queue directories, and only
deletes the files in the given Maildir (between runs).  It never signals a
process: starting and stopping servers is run.sh's job.
"""

import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def die(msg):
    sys.stderr.write("bench.py: %s\n" % msg)
    sys.exit(2)


# --- processes ---------------------------------------------------------------

def proc_table():
    """{pid: (ppid, ticks)} for every process; ticks = utime + stime of the
    process plus cutime + cstime of the children it has reaped."""
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
        rest = stat[stat.rfind(b")") + 2:].split()
        try:
            ppid = int(rest[1])
            ticks = sum(int(x) for x in rest[11:15])
        except (IndexError, ValueError):
            continue
        table[int(ent)] = (ppid, ticks)
    return table


def tree_cpu(root):
    """
    CPU seconds used so far by root and all its descendants, living or
    reaped (a reaped child's time is in its parent's cutime/cstime).
    Returns (seconds, number of living processes).
    """
    table = proc_table()
    if root not in table:
        return None, 0
    children = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, n, todo = 0, 0, [root]
    while todo:
        pid = todo.pop()
        total += table[pid][1]
        n += 1
        todo.extend(children.get(pid, ()))
    return total / CLK_TCK, n


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


def clear_maildir(maildir):
    for sub in ("new", "cur", "tmp"):
        d = os.path.join(maildir, sub)
        try:
            with os.scandir(d) as it:
                for e in it:
                    if e.is_file(follow_symlinks=False):
                        os.unlink(e.path)
        except FileNotFoundError:
            pass


# --- commands ----------------------------------------------------------------

def cmd_wait_smtp(args):
    port, timeout = int(args[0]), float(args[1])
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
                    s.sendall(b"QUIT\r\n")
                    return 0
                last = repr(data[:80])
        except OSError as e:
            last = str(e)
        time.sleep(0.1)
    die("no 220 greeting on 127.0.0.1:%d after %ss (%s)"
        % (port, timeout, last))


def cmd_measure(args):
    opts = {"queue": []}
    while args and args[0] != "--":
        key = args.pop(0).lstrip("-")
        if not args:
            die("option --%s needs a value" % key)
        val = args.pop(0)
        if key == "queue":
            opts["queue"].append(val)
        else:
            opts[key] = val
    if not args:
        die("measure: missing -- CMD")
    cmd = args[1:]
    for k in ("root", "maildir", "count", "out", "timeout"):
        if k not in opts:
            die("measure: missing --%s" % k)
    root = int(opts["root"])
    count = int(opts["count"])
    timeout = float(opts["timeout"])
    new = os.path.join(opts["maildir"], "new")
    interval = float(opts.get("poll", "0.02"))

    # Start from an empty Maildir and an empty queue, so that every run
    # sees the same directory sizes and no leftover work.
    clear_maildir(opts["maildir"])
    deadline = time.monotonic() + 60
    while count_tree(opts["queue"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = count_tree(opts["queue"])
    time.sleep(float(opts.get("settle", "0.5")))

    rec = {k: opts[k] for k in ("server", "size", "conc", "mode", "rep",
                                "label") if k in opts}
    rec.update({"count": count, "cmd": " ".join(cmd),
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
    # Poll both: delivery may finish before the client has exited.
    while True:
        now = time.monotonic()
        if t_accept is None and proc.poll() is not None:
            t_accept = now - t0
            cpu_accept = tree_cpu(root)[0]
        delivered = count_files(new)
        if delivered >= count:
            t_deliver = time.monotonic() - t0
            break
        if now - t0 > timeout:
            break
        if t_accept is not None and proc.returncode != 0 and \
           now - t0 > t_accept + 5:
            break   # the client failed: do not wait for mail never sent
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
    with open(opts["out"], "a") as f:
        f.write(json.dumps(rec) + "\n")
    rate_a = count / t_accept if t_accept else 0
    rate_d = count / t_deliver if t_deliver else 0
    print("  %-7s size=%-6s conc=%-3s mode=%-7s rep=%s  accept %6.2fs "
          "(%7.1f msg/s)  deliver %s  cpu %s  %s"
          % (rec.get("server"), rec.get("size"), rec.get("conc"),
             rec.get("mode"), rec.get("rep"), t_accept, rate_a,
             ("%6.2fs (%7.1f msg/s)" % (t_deliver, rate_d))
             if t_deliver else "TIMEOUT (%d/%d)" % (delivered, count),
             "%.2fs" % (cpu1 - cpu0) if cpu1 is not None else "?",
             "ok" if rec["ok"] else "FAILED rc=%s %s"
             % (proc.returncode, err.strip()[-200:])), flush=True)
    return 0 if rec["ok"] else 1


def fmt_stat(values, fmt="%.0f"):
    """'median (min-max)' of values, or '-' when there are none."""
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return fmt % med
    return (fmt + " (" + fmt + "-" + fmt + ")") % (med, min(values),
                                                   max(values))


def cmd_report(args):
    recs = []
    with open(args[0]) as f:
        for line in f:
            line = line.strip()
            if line:
                recs.append(json.loads(line))
    scenarios = []
    groups = {}
    for r in recs:
        key = (r["size"], r["conc"], r["mode"])
        if key not in scenarios:
            scenarios.append(key)
        groups.setdefault((key, r["server"]), []).append(r)

    out = []
    out.append("| size | sessions | mode | server | runs ok | accepted msg/s "
               "| delivered msg/s | server CPU ms/msg | client CPU ms/msg |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    ratios = []
    for key in scenarios:
        med = {}
        for server in ("tern", "postfix"):
            rs = groups.get((key, server), [])
            ok = [r for r in rs if r["ok"]]
            acc = [r["count"] / r["accept_s"] for r in ok if r["accept_s"]]
            dlv = [r["count"] / r["deliver_s"] for r in ok if r["deliver_s"]]
            cpu = [1000.0 * r["server_cpu_s"] / r["count"] for r in ok
                   if r["server_cpu_s"] is not None]
            ccpu = [1000.0 * r["client_cpu_s"] / r["count"] for r in ok]
            med[server] = (statistics.median(acc) if acc else None,
                           statistics.median(dlv) if dlv else None,
                           statistics.median(cpu) if cpu else None)
            out.append("| %s | %s | %s | %s | %d/%d | %s | %s | %s | %s |"
                       % (key[0], key[1], key[2], server, len(ok), len(rs),
                          fmt_stat(acc), fmt_stat(dlv),
                          fmt_stat(cpu, "%.2f"), fmt_stat(ccpu, "%.2f")))
        t, p = med["tern"], med["postfix"]

        def ratio(a, b):
            return "%.2f" % (a / b) if a and b else "-"
        ratios.append("| %s | %s | %s | %s | %s | %s |"
                      % (key[0], key[1], key[2], ratio(t[0], p[0]),
                         ratio(t[1], p[1]), ratio(t[2], p[2])))
    out.append("")
    out.append("Ratios of medians, tern / Postfix (throughput: above 1 means "
               "tern is faster; CPU: below 1 means tern uses less):")
    out.append("")
    out.append("| size | sessions | mode | accepted msg/s | delivered msg/s "
               "| server CPU/msg |")
    out.append("|---|---|---|---|---|---|")
    out.extend(ratios)
    print("\n".join(out))
    return 0


def main(argv):
    if len(argv) < 2:
        die("usage: bench.py wait-smtp|measure|report ...")
    cmd, args = argv[1], argv[2:]
    if cmd == "wait-smtp":
        return cmd_wait_smtp(args)
    if cmd == "measure":
        return cmd_measure(args)
    if cmd == "report":
        return cmd_report(args)
    die("unknown command %s" % cmd)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
