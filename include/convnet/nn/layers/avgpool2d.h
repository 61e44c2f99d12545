// Average pooling over kh×kw windows with stride and zero padding, as torch.nn.AvgPool2d
// (ceil_mode=False): output floor((W + 2P − F)/S) + 1 per axis. count_include_pad (PyTorch's
// default, true) divides every window by kh·kw; false divides by the input pixels it covers.
#pragma once

#include <convnet/nn/layer.h>
#include <convnet/nn/layers/pool_window.h>

namespace convnet {

struct AvgPool2dOptions : PoolWindow {
    bool count_include_pad = true;
};

class AvgPool2d : public Layer {
public:
    // Throws convnet::Error when padding exceeds half the kernel (PyTorch's limit).
    explicit AvgPool2d(const AvgPool2dOptions& options);

    std::string type() const override { return "avgpool2d"; }
    std::vector<Attribute> attributes() const override;
    Shape output_shape(const Shape& input) const override;  // (N, C, H, W) -> (N, C, OH, OW)
    void forward(const Tensor& input, Tensor& output) const override;
    // Spreads each output's gradient evenly, divided by the same count, over its window's pixels.
    void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) override;
    std::int64_t multiply_adds(const Shape& input) const override;
    const AvgPool2dOptions& options() const { return options_; }
    std::optional<SlidingWindow> sliding_window() const override { return options_.sliding_window(); }

private:
    AvgPool2dOptions options_;
};

}  // namespace convnet
