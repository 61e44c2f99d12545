// `convnet filter`: a classic hand-made kernel (edge, Sobel, blur, Gaussian, sharpen, emboss, or a
// kernel file) applied to a PNG or JPEG through the library's Conv2d, each channel on its own.
#include "cli.h"

#include <convnet/data/image.h>
#include <convnet/inspect/image_kernels.h>

#include <cstdio>
#include <iostream>

namespace convnet::cli {

namespace {

constexpr const char* kFilterHelp = R"(usage: convnet filter --kernel NAME|FILE [options] IMAGE -o OUT.png
       convnet filter --list

Filters a PNG or JPEG with one kernel, as a convolution layer does (torch.nn.Conv2d's
cross-correlation, the kernel not flipped), each colour channel on its own (a depthwise conv2d
without bias, run by the library's Conv2d), zeros beyond the border. Samples are scaled to [0, 1]
first (value/255, or /65535 for 16-bit); transparency is composited onto black. The result is
written as a PNG of the same kind (grey or RGB), values mapped to pixels by --range.

options:
  --kernel K       edge, sobel-x, sobel-y, blur, gaussian, sharpen, emboss (--list shows them),
                   or a text file of rows of numbers ("-1 0 1", fractions such as 1/16 allowed,
                   '#' starts a comment)
  --stride S       the step between positions (default 1): the output is about 1/S the size
  --padding P      zeros added on each side (default: same, half the kernel, so that a stride of
                   1 keeps the size); 0 for only the positions where the kernel fits
  --grey           convert a colour image to grey (BT.601 luma) first
  --range R        clip (v in [0, 1], the default), abs (|v|: both signs of a gradient, the
                   default for sobel-x and sobel-y) or shift (v + 0.5: zero is mid-grey)
  -o, --output F   the PNG to write (replaced atomically)
  --list           print the named kernels with their values and sources
)";

std::string kernel_text(const ImageKernel& kernel) {
    std::string text;
    char number[32];
    for (std::int64_t row = 0; row < kernel.height; ++row) {
        text += "   ";
        for (std::int64_t column = 0; column < kernel.width; ++column) {
            std::snprintf(number, sizeof(number), " %9.4g", kernel.values[static_cast<std::size_t>(row * kernel.width + column)]);
            text += number;
        }
        text += "\n";
    }
    return text;
}

}  // namespace

int run_filter(const std::vector<std::string>& words) {
    const Arguments arguments(words, {"kernel", "stride", "padding", "range", "output"}, {"help", "list", "grey"}, Positional::any);
    if (arguments.has("help")) {
        std::cout << kFilterHelp;
        return 0;
    }
    if (arguments.has("list")) {
        for (const ImageKernel& kernel : named_kernels())
            std::cout << kernel.name << " (" << kernel.height << "x" << kernel.width << ", --range " << kernel_display_name(kernel.display)
                      << "): " << kernel.source << "\n"
                      << kernel_text(kernel);
        return 0;
    }
    if (!arguments.has("kernel"))
        throw UsageError("option --kernel is required: edge, sobel-x, sobel-y, blur, gaussian, sharpen, emboss or a file");
    if (!arguments.has("output")) throw UsageError("option -o OUT.png is required: the picture to write");
    if (arguments.positional().size() != 1)
        throw UsageError(arguments.positional().empty() ? "give one image to filter (a PNG or JPEG)"
                                                        : "give one image to filter, not " + std::to_string(arguments.positional().size()));
    const std::string output = arguments.required("output");
    const std::string extension = std::filesystem::path(output).extension().string();
    if (extension != ".png" && extension != ".PNG")
        throw UsageError("option -o " + output + ": the result is written as PNG; give a name ending in .png");
    check_output_file("output", output);

    const std::string kernel_name = arguments.required("kernel");
    ImageKernel kernel;
    if (const ImageKernel* named = find_named_kernel(kernel_name)) {
        kernel = *named;
    } else if (std::filesystem::exists(kernel_name)) {
        kernel = read_kernel_file(kernel_name);
    } else {
        std::vector<std::string> names;
        for (const ImageKernel& known : named_kernels()) names.push_back(known.name);
        const std::string nearest = nearest_name(kernel_name, names);
        throw UsageError("option --kernel " + kernel_name + ": not a named kernel" +
                         (nearest.empty() ? "" : " (did you mean " + nearest + "?)") +
                         " nor a file; the named kernels are edge, sobel-x, sobel-y, blur, gaussian, sharpen, emboss");
    }
    const std::int64_t stride = arguments.integer("stride", 1, 1, 1024);
    const std::string padding_text = arguments.text("padding", "same");
    std::int64_t padding = 0;
    if (padding_text == "same") {
        if (kernel.height != kernel.width || kernel.height % 2 == 0)
            throw UsageError("option --padding same needs an odd square kernel; " + kernel.name + " is " + std::to_string(kernel.height) +
                             "x" + std::to_string(kernel.width) + ": give --padding N");
        padding = kernel.height / 2;
    } else {
        padding = arguments.integer("padding", 0, 0, 1024);
    }
    KernelDisplay display = kernel.display;
    if (arguments.has("range")) {
        const std::string range = arguments.required("range");
        const std::optional<KernelDisplay> parsed = kernel_display_from_name(range);
        if (!parsed) throw UsageError("option --range " + range + ": expected clip, abs or shift");
        display = *parsed;
    }

    const std::string file = arguments.positional()[0];
    const Image decoded = decode_image(file);
    const std::int64_t channels = arguments.has("grey") || decoded.channels <= 2 ? 1 : 3;
    const Tensor image = to_network_input(decoded, channels, decoded.height, decoded.width);
    const Tensor filtered = apply_kernel(image, kernel, stride, padding);
    const std::int64_t height = filtered.shape()[2], width = filtered.shape()[3];
    write_png(output, kernel_output_pixels(filtered, display), channels, height, width);
    std::cout << "wrote " << output << " (" << width << "x" << height << (channels == 3 ? " RGB" : " grey") << "): " << file << " ("
              << decoded.width << "x" << decoded.height << ") filtered by " << kernel.name << " (" << kernel.height << "x" << kernel.width
              << "), stride " << stride << ", padding " << padding << ", range " << kernel_display_name(display) << "\n";
    return 0;
}

}  // namespace convnet::cli
