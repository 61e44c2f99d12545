// L2-norm pooling: the square root of the sum of squares over each kh×kw window, as
// torch.nn.LPPool2d(norm_type=2). Output floor((W + 2P − F)/S) + 1 per axis; PyTorch's LPPool2d
// has no padding, here padding adds zeros, which add nothing to a window's sum.
#pragma once

#include <convnet/nn/layer.h>
#include <convnet/nn/layers/pool_window.h>

namespace convnet {

struct L2Pool2dOptions : PoolWindow {};

class L2Pool2d : public Layer {
public:
    // Throws convnet::Error when padding exceeds half the kernel (so every window meets the input).
    explicit L2Pool2d(const L2Pool2dOptions& options);

    std::string type() const override { return "l2pool2d"; }
    std::vector<Attribute> attributes() const override;
    Shape output_shape(const Shape& input) const override;  // (N, C, H, W) -> (N, C, OH, OW)
    void forward(const Tensor& input, Tensor& output) const override;
    // d out / d x = x / out for each pixel of the window; 0 for a window whose values are all
    // zero, where the square root has no derivative (PyTorch gives nan or inf there).
    void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) override;
    std::int64_t multiply_adds(const Shape& input) const override;
    const L2Pool2dOptions& options() const { return options_; }
    std::optional<SlidingWindow> sliding_window() const override { return options_.sliding_window(); }

private:
    L2Pool2dOptions options_;
};

}  // namespace convnet
