#!/usr/bin/python3
"""Summarises bench/hot_pair.sh's hot_pair.csv for bench/HOT_PAIR.md: per case (senders) and variant, the
in-kernel ns per packet (bpf_stats) and what it adds over the empty program of the same round and case
(median over rounds, min-max in brackets)."""
import csv, statistics, sys
from collections import defaultdict

rows = list(csv.DictReader(open(sys.argv[1])))
ns = {(r["round"], r["senders"], r["variant"]): int(r["bpf_ns"]) / max(int(r["bpf_runs"]), 1) for r in rows}
cases = list(dict.fromkeys(r["senders"] for r in rows))
variants = list(dict.fromkeys(r["variant"] for r in rows))
added = defaultdict(list)
absolute = defaultdict(list)
for (rnd, s, v), x in ns.items():
    e = ns.get((rnd, s, "empty"))
    absolute[(s, v)].append(x)
    if e is not None and v != "empty":
        added[(s, v)].append(x - e)
label = lambda s: (f"one sender at {s.split('@')[1]} pps" if "@" in s else f"{s} sender{'s' if s != '1' else ''}, max rate")
print("| variant | " + " | ".join(label(s) for s in cases) + " |")
print("| --- | " + " | ".join("---:" for _ in cases) + " |")
for v in variants:
    cells = []
    for s in cases:
        if v == "empty":
            a = absolute[(s, v)]
            cells.append(f"{statistics.median(a):.1f} ns (absolute)" if a else "")
        else:
            a = added[(s, v)]
            cells.append(f"**{statistics.median(a):.1f}** ({min(a):.0f} - {max(a):.0f})" if a else "")
    print(f"| `{v}` | " + " | ".join(cells) + " |")
print()
print(f"rounds: {len(set(r['round'] for r in rows))}")
