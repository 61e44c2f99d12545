// Sigmoid forward and backward.
#include <convnet/nn/layers/elementwise.h>
#include <convnet/nn/layers/sigmoid.h>

#include <cmath>

namespace convnet {

void Sigmoid::forward(const Tensor& input, Tensor& output) const {  // any shape, elementwise
    // Both branches evaluate exp of a non-positive number: no overflow for large |x|.
    map_elementwise<Lanes::scalar>(input, output, [](float x) {
        if (x >= 0.0f) return 1.0f / (1.0f + std::exp(-x));
        const float e = std::exp(x);
        return e / (1.0f + e);
    });
}

void Sigmoid::backward(const Tensor&, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) {
    if (grad_input == nullptr) return;
    map_elementwise(output, grad_output, *grad_input, [](float y, float grad) { return grad * y * (1.0f - y); });
}

}  // namespace convnet
