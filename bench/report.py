#!/usr/bin/env python3
"""Turns bench/results/benchmarks.json (Google Benchmark) and python.json
into bench/results/tables.md (ratios, each against a baseline from the same
run) and handoff.png (gnuplot). Usage: report.py RESULTS_DIR"""
import json
import os
import re
import subprocess
import sys

UNIT = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def load(results):
    with open(os.path.join(results, "benchmarks.json")) as f:
        data = json.load(f)
    times = {}
    for b in data["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        key = re.sub(r"/(iterations|repeats):\d+|/real_time|/manual_time", "", b["run_name"])
        times[key] = b["real_time"] * UNIT[b["time_unit"]]
    return data["context"], times


def size_label(n):
    n = int(n)
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return str(n)


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "n/a"


def main():
    results = sys.argv[1]
    context, t = load(results)
    out = [f"Machine: {context.get('num_cpus')} CPUs at {context.get('mhz_per_cpu')} MHz, "
           f"{context.get('host_name', '')}, {context.get('date')}. Ratios below 1 mean smh is "
           "faster; every ratio compares two figures from this one run.\n"]

    # 1. Element access.
    rows = []
    for key in sorted(k for k in t if k.startswith("access/") and "/raw/" in k):
        _, type_, op, _, n = key.split("/")
        cells = [type_, op]
        for how in ("subscript", "span", "range_for"):
            other = f"access/{type_}/{op}/{how}/{n}"
            cells.append(ratio(t.get(other), t[key]) if other in t else "—")
        rows.append(cells)
    out.append("## Element access (16M elements, -O2): time / raw-pointer time\n")
    out.append(table(["type", "loop", "operator[]", "data() span", "range-for"], rows))

    # 2. Lifecycle.
    sizes = sorted({k.split("/")[-1] for k in t if k.startswith("lifecycle/")}, key=int)
    rows = []
    for n in sizes:
        g = lambda name: t.get(f"lifecycle/{name}/{n}")
        rows.append([size_label(n),
                     f"{g('create/raw_lazy') * 1e6:.1f} µs",
                     ratio(g("create/smh_lazy"), g("create/raw_same_work_lazy")),
                     ratio(g("create/smh_lazy"), g("create/raw_lazy")),
                     ratio(g("create/smh_reserved"), g("create/raw_same_work_reserved")),
                     ratio(g("create/smh_reserved"), g("create/raw_reserved")),
                     ratio(g("create/boost_managed"), g("create/smh_reserved")),
                     f"{g('attach/raw') * 1e6:.1f} µs",
                     ratio(g("attach/smh"), g("attach/raw_same_work")),
                     ratio(g("attach/smh"), g("attach/raw")),
                     ratio(g("attach/boost_managed"), g("attach/smh"))])
    out.append("## Create + destroy, attach + detach\n")
    out.append("smh / raw POSIX doing the same work (exact mode, identity check, header), "
               "smh / the bare raw floor, and Boost `managed_shared_memory` / smh.\n\n")
    out.append(table(["size", "raw create", "lazy / same work", "lazy / floor",
                      "reserved / same work", "reserved / floor", "Boost / smh reserved",
                      "raw attach", "attach / same work", "attach / floor", "Boost / smh"],
                     rows))

    # 3. Hand-off.
    variants = ["memory_read_floor", "fork", "spawn_attach", "spawn_attach_populate",
                "pipe_64k", "pipe_1m"]
    mib = sorted({k.split("/")[-1] for k in t if k.startswith("handoff/")}, key=int)
    rows = []
    with open(os.path.join(results, "handoff.dat"), "w") as dat:
        dat.write("# MiB " + " ".join(variants) + "\n")
        for n in mib:
            ms = [t.get(f"handoff/{v}/{n}", float("nan")) * 1e3 for v in variants]
            dat.write(n + " " + " ".join(f"{x:.3f}" for x in ms) + "\n")
            by = dict(zip(variants, ms))
            rows.append([f"{n} MiB"] + [f"{x:.1f}" for x in ms] +
                        [ratio(by["pipe_64k"], by["spawn_attach_populate"]),
                         ratio(by["pipe_1m"], by["spawn_attach_populate"]),
                         ratio(by["spawn_attach_populate"], by["memory_read_floor"])])
    out.append("## Hand-off to a child that sums the data (ms)\n")
    out.append(table(["size", "read floor", "fork", "spawn+attach", "spawn+attach populate",
                      "pipe 64 KiB", "pipe 1 MiB", "pipe 64K / populate",
                      "pipe 1M / populate", "populate / floor"], rows))

    # 4. First touch.
    touch = {k.split("/")[1]: v for k, v in t.items() if k.startswith("first_touch/")}
    if touch:
        n = int(next(k for k in t if k.startswith("first_touch/")).split("/")[-1])
        pages = n // 4096
        rows = [[name, f"{v * 1e3:.1f}", f"{v / pages * 1e6:.2f}",
                 ratio(v, touch.get("lazy"))] for name, v in sorted(touch.items())]
        out.append(f"## First touch: create + write every byte + destroy, {size_label(n)}\n")
        out.append(table(["variant", "ms", "µs per 4 KiB page", "/ lazy"], rows))

    # 5. Scaling.
    scale = {int(k.split("/")[2]): v for k, v in t.items() if k.startswith("scaling/")}
    if scale:
        n = int(next(k for k in t if k.startswith("scaling/")).split("/")[-1])
        rows = [[p, f"{n / v / 1e9:.2f}", f"{scale[1] / v:.2f}"] for p, v in sorted(scale.items())]
        out.append(f"## Scaling: P processes fill disjoint ranges of {size_label(n)}\n")
        out.append(table(["P", "GB/s", "speed-up vs P=1"], rows))

    # 6. Python.
    py_path = os.path.join(results, "python.json")
    if os.path.exists(py_path):
        with open(py_path) as f:
            py = json.load(f)
        rows = []
        for op in ("set", "get"):
            cpp = t.get(f"python_equivalent/{op}") / 1e6 * 1e9
            pyns = py[f"{op}_ns_per_element"]
            rows.append([op, f"{pyns:.1f}", f"{cpp:.2f}", f"{pyns / cpp:.0f}×"])
        out.append("## The Python module's loops: 1M int32 set and get\n")
        out.append(table(["loop", "Python ns/element", "smh operator[] ns/element",
                          "speed-up"], rows))

    with open(os.path.join(results, "tables.md"), "w") as f:
        f.write("\n".join(out))

    plot = f"""
set terminal pngcairo size 900,560 font ",11" noenhanced
set output '{results}/handoff.png'
set title 'Hand-off of N MiB to a child that sums it'
set xlabel 'MiB handed off'
set ylabel 'milliseconds'
set logscale xy
set xrange [0.8:1300]
set key top left
set grid
plot for [col=2:7] '{results}/handoff.dat' using 1:col with linespoints lw 2 title columnheader(col)
"""
    with open(os.path.join(results, "handoff.dat")) as f:
        text = f.read()
    with open(os.path.join(results, "handoff.dat"), "w") as f:
        f.write(text.replace("# MiB ", "MiB "))
    subprocess.run(["gnuplot"], input=plot.encode(), check=True)


if __name__ == "__main__":
    main()
