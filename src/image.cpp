// PNG in and out. Reading uses libpng's low-level API, asking it only to unpack (grey under 8 bits
// to 8, tRNS to alpha; palette indices are looked up here), so the network sees the samples the file stores: no
// gamma, no colour management, no 16-to-8-bit re-encoding (the simplified png_image API treats
// 16-bit data as linear light and converts colour to grey in linear light). Colour becomes grey
// by BT.601 luma on the stored values and alpha is composited onto black, here, in integers.
// Writing keeps the simplified API: 8-bit grey or RGB in, nothing to interpret.
#include <convnet/error.h>
#include <convnet/image.h>
#include <convnet/io.h>

#include "text_file.h"

#include <png.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>

namespace convnet {

namespace {

constexpr std::int64_t kLargestSide = 16384;

std::uint32_t png_format(std::int64_t channels) {
    if (channels == 1) return PNG_FORMAT_GRAY;
    if (channels == 3) return PNG_FORMAT_RGB;
    throw Error("PNG images have 1 (grey) or 3 (RGB) channels; the model takes " + std::to_string(channels));
}

// A PNG's samples after unpacking: 1 to 4 channels (grey, grey+alpha, RGB, RGBA), 8 or 16 bits.
struct DecodedPng {
    std::uint32_t width = 0, height = 0;
    int channels = 0, bit_depth = 0;
    std::vector<std::uint8_t> samples;                 // rows of width·channels samples, 16-bit ones big-endian
    std::vector<png_bytep> rows;                       // into samples, for png_read_image
    char error[256] = "";                              // libpng's message when decoding failed
    std::vector<std::array<std::uint8_t, 4>> palette;  // RGBA, alpha from tRNS; empty unless indexed
    std::uint32_t sample(std::size_t index) const {
        return bit_depth == 16 ? (std::uint32_t{samples[2 * index]} << 8) | samples[2 * index + 1] : samples[index];
    }
};

// libpng reports errors by longjmp: the message is kept in the DecodedPng and the jump lands in
// decode_png, whose frame holds nothing with a destructor (all it fills lives in the caller's
// DecodedPng), so no C++ object is skipped and nothing it reads after the jump changed in its frame.
void on_png_error(png_structp png, png_const_charp message) {
    auto* decoded = static_cast<DecodedPng*>(png_get_error_ptr(png));
    std::snprintf(decoded->error, sizeof(decoded->error), "%s", message);
    png_longjmp(png, 1);
}

void on_png_warning(png_structp, png_const_charp) {}  // e.g. an unusual iCCP profile: the samples are what count

// An indexed image's samples (one index a pixel) replaced by the RGBA of its palette entries.
// Returns "" or what went wrong: an index past the palette, which libpng would read as black.
std::string expand_palette(DecodedPng& png) {
    std::vector<std::uint8_t> rgba(png.samples.size() * 4);
    for (std::size_t p = 0; p < png.samples.size(); ++p) {
        const std::uint8_t index = png.samples[p];
        if (index >= png.palette.size())
            return "cannot read as PNG (pixel " + std::to_string(p) + " has palette index " + std::to_string(index) + ", past the " +
                   std::to_string(png.palette.size()) + " entries of the palette)";
        std::memcpy(rgba.data() + 4 * p, png.palette[index].data(), 4);
    }
    png.samples = std::move(rgba);
    png.channels = 4;
    return "";
}

// Decodes `file` into `out`, refusing a size other than width×height before reading the pixels.
// Returns "" or what went wrong.
std::string decode_png(std::FILE* file, std::uint32_t width, std::uint32_t height, DecodedPng& out) {
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &out, on_png_error, on_png_warning);
    if (png == nullptr) return "out of memory";
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {  // NOLINT(cert-err52-cpp): libpng's error protocol
        png_destroy_read_struct(&png, &info, nullptr);
        const std::string message = out.error;
        if (message == "Read Error") return "cannot read as PNG: the file ends early (truncated?)";
        return "cannot read as PNG (" + message + ")";
    }
    if (info == nullptr) png_error(png, "out of memory");
    // Any size in the header is read, so that a wrong one gets the size message below; nothing is
    // allocated before the size matches the model's.
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_init_io(png, file);
    png_read_info(png, info);
    out.width = png_get_image_width(png, info);
    out.height = png_get_image_height(png, info);
    if (out.width != width || out.height != height) {
        png_destroy_read_struct(&png, &info, nullptr);
        return "size";
    }
    const int colour_type = png_get_color_type(png, info);
    if (colour_type == PNG_COLOR_TYPE_PALETTE) {
        // Indices one a byte, expanded here, where an index past the palette is caught.
        png_set_packing(png);
        png_colorp colours = nullptr;
        int colour_count = 0;
        png_get_PLTE(png, info, &colours, &colour_count);
        png_bytep alphas = nullptr;
        int alpha_count = 0;
        if (png_get_valid(png, info, PNG_INFO_tRNS)) png_get_tRNS(png, info, &alphas, &alpha_count, nullptr);
        out.palette.resize(static_cast<std::size_t>(colour_count));
        for (int i = 0; i < colour_count; ++i)
            out.palette[static_cast<std::size_t>(i)] = {colours[i].red, colours[i].green, colours[i].blue,
                                                        i < alpha_count ? alphas[i] : std::uint8_t{255}};
    } else {
        if (colour_type == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) < 8) png_set_expand_gray_1_2_4_to_8(png);
        if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    }
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    out.channels = png_get_channels(png, info);
    out.bit_depth = png_get_bit_depth(png, info);
    const std::size_t row_bytes = png_get_rowbytes(png, info);
    out.samples.resize(row_bytes * out.height);
    out.rows.resize(out.height);
    for (std::uint32_t y = 0; y < out.height; ++y) out.rows[y] = out.samples.data() + y * row_bytes;
    png_read_image(png, out.rows.data());
    png_read_end(png, nullptr);
    png_destroy_read_struct(&png, &info, nullptr);
    return out.palette.empty() ? "" : expand_palette(out);
}

