// The training loop and evaluation over an image dataset: shuffled mini-batches converted from
// bytes per batch, progress reports for the caller to show, and per-class accuracy.
#pragma once

#include <convnet/data/augmentation.h>
#include <convnet/train/checkpoint.h>
#include <convnet/data/data.h>
#include <convnet/core/distributed.h>
#include <convnet/core/error.h>
#include <convnet/train/evaluation.h>
#include <convnet/io/weights.h>
#include <convnet/nn/loss.h>
#include <convnet/nn/network.h>
#include <convnet/train/optim.h>
#include <convnet/train/task.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace convnet {

// How load_batch turns bytes into network input.
struct BatchTransform {
    Preprocessing preprocessing;  // mean and std per channel (image.h); its resize applies to files, not here
    Augmentation augmentation;    // none unless set
    std::uint64_t seed = 0;       // with the epoch (1-based), the augmentation's draws
    int epoch = 0;
};

// Converts images[indices] to floats shaped (B, channels, height, width) — value / 255, then
// (x − mean) / std per channel when the preprocessing has them, after the augmentation — and
// gathers their labels. Throws convnet::Error when the preprocessing's mean or std counts are
// neither 1 nor the channel count.
// The targets come from the dataset's task (task.h), moved with the same draws: a label per image,
// or a mask per image (N·H·W values, the crop's padding kIgnoreIndex).
void load_batch(const Dataset& dataset, std::span<const std::int64_t> indices, Tensor& images, Targets& targets,
                const BatchTransform& transform = {});
// The same with the targets' labels alone.
void load_batch(const Dataset& dataset, std::span<const std::int64_t> indices, Tensor& images, std::vector<std::uint8_t>& labels,
                const BatchTransform& transform = {});

// The mean and standard deviation of each channel over every pixel of `dataset`, after scaling to
// [0, 1] (the population deviation, as computed for torchvision's Normalize); `train
// --normalize auto`. Throws convnet::Error for an empty dataset or a channel without variance.
Preprocessing channel_statistics(const Dataset& dataset);

// Class weights that balance the training targets, as sklearn's compute_class_weight("balanced"):
// w_c = n / (classes · n_c) over the n labels (segmentation: labelled pixels), 1 for a class with
// none; `train --class-weights auto`.
std::vector<float> balanced_class_weights(const Dataset& dataset, std::int64_t classes);

// Throws when the dataset's images do not fit the network's input or its targets its outputs
// (the dataset's task's Task::check_compatible).
void check_compatible(const Network& network, const Dataset& dataset, const std::string& what);

// Evaluation mode over the whole dataset in order, its images prepared with `preprocessing`'s
// mean and std (as training prepared them). The confusion matrix and the kept mistakes cost a
// softmax of the wrong predictions alone, and memory bounded by their pairs.
// With a communicator, each rank evaluates its shard (shard_of) and the counts, the loss and the
// confusion matrix are summed over the ranks, so every rank gets the whole set's figures; the
// mistakes are then this rank's shard's alone.
// With TestTimeAugmentation::flip (augmentation.h) each image is evaluated as itself and
// mirrored left to right, and the two logits averaged: twice the compute.
Evaluation evaluate(const Network& network, const Dataset& dataset, std::int64_t batch_size, const Preprocessing& preprocessing = {},
                    Communicator* communicator = nullptr, TestTimeAugmentation augmentation = TestTimeAugmentation::none);

struct TrainProgress {
    int epoch = 0;                  // 1-based
    std::int64_t images_done = 0;   // this epoch
    std::int64_t images_total = 0;  // this epoch
    double running_loss = 0.0;      // mean over this epoch so far
    double seconds = 0.0;           // this epoch so far
};

