#!/usr/bin/env python3
"""
report.py - the results tables of bench/run.sh, in Markdown, from the raw
records that bench.py and probe.py append (one JSON object a line).

  report.py RAW.jsonl              every table
  report.py --summary RAW.jsonl    only the targets table

Record kinds: "load" (one smtp-source run; older files have no kind),
"probe" (latency samples in ms), "mem" (PSS/USS of a process tree),
"cpu" (CPU of a process tree over a window), "scale" (times of the scale
scenario).  Throughput and CPU figures are medians over the repetitions,
with the min-max spread; latencies are percentiles over every sample of
every repetition.  Ratios are tern / Postfix.
"""

import json
import math
import statistics
import sys

SERVERS = ("tern", "postfix")


def load(path):
    recs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                r = json.loads(line)
                r.setdefault("kind", "load")
                r.setdefault("workload", "local")
                recs.append(r)
    return recs


def pct(values, p):
    """The p-th percentile (nearest rank) of values, or None."""
    if not values:
        return None
    v = sorted(values)
    return v[max(0, math.ceil(p / 100.0 * len(v)) - 1)]


def med(values):
    return statistics.median(values) if values else None


def spread(values, fmt="%.0f"):
    """'median (min-max)' of values, or '-' when there are none."""
    if not values:
        return "-"
    m = statistics.median(values)
    if len(values) == 1:
        return fmt % m
    return (fmt + " (" + fmt + "-" + fmt + ")") % (m, min(values),
                                                   max(values))


def ratio(a, b, fmt="%.2f"):
    return fmt % (a / b) if a is not None and b else "-"


def num(v, fmt="%.2f"):
    return fmt % v if v is not None else "-"


def mib(kib):
    return kib / 1024.0 if kib is not None else None


# --- load runs -----------------------------------------------------------

def load_groups(recs, workload):
    """{(size, conc, mode): {server: [ok records]}} in first-seen order,
    and the number of runs per (key, server)."""
    groups, runs = {}, {}
    for r in recs:
        if r["kind"] != "load" or r.get("workload") != workload or \
           r.get("label") == "pss":
            continue
        key = (r["size"], str(r["conc"]), r["mode"])
        groups.setdefault(key, {s: [] for s in SERVERS})
        runs[(key, r["server"])] = runs.get((key, r["server"]), 0) + 1
        if r["ok"]:
            groups[key].setdefault(r["server"], []).append(r)
    return groups, runs


def rates(rs):
    acc = [r["count"] / r["accept_s"] for r in rs if r["accept_s"]]
    dlv = [r["count"] / r["deliver_s"] for r in rs if r["deliver_s"]]
    cpu = [1000.0 * r["server_cpu_s"] / r["count"] for r in rs
           if r.get("server_cpu_s") is not None]
    ccpu = [1000.0 * r["client_cpu_s"] / r["count"] for r in rs]
    return acc, dlv, cpu, ccpu


