// PNG in and out: a written picture reads back pixel for pixel as [0, 1] values, colour becomes
// grey for a 1-channel model, and wrong sizes or non-PNG files are refused by name. Network inputs
// from images of other sizes: Pillow's antialiased bilinear resize against values worked out by
// hand from its formula, the centre crop's window, invert and normalisation.
#include "test_support.h"

#include <convnet/core/error.h>
#include <convnet/data/image.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace convnet {
namespace {

using PngFile = testing::TemporaryFolderTest;

TEST_F(PngFile, GreyRoundTripKeepsEveryPixel) {
    std::vector<std::uint8_t> pixels(5 * 7);
    for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<std::uint8_t>(i * 7);
    write_png(directory_ / "grey.png", pixels, 1, 5, 7);
    const Tensor image = read_png(directory_ / "grey.png", 1, 5, 7);
    ASSERT_EQ(image.shape(), (Shape{1, 1, 5, 7}));
    for (std::int64_t i = 0; i < image.size(); ++i) EXPECT_FLOAT_EQ(image[i], pixels[static_cast<std::size_t>(i)] / 255.0f);
}

TEST_F(PngFile, ColourIsReadAsPlanesOrAsGrey) {
    std::vector<std::uint8_t> planes(3 * 2 * 2, 0);
    for (int p = 0; p < 4; ++p) planes[static_cast<std::size_t>(p)] = 255;  // a pure red image
    write_png(directory_ / "red.png", planes, 3, 2, 2);
    const Tensor rgb = read_png(directory_ / "red.png", 3, 2, 2);
    EXPECT_FLOAT_EQ(rgb[0], 1.0f);  // red plane
    EXPECT_FLOAT_EQ(rgb[4], 0.0f);  // green plane
    const Tensor grey = read_png(directory_ / "red.png", 1, 2, 2);
    EXPECT_GT(grey[0], 0.1f);  // red has some luminance ...
    EXPECT_LT(grey[0], 0.5f);  // ... but far less than white
}

TEST_F(PngFile, WrongSizeAndNonPngAreRefusedByName) {
    write_png(directory_ / "small.png", std::vector<std::uint8_t>(4, 9), 1, 2, 2);
    testing::expect_error([&] { read_png(directory_ / "small.png", 1, 28, 28); }, {"small.png", "2x2 pixels", "28x28"});
    std::ofstream(directory_ / "text.png") << "not an image";
    testing::expect_error([&] { read_png(directory_ / "text.png", 1, 28, 28); }, {"text.png", "cannot read as PNG"});
    testing::expect_error([&] { read_png(directory_ / "missing.png", 1, 28, 28); }, {"missing.png"});
    testing::expect_error([&] { write_png(directory_ / "bad.png", std::vector<std::uint8_t>(3), 1, 2, 2); }, {"bad.png", "from 3 values"});
}

// A decoded 8-bit image with the given samples.
Image make_image(std::int64_t channels, std::int64_t height, std::int64_t width, std::vector<std::uint16_t> samples) {
    Image image;
    image.format = "PNG";
    image.channels = channels;
    image.height = height;
    image.width = width;
    image.samples = std::move(samples);
    return image;
}

void expect_values(const std::vector<float>& actual, const std::vector<float>& expected, float tolerance = 1e-6f) {
    ASSERT_EQ(actual.size(), expected.size());
    for (std::size_t i = 0; i < actual.size(); ++i) EXPECT_NEAR(actual[i], expected[i], tolerance) << "value " << i;
}

// Worked by hand from Pillow's formula (image.h). Shrinking 4 → 2: scale 2, support 2, output 0
// centred at 1 reads inputs 0..2 with triangle weights 0.75, 0.75, 0.25 (sum 1.75): 3/7, 3/7,
// 1/7; output 1 centred at 3 reads inputs 1..3 with 1/7, 3/7, 3/7.
TEST(Resize, ShrinkingAveragesWithAStretchedTriangle) {
    expect_values(resize_bilinear(std::vector<float>{0, 70, 140, 210}, 1, 1, 4, 1, 2), {50, 160}, 1e-4f);
    // 5 → 2: scale 2.5; output 0 centred at 1.25 reads inputs 0..3 with 0.7, 0.9, 0.5, 0.1 (sum
    // 2.2); output 1 centred at 3.75 reads inputs 1..4 with 0.1, 0.5, 0.9, 0.7.
    expect_values(resize_bilinear(std::vector<float>{220, 0, 0, 0, 0}, 1, 1, 5, 1, 2), {70, 0}, 1e-4f);
    expect_values(resize_bilinear(std::vector<float>{0, 0, 0, 0, 220}, 1, 1, 5, 1, 2), {0, 70}, 1e-4f);
    expect_values(resize_bilinear(std::vector<float>{0, 22, 44, 66, 88}, 1, 1, 5, 1, 2), {22, 66}, 1e-4f);
}

TEST(Resize, EnlargingIsPlainBilinearWithEdgesHeld) {
    // 2 → 4: centres 0.25, 0.75, 1.25, 1.75; the triangle of support 1, weights renormalised at the edges.
    expect_values(resize_bilinear(std::vector<float>{0, 100}, 1, 1, 2, 1, 4), {0, 25, 75, 100}, 1e-4f);
}

TEST(Resize, RowsAndColumnsSeparatelyAndTheSameSizeUnchanged) {
    // value(y, x) = a[y] + b[x] resizes to a'[y] + b'[x], as the weights of each axis sum to 1.
    const float a[4] = {0, 70, 140, 210}, b[4] = {0, 7, 14, 21};
    std::vector<float> planes;
    for (int c = 0; c < 2; ++c)
        for (float row : a)
            for (float column : b) planes.push_back(row + column + 1000.0f * static_cast<float>(c));
    expect_values(resize_bilinear(planes, 2, 4, 4, 2, 2), {55, 66, 165, 176, 1055, 1066, 1165, 1176}, 1e-3f);
    expect_values(resize_bilinear(planes, 2, 4, 4, 4, 4), planes, 0.0f);
    testing::expect_error([&] { resize_bilinear(planes, 2, 4, 4, 0, 4); }, {"cannot resize to 4x0"});
    testing::expect_error([&] { resize_bilinear(planes, 3, 4, 4, 2, 2); }, {"32 values for 3 planes of 4x4"});
}

TEST(NetworkInput, StretchResizesEveryImageToTheModelsSize) {
    // 1×4 grey, 8-bit: the resize above on v/255.
    const Tensor row = to_network_input(make_image(1, 1, 4, {0, 70, 140, 210}), 1, 1, 2);
    EXPECT_NEAR(row[0], 50.0f / 255.0f, 1e-6f);
    EXPECT_NEAR(row[1], 160.0f / 255.0f, 1e-6f);
    // The model's own size: exactly v/255, as read_png.
    const Tensor same = to_network_input(make_image(1, 1, 4, {0, 70, 140, 255}), 1, 1, 4);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(same[i], std::vector<float>({0, 70, 140, 255})[static_cast<std::size_t>(i)] / 255.0f);
    // RGB to grey before resizing: BT.601 luma of pure red is 76.
    const Tensor grey = to_network_input(make_image(3, 1, 2, {255, 0, 0, 255, 0, 0}), 1, 1, 1);
    EXPECT_EQ(grey[0], 76.0f / 255.0f);
}

TEST(NetworkInput, CentreCropKeepsTheAspectAndCutsTheMiddle) {
    // A 3×3 window of an image 6 wide and 3 high: no resampling (the height is already 3), and
    // left = round(3 / 2) = 2 (Python rounds halves to even, as torchvision's center_crop).
    std::vector<std::uint16_t> columns;
    for (int y = 0; y < 3; ++y)
        for (int x = 0; x < 6; ++x) columns.push_back(static_cast<std::uint16_t>(10 * x));
    const Tensor crop = to_network_input(make_image(1, 3, 6, columns), 1, 3, 3, {.resize = ResizePolicy::center_crop});
    for (int x = 0; x < 3; ++x) EXPECT_EQ(crop[x], static_cast<float>(10 * (x + 2)) / 255.0f) << x;
    // 4 wide: left = round(0.5) = 0.
    std::vector<std::uint16_t> four;
    for (int y = 0; y < 3; ++y)
        for (int x = 0; x < 4; ++x) four.push_back(static_cast<std::uint16_t>(10 * x));
    const Tensor crop4 = to_network_input(make_image(1, 3, 4, four), 1, 3, 3, {.resize = ResizePolicy::center_crop});
    EXPECT_EQ(crop4[0], 0.0f);
    // A portrait 2 wide, 8 high to 2×2: no column resampling, rows 8 → 2 taken whole; stretch gives the same.
    std::vector<std::uint16_t> tall(16, 100);
    const Tensor portrait = to_network_input(make_image(1, 8, 2, tall), 1, 2, 2, {.resize = ResizePolicy::center_crop});
    EXPECT_NEAR(portrait[3], 100.0f / 255.0f, 1e-6f);
    // 8 wide, 4 high to 2×2: resized to 4×2 (width x height), then columns 1 and 2 of that.
    std::vector<std::uint16_t> wide;
    for (int i = 0; i < 32; ++i) wide.push_back(static_cast<std::uint16_t>((i * 37) % 256));
    const Tensor cropped = to_network_input(make_image(1, 4, 8, wide), 1, 2, 2, {.resize = ResizePolicy::center_crop});
    std::vector<float> planes;
    for (std::uint16_t v : wide) planes.push_back(static_cast<float>(v) / 255.0f);
    const std::vector<float> resized = resize_bilinear(planes, 1, 4, 8, 2, 4);
    expect_values({cropped[0], cropped[1], cropped[2], cropped[3]}, {resized[1], resized[2], resized[5], resized[6]});
}

TEST(NetworkInput, InvertAndNormalise) {
    const Image image = make_image(2, 1, 3, {255, 255, 100, 255, 77, 0});  // grey + alpha; the last pixel transparent
    const Tensor plain = to_network_input(image, 1, 1, 3);
    EXPECT_EQ(plain[0], 1.0f);
    EXPECT_EQ(plain[2], 0.0f);  // transparent onto black
    const Tensor inverted = to_network_input(image, 1, 1, 3, {.invert = true});
    EXPECT_EQ(inverted[0], 0.0f);
    EXPECT_NEAR(inverted[1], 1.0f - 100.0f / 255.0f, 1e-6f);
    EXPECT_EQ(inverted[2], 0.0f);  // transparent onto white, then inverted: still the background
    const Tensor normalised = to_network_input(image, 3, 1, 3, {.mean = {0.5f}, .std = {0.25f, 0.5f, 1.0f}});
    EXPECT_FLOAT_EQ(normalised[0], 2.0f);       // red plane: (1 − 0.5) / 0.25
    EXPECT_FLOAT_EQ(normalised[3 + 2], -1.0f);  // green plane, transparent: (0 − 0.5) / 0.5
    EXPECT_FLOAT_EQ(normalised[6 + 1], 100.0f / 255.0f - 0.5f);
    testing::expect_error([&] { to_network_input(image, 3, 1, 3, {.mean = {0.1f, 0.2f}}); }, {"2 values of mean for a 3-channel input"});
    testing::expect_error([&] { to_network_input(image, 1, 1, 3, {.std = {0.0f}}); }, {"standard deviation of 0"});
    EXPECT_EQ(resize_policy_from_name("center-crop"), ResizePolicy::center_crop);
    EXPECT_EQ(resize_policy_name(ResizePolicy::stretch), "stretch");
    EXPECT_FALSE(resize_policy_from_name("crop").has_value());
}

// A 16-bit picture resized keeps its precision: 257·v / 65535 is v / 255.
TEST(NetworkInput, SixteenBitSamples) {
    Image image = make_image(1, 1, 4, {0, 70 * 257, 140 * 257, 210 * 257});
    image.max_value = 65535;
    const Tensor row = to_network_input(image, 1, 1, 2);
    EXPECT_NEAR(row[0], 50.0f / 255.0f, 1e-6f);
    EXPECT_NEAR(row[1], 160.0f / 255.0f, 1e-6f);
    image.samples[1] = 70 * 257 + 1;  // a step 8-bit files cannot hold
    EXPECT_GT(to_network_input(image, 1, 1, 2)[0], row[0]);
}

}  // namespace
}  // namespace convnet
