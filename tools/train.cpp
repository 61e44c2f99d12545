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
#include <convnet/train/preflight.h>
#include <convnet/train/run_config.h>
#include <convnet/train/task.h>
#include <convnet/train/trainer.h>

#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>

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

// The checkpoint of --resume, read after refusing the options it keeps; none without --resume.
std::optional<Checkpoint> read_resumed(const Arguments& arguments) {
    if (!arguments.has("resume")) return std::nullopt;
    check_resume_options(arguments.names());
    return read_checkpoint(arguments.required("resume"));
}

// --threads, else OMP_NUM_THREADS, else a resumed run's own count, else the free cores: applied,
// and described for the run's header.
std::string choose_threads(const Arguments& arguments, const std::optional<Checkpoint>& resumed) {
    const std::optional<int> kept = resumed ? checkpoint_thread_count(*resumed, arguments.has("threads")) : std::nullopt;
    if (kept) set_thread_count(*kept);
    const std::string threads = kept ? std::to_string(*kept) + " threads (the checkpoint's)" : apply_threads(arguments);
    if (resumed && thread_count() != resumed->threads)
        std::cerr << "warning: the checkpoint was written with " << resumed->threads << " threads, this run has " << thread_count()
                  << ": it continues, but its weights will not be bit-identical to an unbroken run's\n";
    return threads;
}

// What the command line asks of the run, each option parsed and range-checked (UsageError naming
// it) and left unset when not given; resolve_run_config merges it with the defaults or the checkpoint.
RunRequest run_request(const Arguments& arguments) {
    const auto integer = [&](const char* name, long long minimum, long long maximum) {
        return arguments.has(name) ? std::optional<long long>(arguments.integer(name, 0, minimum, maximum)) : std::nullopt;
    };
    const auto real = [&](const char* name, double minimum, double maximum) {
        return arguments.has(name) ? std::optional<double>(arguments.real(name, 0.0, minimum, maximum)) : std::nullopt;
    };
    const auto text = [&](const char* name) { return arguments.has(name) ? std::optional(arguments.text(name, "")) : std::nullopt; };
    // Option values the library checks are still mistakes in the command: exit code 2.
    const auto parsed = [&](const char* name, auto parse) -> std::optional<decltype(parse(std::string()))> {
        if (!arguments.has(name)) return std::nullopt;
        try {
            return parse(arguments.text(name, ""));
        } catch (const Error& error) {
            throw UsageError("option --" + std::string(name) + ": " + error.what());
        }
    };
    RunRequest request;
    request.model = arguments.has("model");
    request.epochs = integer("epochs", 1, 100000);
    request.eval_every = integer("eval-every", 1, 100000);
    request.batch_size = integer("batch", 1, 65536);
    request.optimizer = text("optimizer");
    request.learning_rate = real("lr", kLearningRateRange.low, kLearningRateRange.high);
    request.momentum = real("momentum", kMomentumRange.low, kMomentumRange.high);
    request.nesterov = arguments.has("nesterov");
    request.weight_decay = real("weight-decay", kWeightDecayRange.low, kWeightDecayRange.high);
    request.seed = integer("seed", 0, 1LL << 62);
    request.schedule = parsed("schedule", parse_schedule);
    request.checkpoint_every = integer("checkpoint-every", 0, std::int64_t{1} << 40);
    request.label_smoothing = real("label-smoothing", 0.0, 0.999);
    request.ema_decay = real("ema", 0.0, 0.999999);
    if (arguments.has("tta")) request.test_time_augmentation = test_time_augmentation_option(arguments);
    request.augmentation = parsed("augment", parse_augmentation);
    if (const std::optional<std::string> resize = text("resize")) {
        request.resize = resize_policy_from_name(*resize);
        if (!request.resize) throw UsageError("option --resize " + *resize + ": expected stretch or center-crop");
    }
    request.val_split = real("val-split", 0.0, 0.99);
    if (const std::optional<std::string> task = text("task")) {
        request.task = task_from_name(*task);
        if (!request.task) throw UsageError("option --task " + *task + ": expected classify, segment or detect");
    }
    if (const std::optional<std::string> on_nan = text("on-nan")) {
        if (*on_nan != "stop" && *on_nan != "skip") throw UsageError("option --on-nan " + *on_nan + ": expected stop or skip");
        request.non_finite_policy = *on_nan == "skip" ? NonFinitePolicy::skip : NonFinitePolicy::stop;
    }
    request.normalize = text("normalize");
    request.class_weights = text("class-weights");
    if (arguments.has("sync-bn") || arguments.has("no-sync-bn")) request.sync_batch_norm = arguments.has("sync-bn");
    for (auto [name, path] : {std::pair{"save", &request.save}, std::pair{"metrics", &request.metrics},
                              std::pair{"checkpoint", &request.checkpoint}, std::pair{"plot", &request.plot}})
        if (arguments.has(name)) *path = arguments.required(name);
    return request;
}

