// The parameter arena: one block of values, one of gradients, and the views into them.
#include <convnet/nn/arena.h>

#include <algorithm>

namespace convnet {

ParameterArena::ParameterArena(const std::vector<Layer*>& layers) {
    for (const Layer* layer : layers) {
        trainable_count_ = checked_add(trainable_count_, layer->parameter_count(ParameterRole::trainable), "trainable parameters");
        total_count_ = checked_add(
            total_count_,
            checked_add(layer->parameter_count(ParameterRole::trainable), layer->parameter_count(ParameterRole::buffer), "parameters"),
            "parameters");
    }
    values_.resize(Shape{std::max<std::int64_t>(total_count_, 1)});
    values_.fill(0.0f);
    gradients_.resize(Shape{std::max<std::int64_t>(trainable_count_, 1)});
    gradients_.fill(0.0f);
    std::int64_t trainable_offset = 0, buffer_offset = trainable_count_;
    for (Layer* layer : layers)
        for (Parameter& parameter : layer->parameters()) {
            if (parameter.role == ParameterRole::trainable) {
                parameter.value = values_.data() + trainable_offset;
                parameter.grad = gradients_.data() + trainable_offset;
                trainable_offset += parameter.shape.element_count();
            } else {
                parameter.value = values_.data() + buffer_offset;
                parameter.grad = nullptr;
                buffer_offset += parameter.shape.element_count();
            }
        }
}

}  // namespace convnet
