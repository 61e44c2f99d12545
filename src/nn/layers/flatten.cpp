// Flatten: a copy with a new shape; its backward is the copy back.
#include <convnet/core/error.h>
#include <convnet/nn/layers/flatten.h>

#include <algorithm>

namespace convnet {

Shape Flatten::output_shape(const Shape& input) const {
    if (input.rank() < 2) throw Error("flatten expects an input with a batch axis, got " + input.to_string());
    return Shape{input[0], input.element_count() / input[0]};
}

std::string Flatten::output_size_formula(const Shape& input, const Shape&) const {
    std::string text;
    for (int axis = input.rank() - 1; axis >= 1; --axis) text += (text.empty() ? "" : "·") + std::to_string(input[axis]);
    return text + " = " + std::to_string(input.with_batch(1).element_count());
}

void Flatten::forward(const Tensor& input, Tensor& output) const {
    output.resize(output_shape(input.shape()));
    std::copy(input.data(), input.data() + input.size(), output.data());
}

void Flatten::backward(const Tensor& input, const Tensor&, const Tensor& grad_output, Tensor* grad_input) {
    if (grad_input == nullptr) return;
    grad_input->resize(input.shape());
    std::copy(grad_output.data(), grad_output.data() + grad_output.size(), grad_input->data());
}

}  // namespace convnet
