// The smh command-line tool, run as a real program.
#include <catch2/catch.hpp>

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <set>
#include <sstream>

#include "checks.hpp"
#include "orphans.hpp"

using smh::SharedMemoryHandlee;
using smh_test::segment_exists;
using smh_test::unique_name;

namespace {

smh_test::captured smh_cli(std::vector<std::string> args) {
    args.insert(args.begin(), SMH_CLI);
    return smh_test::run_captured(std::move(args));
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

// A byte a terminal could act on: any control but the line end, DEL, and
// everything from 0x80 on (0x9b is CSI to some terminals).
bool has_terminal_controls(const std::string& text) {
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if ((byte < 0x20 && byte != '\n') || byte >= 0x7f) return true;
    }
    return false;
}

std::vector<std::string> lines_with(const std::string& text, const std::string& part) {
    std::vector<std::string> found;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
        if (contains(line, part)) found.push_back(line);
    return found;
}

// A ready smh segment of two 4-byte elements whose header says what any local
// user could write: a type name of any bytes, any owner and creation time.
[[nodiscard]] smh_test::raw_segment write_forged_segment(const std::string& name,
                                                         const std::string& type_name,
                                                         std::int64_t owner_pid,
                                                         std::uint64_t created_at_ns) {
    const smh::detail::element_identity element{type_name, smh::detail::fnv1a_64(type_name), 4, 4};
    auto header = smh::detail::make_header(element, 2, smh_test::current_pid(), 0, 1,
                                           created_at_ns); // the time is under the checksum
    header.state = smh::detail::state_ready;
    header.owner_pid = owner_pid; // the owner is not
    std::string bytes(header.data_offset + std::size_t{2} * 4, '\0');
    std::memcpy(bytes.data(), &header, sizeof header);
    return smh_test::write_raw_segment(name, bytes);
}

// The columns of `smh ls`, from its header line: where each title starts and
// ends. Titles are single words; the table puts spaces between columns.
struct column {
    std::string title;
    std::size_t start;
    std::size_t end;
};

std::vector<column> columns_of(const std::string& header) {
    std::vector<column> found;
    for (std::size_t at = header.find_first_not_of(' '); at != std::string::npos;) {
        const auto end = (std::min)(header.find(' ', at), header.size());
        found.push_back({header.substr(at, end - at), at, end});
        at = header.find_first_not_of(' ', end);
    }
    return found;
}

// The cell of `row` in the left-aligned column `title`: from the column's
// start to the next space.
std::string cell(const std::string& header, const std::string& row, const std::string& title) {
    for (const auto& c : columns_of(header)) {
        if (c.title != title) continue;
        if (c.start >= row.size()) return "";
        const auto end = (std::min)(row.find(' ', c.start), row.size());
        return row.substr(c.start, end - c.start);
    }
    FAIL("no column " << title << " in " << header);
    return "";
}

// The cell of `row` in the right-aligned column `title`: from the previous
// space to the column's end.
std::string cell_ending_at(const std::string& header, const std::string& row,
                           const std::string& title) {
    for (const auto& c : columns_of(header)) {
        if (c.title != title) continue;
        if (c.end > row.size()) return "";
        const auto start = row.rfind(' ', c.end - 1);
        return row.substr(start == std::string::npos ? 0 : start + 1,
                          c.end - (start == std::string::npos ? 0 : start + 1));
    }
    FAIL("no column " << title << " in " << header);
    return "";
}

// The name of the user running the tests, or the uid where it has none.
std::string this_user() {
    const passwd* entry = ::getpwuid(::geteuid());
    return entry ? entry->pw_name : std::to_string(::geteuid());
}

} // namespace

