// LeakyReLU forward and backward.
#include <convnet/layers/leakyrelu.h>

#include <charconv>

namespace convnet {

std::string LeakyReLU::options_text() const {
    if (options_.negative_slope == 0.01) return "";
    char text[32];
    const auto result = std::to_chars(text, text + sizeof text, options_.negative_slope);  // shortest round trip
    return "slope=" + std::string(text, result.ptr);
}

void LeakyReLU::forward(const Tensor& input, Tensor& output) const {  // any shape, elementwise
    output.resize(input.shape());
    const std::int64_t size = input.size();
    const float slope = static_cast<float>(options_.negative_slope);
    const float* in = input.data();
    float* out = output.data();
#pragma omp parallel for simd
    for (std::int64_t i = 0; i < size; ++i) out[i] = in[i] > 0.0f ? in[i] : slope * in[i];
}

void LeakyReLU::backward(const Tensor& input, const Tensor&, const Tensor& grad_output, Tensor* grad_input) {
    if (grad_input == nullptr) return;
    grad_input->resize(input.shape());
    const std::int64_t size = input.size();
    const float slope = static_cast<float>(options_.negative_slope);
    const float* in = input.data();
    const float* grad = grad_output.data();
    float* grad_in = grad_input->data();
#pragma omp parallel for simd
    for (std::int64_t i = 0; i < size; ++i) grad_in[i] = in[i] > 0.0f ? grad[i] : slope * grad[i];
}

}  // namespace convnet
