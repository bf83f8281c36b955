// The public header compiles on its own and states its contract.
#include <smh/shared_memory_handlee.hpp>

#include <atomic>
#include <ranges>
#include <span>
#include <type_traits>

namespace {
using Ints = smh::SharedMemoryHandlee<int>;

static_assert(!std::is_copy_constructible_v<Ints>, "move-only");
static_assert(std::is_nothrow_move_constructible_v<Ints> &&
              std::is_nothrow_move_assignable_v<Ints>);
static_assert(std::is_nothrow_destructible_v<Ints>);
static_assert(std::is_same_v<decltype(std::declval<Ints&>().data()), std::span<int>>);
static_assert(std::is_same_v<decltype(std::declval<const Ints&>().data()), std::span<const int>>);
static_assert(std::ranges::contiguous_range<Ints> && std::ranges::contiguous_range<const Ints>);
static_assert(std::is_same_v<decltype(Ints::create(1)), Ints>);
static_assert(std::is_same_v<decltype(Ints::create("n", 1)), Ints>);
static_assert(std::is_same_v<decltype(Ints::attach("n")), Ints>);
static_assert(noexcept(std::declval<Ints&>().unlink()));
static_assert(noexcept(std::declval<Ints&>()[0]));
static_assert(std::is_base_of_v<std::system_error, smh::error>);
static_assert(std::is_error_code_enum_v<smh::errc>);
static_assert(std::is_constructible_v<Ints, std::size_t> &&
                  !std::is_convertible_v<std::size_t, Ints>,
              "the length constructor is explicit");
} // namespace

// Every member of the class compiles for any element type it accepts (an
// explicit instantiation instantiates them all): members that only some
// element types can use (wait, notify, the writers) are kept from the others.
template class smh::SharedMemoryHandlee<int>;
template class smh::SharedMemoryHandlee<const int>;
template class smh::SharedMemoryHandlee<std::atomic<unsigned>>;
template class smh::SharedMemoryHandlee<const std::atomic<unsigned long long>>;
template class smh::SharedMemoryHandlee<int, smh::growable>;
template class smh::SharedMemoryHandlee<const int, smh::growable>;
