// Concatenation along the channel axis, as torch.cat(inputs, dim=1): (N, C1, H, W), (N, C2, H, W)
// ... -> (N, C1 + C2 + ..., H, W), or (N, F1), (N, F2) ... -> (N, F1 + F2 + ...). U-Net's skip
// connections, dlib's concat_, Darknet's route. No parameters.
#pragma once

#include <convnet/nn/layers/join.h>

namespace convnet {

class Concat : public JoinLayer {
public:
    std::string type() const override { return "concat"; }
    std::vector<Attribute> attributes() const override { return {{"dim", std::int64_t{1}, "", true}}; }
    // Throws naming the input whose rank, or whose size on an axis other than 1, differs.
    Shape graph_output_shape(std::span<const Shape> inputs) const override;
    void graph_forward(std::span<const Tensor* const> inputs, Tensor& output) const override;
    // Each input's gradient is its block of grad_output's channels.
    void graph_backward(std::span<const Tensor* const> inputs, const Tensor& output, const Tensor& grad_output,
                        std::span<Tensor* const> grad_inputs) override;
};

}  // namespace convnet
