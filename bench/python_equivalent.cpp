// The loops bench/python_baseline.py times in Python, through operator[]:
// 1M int32 set, then get.
#include "common.hpp"

namespace bench {
namespace {

constexpr std::size_t count = 1'000'000;

void set_loop(benchmark::State& state) {
    auto shm = smh::create<std::int32_t>(count, {.populate = true});
    for (auto _ : state) {
        for (std::size_t i = 0; i < shm.size(); ++i) shm[i] = static_cast<std::int32_t>(i);
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * count));
}

void get_loop(benchmark::State& state) {
    auto shm = smh::create<std::int32_t>(count, {.populate = true});
    for (auto _ : state) {
        std::int64_t sum = 0;
        for (std::size_t i = 0; i < shm.size(); ++i) sum += shm[i];
        benchmark::DoNotOptimize(sum);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * count));
}

} // namespace

void register_python_equivalent(const config& c) {
    for (auto* b : {benchmark::RegisterBenchmark("python_equivalent/set", set_loop),
                    benchmark::RegisterBenchmark("python_equivalent/get", get_loop)}) {
        b->Unit(benchmark::kMicrosecond);
        if (c.quick)
            b->Iterations(1);
        else
            b->Repetitions(5)->ReportAggregatesOnly(true);
    }
}

} // namespace bench