// The run's data: the training split, the split that judges the epochs (validation or test) and
// the test split.
struct RunData {
    std::string folder;  // --data
    Dataset train, test, val;
    ValidationSplit split;
    const Dataset& judged() const { return split.held_out ? val : test; }
};

// Reads --data for `network` as `config` says (the splits, checked against the network), with the
// warnings on what the training set cannot teach.
RunData read_run_data(const Arguments& arguments, const Network& network, const RunConfig& config) {
    RunData data;
    data.folder = arguments.required("data");
    DataOptions reading = data_options(arguments, network, config.resize);
    reading.images.split_seed = config.seed;  // a resumed run holds out what it held out before
    reading.task = config.task;
    const DatasetKind kind = dataset_kind(data.folder, reading.task);
    data.split = choose_validation_split(data.folder, kind, reading.images.val_split,
                                         arguments.has("val-split") ? std::optional(arguments.required("val-split")) : std::nullopt);
    data.train = load_data(data.folder, "train", reading);
    data.test = load_data(data.folder, "test", reading);
    if (data.split.held_out) data.val = load_data(data.folder, "val", reading);
    check_compatible(network, data.train, "training");
    check_training_classes(data.train, data.folder);
    const Task& task = task_for(data.train.task());
    if (task.model_classes(network) > data.train.num_classes() && data.train.num_classes() > 0)
        std::cerr << "warning: " << network.source() << " scores " << task.model_classes(network) << " classes but the data has "
                  << data.train.num_classes() << ": the extra scores are never a label (end the model in " << task.classes_setting()
                  << data.train.num_classes() << ")\n";
    if (data.train.has_masks())
        for (const std::string& warning : check_training_masks(data.train, data.folder)) std::cerr << "warning: " << warning << "\n";
    return data;
}

// The ranks agree on the run, their shares of the batch suffice, and the trainer averages over them.
void join_ranks(Communicator& world, Trainer& trainer, const Network& network, const RunData& data, const RunConfig& config,
                const Optimizer& optimizer) {
    check_same_run_on_every_rank(world, network, data.train, data.judged(), config, optimizer, trainer.position().steps_done);
    check_distributed_batch(config.batch_size, network, world.size());
    if (const std::string warning = last_batch_warning(config.batch_size, network, world.size(), data.train.count); !warning.empty())
        std::cerr << "warning: " << warning << "\n";
    trainer.set_communicator(&world, config.sync_batch_norm);
}

// The run's header: the model, the data, the optimiser and schedule, the batch, the threads, and
// how the ranks share the batch.
void print_header(const Network& network, const RunData& data, const RunConfig& config, const Optimizer& optimizer,
                  const std::string& threads, const Communicator* world) {
    std::cout << "model " << network.source() << ": " << network.trainable_count() << " parameters; data " << data.folder << ": "
              << data.train.count << " train, " << (data.split.held_out ? std::to_string(data.val.count) + " val, " : std::string())
              << data.test.count << " test images; " << optimizer.describe() << ", schedule " << config.schedule.describe()
              << (config.label_smoothing > 0.0 ? ", label smoothing " + short_number(config.label_smoothing) : std::string())
              << (config.test_time_augmentation == TestTimeAugmentation::flip ? ", test-time flip" : "")
              << (config.ema_decay > 0.0 ? ", weight average (EMA " + short_number(config.ema_decay, 6) + ")" : std::string()) << ", batch "
              << config.batch_size << ", " << config.epochs << (config.epochs == 1 ? " epoch, " : " epochs, ") << threads << std::endl;
    if (world == nullptr) return;
    const std::int64_t batch = config.batch_size;
    std::cout << "distributed: " << world->size() << (world->size() == 1 ? " rank" : " ranks") << ", each taking " << batch / world->size()
              << (batch % world->size() != 0 ? " or " + std::to_string(batch / world->size() + 1) : std::string())
              << " images of every batch; batch norm " << (config.sync_batch_norm ? "synchronised" : "per rank (--no-sync-bn)")
              << "; rank 0 prints and writes" << std::endl;
}

