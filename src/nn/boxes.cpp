// Box arithmetic and non-maximum suppression as torchvision.ops (0.14) computes them (detection.h).
// Not the evaluation metric: that is average_precision.cpp.
#include <convnet/nn/detection.h>
#include <convnet/core/error.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

namespace convnet {

namespace detail {

// torch.sort(descending=True, stable=True) of the scores, as torchvision's nms kernel orders its
// boxes: decreasing score, NaN first (torch sorts NaN above every number), equal scores by index.
std::vector<std::int64_t> nms_order_by_score(std::span<const float> scores) {
    std::vector<std::int64_t> order(scores.size());
    std::iota(order.begin(), order.end(), std::int64_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
        const float score_a = scores[static_cast<std::size_t>(a)], score_b = scores[static_cast<std::size_t>(b)];
        if (std::isnan(score_a)) return !std::isnan(score_b);
        return !std::isnan(score_b) && score_a > score_b;
    });
    return order;
}

// torchvision's CPU kernel (csrc/ops/cpu/nms_kernel.cpp) step by step, in float as it computes
// for float boxes, so that an IoU at the threshold is decided as there: the areas are computed
// once and stored (as its areas tensor: no fused multiply-add reaches them), and the IoU is
// compared in double. `labels` empty: every box may suppress every other (nms); otherwise only
// boxes of one label suppress each other (batched_nms).
std::vector<std::int64_t> nms_greedy(std::span<const Box> boxes, std::span<const float> scores, std::span<const int> labels,
                                     double iou_threshold) {
    std::vector<float> areas(boxes.size());
    for (std::size_t i = 0; i < boxes.size(); ++i) areas[i] = (boxes[i].x2 - boxes[i].x1) * (boxes[i].y2 - boxes[i].y1);
    const std::vector<std::int64_t> order = nms_order_by_score(scores);
    std::vector<char> suppressed(boxes.size(), 0);
    std::vector<std::int64_t> keep;
    for (std::size_t position = 0; position < order.size(); ++position) {
        const auto i = static_cast<std::size_t>(order[position]);
        if (suppressed[i]) continue;
        keep.push_back(order[position]);
        const Box& kept = boxes[i];
        for (std::size_t later = position + 1; later < order.size(); ++later) {
            const auto j = static_cast<std::size_t>(order[later]);
            if (suppressed[j] || (!labels.empty() && labels[j] != labels[i])) continue;
            const float width = std::max(0.0f, std::min(kept.x2, boxes[j].x2) - std::max(kept.x1, boxes[j].x1));
            const float height = std::max(0.0f, std::min(kept.y2, boxes[j].y2) - std::max(kept.y1, boxes[j].y1));
            const float intersection = width * height;
            const float iou = intersection / (areas[i] + areas[j] - intersection);
            if (static_cast<double>(iou) > iou_threshold) suppressed[j] = 1;
        }
    }
    return keep;
}

}  // namespace detail

double box_area(const Box& box) { return (static_cast<double>(box.x2) - box.x1) * (static_cast<double>(box.y2) - box.y1); }

// In double from the float corners. This is also pycocotools' bbIou for the same boxes given as
// (x, y, width, height) in double: the same intersection, and the union summed in the same order.
double box_iou(const Box& a, const Box& b) {
    const double width = std::max(0.0, static_cast<double>(std::min(a.x2, b.x2)) - std::max(a.x1, b.x1));
    const double height = std::max(0.0, static_cast<double>(std::min(a.y2, b.y2)) - std::max(a.y1, b.y1));
    const double intersection = width * height;
    const double union_area = box_area(a) + box_area(b) - intersection;
    return union_area > 0.0 ? intersection / union_area : 0.0;
}

double generalized_box_iou(const Box& a, const Box& b) {
    const double width = std::max(0.0, static_cast<double>(std::min(a.x2, b.x2)) - std::max(a.x1, b.x1));
    const double height = std::max(0.0, static_cast<double>(std::min(a.y2, b.y2)) - std::max(a.y1, b.y1));
    const double intersection = width * height;
    const double union_area = box_area(a) + box_area(b) - intersection;
    const double iou = union_area > 0.0 ? intersection / union_area : 0.0;
    // torchvision clamps the hull's sides at 0 too (no effect on ordered boxes).
    const double hull_width = std::max(0.0, static_cast<double>(std::max(a.x2, b.x2)) - std::min(a.x1, b.x1));
    const double hull_height = std::max(0.0, static_cast<double>(std::max(a.y2, b.y2)) - std::min(a.y1, b.y1));
    const double hull_area = hull_width * hull_height;
    return hull_area > 0.0 ? iou - (hull_area - union_area) / hull_area : iou;
}

std::vector<std::int64_t> nms(std::span<const Box> boxes, std::span<const float> scores, double iou_threshold) {
    if (boxes.size() != scores.size())
        throw Error("nms: " + std::to_string(boxes.size()) + " boxes but " + std::to_string(scores.size()) +
                    " scores (one score a box expected)");
    return detail::nms_greedy(boxes, scores, {}, iou_threshold);
}

std::vector<std::int64_t> batched_nms(std::span<const Box> boxes, std::span<const float> scores, std::span<const int> labels,
                                      double iou_threshold) {
    if (boxes.size() != scores.size() || boxes.size() != labels.size())
        throw Error("batched_nms: " + std::to_string(boxes.size()) + " boxes, " + std::to_string(scores.size()) + " scores and " +
                    std::to_string(labels.size()) + " labels (one score and one label a box expected)");
    // One pass over all boxes by decreasing score, a box suppressing only those of its label, is
    // nms per label merged by decreasing score (ties: lower index first): what torchvision's
    // coordinate trick (each label's boxes shifted apart, then one nms) returns.
    return detail::nms_greedy(boxes, scores, labels, iou_threshold);
}

}  // namespace convnet
