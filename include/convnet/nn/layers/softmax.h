// Softmax over axis 1 (the features of (N, F), the channels of (N, C, H, W)), as
// torch.nn.Softmax(dim=1): a layer for probability outputs. Not for training a classifier with
// convnet's loss, which applies softmax itself (softmax_cross_entropy takes raw scores).
#pragma once

#include <convnet/nn/layer.h>

namespace convnet {

class Softmax : public Layer {
public:
    std::string type() const override { return "softmax"; }
    std::vector<Attribute> attributes() const override { return {{"dim", std::int64_t{1}, "", true}}; }
    Shape output_shape(const Shape& input) const override;  // unchanged; rank at least 2
    bool outputs_probabilities() const override { return true; }
    void forward(const Tensor& input, Tensor& output) const override;
    // The Jacobian-vector product from the output alone: dx_k = y_k·(dy_k − Σ_j dy_j·y_j).
    void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) override;
};

}  // namespace convnet
