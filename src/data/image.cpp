// Images in: PNG decoding (libpng's low-level API), the dispatch by magic bytes to PNG or JPEG
// (jpeg.cpp), the conversion of a decoded Image into a network input, and Pillow's antialiased
// bilinear resize. Images out: tensors written as PNG.
//
// PNG reading asks libpng only to unpack (grey under 8 bits to 8, tRNS to alpha, 16-bit samples in
// host order; palette indices are looked up here), so the network sees the samples the file
// stores: no gamma, no colour management, no 16-to-8-bit re-encoding (the simplified png_image API
// treats 16-bit data as linear light and converts colour to grey in linear light). Colour becomes
// grey by BT.601 luma on the stored values and alpha is composited, in to_network_input, in
// integers. Writing keeps the simplified API: 8-bit grey or RGB in, nothing to interpret.
#include <convnet/core/error.h>
#include <convnet/core/files.h>
#include <convnet/core/format.h>
#include <convnet/data/image.h>

#include "../core/text_file.h"
#include "deflate.h"
#include "image_codec.h"

#include <png.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cmath>
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

// What decode_png is asked, and what it leaves: the Image, or the problem. Everything it fills
// lives here, in the caller's frame (see on_png_error).
struct PngDecoding {
    std::uintmax_t file_bytes = 0;
    ImageLimits limits;
    std::int64_t expected_width = 0, expected_height = 0;  // 0: any size within the limits
    Image image;
    std::uint32_t header_width = 0, header_height = 0;
    std::vector<png_bytep> rows;                       // into image.samples, for png_read_image
    std::vector<std::array<std::uint8_t, 4>> palette;  // RGBA, alpha from tRNS; empty unless indexed
    std::string problem;                               // "" or what went wrong
    bool wrong_size = false;                           // the header differs from the expected size
    bool keep_indices = false;                         // palette indices as one channel, not looked up (masks)
    char error[256] = "";                              // libpng's message when decoding failed
};

// libpng reports errors by longjmp: the message is kept in the PngDecoding and the jump lands in
// decode_png, whose frame holds nothing with a destructor (all it fills lives in the caller's
// PngDecoding), so no C++ object is skipped and nothing it reads after the jump changed in its frame.
void on_png_error(png_structp png, png_const_charp message) {
    auto* decoding = static_cast<PngDecoding*>(png_get_error_ptr(png));
    std::snprintf(decoding->error, sizeof(decoding->error), "%s", message);
    png_longjmp(png, 1);
}

void on_png_warning(png_structp, png_const_charp) {}  // e.g. an unusual iCCP profile: the samples are what count

// The header checks, before anything the size of the image is allocated: the expected size, the
// limits, and enough bytes in the file for the rows it claims. Sets `problem` (and `wrong_size`).
void check_png_header(PngDecoding& decoding, int file_channels, int bit_depth) {
    const std::int64_t width = decoding.header_width, height = decoding.header_height;
    if (decoding.expected_width > 0 && (width != decoding.expected_width || height != decoding.expected_height)) {
        decoding.wrong_size = true;
        return;
    }
    decoding.problem = detail::image_size_problem("PNG", width, height, decoding.limits);
    if (!decoding.problem.empty()) return;
    // The filtered rows the IDAT data inflates to (without interlacing, which only adds bytes).
    const std::uintmax_t row_bytes =
        1 + (static_cast<std::uintmax_t>(width) * static_cast<std::uintmax_t>(file_channels * bit_depth) + 7) / 8;
    const std::uintmax_t needed = row_bytes * static_cast<std::uintmax_t>(height);
    if (needed > kDeflateLargestRatio * decoding.file_bytes)
        decoding.problem = "the PNG header says " + std::to_string(width) + "x" + std::to_string(height) + " pixels, whose rows take " +
                           thousands_text(static_cast<std::int64_t>(needed)) + " bytes, more than its " +
                           thousands_text(static_cast<std::int64_t>(decoding.file_bytes)) +
                           " bytes can hold (deflate expands at most 1,032 times): a damaged or crafted file";
}

