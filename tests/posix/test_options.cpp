// create_options and attach_options: reservation, pre-faulting, huge pages.
#include <catch2/catch.hpp>

#include <sched.h>
#include <sys/mount.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>

#include "checks.hpp"

using smh::SharedMemoryHandlee;

namespace {
constexpr std::size_t mib = 1 << 20;

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

TEST_CASE("huge_pages gets huge pages where /dev/shm's mount gives them, and "
          "huge_page_bytes() says so") {
    auto shm = SharedMemoryHandlee<char>::create(16 * mib, {.huge_pages = true});
    std::fill(shm.begin(), shm.end(), 'h');
    CHECK(std::all_of(shm.begin(), shm.end(), [](char c) { return c == 'h'; }));
    auto again = SharedMemoryHandlee<char>::attach(shm.name(), {.huge_pages = true});
    CHECK(again[16 * mib - 1] == 'h');
    if (smh::segment_huge_page_policy() == smh::huge_page_policy::never)
        CHECK(shm.huge_page_bytes() == 0);
    else
        CHECK(shm.huge_page_bytes() >= 16 * mib);
}

TEST_CASE("huge_pages on a tmpfs mounted with huge=within_size or huge=advise maps every "
          "page huge in creator and attacher, and without huge= none") {
    if (::geteuid() != 0)
        return smh_test::skip("needs root to mount a tmpfs on /dev/shm in a private namespace");
    for (const char* options : {"huge=within_size,size=64m", "huge=advise,size=64m", "size=64m"}) {
        CAPTURE(options);
        smh_test::in_child([options] {
            smh_test::child_check(
                ::unshare(CLONE_NEWNS) == 0 &&
                    ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
                    ::mount("tmpfs", "/dev/shm", "tmpfs", 0, options) == 0,
                "cannot mount a private tmpfs on /dev/shm");
            const bool huge = std::string_view(options).starts_with("huge=");
            smh_test::child_check(
                (smh::segment_huge_page_policy() != smh::huge_page_policy::never) == huge,
                "segment_huge_page_policy() does not match the mount");
            // 5 MiB and the header: rounded up to three whole huge pages.
            auto shm = SharedMemoryHandlee<char>::create(5 * mib, {.huge_pages = true});
            std::fill(shm.begin(), shm.end(), 'h');
            auto reader = SharedMemoryHandlee<const char>::attach(shm.name(), {.populate = true});
            const std::size_t expected = huge ? 6 * mib : 0;
            smh_test::child_check(shm.size() == 5 * mib && reader[5 * mib - 1] == 'h',
                                  "the data did not arrive");
            smh_test::child_check(shm.huge_page_bytes() == expected,
                                  "the creator's huge_page_bytes() is not as expected");
            smh_test::child_check(reader.huge_page_bytes() == expected,
                                  "the reader's huge_page_bytes() is not as expected");
        });
    }
}

namespace {
// The VmFlags of the mapping that contains `address`, e.g. " rd wr sh mr mw me ms hg ".
std::string vm_flags(const void* address) {
    return smh_test::smaps_entry(address, "VmFlags:") + " ";
}

bool advised_huge(const void* address) {
    return vm_flags(address).find(" hg ") != std::string::npos;
}
} // namespace

TEST_CASE("release() and adopt() keep the mapping's huge-page advice and its populated pages") {
    auto shm = SharedMemoryHandlee<char>::create(16 * mib, {.populate = true, .huge_pages = true});
    const void* data = shm.data().data();
    if (!advised_huge(data))
        return smh_test::skip("this kernel takes no MADV_HUGEPAGE for a shared mapping");
    REQUIRE(smh_test::resident_bytes(data) >= 16 * mib);
    REQUIRE(shm.release()); // maps the segment again, in place, without the owner's lock
    CHECK(advised_huge(data));
    CHECK(smh_test::resident_bytes(data) >= 16 * mib);
    REQUIRE(shm.adopt()); // and again, through a locked description
    CHECK(advised_huge(data));
    CHECK(smh_test::resident_bytes(data) >= 16 * mib);

    auto reader =
        SharedMemoryHandlee<char>::attach(shm.name(), {.populate = true, .huge_pages = true});
    const void* read = reader.data().data();
    REQUIRE(advised_huge(read));
    REQUIRE(shm.release());
    REQUIRE(reader.adopt());
    CHECK(advised_huge(read));
    CHECK(smh_test::resident_bytes(read) >= 16 * mib);
}
