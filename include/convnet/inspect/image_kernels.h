// The classic hand-made image kernels (edge detection, Sobel, blur, Gaussian, sharpen, emboss)
// as named arrays with their sources, a text format for kernels of one's own, and applying a
// kernel to a picture through the library's Conv2d, each channel on its own. Not a general
// image-processing library: one kernel, zero padding, a stride.
#pragma once

#include <convnet/core/tensor.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace convnet {

// How results outside [0, 1] become pixels.
enum class KernelDisplay {
    clip,      // min(max(v, 0), 1): what image editors do; edges bright on black
    absolute,  // min(|v|, 1): both signs of a gradient (Sobel) bright
    shift,     // min(max(v + 0.5, 0), 1): zero as mid-grey, the usual emboss look
};
std::string_view kernel_display_name(KernelDisplay display);  // "clip", "abs", "shift"
std::optional<KernelDisplay> kernel_display_from_name(std::string_view name);

struct ImageKernel {
    std::string name;  // "sobel-x", or the file it was read from
    std::int64_t height = 0, width = 0;
    std::vector<float> values;                    // (height, width), row-major; applied as torch.nn.Conv2d applies a
                                                  // weight: cross-correlation, no flip
    std::string source;                           // where it comes from, in a sentence
    KernelDisplay display = KernelDisplay::clip;  // how its results are best shown
};

// edge, sobel-x, sobel-y, blur, gaussian, sharpen, emboss, in that order.
const std::vector<ImageKernel>& named_kernels();
// The named kernel, or null.
const ImageKernel* find_named_kernel(std::string_view name);

// A kernel in text: one line a row of numbers separated by spaces or commas, every row as long as
// the first, at most 64 rows and columns; a number may be a fraction ("1/16"); '#' starts a
// comment; blank lines are skipped. Throws convnet::Error "SOURCE:LINE: what is wrong" (a word
// that is not a number, a row of another length, a division by zero, a non-finite value, too many
// rows or columns), or "SOURCE: no rows of numbers" for a file without any.
ImageKernel parse_kernel(const std::string& text, const std::string& source);
// parse_kernel of a file; throws naming the file when it cannot be read.
ImageKernel read_kernel_file(const std::filesystem::path& path);

// `image` (C, H, W) or (1, C, H, W) filtered by `kernel`, each channel separately, as one
// depthwise torch.nn.Conv2d (groups = C, no bias, the kernel as every channel's weight) with
// zeros for padding: (1, C, OH, OW), OH = floor((H + 2·padding − KH) / stride) + 1 (and OW).
// Runs the library's Conv2d layer. Throws convnet::Error when the kernel is larger than the
// padded image, or for a stride under 1 or a negative padding.
Tensor apply_kernel(const Tensor& image, const ImageKernel& kernel, std::int64_t stride, std::int64_t padding);

// Planes of 8-bit pixels for write_png: round(255 · display(v)).
std::vector<std::uint8_t> kernel_output_pixels(const Tensor& output, KernelDisplay display);

}  // namespace convnet
