// Writing JPEGs for the tests with libjpeg-turbo itself, so that no binary file needs to be kept:
// grey or RGB pixels in, the bytes of a baseline (or progressive, or CMYK) JPEG out. Test code
// only: libjpeg's default error handler (which exits) is kept, as the inputs are the tests' own.
#pragma once

#include <cstdint>
#include <cstdio>  // jpeglib.h needs size_t and FILE declared before it
#include <cstdlib>
#include <string>
#include <vector>

#include <jpeglib.h>

namespace convnet::testing {

struct JpegOptions {
    int quality = 95;
    bool progressive = false;
    bool cmyk = false;      // 4 components, written as JCS_CMYK (pixels then hold 4 samples a pixel)
    bool subsample = true;  // colour: libjpeg's default 2×2 chroma subsampling, else 4:4:4
};

// `pixels`: height rows of width·channels samples (channels 1, 3, or 4 with cmyk).
inline std::string encode_jpeg(const std::vector<std::uint8_t>& pixels, int width, int height, int channels,
                               const JpegOptions& options = {}) {
    jpeg_compress_struct info{};
    jpeg_error_mgr errors{};
    info.err = jpeg_std_error(&errors);
    jpeg_create_compress(&info);
    unsigned char* buffer = nullptr;
    unsigned long size = 0;
    jpeg_mem_dest(&info, &buffer, &size);
    info.image_width = static_cast<JDIMENSION>(width);
    info.image_height = static_cast<JDIMENSION>(height);
    info.input_components = channels;
    info.in_color_space = options.cmyk ? JCS_CMYK : channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&info);
    jpeg_set_quality(&info, options.quality, TRUE);
    if (channels == 3 && !options.subsample)
        for (int c = 0; c < 3; ++c) info.comp_info[c].h_samp_factor = info.comp_info[c].v_samp_factor = 1;
    if (options.progressive) jpeg_simple_progression(&info);
    jpeg_start_compress(&info, TRUE);
    while (info.next_scanline < info.image_height) {
        auto* row = const_cast<JSAMPLE*>(pixels.data() + static_cast<std::size_t>(info.next_scanline) * width * channels);
        jpeg_write_scanlines(&info, &row, 1);
    }
    jpeg_finish_compress(&info);
    jpeg_destroy_compress(&info);
    std::string bytes(reinterpret_cast<const char*>(buffer), size);
    std::free(buffer);
    return bytes;
}

}  // namespace convnet::testing
