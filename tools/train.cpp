// `convnet train`: trains a model file on a dataset folder, reporting progress and per-epoch
// metrics, and saves the weights after every epoch.
#include "cli.h"

#include <convnet/core/distributed.h>
#include <convnet/core/files.h>
#include <convnet/core/format.h>
#include <convnet/core/threads.h>
#include <convnet/data/data.h>
#include <convnet/inspect/plot.h>
#include <convnet/inspect/visualize.h>
#include <convnet/io/weights.h>
#include <convnet/nn/costs.h>
#include <convnet/nn/network.h>
#include <convnet/train/checkpoint.h>
#include <convnet/train/optim.h>
#include <convnet/train/trainer.h>

#include <unistd.h>
#include <atomic>
#include <charconv>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>

namespace convnet::cli {

namespace {

constexpr const char* kTrainHelp = R"(usage: convnet train --model FILE --data DIR [options]
       convnet train --resume CHECKPOINT --data DIR [--epochs N] [--checkpoint FILE]
       mpirun -np N convnet train ... --distributed

Trains the network described by FILE on DIR's train split and reports the test split after
every epoch (or every --eval-every N). Ctrl-C or SIGTERM stops at the next step and writes a
checkpoint to resume from (under mpirun, which does not pass Ctrl-C on: kill -USR1 with
mpirun's PID).

options:
  --model FILE       model file (e.g. models/convnet1.model)
  --data DIR         dataset folder (docs/DATA.md): IDX files (e.g. data/fashion-mnist; `make data`
                     fetches it), CIFAR-10 binary batches, an image folder DIR/train/<class>/*.png|jpg
                     and DIR/test/<class>/... (DIR/val/ too, optional), a segmentation folder
                     DIR/classes.txt, DIR/train/images/NAME.png|jpg and DIR/train/masks/NAME.png
                     (class indices, 255 = ignore; docs/SEGMENTATION.md), or a detection folder
                     DIR/classes.txt, DIR/train/images/NAME.png|jpg and DIR/train/labels/NAME.txt
                     (`class cx cy w h` lines, the YOLO layout; docs/DETECTION.md); folders are
                     converted once to the model's input and cached
  --task T           classify, segment or detect: what the data's targets are; by default a folder
                     with train/masks/ is segmentation, one with train/labels/ detection, anything
                     else classification (a segmentation model ends in (N, classes, H, W) and is
                     trained per pixel; a detector ends in a detect head, docs/DETECTION.md)
  --class-weights W  the loss's weight per class, as CrossEntropyLoss(weight=): auto (n / (K n_c) over
                     the training labels or labelled pixels, sklearn's "balanced"), w0,w1,... (one
                     a class), or none (default); not for detection (its gains are on the detect line)
  --val-split F      hold out the fraction F (0 to 0.99) of the training images (per class, seeded) to judge
                     the epochs on; the test split is then evaluated once at the end
  --resize POLICY    image folders: stretch (default) or center-crop to the model's input; kept
                     in the weights file for predict
  --skip-bad         image folders: leave out files that cannot be read, listing them
  --cache DIR|none   image folders: where the converted images are cached (default
                     $XDG_CACHE_HOME/convnet, else ~/.cache/convnet)
  --epochs N         passes over the training set (default 5)
  --batch B          images per step (default 100)
  --optimizer NAME   adam, adamw or sgd (default adam)
  --lr X             learning rate (default 0.001 for adam and adamw, 0.01 for sgd)
  --momentum M       SGD momentum (default 0.9)
  --nesterov         SGD with Nesterov momentum
  --weight-decay W   L2 for adam and sgd, decoupled for adamw (default 0; 0.01 for adamw)
  --schedule S       learning rate per epoch: constant (default), step:SIZE[:GAMMA] (StepLR),
                     cosine:T_MAX[:ETA_MIN] (CosineAnnealingLR); or per step: onecycle[:PCT_START]
                     (OneCycleLR: from --lr/25 up to --lr over PCT_START of the run's steps, default
                     0.3, then down to --lr/25e4, each a half cosine)
  --ema DECAY        evaluate and save an exponential moving average of the weights and batch
                     norm statistics, updated after every step with this decay (e.g. 0.999), as
                     AveragedModel with get_ema_multi_avg_fn (default: none)
  --eval-every N     evaluate on the test (or val) split after every N epochs and after the last
                     (default 1; N >= --epochs: at the end only); the epochs between print
                     training figures only; not kept by checkpoints
  --tta flip         evaluate each test image as itself and mirrored, averaging the logits
                     (test-time augmentation; twice the evaluation time; default none)
  --label-smoothing E  the loss's target (1 - E) on the label plus E spread over every class, as
                     CrossEntropyLoss(label_smoothing=E) (default 0; classification and segmentation)
  --augment LIST     random changes to the training images, per batch, repeatable for a seed:
                     crop:N (pad N pixels, cut a random window), flip (mirror half of them),
                     alternating-flip (mirror each image every other epoch); e.g. flip,crop:2
                     (default none); masks and boxes move with their images (a box mostly cropped
                     away is dropped)
  --normalize X      per-channel (x - mean) / std after scaling to [0, 1]: auto (measured on the
                     training set), MEAN/STD or M1,M2,M3/S1,S2,S3, or none (default); kept in the
                     weights file, applied by eval, predict and the ONNX file's description
  --seed S           seed for initialisation, shuffling and augmentation (default 1)
  --distributed      data-parallel over the ranks of an MPI run: mpirun -np N convnet train ...
                     (docs/DISTRIBUTED.md); each rank takes its share of every batch, gradients are
                     averaged, rank 0 prints and writes the files
  --no-sync-bn       with --distributed: batch norm over each rank's share of the batch only
                     (default: over the whole batch, as torch.nn.SyncBatchNorm; a resumed run
                     keeps its checkpoint's choice unless --sync-bn or --no-sync-bn is given)
  --on-nan POLICY    a batch whose loss or gradients are NaN or infinite: stop (default: an error
                     naming the step, the first layer that went bad and the likely cause; weights
                     and checkpoints stay the last good ones) or skip (leave the batch out, count
                     it, go on; an epoch of nothing but such batches stops); a step that makes the
                     weights non-finite stops under both
  --threads T        threads to use (default: the cores not busy with other work, printed in the
                     header); the same seed and --threads give the same weights
  --save WEIGHTS     write the weights here after every epoch (atomically), as safetensors
                     (e.g. build/convnet1.safetensors): the model, class names and preprocessing
                     travel inside, so eval, predict and export need no --model
  --checkpoint FILE  write a checkpoint here at every epoch's end (and on Ctrl-C): weights,
                     optimiser state, position, random generators and metrics, atomically
  --checkpoint-every N  also every N steps (default 0: epoch ends only; a resumed run keeps its own)
  --resume FILE      continue the run of a checkpoint exactly (same bits as an unbroken run with
                     the same --threads); it keeps its model, optimiser, schedule, batch and seed,
                     and writes its checkpoints back to FILE unless --checkpoint says otherwise;
                     --epochs may extend it
  --metrics FILE     append one JSON object per epoch to FILE (without the test fields for an
                     epoch that --eval-every leaves unevaluated)
  --plot FILE.svg    draw the loss and accuracy per epoch (train and test) as an SVG, rewritten
                     atomically after every epoch, so that a running training can be watched
                     (`convnet plot METRICS --output FILE.svg` draws a --metrics file afterwards)
  --backend NAME     onednn (the default where every layer has a primitive), onednn-only
                     (oneDNN's primitives without our own kernels) or reference
  --reference        the same as --backend reference: each layer's plain reference code
)";

// One line on stderr, redrawn in place when stderr is a terminal and left out otherwise.
class ProgressBar {
public:
    ProgressBar() : enabled_(::isatty(STDERR_FILENO) != 0) {}
    void show(const TrainProgress& progress, int epochs) {
        if (!enabled_ || (progress.seconds - last_seconds_ < 0.1 && progress.images_done < progress.images_total)) return;
        last_seconds_ = progress.seconds;
        constexpr int kWidth = 30;
        const double fraction = double(progress.images_done) / double(progress.images_total);
        const int filled = static_cast<int>(fraction * kWidth);
        const double rate = double(progress.images_done) / std::max(progress.seconds, 1e-9);
        const double remaining = double(progress.images_total - progress.images_done) / std::max(rate, 1e-9);
        std::fprintf(stderr, "\r  epoch %d/%d [%s%s] %6lld/%lld  %6.0f img/s  loss %.4f  ETA %3.0fs ", progress.epoch, epochs,
                     std::string(static_cast<std::size_t>(filled), '=').c_str(),
                     std::string(static_cast<std::size_t>(kWidth - filled), ' ').c_str(), static_cast<long long>(progress.images_done),
                     static_cast<long long>(progress.images_total), rate, shown(progress.running_loss), remaining);
        std::fflush(stderr);
    }
    void finish() {
        if (enabled_) std::fprintf(stderr, "\r%100s\r", "");
        last_seconds_ = -1.0;
    }

private:
    bool enabled_;
    double last_seconds_ = -1.0;
};

// Ctrl-C asks the run to stop at the next step. A signal handler can only reach static storage:
// this number (the signal, 0 for none) is the one piece of global state, set by the handler and
// read between steps. The handler is installed with SA_RESETHAND, so a second signal ends the
// process at once (the checkpoint being written then stays the previous one: files are replaced
// atomically).
std::atomic<int> interrupt_signal{0};

extern "C" void request_interrupt(int number) { interrupt_signal.store(number); }

// SIGINT (Ctrl-C); SIGTERM, which batch schedulers, `timeout`, `docker stop` and systemd send
// before SIGKILL; and SIGUSR1, which mpirun passes on to the ranks where it ends them on SIGINT.
void install_interrupt_handler() {
    struct sigaction action {};
    action.sa_handler = request_interrupt;
    action.sa_flags = SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    for (const int number : {SIGINT, SIGTERM, SIGUSR1}) sigaction(number, &action, nullptr);
}

// Options that a resumed run takes from its checkpoint, and so refuses.
constexpr const char* kSettingsOfTheRun[] = {
    "model",   "optimizer", "lr",        "momentum", "nesterov",        "weight-decay", "schedule", "seed",          "batch",
    "augment", "normalize", "val-split", "resize",   "label-smoothing", "tta",          "ema",      "class-weights", "task"};

// --normalize: "none", "auto" (measured on `train`), or "MEAN/STD" with one value or one per
// channel on each side ("0.2860/0.3530", "0.49,0.48,0.45/0.25,0.24,0.26").
Preprocessing normalization_from(const std::string& text, const Dataset& train) {
    Preprocessing preprocessing;
    if (text == "none") return preprocessing;
    if (text == "auto") return channel_statistics(train);
    const std::string forms = "expected auto, none, MEAN/STD or M1,M2,M3/S1,S2,S3 (e.g. 0.2860/0.3530)";
    const auto numbers = [&](const std::string& list) {
        std::vector<float> values;
        std::stringstream items(list);
        for (std::string item; std::getline(items, item, ',');) {
            float value = 0.0f;
            const auto [end, error] = std::from_chars(item.data(), item.data() + item.size(), value);
            if (item.empty() || error != std::errc() || end != item.data() + item.size() || !std::isfinite(value))
                throw UsageError("option --normalize " + text + ": '" + item + "' is not a number; " + forms);
            values.push_back(value);
        }
        return values;
    };
    const std::size_t slash = text.find('/');
    if (slash == std::string::npos) throw UsageError("option --normalize " + text + ": " + forms);
    preprocessing.mean = numbers(text.substr(0, slash));
    preprocessing.std = numbers(text.substr(slash + 1));
    const auto channels = static_cast<std::size_t>(train.channels);
    for (const std::vector<float>* values : {&preprocessing.mean, &preprocessing.std})
        if (values->size() != 1 && values->size() != channels)
            throw UsageError("option --normalize " + text + ": " + std::to_string(values->size()) +
                             " values on one side; the images have " + std::to_string(channels) +
                             (channels == 1 ? " channel" : " channels") + " (give 1 or " + std::to_string(channels) + ")");
    for (const float deviation : preprocessing.std)
        if (!(deviation > 0.0f)) throw UsageError("option --normalize " + text + ": every std must be positive");
    return preprocessing;
}

// --class-weights: none (default), auto (sklearn's "balanced": n / (K·n_c) over the training
// targets, 1 for a class with none), or one weight a class "w0,w1,...".
std::vector<float> class_weights_option(const Arguments& arguments, const Dataset& train, std::int64_t outputs) {
    const std::string text = arguments.text("class-weights", "none");
    if (text == "none") return {};
    if (text == "auto") return balanced_class_weights(train, outputs);
    std::vector<float> weights;
    std::stringstream items(text);
    for (std::string item; std::getline(items, item, ',');) {
        float value = 0.0f;
        const auto [end, error] = std::from_chars(item.data(), item.data() + item.size(), value);
        if (item.empty() || error != std::errc() || end != item.data() + item.size() || !std::isfinite(value) || value < 0.0f)
            throw UsageError("option --class-weights " + text + ": '" + item +
                             "' is not a number of 0 or more; expected auto, none or w0,w1,...");
        weights.push_back(value);
    }
    if (static_cast<std::int64_t>(weights.size()) != outputs)
        throw UsageError("option --class-weights " + text + ": " + std::to_string(weights.size()) + " weights for the model's " +
                         std::to_string(outputs) + " classes; give one a class");
    return weights;
}

// A segmentation training set whose masks teach nothing, or not every class, is most often masks
// saved as pictures (an object as 255, which is "ignore"): refused when no pixel is labelled,
// warned when a class has no pixels or most pixels are ignored.
void check_mask_classes(const Dataset& train, const std::string& data) {
    std::vector<std::int64_t> pixels(kMaxClasses, 0);
    for (const std::uint8_t value : train.masks) ++pixels[value];
    const auto total = static_cast<std::int64_t>(train.masks.size()), ignored = pixels[kIgnoreIndex];
    if (ignored == total)
        throw Error(data +
                    ": every pixel of every training mask is 255, which means \"ignore\": nothing to learn (masks saved as "
                    "pictures, with objects as 255? a mask's values are class indices: 0, 1, 2 ...)");
    std::string missing;
    for (int c = 0; c < train.num_classes(); ++c)
        if (pixels[static_cast<std::size_t>(c)] == 0)
            missing += (missing.empty() ? "" : ", ") + train.class_names[static_cast<std::size_t>(c)];
    if (!missing.empty()) std::cerr << "warning: no training pixel has the class " << missing << " (its IoU cannot be learned)\n";
    if (2 * ignored > total)
        std::cerr << "warning: " << 100 * ignored / total << "% of the training pixels are 255 (\"ignore\") and count for nothing"
                  << (missing.empty() ? "" : ": masks saved as pictures, with objects as 255? mask values are class indices") << "\n";
}

// Where Ctrl-C writes a checkpoint when the run has no --checkpoint: beside --save's file, else
// in the working folder.
std::filesystem::path interrupt_checkpoint_path(const Arguments& arguments) {
    if (!arguments.has("save")) return "convnet-interrupted.checkpoint.safetensors";
    std::filesystem::path path = arguments.required("save");
    return path.replace_extension(".checkpoint.safetensors");
}

}  // namespace

namespace {

// Refuses, before the network is built or the data read, a run whose parameters, optimiser state
// and activations at this rank's share of the batch cannot fit its share of the machine's memory
// (the ranks mpirun started on this machine share it).
void check_training_memory(const ModelSpec& spec, std::int64_t batch, const Communicator* world, const Optimizer& optimizer, bool averaged,
                           bool resumed) {
    const std::int64_t ranks = world != nullptr ? world->size() : 1, share = (batch + ranks - 1) / ranks;
    const MemoryNeed need = training_memory_need(plan_costs(spec), share, optimizer.state_values_per_parameter(), averaged ? 1 : 0);
    const char* local_ranks = world != nullptr ? std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE") : nullptr;
    const std::int64_t on_this_machine = local_ranks != nullptr ? std::max(1L, std::strtol(local_ranks, nullptr, 10)) : 1;
    const std::int64_t machine = machine_memory_bytes(), available = machine / on_this_machine;
    std::string what = spec.source + ": training at --batch " + std::to_string(batch);
    if (on_this_machine > 1)
        what += " (" + std::to_string(share) + " images on each of " + std::to_string(on_this_machine) + " ranks here)";
    const std::int64_t fitting = largest_batch(need, available) * ranks;
    std::string hint;
    if (available <= need.parameter_bytes) hint = "its parameters and the optimiser's state alone do not fit";
    else if (fitting == 0) hint = "one image's activations alone do not fit (a smaller input or fewer channels)";
    else if (resumed)
        hint = "a resumed run keeps its checkpoint's batch: resume it on a larger machine, or start again with --batch " +
               std::to_string(fitting) + " or less";
    else
        hint = "--batch " + std::to_string(fitting) + " would fill the memory by this estimate alone (oneDNN's buffers and the data " +
               "come on top): give less";
    const std::string memory = on_this_machine > 1 ? "this rank's share of the machine's " + memory_text(machine) : "this machine's memory";
    require_memory(need, available, what, hint + "; see `convnet summary " + spec.source + "`", memory);
}

// One-cycle's shape is set by the run's length: a resumed run given another --epochs computes it
// over the new length, so the rate jumps at the next step. torch's OneCycleLR refuses to step past
// its total_steps instead; here the run goes on, and says so.
void warn_stretched_cycle(const LearningRateSchedule& schedule, double base_rate, std::int64_t steps_per_epoch, std::int64_t step,
                          int planned_epochs, int epochs) {
    const std::int64_t planned_total = steps_per_epoch * planned_epochs, total = steps_per_epoch * epochs;
    if (step >= total) return;  // nothing left to train: the run says so itself
    // At the planned cycle's end, its last step's rate is where the run stands.
    const double planned = schedule.rate_at_step(base_rate, std::min(step, planned_total - 1), planned_total, steps_per_epoch);
    const double now = schedule.rate_at_step(base_rate, step, total, steps_per_epoch);
    std::cerr << "warning: --epochs " << epochs << " lays the one-cycle schedule over " << epochs << " epochs instead of the "
              << planned_epochs << " the run started with: after step " << step << " the learning rate is " << short_number(now, 4)
              << " where the run's own cycle " << (step < planned_total ? "has " : "ended at ") << short_number(planned, 4)
              << "; an unbroken " << epochs << "-epoch run would follow the new cycle from its first step\n";
}

// What runs the layers, for the run's header.
std::string compute_description(const Network& network) {
    if (network.fast_path())
        return network.backend() == "onednn-only" ? "oneDNN primitives, blocked layout, none of our own kernels (--backend onednn-only)"
                                                  : "oneDNN primitives, blocked layout";
    if (network.fast_path_unavailable().empty()) return "reference layers (--backend reference)";
    return "reference layers (no fast path: " + network.fast_path_unavailable() + ")";
}

// The run itself; `world` is null unless --distributed; `program` is how the command was started
// (argv[0]), for the command that resumes it.
int train(const Arguments& arguments, Communicator* world, const std::string& program) {
    std::optional<Checkpoint> resumed;
    if (arguments.has("resume")) {
        for (const char* option : kSettingsOfTheRun)
            if (arguments.has(option))
                throw UsageError(
                    std::string("option --") + option + ": a resumed run keeps the settings its checkpoint was written with " +
                    "(with --resume only --data, --epochs, --checkpoint, --checkpoint-every, --save, --metrics, --plot, --eval-every, " +
                    "--threads and --backend)");
        resumed = read_checkpoint(arguments.required("resume"));
        if (!arguments.has("threads") && std::getenv("OMP_NUM_THREADS") == nullptr) set_thread_count(resumed->threads);
    }
    const std::string threads = resumed && !arguments.has("threads") && std::getenv("OMP_NUM_THREADS") == nullptr
                                    ? std::to_string(resumed->threads) + " threads (the checkpoint's)"
                                    : apply_threads(arguments);
    if (resumed && thread_count() != resumed->threads)
        std::cerr << "warning: the checkpoint was written with " << resumed->threads << " threads, this run has " << thread_count()
                  << ": it continues, but its weights will not be bit-identical to an unbroken run's\n";
    const std::string optimizer_name = resumed ? resumed->optimizer.name : arguments.text("optimizer", "adam");
    const int epochs = static_cast<int>(arguments.integer("epochs", resumed ? resumed->epochs : 5, 1, 100000));
    const int eval_every = static_cast<int>(arguments.integer("eval-every", 1, 1, 100000));
    const long long batch = resumed ? resumed->batch_size : arguments.integer("batch", 100, 1, 65536);
    OptimizerOptions optimizer_options;
    if (resumed) {
        optimizer_options = resumed->optimizer;
    } else {
        optimizer_options.name = optimizer_name;
        optimizer_options.learning_rate =
            arguments.real("lr", optimizer_name == "sgd" ? 0.01 : 0.001, kLearningRateRange.low, kLearningRateRange.high);
        optimizer_options.momentum = arguments.real("momentum", 0.9, kMomentumRange.low, kMomentumRange.high);
        optimizer_options.nesterov = arguments.has("nesterov");
        if (arguments.has("weight-decay"))
            optimizer_options.weight_decay = arguments.real("weight-decay", 0.0, kWeightDecayRange.low, kWeightDecayRange.high);
    }
    const double learning_rate = optimizer_options.learning_rate;
    const auto seed = resumed ? resumed->seed : static_cast<std::uint64_t>(arguments.integer("seed", 1, 0, (1LL << 62)));
    // Option values the library checks are still mistakes in the command: exit code 2.
    LearningRateSchedule schedule;
    std::unique_ptr<Optimizer> optimizer;
    try {
        schedule = resumed ? resumed->schedule : parse_schedule(arguments.text("schedule", "constant"));
    } catch (const Error& error) {
        throw UsageError("option --schedule: " + std::string(error.what()));
    }
    try {
        optimizer = make_optimizer(optimizer_options);
    } catch (const Error& error) {
        // A resumed run's optimiser comes from its checkpoint, not from the command line.
        if (resumed) throw Error(arguments.required("resume") + ": checkpoint field optimizer: " + error.what());
        throw UsageError("option --optimizer " + optimizer_name + ": " + error.what());
    }
    // Where the results go is checked before any time is spent training.
    for (const char* option : {"save", "metrics", "checkpoint"})
        if (arguments.has(option)) check_output_file(option, arguments.required(option));
    if (arguments.has("plot")) check_svg_output("plot", arguments.required("plot"));
    check_distinct_outputs(arguments, {"save", "metrics", "checkpoint", "plot"});
    const std::int64_t checkpoint_every =
        arguments.integer("checkpoint-every", resumed ? resumed->checkpoint_every : 0, 0, std::int64_t{1} << 40);
    if (checkpoint_every > 0 && !arguments.has("checkpoint") && !resumed)
        throw UsageError("option --checkpoint-every: give --checkpoint FILE too, the file to write");

    const double label_smoothing = resumed ? resumed->label_smoothing : arguments.real("label-smoothing", 0.0, 0.0, 0.999);
    const double ema_decay = resumed ? resumed->ema_decay : arguments.real("ema", 0.0, 0.0, 0.999999);
    const TestTimeAugmentation test_time_augmentation =
        resumed ? resumed->test_time_augmentation : test_time_augmentation_option(arguments);
    Augmentation augmentation;
    try {
        augmentation = resumed ? resumed->augmentation : parse_augmentation(arguments.text("augment", "none"));
    } catch (const Error& error) {
        throw UsageError("option --augment: " + std::string(error.what()));
    }

    const ModelSpec spec =
        resumed ? parse_model(resumed->weights.model, arguments.required("resume")) : read_model_file(arguments.required("model"));
    check_training_memory(spec, batch, world, *optimizer, ema_decay > 0.0, resumed.has_value());
    Network network(spec);
    apply_backend(arguments, network);
    if (batch < network.minimum_training_batch())
        throw UsageError("option --batch " + std::to_string(batch) + ": " + network.source() +
                         " has a batch norm over one value per channel per image, which needs at least " +
                         std::to_string(network.minimum_training_batch()) + " images a batch (as torch.nn.BatchNorm1d)");
    const std::string data = arguments.required("data");
    ResizePolicy resize = resumed ? resumed->weights.preprocessing.resize : ResizePolicy::stretch;
    if (arguments.has("resize")) {
        const std::optional<ResizePolicy> parsed = resize_policy_from_name(arguments.required("resize"));
        if (!parsed) throw UsageError("option --resize " + arguments.required("resize") + ": expected stretch or center-crop");
        resize = *parsed;
    }
    DataOptions reading = data_options(arguments, network, resize);
    reading.images.split_seed = seed;  // a resumed run holds out what it held out before
    if (arguments.has("task")) {
        reading.task = task_from_name(arguments.required("task"));
        if (!reading.task) throw UsageError("option --task " + arguments.required("task") + ": expected classify, segment or detect");
    } else if (resumed) {
        reading.task = resumed->weights.task;
    }
    const DatasetKind kind = dataset_kind(data, reading.task);
    const bool folder =
        kind == DatasetKind::image_folder || kind == DatasetKind::segmentation_folder || kind == DatasetKind::detection_folder;
    const bool has_val = reading.images.val_split > 0.0 || (folder && std::filesystem::is_directory(std::filesystem::path(data) / "val"));
    if (arguments.has("val-split") && folder && std::filesystem::is_directory(std::filesystem::path(data) / "val"))
        throw UsageError("option --val-split " + arguments.required("val-split") + ": " + data +
                         "/val exists and is the validation split; "
                         "give one or the other");
    const Dataset train = load_data(data, "train", reading);
    const Dataset test = load_data(data, "test", reading);
    // With a validation split, the epochs are judged on it and the test split once at the end.
    const Dataset val = has_val ? load_data(data, "val", reading) : Dataset{};
    const Dataset& judged = has_val ? val : test;
    const char* judged_name = has_val ? "val" : "test";
    check_compatible(network, train, "training");
    const Task& task = task_for(train.task());
    if (task.model_classes(network) > train.num_classes() && train.num_classes() > 0)
        std::cerr << "warning: " << network.source() << " scores " << task.model_classes(network) << " classes but the data has "
                  << train.num_classes() << ": the extra scores are never a label (end the model in " << task.classes_setting()
                  << train.num_classes() << ")\n";
    if (train.has_masks()) check_mask_classes(train, data);
    network.initialize(seed);
    Trainer trainer(network, *optimizer, batch, seed);
    const std::string on_nan = arguments.text("on-nan", "stop");
    if (on_nan != "stop" && on_nan != "skip") throw UsageError("option --on-nan " + on_nan + ": expected stop or skip");
    trainer.set_non_finite_policy(on_nan == "skip" ? NonFinitePolicy::skip : NonFinitePolicy::stop);
    if (resumed) trainer.restore(*resumed);
    // A resumed run keeps its batch norm synchronisation unless told.
    const bool sync_batch_norm = arguments.has("sync-bn") || (!arguments.has("no-sync-bn") && (resumed ? resumed->sync_batch_norm : true));
    if (world != nullptr) {
        // Every rank must hold the same model, data, settings and starting point.
        const auto same = [&](const std::string& what, const std::string& text) {
            check_same_on_every_rank(*world, std::hash<std::string>{}(text), what);
        };
        same("its model", format_model(network.layer_plans(), network.sample_shape()));
        same("its data", std::to_string(dataset_fingerprint(train)) + " " + std::to_string(dataset_fingerprint(judged)));
        same("its options (batch, seed, epochs, optimiser, schedule, augmentation, --on-nan, --no-sync-bn or the checkpoint)",
             std::to_string(batch) + " " + std::to_string(seed) + " " + std::to_string(epochs) + " " + optimizer->describe() + " " +
                 schedule.describe() + " " + augmentation.describe() + " " + on_nan + " " + std::to_string(sync_batch_norm) + " " +
                 arguments.text("label-smoothing", "0") + " " + arguments.text("tta", "none") + " " + arguments.text("ema", "0") + " " +
                 std::to_string(trainer.position().steps_done));
        const std::int64_t needed = network.minimum_training_batch() * world->size();
        if (batch < needed)
            throw UsageError("option --batch " + std::to_string(batch) + ": each of the " + std::to_string(world->size()) +
                             " ranks needs at least " + std::to_string(network.minimum_training_batch()) +
                             (network.minimum_training_batch() == 1 ? " image" : " images") + " of every batch: give --batch " +
                             std::to_string(needed) + " or more");
        if (const std::int64_t rest = train.count % batch; rest > 0 && rest < needed && rest >= network.minimum_training_batch())
            std::cerr << "warning: the last batch of every epoch (" << rest << (rest == 1 ? " image" : " images")
                      << ") is too small to share over " << world->size()
                      << " ranks and joins the batch before; one process would train it alone, so this run differs from one "
                         "process's there\n";
        trainer.set_communicator(world, sync_batch_norm);
    }
    // After the communicator: the smallest batch a step may take, and so the steps, depend on it.
    if (resumed && schedule.per_step() && epochs != resumed->epochs)
        warn_stretched_cycle(schedule, learning_rate, trainer.steps_per_epoch(train.count), trainer.position().steps_done, resumed->epochs,
                             epochs);

    std::cout << "model " << network.source() << ": " << network.trainable_count() << " parameters; data " << data << ": " << train.count
              << " train, " << (has_val ? std::to_string(val.count) + " val, " : std::string()) << test.count << " test images; "
              << optimizer->describe() << ", schedule " << schedule.describe()
              << (label_smoothing > 0.0 ? ", label smoothing " + short_number(label_smoothing) : std::string())
              << (test_time_augmentation == TestTimeAugmentation::flip ? ", test-time flip" : "")
              << (ema_decay > 0.0 ? ", weight average (EMA " + short_number(ema_decay, 6) + ")" : std::string()) << ", batch " << batch
              << ", " << epochs << (epochs == 1 ? " epoch, " : " epochs, ") << threads << std::endl;
    if (world != nullptr)
        std::cout << "distributed: " << world->size() << (world->size() == 1 ? " rank" : " ranks") << ", each taking "
                  << batch / world->size()
                  << (batch % world->size() != 0 ? " or " + std::to_string(batch / world->size() + 1) : std::string())
                  << " images of every batch; batch norm " << (sync_batch_norm ? "synchronised" : "per rank (--no-sync-bn)")
                  << "; rank 0 prints and writes" << std::endl;

    if (resumed && trainer.epochs_done() >= epochs)
        throw UsageError("option --epochs " + std::to_string(epochs) + ": the checkpoint's run has done " +
                         std::to_string(trainer.epochs_done()) + (trainer.epochs_done() == 1 ? " epoch" : " epochs") +
                         " already; give --epochs " + std::to_string(trainer.epochs_done() + 1) + " or more to train on");
    if (schedule.kind == LearningRateSchedule::Kind::cosine && epochs > schedule.t_max)
        std::cerr << "warning: --epochs " << epochs << " goes past the cosine schedule's " << schedule.t_max << " epochs: from epoch "
                  << schedule.t_max + 1 << " the learning rate is " << schedule.eta_min
                  << " and rises again (as torch's CosineAnnealingLR); start a run with a longer cosine:T to train longer\n";
    if (resumed)
        std::cout << "resuming after " << trainer.epochs_done() << (trainer.epochs_done() == 1 ? " epoch" : " epochs") << " and "
                  << trainer.position().images_done << " images of epoch " << trainer.epochs_done() + 1 << " (step "
                  << trainer.position().steps_done << ")" << std::endl;
    if (network.layer(network.layer_count() - 1).outputs_probabilities())
        std::cerr << "warning: " << network.source() << " ends in softmax, and the training loss applies its own softmax to the "
                  << "outputs; train without the last line and add it for prediction only\n";
    std::cout << "compute: " << compute_description(network) << std::endl;
    FitOptions fit;
    fit.epochs = epochs;
    fit.learning_rate = learning_rate;
    fit.schedule = schedule;
    if (arguments.has("save")) fit.save = arguments.required("save");
    if (arguments.has("metrics")) fit.metrics = arguments.required("metrics");
    if (arguments.has("checkpoint")) fit.checkpoint = arguments.required("checkpoint");
    else if (resumed) fit.checkpoint = arguments.required("resume");
    fit.checkpoint_every = checkpoint_every;
    fit.eval_every = eval_every;
    fit.metadata = resumed ? resumed->weights : WeightsMetadata{};
    if (resumed && resumed->weights.task != train.task())
        throw UsageError(data + " is " + std::string(task_name(train.task())) + " data, but the checkpoint's run trained to " +
                         std::string(task_name(resumed->weights.task)) + ": resume with the --data it was started with");
    if (!resumed) {
        fit.metadata.task = train.task();
        fit.metadata.class_names = train.class_names;
        fit.metadata.preprocessing = normalization_from(arguments.text("normalize", "none"), train);
        fit.metadata.preprocessing.resize = resize;
    }
    fit.augmentation = augmentation;
    fit.label_smoothing = label_smoothing;
    if (test_time_augmentation == TestTimeAugmentation::flip && !task.averages_mirrored_outputs())
        throw UsageError(
            "option --tta flip: averages the outputs of an image and its mirror, which means nothing for a "
            "detector: its cells hold box offsets, not scores alone (use --tta none)");
    if (train.task() == TaskKind::detect && arguments.has("label-smoothing"))
        throw UsageError("option --label-smoothing: smooths a cross-entropy over images or pixels; the detection loss does not take it");
    if (train.task() == TaskKind::detect && arguments.has("class-weights"))
        throw UsageError(
            "option --class-weights: weighs the classes of a cross-entropy over images or pixels; the detection loss has "
            "its gains on the detect line instead (box_weight=, objectness_weight=, class_weight=; docs/DETECTION.md)");
    fit.class_weights = resumed ? resumed->class_weights : class_weights_option(arguments, train, task.model_classes(network));
    fit.test_time_augmentation = test_time_augmentation;
    fit.ema_decay = ema_decay;
    if (augmentation.enabled() || !fit.metadata.preprocessing.mean.empty()) {
        std::cout << "augmentation " << augmentation.describe() << "; normalisation ";
        const Preprocessing& stored = fit.metadata.preprocessing;
        if (stored.mean.empty()) std::cout << "none";
        for (std::size_t c = 0; c < stored.mean.size(); ++c)
            std::cout << (c ? ", " : "") << "(x - " << stored.mean[c] << ") / " << stored.std[c];
        std::cout << std::endl;
    }
    // --plot draws every epoch of the run, earlier ones included: the metrics lines so far (a
    // resumed run's from its checkpoint, else what --metrics already holds, as fit appends to it).
    std::string metrics_so_far;
    if (resumed) {
        metrics_so_far = resumed->metrics;
    } else if (arguments.has("metrics")) {
        std::ifstream existing(arguments.required("metrics"), std::ios::binary);
        metrics_so_far.assign(std::istreambuf_iterator<char>(existing), std::istreambuf_iterator<char>());
    }
    ProgressBar bar;
    FitCallbacks callbacks;
    callbacks.batch_done = [&](const TrainProgress& progress) { bar.show(progress, epochs); };
    callbacks.epoch_done = [&](const EpochResult& trained, const Evaluation* tested) {
        bar.finish();
        std::printf("epoch %d/%d  train loss %.4f  %s %.4f | ", trained.epoch, epochs, shown(trained.train_loss),
                    short_figure_label(std::string(task_for(trained.task).accuracy_name())), trained.train_accuracy);
        if (tested != nullptr) std::printf("%s loss %.4f  %s", judged_name, shown(tested->loss), figures_text(*tested).c_str());
        else std::printf("%s not evaluated (--eval-every)", judged_name);
        std::printf(" | %.1f s, %.0f img/s", trained.seconds, trained.images_per_second);
        if (world != nullptr) std::printf(" (%.2f s in collectives, waits for the slowest rank included)", trained.communication_seconds);
        std::printf("\n");
        if (trained.skipped_steps > 0)
            std::printf("  (--on-nan skip: %lld batches with a non-finite loss or gradient left out)\n",
                        static_cast<long long>(trained.skipped_steps));
        std::fflush(stdout);
        if (arguments.has("plot") && (world == nullptr || world->rank() == 0)) {
            metrics_so_far += epoch_metrics_json(trained, tested) + "\n";
            write_file_atomically(arguments.required("plot"),
                                  training_curves_svg(parse_metrics(metrics_so_far, "the metrics of this run"), judged_name));
        }
    };
    callbacks.stop_requested = [] { return interrupt_signal.load() != 0; };
    install_interrupt_handler();
    const FitResult result = trainer.fit(train, judged, fit, callbacks);
    if (result.interrupted) {
        bar.finish();
        const std::filesystem::path written = fit.checkpoint.empty() ? interrupt_checkpoint_path(arguments) : fit.checkpoint;
        if (fit.checkpoint.empty() && (world == nullptr || world->rank() == 0)) write_checkpoint(written, trainer.checkpoint(fit), network);
        const TrainingPosition& at = trainer.position();
        // The command that continues: the same data, outputs, threads and backend (the last two
        // decide the bits), the same ranks, and the options a checkpoint does not keep (how
        // the data is read, --on-nan).
        // Started as `./build/convnet`, it says so: `convnet` alone is not on the PATH of a build tree.
        std::string command = world != nullptr ? "mpirun -np " + std::to_string(world->size()) + " " : std::string();
        command += shell_quoted(program) + " train --resume " + shell_quoted(written.string()) + " --data " + shell_quoted(data);
        for (const char* option : {"save", "metrics", "plot", "eval-every", "threads", "backend", "cache", "on-nan"})
            if (arguments.has(option)) command += std::string(" --") + option + " " + shell_quoted(arguments.required(option));
        for (const char* flag : {"reference", "skip-bad"})
            if (arguments.has(flag)) command += std::string(" --") + flag;
        if (world != nullptr) command += " --distributed";
        std::printf("interrupted in epoch %d after %lld of %lld images (step %lld); checkpoint written to %s\nresume with: %s\n",
                    at.epochs_done + 1, static_cast<long long>(at.images_done), static_cast<long long>(train.count),
                    static_cast<long long>(at.steps_done), written.c_str(), command.c_str());
        // As a shell reports a command ended by the signal: 130 for SIGINT, 143 for SIGTERM. A
        // rank stopped by its peers' agreement, with no signal of its own, reports SIGUSR1's.
        const int number = interrupt_signal.load();
        return 128 + (number != 0 ? number : SIGUSR1);
    }
    const auto print_final = [](const char* split, const Evaluation& evaluation) {
        for (const auto& [name, value] : evaluation.figures) std::printf("final %s %s: %.4f\n", split, figure_label(name), shown(value));
    };
    if (has_val) {
        const Evaluation tested = evaluate(network, test, batch, fit.metadata.preprocessing, world, fit.test_time_augmentation);
        print_final("val", result.last);
        print_final("test", tested);
    } else {
        print_final("test", result.last);
    }
    return 0;
}

}  // namespace

int run_train(const std::vector<std::string>& words, const std::string& program) {
    const Arguments arguments(
        words, {"task",       "class-weights",    "model",           "data",    "epochs",    "batch",     "optimizer", "lr",
                "momentum",   "weight-decay",     "schedule",        "seed",    "threads",   "save",      "metrics",   "backend",
                "checkpoint", "checkpoint-every", "resume",          "augment", "normalize", "val-split", "resize",    "cache",
                "plot",       "on-nan",           "label-smoothing", "tta",     "ema",       "eval-every"},
        {"help", "reference", "nesterov", "skip-bad", "distributed", "sync-bn", "no-sync-bn"});
    if (arguments.has("help")) {
        std::cout << kTrainHelp;
        return 0;
    }
    // Open MPI tells its ranks how many they are; several copies of one training writing the same files are a mistake.
    const char* mpi_ranks = std::getenv("OMPI_COMM_WORLD_SIZE");
    if (!arguments.has("distributed")) {
        for (const char* option : {"sync-bn", "no-sync-bn"})
            if (arguments.has(option)) throw UsageError(std::string("option --") + option + ": only with --distributed");
        if (mpi_ranks != nullptr && std::string(mpi_ranks) != "1")
            throw UsageError(std::string("started by mpirun as one of ") + mpi_ranks +
                             " processes without --distributed: each would train alone and write the same files; add --distributed");
        return train(arguments, nullptr, program);
    }
    if (arguments.has("sync-bn") && arguments.has("no-sync-bn")) throw UsageError("options --sync-bn and --no-sync-bn: give one");
    const std::unique_ptr<Communicator> world = mpi_world();
    if (mpi_ranks == nullptr && world->size() == 1)
        std::cerr << "warning: --distributed in one process: start it with mpirun -np N to train on N (docs/DISTRIBUTED.md)\n";
    // Rank 0 alone prints; the others keep their stderr for their errors only (their warnings are rank 0's).
    int error_output = STDERR_FILENO;
    if (world->rank() > 0) {
        error_output = ::dup(STDERR_FILENO);
        if (error_output < 0 || std::freopen("/dev/null", "w", stdout) == nullptr || std::freopen("/dev/null", "w", stderr) == nullptr)
            error_output = STDERR_FILENO;
    }
    try {
        return train(arguments, world.get(), program);
    } catch (const std::exception& error) {
        // The other ranks would wait for this one in their next all-reduce: end them all.
        // One write, so that mpirun does not interleave it with another rank's.
        const std::string message = "convnet train: error (rank " + std::to_string(world->rank()) + " of " + std::to_string(world->size()) +
                                    "): " + error.what() + "\n";
        std::fflush(stdout);
        std::fflush(stderr);
        [[maybe_unused]] const ssize_t written = ::write(error_output, message.data(), message.size());
        world->abort(dynamic_cast<const UsageError*>(&error) != nullptr ? 2 : 1);
    }
    return 1;  // not reached: abort ends the process
}

}  // namespace convnet::cli
