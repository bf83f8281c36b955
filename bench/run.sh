#!/usr/bin/env bash
# Builds the benchmarks (Release, -O2) and runs them all, then writes the
# tables and the plot to bench/results/. Extra arguments go to Google
# Benchmark, e.g. --benchmark_filter=handoff. Takes about ten minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps libbenchmark-dev gnuplot-nox python3
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DSMH_BUILD_BENCH=ON \
  -DSMH_BUILD_TESTS=OFF -DSMH_BUILD_EXAMPLES=OFF
cmake --build build-bench -j2
mkdir -p bench/results
build-bench/bench/smh_bench --benchmark_out=bench/results/benchmarks.json \
  --benchmark_out_format=json "$@"
python3 bench/python_baseline.py > bench/results/python.json
python3 bench/report.py bench/results
