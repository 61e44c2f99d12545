// 2-D convolution over volumes, as torch.nn.Conv2d: weight (out, in/groups, kh, kw), bias (out).
// Output size per axis: floor((W + 2P - D(F-1) - 1) / S) + 1, which is (W - F + 2P)/S + 1 for D = 1.
// With groups G the channels split into G blocks, output block g seeing only input block g;
// G = in channels is a depthwise convolution.
#pragma once

#include <convnet/nn/layer.h>

namespace convnet {

// The window (kernel_size, stride, padding, dilation per axis) and the channels.
struct Conv2dOptions : SlidingWindow {
    std::int64_t in_channels = 1;
    std::int64_t out_channels = 1;
    std::int64_t groups = 1;  // must divide in_channels and out_channels
    bool bias = true;
};

class Conv2d : public Layer {
public:
    // Throws convnet::Error when groups does not divide in_channels and out_channels.
    explicit Conv2d(const Conv2dOptions& options);

    std::string type() const override { return "conv2d"; }
    std::vector<Attribute> attributes() const override;
    Shape output_shape(const Shape& input) const override;  // (N, C, H, W) -> (N, out, OH, OW)
    void forward(const Tensor& input, Tensor& output) const override;
    void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) override;
    void initialize(Random& random) override;
    std::int64_t multiply_adds(const Shape& input) const override;
    const Conv2dOptions& options() const { return options_; }
    std::optional<SlidingWindow> sliding_window() const override { return static_cast<const SlidingWindow&>(options_); }

    // Plain loops over the definition: the reference the fast path is tested against.
    void forward_reference(const Tensor& input, Tensor& output) const;
    void backward_reference(const Tensor& input, const Tensor& grad_output, Tensor* grad_input);

    // The parameters by name (PyTorch's); bias() is null when the layer has none (bias=false).
    Parameter& weight() { return param(weight_); }
    const Parameter& weight() const { return param(weight_); }
    Parameter* bias() { return bias_ >= 0 ? &param(bias_) : nullptr; }
    const Parameter* bias() const { return bias_ >= 0 ? &param(bias_) : nullptr; }

private:
    Conv2dOptions options_;
    int weight_ = -1;
    int bias_ = -1;
};

}  // namespace convnet
