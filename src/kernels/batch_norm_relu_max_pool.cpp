// The fused batch norm, ReLU and 2×2 max pooling of batch_norm_relu_max_pool.h, in AVX2: a
// channel block's 8 or 16 lanes are one or two vectors, so every pixel is a vector operation.
// Forward: a sweep for the statistics, a sweep that normalises each window's four pixels, keeps
// the largest (and which it was) and writes only the pooled value. Backward: a sweep over the
// pooled gradient alone for the two sums, and a sweep that writes the input gradient. The threads
// split the batch and add their sums in a fixed order, so results depend on the thread count,
// never on timing.
#include "batch_norm_relu_max_pool.h"
#include "avx2.h"

#include <convnet/core/error.h>

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <string>
#include <type_traits>

namespace convnet::kernels {

namespace {

constexpr float kNoWinner = 4.0f;  // the winner code of a window whose maximum was 0

// Per-lane float values of channel group g (lanes 8g .. 8g + 7), 0 past the channels.
struct LaneValues {
    alignas(32) float values[kLanes];
};

template <typename Value>
LaneValues lanes_of(std::int64_t group, std::int64_t channels, const Value& value) {
    LaneValues lanes{};
    for (std::int64_t l = 0; l < kLanes; ++l) {
        const std::int64_t c = group * kLanes + l;
        lanes.values[l] = c < channels ? static_cast<float>(value(c)) : 0.0f;
    }
    return lanes;
}

// All bits set in the lanes of channels that exist, none past them.
LaneValues lane_mask(std::int64_t group, std::int64_t channels) {
    LaneValues mask{};
    for (std::int64_t l = 0; l < kLanes; ++l) mask.values[l] = std::bit_cast<float>(group * kLanes + l < channels ? ~0u : 0u);
    return mask;
}

// Adds the 8 float lanes of `v` to 8 doubles.
__attribute__((target("avx2"))) inline void add_to_doubles(double* sums, __m256 v) {
    _mm256_storeu_pd(sums, _mm256_add_pd(_mm256_loadu_pd(sums), _mm256_cvtps_pd(_mm256_castps256_ps128(v))));
    _mm256_storeu_pd(sums + 4, _mm256_add_pd(_mm256_loadu_pd(sums + 4), _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1))));
}

// Σ(x − shift) and Σ(x − shift)² of one channel block over rows [0, height) of one image, added
// to sums[2h][lane] and sums[2h + 1][lane] for each half h (8 lanes) of the block.
template <int Halves>
__attribute__((target("avx2,fma"))) void block_moments(const float* block, std::int64_t height, std::int64_t width,
                                                       const LaneValues* shifts, double* sums) {
    constexpr std::int64_t size = Halves * kLanes;
    __m256 shift[Halves];
    for (int half = 0; half < Halves; ++half) shift[half] = _mm256_load_ps(shifts[half].values);
    for (std::int64_t h = 0; h < height; ++h) {
        const float* row = block + h * width * size;
        __m256 sum[Halves], squares[Halves];
        for (int half = 0; half < Halves; ++half) sum[half] = squares[half] = _mm256_setzero_ps();
        for (std::int64_t w = 0; w < width; ++w)
#pragma GCC unroll 2
            for (int half = 0; half < Halves; ++half) {
                const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(row + w * size + half * kLanes), shift[half]);
                sum[half] = _mm256_add_ps(sum[half], d);
                squares[half] = _mm256_fmadd_ps(d, d, squares[half]);
            }
        for (int half = 0; half < Halves; ++half) {
            add_to_doubles(sums + (2 * half) * kLanes, sum[half]);
            add_to_doubles(sums + (2 * half + 1) * kLanes, squares[half]);
        }
    }
}

// One window's forward for one half: the largest of the four normalised values, which it was,
// and its input value.
struct Winner {
    __m256 value, code, input;
};

__attribute__((target("avx2,fma"), always_inline)) inline Winner window_winner(const float* top, std::int64_t row_step,
                                                                               std::int64_t pixel_step, __m256 scale, __m256 shift) {
    const float* pixels[4] = {top, top + pixel_step, top + row_step, top + row_step + pixel_step};
    __m256 input = _mm256_loadu_ps(pixels[0]);
    Winner winner{_mm256_fmadd_ps(input, scale, shift), _mm256_setzero_ps(), input};
#pragma GCC unroll 3
    for (int k = 1; k < 4; ++k) {
        input = _mm256_loadu_ps(pixels[k]);
        const __m256 value = _mm256_fmadd_ps(input, scale, shift);
        // Strictly greater: the first maximum wins, as MaxPool2d's.
        const __m256 greater = _mm256_cmp_ps(value, winner.value, _CMP_GT_OQ);
        winner.value = _mm256_blendv_ps(winner.value, value, greater);
        winner.code = _mm256_blendv_ps(winner.code, _mm256_set1_ps(float(k)), greater);
        winner.input = _mm256_blendv_ps(winner.input, input, greater);
    }
    return winner;
}

