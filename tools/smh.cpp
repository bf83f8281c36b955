// smh: list, inspect, remove and garbage-collect smh segments.
//
//   smh ls [--json]                 every smh segment this user can see, the
//                                   processes mapping each, a total, what was skipped
//   smh inspect NAME [--json]       one segment's header, file owner and mode
//   smh rm [--force] NAME...        remove segments by name (smh segments only;
//                                   one whose owner runs only with --force)
//   smh gc [--dry-run] [--json]     remove what smh::find_orphans() finds
//   smh help                        usage (also --help, -h)
//   (after --, every argument is a NAME, even one that starts with -)
//
// Exit codes: 0 done; 1 an operation failed (each failure is reported on
// stderr, the others still run); 2 bad usage.
#include <smh/shared_memory_handlee.hpp>

#include <dirent.h>        // /proc: the processes mapping a segment
#include <fcntl.h>         // open
#include <pwd.h>           // getpwuid_r: the user owning a segment
#include <sys/stat.h>      // S_ISUID...: how ls -l shows a mode
#include <sys/sysmacros.h> // makedev: devices as /proc/PID/maps writes them
#include <unistd.h>        // sysconf, read, close

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr const char* usage = R"(usage: smh <command> [options]

Lists and cleans up the shared-memory segments of the smh library.

commands:
  ls [--json]               list every smh segment this user can see, with the
                            user owning it, its mode and how many processes map
                            it; then the total, and what else is in /dev/shm
  inspect NAME [--json]     show one segment's header fields, owner and mode
  rm [--force] NAME...      remove segments (refuses anything that is not an smh
                            segment, and one whose owner runs unless --force)
  gc [--dry-run] [--json]   remove orphans: segments whose owner process has
                            ended, owner changes abandoned midway, files of
                            creators killed while building (released segments,
                            which have no owner, are kept)
  help                      this text

Segments are POSIX shared-memory objects, files in /dev/shm: `ipcs -m`,
which lists System V segments, does not show them; `ls -l /dev/shm` does.
NAME is the file's name there, without the directory.

PROCS (ls) counts the processes whose mappings this user may read
(/proc/PID/maps); where some could not be read (other users' processes,
unless root), a count is a lower bound and ends in +.

options:
  --json      machine-readable output
  --dry-run   gc: list what would be removed, remove nothing
  --force     rm: remove a segment even while its owner runs
  --help, -h  this text
  --version   the library version
  --          what follows is names, even one that starts with -

exit status: 0 done, 1 an operation failed, 2 bad usage
)";

// Names and type names come from segments that any local user can write: a
// terminal must not act on them. Shows every byte a terminal could take as a
// control (C0, DEL, and all bytes from 0x80 on, since some terminals read 0x9b
// as CSI) as \xNN, and the backslash as \\ so that an escape cannot be forged.
std::string printable(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte == '\\') {
            out += "\\\\";
        } else if (byte < 0x20 || byte >= 0x7f) {
            char buffer[8];
            std::snprintf(buffer, sizeof buffer, "\\x%02x", byte);
            out += buffer;
        } else {
            out += c;
        }
    }
    return out;
}

std::string json_string(std::string_view text) {
    std::string out = "\"";
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        default:
            // Controls and DEL as \u00NN. Names are not promised to be UTF-8,
            // and a stray byte would make the output invalid JSON: every byte
            // from 0x80 on is written as \u00NN of the byte itself (read as
            // Latin-1), so the output is ASCII and the bytes can be recovered.
            if (byte < 0x20 || byte >= 0x7f) {
                char buffer[8];
                std::snprintf(buffer, sizeof buffer, "\\u%04x", byte);
                out += buffer;
            } else {
                out += c;
            }
        }
    }
    return out + "\"";
}

