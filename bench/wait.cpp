// Waiting for another process: a ping-pong between two processes (each
// waits for the other's value, then answers), one round trip per iteration,
// through smh's wait/notify (4- and 8-byte elements), a pipe (one byte each
// way) and Boost.Interprocess's interprocess_mutex + interprocess_condition
// in a managed segment. And what notify_all costs when nobody waits, against
// the store it follows, and against the system call it saves.
#include <boost/interprocess/managed_shared_memory.hpp>
#include <boost/interprocess/sync/interprocess_condition.hpp>
#include <boost/interprocess/sync/interprocess_mutex.hpp>
#include <boost/interprocess/sync/scoped_lock.hpp>

#include <linux/futex.h>
#include <sys/syscall.h>

#include <climits>
#include <cstring>
#include <limits>

#include "common.hpp"

namespace bench {
namespace {

namespace bip = boost::interprocess;

// The partner process: forked for one benchmark run, ended by `stop`.
template <class Body>
pid_t partner(Body body) {
    const pid_t pid = ::fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        body();
        ::_exit(0);
    }
    return pid;
}

template <class U>
void pingpong_smh(benchmark::State& state) {
    auto shm = smh::create<std::atomic<U>>(1);
    constexpr U stop = std::numeric_limits<U>::max(); // odd: the partner's turn
    const pid_t pid = partner([&] {
        for (U seen = 0;;) {
            shm.wait(0, seen); // until the value is odd
            const U value = shm[0].load();
            if (value == stop) return;
            shm[0].store(value + 1);
            shm.notify_one(0);
            seen = value + 1;
        }
    });
    U value = 0;
    for (auto _ : state) {
        shm[0].store(value + 1);
        shm.notify_one(0);
        shm.wait(0, value + 1); // until the partner answers
        value = shm[0].load();
    }
    shm[0].store(stop);
    shm.notify_one(0);
    if (wait_child(pid) != 0) state.SkipWithError("the partner failed");
}

void pingpong_pipe(benchmark::State& state) {
    int there[2], back[2];
    if (::pipe(there) != 0 || ::pipe(back) != 0) die("pipe");
    const pid_t pid = partner([&] {
        ::close(there[1]);
        ::close(back[0]);
        char byte = 0;
        while (::read(there[0], &byte, 1) == 1)
            if (::write(back[1], &byte, 1) != 1) return;
    });
    ::close(there[0]);
    ::close(back[1]);
    char byte = 'x';
    for (auto _ : state) {
        if (::write(there[1], &byte, 1) != 1 || ::read(back[0], &byte, 1) != 1)
            state.SkipWithError("pipe failed");
    }
    ::close(there[1]); // the partner reads end of file and ends
    ::close(back[0]);
    wait_child(pid);
}

struct condition_turns {
    bip::interprocess_mutex mutex;
    bip::interprocess_condition changed;
    std::uint64_t turn = 0; // odd: the partner's turn
    bool stop = false;
};

void pingpong_boost_condition(benchmark::State& state) {
    const std::string name = fresh_name();
    bip::managed_shared_memory segment(bip::create_only, name.c_str(), 64 * kib);
    auto* shared = segment.construct<condition_turns>("turns")();
    const pid_t pid = partner([&] {
        bip::scoped_lock<bip::interprocess_mutex> lock(shared->mutex);
        for (;;) {
            while (shared->turn % 2 == 0 && !shared->stop) shared->changed.wait(lock);
            if (shared->stop) return;
            ++shared->turn;
            shared->changed.notify_one();
        }
    });
    for (auto _ : state) {
        bip::scoped_lock<bip::interprocess_mutex> lock(shared->mutex);
        ++shared->turn;
        shared->changed.notify_one();
        while (shared->turn % 2 == 1) shared->changed.wait(lock);
    }
    {
        bip::scoped_lock<bip::interprocess_mutex> lock(shared->mutex);
        shared->stop = true;
        shared->changed.notify_one();
    }
    wait_child(pid);
    bip::shared_memory_object::remove(name.c_str());
}

void store_only(benchmark::State& state) {
    auto shm = smh::create<std::atomic<std::uint32_t>>(1);
    std::uint32_t i = 0;
    for (auto _ : state) shm[0].store(++i);
    benchmark::DoNotOptimize(shm[0].load());
}

void store_notify_all_no_waiter(benchmark::State& state) {
    auto shm = smh::create<std::atomic<std::uint32_t>>(1);
    std::uint32_t i = 0;
    for (auto _ : state) {
        shm[0].store(++i);
        shm.notify_all(0);
    }
    benchmark::DoNotOptimize(shm[0].load());
}

// What notify_all would cost if it did not know that nobody waits: the store
// and a FUTEX_WAKE that finds no one.
void store_futex_wake(benchmark::State& state) {
    auto shm = smh::create<std::atomic<std::uint32_t>>(1);
    std::uint32_t i = 0;
    for (auto _ : state) {
        shm[0].store(++i);
        ::syscall(SYS_futex, &shm[0], FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
    }
    benchmark::DoNotOptimize(shm[0].load());
}

} // namespace

void register_wait(const config& c) {
    auto add = [&](const std::string& name, auto fn) {
        auto* b = benchmark::RegisterBenchmark(("wait/" + name).c_str(), fn);
        b->UseRealTime()->Unit(benchmark::kMicrosecond);
        if (c.quick) b->Iterations(10);
        return b;
    };
    add("pingpong_smh_u32", pingpong_smh<std::uint32_t>);
    add("pingpong_smh_u64", pingpong_smh<std::uint64_t>);
    add("pingpong_pipe", pingpong_pipe);
    add("pingpong_boost_condition", pingpong_boost_condition);
    add("store", store_only)->Unit(benchmark::kNanosecond);
    add("store_notify_all_no_waiter", store_notify_all_no_waiter)->Unit(benchmark::kNanosecond);
    add("store_futex_wake_no_waiter", store_futex_wake)->Unit(benchmark::kNanosecond);
}

} // namespace bench
