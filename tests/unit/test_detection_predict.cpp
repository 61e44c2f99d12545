// Tests of what `convnet predict` does with a detector's boxes (detection_picture.h): mapping them
// from the network's input back onto the picture under stretch and center_crop (against
// fit_boxes, the way boxes go in), and drawing them: size, colours, tags, order, clipping.
#include <convnet/data/detection_folder.h>
#include <convnet/inspect/detection_picture.h>
#include <convnet/inspect/segmentation.h>

#include "test_support.h"

#include <cmath>

namespace convnet {
namespace {

using testing::expect_error;

void expect_box_near(const Box& actual, const Box& expected, double tolerance = 1e-4) {
    EXPECT_NEAR(actual.x1, expected.x1, tolerance);
    EXPECT_NEAR(actual.y1, expected.y1, tolerance);
    EXPECT_NEAR(actual.x2, expected.x2, tolerance);
    EXPECT_NEAR(actual.y2, expected.y2, tolerance);
}

TEST(DetectionBoxInPicture, StretchScalesEachAxis) {
    // A 96x96 input from a 200 wide, 100 high picture: x times 200/96, y times 100/96.
    expect_box_near(box_in_picture(Box{48, 48, 96, 96}, 96, 96, 100, 200, ResizePolicy::stretch), Box{100, 50, 200, 100});
    expect_box_near(box_in_picture(Box{12, 24, 36, 72}, 96, 96, 100, 200, ResizePolicy::stretch), Box{25, 25, 75, 75});
    // The same size: unchanged.
    expect_box_near(box_in_picture(Box{1.5f, 2.5f, 30.25f, 40}, 96, 96, 96, 96, ResizePolicy::stretch), Box{1.5f, 2.5f, 30.25f, 40});
}

TEST(DetectionBoxInPicture, CenterCropGoesThroughTheWindow) {
    // A 200x100 picture (wide) resized to 192x96, the middle 96 columns kept: x from 50 to 150.
    expect_box_near(box_in_picture(Box{0, 0, 96, 96}, 96, 96, 100, 200, ResizePolicy::center_crop), Box{50, 0, 150, 100});
    expect_box_near(box_in_picture(Box{24, 48, 72, 96}, 96, 96, 100, 200, ResizePolicy::center_crop), Box{75, 50, 125, 100});
    // A 100 wide, 300 high picture (tall) to 32x32: resized to 32x96, rows 32..64 kept: y from 100 to 200.
    expect_box_near(box_in_picture(Box{0, 0, 32, 32}, 32, 32, 300, 100, ResizePolicy::center_crop), Box{0, 100, 100, 200});
    expect_box_near(box_in_picture(Box{8, 16, 16, 32}, 32, 32, 300, 100, ResizePolicy::center_crop), Box{25, 150, 50, 200});
}

TEST(DetectionBoxInPicture, UndoesFitBoxes) {
    // A box inside the kept window goes into the input by fit_boxes (as training sees it) and comes
    // back by box_in_picture, for both policies and pictures wider and taller than the input.
    const struct {
        std::int64_t image_height, image_width, height, width;
    } sizes[] = {{100, 200, 96, 96}, {300, 100, 32, 32}, {480, 640, 96, 128}, {97, 61, 48, 40}};
    for (const auto& size : sizes)
        for (const ResizePolicy policy : {ResizePolicy::stretch, ResizePolicy::center_crop}) {
            const Box window = network_input_window(size.image_height, size.image_width, size.height, size.width, policy);
            // A box in the middle of the window, normalised to the picture.
            const Box inside{window.x1 + 0.3f * window.width(), window.y1 + 0.2f * window.height(), window.x1 + 0.6f * window.width(),
                             window.y1 + 0.9f * window.height()};
            const std::vector<ObjectBox> fitted =
                fit_boxes(std::vector<ObjectBox>{{inside, 3}}, size.image_height, size.image_width, size.height, size.width, policy);
            ASSERT_EQ(fitted.size(), 1u);
            const Box input{fitted[0].box.x1 * float(size.width), fitted[0].box.y1 * float(size.height),
                            fitted[0].box.x2 * float(size.width), fitted[0].box.y2 * float(size.height)};
            const Box back = box_in_picture(input, size.height, size.width, size.image_height, size.image_width, policy);
            SCOPED_TRACE(std::to_string(size.image_width) + "x" + std::to_string(size.image_height) + " under " +
                         std::string(resize_policy_name(policy)));
            expect_box_near(back,
                            Box{inside.x1 * float(size.image_width), inside.y1 * float(size.image_height),
                                inside.x2 * float(size.image_width), inside.y2 * float(size.image_height)},
                            1e-3);
        }
}

TEST(DetectionBoxInPicture, ClipsToThePicture) {
    // Decoded boxes may reach past the input: they end at the picture's edges.
    expect_box_near(box_in_picture(Box{-12, -6, 108, 48}, 96, 96, 100, 200, ResizePolicy::stretch), Box{0, 0, 200, 50});
    // Under center_crop a box past the window still lies in the picture: clipped to the picture, not the window.
    expect_box_near(box_in_picture(Box{-48, 0, 48, 96}, 96, 96, 100, 200, ResizePolicy::center_crop), Box{0, 0, 100, 100});
    expect_box_near(box_in_picture(Box{-200, 0, 48, 96}, 96, 96, 100, 200, ResizePolicy::center_crop), Box{0, 0, 100, 100});
}

TEST(DetectionBoxInPicture, KeepsScoresLabelsAndOrder) {
    const std::vector<Detection> detections{{Box{0, 0, 48, 48}, 0.9f, 4}, {Box{48, 48, 96, 96}, 0.5f, 1}};
    const std::vector<Detection> mapped = detections_in_picture(detections, 96, 96, 192, 96, ResizePolicy::stretch);
    ASSERT_EQ(mapped.size(), 2u);
    EXPECT_EQ(mapped[0].label, 4);
    EXPECT_EQ(mapped[0].score, 0.9f);
    EXPECT_EQ(mapped[1].label, 1);
    EXPECT_EQ(mapped[1].score, 0.5f);
    expect_box_near(mapped[0].box, Box{0, 0, 48, 96});
    expect_box_near(mapped[1].box, Box{48, 96, 96, 192});
    EXPECT_TRUE(detections_in_picture({}, 96, 96, 10, 10, ResizePolicy::center_crop).empty());
}

TEST(DetectionBoxInPicture, RefusesEmptySizes) {
    expect_error([] { box_in_picture(Box{0, 0, 1, 1}, 96, 96, 0, 10, ResizePolicy::stretch); }, {"sizes must be positive"});
    expect_error([] { box_in_picture(Box{0, 0, 1, 1}, 0, 96, 10, 10, ResizePolicy::center_crop); }, {"sizes must be positive"});
}

TEST(DetectionPicture, ColoursArePaletteWithoutBlack) {
    const std::vector<std::array<std::uint8_t, 3>> palette = class_palette();
    EXPECT_EQ(detection_colour(0), (Rgb{128, 0, 0}));
    EXPECT_EQ(detection_colour(1), (Rgb{0, 128, 0}));
    for (int label = 0; label < 254; ++label) {
        const auto& entry = palette[static_cast<std::size_t>(label + 1)];
        EXPECT_EQ(detection_colour(label), (Rgb{entry[0], entry[1], entry[2]}));
        EXPECT_NE(detection_colour(label), kBlack);
    }
}

// A grey 40x30 image of value 0.5 everywhere.
std::vector<float> grey_image(std::int64_t height = 30, std::int64_t width = 40) {
    return std::vector<float>(static_cast<std::size_t>(height * width), 0.5f);
}

TEST(DetectionPicture, ImageEnlargedWithoutBoxes) {
    const std::vector<float> image = grey_image();
    const Picture picture = detection_picture(image.data(), 1, 30, 40, {}, {}, 3);
    EXPECT_EQ(picture.width(), 120);
    EXPECT_EQ(picture.height(), 90);
    for (std::int64_t y = 0; y < 90; ++y)
        for (std::int64_t x = 0; x < 120; ++x) ASSERT_EQ(picture.pixel(x, y), (Rgb{128, 128, 128})) << x << "," << y;
    // RGB: each channel its own plane.
    std::vector<float> colour(3 * 2 * 2, 0.0f);
    for (int p = 0; p < 4; ++p) colour[static_cast<std::size_t>(p)] = 1.0f;  // red plane
    const Picture rgb = detection_picture(colour.data(), 3, 2, 2, {}, {}, 1);
    EXPECT_EQ(rgb.pixel(1, 1), (Rgb{255, 0, 0}));
    expect_error([&] { detection_picture(image.data(), 1, 30, 40, {}, {}, 0); }, {"scale must be at least 1"});
}

TEST(DetectionPicture, OutlinesInsideTheBoxWithATag) {
    const std::vector<float> image = grey_image();
    const std::vector<Detection> detections{{Box{10, 15, 30, 28}, 0.93f, 2}};
    const Picture picture = detection_picture(image.data(), 1, 30, 40, detections, {"zero", "one", "two"}, 2);
    const Rgb colour = detection_colour(2), grey{128, 128, 128};
    // The outline lies inside the box's edges (x 20..59, y 30..55 at scale 2), 2 pixels wide, with
    // a white rim of one pixel just outside.
    EXPECT_EQ(picture.pixel(20, 40), colour);
    EXPECT_EQ(picture.pixel(21, 40), colour);
    EXPECT_EQ(picture.pixel(22, 40), grey);
    EXPECT_EQ(picture.pixel(59, 40), colour);
    EXPECT_EQ(picture.pixel(60, 40), kWhite);
    EXPECT_EQ(picture.pixel(61, 40), grey);
    EXPECT_EQ(picture.pixel(40, 55), colour);
    EXPECT_EQ(picture.pixel(40, 56), kWhite);
    EXPECT_EQ(picture.pixel(40, 57), grey);
    EXPECT_EQ(picture.pixel(19, 40), kWhite);
    EXPECT_EQ(picture.pixel(18, 40), grey);
    EXPECT_EQ(picture.pixel(40, 43), grey);  // inside the box
    // The tag "two 0.93" sits above the box, starting at its left edge: the colour with text in it.
    const std::int64_t tag_width = text_width("two 0.93") + 2, tag_height = kTextHeight + 2;
    EXPECT_EQ(picture.pixel(20, 30 - tag_height), colour);
    EXPECT_EQ(picture.pixel(19, 30 - tag_height), grey);
    EXPECT_EQ(picture.pixel(20 + tag_width - 1, 29), colour);
    EXPECT_EQ(picture.pixel(20 + tag_width, 29), grey);
    EXPECT_EQ(picture.pixel(20, 30 - tag_height - 1), grey);
    std::int64_t text_pixels = 0;
    for (std::int64_t y = 30 - tag_height; y < 30; ++y)
        for (std::int64_t x = 20; x < 20 + tag_width; ++x) text_pixels += picture.pixel(x, y) == kWhite;
    EXPECT_GT(text_pixels, 20);  // white on a dark colour
}

TEST(DetectionPicture, TagInsideAtTheTopAndKeptInThePicture) {
    const std::vector<float> image = grey_image(30, 60);
    // A box touching the top right corner: no room above, and the tag would run off the right.
    const std::vector<Detection> detections{{Box{55, 0, 60, 20}, 0.5f, 14}};
    const Picture picture = detection_picture(image.data(), 1, 30, 60, detections, {}, 1);
    const Rgb colour = detection_colour(14);  // (192, 128, 128): light enough for black text
    ASSERT_EQ(colour, (Rgb{192, 128, 128}));
    const std::int64_t tag_width = text_width("14 0.50") + 2;
    EXPECT_EQ(picture.pixel(59, 1), colour);
    EXPECT_EQ(picture.pixel(60 - tag_width, 1), colour);  // shifted left to fit
    EXPECT_EQ(picture.pixel(60 - tag_width - 1, 1), (Rgb{128, 128, 128}));
    bool black = false;
    for (std::int64_t x = 60 - tag_width; x < 60; ++x)
        for (std::int64_t y = 0; y < kTextHeight + 2; ++y) black = black || picture.pixel(x, y) == kBlack;
    EXPECT_TRUE(black);
}

TEST(DetectionPicture, BestBoxOnTop) {
    const std::vector<float> image = grey_image();
    // Two boxes sharing their left edge: the better one's colour shows there, whichever comes first.
    const std::vector<Detection> detections{{Box{5, 10, 20, 25}, 0.9f, 0}, {Box{5, 12, 25, 28}, 0.4f, 1}};
    const Picture picture = detection_picture(image.data(), 1, 30, 40, detections, {}, 1);
    EXPECT_EQ(picture.pixel(5, 20), detection_colour(0));
    EXPECT_EQ(picture.pixel(5, 27), detection_colour(1));
}

TEST(DetectionPicture, OddBoxesDoNotFail) {
    const std::vector<float> image = grey_image();
    const float nan = std::nanf("");
    const std::vector<Detection> detections{{Box{nan, 0, 10, 10}, 0.9f, 0},      // NaN weights: not drawn
                                            {Box{-50, -50, 500, 500}, 0.8f, 1},  // past every edge
                                            {Box{12, 12, 12, 12}, 0.7f, 2},      // no area: a point
                                            {Box{3, 3, 4, 4}, 0.6f, 300}};       // a label past the palette
    const Picture picture = detection_picture(image.data(), 1, 30, 40, detections, {}, 1);
    EXPECT_EQ(picture.pixel(0, 29), detection_colour(1));
    EXPECT_EQ(picture.pixel(12, 12), detection_colour(2));
}

TEST(DetectionPicture, ComparisonHasTwoPanels) {
    const std::vector<float> image = grey_image();
    const std::vector<ObjectBox> truth{{Box{10, 10, 20, 20}, 1}};
    const std::vector<Detection> detections{{Box{11, 10, 21, 20}, 0.9f, 1}};
    const Picture picture = detection_comparison_picture(image.data(), 1, 30, 40, truth, detections, {"a", "b"}, 2);
    // 4 | 80 | 4 | 80 | 4 wide; 4 + 12 caption, 60, 4 high.
    EXPECT_EQ(picture.width(), 172);
    EXPECT_EQ(picture.height(), 80);
    const Rgb colour = detection_colour(1);
    EXPECT_EQ(picture.pixel(4 + 20, 16 + 30), colour);   // the true box's left edge in the left panel
    EXPECT_EQ(picture.pixel(88 + 22, 16 + 30), colour);  // the predicted one's in the right panel
    EXPECT_EQ(picture.pixel(88 + 20, 16 + 30), (Rgb{128, 128, 128}));
}

}  // namespace
}  // namespace convnet
