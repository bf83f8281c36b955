// A new program, not a fork, shares the segment: the parent passes name() on
// the command line and the child attaches by name. Run without arguments; the
// program starts itself again as the child.
#include <smh/shared_memory_handlee.hpp>

#include <spawn.h>
#include <sys/wait.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

extern char** environ;

namespace {

int child(const char* name) {
    auto squares = smh::attach<long>(name); // the length comes from the segment
    for (std::size_t i = 0; i < squares.size(); ++i) squares[i] = static_cast<long>(i * i);
    return EXIT_SUCCESS; // an attached object only unmaps: the parent's segment stays
}

int parent(char* self) {
    auto squares = smh::create<long>(8);
    std::string name = squares.name();
    char child_flag[] = "--child";
    char* argv[] = {self, child_flag, name.data(), nullptr};

    pid_t pid = 0;
    if (posix_spawn(&pid, self, nullptr, nullptr, argv, environ) != 0) return EXIT_FAILURE;
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return EXIT_FAILURE;

    std::cout << "the child wrote into " << squares.name() << ":";
    for (const long value : squares) std::cout << ' ' << value;
    std::cout << '\n';
    for (std::size_t i = 0; i < squares.size(); ++i)
        if (squares[i] != static_cast<long>(i * i)) return EXIT_FAILURE;
    return EXIT_SUCCESS;
}

} // namespace

int main(int argc, char** argv) {
    try {
        if (argc == 3 && std::strcmp(argv[1], "--child") == 0) return child(argv[2]);
        return parent(argv[0]);
    } catch (const smh::error& e) {
        std::cerr << e.what() << '\n';
        return EXIT_FAILURE;
    }
}
