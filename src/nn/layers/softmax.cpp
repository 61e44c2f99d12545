// Softmax forward and backward over axis 1. A tensor is seen as (outer, features, inner): outer is
// the batch, inner the pixels of a feature map (1 for (N, F)); each (outer, inner) pair is one
// distribution over `features` values spaced `inner` apart.
#include <convnet/core/error.h>
#include <convnet/nn/layers/softmax.h>

#include <algorithm>
#include <cmath>

namespace convnet {

namespace {
struct SoftmaxGeometry {
    std::int64_t outer, features, inner;
};

SoftmaxGeometry softmax_geometry(const Shape& shape) { return {shape[0], shape[1], shape.element_count() / (shape[0] * shape[1])}; }
}  // namespace

Shape Softmax::output_shape(const Shape& input) const {
    if (input.rank() < 2) throw Error("softmax expects an input with a batch axis and a feature axis, got " + input.to_string());
    return input;
}

void Softmax::forward(const Tensor& input, Tensor& output) const {  // (N, F) or (N, C, H, W), same out
    output.resize(output_shape(input.shape()));
    const SoftmaxGeometry g = softmax_geometry(input.shape());
#pragma omp parallel for
    for (std::int64_t n = 0; n < g.outer; ++n)
        for (std::int64_t p = 0; p < g.inner; ++p) {
            const float* in = input.data() + n * g.features * g.inner + p;
            float* out = output.data() + n * g.features * g.inner + p;
            // Subtracting the largest value keeps exp from overflowing; the sum is in double so
            // thousands of classes lose nothing.
            float largest = in[0];
            for (std::int64_t k = 1; k < g.features; ++k) largest = std::max(largest, in[k * g.inner]);
            double sum = 0.0;
            for (std::int64_t k = 0; k < g.features; ++k) {
                const float e = std::exp(in[k * g.inner] - largest);
                out[k * g.inner] = e;
                sum += e;
            }
            const float inverse = static_cast<float>(1.0 / sum);
            for (std::int64_t k = 0; k < g.features; ++k) out[k * g.inner] *= inverse;
        }
}

void Softmax::backward(const Tensor&, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) {
    if (grad_input == nullptr) return;
    grad_input->resize(output.shape());
    const SoftmaxGeometry g = softmax_geometry(output.shape());
#pragma omp parallel for
    for (std::int64_t n = 0; n < g.outer; ++n)
        for (std::int64_t p = 0; p < g.inner; ++p) {
            const std::int64_t start = n * g.features * g.inner + p;
            const float* out = output.data() + start;
            const float* grad = grad_output.data() + start;
            float* grad_in = grad_input->data() + start;
            double dot = 0.0;
            for (std::int64_t k = 0; k < g.features; ++k) dot += double(grad[k * g.inner]) * out[k * g.inner];
            for (std::int64_t k = 0; k < g.features; ++k)
                grad_in[k * g.inner] = out[k * g.inner] * (grad[k * g.inner] - static_cast<float>(dot));
        }
}

}  // namespace convnet