// Per-channel constants of a sweep, for each half (8 lanes) of a channel block.
struct BlockConstants {
    const LaneValues* a;  // forward: scale; backward: weight·istd
    const LaneValues* b;  // forward: shift; backward: c0
    const LaneValues* c;  // forward: mean; backward: c1
    const LaneValues* d;  // forward: istd; backward: unused
    const LaneValues* mask;
};

// The forward of one image's channel block: each window's maximum of relu(x·scale + shift), and
// for backward which pixel it was (or kNoWinner) and that pixel's x̂ = (x − mean)·istd.
template <int Halves>
__attribute__((target("avx2,fma"))) void forward_block(const float* input, std::int64_t width, std::int64_t output_height,
                                                       std::int64_t output_width, const BlockConstants& k, float* output, float* code,
                                                       float* xhat) {
    constexpr std::int64_t size = Halves * kLanes;
    __m256 scale[Halves], shift[Halves], mean[Halves], inverse_std[Halves], mask[Halves];
    for (int half = 0; half < Halves; ++half) {
        scale[half] = _mm256_load_ps(k.a[half].values);
        shift[half] = _mm256_load_ps(k.b[half].values);
        mean[half] = _mm256_load_ps(k.c[half].values);
        inverse_std[half] = _mm256_load_ps(k.d[half].values);
        mask[half] = _mm256_load_ps(k.mask[half].values);
    }
    const __m256 zero = _mm256_setzero_ps(), no_winner = _mm256_set1_ps(kNoWinner);
    for (std::int64_t oh = 0; oh < output_height; ++oh)
        for (std::int64_t ow = 0; ow < output_width; ++ow) {
            const float* top = input + (2 * oh * width + 2 * ow) * size;
            const std::int64_t at = (oh * output_width + ow) * size;
#pragma GCC unroll 2
            for (int half = 0; half < Halves; ++half) {
                const Winner winner = window_winner(top + half * kLanes, width * size, size, scale[half], shift[half]);
                const __m256 active = _mm256_and_ps(_mm256_cmp_ps(winner.value, zero, _CMP_GT_OQ), mask[half]);
                _mm256_storeu_ps(output + at + half * kLanes, _mm256_and_ps(winner.value, active));
                _mm256_storeu_ps(code + at + half * kLanes, _mm256_blendv_ps(no_winner, winner.code, active));
                _mm256_storeu_ps(xhat + at + half * kLanes, _mm256_mul_ps(_mm256_sub_ps(winner.input, mean[half]), inverse_std[half]));
            }
        }
}

// Σdy and Σdy·x̂ of one image's channel block from the pooled gradient: dy is the gradient at
// each window's winner, where there is one.
template <int Halves>
__attribute__((target("avx2,fma"))) void gradient_sums_block(const float* grad_output, const float* code, const float* xhat,
                                                             std::int64_t output_height, std::int64_t output_width, double* sums) {
    constexpr std::int64_t size = Halves * kLanes;
    const __m256 no_winner = _mm256_set1_ps(kNoWinner);
    for (std::int64_t oh = 0; oh < output_height; ++oh) {
        __m256 sum[Halves], products[Halves];
        for (int half = 0; half < Halves; ++half) sum[half] = products[half] = _mm256_setzero_ps();
        for (std::int64_t ow = 0; ow < output_width; ++ow) {
            const std::int64_t at = (oh * output_width + ow) * size;
#pragma GCC unroll 2
            for (int half = 0; half < Halves; ++half) {
                const std::int64_t i = at + half * kLanes;
                const __m256 winner = _mm256_cmp_ps(_mm256_loadu_ps(code + i), no_winner, _CMP_LT_OQ);
                const __m256 dy = _mm256_and_ps(_mm256_loadu_ps(grad_output + i), winner);
                sum[half] = _mm256_add_ps(sum[half], dy);
                products[half] = _mm256_fmadd_ps(dy, _mm256_loadu_ps(xhat + i), products[half]);
            }
        }
        for (int half = 0; half < Halves; ++half) {
            add_to_doubles(sums + (2 * half) * kLanes, sum[half]);
            add_to_doubles(sums + (2 * half + 1) * kLanes, products[half]);
        }
    }
}