TEST_CASE("smh help, --help and -h print the usage with every command, and exit 0") {
    const auto usage = smh_cli({"help"});
    CHECK(usage.result.exit_code == 0);
    CHECK(usage.err.empty());
    CHECK(contains(usage.out, "usage: smh"));
    for (const char* spelling : {"--help", "-h"}) {
        const auto same = smh_cli({spelling});
        CHECK(same.result.exit_code == 0);
        CHECK(same.out == usage.out);
    }
    // The commands section lists each command once, at the start of a line.
    std::set<std::string> listed;
    std::istringstream lines(usage.out.substr(usage.out.find("\ncommands:\n")));
    std::string line;
    std::getline(lines, line);
    while (std::getline(lines, line) && !line.empty())
        if (line.rfind("  ", 0) == 0 && line[2] != ' ')
            listed.insert(line.substr(2, line.find(' ', 2) - 2));
    CHECK(listed == std::set<std::string>{"ls", "inspect", "rm", "gc", "help"});
    // And says where segments are, for whoever tried `ipcs -m` first.
    CHECK(contains(usage.out, "ipcs -m"));
    CHECK(contains(usage.out, "/dev/shm"));
}

TEST_CASE("smh ls and inspect show the user owning a segment and its mode") {
    auto shared = SharedMemoryHandlee<int>::create(unique_name(), 4, {.permissions = 0640});
    auto own = SharedMemoryHandlee<int>::create(unique_name(), 4, {.permissions = 0600});
    const auto user = this_user();
    const auto uid = std::to_string(::geteuid());

    const auto table = smh_cli({"ls"});
    REQUIRE(table.result.exit_code == 0);
    const auto header = table.out.substr(0, table.out.find('\n'));
    const auto shared_rows = lines_with(table.out, shared.name());
    const auto own_rows = lines_with(table.out, own.name());
    REQUIRE(shared_rows.size() == 1);
    REQUIRE(own_rows.size() == 1);
    CHECK(cell(header, shared_rows[0], "MODE") == "rw-r-----");
    CHECK(cell(header, own_rows[0], "MODE") == "rw-------");
    CHECK(cell(header, shared_rows[0], "USER") == user);
    CHECK(cell(header, own_rows[0], "USER") == user);

    const auto listed = smh_cli({"ls", "--json"});
    REQUIRE(listed.result.exit_code == 0);
    const auto json_rows = lines_with(listed.out, "\"" + shared.name() + "\"");
    REQUIRE(json_rows.size() == 1);
    CHECK(contains(json_rows[0],
                   "\"uid\": " + uid + ", \"user\": \"" + user + "\", \"mode\": \"0640\""));

    const auto text = smh_cli({"inspect", shared.name()});
    REQUIRE(text.result.exit_code == 0);
    CHECK(contains(text.out, "user           " + user + " (uid " + uid + ")\n"));
    CHECK(contains(text.out, "mode           rw-r----- (0640)\n"));
    const auto json = smh_cli({"inspect", own.name(), "--json"});
    REQUIRE(json.result.exit_code == 0);
    CHECK(contains(json.out, "\"mode\": \"0600\""));
}

TEST_CASE("smh ls shows the uid of a segment whose user has no name") {
    if (::geteuid() != 0) {
        WARN("skipped: needs root to give a segment to another uid");
        return;
    }
    constexpr uid_t nameless = 54321;
    if (::getpwuid(nameless) != nullptr) {
        WARN("skipped: uid 54321 has a name here");
        return;
    }
    auto shm = SharedMemoryHandlee<int>::create(unique_name(), 4);
    REQUIRE(::chown(("/dev/shm/" + shm.name()).c_str(), nameless, static_cast<gid_t>(-1)) == 0);

    const auto table = smh_cli({"ls"});
    REQUIRE(table.result.exit_code == 0);
    const auto rows = lines_with(table.out, shm.name());
    REQUIRE(rows.size() == 1);
    CHECK(cell(table.out.substr(0, table.out.find('\n')), rows[0], "USER") == "54321");

    const auto listed = smh_cli({"ls", "--json"});
    const auto json_rows = lines_with(listed.out, "\"" + shm.name() + "\"");
    REQUIRE(json_rows.size() == 1);
    CHECK(contains(json_rows[0], "\"uid\": 54321, \"user\": null"));

    const auto text = smh_cli({"inspect", shm.name()});
    CHECK(contains(text.out, "user           uid 54321 (no user of that uid)\n"));
}

