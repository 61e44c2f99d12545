// The detection loss: the cell assignment, then BCE, GIoU and cross-entropy terms with their
// gradients written out by hand (in double), as detection_loss.h states them.
#include <convnet/nn/detection_loss.h>
#include <convnet/core/error.h>
#include <convnet/nn/layers/detect.h>

#include <algorithm>
#include <cmath>

namespace convnet {

namespace {

double loss_sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// d max(a, b)/da and d min(a, b)/da as torch.maximum/torch.minimum's backward: a tie splits the gradient.
double maximum_grad(double a, double b) { return a > b ? 1.0 : a == b ? 0.5 : 0.0; }
double minimum_grad(double a, double b) { return a < b ? 1.0 : a == b ? 0.5 : 0.0; }

// 1 − GIoU of the predicted corners p against the target t, and d(1 − GIoU)/dp, as
// torchvision.ops.generalized_box_iou computes it (clamp(min=0) passes the gradient at 0, as torch's does).
struct GiouLoss {
    double value = 0.0;
    double grad[4] = {};  // d/d(x1, y1, x2, y2)
};

GiouLoss giou_loss(const double p[4], const double t[4]) {
    double inter_extent[2], inter_grad_low[2], inter_grad_high[2];  // per axis: the overlap and d/d(p low), d/d(p high)
    double hull_extent[2], hull_grad_low[2], hull_grad_high[2];
    for (int axis = 0; axis < 2; ++axis) {
        const double low = p[axis], high = p[axis + 2], target_low = t[axis], target_high = t[axis + 2];
        const double overlap = std::min(high, target_high) - std::max(low, target_low);
        const double pass = overlap >= 0.0 ? 1.0 : 0.0;
        inter_extent[axis] = std::max(overlap, 0.0);
        inter_grad_low[axis] = -pass * maximum_grad(low, target_low);
        inter_grad_high[axis] = pass * minimum_grad(high, target_high);
        const double span = std::max(high, target_high) - std::min(low, target_low);
        const double hull_pass = span >= 0.0 ? 1.0 : 0.0;
        hull_extent[axis] = std::max(span, 0.0);
        hull_grad_low[axis] = -hull_pass * minimum_grad(low, target_low);
        hull_grad_high[axis] = hull_pass * maximum_grad(high, target_high);
    }
    const double predicted_width = p[2] - p[0], predicted_height = p[3] - p[1];
    const double predicted_area = predicted_width * predicted_height, target_area = (t[2] - t[0]) * (t[3] - t[1]);
    const double intersection = inter_extent[0] * inter_extent[1];
    const double union_area = predicted_area + target_area - intersection;
    const double hull = hull_extent[0] * hull_extent[1];
    GiouLoss result;
    if (!(union_area > 0.0) || !(hull > 0.0)) {  // degenerate boxes: no gradient to follow
        result.value = 1.0;
        return result;
    }
    result.value = 1.0 - (intersection / union_area - (hull - union_area) / hull);
    // d(area)/d(x1, y1, x2, y2) for the prediction, intersection and hull.
    const double area_grad[4] = {-predicted_height, -predicted_width, predicted_height, predicted_width};
    const double intersection_grad[4] = {inter_grad_low[0] * inter_extent[1], inter_grad_low[1] * inter_extent[0],
                                         inter_grad_high[0] * inter_extent[1], inter_grad_high[1] * inter_extent[0]};
    const double hull_grad[4] = {hull_grad_low[0] * hull_extent[1], hull_grad_low[1] * hull_extent[0], hull_grad_high[0] * hull_extent[1],
                                 hull_grad_high[1] * hull_extent[0]};
    for (int k = 0; k < 4; ++k) {
        const double union_grad = area_grad[k] - intersection_grad[k];
        // GIoU = I/U − 1 + U/C
        const double giou_grad = (intersection_grad[k] * union_area - intersection * union_grad) / (union_area * union_area) +
                                 (union_grad * hull - union_area * hull_grad[k]) / (hull * hull);
        result.grad[k] = -giou_grad;
    }
    return result;
}

// max(x, 0) − x·t + log(1 + exp(−|x|)), as F.binary_cross_entropy_with_logits; its gradient σ(x) − t.
double bce_with_logits(double x, double target) { return std::max(x, 0.0) - x * target + std::log1p(std::exp(-std::abs(x))); }

}  // namespace

std::vector<std::int64_t> assign_cells(std::span<const ObjectBox> objects, std::int64_t grid_height, std::int64_t grid_width) {
    std::vector<std::int64_t> owner(static_cast<std::size_t>(grid_height * grid_width), -1);
    for (std::size_t o = 0; o < objects.size(); ++o) {
        const Box& box = objects[o].box;
        const double centre_x = 0.5 * (double(box.x1) + double(box.x2)), centre_y = 0.5 * (double(box.y1) + double(box.y2));
        const auto cell_of = [](double centre, std::int64_t cells) {
            return std::clamp(static_cast<std::int64_t>(std::floor(centre * double(cells))), std::int64_t{0}, cells - 1);
        };
        std::int64_t& cell = owner[static_cast<std::size_t>(cell_of(centre_y, grid_height) * grid_width + cell_of(centre_x, grid_width))];
        if (cell >= 0 && box_area(objects[static_cast<std::size_t>(cell)].box) >= box_area(box)) continue;
        cell = static_cast<std::int64_t>(o);
    }
    return owner;
}

LossResult detection_loss(const Tensor& head, std::span<const ObjectBox> objects, std::span<const std::int64_t> offsets, Tensor* grad_head,
                          const DetectionLossOptions& options) {
    const Shape& shape = head.shape();
    if (shape.rank() != 4 || shape[1] <= Detect::kBoxChannels)
        throw Error("detection loss: the head gives " + shape.to_string() + ", expected (N, 5 + classes, GH, GW) with at least one class");
    const std::int64_t batch = shape[0], channels = shape[1], grid_height = shape[2], grid_width = shape[3];
    const std::int64_t cells = grid_height * grid_width, classes = channels - Detect::kBoxChannels;
    if (offsets.size() != static_cast<std::size_t>(batch + 1) || offsets.front() != 0 ||
        offsets.back() != static_cast<std::int64_t>(objects.size()))
        throw Error("detection loss: " + std::to_string(offsets.size()) + " object offsets for " + std::to_string(objects.size()) +
                    " objects and a batch of " + std::to_string(batch));
    for (const ObjectBox& object : objects)
        if (object.label < 0 || object.label >= classes)
            throw Error("detection loss: an object of class " + std::to_string(object.label) + " but the head scores " +
                        std::to_string(classes) + " classes");

    // Assignment first: D, the normaliser, is the whole batch's count.
    std::vector<std::vector<std::int64_t>> owners(static_cast<std::size_t>(batch));
    std::int64_t assigned = 0;
    for (std::int64_t n = 0; n < batch; ++n) {
        const auto first = static_cast<std::size_t>(offsets[static_cast<std::size_t>(n)]);
        const auto count = static_cast<std::size_t>(offsets[static_cast<std::size_t>(n) + 1] - offsets[static_cast<std::size_t>(n)]);
        owners[static_cast<std::size_t>(n)] = assign_cells(objects.subspan(first, count), grid_height, grid_width);
        assigned += std::count_if(owners[static_cast<std::size_t>(n)].begin(), owners[static_cast<std::size_t>(n)].end(),
                                  [](std::int64_t owner) { return owner >= 0; });
    }
    const double denominator = double(std::max<std::int64_t>(assigned, 1));
    const double box_scale = options.box_weight / denominator, objectness_scale = options.objectness_weight / denominator,
                 class_scale = options.class_weight / denominator;
    if (grad_head != nullptr) {
        grad_head->resize(shape);
        grad_head->fill(0.0f);
    }
    double box_sum = 0.0, objectness_sum = 0.0, class_sum = 0.0;
    std::int64_t correct = 0;
    std::vector<double> probabilities(static_cast<std::size_t>(classes));
    for (std::int64_t n = 0; n < batch; ++n) {
        const float* image = head.data() + n * channels * cells;
        float* grad_image = grad_head != nullptr ? grad_head->data() + n * channels * cells : nullptr;
        const ObjectBox* image_objects = objects.data() + offsets[static_cast<std::size_t>(n)];
        const std::vector<std::int64_t>& owner = owners[static_cast<std::size_t>(n)];
        for (std::int64_t cell = 0; cell < cells; ++cell) {
            const auto at = [&](std::int64_t channel) { return double(image[channel * cells + cell]); };
            const auto add_grad = [&](std::int64_t channel, double value) {
                if (grad_image != nullptr) grad_image[channel * cells + cell] = static_cast<float>(value);
            };
            const double target = owner[static_cast<std::size_t>(cell)] >= 0 ? 1.0 : 0.0;
            objectness_sum += bce_with_logits(at(4), target);
            add_grad(4, objectness_scale * (loss_sigmoid(at(4)) - target));
            if (target == 0.0) continue;
            const ObjectBox& object = image_objects[owner[static_cast<std::size_t>(cell)]];
            // The box, decoded in the image's unit as layers/detect.h decodes it in pixels.
            const std::int64_t row = cell / grid_width, column = cell % grid_width;
            const double sx = loss_sigmoid(at(0)), sy = loss_sigmoid(at(1)), sw = loss_sigmoid(at(2)), sh = loss_sigmoid(at(3));
            const double centre_x = (double(column) + sx) / double(grid_width), centre_y = (double(row) + sy) / double(grid_height);
            const double predicted[4] = {centre_x - sw / 2, centre_y - sh / 2, centre_x + sw / 2, centre_y + sh / 2};
            const double truth[4] = {object.box.x1, object.box.y1, object.box.x2, object.box.y2};
            const GiouLoss box = giou_loss(predicted, truth);
            box_sum += box.value;
            const double grad_centre_x = box.grad[0] + box.grad[2], grad_centre_y = box.grad[1] + box.grad[3];
            const double grad_width = 0.5 * (box.grad[2] - box.grad[0]), grad_height = 0.5 * (box.grad[3] - box.grad[1]);
            add_grad(0, box_scale * grad_centre_x * sx * (1 - sx) / double(grid_width));
            add_grad(1, box_scale * grad_centre_y * sy * (1 - sy) / double(grid_height));
            add_grad(2, box_scale * grad_width * sw * (1 - sw));
            add_grad(3, box_scale * grad_height * sh * (1 - sh));
            // Cross-entropy over the class scores, through log-sum-exp; `best` is the first largest.
            const auto class_score = [&](std::int64_t k) { return at(Detect::kBoxChannels + k); };
            std::int64_t best = 0;
            for (std::int64_t k = 1; k < classes; ++k)
                if (class_score(k) > class_score(best)) best = k;
            const double largest = class_score(best);
            double sum = 0.0;
            for (std::int64_t k = 0; k < classes; ++k) {
                probabilities[static_cast<std::size_t>(k)] = std::exp(class_score(k) - largest);
                sum += probabilities[static_cast<std::size_t>(k)];
            }
            class_sum += largest + std::log(sum) - class_score(object.label);
            correct += best == object.label;
            for (std::int64_t k = 0; k < classes; ++k) {
                const double target = k == object.label ? 1.0 : 0.0;
                add_grad(Detect::kBoxChannels + k, class_scale * (probabilities[static_cast<std::size_t>(k)] / sum - target));
            }
        }
    }
    LossResult result;
    result.loss = box_scale * box_sum + objectness_scale * objectness_sum + class_scale * class_sum;
    result.correct = correct;
    result.counted = assigned;
    result.denominator = denominator;
    return result;
}

}  // namespace convnet
