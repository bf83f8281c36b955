// The edges a hostile local user, a crash or a container reaches: names that
// appear only for finished segments, calls that never block or kill, errors
// named for what happened, bounded ownership, liveness across pid
// namespaces. (Signals and exits: test_termination.cpp; the CLI: test_cli.cpp.)
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <thread>

#include "checks.hpp"

using smh::SharedMemoryHandlee;
using smh_test::child_check;
using smh_test::error_of;
using smh_test::segment_exists;
using smh_test::unique_name;
using namespace std::chrono_literals;

namespace {

bool is_root() { return ::geteuid() == 0; }

// Elements with a default member initialiser: create writes every one, so a
// segment seen before create finished would show zeros.
struct Initialised {
    std::uint64_t marker = 0x5eed;
    std::uint64_t payload[7] = {};
};

std::string shm_path(const std::string& name) { return "/dev/shm/" + name; }

// Names in /dev/shm that a create being built under a temporary name leaves.
std::vector<std::string> building_leftovers() {
    return smh_test::shm_entries(std::string(smh::detail::building_name_prefix));
}

// How long `operation` took.
template <class F>
std::chrono::steady_clock::duration time_of(F&& operation) {
    const auto start = std::chrono::steady_clock::now();
    operation();
    return std::chrono::steady_clock::now() - start;
}

} // namespace

// --- 1. a name appears only for a finished segment ---------------------------

TEST_CASE("an attach racing a loop that creates and destroys one name sees not_found or a "
          "whole segment, never a half-made one") {
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    smh_test::child_process creator([&] {
        const auto until = std::chrono::steady_clock::now() + 2s;
        while (std::chrono::steady_clock::now() < until)
            (void)SharedMemoryHandlee<Initialised>::create(name, 4096);
    });
    int whole = 0, missing = 0, other = 0;
    std::string first_other;
    const auto until = std::chrono::steady_clock::now() + 2s;
    while (std::chrono::steady_clock::now() < until) {
        try {
            const auto shm =
                SharedMemoryHandlee<Initialised>::attach(name, {.creation_timeout = 0ms});
            const bool all_set =
                shm.size() == 4096 && std::all_of(shm.begin(), shm.end(), [](const Initialised& e) {
                    return e.marker == 0x5eed;
                });
            (all_set ? whole : other) += 1;
        } catch (const smh::error& e) {
            if (e.code() == smh::errc::not_found) {
                ++missing;
            } else {
                if (other++ == 0) first_other = e.what();
            }
        }
    }
    smh_test::expect_success(creator, 20s);
    INFO("first other outcome: " << first_other);
    CHECK(other == 0);
    CHECK(whole > 0);
    CHECK(missing > 0);
}

TEST_CASE("a creator killed at any instant of create leaves nothing, or a finished orphan that "
          "remove_orphans() removes",
          "[orphans]") {
    std::mt19937 random(std::random_device{}());
    std::uniform_int_distribution<int> delay_us(0, 3000);
    int left_finished = 0;
    for (int round = 0; round < 150; ++round) {
        const auto name = unique_name();
        smh_test::segment_guard guard(name);
        smh_test::child_process creator([&] {
            // 4 MiB, reserved: long enough for kills to land inside create.
            const auto shm = SharedMemoryHandlee<char>::create(name, 4 << 20);
            for (;;) ::pause();
        });
        std::this_thread::sleep_for(std::chrono::microseconds(delay_us(random)));
        ::kill(creator.pid(), SIGKILL);
        REQUIRE(creator.wait(10s).signal == SIGKILL);
        if (!segment_exists(name)) continue;
        // Whatever has the name is finished: a ready header an attach accepts.
        const auto info = smh::inspect(name);
        CHECK(info.ready);
        CHECK(info.element_count == std::size_t{4} << 20);
        CHECK_FALSE(info.owner_alive);
        CHECK_NOTHROW(SharedMemoryHandlee<char>::attach(name));
        const auto removed = smh::remove_orphans();
        CHECK(std::count(removed.begin(), removed.end(), name) == 1);
        ++left_finished;
    }
    CHECK(building_leftovers().empty());
    CHECK(smh_test::shm_entries(smh_test::name_prefix()).empty());
    INFO(left_finished << " of 150 creators were killed after publishing");
}

