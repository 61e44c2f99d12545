// Sigmoid forward and backward.
#include <convnet/layers/sigmoid.h>

#include <cmath>

namespace convnet {

void Sigmoid::forward(const Tensor& input, Tensor& output) const {  // any shape, elementwise
    output.resize(input.shape());
    const std::int64_t size = input.size();
    const float* in = input.data();
    float* out = output.data();
    // Both branches evaluate exp of a non-positive number: no overflow for large |x|.
#pragma omp parallel for
    for (std::int64_t i = 0; i < size; ++i) {
        const float x = in[i];
        if (x >= 0.0f) {
            out[i] = 1.0f / (1.0f + std::exp(-x));
        } else {
            const float e = std::exp(x);
            out[i] = e / (1.0f + e);
        }
    }
}

void Sigmoid::backward(const Tensor&, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) {
    if (grad_input == nullptr) return;
    grad_input->resize(output.shape());
    const std::int64_t size = output.size();
    const float* out = output.data();
    const float* grad = grad_output.data();
    float* grad_in = grad_input->data();
#pragma omp parallel for simd
    for (std::int64_t i = 0; i < size; ++i) grad_in[i] = grad[i] * out[i] * (1.0f - out[i]);
}

}  // namespace convnet
