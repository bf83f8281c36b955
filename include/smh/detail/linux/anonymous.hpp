// Segments without a name (Linux): built in a memfd whose file no process
// can shrink or grow (F_SEAL_SHRINK, F_SEAL_GROW; F_SEAL_SEAL so that nobody
// removes a seal; a growable one's file is its capacity from the start),
// and handed on by descriptor:
// inherited, passed to a spawned program, or sent over a Unix-domain socket
// (SCM_RIGHTS). The kernel frees the memory when the last descriptor and
// mapping go, so nothing is left to collect, and /dev/shm's size does not
// bound it.
#pragma once

#include <fcntl.h>      // fcntl, F_ADD_SEALS, F_GET_SEALS, open
#include <poll.h>       // a record socket's hang-up
#include <sys/mman.h>   // memfd_create, MFD_*
#include <sys/socket.h> // sendmsg, recvmsg, SCM_RIGHTS
#include <sys/stat.h>   // fstat
#include <unistd.h>     // pread

#include <array>    // the message's bytes and descriptors
#include <cerrno>   // errno values
#include <cstdint>  // fixed-width values
#include <cstring>  // std::memcpy
#include <limits>   // the largest mappable size
#include <optional> // a header that is not there
#include <string>   // paths, messages
#include <vector>   // descriptors received

#include "creating.hpp"
#include "segments.hpp"
#include "system.hpp"

