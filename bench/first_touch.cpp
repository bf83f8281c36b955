// First touch: create a segment and write every byte once, then destroy it.
// Reserved (the default: pages allocated at create), lazy (allocated by the
// first write's page fault), pre-faulted (populate), and huge pages.
#include <cstring>

#include "common.hpp"

namespace bench {
namespace {

void create_and_fill(benchmark::State& state, smh::create_options options) {
    const auto bytes = static_cast<std::size_t>(state.range(0));
    for (auto _ : state) {
        auto shm = smh::create<char>(bytes, options);
        std::memset(shm.data().data(), 1, bytes);
        benchmark::ClobberMemory();
    }
    state.counters["pages"] = static_cast<double>(bytes / 4096);
}

void raw_lazy_fill(benchmark::State& state) {
    const auto bytes = static_cast<std::size_t>(state.range(0));
    for (auto _ : state) {
        auto segment = raw_segment::create(fresh_name(), bytes, false);
        std::memset(segment.base, 1, bytes);
        benchmark::ClobberMemory();
        segment.unmap();
        segment.unlink();
    }
    state.counters["pages"] = static_cast<double>(bytes / 4096);
}

} // namespace

void register_first_touch(const config& c) {
    const std::int64_t bytes = c.quick ? 1 * mib : 256 * mib;
    auto add = [&](const std::string& name, auto fn) {
        auto* b = benchmark::RegisterBenchmark(("first_touch/" + name).c_str(), fn)->Arg(bytes);
        b->UseRealTime()->Unit(benchmark::kMillisecond);
        if (c.quick)
            b->Iterations(1);
        else
            b->Repetitions(3)->ReportAggregatesOnly(true);
    };
    add("raw_lazy", raw_lazy_fill);
    add("lazy", [](benchmark::State& s) { create_and_fill(s, {.reserve = false}); });
    add("reserved", [](benchmark::State& s) { create_and_fill(s, {}); });
    add("reserved_populate", [](benchmark::State& s) { create_and_fill(s, {.populate = true}); });
    add("lazy_populate",
        [](benchmark::State& s) { create_and_fill(s, {.reserve = false, .populate = true}); });
    add("reserved_huge_pages",
        [](benchmark::State& s) { create_and_fill(s, {.huge_pages = true}); });
}

} // namespace bench
