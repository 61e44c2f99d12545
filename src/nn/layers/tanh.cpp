// Tanh forward and backward.
#include <convnet/nn/layers/elementwise.h>
#include <convnet/nn/layers/tanh.h>

#include <cmath>

namespace convnet {

void Tanh::forward(const Tensor& input, Tensor& output) const {  // any shape, elementwise
    map_elementwise<Lanes::scalar>(input, output, [](float x) { return std::tanh(x); });
}

void Tanh::backward(const Tensor&, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) {
    if (grad_input == nullptr) return;
    map_elementwise(output, grad_output, *grad_input, [](float y, float grad) { return grad * (1.0f - y * y); });
}

}  // namespace convnet
