// ReLU forward and backward.
#include <convnet/layers/elementwise.h>
#include <convnet/layers/relu.h>

namespace convnet {

void ReLU::forward(const Tensor& input, Tensor& output) const {  // any shape, elementwise
    map_elementwise(input, output, [](float x) { return x > 0.0f ? x : 0.0f; });
}

void ReLU::backward(const Tensor&, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) {
    if (grad_input == nullptr) return;
    map_elementwise(output, grad_output, *grad_input, [](float y, float grad) { return y > 0.0f ? grad : 0.0f; });
}

}  // namespace convnet
