// libFuzzer target: any bytes at all, placed in a segment, then inspected
// and attached as two element types. attach must either succeed with a
// mapping that covers every element (each is read, so ASan catches an
// out-of-bounds count) or throw one of the errors a bad segment deserves;
// inspect must describe any owner and time fields without overflow (UBSan).
// Never crash, never hang.
#include <smh/shared_memory_handlee.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <string>

namespace {

struct Pair {
    std::int64_t key;
    double value;
};

const std::string& segment_name() {
    static const std::string name = "smh-fuzz-" + std::to_string(::getpid());
    return name;
}

void place(const std::uint8_t* data, std::size_t size) {
    const std::string path = "/" + segment_name();
    ::shm_unlink(path.c_str());
    const int fd = ::shm_open(path.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0) std::abort();
    if (::ftruncate(fd, static_cast<off_t>(size)) != 0) std::abort();
    if (size != 0 && ::pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) std::abort();
    ::close(fd);
}

template <class T>
void attach_and_read() {
    try {
        const auto shm = smh::attach<T>(segment_name(), {.creation_timeout = {}});
        volatile unsigned char sink = shm.is_owner();
        for (const auto& element : shm)
            sink = sink ^ reinterpret_cast<const unsigned char&>(element);
        (void)sink;
    } catch (const smh::error& e) {
        const auto code = e.code();
        if (code != smh::errc::corrupt_segment && code != smh::errc::type_mismatch &&
            code != smh::errc::not_found) {
            std::fprintf(stderr, "unexpected error: %s\n", e.what());
            std::abort();
        }
    }
}

void inspect_it() {
    try {
        const auto info = smh::inspect(segment_name());
        volatile auto sink = info.owner_alive + info.created.time_since_epoch().count();
        (void)sink;
    } catch (const smh::error& e) {
        if (e.code() != smh::errc::corrupt_segment) {
            std::fprintf(stderr, "unexpected error: %s\n", e.what());
            std::abort();
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    place(data, size);
    inspect_it();
    attach_and_read<std::int32_t>();
    attach_and_read<Pair>();
    ::shm_unlink(("/" + segment_name()).c_str());
    return 0;
}