TEST_CASE("smh ls keeps its columns aligned whatever the length of a type name") {
    const std::string long_type =
        "struct{int32,float64,array<uint8,64>,struct{float32,float32,float32},int64,uint16}";
    const auto forged = unique_name();
    const auto segment = write_forged_segment(forged, long_type, 0, smh::detail::now_unix_ns());
    auto plain = SharedMemoryHandlee<std::int8_t>::create(unique_name(), 123456);

    const auto table = smh_cli({"ls"});
    REQUIRE(table.result.exit_code == 0);
    REQUIRE(lines_with(table.out, forged).size() == 1);
    CHECK(contains(lines_with(table.out, forged)[0], " " + long_type + " ")); // whole
    REQUIRE(lines_with(table.out, plain.name()).size() == 1);

    // Every row, this test's and any other's: text starts where its title
    // starts, after a space; a number ends where its title ends, before one.
    std::istringstream lines(table.out);
    std::string header;
    std::getline(lines, header);
    const auto columns = columns_of(header);
    REQUIRE(columns.size() == 11);
    const std::set<std::string> numeric{"ELEMENTS", "CAPACITY", "BYTES", "CREATOR", "PROCS", "AGE"};
    for (std::string row; std::getline(lines, row) && !row.empty();) { // the summary follows
        INFO(header << "\n" << row);
        for (std::size_t i = 0; i < columns.size(); ++i) {
            const auto& c = columns[i];
            const bool last = i + 1 == columns.size();
            if (numeric.count(c.title) != 0) {
                REQUIRE(row.size() >= c.end);
                CHECK(row[c.end - 1] != ' ');
                CHECK((last ? row.size() == c.end : row[c.end] == ' '));
            } else {
                REQUIRE(row.size() > c.start);
                CHECK(row[c.start] != ' ');
                if (c.start > 0) CHECK(row[c.start - 1] == ' ');
            }
        }
    }
}

TEST_CASE("smh --help and --version explain themselves, and bad usage exits 2") {
    const auto help = smh_cli({"--help"});
    CHECK(help.result.exit_code == 0);
    CHECK(contains(help.out, "usage: smh"));
    for (const char* command : {"ls", "inspect", "rm", "gc", "--dry-run", "--json"})
        CHECK(contains(help.out, command));

    const auto version = smh_cli({"--version"});
    CHECK(version.result.exit_code == 0);
    CHECK(contains(version.out, "smh " + std::to_string(SMH_VERSION_MAJOR) + "."));

    for (const auto& bad : std::vector<std::vector<std::string>>{{},
                                                                 {"frobnicate"},
                                                                 {"ls", "--colour"},
                                                                 {"inspect"},
                                                                 {"rm"},
                                                                 {"ls", "--dry-run"},
                                                                 {"gc", "--force"}}) {
        const auto run = smh_cli(bad);
        CHECK(run.result.exit_code == 2);
        CHECK(contains(run.err, "smh: "));
    }
}

TEST_CASE("smh ls lists smh segments with type, size, creator and owner") {
    auto numbers = SharedMemoryHandlee<std::int32_t>::create(unique_name(), 1000);
    const auto table = smh_cli({"ls"});
    REQUIRE(table.result.exit_code == 0);
    CHECK(contains(table.out, "NAME"));
    CHECK(contains(table.out, numbers.name()));
    CHECK(contains(table.out, "int32"));
    CHECK(contains(table.out, std::to_string(::getpid())));

    const auto json = smh_cli({"ls", "--json"});
    REQUIRE(json.result.exit_code == 0);
    CHECK(json.out.rfind("{\"segments\": [", 0) == 0);
    CHECK(contains(json.out, "\"name\": \"" + numbers.name() + "\""));
    CHECK(contains(json.out, "\"element_count\": 1000"));
    CHECK(contains(json.out, "\"owner_alive\": true"));
}