namespace smh {
inline namespace v0 {
namespace detail::os {

struct anonymous_segments {
    static constexpr bool available = true;
    // A descriptor travels over a Unix-domain socket too (send, receive).
    static constexpr bool over_sockets = true;

    // What a sealed segment has: nothing may shrink or grow its file, and
    // the seals stay. A growable one's file is its whole capacity from the
    // start (sparse; grow() allocates pages inside it), so a length any
    // holder stores below the capacity never points past the file: no
    // SIGBUS, whoever holds it.
    static constexpr int required_seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

    // Builds the segment in a new memfd (close-on-exec) and seals it before
    // anyone else can reach it. No owner lock, no name, nothing registered:
    // nothing outlives the last holder.
    static opened_segment create(const segment_operation& what, std::uint64_t bytes,
                                 const create_request& request, segment_writer write) {
        const bool growable = request.capacity_bytes > bytes;
        check_file_size_limit(what, growable ? request.capacity_bytes : bytes);
        unique_fd fd(::memfd_create("smh", MFD_CLOEXEC | MFD_ALLOW_SEALING));
        if (!fd) throw_native(what, errno, "memfd_create");
        auto segment = build_segment(std::move(fd), what, bytes, request, write);
        if (growable && retry_on_eintr([&] {
                            return ::ftruncate(segment.file.get(),
                                               static_cast<off_t>(request.capacity_bytes));
                        }) != 0)
            throw_native(what, errno, "ftruncate to the capacity");
        if (::fcntl(segment.file.get(), F_ADD_SEALS, required_seals) != 0)
            throw_native(what, errno, "sealing it (F_ADD_SEALS)");
        segment.own_file = std::move(segment.file);
        return segment;
    }

    // Opens descriptor `fd` as a segment, through a description of this
    // handle's own (reopened through /proc/self/fd, read-only for a
    // read-only handle; a duplicate where /proc is missing), mapped whole.
    // The header is checked by the caller, then the seals (check_seals).
    static opened_segment open(int fd, const segment_operation& what, bool writable) {
        const std::string which = "descriptor " + std::to_string(fd);
        const int access = ::fcntl(fd, F_GETFL);
        if (access < 0)
            what.fail(errc::corrupt_segment, which + " is not open",
                      std::error_code(errno, native_category()));
        // The seals first: no I/O (a file on a FUSE mount cannot stall it),
        // and before anything is mapped, so that no one can shrink the file
        // while its header is read.
        check_sealed(fd, what, which);
        // Reopening through /proc would give write access the descriptor
        // itself does not have: a read-only descriptor stays read-only.
        if (writable && (access & O_ACCMODE) == O_RDONLY)
            what.fail(errc::permission_denied, which + " is open read-only; attach it as const T");
        const std::string again = "/proc/self/fd/" + std::to_string(fd);
        unique_fd own(::open(again.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC));
        // Where /proc is missing, or the file's mode does not let this user
        // open it again (another user's segment, handed over): a duplicate,
        // whose access is the descriptor's own, checked above.
        if (!own && (errno == ENOENT || errno == ENXIO || errno == EACCES))
            own = unique_fd(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
        if (!own) throw_native(what, errno, "opening " + which + " again");
        struct stat info {};
        if (::fstat(own.get(), &info) != 0) throw_native(what, errno, "fstat");
        if (!S_ISREG(info.st_mode))
            what.fail(errc::corrupt_segment, which + " is not a sealed smh segment (not a file)");
        opened_segment segment;
        segment.size = static_cast<std::uint64_t>(info.st_size);
        segment.identity = identity_of(info);
        if (segment.size > std::numeric_limits<std::size_t>::max())
            what.fail(errc::corrupt_segment,
                      "it has " + std::to_string(segment.size) + " bytes, more than can be mapped");
        if (segment.size != 0) segment.region = map_whole(own.get(), what, segment.size, writable);
        segment.own_file = std::move(own); // the handle keeps it: descriptor()
        return segment;
    }

    // Sealed against shrinking, growing and unsealing, or corrupt_segment.
    static void check_sealed(int fd, const segment_operation& what, const std::string& which) {
        const int seals = seals_of(fd);
        if (seals < 0)
            what.fail(errc::corrupt_segment,
                      which + " is not a sealed smh segment (a file that cannot be sealed)");
        if ((seals & required_seals) != required_seals)
            what.fail(errc::corrupt_segment,
                      which + " is not sealed (F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_SEAL): a "
                              "process could shrink it under every mapping");
    }

    // Checked again after the header: the descriptor attach keeps is the
    // sealed file (attach_anonymous_segment checks that it covers a growable
    // segment's capacity, which it can no longer grow to).
    static void check_seals(const opened_segment& segment, const segment_operation& what,
                            bool /*growable*/) {
        check_sealed(segment.own_file.get(), what, "the descriptor");
    }

    // Sends descriptor `fd` over Unix-domain socket `socket`, with a marker
    // the receiver checks.
    static void send(int socket, int fd, const segment_operation& what) {
        std::array<char, sizeof marker> bytes{};
        std::memcpy(bytes.data(), marker, sizeof marker);
        iovec part{bytes.data(), bytes.size()};
        alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int))> control{};
        msghdr message{};
        message.msg_iov = &part;
        message.msg_iovlen = 1;
        message.msg_control = control.data();
        message.msg_controllen = control.size();
        cmsghdr* header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(header), &fd, sizeof fd);
        const auto sent = retry_on_eintr([&] { return ::sendmsg(socket, &message, MSG_NOSIGNAL); });
        if (sent < 0) throw_native(what, errno, "sendmsg");
        if (static_cast<std::size_t>(sent) != bytes.size())
            what.fail(errc::os_error, "sendmsg sent part of the message");
    }

    // Receives one message from `socket`: exactly one descriptor, with the
    // marker. Every descriptor that came is closed unless it is returned,
    // whatever goes wrong: a pidfd too (SCM_PIDFD, where the receiver set
    // SO_PASSPIDFD).
    static unique_fd receive(int socket, const segment_operation& what) {
        // Exactly the marker: a stream socket never gives more than one
        // message's bytes, and a longer datagram is cut (MSG_TRUNC).
        std::array<char, sizeof marker> bytes{};
        iovec part{bytes.data(), bytes.size()};
        constexpr std::size_t most = 8; // more than one is refused, up to this many closed
        // And what a receiver may have asked the kernel to add: a pidfd,
        // credentials, timestamps, a security label (up to a page's worth).
        constexpr std::size_t room = CMSG_SPACE(most * sizeof(int)) + 4096;
        alignas(cmsghdr) std::array<char, room> control{};
        msghdr message{};
        message.msg_iov = &part;
        message.msg_iovlen = 1;
        message.msg_control = control.data();
        message.msg_controllen = control.size();
        const auto got =
            retry_on_eintr([&] { return ::recvmsg(socket, &message, MSG_CMSG_CLOEXEC); });
        if (got < 0) throw_native(what, errno, "recvmsg");
        std::vector<unique_fd> received, sender_pidfd;
        for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
             header = CMSG_NXTHDR(&message, header)) {
            const bool rights = header->cmsg_type == SCM_RIGHTS;
            if (header->cmsg_level != SOL_SOCKET || (!rights && header->cmsg_type != scm_pidfd))
                continue; // credentials: no descriptor
            const auto count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (std::size_t i = 0; i < count; ++i) {
                int fd = -1;
                std::memcpy(&fd, CMSG_DATA(header) + i * sizeof(int), sizeof fd);
                (rights ? received : sender_pidfd).emplace_back(fd);
            }
        }
        if (got == 0 && received.empty()) {
            if (peer_closed(socket))
                what.fail(errc::not_found, "the peer closed the socket before it sent a segment");
            what.fail(errc::corrupt_segment, "the message is empty, not an smh segment's");
        }
        if ((message.msg_flags & MSG_CTRUNC) != 0 && received.empty()) {
            // The kernel installs none of a message's descriptors it has no
            // number for; the message, and the segment with it, is gone.
            if (descriptors_exhausted(socket))
                throw_native(what, EMFILE,
                             "recvmsg: this process has no descriptor number free for the "
                             "segment's (RLIMIT_NOFILE); the message is lost");
            what.fail(errc::corrupt_segment,
                      "the message's descriptors could not be received (MSG_CTRUNC)");
        }
        if (received.size() > 1)
            what.fail(errc::corrupt_segment,
                      "the message carries several descriptors; a segment is sent alone");
        if ((message.msg_flags & MSG_CTRUNC) != 0)
            what.fail(errc::corrupt_segment,
                      "the message's descriptors did not all arrive (MSG_CTRUNC): it carried more "
                      "than one, or more ancillary data than receive makes room for");
        if (received.empty()) what.fail(errc::corrupt_segment, "the message carries no descriptor");
        if ((message.msg_flags & MSG_TRUNC) != 0 ||
            static_cast<std::size_t>(got) != sizeof marker ||
            std::memcmp(bytes.data(), marker, sizeof marker) != 0)
            what.fail(errc::corrupt_segment, "the message is not an smh segment's (smh::send)");
        return std::move(received.front());
    }

