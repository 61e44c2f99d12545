// PNG in and out: a written picture reads back pixel for pixel as [0, 1] values, colour becomes
// grey for a 1-channel model, and wrong sizes or non-PNG files are refused by name.
#include "test_support.h"

#include <convnet/error.h>
#include <convnet/image.h>

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

}  // namespace
}  // namespace convnet
