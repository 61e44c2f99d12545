// The pixel values a network sees are the samples a PNG file stores, for every colour type, bit
// depth, interlacing and colour chunk. The files are written here by a small encoder of our own
// (zlib and the PNG specification, not libpng), and the expected values are worked out from the
// samples that went in, by the rules read_png documents: value / (2^depth − 1), BT.601 luma in
// PIL's fixed point for colour, alpha composited onto black. Field reports: a 16-bit file read
// brighter than the same picture in 8 bits, and colour converted to grey in linear light.
#include "test_support.h"

#include <convnet/data/image.h>

#include <gtest/gtest.h>
#include <zlib.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace convnet {
namespace {

const std::string kPngCases = std::string(CONVNET_SOURCE_DIR) + "/tests/cases/";

enum ColourType { grey = 0, rgb = 2, palette = 3, grey_alpha = 4, rgba = 6 };

int channels_of(ColourType type) { return type == rgb ? 3 : type == grey_alpha ? 2 : type == rgba ? 4 : 1; }

// What a file holds: samples at their bit depth (palette: indices), row by row.
struct PngSpec {
    ColourType type = grey;
    int depth = 8;
    int width = 9, height = 7;
    bool interlaced = false;
    std::vector<std::uint32_t> samples;                             // width·height·channels_of(type)
    std::vector<std::array<std::uint8_t, 3>> colours;               // palette entries
    std::vector<std::uint32_t> transparent;                         // tRNS: palette alphas, or the one transparent grey / RGB
    std::vector<std::pair<std::string, std::string>> extra_chunks;  // before IDAT
};

void put32(std::string& out, std::uint32_t value) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((value >> shift) & 0xff));
}

void chunk(std::string& out, const std::string& kind, const std::string& data) {
    put32(out, static_cast<std::uint32_t>(data.size()));
    const std::string body = kind + data;
    out += body;
    put32(out, static_cast<std::uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()))));
}

// One scanline of the pixels at (x0 + i·dx, y) for i ≥ 0: filter byte 0, samples packed MSB first.
void scanline(std::string& out, const PngSpec& spec, int y, int x0, int dx) {
    out.push_back('\0');
    const int channels = channels_of(spec.type);
    int bits = 0;
    std::uint32_t pending = 0;
    for (int x = x0; x < spec.width; x += dx)
        for (int c = 0; c < channels; ++c) {
            const std::uint32_t value = spec.samples[static_cast<std::size_t>((y * spec.width + x) * channels + c)];
            if (spec.depth == 16) {
                out.push_back(static_cast<char>(value >> 8));
                out.push_back(static_cast<char>(value & 0xff));
            } else {
                pending = (pending << spec.depth) | value;
                bits += spec.depth;
                if (bits == 8) out.push_back(static_cast<char>(pending)), pending = 0, bits = 0;
            }
        }
    if (bits > 0) out.push_back(static_cast<char>(pending << (8 - bits)));
}

std::string encode(const PngSpec& spec) {
    std::string raw;
    if (!spec.interlaced) {
        for (int y = 0; y < spec.height; ++y) scanline(raw, spec, y, 0, 1);
    } else {  // Adam7: seven passes, each a sub-image of its own rows; empty passes are left out
        const int passes[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};
        for (const auto& [x0, y0, dx, dy] : passes) {
            if (x0 >= spec.width) continue;
            for (int y = y0; y < spec.height; y += dy) scanline(raw, spec, y, x0, dx);
        }
    }
    std::string out = "\x89PNG\r\n\x1a\n";
    std::string header;
    put32(header, static_cast<std::uint32_t>(spec.width));
    put32(header, static_cast<std::uint32_t>(spec.height));
    header += {static_cast<char>(spec.depth), static_cast<char>(spec.type), 0, 0, static_cast<char>(spec.interlaced ? 1 : 0)};
    chunk(out, "IHDR", header);
    for (const auto& [kind, data] : spec.extra_chunks) chunk(out, kind, data);
    if (spec.type == palette) {
        std::string entries;
        for (const auto& colour : spec.colours) entries.append(reinterpret_cast<const char*>(colour.data()), 3);
        chunk(out, "PLTE", entries);
    }
    if (!spec.transparent.empty()) {
        std::string trns;
        for (std::uint32_t value : spec.transparent) {
            if (spec.type == palette) trns.push_back(static_cast<char>(value));
            else trns += {static_cast<char>(value >> 8), static_cast<char>(value & 0xff)};
        }
        chunk(out, "tRNS", trns);
    }
    uLongf size = compressBound(static_cast<uLong>(raw.size()));
    std::string compressed(size, '\0');
    compress(reinterpret_cast<Bytef*>(compressed.data()), &size, reinterpret_cast<const Bytef*>(raw.data()),
             static_cast<uLong>(raw.size()));
    compressed.resize(size);
    chunk(out, "IDAT", compressed);
    chunk(out, "IEND", "");
    return out;
}

