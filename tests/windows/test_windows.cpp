// What differs on Windows: a segment is a section of the paging file, not a
// file, and lives exactly as long as some process holds a handle to it.
// (POSIX counterparts: posix/test_posix_segments.cpp.)
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <thread>

#include "checks.hpp"

using smh::SharedMemoryHandlee;
using smh_test::error_of;
using smh_test::header_of;
using smh_test::segment_exists;
using smh_test::unique_name;
using smh_test::valid_segment_bytes;

// A section has its name from CreateFileMapping on, before its creator has
// written the header: attach waits for the creator (POSIX never needs to).
TEST_CASE("on Windows attach waits for a segment whose creator is still preparing it") {
    const auto name = unique_name();
    std::string bytes = valid_segment_bytes(10);
    header_of(bytes).state = smh::detail::state_creating;
    const auto raw = smh_test::write_raw_segment(name, bytes);
    auto finish_after = [&](std::chrono::milliseconds delay) {
        return std::thread([&name, delay] {
            std::this_thread::sleep_for(delay);
            const std::uint32_t ready = smh::detail::state_ready;
            smh_test::overwrite_raw_segment(name, offsetof(smh::detail::segment_header, state),
                                            {reinterpret_cast<const char*>(&ready), sizeof ready});
        });
    };

    SECTION("and attaches once it is ready") {
        const auto started = std::chrono::steady_clock::now();
        auto creator = finish_after(std::chrono::milliseconds(100));
        const auto shm = SharedMemoryHandlee<int>::attach(name);
        const auto waited = std::chrono::steady_clock::now() - started;
        creator.join();
        CHECK(shm.size() == 10);
        CHECK(waited >= std::chrono::milliseconds(90));
    }
    SECTION("with creation_timeout = milliseconds::max() (wait as long as it takes)") {
        auto creator = finish_after(std::chrono::milliseconds(300));
        const auto shm = SharedMemoryHandlee<int>::attach(
            name, {.creation_timeout = std::chrono::milliseconds::max()});
        creator.join();
        CHECK(shm.size() == 10);
    }
    SECTION("and gives up with errc::not_found after the creation timeout") {
        const auto started = std::chrono::steady_clock::now();
        CHECK(error_of([&] {
                  (void)SharedMemoryHandlee<int>::attach(
                      name, {.creation_timeout = std::chrono::milliseconds(200)});
              }) == smh::errc::not_found);
        CHECK(std::chrono::steady_clock::now() - started >= std::chrono::milliseconds(200));
    }
}

TEST_CASE("on Windows attach gives a section whose header is never written a second, then "
          "errc::corrupt_segment") {
    // All zeros, as a creator leaves it between CreateFileMapping and the header.
    const auto name = unique_name();
    const auto raw = smh_test::write_raw_segment(name, std::string(4096, '\0'));
    const auto started = std::chrono::steady_clock::now();
    CHECK(error_of([&] { (void)SharedMemoryHandlee<int>::attach(name); }) ==
          smh::errc::corrupt_segment);
    const auto waited = std::chrono::steady_clock::now() - started;
    CHECK(waited >= std::chrono::milliseconds(500)); // it did wait for the creator...
    CHECK(waited < std::chrono::milliseconds(4000)); // ...but not the 5 s creation timeout
}

// A growable segment's section is reserved (SEC_RESERVE) until its creator
// commits the first pages: reading its header then would be an access
// violation, so attach and inspect look at whether it is committed first.
TEST_CASE("on Windows attach gives a section whose header is not committed yet a second, then "
          "errc::corrupt_segment, and inspect reads it as unwritten") {
    const auto name = unique_name();
    const std::wstring wide_name(name.begin(), name.end());
    const smh_test::win_handle section(::CreateFileMappingW(INVALID_HANDLE_VALUE, nullptr,
                                                            PAGE_READWRITE | SEC_RESERVE, 0,
                                                            1 << 16, wide_name.c_str()));
    REQUIRE(section.get() != nullptr);
    const auto started = std::chrono::steady_clock::now();
    const auto thrown = error_of([&] { (void)SharedMemoryHandlee<int>::attach(name); });
    const auto waited = std::chrono::steady_clock::now() - started;
    CHECK(thrown == smh::errc::corrupt_segment);
    CHECK(thrown.what.find("never committed") != std::string::npos);
    CHECK(waited >= std::chrono::milliseconds(500)); // it did wait for the creator...
    CHECK(waited < std::chrono::milliseconds(4000)); // ...but not the 5 s creation timeout
    CHECK(error_of([&] { (void)smh::inspect(name); }) == smh::errc::corrupt_segment);
}

