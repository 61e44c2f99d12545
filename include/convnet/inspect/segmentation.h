// What the segmentation task shows of a prediction (docs/SEGMENTATION.md): class colours, class
// maps, overlays with a legend, and a fully convolutional network run at an image's own size.
#pragma once

#include <convnet/nn/network.h>
#include <convnet/core/tensor.h>
#include <convnet/inspect/visualize.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace convnet {

// Pascal VOC's colour map, 256 entries: class i's colour from the bits of i, spread over the
// high bits of red, green and blue (0 black, 1 (128, 0, 0), 2 (0, 128, 0), 3 (128, 128, 0), ...),
// so that masks and predictions look as VOC's do; 255 (ignore) is (224, 224, 192).
std::vector<std::array<std::uint8_t, 3>> class_palette();

// The most likely class of every pixel of image `n` of logits (N, K, H, W), row by row (argmax
// as torch.argmax over dim 1: the first of equal scores, a NaN first).
std::vector<std::uint8_t> class_map(const Tensor& logits, std::int64_t n = 0);

// The share of `classes`' pixels that each of `count` classes holds (summing to 1).
std::vector<double> class_shares(const std::vector<std::uint8_t>& classes, std::int64_t count);

// `image` (channels, height, width) in [0, 1], grey or RGB, with every pixel of a class other than
// 0 (the background) blended half and half with its colour, enlarged `scale` times, and below it
// a legend of the classes present: colour, name and share of the pixels.
Picture overlay_picture(const float* image, std::int64_t channels, std::int64_t height, std::int64_t width,
                        const std::vector<std::uint8_t>& classes, const std::vector<std::string>& names, std::int64_t scale = 1);

// Three panels side by side, each enlarged `scale` times: the image (grey or RGB, in [0, 1]), the
// true classes and the predicted ones in class_palette's colours (255, ignore, in its own), with a
// caption over each and a legend of the classes in either below.
Picture comparison_picture(const float* image, std::int64_t channels, std::int64_t height, std::int64_t width,
                           const std::vector<std::uint8_t>& truth, const std::vector<std::uint8_t>& predicted,
                           const std::vector<std::string>& names, std::int64_t scale = 1);

// A network with `trained`'s layers and state that takes images of (channels, height, width)
// padded at the bottom and right up to the smallest size its strides map back onto itself (a
// fully convolutional model: a U-Net's poolings need multiples of 4 or 8). `padded_height` and
// `padded_width` receive that size. Throws convnet::Error when no padding up to 64 pixels gives an
// output of scores per pixel of the padded size.
std::unique_ptr<Network> network_for_size(const Network& trained, std::int64_t height, std::int64_t width, std::int64_t& padded_height,
                                          std::int64_t& padded_width);

}  // namespace convnet
