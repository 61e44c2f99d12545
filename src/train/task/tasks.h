// The implementations of Task (task.h), one a file. Internal to the library.
#pragma once

#include <convnet/train/task.h>

namespace convnet {

// One class per image: labels (N), logits (N, classes); accuracy, per-class counts, the confusion
// matrix and the surest mistakes.
class ClassifyTask final : public Task {
public:
    TaskKind kind() const override { return TaskKind::classify; }
    std::string_view name() const override { return "classify"; }
    std::string_view accuracy_name() const override { return "accuracy"; }
    std::int64_t model_classes(const Network& network) const override { return network.output_features(); }
    std::string_view classes_setting() const override { return "linear out="; }
    void check_compatible(const Network& network, const Dataset& dataset, const std::string& what) const override;
    void append_targets(const Dataset& dataset, std::int64_t index, const AugmentationDraw* draw, int padding,
                        Targets& targets) const override;
    LossResult loss(const Network& network, const Tensor& logits, const Targets& targets, Tensor* grad_logits,
                    CrossEntropyOptions options) const override;
    void score(const Tensor& logits, const Targets& targets, std::int64_t first, Evaluation& evaluation) const override;
    void finish(Evaluation& evaluation) const override;
};

// One class per pixel: masks (N, H, W) with 255 ignored, logits (N, classes, H, W); pixel
// accuracy, the pixel confusion matrix, per-class IoU and their mean.
class SegmentTask final : public Task {
public:
    TaskKind kind() const override { return TaskKind::segment; }
    std::string_view name() const override { return "segment"; }
    std::string_view accuracy_name() const override { return "pixel_accuracy"; }
    std::int64_t model_classes(const Network& network) const override { return network.output_features(); }
    std::string_view classes_setting() const override { return "conv2d out="; }
    void check_compatible(const Network& network, const Dataset& dataset, const std::string& what) const override;
    void append_targets(const Dataset& dataset, std::int64_t index, const AugmentationDraw* draw, int padding,
                        Targets& targets) const override;
    LossResult loss(const Network& network, const Tensor& logits, const Targets& targets, Tensor* grad_logits,
                    CrossEntropyOptions options) const override;
    void score(const Tensor& logits, const Targets& targets, std::int64_t first, Evaluation& evaluation) const override;
    void finish(Evaluation& evaluation) const override;
};

// A list of boxes per image: objects (boxes in the image's unit), a detect head's output
// (N, 5 + classes, GH, GW); detection_loss, decode_detections and COCO-style average precision.
class DetectTask final : public Task {
public:
    TaskKind kind() const override { return TaskKind::detect; }
    std::string_view name() const override { return "detect"; }
    std::string_view accuracy_name() const override { return "class_accuracy"; }
    std::int64_t model_classes(const Network& network) const override;
    std::string_view classes_setting() const override { return "detect classes="; }
    std::int64_t minimum_classes() const override { return 1; }
    void check_compatible(const Network& network, const Dataset& dataset, const std::string& what) const override;
    void append_targets(const Dataset& dataset, std::int64_t index, const AugmentationDraw* draw, int padding,
                        Targets& targets) const override;
    LossResult loss(const Network& network, const Tensor& logits, const Targets& targets, Tensor* grad_logits,
                    CrossEntropyOptions options) const override;
    void score(const Tensor& logits, const Targets& targets, std::int64_t first, Evaluation& evaluation) const override;
    void finish(Evaluation& evaluation) const override;
    bool sums_over_ranks() const override { return false; }
    bool averages_mirrored_outputs() const override { return false; }
};

// Throws when `network` is a detector (ends in a detect head) but the data has `targets`, not boxes.
void check_not_detector(const Network& network, const Dataset& dataset, const std::string& what, const std::string& targets);

// Throws unless the network takes the dataset's images (channels, height, width).
void check_input_shape(const Network& network, const Dataset& dataset, const std::string& what);

}  // namespace convnet
