// Element access: the same loops over the same segment, through a raw
// pointer and through operator[], data() and range-for. Ratios near 1.00
// mean the abstraction costs nothing.
#include <type_traits>

#include "common.hpp"

namespace bench {
namespace {

struct Record { // 32 bytes
    std::int64_t id;
    std::int64_t count;
    double weight;
    std::int32_t flags;
    std::int32_t spare;
};
static_assert(sizeof(Record) == 32);

inline void put(std::int32_t& e, std::size_t i) { e = static_cast<std::int32_t>(i); }
inline void put(Record& e, std::size_t i) {
    const auto v = static_cast<std::int64_t>(i);
    e = Record{v, v, static_cast<double>(i), static_cast<std::int32_t>(i), 0};
}
inline std::int64_t get(const std::int32_t& e) { return e; }
inline std::int64_t get(const Record& e) { return e.count; }
inline void bump(std::int32_t& e) { e += 1; }
inline void bump(Record& e) { e.count += 1; }

constexpr std::size_t stride = 16;

// One segment per element type, size and kind, created once, pages already
// mapped, removed at exit. A growable one has room to double, so size()
// loads its live length: what that costs against a fixed one.
template <class T, bool Growable = false>
auto& segment(std::size_t n) {
    using length = std::conditional_t<Growable, smh::growable, smh::fixed_length>;
    static auto shm =
        smh::create<T, length>(n, {.populate = true, .capacity = Growable ? 2 * n : 0});
    return shm;
}

enum class how { raw, subscript, span, range_for };
enum class op { fill, sum, strided };

template <class T, op Op, how How, bool Growable = false>
void access(benchmark::State& state) {
    auto& shm = segment<T, Growable>(static_cast<std::size_t>(state.range(0)));
    for (auto _ : state) {
        if constexpr (Op == op::fill) {
            if constexpr (How == how::raw) {
                T* p = shm.data().data();
                const std::size_t n = shm.size();
                for (std::size_t i = 0; i < n; ++i) put(p[i], i);
            } else if constexpr (How == how::subscript) {
                for (std::size_t i = 0; i < shm.size(); ++i) put(shm[i], i);
            } else if constexpr (How == how::span) {
                const auto s = shm.data();
                for (std::size_t i = 0; i < s.size(); ++i) put(s[i], i);
            } else {
                std::size_t i = 0;
                for (T& e : shm) put(e, i++);
            }
            benchmark::ClobberMemory();
        } else if constexpr (Op == op::sum) {
            std::int64_t sum = 0;
            if constexpr (How == how::raw) {
                const T* p = shm.data().data();
                const std::size_t n = shm.size();
                for (std::size_t i = 0; i < n; ++i) sum += get(p[i]);
            } else if constexpr (How == how::subscript) {
                for (std::size_t i = 0; i < shm.size(); ++i) sum += get(shm[i]);
            } else if constexpr (How == how::span) {
                const auto s = shm.data();
                for (std::size_t i = 0; i < s.size(); ++i) sum += get(s[i]);
            } else {
                for (const T& e : shm) sum += get(e);
            }
            benchmark::DoNotOptimize(sum);
        } else {
            if constexpr (How == how::raw) {
                T* p = shm.data().data();
                const std::size_t n = shm.size();
                for (std::size_t i = 0; i < n; i += stride) bump(p[i]);
            } else if constexpr (How == how::subscript) {
                for (std::size_t i = 0; i < shm.size(); i += stride) bump(shm[i]);
            } else {
                const auto s = shm.data();
                for (std::size_t i = 0; i < s.size(); i += stride) bump(s[i]);
            }
            benchmark::ClobberMemory();
        }
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0) /
                            (Op == op::strided ? static_cast<std::int64_t>(stride) : 1));
}

template <class T>
void register_type(const config& c, const std::string& type) {
    const std::int64_t n = c.quick ? 4096 : 16 * 1024 * 1024;
    auto add = [&](const std::string& name, void (*fn)(benchmark::State&)) {
        auto* b = benchmark::RegisterBenchmark(("access/" + type + "/" + name).c_str(), fn)->Arg(n);
        if (c.quick)
            b->Iterations(1);
        else
            b->Repetitions(5)->ReportAggregatesOnly(true)->Unit(benchmark::kMillisecond);
    };
    add("fill/raw", access<T, op::fill, how::raw>);
    add("fill/subscript", access<T, op::fill, how::subscript>);
    add("fill/span", access<T, op::fill, how::span>);
    add("fill/range_for", access<T, op::fill, how::range_for>);
    add("sum/raw", access<T, op::sum, how::raw>);
    add("sum/subscript", access<T, op::sum, how::subscript>);
    add("sum/span", access<T, op::sum, how::span>);
    add("sum/range_for", access<T, op::sum, how::range_for>);
    add("strided/raw", access<T, op::strided, how::raw>);
    add("strided/subscript", access<T, op::strided, how::subscript>);
    add("strided/span", access<T, op::strided, how::span>);
    add("growable/fill/subscript", access<T, op::fill, how::subscript, true>);
    add("growable/fill/span", access<T, op::fill, how::span, true>);
    add("growable/sum/subscript", access<T, op::sum, how::subscript, true>);
    add("growable/sum/span", access<T, op::sum, how::span, true>);
    add("growable/sum/range_for", access<T, op::sum, how::range_for, true>);
    add("growable/strided/subscript", access<T, op::strided, how::subscript, true>);
}

} // namespace

void register_access(const config& c) {
    register_type<std::int32_t>(c, "int32");
    register_type<Record>(c, "record32");
}

} // namespace bench