    // The first 256 bytes behind descriptor `fd`, read with pread(2), never
    // mapped; nullopt for a file shorter than a header.
    static std::optional<header_snapshot> read_header(int fd, const segment_operation& what) {
        if (::fcntl(fd, F_GETFD) < 0)
            what.fail(errc::corrupt_segment, "descriptor " + std::to_string(fd) + " is not open",
                      std::error_code(errno, native_category()));
        check_sealed(fd, what, "descriptor " + std::to_string(fd));
        struct stat info {};
        if (::fstat(fd, &info) != 0)
            what.fail(errc::corrupt_segment, "descriptor " + std::to_string(fd) + " is not open",
                      std::error_code(errno, native_category()));
        if (!S_ISREG(info.st_mode))
            what.fail(errc::corrupt_segment, "descriptor " + std::to_string(fd) +
                                                 " is not a sealed smh segment (not a file)");
        header_snapshot snapshot{};
        if (static_cast<std::uint64_t>(info.st_size) < header_size) return std::nullopt;
        const auto got = ::pread(fd, &snapshot.header, header_size, 0);
        if (got < 0) throw_native(what, errno, "pread");
        if (static_cast<std::size_t>(got) < header_size) return std::nullopt;
        snapshot.size = static_cast<std::uint64_t>(info.st_size);
        snapshot.identity = identity_of(info);
        snapshot.uid = static_cast<unsigned>(info.st_uid);
        snapshot.mode = static_cast<unsigned>(info.st_mode & 07777);
        return snapshot;
    }

    // The descriptor a handle of an anonymous segment keeps.
    static int descriptor_of(const segment_hold& held) noexcept { return held.own_file.get(); }

private:
    static constexpr char marker[8] = {'s', 'm', 'h', '-', 's', 'e', 'g', '1'};

    static int seals_of(int fd) noexcept { return ::fcntl(fd, F_GET_SEALS); }

    // SCM_PIDFD (Linux 6.5), which older C library headers do not name.
#ifdef SCM_PIDFD
    static constexpr int scm_pidfd = SCM_PIDFD;
#else
    static constexpr int scm_pidfd = 0x04;
#endif

    // After a receive of nothing: the peer's end, not an empty message. A
    // stream has no empty messages; a record socket (SOCK_SEQPACKET) says
    // the peer is gone by a hang-up (also with records still queued: an
    // empty one from a peer that has shut down reads as its end); a
    // datagram is never the peer's end.
    static bool peer_closed(int socket) noexcept {
        int type = 0;
        socklen_t length = sizeof type;
        if (::getsockopt(socket, SOL_SOCKET, SO_TYPE, &type, &length) != 0) return false;
        if (type == SOCK_STREAM) return true;
        if (type != SOCK_SEQPACKET) return false;
        pollfd state{socket, POLLIN | POLLRDHUP, 0};
        return ::poll(&state, 1, 0) == 1 && (state.revents & (POLLRDHUP | POLLHUP)) != 0;
    }

    // Whether this process has no descriptor number left: a duplicate,
    // closed at once, is refused with EMFILE. (Another thread may free one
    // meanwhile: then the message says corrupt, not EMFILE.)
    static bool descriptors_exhausted(int socket) noexcept {
        const int probe = ::fcntl(socket, F_DUPFD_CLOEXEC, 0);
        if (probe >= 0) ::close(probe);
        return probe < 0 && errno == EMFILE;
    }
};

} // namespace detail::os
} // namespace v0
} // namespace smh
