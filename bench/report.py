#!/usr/bin/env python3
"""Turns bench/results/benchmarks.json (Google Benchmark) and python.json
into bench/results/tables.md (ratios, each against a baseline from the same
run) and handoff.png (gnuplot). Usage: report.py RESULTS_DIR
With --goals (bench/goals.sh): goals.json into goals.md, issue 25's table of
each goal against its floor, fastest of 11 interleaved rounds of each.
Usage: report.py --goals RESULTS_DIR"""
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
        key = re.sub(r"/(iterations|repeats|min_time):[\d.]+|/real_time|/manual_time", "",
                     b["run_name"])
        times[key] = b["real_time"] * UNIT[b["time_unit"]]
        CPU[key] = b["cpu_time"] * UNIT[b["time_unit"]]
        COUNTERS[key] = b
    return data["context"], times


CPU = {}       # the same keys: CPU time of the benchmarking thread
COUNTERS = {}  # the same keys: the whole entry, user counters included


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
           f"{context.get('host_name', '')}, {context.get('date')}, load average "
           f"{', '.join(f'{x:.1f}' for x in context.get('load_avg', []))} at the start. "
           "Ratios below 1 mean smh is "
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
                     ratio(g("create/boost_fitted"), g("create/smh_lazy")),
                     ratio(g("create/boost_fitted"), g("create/smh_reserved")),
                     ratio(g("create/boost_padded"), g("create/smh_reserved")),
                     f"{g('attach/raw') * 1e6:.1f} µs",
                     ratio(g("attach/smh"), g("attach/raw_same_work")),
                     ratio(g("attach/smh"), g("attach/raw")),
                     ratio(g("attach/boost_managed"), g("attach/smh"))])
    out.append("## Create + destroy, attach + detach\n")
    out.append("smh / raw POSIX doing the same work (exact mode, identity check, header), "
               "smh / the bare raw floor, and Boost `managed_shared_memory` "
               f"(Boost {context.get('boost_version', '?').replace('_', '.')}) / smh: Boost "
               "sized as it needs (+2 KiB) against smh lazy (the same promise: nothing "
               "reserved) and reserved (the default), and Boost with the old 1 MiB padding.\n\n")
    out.append(table(["size", "raw create", "lazy / same work", "lazy / floor",
                      "reserved / same work", "reserved / floor", "Boost fitted / smh lazy",
                      "Boost fitted / smh reserved", "Boost padded / smh reserved",
                      "raw attach", "attach / same work", "attach / floor", "Boost / smh"],
                     rows))

    # 2b. The cost of each step of a create.
    for what in ("create", "attach"):
        steps = sorted(k for k in t if k.startswith(f"steps/{what}/"))
        if not steps:
            continue
        floor_real, floor_cpu = t[steps[0]], CPU[steps[0]]
        rows = []
        previous = None
        for k in steps:
            label = k.split("/")[-1]
            rows.append([label, f"{t[k] * 1e6:.1f}",
                         f"{(t[k] - t[previous]) * 1e6:+.1f}" if previous else "",
                         ratio(t[k], floor_real), ratio(CPU[k], floor_cpu)])
            previous = k
        out.append(f"## What each step of a 4 KiB {what} costs (cumulative, one run)\n")
        out.append(table(["steps so far", "µs", "this step, µs", "/ floor (real time)",
                          "/ floor (CPU time)"], rows))

    # 3. Hand-off.
    variants = ["memory_read_floor", "fork", "spawn_attach", "spawn_attach_populate",
                "pipe_64k", "pipe_1m"]
    mib = sorted({k.split("/")[-1] for k in t if k.startswith("handoff/memory_read_floor/")},
                 key=int)
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

    raw_map = {n: t.get(f"handoff/spawn_raw_map/{n}") for n in mib}
    rows = [[f"{n} MiB", f"{t[f'handoff/spawn_raw_map/{n}'] * 1e3:.1f}",
             ratio(t.get(f"handoff/spawn_attach/{n}"), raw_map[n]),
             ratio(t.get(f"handoff/spawn_attach_populate/{n}"), raw_map[n]),
             ratio(raw_map[n], t.get(f"handoff/memory_read_floor/{n}"))]
            for n in mib if raw_map[n]]
    if rows:
        out.append("## Hand-off on the default mount against the small-page floor\n")
        out.append("A spawned program mapping the same file with raw calls (open, fstat, mmap) "
                   "and doing the same read.\n\n")
        out.append(table(["size", "raw map + read, ms", "smh attach / raw",
                          "smh attach populate / raw", "raw / memory-read floor"], rows))
    huge = sorted({k.split("/")[-1] for k in t if k.startswith("handoff/huge/")}, key=int)
    rows = []
    for n in huge:
        g = lambda v: t.get(f"handoff/huge/{v}/{n}")
        floor = t.get(f"handoff/memory_read_floor/{n}")
        rows.append([f"{n} MiB", f"{g('spawn_attach') * 1e3:.1f}",
                     ratio(g("spawn_attach"), floor), ratio(g("spawn_attach_populate"), floor),
                     ratio(g("spawn_attach"), g("memory_read_floor")),
                     ratio(t.get(f"handoff/spawn_attach/{n}"), floor)])
    if rows:
        out.append("## Hand-off on a huge-page tmpfs (huge=within_size)\n")
        out.append("The memory-read floor is the default mount's; the last two columns give "
                   "the huge-page tmpfs's own read floor and the default mount beside it.\n\n")
        out.append(table(["size", "spawn + attach, ms", "/ read floor",
                          "populate / read floor", "/ huge-page read floor",
                          "default mount / read floor"], rows))

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

    # 5b. One segment of two-thirds of the machine.
    big = COUNTERS.get("scale/big")
    if big and "bytes" in big:
        size = big["bytes"]
        rate = lambda seconds: f"{size / seconds / 1e9:.2f}" if seconds > 0 else "failed"
        rows = [[what, rate(big[f"smh_{key}_s"]), rate(big[f"raw_{key}_s"]),
                 ratio(big[f"smh_{key}_s"], big[f"raw_{key}_s"])]
                for what, key in (("fill, 1 process", "fill1"), ("fill, 2 processes", "fill2"),
                                  (f"read, {int(big['readers'])} processes", "read64"))]
        out.append(f"## One segment of {size_label(size)}\n")
        out.append(f"Created in {big['smh_create_s']:.2f} s (raw: {big['raw_create_s']:.2f} s), "
                   f"attached in {big['smh_attach_s'] * 1e6:.0f} µs, removed in "
                   f"{big['smh_destroy_s']:.2f} s (raw: {big['raw_destroy_s']:.2f} s); "
                   f"segments left in /dev/shm afterwards: {int(big['left_behind'])}.\n\n")
        out.append(table(["loop", "smh GB/s", "raw mapping GB/s", "time / raw time"], rows))
    growth = sorted((int(k.split("/")[-1]), COUNTERS[k]) for k in COUNTERS
                    if k.startswith("scale/growth/"))
    if growth:
        points = [(n, b["create_s"], b["attach_s"], b["destroy_s"]) for n, b in growth]
        if big and "bytes" in big:
            points.append((int(big["bytes"]), big["smh_create_s"], big["smh_attach_s"],
                           big["smh_destroy_s"]))
        with open(os.path.join(results, "growth.dat"), "w") as dat:
            dat.write("bytes create attach destroy\n")
            for p in points:
                dat.write(f"{p[0]} {p[1] * 1e3:.4f} {p[2] * 1e3:.4f} {p[3] * 1e3:.4f}\n")
        out.append("## Create, attach and destroy against the size (ms)\n")
        out.append(table(["size", "create (reserved)", "attach + detach", "destroy"],
                         [[size_label(p[0]), f"{p[1] * 1e3:.2f}", f"{p[2] * 1e3:.3f}",
                           f"{p[3] * 1e3:.2f}"] for p in points]))

    # 5c. MPI.
    mpi_path = os.path.join(results, "mpi.txt")
    if os.path.exists(mpi_path):
        with open(mpi_path) as f:
            out.append("## MPI: 4 ranks on one node\n")
            out.append("".join("    " + line for line in f) + "\n")

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
    if os.path.exists(os.path.join(results, "growth.dat")):
        plot = f"""
set terminal pngcairo size 900,560 font ",11" noenhanced
set output '{results}/growth.png'
set title 'Create, attach and destroy against the segment size'
set xlabel 'segment bytes'
set ylabel 'milliseconds'
set logscale xy
set key top left
set grid
plot for [col=2:4] '{results}/growth.dat' using 1:col with linespoints lw 2 title columnheader(col)
"""
        subprocess.run(["gnuplot"], input=plot.encode(), check=True)


