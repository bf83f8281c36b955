// One copy per node instead of one per rank: MPI ranks on the same machine
// share a read-only table through an smh segment.
//
// The communicator is split by node (MPI_COMM_TYPE_SHARED). On each node the
// first rank creates the segment, fills it and broadcasts its name; the other
// ranks attach read-only. Each rank sums its part of the table; MPI combines
// the sums. The creator owns the segment and removes it at the end, after
// everyone has let go.
//
//   mpirun -np 4 example_mpi_node_shared [MiB] [--compare]
//
// --compare also gives every rank a private copy, as replicated data would
// be, and prints the node's memory both ways (the sum of the ranks'
// proportional set sizes, /proc/self/smaps_rollup).
#include <smh/shared_memory_handlee.hpp>

#include <mpi.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace {

// This process's proportional set size in bytes: every page it maps, divided
// by the number of processes that map it.
double pss_bytes() {
    std::ifstream rollup("/proc/self/smaps_rollup");
    for (std::string line; std::getline(rollup, line);)
        if (line.rfind("Pss:", 0) == 0) return std::stod(line.substr(4)) * 1024;
    return 0;
}

std::uint64_t sum_part(const std::uint64_t* table, std::size_t count, int rank, int ranks) {
    const std::size_t begin =
        count * static_cast<std::size_t>(rank) / static_cast<std::size_t>(ranks);
    const std::size_t end =
        count * static_cast<std::size_t>(rank + 1) / static_cast<std::size_t>(ranks);
    std::uint64_t sum = 0;
    for (std::size_t i = begin; i < end; ++i) sum += table[i];
    return sum;
}

double node_total(double mine, MPI_Comm node) {
    double total = 0;
    MPI_Allreduce(&mine, &total, 1, MPI_DOUBLE, MPI_SUM, node);
    return total;
}

} // namespace

int main(int argc, char** argv) {
    MPI_Init(&argc, &argv);
    int rank = 0, ranks = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    const std::size_t mib = argc > 1 && argv[1][0] != '-' ? std::stoul(argv[1]) : 16;
    const bool compare = argc > 1 && std::strcmp(argv[argc - 1], "--compare") == 0;
    const std::size_t count = mib * 1024 * 1024 / sizeof(std::uint64_t);

    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
    int node_rank = 0, node_ranks = 1;
    MPI_Comm_rank(node, &node_rank);
    MPI_Comm_size(node, &node_ranks);

    int failed = 0;
    {
        // The node's first rank creates and fills the table; the others wait
        // for its name, then attach read-only.
        smh::SharedMemoryHandlee<std::uint64_t> owned;
        smh::SharedMemoryHandlee<const std::uint64_t> attached;
        char name[smh::max_name_length + 1] = {};
        if (node_rank == 0) {
            try {
                owned = smh::create<std::uint64_t>(count);
                for (std::size_t i = 0; i < count; ++i) owned[i] = i;
                std::snprintf(name, sizeof name, "%s", owned.name().c_str());
            } catch (const smh::error& e) {
                std::fprintf(stderr, "rank %d: %s\n", rank, e.what());
                name[0] = '\0'; // tells the others
            }
        }
        MPI_Bcast(name, sizeof name, MPI_CHAR, 0, node);
        if (name[0] == '\0') {
            MPI_Abort(MPI_COMM_WORLD, 1);
            return 1;
        }
        if (node_rank != 0) attached = smh::attach<const std::uint64_t>(name);
        const std::uint64_t* table = node_rank == 0 ? owned.data().data() : attached.data().data();

        // Each rank of the whole job sums its part of the table; MPI adds
        // the parts. Every node holds the whole table, so any rank can read
        // any part.
        const std::uint64_t mine = sum_part(table, count, rank, ranks);
        std::uint64_t total = 0;
        MPI_Reduce(&mine, &total, 1, MPI_UINT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
        const std::uint64_t expected = static_cast<std::uint64_t>(count) * (count - 1) / 2;
        if (rank == 0 && total != expected) {
            std::fprintf(stderr, "wrong total %llu, expected %llu\n",
                         static_cast<unsigned long long>(total),
                         static_cast<unsigned long long>(expected));
            failed = 1;
        }
        const double shared = node_total(pss_bytes(), node);

        if (compare) {
            // Replicated data: each rank builds its own copy of the table.
            std::vector<std::uint64_t> copy(count);
            for (std::size_t i = 0; i < count; ++i) copy[i] = i;
            if (sum_part(copy.data(), count, rank, ranks) != mine) failed = 1;
            // The segment is still mapped: its pages count once in both sums.
            const double table = static_cast<double>(count * sizeof(std::uint64_t));
            const double replicated = node_total(pss_bytes(), node) - table;
            if (rank == 0)
                std::printf("node memory, sum of %d ranks' PSS: one shared copy %.1f MiB, one "
                            "copy per rank %.1f MiB (%.2fx)\n",
                            node_ranks, shared / 1048576, replicated / 1048576,
                            replicated / shared);
        }
        if (rank == 0)
            std::printf("%d ranks on %s node(s) summed a %zu MiB table held once per node: %s\n",
                        ranks, node_ranks == ranks ? "one" : "several", mib,
                        failed ? "WRONG" : "correct");
        // Everyone lets go before the owner's destructor removes the name.
        attached = {};
        MPI_Barrier(node);
    }
    MPI_Comm_free(&node);
    int any_failed = 0;
    MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Finalize();
    return any_failed;
}