TEST_CASE("without /proc to link an unnamed file, create builds under a hidden name and "
          "publishes only the finished segment") {
    if (!is_root()) return smh_test::skip("needs root to hide /proc in a private mount namespace");
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    smh_test::in_child([&] {
        smh_test::mount_private_tmpfs("/proc", "size=1m"); // hides /proc
        auto shm = SharedMemoryHandlee<Initialised>::create(name, 100);
        child_check(segment_exists(name), "the name does not exist");
        const auto attached = SharedMemoryHandlee<Initialised>::attach(name);
        child_check(attached[99].marker == 0x5eed, "elements not constructed");
        child_check(building_leftovers().empty(), "the temporary name is still there");
        child_check(error_of([&] { (void)SharedMemoryHandlee<int>::create(name, 1); }) ==
                        smh::errc::already_exists,
                    "a second create of the name did not throw already_exists");
        child_check(building_leftovers().empty(), "the failed second create left a temporary name");
    });
    CHECK_FALSE(segment_exists(name)); // the owner's destructor removed it
}

TEST_CASE("without /proc, create chooses its path before building: a segment of more than half "
          "the free space fits") {
    if (!is_root()) return smh_test::skip("needs root to hide /proc in a private mount namespace");
    const auto name = unique_name();
    smh_test::in_child([&] {
        smh_test::mount_private_tmpfs("/dev/shm", "size=100m");
        smh_test::mount_private_tmpfs("/proc", "size=1m"); // hides /proc
        // Built once: 60 MiB of 100; built twice, it would need 120.
        auto shm = SharedMemoryHandlee<std::uint8_t>::create(name, std::size_t{60} << 20);
        child_check(segment_exists(name), "the name does not exist");
        child_check(building_leftovers().empty(), "the temporary name is still there");
    });
}