TEST_CASE("smh ls and inspect show a growable segment's length and capacity") {
    auto grown = smh::create<std::int32_t, smh::growable>(unique_name(), 10, {.capacity = 5000});
    grown.grow(20);
    const auto table = smh_cli({"ls"});
    REQUIRE(table.result.exit_code == 0);
    REQUIRE(lines_with(table.out, grown.name()).size() == 1);
    CHECK(contains(lines_with(table.out, grown.name())[0], " 20 "));
    CHECK(contains(lines_with(table.out, grown.name())[0], " 5000 "));
    const auto json = smh_cli({"ls", "--json"});
    CHECK(contains(json.out, "\"element_count\": 20, \"capacity\": 5000"));
    const auto text = smh_cli({"inspect", grown.name()});
    CHECK(contains(text.out, "elements       20"));
    CHECK(contains(text.out, "capacity       5000 (growable)"));
    CHECK(contains(smh_cli({"inspect", grown.name(), "--json"}).out, "\"capacity\": 5000"));
}

TEST_CASE("smh inspect prints one header, and exits 1 for a missing or foreign name") {
    auto points = SharedMemoryHandlee<double>::create(unique_name(), 3);
    const auto text = smh_cli({"inspect", points.name()});
    REQUIRE(text.result.exit_code == 0);
    CHECK(contains(text.out, "float64"));
    CHECK(contains(text.out, "8 bytes, alignment 8"));
    CHECK(contains(text.out, "elements       3"));
    CHECK(contains(text.out, "capacity       3 (fixed)"));
    CHECK(contains(text.out, "running"));

    const auto json = smh_cli({"inspect", points.name(), "--json"});
    CHECK(json.result.exit_code == 0);
    CHECK(contains(json.out, "\"type\": \"float64\""));

    const auto missing = smh_cli({"inspect", unique_name()});
    CHECK(missing.result.exit_code == 1);
    CHECK(contains(missing.err, "not_found"));

    const auto foreign = unique_name();
    const auto foreign_segment = smh_test::write_raw_segment(foreign, std::string(512, 'q'));
    const auto refused = smh_cli({"inspect", foreign});
    CHECK(refused.result.exit_code == 1);
    CHECK(contains(refused.err, "corrupt_segment"));
}

TEST_CASE("smh rm removes smh segments and refuses anything else") {
    auto first = SharedMemoryHandlee<int>::create(unique_name(), 2);
    auto second = SharedMemoryHandlee<int>::create(unique_name(), 2);
    REQUIRE(first.release()); // no owner runs, so rm needs no --force
    REQUIRE(second.release());
    const auto foreign = unique_name();
    const auto foreign_segment = smh_test::write_raw_segment(foreign, std::string(512, 'q'));

    const auto run = smh_cli({"rm", first.name(), foreign, second.name()});
    CHECK(run.result.exit_code == 1); // one of three failed
    CHECK(contains(run.out, "removed " + first.name()));
    CHECK(contains(run.out, "removed " + second.name()));
    CHECK(contains(run.err, foreign));
    CHECK_FALSE(segment_exists(first.name()));
    CHECK_FALSE(segment_exists(second.name()));
    CHECK(segment_exists(foreign)); // another program's segment is never removed
    CHECK(first[1] == 0);           // mappings stay valid
}

TEST_CASE("smh gc removes orphans, and with --dry-run only names them", "[orphans]") {
    const auto orphan = unique_name();
    smh_test::segment_guard guard(orphan);
    REQUIRE(smh_test::run_helper({"create-kill", orphan, "4"}).signal == SIGKILL);
    auto live = SharedMemoryHandlee<int>::create(unique_name(), 2);

    const auto dry = smh_cli({"gc", "--dry-run"});
    CHECK(dry.result.exit_code == 0);
    CHECK(contains(dry.out, "would remove " + orphan));
    CHECK_FALSE(contains(dry.out, live.name()));
    CHECK(segment_exists(orphan));

    const auto json = smh_cli({"gc", "--dry-run", "--json"});
    CHECK(contains(json.out, "\"dry_run\": true"));
    CHECK(contains(json.out, "\"" + orphan + "\""));

    const auto real = smh_cli({"gc"});
    CHECK(real.result.exit_code == 0);
    CHECK(contains(real.out, "removed " + orphan));
    CHECK_FALSE(segment_exists(orphan));
    CHECK(segment_exists(live.name()));
}

