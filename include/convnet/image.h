// Images in and out of the library: PNG files read into network inputs (grey or RGB, values in
// [0, 1] as in training) and tensors written as PNG pictures.
#pragma once

#include <convnet/tensor.h>

#include <cstdint>
#include <filesystem>
#include <vector>

namespace convnet {

// Reads a PNG as `channels` planes (1: grey, 3: RGB; alpha is composited onto black) of
// `height`×`width`, scaled to [0, 1] like the training data: a (1, channels, height, width)
// tensor. Throws naming the file when it is not a PNG, is damaged, or has another size.
Tensor read_png(const std::filesystem::path& path, std::int64_t channels, std::int64_t height, std::int64_t width);

// Writes 8-bit pixels, planes (channels, height, width) with 1 (grey) or 3 (RGB) channels, as a
// PNG, atomically.
void write_png(const std::filesystem::path& path, const std::vector<std::uint8_t>& planes, std::int64_t channels, std::int64_t height,
               std::int64_t width);

}  // namespace convnet
