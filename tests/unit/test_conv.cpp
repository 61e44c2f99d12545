// Conv2d's fast path (im2col + GEMM, one GEMM per group) against its reference loops, on several
// geometries including groups and depthwise; and what groups means, checked independently: a
// grouped convolution equals separate convolutions over the channel blocks.
#include "layer_harness.h"

#include <convnet/core/error.h>
#include <convnet/nn/layers/conv2d.h>

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

namespace convnet::testing {
namespace {

// Expects |actual − expected| ≤ 1e-4 + 1e-4·|expected| everywhere; reports the worst and first few.
void expect_close(const std::string& what, const float* actual, const float* expected, std::int64_t count) {
    double worst = 0.0;
    int failed = 0;
    std::ostringstream failures;
    for (std::int64_t i = 0; i < count; ++i) {
        const double difference = std::abs(double(actual[i]) - expected[i]);
        worst = std::max(worst, difference);
        if (difference > 1e-4 + 1e-4 * std::abs(expected[i]) && failed++ < 5)
            failures << "  [" << i << "] " << actual[i] << " vs " << expected[i] << "\n";
    }
    EXPECT_EQ(failed, 0) << what << ": " << failed << " of " << count << " values off, max |difference| " << worst << "\n"
                         << failures.str();
}

struct ConvCase {
    std::string line;
    Shape input;  // with batch
};

std::ostream& operator<<(std::ostream& out, const ConvCase& c) { return out << c.line << " on " << c.input.to_string(); }

class ConvFastPath : public ::testing::TestWithParam<ConvCase> {};

TEST_P(ConvFastPath, MatchesReferenceLoops) {
    const ConvCase& c = GetParam();
    std::vector<std::int64_t> sample(c.input.dims().begin() + 1, c.input.dims().end());
    BoundLayer bound = make_layer(c.line, Shape(sample));
    auto& conv = dynamic_cast<Conv2d&>(bound.layer());
    Random random(11);
    conv.initialize(random);
    Tensor input(c.input);
    fill_input(input, InputKind::smooth, random);

    Tensor fast_output, reference_output;
    conv.forward(input, fast_output);
    conv.forward_reference(input, reference_output);
    ASSERT_EQ(fast_output.shape(), reference_output.shape());
    expect_close("forward", fast_output.data(), reference_output.data(), fast_output.size());

    Tensor grad_output(fast_output.shape());
    fill_input(grad_output, InputKind::smooth, random);
    Tensor fast_grad_input, reference_grad_input;
    conv.backward(input, fast_output, grad_output, &fast_grad_input);
    const std::span<float> grads = bound.arena.gradients();
    const std::vector<float> fast_parameter_grads(grads.begin(), grads.end());
    std::fill(grads.begin(), grads.end(), -7.0f);  // the reference must overwrite
    conv.backward_reference(input, grad_output, &reference_grad_input);
    ASSERT_EQ(fast_grad_input.shape(), input.shape());
    ASSERT_EQ(reference_grad_input.shape(), input.shape());
    expect_close("grad_input", fast_grad_input.data(), reference_grad_input.data(), input.size());
    expect_close("parameter grads", fast_parameter_grads.data(), grads.data(), static_cast<std::int64_t>(grads.size()));

    // Without grad_input (the first layer) the parameter gradients are the same.
    std::fill(grads.begin(), grads.end(), -7.0f);
    conv.backward(input, fast_output, grad_output, nullptr);
    expect_close("parameter grads without grad_input", grads.data(), fast_parameter_grads.data(), static_cast<std::int64_t>(grads.size()));
}

INSTANTIATE_TEST_SUITE_P(Geometries, ConvFastPath,
                         ::testing::Values(ConvCase{"conv2d out=6 kernel=5", Shape{2, 3, 32, 32}},  // the seed article's RGB example
                                           ConvCase{"conv2d out=4 kernel=3 stride=2 pad=1", Shape{3, 2, 9, 7}},
                                           ConvCase{"conv2d out=5 kernel=2x4 stride=1x3 pad=1x2 dilation=2x1", Shape{2, 3, 8, 11}},
                                           ConvCase{"conv2d out=3 kernel=1 bias=false", Shape{5, 4, 3, 3}},
                                           ConvCase{"conv2d out=6 kernel=3 groups=2", Shape{2, 4, 7, 6}},
                                           ConvCase{"conv2d out=8 kernel=3x2 stride=2 pad=1 groups=4", Shape{3, 8, 9, 8}},
                                           ConvCase{"conv2d out=5 kernel=3 pad=1 groups=5", Shape{2, 5, 6, 7}},  // depthwise
                                           ConvCase{"conv2d out=6 kernel=3 pad=2 dilation=2 groups=3 bias=false", Shape{1, 3, 5, 5}},
                                           ConvCase{"conv2d out=12 kernel=3 stride=2 groups=3", Shape{4, 6, 13, 10}}));

// A grouped convolution is G independent convolutions: output block g from input block g with
// weight rows block g. Built from groups=1 layers, this checks the meaning of groups, not just
// that two implementations agree.
TEST(ConvGroups, EqualSeparateConvolutionsOverChannelBlocks) {
    const std::int64_t groups = 3, in_per_group = 2, out_per_group = 2, batch = 2, height = 7, width = 6;
    BoundLayer grouped = make_layer("conv2d out=6 kernel=3 stride=2 pad=1 groups=3", Shape{groups * in_per_group, height, width});
    Random random(5);
    grouped.layer().initialize(random);
    ASSERT_EQ(grouped.layer().parameters()[0].shape, (Shape{6, in_per_group, 3, 3}));  // (out, in/groups, kh, kw)
    Tensor input(Shape{batch, groups * in_per_group, height, width});
    fill_input(input, InputKind::smooth, random);
    Tensor grouped_output;
    grouped.layer().forward(input, grouped_output);

    const std::int64_t weights_per_group = out_per_group * in_per_group * 9;
    for (std::int64_t group = 0; group < groups; ++group) {
        BoundLayer single = make_layer("conv2d out=2 kernel=3 stride=2 pad=1", Shape{in_per_group, height, width});
        std::copy_n(grouped.layer().parameters()[0].value + group * weights_per_group, weights_per_group,
                    single.layer().parameters()[0].value);
        std::copy_n(grouped.layer().parameters()[1].value + group * out_per_group, out_per_group, single.layer().parameters()[1].value);
        Tensor block(Shape{batch, in_per_group, height, width});
        for (std::int64_t n = 0; n < batch; ++n)
            std::copy_n(input.data() + (n * groups + group) * in_per_group * height * width, in_per_group * height * width,
                        block.data() + n * in_per_group * height * width);
        Tensor block_output;
        single.layer().forward(block, block_output);
        const std::int64_t out_pixels = block_output.shape()[2] * block_output.shape()[3];
        for (std::int64_t n = 0; n < batch; ++n)
            expect_close("group " + std::to_string(group) + " image " + std::to_string(n),
                         grouped_output.data() + (n * groups + group) * out_per_group * out_pixels,
                         block_output.data() + n * out_per_group * out_pixels, out_per_group * out_pixels);
    }
}

TEST(ConvGroups, ChannelsNotDivisibleByGroupsAreRefusedWithTheNumbers) {
    auto message_of = [](const std::string& line, const Shape& sample) {
        try {
            make_layer(line, sample);
        } catch (const Error& error) {
            return std::string(error.what());
        }
        return std::string("no error");
    };
    const std::string in_message = message_of("conv2d out=4 kernel=3 groups=2", Shape{3, 8, 8});
    EXPECT_NE(in_message.find("in_channels (3) must be divisible by groups (2)"), std::string::npos) << in_message;
    EXPECT_NE(in_message.find("test:2"), std::string::npos) << in_message;  // the model-file line
    const std::string out_message = message_of("conv2d out=5 kernel=3 groups=2", Shape{4, 8, 8});
    EXPECT_NE(out_message.find("out_channels (5) must be divisible by groups (2)"), std::string::npos) << out_message;
    // The constructor refuses too, for code that builds layers without a model file.
    Conv2dOptions options;
    options.in_channels = 6;
    options.out_channels = 4;
    options.groups = 4;
    EXPECT_THROW(Conv2d{options}, Error);
}

TEST(ConvGroups, OptionsTextAndCostReflectGroups) {
    BoundLayer depthwise = make_layer("conv2d out=8 kernel=3 pad=1 groups=8", Shape{8, 10, 10});
    EXPECT_EQ(depthwise.layer().options_text(), "out=8 kernel=3 pad=1 groups=8");
    EXPECT_EQ(depthwise.layer().parameter_count(ParameterRole::trainable), 8 * 1 * 9 + 8);
    EXPECT_EQ(depthwise.layer().multiply_adds(Shape{1, 8, 10, 10}), 8 * 10 * 10 * 9);
    BoundLayer plain = make_layer("conv2d out=8 kernel=3", Shape{8, 10, 10});
    EXPECT_EQ(plain.layer().options_text(), "out=8 kernel=3");
}

}  // namespace
}  // namespace convnet::testing
