// Who removes a segment's name: every decision about owning a segment,
// above the platform. The record these decisions read and claim is
// owner_record.hpp's.
//
// The owner's destructor claims the record, removes the name and clears it;
// release() clears it; adopt() and take_ownership() claim it for themselves.
// Whether an owner lives is asked first of the owner's lock (POSIX: a lock on
// the segment file that the kernel drops when the owner's process ends, in any
// pid namespace), then of the recorded pid and start time. An object about to
// own takes that lock before it claims the record, so the segment never
// looks unowned meanwhile.
#pragma once

#include <atomic>   // the owner tokens
#include <chrono>   // how long a claim may last
#include <cstdint>  // the record's fields
#include <limits>   // a claimant that names no process
#include <optional> // a record being changed
#include <thread>   // waiting out another process's claim

#include "layout.hpp"
#include "owner_record.hpp"
#include "platform.hpp"
#include "segment_name.hpp"

namespace smh {
inline namespace v0 {
namespace detail {

// Distinct for every owning object of this process, never 0.
inline std::uint64_t next_owner_token() noexcept {
    static std::atomic<std::uint64_t> counter{0};
    return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

// This process as an owner record, for the object `token`.
inline owner_record this_process(std::uint64_t token) noexcept {
    const auto pid = os::current_pid();
    return {pid, os::own_start_time(pid), token};
}

// Whether the process that claimed a record whose owner_pid is `pid` (< 0)
// still runs; a value that names no process names none that runs.
inline bool claimant_alive(std::int64_t pid) noexcept {
    const auto claimant = claimant_of(pid);
    return claimant <= static_cast<std::uint64_t>((std::numeric_limits<std::int64_t>::max)()) &&
           os::process_alive(static_cast<std::int64_t>(claimant), 0);
}

// Whether the owner lives: some process holds the owner's lock on the
// segment (POSIX; whatever its pid namespace), or the recorded process (pid
// and start time) still runs. For a record being changed, whether the
// process changing it lives (if it died mid-change, the record is abandoned).
inline bool owner_alive(const os::header_snapshot& snapshot) noexcept {
    if (snapshot.owner_lock_held) return true;
    const auto& header = snapshot.header;
    if (header.owner_pid < 0) return claimant_alive(header.owner_pid);
    return header.owner_pid > 0 && os::process_alive(header.owner_pid, header.owner_start_time);
}

// ---------------------------------------------------------------------------
// One object's part in its segment's ownership.

struct ownership {
    segment_header* header =
        nullptr;             // in the mapping, with the owner record; null for an empty handle
    segment_name name;       // what the owner removes
    std::uint64_t token = 0; // nonzero while this object created or adopted the segment
    bool unlinked = false;   // unlink() removed the name already
};

inline bool is_owner(const ownership& own) noexcept {
    if (own.token == 0 || own.header == nullptr) return false;
    const auto owner = read_owner(*own.header);
    return owner && *owner == this_process(own.token);
}

// The segment outlives this object: no owner from now on. One change for
// termination cleanup: a signal before it ends finds the segment still
// owned (and removes it), never owned by no one that cleanup knows of.
inline bool release_ownership(ownership& own, os::segment_hold& held) noexcept {
    if (own.token == 0 || own.header == nullptr) return false;
    const owner_change change;
    if (!replace_owner(*own.header, this_process(own.token), {.pid = 0})) return false;
    own.token = 0;
    os::stop_owning(held, own.name);
    return true;
}

// Whether the record `owner` lets this object adopt: no owner, or one whose
// process has ended (and holds no lock).
inline bool adoptable(const owner_record& owner, const os::segment_hold& held) noexcept {
    return owner.pid == 0 ||
           (!os::lock_held_by_others(held) && !os::process_alive(owner.pid, owner.start_time));
}

// What acquire_ownership did: the object owns the segment, or does not, or
// gave up on a record that kept changing (a hostile writer).
enum class acquired { owner, not_owner, record_keeps_changing };

// adopt() (`force` false) and take_ownership() (`force` true): claims the
// record for a new token. Bounded: claims seen for longer than any claim
// lasts are taken as abandoned, and a record that keeps changing under a
// hostile writer is given up on. Throws nothing: take_ownership() reports
// the last case. The segment is registered for termination cleanup before it
// is claimed, so a signal that lands between the claim and the new record
// finds it.
inline acquired acquire_ownership(ownership& own, os::segment_hold& held, bool force) noexcept {
    if (own.header == nullptr) return acquired::not_owner;
    if (is_owner(own)) return acquired::owner;
    os::lock_for_owning(held, own.name);
    const auto mine = this_process(next_owner_token());
    os::note_owning(held, own.name, mine, own.header);
    using clock = std::chrono::steady_clock;
    const auto give_up_at = clock::now() + 4 * abandoned_claim_after;
    std::optional<clock::time_point> first_claim_seen;
    std::optional<owner_change> change; // from a claim to the new record
    auto give_up = [&](acquired why) {
        os::stop_owning(held, own.name);
        own.token = 0;
        return why;
    };
    for (;;) {
        const auto now = clock::now();
        const auto pid = owner_pid_field(*own.header).load(std::memory_order_acquire);
        bool claimed = false;
        if (now >= give_up_at) return give_up(acquired::record_keeps_changing);
        change.emplace();
        if (pid < 0) { // being changed by another process, or abandoned
            if (!first_claim_seen) first_claim_seen = now;
            const bool abandoned =
                !claimant_alive(pid) || now - *first_claim_seen >= abandoned_claim_after;
            if (!abandoned) std::this_thread::sleep_for(std::chrono::microseconds(50));
            claimed = abandoned && claim_abandoned(*own.header, pid, mine.pid);
        } else if (const auto owner = read_owner(*own.header)) {
            if (!force && !adoptable(*owner, held))
                return give_up(acquired::not_owner); // perhaps ours, elsewhere
            claimed = claim_owner(*own.header, *owner, mine.pid);
        }
        if (claimed) break;
        change.reset();
    }
    publish_owner(*own.header, mine);
    own.token = mine.token;
    os::keep_owner_lock(held);
    return acquired::owner;
}

// Takes the name away now; the owner's end then only clears the record.
inline bool unlink(ownership& own, os::segment_hold& held) noexcept {
    if (own.name.str().empty() || own.unlinked) return false;
    const auto result = os::unlink(own.name, held);
    // On failure (e.g. no descriptors left) the owner's end tries again.
    own.unlinked = result != os::unlink_result::failed;
    return result == os::unlink_result::removed;
}

// The owner's end (its destructor), in its own process: the record is
// claimed first, so a process taking ownership at the same moment either
// wins (and keeps the name) or finds the name gone. After unlink() the
// record is still cleared: on Windows others may hold the segment on, and
// must be able to adopt it.
inline void end_ownership(ownership& own, os::segment_hold& held) noexcept {
    if (own.token == 0 || own.header == nullptr) return;
    const auto mine = this_process(own.token);
    const owner_change change;
    if (!claim_owner(*own.header, mine, mine.pid)) return; // not (or no longer) ours
    const bool gone = own.unlinked || os::unlink(own.name, held) != os::unlink_result::failed;
    publish_owner(*own.header, gone ? owner_record{} : mine);
}

} // namespace detail
} // namespace v0
} // namespace smh
