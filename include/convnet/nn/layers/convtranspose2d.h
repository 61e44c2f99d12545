// Transposed 2-D convolution, as torch.nn.ConvTranspose2d: weight (in, out/groups, kh, kw), bias
// (out). Each input pixel scatters its kernel-weighted values into the output, the input pixel at
// (ih, iw) landing at (ih·S − P + a·D, iw·S − P + b·D) for kernel offset (a, b): the gradient of a
// Conv2d with the same options with respect to its input. Output size per axis:
//   (W − 1)·S − 2P + D·(F − 1) + output_padding + 1,
// output_padding < max(S, D) adding rows at the bottom/right (it picks among the input sizes a
// strided convolution maps to the same output). Upsampling with learned weights: U-Net's way up.
#pragma once

#include <convnet/nn/layer.h>

namespace convnet {

// The window (kernel_size, stride, padding, dilation per axis), the channels and output_padding.
struct ConvTranspose2dOptions : SlidingWindow {
    std::int64_t in_channels = 1;
    std::int64_t out_channels = 1;
    std::int64_t output_padding_height = 0, output_padding_width = 0;
    std::int64_t groups = 1;  // must divide in_channels and out_channels
    bool bias = true;
};

class ConvTranspose2d : public Layer {
public:
    // Throws convnet::Error when groups does not divide the channels or output_padding is not
    // smaller than the stride or the dilation (PyTorch's rule).
    explicit ConvTranspose2d(const ConvTranspose2dOptions& options);

    std::string type() const override { return "convtranspose2d"; }
    std::vector<Attribute> attributes() const override;
    Shape output_shape(const Shape& input) const override;  // (N, in, H, W) -> (N, out, OH, OW)
    // The rule above with the numbers put in, per axis: "(7 − 1)·2 − 2·0 + 1·(2 − 1) + 0 + 1 = 14".
    std::string output_size_formula(const Shape& input, const Shape& output) const override;
    void forward(const Tensor& input, Tensor& output) const override;
    void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) override;
    // PyTorch's: kaiming_uniform_(a=√5) over fan_in = (out/groups)·kh·kw (weight.size(1) times the
    // kernel), the bias from the same bound.
    void initialize(Random& random) override;
    // in/groups · kh · kw per input pixel and output channel block: (N=1) H·W·in·(out/groups)·kh·kw.
    std::int64_t multiply_adds(const Shape& input) const override;
    const ConvTranspose2dOptions& options() const { return options_; }

    Parameter& weight() { return param(weight_); }
    const Parameter& weight() const { return param(weight_); }
    Parameter* bias() { return bias_ >= 0 ? &param(bias_) : nullptr; }
    const Parameter* bias() const { return bias_ >= 0 ? &param(bias_) : nullptr; }

private:
    ConvTranspose2dOptions options_;
    int weight_ = -1;
    int bias_ = -1;
};

}  // namespace convnet
