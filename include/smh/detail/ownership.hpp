// Who removes a segment's name: the owner, recorded in the segment itself.
//
// The protocol. The owner record is three header fields: owner_pid,
// owner_start_time (with the pid, names a process even after its pid is
// reused) and owner_token (which object of that process). Processes read it
// while others may change it, so a writer first claims it: a compare-and-swap
// puts its own pid, negated, into owner_pid, expecting the pid it read, and
// then checks that start time and token are still the ones it read (else it
// puts the pid back). It writes start time and token, and last the new pid,
// which ends the claim. A reader takes a record only when it read the same
// non-negative pid before and after the other two fields. A claim names its
// claimant, so one left by a process that died, or unchanged for longer than
// any claim lasts, is recognised as abandoned and may be taken over.
//
// pid 0 means no owner (released). The owner's destructor claims the record,
// removes the name and clears it; release() clears it; adopt() and
// take_ownership() claim it for themselves. Whether an owner lives is asked
// first of the owner's lock (POSIX: a lock on the segment file that the
// kernel drops when the owner's process ends, in any pid namespace), then of
// the recorded pid and start time. An object about to own takes that lock
// before it claims the record, so the segment never looks unowned meanwhile.
// Written against platform_contract.hpp alone.
#pragma once

#include <atomic>   // std::atomic_ref on the record's fields
#include <chrono>   // how long a claim may last
#include <cstdint>  // the record's fields
#include <limits>   // INT64_MIN names no claimant
#include <optional> // a record being changed
#include <thread>   // waiting out another process's claim

#include "layout.hpp"
#include "platform_contract.hpp"
#include "segment_name.hpp"

namespace smh::detail {

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

// The process that claimed a record whose owner_pid is `pid` (< 0); 0 for a
// value that names no process (INT64_MIN has no negation).
constexpr std::int64_t claimant_of(std::int64_t pid) noexcept {
    return pid < 0 && pid != (std::numeric_limits<std::int64_t>::min)() ? -pid : 0;
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

// Whether the owner lives: some process holds the owner's lock on the
// segment (POSIX; whatever its pid namespace), or the recorded process (pid
// and start time) still runs. For a record being changed, whether the
// process changing it lives (if it died mid-change, the record is abandoned).
inline bool owner_alive(const os::header_snapshot& snapshot) noexcept {
    if (snapshot.owner_lock_held) return true;
    const auto& header = snapshot.header;
    if (header.owner_pid < 0) return os::process_alive(claimant_of(header.owner_pid), 0);
    return header.owner_pid > 0 && os::process_alive(header.owner_pid, header.owner_start_time);
}

// One change of ownership that termination cleanup must not cut in two
// (platform_contract.hpp: begin_owner_change).
struct owner_change {
    owner_change() noexcept { os::begin_owner_change(); }
    ~owner_change() { os::end_owner_change(); }
    owner_change(const owner_change&) = delete;
    owner_change& operator=(const owner_change&) = delete;
};

// ---------------------------------------------------------------------------
// One object's part in its segment's ownership.

struct ownership {
    segment_header* record = nullptr; // the header, in the mapping; null for an empty handle
    segment_name name;                // what the owner removes
    std::uint64_t token = 0;          // nonzero while this object created or adopted the segment
    bool unlinked = false;            // unlink() removed the name already
};

inline bool is_owner(const ownership& own) noexcept {
    if (own.token == 0 || own.record == nullptr) return false;
    const auto owner = read_owner(*own.record);
    return owner && *owner == this_process(own.token);
}

// The segment outlives this object: no owner from now on. One change for
// termination cleanup: a signal before it ends finds the segment still
// owned (and removes it), never owned by no one that cleanup knows of.
inline bool release_ownership(ownership& own, os::segment_hold& held) noexcept {
    if (own.token == 0 || own.record == nullptr) return false;
    const owner_change change;
    if (!replace_owner(*own.record, this_process(own.token), {.pid = 0})) return false;
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

// adopt() (`force` false) and take_ownership() (`force` true): claims the
// record for a new token. Bounded: claims seen for longer than any claim
// lasts are taken as abandoned, and a record that keeps changing under a
// hostile writer is given up on (take_ownership: corrupt_segment). The
// segment is registered for termination cleanup before it is claimed, so a
// signal that lands between the claim and the new record finds it.
inline bool acquire_ownership(ownership& own, os::segment_hold& held, const segment_operation& what,
                              bool force) {
    if (own.record == nullptr) return false;
    if (is_owner(own)) return true;
    os::lock_for_owning(held, own.name);
    const auto mine = this_process(next_owner_token());
    os::note_owning(held, own.name, mine, own.record);
    using clock = std::chrono::steady_clock;
    const auto give_up_at = clock::now() + 4 * abandoned_claim_after;
    std::optional<clock::time_point> first_claim_seen;
    std::optional<owner_change> change; // from a claim to the owner registered
    auto give_up = [&] {
        os::stop_owning(held, own.name);
        own.token = 0;
        return false;
    };
    for (;;) {
        const auto now = clock::now();
        const auto pid = owner_pid_field(*own.record).load(std::memory_order_acquire);
        bool claimed = false;
        if (now >= give_up_at) {
            give_up();
            if (force) what.fail(errc::corrupt_segment, "its owner record keeps changing");
            return false;
        }
        change.emplace();
        if (pid < 0) { // being changed by another process, or abandoned
            if (!first_claim_seen) first_claim_seen = now;
            const bool abandoned = !os::process_alive(claimant_of(pid), 0) ||
                                   now - *first_claim_seen >= abandoned_claim_after;
            if (!abandoned) std::this_thread::sleep_for(std::chrono::microseconds(50));
            claimed = abandoned && claim_abandoned(*own.record, pid, mine.pid);
        } else if (const auto owner = read_owner(*own.record)) {
            if (!force && !adoptable(*owner, held)) return give_up(); // perhaps ours, elsewhere
            claimed = claim_owner(*own.record, *owner, mine.pid);
        }
        if (claimed) break;
        change.reset();
    }
    publish_owner(*own.record, mine);
    own.token = mine.token;
    os::keep_owner_lock(held);
    return true;
}

// Removes the name now; the owner's end then only clears the record.
inline bool unlink_name(ownership& own, os::segment_hold& held) noexcept {
    if (own.name.str().empty() || own.unlinked) return false;
    const auto result = os::release_name(own.name, held);
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
    if (own.token == 0 || own.record == nullptr) return;
    const auto mine = this_process(own.token);
    const owner_change change;
    if (!claim_owner(*own.record, mine, mine.pid)) return; // not (or no longer) ours
    const bool gone = own.unlinked || os::release_name(own.name, held) != os::unlink_result::failed;
    publish_owner(*own.record, gone ? owner_record{} : mine);
}

} // namespace smh::detail
