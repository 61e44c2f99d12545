// L2Pool2d: the shape rule, forward (sum of squares in double, then the root) and backward,
// one (image, channel) plane at a time.
#include <convnet/nn/layers/l2pool2d.h>

#include <cmath>

namespace convnet {

L2Pool2d::L2Pool2d(const L2Pool2dOptions& options) : options_(options) { options.check_padding("l2pool2d"); }

std::vector<Attribute> L2Pool2d::attributes() const { return options_.attributes(); }

Shape L2Pool2d::output_shape(const Shape& input) const { return options_.output_shape("l2pool2d", input); }

std::int64_t L2Pool2d::multiply_adds(const Shape& input) const { return options_.multiply_adds("l2pool2d", input); }

void L2Pool2d::forward(const Tensor& input, Tensor& output) const {  // (N, C, H, W) -> (N, C, OH, OW)
    output.resize(output_shape(input.shape()));
    map_windows(options_, input, output, [](const float* plane, const WindowAt& window) {
        double sum_of_squares = 0.0;
        for (std::int64_t ih = window.rows.first; ih < window.rows.last; ++ih)
            for (std::int64_t iw = window.columns.first; iw < window.columns.last; ++iw) {
                const double value = plane[ih * window.width + iw];
                sum_of_squares += value * value;
            }
        return static_cast<float>(std::sqrt(sum_of_squares));
    });
}

void L2Pool2d::backward(const Tensor& input, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) {
    if (grad_input == nullptr) return;
    grad_input->resize(input.shape());
    grad_input->fill(0.0f);
    const float* source = input.data();
    const float* pooled = output.data();
    const float* grad = grad_output.data();
    float* target = grad_input->data();
    for_each_window(options_, input.shape(), output.shape(), [&](const WindowAt& window) {
        const float norm = pooled[window.output];
        if (norm == 0.0f) return;
        const float scale = grad[window.output] / norm;
        for (std::int64_t ih = window.rows.first; ih < window.rows.last; ++ih)
            for (std::int64_t iw = window.columns.first; iw < window.columns.last; ++iw) {
                const std::int64_t index = window.input_plane + ih * window.width + iw;
                target[index] += scale * source[index];
            }
    });
}

}  // namespace convnet
