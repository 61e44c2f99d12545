// ConvTranspose2d: the shape rule and plain loops over the definition (each input pixel scatters
// into the output), forward and backward side by side. Images run in parallel in forward and the
// input gradient; input channels in parallel in the weight gradient, each owning its weights.
#include <convnet/core/error.h>
#include <convnet/nn/layers/convtranspose2d.h>

#include <cmath>
#include <sstream>

namespace convnet {

namespace {

// The sizes one call works with.
struct Geometry {
    std::int64_t batch, in_channels, in_height, in_width;
    std::int64_t out_channels, out_height, out_width;
    std::int64_t groups, in_per_group, out_per_group;
};

Geometry geometry(const ConvTranspose2dOptions& o, const Shape& input, const Shape& output) {
    return {input[0],
            input[1],
            input[2],
            input[3],
            output[1],
            output[2],
            output[3],
            o.groups,
            o.in_channels / o.groups,
            o.out_channels / o.groups};
}

// Calls body(output_index, input_index, weight_index) for every (input pixel, kernel offset,
// output channel of its group) of image n and input channel ic whose target lies in the output.
template <typename Body>
void for_each_tap(const ConvTranspose2dOptions& o, const Geometry& g, std::int64_t n, std::int64_t ic, const Body& body) {
    const std::int64_t group = ic / g.in_per_group;
    for (std::int64_t oc_local = 0; oc_local < g.out_per_group; ++oc_local) {
        const std::int64_t oc = group * g.out_per_group + oc_local;
        const std::int64_t weight_base = (ic * g.out_per_group + oc_local) * o.kernel_height * o.kernel_width;
        const std::int64_t output_base = (n * g.out_channels + oc) * g.out_height * g.out_width;
        const std::int64_t input_base = (n * g.in_channels + ic) * g.in_height * g.in_width;
        for (std::int64_t ih = 0; ih < g.in_height; ++ih)
            for (std::int64_t a = 0; a < o.kernel_height; ++a) {
                const std::int64_t oh = ih * o.stride_height - o.padding_height + a * o.dilation_height;
                if (oh < 0 || oh >= g.out_height) continue;
                for (std::int64_t iw = 0; iw < g.in_width; ++iw)
                    for (std::int64_t b = 0; b < o.kernel_width; ++b) {
                        const std::int64_t ow = iw * o.stride_width - o.padding_width + b * o.dilation_width;
                        if (ow < 0 || ow >= g.out_width) continue;
                        body(output_base + oh * g.out_width + ow, input_base + ih * g.in_width + iw, weight_base + a * o.kernel_width + b);
                    }
            }
    }
}

}  // namespace

ConvTranspose2d::ConvTranspose2d(const ConvTranspose2dOptions& options) : options_(options) {
    const ConvTranspose2dOptions& o = options;
    if (o.groups < 1 || o.in_channels % o.groups != 0)
        throw Error("convtranspose2d: in_channels (" + std::to_string(o.in_channels) + ") must be divisible by groups (" +
                    std::to_string(o.groups) + ")");
    if (o.out_channels % o.groups != 0)
        throw Error("convtranspose2d: out_channels (" + std::to_string(o.out_channels) + ") must be divisible by groups (" +
                    std::to_string(o.groups) + ")");
    if (o.output_padding_height >= std::max(o.stride_height, o.dilation_height) ||
        o.output_padding_width >= std::max(o.stride_width, o.dilation_width))
        throw Error("convtranspose2d: output_pad " + pair_text(o.output_padding_height, o.output_padding_width) +
                    " must be smaller than the stride " + pair_text(o.stride_height, o.stride_width) + " or the dilation " +
                    pair_text(o.dilation_height, o.dilation_width) + " (as PyTorch)");
    weight_ = declare("weight", Shape{o.in_channels, o.out_channels / o.groups, o.kernel_height, o.kernel_width});
    if (o.bias) bias_ = declare("bias", Shape{o.out_channels});
}

std::vector<Attribute> ConvTranspose2d::attributes() const {
    const ConvTranspose2dOptions& o = options_;
    return {{"in_channels", o.in_channels, ""},
            {"out_channels", o.out_channels, "out"},
            {"kernel_size", std::pair{o.kernel_height, o.kernel_width}, "kernel"},
            {"stride", std::pair{o.stride_height, o.stride_width}, "stride", o.stride_height == 1 && o.stride_width == 1},
            {"padding", std::pair{o.padding_height, o.padding_width}, "pad", o.padding_height == 0 && o.padding_width == 0},
            {"output_padding", std::pair{o.output_padding_height, o.output_padding_width}, "output_pad",
             o.output_padding_height == 0 && o.output_padding_width == 0},
            {"groups", o.groups, "groups", o.groups == 1},
            {"bias", o.bias, "bias", o.bias},
            {"dilation", std::pair{o.dilation_height, o.dilation_width}, "dilation", o.dilation_height == 1 && o.dilation_width == 1}};
}

std::string ConvTranspose2d::output_size_formula(const Shape& input, const Shape& output) const {
    const auto axis = [](std::int64_t size, std::int64_t kernel, std::int64_t stride, std::int64_t padding, std::int64_t dilation,
                         std::int64_t output_padding, std::int64_t result) {
        std::ostringstream text;  // a stream: GCC 12 misreports chains of "literal" + std::string
        text << "(" << size << " − 1)·" << stride << " − 2·" << padding << " + " << dilation << "·(" << kernel << " − 1) + "
             << output_padding << " + 1 = " << result;
        return text.str();
    };
    const ConvTranspose2dOptions& o = options_;
    return per_axis_formula(
        axis(input[2], o.kernel_height, o.stride_height, o.padding_height, o.dilation_height, o.output_padding_height, output[2]),
        axis(input[3], o.kernel_width, o.stride_width, o.padding_width, o.dilation_width, o.output_padding_width, output[3]));
}

Shape ConvTranspose2d::output_shape(const Shape& input) const {
    if (input.rank() != 4) throw Error("convtranspose2d expects an input (N, C, H, W), got " + input.to_string());
    if (input[1] != options_.in_channels)
        throw Error("convtranspose2d: input has " + std::to_string(input[1]) + " channels, the layer expects " +
                    std::to_string(options_.in_channels));
    const ConvTranspose2dOptions& o = options_;
    const auto axis = [](const char* name, std::int64_t size, std::int64_t stride, std::int64_t padding, std::int64_t span,
                         std::int64_t output_padding) {
        // (W − 1)·S − 2P + D·(F − 1) + output_padding + 1, with D·(F − 1) + 1 the kernel's span.
        const std::int64_t result = (size - 1) * stride - 2 * padding + span + output_padding;
        if (result < 1)
            throw Error("convtranspose2d: output " + std::string(name) + " (" + std::to_string(size) + " − 1)·" + std::to_string(stride) +
                        " − 2·" + std::to_string(padding) + " + " + std::to_string(span - 1) + " + " + std::to_string(output_padding) +
                        " + 1 = " + std::to_string(result) + " is not positive: reduce pad");
        return result;
    };
    return Shape{input[0], o.out_channels,
                 axis("height", input[2], o.stride_height, o.padding_height, o.span_height(), o.output_padding_height),
                 axis("width", input[3], o.stride_width, o.padding_width, o.span_width(), o.output_padding_width)};
}

std::int64_t ConvTranspose2d::multiply_adds(const Shape& input) const {
    const std::string what = "convtranspose2d multiply-adds";
    const Shape one = input.with_batch(1);
    return checked_multiply(checked_multiply(one.element_count(), options_.out_channels / options_.groups, what),
                            checked_multiply(options_.kernel_height, options_.kernel_width, what), what);
}

void ConvTranspose2d::initialize(Random& random) {
    initialize_uniform(random, options_.out_channels / options_.groups * options_.kernel_height * options_.kernel_width, weight(), bias());
}

void ConvTranspose2d::forward(const Tensor& input, Tensor& output) const {  // (N, in, H, W) -> (N, out, OH, OW)
    output.resize(output_shape(input.shape()));
    const Geometry g = geometry(options_, input.shape(), output.shape());
    const float* x = input.data();
    const float* w = weight().value;
    float* y = output.data();
    const std::int64_t plane = g.out_height * g.out_width;
#pragma omp parallel for
    for (std::int64_t n = 0; n < g.batch; ++n) {
        for (std::int64_t oc = 0; oc < g.out_channels; ++oc) {
            const float value = bias() ? bias()->value[oc] : 0.0f;
            std::fill(y + (n * g.out_channels + oc) * plane, y + (n * g.out_channels + oc + 1) * plane, value);
        }
        for (std::int64_t ic = 0; ic < g.in_channels; ++ic)
            for_each_tap(options_, g, n, ic, [&](std::int64_t out, std::int64_t in, std::int64_t k) { y[out] += x[in] * w[k]; });
    }
}

void ConvTranspose2d::backward(const Tensor& input, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) {
    const Geometry g = geometry(options_, input.shape(), output.shape());
    const float* x = input.data();
    const float* w = weight().value;
    const float* dy = grad_output.data();
    float* dw = weight().grad;
    if (bias()) {
        float* db = bias()->grad;
        const std::int64_t plane = g.out_height * g.out_width;
        for (std::int64_t oc = 0; oc < g.out_channels; ++oc) {
            double sum = 0.0;
            for (std::int64_t n = 0; n < g.batch; ++n)
                for (std::int64_t i = 0; i < plane; ++i) sum += dy[(n * g.out_channels + oc) * plane + i];
            db[oc] = static_cast<float>(sum);
        }
    }
    // Weight gradient: each input channel owns its slice of the weights.
    std::fill(dw, dw + weight().shape.element_count(), 0.0f);
#pragma omp parallel for
    for (std::int64_t ic = 0; ic < g.in_channels; ++ic)
        for (std::int64_t n = 0; n < g.batch; ++n)
            for_each_tap(options_, g, n, ic, [&](std::int64_t out, std::int64_t in, std::int64_t k) { dw[k] += x[in] * dy[out]; });
    if (grad_input == nullptr) return;
    grad_input->resize(input.shape());
    grad_input->fill(0.0f);
    float* dx = grad_input->data();
#pragma omp parallel for
    for (std::int64_t n = 0; n < g.batch; ++n)
        for (std::int64_t ic = 0; ic < g.in_channels; ++ic)
            for_each_tap(options_, g, n, ic, [&](std::int64_t out, std::int64_t in, std::int64_t k) { dx[in] += w[k] * dy[out]; });
}

}  // namespace convnet
