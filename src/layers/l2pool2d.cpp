// L2Pool2d: the shape rule, forward (sum of squares in double, then the root) and backward,
// one (image, channel) plane at a time.
#include <convnet/error.h>
#include <convnet/layers/conv2d.h>
#include <convnet/layers/l2pool2d.h>

#include <algorithm>
#include <cmath>

namespace convnet {

namespace {
std::string pair_text(std::int64_t height, std::int64_t width) {
    return height == width ? std::to_string(height) : std::to_string(height) + "x" + std::to_string(width);
}

// The input rows [first, last) one window covers along an axis, clipped to the input.
struct WindowSpan {
    std::int64_t first, last;
};

WindowSpan window_span(std::int64_t out_index, std::int64_t stride, std::int64_t padding, std::int64_t kernel,
                       std::int64_t input) {
    const std::int64_t start = out_index * stride - padding;
    return {std::max<std::int64_t>(start, 0), std::min(start + kernel, input)};
}
}  // namespace

L2Pool2d::L2Pool2d(const L2Pool2dOptions& options) : options_(options) {
    if (2 * options.padding_height > options.kernel_height || 2 * options.padding_width > options.kernel_width)
        throw Error("l2pool2d: padding " + pair_text(options.padding_height, options.padding_width) +
                    " should be at most half the kernel " + pair_text(options.kernel_height, options.kernel_width));
}

std::string L2Pool2d::options_text() const {
    const L2Pool2dOptions& o = options_;
    std::string text = "kernel=" + pair_text(o.kernel_height, o.kernel_width) +
                       " stride=" + pair_text(o.stride_height, o.stride_width);
    if (o.padding_height != 0 || o.padding_width != 0) text += " pad=" + pair_text(o.padding_height, o.padding_width);
    return text;
}

Shape L2Pool2d::output_shape(const Shape& input) const {
    if (input.rank() != 4) throw Error("l2pool2d expects an input (N, C, H, W), got " + input.to_string());
    const L2Pool2dOptions& o = options_;
    return Shape{input[0], input[1],
                 convolution_output_size("l2pool2d", "height", input[2], o.kernel_height, o.stride_height, o.padding_height, 1),
                 convolution_output_size("l2pool2d", "width", input[3], o.kernel_width, o.stride_width, o.padding_width, 1)};
}

std::int64_t L2Pool2d::multiply_adds(const Shape& input) const {
    return output_shape(input.with_batch(1)).element_count() * options_.kernel_height * options_.kernel_width;
}

void L2Pool2d::forward(const Tensor& input, Tensor& output) const {  // (N, C, H, W) -> (N, C, OH, OW)
    output.resize(output_shape(input.shape()));
    const L2Pool2dOptions& o = options_;
    const Shape& in = input.shape();
    const Shape& out = output.shape();
    const std::int64_t planes = in[0] * in[1], in_plane = in[2] * in[3], out_plane = out[2] * out[3];
#pragma omp parallel for
    for (std::int64_t p = 0; p < planes; ++p) {
        const float* source = input.data() + p * in_plane;
        float* target = output.data() + p * out_plane;
        for (std::int64_t oh = 0; oh < out[2]; ++oh) {
            const WindowSpan rows = window_span(oh, o.stride_height, o.padding_height, o.kernel_height, in[2]);
            for (std::int64_t ow = 0; ow < out[3]; ++ow) {
                const WindowSpan cols = window_span(ow, o.stride_width, o.padding_width, o.kernel_width, in[3]);
                double sum_of_squares = 0.0;
                for (std::int64_t ih = rows.first; ih < rows.last; ++ih)
                    for (std::int64_t iw = cols.first; iw < cols.last; ++iw) {
                        const double value = source[ih * in[3] + iw];
                        sum_of_squares += value * value;
                    }
                target[oh * out[3] + ow] = static_cast<float>(std::sqrt(sum_of_squares));
            }
        }
    }
}

void L2Pool2d::backward(const Tensor& input, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) {
    if (grad_input == nullptr) return;
    grad_input->resize(input.shape());
    grad_input->fill(0.0f);
    const L2Pool2dOptions& o = options_;
    const Shape& in = input.shape();
    const Shape& out = output.shape();
    const std::int64_t planes = in[0] * in[1], in_plane = in[2] * in[3], out_plane = out[2] * out[3];
#pragma omp parallel for
    for (std::int64_t p = 0; p < planes; ++p) {
        const float* source = input.data() + p * in_plane;
        const float* pooled = output.data() + p * out_plane;
        const float* grad = grad_output.data() + p * out_plane;
        float* target = grad_input->data() + p * in_plane;
        for (std::int64_t oh = 0; oh < out[2]; ++oh) {
            const WindowSpan rows = window_span(oh, o.stride_height, o.padding_height, o.kernel_height, in[2]);
            for (std::int64_t ow = 0; ow < out[3]; ++ow) {
                const float norm = pooled[oh * out[3] + ow];
                if (norm == 0.0f) continue;
                const WindowSpan cols = window_span(ow, o.stride_width, o.padding_width, o.kernel_width, in[3]);
                const float scale = grad[oh * out[3] + ow] / norm;
                for (std::int64_t ih = rows.first; ih < rows.last; ++ih)
                    for (std::int64_t iw = cols.first; iw < cols.last; ++iw)
                        target[ih * in[3] + iw] += scale * source[ih * in[3] + iw];
            }
        }
    }
}

}  // namespace convnet
