// Scaling: P forked processes fill disjoint ranges of one segment.
#include "common.hpp"

namespace bench {
namespace {

void parallel_fill(benchmark::State& state) {
    const auto processes = static_cast<std::size_t>(state.range(0));
    const auto count = static_cast<std::size_t>(state.range(1)) / sizeof(std::uint64_t);
    auto shm = smh::create<std::uint64_t>(count);
    for (auto _ : state) {
        std::vector<pid_t> children;
        for (std::size_t p = 0; p < processes; ++p) {
            const pid_t pid = ::fork();
            if (pid == 0) {
                const std::size_t begin = count * p / processes, end = count * (p + 1) / processes;
                for (std::size_t i = begin; i < end; ++i) shm[i] = i;
                ::_exit(0);
            }
            children.push_back(pid);
        }
        for (const pid_t pid : children) wait_child(pid);
    }
    if (sum_words(shm.data().data(), count) != expected_sum(count))
        state.SkipWithError("the children's writes are not all there");
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(1));
}

} // namespace

void register_scaling(const config& c) {
    const std::int64_t bytes = c.quick ? 1 * mib : 1 * gib;
    auto* b = benchmark::RegisterBenchmark("scaling/fill", parallel_fill);
    for (const std::int64_t p : {1, 2, 4}) b->Args({p, bytes});
    b->UseRealTime()->Unit(benchmark::kMillisecond);
    if (c.quick)
        b->Iterations(1);
    else
        b->Repetitions(3)->ReportAggregatesOnly(true);
}

} // namespace bench
