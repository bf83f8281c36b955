// Create + destroy and attach + detach, against raw POSIX calls doing the same
// work (the floor) and Boost.Interprocess managed_shared_memory.
#include <boost/interprocess/managed_shared_memory.hpp>
#include <boost/version.hpp>

#include <cstring>

#include "common.hpp"

namespace bench {
namespace {

namespace bip = boost::interprocess;

std::size_t elements(const benchmark::State& state) {
    return static_cast<std::size_t>(state.range(0)) / sizeof(std::int32_t);
}

void create_raw(benchmark::State& state, bool reserve) {
    const auto bytes = static_cast<std::size_t>(state.range(0));
    for (auto _ : state) {
        auto segment = raw_segment::create(fresh_name(), bytes, reserve);
        segment.unmap();
        segment.unlink();
    }
}
void create_raw_lazy(benchmark::State& state) { create_raw(state, false); }
void create_raw_reserved(benchmark::State& state) { create_raw(state, true); }

// The physical floor of a segment that describes itself (issue 25's): the
// bare calls for its bytes (the data and a 256-byte header), and the header
// written into its first page. Lazy (ftruncate, as the bare calls) or
// reserved (posix_fallocate, as smh's default create).
void create_floor_header(benchmark::State& state, bool reserve) {
    const auto bytes = static_cast<std::size_t>(state.range(0)) + 256;
    const char header[256] = {'h'};
    for (auto _ : state) {
        auto segment = raw_segment::create(fresh_name(), bytes, reserve);
        std::memcpy(segment.base, header, sizeof header);
        segment.unmap();
        segment.unlink();
    }
}
void create_floor_header_lazy(benchmark::State& state) { create_floor_header(state, false); }
void create_floor_header_reserved(benchmark::State& state) { create_floor_header(state, true); }

// The floor doing what smh::create and its destructor do: exact permissions
// (fchmod), the file's identity (fstat), the header's page allocated and a
// 256-byte header written, and the name checked (lstat) before removal.
void create_raw_same_work(benchmark::State& state, bool reserve) {
    const auto bytes = static_cast<std::size_t>(state.range(0)) + 256;
    const char header[256] = {'h'};
    for (auto _ : state) {
        const auto name = fresh_name();
        const int fd = ::shm_open(("/" + name).c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
        struct stat info {};
        if (fd < 0 || ::fchmod(fd, 0600) != 0 || ::ftruncate(fd, static_cast<off_t>(bytes)) != 0 ||
            ::fstat(fd, &info) != 0)
            die("creating");
        void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (base == MAP_FAILED || ::posix_fallocate(fd, 0, 256) != 0) die("mapping");
        std::memcpy(base, header, sizeof header);
        if (reserve && ::posix_fallocate(fd, 0, static_cast<off_t>(bytes)) != 0) die("reserving");
        ::close(fd);
        struct stat again {};
        if (::lstat(("/dev/shm/" + name).c_str(), &again) == 0 && again.st_ino == info.st_ino)
            ::shm_unlink(("/" + name).c_str());
        ::munmap(base, bytes);
    }
}
void create_raw_same_work_lazy(benchmark::State& state) { create_raw_same_work(state, false); }
void create_raw_same_work_reserved(benchmark::State& state) { create_raw_same_work(state, true); }

void create_smh(benchmark::State& state, bool reserve) {
    for (auto _ : state) {
        auto shm = smh::create<std::int32_t>(fresh_name(), elements(state), {.reserve = reserve});
        benchmark::DoNotOptimize(shm.data().data());
    }
}
void create_smh_lazy(benchmark::State& state) { create_smh(state, false); }
void create_smh_reserved(benchmark::State& state) { create_smh(state, true); }

// What Boost's segment manager needs besides the array: its header, the
// named-object index and one block header, a few hundred bytes (2 KiB is
// ample at every size here). The 1 MiB padding earlier figures used made
// Boost's create pay for memory it never needs.
constexpr std::size_t managed_fitted = 2 * kib;
constexpr std::size_t managed_padded = 1 * mib;

// Boost (Debian's 1.74 here) sizes with ftruncate and reserves nothing: on a
// full /dev/shm it SIGBUSes at first touch. Compare it with smh's lazy create
// (the same promise) and with the default reserved one.
void create_boost_managed(benchmark::State& state, std::size_t overhead) {
    for (auto _ : state) {
        const auto name = fresh_name();
        {
            bip::managed_shared_memory shm(bip::create_only, name.c_str(),
                                           static_cast<std::size_t>(state.range(0)) + overhead);
            auto* data = shm.construct<std::int32_t>("data")[elements(state)]();
            benchmark::DoNotOptimize(data);
        }
        bip::shared_memory_object::remove(name.c_str());
    }
}
void create_boost_fitted(benchmark::State& state) { create_boost_managed(state, managed_fitted); }
void create_boost_padded(benchmark::State& state) { create_boost_managed(state, managed_padded); }

void attach_raw(benchmark::State& state) {
    const auto name = fresh_name();
    auto made = raw_segment::create(name, static_cast<std::size_t>(state.range(0)), false);
    for (auto _ : state) {
        auto segment = raw_segment::attach(name);
        benchmark::DoNotOptimize(segment.base);
        segment.unmap();
    }
    made.unmap();
    made.unlink();
}

// The floor doing what smh::attach does: also read the 256-byte header.
void attach_raw_same_work(benchmark::State& state) {
    const auto name = fresh_name();
    auto made = raw_segment::create(name, static_cast<std::size_t>(state.range(0)), false);
    for (auto _ : state) {
        auto segment = raw_segment::attach(name);
        char header[256];
        std::memcpy(header, segment.base, sizeof header);
        benchmark::DoNotOptimize(header);
        segment.unmap();
    }
    made.unmap();
    made.unlink();
}

void attach_smh(benchmark::State& state) {
    auto made = smh::create<std::int32_t>(elements(state), {.reserve = false});
    for (auto _ : state) {
        auto shm = smh::attach<std::int32_t>(made.name());
        benchmark::DoNotOptimize(shm.data().data());
    }
}

void attach_boost_managed(benchmark::State& state) {
    const auto name = fresh_name();
    {
        bip::managed_shared_memory made(bip::create_only, name.c_str(),
                                        static_cast<std::size_t>(state.range(0)) + managed_fitted);
        made.construct<std::int32_t>("data")[elements(state)]();
    }
    for (auto _ : state) {
        bip::managed_shared_memory shm(bip::open_only, name.c_str());
        auto found = shm.find<std::int32_t>("data");
        benchmark::DoNotOptimize(found.first);
    }
    bip::shared_memory_object::remove(name.c_str());
}

} // namespace

void register_lifecycle(const config& c) {
    benchmark::AddCustomContext("boost_version", BOOST_LIB_VERSION);
    const std::vector<std::int64_t> sizes =
        c.quick ? std::vector<std::int64_t>{4 * kib}
                : std::vector<std::int64_t>{4 * kib, 1 * mib, 64 * mib, 1 * gib};
    auto add = [&](const std::string& name, void (*fn)(benchmark::State&)) {
        auto* b = benchmark::RegisterBenchmark(("lifecycle/" + name).c_str(), fn);
        for (const auto size : sizes) b->Arg(size);
        b->UseRealTime()->Unit(benchmark::kMicrosecond);
        repeat(b, c, 3);
    };
    add("create/raw_lazy", create_raw_lazy);
    add("create/floor_header_lazy", create_floor_header_lazy);
    add("create/floor_header_reserved", create_floor_header_reserved);
    add("create/raw_same_work_lazy", create_raw_same_work_lazy);
    add("create/smh_lazy", create_smh_lazy);
    add("create/raw_reserved", create_raw_reserved);
    add("create/raw_same_work_reserved", create_raw_same_work_reserved);
    add("create/smh_reserved", create_smh_reserved);
    add("create/boost_fitted", create_boost_fitted);
    add("create/boost_padded", create_boost_padded);
    add("attach/raw", attach_raw);
    add("attach/raw_same_work", attach_raw_same_work);
    add("attach/smh", attach_smh);
    add("attach/boost_managed", attach_boost_managed);
}

} // namespace bench
