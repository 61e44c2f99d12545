// Leaky rectified linear unit, x for x > 0 and negative_slope·x otherwise, elementwise, as
// torch.nn.LeakyReLU (negative_slope 0.01 by default).
#pragma once

#include <convnet/nn/layer.h>

namespace convnet {

struct LeakyReLUOptions {
    double negative_slope = 0.01;
};

class LeakyReLU : public Layer {
public:
    explicit LeakyReLU(const LeakyReLUOptions& options) : options_(options) {}

    std::string type() const override { return "leakyrelu"; }
    std::vector<Attribute> attributes() const override;
    Shape output_shape(const Shape& input) const override { return input; }
    void forward(const Tensor& input, Tensor& output) const override;
    // Slope 1 where the input is positive, negative_slope elsewhere (so at x = 0, as PyTorch). Reads
    // the input, not the output: with a negative slope the output's sign would not tell.
    void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) override;
    const LeakyReLUOptions& options() const { return options_; }

private:
    LeakyReLUOptions options_;
};

}  // namespace convnet