// Whether the page at `address` is committed, as this process's view says.
static bool committed_at(const void* address) {
    MEMORY_BASIC_INFORMATION region;
    return ::VirtualQuery(address, &region, sizeof region) == sizeof region &&
           region.State == MEM_COMMIT;
}

TEST_CASE("on Windows a growable segment commits its length's pages only, and growth in "
          "another process commits them for every view") {
    auto shm = smh::create<std::uint32_t, smh::growable>(16, {.capacity = 1 << 20});
    const auto attached = smh::attach<const std::uint32_t, smh::growable>(shm.name());
    for (const auto* first : {static_cast<const std::uint32_t*>(shm.begin()), attached.begin()}) {
        CHECK(committed_at(first + 15));
        CHECK_FALSE(committed_at(first + 100000));
    }
    const auto result = smh_test::run_helper({"grow", shm.name(), "100001", "0"});
    REQUIRE(result.exited);
    REQUIRE(result.exit_code == 0);
    for (const auto* first : {static_cast<const std::uint32_t*>(shm.begin()), attached.begin()}) {
        CHECK(committed_at(first + 100000));
        CHECK_FALSE(committed_at(first + 200000));
    }
    CHECK(attached[100000] == 100001);
}

TEST_CASE("on Windows a segment lives while any handle holds it and is gone after the last") {
    auto owner = std::make_unique<SharedMemoryHandlee<int>>(SharedMemoryHandlee<int>::create(4));
    const auto name = owner->name();
    auto attached = smh::attach<int>(name);
    (*owner)[1] = 11;

    owner.reset();               // the owner's destructor gives up its handle...
    CHECK(segment_exists(name)); // ...and the attached one keeps the segment
    CHECK(attached[1] == 11);
    CHECK(smh::attach<int>(name)[1] == 11);

    attached = SharedMemoryHandlee<int>();
    CHECK_FALSE(segment_exists(name));
    CHECK(error_of([&] { (void)smh::attach<int>(name); }) == smh::errc::not_found);
}

TEST_CASE("on Windows unlink() gives up this object's handle and keeps its mapping") {
    auto owner = SharedMemoryHandlee<int>::create(4);
    const auto name = owner.name();
    auto attached = SharedMemoryHandlee<int>::attach(name);

    CHECK(owner.unlink());       // gave up its handle
    CHECK_FALSE(owner.unlink()); // nothing left to give up
    owner[2] = 22;               // the mapping stays valid
    CHECK(attached[2] == 22);
    CHECK(segment_exists(name)); // the attached handle still holds it

    // With no handle left the name is gone, though both still map the memory.
    CHECK(attached.unlink());
    CHECK_FALSE(segment_exists(name));
    CHECK(error_of([&] { (void)smh::attach<int>(name); }) == smh::errc::not_found);
    attached[3] = 33;
    CHECK(owner[3] == 33);
}

TEST_CASE("on Windows the owner's unlink() alone makes a later attach throw not_found") {
    auto owner = SharedMemoryHandlee<int>::create(4);
    CHECK(owner.unlink());
    CHECK(error_of([&] { (void)smh::attach<int>(owner.name()); }) == smh::errc::not_found);
    CHECK(owner.is_owner());
}

TEST_CASE("on Windows an owner that unlinked and is gone leaves the segment to adopt") {
    auto owner = std::make_unique<SharedMemoryHandlee<int>>(SharedMemoryHandlee<int>::create(4));
    auto attached = smh::attach<int>(owner->name());
    owner->unlink();
    CHECK_FALSE(attached.adopt()); // the owner object still lives
    owner.reset();
    CHECK(attached.adopt());
}

