// The C++ side of one Python handle: a segment of the C++ library, created or
// attached with the element identity the Python layer computed, and what
// Python needs beyond a C++ handle: a second mapping of the elements for
// memoryviews and NumPy arrays that outlive close(), waits that a close()
// in another thread ends instead of unmapping under them, and the hand-over
// of ownership to the process that unpickles a handle (python/README.md,
// "Returning a segment from a worker"). Every protocol step is the C++
// library's; nothing here reads or writes a header field by itself.
#pragma once

#include <sys/mman.h> // mremap: the second mapping of the elements
#include <unistd.h>   // getpid, sysconf

#include <atomic>             // closing flag, automatic cleanup switches
#include <chrono>             // wait slices, the hand-over's patience
#include <cmath>              // timeouts: NaN and infinity
#include <condition_variable> // close() waits for calls under way
#include <cstddef>            // std::byte
#include <cstdint>            // owner records, element bits
#include <memory>             // the segment behind a handle
#include <mutex>              // ownership changes one at a time
#include <optional>           // a record being changed
#include <string>             // names
#include <system_error>       // mremap's error
#include <thread>             // the hand-over's polling
#include <utility>            // std::move
#include <vector>             // parked segments

#include <smh/shared_memory_handlee.hpp>

namespace smh_python {

// The detail names this file uses, which a change to the library's internals
// must keep in step: segment_handle (its protected header(), first_element(),
// element_count(), adopt() and take_ownership()), element_identity,
// element_shape, create_segment, attach_segment, segment_name,
// segment_operation, read_owner, owner_record, segment_header (its
// checksum, created_at_ns and creator_pid), throw_error, wait_for, notify,
// os::current_pid and os::read_process_status.
namespace detail = smh::detail;

// A C++ handle whose mapping the extension reaches: the elements' place, for
// the second mapping, and the header, for waits and the owner record.
class segment final : public detail::segment_handle {
public:
    explicit segment(detail::segment_handle&& handle) noexcept
        : detail::segment_handle(std::move(handle)) {}
    std::byte* first() const noexcept { return first_element(); }
    std::size_t count() const noexcept { return element_count(); }
    std::size_t capacity() const noexcept { return element_capacity(); }
    int descriptor() const noexcept {
        return anonymous() ? detail::os::anonymous_segments::descriptor_of(*hold()) : -1;
    }
    // The live length word of a growable segment, in this mapping; null for
    // a fixed one.
    const std::uint64_t* length_word() const noexcept {
        return growable() ? &header()->length : nullptr;
    }
    detail::segment_header* record() const noexcept { return header(); }
};

// What the Python layer knows of an element type: its stored name, size and
// alignment (python/smh/_types.py computes them from a struct format).
struct element_type {
    std::string name;
    std::size_t size = 0;
    std::size_t align = 0;
    detail::element_identity identity() const {
        return detail::element_identity::named(name, size, align);
    }
};

// The owner record as Python sees it: pid, start time, token.
struct owner_view {
    std::int64_t pid = 0;
    std::uint64_t start_time = 0;
    std::uint64_t token = 0;
    bool operator==(const owner_view&) const = default;
};

inline std::optional<owner_view> owner_of(const segment& s) {
    const auto* header = s.record();
    if (header == nullptr) return std::nullopt;
    const auto owner = detail::read_owner(*header);
    if (!owner) return std::nullopt;
    return owner_view{owner->pid, owner->start_time, owner->token};
}

// ---------------------------------------------------------------------------
// Automatic cleanup: in Python, termination cleanup and the watcher are on
// by default (python/README.md, "Who removes the name"), started the first time a
// process becomes an owner. smh.automatic_cleanup() switches them.

inline std::atomic<bool> automatic_termination_cleanup{true};
inline std::atomic<bool> automatic_watcher{true};

inline void before_owning() noexcept {
    if (automatic_termination_cleanup.load()) smh::cleanup_on_termination();
    if (automatic_watcher.load()) (void)smh::watch_owned_segments();
}

// ---------------------------------------------------------------------------
// Parked segments: those a process let go of after sending its handle to
// another process, kept owned (so that termination cleanup, the watcher and
// the end of the process still remove them) until a receiver takes them
// over. Swept, that is unmapped, once they are no longer this process's.

class parking {
public:
    void park(std::unique_ptr<segment> s) {
        const std::lock_guard lock(mutex_);
        parked_.push_back(std::move(s));
        sweep_locked();
    }
    void sweep() {
        const std::lock_guard lock(mutex_);
        sweep_locked();
    }
    // The owner's end of every parked segment: what the end of the process does.
    void end_all() {
        std::vector<std::unique_ptr<segment>> ending;
        {
            const std::lock_guard lock(mutex_);
            ending.swap(parked_);
        }
    }
    std::size_t size() {
        const std::lock_guard lock(mutex_);
        sweep_locked();
        return parked_.size();
    }
    // Waits at most `patience` for receivers to take over what is parked;
    // returns how many are still this process's.
    std::size_t wait_for_receivers(std::chrono::milliseconds patience) {
        const auto give_up_at = std::chrono::steady_clock::now() + patience;
        for (;;) {
            const auto left = size();
            if (left == 0 || std::chrono::steady_clock::now() >= give_up_at) return left;
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    }

private:
    void sweep_locked() {
        // A forked child's copies are not its own: is_owner() is false there,
        // and their destructors only unmap.
        std::erase_if(parked_, [](const std::unique_ptr<segment>& s) { return !s->is_owner(); });
    }
    std::mutex mutex_;
    std::vector<std::unique_ptr<segment>> parked_;
};

// Never destroyed: a parked segment outlives static destruction's order
// (the termination cleanup's atexit function removes what is still owned).
inline parking& parked() {
    static auto* instance = new parking;
    return *instance;
}

// ---------------------------------------------------------------------------
// Processes: whether the process (pid, start time) is this one or one of its
// ancestors, from the library's reading of /proc/PID/stat.

inline bool is_self_or_ancestor(std::int64_t pid, std::uint64_t start_time) {
    namespace os = detail::os;
    std::int64_t current = os::current_pid();
    auto status = os::read_process_status("self");
    for (int depth = 0; status && depth < 256; ++depth) {
        if (current == pid && (start_time == 0 || status->start_time == start_time)) return true;
        if (current <= 1) return false;
        current = status->parent;
        if (current <= 0) return false;
        status = os::read_process_status(current);
    }
    return false;
}

// ---------------------------------------------------------------------------
// One handle.

class closed_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A change asked of a handle attached read-only (Python: TypeError, as a
// write through [] is).
class read_only_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Waits sleep in slices this long at most, so that a close() in another
// thread, Ctrl-C and other signals' Python handlers are seen within one.
inline constexpr std::chrono::milliseconds wait_slice{50};

class handle {
public:
    handle(std::unique_ptr<segment> s, element_type element, bool writable)
        : segment_(std::move(s)),
          name_(segment_->name()),
          element_(std::move(element)),
          writable_(writable) {}
    handle(const handle&) = delete;
    handle& operator=(const handle&) = delete;
    ~handle() { let_go(); }

    // Creates `name` (none: a generated name); the result owns it.
    static std::unique_ptr<handle> create(const std::optional<std::string>& name,
                                          std::size_t length, element_type element,
                                          const smh::create_options& options) {
        const auto identity = element.identity();
        const detail::element_shape shape{identity};
        before_owning();
        parked().sweep();
        std::unique_ptr<segment> made;
        if (!name) {
            made = std::make_unique<segment>(detail::create_segment(length, shape, options));
        } else {
            const detail::segment_name checked(*name, "create");
            made = std::make_unique<segment>(
                detail::create_segment({"create", checked}, length, shape, options));
        }
        return std::make_unique<handle>(std::move(made), std::move(element), true);
    }

    // A segment with no name (Linux: a sealed memfd), no owner to hand over.
    static std::unique_ptr<handle> create_anonymous(std::size_t length, element_type element,
                                                    const smh::create_options& options) {
        const auto identity = element.identity();
        const detail::element_shape shape{identity};
        auto made = std::make_unique<segment>(
            detail::create_anonymous_segment<detail::os::anonymous_segments>(
                length, shape, options, detail::handle_growth::may_grow));
        return std::make_unique<handle>(std::move(made), std::move(element), true);
    }

    // The anonymous segment behind descriptor `fd` (which stays the caller's).
    static std::unique_ptr<handle> attach_descriptor(int fd, element_type element, bool writable,
                                                     const smh::attach_options& options) {
        auto attached = std::make_unique<segment>(
            detail::attach_anonymous_segment<detail::os::anonymous_segments>(
                fd, element.identity(), writable, options, detail::handle_growth::may_grow));
        return std::make_unique<handle>(std::move(attached), std::move(element), writable);
    }

    static std::unique_ptr<handle> attach(const std::string& name, element_type element,
                                          bool writable, const smh::attach_options& options,
                                          std::string_view operation = "attach") {
        const auto identity = element.identity();
        parked().sweep();
        const detail::segment_name checked(name, operation);
        auto attached = std::make_unique<segment>(
            detail::attach_segment({operation, checked}, identity, writable, options));
        return std::make_unique<handle>(std::move(attached), std::move(element), writable);
    }

    const std::string& name() const noexcept { return name_; }
    // An anonymous segment's descriptor, this handle's own; -1 for a named one.
    // Under the ownership lock, which close() holds while it lets go: never a
    // segment half-destroyed by a close() in another thread.
    int descriptor() const {
        const std::lock_guard lock(ops_mutex_);
        return segment_ ? segment_->descriptor() : -1;
    }
    bool writable() const noexcept { return writable_; }
    bool closed() const noexcept { return segment_ == nullptr || closing_.load(); }
    std::size_t count() const {
        const std::lock_guard lock(ops_mutex_);
        return segment_ ? segment_->count() : 0;
    }
    std::size_t capacity() const {
        const std::lock_guard lock(ops_mutex_);
        return segment_ ? segment_->capacity() : 0;
    }

    // A call that may let other threads run (it releases the GIL) holds one
    // of these, so that close() waits for it instead of unmapping under it.
    class use {
    public:
        explicit use(handle& h)
            : h_(h) {
            const std::lock_guard lock(h_.users_mutex_);
            if (h_.segment_ == nullptr || h_.closing_.load())
                throw closed_error("segment \"" + h_.name_ + "\" is closed");
            ++h_.users_;
        }
        use(const use&) = delete;
        use& operator=(const use&) = delete;
        ~use() {
            const std::lock_guard lock(h_.users_mutex_);
            if (--h_.users_ == 0) h_.users_done_.notify_all();
        }
        segment& target() const noexcept { return *h_.segment_; }

    private:
        handle& h_;
    };

    // Ownership, through the C++ library, one change at a time per handle.
    // Called with the GIL released: a change may wait (take_ownership at
    // most 2 s against a record that keeps changing).
    bool release() {
        const use in_use(*this);
        const std::lock_guard lock(ops_mutex_);
        return in_use.target().release();
    }
    bool adopt() {
        const use in_use(*this);
        const std::lock_guard lock(ops_mutex_);
        before_owning();
        return in_use.target().adopt();
    }
    void take_ownership() {
        const use in_use(*this);
        const std::lock_guard lock(ops_mutex_);
        before_owning();
        in_use.target().take_ownership();
    }
    bool unlink() {
        const use in_use(*this);
        const std::lock_guard lock(ops_mutex_);
        return in_use.target().unlink();
    }
    std::size_t huge_page_bytes() {
        const use in_use(*this);
        return in_use.target().huge_page_bytes();
    }
    // Python's elements start as zero bytes, so growth only backs them
    // (a default element shape). Waits for another grower's turn at most
    // `timeout` seconds (nullopt: no limit), in slices as wait() does;
    // false if the turn did not come (nothing changed).
    template <class Unlocked, class Check>
    bool grow(std::size_t new_length, std::optional<double> timeout, Check&& check) {
        if (!writable_)
            throw read_only_error("segment \"" + name_ +
                                  "\" is attached read-only: cannot grow it");
        const use in_use(*this);
        const auto identity = element_.identity();
        return in_slices<Unlocked>(timeout, check, [&](auto slice) {
            return in_use.target().grow(new_length, detail::element_shape{identity},
                                        detail::wait_deadline(slice));
        });
    }

    bool is_owner() {
        const std::lock_guard lock(ops_mutex_);
        return segment_ && segment_->is_owner();
    }

    std::optional<owner_view> owner() {
        const std::lock_guard lock(ops_mutex_);
        if (segment_ == nullptr) return std::nullopt;
        return owner_of(*segment_);
    }

    // Sent in a pickle that hands ownership over (python/smh/_handlee.py):
    // the owner record the receiver takes the segment over from, or none if
    // this handle does not own it. In one step with the check, so that a
    // close() in another thread (a queue's feeder pickles) cannot unmap the
    // record under it. Letting go while the record still names this handle
    // (the same token: no adopt or take_ownership since) parks the segment,
    // still owned, instead of removing its name.
    std::optional<owner_view> hand_over() {
        const use in_use(*this);
        const std::lock_guard lock(ops_mutex_);
        if (!in_use.target().is_owner()) return std::nullopt;
        const auto record = owner_of(in_use.target());
        if (record) sent_token_ = record->token;
        return record;
    }

    // Unpickled from a process that owned it and is not this one or an
    // ancestor: this handle takes the segment over at once, through the C++
    // library's take_ownership(), while the record still names the sending
    // process (its handle, or the parked one). The sender's handle is then an
    // attached copy whose end leaves the name. Taking over at unpickling,
    // not when the sender lets go, leaves no window in which a receiver busy
    // elsewhere (joining the sender, say) lets the sender's end remove it.
    // `patience` bounds the wait for a record another process is changing.
    void receive(const owner_view& sender, std::chrono::milliseconds patience) {
        if (!writable_ || is_self_or_ancestor(sender.pid, sender.start_time)) return;
        const std::lock_guard lock(ops_mutex_);
        const auto give_up_at = std::chrono::steady_clock::now() + patience;
        for (;;) {
            if (segment_ == nullptr) return;
            const auto now = owner_of(*segment_);
            if (now) {
                if (now->pid != sender.pid || now->start_time != sender.start_time)
                    return; // another process owns it now, or no one
                before_owning();
                try {
                    segment_->take_ownership();
                } catch (const smh::error&) {
                    // The record kept changing: this handle stays attached,
                    // and unpickling never raises (a pool's result thread
                    // would stop).
                }
                return;
            }
            if (std::chrono::steady_clock::now() >= give_up_at) return;
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
    }

    // The elements mapped a second time, for memoryviews and NumPy arrays:
    // they keep this mapping, not the handle's, so close() can end the
    // handle (remove the name, unmap) while they live. A second attach by
    // name, checked to be the same segment (the same header: checksum,
    // creation time, creator), so that its open file description is not
    // the owner's (whose lock would otherwise outlive release()); where the
    // name no longer leads there (removed meanwhile), the same pages mapped
    // again with mremap(2).
    class second_mapping {
    public:
        second_mapping(std::unique_ptr<segment> attached, std::size_t element_size) noexcept
            : attached_(std::move(attached)),
              first_(attached_->first()),
              element_size_(element_size),
              length_(attached_->length_word()),
              capacity_(attached_->capacity()) {}
        second_mapping(void* address, std::size_t length, std::size_t offset,
                       std::size_t element_size, const std::uint64_t* length_word,
                       std::size_t capacity) noexcept
            : first_(static_cast<std::byte*>(address) + offset),
              element_size_(element_size),
              length_(length_word),
              capacity_(capacity),
              copy_(address),
              copy_length_(length) {}
        second_mapping(const second_mapping&) = delete;
        second_mapping& operator=(const second_mapping&) = delete;
        ~second_mapping() {
            if (copy_ != nullptr) ::munmap(copy_, copy_length_);
        }
        std::byte* first() const noexcept { return first_; }
        // The elements' bytes now: a growable segment's as far as it has grown.
        std::size_t bytes() const noexcept { return count() * element_size_; }
        std::size_t count() const noexcept {
            if (length_ == nullptr) return capacity_; // a fixed segment's length
            const auto length = static_cast<std::size_t>(
                std::atomic_ref<const std::uint64_t>(*length_).load(std::memory_order_acquire));
            return length < capacity_ ? length : capacity_; // never past the mapping
        }
        // The most elements this mapping covers.
        std::size_t capacity() const noexcept { return capacity_; }
        // A growable segment's live length word, in this mapping (null: fixed).
        const std::uint64_t* length_word() const noexcept { return length_; }
        // What huge_page_bytes() reports: where Python's accesses go.
        std::size_t huge_page_bytes() const noexcept {
            return attached_ ? attached_->huge_page_bytes() : 0;
        }

    private:
        std::unique_ptr<segment> attached_;
        std::byte* first_ = nullptr;
        std::size_t element_size_ = 1;
        const std::uint64_t* length_ = nullptr;
        std::size_t capacity_ = 0; // what the mapping covers: a fixed segment's length
        void* copy_ = nullptr;
        std::size_t copy_length_ = 0;
    };

    std::unique_ptr<second_mapping> map_elements(const smh::attach_options& options) const {
        if (segment_ == nullptr) throw closed_error("segment \"" + name_ + "\" is closed");
        if (segment_->anonymous()) // its descriptor, not a name, leads to it
            return std::make_unique<second_mapping>(
                std::make_unique<segment>(
                    detail::attach_anonymous_segment<detail::os::anonymous_segments>(
                        segment_->descriptor(), element_.identity(), writable_, options,
                        detail::handle_growth::may_grow)),
                element_.size);
        try {
            const detail::segment_name checked(name_, "attach");
            auto again = std::make_unique<segment>(detail::attach_segment(
                {"attach", checked}, element_.identity(), writable_, options));
            const auto* a = segment_->record();
            const auto* b = again->record();
            if (again->capacity() == segment_->capacity() && a->checksum == b->checksum &&
                a->created_at_ns == b->created_at_ns && a->creator_pid == b->creator_pid)
                return std::make_unique<second_mapping>(std::move(again), element_.size);
        } catch (const smh::error&) { // gone, or replaced: the same pages, below
        }
        auto* base = reinterpret_cast<std::byte*>(segment_->record());
        const auto offset = static_cast<std::size_t>(segment_->first() - base);
        const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
        // A growable segment's whole capacity, as every mapping of it reserves.
        const auto length =
            (offset + segment_->capacity() * element_.size + page - 1) / page * page;
        // mremap(2): "If the value of old_size is zero, and old_address refers
        // to a shareable mapping, mremap() will create a new mapping of the
        // same pages."
        void* copy = ::mremap(base, 0, length, MREMAP_MAYMOVE);
        if (copy == MAP_FAILED)
            smh::detail::throw_error(smh::errc::os_error, "attach", name_,
                                     "mapping the elements again",
                                     std::error_code(errno, std::generic_category()));
        const std::uint64_t* length_word = nullptr;
        if (segment_->length_word() != nullptr)
            length_word = &reinterpret_cast<const detail::segment_header*>(copy)->length;
        return std::make_unique<second_mapping>(copy, length, offset, element_.size, length_word,
                                                segment_->capacity());
    }

    // Blocks while element `index` (4 or 8 bytes) holds `old`; nullopt
    // timeout: no limit. The GIL is released by `Unlocked` between looks at
    // Python: `check` runs with the GIL (signals) after each slice.
    template <class Unlocked, class Check>
    bool wait(std::size_t index, std::uint64_t old, std::optional<double> timeout, Check&& check) {
        const use in_use(*this);
        auto& s = in_use.target();
        const auto* header = s.record();
        std::byte* element = s.first() + index * element_.size;
        return in_slices<Unlocked>(timeout, check, [&](auto slice) {
            if (element_.size == 4)
                return detail::wait_for(
                    header, *reinterpret_cast<const std::atomic<std::uint32_t>*>(element),
                    static_cast<std::uint32_t>(old), writable_, slice);
            return detail::wait_for(header,
                                    *reinterpret_cast<const std::atomic<std::uint64_t>*>(element),
                                    old, writable_, slice);
        });
    }

    // Blocks until the segment has at least `at_least` elements (a growable
    // one's length only grows), as wait() does. Beyond the capacity, which
    // no growth reaches: invalid_length.
    template <class Unlocked, class Check>
    bool wait_for_size(std::size_t at_least, std::optional<double> timeout, Check&& check) {
        const use in_use(*this);
        auto& s = in_use.target();
        if (at_least > s.capacity())
            detail::throw_error(smh::errc::invalid_length, "wait_for_size", name_,
                                "size " + std::to_string(at_least) + " is beyond its capacity of " +
                                    std::to_string(s.capacity()) + " elements");
        if (s.count() >= at_least) return true;
        const auto* header = s.record();
        return in_slices<Unlocked>(timeout, check, [&](auto slice) {
            return detail::wait_for_length(*header, at_least, writable_,
                                           detail::wait_deadline(slice));
        });
    }

    void notify(std::size_t index, bool all) {
        const use in_use(*this);
        auto& s = in_use.target();
        std::byte* element = s.first() + index * element_.size;
        if (element_.size == 4)
            detail::notify(s.record(), *reinterpret_cast<std::atomic<std::uint32_t>*>(element),
                           all);
        else
            detail::notify(s.record(), *reinterpret_cast<std::atomic<std::uint64_t>*>(element),
                           all);
    }

    // close(): waits until no call is under way on this handle (a waiter
    // sees the close within one slice), then lets go. Call with the GIL
    // released; `closing_` set first with the GIL held (begin_close).
    void begin_close() noexcept { closing_.store(true); }
    void finish_close() {
        {
            std::unique_lock lock(users_mutex_);
            users_done_.wait(lock, [&] { return users_ == 0; });
        }
        const std::lock_guard lock(ops_mutex_);
        let_go_locked();
    }

private:
    // Runs `attempt(slice)` until it returns true or `timeout` (seconds;
    // nullopt: no limit) passes, in slices of at most wait_slice so that a
    // close() in another thread and Python's signal handlers (`check`, with
    // the GIL) are seen within one.
    template <class Unlocked, class Check, class Attempt>
    bool in_slices(std::optional<double> timeout, Check& check, Attempt&& attempt) {
        using clock = std::chrono::steady_clock;
        std::optional<clock::time_point> deadline;
        if (timeout) {
            // Longer than 31 years (and infinity): no limit.
            if (*timeout < 1e9)
                deadline = clock::now() +
                           std::chrono::ceil<clock::duration>(
                               std::chrono::duration<double>(*timeout > 0 ? *timeout : 0.0));
        }
        for (;;) {
            auto slice = std::chrono::duration_cast<clock::duration>(wait_slice);
            if (deadline) {
                const auto left = *deadline - clock::now();
                if (left < slice)
                    slice = left > clock::duration::zero() ? left : clock::duration::zero();
            }
            bool done = false;
            {
                Unlocked unlocked;
                done = attempt(slice);
            }
            if (done) return true;
            if (deadline && clock::now() >= *deadline) return false;
            if (closing_.load())
                throw closed_error("segment \"" + name_ + "\" was closed while waiting");
            check();
        }
    }

    void let_go() noexcept {
        try {
            const std::lock_guard lock(ops_mutex_);
            let_go_locked();
        } catch (...) { // a destructor: the C++ handle's own end never throws
        }
    }

    // The end of this handle: one sent to another process that has not
    // taken it over yet is parked, still owned; any other owner removes the
    // name (the C++ destructor), and a copy only unmaps.
    void let_go_locked() {
        if (segment_ == nullptr) return;
        auto ending = std::move(segment_);
        if (sent_token_ != 0 && ending->is_owner()) {
            const auto record = owner_of(*ending);
            if (record && record->token == sent_token_) parked().park(std::move(ending));
        }
    }

    std::unique_ptr<segment> segment_;
    std::string name_;
    element_type element_;
    bool writable_;
    std::uint64_t sent_token_ = 0; // the owner token a pickle handed over; 0: none
    std::atomic<bool> closing_{false};
    std::mutex users_mutex_;
    std::condition_variable users_done_;
    int users_ = 0;
    mutable std::mutex ops_mutex_;
};

} // namespace smh_python
