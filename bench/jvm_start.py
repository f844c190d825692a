#!/usr/bin/python3
"""Start-up time and memory of the exporter's JVM under several flag sets (bench/jvm.sh runs it
inside the receiver namespace, as root).

For each start: the time from fork to the first HTTP 200 on /metrics, and to the first scrape
that shows both hooks attached ("ready"); the CPU the process (and the launcher's children) used until ready; VmRSS after a few scrapes
(start_rss_mb, about 3 s after the start) and once settled (idle_rss_mb, 7 s after the start); and, with --series, VmRSS and scrape time after SENDER put that many
distinct IP pairs through the interface. Variants are measured in alternating, rotating order.

    jvm_start.py --variants FILE.json --iface IF --iterations N --port PORT --out CSV
                 [--series N --sender 'cmd ...' --series-variants a,b]
FILE.json: [{"name": "launcher", "cmd": ["./ebpf-traffic-exporter"]}, ...]
"""
import argparse
import csv
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request

TICK = os.sysconf("SC_CLK_TCK")
SETTLE_S = 7.0  # idle RSS is read this long after the start (and one scrape)


def scrape(port, timeout=5.0):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as r:
        return r.status, r.read().decode()


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime + stime (all threads) + cutime + cstime: the children the process waited for, i.e. what
    # a launcher script ran before it exec'd the JVM in the same process.
    return sum(int(x) for x in fields[11:15]) / TICK


def gauge(body, name):
    m = re.search(r"^" + re.escape(name) + r"(?:\{[^}]*\})? (\S+)$", body, re.M)
    return float(m.group(1)) if m else float("nan")


def one_start(variant, iface, port, series, sender):
    cmd = variant["cmd"] + ["--iface", iface, "--addr", f"127.0.0.1:{port}", "--log.level", "warn"]
    row = {"variant": variant["name"]}
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        t_http = t_ready = None
        deadline = t0 + 30
        while time.monotonic() < deadline and t_ready is None:
            if p.poll() is not None:
                raise RuntimeError(f"{variant['name']} exited: {p.stderr.read().decode()[-500:]}")
            try:
                status, body = scrape(port, timeout=1.0)
                now = time.monotonic()
                if status == 200 and t_http is None:
                    t_http = now
                if 'hook="egress"' in body and 'hook="ingress"' in body:
                    t_ready = now
                    break
            except OSError:
                pass
            time.sleep(0.005)
        if t_ready is None:
            raise RuntimeError(f"{variant['name']} was not ready within 30 s")
        row["first_scrape_s"] = round(t_http - t0, 4)
        row["ready_s"] = round(t_ready - t0, 4)
        row["start_cpu_s"] = round(cpu_s(p.pid), 3)
        # Idle: a few scrapes, as Prometheus would do, then settle.
        for _ in range(3):
            time.sleep(0.5)
            scrape(port)
        time.sleep(1.0)
        row["start_rss_mb"] = round(rss_kb(p.pid) / 1024, 1)
        # Settled: the JVM frees the compiler's start-up arenas on a 5 s timer (ChunkPoolCleaner)
        # and the launcher's trim returns them within a second; until then RSS still holds the
        # start-up's transient memory, which a long-running exporter does not.
        time.sleep(max(0.0, t0 + SETTLE_S - time.monotonic()))
        scrape(port)
        time.sleep(0.5)
        row["idle_rss_mb"] = round(rss_kb(p.pid) / 1024, 1)
        if series:
            subprocess.run(shlex.split(sender), check=True, stdout=subprocess.DEVNULL)
            times = []
            for _ in range(4):
                t = time.monotonic()
                _, body = scrape(port, timeout=30)
                times.append(time.monotonic() - t)
                time.sleep(0.3)
            row["series"] = int(gauge(body, "ebpf_traffic_exporter_series_tracked"))
            row["scrape_10k_s"] = round(sorted(times[1:])[1], 4)  # median of the last three
            row["scrape_bytes"] = len(body)
            time.sleep(1.0)
            row["series_rss_mb"] = round(rss_kb(p.pid) / 1024, 1)
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", required=True)
    ap.add_argument("--iface", required=True)
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--series", type=int, default=0)
    ap.add_argument("--sender", default="")
    ap.add_argument("--series-variants", default="")
    a = ap.parse_args()
    with open(a.variants) as f:
        variants = json.load(f)
    if a.series:
        wanted = set(a.series_variants.split(","))
        variants = [v for v in variants if v["name"] in wanted]
    fields = ["iteration", "order", "variant", "first_scrape_s", "ready_s", "start_cpu_s", "start_rss_mb", "idle_rss_mb",
              "series", "scrape_10k_s", "scrape_bytes", "series_rss_mb"]
    port = a.port
    with open(a.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for it in range(a.iterations):
            order = variants[it % len(variants):] + variants[:it % len(variants)]
            if it % 2:
                order.reverse()
            for i, v in enumerate(order):
                port += 1  # a fresh port: no TIME_WAIT surprises
                row = one_start(v, a.iface, port, a.series, a.sender)
                row.update(iteration=it, order=i)
                w.writerow(row)
                f.flush()
                print(f"jvm: {json.dumps(row)}", file=sys.stderr)


if __name__ == "__main__":
    main()
