// Test support shared by the unit tests: checks on the convnet::Error an action throws. Not a
// layer harness (that is layer_harness.h).
#pragma once

#include <convnet/core/error.h>
#include <convnet/core/random.h>
#include <convnet/data/data.h>
#include <convnet/nn/network.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <initializer_list>
#include <string>

namespace convnet::testing {

// Every parameter, then every buffer, with its dotted name: what a test compares or copies
// between two networks (torch: named_parameters() then named_buffers()).
inline std::vector<NamedParameter> parameters_and_buffers(const Network& network) {
    std::vector<NamedParameter> entries = network.named_parameters();
    for (NamedParameter& buffer : network.named_buffers()) entries.push_back(std::move(buffer));
    return entries;
}

// The one all-layers model (every registered layer type, options away from their defaults),
// relative to the source folder: the tests that need every layer read this file
// (tests/unit/test_adding_a_layer.cpp checks that it holds every type).
inline constexpr const char* kAllLayersModel = "tests/models/all-layers.model";

// Three classes of 12x12 images: a bright row, a bright column, or a bright diagonal, with noise.
inline Dataset generated_dataset(std::int64_t count, std::uint64_t seed) {
    Dataset dataset;
    dataset.count = count;
    dataset.height = dataset.width = 12;
    dataset.class_names = {"row", "column", "diagonal"};
    dataset.images.resize(static_cast<std::size_t>(count * 144));
    dataset.labels.resize(static_cast<std::size_t>(count));
    Random random(seed);
    for (std::int64_t n = 0; n < count; ++n) {
        const auto label = static_cast<std::uint8_t>(random.below(3));
        const auto position = static_cast<std::int64_t>(random.below(12));
        std::uint8_t* image = dataset.images.data() + n * 144;
        for (std::int64_t p = 0; p < 144; ++p) image[p] = static_cast<std::uint8_t>(random.below(90));
        for (std::int64_t i = 0; i < 12; ++i) {
            const std::int64_t pixel = label == 0 ? position * 12 + i : label == 1 ? i * 12 + position : i * 12 + (i + position) % 12;
            image[pixel] = 255;
        }
        dataset.labels[static_cast<std::size_t>(n)] = label;
    }
    return dataset;
}

// `count` 12×12 segmentation images: noise with a bright bar (class 1: a row, 2: a column) on
// background (0), a few pixels marked 255 (ignore); seeded.
inline Dataset generated_segmentation_dataset(std::int64_t count, std::uint64_t seed) {
    Dataset dataset;
    dataset.count = count;
    dataset.height = dataset.width = 12;
    dataset.class_names = {"background", "row", "column"};
    dataset.images.resize(static_cast<std::size_t>(count * 144));
    dataset.masks.assign(static_cast<std::size_t>(count * 144), 0);
    Random random(seed);
    for (std::int64_t n = 0; n < count; ++n) {
        const auto label = static_cast<std::uint8_t>(1 + random.below(2));
        const auto position = static_cast<std::int64_t>(random.below(12));
        std::uint8_t* image = dataset.images.data() + n * 144;
        std::uint8_t* mask = dataset.masks.data() + n * 144;
        for (std::int64_t p = 0; p < 144; ++p) image[p] = static_cast<std::uint8_t>(random.below(90));
        for (std::int64_t i = 0; i < 12; ++i) {
            const std::int64_t pixel = label == 1 ? position * 12 + i : i * 12 + position;
            image[pixel] = 255;
            mask[pixel] = label;
        }
        for (int k = 0; k < 5; ++k) mask[random.below(144)] = 255;  // unlabelled pixels, shard by shard unequal
    }
    return dataset;
}

// A detection set of 24×24 grey images on dim noise, each with one or two squares 4 to 9 pixels
// wide that do not touch: class 0 white, class 1 mid-grey; boxes in the image's unit.
inline Dataset generated_detection_dataset(std::int64_t count, std::uint64_t seed) {
    Dataset dataset;
    dataset.count = count;
    dataset.height = dataset.width = 24;
    dataset.class_names = {"white", "grey"};
    dataset.images.resize(static_cast<std::size_t>(count * 576));
    dataset.box_offsets.push_back(0);
    Random random(seed);
    for (std::int64_t n = 0; n < count; ++n) {
        std::uint8_t* image = dataset.images.data() + n * 576;
        for (std::int64_t p = 0; p < 576; ++p) image[p] = static_cast<std::uint8_t>(random.below(40));
        const std::int64_t first = static_cast<std::int64_t>(dataset.boxes.size());
        const int objects = 1 + static_cast<int>(random.below(2));
        for (int tries = 0; static_cast<std::int64_t>(dataset.boxes.size()) - first < objects && tries < 50; ++tries) {
            const int size = 4 + static_cast<int>(random.below(6)), x = static_cast<int>(random.below(25 - size)),
                      y = static_cast<int>(random.below(25 - size)), label = static_cast<int>(random.below(2));
            bool apart = true;  // a pixel of space between squares
            for (std::int64_t b = first; b < static_cast<std::int64_t>(dataset.boxes.size()); ++b) {
                const Box& other = dataset.boxes[static_cast<std::size_t>(b)].box;
                if (x <= other.x2 * 24 && x + size >= other.x1 * 24 && y <= other.y2 * 24 && y + size >= other.y1 * 24) apart = false;
            }
            if (!apart) continue;
            for (int yy = y; yy < y + size; ++yy)
                for (int xx = x; xx < x + size; ++xx) image[yy * 24 + xx] = label == 0 ? 255 : 150;
            dataset.boxes.push_back(ObjectBox{Box{x / 24.0f, y / 24.0f, (x + size) / 24.0f, (y + size) / 24.0f}, label});
        }
        dataset.box_offsets.push_back(static_cast<std::int64_t>(dataset.boxes.size()));
    }
    return dataset;
}

// Runs `action`, expecting a convnet::Error whose message contains every one of `parts`.
template <typename Action>
void expect_error(Action action, std::initializer_list<std::string> parts) {
    try {
        action();
        ADD_FAILURE() << "no error thrown; expected one mentioning " << *parts.begin();
    } catch (const Error& error) {
        for (const std::string& part : parts)
            EXPECT_NE(std::string(error.what()).find(part), std::string::npos) << "message: " << error.what() << "\nmissing: " << part;
    }
}

// Runs `action` and returns the message of the convnet::Error it throws, or "no error".
template <typename Action>
std::string error_message(Action action) {
    try {
        action();
    } catch (const Error& error) {
        return error.what();
    }
    return "no error";
}

// A fixture with a fresh folder per test, named after the test, removed afterwards.
class TemporaryFolderTest : public ::testing::Test {
protected:
    void SetUp() override {
        directory_ = std::filesystem::temp_directory_path() /
                     ("convnet_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->test_suite_name()) + "_" +
                      ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(directory_);
        std::filesystem::create_directories(directory_);
    }
    void TearDown() override { std::filesystem::remove_all(directory_); }
    std::filesystem::path directory_;
};

}  // namespace convnet::testing
