// decode_image: PNG and JPEG told apart by their bytes, JPEGs written here with libjpeg (grey,
// colour, subsampled, progressive) decoded to their pixels, and every kind of bad file refused with
// the file and the problem named, before anything the size of the claimed image is allocated:
// truncated and corrupted data, headers of 0×0, over the side or pixel limits, or claiming more
// pixels than the file's bytes can hold, CMYK.
#include "jpeg_encoder.h"
#include "test_support.h"

#include <convnet/core/error.h>
#include <convnet/data/image.h>

#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace convnet {
namespace {

using testing::encode_jpeg;
using testing::JpegOptions;

// A smooth picture (JPEG keeps it within a few levels): a gradient with a brighter disc.
std::vector<std::uint8_t> smooth_pixels(int width, int height, int channels) {
    std::vector<std::uint8_t> pixels;
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x)
            for (int c = 0; c < channels; ++c) {
                const double dx = x - width / 2.0, dy = y - height / 2.0;
                const double disc = dx * dx + dy * dy < width * height / 8.0 ? 60.0 : 0.0;
                pixels.push_back(static_cast<std::uint8_t>(40.0 + 120.0 * x / width + 30.0 * y / height + disc + 10.0 * c));
            }
    return pixels;
}

void write_file(const std::filesystem::path& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

// The offset of the first SOF0/SOF2 marker (libjpeg writes SOI, APP0, DQT and then the frame header).
std::size_t frame_header(const std::string& jpeg) {
    for (std::size_t i = 2; i + 1 < jpeg.size(); ++i)
        if (static_cast<unsigned char>(jpeg[i]) == 0xff && (jpeg[i + 1] == '\xc0' || jpeg[i + 1] == '\xc2')) return i;
    ADD_FAILURE() << "no frame header";
    return 0;
}

// `jpeg` with the frame header's size replaced: what a crafted or damaged file claims.
std::string with_size(std::string jpeg, int width, int height) {
    const std::size_t sof = frame_header(jpeg);
    jpeg[sof + 5] = static_cast<char>(height >> 8), jpeg[sof + 6] = static_cast<char>(height & 0xff);
    jpeg[sof + 7] = static_cast<char>(width >> 8), jpeg[sof + 8] = static_cast<char>(width & 0xff);
    return jpeg;
}

void put32(std::string& out, std::uint32_t value) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((value >> shift) & 0xff));
}

// A PNG of one IHDR (8-bit grey of the given size), an empty IDAT and IEND.
std::string png_header_only(std::uint32_t width, std::uint32_t height) {
    std::string out = "\x89PNG\r\n\x1a\n";
    const auto chunk = [&](const std::string& kind, const std::string& data) {
        put32(out, static_cast<std::uint32_t>(data.size()));
        const std::string body = kind + data;
        out += body;
        put32(out, static_cast<std::uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()))));
    };
    std::string header;
    put32(header, width);
    put32(header, height);
    header += {8, 0, 0, 0, 0};
    chunk("IHDR", header);
    chunk("IDAT", std::string("\x78\x9c\x03\x00\x00\x00\x00\x01", 8));
    chunk("IEND", "");
    return out;
}

// The largest difference between decoded samples and the pixels that went in.
int largest_difference(const Image& image, const std::vector<std::uint8_t>& pixels) {
    int largest = 0;
    for (std::size_t i = 0; i < pixels.size(); ++i) largest = std::max(largest, std::abs(int{image.samples[i]} - int{pixels[i]}));
    return largest;
}

using JpegFile = testing::TemporaryFolderTest;

