// wait, wait_for, notify_one and notify_all between processes: spawned
// helpers (a new image, the segment mapped wherever it lands) wait on
// elements this process changes, and the other way round.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;

namespace {

using program = decltype(smh_test::start_program({}));

// Exit codes of the helper's `wait` (tests/support/helper.cpp).
constexpr int woken = 0;
constexpr int seen_at_deadline = 5;
constexpr int timed_out = 4;

// Spawned waiters, each of which counts itself in `ready` before it waits.
class spawned_waiters {
public:
    spawned_waiters()
        : ready_(smh::create<std::atomic<std::uint32_t>>(1)) {}

    // Starts a helper waiting on element `index` of `name` while it is `old`;
    // `timeout` is milliseconds or "forever".
    void start(const std::string& bits, const std::string& name, std::size_t index,
               std::uint64_t old, const std::string& timeout, const std::string& mode = "rw",
               const std::string& helper = SMH_TEST_HELPER) {
        running_.push_back(
            smh_test::start_program({helper, "wait", bits, name, std::to_string(index),
                                     std::to_string(old), timeout, mode, ready_.name()}));
    }

    // Returns once every started waiter has counted itself, and has had time
    // to fall asleep.
    void await_all() {
        const auto count = static_cast<std::uint32_t>(running_.size());
        for (std::uint32_t seen; (seen = ready_[0].load()) < count;)
            REQUIRE(ready_.wait_for(0, seen, 30s));
        std::this_thread::sleep_for(100ms);
    }

    // Each waiter's exit code, in the order they were started.
    std::vector<int> exit_codes() {
        std::vector<int> codes;
        for (const auto& waiter : running_) {
            const auto result = smh_test::wait_for(waiter, 60s);
            codes.push_back(result.exited ? result.exit_code : -1);
        }
        running_.clear();
        return codes;
    }

    const std::string& ready_name() const { return ready_.name(); }
    std::vector<program>& running() { return running_; }

private:
    smh::SharedMemoryHandlee<std::atomic<std::uint32_t>> ready_;
    std::vector<program> running_;
};

template <class U>
std::string bits_of() {
    return sizeof(U) == 4 ? "32" : "64";
}

} // namespace

TEMPLATE_TEST_CASE("a spawned waiter wakes when this process stores and notifies", "[wait]",
                   std::uint32_t, std::uint64_t) {
    const std::string mode = GENERATE("rw", "ro");
    const bool all = GENERATE(true, false);
    auto shm = smh::create<std::atomic<TestType>>(8);
    spawned_waiters waiters;
    waiters.start(bits_of<TestType>(), shm.name(), 3, 0, "forever", mode);
    waiters.await_all();
    shm[3].store(1);
    if (all)
        shm.notify_all(3);
    else
        shm.notify_one(3);
    CHECK(waiters.exit_codes() == std::vector<int>{woken});
}

TEMPLATE_TEST_CASE("a spawned wait_for times out when nobody changes the element, and not "
                   "before",
                   "[wait]", std::uint32_t, std::uint64_t) {
    auto shm = smh::create<std::atomic<TestType>>(2);
    spawned_waiters waiters;
    waiters.start(bits_of<TestType>(), shm.name(), 1, 0, "300");
    waiters.start(bits_of<TestType>(), shm.name(), 1, 0, "300", "ro");
    waiters.await_all();
    shm.notify_all(1); // a notify without a change wakes no one for good
    CHECK(waiters.exit_codes() == std::vector<int>{timed_out, timed_out});
}

TEMPLATE_TEST_CASE("notify_all wakes every spawned waiter on one element", "[wait]", std::uint32_t,
                   std::uint64_t) {
    auto shm = smh::create<std::atomic<TestType>>(1);
    spawned_waiters waiters;
    for (int i = 0; i < 4; ++i) waiters.start(bits_of<TestType>(), shm.name(), 0, 7, "20000");
    waiters.start(bits_of<TestType>(), shm.name(), 0, 7, "20000", "ro");
    waiters.await_all();
    shm[0].store(8);
    shm.notify_all(0);
    CHECK(waiters.exit_codes() == std::vector<int>(5, woken));
}

