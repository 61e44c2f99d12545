// The fused batch norm + ReLU + 2×2 max pool kernel (src/kernels/batch_norm_relu_max_pool.h)
// against the reference layers BatchNorm, ReLU and MaxPool2d chained: the statistics, the pooled
// output, the parameter gradients and the input gradient, in 8- and 16-channel blocks, with
// channels that leave a block part-filled, odd planes (a row and column in no window), negative
// gammas (the window's smallest input wins), a large mean, exact ties in a window (the first
// maximum wins, as MaxPool2d), NaN in the input's padding lanes, and one and two threads.
#include "blocked_layout.h"
#include "layer_harness.h"

#include "../../src/kernels/batch_norm_relu_max_pool.h"

#include <convnet/core/error.h>
#include <convnet/nn/layers/batchnorm.h>

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>

namespace convnet::testing {
namespace {

struct PoolCase {
    Shape input;  // (N, C, H, W)
    std::int64_t block;
    int threads;
    float offset = 0.0f;       // added to every input: a mean far from 0
    bool ties = false;         // inputs on five levels: most windows hold equal values
    bool nan_padding = false;  // NaN in the input's lanes past C (oneDNN writes 0 there; nothing may read them)
};

std::ostream& operator<<(std::ostream& out, const PoolCase& c) {
    return out << c.input.to_string() << ", block " << c.block << ", " << c.threads << " threads, offset " << c.offset
               << (c.ties ? ", ties" : "") << (c.nan_padding ? ", NaN padding" : "");
}

class BatchNormReluMaxPoolKernel : public ::testing::TestWithParam<PoolCase> {};

TEST_P(BatchNormReluMaxPoolKernel, MatchesReferenceLayers) {
    if (!kernels::batch_norm_relu_max_pool_available()) GTEST_SKIP() << "no AVX2 and FMA on this CPU";
    const PoolCase& c = GetParam();
    const std::int64_t n = c.input[0], channels = c.input[1], height = c.input[2], width = c.input[3];
    const Shape sample{channels, height, width};
    BoundLayer norm_layer = make_layer("batchnorm2d", sample);
    BoundLayer relu_layer = make_layer("relu", sample);
    BoundLayer pool_layer = make_layer("maxpool2d kernel=2 stride=2", sample);
    auto& norm = dynamic_cast<BatchNorm&>(norm_layer.layer());
    Random random(23);
    // Gammas of both signs, away from 0; betas around 0.
    for (std::int64_t k = 0; k < channels; ++k) {
        const float magnitude = random.uniform(0.5f, 1.5f);
        norm.weight().value[k] = k % 3 == 1 ? -magnitude : magnitude;
        norm.bias().value[k] = random.uniform(-0.5f, 0.5f);
    }
    Tensor input(c.input);
    fill_input(input, c.ties ? InputKind::smooth : InputKind::distinct, random);  // distinct: no near ties in a window
    for (std::int64_t i = 0; i < input.size(); ++i) input[i] = (c.ties ? std::round(2.0f * input[i]) / 2.0f : input[i]) + c.offset;

    Tensor normalized, rectified, pooled;
    norm.forward_train(input, normalized);
    relu_layer.layer().forward_train(normalized, rectified);
    pool_layer.layer().forward_train(rectified, pooled);
    Tensor grad_pooled(pooled.shape()), grad_rectified, grad_normalized, grad_input;
    fill_input(grad_pooled, InputKind::smooth, random);
    pool_layer.layer().backward(rectified, pooled, grad_pooled, &grad_rectified);
    relu_layer.layer().backward(normalized, rectified, grad_rectified, &grad_normalized);
    norm.backward(input, normalized, grad_normalized, &grad_input);

    // The batch's statistics, in double.
    const std::int64_t plane = height * width;
    std::vector<double> expected_mean(static_cast<std::size_t>(channels)), expected_variance(static_cast<std::size_t>(channels));
    for (std::int64_t k = 0; k < channels; ++k) {
        double sum = 0.0, squares = 0.0;
        for (std::int64_t i = 0; i < n; ++i)
            for (std::int64_t p = 0; p < plane; ++p) sum += input[(i * channels + k) * plane + p];
        const double mean = sum / double(n * plane);
        for (std::int64_t i = 0; i < n; ++i)
            for (std::int64_t p = 0; p < plane; ++p) squares += std::pow(input[(i * channels + k) * plane + p] - mean, 2);
        expected_mean[static_cast<std::size_t>(k)] = mean;
        expected_variance[static_cast<std::size_t>(k)] = squares / double(n * plane);
    }

    const int threads = omp_get_max_threads();
    omp_set_num_threads(c.threads);
    kernels::BatchNormReluMaxPool kernel({n, channels, height, width, c.block});
    ASSERT_EQ(kernel.output_height(), pooled.shape()[2]);
    ASSERT_EQ(kernel.output_width(), pooled.shape()[3]);
    ASSERT_EQ(kernel.count(), n * plane);
    const std::vector<float> blocked_input = to_blocked(input, c.block, c.nan_padding ? std::nanf("") : 0.0f);
    std::vector<double> mean(static_cast<std::size_t>(channels)), variance(static_cast<std::size_t>(channels));
    kernel.statistics(blocked_input.data(), mean, variance);
    std::vector<float> blocked_output(to_blocked(pooled, c.block).size(), -7.0f);
    const double epsilon = norm.options().eps;
    kernel.forward(blocked_input.data(), norm.weight().value, norm.bias().value, mean, variance, epsilon, blocked_output.data());
    std::vector<double> sum_dy(static_cast<std::size_t>(channels)), sum_dy_xhat(static_cast<std::size_t>(channels));
    const std::vector<float> blocked_grad = to_blocked(grad_pooled, c.block);  // NaN past C: ignored
    kernel.gradient_sums(blocked_grad.data(), sum_dy, sum_dy_xhat);
    std::vector<float> blocked_grad_input(blocked_input.size(), -7.0f);
    kernel.input_gradient(blocked_input.data(), blocked_grad.data(), norm.weight().value, mean, variance, epsilon, sum_dy, sum_dy_xhat,
                          double(kernel.count()), blocked_grad_input.data());
    omp_set_num_threads(threads);

    for (std::int64_t k = 0; k < channels; ++k) {
        const auto i = static_cast<std::size_t>(k);
        EXPECT_NEAR(mean[i], expected_mean[i], 1e-6 * (1.0 + std::abs(expected_mean[i]))) << "mean of channel " << k;
        EXPECT_NEAR(variance[i], expected_variance[i], 1e-5 * expected_variance[i]) << "variance of channel " << k;
    }
    const Tensor output = from_blocked(blocked_output, pooled.shape(), c.block);
    expect_close_to_largest("output", output.data(), pooled.data(), pooled.size(), 2e-5);
    std::vector<float> grad_bias(sum_dy.begin(), sum_dy.end()), grad_weight(sum_dy_xhat.begin(), sum_dy_xhat.end());
    expect_close_to_largest("grad bias", grad_bias.data(), norm.bias().grad, channels, 2e-5);
    expect_close_to_largest("grad weight", grad_weight.data(), norm.weight().grad, channels, 1e-4);
    const Tensor kernel_grad_input = from_blocked(blocked_grad_input, input.shape(), c.block);
    expect_close_to_largest("grad input", kernel_grad_input.data(), grad_input.data(), input.size(), 1e-4);
    // Lanes past the channels are written as 0 (oneDNN's padded layouts expect it).
    const std::int64_t blocks = (channels + c.block - 1) / c.block, pooled_plane = output.shape()[2] * output.shape()[3];
    for (std::int64_t i = 0; i < n; ++i) {
        const std::int64_t last = i * blocks + blocks - 1;  // the image's last block holds the padding
        for (std::int64_t lane = channels - (blocks - 1) * c.block; lane < c.block; ++lane) {
            ASSERT_EQ(blocked_output[static_cast<std::size_t>(last * pooled_plane * c.block + lane)], 0.0f) << "padding lane " << lane;
            ASSERT_EQ(blocked_grad_input[static_cast<std::size_t>(last * plane * c.block + lane)], 0.0f) << "padding lane " << lane;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Geometries, BatchNormReluMaxPoolKernel,
                         ::testing::Values(PoolCase{Shape{4, 16, 12, 12}, 16, 2},  // convnet1's first block, smaller
                                           PoolCase{Shape{3, 8, 14, 14}, 8, 2},    // speedrun-91's second, on AVX2
                                           PoolCase{Shape{5, 8, 9, 7}, 16, 2},     // 8 channels in 16 lanes; odd plane
                                           PoolCase{Shape{2, 20, 6, 5}, 8, 1},     // 20 = 8 + 8 + 4; odd width
                                           PoolCase{Shape{3, 3, 5, 6}, 8, 2},      // odd height
                                           PoolCase{Shape{1, 16, 2, 2}, 16, 2},    // a batch of one on two threads
                                           PoolCase{Shape{3, 24, 8, 8}, 16, 2, 50.0f},
                                           PoolCase{Shape{4, 16, 8, 8}, 16, 2, 0.0f, true},          // exact ties
                                           PoolCase{Shape{3, 12, 7, 9}, 8, 2, 0.0f, true, true},     // ties; NaN past C
                                           PoolCase{Shape{2, 5, 6, 6}, 16, 1, 0.0f, false, true}));  // NaN in 11 lanes

TEST(BatchNormReluMaxPoolKernelGeometry, RefusesWhatItCannotPool) {
    if (!kernels::batch_norm_relu_max_pool_available()) GTEST_SKIP() << "no AVX2 and FMA on this CPU";
    EXPECT_THROW(kernels::BatchNormReluMaxPool({2, 8, 1, 6, 8}), Error);  // no 2x2 window fits
    EXPECT_THROW(kernels::BatchNormReluMaxPool({2, 8, 6, 6, 4}), Error);  // block 4
    EXPECT_THROW(kernels::BatchNormReluMaxPool({0, 8, 6, 6, 8}), Error);
    EXPECT_THROW(kernels::BatchNormReluMaxPool({2, 0, 6, 6, 8}), Error);
}

}  // namespace
}  // namespace convnet::testing
