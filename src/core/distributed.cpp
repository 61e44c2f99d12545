// The parts of data-parallel training that do not depend on the transport: shards and the check
// that every rank starts from the same model, data and options.
#include <convnet/core/distributed.h>
#include <convnet/core/error.h>

namespace convnet {

Shard shard_of(std::int64_t count, int rank, int size) {
    if (size < 1 || rank < 0 || rank >= size)
        throw Error("shard_of: rank " + std::to_string(rank) + " of " + std::to_string(size) + " ranks");
    const std::int64_t base = count / size, remainder = count % size;
    return Shard{rank * base + std::min<std::int64_t>(rank, remainder), base + (rank < remainder ? 1 : 0)};
}

void check_same_on_every_rank(Communicator& communicator, std::uint64_t fingerprint, const std::string& description) {
    const std::vector<std::uint64_t> all = communicator.all_gather(fingerprint);
    std::string differing;
    for (std::size_t rank = 1; rank < all.size(); ++rank)
        if (all[rank] != all[0]) differing += (differing.empty() ? "" : ", ") + std::to_string(rank);
    if (!differing.empty())
        throw Error("rank" + std::string(differing.find(',') == std::string::npos ? " " : "s ") + differing + " of " +
                    std::to_string(all.size()) + " differ" + (differing.find(',') == std::string::npos ? "s" : "") + " from rank 0 in " +
                    description + ": every rank must run the same command on the same files");
}

#ifndef CONVNET_HAS_MPI
bool mpi_available() { return false; }

std::unique_ptr<Communicator> mpi_world() {
    throw Error(
        "this convnet was built without MPI: install Open MPI (`sudo apt-get install libopenmpi-dev`, which `make test` "
        "does; `make demo` leaves it out) and build again (`make build` configures anew)");
}
#endif

}  // namespace convnet
