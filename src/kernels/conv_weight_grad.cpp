// The direct weight-gradient kernel of conv_weight_grad.h. For each image, input channel and pair
// of blocks of 8 output channels it sweeps the output pixels once per tile of taps: a tile of R×C
// taps keeps 2·R·C vector sums (8 output channels each) in registers, and each pixel costs two
// loads of the channels' gradient and R·C broadcasts of the input values the taps see, each used
// by two FMAs. The input is copied into a zero-padded plane first, so the sweep has no bounds
// checks.
#include "avx2.h"
#include "conv_weight_grad.h"

#include <convnet/core/error.h>

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <string>
#include <utility>

namespace convnet::kernels {

namespace {

static_assert(kWeightGradChannelBlock == kLanes, "a channel block is one register's lanes");
// 16 AVX2 registers: at most 12 sums, the gradient vectors, the broadcast value and spares.
constexpr int kMaxTileSums = 12, kMaxTileBlocks = 2, kMaxTileRows = 4, kMaxTileColumns = 6;

// One sweep: the taps (kh0 + r, kw0 + c) for r < Rows, c < Columns, of Blocks blocks of output
// channels, over one image and one input channel.
struct Tile {
    const float* plane;  // the padded input plane at tap (kh0, kw0)
    std::int64_t plane_width;
    const float* grad_output;   // one image's first block of 8 channels at pixel (0, 0)
    std::int64_t pixel_stride;  // floats from one pixel's 8 channels to the next's (8 or 16)
    std::int64_t block_step;    // floats from one block of 8 channels to the next, at one pixel
    std::int64_t output_height, output_width, stride_height, stride_width;
    float* sums;  // tap (kh0, kw0)'s 8 sums of the first block; tap (kh0 + r, kw0 + c) of block b
                  // at sums + b·block_sums + (r·KW + c)·8
    std::int64_t block_sums, kernel_width;
};

// One output pixel's share: sums[b][r][c] += grad[b] · x[r][c], each x broadcast once and used by
// every block (two blocks halve the broadcasts, which compete with the FMAs for the vector pipes
// on AMD's cores: one block per sweep ran at 66 GFLOP/s on one core, two at 96).
template <int Blocks, int Rows, int Columns>
__attribute__((target("avx2,fma"), always_inline)) inline void accumulate_pixel(__m256 (&sums)[Blocks][Rows][Columns], const float* grad,
                                                                                std::int64_t block_step, const float* x,
                                                                                std::int64_t plane_width) {
    __m256 g[Blocks];
#pragma GCC unroll 2
    for (int b = 0; b < Blocks; ++b) g[b] = _mm256_loadu_ps(grad + b * block_step);
#pragma GCC unroll 4
    for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 6
        for (int c = 0; c < Columns; ++c) {
            const __m256 value = _mm256_broadcast_ss(x + r * plane_width + c);
#pragma GCC unroll 2
            for (int b = 0; b < Blocks; ++b) sums[b][r][c] = _mm256_fmadd_ps(g[b], value, sums[b][r][c]);
        }
}

// Pixels = 2 sweeps two output pixels at a time into two sets of sums, added at the end: a tile of
// fewer sums than the FMA units' latency × throughput (8 on current x86) would otherwise wait on
// its own sums.
template <int Blocks, int Rows, int Columns, int Pixels>
__attribute__((target("avx2,fma"))) void accumulate_tile(const Tile& tile) {
    __m256 sums[Pixels][Blocks][Rows][Columns];
    const auto sum_at = [&](int b, int r, int c) { return tile.sums + b * tile.block_sums + (r * tile.kernel_width + c) * kLanes; };
#pragma GCC unroll 2
    for (int p = 0; p < Pixels; ++p)
#pragma GCC unroll 2
        for (int b = 0; b < Blocks; ++b)
#pragma GCC unroll 4
            for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 6
                for (int c = 0; c < Columns; ++c) sums[p][b][r][c] = p == 0 ? _mm256_loadu_ps(sum_at(b, r, c)) : _mm256_setzero_ps();
    const std::int64_t row_step = tile.stride_height * tile.plane_width, width = tile.output_width;
    const std::int64_t step = tile.pixel_stride, paired = width - width % Pixels;
    for (std::int64_t oh = 0; oh < tile.output_height; ++oh) {
        const float* row = tile.plane + oh * row_step;
        const float* grad = tile.grad_output + oh * width * step;
        for (std::int64_t ow = 0; ow < paired; ow += Pixels)
#pragma GCC unroll 2
            for (int p = 0; p < Pixels; ++p)
                accumulate_pixel(sums[p], grad + (ow + p) * step, tile.block_step, row + (ow + p) * tile.stride_width, tile.plane_width);
        for (std::int64_t ow = paired; ow < width; ++ow)  // the odd last pixel of a pair sweep
            accumulate_pixel(sums[0], grad + ow * step, tile.block_step, row + ow * tile.stride_width, tile.plane_width);
    }
#pragma GCC unroll 2
    for (int b = 0; b < Blocks; ++b)
#pragma GCC unroll 4
        for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 6
            for (int c = 0; c < Columns; ++c) {
                __m256 sum = sums[0][b][r][c];
                if constexpr (Pixels == 2) sum = _mm256_add_ps(sum, sums[1][b][r][c]);
                _mm256_storeu_ps(sum_at(b, r, c), sum);
            }
}

// The bias gradient of one image and channel block: the 8 channels' gradients summed over
// (OH, OW), in four chains so that the adds do not wait on each other.
__attribute__((target("avx2,fma"))) void accumulate_bias(const float* grad_output, std::int64_t pixels, std::int64_t pixel_stride,
                                                         float* sums) {
    __m256 chains[4] = {_mm256_loadu_ps(sums), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    std::int64_t p = 0;
    for (; p + 4 <= pixels; p += 4)
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) chains[k] = _mm256_add_ps(chains[k], _mm256_loadu_ps(grad_output + (p + k) * pixel_stride));
    for (; p < pixels; ++p) chains[0] = _mm256_add_ps(chains[0], _mm256_loadu_ps(grad_output + p * pixel_stride));
    _mm256_storeu_ps(sums, _mm256_add_ps(_mm256_add_ps(chains[0], chains[1]), _mm256_add_ps(chains[2], chains[3])));
}

using TileFunction = void (*)(const Tile&);

template <int Blocks, int Rows, int Columns>
constexpr TileFunction tile_function() {
    constexpr int sums = Blocks * Rows * Columns;
    if constexpr (sums > kMaxTileSums) return nullptr;
    else if constexpr (2 * sums <= kMaxTileSums) return &accumulate_tile<Blocks, Rows, Columns, 2>;
    else return &accumulate_tile<Blocks, Rows, Columns, 1>;
}

template <int Blocks, int Rows, std::size_t... C>
constexpr std::array<TileFunction, kMaxTileColumns> tile_row(std::index_sequence<C...>) {
    return {tile_function<Blocks, Rows, static_cast<int>(C) + 1>()...};
}

template <int Blocks>
constexpr std::array<std::array<TileFunction, kMaxTileColumns>, kMaxTileRows> tile_table() {
    constexpr auto columns = std::make_index_sequence<kMaxTileColumns>{};
    return {tile_row<Blocks, 1>(columns), tile_row<Blocks, 2>(columns), tile_row<Blocks, 3>(columns), tile_row<Blocks, 4>(columns)};
}

// kTiles[B − 1][R − 1][C − 1]: the sweep of B blocks × an R×C tile (null where B·R·C > kMaxTileSums).
constexpr std::array<std::array<std::array<TileFunction, kMaxTileColumns>, kMaxTileRows>, kMaxTileBlocks> kTiles = {tile_table<1>(),
                                                                                                                    tile_table<2>()};

// Splits `extent` taps into the fewest pieces of at most `most`, as even as can be.
std::int64_t even_piece(std::int64_t extent, std::int64_t most) {
    const std::int64_t pieces = (extent + most - 1) / most;
    return (extent + pieces - 1) / pieces;
}

void check_geometry(const Conv2dGeometry& g) {
    const auto positive = [](std::int64_t value, const char* name) {
        if (value <= 0)
            throw Error(std::string("conv weight-gradient kernel: ") + name + " must be positive, not " + std::to_string(value));
    };
    positive(g.batch, "batch");
    positive(g.in_channels, "in_channels");
    positive(g.out_channels, "out_channels");
    positive(g.in_height, "height");
    positive(g.in_width, "width");
    positive(g.kernel_height, "kernel height");
    positive(g.kernel_width, "kernel width");
    positive(g.stride_height, "stride height");
    positive(g.stride_width, "stride width");
    positive(g.out_height, "output height");
    positive(g.out_width, "output width");
    if (g.padding_height < 0 || g.padding_width < 0) throw Error("conv weight-gradient kernel: padding must not be negative");
    if (g.groups != 1 || g.dilation_height != 1 || g.dilation_width != 1)
        throw Error("conv weight-gradient kernel: groups and dilation must be 1, not " + std::to_string(g.groups) + " and " +
                    std::to_string(g.dilation_height) + "x" + std::to_string(g.dilation_width));
    const auto most = [](std::int64_t input, std::int64_t padding, std::int64_t kernel, std::int64_t stride) {
        return input + 2 * padding < kernel ? 0 : (input + 2 * padding - kernel) / stride + 1;
    };
    if (g.out_height > most(g.in_height, g.padding_height, g.kernel_height, g.stride_height) ||
        g.out_width > most(g.in_width, g.padding_width, g.kernel_width, g.stride_width))
        throw Error("conv weight-gradient kernel: an output of " + std::to_string(g.out_height) + "x" + std::to_string(g.out_width) +
                    " does not fit the input " + std::to_string(g.in_height) + "x" + std::to_string(g.in_width));
    if (!conv_weight_grad_available()) throw Error("conv weight-gradient kernel: this CPU lacks AVX2 or FMA");
}

}  // namespace

bool conv_weight_grad_available() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

ConvWeightGrad::ConvWeightGrad(const Conv2dGeometry& geometry, ConvWeightGradLayout layout) : geometry_(geometry), layout_(layout) {
    check_geometry(geometry_);
    if (layout_.input_block != 1 && layout_.input_block != 8 && layout_.input_block != 16)
        throw Error("conv weight-gradient kernel: the input's channel block must be 1 (plain), 8 or 16, not " +
                    std::to_string(layout_.input_block));
    if (layout_.grad_output_block != 8 && layout_.grad_output_block != 16)
        throw Error("conv weight-gradient kernel: grad_output's channel block must be 8 or 16, not " +
                    std::to_string(layout_.grad_output_block));
    const Conv2dGeometry& g = geometry_;
    blocks_ = ceil_div(g.out_channels, kLanes);
    // Rows and columns the window reaches: the leading padding, the input, and as much trailing
    // padding as the last output pixel needs.
    plane_height_ = (g.out_height - 1) * g.stride_height + g.kernel_height;
    plane_width_ = (g.out_width - 1) * g.stride_width + g.kernel_width;
    // The input rows and columns inside the plane (a window that stops short leaves some out).
    copied_rows_ = std::max<std::int64_t>(0, std::min(g.in_height, plane_height_ - g.padding_height));
    copied_columns_ = std::max<std::int64_t>(0, std::min(g.in_width, plane_width_ - g.padding_width));
    sums_per_thread_ = (blocks_ * g.in_channels * g.kernel_height * g.kernel_width + blocks_) * kLanes;
}

std::int64_t ConvWeightGrad::multiply_adds() const {
    const Conv2dGeometry& g = geometry_;
    return g.batch * g.out_channels * g.in_channels * g.kernel_height * g.kernel_width * g.out_height * g.out_width;
}

std::int64_t ConvWeightGrad::grad_offset(std::int64_t n, std::int64_t block) const {
    const std::int64_t size = layout_.grad_output_block, groups = ceil_div(geometry_.out_channels, size);
    const std::int64_t first_channel = block * kLanes;
    return ((n * groups + first_channel / size) * geometry_.out_height * geometry_.out_width) * size + first_channel % size;
}

void ConvWeightGrad::fill_plane(float* plane, const float* input, std::int64_t n, std::int64_t ic) const {
    const Conv2dGeometry& g = geometry_;
    const std::int64_t size = layout_.input_block, groups = ceil_div(g.in_channels, size);
    // Channel ic's value at (y, x) lies at channel + (y·W + x)·size: every value for plain input.
    const float* channel = input + (n * groups + ic / size) * g.in_height * g.in_width * size + ic % size;
    for (std::int64_t iy = 0; iy < copied_rows_; ++iy) {
        float* row = plane + (iy + g.padding_height) * plane_width_ + g.padding_width;
        const float* source = channel + iy * g.in_width * size;
        if (size == 1) std::copy_n(source, copied_columns_, row);
        else
            for (std::int64_t ix = 0; ix < copied_columns_; ++ix) row[ix] = source[ix * size];
    }
}

void ConvWeightGrad::run_range(int thread, std::int64_t first, std::int64_t last, const float* input, const float* grad_output, bool bias) {
    const Conv2dGeometry& g = geometry_;
    float* plane = planes_[static_cast<std::size_t>(thread)].data();
    float* sums = sums_[static_cast<std::size_t>(thread)].data();
    std::fill(sums, sums + sums_per_thread_, 0.0f);
    float* bias_sums = sums + blocks_ * g.in_channels * g.kernel_height * g.kernel_width * kLanes;
    const std::int64_t block_sums = g.in_channels * g.kernel_height * g.kernel_width * kLanes;  // one block's, in `sums`
    const std::int64_t pixels = g.out_height * g.out_width;
    // Blocks of 8 go in pairs from an even one, so a pair lies in one 16-channel block or in two
    // consecutive 8-channel ones.
    const std::int64_t block_step = layout_.grad_output_block == 16 ? kLanes : pixels * kLanes;
    for (std::int64_t n = first; n < last; ++n) {
        for (std::int64_t ic = 0; ic < g.in_channels; ++ic) {
            // The plane's border stays zero from its allocation; only the input's rows are copied.
            fill_plane(plane, input, n, ic);
            for (std::int64_t cb = 0; cb < blocks_; cb += kMaxTileBlocks) {
                const std::int64_t tile_blocks = std::min<std::int64_t>(kMaxTileBlocks, blocks_ - cb);
                const std::int64_t columns =
                    even_piece(g.kernel_width, std::min<std::int64_t>(kMaxTileColumns, kMaxTileSums / tile_blocks));
                const std::int64_t rows = std::min<std::int64_t>({kMaxTileRows, kMaxTileSums / (tile_blocks * columns), g.kernel_height});
                const float* grad = grad_output + grad_offset(n, cb);
                for (std::int64_t kh = 0; kh < g.kernel_height; kh += rows) {
                    const std::int64_t tile_rows = std::min(rows, g.kernel_height - kh);
                    for (std::int64_t kw = 0; kw < g.kernel_width; kw += columns) {
                        const std::int64_t tile_columns = std::min(columns, g.kernel_width - kw);
                        const Tile tile{plane + kh * plane_width_ + kw,
                                        plane_width_,
                                        grad,
                                        layout_.grad_output_block,
                                        block_step,
                                        g.out_height,
                                        g.out_width,
                                        g.stride_height,
                                        g.stride_width,
                                        sums + (((cb * g.in_channels + ic) * g.kernel_height + kh) * g.kernel_width + kw) * kLanes,
                                        block_sums,
                                        g.kernel_width};
                        kTiles[static_cast<std::size_t>(tile_blocks - 1)][static_cast<std::size_t>(tile_rows - 1)]
                              [static_cast<std::size_t>(tile_columns - 1)](tile);
                    }
                }
                if (bias && ic == 0)
                    for (std::int64_t b = 0; b < tile_blocks; ++b)
                        accumulate_bias(grad + b * block_step, pixels, layout_.grad_output_block, bias_sums + (cb + b) * kLanes);
            }
        }
    }
}

void ConvWeightGrad::run(const float* input, const float* grad_output, float* grad_weight, float* grad_bias) {
    const Conv2dGeometry& g = geometry_;
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
