// Flattens (N, C, H, W) to (N, C·H·W) in NCHW order, as torch.nn.Flatten.
#pragma once

#include <convnet/nn/layer.h>

namespace convnet {

class Flatten : public Layer {
public:
    std::string type() const override { return "flatten"; }
    std::vector<Attribute> attributes() const override { return {{"start_dim", std::int64_t{1}, "", true}}; }
    Shape output_shape(const Shape& input) const override;
    // "7·7·32 = 1568": the product of the per-image dimensions, last first (W·H·C, as the summary's volumes).
    std::string output_size_formula(const Shape& input, const Shape& output) const override;
    void forward(const Tensor& input, Tensor& output) const override;
    void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) override;
};

}  // namespace convnet