TEST_CASE("on Windows the segment of a killed owner goes with the process") {
    const auto name = unique_name();
    const auto killed = smh_test::run_helper({"create-kill", name, "8"});
    CHECK(killed.exit_code == smh_test::killed_exit_code);
    CHECK_FALSE(segment_exists(name));
    CHECK(error_of([&] { (void)smh::attach<int>(name); }) == smh::errc::not_found);
}

TEST_CASE("on Windows a name taken by another kind of object is already_exists for create, "
          "os_error for attach") {
    const auto name = unique_name();
    const smh_test::win_handle mutex(::CreateMutexA(nullptr, FALSE, name.c_str()));
    REQUIRE(mutex.get() != nullptr);

    const auto created = error_of([&] { (void)smh::create<int>(name, 4); });
    CHECK(created == smh::errc::already_exists);
    CHECK_THAT(created.what, Catch::Contains("another kind of object"));
    const auto attached = error_of([&] { (void)smh::attach<int>(name); });
    CHECK(attached == smh::errc::os_error);
    CHECK(attached.native_code.value() == ERROR_INVALID_HANDLE);
    CHECK_THAT(attached.what, Catch::Contains(name) && Catch::Contains("another kind of object"));
}

TEST_CASE("on Windows a segment is native shared memory: no file on disk") {
    namespace fs = std::filesystem;
    // Boost.Interprocess's portable shared_memory_object emulates POSIX
    // segments with files under %ProgramData%/boost_interprocess; a native
    // section leaves no file there, nor in the temporary directory.
    const char* program_data = std::getenv("ProgramData");
    REQUIRE(program_data != nullptr);
    auto file_named = [&](const std::string& name) {
        std::error_code error;
        for (auto it = fs::recursive_directory_iterator(
                 fs::path(program_data) / "boost_interprocess", error);
             !error && it != fs::recursive_directory_iterator(); it.increment(error))
            if (it->path().filename().string() == name) return true;
        return fs::exists(fs::temp_directory_path() / name, error);
    };
    // (Under Wine, Boost's emulation itself fails with library_error, so it
    // cannot serve here as an example of what the check would find.)
    const auto name = unique_name();
    auto shm = smh::create<int>(name, 1000);
    auto attached = smh::attach<const int>(name);
    CHECK(attached.size() == 1000);
    CHECK_FALSE(file_named(name));
    // It is a kernel section: OpenFileMapping finds it by name.
    CHECK(segment_exists(name));
}

TEST_CASE("on Windows errors carry the Win32 code and its message") {
    const auto name = unique_name();
    const auto thrown = error_of([&] { (void)smh::attach<int>(name); });
    CHECK(thrown == smh::errc::not_found);
    CHECK(thrown.native_code.value() == ERROR_FILE_NOT_FOUND);
    CHECK(thrown.native_code == std::errc::no_such_file_or_directory);
    CHECK_THAT(thrown.what,
               Catch::Contains("OpenFileMapping") && Catch::Contains("Windows error 2"));
}

TEST_CASE("on Windows a process holding the growers' mutex never blocks a grower forever: "
          "grow_for times out and changes nothing") {
    auto shm = smh::create<int, smh::growable>(2, {.capacity = 100});
    shm[1] = 5;
    // Owned by this thread; the grower below runs in another.
    const HANDLE held = ::CreateMutexA(nullptr, TRUE, ("Local\\smh-grow-" + shm.name()).c_str());
    REQUIRE(held != nullptr);
    bool grown = true;
    auto waited = std::chrono::steady_clock::duration::zero();
    std::thread grower([&] {
        const auto started = std::chrono::steady_clock::now();
        grown = shm.grow_for(50, std::chrono::milliseconds(300));
        waited = std::chrono::steady_clock::now() - started;
    });
    grower.join();
    CHECK_FALSE(grown);
    CHECK(waited >= std::chrono::milliseconds(250));
    CHECK(shm.size() == 2);
    CHECK(shm[1] == 5);
    ::ReleaseMutex(held);
    ::CloseHandle(held);
    CHECK(shm.grow_for(50, std::chrono::seconds(10)));
    CHECK(shm.size() == 50);
}
