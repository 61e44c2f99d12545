// The sliding window of a convolution or pooling layer: kernel, stride, padding and dilation per
// axis, and the one definition of the output-size rule. Conv2dOptions and the pools' PoolWindow
// derive from it; the summary and the oneDNN engine read it through Layer::sliding_window(). And
// the sizes of one convolution call, which the layer and the kernels below it share.
#pragma once

#include <convnet/core/tensor.h>

#include <cstdint>
#include <string>
#include <utility>

namespace convnet {

struct SlidingWindow {
    std::int64_t kernel_height = 1, kernel_width = 1;
    std::int64_t stride_height = 1, stride_width = 1;
    std::int64_t padding_height = 0, padding_width = 0;  // zeros on both sides of each axis
    std::int64_t dilation_height = 1, dilation_width = 1;
    // Pooling's rule (as PyTorch's): padding at most half the kernel, so every window meets the
    // input. Convolutions allow any padding.
    bool padding_at_most_half_kernel = false;

    // Rows the kernel spans along height, D(F − 1) + 1; columns along width.
    std::int64_t span_height() const { return dilation_height * (kernel_height - 1) + 1; }
    std::int64_t span_width() const { return dilation_width * (kernel_width - 1) + 1; }
    bool padding_fits() const { return 2 * padding_height <= kernel_height && 2 * padding_width <= kernel_width; }

    // (output height, output width) for an input plane of height × width, each
    // floor((W + 2P − D(F − 1) − 1)/S) + 1 as torch.nn.Conv2d and torch.nn.MaxPool2d
    // (ceil_mode=False). Throws convnet::Error naming `layer` and the numbers when the kernel's
    // span is larger than the padded input.
    std::pair<std::int64_t, std::int64_t> output_size(const std::string& layer, std::int64_t height, std::int64_t width) const;
};

// The sizes one convolution call works with, derived once from the options, the input
// (N, C, H, W) and the output (N, out_channels, OH, OW): what the reference loops, im2col and the
// weight-gradient kernel of src/kernels all read (nn/layers/conv2d.h: Conv2d).
struct Conv2dGeometry {
    std::int64_t batch, in_channels, in_height, in_width;
    std::int64_t out_channels, out_height, out_width;
    std::int64_t kernel_height, kernel_width;
    std::int64_t stride_height, stride_width, padding_height, padding_width, dilation_height, dilation_width;
    std::int64_t groups;

    // No checks: the shapes are the layer's (Conv2d::output_shape made the output from the input);
    // `window` and `groups` are its options'.
    static Conv2dGeometry of(const SlidingWindow& window, std::int64_t groups, const Shape& input, const Shape& output);

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

// "3" when height and width agree, else "3x5": how model files write a per-axis size.
std::string pair_text(std::int64_t height, std::int64_t width);

}  // namespace convnet
