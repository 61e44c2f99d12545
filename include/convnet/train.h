// The training loop and evaluation over an image dataset: shuffled mini-batches converted from
// bytes per batch, progress reports for the caller to show, and per-class accuracy.
#pragma once

#include <convnet/data.h>
#include <convnet/model.h>
#include <convnet/optim.h>

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace convnet {

// Converts images[indices] to floats in [0, 1] shaped (B, 1, rows, cols) and gathers their labels.
void load_batch(const Dataset& dataset, std::span<const std::int64_t> indices, Tensor& images, std::vector<std::uint8_t>& labels);

// Throws when the dataset's images do not fit the network's input or its labels its outputs.
void check_compatible(const Network& network, const Dataset& dataset, const std::string& what);

struct Evaluation {
    double loss = 0.0;
    double accuracy = 0.0;
    std::vector<std::int64_t> class_correct, class_total;  // per label
};

// Evaluation mode over the whole dataset in order.
Evaluation evaluate(const Network& network, const Dataset& dataset, std::int64_t batch_size);

struct TrainProgress {
    int epoch = 0;                  // 1-based
    std::int64_t images_done = 0;   // this epoch
    std::int64_t images_total = 0;  // this epoch
    double running_loss = 0.0;      // mean over this epoch so far
    double seconds = 0.0;           // this epoch so far
};

struct EpochResult {
    int epoch = 0;
    double train_loss = 0.0, train_accuracy = 0.0;  // over the epoch's batches, in training mode
    double seconds = 0.0, images_per_second = 0.0;
};

// One epoch as a JSON object on one line (no newline), the `--metrics` record: epoch, train_loss,
// train_accuracy, test_loss, test_accuracy, epoch_seconds, images_per_second. A value that is
// not finite (a NaN loss) is written as null, so that every JSON reader accepts the line.
std::string epoch_metrics_json(const EpochResult& epoch, const Evaluation& test);

class Trainer {
public:
    // The same seed, batch size and thread count give bit-identical weights. Throws when
    // batch_size is under network.minimum_training_batch() or over 65536.
    Trainer(Network& network, Optimizer& optimizer, std::int64_t batch_size, std::uint64_t seed);

    // One pass over `dataset` in a fresh random order. Every image is used: the last partial batch
    // too, and where it would be smaller than network.minimum_training_batch() it joins the batch
    // before. Throws convnet::Error when the dataset has fewer images than that minimum (or none).
    // `progress` is called after every batch (it may be empty).
    EpochResult train_epoch(const Dataset& dataset, const std::function<void(const TrainProgress&)>& progress);

private:
    Network& network_;
    Optimizer& optimizer_;
    std::int64_t batch_size_;
    Random shuffle_random_;
    int epoch_ = 0;
    Tensor images_, grad_logits_;
    std::vector<std::uint8_t> labels_;
};

}  // namespace convnet
