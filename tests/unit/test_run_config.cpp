// A training run's settings (run_config.h): the resume rule, the merge of a request with the
// defaults or a checkpoint, the texts read with the training set, the validation split and the
// command that resumes an interrupted run. Each message is compared whole: the CLI prints it as is.
#include <convnet/train/run_config.h>

#include "test_support.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

namespace convnet {
namespace {

constexpr const char* kKeptTail =
    ": a resumed run keeps the settings its checkpoint was written with (with --resume only --data, --epochs, --checkpoint, "
    "--checkpoint-every, --save, --metrics, --plot, --eval-every, --threads and --backend)";

// Runs `action`, which must throw MisconfigurationError (the CLI's exit code 2), and returns its message.
template <typename Action>
std::string run_config_refusal(Action action) {
    try {
        action();
    } catch (const MisconfigurationError& error) {
        return error.what();
    } catch (const Error& error) {
        return std::string("not a MisconfigurationError: ") + error.what();
    }
    return "no error";
}

// A checkpoint whose settings all differ from a new run's defaults.
Checkpoint checkpoint_of_a_run() {
    Checkpoint checkpoint;
    checkpoint.optimizer.name = "sgd";
    checkpoint.optimizer.learning_rate = 0.05;
    checkpoint.optimizer.momentum = 0.8;
    checkpoint.optimizer.nesterov = true;
    checkpoint.schedule = cosine_schedule(20, 0.001);
    checkpoint.batch_size = 32;
    checkpoint.seed = 7;
    checkpoint.epochs = 3;
    checkpoint.checkpoint_every = 50;
    checkpoint.augmentation = parse_augmentation("crop:2,flip");
    checkpoint.label_smoothing = 0.1;
    checkpoint.ema_decay = 0.99;
    checkpoint.test_time_augmentation = TestTimeAugmentation::flip;
    checkpoint.weights.preprocessing.resize = ResizePolicy::center_crop;
    checkpoint.weights.task = TaskKind::segment;
    checkpoint.weights.class_names = {"background", "row", "column"};
    checkpoint.sync_batch_norm = false;
    checkpoint.class_weights = {1.0f, 2.0f, 3.0f};
    checkpoint.threads = 3;
    return checkpoint;
}

const char* kClassifier = "input 1x12x12\nflatten\nlinear out=3\n";

TEST(RunConfig, ResumeRefusesTheFirstKeptOptionGivenInTheListsOrder) {
    EXPECT_EQ(run_config_refusal([] { check_resume_options({"data", "epochs", "lr"}); }), std::string("option --lr") + kKeptTail);
    // "batch" comes before "task" in checkpoint_kept_options, whatever the order given.
    EXPECT_EQ(run_config_refusal([] { check_resume_options({"task", "batch"}); }), std::string("option --batch") + kKeptTail);
    EXPECT_EQ(run_config_refusal([] { check_resume_options({"model"}); }), std::string("option --model") + kKeptTail);
    EXPECT_EQ(checkpoint_kept_options().size(), 18u);
    // What a resumed run may be given.
    EXPECT_EQ(
        run_config_refusal([] {
            check_resume_options({"data", "epochs", "checkpoint", "checkpoint-every", "save", "metrics", "plot", "eval-every", "threads",
                                  "backend", "cache", "on-nan", "skip-bad", "reference", "distributed", "sync-bn", "no-sync-bn", "resume"});
        }),
        "no error");
}

TEST(RunConfig, ANewRunTakesTheDocumentedDefaults) {
    const RunConfig config = resolve_run_config(RunRequest{});
    EXPECT_EQ(config.optimizer.name, "adam");
    EXPECT_DOUBLE_EQ(config.optimizer.learning_rate, 0.001);
    EXPECT_DOUBLE_EQ(config.optimizer.momentum, 0.9);
    EXPECT_FALSE(config.optimizer.nesterov);
    EXPECT_FALSE(config.optimizer.weight_decay.has_value());  // the optimiser's own default
    EXPECT_EQ(config.schedule.kind, LearningRateSchedule::Kind::constant);
    EXPECT_EQ(config.batch_size, 100);
    EXPECT_EQ(config.seed, 1u);
    EXPECT_EQ(config.epochs, 5);
    EXPECT_EQ(config.eval_every, 1);
    EXPECT_EQ(config.checkpoint_every, 0);
    EXPECT_FALSE(config.augmentation.enabled());
    EXPECT_EQ(config.label_smoothing, 0.0);
    EXPECT_EQ(config.ema_decay, 0.0);
    EXPECT_EQ(config.test_time_augmentation, TestTimeAugmentation::none);
    EXPECT_EQ(config.resize, ResizePolicy::stretch);
    EXPECT_FALSE(config.task.has_value());
    EXPECT_TRUE(config.sync_batch_norm);
    EXPECT_EQ(config.non_finite_policy, NonFinitePolicy::stop);
    EXPECT_TRUE(config.checkpoint.empty());
    EXPECT_TRUE(config.save.empty());
}

TEST(RunConfig, SgdsDefaultRateIsTenTimesAdams) {
    EXPECT_DOUBLE_EQ(default_learning_rate("sgd"), 0.01);
    EXPECT_DOUBLE_EQ(default_learning_rate("adam"), 0.001);
    EXPECT_DOUBLE_EQ(default_learning_rate("adamw"), 0.001);
    RunRequest request;
    request.optimizer = "sgd";
    EXPECT_DOUBLE_EQ(resolve_run_config(request).optimizer.learning_rate, 0.01);
    request.learning_rate = 0.2;
    request.weight_decay = 0.0005;
    const RunConfig config = resolve_run_config(request);
    EXPECT_DOUBLE_EQ(config.optimizer.learning_rate, 0.2);
    EXPECT_EQ(config.optimizer.weight_decay, std::optional<double>(0.0005));
}

TEST(RunConfig, ANewRunTakesWhatItIsGiven) {
    RunRequest request;
    request.batch_size = 64;
    request.seed = 9;
    request.epochs = 2;
    request.eval_every = 2;
    request.schedule = step_schedule(10, 0.5);
    request.augmentation = parse_augmentation("flip");
    request.label_smoothing = 0.2;
    request.ema_decay = 0.999;
    request.test_time_augmentation = TestTimeAugmentation::flip;
    request.resize = ResizePolicy::center_crop;
    request.task = TaskKind::detect;
    request.sync_batch_norm = false;
    request.non_finite_policy = NonFinitePolicy::skip;
    request.save = "w.safetensors";
    request.checkpoint = "run.checkpoint.safetensors";
    const RunConfig config = resolve_run_config(request);
    EXPECT_EQ(config.batch_size, 64);
    EXPECT_EQ(config.seed, 9u);
    EXPECT_EQ(config.epochs, 2);
    EXPECT_EQ(config.eval_every, 2);
    EXPECT_EQ(config.schedule.describe(), "step step_size=10 gamma=0.5");
    EXPECT_EQ(config.augmentation.describe(), "flip");
    EXPECT_EQ(config.label_smoothing, 0.2);
    EXPECT_EQ(config.ema_decay, 0.999);
    EXPECT_EQ(config.test_time_augmentation, TestTimeAugmentation::flip);
    EXPECT_EQ(config.resize, ResizePolicy::center_crop);
    EXPECT_EQ(config.task, std::optional<TaskKind>(TaskKind::detect));
    EXPECT_FALSE(config.sync_batch_norm);
    EXPECT_EQ(config.non_finite_policy, NonFinitePolicy::skip);
    EXPECT_EQ(config.save, "w.safetensors");
    EXPECT_EQ(config.checkpoint, "run.checkpoint.safetensors");
}

TEST(RunConfig, AResumedRunKeepsItsCheckpointsSettings) {
    const Checkpoint checkpoint = checkpoint_of_a_run();
    const RunConfig config = resolve_run_config(RunRequest{}, &checkpoint, "run.checkpoint.safetensors");
    EXPECT_EQ(config.optimizer.name, "sgd");
    EXPECT_DOUBLE_EQ(config.optimizer.learning_rate, 0.05);
    EXPECT_DOUBLE_EQ(config.optimizer.momentum, 0.8);
    EXPECT_TRUE(config.optimizer.nesterov);
    EXPECT_EQ(config.schedule.describe(), checkpoint.schedule.describe());
    EXPECT_EQ(config.batch_size, 32);
    EXPECT_EQ(config.seed, 7u);
    EXPECT_EQ(config.epochs, 3);
    EXPECT_EQ(config.checkpoint_every, 50);
    EXPECT_EQ(config.augmentation.describe(), "crop:2,flip");
    EXPECT_EQ(config.label_smoothing, 0.1);
    EXPECT_EQ(config.ema_decay, 0.99);
    EXPECT_EQ(config.test_time_augmentation, TestTimeAugmentation::flip);
    EXPECT_EQ(config.resize, ResizePolicy::center_crop);
    EXPECT_EQ(config.task, std::optional<TaskKind>(TaskKind::segment));
    EXPECT_FALSE(config.sync_batch_norm);
    // It writes its checkpoints back to the file it resumed from.
    EXPECT_EQ(config.checkpoint, "run.checkpoint.safetensors");
}

TEST(RunConfig, AResumedRunMayBeGivenItsLengthItsCheckpointsAndItsBatchNormSynchronisation) {
    const Checkpoint checkpoint = checkpoint_of_a_run();
    RunRequest request;
    request.epochs = 6;
    request.checkpoint_every = 0;
    request.checkpoint = "elsewhere.safetensors";
    request.sync_batch_norm = true;
    request.eval_every = 3;
    const RunConfig config = resolve_run_config(request, &checkpoint, "run.checkpoint.safetensors");
    EXPECT_EQ(config.epochs, 6);
    EXPECT_EQ(config.checkpoint_every, 0);
    EXPECT_EQ(config.checkpoint, "elsewhere.safetensors");
    EXPECT_TRUE(config.sync_batch_norm);
    EXPECT_EQ(config.eval_every, 3);
    EXPECT_EQ(config.batch_size, 32);  // the rest is still the checkpoint's
}

TEST(RunConfig, ACheckpointsSettingGivenAgainIsRefusedNotMerged) {
    const Checkpoint checkpoint = checkpoint_of_a_run();
    RunRequest request;
    request.epochs = 6;
    request.learning_rate = 0.1;
    EXPECT_EQ(run_config_refusal([&] { resolve_run_config(request, &checkpoint, "run.checkpoint.safetensors"); }),
              std::string("option --lr") + kKeptTail);
    request = RunRequest{};
    request.task = TaskKind::classify;
    request.batch_size = 32;  // even the checkpoint's own value
    EXPECT_EQ(run_config_refusal([&] { resolve_run_config(request, &checkpoint, "run.checkpoint.safetensors"); }),
              std::string("option --batch") + kKeptTail);
    request = RunRequest{};
    request.normalize = "auto";
    EXPECT_EQ(run_config_refusal([&] { resolve_run_config(request, &checkpoint, "r"); }), std::string("option --normalize") + kKeptTail);
    // A new run takes the same request without complaint.
    request.learning_rate = 0.1;
    EXPECT_DOUBLE_EQ(resolve_run_config(request).optimizer.learning_rate, 0.1);
}

TEST(RunConfig, AnOptimiserThatCannotBeMadeIsTheCommandsFaultOrTheCheckpoints) {
    RunConfig config;
    config.optimizer.name = "adagrad";
    const std::string fresh = run_config_refusal([&] { make_run_optimizer(config); });
    EXPECT_EQ(fresh.rfind("option --optimizer adagrad: ", 0), 0u) << fresh;
    // From a checkpoint, the file is at fault: a plain convnet::Error (exit code 1).
    try {
        make_run_optimizer(config, "run.checkpoint.safetensors");
        ADD_FAILURE() << "no error";
    } catch (const MisconfigurationError& error) {
        ADD_FAILURE() << "a MisconfigurationError: " << error.what();
    } catch (const Error& error) {
        EXPECT_EQ(std::string(error.what()).rfind("run.checkpoint.safetensors: checkpoint field optimizer: ", 0), 0u) << error.what();
    }
    config.optimizer.name = "sgd";
    EXPECT_NE(make_run_optimizer(config), nullptr);
}

TEST(RunConfig, AResumedRunTakesItsCheckpointsThreadsUnlessTold) {
    const Checkpoint checkpoint = checkpoint_of_a_run();
    const char* before = std::getenv("OMP_NUM_THREADS");
    const std::string saved = before != nullptr ? before : "";
    ::unsetenv("OMP_NUM_THREADS");
    EXPECT_EQ(checkpoint_thread_count(checkpoint, false), std::optional<int>(3));
    EXPECT_EQ(checkpoint_thread_count(checkpoint, true), std::nullopt);
    ::setenv("OMP_NUM_THREADS", "2", 1);
    EXPECT_EQ(checkpoint_thread_count(checkpoint, false), std::nullopt);
    if (before != nullptr) ::setenv("OMP_NUM_THREADS", saved.c_str(), 1);
    else ::unsetenv("OMP_NUM_THREADS");
}

TEST(RunConfig, NormalizationTexts) {
    const Dataset grey = testing::generated_dataset(10, 1);
    EXPECT_TRUE(parse_normalization("none", grey).mean.empty());
    const Preprocessing given = parse_normalization("0.5/0.25", grey);
    EXPECT_EQ(given.mean, std::vector<float>{0.5f});
    EXPECT_EQ(given.std, std::vector<float>{0.25f});
    EXPECT_EQ(parse_normalization("auto", grey).mean, channel_statistics(grey).mean);
    EXPECT_EQ(run_config_refusal([&] { parse_normalization("1,2/3", grey); }),
              "option --normalize 1,2/3: 2 values on one side; the images have 1 channel (give 1 or 1)");
    EXPECT_EQ(run_config_refusal([&] { parse_normalization("0.5/0", grey); }), "option --normalize 0.5/0: every std must be positive");
    EXPECT_EQ(run_config_refusal([&] { parse_normalization("x/1", grey); }),
              "option --normalize x/1: 'x' is not a number; expected auto, none, MEAN/STD or M1,M2,M3/S1,S2,S3 (e.g. 0.2860/0.3530)");
    EXPECT_EQ(run_config_refusal([&] { parse_normalization("0.5", grey); }),
              "option --normalize 0.5: expected auto, none, MEAN/STD or M1,M2,M3/S1,S2,S3 (e.g. 0.2860/0.3530)");
}

TEST(RunConfig, ClassWeightTexts) {
    const Dataset train = testing::generated_dataset(30, 2);
    EXPECT_TRUE(parse_class_weights("none", train, 3).empty());
    EXPECT_EQ(parse_class_weights("1,2,0.5", train, 3), (std::vector<float>{1.0f, 2.0f, 0.5f}));
    EXPECT_EQ(parse_class_weights("auto", train, 3), balanced_class_weights(train, 3));
    EXPECT_EQ(run_config_refusal([&] { parse_class_weights("1,2", train, 3); }),
              "option --class-weights 1,2: 2 weights for the model's 3 classes; give one a class");
    EXPECT_EQ(run_config_refusal([&] { parse_class_weights("1,-1,1", train, 3); }),
              "option --class-weights 1,-1,1: '-1' is not a number of 0 or more; expected auto, none or w0,w1,...");
}

TEST(RunConfig, FitOptionsOfANewRunComeFromTheConfigAndTheTrainingSet) {
    const Network network(parse_model(kClassifier, "c.model"));
    const Dataset train = testing::generated_dataset(20, 3);
    RunRequest request;
    request.epochs = 4;
    request.normalize = "0.5/0.25";
    request.class_weights = "1,2,3";
    request.resize = ResizePolicy::center_crop;
    request.save = "w.safetensors";
    const RunConfig config = resolve_run_config(request);
    const FitOptions fit = fit_options(request, config, nullptr, train, network, "data/x");
    EXPECT_EQ(fit.epochs, 4);
    EXPECT_DOUBLE_EQ(fit.learning_rate, 0.001);
    EXPECT_EQ(fit.save, "w.safetensors");
    EXPECT_EQ(fit.metadata.task, TaskKind::classify);
    EXPECT_EQ(fit.metadata.class_names, train.class_names);
    EXPECT_EQ(fit.metadata.preprocessing.mean, std::vector<float>{0.5f});
    EXPECT_EQ(fit.metadata.preprocessing.resize, ResizePolicy::center_crop);
    EXPECT_EQ(fit.class_weights, (std::vector<float>{1.0f, 2.0f, 3.0f}));
}

TEST(RunConfig, FitOptionsOfAResumedRunKeepItsMetadataOnItsOwnTask) {
    const Checkpoint checkpoint = checkpoint_of_a_run();  // a segmentation run
    const RunConfig config = resolve_run_config(RunRequest{}, &checkpoint, "run.checkpoint.safetensors");
    const Network segmenter(parse_model("input 1x12x12\nconv2d out=3 kernel=1\n", "s.model"));
    const FitOptions fit = fit_options(RunRequest{}, config, &checkpoint, testing::generated_segmentation_dataset(8, 1), segmenter, "d");
    EXPECT_EQ(fit.metadata.class_names, checkpoint.weights.class_names);
    EXPECT_EQ(fit.class_weights, checkpoint.class_weights);
    EXPECT_EQ(fit.checkpoint, "run.checkpoint.safetensors");
    EXPECT_EQ(fit.checkpoint_every, 50);
    const Network classifier(parse_model(kClassifier, "c.model"));
    EXPECT_EQ(
        run_config_refusal([&] { fit_options(RunRequest{}, config, &checkpoint, testing::generated_dataset(8, 1), classifier, "data/x"); }),
        "data/x is classify data, but the checkpoint's run trained to segment: resume with the --data it was started with");
}

TEST(RunConfig, ADetectorRefusesWhatItsLossCannotTake) {
    const Network network(parse_model(kClassifier, "c.model"));  // not reached: the settings are refused first
    const Dataset boxes = testing::generated_detection_dataset(4, 1);
    RunRequest request;
    request.test_time_augmentation = TestTimeAugmentation::flip;
    EXPECT_EQ(run_config_refusal([&] { fit_options(request, resolve_run_config(request), nullptr, boxes, network, "d"); }),
              "option --tta flip: averages the outputs of an image and its mirror, which means nothing for a detector: its cells hold "
              "box offsets, not scores alone (use --tta none)");
    request = RunRequest{};
    request.label_smoothing = 0.0;  // given at all
    EXPECT_EQ(run_config_refusal([&] { fit_options(request, resolve_run_config(request), nullptr, boxes, network, "d"); }),
              "option --label-smoothing: smooths a cross-entropy over images or pixels; the detection loss does not take it");
    request = RunRequest{};
    request.class_weights = "none";
    EXPECT_EQ(run_config_refusal([&] { fit_options(request, resolve_run_config(request), nullptr, boxes, network, "d"); }),
              "option --class-weights: weighs the classes of a cross-entropy over images or pixels; the detection loss has its gains "
              "on the detect line instead (box_weight=, objectness_weight=, class_weight=; docs/DETECTION.md)");
}

class ValidationSplitTest : public testing::TemporaryFolderTest {};

TEST_F(ValidationSplitTest, AValFolderOrAHeldOutFractionJudgesTheEpochs) {
    const std::string data = directory_.string();
    // No val/ folder: the test split judges, unless part of train/ is held out.
    ValidationSplit split = choose_validation_split(data, DatasetKind::image_folder, 0.0, std::nullopt);
    EXPECT_FALSE(split.held_out);
    EXPECT_STREQ(split.judged, "test");
    split = choose_validation_split(data, DatasetKind::image_folder, 0.1, std::string("0.1"));
    EXPECT_TRUE(split.held_out);
    EXPECT_STREQ(split.judged, "val");
    std::filesystem::create_directories(directory_ / "val");
    split = choose_validation_split(data, DatasetKind::segmentation_folder, 0.0, std::nullopt);
    EXPECT_TRUE(split.held_out);
    EXPECT_STREQ(split.judged, "val");
    // IDX and CIFAR-10 have no val/ split of their own.
    EXPECT_FALSE(choose_validation_split(data, DatasetKind::idx, 0.0, std::nullopt).held_out);
    EXPECT_TRUE(choose_validation_split(data, DatasetKind::cifar10, 0.2, std::string("0.2")).held_out);
    // Both: the option, as typed, is refused; even at 0.
    EXPECT_EQ(run_config_refusal([&] { choose_validation_split(data, DatasetKind::detection_folder, 0.10, std::string("0.10")); }),
              "option --val-split 0.10: " + data + "/val exists and is the validation split; give one or the other");
    EXPECT_EQ(run_config_refusal([&] { choose_validation_split(data, DatasetKind::image_folder, 0.0, std::string("0")); }),
              "option --val-split 0: " + data + "/val exists and is the validation split; give one or the other");
}

TEST(RunConfig, AnInterruptedRunWithoutACheckpointFileWritesOneBesideItsWeights) {
    EXPECT_EQ(interrupt_checkpoint_path(""), "convnet-interrupted.checkpoint.safetensors");
    EXPECT_EQ(interrupt_checkpoint_path("out/convnet1.safetensors"), "out/convnet1.checkpoint.safetensors");
    EXPECT_EQ(interrupt_checkpoint_path("weights"), "weights.checkpoint.safetensors");
}

TEST(RunConfig, ShellQuoting) {
    EXPECT_EQ(shell_quoted("build/run-1.checkpoint.safetensors"), "build/run-1.checkpoint.safetensors");
    EXPECT_EQ(shell_quoted("a=b,c:d@e%f+g"), "a=b,c:d@e%f+g");
    EXPECT_EQ(shell_quoted(""), "''");
    EXPECT_EQ(shell_quoted("my data"), "'my data'");
    EXPECT_EQ(shell_quoted("it's"), "'it'\\''s'");
    EXPECT_EQ(shell_quoted("$HOME"), "'$HOME'");
}

TEST(RunConfig, TheResumeCommandCarriesWhatACheckpointDoesNotKeep) {
    const std::map<std::string, std::string> given = {{"resume", "old.safetensors"},
                                                      {"data", "ignored"},
                                                      {"epochs", "9"},
                                                      {"lr", "0.1"},
                                                      {"cache", "none"},
                                                      {"threads", "2"},
                                                      {"save", "w.safetensors"},
                                                      {"skip-bad", ""},
                                                      {"reference", ""},
                                                      {"on-nan", "skip"},
                                                      {"plot", "my plot.svg"},
                                                      {"distributed", ""}};
    EXPECT_EQ(resume_command("./build/convnet", "w.checkpoint.safetensors", "data/my set", given, 0),
              "./build/convnet train --resume w.checkpoint.safetensors --data 'data/my set' --save w.safetensors --plot 'my plot.svg' "
              "--threads 2 --cache none --on-nan skip --reference --skip-bad");
    EXPECT_EQ(resume_command("convnet", "run.ckpt", "data/x", {{"metrics", "m.jsonl"}, {"eval-every", "2"}, {"backend", "reference"}}, 2),
              "mpirun -np 2 convnet train --resume run.ckpt --data data/x --metrics m.jsonl --eval-every 2 --backend reference "
              "--distributed");
    EXPECT_EQ(resume_command("convnet", "c", "d", {}, 0), "convnet train --resume c --data d");
}

}  // namespace
}  // namespace convnet
