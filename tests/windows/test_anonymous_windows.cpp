// Segments without a name on Windows: an unnamed section, whose handle is the
// descriptor (HandleToLong), handed on by inheritance or DuplicateHandle.
// There is no socket to send one over (compile_fail/windows_send.cpp).
// (Linux counterparts: posix/test_anonymous.cpp.)
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>

#include "checks.hpp"

using namespace std::chrono_literals;
using smh_test::error_of;
using smh_test::win_handle;

namespace {

HANDLE handle_of(int descriptor) { return ::LongToHandle(descriptor); }
int descriptor_of(HANDLE handle) { return static_cast<int>(::HandleToLong(handle)); }

// A copy of `descriptor`'s handle in this process: with its access, or with
// `access` alone; inheritable or not.
win_handle duplicate(int descriptor, DWORD access = 0, bool inheritable = false) {
    HANDLE copy = nullptr;
    REQUIRE(::DuplicateHandle(::GetCurrentProcess(), handle_of(descriptor), ::GetCurrentProcess(),
                              &copy, access, inheritable ? TRUE : FALSE,
                              access == 0 ? DUPLICATE_SAME_ACCESS : 0));
    return win_handle(copy);
}

bool is_open(int descriptor) {
    DWORD flags = 0;
    return ::GetHandleInformation(handle_of(descriptor), &flags) != 0;
}

// An unnamed section that is not smh's, `size` bytes, holding `bytes` from
// its start; with `reserve_only`, SEC_RESERVE with only the pages `bytes`
// covers committed.
win_handle raw_section(std::size_t size, const std::string& bytes, bool reserve_only = false) {
    win_handle section(::CreateFileMappingW(INVALID_HANDLE_VALUE, nullptr,
                                            PAGE_READWRITE | (reserve_only ? SEC_RESERVE : 0), 0,
                                            static_cast<DWORD>(size), nullptr));
    REQUIRE(section.get() != nullptr);
    if (!bytes.empty()) {
        void* view = ::MapViewOfFile(section.get(), FILE_MAP_WRITE, 0, 0, size);
        REQUIRE(view != nullptr);
        if (reserve_only)
            REQUIRE(::VirtualAlloc(view, bytes.size(), MEM_COMMIT, PAGE_READWRITE) != nullptr);
        std::memcpy(view, bytes.data(), bytes.size());
        ::UnmapViewOfFile(view);
    }
    return section;
}

} // namespace

TEST_CASE("on Windows an anonymous segment has no name and no owner, and its descriptor is a "
          "section handle of its own") {
    auto shm = smh::create_anonymous<std::uint64_t>(1000);
    CHECK(shm.name().empty());
    CHECK(shm.size() == 1000);
    const int fd = shm.descriptor();
    REQUIRE(fd > 0);
    DWORD flags = 0;
    REQUIRE(::GetHandleInformation(handle_of(fd), &flags));
    CHECK((flags & HANDLE_FLAG_INHERIT) == 0); // as close-on-exec: inherited only on purpose
    CHECK_FALSE(shm.is_owner());
    CHECK_FALSE(shm.release());
    CHECK_FALSE(shm.adopt());
    CHECK_FALSE(shm.unlink());
    CHECK(error_of([&] { shm.take_ownership(); }) == smh::errc::invalid_name);
    CHECK(is_open(fd)); // none of them gave the handle up
    shm[999] = 42;
    auto again = smh::attach_descriptor<const std::uint64_t>(fd);
    CHECK(again[999] == 42);
    CHECK(again.descriptor() > 0);
    CHECK(again.descriptor() != fd); // a handle of its own
    CHECK(again.name().empty());
    const auto info = smh::inspect_descriptor(fd);
    CHECK(info.name.empty());
    CHECK(info.element_count == 1000);
    CHECK(info.element_size == sizeof(std::uint64_t));
    CHECK(info.owner_pid == 0);
    CHECK(info.ready);
    auto named = smh::create<int>(4);
    CHECK(named.descriptor() == -1);
}

TEST_CASE("on Windows attach_descriptor of a duplicated handle sees the same memory and leaves "
          "the handle to the caller") {
    auto shm = smh::create_anonymous<std::uint32_t>(64);
    auto copy = duplicate(shm.descriptor());
    {
        auto attached = smh::attach_descriptor<std::uint32_t>(descriptor_of(copy.get()));
        attached[3] = 33;
        CHECK(shm[3] == 33);
        shm[4] = 44;
        CHECK(attached[4] == 44);
        CHECK(error_of([&] { (void)smh::attach_descriptor<float>(descriptor_of(copy.get())); }) ==
              smh::errc::type_mismatch);
    }
    CHECK(is_open(descriptor_of(copy.get()))); // still the caller's
    // The memory lives while any handle or view does, not only the creator's.
    auto survivor = smh::attach_descriptor<std::uint32_t>(descriptor_of(copy.get()));
    copy = win_handle();
    shm = {};
    CHECK(survivor[3] == 33);
    survivor[63] = 63;
    CHECK(survivor[63] == 63);
}

TEST_CASE("on Windows a read-only handle of an anonymous segment attaches as const T only") {
    auto shm = smh::create_anonymous<std::int32_t>(16);
    shm[5] = 55;
    const auto read_only = duplicate(shm.descriptor(), FILE_MAP_READ);
    const int fd = descriptor_of(read_only.get());
    CHECK(error_of([&] { (void)smh::attach_descriptor<std::int32_t>(fd); }) ==
          smh::errc::permission_denied);
    auto reader = smh::attach_descriptor<const std::int32_t>(fd);
    CHECK(reader[5] == 55);
    CHECK(smh::inspect_descriptor(fd).element_count == 16);
}