// Whole seconds since 1970, or nullopt before it. created_at_ns is whatever
// 64 bits a local user wrote; from 2^63 on it wraps to before 1970 (checked
// before truncating, as 2^64 - 1 is -1 ns, which truncates to 0 s).
std::optional<long long> unix_seconds(std::chrono::system_clock::time_point t) {
    if (t.time_since_epoch() < std::chrono::system_clock::duration::zero()) return std::nullopt;
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// Seconds from `t` to now; nullopt when either is before 1970. Both are then
// non-negative, so the difference cannot overflow.
std::optional<long long> seconds_since(std::chrono::system_clock::time_point t) {
    const auto then = unix_seconds(t);
    const auto now = unix_seconds(std::chrono::system_clock::now());
    if (!then || !now) return std::nullopt;
    return *now - *then;
}

// "?" for a time before 1970 or in the future: not a real creation time.
std::string human_age(std::optional<long long> seconds) {
    if (!seconds || *seconds < 0) return "?";
    const long long s = *seconds;
    if (s < 120) return std::to_string(s) + "s";
    if (s < 7200) return std::to_string(s / 60) + "m";
    if (s < 172800) return std::to_string(s / 3600) + "h";
    return std::to_string(s / 86400) + "d";
}

std::string human_bytes(std::size_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = static_cast<double>(bytes);
    int unit = 0;
    while (value >= 1024 && unit < 4) value /= 1024, ++unit;
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
    return buffer;
}

// nullopt for a time before 1970 or one gmtime cannot convert.
std::optional<std::string> iso_time(std::chrono::system_clock::time_point t) {
    const auto seconds = unix_seconds(t);
    if (!seconds || *seconds > (std::numeric_limits<std::time_t>::max)()) return std::nullopt;
    const auto when = static_cast<std::time_t>(*seconds);
    std::tm utc{};
    if (!gmtime_r(&when, &utc)) return std::nullopt;
    char buffer[64];
    if (std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc) == 0) return std::nullopt;
    return std::string(buffer);
}

std::string owner_text(const smh::segment_info& s) {
    if (s.owner_pid == 0) return "none";
    const std::string dead = s.orphaned ? " (dead)" : "";
    if (s.owner_pid < 0) return "changing " + std::to_string(s.claimant) + dead;
    return std::to_string(s.owner_pid) + dead;
}

// A segment's file as /proc/PID/maps names it: device and inode.
using file_id = std::pair<std::uint64_t, std::uint64_t>;

file_id file_of(const smh::segment_info& s) { return {s.device, s.inode}; }

// How many processes have each file mapped, as ipcs's nattch tells for System
// V segments, from every /proc/PID/maps this user may read (proc(5): the
// device and inode of each mapping, so a file replaced under the same name is
// not counted for the new one). Reading another user's needs what ptrace
// would (CAP_SYS_PTRACE): a process that cannot be read is not counted, only
// counted as `unread`, and counts are then lower bounds.
struct mapping_census {
    std::map<file_id, unsigned> processes;
    unsigned unread = 0;

    unsigned of(const smh::segment_info& s) const {
        const auto it = processes.find(file_of(s));
        return it == processes.end() ? 0 : it->second;
    }
    std::string text_of(const smh::segment_info& s) const {
        return std::to_string(of(s)) + (unread > 0 ? "+" : "");
    }
};

// The whole of a file in /proc, or nullopt with errno set.
std::optional<std::string> read_proc_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    std::string text;
    char buffer[65536];
    ssize_t n = 0;
    while ((n = ::read(fd, buffer, sizeof buffer)) > 0)
        text.append(buffer, static_cast<std::size_t>(n));
    const int error = errno;
    ::close(fd);
    if (n < 0) {
        errno = error;
        return std::nullopt;
    }
    return text;
}

mapping_census count_mapping_processes(const std::vector<smh::segment_info>& segments) {
    mapping_census census;
    std::set<file_id> wanted;
    for (const auto& s : segments) wanted.insert(file_of(s));
    if (wanted.empty()) return census;
    const std::unique_ptr<DIR, int (*)(DIR*)> proc(::opendir("/proc"), ::closedir);
    if (!proc) {
        census.unread = 1; // no process could be looked at
        return census;
    }
    while (const dirent* entry = ::readdir(proc.get())) {
        const std::string pid = entry->d_name;
        if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
        const auto maps = read_proc_file("/proc/" + pid + "/maps");
        if (!maps) {
            if (errno != ENOENT && errno != ESRCH) ++census.unread; // else it ended meanwhile
            continue;
        }
        // Lines read "start-end perms offset major:minor inode path", in hex
        // but for the inode.
        std::set<file_id> mapped;
        std::istringstream lines(*maps);
        for (std::string line; std::getline(lines, line);) {
            unsigned major_number = 0, minor_number = 0;
            unsigned long long inode = 0;
            if (std::sscanf(line.c_str(), "%*s %*s %*s %x:%x %llu", &major_number, &minor_number,
                            &inode) != 3 ||
                inode == 0)
                continue;
            const file_id file{static_cast<std::uint64_t>(makedev(major_number, minor_number)),
                               static_cast<std::uint64_t>(inode)};
            if (wanted.count(file) != 0) mapped.insert(file);
        }
        for (const auto& file : mapped) ++census.processes[file];
    }
    return census;
}

