// Add: the sum of its inputs, and the gradient handed unchanged to each.
#include <convnet/nn/layers/add.h>

#include <algorithm>

namespace convnet {

Shape Add::graph_output_shape(std::span<const Shape> inputs) const {
    check_agree(inputs, -1, ": add needs inputs of one shape");
    return inputs[0];
}

void Add::graph_forward(std::span<const Tensor* const> inputs, Tensor& output) const {  // k × (N, ...) -> (N, ...)
    std::vector<Shape> shapes;
    for (const Tensor* input : inputs) shapes.push_back(input->shape());
    output.resize(graph_output_shape(shapes));
    const std::int64_t size = output.size();
    float* out = output.data();
    std::copy(inputs[0]->data(), inputs[0]->data() + size, out);
    for (std::size_t k = 1; k < inputs.size(); ++k) {
        const float* in = inputs[k]->data();
#pragma omp parallel for simd
        for (std::int64_t i = 0; i < size; ++i) out[i] += in[i];
    }
}

void Add::graph_backward(std::span<const Tensor* const> inputs, const Tensor&, const Tensor& grad_output,
                         std::span<Tensor* const> grad_inputs) {
    for (std::size_t k = 0; k < grad_inputs.size() && k < inputs.size(); ++k) {
        if (grad_inputs[k] == nullptr) continue;
        grad_inputs[k]->resize(inputs[k]->shape());
        std::copy(grad_output.data(), grad_output.data() + grad_output.size(), grad_inputs[k]->data());
    }
}

}  // namespace convnet