def fastest_rounds(path):
    """The fastest round of each benchmark in a --goals run, in seconds."""
    with open(path) as f:
        data = json.load(f)
    times = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name") == "min":
            key = re.sub(r"/(iterations|repeats|min_time):[\d.]+|/real_time|/manual_time", "",
                         b["run_name"])
            times[key] = b["real_time"] * UNIT[b["time_unit"]]
    return data["context"], times


def goals(results):
    context, t = fastest_rounds(os.path.join(results, "goals.json"))
    kib4, mib1, mib64 = 4096, 1 << 20, 64 << 20

    def row(work, floor_name, floor_key, smh_key, goal, invert=False):
        a, b = t.get(smh_key), t.get(floor_key)
        value = a / b if a and b else None
        met = "n/a" if value is None else ("yes" if value <= goal else "no")
        return [work, floor_name, "n/a" if value is None else f"**{value:.3f}×**",
                f"≤ {goal:.2f}×", met]

    lc = lambda what, n: f"lifecycle/{what}/{n}"
    rows = [
        row("create+destroy 4 KiB (default: reserved)",
            "bare calls + 256-byte header written", lc("create/floor_header_lazy", kib4),
            lc("create/smh_reserved", kib4), 1.15),
        row("create+destroy 4 KiB, `reserve = false`",
            "bare calls + 256-byte header written", lc("create/floor_header_lazy", kib4),
            lc("create/smh_lazy", kib4), 1.15),
        row("create+destroy 4 KiB (default: reserved)",
            "the same, reserved (`posix_fallocate`)", lc("create/floor_header_reserved", kib4),
            lc("create/smh_reserved", kib4), 1.15),
        row("create+init+destroy 4 KiB (default: reserved)",
            "Boost `managed_shared_memory`, fitted, `construct<int32_t>[1024]()`",
            lc("create/boost_fitted", kib4), lc("create/smh_reserved", kib4), 1.00),
        row("create+init+destroy 4 KiB, `reserve = false` (Boost's promise)",
            "Boost `managed_shared_memory`, fitted, `construct<int32_t>[1024]()`",
            lc("create/boost_fitted", kib4), lc("create/smh_lazy", kib4), 1.00),
        row("create+destroy 1 MiB reserved", "bare calls with `posix_fallocate`",
            lc("create/raw_reserved", mib1), lc("create/smh_reserved", mib1), 1.03),
        row("create+destroy 1 MiB reserved", "the same + 256-byte header, its bytes reserved",
            lc("create/floor_header_reserved", mib1), lc("create/smh_reserved", mib1), 1.03),
        row("attach+detach 4 KiB", "bare `shm_open`+`fstat`+`mmap` + header read",
            lc("attach/raw_same_work", kib4), lc("attach/smh", kib4), 1.10),
        row("attach+detach 64 MiB", "bare `shm_open`+`fstat`+`mmap` + header read",
            lc("attach/raw_same_work", mib64), lc("attach/smh", mib64), 1.10),
        row("hand-off 256 MiB, `huge=within_size` tmpfs",
            "reading the same bytes, mapped already (default mount)",
            "handoff/memory_read_floor/256",
            "handoff/huge/spawn_attach/256", 0.58),
    ]
    out = [f"Machine: {context.get('num_cpus')} CPUs at {context.get('mhz_per_cpu')} MHz, "
           f"{context.get('date')}, load average "
           f"{', '.join(f'{x:.1f}' for x in context.get('load_avg', []))} at the start. "
           "Fastest of 11 interleaved rounds of each benchmark, all in this one run; "
           "smh's time / the floor's.\n"]
    out.append(table(["work", "floor", "smh / floor", "goal", "met"], rows))
    steps = sorted(k for k in t if k.startswith("steps/create/"))
    if steps:
        floor = t[steps[0]]
        step_rows, previous = [], None
        for k in steps:
            step_rows.append([k.split("/")[-1], f"{t[k] * 1e6:.1f}",
                              f"{(t[k] - t[previous]) * 1e6:+.1f}" if previous else "",
                              ratio(t[k], floor)])
            previous = k
        out.append("\nWhat each guarantee costs a 4 KiB create + destroy, each step added to "
                   "the one before, done as cheaply as smh does it:\n\n")
        out.append(table(["steps so far", "µs", "this step, µs", "/ floor"], step_rows))
    with open(os.path.join(results, "goals.md"), "w") as f:
        f.write("\n".join(out))
    print("\n".join(out))


if __name__ == "__main__":
    if sys.argv[1] == "--goals":
        goals(sys.argv[2])
    else:
        main()
