// create_options and attach_options: reservation, pre-faulting, huge pages.
#include <catch2/catch.hpp>

#include <sched.h>
#include <sys/mount.h>

#include <algorithm>
#include <fstream>

#include "checks.hpp"

using smh::SharedMemoryHandlee;

namespace {
constexpr std::size_t mib = 1 << 20;

std::string shmem_huge_page_mode() {
    std::ifstream file("/sys/kernel/mm/transparent_hugepage/shmem_enabled");
    std::string all;
    std::getline(file, all);
    const auto open = all.find('['), close = all.find(']');
    return open == std::string::npos ? "" : all.substr(open + 1, close - open - 1);
}
} // namespace

TEST_CASE("create_options.reserve = false leaves the segment sparse until first written") {
    if (::geteuid() != 0)
        return smh_test::skip(
            "needs root to mount a small tmpfs on /dev/shm in a private namespace");
    smh_test::in_child([] {
        smh_test::child_check(::unshare(CLONE_NEWNS) == 0 &&
                                  ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) ==
                                      0 &&
                                  ::mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=16m") == 0,
                              "mounting a 16 MiB tmpfs on /dev/shm in a private namespace");
        // 64 MiB does not fit, but unreserved it is created; the pages it
        // uses are allocated as they are written.
        auto sparse = SharedMemoryHandlee<char>::create(64 * mib, {.reserve = false});
        std::fill_n(sparse.begin(), 4 * mib, 'x');
        smh_test::child_check(sparse.size() == 64 * mib && sparse[4 * mib - 1] == 'x',
                              "the sparse segment does not hold what was written");
    });
}

TEST_CASE("populate maps every page at create and at attach, and without it pages map "
          "on first touch") {
    auto created = SharedMemoryHandlee<char>::create(16 * mib);
    CHECK(smh_test::resident_bytes(created.data().data()) < 1 * mib);
    auto populated = SharedMemoryHandlee<char>::create(16 * mib, {.populate = true});
    CHECK(smh_test::resident_bytes(populated.data().data()) >= 16 * mib);

    auto lazy = SharedMemoryHandlee<char>::attach(populated.name());
    CHECK(smh_test::resident_bytes(lazy.data().data()) < 1 * mib);
    auto eager = SharedMemoryHandlee<char>::attach(populated.name(), {.populate = true});
    CHECK(smh_test::resident_bytes(eager.data().data()) >= 16 * mib);
}

TEST_CASE("huge_pages asks for transparent huge pages where the kernel allows it") {
    auto shm = SharedMemoryHandlee<char>::create(16 * mib, {.huge_pages = true});
    std::fill(shm.begin(), shm.end(), 'h');
    CHECK(std::all_of(shm.begin(), shm.end(), [](char c) { return c == 'h'; }));
    auto again = SharedMemoryHandlee<char>::attach(shm.name(), {.huge_pages = true});
    CHECK(again[16 * mib - 1] == 'h');

    const auto mode = shmem_huge_page_mode();
    if (mode == "never" || mode == "deny" || mode.empty()) {
        WARN("shmem_enabled is '" << mode << "': the kernel ignores huge-page requests here");
        return;
    }
    std::ifstream smaps("/proc/self/smaps_rollup");
    std::size_t pmd_mapped = 0;
    for (std::string line; std::getline(smaps, line);)
        if (line.rfind("ShmemPmdMapped:", 0) == 0) pmd_mapped = std::stoull(line.substr(15));
    CHECK(pmd_mapped > 0);
}
