// A training run's settings: the request merged with the defaults or the resumed checkpoint, the
// texts that need the training set, the validation split and the command that resumes a run.
#include <convnet/train/run_config.h>

#include <convnet/train/task.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <string_view>

namespace convnet {

namespace {

// The names of the kept options `request` sets, for check_resume_options.
std::vector<std::string> kept_options_requested(const RunRequest& request) {
    const std::pair<const char*, bool> fields[] = {{"model", request.model},
                                                   {"optimizer", request.optimizer.has_value()},
                                                   {"lr", request.learning_rate.has_value()},
                                                   {"momentum", request.momentum.has_value()},
                                                   {"nesterov", request.nesterov},
                                                   {"weight-decay", request.weight_decay.has_value()},
                                                   {"schedule", request.schedule.has_value()},
                                                   {"seed", request.seed.has_value()},
                                                   {"batch", request.batch_size.has_value()},
                                                   {"augment", request.augmentation.has_value()},
                                                   {"normalize", request.normalize.has_value()},
                                                   {"val-split", request.val_split.has_value()},
                                                   {"resize", request.resize.has_value()},
                                                   {"label-smoothing", request.label_smoothing.has_value()},
                                                   {"tta", request.test_time_augmentation.has_value()},
                                                   {"ema", request.ema_decay.has_value()},
                                                   {"class-weights", request.class_weights.has_value()},
                                                   {"task", request.task.has_value()}};
    std::vector<std::string> given;
    for (const auto& [name, set] : fields)
        if (set) given.emplace_back(name);
    return given;
}

// The comma-separated numbers of `list` ("0.49,0.48,0.45"); `refuse(item)` throws for an item that
// is not a finite number or that `acceptable` refuses.
template <typename Acceptable, typename Refuse>
std::vector<float> run_config_numbers(const std::string& list, Acceptable acceptable, Refuse refuse) {
    std::vector<float> values;
    std::stringstream items(list);
    for (std::string item; std::getline(items, item, ',');) {
        float value = 0.0f;
        const auto [end, error] = std::from_chars(item.data(), item.data() + item.size(), value);
        if (item.empty() || error != std::errc() || end != item.data() + item.size() || !std::isfinite(value) || !acceptable(value))
            refuse(item);
        values.push_back(value);
    }
    return values;
}

}  // namespace

const std::vector<std::string>& checkpoint_kept_options() {
    static const std::vector<std::string> kept = {
        "model",   "optimizer", "lr",        "momentum", "nesterov",        "weight-decay", "schedule", "seed",          "batch",
        "augment", "normalize", "val-split", "resize",   "label-smoothing", "tta",          "ema",      "class-weights", "task"};
    return kept;
}

void check_resume_options(const std::vector<std::string>& given) {
    for (const std::string& option : checkpoint_kept_options())
        if (std::find(given.begin(), given.end(), option) != given.end())
            throw MisconfigurationError(
                "option --" + option + ": a resumed run keeps the settings its checkpoint was written with " +
                "(with --resume only --data, --epochs, --checkpoint, --checkpoint-every, --save, --metrics, --plot, --eval-every, " +
                "--threads and --backend)");
}

double default_learning_rate(const std::string& optimizer) { return optimizer == "sgd" ? 0.01 : 0.001; }

RunConfig resolve_run_config(const RunRequest& request, const Checkpoint* resumed, const std::filesystem::path& resumed_from) {
    RunConfig config;
    if (resumed != nullptr) {
        check_resume_options(kept_options_requested(request));
        config.optimizer = resumed->optimizer;
        config.schedule = resumed->schedule;
        config.batch_size = resumed->batch_size;
        config.seed = resumed->seed;
        config.epochs = resumed->epochs;
        config.checkpoint_every = resumed->checkpoint_every;
        config.augmentation = resumed->augmentation;
        config.label_smoothing = resumed->label_smoothing;
        config.ema_decay = resumed->ema_decay;
        config.test_time_augmentation = resumed->test_time_augmentation;
        config.resize = resumed->weights.preprocessing.resize;
        config.task = resumed->weights.task;
        config.sync_batch_norm = resumed->sync_batch_norm;
        config.checkpoint = resumed_from;
    } else {
        config.optimizer.name = request.optimizer.value_or("adam");
        config.optimizer.learning_rate = request.learning_rate.value_or(default_learning_rate(config.optimizer.name));
        config.optimizer.momentum = request.momentum.value_or(0.9);
        config.optimizer.nesterov = request.nesterov;
        if (request.weight_decay) config.optimizer.weight_decay = request.weight_decay;
        config.schedule = request.schedule.value_or(LearningRateSchedule{});
        config.batch_size = request.batch_size.value_or(config.batch_size);
        config.seed = request.seed.value_or(config.seed);
        config.augmentation = request.augmentation.value_or(Augmentation{});
        config.label_smoothing = request.label_smoothing.value_or(0.0);
        config.ema_decay = request.ema_decay.value_or(0.0);
        config.test_time_augmentation = request.test_time_augmentation.value_or(TestTimeAugmentation::none);
        config.resize = request.resize.value_or(ResizePolicy::stretch);
        config.task = request.task;
    }
    // What a resumed run may be given anew.
    config.epochs = request.epochs.value_or(config.epochs);
    config.eval_every = request.eval_every.value_or(1);
    config.checkpoint_every = request.checkpoint_every.value_or(config.checkpoint_every);
    config.sync_batch_norm = request.sync_batch_norm.value_or(config.sync_batch_norm);
    config.non_finite_policy = request.non_finite_policy.value_or(NonFinitePolicy::stop);
    config.save = request.save.value_or("");
    config.metrics = request.metrics.value_or("");
    config.plot = request.plot.value_or("");
    if (request.checkpoint) config.checkpoint = *request.checkpoint;
    return config;
}

std::unique_ptr<Optimizer> make_run_optimizer(const RunConfig& config, const std::filesystem::path& resumed_from) {
    try {
        return make_optimizer(config.optimizer);
    } catch (const Error& error) {
        // A resumed run's optimiser comes from its checkpoint, not from what the caller asked.
        if (!resumed_from.empty()) throw Error(resumed_from.string() + ": checkpoint field optimizer: " + error.what());
        throw MisconfigurationError("option --optimizer " + config.optimizer.name + ": " + error.what());
    }
}

std::optional<int> checkpoint_thread_count(const Checkpoint& resumed, bool threads_given) {
    if (threads_given || std::getenv("OMP_NUM_THREADS") != nullptr) return std::nullopt;
    return resumed.threads;
}

Preprocessing parse_normalization(const std::string& text, const Dataset& train) {
    Preprocessing preprocessing;
    if (text == "none") return preprocessing;
    if (text == "auto") return channel_statistics(train);
    const std::string forms = "expected auto, none, MEAN/STD or M1,M2,M3/S1,S2,S3 (e.g. 0.2860/0.3530)";
    const auto numbers = [&](const std::string& list) {
        return run_config_numbers(
            list, [](float) { return true; },
            [&](const std::string& item) {
                throw MisconfigurationError("option --normalize " + text + ": '" + item + "' is not a number; " + forms);
            });
    };
    const std::size_t slash = text.find('/');
    if (slash == std::string::npos) throw MisconfigurationError("option --normalize " + text + ": " + forms);
    preprocessing.mean = numbers(text.substr(0, slash));
    preprocessing.std = numbers(text.substr(slash + 1));
    const auto channels = static_cast<std::size_t>(train.channels);
    for (const std::vector<float>* values : {&preprocessing.mean, &preprocessing.std})
        if (values->size() != 1 && values->size() != channels)
            throw MisconfigurationError("option --normalize " + text + ": " + std::to_string(values->size()) +
                                        " values on one side; the images have " + std::to_string(channels) +
                                        (channels == 1 ? " channel" : " channels") + " (give 1 or " + std::to_string(channels) + ")");
    for (const float deviation : preprocessing.std)
        if (!(deviation > 0.0f)) throw MisconfigurationError("option --normalize " + text + ": every std must be positive");
    return preprocessing;
}

std::vector<float> parse_class_weights(const std::string& text, const Dataset& train, std::int64_t classes) {
    if (text == "none") return {};
    if (text == "auto") return balanced_class_weights(train, classes);
    const std::vector<float> weights = run_config_numbers(
        text, [](float value) { return value >= 0.0f; },
        [&](const std::string& item) {
            throw MisconfigurationError("option --class-weights " + text + ": '" + item +
                                        "' is not a number of 0 or more; expected auto, none or w0,w1,...");
        });
    if (static_cast<std::int64_t>(weights.size()) != classes)
        throw MisconfigurationError("option --class-weights " + text + ": " + std::to_string(weights.size()) + " weights for the model's " +
                                    std::to_string(classes) + " classes; give one a class");
    return weights;
}

FitOptions fit_options(const RunRequest& request, const RunConfig& config, const Checkpoint* resumed, const Dataset& train,
                       const Network& network, const std::string& data) {
    FitOptions fit;
    fit.epochs = config.epochs;
    fit.learning_rate = config.optimizer.learning_rate;
    fit.schedule = config.schedule;
    fit.save = config.save;
    fit.metrics = config.metrics;
    fit.checkpoint = config.checkpoint;
    fit.checkpoint_every = config.checkpoint_every;
    fit.eval_every = config.eval_every;
    fit.augmentation = config.augmentation;
    fit.label_smoothing = config.label_smoothing;
    fit.test_time_augmentation = config.test_time_augmentation;
    fit.ema_decay = config.ema_decay;
    if (resumed != nullptr) {
        if (resumed->weights.task != train.task())
            throw MisconfigurationError(data + " is " + std::string(task_name(train.task())) +
                                        " data, but the checkpoint's run trained to " + std::string(task_name(resumed->weights.task)) +
                                        ": resume with the --data it was started with");
        fit.metadata = resumed->weights;
    } else {
        fit.metadata.task = train.task();
        fit.metadata.class_names = train.class_names;
        fit.metadata.preprocessing = parse_normalization(request.normalize.value_or("none"), train);
        fit.metadata.preprocessing.resize = config.resize;
    }
    const Task& task = task_for(train.task());
    if (config.test_time_augmentation == TestTimeAugmentation::flip && !task.averages_mirrored_outputs())
        throw MisconfigurationError(
            "option --tta flip: averages the outputs of an image and its mirror, which means nothing for a "
            "detector: its cells hold box offsets, not scores alone (use --tta none)");
    if (train.task() == TaskKind::detect && request.label_smoothing)
        throw MisconfigurationError(
            "option --label-smoothing: smooths a cross-entropy over images or pixels; the detection loss does not take it");
    if (train.task() == TaskKind::detect && request.class_weights)
        throw MisconfigurationError(
            "option --class-weights: weighs the classes of a cross-entropy over images or pixels; the detection loss has "
            "its gains on the detect line instead (box_weight=, objectness_weight=, class_weight=; docs/DETECTION.md)");
    fit.class_weights = resumed != nullptr
                            ? resumed->class_weights
                            : parse_class_weights(request.class_weights.value_or("none"), train, task.model_classes(network));
    return fit;
}

ValidationSplit choose_validation_split(const std::string& data, DatasetKind kind, double val_split,
                                        const std::optional<std::string>& val_split_given) {
    const bool folder =
        kind == DatasetKind::image_folder || kind == DatasetKind::segmentation_folder || kind == DatasetKind::detection_folder;
    const bool val_folder = folder && std::filesystem::is_directory(std::filesystem::path(data) / "val");
    if (val_split_given && val_folder)
        throw MisconfigurationError("option --val-split " + *val_split_given + ": " + data +
                                    "/val exists and is the validation split; give one or the other");
    ValidationSplit split;
    split.held_out = val_split > 0.0 || val_folder;
    split.judged = split.held_out ? "val" : "test";
    return split;
}

std::filesystem::path interrupt_checkpoint_path(const std::filesystem::path& save) {
    if (save.empty()) return "convnet-interrupted.checkpoint.safetensors";
    std::filesystem::path path = save;
    return path.replace_extension(".checkpoint.safetensors");
}

std::string shell_quoted(const std::string& text) {
    const bool plain = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || std::string_view("_-./:,+=@%").find(c) != std::string_view::npos;
    });
    if (plain) return text;
    std::string quoted = "'";
    for (const char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return quoted + "'";
}

std::string resume_command(const std::string& program, const std::filesystem::path& checkpoint, const std::string& data,
                           const std::map<std::string, std::string>& given, int ranks) {
    // The same data, outputs, threads and backend (the last two decide the bits), the same ranks,
    // and the options a checkpoint does not keep (how the data is read, --on-nan).
    std::string command = ranks > 0 ? "mpirun -np " + std::to_string(ranks) + " " : std::string();
    command += shell_quoted(program) + " train --resume " + shell_quoted(checkpoint.string()) + " --data " + shell_quoted(data);
    for (const char* option : {"save", "metrics", "plot", "eval-every", "threads", "backend", "cache", "on-nan"})
        if (const auto found = given.find(option); found != given.end())
            command += std::string(" --") + option + " " + shell_quoted(found->second);
    for (const char* flag : {"reference", "skip-bad"})
        if (given.count(flag) != 0) command += std::string(" --") + flag;
    if (ranks > 0) command += " --distributed";
    return command;
}

}  // namespace convnet
