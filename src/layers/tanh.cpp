// Tanh forward and backward.
#include <convnet/layers/tanh.h>

#include <cmath>

namespace convnet {

void Tanh::forward(const Tensor& input, Tensor& output) const {  // any shape, elementwise
    output.resize(input.shape());
    const std::int64_t size = input.size();
    const float* in = input.data();
    float* out = output.data();
#pragma omp parallel for
    for (std::int64_t i = 0; i < size; ++i) out[i] = std::tanh(in[i]);
}

void Tanh::backward(const Tensor&, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) {
    if (grad_input == nullptr) return;
    grad_input->resize(output.shape());
    const std::int64_t size = output.size();
    const float* out = output.data();
    const float* grad = grad_output.data();
    float* grad_in = grad_input->data();
#pragma omp parallel for simd
    for (std::int64_t i = 0; i < size; ++i) grad_in[i] = grad[i] * (1.0f - out[i] * out[i]);
}

}  // namespace convnet