// The value read_png must give at (pixel, channel) for a `channels`-plane read, from the samples.
std::vector<float> expected_values(const PngSpec& spec, int channels) {
    const std::uint32_t depth_full = (1u << spec.depth) - 1;
    const bool low_grey = spec.depth < 8 && spec.type != palette;
    const std::uint32_t full = spec.depth == 16 ? 65535 : 255;  // after libpng's unpacking
    const int stored = channels_of(spec.type);
    std::vector<float> values(static_cast<std::size_t>(channels * spec.width * spec.height));
    const int plane = spec.width * spec.height;
    for (int p = 0; p < plane; ++p) {
        const std::uint32_t* sample = spec.samples.data() + static_cast<std::size_t>(p * stored);
        std::uint64_t colour[3], alpha = full;
        bool is_colour = spec.type == rgb || spec.type == rgba || spec.type == palette;
        if (spec.type == palette) {
            for (int c = 0; c < 3; ++c) colour[c] = spec.colours[sample[0]][static_cast<std::size_t>(c)];
            if (sample[0] < spec.transparent.size()) alpha = spec.transparent[sample[0]];
        } else {
            for (int c = 0; c < 3; ++c) colour[c] = sample[is_colour ? c : 0];
            if (low_grey)  // 1, 2 and 4-bit grey are scaled to 8 bits: 1 → 255, 3 → 255, 15 → 255
                colour[0] = colour[1] = colour[2] = sample[0] * (255 / depth_full);
            if (spec.type == grey_alpha || spec.type == rgba) alpha = sample[stored - 1];
            if (!spec.transparent.empty()) {
                bool match = true;
                for (int c = 0; c < stored; ++c) match = match && sample[c] == spec.transparent[static_cast<std::size_t>(c)];
                if (match) alpha = 0;
            }
        }
        for (std::uint64_t& value : colour) value = (value * alpha + full / 2) / full;
        if (channels == 1) {
            const std::uint64_t luma = is_colour ? (colour[0] * 19595 + colour[1] * 38470 + colour[2] * 7471 + 0x8000) >> 16 : colour[0];
            values[static_cast<std::size_t>(p)] = static_cast<float>(luma) / static_cast<float>(full);
        } else {
            for (int c = 0; c < 3; ++c)
                values[static_cast<std::size_t>(c * plane + p)] = static_cast<float>(colour[c]) / static_cast<float>(full);
        }
    }
    return values;
}

// Samples that visit every value of small depths and spread over large ones.
PngSpec make_spec(ColourType type, int depth, bool interlaced) {
    PngSpec spec;
    spec.type = type;
    spec.depth = depth;
    spec.interlaced = interlaced;
    const int channels = channels_of(type);
    const std::uint32_t top = type == palette ? (1u << std::min(depth, 4)) - 1 : (1u << depth) - 1;
    for (int i = 0; i < spec.width * spec.height * channels; ++i)
        spec.samples.push_back(static_cast<std::uint32_t>((static_cast<std::uint64_t>(i) * 2654435761u) % (top + 1)));
    if (type == palette)
        for (std::uint32_t entry = 0; entry <= top; ++entry)
            spec.colours.push_back({static_cast<std::uint8_t>(entry * 37 % 256), static_cast<std::uint8_t>(entry * 91 % 256),
                                    static_cast<std::uint8_t>(255 - entry * 13 % 256)});
    return spec;
}

