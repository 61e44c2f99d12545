// Upsampling of (N, C, H, W) by whole factors, as torch.nn.Upsample(scale_factor=(sh, sw),
// mode='nearest' or 'bilinear', align_corners=False): output (N, C, H·sh, W·sw). Nearest copies
// input pixel (oh / sh, ow / sw); bilinear reads the input at ((o + 0.5)/s − 0.5) per axis, clamped
// below at 0, between its two neighbours (PyTorch's half-pixel rule). No parameters.
#pragma once

#include <convnet/nn/layer.h>

namespace convnet {

struct Upsample2dOptions {
    std::int64_t scale_height = 2, scale_width = 2;  // whole factors, at least 1
    bool bilinear = false;                           // else nearest
};

class Upsample2d : public Layer {
public:
    // Throws convnet::Error when a scale factor is below 1.
    explicit Upsample2d(const Upsample2dOptions& options);

    std::string type() const override { return "upsample2d"; }
    std::vector<Attribute> attributes() const override;
    Shape output_shape(const Shape& input) const override;  // (N, C, H, W) -> (N, C, H·sh, W·sw)
    // "14·2 = 28" per axis.
    std::string output_size_formula(const Shape& input, const Shape& output) const override;
    void forward(const Tensor& input, Tensor& output) const override;
    // Each output's gradient goes back to the input pixels it was read from, with the same weights.
    void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) override;
    // Bilinear: 4 multiply-adds per output value; nearest: none.
    std::int64_t multiply_adds(const Shape& input) const override;
    const Upsample2dOptions& options() const { return options_; }

private:
    Upsample2dOptions options_;
};

}  // namespace convnet
