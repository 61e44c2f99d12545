// Max pooling over F×F windows with stride S and padding P, as torch.nn.MaxPool2d:
// output floor((W + 2P − F)/S) + 1 per axis; padding never wins a window.
#pragma once

#include <convnet/nn/layer.h>
#include <convnet/nn/layers/pool_window.h>

namespace convnet {

struct MaxPool2dOptions : PoolWindow {};

class MaxPool2d : public Layer {
public:
    explicit MaxPool2d(const MaxPool2dOptions& options);

    std::string type() const override { return "maxpool2d"; }
    std::vector<Attribute> attributes() const override;
    Shape output_shape(const Shape& input) const override;  // (N, C, H, W) -> (N, C, OH, OW)
    void forward(const Tensor& input, Tensor& output) const override;
    // Routes each output's gradient to the first maximum of its window (PyTorch's choice on ties).
    void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) override;
    std::int64_t multiply_adds(const Shape&) const override { return 0; }
    const MaxPool2dOptions& options() const { return options_; }
    std::optional<SlidingWindow> sliding_window() const override { return options_.sliding_window(); }

private:
    MaxPool2dOptions options_;
};

}  // namespace convnet