def load_table(recs, workload, out):
    groups, runs = load_groups(recs, workload)
    if not groups:
        return {}
    done = "delivered msg/s" if workload == "local" else "end to end msg/s"
    cpu_h = ("server CPU ms/msg" if workload == "local"
             else "server CPU s/1000 msgs")
    out.append("| size | sessions | mode | msgs/conn | server | runs ok | "
               "accepted msg/s | %s | %s | client CPU ms/msg |"
               % (done, cpu_h))
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    meds, ratios = {}, []
    for key, by in groups.items():
        m = {}
        for s in SERVERS:
            rs = by.get(s, [])
            acc, dlv, cpu, ccpu = rates(rs)
            m[s] = (med(acc), med(dlv), med(cpu))
            per = "1" if key[2] == "conn" else (
                "%d" % (rs[0]["count"] // int(key[1])) if rs else "-")
            out.append("| %s | %s | %s | %s | %s | %d/%d | %s | %s | %s | %s |"
                       % (key[0], key[1], key[2], per, s, len(rs),
                          runs.get((key, s), 0), spread(acc), spread(dlv),
                          spread(cpu, "%.2f"), spread(ccpu, "%.2f")))
        meds[key] = m
        t, p = m["tern"], m["postfix"]
        ratios.append("| %s | %s | %s | %s | %s | %s |"
                      % (key[0], key[1], key[2], ratio(t[0], p[0]),
                         ratio(t[1], p[1]), ratio(t[2], p[2])))
    out.append("")
    out.append("Ratios of the medians, tern / Postfix (throughput: above 1 "
               "means tern is faster; CPU: below 1 means tern uses less):")
    out.append("")
    out.append("| size | sessions | mode | accepted | %s | server CPU |"
               % done.replace(" msg/s", ""))
    out.append("|---|---|---|---|---|---|")
    out.extend(ratios)
    return meds


# --- probes --------------------------------------------------------------

PROBE_METRICS = (
    ("setup", "session setup: connect -> greeting -> EHLO reply"),
    ("eod", "end of data -> 250"),
    ("session", "whole session: connect ... QUIT reply"),
    ("a2s", "accepted (250) -> arrived at the sink"),
)


def probe_samples(recs, label):
    """{server: {metric: [ms...], "delays": [[a,b,c,d]...], "n", "ok"}}"""
    out = {}
    for r in recs:
        if r["kind"] != "probe" or r.get("label") != label:
            continue
        d = out.setdefault(r["server"], {"n": 0, "ok": 0, "delays": [],
                                         "errors": []})
        d["n"] += r["count"]
        d["ok"] += r["ok"]
        d["errors"] += r.get("errors", [])
        for k, _ in PROBE_METRICS:
            d.setdefault(k, []).extend(r.get(k, []))
        d["delays"].extend(x for x in r.get("delays", []) if x)
    return out


def probe_table(recs, label, out):
    ps = probe_samples(recs, label)
    if not ps:
        return ps
    out.append("| metric (ms) | tern p50 | tern p99 | Postfix p50 | "
               "Postfix p99 | p50 ratio |")
    out.append("|---|---|---|---|---|---|")
    t, p = ps.get("tern", {}), ps.get("postfix", {})
    for k, title in PROBE_METRICS:
        tv, pv = t.get(k, []), p.get(k, [])
        out.append("| %s | %s | %s | %s | %s | %s |"
                   % (title, num(pct(tv, 50), "%.3f"),
                      num(pct(tv, 99), "%.3f"), num(pct(pv, 50), "%.3f"),
                      num(pct(pv, 99), "%.3f"),
                      ratio(pct(tv, 50), pct(pv, 50))))
    out.append("")
    out.append("Samples: tern %d/%d, Postfix %d/%d (ok/sent)."
               % (t.get("ok", 0), t.get("n", 0), p.get("ok", 0),
                  p.get("n", 0)))
    for s in SERVERS:
        errs = ps.get(s, {}).get("errors", [])
        if errs:
            out.append("%s errors (first): %s" % (s, "; ".join(errs[:3])))
    # The servers' own account of each probe message, from their logs.
    rows = []
    for s in SERVERS:
        dl = ps.get(s, {}).get("delays", [])
        if dl:
            cols = [med([x[i] for x in dl]) for i in range(4)]
            rows.append("| %s | %d | %s |" % (s, len(dl), " | ".join(
                "%.3f" % c for c in cols)))
    if rows:
        out.append("")
        out.append("Median of the delays=a/b/c/d of the probe messages' "
                   "delivery log lines, seconds (two significant digits "
                   "as logged; tern: a = arrival -> commit, where the arrival "
                   "time has whole seconds only, so a means nothing here, "
                   "b = commit -> delivery start, d = delivery; Postfix: a = before the "
                   "queue manager, b = in the queue manager, c = "
                   "connection setup, d = transmission):")
        out.append("")
        out.append("| server | messages | a | b | c | d |")
        out.append("|---|---|---|---|---|---|")
        out.extend(rows)
    return ps


# --- memory and CPU ------------------------------------------------------

def mem_recs(recs):
    return {(r.get("label"), r.get("server")): r for r in recs
            if r["kind"] == "mem"}


def breakdown(by_comm):
    items = sorted(by_comm.items(), key=lambda kv: -kv[1][1])
    return ", ".join("%s %d x %.1f" % (c, v[0], v[1] / 1024.0)
                     for c, v in items)


def pss_peaks(recs):
    """{server: (peak record)} of the PSS-sampled runs."""
    out = {}
    for r in recs:
        if r["kind"] == "load" and "pss_peak_kib" in r:
            cur = out.get(r["server"])
            if cur is None or r["pss_peak_kib"] > cur["pss_peak_kib"]:
                out[r["server"]] = r
    return out


def memory_table(recs, out):
    mems = mem_recs(recs)
    peaks = pss_peaks(recs)
    if not mems and not peaks:
        return
    out.append("| reading | tern PSS MiB | tern USS MiB | tern procs | "
               "Postfix PSS MiB | Postfix USS MiB | Postfix procs | "
               "PSS ratio |")
    out.append("|---|---|---|---|---|---|---|---|")
    labels = []
    for (label, _) in mems:
        if label not in labels:
            labels.append(label)
    for label in labels:
        t, p = mems.get((label, "tern")), mems.get((label, "postfix"))
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label, num(mib(t and t["pss_kib"]), "%.1f"),
            num(mib(t and t["uss_kib"]), "%.1f"),
            t["nproc"] if t else "-", num(mib(p and p["pss_kib"]), "%.1f"),
            num(mib(p and p["uss_kib"]), "%.1f"), p["nproc"] if p else "-",
            ratio(t and t["pss_kib"], p and p["pss_kib"])))
    if peaks:
        t, p = peaks.get("tern"), peaks.get("postfix")
        out.append("| peak during %s | %s | %s | %s | %s | %s | %s | %s |" % (
            " / ".join(sorted({"%s %s sessions %s" % (r["size"], r["conc"],
                                                       r["mode"])
                               for r in peaks.values()})),
            num(mib(t and t["pss_peak_kib"]), "%.1f"),
            num(mib(t and t["uss_at_peak_kib"]), "%.1f"),
            t["nproc_at_peak"] if t else "-",
            num(mib(p and p["pss_peak_kib"]), "%.1f"),
            num(mib(p and p["uss_at_peak_kib"]), "%.1f"),
            p["nproc_at_peak"] if p else "-",
            ratio(t and t["pss_peak_kib"], p and p["pss_peak_kib"])))
    out.append("")
    out.append("PSS by program (processes x MiB):")
    out.append("")
    for (label, s), r in mems.items():
        out.append("- %s, %s: %s" % (label, s, breakdown(r["by_comm"])))
    for s, r in peaks.items():
        out.append("- peak, %s: %s" % (s, breakdown(r["by_comm_at_peak"])))