class PngSamples : public testing::TemporaryFolderTest {
protected:
    // Writes `spec`, reads it as grey and as RGB, and compares every value with the rules.
    void check(const PngSpec& spec, const std::string& name) {
        const std::filesystem::path path = directory_ / (name + ".png");
        std::ofstream(path, std::ios::binary) << encode(spec);
        for (int channels : {1, 3}) {
            SCOPED_TRACE(name + (channels == 1 ? " as grey" : " as RGB"));
            const Tensor image = read_png(path, channels, spec.height, spec.width);
            const std::vector<float> expected = expected_values(spec, channels);
            ASSERT_EQ(image.size(), static_cast<std::int64_t>(expected.size()));
            int wrong = 0;
            for (std::int64_t i = 0; i < image.size() && wrong < 5; ++i)
                if (std::abs(image[i] - expected[static_cast<std::size_t>(i)]) > 1e-6f) {
                    ADD_FAILURE() << "value " << i << ": read " << image[i] << ", the file stores "
                                  << expected[static_cast<std::size_t>(i)];
                    ++wrong;
                }
        }
    }
};

TEST_F(PngSamples, EveryColourTypeBitDepthAndInterlacing) {
    const std::vector<std::pair<ColourType, std::vector<int>>> types = {
        {grey, {1, 2, 4, 8, 16}}, {rgb, {8, 16}}, {palette, {1, 2, 4, 8}}, {grey_alpha, {8, 16}}, {rgba, {8, 16}}};
    for (const auto& [type, depths] : types)
        for (int depth : depths)
            for (bool interlaced : {false, true})
                check(make_spec(type, depth, interlaced),
                      "type" + std::to_string(type) + "_depth" + std::to_string(depth) + (interlaced ? "_interlaced" : ""));
}

TEST_F(PngSamples, TransparencyChunksAreCompositedOntoBlack) {
    PngSpec indexed = make_spec(palette, 4, false);
    indexed.transparent = {0, 128, 255, 7};  // alphas of entries 0..3; the rest opaque
    check(indexed, "palette_trns");
    PngSpec grey_key = make_spec(grey, 8, true);
    grey_key.transparent = {grey_key.samples[3]};
    check(grey_key, "grey_trns");
    PngSpec grey_key_low = make_spec(grey, 2, false);
    grey_key_low.transparent = {2};
    check(grey_key_low, "grey2_trns");
    PngSpec rgb_key = make_spec(rgb, 16, false);
    rgb_key.transparent = {rgb_key.samples[0], rgb_key.samples[1], rgb_key.samples[2]};
    check(rgb_key, "rgb16_trns");
}

TEST_F(PngSamples, GammaAndColourProfileChunksChangeNothing) {
    for (ColourType type : {grey, rgb}) {
        for (int depth : {8, 16}) {
            PngSpec spec = make_spec(type, depth, depth == 16);
            std::string gamma;
            put32(gamma, 100000);  // gAMA 1.0: libpng's simplified API would re-encode the samples
            spec.extra_chunks = {{"gAMA", gamma}};
            check(spec, "gama_" + std::to_string(type) + "_" + std::to_string(depth));
            spec.extra_chunks = {{"sRGB", std::string(1, '\0')}};
            check(spec, "srgb_" + std::to_string(type) + "_" + std::to_string(depth));
            // An embedded profile (here not even a valid one: libpng warns, and the samples stand).
            const std::string profile(200, '\x11');
            uLongf size = compressBound(200);
            std::string packed(size, '\0');
            compress(reinterpret_cast<Bytef*>(packed.data()), &size, reinterpret_cast<const Bytef*>(profile.data()), 200);
            packed.resize(size);
            spec.extra_chunks = {{"iCCP", std::string("odd profile") + std::string(2, '\0') + packed}};
            check(spec, "iccp_" + std::to_string(type) + "_" + std::to_string(depth));
        }
    }
}

// Every 8-bit value v and its 16-bit twin 257·v read as the same float, v/255 correctly rounded
// (what torchvision's ToTensor gives), so the two files can never answer differently.
TEST_F(PngSamples, EightAndSixteenBitTwinsReadAsTheSameFloats) {
    PngSpec eight, sixteen;
    eight.width = sixteen.width = 16;
    eight.height = sixteen.height = 16;
    sixteen.depth = 16;
    for (std::uint32_t value = 0; value < 256; ++value) {
        eight.samples.push_back(value);
        sixteen.samples.push_back(value * 257);
    }
    std::ofstream(directory_ / "eight.png", std::ios::binary) << encode(eight);
    std::ofstream(directory_ / "sixteen.png", std::ios::binary) << encode(sixteen);
    const Tensor a = read_png(directory_ / "eight.png", 1, 16, 16), b = read_png(directory_ / "sixteen.png", 1, 16, 16);
    for (int value = 0; value < 256; ++value) {
        EXPECT_EQ(a[value], static_cast<float>(value) / 255.0f) << value;
        EXPECT_EQ(b[value], a[value]) << value;
    }
}

