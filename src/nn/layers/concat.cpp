// Concat: each input's block of channels copied into place per image, and split back in backward.
#include <convnet/core/error.h>
#include <convnet/nn/layers/concat.h>

#include <algorithm>

namespace convnet {

Shape Concat::graph_output_shape(std::span<const Shape> inputs) const {
    if (!inputs.empty() && inputs[0].rank() < 2)
        throw Error("concat: input 1 is " + inputs[0].to_string() + ", expected (N, C, ...) to join along C");
    check_agree(inputs, 1, ": concat joins along channels (dim 1), so every other size must agree");
    std::vector<std::int64_t> dims = inputs[0].dims();
    for (std::size_t k = 1; k < inputs.size(); ++k) dims[1] = checked_add(dims[1], inputs[k][1], "concat channels");
    return Shape(dims);
}

namespace {
// Values of one image of `shape` (C·H·W, or F).
std::int64_t per_image(const Shape& shape) { return shape.with_batch(1).element_count(); }
}  // namespace

void Concat::graph_forward(std::span<const Tensor* const> inputs, Tensor& output) const {  // (N, Ck, ...) -> (N, ΣCk, ...)
    std::vector<Shape> shapes;
    for (const Tensor* input : inputs) shapes.push_back(input->shape());
    output.resize(graph_output_shape(shapes));
    const std::int64_t batch = output.shape()[0], output_block = per_image(output.shape());
    std::int64_t offset = 0;  // where this input's channels start within an image of the output
    for (const Tensor* input : inputs) {
        const std::int64_t block = per_image(input->shape());
        for (std::int64_t n = 0; n < batch; ++n)
            std::copy(input->data() + n * block, input->data() + (n + 1) * block, output.data() + n * output_block + offset);
        offset += block;
    }
}

void Concat::graph_backward(std::span<const Tensor* const> inputs, const Tensor&, const Tensor& grad_output,
                            std::span<Tensor* const> grad_inputs) {
    const std::int64_t batch = grad_output.shape()[0], output_block = per_image(grad_output.shape());
    std::int64_t offset = 0;
    for (std::size_t k = 0; k < inputs.size(); ++k) {
        const std::int64_t block = per_image(inputs[k]->shape());
        if (k < grad_inputs.size() && grad_inputs[k] != nullptr) {
            grad_inputs[k]->resize(inputs[k]->shape());
            for (std::int64_t n = 0; n < batch; ++n)
                std::copy(grad_output.data() + n * output_block + offset, grad_output.data() + n * output_block + offset + block,
                          grad_inputs[k]->data() + n * block);
        }
        offset += block;
    }
}

}  // namespace convnet