def cpu_recs(recs):
    return {(r.get("label"), r.get("server")): r for r in recs
            if r["kind"] == "cpu"}


MAIN_PROC = {"tern": "tern-queued", "postfix": "qmgr"}


def scale_table(recs, out):
    sc = {r["server"]: r for r in recs if r["kind"] == "scale"}
    if not sc:
        return {}
    cpus = cpu_recs(recs)
    mems = mem_recs(recs)
    empty = probe_samples(recs, "scale-empty")
    full = probe_samples(recs, "scale-full")
    out.append("| figure | tern | Postfix |")
    out.append("|---|---|---|")

    def row(title, f):
        out.append("| %s | %s | %s |" % (title, f("tern"), f("postfix")))

    def get(s, k, fmt="%.2f"):
        v = sc.get(s, {}).get(k)
        return fmt % v if isinstance(v, (int, float)) else "-"

    def cpu(label, what):
        def f(s):
            r = cpus.get((label, s))
            if r is None:
                return "-"
            if what == "tree":
                return "%.2f%%" % r["tree_pct"]
            return "%.2f%%" % r["by_comm_pct"].get(MAIN_PROC[s], 0.0)
        return f

    def lat(src, p):
        return lambda s: num(pct(src.get(s, {}).get("a2s", []), p), "%.3f")

    row("deferred messages", lambda s: get(s, "n", "%d"))
    row("fill: accepted in s", lambda s: get(s, "fill_s"))
    row("all deferred, s after the last 250",
        lambda s: get(s, "deferred_after_s"))
    row("idle CPU, queue manager (tern-queued / qmgr)",
        cpu("scale-idle", "main"))
    row("idle CPU, whole process tree", cpu("scale-idle", "tree"))
    row("PSS with the full queue, MiB", lambda s: num(mib(
        mems.get(("scale-full", s), {}).get("pss_kib")), "%.1f"))
    row("new message to live.test, 250 -> sink p50 ms, empty queue",
        lat(empty, 50))
    row("... full queue", lat(full, 50))
    row("... p99 ms, empty / full queue", lambda s: "%s / %s" % (
        lat(empty, 99)(s), lat(full, 99)(s)))
    row("restart: stop took s", lambda s: get(s, "stop_s"))
    row("restart: start -> greeting s", lambda s: get(s, "greet_s", "%.3f"))
    row("restart: start -> schedule rebuilt ('queue recovered') s",
        lambda s: get(s, "recovered_s", "%.3f"))
    row("idle CPU after the restart, queue manager",
        cpu("scale-restarted", "main"))
    row("idle CPU after the restart, whole tree",
        cpu("scale-restarted", "tree"))
    out.append("")
    secs = min((r["seconds"] for r in cpus.values()), default=None)
    if secs:
        out.append("")
        out.append("CPU percentages come from clock ticks (10 ms per "
                   "process), so over %.0f s, 0.00%% means less than "
                   "%.2f%% of one CPU." % (secs, 1.0 / secs))
    return sc


