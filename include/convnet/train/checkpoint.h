// Checkpoints: everything a training run needs to continue exactly where it stopped, in one
// safetensors file (docs/CHECKPOINTS.md). A run resumed from one ends with the bytes an unbroken
// run with the same seed and thread count ends with.
#pragma once

#include <convnet/data/augmentation.h>
#include <convnet/io/weights.h>
#include <convnet/nn/network.h>
#include <convnet/train/optim.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace convnet {

// Where a run stands: between two optimiser steps.
struct TrainingPosition {
    int epochs_done = 0;           // complete epochs
    std::int64_t images_done = 0;  // of epoch epochs_done + 1; 0 at an epoch's start
    std::int64_t steps_done = 0;   // optimiser steps in the whole run
    double loss_sum = 0.0;         // sum of the batches' mean loss × batch size, this epoch (its train_loss)
    std::int64_t correct = 0;      // training predictions right this epoch (its train_accuracy)
    double seconds = 0.0;          // spent on the epoch under way
    std::int64_t counted = 0;      // targets counted this epoch: images, or labelled pixels (train_accuracy's denominator)
};

struct Checkpoint {
    WeightsMetadata weights;               // the model's text, the class names, the preprocessing
    std::vector<StateTensor> model_state;  // the network's state_dict
    OptimizerOptions optimizer;            // learning_rate: the run's base rate, before the schedule
    OptimizerState optimizer_state;        // buffers in the network's trainable order
    LearningRateSchedule schedule;
    std::int64_t batch_size = 0;
    std::uint64_t seed = 0;
    int epochs = 0;                      // the run's planned number of epochs
    std::int64_t checkpoint_every = 0;   // the run's steps between checkpoints (0: epoch ends only)
    Augmentation augmentation;           // of the run's training batches
    std::uint64_t data_fingerprint = 0;  // dataset_fingerprint of the training set (0: not recorded)
    int threads = 0;                     // the thread count it ran with (the same count repeats its bits)
    int ranks = 1;                       // the processes it ran on (Trainer::set_communicator); 1: one process
    bool sync_batch_norm = true;         // with ranks > 1: whether batch norm was synchronised
    double label_smoothing = 0.0;        // of the run's loss (FitOptions::label_smoothing)
    std::vector<float> class_weights;    // of the run's loss (FitOptions::class_weights); empty: none
    TestTimeAugmentation test_time_augmentation = TestTimeAugmentation::none;  // of the run's evaluations
    double ema_decay = 0.0;                                                    // FitOptions::ema_decay; 0: no averaging
    std::vector<float> ema_values;  // the moving average of every value (empty: none yet), entry "ema.values"
    TrainingPosition position;
    std::vector<std::pair<std::string, std::uint64_t>> generators;  // Network::random_generators' states
    std::string metrics;                                            // the --metrics lines written so far (JSON lines)
};

// Writes `checkpoint` atomically as safetensors: the state dict under its names, the
// optimiser's buffers split per trainable parameter of `network` as torch's
// optimizer.state_dict() numbers them ("optimizer.state.I.exp_avg", I from 0 in
// model.parameters() order), and __metadata__ with the weights file's keys plus "checkpoint".
// Throws convnet::Error when a buffer's length is not the network's trainable count, or as
// write_file_atomically does.
void write_checkpoint(const std::filesystem::path& path, const Checkpoint& checkpoint, const Network& network);

// Reads a checkpoint, checking every field. Throws convnet::Error naming the file and the field:
// not safetensors, not a checkpoint (a weights file: "train --model ... --weights" is not a resume),
// a missing or malformed field, optimiser buffers with gaps in their numbering.
Checkpoint read_checkpoint(const std::filesystem::path& path);

}  // namespace convnet
