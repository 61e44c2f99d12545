// The reference backend: every layer's own plain code, in layer order, following each layer's
// inputs through the graph. It runs any model, and is what every other backend is tested against.
#pragma once

#include <convnet/nn/executor.h>
#include <convnet/nn/plan.h>

#include <functional>

namespace convnet::engine {

// Evaluation over the layers; each output is handed to `observer` when it is set. An activation
// is released as soon as the last layer that reads it has run.
void reference_forward(const std::vector<LayerPlan>& layers, const Tensor& input, Tensor& logits, const ActivationObserver& observer);

class ReferenceExecutor : public Executor {
public:
    explicit ReferenceExecutor(const std::vector<LayerPlan>& layers);
    const Tensor& forward_train(const Tensor& input) override;
    // An output read by several layers receives the sum of their gradients; a gradient is
    // released once the layer that produced its activation has used it.
    void backward(const Tensor& grad_logits) override;
    void predict(const Tensor& input, Tensor& logits, std::uint64_t parameter_version) override;
    bool concurrent_predict() const override { return true; }  // layers' forward is const
    void observe(const Tensor& input, Tensor& logits, const ActivationObserver& observer) override;

private:
    const std::vector<LayerPlan>& layers_;
    // The input (slot 0) and every layer's output (slot i + 1) of the last forward_train: each
    // layer's backward needs its own input and output.
    std::vector<Tensor> activations_;
    std::vector<Tensor> gradients_;  // per slot, during backward
};

std::unique_ptr<Executor> create_reference_executor(const std::vector<LayerPlan>& layers, std::string& why_not);

}  // namespace convnet::engine
