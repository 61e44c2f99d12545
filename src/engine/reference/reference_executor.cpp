// The reference backend: the layers' own graph_forward, graph_forward_train and graph_backward,
// in order, with activations addressed by slot (0 the network's input, i + 1 layer i's output).
#include "reference_executor.h"

#include <algorithm>
#include <deque>

namespace convnet::engine {

namespace {

std::size_t slot_of(int input) { return static_cast<std::size_t>(input + 1); }  // kNetworkInput -> 0

// For every slot, the index of the last layer that reads it (the last layer's output: its own).
std::vector<std::size_t> last_readers(const std::vector<LayerPlan>& layers) {
    std::vector<std::size_t> last(layers.size() + 1, 0);
    for (std::size_t i = 0; i < layers.size(); ++i)
        for (int input : layers[i].inputs) last[slot_of(input)] = i;
    last[layers.size()] = layers.size();
    return last;
}

}  // namespace

void reference_forward(const std::vector<LayerPlan>& layers, const Tensor& input, Tensor& logits, const ActivationObserver& observer) {
    const std::vector<std::size_t> last = last_readers(layers);
    std::vector<Tensor> outputs(layers.size());  // released after their last reader
    std::vector<const Tensor*> inputs;
    for (std::size_t i = 0; i < layers.size(); ++i) {
        inputs.clear();
        for (int source : layers[i].inputs) inputs.push_back(source == kNetworkInput ? &input : &outputs[static_cast<std::size_t>(source)]);
        Tensor& target = (i + 1 == layers.size()) ? logits : outputs[i];
        layers[i].layer->graph_forward(inputs, target);
        if (observer) observer(i, layers[i], target);
        for (int source : layers[i].inputs)
            if (source != kNetworkInput && last[slot_of(source)] == i) outputs[static_cast<std::size_t>(source)] = Tensor();
    }
}

ReferenceExecutor::ReferenceExecutor(const std::vector<LayerPlan>& layers)
    : layers_(layers), activations_(layers.size() + 1), gradients_(layers.size() + 1) {}

const Tensor& ReferenceExecutor::forward_train(const Tensor& input) {
    activations_[0].resize(input.shape());
    std::copy(input.data(), input.data() + input.size(), activations_[0].data());
    std::vector<const Tensor*> inputs;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
        inputs.clear();
        for (int source : layers_[i].inputs) inputs.push_back(&activations_[slot_of(source)]);
        layers_[i].layer->graph_forward_train(inputs, activations_[i + 1]);
    }
    return activations_.back();
}

void ReferenceExecutor::backward(const Tensor& grad_logits) {
    std::vector<bool> written(layers_.size() + 1, false);  // whether gradients_[slot] holds a sum yet
    std::vector<const Tensor*> inputs;
    std::vector<Tensor*> grad_inputs;
    for (std::size_t i = layers_.size(); i-- > 0;) {
        const Tensor& grad_output = i + 1 == layers_.size() ? grad_logits : gradients_[i + 1];
        inputs.clear();
        grad_inputs.clear();
        // A slot another reader has written already (or this layer reads twice: add from=a,a)
        // takes its gradient here, to be added in; a deque keeps the addresses stable.
        std::deque<Tensor> extra;
        for (int source : layers_[i].inputs) {
            const std::size_t slot = slot_of(source);
            inputs.push_back(&activations_[slot]);
            if (source == kNetworkInput) grad_inputs.push_back(nullptr);  // never used
            else if (!written[slot] && std::find(grad_inputs.begin(), grad_inputs.end(), &gradients_[slot]) == grad_inputs.end())
                grad_inputs.push_back(&gradients_[slot]);
            else grad_inputs.push_back(&extra.emplace_back());
        }
        layers_[i].layer->graph_backward(inputs, activations_[i + 1], grad_output, grad_inputs);
        std::size_t extra_index = 0;
        for (std::size_t k = 0; k < layers_[i].inputs.size(); ++k) {
            const int source = layers_[i].inputs[k];
            if (source == kNetworkInput) continue;
            const std::size_t slot = slot_of(source);
            if (grad_inputs[k] == &gradients_[slot]) {
                written[slot] = true;
                continue;
            }
            const Tensor& more = extra[extra_index++];
            Tensor& sum = gradients_[slot];
            for (std::int64_t j = 0; j < sum.size(); ++j) sum[j] += more[j];
        }
        if (i + 1 < layers_.size()) gradients_[i + 1] = Tensor();  // used: release it
    }
}

void ReferenceExecutor::predict(const Tensor& input, Tensor& logits, std::uint64_t) { reference_forward(layers_, input, logits, {}); }

void ReferenceExecutor::observe(const Tensor& input, Tensor& logits, const ActivationObserver& observer) {
    reference_forward(layers_, input, logits, observer);
}

std::unique_ptr<Executor> create_reference_executor(const std::vector<LayerPlan>& layers, std::string&) {
    return std::make_unique<ReferenceExecutor>(layers);
}

}  // namespace convnet::engine