// What the run should know before it starts: a cosine schedule it outlasts, where a resumed run
// stands, a model ending in softmax, and what computes the layers.
void print_notes(const Network& network, const RunConfig& config, const Trainer& trainer, bool resumed) {
    const LearningRateSchedule& schedule = config.schedule;
    if (schedule.kind == LearningRateSchedule::Kind::cosine && config.epochs > schedule.t_max)
        std::cerr << "warning: --epochs " << config.epochs << " goes past the cosine schedule's " << schedule.t_max
                  << " epochs: from epoch " << schedule.t_max + 1 << " the learning rate is " << schedule.eta_min
                  << " and rises again (as torch's CosineAnnealingLR); start a run with a longer cosine:T to train longer\n";
    if (resumed)
        std::cout << "resuming after " << trainer.epochs_done() << (trainer.epochs_done() == 1 ? " epoch" : " epochs") << " and "
                  << trainer.position().images_done << " images of epoch " << trainer.epochs_done() + 1 << " (step "
                  << trainer.position().steps_done << ")" << std::endl;
    if (network.layer(network.layer_count() - 1).outputs_probabilities())
        std::cerr << "warning: " << network.source() << " ends in softmax, and the training loss applies its own softmax to the "
                  << "outputs; train without the last line and add it for prediction only\n";
    std::cout << "compute: " << compute_description(network) << std::endl;
}

// The augmentation and normalisation line, when either is on.
void print_preprocessing(const FitOptions& fit) {
    if (!fit.augmentation.enabled() && fit.metadata.preprocessing.mean.empty()) return;
    std::cout << "augmentation " << fit.augmentation.describe() << "; normalisation ";
    const Preprocessing& stored = fit.metadata.preprocessing;
    if (stored.mean.empty()) std::cout << "none";
    for (std::size_t c = 0; c < stored.mean.size(); ++c)
        std::cout << (c ? ", " : "") << "(x - " << stored.mean[c] << ") / " << stored.std[c];
    std::cout << std::endl;
}

// A trained run's end: its last evaluation, and with a validation split the test split's, once.
int print_final(Network& network, const RunData& data, const RunConfig& config, const FitOptions& fit, const FitResult& result,
                Communicator* world) {
    const auto print = [](const char* split, const Evaluation& evaluation) {
        for (const auto& [name, value] : evaluation.figures) std::printf("final %s %s: %.4f\n", split, figure_label(name), shown(value));
    };
    if (data.split.held_out) {
        const Evaluation tested =
            evaluate(network, data.test, config.batch_size, fit.metadata.preprocessing, world, fit.test_time_augmentation);
        print("val", result.last);
        print("test", tested);
    } else {
        print("test", result.last);
    }
    return 0;
}

// An interrupted run's end: the checkpoint (written here when the run has no --checkpoint), the
// command that resumes it, and the exit code a shell gives a command ended by the signal.
int report_interrupt(const Arguments& arguments, const std::string& program, const Trainer& trainer, const Network& network,
                     const RunData& data, const FitOptions& fit, const Communicator* world) {
    const std::filesystem::path written = fit.checkpoint.empty() ? interrupt_checkpoint_path(fit.save) : fit.checkpoint;
    if (fit.checkpoint.empty() && (world == nullptr || world->rank() == 0)) write_checkpoint(written, trainer.checkpoint(fit), network);
    const TrainingPosition& at = trainer.position();
    const std::string command = resume_command(program, written, data.folder, arguments.given(), world != nullptr ? world->size() : 0);
    std::printf("interrupted in epoch %d after %lld of %lld images (step %lld); checkpoint written to %s\nresume with: %s\n",
                at.epochs_done + 1, static_cast<long long>(at.images_done), static_cast<long long>(data.train.count),
                static_cast<long long>(at.steps_done), written.c_str(), command.c_str());
    // As a shell reports a command ended by the signal: 130 for SIGINT, 143 for SIGTERM. A
    // rank stopped by its peers' agreement, with no signal of its own, reports SIGUSR1's.
    const int number = interrupt_signal.load();
    return 128 + (number != 0 ? number : SIGUSR1);
}

