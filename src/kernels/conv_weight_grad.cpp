// The direct weight-gradient kernel of conv_weight_grad.h. For each image, input channel and block
// of 8 output channels it sweeps the output pixels once per tile of taps: a tile of R×C taps keeps
// R·C vector sums (8 output channels each) in registers, and each pixel costs one load of the
// 8 channels' gradient and R·C broadcast-FMAs of the input values the taps see. The input is
// copied into a zero-padded plane first, so the sweep has no bounds checks.
#include "conv_weight_grad.h"

#include <convnet/error.h>

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <string>
#include <utility>

namespace convnet::kernels {

namespace {

constexpr std::int64_t kLanes = kWeightGradChannelBlock;
// 16 AVX2 registers: at most 12 sums, the gradient vector, the broadcast value and spares.
constexpr int kMaxTileTaps = 12, kMaxTileRows = 4, kMaxTileColumns = 6;

// One sweep: the taps (kh0 + r, kw0 + c) for r < Rows, c < Columns, over one image, one input
// channel and one block of output channels.
struct Tile {
    const float* plane;  // the padded input plane at tap (kh0, kw0)
    std::int64_t plane_width;
    const float* grad_output;  // (OH, OW, 8): one image, one channel block
    std::int64_t output_height, output_width, stride_height, stride_width;
    float* sums;  // tap (kh0, kw0)'s 8 sums; tap (kh0 + r, kw0 + c)'s at sums + (r·KW + c)·8
    std::int64_t kernel_width;
};

template <int Rows, int Columns>
__attribute__((target("avx2,fma"))) void accumulate_tile(const Tile& tile) {
    __m256 sums[Rows][Columns];
#pragma GCC unroll 4
    for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 6
        for (int c = 0; c < Columns; ++c) sums[r][c] = _mm256_loadu_ps(tile.sums + (r * tile.kernel_width + c) * kLanes);
    const std::int64_t row_step = tile.stride_height * tile.plane_width;
    for (std::int64_t oh = 0; oh < tile.output_height; ++oh) {
        const float* row = tile.plane + oh * row_step;
        const float* grad = tile.grad_output + oh * tile.output_width * kLanes;
        for (std::int64_t ow = 0; ow < tile.output_width; ++ow) {
            const __m256 g = _mm256_loadu_ps(grad + ow * kLanes);
            const float* x = row + ow * tile.stride_width;
#pragma GCC unroll 4
            for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 6
                for (int c = 0; c < Columns; ++c)
                    sums[r][c] = _mm256_fmadd_ps(g, _mm256_broadcast_ss(x + r * tile.plane_width + c), sums[r][c]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 6
        for (int c = 0; c < Columns; ++c) _mm256_storeu_ps(tile.sums + (r * tile.kernel_width + c) * kLanes, sums[r][c]);
}

// The bias gradient of one image and channel block: the 8 channels' gradients summed over (OH, OW).
__attribute__((target("avx2,fma"))) void accumulate_bias(const float* grad_output, std::int64_t pixels, float* sums) {
    __m256 sum = _mm256_loadu_ps(sums);
    for (std::int64_t p = 0; p < pixels; ++p) sum = _mm256_add_ps(sum, _mm256_loadu_ps(grad_output + p * kLanes));
    _mm256_storeu_ps(sums, sum);
}

using TileFunction = void (*)(const Tile&);

template <int Rows, int Columns>
constexpr TileFunction tile_function() {
    if constexpr (Rows * Columns <= kMaxTileTaps) return &accumulate_tile<Rows, Columns>;
    else return nullptr;
}

template <int Rows, std::size_t... C>
constexpr std::array<TileFunction, kMaxTileColumns> tile_row(std::index_sequence<C...>) {
    return {tile_function<Rows, static_cast<int>(C) + 1>()...};
}

// kTiles[R − 1][C − 1]: the sweep of an R×C tile (null where R·C > kMaxTileTaps).
constexpr auto kColumnCounts = std::make_index_sequence<kMaxTileColumns>{};
constexpr std::array<std::array<TileFunction, kMaxTileColumns>, kMaxTileRows> kTiles = {
    tile_row<1>(kColumnCounts), tile_row<2>(kColumnCounts), tile_row<3>(kColumnCounts), tile_row<4>(kColumnCounts)};

// Splits `extent` taps into the fewest pieces of at most `most`, as even as can be.
std::int64_t even_piece(std::int64_t extent, std::int64_t most) {
    const std::int64_t pieces = (extent + most - 1) / most;
    return (extent + pieces - 1) / pieces;
}

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

void check_geometry(const ConvGeometry& g) {
    const auto positive = [](std::int64_t value, const char* name) {
        if (value <= 0)
            throw Error(std::string("conv weight-gradient kernel: ") + name + " must be positive, not " + std::to_string(value));
    };
    positive(g.batch, "batch");
    positive(g.in_channels, "in_channels");
    positive(g.out_channels, "out_channels");
    positive(g.height, "height");
    positive(g.width, "width");
    positive(g.kernel_height, "kernel height");
    positive(g.kernel_width, "kernel width");
    positive(g.stride_height, "stride height");
    positive(g.stride_width, "stride width");
    positive(g.output_height, "output height");
    positive(g.output_width, "output width");
    if (g.padding_height < 0 || g.padding_width < 0) throw Error("conv weight-gradient kernel: padding must not be negative");
    const auto most = [](std::int64_t input, std::int64_t padding, std::int64_t kernel, std::int64_t stride) {
        return input + 2 * padding < kernel ? 0 : (input + 2 * padding - kernel) / stride + 1;
    };
    if (g.output_height > most(g.height, g.padding_height, g.kernel_height, g.stride_height) ||
        g.output_width > most(g.width, g.padding_width, g.kernel_width, g.stride_width))
        throw Error("conv weight-gradient kernel: an output of " + std::to_string(g.output_height) + "x" + std::to_string(g.output_width) +
                    " does not fit the input " + std::to_string(g.height) + "x" + std::to_string(g.width));
    if (!conv_weight_grad_available()) throw Error("conv weight-gradient kernel: this CPU lacks AVX2 or FMA");
}

}  // namespace

ConvGeometry conv_geometry(const Conv2dOptions& options, const Shape& input, const Shape& output) {
    return {input[0],
            input[1],
            output[1],
            input[2],
            input[3],
            options.kernel_height,
            options.kernel_width,
            options.stride_height,
            options.stride_width,
            options.padding_height,
            options.padding_width,
            output[2],
            output[3]};
}

bool conv_weight_grad_available() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

ConvWeightGrad::ConvWeightGrad(const ConvGeometry& geometry) : geometry_(geometry) {
    check_geometry(geometry_);
    const ConvGeometry& g = geometry_;
    blocks_ = ceil_div(g.out_channels, kLanes);
    // Rows and columns the window reaches: the leading padding, the input, and as much trailing
    // padding as the last output pixel needs.
    plane_height_ = (g.output_height - 1) * g.stride_height + g.kernel_height;
    plane_width_ = (g.output_width - 1) * g.stride_width + g.kernel_width;
    sums_per_thread_ = (blocks_ * g.in_channels * g.kernel_height * g.kernel_width + blocks_) * kLanes;
}

std::int64_t ConvWeightGrad::multiply_adds() const {
    const ConvGeometry& g = geometry_;
    return g.batch * g.out_channels * g.in_channels * g.kernel_height * g.kernel_width * g.output_height * g.output_width;
}

void ConvWeightGrad::run_range(int thread, std::int64_t first, std::int64_t last, const float* input, const float* grad_output, bool bias) {
    const ConvGeometry& g = geometry_;
    float* plane = planes_[static_cast<std::size_t>(thread)].data();
    float* sums = sums_[static_cast<std::size_t>(thread)].data();
    std::fill(sums, sums + sums_per_thread_, 0.0f);
    float* bias_sums = sums + blocks_ * g.in_channels * g.kernel_height * g.kernel_width * kLanes;
    const std::int64_t columns = even_piece(g.kernel_width, kMaxTileColumns);
    const std::int64_t rows = std::min<std::int64_t>({kMaxTileRows, kMaxTileTaps / columns, g.kernel_height});
    const std::int64_t pixels = g.output_height * g.output_width;
    for (std::int64_t n = first; n < last; ++n) {
        for (std::int64_t ic = 0; ic < g.in_channels; ++ic) {
            const float* channel = input + (n * g.in_channels + ic) * g.height * g.width;
            for (std::int64_t y = 0; y < plane_height_; ++y) {
                const std::int64_t iy = y - g.padding_height;
                for (std::int64_t x = 0; x < plane_width_; ++x) {
                    const std::int64_t ix = x - g.padding_width;
                    const bool inside = iy >= 0 && iy < g.height && ix >= 0 && ix < g.width;
                    plane[y * plane_width_ + x] = inside ? channel[iy * g.width + ix] : 0.0f;
                }
            }
            for (std::int64_t cb = 0; cb < blocks_; ++cb) {
                const float* grad = grad_output + (n * blocks_ + cb) * pixels * kLanes;
                for (std::int64_t kh = 0; kh < g.kernel_height; kh += rows) {
                    const std::int64_t tile_rows = std::min(rows, g.kernel_height - kh);
                    for (std::int64_t kw = 0; kw < g.kernel_width; kw += columns) {
                        const std::int64_t tile_columns = std::min(columns, g.kernel_width - kw);
                        const Tile tile{plane + kh * plane_width_ + kw,
                                        plane_width_,
                                        grad,
                                        g.output_height,
                                        g.output_width,
                                        g.stride_height,
                                        g.stride_width,
                                        sums + (((cb * g.in_channels + ic) * g.kernel_height + kh) * g.kernel_width + kw) * kLanes,
                                        g.kernel_width};
                        kTiles[static_cast<std::size_t>(tile_rows - 1)][static_cast<std::size_t>(tile_columns - 1)](tile);
                    }
                }
                if (bias && ic == 0) accumulate_bias(grad, pixels, bias_sums + cb * kLanes);
            }
        }
    }
}

void ConvWeightGrad::run(const float* input, const float* grad_output, float* grad_weight, float* grad_bias) {
    const ConvGeometry& g = geometry_;
    const int threads = static_cast<int>(std::min<std::int64_t>(omp_get_max_threads(), g.batch));
    if (planes_.size() < static_cast<std::size_t>(threads)) {
        planes_.resize(static_cast<std::size_t>(threads), std::vector<float>(static_cast<std::size_t>(plane_height_ * plane_width_)));
        sums_.resize(static_cast<std::size_t>(threads), std::vector<float>(static_cast<std::size_t>(sums_per_thread_)));
    }
    int team = 1;
#pragma omp parallel num_threads(threads)
    {
        // The team may be smaller than asked (OMP_DYNAMIC): split by the team it got.
        const int size = omp_get_num_threads(), thread = omp_get_thread_num();
        if (thread == 0) team = size;
        run_range(thread, g.batch * thread / size, g.batch * (thread + 1) / size, input, grad_output, grad_bias != nullptr);
    }
    const std::int64_t taps = g.in_channels * g.kernel_height * g.kernel_width;
    const std::int64_t bias_sums = blocks_ * taps * kLanes;  // where run_range keeps them
    for (std::int64_t o = 0; o < g.out_channels; ++o) {
        const std::int64_t block = o / kLanes, lane = o % kLanes;
        for (std::int64_t tap = 0; tap < taps; ++tap) {
            float sum = 0.0f;
            for (int t = 0; t < team; ++t)
                sum += sums_[static_cast<std::size_t>(t)][static_cast<std::size_t>((block * taps + tap) * kLanes + lane)];
            grad_weight[o * taps + tap] = sum;
        }
        if (grad_bias == nullptr) continue;
        const std::int64_t offset = bias_sums + block * kLanes + lane;
        float sum = 0.0f;
        for (int t = 0; t < team; ++t) sum += sums_[static_cast<std::size_t>(t)][static_cast<std::size_t>(offset)];
        grad_bias[o] = sum;
    }
}

}  // namespace convnet::kernels
