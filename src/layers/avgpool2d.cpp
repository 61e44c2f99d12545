// AvgPool2d: the shape rule, forward and backward, one (image, channel) plane at a time.
#include <convnet/error.h>
#include <convnet/layers/avgpool2d.h>
#include <convnet/layers/conv2d.h>

#include <algorithm>

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

AvgPool2d::AvgPool2d(const AvgPool2dOptions& options) : options_(options) {
    if (2 * options.padding_height > options.kernel_height || 2 * options.padding_width > options.kernel_width)
        throw Error("avgpool2d: padding " + pair_text(options.padding_height, options.padding_width) +
                    " should be at most half the kernel " + pair_text(options.kernel_height, options.kernel_width) +
                    " (as in PyTorch)");
}

std::string AvgPool2d::options_text() const {
    const AvgPool2dOptions& o = options_;
    std::string text = "kernel=" + pair_text(o.kernel_height, o.kernel_width) +
                       " stride=" + pair_text(o.stride_height, o.stride_width);
    if (o.padding_height != 0 || o.padding_width != 0) text += " pad=" + pair_text(o.padding_height, o.padding_width);
    if (!o.count_include_pad) text += " count_pad=false";
    return text;
}

Shape AvgPool2d::output_shape(const Shape& input) const {
    if (input.rank() != 4) throw Error("avgpool2d expects an input (N, C, H, W), got " + input.to_string());
    const AvgPool2dOptions& o = options_;
    return Shape{input[0], input[1],
                 convolution_output_size("avgpool2d", "height", input[2], o.kernel_height, o.stride_height, o.padding_height, 1),
                 convolution_output_size("avgpool2d", "width", input[3], o.kernel_width, o.stride_width, o.padding_width, 1)};
}

std::int64_t AvgPool2d::multiply_adds(const Shape& input) const {
    return output_shape(input.with_batch(1)).element_count() * options_.kernel_height * options_.kernel_width;
}

void AvgPool2d::forward(const Tensor& input, Tensor& output) const {  // (N, C, H, W) -> (N, C, OH, OW)
    output.resize(output_shape(input.shape()));
    const AvgPool2dOptions& o = options_;
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
                // With floor-mode output sizes a window never reaches past the padding, so the
                // count-with-padding divisor is always the full kernel area.
                const std::int64_t count = o.count_include_pad ? o.kernel_height * o.kernel_width
                                                               : (rows.last - rows.first) * (cols.last - cols.first);
                float sum = 0.0f;
                for (std::int64_t ih = rows.first; ih < rows.last; ++ih)
                    for (std::int64_t iw = cols.first; iw < cols.last; ++iw) sum += source[ih * in[3] + iw];
                target[oh * out[3] + ow] = sum / static_cast<float>(count);
            }
        }
    }
}

void AvgPool2d::backward(const Tensor& input, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) {
    if (grad_input == nullptr) return;
    grad_input->resize(input.shape());
    grad_input->fill(0.0f);
    const AvgPool2dOptions& o = options_;
    const Shape& in = input.shape();
    const Shape& out = output.shape();
    const std::int64_t planes = in[0] * in[1], in_plane = in[2] * in[3], out_plane = out[2] * out[3];
#pragma omp parallel for
    for (std::int64_t p = 0; p < planes; ++p) {
        const float* grad = grad_output.data() + p * out_plane;
        float* target = grad_input->data() + p * in_plane;
        for (std::int64_t oh = 0; oh < out[2]; ++oh) {
            const WindowSpan rows = window_span(oh, o.stride_height, o.padding_height, o.kernel_height, in[2]);
            for (std::int64_t ow = 0; ow < out[3]; ++ow) {
                const WindowSpan cols = window_span(ow, o.stride_width, o.padding_width, o.kernel_width, in[3]);
                const std::int64_t count = o.count_include_pad ? o.kernel_height * o.kernel_width
                                                               : (rows.last - rows.first) * (cols.last - cols.first);
                const float share = grad[oh * out[3] + ow] / static_cast<float>(count);
                for (std::int64_t ih = rows.first; ih < rows.last; ++ih)
                    for (std::int64_t iw = cols.first; iw < cols.last; ++iw) target[ih * in[3] + iw] += share;
            }
        }
    }
}

}  // namespace convnet