TEST_CASE("smh ls and inspect show control bytes of a forged type name escaped") {
    // Terminal escapes (colour, BEL), a line break, CR, DEL, C1 CSI and a backslash.
    const std::string hostile = "evil\x1b[31m\x07\nline2\r\x7f\x9b\\end";
    const std::string escaped = R"(evil\x1b[31m\x07\x0aline2\x0d\x7f\x9b\\end)";
    const std::string json = R"("type": "evil\u001b[31m\u0007\nline2\u000d\u007f\u009b\\end")";
    const auto name = unique_name();
    const auto segment = write_forged_segment(name, hostile, 0, smh::detail::now_unix_ns());

    const auto table = smh_cli({"ls"});
    REQUIRE(table.result.exit_code == 0);
    CHECK_FALSE(has_terminal_controls(table.out));
    const auto rows = lines_with(table.out, name);
    REQUIRE(rows.size() == 1); // the newline did not start a row of its own
    CHECK(contains(rows[0], escaped));
    CHECK(lines_with(table.out, "line2").size() == 1);

    const auto text = smh_cli({"inspect", name});
    REQUIRE(text.result.exit_code == 0);
    CHECK_FALSE(has_terminal_controls(text.out));
    CHECK(contains(text.out, "element type   " + escaped + "\n"));
    CHECK(lines_with(text.out, "").size() == 13); // one line per field, none from the type name

    const auto listed = smh_cli({"ls", "--json"});
    REQUIRE(listed.result.exit_code == 0);
    CHECK_FALSE(has_terminal_controls(listed.out));
    CHECK(contains(listed.out, json));

    const auto one = smh_cli({"inspect", name, "--json"});
    REQUIRE(one.result.exit_code == 0);
    CHECK_FALSE(has_terminal_controls(one.out));
    CHECK(contains(one.out, json));
    CHECK(one.out.find('\n') == one.out.size() - 1); // one line of JSON
}

TEST_CASE("smh error messages show control bytes of names escaped") {
    const std::string hostile = "x\x1b]0;owned\x07\x9b";
    const std::string escaped = R"(x\x1b]0;owned\x07\x9b)";
    for (const char* command : {"inspect", "rm"}) {
        const auto run = smh_cli({command, hostile});
        CHECK(run.result.exit_code == 1);
        CHECK(contains(run.err, "invalid_name"));
        CHECK(contains(run.err, escaped));
        CHECK_FALSE(has_terminal_controls(run.err));
        CHECK_FALSE(has_terminal_controls(run.out));
    }
    const auto unknown = smh_cli({hostile});
    CHECK(unknown.result.exit_code == 2);
    CHECK(contains(unknown.err, escaped));
    CHECK_FALSE(has_terminal_controls(unknown.err));
}

// Two of them have a dead owner, so they are orphans: no gc may run meanwhile.
TEST_CASE("smh ls and inspect survive a forged owner pid and creation time", "[orphans]") {
    constexpr auto lowest_pid = (std::numeric_limits<std::int64_t>::min)();
    const auto far_past = unique_name(); // 2^63 ns: before 1970 once signed
    const auto wrapped = unique_name();  // 2^64 - 1 ns
    const auto future = unique_name();   // 2^63 - 1 ns, in the year 2262
    const auto a = write_forged_segment(far_past, "int32", lowest_pid, std::uint64_t{1} << 63);
    const auto b = write_forged_segment(wrapped, "int32", lowest_pid,
                                        (std::numeric_limits<std::uint64_t>::max)());
    const auto c = write_forged_segment(future, "int32", -smh_test::current_pid(),
                                        (std::numeric_limits<std::uint64_t>::max)() >> 1);
    const auto pid = std::to_string(smh_test::current_pid());

    const auto table = smh_cli({"ls"});
    INFO(table.err);
    REQUIRE(table.result.exit_code == 0);
    for (const auto& name : {far_past, wrapped, future}) {
        const auto rows = lines_with(table.out, name);
        REQUIRE(rows.size() == 1);
        CHECK(rows[0].back() == '?'); // the age
    }
    CHECK(contains(lines_with(table.out, far_past)[0], "changing 9223372036854775808 (dead)"));
    CHECK(contains(lines_with(table.out, future)[0], "changing " + pid + " "));

    const auto listed = smh_cli({"ls", "--json"});
    INFO(listed.err);
    REQUIRE(listed.result.exit_code == 0);
    for (const auto& name : {far_past, wrapped}) {
        const auto rows = lines_with(listed.out, "\"" + name + "\"");
        REQUIRE(rows.size() == 1);
        CHECK(contains(rows[0], "\"owner_pid\": -9223372036854775808"));
        CHECK(contains(rows[0], "\"created\": null, \"age_seconds\": null"));
    }
    const auto later = lines_with(listed.out, "\"" + future + "\"");
    REQUIRE(later.size() == 1);
    CHECK(contains(later[0], "\"created\": \"2262-04-11T23:47:16Z\", \"age_seconds\": -"));

    for (const auto& name : {far_past, wrapped}) {
        const auto text = smh_cli({"inspect", name});
        INFO(text.err);
        REQUIRE(text.result.exit_code == 0);
        CHECK(contains(text.out, "owner          being changed by process 9223372036854775808, "
                                 "no longer running\n"));
        CHECK(contains(text.out, "created        ? (the header holds no valid time)\n"));
        const auto json = smh_cli({"inspect", name, "--json"});
        REQUIRE(json.result.exit_code == 0);
        CHECK(contains(json.out, "\"created\": null"));
    }
    const auto text = smh_cli({"inspect", future});
    INFO(text.err);
    REQUIRE(text.result.exit_code == 0);
    CHECK(contains(text.out, "owner          being changed by process " + pid + ", running\n"));
    CHECK(contains(text.out, "created        2262-04-11T23:47:16Z (in the future)\n"));
}

TEST_CASE("smh ls and gc exit 1 with a message when the segment directory cannot be read") {
    // /dev/shm replaced, in a private mount namespace, by a directory of mode
    // 000 that the tool cannot read: without DAC capabilities, root cannot
    // either. Exit 77 where user namespaces (or the tools) are not available.
    const std::string unreadable_shm = R"(
command -v unshare >/dev/null && command -v setpriv >/dev/null && unshare -rm true 2>/dev/null || exit 77
exec unshare -rm sh -c 'mount -t tmpfs -o mode=000 tmpfs /dev/shm || exit 77
exec setpriv --bounding-set=-dac_override,-dac_read_search "$@"' sh "$@")";
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"ls"}, {"ls", "--json"}, {"gc"}, {"gc", "--dry-run"}, {"gc", "--json"}}) {
        std::vector<std::string> command{"/bin/sh", "-c", unreadable_shm, "sh", SMH_CLI};
        command.insert(command.end(), args.begin(), args.end());
        const auto run = smh_test::run_captured(command);
        if (run.result.exit_code == 77) {
            WARN("not run: no user and mount namespaces here");
            return;
        }
        INFO(args[0] << " " << (args.size() > 1 ? args[1] : "") << ": " << run.err);
        CHECK(run.result.exit_code == 1);
        CHECK(contains(run.err, "smh: "));
        CHECK(contains(run.err, "permission_denied"));
        CHECK(run.out.empty()); // never "no orphaned segments" or an empty list
    }
}

