// 2-D convolution over volumes, as torch.nn.Conv2d: weight (out, in/groups, kh, kw), bias (out).
// Output size per axis: floor((W + 2P - D(F-1) - 1) / S) + 1, which is (W - F + 2P)/S + 1 for D = 1.
// With groups G the channels split into G blocks, output block g seeing only input block g;
// G = in channels is a depthwise convolution.
#pragma once

#include <convnet/layer.h>

namespace convnet {

struct Conv2dOptions {
    std::int64_t in_channels = 1;
    std::int64_t out_channels = 1;
    std::int64_t kernel_height = 1, kernel_width = 1;
    std::int64_t stride_height = 1, stride_width = 1;
    std::int64_t padding_height = 0, padding_width = 0;
    std::int64_t dilation_height = 1, dilation_width = 1;
    std::int64_t groups = 1;  // must divide in_channels and out_channels
    bool bias = true;
};

// Output length along one axis; throws naming `layer` and the numbers when it is not positive.
std::int64_t convolution_output_size(const std::string& layer, const char* axis, std::int64_t input, std::int64_t kernel,
                                     std::int64_t stride, std::int64_t padding, std::int64_t dilation);

class Conv2d : public Layer {
public:
    // Throws convnet::Error when groups does not divide in_channels and out_channels.
    explicit Conv2d(const Conv2dOptions& options);

    std::string type() const override { return "conv2d"; }
    std::string options_text() const override;
    Shape output_shape(const Shape& input) const override;  // (N, C, H, W) -> (N, out, OH, OW)
    void forward(const Tensor& input, Tensor& output) const override;
    void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) override;
    void initialize(Random& random) override;
    std::int64_t multiply_adds(const Shape& input) const override;
    const Conv2dOptions& options() const { return options_; }
    std::optional<SlidingWindow> sliding_window() const override {
        const Conv2dOptions& o = options_;
        return SlidingWindow{o.kernel_height, o.kernel_width,    o.stride_height,  o.stride_width, o.padding_height,
                             o.padding_width, o.dilation_height, o.dilation_width, false};
    }

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
