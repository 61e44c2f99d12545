// MaxPool2d: the shape rule, forward, and backward by recomputing each window's argmax (no
// index tensor to keep between the passes).
#include <convnet/core/error.h>
#include <convnet/nn/layers/maxpool2d.h>

#include <cmath>

namespace convnet {

namespace {
// Index within its input plane of the first maximum of a window (PyTorch's choice on ties).
std::int64_t argmax(const float* plane, const WindowAt& window) {
    std::int64_t best = -1;
    for (std::int64_t ih = window.rows.first; ih < window.rows.last; ++ih)
        for (std::int64_t iw = window.columns.first; iw < window.columns.last; ++iw) {
            const std::int64_t index = ih * window.width + iw;
            // A NaN wins the window, as in torch.nn.MaxPool2d: the first NaN, else the first maximum.
            if (best < 0 || plane[index] > plane[best] || (std::isnan(plane[index]) && !std::isnan(plane[best]))) best = index;
        }
    return best;  // never -1: padding is at most half the kernel, so each window meets the input
}
}  // namespace

MaxPool2d::MaxPool2d(const MaxPool2dOptions& options) : options_(options) { options.check_padding("maxpool2d", " (as in PyTorch)"); }

std::vector<Attribute> MaxPool2d::attributes() const { return options_.attributes(); }

Shape MaxPool2d::output_shape(const Shape& input) const { return options_.output_shape("maxpool2d", input); }

void MaxPool2d::forward(const Tensor& input, Tensor& output) const {  // (N, C, H, W) -> (N, C, OH, OW)
    output.resize(output_shape(input.shape()));
    map_windows(options_, input, output, [](const float* plane, const WindowAt& window) { return plane[argmax(plane, window)]; });
}

void MaxPool2d::backward(const Tensor& input, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) {
    if (grad_input == nullptr) return;
    grad_input->resize(input.shape());
    grad_input->fill(0.0f);
    const float* source = input.data();
    const float* grad = grad_output.data();
    float* target = grad_input->data();
    for_each_window(options_, input.shape(), output.shape(), [&](const WindowAt& window) {
        target[window.input_plane + argmax(source + window.input_plane, window)] += grad[window.output];
    });
}

}  // namespace convnet
