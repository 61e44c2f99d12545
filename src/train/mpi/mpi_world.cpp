// The Communicator over MPI's world (Open MPI from Debian's libopenmpi-dev): built only when CMake
// finds MPI (CONVNET_HAS_MPI). Errors are returned, not fatal, so that they become convnet::Error.
#include <convnet/core/distributed.h>
#include <convnet/core/error.h>

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>

namespace convnet {

namespace {

void check(int code, const char* what) {
    if (code == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(code, text, &length);
    throw Error(std::string("MPI ") + what + " failed: " + std::string(text, static_cast<std::size_t>(length)));
}

class MpiWorld : public Communicator {
public:
    MpiWorld() {
        int initialized = 0;
        MPI_Initialized(&initialized);
        if (initialized) throw Error("MPI is already initialised in this process: hold one mpi_world() at a time");
        // Funneled: only the main thread calls MPI (OpenMP threads compute between the calls).
        int provided = 0;
        check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "initialisation");
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
        MPI_Comm_size(MPI_COMM_WORLD, &size_);
    }
    ~MpiWorld() override { MPI_Finalize(); }

    int rank() const override { return rank_; }
    int size() const override { return size_; }

    void all_reduce_sum(std::span<float> values) override { reduce(values.data(), values.size(), MPI_FLOAT); }
    void all_reduce_sum(std::span<double> values) override { reduce(values.data(), values.size(), MPI_DOUBLE); }

    std::vector<std::uint64_t> all_gather(std::uint64_t value) override {
        const auto start = std::chrono::steady_clock::now();
        std::vector<std::uint64_t> all(static_cast<std::size_t>(size_));
        check(MPI_Allgather(&value, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD), "all-gather");
        seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        return all;
    }

    double communication_seconds() const override { return seconds_; }

    [[noreturn]] void abort(int exit_code) override {
        MPI_Abort(MPI_COMM_WORLD, exit_code);
        std::exit(exit_code);  // not reached: MPI_Abort ends every rank
    }

private:
    // In place, in pieces of at most INT_MAX elements (MPI's count is an int).
    void reduce(void* data, std::size_t count, MPI_Datatype type) {
        const auto start = std::chrono::steady_clock::now();
        int element = 0;
        MPI_Type_size(type, &element);
        for (std::size_t done = 0; done < count;) {
            const std::size_t piece = std::min<std::size_t>(count - done, INT_MAX);
            check(MPI_Allreduce(MPI_IN_PLACE, static_cast<char*>(data) + done * static_cast<std::size_t>(element), static_cast<int>(piece),
                                type, MPI_SUM, MPI_COMM_WORLD),
                  "all-reduce");
            done += piece;
        }
        seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }

    int rank_ = 0, size_ = 1;
    double seconds_ = 0.0;
};

}  // namespace

bool mpi_available() { return true; }

std::unique_ptr<Communicator> mpi_world() { return std::make_unique<MpiWorld>(); }

}  // namespace convnet
