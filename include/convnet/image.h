// Images in and out of the library: PNG files read into network inputs (grey or RGB, values in
// [0, 1] as in training) and tensors written as PNG pictures.
#pragma once

#include <convnet/tensor.h>

#include <cstdint>
#include <filesystem>
#include <vector>

namespace convnet {

// Reads a PNG as `channels` planes (1: grey, 3: RGB) of `height`×`width`, scaled to [0, 1] like
// the training data: a (1, channels, height, width) tensor of the samples the file stores
// (value / 255, or / 65535 for 16-bit files), whatever its colour type (grey, grey+alpha, RGB,
// RGBA, palette), bit depth (1 to 16) or interlacing, with no gamma or colour-profile correction
// (gAMA, sRGB and iCCP chunks are ignored). Colour becomes grey by ITU-R BT.601 luma of the stored
// values, 0.299 R + 0.587 G + 0.114 B, in PIL's fixed-point arithmetic (as PIL's convert('L') and
// torchvision); grey becomes RGB by repeating it. Transparency (alpha or a tRNS chunk) is
// composited onto black, the background of MNIST and Fashion-MNIST. Throws naming the file when it
// is not a PNG, is damaged, or has another size.
Tensor read_png(const std::filesystem::path& path, std::int64_t channels, std::int64_t height, std::int64_t width);

// Whether every value of `image` lies within `tolerance` of every other: a blank (or wholly
// transparent) picture, worth a warning before the network is asked about it.
bool nearly_uniform(const Tensor& image, float tolerance = 2.0f / 255.0f);

// Writes 8-bit pixels, planes (channels, height, width) with 1 (grey) or 3 (RGB) channels, as a
// PNG, atomically.
void write_png(const std::filesystem::path& path, const std::vector<std::uint8_t>& planes, std::int64_t channels, std::int64_t height,
               std::int64_t width);

}  // namespace convnet
