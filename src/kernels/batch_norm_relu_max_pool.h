// Training's batch norm, ReLU and 2×2 max pooling (stride 2) in two sweeps over the activations
// each way instead of oneDNN's six (batch norm's statistics and normalisation, pooling; then
// pooling's scatter of the gradient, batch norm's sums and input gradient): the memory-bound
// passes of a [conv → batch norm → relu → max pool] block: convnet1's two took about 1.5 ms of its 6.9 ms step
// on AVX-512 (docs/PERFORMANCE.md, "Own kernels"). Internal header; the oneDNN backend's fused stage
// (src/engine/onednn/batch_norm_relu_max_pool.cpp) drives it.
//
// The math is torch.nn.BatchNorm2d's in training (batch mean and biased variance over (N, H, W))
// followed by torch.nn.ReLU and torch.nn.MaxPool2d(2) (floor mode: an odd last row or column is
// in no window). The gradient goes to the first maximum of a window, as MaxPool2d's, and not
// through a window whose maximum is 0 (ReLU's gradient at 0 is 0, as PyTorch's).
#pragma once

#include <convnet/core/window.h>

#include <cstdint>
#include <span>
#include <vector>

namespace convnet::kernels {

// The activations' shape and layout: (N, C, H, W) in oneDNN's channel blocks of `block` (8 or
// 16), (N, ⌈C/block⌉, H, W, block) — nChw8c or nChw16c. Lanes past C are ignored on input and
// written as 0.
struct BatchNormPoolGeometry {
    std::int64_t batch, channels, height, width, block;
};

// Whether this CPU runs the kernel (AVX2).
bool batch_norm_relu_max_pool_available();

// Whether a max pool's window is the kernel's: 2×2, stride 2, no padding, no dilation.
bool halving_window(const SlidingWindow& window);

// The kernel for one geometry, with what the forward keeps for the backward (each window's
// winner and its normalised value: two floats per output value) and each thread's partial sums.
class BatchNormReluMaxPool {
public:
    // Throws convnet::Error when a size is not positive, the plane is smaller than 2×2, the block
    // is not 8 or 16, or the CPU lacks AVX2 or FMA.
    explicit BatchNormReluMaxPool(const BatchNormPoolGeometry& geometry);

    // Output (N, C, ⌊H/2⌋, ⌊W/2⌋) in the input's layout.
    std::int64_t output_height() const { return geometry_.height / 2; }
    std::int64_t output_width() const { return geometry_.width / 2; }
    // Values per channel the statistics are taken over: N·H·W.
    std::int64_t count() const { return geometry_.batch * geometry_.height * geometry_.width; }

    // The batch mean and biased variance of every channel (C values each) of `input`, as
    // BatchNorm2d normalises with in training. Each row's sums in float, added up in double, all
    // shifted by the channel's first value so that a large mean does not cancel the variance away.
    void statistics(const float* input, std::span<double> mean, std::span<double> variance);

    // output = max over each window of relu(weight·(x − mean)/√(variance + epsilon) + bias), per
    // channel (weight, bias: C values, torch's gamma and beta); keeps each window's winner.
    void forward(const float* input, const float* weight, const float* bias, std::span<const double> mean, std::span<const double> variance,
                 double epsilon, float* output);

    // From the gradient of the pooled output (in the output's layout): Σdy and Σdy·x̂ over
    // (N, H, W) per channel, where dy is the gradient at batch norm's output and x̂ the normalised
    // input; Σdy is bias's gradient and Σdy·x̂ weight's (C values each). Needs forward's winners.
    void gradient_sums(const float* grad_output, std::span<double> sum_dy, std::span<double> sum_dy_xhat);

    // grad_input = weight·istd·(dy − Σdy/M − x̂·Σ(dy·x̂)/M), istd = 1/√(variance + epsilon), over
    // M = `count` values per channel (the global count and sums when the statistics are
    // synchronised over ranks), in the input's layout. Needs forward's winners.
    void input_gradient(const float* input, const float* grad_output, const float* weight, std::span<const double> mean,
                        std::span<const double> variance, double epsilon, std::span<const double> sum_dy,
                        std::span<const double> sum_dy_xhat, double count, float* grad_input);

private:
    // Per 8-lane group of channels g (channels 8g .. 8g + 7): where it starts in image n's
    // activations of the given plane size.
    std::int64_t group_offset(std::int64_t n, std::int64_t group, std::int64_t plane) const;
    template <typename Body>
    void for_each_image_range(const Body& body);
    template <typename Body>
    void for_each_block(const Body& body);
    // thread_sums_ added over the threads in order: per channel, the first and the second sum.
    void add_thread_sums(std::span<double> first, std::span<double> second) const;

    BatchNormPoolGeometry geometry_;
    std::int64_t groups_;  // 8-lane groups: ⌈C/block⌉·block/8
    int team_ = 1;         // the threads of the last parallel sweep
    // Forward's record for backward, one per output value (lanes included): the winner's
    // position in its window (0..3, or 4 when the maximum was 0 and no gradient flows) and its x̂.
    std::vector<float> winner_, winner_xhat_;
    std::vector<std::vector<double>> thread_sums_;  // per thread: 2 sums per lane of every group
};

}  // namespace convnet::kernels
