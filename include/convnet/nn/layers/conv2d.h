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

// The sizes one convolution call works with, derived once from the options, the input
// (N, C, H, W) and the output (N, out_channels, OH, OW): what the reference loops, im2col and the
// weight-gradient kernel of src/kernels all read.
struct Conv2dGeometry {
    std::int64_t batch, in_channels, in_height, in_width;
    std::int64_t out_channels, out_height, out_width;
    std::int64_t kernel_height, kernel_width;
    std::int64_t stride_height, stride_width, padding_height, padding_width, dilation_height, dilation_width;
    std::int64_t groups;

    // No checks: the shapes are the layer's (Conv2d::output_shape made the output from the input).
    static Conv2dGeometry of(const Conv2dOptions& options, const Shape& input, const Shape& output);

    std::int64_t patch_size() const { return in_channels * kernel_height * kernel_width; }  // im2col rows
    // Group g reads input channels [g·group_in, (g+1)·group_in): im2col rows
    // [g·group_patch_size, (g+1)·group_patch_size), and writes output channels [g·group_out, ...).
    std::int64_t group_in_channels() const { return in_channels / groups; }
    std::int64_t group_out_channels() const { return out_channels / groups; }
    std::int64_t group_patch_size() const { return patch_size() / groups; }  // one weight row
    std::int64_t out_pixels() const { return out_height * out_width; }       // im2col cols
    std::int64_t in_image() const { return in_channels * in_height * in_width; }
    std::int64_t out_image() const { return out_channels * out_pixels(); }
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
