// The weight and bias gradient of a 2-D convolution whose input has few channels, on any CPU with
// AVX2: convnet1's first layer (1 input channel), where oneDNN 2.6's AVX2 kernel runs at about
// 17 GFLOP/s and takes a fifth of a training step (docs/PERFORMANCE.md, "Own kernels").
// A direct kernel: every tap's gradient is a dot product over the batch and the output pixels,
// with the output channels in the vector lanes. Internal header; the oneDNN convolution stage
// (src/engine/onednn/convolution.cpp) decides when it runs.
#pragma once

#include <convnet/core/tensor.h>
#include <convnet/core/window.h>

#include <cstdint>
#include <vector>

namespace convnet::kernels {

// The output channels in one vector of sums (AVX2: 8 floats).
constexpr std::int64_t kWeightGradChannelBlock = 8;

// The most input channels for which the oneDNN stage uses this kernel instead of oneDNN's
// (docs/PERFORMANCE.md, "Own kernels"). With 1 input channel oneDNN 2.6's AVX2 kernel is ten
// times slower than ours and its AVX-512 one no faster; with 8, its weight gradient takes the input
// in 8-channel blocks, for which it has only its jit:avx2 kernel, on AVX-512 machines too, and ours
// is faster (speedrun-91's step 10 % faster on AVX-512); at 16 its AVX-512 kernel wins (convnet1's
// step 20 % slower with ours).
constexpr std::int64_t kWeightGradMostInChannels = 8;

// How the kernel's operands are laid out: oneDNN's channel-blocked layouts, so that the stage
// hands over what its neighbours wrote without a conversion.
struct ConvWeightGradLayout {
    std::int64_t input_block = 1;        // 1: plain (N, C, H, W); 8 or 16: nChw8c / nChw16c
    std::int64_t grad_output_block = 8;  // 8 or 16: nChw8c / nChw16c
};

// Whether this CPU runs the kernel (AVX2 and FMA).
bool conv_weight_grad_available();

// The kernel for one geometry, with its scratch (a zero-padded input plane and the partial sums
// of each thread), sized on the first run and kept.
class ConvWeightGrad {
public:
    // `geometry`: groups 1 and dilation 1 (Conv2dGeometry::of for a layer). Padding is the
    // leading (top, left) padding; the output size says how far the window goes. Throws
    // convnet::Error when a size is not positive, groups or dilation is not 1, the output size
    // does not follow from the input's (as torch.nn.Conv2d's floor((H + 2P − K) / S) + 1 or
    // smaller), a block size is not one of the layout's, or the CPU lacks AVX2.
    explicit ConvWeightGrad(const Conv2dGeometry& geometry, ConvWeightGradLayout layout = {});

    // input: (N, C, H, W) plain, or (N, ⌈C/B⌉, H, W, B) for input_block B; grad_output:
    // (N, ⌈O/B⌉, OH, OW, B) for grad_output_block B (oneDNN's nChw8c, nChw16c), whose lanes past
    // O are ignored (whatever they hold); grad_weight: (O, C, KH, KW) and grad_bias:
    // (O) or null, overwritten, as torch.nn.grad.conv2d_weight and the sum of grad_output over
    // (N, OH, OW). Runs on the OpenMP threads: each sums a contiguous range of the batch, and the
    // ranges are added in order, so the result depends on the thread count, never on timing.
    void run(const float* input, const float* grad_output, float* grad_weight, float* grad_bias);

    // Multiply-adds of one run: N·O·C·KH·KW·OH·OW.
    std::int64_t multiply_adds() const;

private:
    void run_range(int thread, std::int64_t first, std::int64_t last, const float* input, const float* grad_output, bool bias);
    // Where the 8 channels from 8·block start in grad_output, for image n.
    std::int64_t grad_offset(std::int64_t n, std::int64_t block) const;
    // Copies channel ic of image n into the padded plane's interior.
    void fill_plane(float* plane, const float* input, std::int64_t n, std::int64_t ic) const;

    Conv2dGeometry geometry_;
    ConvWeightGradLayout layout_;
    std::int64_t blocks_, plane_height_, plane_width_, copied_rows_, copied_columns_, sums_per_thread_;
    std::vector<std::vector<float>> planes_, sums_;  // per thread
};

}  // namespace convnet::kernels
