// The sliding window of a convolution or pooling layer: kernel, stride, padding and dilation per
// axis, and the one definition of the output-size rule. Conv2dOptions and the pools' PoolWindow
// derive from it; the summary and the oneDNN engine read it through Layer::sliding_window().
#pragma once

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

// "3" when height and width agree, else "3x5": how model files write a per-axis size.
std::string pair_text(std::int64_t height, std::int64_t width);

}  // namespace convnet