// The user's name, or nullopt for a uid without one (a deleted user, a
// container's uid): callers then show the number.
std::optional<std::string> user_name(uid_t uid) {
    static std::map<uid_t, std::optional<std::string>> known;
    if (const auto it = known.find(uid); it != known.end()) return it->second;
    const long suggested = ::sysconf(_SC_GETPW_R_SIZE_MAX);
    std::vector<char> buffer(suggested > 0 ? static_cast<std::size_t>(suggested) : 1024);
    passwd entry{};
    passwd* found = nullptr;
    int result = 0;
    while ((result = ::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found)) == ERANGE &&
           buffer.size() < (std::size_t{1} << 20))
        buffer.resize(buffer.size() * 2);
    std::optional<std::string> name;
    if (result == 0 && found && found->pw_name && *found->pw_name) name = found->pw_name;
    known.emplace(uid, name);
    return name;
}

std::string user_text(const smh::segment_info& s) {
    return printable(user_name(s.uid).value_or(std::to_string(s.uid)));
}

// As ls -l shows permissions: rw-r----- (with s, S, t, T for the set-id
// and sticky bits).
std::string mode_text(const smh::segment_info& s) {
    const auto m = static_cast<mode_t>(s.mode);
    std::string text = "---------";
    const char* const letters = "rwxrwxrwx";
    for (int bit = 0; bit < 9; ++bit)
        if (m & (0400 >> bit)) text[bit] = letters[bit];
    const auto special = [&](int at, mode_t flag, char lower, char upper) {
        if (m & flag) text[at] = text[at] == '-' ? upper : lower;
    };
    special(2, S_ISUID, 's', 'S');
    special(5, S_ISGID, 's', 'S');
    special(8, S_ISVTX, 't', 'T');
    return text;
}

// As chmod(1) takes it: 0640.
std::string octal_mode(unsigned mode) {
    char buffer[8];
    std::snprintf(buffer, sizeof buffer, "%04o", static_cast<unsigned>(mode));
    return buffer;
}

// JSON null where a hostile header's time has no date or age, and where the
// file's user has no name.
std::string to_json(const smh::segment_info& s, const mapping_census& census) {
    const auto created = iso_time(s.created);
    const auto age = seconds_since(s.created);
    const auto user = user_name(s.uid);
    std::ostringstream out;
    out << "{\"name\": " << json_string(s.name) << ", \"type\": " << json_string(s.type_name)
        << ", \"element_size\": " << s.element_size << ", \"element_align\": " << s.element_align
        << ", \"element_count\": " << s.element_count << ", \"capacity\": " << s.capacity
        << ", \"data_offset\": " << s.data_offset << ", \"bytes\": " << s.bytes
        << ", \"creator_pid\": " << s.creator_pid << ", \"owner_pid\": " << s.owner_pid
        << ", \"owner_alive\": " << (s.owner_alive ? "true" : "false")
        << ", \"ready\": " << (s.ready ? "true" : "false")
        << ", \"created\": " << (created ? json_string(*created) : "null")
        << ", \"age_seconds\": " << (age ? std::to_string(*age) : "null") << ", \"uid\": " << s.uid
        << ", \"user\": " << (user ? json_string(*user) : "null")
        << ", \"mode\": " << json_string(octal_mode(s.mode)) << ", \"processes\": " << census.of(s)
        << ", \"processes_exact\": " << (census.unread == 0 ? "true" : "false") << "}";
    return out.str();
}

