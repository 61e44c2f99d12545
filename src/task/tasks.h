// The implementations of Task (task.h), one a file. Internal to the library.
#pragma once

#include <convnet/task.h>

namespace convnet {

// One class per image: labels (N), logits (N, classes); accuracy, per-class counts, the confusion
// matrix and the surest mistakes.
class ClassifyTask final : public Task {
public:
    TaskKind kind() const override { return TaskKind::classify; }
    std::string_view name() const override { return "classify"; }
    std::string_view accuracy_name() const override { return "accuracy"; }
    void check_compatible(const Network& network, const Dataset& dataset, const std::string& what) const override;
    void append_targets(const Dataset& dataset, std::int64_t index, const AugmentationDraw* draw, int padding,
                        Targets& targets) const override;
    LossResult loss(const Tensor& logits, const Targets& targets, Tensor* grad_logits, CrossEntropyOptions options) const override;
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
    void check_compatible(const Network& network, const Dataset& dataset, const std::string& what) const override;
    void append_targets(const Dataset& dataset, std::int64_t index, const AugmentationDraw* draw, int padding,
                        Targets& targets) const override;
    LossResult loss(const Tensor& logits, const Targets& targets, Tensor* grad_logits, CrossEntropyOptions options) const override;
    void score(const Tensor& logits, const Targets& targets, std::int64_t first, Evaluation& evaluation) const override;
    void finish(Evaluation& evaluation) const override;
};

// Throws unless the network takes the dataset's images (channels, height, width).
void check_input_shape(const Network& network, const Dataset& dataset, const std::string& what);

}  // namespace convnet