TEST_CASE("smh rm refuses a segment whose owner runs, unless --force") {
    auto owned = SharedMemoryHandlee<int>::create(unique_name(), 2);
    const auto refused = smh_cli({"rm", owned.name()});
    CHECK(refused.result.exit_code == 1);
    CHECK(refused.out.empty());
    CHECK(contains(refused.err, "rm \"" + owned.name() + "\": refused"));
    CHECK(contains(refused.err, "process " + std::to_string(::getpid()) + ", is running"));
    CHECK(contains(refused.err, "--force"));
    CHECK(segment_exists(owned.name()));

    const auto forced = smh_cli({"rm", "--force", owned.name()});
    CHECK(forced.result.exit_code == 0);
    CHECK(contains(forced.out, "removed " + owned.name()));
    CHECK_FALSE(segment_exists(owned.name()));
}

TEST_CASE("smh inspect and rm take a name that looks like an option after --") {
    // A valid name: any local user may create "--force" or "-h" in /dev/shm.
    const std::string name = "--" + unique_name();
    smh_test::segment_guard guard(name);
    auto shm = SharedMemoryHandlee<int>::create(name, 2);
    REQUIRE(shm.release());
    const auto inspected = smh_cli({"inspect", "--", name});
    CHECK(inspected.result.exit_code == 0);
    CHECK(contains(inspected.out, name));
    const auto removed = smh_cli({"rm", "--", name});
    CHECK(removed.result.exit_code == 0);
    CHECK(contains(removed.out, "removed " + name));
    CHECK_FALSE(segment_exists(name));
}