struct EpochResult {
    int epoch = 0;
    TaskKind task = TaskKind::classify;             // names the accuracy: train_accuracy or train_pixel_accuracy
    bool finished = true;                           // false: stopped between steps (FitCallbacks::stop_requested), the rest below so far
    double train_loss = 0.0, train_accuracy = 0.0;  // over the epoch's batches, in training mode (pixels for segmentation)
    double seconds = 0.0, images_per_second = 0.0;
    std::int64_t skipped_steps = 0;      // batches whose loss or gradients were not finite, left out (NonFinitePolicy::skip)
    double communication_seconds = 0.0;  // this rank's time in collectives (Trainer::set_communicator), waits included
};

// What training does when a batch's loss or gradients hold NaN or infinity. Every step checks the
// loss, then every gradient before the optimiser's step, then every weight and buffer after it
// (a few microseconds a step: docs/RELIABILITY.md). Weights made non-finite by a step (the
// learning rate times a finite gradient overflowing) cannot be skipped: that throws under both.
enum class NonFinitePolicy {
    stop,  // throw TrainingDiverged before the step, so the weights (and checkpoints) stay the last good ones
    skip,  // leave the batch out (no optimiser step) and go on; EpochResult counts them. An epoch
           // whose every batch is left out throws TrainingDiverged, naming the first.
};

// Thrown by Trainer::train_epoch (see NonFinitePolicy). what(): the step, epoch and images, what
// went bad (the loss, the gradients or the step), where it went bad first (the weights that are
// not finite, the first layer whose output is not, or the first parameter whose gradient is not,
// in backward's order), and the likely cause ("learning rate 1000 is far above the usual 0.001
// for adam").
class TrainingDiverged : public Error {
public:
    using Error::Error;
};

// One epoch as a JSON object on one line (no newline), the `--metrics` record: epoch, train_loss,
// train_accuracy, test_loss, test_accuracy (segmentation: train_pixel_accuracy, test_loss,
// test_pixel_accuracy, test_miou: the task's names and Evaluation::figures), epoch_seconds, images_per_second (and, distributed,
// communication_seconds: this rank's time in collectives). `test` is null for an epoch that was
// not evaluated (FitOptions::eval_every): test_loss and test_accuracy are then left out. A value
// that is not finite (a NaN loss) is written as null, so that every JSON reader accepts the line.
std::string epoch_metrics_json(const EpochResult& epoch, const Evaluation* test);

// What Trainer::fit does around the epochs.
struct FitOptions {
    int epochs = 5;                     // the run's total: fit trains from epochs_done() up to it
    double learning_rate = 0.0;         // the base rate `schedule` scales each epoch; 0: the optimiser's
                                        // own rate when the Trainer was made
    LearningRateSchedule schedule;      // constant unless set (StepLR, CosineAnnealingLR)
    std::int64_t evaluation_batch = 0;  // 0: the training batch size (no larger buffers than training needs)
    int eval_every = 1;                 // evaluate after every this many epochs (counted from the run's
                                        // first) and after the last, as Lightning's check_val_every_n_epoch
                                        // except that the last is always evaluated; at least 1
    std::filesystem::path save;         // when set: the weights after every epoch, written atomically
    std::filesystem::path metrics;      // when set: one epoch_metrics_json line per epoch, appended (the
                                        // file rewritten atomically each time, so a crash loses no line)
    std::filesystem::path checkpoint;   // when set: a checkpoint (checkpoint.h) at every epoch's end,
    std::int64_t checkpoint_every = 0;  // every this many steps too (0: epoch ends only), and on a stop
    WeightsMetadata metadata;           // class names and preprocessing (mean, std: applied to every batch),
                                        // kept with the weights and checkpoints
    Augmentation augmentation;          // of the training batches; none by default
    double label_smoothing = 0.0;       // of the loss, in [0, 1) (softmax_cross_entropy; kept by checkpoints)
    std::vector<float> class_weights;   // of the loss, one per class, empty: all 1 (kept by checkpoints)
    TestTimeAugmentation test_time_augmentation = TestTimeAugmentation::none;  // of every evaluation (kept by checkpoints)
    // Weight averaging: 0 (off), or the decay d of an exponential moving average of every
    // parameter and buffer, updated after each step (average = d·average + (1 − d)·value, the
    // first step's values taken as they are), as torch.optim.swa_utils.AveragedModel with
    // get_ema_multi_avg_fn(d) and use_buffers=True. Evaluation and --save use the average; a
    // checkpoint keeps both; when fit ends the network holds the average.
    double ema_decay = 0.0;
};

