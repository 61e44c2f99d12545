// Data-parallel training without MPI: shards, the start-up agreement check, and a Trainer on two
// "ranks" that are threads of this process (a Communicator over a barrier), against one Trainer
// on the whole batch. tests/cli/test_distributed.py runs the same under mpirun.
#include <convnet/core/distributed.h>
#include <convnet/nn/network.h>
#include <convnet/train/optim.h>
#include <convnet/train/trainer.h>

#include "test_support.h"
#include "thread_group.h"

#include <gtest/gtest.h>

#include <cmath>
#include <thread>

namespace convnet {
namespace {

using testing::ThreadGroup;

TEST(Distributed, ShardsTileTheBatchTheLowerRanksTakingTheRemainder) {
    for (std::int64_t count = 0; count <= 11; ++count)
        for (int size = 1; size <= 4; ++size) {
            std::int64_t next = 0;
            for (int rank = 0; rank < size; ++rank) {
                const Shard shard = shard_of(count, rank, size);
                EXPECT_EQ(shard.first, next) << count << " over " << size;
                EXPECT_EQ(shard.count, count / size + (rank < count % size ? 1 : 0)) << count << " over " << size << ", rank " << rank;
                next += shard.count;
            }
            EXPECT_EQ(next, count);
        }
    testing::expect_error([] { shard_of(10, 2, 2); }, {"shard_of: rank 2 of 2 ranks"});
}

TEST(Distributed, RanksThatDisagreeAreNamed) {
    ThreadGroup group(3);
    std::vector<std::string> errors(3);
    std::vector<std::thread> ranks;
    for (int rank = 0; rank < 3; ++rank)
        ranks.emplace_back([&, rank] {
            ThreadGroup::Member member(group, rank);
            try {
                check_same_on_every_rank(member, rank == 2 ? 7 : 5, "its model");
            } catch (const Error& error) {
                errors[static_cast<std::size_t>(rank)] = error.what();
            }
        });
    for (std::thread& rank : ranks) rank.join();
    for (const std::string& error : errors)  // every rank refuses, with the same message
        EXPECT_EQ(error, "rank 2 of 3 differs from rank 0 in its model: every rank must run the same command on the same files");
}

std::vector<float> values_of(const Network& network) {
    const std::span<const float> all = network.all_values();
    return {all.begin(), all.end()};
}

// Two epochs of a small batch-norm network on `ranks` thread-ranks (batch norm synchronised or
// not), on the fast path or the reference layers; every rank's final weights must agree, and
// rank 0's are returned.
std::vector<float> train_on_ranks(int ranks, bool sync, bool fast) {
    const char* model = "input 1x12x12\nconv2d out=4 kernel=3 pad=1\nbatchnorm2d\nrelu\nmaxpool2d kernel=2\nflatten\nlinear out=3\n";
    const Dataset train = testing::generated_dataset(200, 3);
    std::vector<std::vector<float>> results(static_cast<std::size_t>(ranks));
    ThreadGroup group(ranks);
    std::vector<std::thread> threads;
    for (int rank = 0; rank < ranks; ++rank)
        threads.emplace_back([&, rank] {
            Network network(parse_model(model, "small.model"));
            if (!fast) network.set_backend("reference");
            network.initialize(1);
            SGDOptions options;
            options.learning_rate = 0.05;
            SGD sgd(options);
            Trainer trainer(network, sgd, 40, 1);
            ThreadGroup::Member member(group, rank);
            if (ranks > 1) trainer.set_communicator(&member, sync);
            for (int epoch = 0; epoch < 2; ++epoch) trainer.train_epoch(train, {});
            results[static_cast<std::size_t>(rank)] = values_of(network);
        });
    for (std::thread& thread : threads) thread.join();
    for (int rank = 1; rank < ranks; ++rank) EXPECT_EQ(results[static_cast<std::size_t>(rank)], results[0]) << "rank " << rank;
    return results[0];
}

double relative_difference(const std::vector<float>& a, const std::vector<float>& b) {
    double difference = 0.0, norm = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        difference += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
        norm += double(a[i]) * a[i];
    }
    return std::sqrt(difference / norm);
}

// On the reference layers (whose batch statistics are in double): two thread-ranks with
// synchronised batch norm end within rounding of one Trainer; without synchronisation each rank
// normalises its own half, and the weights differ far more.
TEST(Distributed, TwoRanksWithSynchronisedBatchNormTrainAsOneProcess) {
    const std::vector<float> single = train_on_ranks(1, true, false), synchronised = train_on_ranks(2, true, false);
    const std::vector<float> separate = train_on_ranks(2, false, false);
    EXPECT_LT(relative_difference(single, synchronised), 1e-5);
    EXPECT_GT(relative_difference(single, separate), 1e-3);
}

// The same on the fast path, where batch norm, relu and the 2x2 max pool are one stage on our
// kernel (AVX2): its statistics and gradient sums are made global by the layer's calls.
TEST(Distributed, TwoRanksWithSynchronisedBatchNormTrainAsOneProcessOnTheFastPath) {
    const std::vector<float> single = train_on_ranks(1, true, true), synchronised = train_on_ranks(2, true, true);
    const std::vector<float> separate = train_on_ranks(2, false, true);
    EXPECT_LT(relative_difference(single, synchronised), 1e-5);
    EXPECT_GT(relative_difference(single, separate), 1e-3);
}

// Segmentation: each rank's shard has its own count of labelled (not ignored) pixels, so the
// global loss's mean divides by the sum of every shard's weighted count: two ranks (reference
// layers, with class weights) end within rounding of one process.
std::vector<float> train_segmentation_on_ranks(int ranks) {
    const char* model = "input 1x12x12\nconv2d out=4 kernel=3 pad=1\nrelu\nconv2d out=3 kernel=1\n";
    const Dataset train = testing::generated_segmentation_dataset(60, 3);
    std::vector<std::vector<float>> results(static_cast<std::size_t>(ranks));
    ThreadGroup group(ranks);
    std::vector<std::thread> threads;
    for (int rank = 0; rank < ranks; ++rank)
        threads.emplace_back([&, rank] {
            Network network(parse_model(model, "segment.model"));
            network.set_backend("reference");
            network.initialize(1);
            SGDOptions options;
            options.learning_rate = 0.05;
            SGD sgd(options);
            Trainer trainer(network, sgd, 20, 1);
            trainer.set_class_weights({0.5f, 2.0f, 3.0f});
            ThreadGroup::Member member(group, rank);
            if (ranks > 1) trainer.set_communicator(&member, true);
            for (int epoch = 0; epoch < 2; ++epoch) trainer.train_epoch(train, {});
            results[static_cast<std::size_t>(rank)] = values_of(network);
        });
    for (std::thread& thread : threads) thread.join();
    for (int rank = 1; rank < ranks; ++rank) EXPECT_EQ(results[static_cast<std::size_t>(rank)], results[0]) << "rank " << rank;
    return results[0];
}

TEST(Distributed, TwoRanksTrainSegmentationAsOneProcess) {
    EXPECT_LT(relative_difference(train_segmentation_on_ranks(1), train_segmentation_on_ranks(2)), 1e-5);
}

// Detection: each rank's shard normalises its loss by its own assigned cells, and the global loss
// divides by their sum (every image of the set holds an object, so every shard has some); the
// evaluation, which cannot sum average precisions, scores the whole test set on every rank.
std::vector<float> train_detection_on_ranks(int ranks, double& map50) {
    const char* model = "input 1x24x24\nconv2d out=4 kernel=3 pad=1\nrelu\nmaxpool2d kernel=4\ndetect classes=2\n";
    const Dataset train = testing::generated_detection_dataset(60, 3), test = testing::generated_detection_dataset(20, 4);
    std::vector<std::vector<float>> results(static_cast<std::size_t>(ranks));
    std::vector<double> maps(static_cast<std::size_t>(ranks));
    ThreadGroup group(ranks);
    std::vector<std::thread> threads;
    for (int rank = 0; rank < ranks; ++rank)
        threads.emplace_back([&, rank] {
            Network network(parse_model(model, "detect.model"));
            network.set_backend("reference");
            network.initialize(1);
            SGDOptions options;
            options.learning_rate = 0.05;
            SGD sgd(options);
            Trainer trainer(network, sgd, 20, 1);
            ThreadGroup::Member member(group, rank);
            if (ranks > 1) trainer.set_communicator(&member, true);
            for (int epoch = 0; epoch < 2; ++epoch) trainer.train_epoch(train, {});
            results[static_cast<std::size_t>(rank)] = values_of(network);
            maps[static_cast<std::size_t>(rank)] = evaluate(network, test, 7, {}, ranks > 1 ? &member : nullptr).detection.map50;
        });
    for (std::thread& thread : threads) thread.join();
    for (int rank = 1; rank < ranks; ++rank) {
        EXPECT_EQ(results[static_cast<std::size_t>(rank)], results[0]) << "rank " << rank;
        EXPECT_EQ(maps[static_cast<std::size_t>(rank)], maps[0]) << "rank " << rank;
    }
    map50 = maps[0];
    return results[0];
}

TEST(Distributed, TwoRanksTrainDetectionAsOneProcess) {
    double single_map = 0.0, ranks_map = 0.0;
    EXPECT_LT(relative_difference(train_detection_on_ranks(1, single_map), train_detection_on_ranks(2, ranks_map)), 1e-5);
    EXPECT_NEAR(single_map, ranks_map, 1e-6);
}

}  // namespace
}  // namespace convnet
