// list(), inspect(), remove() and remove_orphans(): segments found by name,
// read without mapping them. The directory itself is the platform's
// (segment_directory: POSIX only, since Windows keeps no list of sections).
#pragma once

#include <algorithm>   // sorting listings
#include <chrono>      // creation times
#include <cstring>     // comparing headers
#include <optional>    // a name that is not a segment
#include <string>      // names
#include <string_view> // operation names
#include <thread>      // the second look at claimed segments
#include <vector>      // listings

#include "../error.hpp"
#include "../options.hpp"
#include "layout.hpp"
#include "ownership.hpp"
#include "platform.hpp"
#include "segment_name.hpp"

namespace smh::detail {

struct found_segment {
    segment_name name;
    os::header_snapshot snapshot;
};

// Whether a read failure means "not one of this user's smh segments" (gone
// meanwhile, another user's, not a segment file), which a listing skips,
// rather than a failure to look (no descriptors left), which it reports.
inline bool skippable_when_listing(const error& e) noexcept {
    return e.code() == errc::not_found || e.code() == errc::permission_denied ||
           e.code() == errc::corrupt_segment;
}

// The intact smh segment `name`, if it is one this user can read. The header
// is read twice; one whose owner changed in between is skipped this time.
// Never opens anything for writing.
inline std::optional<found_segment> find_segment(std::string_view operation,
                                                 std::string_view name) {
    auto checked = segment_name::if_valid(name);
    if (!checked) return std::nullopt; // no smh function could take that name
    const segment_operation what{operation, *checked};
    try {
        const auto first = os::read_header(what);
        if (!first || check_header_integrity(first->header)) return std::nullopt;
        const auto second = os::read_header(what);
        if (!second || second->identity != first->identity ||
            second->header.owner_pid != first->header.owner_pid ||
            second->header.owner_start_time != first->header.owner_start_time)
            return std::nullopt;
        return found_segment{std::move(*checked), *second};
    } catch (const error& e) {
        if (skippable_when_listing(e)) return std::nullopt;
        throw;
    }
}

inline segment_info describe(const segment_name& name, const os::header_snapshot& snapshot) {
    const auto& header = snapshot.header;
    segment_info info;
    info.name = name.str();
    info.type_name = std::string(stored_type_name(header));
    info.element_size = static_cast<std::size_t>(header.element_size);
    info.element_align = static_cast<std::size_t>(header.element_align);
    info.element_count = static_cast<std::size_t>(header.element_count);
    info.data_offset = static_cast<std::size_t>(header.data_offset);
    info.bytes = static_cast<std::size_t>(snapshot.size);
    info.creator_pid = header.creator_pid;
    info.owner_pid = header.owner_pid;
    info.owner_start_time = header.owner_start_time;
    info.owner_alive = owner_alive(snapshot);
    info.ready = header.state == state_ready;
    // Any 64 bits may be there: the conversion to a signed count wraps
    // (C++20), so a hostile value gives an odd date, never an overflow.
    info.created = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(static_cast<std::int64_t>(header.created_at_ns))));
    return info;
}

// The header of segment `what.name`, checked to be an intact smh header.
inline os::header_snapshot read_smh_header(const segment_operation& what) {
    const auto snapshot = os::read_header(what);
    if (!snapshot) what.fail(errc::corrupt_segment, "not an smh segment: shorter than a header");
    if (const auto problem = check_header_integrity(snapshot->header))
        what.fail(problem->code, problem->why);
    return *snapshot;
}

inline segment_info inspect_segment(std::string_view name) {
    const segment_name checked(name, "inspect");
    return describe(checked, read_smh_header({"inspect", checked}));
}

template <class Directory>
std::vector<segment_info> list_segments() {
    constexpr std::string_view op = "list";
    std::vector<segment_info> segments;
    for (const auto& name : Directory::names(op))
        if (const auto found = find_segment(op, name))
            segments.push_back(describe(found->name, found->snapshot));
    std::sort(segments.begin(), segments.end(),
              [](const segment_info& a, const segment_info& b) { return a.name < b.name; });
    return segments;
}

template <class Directory>
void remove_segment(std::string_view name) {
    const segment_name checked(name, "remove");
    const segment_operation what{"remove", checked};
    const auto snapshot = read_smh_header(what);
    switch (Directory::remove_if_same(checked, snapshot.identity)) {
    case os::unlink_result::removed: return;
    case os::unlink_result::gone: what.fail(errc::not_found, "removed by someone else meanwhile");
    case os::unlink_result::failed: os::throw_native(what, os::last_native_error(), "shm_unlink");
    }
}

// Whether `now` is still exactly the claimed segment `before`, claim and all.
inline bool unchanged_claim(const std::optional<found_segment>& now,
                            const found_segment& before) noexcept {
    return now && now->snapshot.identity == before.snapshot.identity &&
           !now->snapshot.owner_lock_held &&
           std::memcmp(&now->snapshot.header, &before.snapshot.header,
                       sizeof before.snapshot.header) == 0;
}

template <class Directory>
std::vector<std::string> remove_orphan_segments() {
    constexpr std::string_view op = "remove_orphans";
    std::vector<std::string> removed;
    auto remove = [&](const found_segment& found) {
        if (Directory::remove_if_same(found.name, found.snapshot.identity) ==
            os::unlink_result::removed)
            removed.push_back(found.name.str());
    };
    // Claims by live processes: abandoned if still unchanged after the
    // longest a change takes (one wait for all of them).
    std::vector<found_segment> claimed;
    for (const auto& name : Directory::names(op)) {
        if (Directory::remove_abandoned_build(name)) {
            removed.push_back(name);
            continue;
        }
        auto found = find_segment(op, name);
        if (!found || found->snapshot.header.owner_pid == 0) continue;
        if (!owner_alive(found->snapshot))
            remove(*found);
        else if (found->snapshot.header.owner_pid < 0 && !found->snapshot.owner_lock_held)
            claimed.push_back(std::move(*found));
    }
    if (!claimed.empty()) std::this_thread::sleep_for(abandoned_claim_after);
    for (const auto& before : claimed)
        if (const auto now = find_segment(op, before.name.str()); unchanged_claim(now, before))
            remove(*now);
    std::sort(removed.begin(), removed.end());
    return removed;
}

} // namespace smh::detail
