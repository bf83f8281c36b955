// Huge pages on Windows: none (linux/huge_pages.hpp says what Linux gives).
#pragma once

#include <cstddef> // std::size_t
#include <cstdint> // byte counts

#include "../../options.hpp"
#include "system.hpp"

namespace smh {
inline namespace v0 {
namespace detail::os {

// A section backed by the paging file never has them, and no mapping
// reports any.
inline huge_page_policy segment_huge_page_policy() noexcept { return huge_page_policy::never; }
inline std::uint64_t mapped_huge_bytes(const void*, std::size_t) noexcept { return 0; }

} // namespace detail::os
} // namespace v0
} // namespace smh
