// The reference backend: every layer's own plain code, in layer order. It runs any model, and is
// what every other backend is tested against.
#pragma once

#include <convnet/executor.h>
#include <convnet/model.h>

#include <functional>

namespace convnet::engine {

// Evaluation over the layers; each output is handed to `observer` when it is set.
void reference_forward(const std::vector<LayerPlan>& layers, const Tensor& input, Tensor& logits,
                       const Network::ActivationObserver& observer);

class ReferenceExecutor : public Executor {
public:
    explicit ReferenceExecutor(const std::vector<LayerPlan>& layers);
    const Tensor& forward_train(const Tensor& input) override;
    void backward(const Tensor& grad_logits) override;
    void predict(const Tensor& input, Tensor& logits, std::uint64_t parameter_version) override;
    bool concurrent_predict() const override { return true; }  // layers' forward is const

private:
    const std::vector<LayerPlan>& layers_;
    std::vector<Tensor> activations_;  // the input and every layer's output of the last forward_train
    Tensor grad_buffers_[2];
};

std::unique_ptr<Executor> create_reference_executor(const std::vector<LayerPlan>& layers, std::string& why_not);

}  // namespace convnet::engine
