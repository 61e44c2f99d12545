// Colour input end to end: Fashion-MNIST tinted with one colour per class, as 3-channel images,
// trains an RGB network whose first-layer filters learn colour; the same pictures in grey
// (R = G = B) leave the filters' differences between channels exactly where initialisation put
// them, since every channel then receives the same gradient.
#include <convnet/data/data.h>
#include <convnet/nn/network.h>
#include <convnet/train/optim.h>
#include <convnet/train/trainer.h>

#include <gtest/gtest.h>

#include <omp.h>
#include <array>
#include <cmath>

namespace convnet {
namespace {

const char* kRgbModel =
    "input 3x28x28\nconv2d out=8 kernel=5 pad=2\nrelu\nmaxpool2d kernel=2\nconv2d out=16 kernel=3 pad=1\nrelu\nmaxpool2d kernel=2\n"
    "flatten\nlinear out=10\n";

// One saturated colour per class (R, G, B in [0, 1]).
constexpr std::array<std::array<float, 3>, 10> kTints = {{{1.0f, 0.2f, 0.2f},
                                                          {0.2f, 1.0f, 0.2f},
                                                          {0.2f, 0.3f, 1.0f},
                                                          {1.0f, 1.0f, 0.2f},
                                                          {1.0f, 0.2f, 1.0f},
                                                          {0.2f, 1.0f, 1.0f},
                                                          {1.0f, 0.6f, 0.1f},
                                                          {0.6f, 0.2f, 1.0f},
                                                          {0.6f, 1.0f, 0.1f},
                                                          {1.0f, 0.6f, 0.8f}}};

// `grey` as RGB: each channel the grey value times the class's tint, or, with `tinted` false,
// the grey value in all three.
Dataset as_rgb(const Dataset& grey, std::int64_t count, bool tinted) {
    Dataset rgb;
    rgb.count = count;
    rgb.channels = 3;
    rgb.height = grey.height;
    rgb.width = grey.width;
    rgb.class_names = grey.class_names;
    rgb.labels.assign(grey.labels.begin(), grey.labels.begin() + count);
    const std::int64_t plane = std::int64_t{grey.height} * grey.width;
    rgb.images.resize(static_cast<std::size_t>(count * 3 * plane));
    for (std::int64_t n = 0; n < count; ++n)
        for (int c = 0; c < 3; ++c)
            for (std::int64_t p = 0; p < plane; ++p) {
                const float tint = tinted ? kTints[rgb.labels[static_cast<std::size_t>(n)]][static_cast<std::size_t>(c)] : 1.0f;
                rgb.images[static_cast<std::size_t>((n * 3 + c) * plane + p)] =
                    static_cast<std::uint8_t>(std::lround(grey.image(n)[p] * tint));
            }
    return rgb;
}

// How far the first layer's filters differ between input channels: the mean over filters and
// taps of the standard deviation of the three channels' weights.
double colour_spread(const Network& network) {
    const NamedParameter weight = network.named_parameters()[0];  // conv1.weight (8, 3, 5, 5)
    const Shape& shape = weight.parameter->shape;
    const std::int64_t taps = shape[2] * shape[3];
    double sum = 0.0;
    for (std::int64_t o = 0; o < shape[0]; ++o)
        for (std::int64_t t = 0; t < taps; ++t) {
            double values[3], mean = 0.0;
            for (int c = 0; c < 3; ++c) mean += values[c] = weight.parameter->value[(o * 3 + c) * taps + t];
            mean /= 3.0;
            double variance = 0.0;
            for (const double value : values) variance += (value - mean) * (value - mean) / 3.0;
            sum += std::sqrt(variance);
        }
    return sum / double(shape[0] * taps);
}

struct ColourRun {
    double spread_before = 0.0, spread_after = 0.0, accuracy = 0.0;
};

ColourRun train_rgb(const Dataset& train, const Dataset& test) {
    Network network(parse_model(kRgbModel, "rgb.model"));
    network.initialize(2);
    ColourRun run;
    run.spread_before = colour_spread(network);
    Adam adam(AdamOptions{});
    Trainer trainer(network, adam, 100, 2);
    trainer.train_epoch(train, {});
    trainer.train_epoch(train, {});
    run.spread_after = colour_spread(network);
    run.accuracy = evaluate(network, test, 500).accuracy;
    return run;
}

TEST(Colour, FirstLayerFiltersLearnColourFromTintedImages) {
    omp_set_num_threads(2);
    const std::string directory = std::string(CONVNET_SOURCE_DIR) + "/data/fashion-mnist";
    const Dataset train = load_split(directory, Split::train), test = load_split(directory, Split::test);  // `make test` fetches them
    const ColourRun tinted = train_rgb(as_rgb(train, 6000, true), as_rgb(test, 2000, true));
    const ColourRun grey = train_rgb(as_rgb(train, 6000, false), as_rgb(test, 2000, false));
    // Grey input: every channel's weight gets the same gradient and Adam the same step, so the
    // channels' differences are the initial ones (to float rounding).
    EXPECT_NEAR(grey.spread_after / grey.spread_before, 1.0, 1e-3);
    // Tinted: the colour tells the class, and the filters learn to tell colours apart.
    EXPECT_GT(tinted.spread_after / tinted.spread_before, 1.15)  // 1.29 measured
        << "before " << tinted.spread_before << ", after " << tinted.spread_after;
    EXPECT_GT(tinted.accuracy, grey.accuracy);
    EXPECT_GT(tinted.accuracy, 0.95);
    std::printf("colour spread of conv1: tinted %.4f -> %.4f (accuracy %.4f), grey %.4f -> %.4f (accuracy %.4f)\n", tinted.spread_before,
                tinted.spread_after, tinted.accuracy, grey.spread_before, grey.spread_after, grey.accuracy);
}

}  // namespace
}  // namespace convnet
