// The AVX2 weight-gradient kernel for convolutions with few input channels
// (src/kernels/conv_weight_grad.h) against Conv2d's reference loops: square and oblong kernels,
// strides, padding, output channels that do not fill a block of 8, one and two threads.
#include "blocked_layout.h"
#include "layer_harness.h"

#include "../../src/kernels/conv_weight_grad.h"

#include <convnet/core/error.h>
#include <convnet/nn/layers/conv2d.h>

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <limits>

namespace convnet::testing {
namespace {

struct WeightGradCase {
    std::string line;
    Shape input;  // with batch
    int threads;
    kernels::ConvWeightGradLayout layout{};
};

std::ostream& operator<<(std::ostream& out, const WeightGradCase& c) {
    return out << c.line << " on " << c.input.to_string() << ", " << c.threads << " threads, input block " << c.layout.input_block
               << ", grad_output block " << c.layout.grad_output_block;
}

class ConvWeightGradKernel : public ::testing::TestWithParam<WeightGradCase> {};

TEST_P(ConvWeightGradKernel, MatchesReferenceLoops) {
    if (!kernels::conv_weight_grad_available()) GTEST_SKIP() << "no AVX2 and FMA on this CPU";
    const WeightGradCase& c = GetParam();
    std::vector<std::int64_t> sample(c.input.dims().begin() + 1, c.input.dims().end());
    BoundLayer bound = make_layer(c.line, Shape(sample));
    auto& conv = dynamic_cast<Conv2d&>(bound.layer());
    Random random(17);
    conv.initialize(random);
    Tensor input(c.input), output;
    fill_input(input, InputKind::smooth, random);
    conv.forward_reference(input, output);
    Tensor grad_output(output.shape());
    fill_input(grad_output, InputKind::smooth, random);
    conv.backward_reference(input, grad_output, nullptr);
    const Parameter& weight = conv.weight();
    const std::vector<float> expected_weight(weight.grad, weight.grad + weight.shape.element_count());
    const std::int64_t out_channels = conv.options().out_channels;
    std::vector<float> grad_weight(static_cast<std::size_t>(weight.shape.element_count()), -7.0f);
    std::vector<float> grad_bias(static_cast<std::size_t>(out_channels), -7.0f);
    const int threads = omp_get_max_threads();
    omp_set_num_threads(c.threads);
    kernels::ConvWeightGrad kernel(Conv2dGeometry::of(conv.options(), conv.options().groups, input.shape(), output.shape()), c.layout);
    const std::vector<float> blocked_input = to_blocked(input, c.layout.input_block);
    const std::vector<float> blocked_grad = to_blocked(grad_output, c.layout.grad_output_block);
    kernel.run(blocked_input.data(), blocked_grad.data(), grad_weight.data(), conv.bias() ? grad_bias.data() : nullptr);
    omp_set_num_threads(threads);

    expect_close_to_largest("grad_weight", grad_weight.data(), expected_weight.data(), weight.shape.element_count(), 1e-5);
    if (conv.bias()) expect_close_to_largest("grad_bias", grad_bias.data(), conv.bias()->grad, out_channels, 1e-5);
    EXPECT_EQ(kernel.multiply_adds(), conv.multiply_adds(c.input.with_batch(1)) * c.input[0]);
}

INSTANTIATE_TEST_SUITE_P(
    Geometries, ConvWeightGradKernel,
    ::testing::Values(WeightGradCase{"conv2d out=16 kernel=5 pad=2 bias=false", Shape{7, 1, 28, 28}, 2},  // convnet1's conv1
                      WeightGradCase{"conv2d out=16 kernel=5 pad=2", Shape{3, 1, 28, 28}, 1},
                      WeightGradCase{"conv2d out=6 kernel=3", Shape{5, 3, 9, 11}, 2},                   // 6 of a block's 8 lanes
                      WeightGradCase{"conv2d out=20 kernel=7 stride=2 pad=3", Shape{3, 2, 15, 13}, 2},  // 7 columns: tiles of 4 and 3
                      WeightGradCase{"conv2d out=9 kernel=2x4 stride=1x3 pad=1x2", Shape{4, 1, 8, 11}, 1},
                      WeightGradCase{"conv2d out=8 kernel=1", Shape{2, 4, 5, 5}, 2},
                      WeightGradCase{"conv2d out=3 kernel=3 stride=3", Shape{1, 1, 10, 10}, 2},  // a batch of one on two threads
                      WeightGradCase{"conv2d out=12 kernel=13x2", Shape{2, 1, 14, 6}, 2},        // 13 rows: tiles of 4, 4, 4, 1
                      // oneDNN's 16-channel blocks (AVX-512) for the gradient, blocked inputs
                      WeightGradCase{"conv2d out=16 kernel=3 pad=1", Shape{5, 1, 12, 12}, 2, {1, 16}},
                      WeightGradCase{"conv2d out=20 kernel=5 stride=2 pad=2", Shape{3, 3, 11, 9}, 2, {8, 16}},  // 20 = 16 + 4
                      WeightGradCase{"conv2d out=9 kernel=3", Shape{2, 19, 7, 8}, 1, {16, 8}},  // 19 inputs: a second block of 3
                      WeightGradCase{"conv2d out=24 kernel=2", Shape{4, 2, 6, 6}, 2, {16, 16}},
                      // speedrun-91's conv2 on AVX-512: 8 input channels in 8-channel blocks
                      WeightGradCase{"conv2d out=16 kernel=3 pad=1", Shape{3, 8, 14, 14}, 2, {8, 16}}));

TEST(ConvWeightGradKernelGeometry, RefusesAnOutputTheInputCannotGive) {
    if (!kernels::conv_weight_grad_available()) GTEST_SKIP() << "no AVX2 and FMA on this CPU";
    // (2, 1, 28, 28) → (2, 16, 28, 28), kernel 5, stride 1, padding 2, dilation 1, groups 1
    const Conv2dGeometry valid{2, 1, 28, 28, 16, 28, 28, 5, 5, 1, 1, 2, 2, 1, 1, 1};
    EXPECT_NO_THROW(kernels::ConvWeightGrad{valid});
    Conv2dGeometry geometry = valid;
    geometry.out_height = 29;
    EXPECT_THROW(kernels::ConvWeightGrad{geometry}, Error);
    geometry = valid;
    geometry.stride_width = 0;
    EXPECT_THROW(kernels::ConvWeightGrad{geometry}, Error);
    geometry = valid;
    geometry.dilation_height = 2;
    EXPECT_THROW(kernels::ConvWeightGrad{geometry}, Error);
    geometry = valid;
    geometry.groups = 2;
    geometry.in_channels = 2;
    EXPECT_THROW(kernels::ConvWeightGrad{geometry}, Error);
}

}  // namespace
}  // namespace convnet::testing
