// Pictures of training results (plot.h): the confusion matrix evaluate() counts on a hand-made
// case, its most confident mistakes, the text table, and the SVGs (well-formed XML with the
// expected size, cells, points and labels; a NaN loss read back from null).
#include <convnet/nn/network.h>
#include <convnet/inspect/plot.h>
#include <convnet/train/trainer.h>

#include "test_support.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace convnet {
namespace {

// How many times `needle` occurs in `text`.
std::size_t occurrences(const std::string& text, const std::string& needle) {
    std::size_t count = 0;
    for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++count;
    return count;
}

// Whether Python's XML parser accepts `svg` (skips when there is no Python to ask).
void expect_well_formed_xml(const std::string& svg, const std::filesystem::path& file) {
    std::ofstream(file, std::ios::binary) << svg;
    const std::string command =
        std::string(CONVNET_PYTHON) + " -c 'import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1])' '" + file.string() + "' 2>&1";
    if (std::system((std::string(CONVNET_PYTHON) + " -c '' >/dev/null 2>&1").c_str()) != 0) GTEST_SKIP() << "no " << CONVNET_PYTHON;
    EXPECT_EQ(std::system(command.c_str()), 0) << file << " is not well-formed XML";
}

// A network whose logits are the three pixels of a 1x1x3 image / 255 (identity weights, no bias),
// so that the brightest pixel is the prediction and the pixel values set its probability.
std::unique_ptr<Network> identity_network() {
    auto network = std::make_unique<Network>(parse_model("input 1x1x3\nflatten\nlinear out=3\n", "identity.model"));
    std::vector<StateTensor> state = network->state_dict();
    for (StateTensor& tensor : state) {
        std::fill(tensor.values.begin(), tensor.values.end(), 0.0f);
        if (tensor.shape.rank() == 2)
            for (int i = 0; i < 3; ++i) tensor.values[static_cast<std::size_t>(i * 3 + i)] = 1.0f;
    }
    network->load_state_dict(state);
    return network;
}

// Nine images: (pixels, label). Predictions: the brightest pixel.
Dataset hand_made_dataset() {
    const std::vector<std::pair<std::array<std::uint8_t, 3>, std::uint8_t>> images = {
        {{255, 0, 0}, 0},    // 0: right
        {{0, 255, 0}, 0},    // 1: 0 -> 1, p = e / (e + 2) = 0.576
        {{0, 255, 0}, 0},    // 2: 0 -> 1, 0.576
        {{0, 0, 255}, 1},    // 3: 1 -> 2
        {{0, 0, 255}, 2},    // 4: right
        {{255, 0, 0}, 2},    // 5: 2 -> 0
        {{200, 255, 0}, 0},  // 6: 0 -> 1, 0.46: the least sure of five, not kept
        {{0, 255, 0}, 0},    // 7: 0 -> 1, 0.576
        {{100, 255, 0}, 0},  // 8: 0 -> 1, 0.523
    };
    Dataset dataset;
    dataset.count = static_cast<std::int64_t>(images.size());
    dataset.height = 1;
    dataset.width = 3;
    dataset.class_names = {"a&b", "<c>", "d\"e"};  // to be escaped in the SVG
    for (const auto& [pixels, label] : images) {
        dataset.images.insert(dataset.images.end(), pixels.begin(), pixels.end());
        dataset.labels.push_back(label);
    }
    return dataset;
}

TEST(Confusion, CountsRowsTrueColumnsPredicted) {
    const std::unique_ptr<Network> network = identity_network();
    const Dataset data = hand_made_dataset();
    const Evaluation result = evaluate(*network, data, 4);  // batches of 4, 4, 1: indices count across them
    ASSERT_EQ(result.classes, 3);
    const std::vector<std::int64_t> expected = {1, 5, 0,  //
                                                0, 0, 1,  //
                                                1, 0, 1};
    EXPECT_EQ(result.confusion, expected);
    EXPECT_NEAR(result.accuracy, 2.0 / 9.0, 1e-12);
    EXPECT_EQ(result.confusion_at(0, 1), 5);

    // The four most confident of the five 0 -> 1 mistakes, highest first; then 1 -> 2 and 2 -> 0.
    ASSERT_EQ(result.mistakes.size(), 6u);
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(result.mistakes[i].index, std::vector<std::int64_t>({1, 2, 7})[i]);  // as sure: by index
        EXPECT_EQ(result.mistakes[i].true_label, 0);
        EXPECT_EQ(result.mistakes[i].predicted, 1);
        EXPECT_NEAR(result.mistakes[i].probability, std::exp(1.0) / (std::exp(1.0) + 2.0), 1e-6);
    }
    EXPECT_EQ(result.mistakes[3].index, 8);
    EXPECT_NEAR(result.mistakes[3].probability, std::exp(1.0) / (std::exp(100.0 / 255.0) + std::exp(1.0) + 1.0), 1e-6);
    EXPECT_EQ(result.mistakes[4].index, 3);
    EXPECT_EQ(result.mistakes[5].index, 5);

