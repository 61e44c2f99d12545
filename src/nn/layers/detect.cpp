// Detect: the head's convolution (Conv2d's forward and backward), its prior, and the decoding of
// its output into boxes.
#include <convnet/core/error.h>
#include <convnet/nn/layers/detect.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace convnet {

namespace {

Conv2dOptions head_convolution(const DetectOptions& options) {
    if (options.classes < 1) throw Error("detect: classes=" + std::to_string(options.classes) + ": expected at least 1");
    if (options.kernel_size < 1 || options.kernel_size % 2 == 0)
        throw Error("detect: kernel=" + std::to_string(options.kernel_size) +
                    ": expected an odd size (1, 3, …), so that the grid keeps its size");
    Conv2dOptions conv;
    conv.in_channels = options.in_channels;
    conv.out_channels = Detect::kBoxChannels + options.classes;
    conv.kernel_height = conv.kernel_width = options.kernel_size;
    conv.padding_height = conv.padding_width = options.kernel_size / 2;
    return conv;
}

float head_logistic(float x) { return 1.0f / (1.0f + std::exp(-x)); }

}  // namespace

Detect::Detect(const DetectOptions& options) : Conv2d(head_convolution(options)), detect_options_(options) {}

std::vector<Attribute> Detect::attributes() const {
    const DetectOptions& o = detect_options_;
    const DetectOptions defaults;
    // The convolution's attributes under PyTorch's names (what ONNX export and the summary read),
    // the ones that follow from classes= without a model-file key.
    std::vector<Attribute> attributes = Conv2d::attributes();
    for (Attribute& attribute : attributes)
        if (attribute.name != "kernel_size") attribute.key.clear();
        else attribute.is_default = o.kernel_size == 1;
    attributes.insert(attributes.begin(), Attribute{"classes", o.classes, "classes"});
    attributes.push_back({"box_weight", o.box_weight, "box_weight", o.box_weight == defaults.box_weight});
    attributes.push_back(
        {"objectness_weight", o.objectness_weight, "objectness_weight", o.objectness_weight == defaults.objectness_weight});
    attributes.push_back({"class_weight", o.class_weight, "class_weight", o.class_weight == defaults.class_weight});
    return attributes;
}

void Detect::initialize(Random& random) {
    Conv2d::initialize(random);
    if (Parameter* b = bias()) b->value[4] = static_cast<float>(std::log(0.01 / 0.99));
}

CellPrediction decode_cell(const Tensor& head, std::int64_t n, std::int64_t row, std::int64_t column, std::int64_t input_height,
                           std::int64_t input_width) {
    const Shape& shape = head.shape();
    if (shape.rank() != 4 || shape[1] <= Detect::kBoxChannels)
        throw Error("detection head output " + shape.to_string() + ": expected (N, 5 + classes, GH, GW) with at least one class");
    const std::int64_t channels = shape[1], grid_height = shape[2], grid_width = shape[3], cells = grid_height * grid_width;
    const float* cell = head.data() + n * channels * cells + row * grid_width + column;
    const auto at = [&](std::int64_t channel) { return cell[channel * cells]; };
    const double cell_width = double(input_width) / double(grid_width), cell_height = double(input_height) / double(grid_height);
    const double centre_x = (double(column) + head_logistic(at(0))) * cell_width,
                 centre_y = (double(row) + head_logistic(at(1))) * cell_height;
    const double width = head_logistic(at(2)) * double(input_width), height = head_logistic(at(3)) * double(input_height);
    CellPrediction prediction;
    prediction.box = Box{static_cast<float>(centre_x - width / 2), static_cast<float>(centre_y - height / 2),
                         static_cast<float>(centre_x + width / 2), static_cast<float>(centre_y + height / 2)};
    prediction.objectness = head_logistic(at(4));
    // Softmax over the class scores, shifted by their maximum.
    const std::int64_t classes = channels - Detect::kBoxChannels;
    prediction.class_probabilities.resize(static_cast<std::size_t>(classes));
    float largest = at(Detect::kBoxChannels);
    for (std::int64_t k = 1; k < classes; ++k) largest = std::max(largest, at(Detect::kBoxChannels + k));
    double sum = 0.0;
    for (std::int64_t k = 0; k < classes; ++k) {
        const float e = std::exp(at(Detect::kBoxChannels + k) - largest);
        prediction.class_probabilities[static_cast<std::size_t>(k)] = e;
        sum += e;
    }
    for (float& p : prediction.class_probabilities) p = static_cast<float>(p / sum);
    return prediction;
}

std::vector<std::vector<Detection>> decode_detections(const Tensor& head, std::int64_t input_height, std::int64_t input_width,
                                                      const DetectionOptions& options) {
    const Shape& shape = head.shape();
    if (shape.rank() != 4 || shape[1] <= Detect::kBoxChannels)
        throw Error("detection head output " + shape.to_string() + ": expected (N, 5 + classes, GH, GW) with at least one class");
    std::vector<std::vector<Detection>> result(static_cast<std::size_t>(shape[0]));
    std::vector<Box> boxes;
    std::vector<float> scores;
    std::vector<int> labels;
    for (std::int64_t n = 0; n < shape[0]; ++n) {
        boxes.clear();
        scores.clear();
        labels.clear();
        for (std::int64_t row = 0; row < shape[2]; ++row)
            for (std::int64_t column = 0; column < shape[3]; ++column) {
                const CellPrediction cell = decode_cell(head, n, row, column, input_height, input_width);
                const auto best = std::max_element(cell.class_probabilities.begin(), cell.class_probabilities.end());
                const float score = cell.objectness * *best;
                if (!(score >= options.score_threshold)) continue;  // NaN scores are dropped too
                boxes.push_back(cell.box);
                scores.push_back(score);
                labels.push_back(static_cast<int>(best - cell.class_probabilities.begin()));
            }
        const std::vector<std::int64_t> kept = batched_nms(boxes, scores, labels, options.iou_threshold);
        std::vector<Detection>& detections = result[static_cast<std::size_t>(n)];
        for (std::size_t i = 0; i < kept.size() && std::int64_t(i) < options.max_detections; ++i) {
            const auto k = static_cast<std::size_t>(kept[i]);
            detections.push_back(Detection{boxes[k], scores[k], labels[k]});
        }
    }
    return result;
}

}  // namespace convnet
