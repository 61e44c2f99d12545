// MaxPool2d: the shape rule, forward, and backward by recomputing each window's argmax (no
// index tensor to keep between the passes).
#include <convnet/error.h>
#include <convnet/layers/conv2d.h>
#include <convnet/layers/maxpool2d.h>

namespace convnet {

MaxPool2d::MaxPool2d(const MaxPool2dOptions& options) : options_(options) {
    if (2 * options.padding_height > options.kernel_height || 2 * options.padding_width > options.kernel_width)
        throw Error("maxpool2d: padding should be at most half the kernel size (as in PyTorch)");
}

std::string MaxPool2d::options_text() const {
    auto pair = [](std::int64_t h, std::int64_t w) { return h == w ? std::to_string(h) : std::to_string(h) + "x" + std::to_string(w); };
    std::string text = "kernel=" + pair(options_.kernel_height, options_.kernel_width) +
                       " stride=" + pair(options_.stride_height, options_.stride_width);
    if (options_.padding_height != 0 || options_.padding_width != 0)
        text += " pad=" + pair(options_.padding_height, options_.padding_width);
    return text;
}

Shape MaxPool2d::output_shape(const Shape& input) const {
    if (input.rank() != 4) throw Error("maxpool2d expects an input (N, C, H, W), got " + input.to_string());
    const MaxPool2dOptions& o = options_;
    return Shape{input[0], input[1],
                 convolution_output_size("maxpool2d", "height", input[2], o.kernel_height, o.stride_height, o.padding_height, 1),
                 convolution_output_size("maxpool2d", "width", input[3], o.kernel_width, o.stride_width, o.padding_width, 1)};
}

std::int64_t MaxPool2d::argmax(const float* plane, std::int64_t height, std::int64_t width, std::int64_t oh,
                               std::int64_t ow) const {
    const std::int64_t top = oh * options_.stride_height - options_.padding_height;
    const std::int64_t left = ow * options_.stride_width - options_.padding_width;
    std::int64_t best = -1;
    for (std::int64_t ih = std::max<std::int64_t>(top, 0); ih < std::min(top + options_.kernel_height, height); ++ih)
        for (std::int64_t iw = std::max<std::int64_t>(left, 0); iw < std::min(left + options_.kernel_width, width); ++iw) {
            const std::int64_t index = ih * width + iw;
            if (best < 0 || plane[index] > plane[best]) best = index;
        }
    return best;  // never -1: padding is at most half the kernel, so each window meets the input
}

void MaxPool2d::forward(const Tensor& input, Tensor& output) const {
    output.resize(output_shape(input.shape()));
    const Shape& in = input.shape();
    const Shape& out = output.shape();
    const std::int64_t planes = in[0] * in[1], in_plane = in[2] * in[3], out_plane = out[2] * out[3];
#pragma omp parallel for
    for (std::int64_t p = 0; p < planes; ++p) {
        const float* source = input.data() + p * in_plane;
        float* target = output.data() + p * out_plane;
        for (std::int64_t oh = 0; oh < out[2]; ++oh)
            for (std::int64_t ow = 0; ow < out[3]; ++ow) target[oh * out[3] + ow] = source[argmax(source, in[2], in[3], oh, ow)];
    }
}

void MaxPool2d::backward(const Tensor& input, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) {
    if (grad_input == nullptr) return;
    grad_input->resize(input.shape());
    grad_input->fill(0.0f);
    const Shape& in = input.shape();
    const Shape& out = output.shape();
    const std::int64_t planes = in[0] * in[1], in_plane = in[2] * in[3], out_plane = out[2] * out[3];
#pragma omp parallel for
    for (std::int64_t p = 0; p < planes; ++p) {
        const float* source = input.data() + p * in_plane;
        const float* grad = grad_output.data() + p * out_plane;
        float* target = grad_input->data() + p * in_plane;
        for (std::int64_t oh = 0; oh < out[2]; ++oh)
            for (std::int64_t ow = 0; ow < out[3]; ++ow) target[argmax(source, in[2], in[3], oh, ow)] += grad[oh * out[3] + ow];
    }
}

}  // namespace convnet
