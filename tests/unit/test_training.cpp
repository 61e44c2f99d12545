// Training end to end: a fixed seed and thread count repeat bit for bit, the loss falls, and a
// short run on real Fashion-MNIST images clears an accuracy bar.
#include <convnet/data/data.h>
#include <convnet/io/weights.h>
#include <convnet/nn/loss.h>
#include <convnet/nn/network.h>
#include <convnet/train/optim.h>
#include <convnet/core/threads.h>
#include <convnet/train/trainer.h>

#include "test_support.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <omp.h>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

namespace convnet {
namespace {

const char* kSmallModel = "input 1x12x12\nconv2d out=4 kernel=3 pad=1\nbatchnorm2d\nrelu\nmaxpool2d kernel=2\nflatten\nlinear out=3\n";

using testing::generated_dataset;

std::vector<float> train_and_collect(const Dataset& data, std::uint64_t seed, int threads) {
    omp_set_num_threads(threads);
    Network network(parse_model(kSmallModel, "small.model"));
    network.initialize(seed);
    Adam adam(AdamOptions{});
    Trainer trainer(network, adam, 32, seed);
    trainer.train_epoch(data, {});
    std::vector<float> weights;
    for (const NamedParameter& entry : testing::parameters_and_buffers(network))
        weights.insert(weights.end(), entry.parameter->value, entry.parameter->value + entry.parameter->shape.element_count());
    return weights;
}

TEST(Training, SameSeedAndThreadsGiveIdenticalWeights) {
    const Dataset data = generated_dataset(640, 5);
    for (int threads : {1, 2}) {
        const std::vector<float> first = train_and_collect(data, 11, threads);
        const std::vector<float> second = train_and_collect(data, 11, threads);
        ASSERT_EQ(first.size(), second.size());
        EXPECT_EQ(std::memcmp(first.data(), second.data(), first.size() * sizeof(float)), 0) << "threads " << threads;
        const std::vector<float> other_seed = train_and_collect(data, 12, threads);
        EXPECT_NE(std::memcmp(first.data(), other_seed.data(), first.size() * sizeof(float)), 0) << "the seed had no effect";
    }
}

TEST(Training, LearnsGeneratedPatterns) {
    omp_set_num_threads(2);
    const Dataset train = generated_dataset(3000, 1), test = generated_dataset(600, 2);
    Network network(parse_model(kSmallModel, "small.model"));
    network.initialize(3);
    Adam adam(AdamOptions{});
    Trainer trainer(network, adam, 50, 3);
    const double loss_before = evaluate(network, test, 100).loss;
    const EpochResult first = trainer.train_epoch(train, {});
    const EpochResult second = trainer.train_epoch(train, {});
    const Evaluation after = evaluate(network, test, 100);
    EXPECT_LT(second.train_loss, first.train_loss);
    EXPECT_LT(after.loss, loss_before * 0.5);
    EXPECT_GE(after.accuracy, 0.95);
}

// Real images: the seed network on 6,000 Fashion-MNIST training images for one epoch must reach
// 75 % on 2,000 test images (a full run reaches over 90 %; untrained is 10 %).
TEST(Training, SeedNetworkLearnsRealFashionMnist) {
    const std::string directory = std::string(CONVNET_SOURCE_DIR) + "/data/fashion-mnist";
    Dataset train = load_split(directory, Split::train);  // `make test` fetches the data first
    Dataset test = load_split(directory, Split::test);
    train.count = 6000;
    test.count = 2000;
    omp_set_num_threads(2);
    Network network(read_model_file(std::string(CONVNET_SOURCE_DIR) + "/models/convnet1.model"));
    network.initialize(1);
    Adam adam(AdamOptions{});
    Trainer trainer(network, adam, 100, 1);
    trainer.train_epoch(train, {});
    const Evaluation result = evaluate(network, test, 500);
    EXPECT_GE(result.accuracy, 0.75) << "test loss " << result.loss;
    EXPECT_EQ(result.class_total.size(), 10u);
}

// Field reports: one training image trained nothing and printed "-nan"; with three, one was
// dropped every epoch without a word. Now every image is used or the run is refused.
std::int64_t images_trained(const char* model, const Dataset& data, std::int64_t batch) {
    Network network(parse_model(model, "tiny.model"));
    network.initialize(1);
    Adam adam(AdamOptions{});
    Trainer trainer(network, adam, batch, 1);
    std::int64_t done = 0;
    const EpochResult result = trainer.train_epoch(data, [&](const TrainProgress& p) { done = p.images_done; });
    EXPECT_TRUE(std::isfinite(result.train_loss));
    return done;
}

TEST(Training, EveryImageOfATinyTrainingSetIsUsed) {
    const char* without_norm = "input 1x12x12\nflatten\nlinear out=3\n";
    const char* norm_per_feature = "input 1x12x12\nflatten\nlinear out=8\nbatchnorm1d\nrelu\nlinear out=3\n";
    EXPECT_EQ(images_trained(without_norm, generated_dataset(1, 3), 2), 1);
    EXPECT_EQ(images_trained(without_norm, generated_dataset(3, 3), 2), 3);      // batches of 2 and 1
    EXPECT_EQ(images_trained(kSmallModel, generated_dataset(1, 3), 2), 1);       // batchnorm2d over 12x12 values: fine
    EXPECT_EQ(images_trained(norm_per_feature, generated_dataset(3, 3), 2), 3);  // the lone last image joins the batch
    EXPECT_EQ(images_trained(norm_per_feature, generated_dataset(201, 3), 100), 201);
    Network network(parse_model(norm_per_feature, "tiny.model"));
    EXPECT_EQ(network.minimum_training_batch(), 2);
    Adam adam(AdamOptions{});
    testing::expect_error([&] { Trainer(network, adam, 1, 1); }, {"batch size 1: expected 2 to 65536", "batch norm"});
    Trainer trainer(network, adam, 2, 1);
    testing::expect_error([&] { trainer.train_epoch(generated_dataset(1, 3), {}); },
                          {"the training set has 1 image", "at least 2 images a batch"});
    testing::expect_error([&] { trainer.train_epoch(generated_dataset(0, 3), {}); }, {"the training set has 0 images"});
    testing::expect_error([&] { evaluate(network, generated_dataset(0, 3), 10); }, {"the evaluation set has no images"});
}

// Test-time flip averages each image's logits with its mirror's: so a dataset and its mirror
// image give the same figures, a dataset of images that are their own mirror the plain ones, and
// the row/column/diagonal images (not symmetric) other ones.
TEST(Training, TestTimeFlipAveragesEachImageWithItsMirror) {
    Network network(parse_model("input 1x12x12\nconv2d out=4 kernel=3\nrelu\nflatten\nlinear out=3\n", "flip.model"));
    network.initialize(5);
    const Dataset data = generated_dataset(50, 8);
    Dataset mirrored = data, symmetric = data;
    for (std::int64_t n = 0; n < data.count; ++n)
        for (std::int64_t y = 0; y < 12; ++y) {
            std::uint8_t* row = mirrored.images.data() + (n * 12 + y) * 12;
            std::reverse(row, row + 12);
            std::uint8_t* half = symmetric.images.data() + (n * 12 + y) * 12;
            std::reverse_copy(half, half + 6, half + 6);
        }
    const auto flip = TestTimeAugmentation::flip;
    const Evaluation plain = evaluate(network, data, 16), flipped = evaluate(network, data, 16, {}, nullptr, flip);
    EXPECT_EQ(flipped.loss, evaluate(network, mirrored, 16, {}, nullptr, flip).loss);
    EXPECT_NE(flipped.loss, plain.loss);
    EXPECT_NEAR(evaluate(network, symmetric, 16, {}, nullptr, flip).loss, evaluate(network, symmetric, 16).loss, 1e-6);
    EXPECT_EQ(parse_test_time_augmentation("flip"), flip);
    EXPECT_STREQ(test_time_augmentation_name(flip), "flip");
    testing::expect_error([] { parse_test_time_augmentation("rotate"); }, {"'rotate': expected none or flip"});
}

// A field report: a NaN loss went into --metrics as `nan`, which no JSON reader accepts.
TEST(Training, MetricsAreValidJsonEvenForNaN) {
    EpochResult epoch;
    epoch.epoch = 3;
    epoch.train_loss = std::numeric_limits<double>::quiet_NaN();
    epoch.train_accuracy = 0.5;
    epoch.seconds = std::numeric_limits<double>::infinity();
    Evaluation test;
    test.loss = 0.25;
    test.accuracy = 0.875;
    const std::string line = epoch_metrics_json(epoch, &test);
    EXPECT_EQ(line.find('\n'), std::string::npos);
    const nlohmann::json record = nlohmann::json::parse(line);
    EXPECT_EQ(record["epoch"], 3);
    EXPECT_TRUE(record["train_loss"].is_null());
    EXPECT_TRUE(record["epoch_seconds"].is_null());
    EXPECT_EQ(record["test_accuracy"].get<double>(), 0.875);
    for (const char* key : {"train_accuracy", "test_loss", "images_per_second"}) EXPECT_TRUE(record.contains(key)) << key;
}

// The epoch loop lives in the library: fit runs the schedule, evaluates, writes the metrics and
// the weights; and an epoch's data order depends only on (seed, epoch), so a run stopped after
// an epoch and resumed (same weights and optimiser) ends bit for bit where an unbroken one does.
std::vector<float> weights_of(const Network& network) {
    std::vector<float> weights;
    for (const NamedParameter& entry : testing::parameters_and_buffers(network))
        weights.insert(weights.end(), entry.parameter->value, entry.parameter->value + entry.parameter->shape.element_count());
    return weights;
}

TEST(Training, FitRunsTheEpochsAndAResumedRunEndsWhereAnUnbrokenOneDoes) {
    set_thread_count(2);
    const Dataset train = generated_dataset(300, 8), test = generated_dataset(90, 9);
    FitOptions options;
    options.epochs = 2;
    options.learning_rate = 0.01;
    options.schedule = step_schedule(1, 0.5);
    const std::filesystem::path folder = std::filesystem::temp_directory_path() / "convnet_fit";
    std::filesystem::remove_all(folder);
    std::filesystem::create_directories(folder);
    options.metrics = folder / "metrics.jsonl";
    options.save = folder / "weights.bin";

    Network unbroken(parse_model(kSmallModel, "small.model"));
    unbroken.initialize(4);
    Adam adam(AdamOptions{});
    Trainer trainer(unbroken, adam, 32, 4);
    std::vector<int> epochs_seen;
    FitCallbacks callbacks;
    callbacks.epoch_done = [&](const EpochResult& epoch, const Evaluation*) { epochs_seen.push_back(epoch.epoch); };
    const Evaluation last = trainer.fit(train, test, options, callbacks).last;
    EXPECT_EQ(epochs_seen, (std::vector<int>{1, 2}));
    EXPECT_EQ(trainer.epochs_done(), 2);
    EXPECT_DOUBLE_EQ(adam.learning_rate(), 0.005);  // StepLR(1, 0.5) before epoch 2
    EXPECT_GT(last.accuracy, 0.5);
    std::ifstream metrics(options.metrics);
    int lines = 0;
    for (std::string line; std::getline(metrics, line); ++lines) EXPECT_EQ(nlohmann::json::parse(line)["epoch"], lines + 1);
    EXPECT_EQ(lines, 2);
    Network saved(parse_model(kSmallModel, "small.model"));
    load_weights(saved, options.save);
    EXPECT_EQ(weights_of(saved), weights_of(unbroken));

    Network resumed(parse_model(kSmallModel, "small.model"));
    resumed.initialize(4);
    Adam resumed_adam(AdamOptions{});
    FitOptions first = options, second = options;
    first.epochs = 1;
    second.epochs = 2;  // the run's total
    first.metrics = second.metrics = first.save = second.save = "";
    Trainer(resumed, resumed_adam, 32, 4).fit(train, test, first);
    Trainer continued(resumed, resumed_adam, 32, 4);
    continued.resume_at(1);
    continued.fit(train, test, second);
    EXPECT_EQ(weights_of(resumed), weights_of(unbroken));
    std::filesystem::remove_all(folder);
}

// eval_every (--eval-every): epochs 3 and 6 of 7 are evaluated, and the last; the others have no
// evaluation and no test fields in their metrics line; training is the same bits either way.
TEST(Training, FitEvaluatesEveryNthEpochAndTheLast) {
    const Dataset train = generated_dataset(96, 8), test = generated_dataset(30, 9);
    const std::filesystem::path metrics = std::filesystem::temp_directory_path() / "convnet_eval_every.jsonl";
    std::filesystem::remove(metrics);
    const auto run = [&](int eval_every, std::vector<int>& evaluated) {
        Network network(parse_model(kSmallModel, "small.model"));
        network.initialize(4);
        SGD sgd(SGDOptions{});
        FitOptions options;
        options.epochs = 7;
        options.eval_every = eval_every;
        options.metrics = eval_every == 3 ? metrics : std::filesystem::path();
        FitCallbacks callbacks;
        callbacks.epoch_done = [&](const EpochResult& epoch, const Evaluation* tested) {
            if (tested != nullptr) evaluated.push_back(epoch.epoch);
        };
        const double accuracy = Trainer(network, sgd, 32, 4).fit(train, test, options, callbacks).last.accuracy;
        return std::make_pair(weights_of(network), accuracy);
    };
    std::vector<int> every, third;
    const auto [weights_every, accuracy_every] = run(1, every);
    const auto [weights_third, accuracy_third] = run(3, third);
    EXPECT_EQ(every, (std::vector<int>{1, 2, 3, 4, 5, 6, 7}));
    EXPECT_EQ(third, (std::vector<int>{3, 6, 7}));
    EXPECT_EQ(weights_third, weights_every);
    EXPECT_EQ(accuracy_third, accuracy_every);
    std::ifstream file(metrics);
    std::vector<int> with_test;
    int lines = 0;
    for (std::string line; std::getline(file, line); ++lines) {
        const nlohmann::json record = nlohmann::json::parse(line);
        EXPECT_EQ(record.contains("test_loss"), record.contains("test_accuracy"));
        if (record.contains("test_accuracy")) with_test.push_back(record["epoch"].get<int>());
    }
    EXPECT_EQ(lines, 7);
    EXPECT_EQ(with_test, (std::vector<int>{3, 6, 7}));
    std::filesystem::remove(metrics);

    Network network(parse_model(kSmallModel, "small.model"));
    network.initialize(4);
    SGD sgd(SGDOptions{});
    FitOptions zero;
    zero.eval_every = 0;
    testing::expect_error([&] { Trainer(network, sgd, 32, 4).fit(train, test, zero); }, {"eval_every 0", "expected 1 or more"});
}

// Without a learning rate in FitOptions, fit schedules from the optimiser's own rate.
TEST(Training, FitKeepsTheOptimisersOwnRate) {
    Network network(parse_model(kSmallModel, "small.model"));
    network.initialize(1);
    SGDOptions options;
    options.learning_rate = 0.05;
    SGD sgd(options);
    Trainer trainer(network, sgd, 32, 1);
    FitOptions fit;
    fit.epochs = 1;
    trainer.fit(generated_dataset(64, 2), generated_dataset(30, 3), fit);
    EXPECT_DOUBLE_EQ(sgd.learning_rate(), 0.05);
}

// Numerical trouble: a weight that is NaN (as a diverged step leaves one) makes the loss NaN. The
// default stops before the step, naming the step, the weights that went bad and the likely cause
// (a learning rate far above the usual one), the weights left as they were; skip leaves every such
// batch out and finishes the epoch.
TEST(Training, ANonFiniteLossStopsNamingTheStepTheWeightsAndTheCause) {
    const Dataset train = generated_dataset(640, 5);
    const char* model = "input 1x12x12\nflatten\nlinear out=3\n";
    SGDOptions options;
    options.learning_rate = 50.0;
    for (const NonFinitePolicy policy : {NonFinitePolicy::stop, NonFinitePolicy::skip}) {
        Network network(parse_model(model, "plain.model"));
        network.initialize(1);
        network.named_parameters()[1].parameter->value[2] = std::numeric_limits<float>::quiet_NaN();  // fc1.bias[2]
        network.parameters_changed();
        const std::vector<float> before = weights_of(network);
        SGD sgd(options);
        Trainer trainer(network, sgd, 32, 1);
        trainer.set_non_finite_policy(policy);
        if (policy == NonFinitePolicy::stop) {
            testing::expect_error(
                [&] { trainer.train_epoch(train, {}); },
                {"training diverged at step 1 (epoch 1, images 1 to 32): the loss is nan", "the weights are not finite from fc1.bias on",
                 "learning rate 50 is far above the usual 0.1 for sgd", "--on-nan skip"});
        } else {  // 640 images in batches of 32, every one NaN: an epoch of nothing learned is an error too
            testing::expect_error([&] { trainer.train_epoch(train, {}); },
                                  {"every batch of epoch 1 (20) was left out under --on-nan skip",
                                   "The first: training diverged at step 1 (epoch 1, images 1 to 32): the loss is nan"});
        }
        const std::vector<float> after = weights_of(network);
        ASSERT_EQ(after.size(), before.size());
        for (std::size_t i = 0; i < after.size(); ++i)  // no step taken (NaN compares unequal to itself)
            EXPECT_TRUE(after[i] == before[i] || (std::isnan(after[i]) && std::isnan(before[i]))) << i;
    }
}

// A finite loss whose backward overflows: fc1 outputs 0 (its weights are 0), so the logits are
// fc2's bias alone, but its input gradient, fc2's large weights times the loss gradient, meets
// inputs near 1e30 (a std of 1e-30) in fc1's weight gradient. (fc2's rows differ, 1, 2 and 4
// ×1e12: equal rows would cancel, as a softmax gradient sums to zero.) The check before the step names
// fc1 and leaves every weight as it was; skip leaves every batch out.
TEST(Training, NonFiniteGradientsOfAFiniteLossStopBeforeTheStepNamingTheLayer) {
    const Dataset train = generated_dataset(640, 5);
    Preprocessing huge_inputs;
    huge_inputs.mean = {0.0f};
    huge_inputs.std = {1e-30f};
    for (const NonFinitePolicy policy : {NonFinitePolicy::stop, NonFinitePolicy::skip}) {
        Network network(parse_model("input 1x12x12\nflatten\nlinear out=4\nlinear out=3\n", "overflow.model"));
        network.initialize(1);
        for (const NamedParameter& entry : network.named_parameters())
            for (std::int64_t i = 0; i < entry.parameter->shape.element_count(); ++i)
                entry.parameter->value[i] = entry.name == "fc2.weight" ? float(1 << (i / 4)) * 1e12f : 0.0f;
        network.parameters_changed();
        const std::vector<float> before = weights_of(network);
        SGD sgd(SGDOptions{});
        Trainer trainer(network, sgd, 32, 1);
        trainer.set_batch_transform(huge_inputs, {});
        trainer.set_non_finite_policy(policy);
        if (policy == NonFinitePolicy::stop) {
            testing::expect_error(
                [&] { trainer.train_epoch(train, {}); },
                {"training diverged at step 1 (epoch 1, images 1 to 32): the loss is 1.098612", "but the gradients are not finite",
                 "the first gradient to go bad in backward (which runs from the last layer): fc1.", "likely cause: the step overshot",
                 "The weights are those before this step"});
        } else {
            testing::expect_error([&] { trainer.train_epoch(train, {}); },
                                  {"every batch of epoch 1 (20) was left out", "The first: training diverged at step 1", "fc1."});
        }
        EXPECT_EQ(weights_of(network), before);
    }
}

// Skip leaves out just the bad batches: with a std of 1e-40 every pixel above 3.4e-2 (after
// scaling to [0, 1]) overflows float, so the 32 images blanked to 0 train (finite, with a finite
// gradient for the biases) and the 32 others, each a batch of one, are counted as skipped.
TEST(Training, SkipLeavesOutOnlyTheBatchesThatAreNotFinite) {
    Dataset train = generated_dataset(64, 5);
    for (std::int64_t n = 0; n < 32; ++n) std::fill_n(train.images.begin() + n * 144, 144, std::uint8_t{0});
    Preprocessing overflowing;
    overflowing.mean = {0.0f};
    overflowing.std = {1e-40f};
    Network network(parse_model("input 1x12x12\nflatten\nlinear out=3\n", "plain.model"));
    network.initialize(1);
    SGD sgd(SGDOptions{});
    Trainer trainer(network, sgd, 1, 1);
    trainer.set_batch_transform(overflowing, {});
    trainer.set_non_finite_policy(NonFinitePolicy::skip);
    const EpochResult result = trainer.train_epoch(train, {});
    EXPECT_EQ(result.skipped_steps, 32);
    EXPECT_TRUE(std::isfinite(result.train_loss));
    EXPECT_TRUE(all_finite(network.all_values()));
}

// A learning rate beyond float's range turns finite gradients into infinite weights: the step
// cannot be left out, so both policies stop, saying so.
TEST(Training, AStepThatMakesTheWeightsNonFiniteStopsUnderEitherPolicy) {
    const Dataset train = generated_dataset(64, 5);
    for (const NonFinitePolicy policy : {NonFinitePolicy::stop, NonFinitePolicy::skip}) {
        Network network(parse_model("input 1x12x12\nflatten\nlinear out=3\n", "plain.model"));
        network.initialize(1);
        SGDOptions options;
        options.learning_rate = 1e39;
        SGD sgd(options);
        Trainer trainer(network, sgd, 32, 1);
        trainer.set_non_finite_policy(policy);
        testing::expect_error(
            [&] { trainer.train_epoch(train, {}); },
            {"training diverged at step 1", "the step left values that are not finite", "the weights are not finite from fc1.weight on",
             "learning rate 1e+39 is far above the usual 0.1 for sgd", "no longer usable"});
    }
}

// As torch's DataLoader without drop_last: a batch larger than the dataset is one batch of all
// of it, every epoch.
TEST(Training, ABatchLargerThanTheDatasetIsOneBatchOfAllOfIt) {
    Network network(parse_model(kSmallModel, "small.model"));
    network.initialize(1);
    Adam adam(AdamOptions{});
    Trainer trainer(network, adam, 1000, 1);
    for (int epoch = 1; epoch <= 2; ++epoch) {
        std::int64_t batches = 0, images = 0;
        trainer.train_epoch(generated_dataset(37, 3), [&](const TrainProgress& progress) {
            ++batches;
            images = progress.images_done;
        });
        EXPECT_EQ(batches, 1);
        EXPECT_EQ(images, 37);
    }
}

// Every image the same (zero variance in every batch): batch norm divides by sqrt(0 + eps) as
// torch.nn.BatchNorm2d does, so training stays finite and the network still gives numbers.
TEST(Training, ZeroVarianceInputTrainsFinitely) {
    Dataset constant = generated_dataset(64, 3);
    std::fill(constant.images.begin(), constant.images.end(), std::uint8_t{128});
    Network network(parse_model(kSmallModel, "small.model"));
    network.initialize(1);
    Adam adam(AdamOptions{});
    Trainer trainer(network, adam, 16, 1);
    const EpochResult result = trainer.train_epoch(constant, {});
    EXPECT_TRUE(std::isfinite(result.train_loss));
    EXPECT_TRUE(all_finite(network.all_values()));
    testing::expect_error([&] { channel_statistics(constant); }, {"channel 0 of the training set has one value throughout"});
}

}  // namespace
}  // namespace convnet
