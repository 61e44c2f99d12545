// Parameter bookkeeping shared by all layers.
#include <convnet/layer.h>

namespace convnet {

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
