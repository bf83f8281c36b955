// What each guarantee costs: a 4 KiB reserved create + destroy, and an attach
// + detach, as raw system-call sequences that add one of smh's steps at a
// time to the bare floor, then smh itself, all in one run. The differences
// between neighbours are the cost of each step.
#include <fcntl.h>
#include <sys/resource.h>

#include <cstring>

#include "common.hpp"

namespace bench {
namespace {

constexpr std::size_t step_bytes = 4 * kib;

// Cumulative steps of a create + destroy, each with the guarantee it buys,
// each done as cheaply as smh does it.
const char* const create_steps[] = {
    "0_floor",           // shm_open, ftruncate, mmap, write the 256-byte header, close;
                         // munmap, shm_unlink (issue 25's floor)
    "1_reserve",         // posix_fallocate for ftruncate: ENOSPC now, never SIGBUS later
    "2_identity",        // + fstat at create, lstat before unlink: never remove another's file
    "3_unnamed_publish", // O_TMPFILE, pwrite the header, mmap, linkat by descriptor:
                         // the name appears only for a finished segment
    "4_owner_lock",      // + OFD read lock before the link: owner liveness in any pid namespace
    "5_name_in_maps",    // map again in place through the name (open, fstat, lock,
                         // MAP_FIXED): /proc/PID/maps and lsof show /dev/shm/NAME
    "6_fsize_limit",     // + getrlimit(RLIMIT_FSIZE): errc::no_space, never SIGXFSZ
};

// Links the unnamed `fd` to `path` as smh does: by descriptor where the
// kernel allows it (Linux 6.10), else through /proc/self/fd.
void link_unnamed(int fd, const std::string& path) {
    if (::linkat(fd, "", AT_FDCWD, path.c_str(), AT_EMPTY_PATH) == 0) return;
    const auto by_fd = "/proc/self/fd/" + std::to_string(fd);
    if (errno != ENOENT ||
        ::linkat(AT_FDCWD, by_fd.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) != 0)
        die("linkat");
}

void create_step(benchmark::State& state, int step) {
    const std::size_t bytes = step_bytes + 256;
    const char header[256] = {'h'};
    struct flock range {};
    range.l_type = F_RDLCK;
    range.l_whence = SEEK_SET;
    range.l_len = 1;
    for (auto _ : state) {
        const auto name = fresh_name();
        const auto path = "/dev/shm/" + name;
        if (step >= 6) {
            struct rlimit limit {};
            if (::getrlimit(RLIMIT_FSIZE, &limit) != 0) die("getrlimit");
        }
        const bool unnamed = step >= 3;
        const int fd = unnamed ? ::open("/dev/shm", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)
                               : ::shm_open(("/" + name).c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
        if (fd < 0) die("open");
        if (step >= 1 ? ::posix_fallocate(fd, 0, static_cast<off_t>(bytes)) != 0
                      : ::ftruncate(fd, static_cast<off_t>(bytes)) != 0)
            die("sizing");
        struct stat info {};
        if (step >= 2 && ::fstat(fd, &info) != 0) die("fstat");
        void* base = nullptr;
        if (!unnamed) {
            base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            if (base == MAP_FAILED) die("mmap");
            std::memcpy(base, header, sizeof header);
        } else {
            if (::pwrite(fd, header, sizeof header, 0) != static_cast<ssize_t>(sizeof header))
                die("pwrite");
            base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            if (base == MAP_FAILED) die("mmap");
            if (step >= 4 && ::fcntl(fd, F_OFD_SETLK, &range) != 0) die("lock");
            link_unnamed(fd, path);
            if (step >= 5) {
                const int named_fd =
                    ::open(path.c_str(), O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
                struct stat named {};
                if (named_fd < 0 || ::fstat(named_fd, &named) != 0 || named.st_ino != info.st_ino ||
                    ::fcntl(named_fd, F_OFD_SETLK, &range) != 0 ||
                    ::mmap(base, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, named_fd,
                           0) != base)
                    die("mapping again through the name");
                ::close(named_fd);
            }
        }
        ::close(fd);
        // destroy: read the header (smh's owner record), check the name, remove it
        benchmark::DoNotOptimize(*static_cast<volatile char*>(base));
        struct stat again {};
        if (step < 2 || (::lstat(path.c_str(), &again) == 0 && again.st_ino == info.st_ino))
            ::unlink(path.c_str());
        ::munmap(base, bytes);
    }
}

void create_step_smh(benchmark::State& state) {
    for (auto _ : state) {
        auto shm = smh::create<std::int32_t>(fresh_name(), step_bytes / sizeof(std::int32_t));
        benchmark::DoNotOptimize(shm.data().data());
    }
}

void attach_step(benchmark::State& state, int step) {
    const auto name = fresh_name();
    auto made = smh::create<std::int32_t>(name, step_bytes / sizeof(std::int32_t));
    const auto path = "/dev/shm/" + name;
    for (auto _ : state) {
        const int fd = ::open(path.c_str(), O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        struct stat info {};
        if (fd < 0 || ::fstat(fd, &info) != 0) die("open");
        const auto bytes = static_cast<std::size_t>(info.st_size);
        void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ::close(fd);
        if (base == MAP_FAILED) die("mmap");
        if (step >= 1) {
            char header[256];
            std::memcpy(header, base, sizeof header);
            benchmark::DoNotOptimize(header);
        }
        ::munmap(base, bytes);
    }
}

void attach_step_smh(benchmark::State& state) {
    const auto name = fresh_name();
    auto made = smh::create<std::int32_t>(name, step_bytes / sizeof(std::int32_t));
    for (auto _ : state) {
        auto shm = smh::attach<std::int32_t>(name);
        benchmark::DoNotOptimize(shm.data().data());
    }
}

} // namespace

void register_steps(const config& c) {
    auto tune = [&](benchmark::internal::Benchmark* b) {
        b->UseRealTime()->Unit(benchmark::kMicrosecond);
        repeat(b, c, 5);
        if (!c.quick) b->MinTime(0.2);
    };
    int step = 0;
    for (const char* label : create_steps) {
        tune(benchmark::RegisterBenchmark((std::string("steps/create/") + label).c_str(),
                                          [step](benchmark::State& s) { create_step(s, step); }));
        ++step;
    }
    tune(benchmark::RegisterBenchmark("steps/create/7_smh", create_step_smh));
    tune(benchmark::RegisterBenchmark("steps/attach/0_floor",
                                      [](benchmark::State& s) { attach_step(s, 0); }));
    tune(benchmark::RegisterBenchmark("steps/attach/1_header",
                                      [](benchmark::State& s) { attach_step(s, 1); }));
    tune(benchmark::RegisterBenchmark("steps/attach/2_smh", attach_step_smh));
}

} // namespace bench
