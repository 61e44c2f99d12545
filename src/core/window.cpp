// SlidingWindow's output-size rule: the one place it is written.
#include <convnet/core/error.h>
#include <convnet/core/window.h>

namespace convnet {

namespace {
std::int64_t axis_output(const std::string& layer, const char* axis, std::int64_t input, std::int64_t span, std::int64_t stride,
                         std::int64_t padding) {
    const std::int64_t padded = input + 2 * padding;
    if (padded < span)
        throw Error(layer + ": kernel " + std::string(axis) + " " + std::to_string(span) + " is larger than the padded input " +
                    std::to_string(input) + " + 2*" + std::to_string(padding) + " = " + std::to_string(padded));
    return (padded - span) / stride + 1;
}
}  // namespace

std::pair<std::int64_t, std::int64_t> SlidingWindow::output_size(const std::string& layer, std::int64_t height, std::int64_t width) const {
    return {axis_output(layer, "height", height, span_height(), stride_height, padding_height),
            axis_output(layer, "width", width, span_width(), stride_width, padding_width)};
}

std::string pair_text(std::int64_t height, std::int64_t width) {
    return height == width ? std::to_string(height) : std::to_string(height) + "x" + std::to_string(width);
}

Conv2dGeometry Conv2dGeometry::of(const SlidingWindow& window, std::int64_t groups, const Shape& input, const Shape& output) {
    return {input[0],
            input[1],
            input[2],
            input[3],
            output[1],
            output[2],
            output[3],
            window.kernel_height,
            window.kernel_width,
            window.stride_height,
            window.stride_width,
            window.padding_height,
            window.padding_width,
            window.dilation_height,
            window.dilation_width,
            groups};
}

}  // namespace convnet
