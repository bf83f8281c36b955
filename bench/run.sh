#!/usr/bin/env bash
# Builds the benchmarks (Release, -O2) and runs them all, then writes the
# tables and the plots to bench/results/. Extra arguments go to Google
# Benchmark, e.g. --benchmark_filter=handoff. Takes about half an hour, and
# needs two-thirds of the machine's memory free for scale/big. Run as root
# for the huge-page hand-off (it mounts a tmpfs in a private namespace).
# SMH_BENCH_BUILD chooses the build directory (default build-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${SMH_BENCH_BUILD:-build-bench}
scripts/install-deps libbenchmark-dev gnuplot-nox python3 libopenmpi-dev openmpi-bin
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DSMH_BUILD_BENCH=ON \
  -DSMH_BUILD_TESTS=OFF -DSMH_BUILD_EXAMPLES=ON
cmake --build "$build" -j2
mkdir -p bench/results
"$build"/bench/smh_bench --benchmark_out=bench/results/benchmarks.json \
  --benchmark_out_format=json "$@"
python3 bench/python_baseline.py > bench/results/python.json
# MPI: 4 ranks on this node share a 256 MiB table, against one copy per rank.
if [ -x "$build"/examples/example_mpi_node_shared ]; then
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
    mpirun --oversubscribe -np 4 "$build"/examples/example_mpi_node_shared 256 --compare |
    tee bench/results/mpi.txt
fi
python3 bench/report.py bench/results
