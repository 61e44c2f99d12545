// Logistic sigmoid 1 / (1 + e^−x), elementwise, as torch.nn.Sigmoid.
#pragma once

#include <convnet/nn/layer.h>

namespace convnet {

class Sigmoid : public Layer {
public:
    std::string type() const override { return "sigmoid"; }
    Shape output_shape(const Shape& input) const override { return input; }
    void forward(const Tensor& input, Tensor& output) const override;
    // From the output alone: dy/dx = y·(1 − y).
    void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) override;
};

}  // namespace convnet
