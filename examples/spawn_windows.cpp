// Windows: a second program shares the segment. The parent passes name() on
// the child's command line (CreateProcess) and the child attaches by name.
// Run without arguments; the program starts itself again as the child.
#include <smh/shared_memory_handlee.hpp> // includes <windows.h> on Windows

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

namespace {

int child(const char* name) {
    auto squares = smh::attach<std::int64_t>(name); // the length comes from the segment
    for (std::size_t i = 0; i < squares.size(); ++i) squares[i] = std::int64_t(i * i);
    return EXIT_SUCCESS; // an attached object only closes its handle and unmaps
}

// Starts this program again with `--child NAME` and returns its exit code.
int run_child(const std::string& name) {
    char self[MAX_PATH];
    if (GetModuleFileNameA(nullptr, self, MAX_PATH) == 0) return -1;
    std::string command_line = "\"" + std::string(self) + "\" --child " + name;
    STARTUPINFOA startup{};
    startup.cb = sizeof startup;
    PROCESS_INFORMATION process{};
    if (!CreateProcessA(self, command_line.data(), nullptr, nullptr, FALSE, 0, nullptr, nullptr,
                        &startup, &process))
        return -1;
    WaitForSingleObject(process.hProcess, INFINITE);
    DWORD code = 1;
    GetExitCodeProcess(process.hProcess, &code);
    CloseHandle(process.hThread);
    CloseHandle(process.hProcess);
    return static_cast<int>(code);
}

int parent() {
    // The segment lives while this owner (or the child) holds it.
    auto squares = smh::create<std::int64_t>(8);
    if (run_child(squares.name()) != 0) return EXIT_FAILURE;

    std::cout << "the child wrote into " << squares.name() << ":";
    for (const std::int64_t value : squares) std::cout << ' ' << value;
    std::cout << '\n';
    for (std::size_t i = 0; i < squares.size(); ++i)
        if (squares[i] != std::int64_t(i * i)) return EXIT_FAILURE;
    return EXIT_SUCCESS;
}

} // namespace

int main(int argc, char** argv) {
    try {
        if (argc == 3 && std::strcmp(argv[1], "--child") == 0) return child(argv[2]);
        return parent();
    } catch (const smh::error& e) {
        std::cerr << e.what() << '\n';
        return EXIT_FAILURE;
    }
}