TEST_CASE("on Windows a spawned program inherits an anonymous segment's handle and attaches to "
          "it by its number") {
    auto shm = smh::create_anonymous<std::uint32_t>(300);
    shm[0] = 1234;
    // What a parent does: an inheritable copy, its value on the command line.
    auto inheritable = duplicate(shm.descriptor(), 0, true);
    const auto child =
        smh_test::start_program({SMH_TEST_HELPER, "anon-check",
                                 std::to_string(descriptor_of(inheritable.get())), "300", "1234"},
                                true);
    inheritable = win_handle(); // the child has its own now
    const auto result = smh_test::wait_for(child, 60s);
    REQUIRE(result.exited);
    CHECK(result.exit_code == 0);
    CHECK(shm[1] == 1235);
}

TEST_CASE("on Windows a growable anonymous segment grows for every holder, in this process and "
          "in another") {
    constexpr std::size_t capacity = 1 << 20;
    auto shm = smh::create_anonymous<std::uint32_t, smh::growable>(16, {.capacity = capacity});
    CHECK(shm.size() == 16);
    CHECK(shm.capacity() == capacity);
    auto other = smh::attach_descriptor<std::uint32_t, smh::growable>(shm.descriptor());
    CHECK(error_of([&] { (void)smh::attach_descriptor<std::uint32_t>(shm.descriptor()); }) ==
          smh::errc::type_mismatch);
    other.grow(1000);
    other[999] = 5;
    CHECK(shm.size() == 1000);
    CHECK(shm[999] == 5);
    shm.grow(1 << 16);
    shm[(1 << 16) - 1] = 6;
    CHECK(other.size() == 1 << 16);
    CHECK(other[(1 << 16) - 1] == 6);
    // Another process, given the handle, grows it to its capacity.
    auto inheritable = duplicate(shm.descriptor(), 0, true);
    const auto child = smh_test::start_program({SMH_TEST_HELPER, "anon-grow",
                                                std::to_string(descriptor_of(inheritable.get())),
                                                std::to_string(capacity)},
                                               true);
    inheritable = win_handle();
    const auto result = smh_test::wait_for(child, 60s);
    REQUIRE(result.exited);
    CHECK(result.exit_code == 0);
    CHECK(shm.size() == capacity);
    CHECK(other.size() == capacity);
    CHECK(shm[capacity - 1] == capacity);
    CHECK(other[(1 << 16) - 1] == 6);
    CHECK(error_of([&] { shm.grow(capacity + 1); }) == smh::errc::invalid_length);
}

TEST_CASE("on Windows attach_descriptor refuses a handle of anything but an smh segment with "
          "corrupt_segment") {
    const auto refused = [](int fd) {
        const auto attached = error_of([&] { (void)smh::attach_descriptor<int>(fd); });
        const auto inspected = error_of([&] { (void)smh::inspect_descriptor(fd); });
        CHECK(inspected == smh::errc::corrupt_segment);
        return attached;
    };
    SECTION("an event") {
        const win_handle event(::CreateEventW(nullptr, TRUE, FALSE, nullptr));
        REQUIRE(event.get() != nullptr);
        CHECK(refused(descriptor_of(event.get())) == smh::errc::corrupt_segment);
    }
    SECTION("a section of zeros") {
        const auto section = raw_section(1 << 16, "");
        CHECK(refused(descriptor_of(section.get())) == smh::errc::corrupt_segment);
    }
    SECTION("a section of other bytes") {
        const auto section = raw_section(1 << 16, std::string(4096, 'x'));
        CHECK(refused(descriptor_of(section.get())) == smh::errc::corrupt_segment);
    }
    SECTION("a reserved section with nothing committed, not even a header") {
        const auto section = raw_section(1 << 16, "", true);
        CHECK(refused(descriptor_of(section.get())) == smh::errc::corrupt_segment);
    }
    SECTION("a reserved section whose header is valid but whose elements were never committed") {
        // 4000 ints: more than the page the header is on.
        auto bytes = smh_test::valid_segment_bytes(4000);
        const auto section = raw_section(bytes.size(), bytes.substr(0, 256), true);
        const auto attached =
            error_of([&] { (void)smh::attach_descriptor<int>(descriptor_of(section.get())); });
        CHECK(attached == smh::errc::corrupt_segment);
        CHECK(attached.what.find("committed") != std::string::npos);
    }
    SECTION("no handle at all: 0, a pseudo-handle, a closed handle") {
        CHECK(refused(0) == smh::errc::corrupt_segment);
        CHECK(refused(-1) == smh::errc::corrupt_segment); // GetCurrentProcess()
        int closed = 0;
        {
            const win_handle event(::CreateEventW(nullptr, TRUE, FALSE, nullptr));
            closed = descriptor_of(event.get());
        }
        CHECK(refused(closed) == smh::errc::corrupt_segment);
    }
}

TEST_CASE("on Windows a named segment's section handle attaches too, and grows with the "
          "named handle") {
    // Growers by handle know no name: they take the checksum's mutex, which
    // growers by name take too (growing.hpp).
    constexpr std::size_t capacity = 1 << 16;
    auto named = smh::create<std::uint32_t, smh::growable>(16, {.capacity = capacity});
    const win_handle section(::OpenFileMappingA(FILE_MAP_WRITE, FALSE, named.name().c_str()));
    REQUIRE(section.get() != nullptr);
    auto by_handle =
        smh::attach_descriptor<std::uint32_t, smh::growable>(descriptor_of(section.get()));
    CHECK(by_handle.name().empty());
    named.grow(1000);
    named[999] = 7;
    CHECK(by_handle.size() == 1000);
    CHECK(by_handle[999] == 7);
    by_handle.grow(capacity);
    by_handle[capacity - 1] = 8;
    CHECK(named.size() == capacity);
    CHECK(named[capacity - 1] == 8);
}