TEST_F(PngSamples, HeadersAndDataThatCannotBeReadAreNamed) {
    PngSpec huge;  // a header claiming 100000×100000 pixels, and no pixels
    std::string header;
    put32(header, 100000);
    put32(header, 100000);
    header += {8, 0, 0, 0, 0};
    std::string file = "\x89PNG\r\n\x1a\n";
    chunk(file, "IHDR", header);
    chunk(file, "IDAT", std::string("\x78\x9c\x03\x00\x00\x00\x00\x01", 8));  // an empty zlib stream
    chunk(file, "IEND", "");
    std::ofstream(directory_ / "huge.png", std::ios::binary) << file;
    testing::expect_error([&] { read_png(directory_ / "huge.png", 1, 28, 28); }, {"huge.png: the image is 100000x100000 pixels", "28x28"});

    const std::string whole = encode(make_spec(grey, 8, false));
    std::ofstream(directory_ / "cut.png", std::ios::binary) << whole.substr(0, whole.size() / 2);
    testing::expect_error([&] { read_png(directory_ / "cut.png", 1, 7, 9); }, {"cut.png: cannot read as PNG: the file ends early"});

    PngSpec indexed = make_spec(palette, 4, false);  // indexes up to 15 into a palette of 4
    indexed.colours.resize(4);
    std::ofstream(directory_ / "index.png", std::ios::binary) << encode(indexed);
    testing::expect_error([&] { read_png(directory_ / "index.png", 1, 7, 9); }, {"index.png: cannot read as PNG"});
}

// Field reports, files as they were sent.
TEST(PngFieldReports, SixteenBitReadsAsTheSamePictureInEightBits) {
    const Tensor eight = read_png(kPngCases + "grey8.png", 1, 28, 28);
    const Tensor sixteen = read_png(kPngCases + "grey16.png", 1, 28, 28);  // every sample ×257
    for (std::int64_t i = 0; i < eight.size(); ++i) ASSERT_EQ(sixteen[i], eight[i]) << "pixel " << i;
    float brightest = 0.0f;
    for (std::int64_t i = 0; i < eight.size(); ++i) brightest = std::max(brightest, eight[i]);
    EXPECT_GT(brightest, 0.5f);  // a real picture, not a blank one
}

TEST(PngFieldReports, ColourSwatchesReadAsBt601LumaOfTheStoredValues) {
    const Tensor image = read_png(kPngCases + "colour_swatches_rgb.png", 1, 28, 28);
    // Columns 0–5 pure red, 6–11 green, 12–17 blue, 18–23 grey 128, 24–27 RGB (200, 100, 50):
    // 0.299·255, 0.587·255, 0.114·255, 128, 0.299·200 + 0.587·100 + 0.114·50, rounded as PIL does.
    const int expected[5] = {76, 150, 29, 128, 124};
    const int first_column[5] = {0, 6, 12, 18, 24};
    for (int row : {0, 13, 27})
        for (int swatch = 0; swatch < 5; ++swatch)
            EXPECT_FLOAT_EQ(image[row * 28 + first_column[swatch]] * 255.0f, static_cast<float>(expected[swatch]))
                << "row " << row << ", swatch " << swatch;
}

TEST(PngFieldReports, BlankImagesAreRecognised) {
    Tensor blank(Shape{1, 1, 4, 4});
    blank.fill(0.5f);
    EXPECT_TRUE(nearly_uniform(blank));
    blank[3] = 0.505f;
    EXPECT_TRUE(nearly_uniform(blank));
    blank[5] = 0.9f;
    EXPECT_FALSE(nearly_uniform(blank));
    EXPECT_FALSE(nearly_uniform(read_png(kPngCases + "grey8.png", 1, 28, 28)));
}

}  // namespace
}  // namespace convnet
