// Elementwise sum of two or more inputs of one shape, as `a + b` in a torch module's forward:
// ResNet's shortcut (torchvision's BasicBlock: out += identity), dlib's add_prev, Darknet's
// shortcut. Any shape; output the same shape. No parameters.
#pragma once

#include <convnet/nn/layers/join.h>

namespace convnet {

class Add : public JoinLayer {
public:
    // `inputs`: how many it sums (for multiply_adds).
    explicit Add(int inputs) : inputs_(inputs) {}

    std::string type() const override { return "add"; }
    // (N, ...) × k, all the same shape -> (N, ...); throws naming the input that differs.
    Shape graph_output_shape(std::span<const Shape> inputs) const override;
    void graph_forward(std::span<const Tensor* const> inputs, Tensor& output) const override;
    // Every input's gradient is grad_output itself.
    void graph_backward(std::span<const Tensor* const> inputs, const Tensor& output, const Tensor& grad_output,
                        std::span<Tensor* const> grad_inputs) override;
    // One addition per element per input after the first.
    std::int64_t multiply_adds(const Shape& input) const override { return input.with_batch(1).element_count() * (inputs_ - 1); }

private:
    int inputs_;
};

}  // namespace convnet
