// GaussPool2d: the fixed Gaussian window weights, the shape rule, forward and backward, one
// (image, channel) plane at a time.
#include <convnet/error.h>
#include <convnet/layers/conv2d.h>
#include <convnet/layers/gausspool2d.h>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace convnet {

namespace {
std::string pair_text(std::int64_t height, std::int64_t width) {
    return height == width ? std::to_string(height) : std::to_string(height) + "x" + std::to_string(width);
}
}  // namespace

double GaussPool2d::default_sigma(std::int64_t kernel_height, std::int64_t kernel_width) {
    return 0.5 * static_cast<double>(std::max(kernel_height, kernel_width));
}

GaussPool2d::GaussPool2d(const GaussPool2dOptions& options) : options_(options) {
    if (2 * options.padding_height > options.kernel_height || 2 * options.padding_width > options.kernel_width)
        throw Error("gausspool2d: padding " + pair_text(options.padding_height, options.padding_width) +
                    " should be at most half the kernel " + pair_text(options.kernel_height, options.kernel_width));
    if (!(options.sigma > 0.0) || !std::isfinite(options.sigma))
        throw Error("gausspool2d: sigma " + std::to_string(options.sigma) + " should be a positive number of pixels");
    const double centre_row = 0.5 * static_cast<double>(options.kernel_height - 1);
    const double centre_col = 0.5 * static_cast<double>(options.kernel_width - 1);
    std::vector<double> raw;
    double total = 0.0;
    for (std::int64_t a = 0; a < options.kernel_height; ++a)
        for (std::int64_t b = 0; b < options.kernel_width; ++b) {
            const double distance_squared = (a - centre_row) * (a - centre_row) + (b - centre_col) * (b - centre_col);
            raw.push_back(std::exp(-distance_squared / (2.0 * options.sigma * options.sigma)));
            total += raw.back();
        }
    for (double value : raw) weights_.push_back(static_cast<float>(value / total));
}

std::string GaussPool2d::options_text() const {
    const GaussPool2dOptions& o = options_;
    std::string text = "kernel=" + pair_text(o.kernel_height, o.kernel_width) +
                       " stride=" + pair_text(o.stride_height, o.stride_width);
    if (o.padding_height != 0 || o.padding_width != 0) text += " pad=" + pair_text(o.padding_height, o.padding_width);
    if (o.sigma != default_sigma(o.kernel_height, o.kernel_width)) {
        char sigma[32];
        const auto result = std::to_chars(sigma, sigma + sizeof sigma, o.sigma);  // shortest round trip
        text += " sigma=" + std::string(sigma, result.ptr);
    }
    return text;
}

Shape GaussPool2d::output_shape(const Shape& input) const {
    if (input.rank() != 4) throw Error("gausspool2d expects an input (N, C, H, W), got " + input.to_string());
    const GaussPool2dOptions& o = options_;
    return Shape{input[0], input[1],
                 convolution_output_size("gausspool2d", "height", input[2], o.kernel_height, o.stride_height, o.padding_height, 1),
                 convolution_output_size("gausspool2d", "width", input[3], o.kernel_width, o.stride_width, o.padding_width, 1)};
}

std::int64_t GaussPool2d::multiply_adds(const Shape& input) const {
    return output_shape(input.with_batch(1)).element_count() * options_.kernel_height * options_.kernel_width;
}

void GaussPool2d::forward(const Tensor& input, Tensor& output) const {  // (N, C, H, W) -> (N, C, OH, OW)
    output.resize(output_shape(input.shape()));
    const GaussPool2dOptions& o = options_;
    const Shape& in = input.shape();
    const Shape& out = output.shape();
    const std::int64_t planes = in[0] * in[1], in_plane = in[2] * in[3], out_plane = out[2] * out[3];
#pragma omp parallel for
    for (std::int64_t p = 0; p < planes; ++p) {
        const float* source = input.data() + p * in_plane;
        float* target = output.data() + p * out_plane;
        for (std::int64_t oh = 0; oh < out[2]; ++oh)
            for (std::int64_t ow = 0; ow < out[3]; ++ow) {
                const std::int64_t top = oh * o.stride_height - o.padding_height;
                const std::int64_t left = ow * o.stride_width - o.padding_width;
                float sum = 0.0f;
                for (std::int64_t a = 0; a < o.kernel_height; ++a) {
                    const std::int64_t ih = top + a;
                    if (ih < 0 || ih >= in[2]) continue;
                    for (std::int64_t b = 0; b < o.kernel_width; ++b) {
                        const std::int64_t iw = left + b;
                        if (iw < 0 || iw >= in[3]) continue;
                        sum += weights_[static_cast<std::size_t>(a * o.kernel_width + b)] * source[ih * in[3] + iw];
                    }
                }
                target[oh * out[3] + ow] = sum;
            }
    }
}

void GaussPool2d::backward(const Tensor& input, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) {
    if (grad_input == nullptr) return;
    grad_input->resize(input.shape());
    grad_input->fill(0.0f);
    const GaussPool2dOptions& o = options_;
    const Shape& in = input.shape();
    const Shape& out = output.shape();
    const std::int64_t planes = in[0] * in[1], in_plane = in[2] * in[3], out_plane = out[2] * out[3];
#pragma omp parallel for
    for (std::int64_t p = 0; p < planes; ++p) {
        const float* grad = grad_output.data() + p * out_plane;
        float* target = grad_input->data() + p * in_plane;
        for (std::int64_t oh = 0; oh < out[2]; ++oh)
            for (std::int64_t ow = 0; ow < out[3]; ++ow) {
                const std::int64_t top = oh * o.stride_height - o.padding_height;
                const std::int64_t left = ow * o.stride_width - o.padding_width;
                const float gradient = grad[oh * out[3] + ow];
                for (std::int64_t a = 0; a < o.kernel_height; ++a) {
                    const std::int64_t ih = top + a;
                    if (ih < 0 || ih >= in[2]) continue;
                    for (std::int64_t b = 0; b < o.kernel_width; ++b) {
                        const std::int64_t iw = left + b;
                        if (iw < 0 || iw >= in[3]) continue;
                        target[ih * in[3] + iw] += weights_[static_cast<std::size_t>(a * o.kernel_width + b)] * gradient;
                    }
                }
            }
    }
}

}  // namespace convnet
