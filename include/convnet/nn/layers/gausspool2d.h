// Distance-weighted average pooling: each kh×kw window is averaged with fixed Gaussian weights
//   w[a][b] = exp(−((a − (kh−1)/2)² + (b − (kw−1)/2)²) / (2σ²)) / Z,   a < kh, b < kw,
// Z making the kh·kw weights sum to 1, so the window centre counts most. Padding reads as zero
// and keeps its weight (like AvgPool2d's count_include_pad). σ defaults to max(kh, kw)/2. PyTorch
// equivalent: F.conv2d(x, w.expand(C, 1, kh, kw), stride=S, padding=P, groups=C). No parameters.
#pragma once

#include <convnet/nn/layer.h>
#include <convnet/nn/layers/pool_window.h>

#include <vector>

namespace convnet {

struct GaussPool2dOptions : PoolWindow {
    double sigma = 1.0;  // in pixels; see default_sigma
};

class GaussPool2d : public Layer {
public:
    // Throws convnet::Error when padding exceeds half the kernel or sigma is not positive.
    explicit GaussPool2d(const GaussPool2dOptions& options);

    // The σ used when the model file gives none: half the larger kernel side.
    static double default_sigma(std::int64_t kernel_height, std::int64_t kernel_width);

    std::string type() const override { return "gausspool2d"; }
    std::vector<Attribute> attributes() const override;
    Shape output_shape(const Shape& input) const override;  // (N, C, H, W) -> (N, C, OH, OW)
    void forward(const Tensor& input, Tensor& output) const override;
    // Each input pixel receives grad_output times the weight it had in each window it fell in.
    void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) override;
    std::int64_t multiply_adds(const Shape& input) const override;
    const GaussPool2dOptions& options() const { return options_; }
    std::optional<SlidingWindow> sliding_window() const override { return options_.sliding_window(); }
    // The kh·kw normalised weights, row by row.
    const std::vector<float>& weights() const { return weights_; }

private:
    GaussPool2dOptions options_;
    std::vector<float> weights_;
};

}  // namespace convnet
