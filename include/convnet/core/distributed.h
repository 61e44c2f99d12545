// Data-parallel training across processes: the collective operations training needs, behind an
// interface so that the library does not depend on MPI (an Open MPI implementation is built when
// MPI is found; docs/DISTRIBUTED.md). Semantics as torch.nn.parallel.DistributedDataParallel:
// every rank holds the same weights, takes its shard of each global batch, and the gradients are
// averaged over the global batch before every rank takes the same optimiser step.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace convnet {

// A group of `size()` processes, this one being `rank()` (0-based). Every call is collective:
// all ranks make the same calls in the same order with the same lengths, or they hang. Throws
// convnet::Error when the transport fails.
class Communicator {
public:
    virtual ~Communicator() = default;
    virtual int rank() const = 0;
    virtual int size() const = 0;
    // Elementwise sum over the ranks, in place; every rank gets the result.
    virtual void all_reduce_sum(std::span<float> values) = 0;
    virtual void all_reduce_sum(std::span<double> values) = 0;
    // Every rank's `value`, in rank order.
    virtual std::vector<std::uint64_t> all_gather(std::uint64_t value) = 0;
    // Seconds spent in collectives so far (waiting for the slowest rank included).
    virtual double communication_seconds() const = 0;
    // Ends every rank's process with `exit_code` (MPI_Abort): for an error on one rank, which the
    // others would otherwise wait for in their next collective forever.
    [[noreturn]] virtual void abort(int exit_code) = 0;
};

// Rank `rank`'s part of `count` items split over `size` ranks as evenly as possible, the lower
// ranks taking the remainder: {first, count}. The same split on every rank, so the parts tile.
struct Shard {
    std::int64_t first = 0, count = 0;
};
Shard shard_of(std::int64_t count, int rank, int size);

// Whether this build has the MPI communicator (CONVNET_MPI, on when CMake finds MPI).
bool mpi_available();

// The world of an MPI run (mpirun -np N): initialises MPI on construction and finalises it on
// destruction, so hold it for as long as training runs. Throws convnet::Error when this build
// has no MPI ("rebuild with libopenmpi-dev installed") or MPI fails to start.
std::unique_ptr<Communicator> mpi_world();

// Checks at start that every rank agrees on `fingerprint` (of the model, say): throws
// convnet::Error naming the ranks that differ from rank 0 and `description` ("rank 1 of 2
// differs from rank 0 in its model: ...").
void check_same_on_every_rank(Communicator& communicator, std::uint64_t fingerprint, const std::string& description);

}  // namespace convnet
