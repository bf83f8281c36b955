// The smh command-line tool, run as a real program.
#include <catch2/catch.hpp>

#include "support.hpp"

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

} // namespace

TEST_CASE("smh --help and --version explain themselves, and bad usage exits 2") {
    const auto help = smh_cli({"--help"});
    CHECK(help.result.exit_code == 0);
    CHECK(contains(help.out, "usage: smh"));
    for (const char* command : {"ls", "inspect", "rm", "gc", "--dry-run", "--json"})
        CHECK(contains(help.out, command));

    const auto version = smh_cli({"--version"});
    CHECK(version.result.exit_code == 0);
    CHECK(contains(version.out, "smh " + std::to_string(SMH_VERSION_MAJOR) + "."));

    for (const auto& bad : std::vector<std::vector<std::string>>{
             {}, {"frobnicate"}, {"ls", "--colour"}, {"inspect"}, {"rm"}, {"ls", "--dry-run"}}) {
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
    CHECK(json.out.front() == '[');
    CHECK(contains(json.out, "\"name\": \"" + numbers.name() + "\""));
    CHECK(contains(json.out, "\"element_count\": 1000"));
    CHECK(contains(json.out, "\"owner_alive\": true"));
}

TEST_CASE("smh inspect prints one header, and exits 1 for a missing or foreign name") {
    auto points = SharedMemoryHandlee<double>::create(unique_name(), 3);
    const auto text = smh_cli({"inspect", points.name()});
    REQUIRE(text.result.exit_code == 0);
    CHECK(contains(text.out, "float64"));
    CHECK(contains(text.out, "8 bytes, alignment 8"));
    CHECK(contains(text.out, "elements       3"));
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
