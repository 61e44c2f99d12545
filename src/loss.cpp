// Softmax and softmax cross-entropy, row by row in double.
#include <convnet/error.h>
#include <convnet/loss.h>

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
    if (!(label_smoothing >= 0.0 && label_smoothing < 1.0))
        throw Error("softmax_cross_entropy: label_smoothing " + std::to_string(label_smoothing) + ", expected a value in [0, 1)");
    const Shape& shape = logits.shape();
    // (N, K) has one label per row; (N, K, H, W) one per pixel, its K scores `positions` apart.
    const std::int64_t batch = shape.rank() >= 2 ? shape[0] : 0, classes = shape.rank() >= 2 ? shape[1] : 0;
    const std::int64_t positions = shape.rank() >= 2 && batch > 0 && classes > 0 ? shape.element_count() / (batch * classes) : 0;
    if (shape.rank() < 2 || static_cast<std::size_t>(batch * positions) != labels.size())
        throw Error("softmax_cross_entropy: logits " + shape.to_string() + " do not match " + std::to_string(labels.size()) + " labels" +
                    (shape.rank() > 2 ? " (one per pixel: N·H·W)" : ""));
    if (grad_logits != nullptr) grad_logits->resize(shape);
    const double count = double(batch * positions);
    std::vector<float> gathered(static_cast<std::size_t>(classes));
    LossResult result;
    for (std::int64_t n = 0; n < batch; ++n)
        for (std::int64_t p = 0; p < positions; ++p) {
            const std::int64_t label = labels[static_cast<std::size_t>(n * positions + p)];
            if (label >= classes)
                throw Error("label " + std::to_string(label) + " is outside the model's " + std::to_string(classes) + " classes");
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
            const double uniform = label_smoothing / double(classes);
            double loss = (1.0 - label_smoothing) * (log_sum - row[label]);
            if (label_smoothing > 0.0)
                for (std::int64_t k = 0; k < classes; ++k) loss += uniform * (log_sum - row[k]);
            result.loss += loss;
            result.correct += argmax(row, classes) == label;
            if (grad_logits != nullptr) {
                float* grad = grad_logits->data() + n * classes * positions + p;
                for (std::int64_t k = 0; k < classes; ++k) {
                    const double target = (k == label ? 1.0 - label_smoothing : 0.0) + uniform;
                    grad[k * positions] = static_cast<float>((std::exp(row[k] - log_sum) - target) / count);
                }
            }
        }
    result.loss /= count;
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
