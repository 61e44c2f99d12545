// What the PNG and JPEG decoders share: the header checks made before any pixel memory is
// allocated, and the JPEG decoder's entry point. Internal to the library.
#pragma once

#include <convnet/data/image.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

namespace convnet::detail {

// "" or why a header's width×height is refused under `limits`: no pixels, a side or a pixel
// count over the limit. `format` names the file kind in the message ("PNG", "JPEG").
std::string image_size_problem(const std::string& format, std::int64_t width, std::int64_t height, const ImageLimits& limits);

// Decodes the JPEG open in `file` (at its start; `file_bytes` long), naming `path` in errors.
Image decode_jpeg(std::FILE* file, const std::filesystem::path& path, std::uintmax_t file_bytes, const ImageLimits& limits);

}  // namespace convnet::detail