struct FileCloser {
    void operator()(std::FILE* file) const { std::fclose(file); }
};

}  // namespace

Tensor read_png(const std::filesystem::path& path, std::int64_t channels, std::int64_t height, std::int64_t width) {
    png_format(channels);  // 1 or 3
    detail::check_regular_file(path, "a PNG image");
    const std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
    if (!file) throw Error(path.string() + ": cannot open (" + std::strerror(errno) + ")");
    if (width < 1 || height < 1 || width > kLargestSide || height > kLargestSide)
        throw Error(path.string() + ": the model takes " + std::to_string(width) + "x" + std::to_string(height) +
                    " images; PNGs are read up to " + std::to_string(kLargestSide) + " pixels a side");
    DecodedPng png;
    const std::string problem = decode_png(file.get(), static_cast<std::uint32_t>(width), static_cast<std::uint32_t>(height), png);
    if (problem == "size")
        throw Error(path.string() + ": the image is " + std::to_string(png.width) + "x" + std::to_string(png.height) +
                    " pixels, the model takes " + std::to_string(width) + "x" + std::to_string(height) + " (width x height)");
    if (!problem.empty()) throw Error(path.string() + ": " + problem);

    const std::uint64_t full = png.bit_depth == 16 ? 65535 : 255;
    const bool colour = png.channels >= 3, alpha = png.channels == 2 || png.channels == 4;
    // Divided, not multiplied by 1/full: v/255 and (257·v)/65535 are then the same float, the
    // correctly rounded v/255 that torchvision's ToTensor gives.
    const float full_scale = static_cast<float>(full);
    Tensor tensor(Shape{1, channels, height, width});
    const std::int64_t plane = height * width;
    for (std::int64_t p = 0; p < plane; ++p) {
        const std::size_t first = static_cast<std::size_t>(p) * static_cast<std::size_t>(png.channels);
        std::uint64_t rgb[3];
        for (int c = 0; c < 3; ++c) rgb[c] = png.sample(first + (colour ? static_cast<std::size_t>(c) : 0));
        if (alpha) {  // onto black: value·alpha / full, rounded
            const std::uint64_t opacity = png.sample(first + static_cast<std::size_t>(png.channels - 1));
            for (std::uint64_t& value : rgb) value = (value * opacity + full / 2) / full;
        }
        if (channels == 1) {
            // ITU-R BT.601 luma, 0.299 R + 0.587 G + 0.114 B, in PIL's fixed point (convert('L')).
            const std::uint64_t grey = colour ? (rgb[0] * 19595 + rgb[1] * 38470 + rgb[2] * 7471 + 0x8000) >> 16 : rgb[0];
            tensor[p] = static_cast<float>(grey) / full_scale;
        } else {
            for (int c = 0; c < 3; ++c) tensor[c * plane + p] = static_cast<float>(rgb[c]) / full_scale;
        }
    }
    return tensor;
}

bool nearly_uniform(const Tensor& image, float tolerance) {
    if (image.size() == 0) return true;
    float lowest = image[0], highest = image[0];
    for (std::int64_t i = 1; i < image.size(); ++i) {
        lowest = std::min(lowest, image[i]);
        highest = std::max(highest, image[i]);
    }
    return highest - lowest <= tolerance;
}

void write_png(const std::filesystem::path& path, const std::vector<std::uint8_t>& planes, std::int64_t channels, std::int64_t height,
               std::int64_t width) {
    if (height < 1 || width < 1 || height > kLargestSide || width > kLargestSide ||
        planes.size() != static_cast<std::size_t>(channels * height * width))
        throw Error(path.string() + ": cannot write a " + std::to_string(width) + "x" + std::to_string(height) + " image from " +
                    std::to_string(planes.size()) + " values");
    png_image image{};
    image.version = PNG_IMAGE_VERSION;
    image.format = png_format(channels);
    image.width = static_cast<png_uint_32>(width);
    image.height = static_cast<png_uint_32>(height);
    std::vector<std::uint8_t> interleaved(planes.size());
    for (std::int64_t c = 0; c < channels; ++c)
        for (std::int64_t p = 0; p < height * width; ++p)
            interleaved[static_cast<std::size_t>(p * channels + c)] = planes[static_cast<std::size_t>(c * height * width + p)];
    png_alloc_size_t size = 0;
    if (!png_image_write_to_memory(&image, nullptr, &size, 0, interleaved.data(), 0, nullptr))
        throw Error(path.string() + ": PNG encoding failed (" + image.message + ")");
    std::string bytes(size, '\0');
    if (!png_image_write_to_memory(&image, bytes.data(), &size, 0, interleaved.data(), 0, nullptr))
        throw Error(path.string() + ": PNG encoding failed (" + image.message + ")");
    bytes.resize(size);
    write_file_atomically(path, bytes);
}

}  // namespace convnet