// Each column as wide as its widest cell, so that long names and type names
// move the columns after them instead of breaking the table. Every cell is
// ASCII (printable() escapes the rest): one byte, one terminal column.
void print_table(const std::vector<smh::segment_info>& segments, const mapping_census& census) {
    if (segments.empty()) {
        std::cout << "no smh segments\n";
        return;
    }
    struct column {
        const char* title;
        bool right_aligned;
    };
    const column columns[] = {{"NAME", false}, {"MODE", false},    {"USER", false},
                              {"TYPE", false}, {"ELEMENTS", true}, {"CAPACITY", true},
                              {"BYTES", true}, {"CREATOR", true},  {"OWNER", false},
                              {"PROCS", true}, {"AGE", true}};
    constexpr std::size_t count = std::size(columns);
    std::vector<std::vector<std::string>> rows;
    rows.emplace_back();
    for (const auto& c : columns) rows.back().emplace_back(c.title);
    for (std::size_t i = 0; i < segments.size(); ++i) {
        const auto& s = segments[i];
        rows.push_back({printable(s.name), mode_text(s), user_text(s), printable(s.type_name),
                        std::to_string(s.element_count), std::to_string(s.capacity),
                        human_bytes(s.bytes), std::to_string(s.creator_pid), owner_text(s),
                        census.text_of(s), human_age(seconds_since(s.created))});
    }
    std::size_t widths[count] = {};
    for (const auto& row : rows)
        for (std::size_t i = 0; i < count; ++i) widths[i] = (std::max)(widths[i], row[i].size());
    for (const auto& row : rows) {
        std::string line;
        for (std::size_t i = 0; i < count; ++i) {
            const std::string padding(widths[i] - row[i].size(), ' ');
            if (i > 0) line += "  ";
            if (columns[i].right_aligned) line += padding;
            line += row[i];
            if (!columns[i].right_aligned && i + 1 < count) line += padding;
        }
        std::cout << line << "\n";
    }
}

struct options {
    bool json = false;
    bool dry_run = false;
    bool force = false;
    std::vector<std::string> names;
};

// Messages may quote names and header text: escaped like the rest.
void report(std::string_view message) { std::cerr << "smh: " << printable(message) << "\n"; }

int fail_usage(const std::string& why) {
    report(why);
    std::cerr << "(see smh --help)\n";
    return 2;
}

std::string_view reason_name(smh::skip_reason reason) {
    switch (reason) {
    case smh::skip_reason::not_smh: return "not_smh";
    case smh::skip_reason::unreadable: return "unreadable";
    case smh::skip_reason::changing: return "changing";
    }
    return "?";
}

// "1 file that is not an smh segment", "2 files that are not ...".
std::string counted(std::size_t count, std::string_view one, std::string_view many) {
    return std::to_string(count) + " " + std::string(count == 1 ? one : many);
}

std::string bytes_text(std::uint64_t bytes) {
    return std::to_string(bytes) + " bytes (" + human_bytes(bytes) + ")";
}

// What smh::list() alone hides: the total, the files it skipped (so that the
// listing adds up to what du(1) says of /dev/shm), and whether PROCS is exact.
void print_summary(const smh::directory_listing& listing, const mapping_census& census) {
    std::uint64_t total = 0;
    for (const auto& s : listing.segments) total += s.bytes;
    if (!listing.segments.empty())
        std::cout << "\ntotal: " << counted(listing.segments.size(), "smh segment", "smh segments")
                  << ", " << bytes_text(total) << "\n";
    if (listing.skipped.empty()) std::cout << "skipped: nothing\n";
    struct kind {
        smh::skip_reason reason;
        std::string_view one, many;
    };
    for (const kind k : {kind{smh::skip_reason::not_smh, "file that is not an smh segment",
                              "files that are not smh segments"},
                         kind{smh::skip_reason::unreadable, "file this user may not read",
                              "files this user may not read"},
                         kind{smh::skip_reason::changing, "segment changing owner while read",
                              "segments changing owner while read"}}) {
        std::size_t count = 0;
        std::uint64_t bytes = 0;
        for (const auto& f : listing.skipped)
            if (f.reason == k.reason) ++count, bytes += f.bytes;
        if (count > 0)
            std::cout << "skipped: " << counted(count, k.one, k.many) << ", " << bytes_text(bytes)
                      << "\n";
    }
    if (census.unread > 0 && !listing.segments.empty())
        std::cout << "PROCS: " << counted(census.unread, "process", "processes")
                  << " whose mappings this user may not read: counts ending in + may be "
                     "higher\n";
}

