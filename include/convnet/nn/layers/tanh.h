// Hyperbolic tangent, elementwise, as torch.nn.Tanh: LeNet-5's nonlinearity.
#pragma once

#include <convnet/nn/layer.h>

namespace convnet {

class Tanh : public Layer {
public:
    std::string type() const override { return "tanh"; }
    Shape output_shape(const Shape& input) const override { return input; }
    void forward(const Tensor& input, Tensor& output) const override;
    // From the output alone: dy/dx = 1 − y².
    void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) override;
};

}  // namespace convnet