TEST_F(JpegFile, GreyAndColourDecodeToTheirPixels) {
    const std::vector<std::uint8_t> grey = smooth_pixels(40, 24, 1);
    write_file(directory_ / "grey.jpg", encode_jpeg(grey, 40, 24, 1));
    const Image decoded_grey = decode_image(directory_ / "grey.jpg");
    EXPECT_EQ(decoded_grey.format, "JPEG");
    EXPECT_EQ(decoded_grey.channels, 1);
    EXPECT_EQ(decoded_grey.width, 40);
    EXPECT_EQ(decoded_grey.height, 24);
    EXPECT_EQ(decoded_grey.max_value, 255u);
    EXPECT_LE(largest_difference(decoded_grey, grey), 8);

    // Colour, in odd sizes that do not fill the last 16×16 block, subsampled or not, progressive.
    const std::vector<std::uint8_t> colour = smooth_pixels(33, 17, 3);
    for (bool subsample : {true, false})
        for (bool progressive : {false, true}) {
            SCOPED_TRACE(std::string(subsample ? "4:2:0" : "4:4:4") + (progressive ? " progressive" : " baseline"));
            write_file(directory_ / "colour.jpg", encode_jpeg(colour, 33, 17, 3, {.progressive = progressive, .subsample = subsample}));
            const Image decoded = decode_image(directory_ / "colour.jpg");
            EXPECT_EQ(decoded.channels, 3);
            EXPECT_EQ(decoded.width, 33);
            EXPECT_EQ(decoded.height, 17);
            EXPECT_LE(largest_difference(decoded, colour), subsample ? 24 : 10);
        }
}

TEST_F(JpegFile, KindIsToldByTheBytesNotTheName) {
    write_file(directory_ / "photo.png", encode_jpeg(smooth_pixels(16, 8, 1), 16, 8, 1));
    EXPECT_EQ(decode_image(directory_ / "photo.png").format, "JPEG");
    write_png(directory_ / "picture.jpg", std::vector<std::uint8_t>(16 * 8, 7), 1, 8, 16);
    const Image png = decode_image(directory_ / "picture.jpg");
    EXPECT_EQ(png.format, "PNG");
    EXPECT_EQ(png.samples.size(), 128u);
    EXPECT_EQ(png.samples[5], 7);
    write_file(directory_ / "notes.jpg", "not an image at all");
    testing::expect_error([&] { decode_image(directory_ / "notes.jpg"); }, {"notes.jpg: neither a PNG nor a JPEG"});
    write_file(directory_ / "empty.jpg", "");
    testing::expect_error([&] { decode_image(directory_ / "empty.jpg"); }, {"empty.jpg: neither a PNG nor a JPEG", "0 bytes"});
    testing::expect_error([&] { decode_image(directory_ / "missing.jpg"); }, {"missing.jpg: cannot open", "no such file"});
    testing::expect_error([&] { decode_image(directory_); }, {"is a folder"});
}

TEST_F(JpegFile, TruncatedAndCorruptedDataAreRefusedByName) {
    const std::string whole = encode_jpeg(smooth_pixels(64, 48, 3), 64, 48, 3);
    write_file(directory_ / "cut.jpg", whole.substr(0, whole.size() / 2));
    testing::expect_error([&] { decode_image(directory_ / "cut.jpg"); }, {"cut.jpg: cannot read as JPEG: the file ends early"});
    write_file(directory_ / "header_only.jpg", whole.substr(0, frame_header(whole) + 4));
    testing::expect_error([&] { decode_image(directory_ / "header_only.jpg"); }, {"header_only.jpg: cannot read as JPEG"});
    write_file(directory_ / "soi.jpg", "\xff\xd8\xff");
    testing::expect_error([&] { decode_image(directory_ / "soi.jpg"); }, {"soi.jpg: cannot read as JPEG"});
    write_file(directory_ / "noise.jpg", std::string("\xff\xd8\xff\xe0", 4) + std::string(500, '\x5a'));
    testing::expect_error([&] { decode_image(directory_ / "noise.jpg"); }, {"noise.jpg: cannot read as JPEG"});
    std::string twelve_bit = whole;  // libjpeg-turbo's 8-bit library reads no other precision
    twelve_bit[frame_header(whole) + 4] = 12;
    write_file(directory_ / "twelve.jpg", twelve_bit);
    testing::expect_error([&] { decode_image(directory_ / "twelve.jpg"); }, {"twelve.jpg: cannot read as JPEG (", "precision 12"});
    std::string bad_table = whole;  // the frame header names a quantisation table that was never defined
    bad_table[frame_header(whole) + 12] = 3;
    write_file(directory_ / "table.jpg", bad_table);
    testing::expect_error([&] { decode_image(directory_ / "table.jpg"); }, {"table.jpg: cannot read as JPEG ("});
}

