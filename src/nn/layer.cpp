// Parameter bookkeeping shared by all layers.
#include <convnet/core/error.h>
#include <convnet/nn/layer.h>

#include <cmath>

namespace convnet {

namespace {
void require_one_input(const Layer& layer, std::size_t count) {
    if (count != 1) throw Error(layer.type() + " reads one input, got " + std::to_string(count));
}
}  // namespace

Shape Layer::graph_output_shape(std::span<const Shape> inputs) const {
    require_one_input(*this, inputs.size());
    return output_shape(inputs[0]);
}

void Layer::graph_forward(std::span<const Tensor* const> inputs, Tensor& output) const {
    require_one_input(*this, inputs.size());
    forward(*inputs[0], output);
}

void Layer::graph_forward_train(std::span<const Tensor* const> inputs, Tensor& output) {
    require_one_input(*this, inputs.size());
    forward_train(*inputs[0], output);
}

void Layer::graph_backward(std::span<const Tensor* const> inputs, const Tensor& output, const Tensor& grad_output,
                           std::span<Tensor* const> grad_inputs) {
    require_one_input(*this, inputs.size());
    backward(*inputs[0], output, grad_output, grad_inputs.empty() ? nullptr : grad_inputs[0]);
}

void Layer::initialize_uniform(Random& random, std::int64_t fan_in, Parameter& weight, Parameter* bias) {
    const float bound = 1.0f / std::sqrt(static_cast<float>(fan_in));
    for (std::int64_t i = 0; i < weight.shape.element_count(); ++i) weight.value[i] = random.uniform(-bound, bound);
    if (bias != nullptr)
        for (std::int64_t i = 0; i < bias->shape.element_count(); ++i) bias->value[i] = random.uniform(-bound, bound);
}

std::string Layer::output_size_formula(const Shape&, const Shape&) const { return {}; }

std::int64_t Layer::minimum_training_batch(const Shape&) const { return 1; }

std::string Layer::per_axis_formula(const std::string& height, const std::string& width) {
    return height == width ? height : "H: " + height + "; W: " + width;
}

int Layer::declare(std::string name, Shape shape, ParameterRole role) {
    parameters_.push_back(Parameter{std::move(name), std::move(shape), role, nullptr, nullptr});
    return static_cast<int>(parameters_.size()) - 1;
}

std::int64_t Layer::parameter_count(ParameterRole role) const {
    std::int64_t count = 0;
    for (const Parameter& parameter : parameters_)
        if (parameter.role == role) count = checked_add(count, parameter.shape.element_count(), type() + " parameters");
    return count;
}

}  // namespace convnet
