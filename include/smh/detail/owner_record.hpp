// The owner record: three header fields (owner_pid, owner_start_time,
// owner_token) that say which object of which process owns a segment, and
// the claim that every change of them goes through. Plain atomics on the
// header, nothing else: the OS layer below ownership.hpp (termination
// cleanup, the watcher, Windows' creator wait) reads and claims records with
// these, and ownership.hpp decides with them who owns.
//
// The protocol. owner_start_time names a process, with the pid, even after
// its pid is reused; owner_token tells objects of one process apart.
// Processes read the record while others may change it, so a writer first
// claims it: a compare-and-swap puts its own pid, negated, into owner_pid,
// expecting the pid it read, and then checks that start time and token are
// still the ones it read (else it puts the pid back). It writes start time
// and token, and last the new pid, which ends the claim. A reader takes a
// record only when it read the same non-negative pid before and after the
// other two fields. A claim names its claimant, so one left by a process that
// died, or unchanged for longer than any claim lasts, is recognised as
// abandoned and may be taken over. pid 0 means no owner (released).
#pragma once

#include <atomic>   // std::atomic_ref on the record's fields
#include <chrono>   // how long a claim may last
#include <cstdint>  // the record's fields
#include <optional> // a record being changed
#include <thread>   // waiting out another process's claim

#include "layout.hpp"

namespace smh {
inline namespace v0 {
namespace detail {

struct owner_record {
    std::int64_t pid = 0; // 0: no owner
    std::uint64_t start_time = 0;
    std::uint64_t token = 0; // which object of that process
    bool operator==(const owner_record&) const = default;
};

inline std::atomic_ref<std::int64_t> owner_pid_field(const segment_header& header) noexcept {
    // Loads and, on writable mappings only, stores: fine on a read-only map.
    return std::atomic_ref(const_cast<segment_header&>(header).owner_pid);
}

template <class Field>
Field load_field(const Field& field) noexcept {
    return std::atomic_ref(const_cast<Field&>(field)).load(std::memory_order_acquire);
}

// The owner record; nullopt while a process is changing it (or died doing so).
// With `claimed_too`, a claimed record as well, its pid negative (-claimant):
// for the watcher, which takes over the claim of a process that died changing
// its own record (the fields stay as that process left them).
inline std::optional<owner_record> read_owner(const segment_header& header,
                                              bool claimed_too = false) noexcept {
    for (int attempt = 0; attempt < 64; ++attempt) {
        const auto before = owner_pid_field(header).load(std::memory_order_acquire);
        const auto start = load_field(header.owner_start_time);
        const auto token = load_field(header.owner_token);
        const auto after = owner_pid_field(header).load(std::memory_order_acquire);
        if (before == after && (before >= 0 || claimed_too))
            return owner_record{before, start, token};
    }
    return std::nullopt;
}

// A claim lasts a few stores (and, in a destructor, one unlink). One that
// has not changed for this long was abandoned, whatever its pid says: a
// reused pid, or a forged header, must not wedge ownership for ever.
inline constexpr std::chrono::milliseconds abandoned_claim_after{500};

// The process that claimed a record whose owner_pid is `pid` (< 0): -pid,
// computed unsigned, since a hostile header's INT64_MIN has no signed
// negation (2^63 then, which no process has); 0 for a record not claimed.
constexpr std::uint64_t claimant_of(std::int64_t pid) noexcept {
    return pid < 0 ? 0 - static_cast<std::uint64_t>(pid) : 0;
}

// One attempt to claim the record for `claimant` if it is `expected`, all
// of it: false if it is not, or changed under the attempt. Never waits, so a
// signal handler can use it.
inline bool try_claim_owner(segment_header& header, const owner_record& expected,
                            std::int64_t claimant) noexcept {
    auto pid = expected.pid;
    if (!owner_pid_field(header).compare_exchange_strong(pid, -claimant, std::memory_order_acq_rel))
        return false;
    if (load_field(header.owner_start_time) == expected.start_time &&
        load_field(header.owner_token) == expected.token)
        return true;
    // Changed and changed back to this pid meanwhile: not the record we read.
    owner_pid_field(header).store(expected.pid, std::memory_order_release);
    return false;
}

// Claims the record for `claimant` if it is `expected`. While claimed, no
// one else can change it. A record that is not `expected` is never touched,
// so an object that lost ownership cannot disturb the owner; a claim in
// progress is waited out, for a bounded time.
inline bool claim_owner(segment_header& header, const owner_record& expected,
                        std::int64_t claimant) noexcept {
    const auto give_up_at = std::chrono::steady_clock::now() + abandoned_claim_after;
    for (;;) {
        const auto owner = read_owner(header);
        if (!owner) { // being changed: see what it becomes
            if (std::chrono::steady_clock::now() >= give_up_at) return false;
            std::this_thread::yield();
            continue;
        }
        if (!(*owner == expected)) return false;
        if (try_claim_owner(header, expected, claimant)) return true;
    }
}

// Claims a record that process -`stuck` claimed and abandoned (it died).
inline bool claim_abandoned(segment_header& header, std::int64_t stuck,
                            std::int64_t claimant) noexcept {
    return stuck < 0 && owner_pid_field(header).compare_exchange_strong(stuck, -claimant,
                                                                        std::memory_order_acq_rel);
}

// Writes a claimed record: start time, token, and last the pid, which ends
// the claim.
inline void publish_owner(segment_header& header, const owner_record& next) noexcept {
    std::atomic_ref(header.owner_start_time).store(next.start_time, std::memory_order_release);
    std::atomic_ref(header.owner_token).store(next.token, std::memory_order_release);
    owner_pid_field(header).store(next.pid, std::memory_order_release);
}

// Makes `next` the owner if the record is still `expected`; false if another
// process changed it first. At most one of several racing callers wins.
inline bool replace_owner(segment_header& header, const owner_record& expected,
                          const owner_record& next) noexcept {
    if (!claim_owner(header, expected, next.pid)) return false;
    publish_owner(header, next);
    return true;
}

} // namespace detail
} // namespace v0
} // namespace smh
