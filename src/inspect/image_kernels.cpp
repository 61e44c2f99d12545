// The classic image kernels and their application through Conv2d (image_kernels.h).
#include <convnet/inspect/image_kernels.h>

#include <convnet/core/error.h>
#include <convnet/nn/layers/conv2d.h>

#include "../core/text_file.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace convnet {

std::string_view kernel_display_name(KernelDisplay display) {
    switch (display) {
        case KernelDisplay::clip:
            return "clip";
        case KernelDisplay::absolute:
            return "abs";
        case KernelDisplay::shift:
            return "shift";
    }
    return "clip";
}

std::optional<KernelDisplay> kernel_display_from_name(std::string_view name) {
    for (KernelDisplay display : {KernelDisplay::clip, KernelDisplay::absolute, KernelDisplay::shift})
        if (kernel_display_name(display) == name) return display;
    return std::nullopt;
}

const std::vector<ImageKernel>& named_kernels() {
    static const std::vector<ImageKernel> kernels = [] {
        auto scaled = [](std::vector<float> values, float divisor) {
            for (float& value : values) value /= divisor;
            return values;
        };
        return std::vector<ImageKernel>{
            {"edge",
             3,
             3,
             {-1, -1, -1, -1, 8, -1, -1, -1, -1},
             "Laplacian-style edge detection with the 8 neighbours (Wikipedia, \"Kernel (image processing)\"); sums to 0",
             KernelDisplay::clip},
            {"sobel-x",
             3,
             3,
             {-1, 0, 1, -2, 0, 2, -1, 0, 1},
             "Sobel (1968), horizontal gradient: positive where the image brightens to the right; sums to 0",
             KernelDisplay::absolute},
            {"sobel-y",
             3,
             3,
             {-1, -2, -1, 0, 0, 0, 1, 2, 1},
             "Sobel (1968), vertical gradient: positive where the image brightens downwards; sums to 0",
             KernelDisplay::absolute},
            {"blur", 3, 3, scaled({1, 1, 1, 1, 1, 1, 1, 1, 1}, 9.0f), "box blur: the mean of the 3x3 neighbourhood; sums to 1",
             KernelDisplay::clip},
            {"gaussian", 5, 5, scaled({1, 4, 6, 4, 1, 4, 16, 24, 16, 4, 6, 24, 36, 24, 6, 4, 16, 24, 16, 4, 1, 4, 6, 4, 1}, 256.0f),
             "Gaussian blur 5x5, binomial weights (1 4 6 4 1) x (1 4 6 4 1) / 256 (Wikipedia, \"Kernel (image processing)\"); sums to 1",
             KernelDisplay::clip},
            {"sharpen",
             3,
             3,
             {0, -1, 0, -1, 5, -1, 0, -1, 0},
             "sharpen: the image plus its 4-neighbour Laplacian (Wikipedia, \"Kernel (image processing)\"); sums to 1",
             KernelDisplay::clip},
            {"emboss",
             3,
             3,
             {-2, -1, 0, -1, 1, 1, 0, 1, 2},
             "emboss: the image plus a diagonal gradient, lit from the top left (GIMP's and Wikipedia's); sums to 1",
             KernelDisplay::clip},
        };
    }();
    return kernels;
}

const ImageKernel* find_named_kernel(std::string_view name) {
    for (const ImageKernel& kernel : named_kernels())
        if (kernel.name == name) return &kernel;
    return nullptr;
}

namespace {

constexpr std::int64_t kLargestKernel = 64;

// A decimal number or a fraction "A/B" (both decimal); nullopt when it is neither.
std::optional<double> parse_number(std::string_view word, bool& divided_by_zero) {
    auto decimal = [](std::string_view part) -> std::optional<double> {
        if (!part.empty() && part.front() == '+') part.remove_prefix(1);
        double value = 0.0;
        const auto [end, error] = std::from_chars(part.data(), part.data() + part.size(), value);
        if (error != std::errc() || end != part.data() + part.size() || part.empty()) return std::nullopt;
        return value;
    };
    const std::size_t slash = word.find('/');
    if (slash == std::string_view::npos) return decimal(word);
    const std::optional<double> numerator = decimal(word.substr(0, slash)), denominator = decimal(word.substr(slash + 1));
    if (!numerator || !denominator) return std::nullopt;
    if (*denominator == 0.0) {
        divided_by_zero = true;
        return std::nullopt;
    }
    return *numerator / *denominator;
}

}  // namespace

