// PoolWindow: the padding check, the options text, the shape rule and the cost shared by the
// pooling layers.
#include <convnet/core/error.h>
#include <convnet/nn/layers/pool_window.h>

namespace convnet {

void PoolWindow::check_padding(const std::string& layer, const std::string& note) const {
    if (!padding_fits())
        throw Error(layer + ": padding " + pair_text(padding_height, padding_width) + " should be at most half the kernel " +
                    pair_text(kernel_height, kernel_width) + note);
}

std::vector<Attribute> PoolWindow::attributes() const {
    // stride is always written (is_default false): a reader sees the step without knowing the
    // default is the kernel.
    return {{"kernel_size", std::pair{kernel_height, kernel_width}, "kernel"},
            {"stride", std::pair{stride_height, stride_width}, "stride"},
            {"padding", std::pair{padding_height, padding_width}, "pad", padding_height == 0 && padding_width == 0}};
}

Shape PoolWindow::output_shape(const std::string& layer, const Shape& input) const {
    if (input.rank() != 4) throw Error(layer + " expects an input (N, C, H, W), got " + input.to_string());
    const auto [output_height, output_width] = output_size(layer, input[2], input[3]);
    return Shape{input[0], input[1], output_height, output_width};
}

std::int64_t PoolWindow::multiply_adds(const std::string& layer, const Shape& input) const {
    const std::string what = layer + " multiply-adds";
    return checked_multiply(output_shape(layer, input.with_batch(1)).element_count(), checked_multiply(kernel_height, kernel_width, what),
                            what);
}

}  // namespace convnet
