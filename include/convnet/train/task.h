// The task seam (docs/DESIGN.md, "Tasks"): everything that depends on what a dataset's targets
// are — one class per image, one class per pixel, and next a list of boxes — lives behind Task,
// one implementation per task (src/train/task/), so that the trainer, evaluation, checkpoints and the
// CLI ask the task instead of testing which one it is.
#pragma once

#include <convnet/data/augmentation.h>
#include <convnet/data/data.h>
#include <convnet/train/evaluation.h>
#include <convnet/nn/loss.h>
#include <convnet/nn/network.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace convnet {

// A batch's targets, as load_batch gathers them and the loss and the metrics take them.
struct Targets {
    // classify: N labels; segment: N·H·W mask values (image by image, row by row; kIgnoreIndex = none).
    std::vector<std::uint8_t> labels;
    // detect: the objects of the batch's images, image after image (boxes in the image's unit,
    // moved as the image was); image n's are boxes[box_offsets[n], box_offsets[n + 1]).
    std::vector<ObjectBox> boxes;
    std::vector<std::int64_t> box_offsets;
    void clear() {
        labels.clear();
        boxes.clear();
        box_offsets.clear();
    }
};

class Task {
public:
    virtual ~Task() = default;
    virtual TaskKind kind() const = 0;
    // "classify", "segment" or "detect", as --task and the weights file's metadata name it.
    virtual std::string_view name() const = 0;
    // The training accuracy's name in the metrics file after "train_": "accuracy", "pixel_accuracy"
    // or "class_accuracy" (detection: the class right at the cells that hold an object).
    virtual std::string_view accuracy_name() const = 0;

    // Throws convnet::Error, naming the model and `what` data ("training", "evaluation"), when the
    // network's input does not take the dataset's images or its output cannot score its targets:
    // classify wants (N, classes), segment (N, classes, H, W) at the image's height and width,
    // detect a model ending in a detect head (layers/detect.h) whose grid tiles the image.
    virtual void check_compatible(const Network& network, const Dataset& dataset, const std::string& what) const = 0;

    // Appends image `index`'s targets to `targets`, moved as its image was moved: `draw` (null
    // when not augmented) with the augmentation's crop `padding`; pixels a crop brings in from the
    // padding are kIgnoreIndex; boxes are clipped to the image and dropped when less than
    // kMinimumVisibleFraction of them is left.
    virtual void append_targets(const Dataset& dataset, std::int64_t index, const AugmentationDraw* draw, int padding,
                                Targets& targets) const = 0;

    // The loss of `network`'s output `logits` against `targets`, and its gradient when
    // `grad_logits` is not null: softmax_cross_entropy with `options` (the task's ignore_index
    // set) for classify and segment; detect's detection_loss with its head's gains, ignoring `options`.
    virtual LossResult loss(const Network& network, const Tensor& logits, const Targets& targets, Tensor* grad_logits,
                            CrossEntropyOptions options) const = 0;

    // How many classes `network` scores (its outputs' channels or features; a detect head's
    // classes=), and the model-file words that set it: "linear out=", "conv2d out=", "detect classes=".
    virtual std::int64_t model_classes(const Network& network) const = 0;
    virtual std::string_view classes_setting() const = 0;
    // The fewest classes a training set of this task needs: 2 where the loss is a softmax over the
    // classes (over one class it is 1 whatever the input, the loss exactly 0: nothing is learned);
    // 1 for detection, whose objectness and boxes learn with a single class.
    virtual std::int64_t minimum_classes() const { return 2; }

    // Evaluation in three steps: start (counts sized for `classes` outputs), score every batch
    // (`first` is the batch's first image in the dataset), then finish once the counts are
    // complete (after they were summed over ranks): accuracy, IoU and the named figures.
    virtual void start(Evaluation& evaluation, std::int64_t classes) const;
    virtual void score(const Tensor& logits, const Targets& targets, std::int64_t first, Evaluation& evaluation) const = 0;
    virtual void finish(Evaluation& evaluation) const = 0;
    // Whether evaluation may split the images over ranks and sum what score() counted (false for
    // detection, whose average precision needs every detection: each rank then scores them all).
    virtual bool sums_over_ranks() const { return true; }
    // Whether averaging the output with that of the mirrored image (test-time flip) means anything:
    // not for detection, whose cells hold offsets and not only scores.
    virtual bool averages_mirrored_outputs() const { return true; }
};

// The task of each kind (stateless; they live as long as the program).
const Task& task_for(TaskKind kind);

// "classify", "segment" or "detect"; nullopt for any other name.
std::optional<TaskKind> task_from_name(std::string_view name);
std::string_view task_name(TaskKind kind);

// What `network`'s output gives, read from the network alone (what explain shows follows it):
// detect when its last layer is a detect head (layers/detect.h), classify when it ends in
// (N, classes), segment when in (N, classes, H, W) otherwise; nullopt for any other output.
std::optional<TaskKind> network_task(const Network& network);

}  // namespace convnet
