// The Python module's multiprocessing example, in C++: two forked workers
// each fill half of one segment; the parent reads what they wrote. A forked
// child uses the parent's object as it is: no copy, no re-attach, and its exit
// never removes the parent's segment.
#include <smh/shared_memory_handlee.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <utility>
#include <vector>

class MySharedMemory : public smh::SharedMemoryHandlee<int> {
public:
    explicit MySharedMemory(std::size_t length)
        : SharedMemoryHandlee(length) {}
};

void worker(MySharedMemory& shared_memory, std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) shared_memory[i] = static_cast<int>(i * 2);
}

int main() {
    MySharedMemory shared_memory(10);

    std::vector<pid_t> workers;
    for (const auto& [begin, end] : {std::pair<std::size_t, std::size_t>{0, 5}, {5, 10}}) {
        const pid_t pid = fork();
        if (pid < 0) return EXIT_FAILURE;
        if (pid == 0) {
            worker(shared_memory, begin, end);
            _exit(EXIT_SUCCESS);
        }
        workers.push_back(pid);
    }
    for (const pid_t pid : workers) {
        int status = 0;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            return EXIT_FAILURE;
    }

    for (std::size_t i = 0; i < shared_memory.size(); ++i) {
        std::cout << shared_memory[i] << '\n';
        if (shared_memory[i] != static_cast<int>(i * 2)) return EXIT_FAILURE;
    }
}
