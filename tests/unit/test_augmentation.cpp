// Data augmentation and normalisation in load_batch: every crop is the image shifted within its
// padding, flips mirror about half of the images (alternating ones every other epoch), draws
// repeat for a seed, epoch and index, and mean/std are applied per channel.
#include <convnet/data/augmentation.h>
#include <convnet/core/error.h>
#include <convnet/train/trainer.h>

#include "test_support.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <set>

namespace convnet {
namespace {

// Two images of 2 channels, 5×6, every byte distinct within an image (so a shift is recognisable).
Dataset distinct_pixels() {
    Dataset dataset;
    dataset.count = 2;
    dataset.channels = 2;
    dataset.height = 5;
    dataset.width = 6;
    dataset.class_names = {"a", "b"};
    dataset.labels = {0, 1};
    for (std::int64_t i = 0; i < dataset.count * dataset.image_size(); ++i)
        dataset.images.push_back(static_cast<std::uint8_t>(1 + i % 120));
    return dataset;
}

// The value load_batch gives byte v without normalisation.
float scaled(int v) { return static_cast<float>(v) / 255.0f; }

// The image `index` cropped at offset (dy, dx) of the padded image and mirrored when asked.
std::vector<float> shifted(const Dataset& dataset, std::int64_t index, int padding, int dy, int dx, bool mirror) {
    std::vector<float> out;
    const std::uint8_t* image = dataset.image(index);
    for (int c = 0; c < dataset.channels; ++c)
        for (int y = 0; y < dataset.height; ++y)
            for (int x = 0; x < dataset.width; ++x) {
                const int sy = y + dy - padding, sx = (mirror ? dataset.width - 1 - x : x) + dx - padding;
                const bool inside = sy >= 0 && sy < dataset.height && sx >= 0 && sx < dataset.width;
                out.push_back(inside ? scaled(image[(c * dataset.height + sy) * dataset.width + sx]) : 0.0f);
            }
    return out;
}

std::vector<float> batch_of(const Dataset& dataset, std::int64_t index, const BatchTransform& transform) {
    Tensor images;
    std::vector<std::uint8_t> labels;
    load_batch(dataset, std::span<const std::int64_t>(&index, 1), images, labels, transform);
    return std::vector<float>(images.data(), images.data() + images.size());
}

TEST(Augmentation, ParsesItsFormsAndRefusesTheRest) {
    EXPECT_FALSE(parse_augmentation("none").enabled());
    const Augmentation both = parse_augmentation("flip,crop:4");
    EXPECT_EQ(both.crop_padding, 4);
    EXPECT_TRUE(both.flip);
    EXPECT_EQ(both.describe(), "crop:4,flip");
    EXPECT_EQ(parse_augmentation("alternating-flip").describe(), "alternating-flip");
    for (const char* bad : {"crop:0", "crop:65", "crop:x", "crop:", "mirror", "flip,", "", "flip,,crop:2"})
        testing::expect_error([&] { parse_augmentation(bad); }, {"expected none, or crop:N"});
    testing::expect_error([&] { parse_augmentation("flip,alternating-flip"); }, {"exclude each other"});
}

TEST(Augmentation, EveryCropIsTheImageShiftedWithinItsPaddingAndEveryOffsetComes) {
    const Dataset dataset = distinct_pixels();
    BatchTransform transform;
    transform.augmentation.crop_padding = 2;
    transform.seed = 9;
    std::set<std::pair<int, int>> offsets;
    for (int epoch = 1; epoch <= 200; ++epoch) {
        transform.epoch = epoch;
        const std::vector<float> got = batch_of(dataset, 1, transform);
        int found = 0;
        for (int dy = 0; dy <= 4; ++dy)
            for (int dx = 0; dx <= 4; ++dx)
                if (got == shifted(dataset, 1, 2, dy, dx, false)) {
                    offsets.insert({dy, dx});
                    ++found;
                }
        ASSERT_EQ(found, 1) << "epoch " << epoch << ": not one shift of the image";
    }
    EXPECT_EQ(offsets.size(), 25u);  // all (2·2 + 1)² offsets in 200 draws
}

TEST(Augmentation, FlipMirrorsAboutHalfAndRepeatsForASeed) {
    const Dataset dataset = distinct_pixels();
    BatchTransform transform;
    transform.augmentation.flip = true;
    transform.seed = 3;
    int mirrored = 0;
    for (int epoch = 1; epoch <= 400; ++epoch) {
        transform.epoch = epoch;
        const std::vector<float> got = batch_of(dataset, 0, transform);
        const bool is_mirrored = got == shifted(dataset, 0, 0, 0, 0, true);
        ASSERT_TRUE(is_mirrored || got == shifted(dataset, 0, 0, 0, 0, false));
        mirrored += is_mirrored;
        EXPECT_EQ(got, batch_of(dataset, 0, transform));  // the same draw again
    }
    EXPECT_GT(mirrored, 160);  // 200 expected; a binomial(400, 1/2) leaves this range with odds below 1e-4
    EXPECT_LT(mirrored, 240);
}

TEST(Augmentation, AlternatingFlipMirrorsEachImageEveryOtherEpoch) {
    const Dataset dataset = distinct_pixels();
    BatchTransform transform;
    transform.augmentation.alternating_flip = true;
    transform.seed = 5;
    for (std::int64_t index = 0; index < 2; ++index) {
        transform.epoch = 1;
        bool previous = batch_of(dataset, index, transform) == shifted(dataset, index, 0, 0, 0, true);
        for (int epoch = 2; epoch <= 6; ++epoch) {
            transform.epoch = epoch;
            const bool now = batch_of(dataset, index, transform) == shifted(dataset, index, 0, 0, 0, true);
            EXPECT_NE(now, previous) << "image " << index << ", epoch " << epoch;
            previous = now;
        }
    }
}

TEST(Normalisation, MeanAndStdPerChannelAndMeasuredFromTheData) {
    const Dataset dataset = distinct_pixels();
    BatchTransform transform;
    transform.preprocessing.mean = {0.25f, 0.5f};
    transform.preprocessing.std = {0.5f, 2.0f};
    const std::vector<float> got = batch_of(dataset, 0, transform);
    const std::int64_t plane = dataset.height * dataset.width;
    for (std::int64_t i = 0; i < dataset.image_size(); ++i) {
        const int c = static_cast<int>(i / plane);
        EXPECT_EQ(got[i], (scaled(dataset.images[i]) - transform.preprocessing.mean[c]) / transform.preprocessing.std[c]) << i;
    }
    transform.preprocessing.mean = {0.1f, 0.2f, 0.3f};
    testing::expect_error([&] { batch_of(dataset, 0, transform); }, {"3 mean values for 2 channels"});

    // channel_statistics against a direct computation over every pixel.
    const Preprocessing measured = channel_statistics(dataset);
    for (int c = 0; c < 2; ++c) {
        double sum = 0.0, squares = 0.0, count = 0.0;
        for (std::int64_t n = 0; n < dataset.count; ++n)
            for (std::int64_t p = 0; p < plane; ++p) {
                const double value = dataset.image(n)[c * plane + p] / 255.0;
                sum += value;
                squares += value * value;
                ++count;
            }
        const double mean = sum / count;
        EXPECT_NEAR(measured.mean[c], mean, 1e-6);
        EXPECT_NEAR(measured.std[c], std::sqrt(squares / count - mean * mean), 1e-6);
    }
    Dataset flat = dataset;
    std::fill(flat.images.begin(), flat.images.end(), 7);
    testing::expect_error([&] { channel_statistics(flat); }, {"channel 0", "one value throughout"});
}

}  // namespace
}  // namespace convnet
