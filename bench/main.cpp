// smh benchmarks: every figure is a ratio against a baseline measured in the
// same run (raw pointers, raw POSIX calls, Boost.Interprocess, pipes).
//   smh_bench [--quick | --goals] [Google Benchmark flags]
// --quick runs each benchmark once at tiny sizes (CI uses it so they never rot);
// --goals runs each 11 times and reports the fastest too (bench/goals.sh).
#include <cstring>
#include <iostream>

#include "common.hpp"

int main(int argc, char** argv) {
    if (argc >= 2 && std::strcmp(argv[1], "--child") == 0) return bench::run_child(argc, argv);

    bench::config config;
    config.self = argv[0];
    std::vector<char*> args;
    for (int i = 0; i < argc; ++i) {
        if (std::strcmp(argv[i], "--quick") == 0)
            config.quick = true;
        else if (std::strcmp(argv[i], "--goals") == 0)
            config.goals = true;
        else
            args.push_back(argv[i]);
    }
    bench::register_access(config);
    bench::register_lifecycle(config);
    bench::register_handoff(config);
    bench::register_first_touch(config);
    bench::register_scaling(config);
    bench::register_python_equivalent(config);
    bench::register_steps(config);
    bench::register_scale(config);
    bench::register_wait(config);
    bench::register_grow(config);

    int count = static_cast<int>(args.size());
    benchmark::Initialize(&count, args.data());
    if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 1;
    try {
        benchmark::RunSpecifiedBenchmarks();
    } catch (const std::exception& e) {
        std::cerr << "smh_bench: " << e.what() << '\n';
        return 1;
    }
    benchmark::Shutdown();
    return 0;
}