// Widens row `y` of 8-bit samples, which libpng wrote as bytes at the start of the row's uint16
// slots, to uint16 in place (backwards, so that no byte is overwritten before it is read);
// palette indices become their entries. Returns false on an index past the palette.
bool widen_row(PngDecoding& decoding, std::int64_t y) {
    Image& image = decoding.image;
    const std::size_t row_samples = static_cast<std::size_t>(image.width * image.channels);
    std::uint16_t* row = image.samples.data() + static_cast<std::size_t>(y) * row_samples;
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(row);
    if (decoding.palette.empty()) {
        for (std::size_t i = row_samples; i-- > 0;) row[i] = bytes[i];
        return true;
    }
    const std::size_t channels = static_cast<std::size_t>(image.channels);
    for (std::size_t x = static_cast<std::size_t>(image.width); x-- > 0;) {
        const std::uint8_t index = bytes[x];
        if (index >= decoding.palette.size()) {
            decoding.problem = "cannot read as PNG (pixel " + std::to_string(static_cast<std::size_t>(y * image.width) + x) +
                               " has palette index " + std::to_string(index) + ", past the " + std::to_string(decoding.palette.size()) +
                               " entries of the palette)";
            return false;
        }
        if (decoding.keep_indices) row[x] = index;
        else
            for (std::size_t c = 0; c < channels; ++c) row[x * channels + c] = decoding.palette[index][c];
    }
    return true;
}

// Decodes the PNG open in `file` into decoding.image, or sets decoding.problem / wrong_size.
void decode_png(std::FILE* file, PngDecoding& decoding) {
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &decoding, on_png_error, on_png_warning);
    if (png == nullptr) {
        decoding.problem = "out of memory";
        return;
    }
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {  // NOLINT(cert-err52-cpp): libpng's error protocol
        png_destroy_read_struct(&png, &info, nullptr);
        if (std::strcmp(decoding.error, "Read Error") == 0) decoding.problem = "cannot read as PNG: the file ends early (truncated?)";
        else decoding.problem = std::string("cannot read as PNG (") + decoding.error + ")";
        return;
    }
    if (info == nullptr) png_error(png, "out of memory");
    // Any size in the header is read, so that a wrong one gets our message; nothing is allocated
    // before check_png_header has passed it.
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_init_io(png, file);
    png_read_info(png, info);
    decoding.header_width = png_get_image_width(png, info);
    decoding.header_height = png_get_image_height(png, info);
    check_png_header(decoding, png_get_channels(png, info), png_get_bit_depth(png, info));
    if (decoding.wrong_size || !decoding.problem.empty()) {
        png_destroy_read_struct(&png, &info, nullptr);
        return;
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
        decoding.palette.resize(static_cast<std::size_t>(colour_count));
        for (int i = 0; i < colour_count; ++i)
            decoding.palette[static_cast<std::size_t>(i)] = {colours[i].red, colours[i].green, colours[i].blue,
                                                             i < alpha_count ? alphas[i] : std::uint8_t{255}};
    } else {
        // Grey under 8 bits: scaled to 0..255 for pictures; a mask's values are class indices, unpacked as they are.
        if (colour_type == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) < 8) {
            if (decoding.keep_indices) png_set_packing(png);
            else png_set_expand_gray_1_2_4_to_8(png);
        }
        if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    }
    if constexpr (std::endian::native == std::endian::little) {
        if (png_get_bit_depth(png, info) == 16) png_set_swap(png);  // 16-bit samples straight into uint16
    }
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    Image& image = decoding.image;
    image.format = "PNG";
    image.width = decoding.header_width;
    image.height = decoding.header_height;
    image.channels = decoding.palette.empty()                  ? png_get_channels(png, info)
                     : decoding.keep_indices                   ? 1
                     : png_get_valid(png, info, PNG_INFO_tRNS) ? 4
                                                               : 3;
    image.indexed = !decoding.palette.empty() && decoding.keep_indices;
    image.max_value = png_get_bit_depth(png, info) == 16 ? 65535 : 255;
    // libpng writes each row at the start of the row's uint16 slots, which hold it whatever the
    // depth (8-bit rows and palette indices are widened afterwards).
    const std::size_t row_samples = static_cast<std::size_t>(image.width * image.channels);
    if (png_get_rowbytes(png, info) > row_samples * sizeof(std::uint16_t)) png_error(png, "unexpected row size");
    image.samples.resize(row_samples * static_cast<std::size_t>(image.height));
    decoding.rows.resize(static_cast<std::size_t>(image.height));
    for (std::size_t y = 0; y < decoding.rows.size(); ++y)
        decoding.rows[y] = reinterpret_cast<png_bytep>(image.samples.data() + y * row_samples);
    png_read_image(png, decoding.rows.data());
    png_read_end(png, nullptr);
    const bool eight_bit = png_get_bit_depth(png, info) != 16;
    png_destroy_read_struct(&png, &info, nullptr);
    if (eight_bit)
        for (std::int64_t y = 0; y < image.height; ++y)
            if (!widen_row(decoding, y)) return;
}