ImageKernel parse_kernel(const std::string& text, const std::string& source) {
    ImageKernel kernel;
    kernel.name = source;
    kernel.source = "read from " + source;
    int first_row_line = 0;
    const std::vector<std::string> lines = detail::text_lines(text);
    for (std::size_t index = 0; index < lines.size(); ++index) {
        const int line_number = static_cast<int>(index) + 1;
        std::string line = lines[index];
        if (const std::size_t hash = line.find('#'); hash != std::string::npos) line.resize(hash);
        std::replace(line.begin(), line.end(), ',', ' ');
        std::replace(line.begin(), line.end(), '\t', ' ');
        std::vector<float> row;
        std::size_t position = 0;
        while (true) {
            position = line.find_first_not_of(' ', position);
            if (position == std::string::npos) break;
            const std::size_t end = std::min(line.find(' ', position), line.size());
            const std::string_view word(line.data() + position, end - position);
            bool divided_by_zero = false;
            const std::optional<double> value = parse_number(word, divided_by_zero);
            const std::string where = source + ":" + std::to_string(line_number) + ": ";
            if (divided_by_zero) throw Error(where + "'" + std::string(word) + "' divides by zero");
            if (!value)
                throw Error(where + "'" + detail::visible(word) +
                            "' is not a number; a kernel file is rows of numbers (e.g. -1 0 1, or 1/16), '#' for comments");
            if (!std::isfinite(static_cast<float>(*value)))
                throw Error(where + "'" + std::string(word) + "' is not a finite float32 number");
            row.push_back(static_cast<float>(*value));
            position = end;
        }
        if (row.empty()) continue;
        const std::string where = source + ":" + std::to_string(line_number) + ": ";
        if (kernel.height == 0) {
            kernel.width = static_cast<std::int64_t>(row.size());
            first_row_line = line_number;
            if (kernel.width > kLargestKernel)
                throw Error(where + std::to_string(kernel.width) + " numbers in a row; a kernel has at most " +
                            std::to_string(kLargestKernel) + " columns");
        } else if (static_cast<std::int64_t>(row.size()) != kernel.width) {
            throw Error(where + std::to_string(row.size()) + " numbers, where the first row (line " + std::to_string(first_row_line) +
                        ") has " + std::to_string(kernel.width) + "; every row of a kernel has as many");
        }
        if (++kernel.height > kLargestKernel)
            throw Error(where + "more than " + std::to_string(kLargestKernel) + " rows; a kernel has at most " +
                        std::to_string(kLargestKernel));
        kernel.values.insert(kernel.values.end(), row.begin(), row.end());
    }
    if (kernel.height == 0)
        throw Error(source + ": no rows of numbers; a kernel file is rows of numbers such as\n  -1 0 1\n  -2 0 2\n  -1 0 1");
    return kernel;
}

ImageKernel read_kernel_file(const std::filesystem::path& path) {
    return parse_kernel(detail::read_small_file(path, 1 << 20, "the kernel file"), path.string());
}

Tensor apply_kernel(const Tensor& image, const ImageKernel& kernel, std::int64_t stride, std::int64_t padding) {
    const Shape& shape = image.shape();
    if (shape.rank() != 3 && !(shape.rank() == 4 && shape[0] == 1))
        throw Error("apply_kernel: expected one image (C, H, W) or (1, C, H, W), got " + shape.to_string());
    if (stride < 1) throw Error("apply_kernel: stride " + std::to_string(stride) + " is under 1");
    if (padding < 0) throw Error("apply_kernel: padding " + std::to_string(padding) + " is negative");
    if (static_cast<std::int64_t>(kernel.values.size()) != kernel.height * kernel.width || kernel.height < 1)
        throw Error("apply_kernel: kernel " + kernel.name + " has " + std::to_string(kernel.values.size()) + " values for " +
                    std::to_string(kernel.height) + "x" + std::to_string(kernel.width));
    const std::int64_t channels = shape[shape.rank() - 3], height = shape[shape.rank() - 2], width = shape[shape.rank() - 1];
    Conv2dOptions options;
    options.in_channels = options.out_channels = options.groups = channels;  // depthwise: each channel alone
    options.bias = false;
    options.kernel_height = kernel.height;
    options.kernel_width = kernel.width;
    options.stride_height = options.stride_width = stride;
    options.padding_height = options.padding_width = padding;
    Conv2d convolution(options);
    // The layer's weight (C, 1, KH, KW): the kernel for every channel, in storage owned here.
    std::vector<float> weight;
    for (std::int64_t c = 0; c < channels; ++c) weight.insert(weight.end(), kernel.values.begin(), kernel.values.end());
    convolution.weight().value = weight.data();
    Tensor input(Shape{1, channels, height, width});
    std::copy(image.data(), image.data() + image.size(), input.data());
    Tensor output;
    // The plain reference loops (sums in double): no im2col buffer of kernel-size times the
    // picture, which for a photo of several megapixels would be gigabytes. Its output_shape
    // throws naming the sizes when the kernel does not fit.
    convolution.forward_reference(input, output);
    return output;
}

std::vector<std::uint8_t> kernel_output_pixels(const Tensor& output, KernelDisplay display) {
    std::vector<std::uint8_t> pixels(static_cast<std::size_t>(output.size()));
    for (std::int64_t i = 0; i < output.size(); ++i) {
        float value = output[i];
        if (display == KernelDisplay::absolute) value = std::fabs(value);
        if (display == KernelDisplay::shift) value += 0.5f;
        if (std::isnan(value)) value = 0.0f;
        pixels[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(std::lround(255.0f * std::clamp(value, 0.0f, 1.0f)));
    }
    return pixels;
}

}  // namespace convnet