TEST_CASE("remove_orphans() removes what a builder that died left under a temporary name, and "
          "nothing a live builder holds",
          "[orphans]") {
    const auto abandoned = std::string(smh::detail::building_name_prefix) + "0123456789abcdef";
    const auto building = std::string(smh::detail::building_name_prefix) + "fedcba9876543210";
    smh_test::segment_guard guard_abandoned(abandoned), guard_building(building);
    const int dead = ::open(shm_path(abandoned).c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    REQUIRE(dead >= 0);
    ::close(dead); // its builder is gone: no lock
    const int live = ::open(shm_path(building).c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    REQUIRE(live >= 0);
    REQUIRE(smh::detail::os::take_owner_lock(live));

    // Young leftovers are left alone: a builder locks its file right after creating it.
    const auto young = smh::remove_orphans();
    CHECK(std::count(young.begin(), young.end(), abandoned) == 0);
    std::this_thread::sleep_for(smh::detail::os::building_lock_grace + 200ms);
    const auto removed = smh::remove_orphans();
    CHECK(std::count(removed.begin(), removed.end(), abandoned) == 1);
    CHECK(std::count(removed.begin(), removed.end(), building) == 0);
    CHECK_FALSE(segment_exists(abandoned));
    CHECK(segment_exists(building));
    ::close(live);
    // And no smh function takes such a name.
    CHECK(error_of([&] { (void)SharedMemoryHandlee<int>::create(building, 1); }) ==
          smh::errc::invalid_name);
}

// --- 2. no call blocks ---------------------------------------------------------

TEST_CASE("a FIFO planted under the name is corrupt_segment at once, for every call") {
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    REQUIRE(::mkfifo(shm_path(name).c_str(), 0666) == 0);
    // In a child, so that a regression blocks the child, not the suite.
    smh_test::in_child(
        [&] {
            const auto took = time_of([&] {
                child_check(error_of([&] { (void)SharedMemoryHandlee<const int>::attach(name); }) ==
                                smh::errc::corrupt_segment,
                            "a read-only attach");
                child_check(error_of([&] { (void)SharedMemoryHandlee<int>::attach(name); }) ==
                                smh::errc::corrupt_segment,
                            "attach");
                child_check(error_of([&] { (void)smh::inspect(name); }) ==
                                smh::errc::corrupt_segment,
                            "inspect()");
                child_check(error_of([&] { smh::remove(name); }) == smh::errc::corrupt_segment,
                            "remove()");
                (void)smh::list();
            });
            // Never blocked in open(2) (before the fix: for ever).
            child_check(took < 2s, "the calls took longer than 2 s");
        },
        10s);
}

TEST_CASE("a file whose owner holds a lease fails at once with permission_denied instead of "
          "waiting for the lease to break") {
    const auto name = unique_name();
    const auto raw = smh_test::write_raw_segment(name, smh_test::valid_segment_bytes(4));
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    // Killed when it goes out of scope.
    smh_test::child_process holder([&] {
        ::signal(SIGIO, SIG_IGN); // a lease break is announced with SIGIO
        const int fd = ::open(shm_path(name).c_str(), O_RDWR);
        const char ok = fd >= 0 && ::fcntl(fd, F_SETLEASE, F_WRLCK) == 0 ? 'y' : 'n';
        (void)!::write(ready[1], &ok, 1);
        for (;;) ::pause();
    });
    char ok = 0;
    REQUIRE(::read(ready[0], &ok, 1) == 1);
    ::close(ready[0]);
    ::close(ready[1]);
    if (ok == 'y') {
        const auto took = time_of([&] {
            CHECK(error_of([&] { (void)SharedMemoryHandlee<int>::attach(name); }) ==
                  smh::errc::permission_denied);
            CHECK(error_of([&] { (void)SharedMemoryHandlee<const int>::attach(name); }) ==
                  smh::errc::permission_denied);
            CHECK(error_of([&] { (void)smh::inspect(name); }) == smh::errc::permission_denied);
        });
        CHECK(took < 5s); // not the 45 s lease-break time
    } else {
        smh_test::skip("this filesystem or user cannot take a lease (F_SETLEASE)");
    }
}

TEST_CASE("a symbolic link or a directory under the name is corrupt_segment, never followed") {
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    const auto target = SharedMemoryHandlee<int>::create(4);
    SECTION("a symbolic link to a real segment") {
        REQUIRE(::symlink(shm_path(target.name()).c_str(), shm_path(name).c_str()) == 0);
    }
    SECTION("a directory") { REQUIRE(::mkdir(shm_path(name).c_str(), 0700) == 0); }
    const auto thrown = error_of([&] { (void)SharedMemoryHandlee<int>::attach(name); });
    CHECK(thrown == smh::errc::corrupt_segment);
    CHECK_THAT(thrown.what, Catch::Contains(name));
    CHECK(error_of([&] { (void)SharedMemoryHandlee<const int>::attach(name); }) ==
          smh::errc::corrupt_segment);
    CHECK(error_of([&] { (void)smh::inspect(name); }) == smh::errc::corrupt_segment);
    ::rmdir(shm_path(name).c_str());
}

TEST_CASE("a name always holds a finished segment on POSIX: one marked unfinished is "
          "corrupt_segment at once, whatever the creation timeout") {
    const auto name = unique_name();
    std::string bytes = smh_test::valid_segment_bytes(10);
    SECTION("marked as being created") {
        smh_test::header_of(bytes).state = smh::detail::state_creating;
    }
    SECTION("all zeros") { bytes.assign(4096, '\0'); }
    const auto raw = smh_test::write_raw_segment(name, bytes);
    for (const auto timeout :
         {smh::attach_options{}.creation_timeout, 0ms, std::chrono::milliseconds::max()}) {
        const auto took = time_of([&] {
            CHECK(error_of([&] {
                      (void)SharedMemoryHandlee<int>::attach(name, {.creation_timeout = timeout});
                  }) == smh::errc::corrupt_segment);
        });
        CHECK(took < 500ms); // no wait (before the fix: 1 s for a segment never written)
    }
}

TEST_CASE("a creation timeout of milliseconds::max() saturates instead of overflowing") {
    const auto now = std::chrono::steady_clock::now();
    CHECK(smh::detail::os::saturating_deadline(now, std::chrono::milliseconds::max()) ==
          std::chrono::steady_clock::time_point::max());
    CHECK(smh::detail::os::saturating_deadline(now, 5s) == now + 5s);
    const auto shm = SharedMemoryHandlee<int>::create(3);
    CHECK(SharedMemoryHandlee<int>::attach(shm.name(),
                                           {.creation_timeout = std::chrono::milliseconds::max()})
              .size() == 3);
}

// --- 3. no call kills the caller -------------------------------------------------

TEST_CASE("create beyond the file-size limit (RLIMIT_FSIZE) throws no_space instead of dying of "
          "SIGXFSZ, and leaves nothing") {
    // A death by SIGXFSZ fails it too, as a signal.
    smh_test::in_child([] {
        const struct rlimit limit { 1 << 20, 1 << 20 };
        child_check(::setrlimit(RLIMIT_FSIZE, &limit) == 0, "setrlimit");
        const auto thrown = error_of([] { (void)SharedMemoryHandlee<char>::create(4 << 20); });
        child_check(thrown == smh::errc::no_space, "no no_space: " + thrown.what);
        child_check(thrown.what.find("RLIMIT_FSIZE") != std::string::npos, thrown.what);
        child_check(smh_test::segments_created_by(::getpid()).empty(), "left a segment");
        struct sigaction action {};
        ::sigaction(SIGXFSZ, nullptr, &action);
        child_check(action.sa_handler == SIG_DFL, "SIGXFSZ handling changed");
        // What fits under the limit still works.
        auto fits = SharedMemoryHandlee<char>::create(64 << 10);
        fits[0] = 'x';
    });
}

// --- 4. every error named for what happened ----------------------------------------

TEST_CASE("inspect() and remove() of another user's segment say permission_denied") {
    if (!is_root()) return smh_test::skip("needs root to run a child as another user");
#ifdef SMH_CLI
    const smh_test::program_for_other_user cli(SMH_CLI);
    if (!cli) return smh_test::skip(cli.why_not());
#endif
    const auto shm = SharedMemoryHandlee<int>::create(4); // 0600, root's
    smh_test::in_child([&] {
        smh_test::become_other_user();
        const auto thrown = error_of([&] { (void)smh::inspect(shm.name()); });
        child_check(thrown == smh::errc::permission_denied, "inspect(): " + thrown.what);
        child_check(error_of([&] { smh::remove(shm.name()); }) == smh::errc::permission_denied,
                    "remove()");
        // list() skips what this user may not read, without failing.
        for (const auto& info : smh::list())
            child_check(info.name != shm.name(), "listed another user's segment");
#ifdef SMH_CLI
        const auto inspected = smh_test::run_captured({cli.path(), "inspect", shm.name()});
        child_check(inspected.result.exit_code == 1 &&
                        inspected.err.find("permission_denied") != std::string::npos,
                    "smh inspect: " + inspected.err);
#endif
    });
    CHECK(segment_exists(shm.name()));
}

TEST_CASE("with no descriptor left, attach, inspect(), remove(), list() and remove_orphans() "
          "throw errc::os_error with the native code, never an empty answer") {
    if (smh_test::sanitized_build) {
        // UBSan checks each virtual call through a pipe(2), which fails with
        // no descriptor left, and then reports a false "invalid vptr".
        return smh_test::skip("UndefinedBehaviorSanitizer cannot run with no descriptor left");
    }
    const auto shm = SharedMemoryHandlee<int>::create(4);
    smh_test::in_child([&] {
        const struct rlimit none { 0, 0 };
        child_check(::setrlimit(RLIMIT_NOFILE, &none) == 0, "setrlimit");
        auto emfile = [](const char* call, auto&& operation) {
            const auto thrown = error_of(operation);
            child_check(thrown == smh::errc::os_error &&
                            thrown.native_code == std::error_code(EMFILE, std::system_category()),
                        std::string(call) + ": " + thrown.what);
            return thrown;
        };
        const auto attach =
            emfile("attach", [&] { (void)SharedMemoryHandlee<int>::attach(shm.name()); });
        child_check(attach.what.find(shm.name()) != std::string::npos,
                    "attach's message does not name the segment: " + attach.what);
        emfile("list()", [] { (void)smh::list(); });
        emfile("remove_orphans()", [] { (void)smh::remove_orphans(); });
        emfile("inspect()", [&] { (void)smh::inspect(shm.name()); });
        emfile("remove()", [&] { smh::remove(shm.name()); });
    });
    CHECK(segment_exists(shm.name()));
}

TEST_CASE("an unreadable shared-memory directory makes list(), remove_orphans() and smh gc "
          "fail, saying why") {
    if (!is_root())
        return smh_test::skip("needs root for a private /dev/shm another user may not read");
#ifdef SMH_CLI
    const smh_test::program_for_other_user cli(SMH_CLI);
    if (!cli) return smh_test::skip(cli.why_not());
#endif
    smh_test::in_child([&] {
        smh_test::mount_private_tmpfs("/dev/shm", "size=1m,mode=0700");
        smh_test::become_other_user();
        const auto thrown = error_of([] { (void)smh::list(); });
        child_check(thrown == smh::errc::permission_denied, "list(): " + thrown.what);
        child_check(thrown.what.find("/dev/shm") != std::string::npos, thrown.what);
        child_check(error_of([] { (void)smh::remove_orphans(); }) == smh::errc::permission_denied,
                    "remove_orphans()");
#ifdef SMH_CLI
        const auto gc = smh_test::run_captured({cli.path(), "gc"});
        child_check(gc.result.exit_code == 1, "smh gc did not exit 1");
        child_check(gc.err.find("permission_denied") != std::string::npos, gc.err);
        child_check(gc.out.find("no orphaned segments") == std::string::npos,
                    "smh gc claimed there was nothing");
#endif
    });
}

// --- 5. ownership: bounded and exact -------------------------------------------------

TEST_CASE("an owner change left naming a live process is taken over after a bounded wait, or "
          "collected",
          "[orphans]") {
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    auto shm = SharedMemoryHandlee<int>::create(name, 4);
    REQUIRE(shm.release());
    // A claim that never ends: its pid is alive (init), reused or forged.
    const std::int64_t claimed_by_the_living = -1;
    smh_test::overwrite_raw_segment(
        name, offsetof(smh::detail::segment_header, owner_pid),
        {reinterpret_cast<const char*>(&claimed_by_the_living), sizeof claimed_by_the_living});

    SECTION("take_ownership() takes it") {
        auto taker = smh::attach<int>(name);
        const auto took = time_of([&] { taker.take_ownership(); });
        CHECK(taker.is_owner());
        CHECK(took < smh::detail::abandoned_claim_after + 1s);
    }
    SECTION("adopt() takes it") {
        auto adopter = smh::attach<int>(name);
        CHECK(adopter.adopt());
        CHECK(adopter.is_owner());
    }
    SECTION("remove_orphans() removes it") {
        const auto removed = smh::remove_orphans();
        CHECK(std::count(removed.begin(), removed.end(), name) == 1);
        CHECK_FALSE(segment_exists(name));
    }
}

TEST_CASE("an object that lost ownership never disturbs the owner: the owner's name is removed "
          "and is_owner() stays true") {
    SECTION("the old owner's destructor races the new owner's") {
        int leaked = 0;
        for (int round = 0; round < 1000; ++round) {
            const auto name = unique_name();
            smh_test::segment_guard guard(name);
            std::optional<SharedMemoryHandlee<int>> old_owner(
                SharedMemoryHandlee<int>::create(name, 1));
            std::optional<SharedMemoryHandlee<int>> new_owner(
                SharedMemoryHandlee<int>::attach(name));
            new_owner->take_ownership();
            std::atomic<int> go{0};
            std::thread other([&] {
                go.fetch_add(1);
                while (go.load() < 2) {}
                old_owner.reset();
            });
            go.fetch_add(1);
            while (go.load() < 2) {}
            new_owner.reset();
            other.join();
            leaked += segment_exists(name);
        }
        CHECK(leaked == 0);
    }
    SECTION("the old owner calls release() while the new owner asks is_owner()") {
        const auto name = unique_name();
        smh_test::segment_guard guard(name);
        auto old_owner = SharedMemoryHandlee<int>::create(name, 1);
        auto new_owner = SharedMemoryHandlee<int>::attach(name);
        new_owner.take_ownership();
        std::atomic<bool> stop{false};
        std::thread other([&] {
            while (!stop.load()) (void)old_owner.release();
        });
        int wrong = 0;
        for (int i = 0; i < 200'000; ++i) wrong += !new_owner.is_owner();
        stop = true;
        other.join();
        CHECK(wrong == 0);
    }
}

TEST_CASE("hostile owner and time fields are read without overflow by list, inspect, adopt and "
          "remove_orphans",
          "[orphans]") {
    const auto name = unique_name();
    auto header = smh::detail::make_header(smh::detail::element_identity::of<int>(), 4, 1, 0, 1,
                                           std::uint64_t{1} << 63);
    header.state = smh::detail::state_ready;
    header.creator_pid = std::numeric_limits<std::int64_t>::min();
    header.checksum = smh::detail::header_checksum(header);
    header.owner_pid = std::numeric_limits<std::int64_t>::min(); // not covered by the checksum
    header.owner_start_time = std::numeric_limits<std::uint64_t>::max();
    std::string bytes(header.data_offset + 4 * sizeof(int), '\0');
    std::memcpy(bytes.data(), &header, sizeof header);
    const auto raw = smh_test::write_raw_segment(name, bytes);

    const auto info = smh::inspect(name);
    CHECK(info.owner_pid == std::numeric_limits<std::int64_t>::min());
    CHECK_FALSE(info.owner_alive); // a claim by no process at all
    const auto listed = smh::list();
    CHECK(std::count_if(listed.begin(), listed.end(),
                        [&](const smh::segment_info& s) { return s.name == name; }) == 1);
    SECTION("adopt() takes it over") {
        auto adopter = SharedMemoryHandlee<int>::attach(name);
        CHECK(adopter.adopt());
        CHECK(adopter.is_owner());
        adopter.unlink();
    }
    SECTION("remove_orphans() removes it") {
        const auto removed = smh::remove_orphans();
        CHECK(std::count(removed.begin(), removed.end(), name) == 1);
    }
}

// --- 6. liveness that survives containers ----------------------------------------------

namespace {

bool can_unshare_pids() {
    return is_root() && ::access("/usr/bin/unshare", X_OK) == 0 &&
           smh_test::run_program({"/usr/bin/unshare", "--pid", "--fork", "/bin/true"}).exit_code ==
               0;
}

} // namespace

TEST_CASE("an owner in another pid namespace that sees this /proc is alive while it runs, and "
          "its segment is collected once it dies",
          "[orphans]") {
    if (!can_unshare_pids())
        return smh_test::skip(
            "needs root and unshare(1) to start a process in a new pid namespace");
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    // unshare --pid without --mount-proc: the owner is pid 1 in its namespace
    // and reads this namespace's /proc, where pid 1 is another process.
    const pid_t unshare = smh_test::start_program(
        {"/usr/bin/unshare", "--pid", "--kill-child", SMH_TEST_HELPER, "create-wait", name, "4"});
    struct kill_on_exit {
        pid_t pid;
        explicit kill_on_exit(pid_t p)
            : pid(p) {}
        kill_on_exit(const kill_on_exit&) = delete;
        kill_on_exit& operator=(const kill_on_exit&) = delete;
        ~kill_on_exit() {
            ::kill(pid, SIGKILL); // --kill-child: the owner gets SIGKILL too
            smh_test::wait_for(pid, 10s);
        }
    };
    std::optional<kill_on_exit> owner_process;
    owner_process.emplace(unshare);
    for (int i = 0; i < 5000 && !segment_exists(name); ++i) std::this_thread::sleep_for(1ms);
    REQUIRE(segment_exists(name));
    const auto info = smh::inspect(name);
    CHECK(info.owner_pid == 1);
    CHECK(info.owner_alive);
    auto removed = smh::remove_orphans();
    CHECK(std::count(removed.begin(), removed.end(), name) == 0);
    CHECK(segment_exists(name));
    // Shared with it: the helper writes 7 right after its create returns.
    auto attached = SharedMemoryHandlee<int>::attach(name);
    for (int i = 0; i < 5000 && std::atomic_ref(attached[0]).load() != 7; ++i)
        std::this_thread::sleep_for(1ms);
    CHECK(std::atomic_ref(attached[0]).load() == 7);

    owner_process.reset();
    bool collected = false;
    for (int i = 0; i < 200 && !collected; ++i) {
        removed = smh::remove_orphans();
        collected = std::count(removed.begin(), removed.end(), name) == 1;
        if (!collected) std::this_thread::sleep_for(10ms);
    }
    CHECK(collected);
    CHECK_FALSE(segment_exists(name));
}

TEST_CASE("remove_orphans() run in another pid namespace leaves this namespace's live owners "
          "alone",
          "[orphans]") {
    if (!can_unshare_pids())
        return smh_test::skip(
            "needs root and unshare(1) to start a process in a new pid namespace");
    std::vector<std::string> command{"/usr/bin/unshare", "--pid", "--fork"};
    SECTION("a namespace that sees this /proc") {}
    SECTION("a namespace with its own /proc, where this owner's pid means nothing") {
        command.push_back("--mount-proc");
    }
    const auto shm = SharedMemoryHandlee<int>::create(4);
    command.insert(command.end(), {SMH_TEST_HELPER, "remove-orphans"});
    const auto gc = smh_test::run_captured(command);
    CHECK(gc.result.exit_code == 0);
    CHECK(gc.out.find(shm.name()) == std::string::npos);
    CHECK(segment_exists(shm.name()));
}

// --- found by review ---------------------------------------------------------------------

TEST_CASE("a forked child that takes ownership holds a lock of its own, which its parent "
          "cannot drop") {
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    auto shm =
        std::make_unique<SharedMemoryHandlee<int>>(SharedMemoryHandlee<int>::create(name, 4));
    int took[2], done[2];
    REQUIRE(::pipe(took) == 0);
    REQUIRE(::pipe(done) == 0);
    // The child's end runs no destructor of the parent's objects: the owner "dies".
    smh_test::child_process child([&] {
        shm->take_ownership();
        const char ok = shm->is_owner() ? 'y' : 'n';
        (void)!::write(took[1], &ok, 1);
        char byte = 0;
        (void)!::read(done[0], &byte, 1);
    });
    char ok = 0;
    REQUIRE(::read(took[0], &ok, 1) == 1);
    CHECK(ok == 'y');
    shm.reset(); // the parent's object, no longer the owner, gives up its lock
    const smh::detail::segment_name checked(name, "test");
    const auto header = smh::detail::os::read_header({"test", checked});
    REQUIRE(header);
    CHECK(header->owner_lock_held); // the child's own lock
    CHECK(smh::inspect(name).owner_alive);
    (void)!::write(done[1], "x", 1);
    smh_test::expect_success(child, 10s);
    for (int fd : {took[0], took[1], done[0], done[1]}) ::close(fd);
    CHECK_FALSE(smh::detail::os::read_header({"test", checked})->owner_lock_held);
}

TEST_CASE("cleanup_on_termination() leaves the program's own signal handlers exactly as they "
          "were") {
    smh_test::in_child([] {
        struct sigaction own {};
        own.sa_handler = [](int) {};
        own.sa_flags = SA_RESETHAND | SA_NODEFER; // and no SA_RESTART
        sigemptyset(&own.sa_mask);
        sigaddset(&own.sa_mask, SIGUSR1);
        child_check(::sigaction(SIGUSR2, &own, nullptr) == 0, "sigaction");
        smh::cleanup_on_termination();
        struct sigaction after {};
        ::sigaction(SIGUSR2, nullptr, &after);
        child_check(after.sa_handler == own.sa_handler, "the handler changed");
        child_check((after.sa_flags & (SA_RESETHAND | SA_NODEFER | SA_RESTART)) ==
                        (SA_RESETHAND | SA_NODEFER),
                    "the flags changed");
        child_check(sigismember(&after.sa_mask, SIGUSR1) == 1, "the mask changed");
    });
}

TEST_CASE("adopt() and take_ownership() stay bounded while a hostile writer keeps changing the "
          "owner record") {
    const auto name = unique_name();
    smh_test::segment_guard guard(name);
    auto creator = SharedMemoryHandlee<int>::create(name, 4);
    REQUIRE(creator.release());
    auto adopter = SharedMemoryHandlee<int>::attach(name);
    // Another mapping of the header, written as a hostile process would.
    auto writer = SharedMemoryHandlee<int>::attach(name);
    auto* header = reinterpret_cast<smh::detail::segment_header*>(
        reinterpret_cast<std::byte*>(writer.data().data()) -
        smh::detail::data_offset_for(alignof(int)));
    std::atomic<bool> stop{false};
    std::thread hostile([&] {
        // Two claims by live processes (init and this one), in turn.
        for (std::int64_t claim = -1; !stop.load(); claim = claim == -1 ? -::getpid() : -1) {
            std::atomic_ref(header->owner_pid).store(claim);
            std::this_thread::sleep_for(20ms);
        }
    });
    SECTION("adopt()") {
        const auto took = time_of([&] { (void)adopter.adopt(); });
        CHECK(took < 3s);
    }
    SECTION("take_ownership()") {
        const auto took = time_of([&] {
            const auto outcome = error_of([&] { adopter.take_ownership(); });
            CHECK((outcome == smh::errc{} || outcome == smh::errc::corrupt_segment));
        });
        CHECK(took < 3s);
    }
    stop = true;
    hostile.join();
    std::atomic_ref(header->owner_pid).store(0);
    (void)adopter.unlink();
}
