// Test support: tensors in oneDNN's channel-blocked layouts (nChw8c, nChw16c), as the kernels of
// src/kernels read and write them, and the comparison of a kernel's output with the reference's.
#pragma once

#include <convnet/core/tensor.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace convnet::testing {

// (N, C, H, W) into (N, ⌈C/block⌉, H, W, block) (block 8 or 16; 1 keeps it plain), the lanes past
// C holding `padding` (NaN by default: a kernel must ignore them).
inline std::vector<float> to_blocked(const Tensor& tensor, std::int64_t block, float padding = std::numeric_limits<float>::quiet_NaN()) {
    if (block == 1) return std::vector<float>(tensor.data(), tensor.data() + tensor.size());
    const std::int64_t n = tensor.shape()[0], channels = tensor.shape()[1];
    const std::int64_t pixels = tensor.shape()[2] * tensor.shape()[3];
    const std::int64_t blocks = (channels + block - 1) / block;
    std::vector<float> blocked(static_cast<std::size_t>(n * blocks * pixels * block), padding);
    for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t c = 0; c < channels; ++c)
            for (std::int64_t p = 0; p < pixels; ++p)
                blocked[static_cast<std::size_t>(((i * blocks + c / block) * pixels + p) * block + c % block)] =
                    tensor[(i * channels + c) * pixels + p];
    return blocked;
}

// The lanes of `blocked` that hold channels, as a plain tensor of `shape` (N, C, H, W).
inline Tensor from_blocked(const std::vector<float>& blocked, const Shape& shape, std::int64_t block) {
    Tensor tensor(shape);
    const std::int64_t n = shape[0], channels = shape[1], pixels = shape[2] * shape[3];
    const std::int64_t blocks = (channels + block - 1) / block;
    for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t c = 0; c < channels; ++c)
            for (std::int64_t p = 0; p < pixels; ++p)
                tensor[(i * channels + c) * pixels + p] =
                    blocked[static_cast<std::size_t>(((i * blocks + c / block) * pixels + p) * block + c % block)];
    return tensor;
}

// Every value within `tolerance` of the largest expected magnitude (plus 1e-6), the first one off
// named `what`[i].
inline void expect_close_to_largest(const char* what, const float* actual, const float* expected, std::int64_t count, double tolerance) {
    double largest = 0.0;
    for (std::int64_t i = 0; i < count; ++i) largest = std::max(largest, double(std::abs(expected[i])));
    for (std::int64_t i = 0; i < count; ++i) ASSERT_NEAR(actual[i], expected[i], tolerance * largest + 1e-6) << what << "[" << i << "]";
}

}  // namespace convnet::testing
