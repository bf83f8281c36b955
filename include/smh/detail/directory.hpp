// list(), list_directory(), inspect(), remove(), find_orphans() and
// remove_orphans(): segments found by name, read without mapping them. The
// directory itself is the platform's (segment_directory: POSIX only, since
// Windows keeps no list of sections). The functions that need it say so,
// each with its public name, in a static_assert of their own: the public
// functions are one call each.
#pragma once

#include <algorithm>   // sorting listings
#include <chrono>      // creation times
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

namespace smh {
inline namespace v0 {
namespace detail {

struct found_segment {
    segment_name name;
    os::header_snapshot snapshot;
};

// What looking at one name of the directory found: an intact smh segment
// this user can read, or why it is not one (neither: gone meanwhile).
struct look_result {
    std::optional<found_segment> segment = std::nullopt;
    std::optional<skip_reason> skipped = std::nullopt;
};

// Reads the header of `name` twice; one whose owner changed in between is
// read again (a change takes microseconds), and reported as changing after
// the third try. Never opens anything for writing. Throws what a listing
// cannot skip: a failure to look (no descriptors left).
inline look_result look_at(std::string_view operation, std::string_view name) {
    auto checked = segment_name::if_valid(name);
    if (!checked) return {.skipped = skip_reason::not_smh}; // no smh function takes that name
    const segment_operation what{operation, *checked};
    try {
        for (int attempt = 0; attempt < 3; ++attempt) {
            const auto first = os::read_header(what);
            if (!first || check_header_integrity(first->header))
                return {.skipped = skip_reason::not_smh};
            const auto second = os::read_header(what);
            if (second && second->identity == first->identity &&
                second->header.owner_pid == first->header.owner_pid &&
                second->header.owner_start_time == first->header.owner_start_time)
                return {.segment = found_segment{std::move(*checked), *second}};
        }
        return {.skipped = skip_reason::changing};
    } catch (const error& e) {
        if (e.code() == errc::not_found) return {};
        if (e.code() == errc::permission_denied) return {.skipped = skip_reason::unreadable};
        if (e.code() == errc::corrupt_segment) return {.skipped = skip_reason::not_smh};
        throw;
    }
}

// The intact smh segment `name`, if it is one this user can read.
inline std::optional<found_segment> find_segment(std::string_view operation,
                                                 std::string_view name) {
    return look_at(operation, name).segment;
}

// What one look at a segment tells remove_orphans(), given whether its owner
// lives (owner_alive): kept (no owner, or a live one); an orphan (its owner
// no longer runs, or died changing its record); or a claim that a live pid
// holds without the owner's lock, an orphan only if it stays unchanged for
// longer than any change takes (find_orphan_segments looks again).
enum class orphan_verdict { kept, orphan, claim_to_watch };

inline orphan_verdict judge_orphan(const os::header_snapshot& snapshot, bool alive) noexcept {
    const auto pid = snapshot.header.owner_pid;
    if (pid == 0) return orphan_verdict::kept;
    if (!alive) return orphan_verdict::orphan;
    if (pid < 0 && !snapshot.owner_lock_held) return orphan_verdict::claim_to_watch;
    return orphan_verdict::kept;
}

inline segment_info describe(const segment_name& name, const os::header_snapshot& snapshot) {
    const auto& header = snapshot.header;
    segment_info info;
    info.name = name.str();
    info.type_name = std::string(stored_type_name(header));
    info.element_size = static_cast<std::size_t>(header.element_size);
    info.element_align = static_cast<std::size_t>(header.element_align);
    info.element_count = static_cast<std::size_t>(header_length(header));
    info.capacity = static_cast<std::size_t>(header.element_count);
    info.data_offset = static_cast<std::size_t>(header.data_offset);
    info.bytes = static_cast<std::size_t>(snapshot.size);
    info.creator_pid = header.creator_pid;
    info.owner_pid = header.owner_pid;
    info.owner_start_time = header.owner_start_time;
    info.claimant = claimant_of(header.owner_pid);
    info.owner_alive = owner_alive(snapshot);
    info.orphaned = judge_orphan(snapshot, info.owner_alive) == orphan_verdict::orphan;
    info.ready = header.state == state_ready;
    // Any 64 bits may be there: the conversion to a signed count wraps
    // (C++20), so a hostile value gives an odd date, never an overflow.
    info.created = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(static_cast<std::int64_t>(header.created_at_ns))));
    info.uid = snapshot.uid;
    info.mode = snapshot.mode;
    info.device = snapshot.identity.device;
    info.inode = snapshot.identity.inode;
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

// What the anonymous segment behind descriptor `fd` holds (no name).
template <class Anonymous>
segment_info inspect_descriptor_segment(int fd) {
    static_assert(Anonymous::available,
                  "smh::inspect_descriptor() needs segments without a name (Linux: "
                  "memfd_create; Windows: an unnamed section)");
    const segment_operation what{"inspect_descriptor", segment_name()};
    const auto snapshot = Anonymous::read_header(fd, what);
    if (!snapshot) what.fail(errc::corrupt_segment, "not an smh segment: shorter than a header");
    if (const auto problem = check_header_integrity(snapshot->header))
        what.fail(problem->code, problem->why);
    return describe(segment_name(), *snapshot);
}

template <class Directory>
directory_listing list_directory() {
    static_assert(Directory::available,
                  "smh::list_directory() needs segments that are files in a directory (POSIX); "
                  "Windows has no list of named shared memory");
    constexpr std::string_view op = "list";
    directory_listing listing;
    for (const auto& name : Directory::names(op)) {
        auto looked = look_at(op, name);
        if (looked.segment)
            listing.segments.push_back(describe(looked.segment->name, looked.segment->snapshot));
        else if (looked.skipped)
            listing.skipped.push_back({name, *looked.skipped, Directory::size_of(name)});
    }
    std::sort(listing.segments.begin(), listing.segments.end(),
              [](const segment_info& a, const segment_info& b) { return a.name < b.name; });
    std::sort(listing.skipped.begin(), listing.skipped.end(),
              [](const skipped_file& a, const skipped_file& b) { return a.name < b.name; });
    return listing;
}

template <class Directory>
std::vector<segment_info> list_segments() {
    static_assert(Directory::available,
                  "smh::list() needs segments that are files in a directory (POSIX); Windows "
                  "has no list of named shared memory");
    return list_directory<Directory>().segments;
}

template <class Directory>
void remove_segment(std::string_view name) {
    static_assert(Directory::available,
                  "smh::remove() needs segments that are files in a directory (POSIX); on "
                  "Windows a segment lives exactly as long as some process holds it");
    const segment_name checked(name, "remove");
    const segment_operation what{"remove", checked};
    const auto snapshot = read_smh_header(what);
    switch (Directory::unlink(checked, snapshot.identity)) {
    case os::unlink_result::removed: return;
    case os::unlink_result::gone: what.fail(errc::not_found, "removed by someone else meanwhile");
    case os::unlink_result::failed: os::throw_native(what, os::last_native_error(), "unlink");
    }
}

// Whether `now` is still the segment `before`, with the same owner record
// and no owner's lock on it. Only the record: the header's wait words change
// whenever a process still attached waits or notifies.
inline bool unchanged(const std::optional<found_segment>& now,
                      const found_segment& before) noexcept {
    if (!now || now->snapshot.identity != before.snapshot.identity || now->snapshot.owner_lock_held)
        return false;
    const auto& a = now->snapshot.header;
    const auto& b = before.snapshot.header;
    return a.owner_pid == b.owner_pid && a.owner_start_time == b.owner_start_time &&
           a.owner_token == b.owner_token;
}

// An orphan as find_orphan_segments() saw it: a segment, with the header that
// made it one, or (no segment) a file a builder that died left.
struct orphan {
    std::string name;
    std::optional<found_segment> segment = std::nullopt;
};

// The one decision of what is an orphan, for remove_orphans() and for
// find_orphans() alike, so that a dry run names what a removal removes. An
// orphan is a segment whose owner no longer runs, a builder's abandoned file,
// or a segment whose owner record a live pid has claimed and left unchanged
// for longer than any change takes (one wait, abandoned_claim_after, for all
// of them). Sorted by name.
template <class Directory>
std::vector<orphan> find_orphan_segments(std::string_view op) {
    std::vector<orphan> orphans;
    std::vector<found_segment> claimed;
    for (const auto& name : Directory::names(op)) {
        if (Directory::is_abandoned_build(name)) {
            orphans.push_back({name, std::nullopt});
            continue;
        }
        auto found = find_segment(op, name);
        if (!found) continue;
        switch (judge_orphan(found->snapshot, owner_alive(found->snapshot))) {
        case orphan_verdict::orphan: orphans.push_back({name, std::move(*found)}); break;
        case orphan_verdict::claim_to_watch: claimed.push_back(std::move(*found)); break;
        case orphan_verdict::kept: break;
        }
    }
    if (!claimed.empty()) std::this_thread::sleep_for(abandoned_claim_after);
    for (auto& before : claimed)
        if (unchanged(find_segment(op, before.name.str()), before))
            orphans.push_back({before.name.str(), std::move(before)});
    std::sort(orphans.begin(), orphans.end(),
              [](const orphan& a, const orphan& b) { return a.name < b.name; });
    return orphans;
}

template <class Directory>
std::vector<std::string> find_orphan_names() {
    static_assert(Directory::available,
                  "smh::find_orphans() is for POSIX, where segments outlive their processes; "
                  "Windows destroys a segment with the last handle to it, so none is orphaned");
    std::vector<std::string> names;
    for (auto& found : find_orphan_segments<Directory>("find_orphans"))
        names.push_back(std::move(found.name));
    return names;
}

// Removes `found` if it is still the orphan it was: an adopter may have
// taken it since, or another process removed or replaced it.
template <class Directory>
bool remove_orphan(std::string_view op, const orphan& found) {
    if (!found.segment) return Directory::remove_abandoned_build(found.name);
    if (!unchanged(find_segment(op, found.name), *found.segment)) return false;
    return Directory::unlink(found.segment->name, found.segment->snapshot.identity) ==
           os::unlink_result::removed;
}

template <class Directory>
std::vector<std::string> remove_orphan_segments() {
    static_assert(Directory::available,
                  "smh::remove_orphans() is for POSIX, where segments outlive their processes; "
                  "Windows destroys a segment with the last handle to it, so none is orphaned");
    constexpr std::string_view op = "remove_orphans";
    std::vector<std::string> removed;
    for (const auto& found : find_orphan_segments<Directory>(op))
        if (remove_orphan<Directory>(op, found)) removed.push_back(found.name);
    return removed;
}

} // namespace detail
} // namespace v0
} // namespace smh
