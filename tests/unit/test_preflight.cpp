// The checks before a training run (preflight.h): outputs, memory, batch, masks, the ranks'
// agreement (two "ranks" that are threads, thread_group.h) and Open MPI's environment.
#include <convnet/train/preflight.h>

#include "test_support.h"
#include "thread_group.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <thread>

namespace convnet {
namespace {

// Runs `action`, which must throw MisconfigurationError (the CLI's exit code 2), and returns its message.
template <typename Action>
std::string preflight_refusal(Action action) {
    try {
        action();
    } catch (const MisconfigurationError& error) {
        return error.what();
    } catch (const Error& error) {
        return std::string("not a MisconfigurationError: ") + error.what();
    }
    return "no error";
}

// Sets an environment variable for the test's length, restoring it afterwards.
class ScopedVariable {
public:
    ScopedVariable(const char* name, const char* value) : name_(name) {
        const char* before = std::getenv(name);
        if (before != nullptr) before_ = before;
        if (value != nullptr) ::setenv(name, value, 1);
        else ::unsetenv(name);
    }
    ~ScopedVariable() {
        if (before_) ::setenv(name_, before_->c_str(), 1);
        else ::unsetenv(name_);
    }
    ScopedVariable(const ScopedVariable&) = delete;
    ScopedVariable& operator=(const ScopedVariable&) = delete;

private:
    const char* name_;
    std::optional<std::string> before_;
};

class OutputsTest : public testing::TemporaryFolderTest {};

TEST_F(OutputsTest, AFileThatCannotBeWrittenIsRefusedByOptionAndPath) {
    const std::string folder = directory_.string();
    EXPECT_EQ(testing::error_message([&] { check_output_file("save", folder); }),
              "option --save " + folder + ": is a folder; expected a file name");
    EXPECT_EQ(testing::error_message([&] { check_output_file("metrics", directory_ / "missing" / "m.jsonl"); }),
              "option --metrics " + folder + "/missing/m.jsonl: the folder " + folder + "/missing does not exist");
    std::ofstream(directory_ / "file") << "x";
    EXPECT_EQ(testing::error_message([&] { check_output_file("save", directory_ / "file" / "w"); }),
              "option --save " + folder + "/file/w: " + folder + "/file is a file, not a folder");
    EXPECT_EQ(testing::error_message([&] { check_output_file("save", directory_ / "w.safetensors"); }), "no error");
}

TEST_F(OutputsTest, APictureMustBeAnSvgFile) {
    EXPECT_EQ(preflight_refusal([&] { check_svg_output("plot", "curves.png"); }),
              "option --plot curves.png: the picture is written as SVG; give a name ending in .svg");
    EXPECT_EQ(preflight_refusal([&] { check_svg_output("plot", directory_ / "curves.SVG"); }), "no error");
}

TEST_F(OutputsTest, TwoOptionsNamingOneFileAreRefused) {
    const std::filesystem::path file = directory_ / "out.safetensors";
    const std::filesystem::path other_way = directory_ / "sub" / ".." / "out.safetensors";
    std::filesystem::create_directories(directory_ / "sub");
    EXPECT_EQ(preflight_refusal([&] {
                  check_distinct_outputs({{"save", file}, {"metrics", directory_ / "m.jsonl"}, {"checkpoint", other_way}});
              }),
              "options --save and --checkpoint name the same file " + other_way.string() + "; each needs a file of its own");
    EXPECT_EQ(preflight_refusal([&] { check_distinct_outputs({{"save", file}, {"metrics", directory_ / "m.jsonl"}}); }), "no error");
}

TEST_F(OutputsTest, ARunsOutputsAreCheckedTogether) {
    RunRequest request;
    request.save = directory_ / "w.safetensors";
    request.plot = directory_ / "w.safetensors.png";
    EXPECT_EQ(preflight_refusal([&] { check_run_outputs(request, false); }),
              "option --plot " + request.plot->string() + ": the picture is written as SVG; give a name ending in .svg");
    request.plot = directory_ / "curves.svg";
    request.metrics = request.save;
    EXPECT_EQ(preflight_refusal([&] { check_run_outputs(request, false); }),
              "options --save and --metrics name the same file " + request.save->string() + "; each needs a file of its own");
    request.metrics.reset();
    EXPECT_EQ(preflight_refusal([&] { check_run_outputs(request, false); }), "no error");
    // Checkpoints every N steps need a file; a resumed run has its own.
    request.checkpoint_every = 100;
    EXPECT_EQ(preflight_refusal([&] { check_run_outputs(request, false); }),
              "option --checkpoint-every: give --checkpoint FILE too, the file to write");
    EXPECT_EQ(preflight_refusal([&] { check_run_outputs(request, true); }), "no error");
    request.checkpoint = directory_ / "run.checkpoint.safetensors";
    EXPECT_EQ(preflight_refusal([&] { check_run_outputs(request, false); }), "no error");
}

// 1,000 trainable values and 4 KiB of activations per image: with Adam (2 values of state per
// trainable value) 16,000 bytes of parameters, gradients and moments.
PlanCosts preflight_totals() {
    PlanCosts totals;
    totals.trainable_parameters = 1000;
    totals.training_activation_bytes = 4096;
    return totals;
}

RunConfig config_with_batch(std::int64_t batch) {
    RunConfig config;
    config.batch_size = batch;
    return config;
}

TEST(Preflight, TheMemoryCheckRefusesABatchTheMachineCannotHoldAndSaysWhatFits) {
    const MachineShare machine{1 << 20, 1};  // 1 MiB; (1,048,576 − 16,000) / 4,096 = 252 images fit
    // 16,000 + 1,000 × 4,096 bytes.
    EXPECT_EQ(testing::error_message(
                  [&] { check_training_memory(preflight_totals(), "m.model", config_with_batch(1000), 1, 2, false, machine); }),
              "m.model: training at --batch 1000 needs at least 3.9 MiB (parameters 15.6 KiB, activations 3.9 MiB for 1000 images), "
              "more than this machine's memory (1.0 MiB): --batch 252 would fill the memory by this estimate alone (oneDNN's buffers "
              "and the data come on top): give less; see `convnet summary m.model`");
    EXPECT_EQ(
        testing::error_message([&] { check_training_memory(preflight_totals(), "m.model", config_with_batch(1000), 1, 2, true, machine); }),
        "m.model: training at --batch 1000 needs at least 3.9 MiB (parameters 15.6 KiB, activations 3.9 MiB for 1000 images), "
        "more than this machine's memory (1.0 MiB): a resumed run keeps its checkpoint's batch: resume it on a larger machine, or "
        "start again with --batch 252 or less; see `convnet summary m.model`");
    EXPECT_EQ(
        testing::error_message([&] { check_training_memory(preflight_totals(), "m.model", config_with_batch(252), 1, 2, false, machine); }),
        "no error");
    // The parameters alone: 16,000 bytes in 10,000.
    const std::string alone = testing::error_message([&] {
        check_training_memory(preflight_totals(), "m.model", config_with_batch(1), 1, 2, false, MachineShare{10000, 1});
    });
    EXPECT_NE(alone.find(": its parameters and the optimiser's state alone do not fit; see `convnet summary m.model`"), std::string::npos)
        << alone;
    // Unknown memory: no check.
    EXPECT_EQ(
        testing::error_message([&] { check_training_memory(preflight_totals(), "m.model", config_with_batch(1 << 16), 1, 2, false, {}); }),
        "no error");
}

TEST(Preflight, TheMemoryCheckSharesTheMachineBetweenItsRanks) {
    // 2 MiB for 2 ranks here: 1 MiB each, 500 images each, 252 fit on each.
    const MachineShare machine{2 << 20, 2};
    EXPECT_EQ(testing::error_message(
                  [&] { check_training_memory(preflight_totals(), "m.model", config_with_batch(1000), 2, 2, false, machine); }),
              "m.model: training at --batch 1000 (500 images on each of 2 ranks here) needs at least 2.0 MiB (parameters 15.6 KiB, "
              "activations 2.0 MiB for 500 images), more than this rank's share of the machine's 2.0 MiB (1.0 MiB): --batch 504 would "
              "fill the memory by this estimate alone (oneDNN's buffers and the data come on top): give less; see `convnet summary "
              "m.model`");
    // The weight average is one more copy of every value: 20,000 bytes.
    RunConfig averaged = config_with_batch(1);
    averaged.ema_decay = 0.99;
    const std::string message = testing::error_message([&] {
        check_training_memory(preflight_totals(), "m.model", averaged, 1, 2, false, MachineShare{19000, 1});
    });
    EXPECT_NE(message.find("(parameters 19.5 KiB,"), std::string::npos) << message;
}

TEST(Preflight, OpenMpisEnvironmentSaysHowManyRanksShareTheMachine) {
    const ScopedVariable local("OMPI_COMM_WORLD_LOCAL_SIZE", "3");
    EXPECT_EQ(this_machine_share(true).ranks_here, 3);
    EXPECT_EQ(this_machine_share(false).ranks_here, 1);
    EXPECT_EQ(this_machine_share(true).memory_bytes, machine_memory_bytes());
    const ScopedVariable nonsense("OMPI_COMM_WORLD_LOCAL_SIZE", "0");
    EXPECT_EQ(this_machine_share(true).ranks_here, 1);
}

TEST(Preflight, SeveralProcessesOfMpirunMustBeDistributed) {
    {
        const ScopedVariable unset("OMPI_COMM_WORLD_SIZE", nullptr);
        EXPECT_FALSE(started_by_mpirun());
        EXPECT_EQ(preflight_refusal([] { check_mpirun_launch(false); }), "no error");
    }
    const ScopedVariable two("OMPI_COMM_WORLD_SIZE", "2");
    EXPECT_TRUE(started_by_mpirun());
    EXPECT_EQ(preflight_refusal([] { check_mpirun_launch(false); }),
              "started by mpirun as one of 2 processes without --distributed: each would train alone and write the same files; add "
              "--distributed");
    EXPECT_EQ(preflight_refusal([] { check_mpirun_launch(true); }), "no error");
    const ScopedVariable one("OMPI_COMM_WORLD_SIZE", "1");
    EXPECT_EQ(preflight_refusal([] { check_mpirun_launch(false); }), "no error");
}

const char* kNormalisedFeatures = "input 1x4x4\nflatten\nlinear out=6\nbatchnorm1d\nrelu\nlinear out=3\n";
const char* kPlain = "input 1x12x12\nflatten\nlinear out=3\n";

TEST(Preflight, ABatchNormOverFeaturesNeedsTwoImagesABatch) {
    const Network network(parse_model(kNormalisedFeatures, "bn.model"));
    EXPECT_EQ(preflight_refusal([&] { check_batch_size(1, network); }),
              "option --batch 1: bn.model has a batch norm over one value per channel per image, which needs at least 2 images a batch "
              "(as torch.nn.BatchNorm1d)");
    EXPECT_EQ(preflight_refusal([&] { check_batch_size(2, network); }), "no error");
}

TEST(Preflight, EveryRankNeedsItsShareOfTheBatch) {
    const Network normalised(parse_model(kNormalisedFeatures, "bn.model"));
    EXPECT_EQ(preflight_refusal([&] { check_distributed_batch(5, normalised, 3); }),
              "option --batch 5: each of the 3 ranks needs at least 2 images of every batch: give --batch 6 or more");
    EXPECT_EQ(preflight_refusal([&] { check_distributed_batch(6, normalised, 3); }), "no error");
    const Network plain(parse_model(kPlain, "plain.model"));
    EXPECT_EQ(preflight_refusal([&] { check_distributed_batch(3, plain, 4); }),
              "option --batch 3: each of the 4 ranks needs at least 1 image of every batch: give --batch 4 or more");
}

TEST(Preflight, ALastBatchTooSmallToShareIsAWarning) {
    const Network plain(parse_model(kPlain, "plain.model"));
    EXPECT_EQ(last_batch_warning(10, plain, 4, 23),
              "the last batch of every epoch (3 images) is too small to share over 4 ranks and joins the batch before; one process "
              "would train it alone, so this run differs from one process's there");
    EXPECT_EQ(last_batch_warning(10, plain, 4, 21),
              "the last batch of every epoch (1 image) is too small to share over 4 ranks and joins the batch before; one process "
              "would train it alone, so this run differs from one process's there");
    EXPECT_EQ(last_batch_warning(10, plain, 4, 24), "");  // 4 images: one each
    EXPECT_EQ(last_batch_warning(10, plain, 4, 20), "");  // no last batch
    // One image under a batch norm over features joins the batch before on one process too.
    const Network normalised(parse_model(kNormalisedFeatures, "bn.model"));
    EXPECT_EQ(last_batch_warning(10, normalised, 2, 21), "");
    EXPECT_NE(last_batch_warning(10, normalised, 2, 23), "");
}

TEST(Preflight, MasksThatTeachNothingAreRefusedAndMasksThatTeachLittleWarned) {
    Dataset train;
    train.count = 1;
    train.height = train.width = 2;
    train.images.assign(4, 0);
    train.class_names = {"background", "object"};
    train.masks = {255, 255, 255, 255};
    EXPECT_EQ(testing::error_message([&] { check_training_masks(train, "data/masks"); }),
              "data/masks: every pixel of every training mask is 255, which means \"ignore\": nothing to learn (masks saved as pictures, "
              "with objects as 255? a mask's values are class indices: 0, 1, 2 ...)");
    train.masks = {255, 255, 255, 0};
    EXPECT_EQ(check_training_masks(train, "data/masks"),
              (std::vector<std::string>{"no training pixel has the class object (its IoU cannot be learned)",
                                        "75% of the training pixels are 255 (\"ignore\") and count for nothing: masks saved as "
                                        "pictures, with objects as 255? mask values are class indices"}));
    train.masks = {255, 255, 1, 0};
    EXPECT_TRUE(check_training_masks(train, "data/masks").empty());  // half ignored is not most
    train.masks = {255, 255, 255, 1};
    EXPECT_EQ(check_training_masks(train, "data/masks"),
              (std::vector<std::string>{"no training pixel has the class background (its IoU cannot be learned)",
                                        "75% of the training pixels are 255 (\"ignore\") and count for nothing: masks saved as "
                                        "pictures, with objects as 255? mask values are class indices"}));
}

// Runs check_same_run_on_every_rank on two thread-ranks, rank `rank` with `configs[rank]` and the
// model `models[rank]`; returns each rank's error message ("" when it agreed).
std::vector<std::string> ranks_agree(const std::vector<RunConfig>& configs, const std::vector<std::string>& models) {
    const Dataset train = testing::generated_dataset(20, 1), judged = testing::generated_dataset(10, 2);
    testing::ThreadGroup group(2);
    std::vector<std::string> errors(2);
    std::vector<std::thread> ranks;
    for (int rank = 0; rank < 2; ++rank)
        ranks.emplace_back([&, rank] {
            const auto r = static_cast<std::size_t>(rank);
            const Network network(parse_model(models[r], "m.model"));
            const std::unique_ptr<Optimizer> optimizer = make_run_optimizer(configs[r]);
            testing::ThreadGroup::Member member(group, rank);
            try {
                check_same_run_on_every_rank(member, network, train, judged, configs[r], *optimizer, 0);
            } catch (const Error& error) {
                errors[r] = error.what();
            }
        });
    for (std::thread& rank : ranks) rank.join();
    return errors;
}

TEST(Preflight, EveryRankMustRunTheSameModelDataAndSettings) {
    const RunConfig same = resolve_run_config(RunRequest{});
    EXPECT_EQ(ranks_agree({same, same}, {kPlain, kPlain}), (std::vector<std::string>{"", ""}));
    const std::string options =
        "rank 1 of 2 differs from rank 0 in its options (batch, seed, epochs, optimiser, schedule, augmentation, --on-nan, --no-sync-bn "
        "or the checkpoint): every rank must run the same command on the same files";
    RunConfig other = same;
    other.seed = 2;
    EXPECT_EQ(ranks_agree({same, other}, {kPlain, kPlain}), (std::vector<std::string>{options, options}));  // every rank refuses
    other = same;
    other.label_smoothing = 0.1;
    EXPECT_EQ(ranks_agree({same, other}, {kPlain, kPlain}), (std::vector<std::string>{options, options}));
    other = same;
    other.non_finite_policy = NonFinitePolicy::skip;
    EXPECT_EQ(ranks_agree({same, other}, {kPlain, kPlain}), (std::vector<std::string>{options, options}));
    const std::string model = "rank 1 of 2 differs from rank 0 in its model: every rank must run the same command on the same files";
    EXPECT_EQ(ranks_agree({same, same}, {kPlain, "input 1x12x12\nflatten\nlinear out=4\n"}), (std::vector<std::string>{model, model}));
}

TEST(Preflight, AResumedRunMustHaveEpochsLeft) {
    EXPECT_EQ(preflight_refusal([] { check_epochs_to_train(2, 2); }),
              "option --epochs 2: the checkpoint's run has done 2 epochs already; give --epochs 3 or more to train on");
    EXPECT_EQ(preflight_refusal([] { check_epochs_to_train(1, 1); }),
              "option --epochs 1: the checkpoint's run has done 1 epoch already; give --epochs 2 or more to train on");
    EXPECT_EQ(preflight_refusal([] { check_epochs_to_train(3, 2); }), "no error");
}

}  // namespace
// Field reports, round 3: a one-class folder trained a one-output classifier to loss 0 and
// accuracy 1.0 while it learned nothing, and the warning had advised that model ("1 classes").
TEST(TrainingClasses, ASoftmaxTaskNeedsTwoClassesOrMore) {
    Dataset one = testing::generated_dataset(6, 1);
    one.class_names = {"shirt"};
    std::fill(one.labels.begin(), one.labels.end(), std::uint8_t{0});
    testing::expect_error([&] { check_training_classes(one, "data/shirts"); },
                          {"data/shirts: the training data has 1 class (\"shirt\")", "training to classify needs 2 classes or more",
                           "nothing is learned"});
    EXPECT_NO_THROW(check_training_classes(testing::generated_dataset(6, 1), "data/three"));  // 3 classes
    Dataset unnamed = testing::generated_dataset(6, 1);
    unnamed.class_names.clear();
    EXPECT_NO_THROW(check_training_classes(unnamed, "data/unnamed"));  // unknown count: not this check's to refuse
    Dataset boxes = testing::generated_detection_dataset(4, 1);
    boxes.class_names.resize(1);
    EXPECT_NO_THROW(check_training_classes(boxes, "data/boxes"));  // detection learns boxes with one class
}

}  // namespace convnet
