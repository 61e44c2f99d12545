// Global average pooling, (N, C, H, W) -> (N, C, 1, 1): the mean of each feature map, as
// torch.nn.AdaptiveAvgPool2d(1). No options.
#pragma once

#include <convnet/nn/layer.h>

namespace convnet {

class GlobalAvgPool2d : public Layer {
public:
    std::string type() const override { return "globalavgpool2d"; }
    // As torch.nn.AdaptiveAvgPool2d(output_size=1).
    std::vector<Attribute> attributes() const override { return {{"output_size", std::int64_t{1}, "", true}}; }
    Shape output_shape(const Shape& input) const override;  // (N, C, H, W) -> (N, C, 1, 1)
    void forward(const Tensor& input, Tensor& output) const override;
    // Every pixel of a map receives its map's gradient divided by H·W.
    void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) override;
    std::int64_t multiply_adds(const Shape& input) const override { return input.with_batch(1).element_count(); }
};

}  // namespace convnet
