// JPEG decoding with libjpeg-turbo: grey or RGB 8-bit samples as libjpeg's defaults give them
// (islow IDCT, fancy upsampling: what Pillow gets from the same library), with libjpeg's fatal
// errors turned into convnet::Error naming the file instead of its default exit(), and its header
// checked before libjpeg or this file allocates anything the size of the image.
#include <convnet/core/error.h>
#include <convnet/core/format.h>
#include <convnet/data/image.h>

#include "image_codec.h"

#include <jerror.h>
#include <jpeglib.h>
#include <csetjmp>
#include <cstdio>  // jpeglib.h needs size_t and FILE declared before it

namespace convnet::detail {

namespace {

// Huffman coding spends at least one bit on each 8×8 block of a component, and sampling factors
// of up to 4 stretch a block over at most 4 times its pixels: 64 · 4 · 8 pixels a byte.
constexpr std::uintmax_t kJpegLargestPixelsPerByte = 2048;
// A progressive file with more scans than this is refused: each scan revisits the whole image
// (a known way to make a small file take minutes), and encoders write about 10.
constexpr int kLargestScanCount = 1000;

// libjpeg's error manager, extended with the jump back into decode and the message. The jump
// lands in run_decoder, whose frame holds nothing with a destructor: everything it fills lives
// in the caller's JpegDecoding.
struct JpegErrors {
    jpeg_error_mgr manager;
    std::jmp_buf jump;
    char message[JMSG_LENGTH_MAX + 64] = "";
    bool truncated = false;
};

void on_jpeg_error(j_common_ptr info) {
    auto* errors = reinterpret_cast<JpegErrors*>(info->err);
    (*info->err->format_message)(info, errors->message);
    std::longjmp(errors->jump, 1);
}

// Warnings (level −1) are ignored as Pillow ignores them (a few stray bytes before a marker are
// common in files from cameras), except the one saying that the data ends early: libjpeg would
// fill the rest with grey, and a truncated picture is not the picture.
void on_jpeg_message(j_common_ptr info, int level) {
    if (level == -1 && info->err->msg_code == JWRN_JPEG_EOF) {
        auto* errors = reinterpret_cast<JpegErrors*>(info->err);
        errors->truncated = true;
        std::longjmp(errors->jump, 1);
    }
}

void on_jpeg_progress(j_common_ptr info) {
    const auto* decompress = reinterpret_cast<j_decompress_ptr>(info);
    if (decompress->input_scan_number > kLargestScanCount) {
        auto* errors = reinterpret_cast<JpegErrors*>(info->err);
        std::snprintf(errors->message, sizeof(errors->message), "more than %d scans: a damaged or crafted file", kLargestScanCount);
        std::longjmp(errors->jump, 1);
    }
}

struct JpegDecoding {
    std::uintmax_t file_bytes = 0;
    ImageLimits limits;
    Image image;
    std::string problem;  // "" or what went wrong, without the file name
    bool read_error = false;
};

// Header checks, before jpeg_start_decompress allocates (a progressive file's coefficients take
// 2 bytes a sample) and before the Image is. Sets decoding.problem.
void check_jpeg_header(const jpeg_decompress_struct& info, JpegDecoding& decoding) {
    const std::int64_t width = info.image_width, height = info.image_height;
    decoding.problem = image_size_problem("JPEG", width, height, decoding.limits);
    if (!decoding.problem.empty()) return;
    const std::uintmax_t pixels = static_cast<std::uintmax_t>(width * height);
    if (pixels > kJpegLargestPixelsPerByte * decoding.file_bytes) {
        decoding.problem = "the JPEG header says " + std::to_string(width) + "x" + std::to_string(height) + " pixels, " +
                           thousands_text(static_cast<std::int64_t>(pixels)) + " in all, more than its " +
                           thousands_text(static_cast<std::int64_t>(decoding.file_bytes)) +
                           " bytes can hold (at most 2,048 pixels a byte): a damaged or crafted file";
        return;
    }
    if (info.num_components != 1 && info.num_components != 3)
        decoding.problem = "cannot read as JPEG (" + std::to_string(info.num_components) +
                           " colour components, CMYK or YCCK: only grey and colour (YCbCr, RGB) JPEGs are read; convert it to RGB)";
}

// Decodes into decoding.image or sets decoding.problem. `info` and `errors` live in the caller.
void run_decoder(std::FILE* file, jpeg_decompress_struct& info, JpegErrors& errors, JpegDecoding& decoding) {
    info.err = jpeg_std_error(&errors.manager);
    errors.manager.error_exit = on_jpeg_error;
    errors.manager.emit_message = on_jpeg_message;
    if (setjmp(errors.jump)) {  // NOLINT(cert-err52-cpp): libjpeg's error protocol
        if (decoding.problem.empty()) {
            if (errors.manager.msg_code == JERR_EMPTY_IMAGE)
                decoding.problem = "the JPEG header says 0 rows or columns: an image without pixels (damaged?)";
            else if (errors.truncated) decoding.problem = "cannot read as JPEG: the file ends early (truncated?)";
            else decoding.problem = std::string("cannot read as JPEG (") + errors.message + ")";
        }
        jpeg_destroy_decompress(&info);
        return;
    }
    jpeg_create_decompress(&info);
    jpeg_progress_mgr progress{};
    progress.progress_monitor = on_jpeg_progress;
    info.progress = &progress;
    jpeg_stdio_src(&info, file);
    jpeg_read_header(&info, TRUE);
    check_jpeg_header(info, decoding);
    if (!decoding.problem.empty()) {
        jpeg_destroy_decompress(&info);
        return;
    }
    info.out_color_space = info.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&info);
    Image& image = decoding.image;
    image.format = "JPEG";
    image.width = info.output_width;
    image.height = info.output_height;
    image.channels = info.output_components;
    image.max_value = 255;
    const std::size_t row_samples = static_cast<std::size_t>(image.width * image.channels);
    image.samples.resize(row_samples * static_cast<std::size_t>(image.height));
    while (info.output_scanline < info.output_height) {
        // libjpeg writes the row's bytes at the start of its uint16 slots; widened backwards.
        std::uint16_t* row = image.samples.data() + static_cast<std::size_t>(info.output_scanline) * row_samples;
        JSAMPROW bytes = reinterpret_cast<JSAMPROW>(row);
        if (jpeg_read_scanlines(&info, &bytes, 1) != 1) ERREXIT(&info, JERR_INPUT_EMPTY);  // not with a stdio source
        for (std::size_t i = row_samples; i-- > 0;) row[i] = bytes[i];
    }
    jpeg_finish_decompress(&info);
    jpeg_destroy_decompress(&info);
}

}  // namespace

Image decode_jpeg(std::FILE* file, const std::filesystem::path& path, std::uintmax_t file_bytes, const ImageLimits& limits) {
    JpegDecoding decoding;
    decoding.file_bytes = file_bytes;
    decoding.limits = limits;
    jpeg_decompress_struct info{};
    JpegErrors errors{};
    run_decoder(file, info, errors, decoding);
    if (!decoding.problem.empty()) throw Error(path.string() + ": " + decoding.problem);
    return std::move(decoding.image);
}

}  // namespace convnet::detail
