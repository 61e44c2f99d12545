// Tests of the model summary: counts, shapes, formulas and memory of the shipped models against
// values worked out by hand, the errors for invalid models, the rounding warning, and the JSON.
#include "test_support.h"

#include <convnet/nn/network.h>
#include <convnet/inspect/summary.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace convnet {
namespace {

const std::string kModels = std::string(CONVNET_SOURCE_DIR) + "/models/";

ModelSummary summary_of(const std::string& model_text, const std::string& source = "test.model") {
    return summarize_model(parse_model(model_text, source));
}

using testing::expect_error;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// ---- The seed network, models/convnet1.model, worked by hand.

TEST(Summary, Convnet1ShapesAndFormulas) {
    const ModelSummary summary = summarize_model(read_model_file(kModels + "convnet1.model"));
    ASSERT_EQ(summary.rows.size(), 10u);
    const std::vector<std::string> names{"conv1", "bn1", "relu1", "pool1", "conv2", "bn2", "relu2", "pool2", "flatten1", "fc1"};
    const std::vector<std::string> outputs{"28×28×16", "28×28×16", "28×28×16", "14×14×16", "14×14×32",
                                           "14×14×32", "14×14×32", "7×7×32",   "1568",     "10"};
    for (std::size_t i = 0; i < names.size(); ++i) {
        EXPECT_EQ(summary.rows[i].name, names[i]);
        EXPECT_EQ(volume_text(summary.rows[i].output), outputs[i]) << names[i];
    }
    EXPECT_EQ(volume_text(summary.rows[0].input), "28×28×1");
    EXPECT_EQ(summary.rows[0].line, 6);                               // the first layer line of the file
    EXPECT_EQ(summary.rows[0].formula, "(28 − 5 + 2·2)/1 + 1 = 28");  // the seed article's W₂
    EXPECT_EQ(summary.rows[3].formula, "(28 − 2 + 2·0)/2 + 1 = 14");
    EXPECT_EQ(summary.rows[4].formula, "(14 − 5 + 2·2)/1 + 1 = 14");
    EXPECT_EQ(summary.rows[7].formula, "(14 − 2 + 2·0)/2 + 1 = 7");
    EXPECT_EQ(summary.rows[8].formula, "7·7·32 = 1568");  // the 1,568 inputs of the FC layer
    EXPECT_EQ(summary.rows[1].formula, "");               // shape-preserving layers have no rule
    EXPECT_EQ(summary.rows[9].formula, "");
    EXPECT_TRUE(summary.warnings.empty());
}

TEST(Summary, Convnet1ParametersAndMultiplyAdds) {
    const ModelSummary summary = summarize_model(read_model_file(kModels + "convnet1.model"));
    ASSERT_EQ(summary.rows.size(), 10u);
    // Trainable: conv 16·1·5·5+16; bn weight+bias 2·16; conv 32·16·5·5+32; bn 2·32; fc 1568·10+10.
    const std::vector<std::int64_t> trainable{416, 32, 0, 0, 12832, 64, 0, 0, 0, 15690};
    // Buffers: batch norm's running mean and variance, 2·C.
    const std::vector<std::int64_t> buffers{0, 32, 0, 0, 0, 64, 0, 0, 0, 0};
    // conv: output elements · in_channels · kh · kw; batch norm: one per element; linear: in·out;
    // relu, pooling and flatten: 0.
    const std::vector<std::int64_t> multiply_adds{
        28 * 28 * 16 * 1 * 25, 28 * 28 * 16, 0, 0, 14 * 14 * 32 * 16 * 25, 14 * 14 * 32, 0, 0, 0, 1568 * 10};
    for (std::size_t i = 0; i < summary.rows.size(); ++i) {
        EXPECT_EQ(summary.rows[i].trainable_parameters, trainable[i]) << summary.rows[i].name;
        EXPECT_EQ(summary.rows[i].buffer_parameters, buffers[i]) << summary.rows[i].name;
        EXPECT_EQ(summary.rows[i].multiply_adds, multiply_adds[i]) << summary.rows[i].name;
    }
    const SummaryTotals& totals = summary.totals;
    EXPECT_EQ(totals.trainable_parameters, 29034);
    EXPECT_EQ(totals.buffer_parameters, 96);
    EXPECT_EQ(totals.parameter_bytes, (29034 + 96) * 4);
    EXPECT_EQ(totals.training_parameter_bytes, (29034 * 4 + 96) * 4);  // value, gradient, 2 Adam moments
    EXPECT_EQ(totals.input_values, 784);
    EXPECT_EQ(totals.inference_multiply_adds, 313600 + 12544 + 2508800 + 6272 + 15680);  // 2,856,896
    // Forward, weight gradient and input gradient, except conv1's input gradient (never needed).
    EXPECT_EQ(totals.training_multiply_adds, 2 * 313600 + 3 * (12544 + 2508800 + 6272 + 15680));  // 8,257,088
    // Forward: the largest input + output pair is bn1 or relu1, 28·28·16 in and out.
    EXPECT_EQ(totals.forward_activation_bytes, 2 * 12544 * 4);
    // Training: the input and every output (12544·3 + 3136 + 6272·3 + 1568 + 1568 + 10), plus
    // the largest gradient pair (bn1's or relu1's, 2·12544).
    EXPECT_EQ(totals.training_activation_bytes, (784 + 12544 * 3 + 3136 + 6272 * 3 + 1568 + 1568 + 10 + 2 * 12544) * 4);
}

TEST(Summary, Convnet1ParameterSharing) {
    const ModelSummary summary = summarize_model(read_model_file(kModels + "convnet1.model"));
    ASSERT_EQ(summary.rows.size(), 10u);
    // A fully connected layer from 28·28·1 inputs to 28·28·16 outputs: weights plus a bias each.
    const std::int64_t conv1_dense = std::int64_t{28 * 28 * 1} * (28 * 28 * 16) + 28 * 28 * 16;
    EXPECT_EQ(summary.rows[0].fully_connected_parameters, conv1_dense);  // 9,847,040
    EXPECT_DOUBLE_EQ(summary.rows[0].sharing_ratio, double(conv1_dense) / 416.0);
    const std::int64_t conv2_dense = std::int64_t{14 * 14 * 16} * (14 * 14 * 32) + 14 * 14 * 32;
    EXPECT_EQ(summary.rows[4].fully_connected_parameters, conv2_dense);  // 19,675,264
    EXPECT_DOUBLE_EQ(summary.rows[4].sharing_ratio, double(conv2_dense) / 12832.0);
    for (std::size_t i : {1u, 2u, 3u, 5u, 8u, 9u}) EXPECT_EQ(summary.rows[i].fully_connected_parameters, 0) << i;
}

TEST(Summary, Convnet1Text) {
    const std::string text = format_summary_text(summarize_model(read_model_file(kModels + "convnet1.model")));
    for (const char* part : {"conv1", "conv2d out=16 kernel=5 pad=2", "(28 − 5 + 2·2)/1 + 1 = 28", "28×28×16", "7×7×32", "7·7·32 = 1568",
                             "29,034", "2,856,896", "8,257,088", "9,847,040 instead of 416", "116,520 bytes", "no rounding"})
        EXPECT_TRUE(contains(text, part)) << "missing: " << part << "\n" << text;
}

TEST(Summary, PlanningAllocatesNoWeights) {
    const std::vector<LayerPlan> plans = plan_model(read_model_file(kModels + "convnet1.model"));
    for (const LayerPlan& plan : plans)
        for (const Parameter& parameter : plan.layer->parameters()) {
            EXPECT_EQ(parameter.value, nullptr) << plan.name << "." << parameter.name;
            EXPECT_EQ(parameter.grad, nullptr) << plan.name << "." << parameter.name;
        }
}

TEST(Summary, FeatureVectorModel) {
    // 784 → 100 → 10 with batch norm: 784·100+100, 2·100 (+200 buffers), 100·10+10.
    const ModelSummary summary = summary_of("input 784\nlinear out=100\nbatchnorm1d\nrelu\nlinear out=10\n");
    ASSERT_EQ(summary.rows.size(), 4u);
    EXPECT_EQ(volume_text(summary.rows[0].input), "784");
    EXPECT_EQ(summary.totals.trainable_parameters, 78500 + 200 + 1010);
    EXPECT_EQ(summary.totals.buffer_parameters, 200);
    EXPECT_EQ(summary.totals.inference_multiply_adds, 78400 + 100 + 1000);
    EXPECT_EQ(summary.totals.training_multiply_adds, 2 * 78400 + 3 * (100 + 1000));
    for (const SummaryRow& row : summary.rows) EXPECT_EQ(row.formula, "") << row.name;
    const std::string text = format_summary_text(summary);
    EXPECT_FALSE(contains(text, "parameter sharing")) << text;
    EXPECT_TRUE(contains(text, "input 784,")) << text;
}

// ---- The other shipped models, worked by hand; skipped where the file is not in this checkout.

struct ExpectedRow {
    const char* name;
    const char* output;  // W×H×D
    std::int64_t trainable, multiply_adds;
};

void expect_rows(const ModelSummary& summary, const std::vector<ExpectedRow>& expected) {
    ASSERT_EQ(summary.rows.size(), expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        EXPECT_EQ(summary.rows[i].name, expected[i].name);
        EXPECT_EQ(volume_text(summary.rows[i].output), expected[i].output) << expected[i].name;
        EXPECT_EQ(summary.rows[i].trainable_parameters, expected[i].trainable) << expected[i].name;
        EXPECT_EQ(summary.rows[i].multiply_adds, expected[i].multiply_adds) << expected[i].name;
    }
}

TEST(Summary, Lenet5) {
    const std::string path = kModels + "lenet5.model";
    if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is not in this checkout";
    const ModelSummary summary = summarize_model(read_model_file(path));
    // conv: out·in·5·5 + out and output elements·in·25; average pooling: output elements·2·2;
    // linear: in·out + out and in·out; tanh and flatten: 0.
    expect_rows(summary, {{"conv1", "28×28×6", 6 * 1 * 25 + 6, 28 * 28 * 6 * 1 * 25},
                          {"tanh1", "28×28×6", 0, 0},
                          {"pool1", "14×14×6", 0, 14 * 14 * 6 * 4},
                          {"conv2", "10×10×16", 16 * 6 * 25 + 16, 10 * 10 * 16 * 6 * 25},
                          {"tanh2", "10×10×16", 0, 0},
                          {"pool2", "5×5×16", 0, 5 * 5 * 16 * 4},
                          {"flatten1", "400", 0, 0},
                          {"fc1", "120", 400 * 120 + 120, 400 * 120},
                          {"tanh3", "120", 0, 0},
                          {"fc2", "84", 120 * 84 + 84, 120 * 84},
                          {"tanh4", "84", 0, 0},
                          {"fc3", "10", 84 * 10 + 10, 84 * 10}});
    EXPECT_EQ(summary.totals.trainable_parameters, 61706);  // LeNet-5's well-known count
    EXPECT_EQ(summary.totals.buffer_parameters, 0);
    EXPECT_EQ(summary.totals.inference_multiply_adds, 117600 + 4704 + 240000 + 1600 + 48000 + 10080 + 840);
    // conv1 skips the input gradient; pooling has no weight gradient.
    EXPECT_EQ(summary.totals.training_multiply_adds,
              2 * 117600 + 3 * (240000 + 48000 + 10080 + 840) + 2 * (4704 + 1600));  // 1,144,568
    EXPECT_EQ(summary.totals.forward_activation_bytes, 2 * 4704 * 4);                // tanh1: 28·28·6 in and out
    EXPECT_EQ(summary.rows[0].formula, "(28 − 5 + 2·2)/1 + 1 = 28");
    EXPECT_EQ(summary.rows[3].formula, "(14 − 5 + 2·0)/1 + 1 = 10");
    EXPECT_EQ(summary.rows[3].fully_connected_parameters, std::int64_t{14 * 14 * 6} * 1600 + 1600);
    EXPECT_TRUE(summary.warnings.empty());
}

TEST(Summary, CifarExample) {
    const std::string path = kModels + "cifar-example.model";
    if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is not in this checkout";
    const ModelSummary summary = summarize_model(read_model_file(path));
    // The seed article's example: six 5×5×3 filters over 32×32×3 give 28×28×6.
    expect_rows(summary, {{"conv1", "28×28×6", 6 * 3 * 25 + 6, 28 * 28 * 6 * 3 * 25},
                          {"relu1", "28×28×6", 0, 0},
                          {"pool1", "14×14×6", 0, 0},
                          {"conv2", "10×10×16", 16 * 6 * 25 + 16, 10 * 10 * 16 * 6 * 25},
                          {"relu2", "10×10×16", 0, 0},
                          {"pool2", "5×5×16", 0, 0},
                          {"flatten1", "400", 0, 0},
                          {"fc1", "120", 400 * 120 + 120, 400 * 120},
                          {"bn1", "120", 2 * 120, 120},
                          {"relu3", "120", 0, 0},
                          {"dropout1", "120", 0, 0},
                          {"fc2", "84", 120 * 84 + 84, 120 * 84},
                          {"relu4", "84", 0, 0},
                          {"fc3", "10", 84 * 10 + 10, 84 * 10}});
    EXPECT_EQ(summary.rows[0].formula, "(32 − 5 + 2·0)/1 + 1 = 28");
    EXPECT_EQ(summary.totals.trainable_parameters, 456 + 2416 + 48120 + 240 + 10164 + 850);  // 62,246
    EXPECT_EQ(summary.totals.buffer_parameters, 240);
    EXPECT_EQ(summary.totals.inference_multiply_adds, 352800 + 240000 + 48000 + 120 + 10080 + 840);
    EXPECT_EQ(summary.totals.training_multiply_adds, 2 * 352800 + 3 * (240000 + 48000 + 120 + 10080 + 840));
    EXPECT_EQ(summary.rows[0].fully_connected_parameters, std::int64_t{32 * 32 * 3} * 4704 + 4704);
    EXPECT_TRUE(summary.warnings.empty());
}

// ---- Every model shipped in models/: the counts agree with a Network built from the same file.

TEST(Summary, EveryShippedModelAgreesWithTheNetwork) {
    int models = 0;
    for (const auto& entry : std::filesystem::directory_iterator(kModels)) {
        if (entry.path().extension() != ".model") continue;
        ++models;
        const ModelSpec spec = read_model_file(entry.path());
        const ModelSummary summary = summarize_model(spec);
        const Network network(spec);
        EXPECT_EQ(summary.totals.trainable_parameters, network.trainable_count()) << entry.path();
        ASSERT_EQ(summary.rows.size(), network.layer_count()) << entry.path();
        for (std::size_t i = 0; i < summary.rows.size(); ++i)
            EXPECT_EQ(summary.rows[i].output, network.layer_plan(i).output) << entry.path() << " " << summary.rows[i].name;
    }
    EXPECT_GE(models, 1);
}

// ---- Invalid models: file, line and the formula that failed.

TEST(Summary, KernelLargerThanPaddedInput) {
    expect_error([] { summary_of("input 1x28x28\nconv2d out=8 kernel=5\nmaxpool2d kernel=2\n\nconv2d out=8 kernel=15\n", "big.model"); },
                 {"big.model:5", "conv2d", "kernel", "15", "larger than the padded input 12 + 2*0 = 12"});
}

TEST(Summary, ChannelCountMismatch) {
    expect_error([] { summary_of("input 3x32x32\nconv2d out=8 kernel=3\nconv2d in=16 out=8 kernel=3\n", "channels.model"); },
                 {"channels.model:3", "conv2d", "in=16", "8 flow in", "in=8 would fit"});
    expect_error([] { summary_of("input 3x32x32\nconv2d in=1 out=8 kernel=3\n", "first.model"); },
                 {"first.model:2", "in=1", "3 flow in", "in=3 would fit"});
    expect_error([] { summary_of("input 1x28x28\nconv2d out=8 kernel=5\nbatchnorm2d channels=16\n", "bn.model"); },
                 {"bn.model:3", "batchnorm2d", "channels=16", "channels=8 would fit"});
}

TEST(Summary, LinearInputSizeDisagrees) {
    // 8 channels of (28 − 5)/1 + 1 = 24: 24·24·8 = 4608 features reach the linear layer.
    expect_error([] { summary_of("input 1x28x28\nconv2d out=8 kernel=5\nflatten\nlinear in=100 out=10\n", "fc.model"); },
                 {"fc.model:4", "linear", "in=100", "4608 flow in", "in=4608 would fit"});
}

// ---- The rounding warning.

TEST(Summary, RoundingWarningForStrideTwoOnEvenInput) {
    // (28 − 3 + 2·0)/2 = 12.5: 13 windows cover columns 0..26, column 27 (and row 27) is unseen.
    const ModelSummary summary = summary_of("input 1x28x28\nconv2d out=8 kernel=3 stride=2\nflatten\nlinear out=10\n", "round.model");
    EXPECT_EQ(volume_text(summary.rows[0].output), "13×13×8");
    EXPECT_EQ(summary.rows[0].formula, "(28 − 3 + 2·0)/2 + 1 = 13.5 → 13");
    ASSERT_EQ(summary.warnings.size(), 1u);
    const SummaryWarning& warning = summary.warnings[0];
    EXPECT_EQ(warning.layer, "conv1");
    EXPECT_EQ(warning.line, 2);
    EXPECT_EQ(warning.axis, "height and width");
    EXPECT_EQ(warning.unseen_rows, 1);
    EXPECT_EQ(warning.unseen_columns, 1);
    for (const char* part : {"round.model:2", "conv1", "(28 − 3 + 2·0)/2 + 1 = 13.5 → 13", "1 row and 1 column", "W = 27 or 29",
                             "F = 2 or 4", "S = 1 (stride=)", "no P (pad=) alone fits"})
        EXPECT_TRUE(contains(warning.message, part)) << "missing: " << part << "\nmessage: " << warning.message;
    EXPECT_TRUE(contains(format_summary_text(summary), "warning: round.model:2: conv1"));
}

TEST(Summary, RoundingWarningPerAxisAndPadding) {
    // Height 28: (28 − 4 + 2·0)/3 = 8 exactly. Width 27: (27 − 4)/3 = 7.67, 2 columns unseen.
    // Exact along the width: W = 25 or 28 (21/3, 24/3), F = 3 or 6 (24/3, 21/3), P = 2 (27/3),
    // S = 1 (23's other divisor, 23, would skip columns).
    const ModelSummary summary = summary_of("input 1x28x27\nconv2d out=4 kernel=4 stride=3\n", "axis.model");
    ASSERT_EQ(summary.warnings.size(), 1u);
    const SummaryWarning& warning = summary.warnings[0];
    EXPECT_EQ(warning.axis, "width");
    EXPECT_EQ(warning.unseen_rows, 0);
    EXPECT_EQ(warning.unseen_columns, 2);
    EXPECT_EQ(summary.rows[0].formula, "H: (28 − 4 + 2·0)/3 + 1 = 9; W: (27 − 4 + 2·0)/3 + 1 ≈ 8.67 → 8");
    // S = 23 divides 23 too, but its two windows would leave 19 columns unread: not offered.
    for (const char* part : {"last 2 columns", "W = 25 or 28 (the input width)", "F = 3 or 6", "P = 2", "S = 1 (stride=)"})
        EXPECT_TRUE(contains(warning.message, part)) << "missing: " << part << "\nmessage: " << warning.message;

    // When the rounding drops only padding, no input pixel is lost, and the warning says so.
    const ModelSummary padded = summary_of("input 1x28x28\nconv2d out=4 kernel=3 stride=2 pad=1\n", "pad.model");
    ASSERT_EQ(padded.warnings.size(), 1u);
    EXPECT_EQ(padded.warnings[0].unseen_rows, 0);
    EXPECT_EQ(padded.warnings[0].unseen_columns, 0);
    EXPECT_TRUE(contains(padded.warnings[0].message, "only padding")) << padded.warnings[0].message;
}

TEST(Summary, PoolingRoundingAndDilationFormula) {
    const ModelSummary summary = summary_of("input 2x15x15\nmaxpool2d kernel=2\nconv2d out=3 kernel=3 dilation=2\n", "pool.model");
    ASSERT_EQ(summary.rows.size(), 2u);
    EXPECT_EQ(summary.rows[0].formula, "(15 − 2 + 2·0)/2 + 1 = 7.5 → 7");
    // Dilation 2 spreads a 3-tap kernel over 5 pixels: (7 − 5)/1 + 1 = 3.
    EXPECT_EQ(summary.rows[1].formula, "(7 − (2·(3 − 1) + 1) + 2·0)/1 + 1 = 3");
    ASSERT_EQ(summary.warnings.size(), 1u);
    EXPECT_EQ(summary.warnings[0].layer, "pool1");
    EXPECT_EQ(summary.warnings[0].unseen_rows, 1);
    // Pooling padding must stay at most half the kernel: no P fits for kernel 2 (P = 1 would
    // need (15 − 2 + 2)/2, not whole either). F = 1 divides too, but stride 2 would then skip
    // every other row: only F = 3 is offered.
    EXPECT_TRUE(contains(summary.warnings[0].message, "F = 3 (kernel=)")) << summary.warnings[0].message;
}

// ---- JSON.

TEST(Summary, JsonReadsBack) {
    const ModelSummary summary = summarize_model(read_model_file(kModels + "convnet1.model"));
    const nlohmann::json json = nlohmann::json::parse(format_summary_json(summary));  // throws on a syntax error
    EXPECT_EQ(json["model"].get<std::string>(), kModels + "convnet1.model");
    ASSERT_EQ(json["input"].size(), 3u);
    EXPECT_EQ(json["input"][1], 28);
    const nlohmann::json& layers = json["layers"];
    ASSERT_EQ(layers.size(), 10u);
    EXPECT_EQ(layers[0]["name"].get<std::string>(), "conv1");
    EXPECT_EQ(layers[0]["type"].get<std::string>(), "conv2d");
    EXPECT_EQ(layers[0]["line"], 6);
    EXPECT_EQ(layers[0]["formula"].get<std::string>(), "(28 − 5 + 2·2)/1 + 1 = 28");
    EXPECT_EQ(layers[0]["output_volume"].get<std::string>(), "28×28×16");
    EXPECT_EQ(layers[0]["output"][0], 16);
    EXPECT_EQ(layers[0]["trainable_parameters"], 416);
    EXPECT_EQ(layers[0]["multiply_adds"], 313600);
    EXPECT_EQ(layers[0]["fully_connected_parameters"], 9847040);
    EXPECT_NEAR(layers[0]["sharing_ratio"].get<double>(), 9847040.0 / 416.0, 0.1);
    EXPECT_EQ(layers[1]["buffer_parameters"], 32);
    EXPECT_TRUE(layers[1]["formula"].is_null());
    EXPECT_FALSE(layers[1].contains("fully_connected_parameters"));
    EXPECT_EQ(layers[8]["output"][0], 1568);
    const nlohmann::json& totals = json["totals"];
    for (const char* key : {"trainable_parameters", "buffer_parameters", "parameter_bytes", "training_parameter_bytes", "input_values",
                            "forward_activation_bytes", "training_activation_bytes", "inference_multiply_adds", "training_multiply_adds"})
        EXPECT_TRUE(totals.contains(key)) << key;
    EXPECT_EQ(totals["trainable_parameters"], 29034);
    EXPECT_EQ(totals["training_multiply_adds"], 8257088);
    EXPECT_TRUE(json["warnings"].is_array());
    EXPECT_TRUE(json["warnings"].empty());
}

TEST(Summary, JsonCarriesWarningsAndEscapes) {
    // Layer names are letters, digits and _ only, but file names can hold anything.
    const ModelSummary summary = summary_of("input 1x28x28\nconv2d out=8 kernel=3 stride=2 name=odd_name\n", "\"w\\.model");
    const nlohmann::json json = nlohmann::json::parse(format_summary_json(summary));  // throws on a syntax error
    EXPECT_EQ(json["layers"][0]["name"].get<std::string>(), "odd_name");
    ASSERT_EQ(json["warnings"].size(), 1u);
    EXPECT_EQ(json["warnings"][0]["unseen_rows"], 1);
    EXPECT_EQ(json["warnings"][0]["axis"].get<std::string>(), "height and width");
    EXPECT_TRUE(contains(json["warnings"][0]["message"].get<std::string>(), "\"w\\.model:2"));
}

// A field report: kernel 2, stride 3 on 29 rows divides exactly, yet 9 rows fall between the
// windows; the summary said "no rounding: every window covers its input exactly".
TEST(Summary, RowsBetweenWindowsAreCountedAndOnlyFixesThatReadThemAreOffered) {
    const ModelSummary summary =
        summarize_model(read_model_file(std::string(CONVNET_SOURCE_DIR) + "/tests/cases/stride_larger_than_kernel_exact.model"));
    ASSERT_EQ(summary.warnings.size(), 1u);
    EXPECT_EQ(summary.warnings[0].unseen_rows, 9);
    EXPECT_EQ(summary.warnings[0].unseen_columns, 9);
    for (const char* part : {"9 of the 29 rows and 9 of the 29 columns of the input are never read", "F = 5 (kernel=)", "S = 1 (stride=)"})
        EXPECT_TRUE(contains(summary.warnings[0].message, part)) << "missing: " << part << "\nmessage: " << summary.warnings[0].message;
    EXPECT_FALSE(contains(format_summary_text(summary), "no rounding"));
    // A 1x1 kernel with stride 2 reads every other row: 14 of 28 unseen, not "the last 1".
    const ModelSummary one_by_one = summary_of("input 1x28x28\nconv2d out=4 kernel=1 stride=2\n");
    ASSERT_EQ(one_by_one.warnings.size(), 1u);
    EXPECT_EQ(one_by_one.warnings[0].unseen_rows, 14);
    EXPECT_TRUE(contains(one_by_one.warnings[0].message, "F = 2 (kernel=), S = 1 (stride=)")) << one_by_one.warnings[0].message;
}

// Brute force over every window and tap: the input positions of one axis that nothing reads.
struct Geometry {
    int input, kernel, stride, dilation, padding;
    int span() const { return dilation * (kernel - 1) + 1; }
    bool valid() const { return input >= 1 && kernel >= 1 && stride >= 1 && padding >= 0 && input + 2 * padding >= span(); }
    bool exact() const { return (input + 2 * padding - span()) % stride == 0; }
    long unseen() const {
        const int outputs = (input + 2 * padding - span()) / stride + 1;
        std::vector<bool> read(static_cast<std::size_t>(input), false);
        for (int o = 0; o < outputs; ++o)
            for (int tap = 0; tap < kernel; ++tap) {
                const int position = o * stride - padding + tap * dilation;
                if (position >= 0 && position < input) read[static_cast<std::size_t>(position)] = true;
            }
        return static_cast<long>(std::count(read.begin(), read.end(), false));
    }
    std::string model() const {
        return "input 1x" + std::to_string(input) + "x" + std::to_string(input) + "\nconv2d out=1 kernel=" + std::to_string(kernel) +
               " stride=" + std::to_string(stride) + " dilation=" + std::to_string(dilation) + " pad=" + std::to_string(padding) + "\n";
    }
};

// The values the warning offers for one letter: "F = 2 or 4 (" gives {2, 4}; none when not offered.
std::vector<int> offered(const std::string& message, const std::string& letter) {
    const auto at = message.find(" " + letter + " = ");
    if (at == std::string::npos) return {};
    std::vector<int> values;
    std::istringstream words(message.substr(at + letter.size() + 4));
    for (std::string word; words >> word && word != "(";) {
        if (word == "or") continue;
        if (!std::isdigit(static_cast<unsigned char>(word[0]))) break;
        values.push_back(std::stoi(word));
    }
    return values;
}

// The counts, and every fix offered, against the brute force; a claim that no value of a letter
// fits is checked over the whole range that letter can take.
TEST(Summary, UnseenRowsAndOfferedFixesMatchABruteForce) {
    for (int input = 5; input <= 29; input += 4)
        for (int kernel = 1; kernel <= 4; ++kernel)
            for (int stride = 1; stride <= 5; ++stride)
                for (int dilation = 1; dilation <= 3; ++dilation)
                    for (int padding = 0; padding <= 1; ++padding) {
                        const Geometry geometry{input, kernel, stride, dilation, padding};
                        if (!geometry.valid()) continue;
                        const ModelSummary summary = summary_of(geometry.model());
                        const long unseen = geometry.unseen();
                        EXPECT_EQ(summary.warnings.empty() ? 0 : summary.warnings[0].unseen_rows, unseen) << geometry.model();
                        if (summary.warnings.empty() || unseen == 0) continue;
                        const std::string& message = summary.warnings[0].message;
                        const auto fixes = [&](Geometry changed) { return changed.valid() && changed.exact() && changed.unseen() == 0; };
                        for (int value : offered(message, "W")) EXPECT_TRUE(fixes({value, kernel, stride, dilation, padding})) << message;
                        for (int value : offered(message, "F")) EXPECT_TRUE(fixes({input, value, stride, dilation, padding})) << message;
                        for (int value : offered(message, "P")) EXPECT_TRUE(fixes({input, kernel, stride, dilation, value})) << message;
                        for (int value : offered(message, "S")) EXPECT_TRUE(fixes({input, kernel, value, dilation, padding})) << message;
                        if (message.find("F (kernel=)") != std::string::npos) {  // "no ... F (kernel=) ... alone fits"
                            for (int value = 1; value <= input + 2 * padding; ++value) {
                                EXPECT_FALSE(fixes({input, value, stride, dilation, padding})) << "kernel=" << value << " fits:\n"
                                                                                               << message;
                            }
                        }
                        if (message.find("S (stride=)") != std::string::npos) {
                            for (int value = 1; value <= input + 2 * padding; ++value) {
                                EXPECT_FALSE(fixes({input, kernel, value, dilation, padding})) << "stride=" << value << " fits:\n"
                                                                                               << message;
                            }
                        }
                    }
}

// Found by trying odd geometries: a pad far beyond the input left the count to a shortcut that
// saw only the last rows, and a stride past the kernel was said to have no kernel that fits.
TEST(Summary, HugePaddingAndWideStridesAreCountedExactly) {
    const ModelSummary padded = summary_of("input 1x28x28\nconv2d out=1 kernel=5x1 stride=2x1 dilation=2x1 pad=16777216x0\n");
    ASSERT_EQ(padded.warnings.size(), 1u);
    EXPECT_EQ(padded.warnings[0].unseen_rows, 14);  // the odd rows: every tap lands on an even one
    const ModelSummary pooled = summary_of("input 1x28x28\nmaxpool2d kernel=2 stride=5\n");
    ASSERT_EQ(pooled.warnings.size(), 1u);
    EXPECT_EQ(pooled.warnings[0].unseen_rows, 16);
    EXPECT_TRUE(contains(pooled.warnings[0].message, "F = 8 (kernel=)")) << pooled.warnings[0].message;
    // Each window reads 3 taps 2^24 apart: the summary answers at once.
    const ModelSummary far = summary_of("input 1x28x28\nconv2d out=1 kernel=3 stride=16777216 pad=16777216 dilation=16777216\n");
    ASSERT_EQ(far.warnings.size(), 1u);
    EXPECT_EQ(far.warnings[0].unseen_rows, 27);
}

}  // namespace
}  // namespace convnet
