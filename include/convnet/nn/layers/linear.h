// Fully connected layer y = x·Wᵀ + b, as torch.nn.Linear: weight (out, in), bias (out).
#pragma once

#include <convnet/nn/layer.h>

namespace convnet {

struct LinearOptions {
    std::int64_t in_features = 1;
    std::int64_t out_features = 1;
    bool bias = true;
};

class Linear : public Layer {
public:
    explicit Linear(const LinearOptions& options);

    std::string type() const override { return "linear"; }
    std::vector<Attribute> attributes() const override;
    Shape output_shape(const Shape& input) const override;  // (N, in) -> (N, out)
    void forward(const Tensor& input, Tensor& output) const override;
    void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) override;
    void initialize(Random& random) override;
    std::int64_t multiply_adds(const Shape&) const override {
        return checked_multiply(options_.in_features, options_.out_features, "linear multiply-adds");
    }
    const LinearOptions& options() const { return options_; }

    // The parameters by name (PyTorch's); bias() is null when the layer has none (bias=false).
    Parameter& weight() { return param(weight_); }
    const Parameter& weight() const { return param(weight_); }
    Parameter* bias() { return bias_ >= 0 ? &param(bias_) : nullptr; }
    const Parameter* bias() const { return bias_ >= 0 ? &param(bias_) : nullptr; }

private:
    LinearOptions options_;
    int weight_ = -1;
    int bias_ = -1;
};

}  // namespace convnet
