// The detection head's loss (docs/DETECTION.md, "The loss"): which cell answers for which object,
// and objectness BCE, a GIoU box loss and class cross-entropy over the head's raw output
// (layers/detect.h). Written the same way in torch 1.13 by scripts/make_reference.py, which the
// reference tests compare against.
#pragma once

#include <convnet/data/data.h>
#include <convnet/nn/loss.h>
#include <convnet/core/tensor.h>

#include <cstdint>
#include <span>
#include <vector>

namespace convnet {

struct DetectionLossOptions {
    double box_weight = 5.0;
    double objectness_weight = 1.0;
    double class_weight = 1.0;
};

// The assignment rule: an object belongs to the cell holding its box's centre, (⌊cy·GH⌋, ⌊cx·GW⌋)
// for a centre (cx, cy) in the image's unit (a centre on the right or bottom edge to the last
// cell). When two objects' centres fall in one cell, the larger box (by area; equal areas: the
// first) has it and the other is left out of the box and class terms. Returns, for each cell of
// (GH, GW), the index into `objects` of its object, or −1.
std::vector<std::int64_t> assign_cells(std::span<const ObjectBox> objects, std::int64_t grid_height, std::int64_t grid_width);

// The loss of `head` (N, 5 + K, GH, GW) against the objects of each image (`objects`
// boxes in the image's unit, 0 to 1; image n's are objects[offsets[n], offsets[n + 1])), with P the
// assigned cells of the batch and D = max(P, 1):
//   loss = box_weight · Σ_assigned (1 − GIoU(box, object)) / D
//        + objectness_weight · Σ_every cell BCEWithLogits(objectness, assigned ? 1 : 0) / D
//        + class_weight · Σ_assigned CrossEntropy(class scores, object's class) / D
// the box decoded as layers/detect.h says, in the image's unit (GIoU as torchvision's
// generalized_box_iou). Normalising every term by the objects, not the cells, keeps the many empty
// cells from drowning the few that hold one (RetinaNet's normalisation). When grad_head is not
// null it receives d(loss)/d(head). LossResult: correct counts assigned cells whose largest class
// score is their object's class, counted = P, denominator = D.
// Throws convnet::Error when the head has fewer than 6 channels, the offsets do not fit N, or an
// object's class is not below K.
LossResult detection_loss(const Tensor& head, std::span<const ObjectBox> objects, std::span<const std::int64_t> offsets, Tensor* grad_head,
                          const DetectionLossOptions& options);

}  // namespace convnet
