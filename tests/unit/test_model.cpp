// Model files and shape rules: what parses, what is refused (with file, line and reason), and the
// output sizes of convolution and pooling, odd sizes included.
#include "test_support.h"

#include <convnet/io/weights.h>
#include <convnet/nn/network.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

namespace convnet {
namespace {

using testing::expect_error;

Shape output_of(const std::string& model) { return plan_model(parse_model(model, "m.model")).back().output; }

TEST(ModelFile, SeedNetworkShapesAndParameterCount) {
    const ModelSpec spec = read_model_file(std::string(CONVNET_SOURCE_DIR) + "/models/convnet1.model");
    Network network(spec);
    ASSERT_EQ(network.layer_count(), 10u);
    EXPECT_EQ(network.layer_plan(0).output, (Shape{1, 16, 28, 28}));
    EXPECT_EQ(network.layer_plan(3).output, (Shape{1, 16, 14, 14}));
    EXPECT_EQ(network.layer_plan(4).output, (Shape{1, 32, 14, 14}));
    EXPECT_EQ(network.layer_plan(7).output, (Shape{1, 32, 7, 7}));
    EXPECT_EQ(network.layer_plan(8).output, (Shape{1, 1568}));
    EXPECT_EQ(network.output_features(), 10);
    // 16·25+16 + 2·16 + 32·16·25+32 + 2·32 + 1568·10+10
    EXPECT_EQ(network.trainable_count(), 416 + 32 + 12832 + 64 + 15690);
    EXPECT_EQ(network.named_parameters().front().name, "conv1.weight");
    EXPECT_EQ(network.named_parameters()[3].name, "bn1.bias");
    EXPECT_EQ(network.named_buffers()[1].name, "bn1.running_var");  // torch: named_buffers() apart
}

TEST(ShapeRule, ConvolutionFollowsFloorFormula) {
    EXPECT_EQ(output_of("input 1x28x28\nconv2d out=16 kernel=5 pad=2\n"), (Shape{1, 16, 28, 28}));
    EXPECT_EQ(output_of("input 3x32x32\nconv2d out=6 kernel=5\n"), (Shape{1, 6, 28, 28}));
    EXPECT_EQ(output_of("input 2x7x9\nconv2d out=4 kernel=3 stride=2\n"), (Shape{1, 4, 3, 4}));        // (7-3)/2+1, (9-3)/2+1
    EXPECT_EQ(output_of("input 1x8x8\nconv2d out=1 kernel=3 stride=3 pad=1\n"), (Shape{1, 1, 3, 3}));  // floor(7/3)+1
    EXPECT_EQ(output_of("input 1x10x10\nconv2d out=1 kernel=3 dilation=2\n"), (Shape{1, 1, 6, 6}));
    EXPECT_EQ(output_of("input 1x11x6\nconv2d out=2 kernel=5x3 stride=2x1 pad=1x0\n"), (Shape{1, 2, 5, 4}));
}

TEST(ShapeRule, PoolingFollowsFloorFormula) {
    EXPECT_EQ(output_of("input 16x28x28\nmaxpool2d kernel=2\n"), (Shape{1, 16, 14, 14}));
    EXPECT_EQ(output_of("input 1x7x7\nmaxpool2d kernel=2\n"), (Shape{1, 1, 3, 3}));
    EXPECT_EQ(output_of("input 1x7x7\nmaxpool2d kernel=3 stride=2\n"), (Shape{1, 1, 3, 3}));
    EXPECT_EQ(output_of("input 1x5x5\nmaxpool2d kernel=3 stride=2 pad=1\n"), (Shape{1, 1, 3, 3}));
}

TEST(ShapeRule, KernelLargerThanPaddedInputIsRefused) {
    expect_error([] { output_of("input 1x4x4\nconv2d out=2 kernel=7 pad=1\n"); }, {"m.model:2", "kernel", "4 + 2*1 = 6"});
    expect_error([] { output_of("input 1x3x3\nmaxpool2d kernel=4\n"); }, {"m.model:2", "larger than the padded input"});
}

TEST(ModelFile, ErrorsNameTheFileLineAndExpectation) {
    expect_error([] { parse_model("input 1x28x28\nconv3d out=2\n", "a.model"); }, {"a.model:2", "unknown layer 'conv3d'", "conv2d"});
    expect_error([] { output_of("input 1x28x28\nconv2d out=abc kernel=3\n"); }, {"m.model:2", "out=abc", "expected an integer"});
    expect_error([] { output_of("input 1x28x28\nconv2d out=0 kernel=3\n"); }, {"m.model:2", "out=0"});
    expect_error([] { output_of("input 1x28x28\nconv2d kernel=3\n"); }, {"m.model:2", "out= is required"});
    expect_error([] { output_of("input 1x28x28\nconv2d out=2 kernel=3 strid=2\n"); },
                 {"m.model:2", "unknown option 'strid=2' (did you mean stride=?)", "it takes in=, out=, kernel=, stride="});
    expect_error([] { output_of("input 1x28x28\nrelu slope=2\n"); }, {"m.model:2", "unknown option 'slope=2'; it takes no options"});
    expect_error([] { parse_model("input 1x28x28\nconv2d out=2 kernel\n", "a.model"); }, {"a.model:2", "expected key=value"});
    expect_error([] { parse_model("# only a comment\n", "a.model"); }, {"a.model", "no `input"});
    expect_error([] { parse_model("relu\n", "a.model"); }, {"a.model:1", "first line must be `input"});
    expect_error([] { parse_model("input 1x0x28\nrelu\n", "a.model"); }, {"a.model:1", "expected CxHxW"});
    expect_error([] { parse_model("input 1x28x28\nrelu\nrelu out=3 out=4\n", "a.model"); }, {"a.model:3", "given twice"});
    expect_error([] { parse_model("input 1x28x28\nrelu name=a.b\n", "a.model"); }, {"a.model:2", "name=a.b", "letters, digits and _"});
    // Field reports, round 3: eps=0 was refused with "expected a number from 0.000000 to 1.000000",
    // a range that seemed to allow it; the bounds are printed as written.
    expect_error([] { output_of("input 1x28x28\nbatchnorm2d eps=0\n"); }, {"m.model:2", "eps=0: expected a number from 1e-12 to 1"});
}

TEST(ModelFile, MismatchedSizesSayWhatWouldFit) {
    expect_error([] { output_of("input 3x8x8\nconv2d in=1 out=2 kernel=3\n"); }, {"m.model:2", "in=1", "in=3 would fit"});
    expect_error([] { output_of("input 1x8x8\nflatten\nlinear in=60 out=2\n"); }, {"m.model:3", "in=64 would fit"});
    expect_error([] { output_of("input 1x8x8\nlinear out=2\n"); }, {"m.model:2", "flatten"});
    // A network ending in (N, C, H, W) scores every pixel: it builds (training it on image labels
    // is refused: Graph.PerPixelOutputsAreRefusedForImageLabels).
    EXPECT_EQ(Network(parse_model("input 1x8x8\nconv2d out=2 kernel=3\n", "m.model")).output_features(), 2);
}

TEST(ModelFile, MissingFileIsReported) {
    expect_error([] { read_model_file("/nonexistent/x.model"); }, {"/nonexistent/x.model", "cannot open"});
}

// A field report: 2^24 channels of 2^20 × 2^20 is 2^64 values, which wrapped to 0 in int64; now
// refused at model-build time with the layer and the numbers.
TEST(ModelFile, SizesPastTheLimitAreRefusedBeforeAnythingWraps) {
    const std::string overflow = std::string(CONVNET_SOURCE_DIR) + "/tests/cases/overflow_wraps_to_zero.model";
    expect_error(
        [&] { plan_model(read_model_file(overflow)); },
        {"overflow_wraps_to_zero.model:3: conv2d gives 16777216x1048576x1048576 = 1.84e+19 values per image", "limit of 2,147,483,648"});
    // Just past the limit (2^31 + 2^16 values) and just under it (2^31 − 2^16 values).
    expect_error([] { plan_model(parse_model("input 1x32x32\nconv2d out=2097216 kernel=1\nflatten\nlinear out=2\n", "m.model")); },
                 {"m.model:2: conv2d gives 2097216x32x32 = 2,147,549,184 values per image"});
    EXPECT_EQ(plan_model(parse_model("input 1x32x32\nconv2d out=2097088 kernel=1\n", "m.model")).back().output,
              (Shape{1, 2097088, 32, 32}));
    expect_error([] { plan_model(parse_model("input 1x64x64\nflatten\nlinear out=16777216\n", "m.model")); },
                 {"m.model:3: linear weight of shape 16777216x4096 = 68,719,476,736 values"});
}

TEST(ModelFile, ProductsOfSizesAreChecked) {
    EXPECT_EQ((Shape{1 << 20, 1 << 20, 1 << 20}).element_count(), std::int64_t{1} << 60);
    expect_error([] { (void)Shape({1 << 24, 1 << 20, 1 << 20}).element_count(); }, {"the shape 16777216x1048576x1048576", "64 bits"});
    expect_error([] { (void)checked_multiply(std::int64_t{1} << 40, std::int64_t{1} << 30, "a count"); },
                 {"a count: 1099511627776 × 1073741824 does not fit in 64 bits"});
    EXPECT_EQ(checked_multiply(-3, std::int64_t{1} << 40, "a count"), -3 * (std::int64_t{1} << 40));
    expect_error([] { (void)checked_add(INT64_MAX, 1, "a total"); }, {"a total:"});
}

// The activation observer sees every layer's output in order, as plain tensors of the planned
// shapes, and the logits it gives are predict's.
TEST(ModelFile, ObserverSeesEveryLayerOutput) {
    Network network(read_model_file(std::string(CONVNET_SOURCE_DIR) + "/models/convnet1.model"));
    network.initialize(3);
    Tensor images(Shape{2, 1, 28, 28});
    for (std::int64_t i = 0; i < images.size(); ++i) images[i] = static_cast<float>(i % 97) / 97.0f;
    std::vector<std::string> names;
    Tensor observed_logits, last_output;
    network.observe(images, observed_logits, [&](std::size_t index, const LayerPlan& plan, const Tensor& output) {
        EXPECT_EQ(index, names.size());
        EXPECT_EQ(output.shape(), plan.output.with_batch(2)) << plan.name;
        names.push_back(plan.name);
        last_output.resize(output.shape());
        std::copy(output.data(), output.data() + output.size(), last_output.data());
    });
    EXPECT_EQ(names, (std::vector<std::string>{"conv1", "bn1", "relu1", "pool1", "conv2", "bn2", "relu2", "pool2", "flatten1", "fc1"}));
    for (bool fast : {true, false}) {
        if (!fast) network.set_backend("reference");
        Tensor logits;
        network.predict(images, logits);
        ASSERT_EQ(logits.shape(), observed_logits.shape());
        for (std::int64_t i = 0; i < logits.size(); ++i) {
            EXPECT_NEAR(logits[i], observed_logits[i], 1e-4f * (1.0f + std::abs(logits[i]))) << (fast ? "fast " : "reference ") << i;
            EXPECT_EQ(last_output[i], observed_logits[i]);
        }
    }
    // One image (C, H, W) is a batch of one.
    Tensor one(Shape{1, 28, 28});
    std::copy(images.data(), images.data() + one.size(), one.data());
    Tensor one_logits;
    std::size_t calls = 0;
    network.observe(one, one_logits, [&](std::size_t, const LayerPlan& plan, const Tensor& output) {
        EXPECT_EQ(output.shape(), plan.output) << plan.name;  // plans are for a batch of one
        ++calls;
    });
    EXPECT_EQ(calls, network.layer_count());
    for (std::int64_t k = 0; k < 10; ++k) EXPECT_NEAR(one_logits[k], observed_logits[k], 1e-5f * (1.0f + std::abs(observed_logits[k])));
    expect_error([&] { network.observe(Tensor(Shape{3, 28, 28}), one_logits, {}); }, {"takes input 1x28x28"});
}

// The state by name, as torch's state_dict: names, order, num_batches_tracked, and loading that
// reports what it left alone and refuses what does not fit, all or nothing.
TEST(ModelFile, StateDictByNameAsTorch) {
    Network network(read_model_file(std::string(CONVNET_SOURCE_DIR) + "/models/convnet1.model"));
    network.initialize(5);
    Tensor images(Shape{4, 1, 28, 28});
    for (std::int64_t i = 0; i < images.size(); ++i) images[i] = static_cast<float>(i % 89) / 89.0f;
    for (int step = 0; step < 3; ++step) network.forward_train(images);  // counts batches, moves running stats
    const std::vector<StateTensor> state = network.state_dict();
    std::vector<std::string> names;
    for (const StateTensor& tensor : state) names.push_back(tensor.name);
    EXPECT_EQ(names,
              (std::vector<std::string>{"conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                                        "bn1.num_batches_tracked", "conv2.weight", "conv2.bias", "bn2.weight", "bn2.bias",
                                        "bn2.running_mean", "bn2.running_var", "bn2.num_batches_tracked", "fc1.weight", "fc1.bias"}));
    EXPECT_EQ(state[6].dtype, StateTensor::DType::i64);
    EXPECT_EQ(state[6].integer, 3);
    EXPECT_EQ(state[0].shape, (Shape{16, 1, 5, 5}));

    Network copy(read_model_file(std::string(CONVNET_SOURCE_DIR) + "/models/convnet1.model"));
    const LoadStateReport report = copy.load_state_dict(state);
    EXPECT_TRUE(report.missing_keys.empty() && report.unexpected_keys.empty());
    Tensor a, b;
    network.predict(images, a);
    copy.predict(images, b);
    for (std::int64_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]);
    EXPECT_EQ(copy.state_dict()[13].integer, 3);