struct FileCloser {
    void operator()(std::FILE* file) const { std::fclose(file); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

enum class Magic { png, jpeg, other };

// The file kind by its first bytes; the file is left at its start.
Magic read_magic(std::FILE* file) {
    unsigned char start[8] = {};
    const std::size_t got = std::fread(start, 1, sizeof(start), file);
    std::rewind(file);
    static constexpr unsigned char kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (got == 8 && std::memcmp(start, kPng, 8) == 0) return Magic::png;
    if (got >= 3 && start[0] == 0xff && start[1] == 0xd8 && start[2] == 0xff) return Magic::jpeg;
    return Magic::other;
}

// Opens `path` (a readable regular file) and gives its size.
File open_image(const std::filesystem::path& path, const std::string& what, std::uintmax_t& file_bytes) {
    detail::check_regular_file(path, what);
    File file(std::fopen(path.c_str(), "rb"));
    if (!file) throw Error(path.string() + ": cannot open (" + std::strerror(errno) + ")");
    std::error_code error;
    file_bytes = std::filesystem::file_size(path, error);
    if (error) throw Error(path.string() + ": cannot read its size (" + error.message() + ")");
    return file;
}

Image decode_png_file(std::FILE* file, const std::filesystem::path& path, std::uintmax_t file_bytes, const ImageLimits& limits,
                      std::int64_t expected_width = 0, std::int64_t expected_height = 0, bool keep_indices = false) {
    // The size in IHDR, read here for the messages libpng would not give (it refuses 0×0 as
    // "Invalid IHDR data"); libpng checks the chunk itself afterwards.
    unsigned char start[24] = {};
    const std::size_t got = std::fread(start, 1, sizeof(start), file);
    std::rewind(file);
    if (got == sizeof(start) && std::memcmp(start + 12, "IHDR", 4) == 0) {
        const auto big_endian = [](const unsigned char* bytes) {
            return std::int64_t{bytes[0]} << 24 | std::int64_t{bytes[1]} << 16 | std::int64_t{bytes[2]} << 8 | std::int64_t{bytes[3]};
        };
        const std::int64_t width = big_endian(start + 16), height = big_endian(start + 20);
        if (expected_width > 0 && (width != expected_width || height != expected_height))
            throw Error(path.string() + ": the image is " + std::to_string(width) + "x" + std::to_string(height) +
                        " pixels, the model takes " + std::to_string(expected_width) + "x" + std::to_string(expected_height) +
                        " (width x height)");
        if (width == 0 || height == 0) throw Error(path.string() + ": " + detail::image_size_problem("PNG", width, height, limits));
    }
    PngDecoding decoding;
    decoding.file_bytes = file_bytes;
    decoding.limits = limits;
    decoding.expected_width = expected_width;
    decoding.expected_height = expected_height;
    decoding.keep_indices = keep_indices;
    decode_png(file, decoding);
    if (decoding.wrong_size)
        throw Error(path.string() + ": the image is " + std::to_string(decoding.header_width) + "x" +
                    std::to_string(decoding.header_height) + " pixels, the model takes " + std::to_string(expected_width) + "x" +
                    std::to_string(expected_height) + " (width x height)");
    if (!decoding.problem.empty()) throw Error(path.string() + ": " + decoding.problem);
    return std::move(decoding.image);
}

// PIL's antialiased bilinear weights for one axis: for output index o, `count[o]` weights from
// input `first[o]` on, at weights[o * stride ...].
struct AxisWeights {
    std::vector<std::int64_t> first, count;
    std::vector<double> weights;
    std::int64_t stride = 0;
};

// Pillow's precompute_coeffs (src/libImaging/Resample.c) with the bilinear filter, in double.
AxisWeights bilinear_weights(std::int64_t input_size, std::int64_t output_size) {
    const double scale = static_cast<double>(input_size) / static_cast<double>(output_size);
    const double filter_scale = std::max(scale, 1.0);
    const double support = 1.0 * filter_scale;  // the triangle's support, 1, stretched when shrinking
    AxisWeights axis;
    axis.stride = static_cast<std::int64_t>(std::ceil(support)) * 2 + 1;
    axis.first.resize(static_cast<std::size_t>(output_size));
    axis.count.resize(static_cast<std::size_t>(output_size));
    axis.weights.assign(static_cast<std::size_t>(output_size * axis.stride), 0.0);
    for (std::int64_t o = 0; o < output_size; ++o) {
        const double centre = (static_cast<double>(o) + 0.5) * scale;
        // Truncation toward zero, as C's (int) cast in Pillow.
        const std::int64_t first = std::max<std::int64_t>(0, static_cast<std::int64_t>(centre - support + 0.5));
        const std::int64_t last = std::min<std::int64_t>(input_size, static_cast<std::int64_t>(centre + support + 0.5));
        const std::int64_t count = std::min(last - first, axis.stride);
        double* weights = axis.weights.data() + o * axis.stride;
        double total = 0.0;
        for (std::int64_t i = 0; i < count; ++i) {
            const double t = std::fabs((static_cast<double>(first + i) - centre + 0.5) / filter_scale);
            weights[i] = t < 1.0 ? 1.0 - t : 0.0;
            total += weights[i];
        }
        if (total != 0.0)
            for (std::int64_t i = 0; i < count; ++i) weights[i] /= total;
        axis.first[static_cast<std::size_t>(o)] = first;
        axis.count[static_cast<std::size_t>(o)] = count;
    }
    return axis;
}

// The resize of resize_bilinear, rows first as Pillow, for the output rows [row_begin, row_end)
// and columns [column_begin, column_end) of an output_height×output_width result (a centre crop
// computes only its window). `source_row(y, values)` fills values[c * width + x] for input row y.
// Returns planes (channels, row_end − row_begin, column_end − column_begin).
template <typename SourceRow>
std::vector<float> resample(SourceRow source_row, std::int64_t channels, std::int64_t height, std::int64_t width,
                            std::int64_t output_height, std::int64_t output_width, std::int64_t row_begin, std::int64_t row_end,
                            std::int64_t column_begin, std::int64_t column_end) {
    const AxisWeights across = bilinear_weights(width, output_width);
    const AxisWeights down = bilinear_weights(height, output_height);
    const std::int64_t rows = row_end - row_begin, columns = column_end - column_begin;
    // Only the input rows that the output rows read.
    std::int64_t first_row = height, last_row = 0;
    for (std::int64_t o = row_begin; o < row_end; ++o) {
        first_row = std::min(first_row, down.first[static_cast<std::size_t>(o)]);
        last_row = std::max(last_row, down.first[static_cast<std::size_t>(o)] + down.count[static_cast<std::size_t>(o)]);
    }
    const std::int64_t used_rows = std::max<std::int64_t>(0, last_row - first_row);
    // Pass 1, along rows: (channels, used_rows, columns), in double.
    std::vector<double> horizontal(static_cast<std::size_t>(channels * used_rows * columns));
    std::vector<float> input_row(static_cast<std::size_t>(channels * width));
    for (std::int64_t r = 0; r < used_rows; ++r) {
        source_row(first_row + r, input_row.data());
        for (std::int64_t c = 0; c < channels; ++c) {
            const float* in = input_row.data() + c * width;
            double* out = horizontal.data() + (c * used_rows + r) * columns;
            for (std::int64_t x = 0; x < columns; ++x) {
                const std::size_t o = static_cast<std::size_t>(column_begin + x);
                const double* weights = across.weights.data() + static_cast<std::int64_t>(o) * across.stride;
                double sum = 0.0;
                for (std::int64_t i = 0; i < across.count[o]; ++i) sum += weights[i] * in[across.first[o] + i];
                out[x] = sum;
            }
        }
    }
    // Pass 2, along columns.
    std::vector<float> result(static_cast<std::size_t>(channels * rows * columns));
    for (std::int64_t c = 0; c < channels; ++c)
        for (std::int64_t y = 0; y < rows; ++y) {
            const std::size_t o = static_cast<std::size_t>(row_begin + y);
            const double* weights = down.weights.data() + static_cast<std::int64_t>(o) * down.stride;
            for (std::int64_t x = 0; x < columns; ++x) {
                double sum = 0.0;
                for (std::int64_t i = 0; i < down.count[o]; ++i)
                    sum += weights[i] * horizontal[static_cast<std::size_t>((c * used_rows + down.first[o] + i - first_row) * columns + x)];
                result[static_cast<std::size_t>((c * rows + y) * columns + x)] = static_cast<float>(sum);
            }
        }
    return result;
}

void check_output_size(std::int64_t height, std::int64_t width) {
    if (height < 1 || width < 1 || height > kLargestSide || width > kLargestSide)
        throw Error("cannot resize to " + std::to_string(width) + "x" + std::to_string(height) + " (width x height): sides from 1 to " +
                    std::to_string(kLargestSide));
}

// mean or std per channel: empty, one value, or one per channel.
std::vector<float> per_channel(const std::vector<float>& values, std::int64_t channels, float none, const char* name) {
    if (values.empty()) return std::vector<float>(static_cast<std::size_t>(channels), none);
    if (values.size() == 1) return std::vector<float>(static_cast<std::size_t>(channels), values[0]);
    if (static_cast<std::int64_t>(values.size()) != channels)
        throw Error(std::string("preprocessing: ") + std::to_string(values.size()) + " values of " + name + " for a " +
                    std::to_string(channels) + "-channel input (give 1 or " + std::to_string(channels) + ")");
    return values;
}

}  // namespace

namespace detail {

std::string image_size_problem(const std::string& format, std::int64_t width, std::int64_t height, const ImageLimits& limits) {
    const std::string size = std::to_string(width) + "x" + std::to_string(height);
    if (width < 1 || height < 1) return "the " + format + " header says " + size + " pixels: an image without pixels (damaged?)";
    if (width > limits.largest_side || height > limits.largest_side)
        return "the " + format + " header says " + size + " pixels; images are read up to " + std::to_string(limits.largest_side) +
               " pixels a side";
    if (width * height > limits.largest_pixel_count)
        return "the " + format + " header says " + size + " pixels, " + thousands_text(static_cast<std::int64_t>(width * height)) +
               " in all; images are read up to " + thousands_text(static_cast<std::int64_t>(limits.largest_pixel_count)) + " pixels";
    return "";
}

}  // namespace detail

Image decode_image(const std::filesystem::path& path, const ImageLimits& limits) {
    std::uintmax_t file_bytes = 0;
    const File file = open_image(path, "an image (PNG or JPEG)", file_bytes);
    switch (read_magic(file.get())) {
        case Magic::png:
            return decode_png_file(file.get(), path, file_bytes, limits);
        case Magic::jpeg:
            return detail::decode_jpeg(file.get(), path, file_bytes, limits);
        case Magic::other:
            break;
    }
    throw Error(path.string() + ": neither a PNG nor a JPEG (its first bytes are not either's signature; " + std::to_string(file_bytes) +
                " bytes)");
}

Image decode_mask_png(const std::filesystem::path& path, const ImageLimits& limits) {
    std::uintmax_t file_bytes = 0;
    const File file = open_image(path, "a mask (PNG)", file_bytes);
    if (read_magic(file.get()) != Magic::png)
        throw Error(path.string() + ": a mask must be a PNG (class indices survive only lossless storage; a JPEG's would blur)");
    return decode_png_file(file.get(), path, file_bytes, limits, 0, 0, /*keep_indices=*/true);
}

std::string_view resize_policy_name(ResizePolicy policy) { return policy == ResizePolicy::center_crop ? "center-crop" : "stretch"; }

std::optional<ResizePolicy> resize_policy_from_name(std::string_view name) {
    if (name == "stretch") return ResizePolicy::stretch;
    if (name == "center-crop") return ResizePolicy::center_crop;
    return std::nullopt;
}

std::vector<float> resize_bilinear(std::span<const float> planes, std::int64_t channels, std::int64_t height, std::int64_t width,
                                   std::int64_t output_height, std::int64_t output_width) {
    if (channels < 1 || height < 1 || width < 1 || static_cast<std::int64_t>(planes.size()) != channels * height * width)
        throw Error("resize_bilinear: " + std::to_string(planes.size()) + " values for " + std::to_string(channels) + " planes of " +
                    std::to_string(width) + "x" + std::to_string(height));
    check_output_size(output_height, output_width);
    const auto source_row = [&](std::int64_t y, float* values) {
        for (std::int64_t c = 0; c < channels; ++c) std::copy_n(planes.data() + (c * height + y) * width, width, values + c * width);
    };
    return resample(source_row, channels, height, width, output_height, output_width, 0, output_height, 0, output_width);
}

Tensor to_network_input(const Image& image, std::int64_t channels, std::int64_t height, std::int64_t width,
                        const Preprocessing& preprocessing) {
    png_format(channels);  // 1 or 3
    check_output_size(height, width);
    if (image.channels < 1 || image.channels > 4 || image.height < 1 || image.width < 1 ||
        image.samples.size() != static_cast<std::size_t>(image.channels * image.height * image.width) ||
        (image.max_value != 255 && image.max_value != 65535))
        throw Error("to_network_input: an Image of " + std::to_string(image.samples.size()) + " samples is not " +
                    std::to_string(image.channels) + " channels of " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                    " with a maximum of 255 or 65535");
    const std::vector<float> mean = per_channel(preprocessing.mean, channels, 0.0f, "mean");
    const std::vector<float> deviation = per_channel(preprocessing.std, channels, 1.0f, "standard deviation");
    for (float value : deviation)
        if (!(value > 0.0f) || !std::isfinite(value)) throw Error("preprocessing: a standard deviation of " + std::to_string(value));

    // Steps 1–3 for one input row: composite, convert the channels, scale.
    const std::uint64_t full = image.max_value;
    const float full_scale = static_cast<float>(full);
    const std::uint64_t background = preprocessing.invert ? full : 0;
    const bool colour = image.channels >= 3, alpha = image.has_alpha();
    const auto source_row = [&](std::int64_t y, float* values) {
        const std::uint16_t* row = image.samples.data() + static_cast<std::size_t>(y * image.width * image.channels);
        for (std::int64_t x = 0; x < image.width; ++x) {
            const std::uint16_t* pixel = row + x * image.channels;
            std::uint64_t rgb[3];
            for (int c = 0; c < 3; ++c) rgb[c] = pixel[colour ? c : 0];
            if (alpha) {  // onto the background: (value·alpha + background·(full − alpha)) / full, rounded
                const std::uint64_t opacity = pixel[image.channels - 1];
                for (std::uint64_t& value : rgb) value = (value * opacity + background * (full - opacity) + full / 2) / full;
            }
            if (channels == 1) {
                // ITU-R BT.601 luma, 0.299 R + 0.587 G + 0.114 B, in PIL's fixed point (convert('L')).
                const std::uint64_t grey = colour ? (rgb[0] * 19595 + rgb[1] * 38470 + rgb[2] * 7471 + 0x8000) >> 16 : rgb[0];
                // Divided, not multiplied by 1/full: v/255 and (257·v)/65535 are then the same
                // float, the correctly rounded v/255 that torchvision's ToTensor gives.
                values[x] = static_cast<float>(grey) / full_scale;
            } else {
                for (int c = 0; c < 3; ++c) values[c * image.width + x] = static_cast<float>(rgb[c]) / full_scale;
            }
        }
    };

    // Step 4: the size before cropping, and the crop window.
    std::int64_t resized_height = height, resized_width = width, top = 0, left = 0;
    if (preprocessing.resize == ResizePolicy::center_crop) {
        if (height * image.width >= width * image.height) {  // height/image.height ≥ width/image.width
            resized_width = std::max(width, height * image.width / image.height);
        } else {
            resized_height = std::max(height, width * image.height / image.width);
        }
        // Python's round(), halves to even, as torchvision's center_crop.
        top = static_cast<std::int64_t>(std::nearbyint(static_cast<double>(resized_height - height) / 2.0));
        left = static_cast<std::int64_t>(std::nearbyint(static_cast<double>(resized_width - width) / 2.0));
    }
    Tensor tensor(Shape{1, channels, height, width});
    const std::int64_t plane = height * width;
    if (resized_height == image.height && resized_width == image.width) {  // no resampling: the values themselves
        std::vector<float> row(static_cast<std::size_t>(channels * image.width));
        for (std::int64_t y = 0; y < height; ++y) {
            source_row(top + y, row.data());
            for (std::int64_t c = 0; c < channels; ++c)
                std::copy_n(row.data() + c * image.width + left, width, tensor.data() + c * plane + y * width);
        }
    } else {
        const std::vector<float> resized =
            resample(source_row, channels, image.height, image.width, resized_height, resized_width, top, top + height, left, left + width);
        std::copy(resized.begin(), resized.end(), tensor.data());
    }
    // Step 5.
    for (std::int64_t c = 0; c < channels; ++c) {
        const std::size_t index = static_cast<std::size_t>(c);
        for (std::int64_t p = 0; p < plane; ++p) {
            float& value = tensor[c * plane + p];
            if (preprocessing.invert) value = 1.0f - value;
            if (!preprocessing.mean.empty() || !preprocessing.std.empty()) value = (value - mean[index]) / deviation[index];
        }
    }
    return tensor;
}

Tensor read_png(const std::filesystem::path& path, std::int64_t channels, std::int64_t height, std::int64_t width) {
    png_format(channels);  // 1 or 3
    std::uintmax_t file_bytes = 0;
    const File file = open_image(path, "a PNG image", file_bytes);
    if (width < 1 || height < 1 || width > kLargestSide || height > kLargestSide)
        throw Error(path.string() + ": the model takes " + std::to_string(width) + "x" + std::to_string(height) +
                    " images; PNGs are read up to " + std::to_string(kLargestSide) + " pixels a side");
    const Magic magic = read_magic(file.get());
    if (magic != Magic::png)
        throw Error(path.string() + ": cannot read as PNG (" +
                    (magic == Magic::jpeg ? "it is a JPEG; decode_image reads both" : "no PNG signature at its start") + ")");
    const Image image = decode_png_file(file.get(), path, file_bytes, ImageLimits{}, width, height);
    return to_network_input(image, channels, height, width);
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

std::string encode_png(const std::vector<std::uint8_t>& planes, std::int64_t channels, std::int64_t height, std::int64_t width,
                       const std::string& what) {
    if (height < 1 || width < 1 || height > kLargestSide || width > kLargestSide || (channels != 1 && channels != 3) ||
        planes.size() != static_cast<std::size_t>(channels * height * width))
        throw Error(what + ": cannot write a " + std::to_string(width) + "x" + std::to_string(height) + " image from " +
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
        throw Error(what + ": PNG encoding failed (" + image.message + ")");
    std::string bytes(size, '\0');
    if (!png_image_write_to_memory(&image, bytes.data(), &size, 0, interleaved.data(), 0, nullptr))
        throw Error(what + ": PNG encoding failed (" + image.message + ")");
    bytes.resize(size);
    return bytes;
}

std::string encode_indexed_png(const std::vector<std::uint8_t>& indices, std::int64_t height, std::int64_t width,
                               const std::vector<std::array<std::uint8_t, 3>>& palette, const std::string& what) {
    if (height < 1 || width < 1 || height > kLargestSide || width > kLargestSide ||
        indices.size() != static_cast<std::size_t>(height * width) || palette.empty() || palette.size() > 256)
        throw Error(what + ": cannot write a " + std::to_string(width) + "x" + std::to_string(height) + " palette image from " +
                    std::to_string(indices.size()) + " values and " + std::to_string(palette.size()) + " colours");
    for (const std::uint8_t index : indices)
        if (index >= palette.size())
            throw Error(what + ": index " + std::to_string(index) + " is past the palette's " + std::to_string(palette.size()) +
                        " colours");
    png_image image{};
    image.version = PNG_IMAGE_VERSION;
    image.format = PNG_FORMAT_RGB_COLORMAP;
    image.width = static_cast<png_uint_32>(width);
    image.height = static_cast<png_uint_32>(height);
    image.colormap_entries = static_cast<png_uint_32>(palette.size());
    png_alloc_size_t size = 0;
    if (!png_image_write_to_memory(&image, nullptr, &size, 0, indices.data(), 0, palette.data()))
        throw Error(what + ": PNG encoding failed (" + image.message + ")");
    std::string bytes(size, '\0');
    if (!png_image_write_to_memory(&image, bytes.data(), &size, 0, indices.data(), 0, palette.data()))
        throw Error(what + ": PNG encoding failed (" + image.message + ")");
    bytes.resize(size);
    return bytes;
}

void write_png(const std::filesystem::path& path, const std::vector<std::uint8_t>& planes, std::int64_t channels, std::int64_t height,
               std::int64_t width) {
    write_file_atomically(path, encode_png(planes, channels, height, width, path.string()));
}

}  // namespace convnet