    const std::vector<ConfusedPair> pairs = most_confused_pairs(result, 5);
    ASSERT_EQ(pairs.size(), 3u);
    EXPECT_EQ(pairs[0].true_label, 0);
    EXPECT_EQ(pairs[0].predicted, 1);
    EXPECT_EQ(pairs[0].count, 5);
    EXPECT_EQ(pairs[1].true_label, 1);  // ties by true label
    EXPECT_EQ(pairs[2].true_label, 2);
    EXPECT_EQ(most_confused_pairs(result, 1).size(), 1u);
}

TEST(Confusion, TextTableNamesClassesAndExamples) {
    const Dataset data = hand_made_dataset();
    const Evaluation result = evaluate(*identity_network(), data, 100);
    const std::string table = confusion_table_text(result, data.class_names, 2);
    EXPECT_NE(table.find("rows the true class, columns the predicted class"), std::string::npos) << table;
    EXPECT_NE(table.find("true \\ predicted  a&b  <c>  d\"e\na&b                 1    5    0\n"), std::string::npos) << table;
    EXPECT_NE(table.find("a&b -> <c>: 5 images; e.g. 1 (0.58), 2 (0.58), 7 (0.58), 8 (0.52)\n"), std::string::npos) << table;
    EXPECT_NE(table.find("<c> -> d\"e: 1 image; e.g. 3 (0.58)"), std::string::npos) << table;
    EXPECT_EQ(table.find("d\"e -> a&b"), std::string::npos) << "only 2 pairs asked for\n" << table;
}

class PlotFiles : public testing::TemporaryFolderTest {};

TEST_F(PlotFiles, ConfusionSvgHasCellsNamesScaleAndThumbnails) {
    const Dataset data = hand_made_dataset();
    const Evaluation result = evaluate(*identity_network(), data, 100);
    const std::string svg = confusion_svg(result, data.class_names, &data);
    expect_well_formed_xml(svg, directory_ / "confusion.svg");
    EXPECT_EQ(occurrences(svg, "<rect class=\"cell\""), 9u);
    EXPECT_EQ(occurrences(svg, "class=\"count\""), 9u);
    EXPECT_EQ(occurrences(svg, "<image class=\"thumbnail\""), 6u);                // 4 + 1 + 1 kept mistakes
    EXPECT_NE(svg.find("data:image/png;base64,iVBORw0KGgo"), std::string::npos);  // a PNG's signature
    EXPECT_NE(svg.find(">a&amp;b</text>"), std::string::npos);
    EXPECT_NE(svg.find(">&lt;c&gt;</text>"), std::string::npos);
    EXPECT_NE(svg.find(">d&quot;e</text>"), std::string::npos);
    EXPECT_EQ(svg.find(">a&b<"), std::string::npos);
    for (const char* label : {">true class<", ">predicted class<", ">images<", "class=\"scale\"", "Confusion matrix: 9 images"})
        EXPECT_NE(svg.find(label), std::string::npos) << label;
    // Not blank: the cells are of more than one colour.
    std::set<std::string> fills;
    for (std::size_t at = svg.find("<rect class=\"cell\""); at != std::string::npos; at = svg.find("<rect class=\"cell\"", at + 1)) {
        const std::size_t fill = svg.find("fill=\"", at) + 6;
        fills.insert(svg.substr(fill, 7));
    }
    EXPECT_GE(fills.size(), 3u);
    // Without images: the indices alone.
    const std::string plain = confusion_svg(result, {}, nullptr, 1);
    EXPECT_EQ(occurrences(plain, "<image"), 0u);
    EXPECT_EQ(occurrences(plain, "class=\"pair\""), 1u);
    EXPECT_NE(plain.find("#8 p=0.52"), std::string::npos);
}

TEST_F(PlotFiles, CurvesHaveAxesPointsAndLeaveOutNaN) {
    // A NaN loss is written as null by epoch_metrics_json and read back as NaN.
    EpochResult nan_epoch;
    nan_epoch.epoch = 2;
    nan_epoch.train_loss = 0.4;
    nan_epoch.train_accuracy = 0.85;
    Evaluation nan_test;
    nan_test.loss = std::numeric_limits<double>::quiet_NaN();
    nan_test.accuracy = 0.1;
    const std::string text =
        "{\"epoch\": 1, \"train_loss\": 0.6, \"train_accuracy\": 0.78, \"test_loss\": 0.5, \"test_accuracy\": 0.81}\n" +
        epoch_metrics_json(nan_epoch, &nan_test) +
        "\n\n{\"epoch\": 3, \"train_loss\": 0.3, \"train_accuracy\": 0.9, \"test_loss\": 0.35, \"test_accuracy\": 0.88}\n";
    const std::vector<EpochMetrics> records = parse_metrics(text, "m.jsonl");
    ASSERT_EQ(records.size(), 3u);
    EXPECT_TRUE(std::isnan(records[1].test_loss));
    EXPECT_EQ(records[1].test_accuracy, 0.1);

    const std::string svg = training_curves_svg(records);
    expect_well_formed_xml(svg, directory_ / "curves.svg");
    EXPECT_NE(svg.find("width=\"840.0\" height=\"352.0\""), std::string::npos) << svg.substr(0, 300);  // 2 charts, title, 1 note
    EXPECT_EQ(occurrences(svg, "<circle class=\"point\""), 11u);                                       // 4 series x 3 epochs, less the NaN
    EXPECT_EQ(occurrences(svg, "<polyline class=\"series\""), 3u);  // test loss: two lone points, no line
    for (const char* label : {">epoch</text>", ">cross-entropy loss</text>", ">accuracy (fraction correct)</text>", ">Loss</text>",
                              ">Accuracy</text>", ">train</text>", ">test</text>", "test accuracy 0.8800 after epoch 3"})
        EXPECT_NE(svg.find(label), std::string::npos) << label;
    EXPECT_NE(svg.find("Loss: test not finite (not drawn) at epoch 2"), std::string::npos);
    EXPECT_GE(occurrences(svg, "class=\"tick\""), 6u);
    EXPECT_EQ(svg.find("nan"), std::string::npos);

    // One epoch: points, no lines, a valid picture.
    const std::string one = training_curves_svg({records[0]}, "val");
    expect_well_formed_xml(one, directory_ / "one.svg");
    EXPECT_EQ(occurrences(one, "<circle class=\"point\""), 4u);
    EXPECT_NE(one.find(">val</text>"), std::string::npos);
}

