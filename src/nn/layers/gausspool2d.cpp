// GaussPool2d: the fixed Gaussian window weights, the shape rule, forward and backward, one
// (image, channel) plane at a time.
#include <convnet/core/error.h>
#include <convnet/nn/layers/gausspool2d.h>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace convnet {

namespace {
// The weight of input pixel (ih, iw) in `window`: the one at kernel offset (ih − rows.start, iw − columns.start).
float weight_at(const std::vector<float>& weights, std::int64_t kernel_width, const WindowAt& window, std::int64_t ih, std::int64_t iw) {
    return weights[static_cast<std::size_t>((ih - window.rows.start) * kernel_width + iw - window.columns.start)];
}
}  // namespace

double GaussPool2d::default_sigma(std::int64_t kernel_height, std::int64_t kernel_width) {
    return 0.5 * static_cast<double>(std::max(kernel_height, kernel_width));
}

GaussPool2d::GaussPool2d(const GaussPool2dOptions& options) : options_(options) {
    options.check_padding("gausspool2d");
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

std::vector<Attribute> GaussPool2d::attributes() const {
    std::vector<Attribute> attributes = options_.attributes();
    attributes.push_back(
        {"sigma", options_.sigma, "sigma", options_.sigma == default_sigma(options_.kernel_height, options_.kernel_width)});
    return attributes;
}

Shape GaussPool2d::output_shape(const Shape& input) const { return options_.output_shape("gausspool2d", input); }

std::int64_t GaussPool2d::multiply_adds(const Shape& input) const { return options_.multiply_adds("gausspool2d", input); }

void GaussPool2d::forward(const Tensor& input, Tensor& output) const {  // (N, C, H, W) -> (N, C, OH, OW)
    output.resize(output_shape(input.shape()));
    map_windows(options_, input, output, [this](const float* plane, const WindowAt& window) {
        float sum = 0.0f;
        for (std::int64_t ih = window.rows.first; ih < window.rows.last; ++ih)
            for (std::int64_t iw = window.columns.first; iw < window.columns.last; ++iw)
                sum += weight_at(weights_, options_.kernel_width, window, ih, iw) * plane[ih * window.width + iw];
        return sum;
    });
}

void GaussPool2d::backward(const Tensor& input, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) {
    if (grad_input == nullptr) return;
    grad_input->resize(input.shape());
    grad_input->fill(0.0f);
    const float* grad = grad_output.data();
    float* target = grad_input->data();
    for_each_window(options_, input.shape(), output.shape(), [&](const WindowAt& window) {
        float* plane = target + window.input_plane;
        const float gradient = grad[window.output];
        for (std::int64_t ih = window.rows.first; ih < window.rows.last; ++ih)
            for (std::int64_t iw = window.columns.first; iw < window.columns.last; ++iw)
                plane[ih * window.width + iw] += weight_at(weights_, options_.kernel_width, window, ih, iw) * gradient;
    });
}

}  // namespace convnet