// c0 + c1·x: the input gradient of a pixel that received no gradient.
__attribute__((target("avx2,fma"), always_inline)) inline __m256 gradient_without_dy(const float* x, __m256 c1, __m256 c0) {
    return _mm256_fmadd_ps(_mm256_loadu_ps(x), c1, c0);
}

// The input gradient of one image's channel block: dx = weight·istd·dy + c0 + c1·x, with dy the
// pooled gradient at each window's winner and 0 elsewhere (the odd last row and column too).
template <int Halves>
__attribute__((target("avx2,fma"))) void input_gradient_block(const float* input, const float* grad_output, const float* code,
                                                              std::int64_t height, std::int64_t width, std::int64_t output_height,
                                                              std::int64_t output_width, const BlockConstants& k, float* grad_input) {
    constexpr std::int64_t size = Halves * kLanes;
    __m256 factor[Halves], c0[Halves], c1[Halves], mask[Halves];
    for (int half = 0; half < Halves; ++half) {
        factor[half] = _mm256_load_ps(k.a[half].values);
        c0[half] = _mm256_load_ps(k.b[half].values);
        c1[half] = _mm256_load_ps(k.c[half].values);
        mask[half] = _mm256_load_ps(k.mask[half].values);
    }
    for (std::int64_t oh = 0; oh < output_height; ++oh)
        for (std::int64_t ow = 0; ow < output_width; ++ow) {
            const std::int64_t top = (2 * oh * width + 2 * ow) * size, at = (oh * output_width + ow) * size;
            const std::int64_t pixels[4] = {top, top + size, top + width * size, top + width * size + size};
#pragma GCC unroll 2
            for (int half = 0; half < Halves; ++half) {
                const __m256 winner = _mm256_loadu_ps(code + at + half * kLanes);
                const __m256 scaled = _mm256_mul_ps(_mm256_loadu_ps(grad_output + at + half * kLanes), factor[half]);
#pragma GCC unroll 4
                for (int p = 0; p < 4; ++p) {
                    const __m256 dy = _mm256_and_ps(_mm256_cmp_ps(winner, _mm256_set1_ps(float(p)), _CMP_EQ_OQ), scaled);
                    const __m256 dx = _mm256_add_ps(gradient_without_dy(input + pixels[p] + half * kLanes, c1[half], c0[half]), dy);
                    _mm256_storeu_ps(grad_input + pixels[p] + half * kLanes, _mm256_and_ps(dx, mask[half]));
                }
            }
        }
    // Pixels in no window: the odd last column of the covered rows, then the odd last row.
    for (std::int64_t h = 0; h < height; ++h)
        for (std::int64_t w = h < 2 * output_height ? 2 * output_width : 0; w < width; ++w)
            for (int half = 0; half < Halves; ++half) {
                const std::int64_t at = (h * width + w) * size + half * kLanes;
                _mm256_storeu_ps(grad_input + at, _mm256_and_ps(gradient_without_dy(input + at, c1[half], c0[half]), mask[half]));
            }
}

}  // namespace

bool batch_norm_relu_max_pool_available() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

bool halving_window(const SlidingWindow& w) {
    return w.kernel_height == 2 && w.kernel_width == 2 && w.stride_height == 2 && w.stride_width == 2 && w.padding_height == 0 &&
           w.padding_width == 0 && w.dilation_height == 1 && w.dilation_width == 1;
}

BatchNormReluMaxPool::BatchNormReluMaxPool(const BatchNormPoolGeometry& geometry) : geometry_(geometry) {
    const BatchNormPoolGeometry& g = geometry_;
    const auto positive = [](std::int64_t value, const char* name) {
        if (value <= 0)
            throw Error(std::string("batch norm + max pool kernel: ") + name + " must be positive, not " + std::to_string(value));
    };
    positive(g.batch, "batch");
    positive(g.channels, "channels");
    positive(g.height, "height");
    positive(g.width, "width");
    if (g.height < 2 || g.width < 2)
        throw Error("batch norm + max pool kernel: a 2x2 window needs a plane of at least 2x2, not " + std::to_string(g.height) + "x" +
                    std::to_string(g.width));
    if (g.block != 8 && g.block != 16)
        throw Error("batch norm + max pool kernel: the channel block must be 8 or 16, not " + std::to_string(g.block));
    if (!batch_norm_relu_max_pool_available()) throw Error("batch norm + max pool kernel: this CPU lacks AVX2 or FMA");
    groups_ = ceil_div(g.channels, g.block) * g.block / kLanes;
    const auto records = static_cast<std::size_t>(g.batch * groups_ * output_height() * output_width() * kLanes);
    winner_.resize(records);
    winner_xhat_.resize(records);
}

