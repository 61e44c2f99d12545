// Finite-difference gradient checks for every layer and the loss: the analytic gradients of
// L = Σ output·R (R fixed and random) against central differences, for inputs and parameters.
//
// Tolerance: the layers compute in float32. With step h = 1e-2 the rounding error of L (≈1e-6
// relative) divided by 2h stays near 1e-4, and the truncation error is zero for linear layers and
// O(h²) for batch norm; |analytic − numeric| ≤ 2e-3 + 2e-2·|numeric| leaves a wide margin while a
// wrong formula (a missing factor, a transposed index) misses it by orders of magnitude.
#include "layer_harness.h"
#include "test_support.h"

#include <convnet/core/error.h>
#include <convnet/nn/loss.h>

#include <convnet/nn/layer_registry.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <span>

#include <cmath>
#include <sstream>

namespace convnet::testing {
namespace {

constexpr double kStep = 1e-2;
constexpr double kAbsoluteTolerance = 2e-3;
constexpr double kRelativeTolerance = 2e-2;
constexpr int kCoordinatesPerTensor = 40;

struct GradientCase {
    std::string line;
    Shape input;  // with batch
    InputKind kind;
    std::vector<Shape> more_inputs = {};  // a join's second and later inputs, with batch
};

std::ostream& operator<<(std::ostream& out, const GradientCase& c) {
    out << c.line << " on " << c.input.to_string();
    for (const Shape& more : c.more_inputs) out << " and " << more.to_string();
    return out;
}

// The shapes of a case's inputs without the batch axis, as make_layer wants them.
std::vector<Shape> samples_of(const GradientCase& c) {
    std::vector<Shape> samples;
    samples.emplace_back(std::vector<std::int64_t>(c.input.dims().begin() + 1, c.input.dims().end()));
    for (const Shape& more : c.more_inputs) samples.emplace_back(std::vector<std::int64_t>(more.dims().begin() + 1, more.dims().end()));
    return samples;
}

double weighted_sum(const Tensor& output, const Tensor& weights) {
    double sum = 0.0;
    for (std::int64_t i = 0; i < output.size(); ++i) sum += double(output[i]) * weights[i];
    return sum;
}

// Checks d L / d values[i] at up to kCoordinatesPerTensor indices against central differences.
void check_coordinates(const std::string& what, float* values, const float* analytic, std::int64_t count,
                       const std::function<double()>& loss, Random& random) {
    double worst = 0.0;
    std::ostringstream failures;
    int failed = 0;
    for (int k = 0; k < std::min<std::int64_t>(count, kCoordinatesPerTensor); ++k) {
        const std::int64_t i =
            count <= kCoordinatesPerTensor ? k : static_cast<std::int64_t>(random.below(static_cast<std::uint64_t>(count)));
        const float saved = values[i];
        values[i] = saved + static_cast<float>(kStep);
        const double plus = loss();
        values[i] = saved - static_cast<float>(kStep);
        const double minus = loss();
        values[i] = saved;
        const double numeric = (plus - minus) / (2 * kStep);
        const double error = std::abs(analytic[i] - numeric);
        worst = std::max(worst, error);
        if (error > kAbsoluteTolerance + kRelativeTolerance * std::abs(numeric) && failed++ < 5)
            failures << "  [" << i << "] analytic " << analytic[i] << " numeric " << numeric << "\n";
    }
    EXPECT_EQ(failed, 0) << what << ": " << failed << " coordinates off, max |difference| " << worst << "\n" << failures.str();
}

class LayerGradient : public ::testing::TestWithParam<GradientCase> {};

TEST_P(LayerGradient, MatchesFiniteDifferences) {
    const GradientCase& c = GetParam();
    BoundLayer bound = make_layer(c.line, samples_of(c));
    Random random(42);
    bound.layer().initialize(random);
    for (float& value : bound.arena.trainable_values()) value += random.uniform(-0.2f, 0.2f);  // no symmetric start
    for (Parameter& parameter : bound.layer().parameters())                                    // a valid variance for batch norm
        if (parameter.name == "running_var")
            for (std::int64_t i = 0; i < parameter.shape.element_count(); ++i) parameter.value[i] = random.uniform(0.5f, 1.5f);

    // Every input its own tensor, each with its own gradient (the graph_ forms, as executors call).
    std::vector<Tensor> inputs;
    inputs.emplace_back(c.input);
    for (const Shape& more : c.more_inputs) inputs.emplace_back(more);
    std::vector<Tensor> grad_inputs(inputs.size());
    std::vector<const Tensor*> input_views;
    std::vector<Tensor*> grad_views;
    for (std::size_t k = 0; k < inputs.size(); ++k) {
        fill_input(inputs[k], c.kind, random);
        input_views.push_back(&inputs[k]);
        grad_views.push_back(&grad_inputs[k]);
    }
    Tensor output;
    bound.layer().graph_forward_train(input_views, output);
    Tensor weights(output.shape());
    fill_input(weights, InputKind::smooth, random);
    bound.layer().graph_backward(input_views, output, weights, grad_views);
    const std::span<float> arena_grads = bound.arena.gradients();
    const std::vector<float> parameter_grads(arena_grads.begin(), arena_grads.end());

    auto loss = [&] {
        Tensor probe;
        bound.layer().graph_forward_train(input_views, probe);
        return weighted_sum(probe, weights);
    };
    for (std::size_t k = 0; k < inputs.size(); ++k)
        check_coordinates("input " + std::to_string(k + 1), inputs[k].data(), grad_inputs[k].data(), inputs[k].size(), loss, random);
    for (Parameter& parameter : bound.layer().parameters())
        if (parameter.role == ParameterRole::trainable)
            check_coordinates(parameter.name, parameter.value, parameter_grads.data() + (parameter.grad - arena_grads.data()),
                              parameter.shape.element_count(), loss, random);
}

// Every layer type's cases: a new layer adds its own here (AddingALayer.GradientCasePerType checks).
const std::vector<GradientCase>& gradient_cases() {
    static const std::vector<GradientCase> cases{

        GradientCase{"conv2d out=4 kernel=3", Shape{2, 3, 7, 6}, InputKind::smooth},
        GradientCase{"conv2d out=3 kernel=5 pad=2", Shape{2, 2, 9, 9}, InputKind::smooth},
        GradientCase{"conv2d out=2 kernel=3x2 stride=2x1 pad=1x0 dilation=1x2", Shape{3, 2, 8, 7}, InputKind::smooth},
        GradientCase{"conv2d out=3 kernel=2 stride=3 bias=false", Shape{2, 2, 8, 8}, InputKind::smooth},
        GradientCase{"batchnorm2d", Shape{4, 3, 5, 5}, InputKind::smooth}, GradientCase{"batchnorm1d", Shape{6, 5}, InputKind::smooth},
        GradientCase{"relu", Shape{2, 3, 4, 5}, InputKind::away_from_zero},
        GradientCase{"maxpool2d kernel=2", Shape{2, 3, 6, 6}, InputKind::distinct},
        GradientCase{"maxpool2d kernel=3 stride=2 pad=1", Shape{2, 2, 7, 7}, InputKind::distinct},
        GradientCase{"maxpool2d kernel=2 stride=1", Shape{1, 2, 5, 4}, InputKind::distinct},
        GradientCase{"flatten", Shape{2, 3, 4, 5}, InputKind::smooth}, GradientCase{"linear out=7", Shape{5, 11}, InputKind::smooth},
        GradientCase{"linear out=3 bias=false", Shape{4, 6}, InputKind::smooth},
        GradientCase{"conv2d out=4 kernel=3 groups=2", Shape{2, 4, 7, 6}, InputKind::smooth},
        GradientCase{"detect classes=2", Shape{2, 3, 4, 5}, InputKind::smooth},
        GradientCase{"detect classes=3 kernel=3", Shape{2, 2, 5, 4}, InputKind::smooth},
        GradientCase{"conv2d out=6 kernel=3x2 stride=2x1 pad=1 groups=3", Shape{2, 3, 9, 8}, InputKind::smooth},
        GradientCase{"conv2d out=3 kernel=3 pad=1 groups=3 bias=false", Shape{2, 3, 5, 7}, InputKind::smooth},
        GradientCase{"conv2d out=6 kernel=3 stride=2 dilation=2 groups=2", Shape{3, 4, 11, 9}, InputKind::smooth},
        GradientCase{"sigmoid", Shape{2, 3, 4, 5}, InputKind::smooth}, GradientCase{"sigmoid", Shape{3, 7}, InputKind::smooth},
        GradientCase{"tanh", Shape{2, 3, 4, 5}, InputKind::smooth}, GradientCase{"tanh", Shape{3, 7}, InputKind::smooth},
        GradientCase{"leakyrelu", Shape{2, 3, 4, 5}, InputKind::away_from_zero},
        GradientCase{"leakyrelu slope=0.2", Shape{3, 9}, InputKind::away_from_zero},
        GradientCase{"softmax", Shape{4, 10}, InputKind::smooth}, GradientCase{"softmax", Shape{1, 3}, InputKind::smooth},
        GradientCase{"softmax", Shape{2, 5, 3, 2}, InputKind::smooth},
        GradientCase{"avgpool2d kernel=2", Shape{2, 3, 6, 6}, InputKind::smooth},
        GradientCase{"avgpool2d kernel=3 stride=2 pad=1", Shape{2, 2, 7, 9}, InputKind::smooth},
        GradientCase{"avgpool2d kernel=3 stride=2 pad=1 count_pad=false", Shape{2, 2, 7, 9}, InputKind::smooth},
        GradientCase{"avgpool2d kernel=3x2 stride=1x2 pad=1x0", Shape{3, 2, 5, 7}, InputKind::smooth},
        GradientCase{"l2pool2d kernel=2", Shape{2, 3, 6, 6}, InputKind::smooth},
        GradientCase{"l2pool2d kernel=3 stride=2 pad=1", Shape{2, 2, 7, 9}, InputKind::smooth},
        GradientCase{"l2pool2d kernel=2x3 stride=1x2", Shape{3, 2, 5, 7}, InputKind::smooth},
        GradientCase{"gausspool2d kernel=3 stride=2 pad=1", Shape{2, 3, 7, 9}, InputKind::smooth},
        GradientCase{"gausspool2d kernel=3x2 stride=1 sigma=0.7", Shape{3, 2, 5, 6}, InputKind::smooth},
        GradientCase{"globalavgpool2d", Shape{2, 3, 5, 7}, InputKind::smooth},
        GradientCase{"globalavgpool2d", Shape{3, 4, 1, 1}, InputKind::smooth},
        // p = 0 only: forward_train draws a new mask on every call, so the finite differences
        // would compare different functions. The mask itself is tested in test_layers.cpp.
        GradientCase{"dropout p=0", Shape{2, 3, 4, 5}, InputKind::smooth},
        GradientCase{"convtranspose2d out=3 kernel=3", Shape{2, 2, 4, 5}, InputKind::smooth},
        GradientCase{"convtranspose2d out=2 kernel=2 stride=2", Shape{2, 3, 3, 3}, InputKind::smooth},
        GradientCase{"convtranspose2d out=4 kernel=3x2 stride=2x3 pad=1x0 output_pad=1x2 dilation=1x2 groups=2 bias=false",
                     Shape{2, 4, 4, 3}, InputKind::smooth},
        GradientCase{"upsample2d scale=2", Shape{2, 3, 3, 4}, InputKind::smooth},
        GradientCase{"upsample2d scale=2x3 mode=bilinear", Shape{2, 2, 4, 3}, InputKind::smooth},
        GradientCase{"upsample2d scale=3 mode=bilinear", Shape{1, 2, 1, 2}, InputKind::smooth},
        GradientCase{"add", Shape{2, 3, 4, 5}, InputKind::smooth, {Shape{2, 3, 4, 5}}},
        GradientCase{"add", Shape{3, 7}, InputKind::smooth, {Shape{3, 7}, Shape{3, 7}}},
        GradientCase{"concat", Shape{2, 3, 4, 5}, InputKind::smooth, {Shape{2, 2, 4, 5}}},
        GradientCase{"concat", Shape{3, 4}, InputKind::smooth, {Shape{3, 1}, Shape{3, 6}}}};
    return cases;
}

INSTANTIATE_TEST_SUITE_P(EveryLayer, LayerGradient, ::testing::ValuesIn(gradient_cases()));

// Step 3 of "Adding a layer" (docs/CONTRIBUTING.md): every registered type has a case above.
TEST(AddingALayer, GradientCasePerType) {
    for (const LayerType& type : layer_types()) {
        const bool covered = std::any_of(gradient_cases().begin(), gradient_cases().end(),
                                         [&](const GradientCase& c) { return c.line.substr(0, c.line.find(' ')) == type.name; });
        EXPECT_TRUE(covered) << "layer type '" << type.name << "' has no finite-difference case: add GradientCase{\"" << type.name
                             << " OPTIONS\", Shape{N, C, H, W}, InputKind::smooth} (and more, for strides, padding, bias off) to "
                             << "gradient_cases() in tests/unit/test_gradients.cpp";
    }
}

// Every layer describes its options as attributes under snake_case (PyTorch's) keywords, and
// the model-file text derived from them builds a layer with the same attributes.
TEST(RegistryAgreement, AttributesRoundTripThroughTheModelFileText) {
    for (const GradientCase& c : gradient_cases()) {
        const std::vector<Shape> samples = samples_of(c);
        BoundLayer bound = make_layer(c.line, samples);
        const std::vector<Attribute> attributes = bound.layer().attributes();
        std::vector<std::string> keys;
        for (const Attribute& attribute : attributes) {
            EXPECT_TRUE(!attribute.name.empty() && std::all_of(attribute.name.begin(), attribute.name.end(),
                                                               [](char ch) { return (ch >= 'a' && ch <= 'z') || ch == '_'; }))
                << c.line << ": attribute '" << attribute.name << "' is not a PyTorch-style keyword";
            if (!attribute.key.empty()) keys.push_back(attribute.key);
        }
        // Every option the case's line gives is an attribute: a layer that forgot attributes()
        // (or one of its options) would write a model file that loses it.
        std::istringstream words(c.line.substr(c.line.find(' ') == std::string::npos ? c.line.size() : c.line.find(' ')));
        for (std::string word; words >> word;) {
            const std::string key = word.substr(0, word.find('='));
            EXPECT_NE(std::find(keys.begin(), keys.end(), key), keys.end())
                << c.line << ": option " << key
                << "= is not among the layer's attributes(): add it there (include/convnet/core/attribute.h)";
        }
        std::sort(keys.begin(), keys.end());
        EXPECT_EQ(std::adjacent_find(keys.begin(), keys.end()), keys.end()) << c.line << ": two attributes share a model-file key";
        const std::string text = bound.layer().options_text();
        const std::string again = bound.layer().type() + (text.empty() ? "" : " " + text);
        const std::vector<Attribute> reread = make_layer(again, samples).layer().attributes();
        ASSERT_EQ(reread.size(), attributes.size()) << again;
        for (std::size_t i = 0; i < attributes.size(); ++i) {
            EXPECT_EQ(reread[i].name, attributes[i].name) << again;
            EXPECT_EQ(reread[i].value, attributes[i].value) << again << ": " << attributes[i].name;
        }
    }
}

// A real option is written in the shortest text that reads back to the same double (a stream's
// six digits wrote momentum 0.123456789 as 0.123457 before).
TEST(RegistryAgreement, RealOptionsRoundTripExactly) {
    BoundLayer norm = make_layer("batchnorm2d momentum=0.123456789 eps=3e-07", Shape{4, 3, 3});
    EXPECT_EQ(norm.layer().options_text(), "eps=3e-07 momentum=0.123456789");
    const std::vector<Attribute> attributes = norm.layer().attributes();
    const Attribute* momentum = find_attribute(attributes, "momentum");
    ASSERT_NE(momentum, nullptr);
    EXPECT_EQ(std::get<double>(momentum->value), 0.123456789);
    EXPECT_EQ(attribute_text(std::pair<std::int64_t, std::int64_t>{3, 5}), "3x5");
    EXPECT_EQ(attribute_text(std::int64_t{7}), "7");
    EXPECT_EQ(attribute_text(false), "false");
}

TEST(LossGradient, SoftmaxCrossEntropyMatchesFiniteDifferences) {
    Random random(7);
    Tensor logits(Shape{4, 6});
    fill_input(logits, InputKind::smooth, random);
    for (std::int64_t i = 0; i < logits.size(); ++i) logits[i] *= 3.0f;
    const std::vector<std::uint8_t> labels{0, 5, 2, 2};
    Tensor grad;
    softmax_cross_entropy(logits, labels, &grad);
    auto loss = [&] { return softmax_cross_entropy(logits, labels, nullptr).loss; };
    check_coordinates("logits", logits.data(), grad.data(), logits.size(), loss, random);
}

// Label smoothing (as torch.nn.CrossEntropyLoss(label_smoothing=0.3)): the gradient by finite
// differences, and the loss as its definition, (1 − ε)·CE(label) + ε·mean_k CE(k), from the
// unsmoothed loss of each target; out-of-range values are refused.
TEST(LossGradient, LabelSmoothingMatchesFiniteDifferencesAndItsDefinition) {
    Random random(9);
    Tensor logits(Shape{3, 5});
    fill_input(logits, InputKind::smooth, random);
    for (std::int64_t i = 0; i < logits.size(); ++i) logits[i] *= 3.0f;
    const std::vector<std::uint8_t> labels{4, 0, 2};
    Tensor grad;
    softmax_cross_entropy(logits, labels, &grad, 0.3);
    auto loss = [&] { return softmax_cross_entropy(logits, labels, nullptr, 0.3).loss; };
    check_coordinates("logits", logits.data(), grad.data(), logits.size(), loss, random);
    double uniform = 0.0;
    for (std::uint8_t k = 0; k < 5; ++k) uniform += softmax_cross_entropy(logits, std::vector<std::uint8_t>(3, k), nullptr).loss / 5.0;
    EXPECT_NEAR(loss(), 0.7 * softmax_cross_entropy(logits, labels, nullptr).loss + 0.3 * uniform, 1e-12);
    for (const double bad : {-0.1, 1.0, std::nan("")})
        testing::expect_error([&] { softmax_cross_entropy(logits, labels, nullptr, bad); },
                              {"label_smoothing", "expected a value in [0, 1)"});
}

// Per pixel, as F.cross_entropy on (N, K, H, W): the mean over all N·H·W pixels of each pixel's
// loss, the same as the (N·H·W, K) rows gathered pixel by pixel; and its gradient by finite differences.
TEST(LossGradient, PerPixelCrossEntropyIsTheMeanOverPixels) {
    Random random(8);
    Tensor logits(Shape{2, 3, 2, 2}), rows(Shape{8, 3});
    fill_input(logits, InputKind::smooth, random);
    for (std::int64_t n = 0; n < 2; ++n)
        for (std::int64_t p = 0; p < 4; ++p)
            for (std::int64_t k = 0; k < 3; ++k) rows[(n * 4 + p) * 3 + k] = logits[(n * 3 + k) * 4 + p];
    const std::vector<std::uint8_t> labels{0, 2, 1, 1, 2, 0, 0, 1};
    Tensor grad;
    const LossResult per_pixel = softmax_cross_entropy(logits, labels, &grad);
    const LossResult per_row = softmax_cross_entropy(rows, labels, nullptr);
    EXPECT_NEAR(per_pixel.loss, per_row.loss, 1e-12);
    EXPECT_EQ(per_pixel.correct, per_row.correct);
    auto loss = [&] { return softmax_cross_entropy(logits, labels, nullptr).loss; };
    check_coordinates("logits", logits.data(), grad.data(), logits.size(), loss, random);
    EXPECT_THROW(softmax_cross_entropy(logits, std::vector<std::uint8_t>(2, 0), nullptr),
                 convnet::Error);  // one label per image is not enough
}

}  // namespace
}  // namespace convnet::testing