    std::vector<StateTensor> partial(state.begin() + 1, state.end());
    partial.push_back({"fc2.weight", StateTensor::DType::f32, Shape{1}, {0.0f}, 0});
    expect_error([&] { copy.load_state_dict(partial); },
                 {"Missing key(s) in state_dict: \"conv1.weight\"", "Unexpected key(s) in state_dict: \"fc2.weight\""});
    const LoadStateReport loose = copy.load_state_dict(partial, false);
    EXPECT_EQ(loose.missing_keys, std::vector<std::string>{"conv1.weight"});
    EXPECT_EQ(loose.unexpected_keys, std::vector<std::string>{"fc2.weight"});

    std::vector<StateTensor> wrong = state;
    wrong[14].shape = Shape{10, 1000};
    wrong[14].values.assign(10000, 7.0f);
    wrong[0].values[0] = 123.0f;
    expect_error([&] { copy.load_state_dict(wrong); },
                 {"size mismatch for fc1.weight: copying shape [10x1000] from the state, the model has shape [10x1568]"});
    EXPECT_NE(copy.state_dict()[0].values[0], 123.0f);  // nothing written
}

// Field reports, round 3: torch 1.13's strict load_state_dict loads a state without batch norm's
// num_batches_tracked (older writers, converters that keep float tensors only) with the counter
// at 0, and copies a one-element counter of shape [1] into the 0-d buffer; both were refused.
TEST(StateDict, LoadsWhatTorchLoadsOfTheBatchNormCounters) {
    Network network(read_model_file(std::string(CONVNET_SOURCE_DIR) + "/models/convnet1.model"));
    network.initialize(1);
    std::vector<StateTensor> state = network.state_dict();
    for (StateTensor& tensor : state)
        if (tensor.name.ends_with(".num_batches_tracked")) tensor.integer = 7;
    network.load_state_dict(state);
    const auto counter = [&](const std::string& name) {
        for (const StateTensor& tensor : network.state_dict())
            if (tensor.name == name) return tensor.integer;
        return std::int64_t{-1};
    };
    ASSERT_EQ(counter("bn1.num_batches_tracked"), 7);

    std::vector<StateTensor> without;  // as a converter writes it: no counters
    for (const StateTensor& tensor : state)
        if (!tensor.name.ends_with(".num_batches_tracked")) without.push_back(tensor);
    const LoadStateReport report = network.load_state_dict(without);  // strict
    EXPECT_TRUE(report.missing_keys.empty());
    EXPECT_EQ(counter("bn1.num_batches_tracked"), 0);  // torch's value for a missing counter
    EXPECT_EQ(counter("bn2.num_batches_tracked"), 0);

    std::vector<StateTensor> one_element = state;
    for (StateTensor& tensor : one_element)
        if (tensor.name == "bn2.num_batches_tracked") {
            tensor.shape = Shape{1};
            tensor.integer = 9;
        }
    network.load_state_dict(one_element);
    EXPECT_EQ(counter("bn2.num_batches_tracked"), 9);

    std::vector<StateTensor> two_elements = state;
    for (StateTensor& tensor : two_elements)
        if (tensor.name == "bn2.num_batches_tracked") tensor.shape = Shape{2};
    expect_error([&] { network.load_state_dict(two_elements); },
                 {"size mismatch for bn2.num_batches_tracked: copying int64 shape [2] from the state, the model has int64 shape []"});

    // The field report's file: torch 1.13's state dict of convnet1 without the counters.
    Network loaded(read_model_file(std::string(CONVNET_SOURCE_DIR) + "/models/convnet1.model"));
    EXPECT_NO_THROW(load_weights(loaded, std::string(CONVNET_SOURCE_DIR) + "/tests/cases/no_num_batches_tracked.safetensors"));
    for (const StateTensor& tensor : loaded.state_dict()) {
        if (tensor.name.ends_with(".num_batches_tracked")) {
            EXPECT_EQ(tensor.integer, 0) << tensor.name;
        }
    }
}

// The model writer over the all-layers model: every layer type, with its options away from their
// defaults, names given or automatic, written and parsed back to the same plans; every option
// word, given name and from= of the file is written back.
TEST(ModelFile, FormatModelParsesBackToTheSameNetwork) {
    const ModelSpec spec = read_model_file(std::string(CONVNET_SOURCE_DIR) + "/" + testing::kAllLayersModel);
    const std::vector<LayerPlan> plans = plan_model(spec);
    const std::string written = format_model(plans, spec.input);
    const std::vector<LayerPlan> reread = plan_model(parse_model(written, "written.model"));
    ASSERT_EQ(reread.size(), plans.size()) << written;
    for (std::size_t i = 0; i < plans.size(); ++i) {
        EXPECT_EQ(reread[i].name, plans[i].name) << written;
        EXPECT_EQ(reread[i].layer->type(), plans[i].layer->type());
        EXPECT_EQ(reread[i].layer->options_text(), plans[i].layer->options_text());
        EXPECT_EQ(reread[i].output, plans[i].output);
    }
    std::istringstream lines(written);
    std::string line;
    std::getline(lines, line);
    EXPECT_EQ(line, "input " + spec.input.to_string());
    for (const LayerLine& original : spec.layers) {
        ASSERT_TRUE(std::getline(lines, line)) << written;
        std::set<std::string> words;
        std::istringstream split(line);
        for (std::string word; split >> word;) words.insert(word);
        const std::string where =
            std::string(testing::kAllLayersModel) + ":" + std::to_string(original.line) + ", written as '" + line + "'";
        EXPECT_TRUE(words.count(original.type)) << where;
        for (const auto& [key, value] : original.options)
            EXPECT_TRUE(words.count(key + "=" + value))
                << where << ": " << key << "=" << value << " is lost (or is its default: give the all-layers model options away from them)";
        if (!original.name.empty()) EXPECT_TRUE(words.count("name=" + original.name)) << where;
        else EXPECT_EQ(line.find("name="), std::string::npos) << where << ": automatic names are left out";
        if (!original.from.empty()) {
            std::string from = "from=";
            for (const std::string& source : original.from) from += (from.size() > 5 ? "," : "") + source;
            EXPECT_TRUE(words.count(from)) << where;
        }
    }
    EXPECT_EQ(format_model(reread, spec.input), written);
}

}  // namespace
}  // namespace convnet