std::int64_t BatchNormReluMaxPool::group_offset(std::int64_t n, std::int64_t group, std::int64_t plane) const {
    const std::int64_t size = geometry_.block, per_block = size / kLanes;
    const std::int64_t blocks = groups_ / per_block;
    return (n * blocks + group / per_block) * plane * size + (group % per_block) * kLanes;
}

template <typename Body>
void BatchNormReluMaxPool::for_each_image_range(const Body& body) {
    const int threads = static_cast<int>(std::min<std::int64_t>(omp_get_max_threads(), geometry_.batch));
    if (thread_sums_.size() < static_cast<std::size_t>(threads)) thread_sums_.resize(static_cast<std::size_t>(threads));
    for (auto& sums : thread_sums_) sums.assign(static_cast<std::size_t>(2 * groups_ * kLanes), 0.0);
    int team = 1;
#pragma omp parallel num_threads(threads)
    {
        // The team may be smaller than asked (OMP_DYNAMIC): split by the team it got.
        const int size = omp_get_num_threads(), thread = omp_get_thread_num();
        if (thread == 0) team = size;
        body(thread_sums_[static_cast<std::size_t>(thread)].data(), geometry_.batch * thread / size, geometry_.batch * (thread + 1) / size);
    }
    team_ = team;
}

// body(sums, n, group, halves) for every image n and channel block (its first 8-lane group and,
// as std::integral_constant, its 8-lane halves), on the threads of for_each_image_range; sums are
// the thread's, at the block's first group.
template <typename Body>
void BatchNormReluMaxPool::for_each_block(const Body& body) {
    const std::int64_t step = geometry_.block / kLanes;
    for_each_image_range([&](double* sums, std::int64_t first, std::int64_t last) {
        for (std::int64_t n = first; n < last; ++n)
            for (std::int64_t group = 0; group < groups_; group += step) {
                double* block_sums = sums + 2 * group * kLanes;
                if (step == 2) body(block_sums, n, group, std::integral_constant<int, 2>{});
                else body(block_sums, n, group, std::integral_constant<int, 1>{});
            }
    });
}

// thread_sums_ hold, per group, 8 lanes of the first sum then 8 of the second; adds them over
// the threads in order into C values each.
void BatchNormReluMaxPool::add_thread_sums(std::span<double> first, std::span<double> second) const {
    const auto& sums = thread_sums_;
    for (std::int64_t c = 0; c < geometry_.channels; ++c) {
        const std::int64_t group = c / kLanes, lane = c % kLanes;
        double a = 0.0, b = 0.0;
        for (int t = 0; t < team_; ++t) {
            a += sums[static_cast<std::size_t>(t)][static_cast<std::size_t>((2 * group) * kLanes + lane)];
            b += sums[static_cast<std::size_t>(t)][static_cast<std::size_t>((2 * group + 1) * kLanes + lane)];
        }
        first[static_cast<std::size_t>(c)] = a;
        second[static_cast<std::size_t>(c)] = b;
    }
}

void BatchNormReluMaxPool::statistics(const float* input, std::span<double> mean, std::span<double> variance) {
    const BatchNormPoolGeometry& g = geometry_;
    const std::int64_t plane = g.height * g.width;
    // Each channel's first value (image 0, pixel (0, 0)) as its shift.
    std::vector<LaneValues> shifts(static_cast<std::size_t>(groups_));
    for (std::int64_t group = 0; group < groups_; ++group)
        shifts[static_cast<std::size_t>(group)] =
            lanes_of(group, g.channels, [&](std::int64_t c) { return input[group_offset(0, group, plane) + c % kLanes]; });
    for_each_block([&](double* sums, std::int64_t n, std::int64_t group, auto halves) {
        block_moments<decltype(halves)::value>(input + group_offset(n, group, plane), g.height, g.width, shifts.data() + group, sums);
    });
    std::vector<double> sum(static_cast<std::size_t>(g.channels)), squares(static_cast<std::size_t>(g.channels));
    add_thread_sums(sum, squares);
    const double count = double(this->count());
    for (std::int64_t c = 0; c < g.channels; ++c) {
        const auto i = static_cast<std::size_t>(c);
        const double shifted_mean = sum[i] / count;
        mean[i] = double(shifts[static_cast<std::size_t>(c / kLanes)].values[c % kLanes]) + shifted_mean;
        variance[i] = std::max(0.0, squares[i] / count - shifted_mean * shifted_mean);
    }
}