int list_command(const options& o) {
    if (!o.names.empty()) return fail_usage("ls takes no names");
    const auto listing = smh::list_directory();
    const auto census = count_mapping_processes(listing.segments);
    if (!o.json) {
        print_table(listing.segments, census);
        print_summary(listing, census);
        return 0;
    }
    // One segment, one skipped file per line.
    std::uint64_t total = 0, skipped_bytes = 0;
    std::cout << "{\"segments\": [";
    for (std::size_t i = 0; i < listing.segments.size(); ++i) {
        std::cout << (i ? ",\n " : "\n ") << to_json(listing.segments[i], census);
        total += listing.segments[i].bytes;
    }
    std::cout << "],\n\"total\": {\"segments\": " << listing.segments.size()
              << ", \"bytes\": " << total << "},\n\"skipped\": [";
    for (std::size_t i = 0; i < listing.skipped.size(); ++i) {
        std::cout << (i ? ",\n " : "\n ") << "{\"name\": " << json_string(listing.skipped[i].name)
                  << ", \"reason\": \"" << reason_name(listing.skipped[i].reason)
                  << "\", \"bytes\": " << listing.skipped[i].bytes << "}";
        skipped_bytes += listing.skipped[i].bytes;
    }
    std::cout << "],\n\"skipped_total\": {\"files\": " << listing.skipped.size()
              << ", \"bytes\": " << skipped_bytes << "}}\n";
    return 0;
}

std::string owner_description(const smh::segment_info& s) {
    if (s.owner_pid == 0) return "none (released)";
    const std::string state = s.orphaned ? ", no longer running" : ", running";
    if (s.owner_pid < 0) return "being changed by process " + std::to_string(s.claimant) + state;
    return std::to_string(s.owner_pid) + state;
}

std::string user_description(const smh::segment_info& s) {
    const auto name = user_name(s.uid);
    const auto uid = std::to_string(s.uid);
    return name ? printable(*name) + " (uid " + uid + ")" : "uid " + uid + " (no user of that uid)";
}

std::string mode_description(const smh::segment_info& s) {
    return mode_text(s) + " (" + octal_mode(s.mode) + ")";
}

std::string created_text(std::chrono::system_clock::time_point t) {
    const auto date = iso_time(t);
    if (!date) return "? (the header holds no valid time)";
    const auto age = seconds_since(t);
    if (!age || *age < 0) return *date + " (in the future)";
    return *date + " (" + human_age(age) + " ago)";
}

int inspect_command(const options& o) {
    if (o.names.size() != 1) return fail_usage("inspect takes exactly one NAME");
    const auto s = smh::inspect(o.names[0]);
    const auto census = count_mapping_processes({s});
    if (o.json) {
        std::cout << to_json(s, census) << "\n";
        return 0;
    }
    std::printf("name           %s\n", printable(s.name).c_str());
    std::printf("state          %s\n", s.ready ? "ready" : "being created");
    std::printf("element type   %s\n", printable(s.type_name).c_str());
    std::printf("element size   %zu bytes, alignment %zu\n", s.element_size, s.element_align);
    std::printf("elements       %zu, from offset %zu\n", s.element_count, s.data_offset);
    if (s.capacity > s.element_count)
        std::printf("capacity       %zu (growable)\n", s.capacity);
    else
        std::printf("capacity       %zu (fixed)\n", s.capacity);
    std::printf("segment size   %zu bytes (%s)\n", s.bytes, human_bytes(s.bytes).c_str());
    std::printf("creator pid    %lld\n", static_cast<long long>(s.creator_pid));
    std::printf("owner          %s\n", owner_description(s).c_str());
    std::printf("created        %s\n", created_text(s.created).c_str());
    std::printf("user           %s\n", user_description(s).c_str());
    std::printf("mode           %s\n", mode_description(s).c_str());
    std::printf("mapped by      %s process%s%s\n", census.text_of(s).c_str(),
                census.of(s) == 1 && census.unread == 0 ? "" : "es",
                census.unread > 0 ? " (a lower bound: some processes could not be read)" : "");
    return 0;
}

