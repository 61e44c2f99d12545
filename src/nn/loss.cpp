// Softmax and softmax cross-entropy, row by row in double.
#include <convnet/core/error.h>
#include <convnet/nn/loss.h>

#include <cmath>
#include <vector>

namespace convnet {

namespace {
double row_max(const float* row, std::int64_t count) {
    double largest = row[0];
    for (std::int64_t k = 1; k < count; ++k) largest = std::max(largest, double(row[k]));
    return largest;
}
}  // namespace

std::int64_t argmax(const float* values, std::int64_t count) {
    std::int64_t best = 0;
    for (std::int64_t k = 0; k < count; ++k) {
        if (std::isnan(values[k])) return k;
        if (values[k] > values[best]) best = k;
    }
    return best;
}

LossResult softmax_cross_entropy(const Tensor& logits, std::span<const std::uint8_t> labels, Tensor* grad_logits, double label_smoothing) {
    CrossEntropyOptions options;
    options.label_smoothing = label_smoothing;
    return softmax_cross_entropy(logits, labels, grad_logits, options);
}

LossResult softmax_cross_entropy(const Tensor& logits, std::span<const std::uint8_t> labels, Tensor* grad_logits,
                                 const CrossEntropyOptions& options) {
    const double label_smoothing = options.label_smoothing;
    if (!(label_smoothing >= 0.0 && label_smoothing < 1.0))
        throw Error("softmax_cross_entropy: label_smoothing " + std::to_string(label_smoothing) + ", expected a value in [0, 1)");
    const Shape& shape = logits.shape();
    // (N, K) has one label per row; (N, K, H, W) one per pixel, its K scores `positions` apart.
    const std::int64_t batch = shape.rank() >= 2 ? shape[0] : 0, classes = shape.rank() >= 2 ? shape[1] : 0;
    const std::int64_t positions = shape.rank() >= 2 && batch > 0 && classes > 0 ? shape.element_count() / (batch * classes) : 0;
    if (shape.rank() < 2 || static_cast<std::size_t>(batch * positions) != labels.size())
        throw Error("softmax_cross_entropy: logits " + shape.to_string() + " do not match " + std::to_string(labels.size()) + " labels" +
                    (shape.rank() > 2 ? " (one per pixel: N·H·W)" : ""));
    const std::vector<float>& weight = options.weight;
    if (!weight.empty() && static_cast<std::int64_t>(weight.size()) != classes)
        throw Error("softmax_cross_entropy: " + std::to_string(weight.size()) + " class weights for " + std::to_string(classes) + " classes");
    for (const float w : weight)
        if (!(w >= 0.0f) || !std::isfinite(w)) throw Error("softmax_cross_entropy: class weight " + std::to_string(w) + ", expected a finite value >= 0");
    const auto weight_of = [&](std::int64_t k) { return weight.empty() ? 1.0 : double(weight[static_cast<std::size_t>(k)]); };
    const auto ignored = [&](std::int64_t label) { return options.ignore_index >= 0 && label == options.ignore_index; };
    // The mean's denominator first, as torch divides by Σ weight[label] over the counted targets.
    LossResult result;
    for (const std::uint8_t label : labels) {
        if (ignored(label)) continue;
        if (label >= classes)
            throw Error("label " + std::to_string(label) + " is outside the model's " + std::to_string(classes) + " classes" +
                        (options.ignore_index >= 0 ? " (and is not the ignored value " + std::to_string(options.ignore_index) + ")" : ""));
        ++result.counted;
        result.denominator += weight_of(label);
    }
    if (grad_logits != nullptr) {
        grad_logits->resize(shape);
        grad_logits->fill(0.0f);
    }
    // Nothing counted (all ignored, or weighing 0): torch's 0/0 is NaN; here the loss is 0.
    const bool any_counted = result.denominator > 0.0;
    const double uniform = label_smoothing / double(classes);
    double smoothing_total = 0.0;  // Σ_k weight[k]
    for (std::int64_t k = 0; k < classes; ++k) smoothing_total += weight_of(k);
    std::vector<float> gathered(static_cast<std::size_t>(classes));
    for (std::int64_t n = 0; n < batch; ++n)
        for (std::int64_t p = 0; p < positions; ++p) {
            const std::int64_t label = labels[static_cast<std::size_t>(n * positions + p)];
            if (ignored(label)) continue;
            const float* first = logits.data() + n * classes * positions + p;
            const float* row = first;
            if (positions > 1) {
                for (std::int64_t k = 0; k < classes; ++k) gathered[static_cast<std::size_t>(k)] = first[k * positions];
                row = gathered.data();
            }
            const double largest = row_max(row, classes);
            double sum = 0.0;
            for (std::int64_t k = 0; k < classes; ++k) sum += std::exp(row[k] - largest);
            const double log_sum = largest + std::log(sum);
            const double w = weight_of(label);
            double loss = (1.0 - label_smoothing) * w * (log_sum - row[label]);
            if (label_smoothing > 0.0)
                for (std::int64_t k = 0; k < classes; ++k) loss += uniform * weight_of(k) * (log_sum - row[k]);
            result.loss += loss;
            result.correct += argmax(row, classes) == label;
            if (grad_logits != nullptr && any_counted) {
                // d/dz_k of w·(−log p_label)·(1 − ε) + ε/K·Σ_j weight[j]·(−log p_j):
                // (1 − ε)·w·(p_k − [k = label]) + ε/K·(W·p_k − weight[k]), W = Σ_j weight[j].
                float* grad = grad_logits->data() + n * classes * positions + p;
                for (std::int64_t k = 0; k < classes; ++k) {
                    const double probability = std::exp(row[k] - log_sum);
                    double g = (1.0 - label_smoothing) * w * (probability - (k == label ? 1.0 : 0.0));
                    if (label_smoothing > 0.0) g += uniform * (smoothing_total * probability - weight_of(k));
                    grad[k * positions] = static_cast<float>(g / result.denominator);
                }
            }
        }
    result.loss = any_counted ? result.loss / result.denominator : 0.0;
    return result;
}

void softmax(const Tensor& logits, Tensor& probabilities) {
    const std::int64_t batch = logits.shape()[0], classes = logits.shape()[1];
    probabilities.resize(logits.shape());
    for (std::int64_t n = 0; n < batch; ++n) {
        const float* row = logits.data() + n * classes;
        const double largest = row_max(row, classes);
        double sum = 0.0;
        for (std::int64_t k = 0; k < classes; ++k) sum += std::exp(row[k] - largest);
        for (std::int64_t k = 0; k < classes; ++k) probabilities[n * classes + k] = static_cast<float>(std::exp(row[k] - largest) / sum);
    }
}

}  // namespace convnet
