// Tests of the explainer page's data (explain.h) without a browser: which task the page takes a
// network for, and what it embeds for a detector. tests/cli/test_explain.py checks the pages in
// Chromium.
#include <convnet/inspect/explain.h>
#include <convnet/nn/layers/detect.h>
#include <convnet/nn/network.h>
#include <convnet/train/task.h>

#include "test_support.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>

namespace convnet {
namespace {

using testing::expect_error;

// The page's JSON block, "<\/" read back as "</".
nlohmann::json explain_page_data(const std::string& html) {
    const std::string open = "<script type=\"application/json\" id=\"data\">";
    const std::size_t start = html.find(open) + open.size(), end = html.find("</script>", start);
    std::string text = html.substr(start, end - start);
    for (std::size_t at = text.find("<\\/"); at != std::string::npos; at = text.find("<\\/", at)) text.erase(at + 1, 1);
    return nlohmann::json::parse(text);
}

std::vector<float> explain_floats(const std::string& base64) {
    static const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::vector<unsigned char> bytes;
    std::uint32_t chunk = 0;
    int bits = 0;
    for (char c : base64) {
        if (c == '=') break;
        chunk = (chunk << 6) | static_cast<std::uint32_t>(alphabet.find(c));
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            bytes.push_back(static_cast<unsigned char>((chunk >> bits) & 0xFF));
        }
    }
    std::vector<float> values(bytes.size() / sizeof(float));
    std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
    return values;
}

ExplainImage explain_blank_image(const Shape& sample) {
    ExplainImage image;
    image.label = "blank";
    image.input = Tensor(Shape{1, sample[0], sample[1], sample[2]});
    image.input.fill(0.0f);
    image.picture.assign(static_cast<std::size_t>(sample.element_count()), 0);
    return image;
}

TEST(NetworkTask, FromTheLastLayer) {
    EXPECT_EQ(network_task(Network(parse_model("input 1x8x8\nflatten\nlinear out=3\n", "c.model"))), TaskKind::classify);
    EXPECT_EQ(network_task(Network(parse_model("input 1x8x8\nconv2d out=3 kernel=1\n", "s.model"))), TaskKind::segment);
    // A detect head's output is (N, 5 + K, GH, GW) too: the layer decides, not the rank.
    EXPECT_EQ(network_task(Network(parse_model("input 1x8x8\nconv2d out=3 kernel=1\ndetect classes=2\n", "d.model"))), TaskKind::detect);
}

// A head whose every cell says "class 0, σ(5) sure, an 8×8 box centred on the cell": its detections,
// true boxes in pixels, objectness map and decoded cells as the page embeds them.
TEST(ExplainDetector, EmbedsBoxesObjectnessAndCells) {
    Network network(parse_model("input 1x16x16\nconv2d out=4 kernel=3 pad=1\nmaxpool2d kernel=4\ndetect classes=3\n", "head.model"));
    network.initialize(1);
    for (const NamedParameter& named : network.named_parameters()) {
        float* values = const_cast<float*>(named.parameter->value);
        const std::int64_t count = named.parameter->shape.element_count();
        if (named.name == "detect1.weight") std::fill(values, values + count, 0.0f);
        if (named.name == "detect1.bias") {
            std::fill(values, values + count, 0.0f);
            values[4] = 5.0f;   // objectness
            values[5] = 10.0f;  // class 0
        }
    }
    network.parameters_changed();
    ExplainOptions options;
    options.title = "head";
    options.class_names = {"a", "b", "c"};
    options.images.push_back(explain_blank_image(network.sample_shape()));
    options.images[0].truth_boxes = std::vector<ObjectBox>{ObjectBox{Box{0.25f, 0.25f, 0.75f, 0.5f}, 2}};
    const nlohmann::json data = explain_page_data(explain_html(network, options));

    EXPECT_TRUE(data["detects"]);
    EXPECT_FALSE(data["segments"]);
    EXPECT_FALSE(data["classifies"]);
    EXPECT_EQ(data["detection"]["grid"], nlohmann::json::array({4, 4}));
    EXPECT_EQ(data["detection"]["score_threshold"], 0.25);
    const nlohmann::json& image = data["images"][0];
    // 4-pixel cells, 8-pixel boxes: neighbours overlap by IoU 1/3, under 0.5, so all 16 stay, by cell on equal scores.
    ASSERT_EQ(image["detections"].size(), 16u);
    EXPECT_EQ(image["detections"][0]["class"], 0);
    // Clipped to the image as predict clips them ([-2, -2, 6, 6] and [10, 10, 18, 18] as decoded), with the cell each came from.
    EXPECT_EQ(image["detections"][0]["box"], nlohmann::json::array({0.0, 0.0, 6.0, 6.0}));
    EXPECT_EQ(image["detections"][0]["cell"], nlohmann::json::array({0, 0}));
    EXPECT_EQ(image["detections"][15]["box"], nlohmann::json::array({10.0, 10.0, 16.0, 16.0}));
    EXPECT_EQ(image["detections"][15]["cell"], nlohmann::json::array({3, 3}));
    EXPECT_EQ(image["truth_boxes"][0]["class"], 2);
    EXPECT_EQ(image["truth_boxes"][0]["box"], nlohmann::json::array({4.0, 4.0, 12.0, 8.0}));
    const std::vector<float> objectness = explain_floats(image["objectness"]);
    ASSERT_EQ(objectness.size(), 16u);
    for (float value : objectness) EXPECT_NEAR(value, 1.0 / (1.0 + std::exp(-5.0)), 1e-6);
    const std::vector<float> cells = explain_floats(image["cells"]);
    ASSERT_EQ(cells.size(), 16u * 8u);  // x1 y1 x2 y2, σ(objectness), 3 class probabilities
    EXPECT_EQ(std::vector<float>(cells.begin() + 8, cells.begin() + 12),
              (std::vector<float>{2.0f, -2.0f, 10.0f, 6.0f}));  // cell (0, 1), unclipped
    EXPECT_NEAR(cells[5] + cells[6] + cells[7], 1.0, 1e-6);

    // Without true boxes the page says so; true boxes for a classifier are refused.
    options.images[0].truth_boxes.reset();
    EXPECT_TRUE(explain_page_data(explain_html(network, options))["images"][0]["truth_boxes"].is_null());
    Network classifier(parse_model("input 1x16x16\nflatten\nlinear out=3\n", "classifier.model"));
    classifier.initialize(1);
    options.images[0].truth_boxes = std::vector<ObjectBox>{};
    expect_error([&] { explain_html(classifier, options); }, {"blank", "true boxes", "detect head"});
}

}  // namespace
}  // namespace convnet