void BatchNormReluMaxPool::forward(const float* input, const float* weight, const float* bias, std::span<const double> mean,
                                   std::span<const double> variance, double epsilon, float* output) {
    const BatchNormPoolGeometry& g = geometry_;
    std::vector<LaneValues> scale, shift, mean_lanes, inverse_std, mask;
    for (std::int64_t group = 0; group < groups_; ++group) {
        const auto istd = [&](std::int64_t c) { return 1.0 / std::sqrt(variance[static_cast<std::size_t>(c)] + epsilon); };
        const auto scale_of = [&](std::int64_t c) { return double(weight[c]) * istd(c); };
        scale.push_back(lanes_of(group, g.channels, scale_of));
        shift.push_back(
            lanes_of(group, g.channels, [&](std::int64_t c) { return bias[c] - mean[static_cast<std::size_t>(c)] * scale_of(c); }));
        mean_lanes.push_back(lanes_of(group, g.channels, [&](std::int64_t c) { return mean[static_cast<std::size_t>(c)]; }));
        inverse_std.push_back(lanes_of(group, g.channels, istd));
        mask.push_back(lane_mask(group, g.channels));
    }
    const std::int64_t plane = g.height * g.width, pooled = output_height() * output_width();
    for_each_block([&](double*, std::int64_t n, std::int64_t group, auto halves) {
        const auto i = static_cast<std::size_t>(group);
        const BlockConstants k{&scale[i], &shift[i], &mean_lanes[i], &inverse_std[i], &mask[i]};
        const std::int64_t out = group_offset(n, group, pooled);
        forward_block<decltype(halves)::value>(input + group_offset(n, group, plane), g.width, output_height(), output_width(), k,
                                               output + out, winner_.data() + out, winner_xhat_.data() + out);
    });
}

void BatchNormReluMaxPool::gradient_sums(const float* grad_output, std::span<double> sum_dy, std::span<double> sum_dy_xhat) {
    const std::int64_t pooled = output_height() * output_width();
    for_each_block([&](double* sums, std::int64_t n, std::int64_t group, auto halves) {
        const std::int64_t at = group_offset(n, group, pooled);
        gradient_sums_block<decltype(halves)::value>(grad_output + at, winner_.data() + at, winner_xhat_.data() + at, output_height(),
                                                     output_width(), sums);
    });
    add_thread_sums(sum_dy, sum_dy_xhat);
}

void BatchNormReluMaxPool::input_gradient(const float* input, const float* grad_output, const float* weight, std::span<const double> mean,
                                          std::span<const double> variance, double epsilon, std::span<const double> sum_dy,
                                          std::span<const double> sum_dy_xhat, double count, float* grad_input) {
    const BatchNormPoolGeometry& g = geometry_;
    // dx = a·(dy − Σdy/M − x̂·Σ(dy·x̂)/M) with a = weight·istd and x̂ = (x − mean)·istd, as
    // a·dy + c0 + c1·x: c1 = −a·istd·Σ(dy·x̂)/M, c0 = −a·Σdy/M − c1·mean.
    std::vector<LaneValues> factor, c0, c1, mask;
    for (std::int64_t group = 0; group < groups_; ++group) {
        const auto a = [&](std::int64_t c) { return double(weight[c]) / std::sqrt(variance[static_cast<std::size_t>(c)] + epsilon); };
        const auto slope = [&](std::int64_t c) {
            const auto i = static_cast<std::size_t>(c);
            return -a(c) / std::sqrt(variance[i] + epsilon) * sum_dy_xhat[i] / count;
        };
        factor.push_back(lanes_of(group, g.channels, a));
        c1.push_back(lanes_of(group, g.channels, slope));
        c0.push_back(lanes_of(group, g.channels, [&](std::int64_t c) {
            const auto i = static_cast<std::size_t>(c);
            return -a(c) * sum_dy[i] / count - slope(c) * mean[i];
        }));
        mask.push_back(lane_mask(group, g.channels));
    }
    const std::int64_t plane = g.height * g.width, pooled = output_height() * output_width();
    for_each_block([&](double*, std::int64_t n, std::int64_t group, auto halves) {
        const auto i = static_cast<std::size_t>(group);
        const BlockConstants k{&factor[i], &c0[i], &c1[i], nullptr, &mask[i]};
        const std::int64_t at = group_offset(n, group, plane), out = group_offset(n, group, pooled);
        input_gradient_block<decltype(halves)::value>(input + at, grad_output + out, winner_.data() + out, g.height, g.width,
                                                      output_height(), output_width(), k, grad_input + at);
    });
}

}  // namespace convnet::kernels
