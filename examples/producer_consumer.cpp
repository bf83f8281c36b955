// A producer publishes batches of numbers; a consumer in another process,
// attached read-only, waits for each batch with wait() instead of polling.
// Element 0 counts the published batches; batch b fills the elements after.
// The producer writes a batch, then publishes it (a release store of the
// count) and notifies; the consumer wakes, reads the new batches, and checks
// them. A read-only consumer cannot count itself as a waiter, so it also looks
// again every 10 ms on its own; a writable one would be woken at once.
#include <smh/shared_memory_handlee.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

constexpr std::uint64_t batches = 5;
constexpr std::uint64_t batch_size = 1000;

std::uint64_t value(std::uint64_t batch, std::uint64_t i) { return batch * 1'000'003 + i; }

int consume(const std::string& name) {
    const auto shm = smh::attach<const std::atomic<std::uint64_t>>(name); // read-only
    std::uint64_t seen = 0;
    while (seen < batches) {
        shm.wait(0, seen); // until more than `seen` batches are published
        for (const auto published = shm[0].load(std::memory_order_acquire); seen < published;
             ++seen) {
            std::uint64_t sum = 0, expected = 0;
            for (std::uint64_t i = 0; i < batch_size; ++i) {
                sum += shm[1 + seen * batch_size + i].load(std::memory_order_relaxed);
                expected += value(seen, i);
            }
            std::cout << "consumer: batch " << seen << " sums to " << sum << '\n';
            if (sum != expected) return EXIT_FAILURE;
        }
    }
    return EXIT_SUCCESS;
}

int main() {
    auto shm = smh::create<std::atomic<std::uint64_t>>(1 + batches * batch_size);
    const pid_t consumer = fork();
    if (consumer < 0) return EXIT_FAILURE;
    if (consumer == 0) {
        const int code = consume(shm.name());
        std::cout.flush(); // _exit does not
        _exit(code);
    }

    for (std::uint64_t batch = 0; batch < batches; ++batch) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20)); // producing takes a while
        for (std::uint64_t i = 0; i < batch_size; ++i)
            shm[1 + batch * batch_size + i].store(value(batch, i), std::memory_order_relaxed);
        shm[0].store(batch + 1, std::memory_order_release); // publish
        shm.notify_all(0);
    }
    int status = 0;
    if (waitpid(consumer, &status, 0) != consumer || !WIFEXITED(status)) return EXIT_FAILURE;
    return WEXITSTATUS(status);
}
