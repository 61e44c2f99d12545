// PNG through libpng's simplified API (png_image), which reports errors as messages rather than
// by longjmp, so no C++ frame is ever jumped over.
#include <convnet/error.h>
#include <convnet/image.h>
#include <convnet/io.h>

#include "text_file.h"

#include <png.h>

#include <memory>

namespace convnet {

namespace {

constexpr std::int64_t kLargestSide = 16384;

// Frees what png_image_begin_read allocated, on every path out.
struct ImageGuard {
    png_image* image;
    ~ImageGuard() { png_image_free(image); }
};

std::uint32_t png_format(std::int64_t channels) {
    if (channels == 1) return PNG_FORMAT_GRAY;
    if (channels == 3) return PNG_FORMAT_RGB;
    throw Error("PNG images have 1 (grey) or 3 (RGB) channels; the model takes " + std::to_string(channels));
}

}  // namespace

Tensor read_png(const std::filesystem::path& path, std::int64_t channels, std::int64_t height, std::int64_t width) {
    png_image image{};
    image.version = PNG_IMAGE_VERSION;
    ImageGuard guard{&image};
    detail::check_regular_file(path, "a PNG image");
    if (!png_image_begin_read_from_file(&image, path.c_str())) throw Error(path.string() + ": cannot read as PNG (" + image.message + ")");
    if (image.width != static_cast<png_uint_32>(width) || image.height != static_cast<png_uint_32>(height))
        throw Error(path.string() + ": the image is " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                    " pixels, the model takes " + std::to_string(width) + "x" + std::to_string(height) + " (width x height)");
    image.format = png_format(channels);  // libpng converts colour to grey and back as needed
    std::vector<std::uint8_t> pixels(PNG_IMAGE_SIZE(image));
    const png_color black{0, 0, 0};
    if (!png_image_finish_read(&image, &black, pixels.data(), 0, nullptr))
        throw Error(path.string() + ": damaged PNG (" + image.message + ")");
    Tensor tensor(Shape{1, channels, height, width});
    for (std::int64_t c = 0; c < channels; ++c)
        for (std::int64_t p = 0; p < height * width; ++p)
            tensor[c * height * width + p] = pixels[static_cast<std::size_t>(p * channels + c)] * (1.0f / 255.0f);
    return tensor;
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
