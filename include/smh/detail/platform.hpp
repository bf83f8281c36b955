// The library's only platform switch, and the check that the folder it picks
// keeps platform_contract.hpp: each function exists once, with the declared
// type (a drifted signature would be a second overload, ambiguous here).
// Each OS is a folder whose files are named after the contract's sections,
// the same names in every folder; a port to another OS is another folder.
#pragma once

#include <type_traits> // std::is_same_v

#include "platform_contract.hpp"

#if defined(_WIN32)
#include "windows/anonymous.hpp"
#include "windows/creating.hpp"
#include "windows/growing.hpp"
#include "windows/huge_pages.hpp"
#include "windows/owner_lock.hpp"
#include "windows/processes.hpp"
#include "windows/segments.hpp"
#include "windows/system.hpp"
#include "windows/termination.hpp"
#include "windows/waiting.hpp"
#include "windows/watcher.hpp"
#else
#include "linux/anonymous.hpp"
#include "linux/creating.hpp"
#include "linux/growing.hpp"
#include "linux/huge_pages.hpp"
#include "linux/owner_lock.hpp"
#include "linux/processes.hpp"
#include "linux/segments.hpp"
#include "linux/system.hpp"
#include "linux/termination.hpp"
#include "linux/waiting.hpp"
#include "linux/watcher.hpp"
#endif

namespace smh {
inline namespace v0 {
namespace detail::os::contract {

using std::is_same_v;
using std::chrono::milliseconds;

static_assert(is_same_v<decltype(&native_category), const std::error_category& (*)() noexcept>);
static_assert(is_same_v<decltype(&errc_from_native), errc (*)(int) noexcept>);
static_assert(is_same_v<decltype(&last_native_error), int (*)() noexcept>);
static_assert(is_same_v<decltype(&create_segment),
                        opened_segment (*)(const segment_operation&, std::uint64_t,
                                           const create_request&, segment_writer)>);
static_assert(is_same_v<decltype(&open_segment),
                        opened_segment (*)(const segment_operation&, bool, milliseconds)>);
static_assert(is_same_v<decltype(&read_header),
                        std::optional<header_snapshot> (*)(const segment_operation&)>);
static_assert(is_same_v<decltype(&advise), void (*)(mapping&, bool, populate) noexcept>);
static_assert(
    is_same_v<decltype(&map_capacity),
              std::uint64_t (*)(opened_segment&, const segment_operation&, bool, std::uint64_t)>);
static_assert(is_same_v<decltype(&while_growth_locked),
                        bool (*)(segment_hold&, const segment_operation&, growth_work,
                                 std::chrono::steady_clock::time_point)>);
static_assert(is_same_v<decltype(&extend_segment), void (*)(segment_hold&, const segment_operation&,
                                                            std::uint64_t, std::uint64_t)>);
static_assert(is_same_v<decltype(&segment_huge_page_policy), huge_page_policy (*)() noexcept>);
static_assert(
    is_same_v<decltype(&mapped_huge_bytes), std::uint64_t (*)(const void*, std::size_t) noexcept>);
static_assert(is_same_v<decltype(&hold), segment_hold (*)(opened_segment&, mapping&) noexcept>);
static_assert(
    is_same_v<decltype(&hold_created), segment_hold (*)(opened_segment&, mapping&) noexcept>);
static_assert(is_same_v<decltype(static_cast<unlink_result (*)(const segment_name&,
                                                               segment_hold&) noexcept>(&unlink)),
                        unlink_result (*)(const segment_name&, segment_hold&) noexcept>);
static_assert(
    is_same_v<decltype(&lock_for_owning), void (*)(segment_hold&, const segment_name&) noexcept>);
static_assert(is_same_v<decltype(&lock_held_by_others), bool (*)(const segment_hold&) noexcept>);
static_assert(
    is_same_v<decltype(&note_owning), void (*)(segment_hold&, const segment_name&,
                                               const owner_record&, segment_header*) noexcept>);
static_assert(is_same_v<decltype(&keep_owner_lock), void (*)(segment_hold&) noexcept>);
static_assert(
    is_same_v<decltype(&stop_owning), void (*)(segment_hold&, const segment_name&) noexcept>);
static_assert(is_same_v<decltype(&begin_owner_change), void (*)() noexcept>);
static_assert(is_same_v<decltype(&end_owner_change), void (*)() noexcept>);
static_assert(is_same_v<decltype(&install_termination_cleanup), void (*)() noexcept>);
static_assert(is_same_v<decltype(&remove_owned_segments_now), void (*)() noexcept>);
static_assert(is_same_v<decltype(&watch_owned_segments), bool (*)() noexcept>);
static_assert(
    is_same_v<decltype(&wait_word_for),
              const std::uint32_t& (*)(const segment_header&, const void*, std::size_t) noexcept>);
static_assert(is_same_v<decltype(&sleep_on_word),
                        void (*)(const segment_header&, const std::uint32_t&, std::uint32_t,
                                 std::optional<std::chrono::nanoseconds>) noexcept>);
static_assert(
    is_same_v<decltype(&wake_word), void (*)(segment_header&, std::uint32_t&, bool) noexcept>);
static_assert(is_same_v<decltype(&current_pid), std::int64_t (*)() noexcept>);
static_assert(is_same_v<decltype(&own_start_time), std::uint64_t (*)(std::int64_t) noexcept>);
static_assert(is_same_v<decltype(&process_alive), bool (*)(std::int64_t, std::uint64_t) noexcept>);
static_assert(is_same_v<decltype(&random_64), std::uint64_t (*)(std::string_view)>);
static_assert(std::is_same_v<decltype(segment_directory::available), const bool>);
static_assert(is_same_v<decltype(anonymous_segments::available), const bool>);
static_assert(is_same_v<decltype(anonymous_segments::over_sockets), const bool>);
static_assert(is_same_v<decltype(&anonymous_segments::create),
                        opened_segment (*)(const segment_operation&, std::uint64_t,
                                           const create_request&, segment_writer)>);
static_assert(is_same_v<decltype(&anonymous_segments::open),
                        opened_segment (*)(int, const segment_operation&, bool)>);
static_assert(is_same_v<decltype(&anonymous_segments::check_seals),
                        void (*)(const opened_segment&, const segment_operation&, bool)>);
static_assert(is_same_v<decltype(&anonymous_segments::read_header),
                        std::optional<header_snapshot> (*)(int, const segment_operation&)>);
static_assert(
    is_same_v<decltype(&anonymous_segments::descriptor_of), int (*)(const segment_hold&) noexcept>);

} // namespace detail::os::contract
} // namespace v0
} // namespace smh
