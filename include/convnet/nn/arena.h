// The parameter arena: the parameters of a list of layers in one contiguous block of values and
// one of gradients, each Parameter a named view into them. What the Network, the test harness and
// the layer benchmark all bind their layers with.
#pragma once

#include <convnet/nn/layer.h>
#include <convnet/core/tensor.h>

#include <cstdint>
#include <span>
#include <vector>

namespace convnet {

class ParameterArena {
public:
    // Lays out every parameter of `layers`: the trainable values first, in layer and declaration
    // order (the block the optimiser steps over, as torch.optim sees model.parameters()), then the
    // buffers; the gradients block mirrors the trainable values. Sets every Parameter's `value`
    // (and `grad` for trainable ones), zero-filled. The views stay valid while the arena lives,
    // moves included.
    explicit ParameterArena(const std::vector<Layer*>& layers);
    ParameterArena(ParameterArena&&) = default;
    ParameterArena& operator=(ParameterArena&&) = default;

    std::span<float> trainable_values() { return {values_.data(), static_cast<std::size_t>(trainable_count_)}; }
    std::span<float> gradients() { return {gradients_.data(), static_cast<std::size_t>(trainable_count_)}; }
    // The buffers (running statistics), after the trainable values.
    std::span<float> buffers() { return {values_.data() + trainable_count_, static_cast<std::size_t>(total_count_ - trainable_count_)}; }
    // Trainable values and buffers together.
    std::span<const float> all_values() const { return {values_.data(), static_cast<std::size_t>(total_count_)}; }
    std::int64_t trainable_count() const { return trainable_count_; }

private:
    Tensor values_, gradients_;
    std::int64_t trainable_count_ = 0, total_count_ = 0;
};

}  // namespace convnet
