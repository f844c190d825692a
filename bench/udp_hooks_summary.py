#!/usr/bin/env python3
"""Summary of bench/udp_hooks.sh: udp_hooks_summary.py stats|tput|perf OUT_DIR (Markdown tables)."""
import collections
import csv
import glob
import math
import os
import statistics as st
import sys


def ci(xs):
    """Order-statistic 95% confidence interval of the median."""
    xs = sorted(xs)
    n = len(xs)
    k = max(0, int(n / 2 - 1.96 * math.sqrt(n) / 2))
    return xs[k], xs[min(n - 1, n - 1 - k)]


def stats(out):
    rows = list(csv.DictReader(open(os.path.join(out, "stats.csv"))))
    by = collections.defaultdict(list)
    for r in rows:
        by[(r["mode"], r["prog"], r["type"])].append(r)
    print("| mode | program | runs per round (datagrams sent) | run_time_ns per run, median (min - max) |")
    print("| --- | --- | --- | --- |")
    for (mode, prog, typ), rs in by.items():
        runs = ", ".join(f"{r['runs']} ({r['datagrams']})" for r in rs)
        ns = [int(r["run_time_ns"]) / int(r["runs"]) for r in rs]
        print(f"| {mode} | {prog} ({typ}) | {runs} | {st.median(ns):.1f} ({min(ns):.1f} - {max(ns):.1f}) |")


def tput(out):
    rows = list(csv.DictReader(open(os.path.join(out, "tput.csv"))))
    by = collections.defaultdict(dict)
    modes = []
    for r in rows:
        by[r["round"]][r["mode"]] = (float(r["sent_pps"]), float(r["read_pps"]))
        if r["mode"] not in modes:
            modes.append(r["mode"])
    print("| mode | sent (kpps, median) | sent / off, median of paired rounds (95% CI) | ns added per datagram, 1/pps - 1/pps_off (95% CI) | read by the server / off | rounds |")
    print("| --- | --- | --- | --- | --- | --- |")
    for m in modes:
        pairs = [v for v in by.values() if m in v and "off" in v]
        rat = [v[m][0] / v["off"][0] for v in pairs]
        add = [1e9 / v[m][0] - 1e9 / v["off"][0] for v in pairs]
        rd = [v[m][1] / v["off"][1] for v in pairs]
        lo, hi = ci(rat)
        alo, ahi = ci(add)
        sent = st.median(v[m][0] for v in by.values() if m in v)
        print(f"| {m} | {sent / 1e3:.1f} | {100 * st.median(rat):.1f}% ({100 * lo:.1f} - {100 * hi:.1f}%) "
              f"| {st.median(add):.0f} ({alo:.0f} - {ahi:.0f}) | {100 * st.median(rd):.1f}% | {len(pairs)} |")


CATS = ["in the cgroup_skb hook", "in the TC hooks", "rest of the send and receive path", "other (iperf3 user space, start-up)"]


def category(syms):
    if any(s.startswith("__cgroup_bpf_run_filter_skb") for s in syms):
        return CATS[0]
    if any("tc_ingress" in s or "tc_egress" in s or s.startswith("tcx_") for s in syms):
        return CATS[1]
    if any(s.startswith(("udp_sendmsg", "sock_write_iter", "handle_softirqs", "ksys_write")) for s in syms):
        return CATS[2]
    return CATS[3]


def perf(out):
    share = collections.defaultdict(lambda: collections.defaultdict(list))
    leaf = collections.defaultdict(collections.Counter)
    for f in sorted(glob.glob(os.path.join(out, "perf-*.script"))):
        mode = os.path.basename(f).split("-")[2].split(".")[0]
        c = collections.Counter()
        for block in open(f).read().split("\n\n"):
            syms = [ln.split(None, 1)[1] if len(ln.split(None, 1)) > 1 else "?" for ln in block.strip().split("\n") if ln.strip()]
            if not syms:
                continue
            cat = category(syms)
            c[cat] += 1
            if cat == CATS[0]:
                leaf[mode][syms[0].split("+")[0]] += 1
        total = sum(c.values())
        for k in CATS:
            share[mode][k].append(100 * c[k] / total)
    print("Share of CPU 0's samples (iperf3's process, softirq included), median of rounds:\n")
    print("| mode | " + " | ".join(CATS) + " |")
    print("| --- |" + " --- |" * len(CATS))
    for m, d in share.items():
        print(f"| {m} | " + " | ".join(f"{st.median(d[k]):.1f}%" for k in CATS) + " |")
    for m, c in leaf.items():
        tot = sum(c.values())
        print(f"\n{m}: inside the cgroup_skb hook, by leaf function: " +
              ", ".join(f"{k} {100 * v / tot:.0f}%" for k, v in c.most_common(10)))


{"stats": stats, "tput": tput, "perf": perf}[sys.argv[1]](sys.argv[2])
