// Rectified linear unit, max(0, x), elementwise, as torch.nn.ReLU.
#pragma once

#include <convnet/nn/layer.h>

namespace convnet {

class ReLU : public Layer {
public:
    std::string type() const override { return "relu"; }
    Shape output_shape(const Shape& input) const override { return input; }
    void forward(const Tensor& input, Tensor& output) const override;
    // The gradient passes where the output is positive (so 0 at x = 0, as PyTorch).
    void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) override;
};

}  // namespace convnet
