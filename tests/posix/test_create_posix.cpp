// How a Linux create builds, names and maps its segment, on each of its
// paths: elements that are zero bytes (the header written with pwrite) and
// elements with a constructor (written through the mapping), each mapped
// again through its name once it has one; linked by descriptor, or through
// /proc/self/fd where the kernel refuses that; and what a failed mapping
// leaves.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstddef>
#include <cstdio>
#include <fstream>
#include <string>

#include "checks.hpp"

using smh::SharedMemoryHandlee;
using smh_test::child_check;
using smh_test::error_of;
using smh_test::mapped_file_at;
using smh_test::segment_exists;
using smh_test::unique_name;

namespace {

bool owner_lock_held(const std::string& name) {
    const smh::detail::segment_name checked(name, "test");
    const auto snapshot = smh::detail::os::read_header({"test", checked});
    return snapshot && snapshot->owner_lock_held;
}

struct initialised {
    std::int32_t value = 7;
};

#if defined(__x86_64__)
constexpr std::uint32_t this_arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr std::uint32_t this_arch = AUDIT_ARCH_AARCH64;
#else
constexpr std::uint32_t this_arch = 0;
#endif

// Makes this process's linkat(2) fail with ENOENT when its flags have
// `flag` set (AT_EMPTY_PATH: as Linux before 6.10 refuses an unprivileged
// caller; AT_SYMLINK_FOLLOW: the link through /proc/self/fd).
void refuse_linkat_with(unsigned flag) {
    const unsigned flags_low_word = offsetof(struct seccomp_data, args[4]);
    struct sock_filter program[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, this_arch, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_linkat, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, flags_low_word),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, flag, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOENT),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog filter {
        static_cast<unsigned short>(std::size(program)), program
    };
    child_check(::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "PR_SET_NO_NEW_PRIVS");
    child_check(::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &filter) == 0, "seccomp");
}

// Linux from 6.10 links a file its caller opened by descriptor, unprivileged.
bool kernel_links_by_descriptor() {
    struct utsname name {};
    int major = 0, minor = 0;
    return ::uname(&name) == 0 && std::sscanf(name.release, "%d.%d", &major, &minor) == 2 &&
           (major > 6 || (major == 6 && minor >= 10));
}

// A create, attach, write, read and destroy, checked in a child process.
void create_and_use(const std::string& name) {
    {
        auto created = SharedMemoryHandlee<int>::create(name, 1024);
        auto attached = SharedMemoryHandlee<int>::attach(name);
        attached[5] = 55;
        child_check(created[5] == 55, "the creator does not see the attacher's write");
        child_check(mapped_file_at(created.data().data()) == "/dev/shm/" + name,
                    "the owner's mapping is " + mapped_file_at(created.data().data()));
    }
    child_check(!segment_exists(name), "the owner's end left the name");
}

} // namespace

TEST_CASE("the owner's mapping shows /dev/shm/NAME and holds the owner's lock, whatever the "
          "elements") {
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    SECTION("elements that are zero bytes: the header written with pwrite") {
        auto created = SharedMemoryHandlee<int>::create(name, 1024);
        CHECK(mapped_file_at(created.data().data()) == "/dev/shm/" + name);
        CHECK(owner_lock_held(name));
        CHECK(std::all_of(created.begin(), created.end(), [](int e) { return e == 0; }));
    }
    SECTION("elements with a constructor: written through the mapping") {
        auto created = SharedMemoryHandlee<initialised>::create(name, 1024);
        CHECK(mapped_file_at(created.data().data()) == "/dev/shm/" + name);
        CHECK(owner_lock_held(name));
        CHECK(std::all_of(created.begin(), created.end(),
                          [](initialised e) { return e.value == 7; }));
    }
    SECTION("a growable segment, mapped to its capacity, grows in that mapping") {
        auto created = smh::create<int, smh::growable>(name, 16, {.capacity = 1 << 20});
        CHECK(mapped_file_at(created.data().data()) == "/dev/shm/" + name);
        CHECK(owner_lock_held(name));
        created.grow(1 << 20);
        created[(1 << 20) - 1] = 9;
        CHECK(mapped_file_at(&created[(1 << 20) - 1]) == "/dev/shm/" + name);
        CHECK(smh::attach<int, smh::growable>(name)[(1 << 20) - 1] == 9);
    }
    SECTION("an unreserved one") {
        auto created = SharedMemoryHandlee<int>::create(name, 1024, {.reserve = false});
        CHECK(mapped_file_at(created.data().data()) == "/dev/shm/" + name);
        CHECK(owner_lock_held(name));
    }
    CHECK(!segment_exists(name));
}

TEST_CASE("create links by descriptor, and through /proc/self/fd where the kernel refuses "
          "that (Linux before 6.10, unprivileged)") {
    if (this_arch == 0) return smh_test::skip("no seccomp filter written for this architecture");
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    SECTION("refused by descriptor: through /proc/self/fd") {
        smh_test::in_child([&] {
            refuse_linkat_with(AT_EMPTY_PATH);
            create_and_use(name);
            create_and_use(name); // once refused, asked no more: the same path
        });
    }
    SECTION("another user, with the link through /proc/self/fd refused: by descriptor") {
        if (::geteuid() != 0) return smh_test::skip("needs root to run a child as another user");
        if (!kernel_links_by_descriptor())
            return smh_test::skip("Linux before 6.10 refuses an unprivileged link by descriptor");
        smh_test::in_child([&] {
            smh_test::become_other_user();
            refuse_linkat_with(AT_SYMLINK_FOLLOW);
            create_and_use(name);
        });
    }
    CHECK(!segment_exists(name));
}

TEST_CASE("a create whose mapping fails throws and leaves no name") {
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    smh_test::in_child([&] {
        // Room for what the process maps already and a little more, not for 1 GiB.
        std::ifstream status("/proc/self/status");
        std::uint64_t mapped_kib = 0;
        for (std::string line; std::getline(status, line);)
            if (line.rfind("VmSize:", 0) == 0) mapped_kib = std::stoull(line.substr(7));
        child_check(mapped_kib != 0, "no VmSize in /proc/self/status");
        const rlim_t room = (mapped_kib + 64 * 1024) * 1024;
        struct rlimit limit {
            room, room
        };
        child_check(::setrlimit(RLIMIT_AS, &limit) == 0, "setrlimit(RLIMIT_AS)");
        const auto thrown = error_of([&] {
            (void)SharedMemoryHandlee<char>::create(name, std::size_t{1} << 30, {.reserve = false});
        });
        child_check(thrown == smh::errc::os_error,
                    "a mapping beyond RLIMIT_AS did not fail as such: " + thrown.what);
        child_check(thrown.what.find("mmap") != std::string::npos,
                    "the message does not name mmap: " + thrown.what);
        child_check(!segment_exists(name), "the failed create left its name");
    });
}