TEMPLATE_TEST_CASE("waiters on different elements of one segment wake for their own element "
                   "only",
                   "[wait]", std::uint32_t, std::uint64_t) {
    auto shm = smh::create<std::atomic<TestType>>(4);
    spawned_waiters waiters;
    for (std::size_t i = 0; i < 4; ++i)
        waiters.start(bits_of<TestType>(), shm.name(), i, 0, "1500");
    waiters.await_all();
    shm[2].store(9);
    shm.notify_one(2);
    CHECK(waiters.exit_codes() == std::vector<int>{timed_out, timed_out, woken, timed_out});
}

#if defined(__linux__)
TEST_CASE("on Linux notify_one wakes exactly one waiter of a 4-byte element", "[wait]") {
    auto shm = smh::create<std::atomic<std::uint32_t>>(1);
    spawned_waiters waiters;
    waiters.start("32", shm.name(), 0, 0, "1500");
    waiters.start("32", shm.name(), 0, 0, "1500");
    waiters.await_all();
    shm[0].store(1);
    shm.notify_one(0);
    auto codes = waiters.exit_codes();
    std::sort(codes.begin(), codes.end());
    // The other one sleeps on until its deadline, then sees the new value.
    CHECK(codes == std::vector<int>{woken, seen_at_deadline});
}
#endif

TEST_CASE("waiters with wait_for outlive a notifier that dies", "[wait]") {
    auto shm = smh::create<std::atomic<std::uint32_t>>(2);
    spawned_waiters waiters;
    waiters.start("32", shm.name(), 0, 0, "800");
    SECTION("before it stored anything") {
        const auto notifier = smh_test::start_program(
            {SMH_TEST_HELPER, "notify", "32", shm.name(), "0", "5", waiters.ready_name(), "99"});
        waiters.await_all();
        smh_test::kill_program(notifier);
        CHECK(smh_test::wait_for(notifier, 60s).exit_code != 0); // killed, not done
        CHECK(waiters.exit_codes() == std::vector<int>{timed_out});
    }
    SECTION("after it stored, before it notified") {
        waiters.await_all();
        shm[0].store(5); // and no notify: the waiter sees it at its deadline
        CHECK(waiters.exit_codes() == std::vector<int>{seen_at_deadline});
    }
}

TEST_CASE("a waiter killed while it waits leaves the segment usable", "[wait]") {
    auto shm = smh::create<std::atomic<std::uint64_t>>(1);
    {
        spawned_waiters killed;
        killed.start("64", shm.name(), 0, 0, "forever");
        killed.await_all();
        for (const auto& waiter : killed.running()) smh_test::kill_program(waiter);
        killed.exit_codes();
    }
    spawned_waiters waiters;
    waiters.start("64", shm.name(), 0, 0, "20000");
    waiters.await_all();
    shm[0].store(3);
    shm.notify_all(0);
    CHECK(waiters.exit_codes() == std::vector<int>{woken});
}

TEST_CASE("this process waits while a spawned program stores and notifies", "[wait]") {
    auto shm = smh::create<std::atomic<std::uint64_t>>(2);
    auto ready = smh::create<std::atomic<std::uint32_t>>(1);
    const auto notifier = smh_test::start_program(
        {SMH_TEST_HELPER, "notify", "64", shm.name(), "1", "42", ready.name(), "1"});
    ready[0].fetch_add(1);
    ready.notify_all(0);
    shm.wait(1, 0);
    CHECK(shm[1].load() == 42);
    CHECK(smh_test::wait_for(notifier, 60s).exit_code == 0);
}

TEST_CASE("wait and wait_for return at once when the element already differs", "[wait]") {
    auto shm = smh::create<std::atomic<std::uint32_t>>(1);
    shm[0].store(4);
    shm.wait(0, 3);
    CHECK(shm.wait_for(0, 3u, 1h));
    CHECK(shm.wait_for(0, 3u, std::chrono::duration<double>(1e300)));
    CHECK_FALSE(shm.wait_for(0, 4u, 0s));
    CHECK_FALSE(shm.wait_for(0, 4u, -5s));
    CHECK_FALSE(shm.wait_for(0, 4u, std::chrono::microseconds(300)));
}