// Optional calls out of Trainer::fit: after every batch, and after every epoch (with its
// evaluation, or null where FitOptions::eval_every left the epoch unevaluated).
struct FitCallbacks {
    std::function<void(const TrainProgress&)> batch_done;
    std::function<void(const EpochResult&, const Evaluation*)> epoch_done;
    // Asked after every step; true stops the run there, after writing the checkpoint when one is set.
    std::function<bool()> stop_requested;
};

struct FitResult {
    Evaluation last;           // the last epoch's evaluation (empty when no epoch ended)
    bool interrupted = false;  // stopped by stop_requested before the last epoch ended
};

class Trainer {
public:
    // The same seed, batch size and thread count give bit-identical weights. Throws when
    // batch_size is under network.minimum_training_batch() or over 65536.
    Trainer(Network& network, Optimizer& optimizer, std::int64_t batch_size, std::uint64_t seed);

    // One pass over `dataset` in an order that depends only on the seed and the epoch number (the
    // n-th epoch of the run is epoch n), so a run can be resumed at any step. Every image is used:
    // the last partial batch too, and where it would be smaller than network.minimum_training_batch()
    // it joins the batch before. An epoch stopped part-way (`keep_going` returned false after a
    // step) continues at the next call. Throws convnet::Error when the dataset has fewer images
    // than that minimum (or none). `progress` is called after every batch (it may be empty).
    EpochResult train_epoch(const Dataset& dataset, const std::function<void(const TrainProgress&)>& progress,
                            const std::function<bool()>& keep_going = {});

    // The whole run: for each epoch up to options.epochs, the learning rate from the schedule,
    // train_epoch on `train`, evaluation on `test` (every options.eval_every epochs and after the
    // last), then the metrics line, the weights and the checkpoint when asked. Throws
    // convnet::Error for an eval_every under 1, and as train_epoch, evaluate and the writers do.
    FitResult fit(const Dataset& train, const Dataset& test, const FitOptions& options, const FitCallbacks& callbacks = {});

    // The mean/std and augmentation of the training batches train_epoch draws (none unless set;
    // fit sets them from its options).
    void set_non_finite_policy(NonFinitePolicy policy) { non_finite_policy_ = policy; }

    // Data-parallel training over the ranks of `communicator`, as DistributedDataParallel: every
    // rank runs the same Trainer (same seed, batch size and data) and takes its shard of each
    // global batch of batch_size images; one all-reduce of the gradient arena per step gives every
    // rank the gradient of the global batch's mean loss. With `sync_batch_norm`, batch norm's
    // statistics are the global batch's too (Network::synchronise_batch_norm), so N ranks compute
    // what one process does, up to the order of the sums; without it, each rank normalises by
    // its shard's statistics and the running statistics are averaged after every step (one
    // all-reduce more). Rank 0 alone writes fit's files. Each
    // shard must hold network.minimum_training_batch() images: throws convnet::Error when
    // batch_size is under that times the ranks. Dropout draws from generators forked by rank.
    // Call before training; null goes back to one process.
    void set_communicator(Communicator* communicator, bool sync_batch_norm = true);

    // The loss's label smoothing ε (softmax_cross_entropy), 0 unless set; fit sets it from its
    // options. Throws convnet::Error outside [0, 1).
    void set_label_smoothing(double label_smoothing);

    // The loss's weight per class (as CrossEntropyLoss(weight=…)); empty (every class 1) unless
    // set; fit sets them from its options. Throws convnet::Error for a negative or non-finite one.
    void set_class_weights(const std::vector<float>& weights);

    void set_batch_transform(const Preprocessing& preprocessing, const Augmentation& augmentation) {
        transform_.preprocessing = preprocessing;
        transform_.augmentation = augmentation;
    }