// train --eval-every: an epoch without test fields has train points only and no "not finite" note.
TEST_F(PlotFiles, CurvesLeaveOutEpochsThatWereNotEvaluated) {
    EpochResult skipped;
    skipped.epoch = 2;
    skipped.train_loss = 0.4;
    skipped.train_accuracy = 0.85;
    const std::string text =
        "{\"epoch\": 1, \"train_loss\": 0.6, \"train_accuracy\": 0.78, \"test_loss\": 0.5, \"test_accuracy\": 0.81}\n" +
        epoch_metrics_json(skipped, nullptr) +
        "\n{\"epoch\": 3, \"train_loss\": 0.3, \"train_accuracy\": 0.9, \"test_loss\": 0.35, \"test_accuracy\": 0.88}\n";
    const std::vector<EpochMetrics> records = parse_metrics(text, "m.jsonl");
    ASSERT_EQ(records.size(), 3u);
    EXPECT_TRUE(records[0].evaluated);
    EXPECT_FALSE(records[1].evaluated);
    const std::string svg = training_curves_svg(records);
    expect_well_formed_xml(svg, directory_ / "skipped.svg");
    EXPECT_EQ(occurrences(svg, "<circle class=\"point\""), 10u);    // 2 train series x 3 epochs, 2 test series x 2
    EXPECT_EQ(occurrences(svg, "<polyline class=\"series\""), 4u);  // the test lines join epochs 1 and 3
    EXPECT_EQ(svg.find("not finite"), std::string::npos);
    EXPECT_NE(svg.find("test accuracy 0.8800 after epoch 3"), std::string::npos);
}

TEST(Metrics, LastRunOfAnAppendedFileAndErrorsByLine) {
    const std::string two_runs =
        "{\"epoch\": 1, \"test_accuracy\": 0.5}\n{\"epoch\": 2, \"test_accuracy\": 0.6}\n"
        "{\"epoch\": 1, \"test_accuracy\": 0.7}\n";
    const std::vector<EpochMetrics> records = parse_metrics(two_runs, "m.jsonl");
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].test_accuracy, 0.7);
    EXPECT_TRUE(std::isnan(records[0].train_loss));  // missing: NaN
    testing::expect_error([] { parse_metrics("{\"epoch\": 1}\nnot json\n", "m.jsonl"); }, {"m.jsonl:2:", "one JSON object a line"});
    // A field nested 200,000 deep once overflowed the stack of the message that dumps it.
    const std::string deep = std::string(200'000, '[') + std::string(200'000, ']');
    testing::expect_error([&] { parse_metrics("{\"epoch\": 1, \"train_loss\": " + deep + "}\n", "m.jsonl"); },
                          {"m.jsonl:1: JSON nested deeper than 64 levels"});
    testing::expect_error([] { parse_metrics("{\"loss\": 1}\n", "m.jsonl"); }, {"m.jsonl:1:", "\"epoch\""});
    // A NUL ended nlohmann-json's input: the rest of the line was never read (field reports, round 3).
    testing::expect_error([] { parse_metrics(std::string("{\"epoch\": 1}") + '\0' + "{\"epoch\": 2}\n", "m.jsonl"); },
                          {"m.jsonl:1: a NUL byte at byte 12"});
    testing::expect_error([] { parse_metrics("{\"epoch\": 1, \"test_loss\": \"x\"}\n", "m.jsonl"); }, {"m.jsonl:1:", "test_loss"});
    testing::expect_error([] { read_metrics("/nonexistent/m.jsonl"); }, {"/nonexistent/m.jsonl", "cannot open"});
    testing::expect_error([] { training_curves_svg({}); }, {"no epochs"});
}

TEST(Svg, EscapesMarkup) { EXPECT_EQ(xml_escape("a&b<c>\"d'\x01"), "a&amp;b&lt;c&gt;&quot;d&apos;"); }

}  // namespace
}  // namespace convnet
