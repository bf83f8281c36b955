// A step barrier for forked workers, built from one atomic counter with
// wait() and notify_all(): no worker starts step s + 1 before every worker
// has finished step s. Element 0 counts arrivals; element 1 + w is the last
// step worker w finished, which each worker checks for all the others
// after every barrier.
#include <smh/shared_memory_handlee.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <vector>

constexpr std::uint32_t workers = 4;
constexpr std::uint32_t steps = 50;

using counters = smh::SharedMemoryHandlee<std::atomic<std::uint32_t>>;

// Returns once all workers have arrived at the end of `step`. The last to
// arrive wakes the others; each sleeps while the count is what it last saw.
void arrive_and_wait(counters& shm, std::uint32_t step) {
    const std::uint32_t everyone = (step + 1) * workers;
    std::uint32_t arrived = shm[0].fetch_add(1) + 1;
    if (arrived == everyone) {
        shm.notify_all(0);
        return;
    }
    while (arrived < everyone) {
        shm.wait(0, arrived);
        arrived = shm[0].load();
    }
}

int work(counters& shm, std::uint32_t worker) {
    for (std::uint32_t step = 0; step < steps; ++step) {
        shm[1 + worker].store(step + 1); // this step's work, done
        arrive_and_wait(shm, step);
        for (std::uint32_t other = 0; other < workers; ++other)
            if (shm[1 + other].load() < step + 1) return EXIT_FAILURE; // someone ran ahead
    }
    return EXIT_SUCCESS;
}

int main() {
    counters shm = smh::create<std::atomic<std::uint32_t>>(1 + workers);
    std::vector<pid_t> children;
    for (std::uint32_t worker = 0; worker < workers; ++worker) {
        const pid_t pid = fork();
        if (pid < 0) return EXIT_FAILURE;
        if (pid == 0) _exit(work(shm, worker));
        children.push_back(pid);
    }
    int failed = 0;
    for (const pid_t pid : children) {
        int status = 0;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            ++failed;
    }
    std::cout << workers << " workers went through " << steps << " steps in lockstep; "
              << shm[0].load() << " arrivals\n";
    return failed == 0 && shm[0].load() == workers * steps ? EXIT_SUCCESS : EXIT_FAILURE;
}
