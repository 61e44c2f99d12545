// The sliding window the pooling layers share (MaxPool2d, AvgPool2d, L2Pool2d, GaussPool2d): a
// SlidingWindow with pooling's defaults and padding rule, its checks, shape rule and cost, and the
// loops over every window of every (image, channel) plane. Not a layer: each pool's options derive
// from it.
#pragma once

#include <convnet/nn/layer.h>
#include <convnet/core/tensor.h>

#include <algorithm>
#include <cstdint>
#include <string>

namespace convnet {

// Kernel 2, stride 2 unless set; no dilation; padding at most half the kernel (PyTorch's limit).
struct PoolWindow : SlidingWindow {
    PoolWindow() {
        kernel_height = kernel_width = 2;
        stride_height = stride_width = 2;
        padding_at_most_half_kernel = true;
    }
    // Throws convnet::Error "<layer>: padding P should be at most half the kernel K<note>" unless
    // padding_fits().
    void check_padding(const std::string& layer, const std::string& note = "") const;
    // kernel_size, stride and padding (PyTorch's names); model files write kernel= and stride=
    // always, pad= when it is not 0.
    std::vector<Attribute> attributes() const;
    // (N, C, H, W) -> (N, C, OH, OW), floor((W + 2P − F)/S) + 1 per axis; throws convnet::Error
    // naming `layer` when the input is not of rank 4 or a window is larger than the padded input.
    Shape output_shape(const std::string& layer, const Shape& input) const;
    // One multiply-add per kernel position of every window, for one image (batch of 1) of `input`.
    std::int64_t multiply_adds(const std::string& layer, const Shape& input) const;
    // The window alone, as Layer::sliding_window() describes it.
    SlidingWindow sliding_window() const { return *this; }
};

// The input rows (or columns) [first, last) one window covers along an axis, clipped to the
// input; start is where the unclipped window begins (negative inside the leading padding), so
// kernel offset a sits at input row start + a.
struct WindowSpan {
    std::int64_t start, first, last;

    std::int64_t size() const { return last - first; }
};

// One output value's window, as for_each_window hands it to its body.
struct WindowAt {
    std::int64_t input_plane;  // index of the first value of its (image, channel) plane in the input
    std::int64_t output;       // index of the output value it makes, in the (N, C, OH, OW) output
    std::int64_t width;        // W, the input plane's row length: input row ih, column iw is ih * W + iw
    WindowSpan rows, columns;
};

// Calls body(const WindowAt&) once for every window, for an input of shape `input` (N, C, H, W)
// and an output of shape `output` (N, C, OH, OW) from window.output_shape. Planes run in
// parallel, in any order: body may write only into the plane its window belongs to.
template <typename Body>
void for_each_window(const PoolWindow& window, const Shape& input, const Shape& output, const Body& body) {
    const std::int64_t planes = input[0] * input[1], height = input[2], width = input[3];
    const std::int64_t output_height = output[2], output_width = output[3];
    auto span = [](std::int64_t out_index, std::int64_t stride, std::int64_t padding, std::int64_t kernel, std::int64_t size) {
        const std::int64_t start = out_index * stride - padding;
        return WindowSpan{start, std::max<std::int64_t>(start, 0), std::min(start + kernel, size)};
    };
#pragma omp parallel for
    for (std::int64_t p = 0; p < planes; ++p)
        for (std::int64_t oh = 0; oh < output_height; ++oh) {
            const WindowSpan rows = span(oh, window.stride_height, window.padding_height, window.kernel_height, height);
            for (std::int64_t ow = 0; ow < output_width; ++ow)
                body(WindowAt{p * height * width, (p * output_height + oh) * output_width + ow, width, rows,
                              span(ow, window.stride_width, window.padding_width, window.kernel_width, width)});
        }
}

// The forward of a pool: output[window.output] = value(plane, window) for every window, plane
// pointing at the first value of the window's (image, channel) plane of `input`. `output` must
// already have its shape (N, C, OH, OW) from window.output_shape.
template <typename Value>
void map_windows(const PoolWindow& window, const Tensor& input, Tensor& output, const Value& value) {
    const float* source = input.data();
    float* target = output.data();
    for_each_window(window, input.shape(), output.shape(),
                    [&](const WindowAt& at) { target[at.output] = value(source + at.input_plane, at); });
}

}  // namespace convnet
