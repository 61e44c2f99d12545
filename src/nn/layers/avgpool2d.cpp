// AvgPool2d: the shape rule, forward and backward, one (image, channel) plane at a time.
#include <convnet/nn/layers/avgpool2d.h>

namespace convnet {

namespace {
// What a window's sum is divided by. With floor-mode output sizes a window never reaches past
// the padding, so the count-with-padding divisor is always the full kernel area.
float divisor(const AvgPool2dOptions& options, const WindowAt& window) {
    const std::int64_t count =
        options.count_include_pad ? options.kernel_height * options.kernel_width : window.rows.size() * window.columns.size();
    return static_cast<float>(count);
}
}  // namespace

AvgPool2d::AvgPool2d(const AvgPool2dOptions& options) : options_(options) { options.check_padding("avgpool2d", " (as in PyTorch)"); }

std::vector<Attribute> AvgPool2d::attributes() const {
    std::vector<Attribute> attributes = options_.attributes();
    attributes.push_back({"count_include_pad", options_.count_include_pad, "count_pad", options_.count_include_pad});
    return attributes;
}

Shape AvgPool2d::output_shape(const Shape& input) const { return options_.output_shape("avgpool2d", input); }

std::int64_t AvgPool2d::multiply_adds(const Shape& input) const { return options_.multiply_adds("avgpool2d", input); }

void AvgPool2d::forward(const Tensor& input, Tensor& output) const {  // (N, C, H, W) -> (N, C, OH, OW)
    output.resize(output_shape(input.shape()));
    map_windows(options_, input, output, [this](const float* plane, const WindowAt& window) {
        float sum = 0.0f;
        for (std::int64_t ih = window.rows.first; ih < window.rows.last; ++ih)
            for (std::int64_t iw = window.columns.first; iw < window.columns.last; ++iw) sum += plane[ih * window.width + iw];
        return sum / divisor(options_, window);
    });
}

void AvgPool2d::backward(const Tensor& input, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) {
    if (grad_input == nullptr) return;
    grad_input->resize(input.shape());
    grad_input->fill(0.0f);
    const float* grad = grad_output.data();
    float* target = grad_input->data();
    for_each_window(options_, input.shape(), output.shape(), [&](const WindowAt& window) {
        float* plane = target + window.input_plane;
        const float share = grad[window.output] / divisor(options_, window);
        for (std::int64_t ih = window.rows.first; ih < window.rows.last; ++ih)
            for (std::int64_t iw = window.columns.first; iw < window.columns.last; ++iw) plane[ih * window.width + iw] += share;
    });
}

}  // namespace convnet