    // Epochs trained so far; resume_at(n) makes the next epoch n + 1 (its data order and learning
    // rate), for a run continued from weights and optimiser state saved after epoch n.
    int epochs_done() const { return position_.epochs_done; }
    void resume_at(int epochs_done) { position_ = TrainingPosition{epochs_done}; }
    const TrainingPosition& position() const { return position_; }

    // Everything needed to continue this run: the network's state, the optimiser's, the position,
    // the random generators, the metrics so far, and the run's settings from `options`.
    Checkpoint checkpoint(const FitOptions& options) const;
    // Continues the run `checkpoint` was written from: loads the network's state (strictly) and
    // generators, the optimiser's state, the position and the metrics. Throws convnet::Error when
    // the checkpoint was written for another model, optimiser, batch size or seed than this Trainer's.
    void restore(const Checkpoint& checkpoint);

    // Optimiser steps in an epoch over `count` images, as train_epoch takes them: ⌈count/batch⌉,
    // less one where a last batch under the network's smallest joins the one before it.
    std::int64_t steps_per_epoch(std::int64_t count) const;

private:
    Network& network_;
    Optimizer& optimizer_;
    std::int64_t batch_size_;
    std::uint64_t seed_;
    double base_learning_rate_;  // the optimiser's rate when this Trainer was made
    TrainingPosition position_;
    NonFinitePolicy non_finite_policy_ = NonFinitePolicy::stop;
    Communicator* communicator_ = nullptr;
    bool synchronised_batch_norm_ = true;
    // Without synchronised batch norm: each rank's running statistics differ, so after every
    // step they are averaged over the ranks, and every rank evaluates the same model.
    void average_buffers();
    CrossEntropyOptions loss_options_;  // label smoothing and class weights (the task sets ignore_index)
    double ema_decay_ = 0.0;
    // The moving average of all_values() (FitOptions::ema_decay); empty before the first step.
    std::vector<float> average_;
    void update_average(double decay);
    void swap_average();  // exchanges the network's values with average_
    // A per-step schedule (one_cycle), set by fit: train_epoch sets the rate before every step.
    struct StepSchedule {
        LearningRateSchedule schedule;
        double base_rate = 0.0;
        std::int64_t total_steps = 0, steps_per_epoch = 0;
    };
    std::optional<StepSchedule> step_schedule_;
    // The fewest images a (global) batch may hold: the network's minimum on every rank.
    std::int64_t smallest_batch() const;
    // The size of the batch starting at image `first` of `count`: batch_size_, less at the end,
    // more where the rest would be under smallest_batch() (it joins this one).
    std::int64_t batch_at(std::int64_t first, std::int64_t count) const;
    std::int64_t skipped_steps_ = 0, skipped_images_ = 0;  // this epoch, under NonFinitePolicy::skip
    std::string first_skipped_;                            // why this epoch's first skipped batch was left out
    // The message of TrainingDiverged for the batch in images_: `what` went bad, `where` (one of
    // the reports below), and the likely cause.
    std::string divergence_report(const std::string& what, const std::string& where, int epoch) const;
    std::string weights_report() const;   // the first parameter or buffer that is not finite; empty if none
    std::string output_report() const;    // weights_report, else the first layer whose output is not finite
    std::string gradient_report() const;  // the first parameter whose gradient went bad in backward
    // Distributed: the global batch's mean loss and correct count from this rank's shard's, and
    // grad_logits_ scaled to this rank's part of the global mean's gradient.
    LossResult global_loss(const LossResult& local);
    BatchTransform transform_;  // set by fit from its options; train_epoch alone: plain value / 255
    std::string metrics_;       // the metrics lines so far, when restored from a checkpoint
    bool metrics_restored_ = false;
    std::uint64_t data_fingerprint_ = 0;  // of the training set: set by fit, kept by checkpoints
    Tensor images_, grad_logits_;
    Targets targets_;
};

}  // namespace convnet
