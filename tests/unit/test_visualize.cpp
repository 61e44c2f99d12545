// Pictures and classic kernels: the kernels give known results on small hand-made images (Sobel on
// a step edge, blur and sharpen on a constant, stride and padding sizes, colour per channel);
// kernel files are parsed or refused by line; the filter and activation sheets have the sizes
// their layout promises, are not blank, and put colours where the values are.
#include "test_support.h"

#include <convnet/core/error.h>
#include <convnet/data/image.h>
#include <convnet/inspect/image_kernels.h>
#include <convnet/nn/network.h>
#include <convnet/inspect/visualize.h>

#include <gtest/gtest.h>

#include <cmath>
#include <set>

namespace convnet {
namespace {

const ImageKernel& named(const std::string& name) {
    const ImageKernel* kernel = find_named_kernel(name);
    if (kernel == nullptr) throw Error("no kernel " + name);
    return *kernel;
}

Tensor constant_image(std::int64_t channels, std::int64_t height, std::int64_t width, float value) {
    Tensor image(Shape{channels, height, width});
    image.fill(value);
    return image;
}

TEST(ImageKernels, SobelXAnswersAVerticalStepEdgeAndNothingElse) {
    // 0 0 0 1 1 1 in every row: the step between columns 2 and 3.
    Tensor image(Shape{1, 5, 6});
    for (std::int64_t row = 0; row < 5; ++row)
        for (std::int64_t column = 3; column < 6; ++column) image[row * 6 + column] = 1.0f;
    const Tensor output = apply_kernel(image, named("sobel-x"), 1, 0);
    ASSERT_EQ(output.shape(), (Shape{1, 1, 3, 4}));
    // Windows centred on columns 1..4: only those across the step (centres 2 and 3) see 1 + 2 + 1.
    const float expected[4] = {0, 4, 4, 0};
    for (std::int64_t row = 0; row < 3; ++row)
        for (std::int64_t column = 0; column < 4; ++column)
            EXPECT_FLOAT_EQ(output[row * 4 + column], expected[column]) << "row " << row << " column " << column;
    // sobel-y sees no vertical change in it.
    const Tensor vertical = apply_kernel(image, named("sobel-y"), 1, 0);
    for (std::int64_t i = 0; i < vertical.size(); ++i) EXPECT_FLOAT_EQ(vertical[i], 0.0f);
}

TEST(ImageKernels, BlursAndSharpenKeepAConstantImageEdgesMakeItZero) {
    const Tensor image = constant_image(1, 7, 7, 0.6f);
    for (const char* name : {"blur", "gaussian", "sharpen", "emboss"}) {
        const Tensor output = apply_kernel(image, named(name), 1, 0);  // no padding: every window inside
        for (std::int64_t i = 0; i < output.size(); ++i) EXPECT_NEAR(output[i], 0.6f, 1e-6f) << name << " at " << i;
    }
    for (const char* name : {"edge", "sobel-x", "sobel-y"}) {
        const Tensor output = apply_kernel(image, named(name), 1, 0);
        for (std::int64_t i = 0; i < output.size(); ++i) EXPECT_NEAR(output[i], 0.0f, 1e-6f) << name << " at " << i;
    }
}

TEST(ImageKernels, EdgeFindsADotAndSharpenRaisesIt) {
    Tensor image(Shape{1, 5, 5});
    image[12] = 1.0f;  // one bright pixel in the middle
    const Tensor edge = apply_kernel(image, named("edge"), 1, 1);
    EXPECT_FLOAT_EQ(edge[12], 8.0f);
    EXPECT_FLOAT_EQ(edge[11], -1.0f);
    EXPECT_FLOAT_EQ(edge[6], -1.0f);
    EXPECT_FLOAT_EQ(edge[0], 0.0f);
    const Tensor sharpened = apply_kernel(image, named("sharpen"), 1, 1);
    EXPECT_FLOAT_EQ(sharpened[12], 5.0f);
    EXPECT_FLOAT_EQ(sharpened[7], -1.0f);
    EXPECT_FLOAT_EQ(sharpened[6], 0.0f);  // diagonal: not in the 4-neighbourhood
}

TEST(ImageKernels, StrideAndPaddingGiveConv2dSizesAndZerosAtTheBorder) {
    const Tensor image = constant_image(1, 9, 8, 1.0f);
    EXPECT_EQ(apply_kernel(image, named("blur"), 1, 1).shape(), (Shape{1, 1, 9, 8}));
    EXPECT_EQ(apply_kernel(image, named("blur"), 2, 1).shape(), (Shape{1, 1, 5, 4}));  // floor((9 + 2 - 3)/2) + 1
    EXPECT_EQ(apply_kernel(image, named("gaussian"), 1, 0).shape(), (Shape{1, 1, 5, 4}));
    const Tensor padded = apply_kernel(image, named("blur"), 1, 1);
    EXPECT_NEAR(padded[0], 4.0f / 9.0f, 1e-6f);  // a corner window holds 4 pixels and 5 zeros
    EXPECT_NEAR(padded[1], 6.0f / 9.0f, 1e-6f);
    testing::expect_error([&] { apply_kernel(constant_image(1, 2, 2, 0.0f), named("gaussian"), 1, 0); }, {"conv2d", "5"});
}

TEST(ImageKernels, ColourChannelsAreFilteredEachOnItsOwn) {
    Tensor image(Shape{3, 4, 4});
    for (std::int64_t c = 0; c < 3; ++c)
        for (std::int64_t p = 0; p < 16; ++p) image[c * 16 + p] = 0.25f * static_cast<float>(c + 1);
    const Tensor output = apply_kernel(image, named("blur"), 1, 0);
    ASSERT_EQ(output.shape(), (Shape{1, 3, 2, 2}));
    for (std::int64_t c = 0; c < 3; ++c)
        for (std::int64_t p = 0; p < 4; ++p) EXPECT_NEAR(output[c * 4 + p], 0.25f * static_cast<float>(c + 1), 1e-6f);
}

TEST(ImageKernels, NamedKernelsSumAsTheirSourcesSay) {
    for (const ImageKernel& kernel : named_kernels()) {
        double sum = 0.0;
        for (float value : kernel.values) sum += value;
        const bool smoothing = kernel.name == "edge" || kernel.name.rfind("sobel", 0) == 0;
        EXPECT_NEAR(sum, smoothing ? 0.0 : 1.0, 1e-6) << kernel.name;
        EXPECT_EQ(static_cast<std::int64_t>(kernel.values.size()), kernel.height * kernel.width) << kernel.name;
        EXPECT_FALSE(kernel.source.empty()) << kernel.name;
    }
}

TEST(ImageKernels, DisplayMapsClipAbsoluteAndShift) {
    Tensor output(Shape{1, 1, 1, 3});
    output[0] = -0.5f, output[1] = 0.25f, output[2] = 2.0f;
    EXPECT_EQ(kernel_output_pixels(output, KernelDisplay::clip), (std::vector<std::uint8_t>{0, 64, 255}));
    EXPECT_EQ(kernel_output_pixels(output, KernelDisplay::absolute), (std::vector<std::uint8_t>{128, 64, 255}));
    EXPECT_EQ(kernel_output_pixels(output, KernelDisplay::shift), (std::vector<std::uint8_t>{0, 191, 255}));
}

TEST(KernelFiles, RowsOfNumbersWithFractionsAndComments) {
    const ImageKernel kernel = parse_kernel("# my Sobel\n-1, 0, 1\n\n-2 0 2   # middle row\n-1 0 1/2\n", "mine.txt");
    EXPECT_EQ(kernel.height, 3);
    EXPECT_EQ(kernel.width, 3);
    EXPECT_EQ(kernel.values, (std::vector<float>{-1, 0, 1, -2, 0, 2, -1, 0, 0.5f}));
}

TEST(KernelFiles, MistakesAreNamedByLine) {
    testing::expect_error([] { parse_kernel("1 2 3\n4 5\n", "k.txt"); }, {"k.txt:2:", "2 numbers", "first row (line 1) has 3"});
    testing::expect_error([] { parse_kernel("# c\n1 x 3\n", "k.txt"); }, {"k.txt:2:", "'x' is not a number"});
    testing::expect_error([] { parse_kernel("1 1/0\n", "k.txt"); }, {"k.txt:1:", "divides by zero"});
    testing::expect_error([] { parse_kernel("# nothing\n\n", "k.txt"); }, {"k.txt: no rows of numbers"});
    testing::expect_error([] { parse_kernel("1e40\n", "k.txt"); }, {"k.txt:1:", "not a finite float32"});
}

// --- Pictures.

struct PixelStatistics {
    double mean = 0.0, deviation = 0.0;
    std::size_t colours = 0;
};

PixelStatistics statistics(const Picture& picture) {
    PixelStatistics result;
    std::set<std::uint32_t> colours;
    double sum = 0.0, squares = 0.0;
    for (std::int64_t y = 0; y < picture.height(); ++y)
        for (std::int64_t x = 0; x < picture.width(); ++x) {
            const Rgb pixel = picture.pixel(x, y);
            const double level = (pixel.red + pixel.green + pixel.blue) / 3.0;
            sum += level;
            squares += level * level;
            colours.insert(static_cast<std::uint32_t>(pixel.red << 16 | pixel.green << 8 | pixel.blue));
        }
    const double count = static_cast<double>(picture.width() * picture.height());
    result.mean = sum / count;
    result.deviation = std::sqrt(std::max(0.0, squares / count - result.mean * result.mean));
    result.colours = colours.size();
    return result;
}

TEST(Pictures, DivergingMapIsWhiteAtZeroBlueBelowRedAbove) {
    EXPECT_EQ(diverging_colour(0.0f), kWhite);
    const Rgb low = diverging_colour(-1.0f), high = diverging_colour(1.0f);
    EXPECT_GT(low.blue, low.red);
    EXPECT_GT(high.red, high.blue);
    EXPECT_EQ(diverging_colour(-5.0f), low);  // clipped
    EXPECT_EQ(diverging_colour(NAN), kBlack);
}

TEST(Pictures, FontCoversPrintableAsciiAndTextHasItsWidth) {
    EXPECT_EQ(text_width("abc"), 17);
    EXPECT_EQ(text_width("abc", 2), 34);
    Picture picture(40, 10);
    EXPECT_EQ(picture.text(1, 1, "Hi 0.5"), text_width("Hi 0.5"));
    EXPECT_LT(statistics(picture).mean, 255.0);  // something was drawn
    for (char c = '!'; c <= '~'; ++c) {
        int set = 0;
        for (int y = 0; y < 7; ++y)
            for (int x = 0; x < 5; ++x) set += glyph_pixel(c, x, y);
        EXPECT_GT(set, 0) << "glyph '" << c << "' is empty";
    }
}

TEST(Pictures, FilterSheetHasItsGridLegendAndColours) {
    // Four 3x3 filters of one channel: filter 0 all +1, filter 1 all -1, the others small.
    const Shape shape{4, 1, 3, 3};
    std::vector<float> weight(36, 0.01f);
    for (int i = 0; i < 9; ++i) weight[static_cast<std::size_t>(i)] = 1.0f, weight[static_cast<std::size_t>(9 + i)] = -1.0f;
    FilterSheetOptions options;
    options.title = "test";
    const Picture picture = filter_sheet(weight, shape, options);
    // 3x3 kernels at 8 px a weight; 4 filters in a 2x2 grid.
    EXPECT_GE(picture.width(), 2 * 24 + 12 + 24);
    EXPECT_GT(picture.height(), 2 * 24);
    const PixelStatistics stats = statistics(picture);
    EXPECT_GT(stats.deviation, 10.0);
    EXPECT_GT(stats.colours, 20u);
    // Somewhere the full red of +1 and the full blue of -1; the small filters nearly white on this scale.
    bool red = false, blue = false;
    for (std::int64_t y = 0; y < picture.height(); ++y)
        for (std::int64_t x = 0; x < picture.width(); ++x) {
            red = red || picture.pixel(x, y) == diverging_colour(1.0f);
            blue = blue || picture.pixel(x, y) == diverging_colour(-1.0f);
        }
    EXPECT_TRUE(red && blue);

    // Per filter, the small filters reach full red too; the sheet is taller (their max under each).
    options.per_filter = true;
    const Picture per_filter = filter_sheet(weight, shape, options);
    EXPECT_GT(per_filter.height(), picture.height());
    testing::expect_error([&] { filter_sheet(weight, Shape{4, 9}, options); }, {"expected a convolution weight"});
}

TEST(Pictures, RgbFiltersAreOneTileEachAndGreyAtZero) {
    const std::vector<float> weight(2 * 3 * 5 * 5, 0.0f);
    const Picture colour = filter_sheet(weight, Shape{2, 3, 5, 5}, {});
    FilterSheetOptions tiles;
    tiles.colour = false;
    const Picture separate = filter_sheet(weight, Shape{2, 3, 5, 5}, tiles);
    // Zero weights: each RGB tile mid-grey, 5x5 weights at 5 px (25x25 pixels); drawn apart, a white tile per channel.
    auto mid_grey = [](const Picture& picture) {
        std::int64_t count = 0;
        for (std::int64_t y = 0; y < picture.height(); ++y)
            for (std::int64_t x = 0; x < picture.width(); ++x) count += picture.pixel(x, y) == Rgb{128, 128, 128};
        return count;
    };
    EXPECT_GE(mid_grey(colour), 2 * 25 * 25);
    EXPECT_LT(mid_grey(separate), 25);
}

using PictureFile = testing::TemporaryFolderTest;

TEST_F(PictureFile, ActivationSheetOfANetworkHasABandPerLayerAndIsWrittenAsPng) {
    Network network(
        parse_model("input 1x12x12\nconv2d out=4 kernel=3 pad=1\nrelu\nmaxpool2d kernel=2\nflatten\nlinear out=3\n", "t.model"));
    network.initialize(7);
    Tensor image(Shape{1, 12, 12});
    for (std::int64_t i = 0; i < image.size(); ++i) image[i] = static_cast<float>(i % 12) / 11.0f;
    Tensor logits;
    const std::vector<LayerActivation> layers = observe_activations(network, image, logits);
    ASSERT_EQ(layers.size(), 6u);  // the input and five layers
    EXPECT_EQ(layers[0].name, "input");
    EXPECT_EQ(layers[1].shape, (Shape{4, 12, 12}));
    EXPECT_EQ(layers[5].shape, (Shape{3}));
    EXPECT_EQ(logits.shape(), (Shape{1, 3}));
    for (std::int64_t c = 0; c < 3; ++c) EXPECT_FLOAT_EQ(layers[5].values[static_cast<std::size_t>(c)], logits[c]);

    ActivationSheetOptions options;
    options.title = "a test";
    options.output_names = {"row", "column", "diagonal"};
    const Picture picture = activation_sheet(layers, options);
    EXPECT_GT(picture.height(), 6 * 50);  // six bands, each at least the label column's height
    EXPECT_GT(picture.width(), 4 * 48);   // four maps of 12x12 magnified 4 times in a row
    const PixelStatistics stats = statistics(picture);
    EXPECT_GT(stats.deviation, 10.0);
    EXPECT_GT(stats.colours, 50u);
    EXPECT_GT(stats.mean, 128.0);  // mostly white paper

    write_picture(directory_ / "maps.png", picture);
    const Image decoded = decode_image(directory_ / "maps.png");
    EXPECT_EQ(decoded.width, picture.width());
    EXPECT_EQ(decoded.height, picture.height());
    EXPECT_EQ(decoded.channels, 3);
    testing::expect_error([&] { activation_sheet({}, options); }, {"no layers"});
}

}  // namespace
}  // namespace convnet
