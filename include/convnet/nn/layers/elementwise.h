// The parallel loop the elementwise activations share (ReLU, LeakyReLU, Sigmoid, Tanh): one
// function applied to every element of a tensor, or of two tensors side by side. Not a layer.
#pragma once

#include <convnet/core/tensor.h>

namespace convnet {

// Whether the loop also runs in SIMD lanes: simd for plain arithmetic; scalar for functions that
// call into libm (std::exp, std::tanh), so that no vector maths library, with its own rounding,
// stands in for them.
enum class Lanes { simd, scalar };

// output[i] = function(input[i]) for every element; output takes input's shape (any shape).
template <Lanes lanes = Lanes::simd, typename Function>
void map_elementwise(const Tensor& input, Tensor& output, const Function& function) {
    output.resize(input.shape());
    const std::int64_t size = input.size();
    const float* in = input.data();
    float* out = output.data();
    if constexpr (lanes == Lanes::simd) {
#pragma omp parallel for simd
        for (std::int64_t i = 0; i < size; ++i) out[i] = function(in[i]);
    } else {
#pragma omp parallel for
        for (std::int64_t i = 0; i < size; ++i) out[i] = function(in[i]);
    }
}

// output[i] = function(first[i], second[i]) for every element; first and second have the same
// shape, which output takes. The activations' backward: (input or output, grad_output) -> grad_input.
template <typename Function>
void map_elementwise(const Tensor& first, const Tensor& second, Tensor& output, const Function& function) {
    output.resize(first.shape());
    const std::int64_t size = first.size();
    const float* a = first.data();
    const float* b = second.data();
    float* out = output.data();
#pragma omp parallel for simd
    for (std::int64_t i = 0; i < size; ++i) out[i] = function(a[i], b[i]);
}

}  // namespace convnet