// The epochs, each printed as it ends (and drawn by --plot), with a progress bar between.
FitResult fit_with_progress(Trainer& trainer, const RunData& data, const FitOptions& fit, const Arguments& arguments,
                            const std::optional<Checkpoint>& resumed, Communicator* world) {
    // --plot draws every epoch of the run, earlier ones included: the metrics lines so far (a
    // resumed run's from its checkpoint, else what --metrics already holds, as fit appends to it).
    std::string metrics_so_far;
    if (resumed) {
        metrics_so_far = resumed->metrics;
    } else if (arguments.has("metrics")) {
        std::ifstream existing(arguments.required("metrics"), std::ios::binary);
        metrics_so_far.assign(std::istreambuf_iterator<char>(existing), std::istreambuf_iterator<char>());
    }
    const char* judged_name = data.split.judged;
    ProgressBar bar;
    FitCallbacks callbacks;
    callbacks.batch_done = [&](const TrainProgress& progress) { bar.show(progress, fit.epochs); };
    callbacks.epoch_done = [&](const EpochResult& trained, const Evaluation* tested) {
        bar.finish();
        std::printf("epoch %d/%d  train loss %.4f  %s %.4f | ", trained.epoch, fit.epochs, shown(trained.train_loss),
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
    const FitResult result = trainer.fit(data.train, data.judged(), fit, callbacks);
    if (result.interrupted) bar.finish();
    return result;
}

// The run itself; `world` is null unless --distributed; `program` is how the command was started
// (argv[0]), for the command that resumes it. The settings and checks are the library's
// (run_config.h, preflight.h); this reads the options, prints and writes what the run reports.
int train(const Arguments& arguments, Communicator* world, const std::string& program) {
    const std::optional<Checkpoint> resumed = read_resumed(arguments);
    const std::string threads = choose_threads(arguments, resumed);
    const RunRequest request = run_request(arguments);
    const std::filesystem::path resumed_from = resumed ? arguments.required("resume") : std::string();
    const Checkpoint* checkpoint = resumed ? &*resumed : nullptr;
    const RunConfig config = resolve_run_config(request, checkpoint, resumed_from);
    const std::unique_ptr<Optimizer> optimizer = make_run_optimizer(config, resumed_from);
    // Where the results go is checked before any time is spent training.
    check_run_outputs(request, resumed.has_value());
    const ModelSpec spec =
        resumed ? parse_model(resumed->weights.model, resumed_from.string()) : read_model_file(arguments.required("model"));
    check_training_memory(plan_costs(spec), spec.source, config, world != nullptr ? world->size() : 1,
                          optimizer->state_values_per_parameter(), resumed.has_value(), this_machine_share(world != nullptr));
    Network network(spec);
    apply_backend(arguments, network);
    check_batch_size(config.batch_size, network);
    const RunData data = read_run_data(arguments, network, config);
    network.initialize(config.seed);
    Trainer trainer(network, *optimizer, config.batch_size, config.seed);
    trainer.set_non_finite_policy(config.non_finite_policy);
    if (resumed) trainer.restore(*resumed);
    if (world != nullptr) join_ranks(*world, trainer, network, data, config, *optimizer);
    // After the communicator: the smallest batch a step may take, and so the steps, depend on it.
    if (resumed && config.schedule.per_step() && config.epochs != resumed->epochs)
        warn_stretched_cycle(config.schedule, config.optimizer.learning_rate, trainer.steps_per_epoch(data.train.count),
                             trainer.position().steps_done, resumed->epochs, config.epochs);
    print_header(network, data, config, *optimizer, threads, world);
    check_epochs_to_train(config.epochs, trainer.epochs_done());
    print_notes(network, config, trainer, resumed.has_value());
    const FitOptions fit = fit_options(request, config, checkpoint, data.train, network, data.folder);
    print_preprocessing(fit);
    const FitResult result = fit_with_progress(trainer, data, fit, arguments, resumed, world);
    if (result.interrupted) return report_interrupt(arguments, program, trainer, network, data, fit, world);
    return print_final(network, data, config, fit, result, world);
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
    if (!arguments.has("distributed")) {
        for (const char* option : {"sync-bn", "no-sync-bn"})
            if (arguments.has(option)) throw UsageError(std::string("option --") + option + ": only with --distributed");
        check_mpirun_launch(false);
        return train(arguments, nullptr, program);
    }
    if (arguments.has("sync-bn") && arguments.has("no-sync-bn")) throw UsageError("options --sync-bn and --no-sync-bn: give one");
    const std::unique_ptr<Communicator> world = mpi_world();
    if (!started_by_mpirun() && world->size() == 1)
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
        world->abort(dynamic_cast<const MisconfigurationError*>(&error) != nullptr ? 2 : 1);
    }
    return 1;  // not reached: abort ends the process
}

}  // namespace convnet::cli
