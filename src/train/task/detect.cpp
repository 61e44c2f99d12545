// Object detection: boxes per image, a detect head, its loss and COCO-style average precision.
#include "tasks.h"

#include <convnet/data/detection_folder.h>
#include <convnet/nn/detection_loss.h>
#include <convnet/core/error.h>
#include <convnet/nn/layers/detect.h>

#include <algorithm>
#include <cmath>
#include <optional>

namespace convnet {

namespace {

// The network's head: its last layer, which must be a detect layer.
const Detect* detect_head(const Network& network) { return dynamic_cast<const Detect*>(&network.layer(network.layer_count() - 1)); }

// `box` moved as apply_draw moves pixels, in the unit of the image: the output shows the source
// window shifted by crop − padding pixels (crop_box's rule clips it or drops it), then mirrored.
std::optional<Box> moved_box(const Box& box, int height, int width, int padding, const AugmentationDraw& draw) {
    const float shift_x = float(draw.crop_x - padding) / float(width), shift_y = float(draw.crop_y - padding) / float(height);
    std::optional<Box> moved = crop_box(box, Box{shift_x, shift_y, 1.0f + shift_x, 1.0f + shift_y});
    if (moved && draw.mirror) *moved = Box{1.0f - moved->x2, moved->y1, 1.0f - moved->x1, moved->y2};
    return moved;
}

}  // namespace

void DetectTask::check_compatible(const Network& network, const Dataset& dataset, const std::string& what) const {
    check_input_shape(network, dataset, what);
    const Detect* head = detect_head(network);
    if (head == nullptr)
        throw Error(network.source() + ": the " + what + " data has boxes (a detection folder) but the model does not end in a " +
                    "detection head: end it in `detect classes=" + std::to_string(dataset.num_classes()) +
                    "` after the last convolution's feature maps (e.g. models/detect-digits.model; docs/DETECTION.md)");
    const Shape& output = network.layer_plan(network.layer_count() - 1).output;
    if (output[2] < 1 || output[3] < 1 || dataset.height % output[2] != 0 || dataset.width % output[3] != 0)
        throw Error(network.source() + ": the detection head's grid is " + std::to_string(output[2]) + "x" + std::to_string(output[3]) +
                    " cells, which does not tile the " + std::to_string(dataset.height) + "x" + std::to_string(dataset.width) +
                    " input: make the input a multiple of the head's stride");
    if (dataset.num_classes() > head->detect_options().classes)
        throw Error(network.source() + ": the detection head scores " + std::to_string(head->detect_options().classes) +
                    " classes but the " + what + " data has " + std::to_string(dataset.num_classes()) + " (classes.txt): " +
                    (what == "training" ? "write detect classes=" + std::to_string(dataset.num_classes())
                                        : "another dataset than the one it was trained on? (a model for it needs detect classes=" +
                                              std::to_string(dataset.num_classes()) + ")"));
}

void DetectTask::append_targets(const Dataset& dataset, std::int64_t index, const AugmentationDraw* draw, int padding,
                                Targets& targets) const {
    if (targets.box_offsets.empty()) targets.box_offsets.push_back(0);
    for (const ObjectBox& object : dataset.objects(index)) {
        if (draw == nullptr) {
            targets.boxes.push_back(object);
        } else if (const std::optional<Box> moved = moved_box(object.box, dataset.height, dataset.width, padding, *draw)) {
            targets.boxes.push_back(ObjectBox{*moved, object.label});
        }
    }
    targets.box_offsets.push_back(static_cast<std::int64_t>(targets.boxes.size()));
}

LossResult DetectTask::loss(const Network& network, const Tensor& logits, const Targets& targets, Tensor* grad_logits,
                            CrossEntropyOptions options) const {
    if (options.label_smoothing != 0.0 || !options.weight.empty())
        throw Error("label smoothing and class weights belong to a cross-entropy over images or pixels; the detection loss takes its "
                    "gains from the detect line instead (box_weight=, objectness_weight=, class_weight=; docs/DETECTION.md)");
    const Detect* head = detect_head(network);
    if (head == nullptr) throw Error(network.source() + ": detection needs a model that ends in a detect head (docs/DETECTION.md)");
    const DetectOptions& o = head->detect_options();
    return detection_loss(logits, targets.boxes, targets.box_offsets, grad_logits,
                          DetectionLossOptions{o.box_weight, o.objectness_weight, o.class_weight});
}

std::int64_t DetectTask::model_classes(const Network& network) const {
    const Detect* head = detect_head(network);
    return head != nullptr ? head->detect_options().classes : 0;
}

void DetectTask::score(const Tensor& logits, const Targets& targets, std::int64_t, Evaluation& result) const {
    // Decoded in the image's unit, as the targets are: IoU does not change with the scale of an axis.
    std::vector<std::vector<Detection>> detections = decode_detections(logits, 1, 1, kEvaluationDetectionOptions);
    for (std::size_t n = 0; n < detections.size(); ++n) {
        const auto first = targets.boxes.begin() + targets.box_offsets[n], last = targets.boxes.begin() + targets.box_offsets[n + 1];
        result.objects.emplace_back(first, last);
        result.counted += last - first;
        for (auto object = first; object != last; ++object) ++result.class_total[static_cast<std::size_t>(object->label)];
        result.detections.push_back(std::move(detections[n]));
    }
}

void DetectTask::finish(Evaluation& result) const {
    result.detection = evaluate_detections(result.detections, result.objects, static_cast<int>(result.classes));
    result.accuracy = result.detection.map50;
    result.figures = {{"map50", result.detection.map50}, {"map", result.detection.map}};
}

}  // namespace convnet
