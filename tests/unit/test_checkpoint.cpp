// Checkpoints: every field survives the file, a run stopped between any two steps and resumed
// ends with the weights of an unbroken run, bit for bit, and wrong checkpoints are refused by name.
#include <convnet/train/checkpoint.h>
#include <convnet/io/weights.h>
#include <convnet/nn/network.h>
#include <convnet/train/optim.h>
#include <convnet/io/safetensors.h>
#include <convnet/core/threads.h>
#include <convnet/train/trainer.h>

#include "test_support.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace convnet {
namespace {

using testing::generated_dataset;

// Dropout makes the random generators part of the state.
const char* kModel =
    "input 1x12x12\nconv2d out=4 kernel=3 pad=1\nbatchnorm2d\nrelu\nmaxpool2d kernel=2\nflatten\ndropout p=0.3\nlinear out=3\n";

std::string file_bytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class CheckpointTest : public ::testing::Test {
protected:
    void SetUp() override {
        set_thread_count(2);
        directory_ = std::filesystem::temp_directory_path() / ("convnet_checkpoint_" + std::to_string(::getpid()));
        std::filesystem::remove_all(directory_);
        std::filesystem::create_directories(directory_);
        options_.epochs = 3;
        options_.learning_rate = 0.01;
        options_.schedule = step_schedule(1, 0.5);
        options_.metadata.class_names = train_.class_names;
        options_.augmentation = parse_augmentation("crop:2,flip");  // its draws must resume exactly too
        network_.initialize(3);
    }
    void TearDown() override { std::filesystem::remove_all(directory_); }

    // The weights file of a run of options_.epochs, stopped after each step in `stops` and
    // continued each time in a new Network, optimiser and Trainer from the checkpoint alone.
    std::string run(const std::vector<std::int64_t>& stops, const std::string& optimizer, const std::string& tag) {
        FitOptions options = options_;
        options.save = directory_ / (tag + ".safetensors");
        options.checkpoint = directory_ / (tag + ".checkpoint.safetensors");
        options.metrics = directory_ / (tag + ".jsonl");
        std::size_t next_stop = 0;
        std::int64_t steps = 0;
        FitCallbacks callbacks;
        callbacks.stop_requested = [&] {
            ++steps;
            return next_stop < stops.size() && steps == stops[next_stop] && ++next_stop;
        };
        bool first = true;
        for (;;) {
            Network network(parse_model(model_, "checkpointed.model"));
            network.initialize(7);
            std::unique_ptr<Optimizer> step_rule = make_optimizer(optimizer, 0.01, 0.9);
            Trainer trainer(network, *step_rule, 32, 7);
            if (!first) trainer.restore(read_checkpoint(options.checkpoint));
            first = false;
            if (!trainer.fit(train_, test_, options, callbacks).interrupted) break;
        }
        EXPECT_EQ(next_stop, stops.size());
        return file_bytes(options.save);
    }

    std::filesystem::path directory_;
    std::string model_ = kModel;  // what run() trains
    // A run of one model, optimiser and trainer, for the tests of a single checkpoint.
    Network network_{parse_model(kModel, "checkpointed.model")};
    Adam adam_{AdamOptions{}};
    Trainer trainer_{network_, adam_, 32, 3};
    Dataset train_ = generated_dataset(200, 11), test_ = generated_dataset(60, 12);
    FitOptions options_;
};

TEST_F(CheckpointTest, AResumedRunEndsWithTheUnbrokenRunsBytes) {
    for (const char* optimizer : {"adam", "sgd"}) {
        const std::string unbroken = run({}, optimizer, std::string("unbroken_") + optimizer);
        // 200 images in batches of 32: 7 steps an epoch, and stop_requested is asked after the
        // first 6 and after the epoch's evaluation; so stops mid-epoch, at an epoch's end, and
        // twice in a row.
        const std::string resumed = run({2, 7, 8, 9, 16}, optimizer, std::string("resumed_") + optimizer);
        ASSERT_FALSE(unbroken.empty());
        EXPECT_TRUE(unbroken == resumed) << optimizer << ": the resumed run's weights differ from the unbroken run's";
        EXPECT_EQ(file_bytes(directory_ / (std::string("unbroken_") + optimizer + ".jsonl")).size() > 0, true);
    }
}

// A detector resumes exactly too: its boxes move with the resumed augmentation's draws, and its
// loss's running sums continue where they stopped.
TEST_F(CheckpointTest, AResumedDetectorEndsWithTheUnbrokenRunsBytes) {
    model_ = "input 1x24x24\nconv2d out=4 kernel=3 pad=1\nbatchnorm2d\nrelu\nmaxpool2d kernel=4\ndetect classes=2\n";
    train_ = testing::generated_detection_dataset(200, 11);
    test_ = testing::generated_detection_dataset(60, 12);
    options_.metadata.class_names = train_.class_names;
    const std::string unbroken = run({}, "adam", "detector_unbroken");
    const std::string resumed = run({2, 7, 8, 9, 16}, "adam", "detector_resumed");
    ASSERT_FALSE(unbroken.empty());
    EXPECT_TRUE(unbroken == resumed) << "the resumed detector's weights differ from the unbroken run's";
}

// A per-step schedule, label smoothing and a weight average resume exactly too: the one-cycle rate comes from the
// run's step count, which the checkpoint keeps. Each changes the weights (so the test sees them).
TEST_F(CheckpointTest, AResumedOneCycleRunWithLabelSmoothingAndAWeightAverageEndsWithTheUnbrokenRunsBytes) {
    const std::string plain = run({}, "sgd", "plain");
    options_.schedule = one_cycle_schedule(0.3);
    const std::string one_cycle = run({}, "sgd", "one_cycle");
    options_.label_smoothing = 0.1;
    options_.ema_decay = 0.9;  // the average is state too: saved, checkpointed, resumed
    const std::string unbroken = run({}, "sgd", "unbroken");
    const std::string resumed = run({2, 7, 8, 9, 16}, "sgd", "resumed");
    EXPECT_NE(plain, one_cycle);
    EXPECT_NE(one_cycle, unbroken);
    EXPECT_TRUE(unbroken == resumed) << "the resumed run's weights differ from the unbroken run's";
    const Checkpoint last = read_checkpoint(directory_ / "resumed.checkpoint.safetensors");
    EXPECT_EQ(last.label_smoothing, 0.1);
    EXPECT_EQ(last.ema_decay, 0.9);
    EXPECT_EQ(last.ema_values.size(), network_.all_values().size());
}

// fit sets a per-step schedule's rate before every step, over the run's planned steps: 200 images
// in batches of 32 are 7 steps an epoch, 21 in 3 epochs.
TEST_F(CheckpointTest, FitSetsTheOneCycleRateBeforeEveryStep) {
    options_.schedule = one_cycle_schedule(0.3);
    std::vector<double> rates;
    FitCallbacks callbacks;
    callbacks.batch_done = [&](const TrainProgress&) { rates.push_back(adam_.learning_rate()); };
    trainer_.fit(train_, test_, options_, callbacks);
    ASSERT_EQ(rates.size(), 21u);
    for (std::size_t step = 0; step < rates.size(); ++step)
        EXPECT_EQ(rates[step], options_.schedule.rate_at_step(0.01, static_cast<std::int64_t>(step), 21, 7)) << step;
}

// The weight average as AveragedModel with get_ema_multi_avg_fn(0.8): the first step's values,
// then 0.8·average + 0.2·values after every step, over parameters and batch norm's buffers; what
// fit evaluates and saves, and what the network holds when fit ends.
TEST_F(CheckpointTest, TheWeightAverageIsAnEmaOfEveryStepsValues) {
    options_.epochs = 1;
    options_.ema_decay = 0.8;
    options_.save = directory_ / "average.safetensors";
    std::vector<double> expected;
    FitCallbacks callbacks;
    callbacks.batch_done = [&](const TrainProgress&) {
        const std::span<const float> values = network_.all_values();
        if (expected.empty()) expected.assign(values.begin(), values.end());
        else
            for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = 0.8 * expected[i] + 0.2 * double(values[i]);
    };
    const FitResult result = trainer_.fit(train_, test_, options_, callbacks);
    const std::span<const float> held = network_.all_values();
    ASSERT_EQ(held.size(), expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(held[i], expected[i], 1e-5 * (1.0 + std::abs(expected[i]))) << i;
    EXPECT_EQ(evaluate(network_, test_, 32).loss, result.last.loss);  // evaluated: the average
    Network saved(parse_model(kModel, "checkpointed.model"));
    load_weights(saved, options_.save);
    EXPECT_EQ(saved.state_dict()[0].values, network_.state_dict()[0].values);  // saved: the average
    testing::expect_error([&] { options_.ema_decay = 1.0, trainer_.fit(train_, test_, options_); },
                          {"decay", "expected a value in [0, 1)"});
}

TEST_F(CheckpointTest, EveryFieldRoundTrips) {
    FitOptions options = options_;
    options.epochs = 1;
    options.checkpoint = directory_ / "c.safetensors";
    options.checkpoint_every = 4;
    options.metadata.preprocessing.mean = {0.25f};
    options.metadata.preprocessing.resize = ResizePolicy::center_crop;
    options.metadata.preprocessing.std = {0.5f};
    options.label_smoothing = 0.05;
    trainer_.fit(train_, test_, options);
    const Checkpoint saved = trainer_.checkpoint(options);
    write_checkpoint(options.checkpoint, saved, network_);
    const Checkpoint read = read_checkpoint(options.checkpoint);
    EXPECT_EQ(read.weights.class_names, train_.class_names);
    EXPECT_EQ(read.weights.preprocessing.mean, std::vector<float>{0.25f});
    EXPECT_EQ(read.weights.preprocessing.resize, ResizePolicy::center_crop);
    EXPECT_EQ(read.weights.preprocessing.std, std::vector<float>{0.5f});
    EXPECT_EQ(read.weights.model, format_model(network_.layer_plans(), network_.sample_shape()));
    EXPECT_EQ(read.optimizer.name, "adam");
    EXPECT_EQ(read.optimizer.learning_rate, 0.01);
    EXPECT_EQ(read.optimizer_state.step, 7);
    EXPECT_EQ(read.optimizer_state.buffers, saved.optimizer_state.buffers);
    EXPECT_EQ(read.schedule.kind, LearningRateSchedule::Kind::step);
    EXPECT_EQ(read.schedule.gamma, 0.5);
    EXPECT_EQ(read.batch_size, 32);
    EXPECT_EQ(read.checkpoint_every, 4);
    EXPECT_EQ(read.label_smoothing, 0.05);
    EXPECT_EQ(read.augmentation.describe(), "crop:2,flip");
    EXPECT_EQ(read.seed, 3u);
    EXPECT_EQ(read.threads, 2);
    EXPECT_EQ(read.position.epochs_done, 1);
    EXPECT_EQ(read.position.steps_done, 7);
    ASSERT_EQ(read.generators.size(), 1u);
    EXPECT_EQ(read.generators[0].first, "dropout1");
    EXPECT_EQ(read.generators[0].second, saved.generators[0].second);
    // The optimiser's buffers under torch's numbering, one per parameter, with its shape.
    const SafetensorsContents contents = read_safetensors(options.checkpoint);
    bool found = false;
    for (const StateTensor& tensor : contents.tensors)
        if (tensor.name == "optimizer.state.0.exp_avg") found = tensor.shape == Shape{4, 1, 3, 3};
    EXPECT_TRUE(found);
    // A checkpoint is also a weights file: eval and predict read its model entries.
    Network loaded(parse_model(kModel, "checkpointed.model"));
    load_weights(loaded, options.checkpoint);
    EXPECT_EQ(loaded.state_dict()[0].values, network_.state_dict()[0].values);
}

TEST_F(CheckpointTest, WrongCheckpointsAreRefusedByName) {
    FitOptions options = options_;
    options.epochs = 1;
    trainer_.fit(train_, test_, options);
    const std::filesystem::path path = directory_ / "c.safetensors";
    write_checkpoint(path, trainer_.checkpoint(options), network_);

    save_weights(network_, directory_ / "w.safetensors");
    testing::expect_error([&] { read_checkpoint(directory_ / "w.safetensors"); }, {"w.safetensors", "not a checkpoint"});
    {  // another optimiser
        std::unique_ptr<Optimizer> sgd = make_optimizer("sgd", 0.01, 0.9);
        Trainer other(network_, *sgd, 32, 3);
        testing::expect_error([&] { other.restore(read_checkpoint(path)); }, {"state of adam", "optimiser is sgd"});
    }
    {  // another seed or batch
        Trainer other(network_, adam_, 16, 3);
        testing::expect_error([&] { other.restore(read_checkpoint(path)); }, {"batch 32 and seed 3", "batch 16"});
    }
    {  // another model
        Network wider(parse_model("input 1x12x12\nconv2d out=5 kernel=3 pad=1\nflatten\nlinear out=3\n", "wider.model"));
        Adam wider_adam(AdamOptions{});
        Trainer other(wider, wider_adam, 32, 3);
        testing::expect_error([&] { other.restore(read_checkpoint(path)); }, {"size mismatch for conv1.weight"});
    }
    // A copy of the checkpoint with one field's number replaced, as a damaged or hand-edited file holds it.
    const auto with_field = [&](const std::string& field, const std::string& value, const std::string& name) {
        SafetensorsContents contents = read_safetensors(path);
        std::string& state = contents.metadata[kCheckpointKey];
        const std::size_t at = state.find("\"" + field + "\":");
        EXPECT_NE(at, std::string::npos) << field;
        const std::size_t start = at + field.size() + 3;
        state = state.substr(0, start) + value + state.substr(state.find_first_of(",}", start));
        write_safetensors(directory_ / name, contents.tensors, contents.metadata);
        return directory_ / name;
    };
    // a damaged field: the position's steps_done made negative
    testing::expect_error([&] { read_checkpoint(with_field("steps_done", "-3", "damaged.safetensors")); },
                          {"damaged.safetensors", "out of range"});
    // the damaged field named with its value (a newcomer's try: one line for nine fields, no value)
    testing::expect_error([&] { read_checkpoint(with_field("batch_size", "1000000000000", "batch.safetensors")); },
                          {"batch.safetensors: checkpoint field batch_size: 1000000000000 is out of range"});
    {  // a model text that claims half a billion values over the same small tensors: refused by
       // the reader before any network is built (a newcomer's try: --resume grew to 4.8 GB first)
        SafetensorsContents contents = read_safetensors(path);
        contents.metadata["model"] = "input 1x12x12\nconv2d out=65536 kernel=3 pad=1\nflatten\nlinear out=3\n";
        write_safetensors(directory_ / "huge.safetensors", contents.tensors, contents.metadata);
        testing::expect_error([&] { read_checkpoint(directory_ / "huge.safetensors"); },
                              {"huge.safetensors: its model", "parameter and buffer values, but its tensors hold"});
    }
    // optimiser settings past the command line's ranges, named by their keys (a newcomer's finds:
    // a hand-edited lr of 1e300 became infinity in the float32 step; 1e-50 became 0 and a weight
    // decay of 1e30 made Adam's moments infinite, and both runs trained nothing and said nothing)
    testing::expect_error([&] { read_checkpoint(with_field("lr", "1e300", "lr.safetensors")); },
                          {"lr.safetensors: checkpoint field optimizer.lr: 1e+300 is out of range (1e-12 to 100)"});
    testing::expect_error([&] { read_checkpoint(with_field("lr", "1e-50", "lr.safetensors")); }, {"optimizer.lr: 1e-50 is out of range"});
    testing::expect_error([&] { read_checkpoint(with_field("weight_decay", "1e30", "decay.safetensors")); },
                          {"optimizer.weight_decay: 1e+30 is out of range (0 to 1)"});
    testing::expect_error([&] { read_checkpoint(with_field("eps", "-1", "eps.safetensors")); }, {"optimizer.eps: -1 is out of range"});
    {  // an optimiser buffer missing for one parameter
        SafetensorsContents contents = read_safetensors(path);
        std::erase_if(contents.tensors, [](const StateTensor& tensor) { return tensor.name == "optimizer.state.1.exp_avg"; });
        write_safetensors(directory_ / "gap.safetensors", contents.tensors, contents.metadata);
        testing::expect_error([&] { read_checkpoint(directory_ / "gap.safetensors"); }, {"optimizer.state.1.exp_avg is missing"});
    }
}

// Found by reading the code after fuzzing (docs/RELIABILITY.md): the message for a malformed field
// dumps it, and nlohmann's dump() recurses once a level, so that a "checkpoint" nested 200,000
// deep overflowed the stack.
class CheckpointFile : public testing::TemporaryFolderTest {};

TEST_F(CheckpointFile, DeeplyNestedStateIsRefused) {
    const std::string deep = std::string(200'000, '[') + std::string(200'000, ']');
    const std::filesystem::path path = directory_ / "deep.safetensors";
    write_safetensors(path, {}, {{"model", "input 4\nlinear out=2\n"}, {kCheckpointKey, "{\"version\":" + deep + "}"}});
    testing::expect_error([&] { read_checkpoint(path); },
                          {"deep.safetensors: __metadata__ \"checkpoint\": JSON nested deeper than 64 levels"});
}

}  // namespace
}  // namespace convnet