// Why `smh rm` leaves `s` alone without --force, or nullopt: a running owner
// removes the name itself when it ends, and its partners may still attach.
std::optional<std::string> refusal(const smh::segment_info& s) {
    if (s.owner_pid == 0 || s.orphaned) return std::nullopt;
    const std::string who =
        s.owner_pid < 0 ? "process " + std::to_string(s.claimant) + " is taking ownership of it"
                        : "its owner, process " + std::to_string(s.owner_pid) +
                              ", is running and removes it when it ends";
    return "rm \"" + s.name + "\": refused: " + who + "; --force removes it now";
}

// smh::remove() removes whoever owns the segment; the tool first asks
// inspect() whether an owner runs, as a person at a prompt would.
int remove_command(const options& o) {
    if (o.names.empty()) return fail_usage("rm needs at least one NAME");
    int status = 0;
    for (const auto& name : o.names) {
        try {
            if (!o.force)
                if (const auto why = refusal(smh::inspect(name))) {
                    report(*why);
                    status = 1;
                    continue;
                }
            smh::remove(name);
            std::cout << "removed " << printable(name) << "\n";
        } catch (const smh::error& e) {
            report(e.what());
            status = 1;
        }
    }
    return status;
}

void print_json_names(std::string_view key, const std::vector<std::string>& names) {
    std::cout << "\"" << key << "\": [";
    for (std::size_t i = 0; i < names.size(); ++i)
        std::cout << (i ? ", " : "") << json_string(names[i]);
    std::cout << "]";
}

// What an orphan is, the library decides (smh::find_orphans() names what
// smh::remove_orphans() removes): a dry run cannot disagree with a real one.
int gc_command(const options& o) {
    if (!o.names.empty()) return fail_usage("gc takes no names");
    std::vector<std::string> names;
    std::vector<std::string> failed; // orphans still there after the removal
    int status = 0;
    if (o.dry_run) {
        names = smh::find_orphans();
    } else {
        names = smh::remove_orphans();
        // Segments are gone by now: if the check fails, still say which.
        try {
            failed = smh::find_orphans();
        } catch (const smh::error& e) {
            report(e.what());
            status = 1;
        }
    }
    for (const auto& name : failed) report("could not remove orphaned segment " + name);
    if (!failed.empty()) status = 1;
    if (o.json) {
        std::cout << "{\"dry_run\": " << (o.dry_run ? "true" : "false") << ", ";
        print_json_names(o.dry_run ? "would_remove" : "removed", names);
        if (!o.dry_run) {
            std::cout << ", ";
            print_json_names("not_removed", failed);
        }
        std::cout << "}\n";
        return status;
    }
    for (const auto& name : names)
        std::cout << (o.dry_run ? "would remove " : "removed ") << printable(name) << "\n";
    if (names.empty() && status == 0) std::cout << "no orphaned segments\n";
    return status;
}

} // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty()) return fail_usage("no command");
    options o;
    std::string command;
    bool only_names = false; // after "--": a name may start with '-'
    for (const auto& arg : args) {
        if (only_names) {
            o.names.push_back(arg);
            continue;
        }
        if (arg == "--") {
            only_names = true;
            continue;
        }
        if (arg == "--help" || arg == "-h") {
            std::cout << usage;
            return 0;
        }
        if (arg == "--version") {
            std::cout << "smh " << SMH_VERSION_MAJOR << "." << SMH_VERSION_MINOR << "."
                      << SMH_VERSION_PATCH << "\n";
            return 0;
        }
        if (arg == "--json")
            o.json = true;
        else if (arg == "--dry-run")
            o.dry_run = true;
        else if (arg == "--force")
            o.force = true;
        else if (arg.rfind("--", 0) == 0)
            return fail_usage("unknown option " + arg);
        else if (command.empty())
            command = arg;
        else
            o.names.push_back(arg);
    }
    if (command == "help") {
        std::cout << usage;
        return 0;
    }
    if (o.dry_run && command != "gc") return fail_usage("--dry-run goes with gc");
    if (o.force && command != "rm") return fail_usage("--force goes with rm");
    try {
        if (command == "ls") return list_command(o);
        if (command == "inspect") return inspect_command(o);
        if (command == "rm") return remove_command(o);
        if (command == "gc") return gc_command(o);
    } catch (const std::exception& e) {
        // smh::error from list_directory(), inspect(), find_orphans() or
        // remove_orphans(), or no memory.
        report(e.what());
        return 1;
    }
    return fail_usage(command.empty() ? "no command" : "unknown command " + command);
}
