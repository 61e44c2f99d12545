// The fast path: a network compiled to oneDNN primitives that keep activations in oneDNN's
// blocked layouts (nChw16c) from layer to layer, with batch norm and ReLU fused, and memory
// planned once per batch size. Internal: the Network uses it when every layer has a primitive,
// and the layer classes stay the readable reference it is tested against.
#pragma once

#include <convnet/model.h>

#include <memory>
#include <string>
#include <vector>

namespace convnet::engine {

class OnednnPath {
public:
    // Null (with the reason in `why_not`) when some layer has no oneDNN counterpart here.
    static std::unique_ptr<OnednnPath> create(const std::vector<LayerPlan>& layers, std::string& why_not);
    ~OnednnPath();

    // Training mode over (N, C, H, W); returns the logits (N, classes), valid until the next call.
    const Tensor& forward_train(const Tensor& input);
    // Writes the trainable gradients of the last forward_train into the network's arena.
    void backward(const Tensor& grad_logits);
    // Evaluation mode (running statistics). Weights are brought into the primitives' layouts only
    // when `parameter_version` differs from the last call's. Not thread-safe: the Network
    // serialises calls.
    void predict(const Tensor& input, Tensor& logits, std::uint64_t parameter_version);

private:
    struct Impl;
    explicit OnednnPath(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace convnet::engine
