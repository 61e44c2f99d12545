// Semantic segmentation: one class per pixel, 255 ignored.
#include "tasks.h"

#include <convnet/core/error.h>

#include <cmath>
#include <limits>

namespace convnet {

void SegmentTask::check_compatible(const Network& network, const Dataset& dataset, const std::string& what) const {
    check_not_detector(network, dataset, what, "a class per pixel");
    check_input_shape(network, dataset, what);
    const Shape& output = network.layer_plan(network.layer_count() - 1).output;
    if (output.rank() != 4 || output[2] != dataset.height || output[3] != dataset.width)
        throw Error(network.source() + ": the model gives " + output.to_string() + " but the " + what +
                    " data has a class per pixel: end the model in (N, classes, " + std::to_string(dataset.height) + ", " +
                    std::to_string(dataset.width) + "), a score per class at every pixel of the " + std::to_string(dataset.height) +
                    "x" + std::to_string(dataset.width) + " input (e.g. models/unet-m2nist.model; docs/SEGMENTATION.md)");
    if (dataset.num_classes() > output[1])
        throw Error(network.source() + ": the model scores " + std::to_string(output[1]) + " classes per pixel but the " + what +
                    " data has " + std::to_string(dataset.num_classes()) + " (classes.txt): end the model in conv2d out=" +
                    std::to_string(dataset.num_classes()));
}

void SegmentTask::append_targets(const Dataset& dataset, std::int64_t index, const AugmentationDraw* draw, int padding,
                                 Targets& targets) const {
    const std::uint8_t* mask = dataset.mask(index);
    const std::size_t size = static_cast<std::size_t>(dataset.mask_size()), at = targets.labels.size();
    targets.labels.resize(at + size);
    if (draw == nullptr) {
        std::copy(mask, mask + size, targets.labels.begin() + static_cast<std::ptrdiff_t>(at));
        return;
    }
    // The crop's padding has no class: left out of the loss, as a padded mask of 255.
    apply_draw(mask, targets.labels.data() + at, dataset.height, dataset.width, padding, *draw, kIgnoreIndex);
}

LossResult SegmentTask::loss(const Network&, const Tensor& logits, const Targets& targets, Tensor* grad_logits,
                             CrossEntropyOptions options) const {
    options.ignore_index = kIgnoreIndex;
    return softmax_cross_entropy(logits, targets.labels, grad_logits, options);
}

void SegmentTask::score(const Tensor& logits, const Targets& targets, std::int64_t, Evaluation& result) const {
    const Shape& shape = logits.shape();
    const std::int64_t size = shape[0], classes = shape[1], positions = shape[2] * shape[3];
    std::vector<float> scores(static_cast<std::size_t>(classes));
    for (std::int64_t n = 0; n < size; ++n) {
        const float* image = logits.data() + n * classes * positions;
        const std::uint8_t* labels = targets.labels.data() + n * positions;
        for (std::int64_t p = 0; p < positions; ++p) {
            const std::uint8_t label = labels[p];
            if (label == kIgnoreIndex) continue;
            for (std::int64_t k = 0; k < classes; ++k) scores[static_cast<std::size_t>(k)] = image[k * positions + p];
            const std::int64_t predicted = argmax(scores.data(), classes);
            ++result.counted;
            ++result.class_total[label];
            result.class_correct[label] += predicted == label;
            ++result.confusion[static_cast<std::size_t>(label * classes + predicted)];
        }
    }
}

void SegmentTask::finish(Evaluation& result) const {
    const std::int64_t classes = result.classes;
    std::int64_t correct = 0, present = 0;
    double iou_sum = 0.0;
    result.iou.assign(static_cast<std::size_t>(classes), std::numeric_limits<double>::quiet_NaN());
    for (std::int64_t c = 0; c < classes; ++c) {
        // TP / (TP + FP + FN): the diagonal over its row (truth) and column (prediction) sums.
        const std::int64_t true_positive = result.confusion_at(static_cast<int>(c), static_cast<int>(c));
        std::int64_t truth = 0, predicted = 0;
        for (std::int64_t k = 0; k < classes; ++k) {
            truth += result.confusion_at(static_cast<int>(c), static_cast<int>(k));
            predicted += result.confusion_at(static_cast<int>(k), static_cast<int>(c));
        }
        correct += true_positive;
        const std::int64_t union_size = truth + predicted - true_positive;
        if (union_size == 0) continue;  // absent from both: left out of the mean
        result.iou[static_cast<std::size_t>(c)] = double(true_positive) / double(union_size);
        iou_sum += result.iou[static_cast<std::size_t>(c)];
        ++present;
    }
    result.accuracy = result.counted > 0 ? double(correct) / double(result.counted) : 0.0;
    result.mean_iou = present > 0 ? iou_sum / double(present) : std::numeric_limits<double>::quiet_NaN();
    result.figures = {{"pixel_accuracy", result.accuracy}, {"miou", result.mean_iou}};
}

}  // namespace convnet
