// What only POSIX segments have: a file in /dev/shm with a mode, and a name
// that unlink() removes while the segment is mapped. (Windows counterparts:
// windows/test_windows.cpp; what the file system can do wrong: test_calls_return.cpp.)
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <memory>

#include "checks.hpp"

using smh::SharedMemoryHandlee;
using smh_test::segment_exists;
using smh_test::unique_name;

// --- modes -------------------------------------------------------------------

TEST_CASE("a new segment is readable and writable by its creator's user only") {
    const mode_t old_mask = ::umask(0);
    auto shm = SharedMemoryHandlee<int>::create(4);
    ::umask(old_mask);
    struct stat info {};
    REQUIRE(::stat(("/dev/shm/" + shm.name()).c_str(), &info) == 0);
    CHECK((info.st_mode & 07777) == 0600);
}

TEST_CASE("create_options.permissions sets the mode exactly, whatever the umask") {
    const mode_t old_mask = ::umask(077);
    auto shm = SharedMemoryHandlee<int>::create(4, smh::create_options{.permissions = 0640});
    ::umask(old_mask);
    struct stat info {};
    REQUIRE(::stat(("/dev/shm/" + shm.name()).c_str(), &info) == 0);
    CHECK((info.st_mode & 07777) == 0640);
}

// --- names ---------------------------------------------------------------------

TEST_CASE("unlink() removes the name now and leaves every mapping usable") {
    auto owner = SharedMemoryHandlee<int>::create(4);
    auto attached = SharedMemoryHandlee<int>::attach(owner.name());

    SECTION("called on the owner") { CHECK(owner.unlink()); }
    SECTION("called on an attached handle") { CHECK(attached.unlink()); }

    CHECK_FALSE(segment_exists(owner.name()));
    CHECK(smh_test::error_of([&] { (void)SharedMemoryHandlee<int>::attach(owner.name()); }) ==
          smh::errc::not_found);
    owner[1] = 17;
    CHECK(attached[1] == 17);
    // A second call is harmless and removes nothing.
    CHECK_FALSE(owner.unlink());
    CHECK_FALSE(attached.unlink());
}

TEST_CASE("the owner never removes a newer segment that took its name") {
    const auto name = unique_name();
    auto stale =
        std::make_unique<SharedMemoryHandlee<int>>(SharedMemoryHandlee<int>::create(name, 4));
    ::shm_unlink(("/" + name).c_str());                     // someone else removed our name...
    auto newer = SharedMemoryHandlee<int>::create(name, 8); // ...and reused it
    newer[7] = 70;

    CHECK_FALSE(stale->unlink());
    stale.reset();
    CHECK(segment_exists(name));
    CHECK(SharedMemoryHandlee<int>::attach(name)[7] == 70);
}