TEST_CASE("smh inspect and rm given a path say to give the name without the directory") {
    auto shm = SharedMemoryHandlee<int>::create(unique_name(), 2);
    for (const char* command : {"inspect", "rm"}) {
        const auto run = smh_cli({command, "/dev/shm/" + shm.name()});
        CHECK(run.result.exit_code == 1);
        CHECK(contains(run.err, "invalid_name"));
        CHECK(contains(run.err, "give the name without the directory: \"" + shm.name() + "\""));
    }
    CHECK(segment_exists(shm.name()));
}

namespace {

// The number in a JSON member `"key": 123` of `line`, or nullopt.
std::optional<std::uint64_t> json_number(const std::string& line, const std::string& key) {
    const auto at = line.find("\"" + key + "\": ");
    if (at == std::string::npos) return std::nullopt;
    return std::stoull(line.substr(at + key.size() + 4));
}

} // namespace

TEST_CASE("smh ls ends with the total and what it skipped, in text and in JSON") {
    auto numbers = SharedMemoryHandlee<std::int32_t>::create(unique_name(), 1000);
    const auto foreign = unique_name();
    const auto foreign_segment = smh_test::write_raw_segment(foreign, std::string(65536, 'q'));

    const auto table = smh_cli({"ls"});
    REQUIRE(table.result.exit_code == 0);
    CHECK(lines_with(table.out, foreign).empty()); // not a row of the table
    const auto totals = lines_with(table.out, "total: ");
    REQUIRE(totals.size() == 1);
    CHECK(contains(totals[0], " smh segment"));
    const auto others = lines_with(table.out, "skipped: ");
    REQUIRE_FALSE(others.empty());
    CHECK((contains(table.out, "file that is not an smh segment, ") ||
           contains(table.out, "files that are not smh segments, ")));

    // JSON: the total adds up the segments listed; the skipped file is named,
    // with its reason and size, and counted.
    const auto json = smh_cli({"ls", "--json"});
    REQUIRE(json.result.exit_code == 0);
    std::uint64_t sum = 0;
    std::size_t rows = 0;
    for (const auto& line : lines_with(json.out, "\"element_count\": ")) {
        sum += json_number(line, "bytes").value_or(0);
        ++rows;
    }
    const auto total = lines_with(json.out, "\"total\": ");
    REQUIRE(total.size() == 1);
    CHECK(json_number(total[0], "segments") == rows);
    CHECK(json_number(total[0], "bytes") == sum);
    const auto skipped = lines_with(json.out, "\"name\": \"" + foreign + "\"");
    REQUIRE(skipped.size() == 1);
    CHECK(contains(skipped[0], "\"reason\": \"not_smh\", \"bytes\": 65536"));
    const auto skipped_total = lines_with(json.out, "\"skipped_total\": ");
    REQUIRE(skipped_total.size() == 1);
    CHECK(json_number(skipped_total[0], "files") >= 1);
    CHECK(json_number(skipped_total[0], "bytes") >= 65536);
}

TEST_CASE("smh ls counts the processes that have each segment mapped") {
    auto shm = SharedMemoryHandlee<int>::create(unique_name(), 4);
    const auto procs = [&](const smh_test::captured& table) {
        const auto rows = lines_with(table.out, shm.name());
        REQUIRE(rows.size() == 1);
        return cell_ending_at(table.out.substr(0, table.out.find('\n')), rows[0], "PROCS");
    };
    // This process; `+` only where some process's mappings could not be read.
    CHECK_THAT(procs(smh_cli({"ls"})), Catch::Matches("1\\+?"));
    {
        // A forked child has the parent's mappings.
        smh_test::child_process child([] { ::pause(); });
        CHECK_THAT(procs(smh_cli({"ls"})), Catch::Matches("2\\+?"));
        const auto json = smh_cli({"ls", "--json"});
        const auto rows = lines_with(json.out, "\"" + shm.name() + "\"");
        REQUIRE(rows.size() == 1);
        CHECK(json_number(rows[0], "processes") == 2u);
        CHECK(contains(rows[0], "\"processes_exact\": "));
        const auto text = smh_cli({"inspect", shm.name()});
        CHECK(contains(text.out, "mapped by      2"));
    }
}

