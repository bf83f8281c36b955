// smh: list, inspect, remove and garbage-collect smh segments.
//
//   smh ls [--json]                 every smh segment this user can see
//   smh inspect NAME [--json]       one segment's header
//   smh rm NAME...                  remove segments by name (smh segments only)
//   smh gc [--dry-run] [--json]     remove segments whose owner process is gone
//
// Exit codes: 0 done; 1 an operation failed (each failure is reported on
// stderr, the others still run); 2 bad usage.
#include <smh/shared_memory_handlee.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

constexpr const char* usage = R"(usage: smh <command> [options]

Lists and cleans up the shared-memory segments of the smh library.

commands:
  ls [--json]               list every smh segment this user can see
  inspect NAME [--json]     show one segment's header fields
  rm NAME...                remove segments (refuses anything that is not an smh segment)
  gc [--dry-run] [--json]   remove segments whose owner process has ended
                            (released segments, which have no owner, are kept)

options:
  --json      machine-readable output
  --dry-run   gc: list what would be removed, remove nothing
  --help      this text
  --version   the library version

exit status: 0 done, 1 an operation failed, 2 bad usage
)";

std::string json_string(const std::string& text) {
    std::string out = "\"";
    for (const char c : text) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        default:
            // Control bytes, and bytes past ASCII (names are not promised to be
            // UTF-8), as \u escapes: the output stays valid JSON.
            if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x80) {
                char buffer[8];
                std::snprintf(buffer, sizeof buffer, "\\u%04x", static_cast<unsigned char>(c));
                out += buffer;
            } else {
                out += c;
            }
        }
    }
    return out + "\"";
}

long long seconds_since(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now() - t)
        .count();
}

