// Layer behaviour the finite-difference check cannot see: values against hand-worked numbers
// (activations, every pool, softmax), dropout's mask, scaling and repeatability, the options each
// layer writes back, the errors for options out of range; the example model files.
#include "layer_harness.h"
#include "test_support.h"

#include <convnet/core/error.h>
#include <convnet/inspect/summary.h>
#include <convnet/nn/layers/dropout.h>
#include <convnet/nn/layers/gausspool2d.h>
#include <convnet/nn/loss.h>
#include <convnet/nn/network.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>

namespace convnet::testing {
namespace {

Tensor tensor_of(const Shape& shape, std::initializer_list<float> values) {
    Tensor tensor(shape);
    EXPECT_EQ(static_cast<std::int64_t>(values.size()), tensor.size());
    std::copy(values.begin(), values.end(), tensor.data());
    return tensor;
}

void expect_values(const Tensor& actual, std::initializer_list<float> expected, float tolerance = 1e-6f) {
    ASSERT_EQ(actual.size(), static_cast<std::int64_t>(expected.size()));
    std::int64_t i = 0;
    for (float value : expected) {
        EXPECT_NEAR(actual[i], value, tolerance) << "at index " << i;
        ++i;
    }
}

Tensor forward_of(const std::string& line, const Tensor& input) {
    std::vector<std::int64_t> sample(input.shape().dims().begin() + 1, input.shape().dims().end());
    BoundLayer bound = make_layer(line, Shape(sample));
    Tensor output;
    bound.layer().forward(input, output);
    return output;
}

std::string error_of(const std::string& line, const Shape& sample) {
    return error_message([&] { make_layer(line, sample); });
}

// ---- activations

TEST(Activations, SigmoidTanhLeakyReluValues) {
    const Tensor input = tensor_of(Shape{1, 5}, {-2.0f, -0.5f, 0.0f, 0.5f, 3.0f});
    expect_values(forward_of("sigmoid", input),
                  {1 / (1 + std::exp(2.0f)), 1 / (1 + std::exp(0.5f)), 0.5f, 1 / (1 + std::exp(-0.5f)), 1 / (1 + std::exp(-3.0f))});
    expect_values(forward_of("tanh", input), {std::tanh(-2.0f), std::tanh(-0.5f), 0.0f, std::tanh(0.5f), std::tanh(3.0f)});
    expect_values(forward_of("leakyrelu", input), {-0.02f, -0.005f, 0.0f, 0.5f, 3.0f});
    expect_values(forward_of("leakyrelu slope=0.25", input), {-0.5f, -0.125f, 0.0f, 0.5f, 3.0f});
}

TEST(Activations, SigmoidSaturatesWithoutOverflow) {
    const Tensor output = forward_of("sigmoid", tensor_of(Shape{1, 4}, {-200.0f, -90.0f, 90.0f, 200.0f}));
    for (std::int64_t i = 0; i < 4; ++i) EXPECT_TRUE(std::isfinite(output[i])) << i;
    expect_values(output, {0.0f, 0.0f, 1.0f, 1.0f});
}

TEST(Activations, LeakyReluGradientAtZeroUsesTheSlopeAsPyTorch) {
    BoundLayer bound = make_layer("leakyrelu slope=0.1", Shape{3});
    const Tensor input = tensor_of(Shape{1, 3}, {-1.0f, 0.0f, 2.0f});
    Tensor output, grad_input;
    bound.layer().forward_train(input, output);
    bound.layer().backward(input, output, tensor_of(Shape{1, 3}, {1.0f, 1.0f, 1.0f}), &grad_input);
    expect_values(grad_input, {0.1f, 0.1f, 1.0f});
    EXPECT_EQ(bound.layer().options_text(), "slope=0.1");
}

// ---- softmax

TEST(SoftmaxLayer, RowsAreProbabilitiesAndLargeScoresDoNotOverflow) {
    const Tensor output = forward_of("softmax", tensor_of(Shape{2, 3}, {1.0f, 2.0f, 3.0f, 1000.0f, 1001.0f, -1000.0f}));
    const float total = std::exp(1.0f) + std::exp(2.0f) + std::exp(3.0f);
    const float e = std::exp(1.0f);
    expect_values(output, {std::exp(1.0f) / total, std::exp(2.0f) / total, std::exp(3.0f) / total, 1 / (1 + e), e / (1 + e), 0.0f});
}

TEST(SoftmaxLayer, AgreesWithTheLossModulesSoftmax) {
    Random random(3);
    Tensor logits(Shape{5, 10});
    fill_input(logits, InputKind::smooth, random);
    for (std::int64_t i = 0; i < logits.size(); ++i) logits[i] *= 8.0f;
    Tensor expected;
    softmax(logits, expected);
    const Tensor output = forward_of("softmax", logits);
    for (std::int64_t i = 0; i < logits.size(); ++i) EXPECT_NEAR(output[i], expected[i], 1e-6f) << i;
}

TEST(SoftmaxLayer, OverChannelsOfFeatureMapsEachPixelSumsToOne) {
    Random random(4);
    Tensor input(Shape{2, 4, 3, 5});
    fill_input(input, InputKind::smooth, random);
    const Tensor output = forward_of("softmax", input);
    for (std::int64_t n = 0; n < 2; ++n)
        for (std::int64_t pixel = 0; pixel < 15; ++pixel) {
            double sum = 0.0;
            for (std::int64_t c = 0; c < 4; ++c) sum += output[(n * 4 + c) * 15 + pixel];
            EXPECT_NEAR(sum, 1.0, 1e-6) << "image " << n << " pixel " << pixel;
        }
}

TEST(SoftmaxLayer, BackwardIsTheJacobianTransposeTimesTheGradient) {
    BoundLayer bound = make_layer("softmax", Shape{4});
    const Tensor input = tensor_of(Shape{1, 4}, {0.3f, -1.2f, 2.0f, 0.7f});
    const Tensor grad_output = tensor_of(Shape{1, 4}, {0.5f, -1.0f, 0.25f, 2.0f});
    Tensor output, grad_input;
    bound.layer().forward_train(input, output);
    bound.layer().backward(input, output, grad_output, &grad_input);
    for (std::int64_t i = 0; i < 4; ++i) {  // J[j][i] = y_j (δ_ji − y_i)
        double expected = 0.0;
        for (std::int64_t j = 0; j < 4; ++j) expected += grad_output[j] * output[j] * ((i == j ? 1.0 : 0.0) - output[i]);
        EXPECT_NEAR(grad_input[i], expected, 1e-6) << i;
    }
}

// ---- pooling

// One 4×4 plane, values 1..16 row by row.
Tensor ramp_plane() {
    Tensor plane(Shape{1, 1, 4, 4});
    for (std::int64_t i = 0; i < 16; ++i) plane[i] = static_cast<float>(i + 1);
    return plane;
}

TEST(Pooling, AveragePoolValuesWithAndWithoutPaddingInTheCount) {
    expect_values(forward_of("avgpool2d kernel=2", ramp_plane()), {3.5f, 5.5f, 11.5f, 13.5f});
    // kernel 3, stride 2, pad 1 on 4×4: output 2×2. The windows cover {1,2,5,6}, {2,3,4,6,7,8},
    // {5,6,9,10,13,14} and {6,7,8,10,11,12,14,15,16}: 4, 6, 6 and 9 of their 9 places.
    expect_values(forward_of("avgpool2d kernel=3 stride=2 pad=1", ramp_plane()), {14.0f / 9, 30.0f / 9, 57.0f / 9, 99.0f / 9}, 1e-5f);
    expect_values(forward_of("avgpool2d kernel=3 stride=2 pad=1 count_pad=false", ramp_plane()),
                  {14.0f / 4, 30.0f / 6, 57.0f / 6, 99.0f / 9}, 1e-5f);
}

TEST(Pooling, L2PoolIsTheRootOfTheSumOfSquares) {
    expect_values(forward_of("l2pool2d kernel=2", ramp_plane()),
                  {std::sqrt(1.0f + 4 + 25 + 36), std::sqrt(9.0f + 16 + 49 + 64), std::sqrt(81.0f + 100 + 169 + 196),
                   std::sqrt(121.0f + 144 + 225 + 256)},
                  1e-5f);
    // Padding adds zeros: the top-left 3×3 window at pad 1 holds 1, 2, 5, 6 only.
    const Tensor padded = forward_of("l2pool2d kernel=3 stride=2 pad=1", ramp_plane());
    EXPECT_NEAR(padded[0], std::sqrt(1.0f + 4 + 25 + 36), 1e-5f);
    // Signs do not matter.
    expect_values(forward_of("l2pool2d kernel=2", tensor_of(Shape{1, 1, 2, 2}, {-3.0f, 0.0f, 0.0f, 4.0f})), {5.0f});
}

TEST(Pooling, L2PoolGradientOfAnAllZeroWindowIsZero) {
    BoundLayer bound = make_layer("l2pool2d kernel=2", Shape{1, 2, 2});
    const Tensor input(Shape{1, 1, 2, 2});  // zeros
    Tensor output, grad_input;
    bound.layer().forward_train(input, output);
    bound.layer().backward(input, output, tensor_of(Shape{1, 1, 1, 1}, {1.0f}), &grad_input);
    expect_values(grad_input, {0.0f, 0.0f, 0.0f, 0.0f});
}

TEST(Pooling, GaussianWeightsAreNormalisedSymmetricAndPeakAtTheCentre) {
    GaussPool2dOptions options;
    options.kernel_height = options.kernel_width = 3;
    options.sigma = 1.0;
    const GaussPool2d pool(options);
    const std::vector<float>& weights = pool.weights();
    ASSERT_EQ(weights.size(), 9u);
    EXPECT_NEAR(std::accumulate(weights.begin(), weights.end(), 0.0), 1.0, 1e-6);
    // exp(−d²/2) for d² = 0 (centre), 1 (edges), 2 (corners), over their sum.
    const double edge = std::exp(-0.5), corner = std::exp(-1.0), total = 1 + 4 * edge + 4 * corner;
    EXPECT_NEAR(weights[4], 1 / total, 1e-6);
    for (int index : {1, 3, 5, 7}) EXPECT_NEAR(weights[static_cast<std::size_t>(index)], edge / total, 1e-6) << index;
    for (int index : {0, 2, 6, 8}) EXPECT_NEAR(weights[static_cast<std::size_t>(index)], corner / total, 1e-6) << index;

    // An even kernel's positions are all equally far from the centre: a plain average.
    expect_values(forward_of("gausspool2d kernel=2", ramp_plane()), {3.5f, 5.5f, 11.5f, 13.5f}, 1e-5f);
    // Default sigma is half the larger kernel side, and is not written back.
    EXPECT_EQ(GaussPool2d::default_sigma(3, 5), 2.5);
    EXPECT_EQ(make_layer("gausspool2d kernel=3x5", Shape{1, 8, 8}).layer().options_text(), "kernel=3x5 stride=3x5");
    EXPECT_EQ(make_layer("gausspool2d kernel=3 sigma=0.75", Shape{1, 8, 8}).layer().options_text(), "kernel=3 stride=3 sigma=0.75");
}

TEST(Pooling, GaussianPoolOfAConstantIsThatConstantAwayFromPadding) {
    Tensor input(Shape{2, 3, 7, 7});
    input.fill(2.5f);
    const Tensor output = forward_of("gausspool2d kernel=3 stride=2 sigma=0.8", input);
    ASSERT_EQ(output.shape(), (Shape{2, 3, 3, 3}));
    for (std::int64_t i = 0; i < output.size(); ++i) EXPECT_NEAR(output[i], 2.5f, 1e-5f) << i;
}

TEST(Pooling, GlobalAveragePoolIsTheMeanOfEachMap) {
    Tensor input(Shape{2, 3, 4, 5});
    for (std::int64_t i = 0; i < input.size(); ++i) input[i] = static_cast<float>(i);
    const Tensor output = forward_of("globalavgpool2d", input);
    ASSERT_EQ(output.shape(), (Shape{2, 3, 1, 1}));
    for (std::int64_t plane = 0; plane < 6; ++plane) EXPECT_NEAR(output[plane], plane * 20 + 9.5f, 1e-4f) << plane;
}

TEST(Pooling, ShapesFollowTheFloorFormulaAndOptionsRoundTrip) {
    struct Case {
        std::string line;
        Shape sample, output;
        std::string options_text;
    };
    const Case cases[] = {
        {"avgpool2d kernel=2", Shape{6, 28, 28}, Shape{1, 6, 14, 14}, "kernel=2 stride=2"},
        {"avgpool2d kernel=3 stride=2 pad=1 count_pad=false", Shape{2, 7, 9}, Shape{1, 2, 4, 5}, "kernel=3 stride=2 pad=1 count_pad=false"},
        {"l2pool2d kernel=3x2 stride=1x2", Shape{1, 5, 7}, Shape{1, 1, 3, 3}, "kernel=3x2 stride=1x2"},
        {"gausspool2d kernel=5 stride=1 pad=2", Shape{4, 9, 9}, Shape{1, 4, 9, 9}, "kernel=5 stride=1 pad=2"},
        {"globalavgpool2d", Shape{8, 5, 3}, Shape{1, 8, 1, 1}, ""},
    };
    for (const Case& c : cases) {
        BoundLayer bound = make_layer(c.line, c.sample);
        EXPECT_EQ(bound.plan.output, c.output) << c.line;
        EXPECT_EQ(bound.layer().options_text(), c.options_text) << c.line;
        // What options_text writes builds the same layer.
        const std::string again = bound.layer().type() + (c.options_text.empty() ? "" : " " + c.options_text);
        EXPECT_EQ(make_layer(again, c.sample).layer().options_text(), c.options_text) << again;
    }
}

TEST(Pooling, BadOptionsAreRefusedWithTheLine) {
    EXPECT_NE(error_of("avgpool2d kernel=2 pad=2", Shape{1, 8, 8}).find("pad should be at most half of kernel"), std::string::npos);
    EXPECT_NE(error_of("l2pool2d kernel=3 pad=2", Shape{1, 8, 8}).find("test:2"), std::string::npos);
    EXPECT_NE(error_of("gausspool2d kernel=3 sigma=0", Shape{1, 8, 8}).find("sigma=0"), std::string::npos);
    EXPECT_NE(error_of("avgpool2d kernel=3 count_pad=maybe", Shape{1, 8, 8}).find("expected true or false"), std::string::npos);
    EXPECT_NE(error_of("globalavgpool2d", Shape{10}).find("rank 4"), std::string::npos);
    EXPECT_NE(error_of("avgpool2d kernel=9", Shape{1, 8, 8}).find("larger than the padded input"), std::string::npos);
}

// ---- dropout

Dropout& as_dropout(BoundLayer& bound) { return dynamic_cast<Dropout&>(bound.layer()); }

TEST(DropoutLayer, EvaluationIsTheIdentity) {
    BoundLayer bound = make_layer("dropout p=0.5", Shape{3, 4, 4});
    Random seed(1);
    bound.layer().initialize(seed);
    Random random(2);
    Tensor input(Shape{2, 3, 4, 4}), output;
    fill_input(input, InputKind::smooth, random);
    bound.layer().forward(input, output);
    ASSERT_EQ(output.shape(), input.shape());
    for (std::int64_t i = 0; i < input.size(); ++i) EXPECT_EQ(output[i], input[i]) << i;
}

TEST(DropoutLayer, TrainingZeroesAboutPAndScalesTheRestByOneOverOneMinusP) {
    for (const double p : {0.2, 0.5, 0.8}) {
        BoundLayer bound = make_layer("dropout p=" + std::to_string(p), Shape{10000});
        Random seed(9);
        bound.layer().initialize(seed);
        Random random(3);
        Tensor input(Shape{2, 10000}), output;
        fill_input(input, InputKind::away_from_zero, random);  // no input is 0: a 0 out means dropped
        bound.layer().forward_train(input, output);
        const float scale = static_cast<float>(1.0 / (1.0 - p));
        const std::vector<float>& mask = as_dropout(bound).mask();
        ASSERT_EQ(static_cast<std::int64_t>(mask.size()), input.size());
        std::int64_t dropped = 0;
        for (std::int64_t i = 0; i < input.size(); ++i) {
            const float m = mask[static_cast<std::size_t>(i)];
            ASSERT_TRUE(m == 0.0f || m == scale) << "p " << p << " mask[" << i << "] = " << m;
            EXPECT_FLOAT_EQ(output[i], input[i] * m) << i;
            dropped += m == 0.0f;
        }
        // 20000 Bernoulli draws: the standard deviation of the fraction is at most 0.0036.
        EXPECT_NEAR(double(dropped) / double(input.size()), p, 0.02) << "p " << p;
    }
}

TEST(DropoutLayer, BackwardUsesTheMaskOfTheLastForwardTrain) {
    BoundLayer bound = make_layer("dropout p=0.3", Shape{50});
    Random seed(4);
    bound.layer().initialize(seed);
    Random random(5);
    Tensor input(Shape{4, 50}), output, grad_output(Shape{4, 50}), grad_input;
    fill_input(input, InputKind::away_from_zero, random);
    fill_input(grad_output, InputKind::away_from_zero, random);
    bound.layer().forward_train(input, output);
    bound.layer().backward(input, output, grad_output, &grad_input);
    // output = input·mask, a linear map: its exact gradient is grad_output·mask, and the mask can
    // be read back from output / input.
    for (std::int64_t i = 0; i < input.size(); ++i) EXPECT_FLOAT_EQ(grad_input[i], grad_output[i] * (output[i] / input[i])) << i;
    std::int64_t zeros = 0;
    for (std::int64_t i = 0; i < grad_input.size(); ++i) zeros += grad_input[i] == 0.0f;
    EXPECT_GT(zeros, 0);
    EXPECT_LT(zeros, grad_input.size());

    // A backward for another size than the last forward_train is refused.
    Tensor other(Shape{3, 50});
    EXPECT_THROW(bound.layer().backward(other, other, other, &grad_input), Error);
}

TEST(DropoutLayer, MasksRepeatForASeedAndChangeFromStepToStep) {
    auto masks_for_seed = [](std::uint64_t seed_value) {
        BoundLayer bound = make_layer("dropout p=0.5", Shape{64});
        Random seed(seed_value);
        bound.layer().initialize(seed);
        Tensor input(Shape{2, 64}), output;
        input.fill(1.0f);
        bound.layer().forward_train(input, output);
        std::vector<float> first = as_dropout(bound).mask();
        bound.layer().forward_train(input, output);
        return std::pair{first, as_dropout(bound).mask()};
    };
    const auto [first, second] = masks_for_seed(21);
    const auto [first_again, second_again] = masks_for_seed(21);
    EXPECT_EQ(first, first_again);
    EXPECT_EQ(second, second_again);
    EXPECT_NE(first, second);
    EXPECT_NE(first, masks_for_seed(22).first);
}

TEST(DropoutLayer, PZeroKeepsEverythingAndPOneDropsEverything) {
    Tensor input(Shape{2, 8}), output;
    for (std::int64_t i = 0; i < input.size(); ++i) input[i] = static_cast<float>(i + 1);
    BoundLayer keep = make_layer("dropout p=0", Shape{8});
    keep.layer().forward_train(input, output);
    for (std::int64_t i = 0; i < input.size(); ++i) EXPECT_EQ(output[i], input[i]) << i;
    BoundLayer drop = make_layer("dropout p=1", Shape{8});
    drop.layer().forward_train(input, output);
    for (std::int64_t i = 0; i < input.size(); ++i) EXPECT_EQ(output[i], 0.0f) << i;
}

TEST(DropoutLayer, OptionsAndErrors) {
    EXPECT_EQ(make_layer("dropout", Shape{8}).layer().options_text(), "p=0.5");
    EXPECT_EQ(make_layer("dropout p=0.25", Shape{8}).layer().options_text(), "p=0.25");
    const std::string message = error_of("dropout p=1.5", Shape{8});
    EXPECT_NE(message.find("test:2"), std::string::npos) << message;
    EXPECT_NE(message.find("p=1.5"), std::string::npos) << message;
    EXPECT_THROW(Dropout(DropoutOptions{-0.1}), Error);
}

// ---- the example model files

TEST(ExampleModels, LeNet5ShapesAndParameterCount) {
    const Network network(read_model_file(std::string(CONVNET_SOURCE_DIR) + "/models/lenet5.model"));
    ASSERT_EQ(network.layer_count(), 12u);
    EXPECT_EQ(network.layer_plan(0).output, (Shape{1, 6, 28, 28}));
    EXPECT_EQ(network.layer_plan(2).output, (Shape{1, 6, 14, 14}));
    EXPECT_EQ(network.layer_plan(3).output, (Shape{1, 16, 10, 10}));
    EXPECT_EQ(network.layer_plan(5).output, (Shape{1, 16, 5, 5}));
    EXPECT_EQ(network.layer_plan(6).output, (Shape{1, 400}));
    EXPECT_EQ(network.layer(1).type(), "tanh");
    EXPECT_EQ(network.layer(2).type(), "avgpool2d");
    EXPECT_EQ(network.output_features(), 10);
    // 6·25+6, 16·6·25+16, 400·120+120, 120·84+84, 84·10+10: the classic 61,706.
    EXPECT_EQ(network.trainable_count(), 61706);
}

TEST(ExampleModels, CifarExampleGivesSixFeatureMapsOf28x28) {
    const Network network(read_model_file(std::string(CONVNET_SOURCE_DIR) + "/models/cifar-example.model"));
    EXPECT_EQ(network.sample_shape(), (Shape{3, 32, 32}));
    EXPECT_EQ(network.layer_plan(0).output, (Shape{1, 6, 28, 28}));
    EXPECT_EQ(network.layer(0).parameters()[0].shape, (Shape{6, 3, 5, 5}));
    EXPECT_EQ(network.output_features(), 10);
}

TEST(ExampleModels, DropoutInANetworkRepeatsForASeedAndIsOffInEvaluation) {
    const ModelSpec spec = read_model_file(std::string(CONVNET_SOURCE_DIR) + "/models/cifar-example.model");
    Network first(spec), second(spec);
    first.initialize(17);
    second.initialize(17);
    Random random(8);
    Tensor batch(Shape{4, 3, 32, 32});
    fill_input(batch, InputKind::smooth, random);
    const Tensor& first_output = first.forward_train(batch);
    // A copy: the next forward_train reuses the buffer.
    const std::vector<float> first_logits(first_output.data(), first_output.data() + first_output.size());
    const Tensor& second_logits = second.forward_train(batch);
    for (std::int64_t i = 0; i < second_logits.size(); ++i) ASSERT_EQ(first_logits[static_cast<std::size_t>(i)], second_logits[i]) << i;
    // A second training step draws another mask; evaluation draws none and repeats exactly.
    const Tensor& next_logits = first.forward_train(batch);
    bool changed = false;
    for (std::int64_t i = 0; i < next_logits.size(); ++i) changed |= next_logits[i] != first_logits[static_cast<std::size_t>(i)];
    EXPECT_TRUE(changed);
    Tensor evaluated, evaluated_again;
    first.predict(batch, evaluated);
    first.predict(batch, evaluated_again);
    for (std::int64_t i = 0; i < evaluated.size(); ++i) ASSERT_EQ(evaluated[i], evaluated_again[i]) << i;
}

// What the rest of the library asks a layer instead of testing its type name: the summary's
// formula for a layer without a window, the fewest images a training batch needs, whether the
// outputs are probabilities.
TEST(LayerDescribesItself, OutputSizeFormulaIsTheSummarys) {
    const ModelSpec spec = read_model_file(std::filesystem::path(CONVNET_SOURCE_DIR) / kAllLayersModel);
    const std::vector<LayerPlan> plans = plan_model(spec);
    const ModelSummary summary = summarize_model(spec);
    ASSERT_EQ(summary.rows.size(), plans.size());
    int formulas = 0;
    for (std::size_t i = 0; i < plans.size(); ++i) {
        if (plans[i].layer->sliding_window()) continue;
        const std::string formula = plans[i].layer->output_size_formula(plans[i].input, plans[i].output);
        EXPECT_EQ(formula, summary.rows[i].formula) << plans[i].name;
        formulas += !formula.empty();
    }
    EXPECT_EQ(formulas, 4);  // flatten, convtranspose2d, both upsample2d
    EXPECT_EQ(make_layer("flatten", Shape{32, 7, 7}).layer().output_size_formula(Shape{1, 32, 7, 7}, Shape{1, 1568}), "7·7·32 = 1568");
}

TEST(LayerDescribesItself, MinimumTrainingBatchAsTheNetworkSays) {
    for (const auto& [model, minimum] :
         {std::pair{"input 4\nbatchnorm1d\n", 2}, std::pair{"input 3x1x1\nbatchnorm2d\n", 2}, std::pair{"input 3x2x1\nbatchnorm2d\n", 1},
          std::pair{"input 4\nlinear out=2\n", 1}, std::pair{"input 2x3x3\nconv2d out=4 kernel=3\nbatchnorm2d\n", 2}}) {
        const Network network(parse_model(model, "m.model"));
        std::int64_t largest = 1;
        for (std::size_t i = 0; i < network.layer_count(); ++i)
            largest = std::max(largest, network.layer(i).minimum_training_batch(network.layer_plan(i).input));
        EXPECT_EQ(largest, minimum) << model;
        EXPECT_EQ(network.minimum_training_batch(), minimum) << model;
    }
}

TEST(LayerDescribesItself, OnlySoftmaxOutputsProbabilities) {
    const std::vector<LayerPlan> plans = plan_model(read_model_file(std::filesystem::path(CONVNET_SOURCE_DIR) / kAllLayersModel));
    for (const LayerPlan& plan : plans) EXPECT_EQ(plan.layer->outputs_probabilities(), plan.layer->type() == "softmax") << plan.name;
}

}  // namespace
}  // namespace convnet::testing