TEST_CASE("smh ls run by another user counts the segments it may not read, and its process counts "
          "as lower bounds") {
    if (::geteuid() != 0) return smh_test::skip("needs root to run the tool as another user");
    if (::access("/usr/bin/setpriv", X_OK) != 0) return smh_test::skip("needs setpriv(1)");
    auto hidden = SharedMemoryHandlee<int>::create(unique_name(), 4, {.permissions = 0600});
    auto shown = SharedMemoryHandlee<int>::create(unique_name(), 4, {.permissions = 0644});
    const auto as_nobody = [](std::vector<std::string> args) {
        args.insert(args.begin(), {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                                   "--clear-groups", SMH_CLI});
        return smh_test::run_captured(std::move(args));
    };
    const auto table = as_nobody({"ls"});
    INFO(table.err);
    REQUIRE(table.result.exit_code == 0);
    CHECK(lines_with(table.out, hidden.name()).empty());
    CHECK((contains(table.out, "skipped: 1 file this user may not read, ") ||
           contains(table.out, " files this user may not read, ")));
    const auto rows = lines_with(table.out, shown.name());
    REQUIRE(rows.size() == 1);
    // This process (root's) maps it, and nobody may not read root's mappings.
    CHECK(cell_ending_at(table.out.substr(0, table.out.find('\n')), rows[0], "PROCS") == "0+");
    CHECK(contains(table.out, "counts ending in + may be higher"));

    const auto json = as_nobody({"ls", "--json"});
    REQUIRE(json.result.exit_code == 0);
    const auto skipped = lines_with(json.out, "\"name\": \"" + hidden.name() + "\"");
    REQUIRE(skipped.size() == 1);
    CHECK(contains(skipped[0], "\"reason\": \"unreadable\""));
    const auto listed = lines_with(json.out, "\"" + shown.name() + "\"");
    REQUIRE(listed.size() == 1);
    CHECK(contains(listed[0], "\"processes\": 0, \"processes_exact\": false"));
}

TEST_CASE("smh gc --dry-run names exactly what smh gc then removes, for each kind of orphan",
          "[orphans]") {
    const auto kind =
        GENERATE(smh_test::orphan_kind::killed_owner, smh_test::orphan_kind::abandoned_build,
                 smh_test::orphan_kind::abandoned_claim);
    INFO(smh_test::to_string(kind));
    const auto name = smh_test::orphan_name(kind);
    smh_test::segment_guard guard(name);
    smh_test::make_orphan(kind, name);
    auto live = SharedMemoryHandlee<int>::create(unique_name(), 2);

    const auto dry = smh_cli({"gc", "--dry-run"});
    CHECK(dry.result.exit_code == 0);
    CHECK(lines_with(dry.out, name) == std::vector<std::string>{"would remove " + name});
    CHECK(lines_with(dry.out, live.name()).empty());
    const auto dry_json = smh_cli({"gc", "--dry-run", "--json"});
    CHECK(dry_json.result.exit_code == 0);
    CHECK(contains(dry_json.out, "{\"dry_run\": true, \"would_remove\": ["));
    CHECK(contains(dry_json.out, "\"" + name + "\""));
    CHECK_FALSE(contains(dry_json.out, "\"removed\""));
    CHECK(segment_exists(name));

    const auto real = smh_cli({"gc", "--json"});
    INFO(real.err);
    CHECK(real.result.exit_code == 0);
    CHECK(contains(real.out, "{\"dry_run\": false, \"removed\": ["));
    CHECK(contains(real.out, "\"" + name + "\""));
    CHECK(contains(real.out, "\"not_removed\": []"));
    CHECK_FALSE(segment_exists(name));
    CHECK(segment_exists(live.name()));
}
