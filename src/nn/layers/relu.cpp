// ReLU forward and backward.
#include <convnet/nn/layers/elementwise.h>
#include <convnet/nn/layers/relu.h>

namespace convnet {

void ReLU::forward(const Tensor& input, Tensor& output) const {  // any shape, elementwise
    // NaN passes through as NaN, as torch.relu: only a value known to be negative becomes 0.
    map_elementwise(input, output, [](float x) { return x < 0.0f ? 0.0f : x; });
}

void ReLU::backward(const Tensor&, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) {
    if (grad_input == nullptr) return;
    // torch's threshold_backward: the gradient is cut where the output is <= 0, kept elsewhere (NaN too).
    map_elementwise(output, grad_output, *grad_input, [](float y, float grad) { return y <= 0.0f ? 0.0f : grad; });
}

}  // namespace convnet