# --- targets -------------------------------------------------------------

def targets(recs, out):
    rows = []

    def add(what, t, p, r, goal, met):
        rows.append("| %s | %s | %s | %s | %s | %s |"
                    % (what, t, p, r, goal, "yes" if met else "**no**"
                       if met is not None else "-"))

    relay, _ = load_groups(recs, "relay")
    for key, by in relay.items():
        at, dt, ct, _ = rates(by.get("tern", []))
        ap, dp, cp, _ = rates(by.get("postfix", []))
        name = "%s %s sessions %s" % key
        for title, a, b in (("relay accepted msg/s", at, ap),
                            ("relay end to end msg/s", dt, dp)):
            a, b = med(a), med(b)
            add("%s, %s" % (title, name), num(a, "%.0f"), num(b, "%.0f"),
                ratio(a, b), ">= 3x", a / b >= 3 if a and b else None)
        if key[1] == "50":
            a, b = med(ct), med(cp)
            add("server CPU s per 1000 msgs, relay %s" % name,
                num(a), num(b), ratio(a, b), "<= 1/3",
                a / b <= 1 / 3.0 if a and b else None)
    ps = probe_samples(recs, "relay")
    if ps:
        for k, title in (("a2s", "accepted -> sink p50 ms, one at a time"),
                         ("setup", "session setup connect -> EHLO reply "
                          "p50 ms")):
            a = pct(ps.get("tern", {}).get(k, []), 50)
            b = pct(ps.get("postfix", {}).get(k, []), 50)
            add(title, num(a, "%.3f"), num(b, "%.3f"), ratio(a, b),
                "<= Postfix", a <= b if a is not None and b is not None
                else None)
    peaks = pss_peaks(recs)
    if peaks:
        a = mib(peaks.get("tern", {}).get("pss_peak_kib"))
        b = mib(peaks.get("postfix", {}).get("pss_peak_kib"))
        add("PSS peak MiB under %s sessions" % peaks.get(
            "tern", peaks.get("postfix"))["conc"], num(a, "%.1f"),
            num(b, "%.1f"), ratio(a, b), "<= 30 MiB",
            a <= 30 if a is not None else None)
    mems = mem_recs(recs)
    for label in ("idle-default", "idle-start", "idle-end"):
        a = mib(mems.get((label, "tern"), {}).get("pss_kib"))
        b = mib(mems.get((label, "postfix"), {}).get("pss_kib"))
        if a is None and b is None:
            continue
        add("idle PSS MiB, all processes (%s)" % label, num(a, "%.1f"),
            num(b, "%.1f"), ratio(a, b), "<= Postfix",
            a <= b if a is not None and b is not None else None)
    local, _ = load_groups(recs, "local")
    for key, by in local.items():
        if key[1] != "10":
            continue
        a = med(rates(by.get("tern", []))[1])
        b = med(rates(by.get("postfix", []))[1])
        add("local Maildir delivered msg/s, %s %s sessions %s" % key,
            num(a, "%.0f"), num(b, "%.0f"), ratio(a, b), ">= 2x",
            a / b >= 2 if a and b else None)
    sc = {r["server"]: r for r in recs if r["kind"] == "scale"}
    if sc:
        cpus = cpu_recs(recs)
        n = next(iter(sc.values())).get("n")
        t = cpus.get(("scale-idle", "tern"))
        p = cpus.get(("scale-idle", "postfix"))
        a = t["by_comm_pct"].get("tern-queued", 0.0) if t else None
        b = p["by_comm_pct"].get("qmgr", 0.0) if p else None
        add("queue manager idle CPU %% with %s deferred" % n,
            num(a, "%.2f%%"), num(b, "%.2f%%"), "-", "< 1%",
            a < 1 if a is not None else None)
        empty = probe_samples(recs, "scale-empty")
        full = probe_samples(recs, "scale-full")
        for s in SERVERS:
            e = pct(empty.get(s, {}).get("a2s", []), 50)
            f = pct(full.get(s, {}).get("a2s", []), 50)
            if e is None or f is None:
                continue
            add("%s: new message 250 -> sink p50 ms, full / empty queue"
                % s, "%.3f / %.3f" % (f, e) if s == "tern" else "",
                "%.3f / %.3f" % (f, e) if s == "postfix" else "",
                ratio(f, e), "as fast (<= 1.25x)",
                f <= 1.25 * e if s == "tern" else None)
        a = sc.get("tern", {}).get("recovered_s")
        add("ternd restart -> schedule rebuilt s, %s in the queue" % n,
            num(a, "%.3f") if isinstance(a, (int, float)) else "-",
            "-", "-", "< 5 s",
            a < 5 if isinstance(a, (int, float)) else None)
    if not rows:
        return
    out.append("| target | tern | Postfix | ratio | goal | met |")
    out.append("|---|---|---|---|---|---|")
    out.extend(rows)


def main(argv):
    summary = "--summary" in argv
    args = [a for a in argv[1:] if a != "--summary"]
    if len(args) != 1:
        sys.stderr.write("usage: report.py [--summary] RAW.jsonl\n")
        return 2
    recs = load(args[0])
    out = []
    out.append("## Targets")
    out.append("")
    targets(recs, out)
    if summary:
        print("\n".join(out))
        return 0
    sections = (
        ("Local workload (delivery into a Maildir)",
         lambda o: load_table(recs, "local", o)),
        ("Relay workload (relayhost to smtp-sink)",
         lambda o: load_table(recs, "relay", o)),
        ("Latency, one message at a time (relay to the timestamping sink)",
         lambda o: probe_table(recs, "relay", o)),
        ("Memory", lambda o: memory_table(recs, o)),
        ("Scale: a queue full of deferred mail",
         lambda o: scale_table(recs, o)),
    )
    for title, fn in sections:
        part = []
        fn(part)
        if part:
            out.append("")
            out.append("## " + title)
            out.append("")
            out.extend(part)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
