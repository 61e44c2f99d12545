// A Communicator over threads of this process, for tests of distributed training without MPI:
// ThreadGroup(N) is N "ranks", each thread holding its own ThreadGroup::Member.
#pragma once

#include <convnet/core/distributed.h>

#include <barrier>
#include <cstdlib>
#include <span>
#include <vector>

namespace convnet::testing {

// Ranks that are threads: every collective gathers each rank's values and sums them in rank order.
class ThreadGroup {
public:
    explicit ThreadGroup(int size) : size_(size), slots_(static_cast<std::size_t>(size)), barrier_(size) {}

    class Member : public Communicator {
    public:
        Member(ThreadGroup& group, int rank) : group_(group), rank_(rank) {}
        int rank() const override { return rank_; }
        int size() const override { return group_.size_; }
        void all_reduce_sum(std::span<float> values) override { reduce(values); }
        void all_reduce_sum(std::span<double> values) override { reduce(values); }
        std::vector<std::uint64_t> all_gather(std::uint64_t value) override {
            group_.slots_[static_cast<std::size_t>(rank_)].assign(1, static_cast<double>(value));
            group_.barrier_.arrive_and_wait();
            std::vector<std::uint64_t> all;
            for (const auto& slot : group_.slots_) all.push_back(static_cast<std::uint64_t>(slot[0]));
            group_.barrier_.arrive_and_wait();
            return all;
        }
        double communication_seconds() const override { return 0.0; }
        [[noreturn]] void abort(int) override { std::abort(); }

    private:
        template <typename Value>
        void reduce(std::span<Value> values) {
            group_.slots_[static_cast<std::size_t>(rank_)].assign(values.begin(), values.end());
            group_.barrier_.arrive_and_wait();
            for (std::size_t i = 0; i < values.size(); ++i) {
                Value sum = 0;
                for (const auto& slot : group_.slots_) sum += static_cast<Value>(slot[i]);
                values[i] = sum;
            }
            group_.barrier_.arrive_and_wait();
        }
        ThreadGroup& group_;
        int rank_;
    };

private:
    int size_;
    std::vector<std::vector<double>> slots_;
    std::barrier<> barrier_;
};

}  // namespace convnet::testing
