// The example at the top of README.md, kept identical so it cannot rot.
#include <smh/shared_memory_handlee.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
    if (argc == 2) {                               // the child, started with the name
        auto squares = smh::attach<long>(argv[1]); // length and type checked from the segment
        for (std::size_t i = 0; i < squares.size(); ++i) squares[i] = long(i * i);
        return 0; // an attached handle only unmaps
    }
    smh::cleanup_on_termination();       // Ctrl-C, kill, abort() remove the segment too
    auto squares = smh::create<long>(8); // owner: fresh random name, mode 0600
    std::string command = std::string(argv[0]) + " " + squares.name();
    if (std::system(command.c_str()) != 0) return 1;
    for (long v : squares) std::printf("%ld ", v); // 0 1 4 9 16 25 36 49
} // the owner removes the segment here
