// Orphans of each kind that smh::remove_orphans() collects, made on purpose,
// for the test cases tagged [orphans] (orphans are global: those cases never
// run at the same time). POSIX only: nothing is ever orphaned on Windows.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>

#include "support.hpp"

namespace smh_test {

enum class orphan_kind {
    killed_owner,    // the owner was killed (SIGKILL) before its destructor ran
    abandoned_build, // a creator was killed while building, under a temporary name
    abandoned_claim, // an owner change left half done by a pid that lives (here: init)
};

inline const char* to_string(orphan_kind kind) {
    switch (kind) {
    case orphan_kind::killed_owner: return "a killed owner's segment";
    case orphan_kind::abandoned_build: return "a killed builder's file";
    case orphan_kind::abandoned_claim: return "an abandoned owner change";
    }
    return "?";
}

// The name an orphan of `kind` gets: a builder's temporary name (the prefix and
// 16 lowercase hex digits, as create makes them) or a fresh test name.
inline std::string orphan_name(orphan_kind kind) {
    auto name = unique_name();
    if (kind != orphan_kind::abandoned_build) return name;
    std::uint64_t bits = 1469598103934665603ull;
    for (const char c : name) bits = (bits ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(bits));
    return std::string(smh::detail::building_name_prefix) + hex;
}

// Leaves an orphan of `kind` under `name` (from orphan_name()); a
// segment_guard removes it should the test case fail before gc does.
inline void make_orphan(orphan_kind kind, const std::string& name) {
    switch (kind) {
    case orphan_kind::killed_owner:
        if (run_helper({"create-kill", name, "4"}).signal != SIGKILL)
            throw std::runtime_error("the helper was not killed");
        return;
    case orphan_kind::abandoned_build: {
        const int fd = ::open(("/dev/shm/" + name).c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
        if (fd < 0) throw std::runtime_error("cannot create " + name);
        ::close(fd); // and no builder holds its lock
        // Younger files are left alone: a builder locks its file just after making it.
        std::this_thread::sleep_for(smh::detail::os::building_lock_grace +
                                    std::chrono::milliseconds(200));
        return;
    }
    case orphan_kind::abandoned_claim: {
        auto shm = smh::create<int>(name, 4);
        if (!shm.release()) throw std::runtime_error("cannot release " + name);
        const std::int64_t claimed_by_init = -1; // alive, and never finishing
        overwrite_raw_segment(
            name, offsetof(smh::detail::segment_header, owner_pid),
            {reinterpret_cast<const char*>(&claimed_by_init), sizeof claimed_by_init});
        return;
    }
    }
}

} // namespace smh_test
