#!/usr/bin/env bash
# Issue 25's table in one run: each goal (a 4 KiB create against the floor of
# a segment that describes itself and against Boost, a 1 MiB reserved create,
# attach, the huge-page hand-off) against its floor, and the cost of each
# guarantee of a create, step by step. Every benchmark runs 11 rounds,
# interleaved with the others'; the fastest round of each is compared.
# Writes bench/results/goals.json and goals.md. A few minutes; run as root
# for the hand-off (it mounts a huge-page tmpfs in a private namespace).
# SMH_BENCH_BUILD chooses the build directory (default build-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${SMH_BENCH_BUILD:-build-bench}
scripts/install-deps libbenchmark-dev python3
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DSMH_BUILD_BENCH=ON \
  -DSMH_BUILD_TESTS=OFF -DSMH_BUILD_EXAMPLES=OFF
cmake --build "$build" -j2 --target smh_bench
mkdir -p bench/results
rows='lifecycle/create/(floor_header_lazy|floor_header_reserved|smh_lazy|smh_reserved|boost_fitted)/4096/'
rows+='|lifecycle/create/(raw_reserved|floor_header_reserved|smh_reserved)/1048576/'
rows+='|lifecycle/attach/(raw_same_work|smh)/(4096|67108864)/'
rows+='|handoff/memory_read_floor/256/|handoff/huge/spawn_attach/256/'
rows+='|steps/create/'
"$build"/bench/smh_bench --goals --benchmark_enable_random_interleaving=true \
  --benchmark_filter="$rows" --benchmark_out=bench/results/goals.json \
  --benchmark_out_format=json "$@"
python3 bench/report.py --goals bench/results
