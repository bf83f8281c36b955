// Helpers shared by the test files: fresh names, raw (non-smh) segments, and
// real child processes with timeouts. The platform half (support_posix.hpp or
// support_windows.hpp, the tests' only platform switch) defines the same
// names for both: current_pid, segment_exists, raw_segment, write_raw_segment,
// overwrite_raw_segment, read_raw_segment, stored_size,
// zero_length_segments_exist, start_program, wait_for, kill_program,
// kill_self, exit_main_thread, leftover_segments and remove_leftover.
#pragma once

#include <smh/shared_memory_handlee.hpp>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

// Whether this build runs under ThreadSanitizer (g++ says so with a macro,
// clang++ with __has_feature), for the few places that allow for its runtime.
#if defined(__SANITIZE_THREAD__)
#define SMH_TEST_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SMH_TEST_UNDER_TSAN 1
#endif
#endif

namespace smh_test {

struct process_result {
    bool exited = false; // false: killed by a signal (POSIX) or by the timeout
    int exit_code = -1;
    int signal = 0;
    bool timed_out = false;
};

// Every name unique_name() has given out in this process, for the leak check.
class issued_names {
public:
    static void add(const std::string& name) {
        const std::lock_guard lock(mutex());
        names().push_back(name);
    }
    static std::vector<std::string> all() {
        const std::lock_guard lock(mutex());
        return names();
    }

private:
    static std::mutex& mutex() {
        static std::mutex m;
        return m;
    }
    static std::vector<std::string>& names() {
        static std::vector<std::string> v;
        return v;
    }
};

} // namespace smh_test

#if defined(_WIN32)
#include "support_windows.hpp"
#else
#include "support_posix.hpp"
#endif

namespace smh_test {

// "smh-test-<pid>-<counter>-<random>": unique across processes running in
// parallel and across reruns; the prefix lets leak checks find them.
inline std::string name_prefix() { return "smh-test-" + std::to_string(current_pid()) + "-"; }

inline std::string unique_name() {
    static std::atomic<unsigned> counter{0};
    static const auto salt = static_cast<unsigned>(
        std::chrono::steady_clock::now().time_since_epoch().count() & 0xffffff);
    auto name = name_prefix() + std::to_string(counter++) + "-" + std::to_string(salt);
    issued_names::add(name);
    return name;
}

// Starts a program and waits for it.
inline process_result run_program(std::vector<std::string> args,
                                  std::chrono::seconds timeout = std::chrono::seconds(60)) {
    return wait_for(start_program(std::move(args)), timeout);
}

#ifdef SMH_TEST_HELPER
// The test helper program (tests/support/helper.cpp), built by CMake.
inline process_result run_helper(std::vector<std::string> args) {
    args.insert(args.begin(), SMH_TEST_HELPER);
    return run_program(std::move(args));
}
#endif

// Whether this test build runs under a sanitizer (CMake: SMH_SANITIZE), which
// a few cases cannot run with; they report "skipped: ...".
#ifdef SMH_TEST_SANITIZED
inline constexpr bool sanitized_build = true;
#else
inline constexpr bool sanitized_build = false;
#endif

// The helper's exit code for an smh::error with code `e`.
inline int exit_code_for(smh::errc e) { return 10 + static_cast<int>(e); }

// What an smh::error thrown by `operation` said: the one way the tests check
// for an error, in a test case and in a child process alike:
//   CHECK(error_of([&] { (void)smh::attach<int>(name); }) == smh::errc::not_found);
// `code` is errc{} (0) when it threw nothing; any other exception propagates.
struct thrown_error {
    smh::errc code{};
    std::string what;
    std::error_code native_code;

    friend bool operator==(const thrown_error& thrown, smh::errc code) {
        return thrown.code == code;
    }
};

template <class F>
thrown_error error_of(F&& operation) {
    try {
        operation();
    } catch (const smh::error& e) {
        return {static_cast<smh::errc>(e.code().value()), e.what(), e.native_code()};
    }
    return {};
}

// The bytes of a valid, ready segment of `count` ints: header, padding,
// elements; for tests that write segments by hand.
inline std::string valid_segment_bytes(std::uint64_t count) {
    auto header = smh::detail::make_header(smh::detail::element_identity::of<int>(), count,
                                           current_pid(), 0, 1, 0);
    header.state = smh::detail::state_ready;
    std::string bytes(header.data_offset + count * sizeof(int), '\0');
    std::memcpy(bytes.data(), &header, sizeof header);
    return bytes;
}

inline smh::detail::segment_header& header_of(std::string& bytes) {
    return *reinterpret_cast<smh::detail::segment_header*>(bytes.data());
}

// Recomputes the checksum after a test changed a field it covers.
inline void reseal(std::string& bytes) {
    header_of(bytes).checksum = smh::detail::header_checksum(header_of(bytes));
}

} // namespace smh_test