TEST_F(JpegFile, HeadersClaimingImpossibleSizesAreRefusedBeforeAllocating) {
    const std::string small = encode_jpeg(smooth_pixels(16, 16, 1), 16, 16, 1);
    write_file(directory_ / "zero.jpg", with_size(small, 0, 0));
    testing::expect_error([&] { decode_image(directory_ / "zero.jpg"); }, {"zero.jpg: the JPEG header says 0 rows or columns"});
    // Over libjpeg's own limit (a frame header holds up to 65535).
    write_file(directory_ / "65535.jpg", with_size(small, 65535, 65535));
    testing::expect_error([&] { decode_image(directory_ / "65535.jpg"); }, {"65535.jpg: cannot read as JPEG", "65500"});
    write_file(directory_ / "wide.jpg", with_size(small, 20000, 16));
    testing::expect_error([&] { decode_image(directory_ / "wide.jpg"); }, {"wide.jpg: the JPEG header says 20000x16 pixels", "16384"});
    write_file(directory_ / "many.jpg", with_size(small, 16000, 16000));
    testing::expect_error([&] { decode_image(directory_ / "many.jpg"); },
                          {"many.jpg: the JPEG header says 16000x16000 pixels, 256,000,000 in all", "67,108,864"});
    // Within the limits but far more pixels than its few hundred bytes can code: refused on the
    // header, not after allocating 64 Mpixel and finding the data short.
    write_file(directory_ / "crafted.jpg", with_size(small, 8000, 8000));
    testing::expect_error([&] { decode_image(directory_ / "crafted.jpg"); },
                          {"crafted.jpg: the JPEG header says 8000x8000 pixels", "bytes can hold", "2,048 pixels a byte"});
    // Tighter limits are the caller's to set.
    write_file(directory_ / "fine.jpg", small);
    testing::expect_error([&] { decode_image(directory_ / "fine.jpg", {.largest_side = 8}); }, {"fine.jpg", "up to 8 pixels a side"});
}

TEST_F(JpegFile, CmykIsRefusedByName) {
    write_file(directory_ / "cmyk.jpg", encode_jpeg(smooth_pixels(16, 16, 4), 16, 16, 4, {.cmyk = true}));
    testing::expect_error([&] { decode_image(directory_ / "cmyk.jpg"); }, {"cmyk.jpg: cannot read as JPEG (4 colour components", "RGB"});
}

TEST_F(JpegFile, PngHeadersClaimingImpossibleSizesAreRefused) {
    write_file(directory_ / "zero.png", png_header_only(0, 0));
    testing::expect_error([&] { decode_image(directory_ / "zero.png"); },
                          {"zero.png: the PNG header says 0x0 pixels: an image without pixels"});
    write_file(directory_ / "huge.png", png_header_only(100000, 100000));
    testing::expect_error([&] { decode_image(directory_ / "huge.png"); },
                          {"huge.png: the PNG header says 100000x100000 pixels", "16384 pixels a side"});
    write_file(directory_ / "crafted.png", png_header_only(8000, 8000));
    testing::expect_error([&] { decode_image(directory_ / "crafted.png"); },
                          {"crafted.png: the PNG header says 8000x8000 pixels", "bytes can hold", "1,032"});
    // read_png keeps its message for a size other than the model's.
    testing::expect_error([&] { read_png(directory_ / "zero.png", 1, 28, 28); }, {"zero.png: the image is 0x0 pixels", "28x28"});
}

TEST_F(JpegFile, SixteenBitPngKeepsItsSamples) {
    std::vector<std::uint8_t> planes(3 * 4 * 5);
    for (std::size_t i = 0; i < planes.size(); ++i) planes[i] = static_cast<std::uint8_t>(i * 4);
    write_png(directory_ / "rgb.png", planes, 3, 4, 5);
    const Image image = decode_image(directory_ / "rgb.png");
    EXPECT_EQ(image.channels, 3);
    EXPECT_EQ(image.samples[1], planes[20]);  // interleaved: pixel 0's green is plane 1's first value
    const std::string sixteen = std::string(CONVNET_SOURCE_DIR) + "/tests/cases/grey16.png";
    const Image deep = decode_image(sixteen);
    EXPECT_EQ(deep.max_value, 65535u);
    EXPECT_EQ(deep.channels, 1);
    const Image shallow = decode_image(std::string(CONVNET_SOURCE_DIR) + "/tests/cases/grey8.png");
    for (std::size_t i = 0; i < deep.samples.size(); ++i) ASSERT_EQ(deep.samples[i], 257 * shallow.samples[i]) << "sample " << i;
}

}  // namespace
}  // namespace convnet
