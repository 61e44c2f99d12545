// Dropout: the mask drawn in forward_train and reused by backward; evaluation copies.
#include <convnet/core/error.h>
#include <convnet/nn/layers/dropout.h>

#include <algorithm>
#include <charconv>

namespace convnet {

Dropout::Dropout(const DropoutOptions& options) : options_(options) {
    if (!(options.p >= 0.0 && options.p <= 1.0))
        throw Error("dropout: p=" + std::to_string(options.p) + " should be a probability from 0 to 1");
}

std::vector<Attribute> Dropout::attributes() const {
    return {{"p", options_.p, "p"}};  // always written: the rate is the point of the line
}

void Dropout::initialize(Random& random) { random_ = Random(random.next()); }

void Dropout::forward(const Tensor& input, Tensor& output) const {  // any shape, unchanged
    output.resize(input.shape());
    std::copy(input.data(), input.data() + input.size(), output.data());
}

const std::vector<float>& Dropout::draw_mask(std::int64_t size) {
    mask_.resize(static_cast<std::size_t>(size));
    // p = 1 drops everything (PyTorch returns zeros); p = 0 keeps everything and draws nothing.
    const float keep_scale = options_.p >= 1.0 ? 0.0f : static_cast<float>(1.0 / (1.0 - options_.p));
    const float drop_probability = static_cast<float>(options_.p);
    for (std::int64_t i = 0; i < size; ++i) {
        const bool drop = options_.p > 0.0 && random_.uniform() < drop_probability;
        mask_[static_cast<std::size_t>(i)] = drop ? 0.0f : keep_scale;
    }
    return mask_;
}

void Dropout::forward_train(const Tensor& input, Tensor& output) {
    output.resize(input.shape());
    draw_mask(input.size());
    apply_mask(input.data(), output.data(), input.size());
}

void Dropout::apply_mask(const float* in, float* out, std::int64_t size) const {
    if (static_cast<std::int64_t>(mask_.size()) != size)
        throw Error("dropout: " + std::to_string(size) + " elements but the last mask has " + std::to_string(mask_.size()) +
                    " (call forward_train first)");
    const float* mask = mask_.data();
#pragma omp parallel for simd
    for (std::int64_t i = 0; i < size; ++i) out[i] = in[i] * mask[i];
}

void Dropout::backward(const Tensor&, const Tensor&, const Tensor& grad_output, Tensor* grad_input) {
    if (grad_input == nullptr) return;
    const std::int64_t size = grad_output.size();
    if (static_cast<std::int64_t>(mask_.size()) != size)
        throw Error("dropout: backward for " + grad_output.shape().to_string() + " but the last forward_train had " +
                    std::to_string(mask_.size()) + " elements (call forward_train first)");
    grad_input->resize(grad_output.shape());
    apply_mask(grad_output.data(), grad_input->data(), size);
}

}  // namespace convnet
