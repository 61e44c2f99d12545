// The reference backend: the layers' own forward, forward_train and backward, in order.
#include "reference_executor.h"

#include <algorithm>

namespace convnet::engine {

void reference_forward(const std::vector<LayerPlan>& layers, const Tensor& input, Tensor& logits,
                       const Network::ActivationObserver& observer) {
    Tensor buffers[2];
    const Tensor* current = &input;
    for (std::size_t i = 0; i < layers.size(); ++i) {
        Tensor& target = (i + 1 == layers.size()) ? logits : buffers[i % 2];
        layers[i].layer->forward(*current, target);
        if (observer) observer(i, layers[i], target);
        current = &target;
    }
}

ReferenceExecutor::ReferenceExecutor(const std::vector<LayerPlan>& layers) : layers_(layers), activations_(layers.size() + 1) {}

const Tensor& ReferenceExecutor::forward_train(const Tensor& input) {
    activations_[0].resize(input.shape());
    std::copy(input.data(), input.data() + input.size(), activations_[0].data());
    for (std::size_t i = 0; i < layers_.size(); ++i) layers_[i].layer->forward_train(activations_[i], activations_[i + 1]);
    return activations_.back();
}

void ReferenceExecutor::backward(const Tensor& grad_logits) {
    const Tensor* grad_output = &grad_logits;
    for (std::size_t i = layers_.size(); i-- > 0;) {
        Tensor* grad_input = i == 0 ? nullptr : &grad_buffers_[i % 2];
        layers_[i].layer->backward(activations_[i], activations_[i + 1], *grad_output, grad_input);
        grad_output = grad_input;
    }
}

void ReferenceExecutor::predict(const Tensor& input, Tensor& logits, std::uint64_t) { reference_forward(layers_, input, logits, {}); }

std::unique_ptr<Executor> create_reference_executor(const std::vector<LayerPlan>& layers, std::string&) {
    return std::make_unique<ReferenceExecutor>(layers);
}

}  // namespace convnet::engine