TEST_CASE("wait and notify past the end throw std::out_of_range, as at() does", "[wait]") {
    auto shm = smh::create<std::atomic<std::uint64_t>>(3);
    const auto reader = smh::attach<const std::atomic<std::uint64_t>>(shm.name());
    std::string expected;
    try {
        (void)shm.at(3);
    } catch (const std::out_of_range& e) { expected = e.what(); }
    REQUIRE(!expected.empty());
    CHECK_THROWS_WITH(shm.wait(3, 0), expected);
    CHECK_THROWS_WITH(shm.wait_for(3, 0, 1s), expected);
    CHECK_THROWS_WITH(reader.wait(3, 0), expected);
    CHECK_THROWS_WITH(shm.notify_one(3), expected);
    CHECK_THROWS_WITH(shm.notify_all(3), expected);
    smh::SharedMemoryHandlee<std::atomic<std::uint32_t>> empty;
    CHECK_THROWS_AS(empty.notify_all(0), std::out_of_range);
    CHECK_THROWS_AS(empty.wait(0, 0), std::out_of_range);
}

TEMPLATE_TEST_CASE("threads of one process wait and notify through a segment", "[wait]",
                   std::uint32_t, std::uint64_t) {
    auto shm = smh::create<std::atomic<TestType>>(2);
    auto reader = smh::attach<const std::atomic<TestType>>(shm.name());
    constexpr TestType rounds = 200;
    std::thread other([&] {
        for (TestType i = 0; i < rounds; ++i) {
            shm.wait(0, i); // until the main thread's round i
            shm[1].store(i + 1);
            shm.notify_all(1);
        }
    });
    for (TestType i = 0; i < rounds; ++i) {
        shm[0].store(i + 1);
        shm.notify_one(0);
        reader.wait(1, i); // read-only handles wait too
        CHECK(reader[1].load() == i + 1);
    }
    other.join();
}

TEST_CASE("a notify with no waiter leaves the header's wait words as they were", "[wait]") {
    auto shm = smh::create<std::atomic<std::uint64_t>>(1);
    shm[0].store(1);
    shm.notify_all(0);
    shm.notify_one(0);
    const auto header = smh_test::read_raw_segment(shm.name(), smh::detail::header_size);
    std::uint32_t words[2];
    std::memcpy(words, header.data() + 112, sizeof words);
    CHECK(words[0] == 0); // the sequence: no notify needed it
    CHECK(words[1] == 0); // no waiter
}

#ifdef SMH_PEER_HELPER
// The helper built by the other compiler (g++ or clang++) waits and notifies
// on the same words: both builds agree on where they sleep.
TEST_CASE("programs built by g++ and by clang++ wake each other", "[wait]") {
    const std::string bits = GENERATE("32", "64");
    SECTION("the other build waits, this one notifies") {
        auto shm = smh::create<std::atomic<std::uint64_t>>(1);
        auto shm32 = smh::create<std::atomic<std::uint32_t>>(1);
        spawned_waiters waiters;
        waiters.start(bits, bits == "32" ? shm32.name() : shm.name(), 0, 0, "20000", "rw",
                      SMH_PEER_HELPER);
        waiters.await_all();
        shm[0].store(1);
        shm32[0].store(1);
        shm.notify_all(0);
        shm32.notify_one(0);
        CHECK(waiters.exit_codes() == std::vector<int>{woken});
    }
    SECTION("this build waits, the other notifies") {
        auto shm = smh::create<std::atomic<std::uint64_t>>(1);
        auto shm32 = smh::create<std::atomic<std::uint32_t>>(1);
        auto ready = smh::create<std::atomic<std::uint32_t>>(1);
        const auto notifier = smh_test::start_program({SMH_PEER_HELPER, "notify", bits,
                                                       bits == "32" ? shm32.name() : shm.name(),
                                                       "0", "6", ready.name(), "1"});
        ready[0].fetch_add(1);
        ready.notify_all(0);
        if (bits == "32")
            CHECK(shm32.wait_for(0, 0u, 20s));
        else
            CHECK(shm.wait_for(0, 0u, 20s));
        CHECK(smh_test::wait_for(notifier, 60s).exit_code == 0);
    }
}
#endif