std::string human_age(long long seconds) {
    if (seconds < 120) return std::to_string(seconds) + "s";
    if (seconds < 7200) return std::to_string(seconds / 60) + "m";
    if (seconds < 172800) return std::to_string(seconds / 3600) + "h";
    return std::to_string(seconds / 86400) + "d";
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

std::string iso_time(std::chrono::system_clock::time_point t) {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char buffer[32];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return buffer;
}

std::string owner_text(const smh::segment_info& s) {
    if (s.owner_pid == 0) return "none";
    if (s.owner_pid < 0) return "changing";
    return std::to_string(s.owner_pid) + (s.owner_alive ? "" : " (dead)");
}

bool orphaned(const smh::segment_info& s) { return s.owner_pid != 0 && !s.owner_alive; }

std::string to_json(const smh::segment_info& s) {
    std::ostringstream out;
    out << "{\"name\": " << json_string(s.name) << ", \"type\": " << json_string(s.type_name)
        << ", \"element_size\": " << s.element_size << ", \"element_align\": " << s.element_align
        << ", \"element_count\": " << s.element_count << ", \"data_offset\": " << s.data_offset
        << ", \"bytes\": " << s.bytes << ", \"creator_pid\": " << s.creator_pid
        << ", \"owner_pid\": " << s.owner_pid
        << ", \"owner_alive\": " << (s.owner_alive ? "true" : "false")
        << ", \"ready\": " << (s.ready ? "true" : "false")
        << ", \"created\": " << json_string(iso_time(s.created))
        << ", \"age_seconds\": " << seconds_since(s.created) << "}";
    return out.str();
}

void print_table(const std::vector<smh::segment_info>& segments) {
    if (segments.empty()) {
        std::cout << "no smh segments\n";
        return;
    }
    std::printf("%-32s %-20s %12s %11s %8s %-14s %6s\n", "NAME", "TYPE", "ELEMENTS", "BYTES",
                "CREATOR", "OWNER", "AGE");
    for (const auto& s : segments) {
        std::printf("%-32s %-20s %12zu %11s %8lld %-14s %6s\n", s.name.c_str(), s.type_name.c_str(),
                    s.element_count, human_bytes(s.bytes).c_str(),
                    static_cast<long long>(s.creator_pid), owner_text(s).c_str(),
                    human_age(seconds_since(s.created)).c_str());
    }
}

struct options {
    bool json = false;
    bool dry_run = false;
    std::vector<std::string> names;
};

int fail_usage(const std::string& why) {
    std::cerr << "smh: " << why << "\n(see smh --help)\n";
    return 2;
}

int list_command(const options& o) {
    if (!o.names.empty()) return fail_usage("ls takes no names");
    const auto segments = smh::list();
    if (!o.json) {
        print_table(segments);
        return 0;
    }
    std::cout << "[";
    for (std::size_t i = 0; i < segments.size(); ++i)
        std::cout << (i ? ",\n " : "") << to_json(segments[i]);
    std::cout << "]\n";
    return 0;
}

int inspect_command(const options& o) {
    if (o.names.size() != 1) return fail_usage("inspect takes exactly one NAME");
    const auto s = smh::inspect(o.names[0]);
    if (o.json) {
        std::cout << to_json(s) << "\n";
        return 0;
    }
    std::printf("name           %s\n", s.name.c_str());
    std::printf("state          %s\n", s.ready ? "ready" : "being created");
    std::printf("element type   %s\n", s.type_name.c_str());
    std::printf("element size   %zu bytes, alignment %zu\n", s.element_size, s.element_align);
    std::printf("elements       %zu, from offset %zu\n", s.element_count, s.data_offset);
    std::printf("segment size   %zu bytes (%s)\n", s.bytes, human_bytes(s.bytes).c_str());
    std::printf("creator pid    %lld\n", static_cast<long long>(s.creator_pid));
    std::printf("owner          %s\n", s.owner_pid == 0
                                           ? "none (released)"
                                           : (std::to_string(s.owner_pid) +
                                              (s.owner_alive ? ", running" : ", no longer running"))
                                                 .c_str());
    std::printf("created        %s (%s ago)\n", iso_time(s.created).c_str(),
                human_age(seconds_since(s.created)).c_str());
    return 0;
}

int remove_command(const options& o) {
    if (o.names.empty()) return fail_usage("rm needs at least one NAME");
    int status = 0;
    for (const auto& name : o.names) {
        try {
            smh::remove(name);
            std::cout << "removed " << name << "\n";
        } catch (const smh::error& e) {
            std::cerr << "smh: " << e.what() << "\n";
            status = 1;
        }
    }
    return status;
}

int gc_command(const options& o) {
    if (!o.names.empty()) return fail_usage("gc takes no names");
    std::vector<std::string> names;
    std::vector<std::string> failed; // orphans that are still there afterwards
    if (o.dry_run) {
        for (const auto& s : smh::list())
            if (orphaned(s)) names.push_back(s.name);
    } else {
        std::vector<std::string> before;
        for (const auto& s : smh::list())
            if (orphaned(s)) before.push_back(s.name);
        names = smh::remove_orphans();
        for (const auto& s : smh::list())
            if (orphaned(s) && std::find(before.begin(), before.end(), s.name) != before.end())
                failed.push_back(s.name);
    }
    for (const auto& name : failed)
        std::cerr << "smh: could not remove orphaned segment " << name << "\n";
    if (o.json) {
        std::cout << "{\"dry_run\": " << (o.dry_run ? "true" : "false") << ", \"removed\": [";
        for (std::size_t i = 0; i < names.size(); ++i)
            std::cout << (i ? ", " : "") << json_string(names[i]);
        std::cout << "]}\n";
        return failed.empty() ? 0 : 1;
    }
    for (const auto& name : names)
        std::cout << (o.dry_run ? "would remove " : "removed ") << name << "\n";
    if (names.empty() && failed.empty()) std::cout << "no orphaned segments\n";
    return failed.empty() ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty()) return fail_usage("no command");
    options o;
    std::string command;
    for (const auto& arg : args) {
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
        else if (arg.rfind("--", 0) == 0)
            return fail_usage("unknown option " + arg);
        else if (command.empty())
            command = arg;
        else
            o.names.push_back(arg);
    }
    if (o.dry_run && command != "gc") return fail_usage("--dry-run goes with gc");
    try {
        if (command == "ls") return list_command(o);
        if (command == "inspect") return inspect_command(o);
        if (command == "rm") return remove_command(o);
        if (command == "gc") return gc_command(o);
    } catch (const smh::error& e) {
        std::cerr << "smh: " << e.what() << "\n";
        return 1;
    }
    return fail_usage(command.empty() ? "no command" : "unknown command " + command);
}
