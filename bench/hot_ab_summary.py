#!/usr/bin/python3
"""Summarises bench/hot_ab.sh's results (target/bench/hot_ab/{before,hot,nohot}-N/) for bench/HOT_PAIR.md:
ns added over the empty program (median over every round of every run, program minus empty of the same
round), and tc_ingress from one CPU and from both CPUs at once (MapScaleBench, median ns per run)."""
import csv, glob, os, statistics, sys

root = sys.argv[1] if len(sys.argv) > 1 else "target/bench/hot_ab"
variants = ["before", "hot", "nohot"]
cases = ["ipv4", "ipv6", "vlan_ipv4", "qinq_ipv6", "map_full", "floor4", "floor6"]
added = {v: {c: [] for c in cases} for v in variants}
cont = {v: {} for v in variants}
for v in variants:
    for d in sorted(glob.glob(os.path.join(root, v + "-*"))):
        rows = list(csv.DictReader(open(os.path.join(d, "kernel_repeat.csv"))))
        for r in rows:
            if r["case"] in added[v]:
                added[v][r["case"]].append(int(r["prog_ns"]) - int(r["empty_ns"]))
        f = os.path.join(d, "map_contention.csv")
        if os.path.exists(f):
            for r in csv.DictReader(open(f)):
                cont[v].setdefault((r["variant"], r["mode"]), []).append(int(r["ns"]))
med = lambda xs: statistics.median(xs) if xs else float("nan")
print("| case | " + " | ".join(variants) + " | samples each |")
print("| --- | " + " | ".join("---:" for _ in variants) + " | ---: |")
for c in cases:
    print(f"| `{c}` | " + " | ".join(f"{med(added[v][c]):.1f}" for v in variants) + f" | {len(added['hot'][c])} |")
print()
print("| program (MapScaleBench, ns per run) | " + " | ".join(variants) + " |")
print("| --- | " + " | ".join("---:" for _ in variants) + " |")
for k in [("tc_ingress", "alone"), ("tc_ingress", "both"), ("empty", "alone"), ("empty", "both"), ("shared", "both"), ("percpu", "both")]:
    print(f"| `{k[0]}`, {'one CPU' if k[1] == 'alone' else 'both CPUs at once'} | " + " | ".join(f"{med(cont[v].get(k, [])):.1f}" for v in variants) + " |")
