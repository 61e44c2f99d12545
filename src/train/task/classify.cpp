// Classification: one label per image.
#include "tasks.h"

#include <convnet/core/error.h>

#include <algorithm>
#include <cmath>
#include <map>

namespace convnet {

void check_input_shape(const Network& network, const Dataset& dataset, const std::string& what) {
    const Shape image{dataset.channels, dataset.height, dataset.width};
    if (network.sample_shape() != image)
        throw Error(network.source() + ": the model's input is " + network.sample_shape().to_string() + " but the " + what +
                    " images are " + image.to_string());
}

void check_not_detector(const Network& network, const Dataset&, const std::string& what, const std::string& targets) {
    if (network_task(network) == TaskKind::detect)
        throw Error(network.source() + ": the model is a detector (it ends in a detect head) but the " + what + " data has " + targets +
                    ": give it a detection folder, images with YOLO label files (docs/DETECTION.md)");
}

void ClassifyTask::check_compatible(const Network& network, const Dataset& dataset, const std::string& what) const {
    check_not_detector(network, dataset, what, "one label per image");
    const Shape& output = network.layer_plan(network.layer_count() - 1).output;
    if (output.rank() != 2)
        throw Error(network.source() + ": the model gives scores per pixel " + output.to_string() + " but the " + what +
                    " data has one label per image: end the model in (N, classes) with globalavgpool2d, flatten and linear "
                    "(or give segmentation data: DIR/train/images and DIR/train/masks, docs/SEGMENTATION.md)");
    check_input_shape(network, dataset, what);
    if (dataset.num_classes() > network.output_features())
        throw Error(network.source() + ": the model has " + std::to_string(network.output_features()) + " outputs but the " + what +
                    " data has " + std::to_string(dataset.num_classes()) + " classes");
}

void ClassifyTask::append_targets(const Dataset& dataset, std::int64_t index, const AugmentationDraw*, int, Targets& targets) const {
    targets.labels.push_back(dataset.labels[static_cast<std::size_t>(index)]);  // a label does not move with its image
}

LossResult ClassifyTask::loss(const Network&, const Tensor& logits, const Targets& targets, Tensor* grad_logits,
                              CrossEntropyOptions options) const {
    options.ignore_index = -1;  // every image has a class
    return softmax_cross_entropy(logits, targets.labels, grad_logits, options);
}

void ClassifyTask::score(const Tensor& logits, const Targets& targets, std::int64_t first, Evaluation& result) const {
    // "a before b": surer of the wrong class, or as sure and earlier in the dataset.
    const auto less_sure = [](const Mistake& a, const Mistake& b) {
        return a.probability > b.probability || (a.probability == b.probability && a.index < b.index);
    };
    const std::int64_t classes = logits.shape()[1], size = logits.shape()[0];
    for (std::int64_t n = 0; n < size; ++n) {
        const float* row = logits.data() + n * classes;
        const std::int64_t predicted = argmax(row, classes);
        const std::uint8_t label = targets.labels[static_cast<std::size_t>(n)];
        ++result.counted;
        ++result.class_total[label];
        result.class_correct[label] += predicted == label;
        ++result.confusion[static_cast<std::size_t>(label * classes + predicted)];
        if (predicted == label) continue;
        // softmax(row)[predicted] = 1 / Σ exp(row[c] − row[predicted]), the largest being row[predicted]
        double sum = 0.0;
        for (std::int64_t c = 0; c < classes; ++c) sum += std::exp(double(row[c]) - double(row[predicted]));
        const Mistake mistake{first + n, label, static_cast<int>(predicted), 1.0 / sum};
        // Each pair's kept mistakes are a heap (least sure first) of at most kMistakesPerPair, in
        // `mistakes` one pair after another, sorted by pair; finish() orders each.
        const auto pair_of = [](const Mistake& m) { return std::pair(m.true_label, m.predicted); };
        const auto begin = std::lower_bound(result.mistakes.begin(), result.mistakes.end(), pair_of(mistake),
                                            [&](const Mistake& m, const std::pair<int, int>& key) { return pair_of(m) < key; });
        auto end = begin;
        while (end != result.mistakes.end() && pair_of(*end) == pair_of(mistake)) ++end;
        if (static_cast<std::size_t>(end - begin) == Evaluation::kMistakesPerPair) {
            if (!less_sure(mistake, *begin)) continue;  // no surer than the least sure kept
            std::pop_heap(begin, end, less_sure);
            *(end - 1) = mistake;
            std::push_heap(begin, end, less_sure);
        } else {
            const auto at = result.mistakes.insert(end, mistake);
            std::push_heap(at - (end - begin), at + 1, less_sure);
        }
    }
}

void ClassifyTask::finish(Evaluation& result) const {
    const auto less_sure = [](const Mistake& a, const Mistake& b) {
        return a.probability > b.probability || (a.probability == b.probability && a.index < b.index);
    };
    for (auto begin = result.mistakes.begin(); begin != result.mistakes.end();) {
        auto end = begin;
        while (end != result.mistakes.end() && end->true_label == begin->true_label && end->predicted == begin->predicted) ++end;
        std::sort_heap(begin, end, less_sure);  // highest probability first
        begin = end;
    }
    std::int64_t correct = 0;
    for (const std::int64_t count : result.class_correct) correct += count;
    result.accuracy = result.counted > 0 ? double(correct) / double(result.counted) : 0.0;
    result.figures = {{"accuracy", result.accuracy}};
}

}  // namespace convnet
