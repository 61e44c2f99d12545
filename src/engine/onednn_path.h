// The fast path: a network compiled to oneDNN primitives that keep activations in oneDNN's
// blocked layouts (nChw16c) from layer to layer, with batch norm and ReLU fused, and memory
// planned once per batch size. Internal: the Network uses it when every layer has a primitive,
// and the layer classes stay the readable reference it is tested against.
#pragma once

#include <convnet/executor.h>
#include <convnet/model.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace convnet::engine {

// How the fast path serves a layer type.
enum class FastPathRole {
    stage,                // one primitive of its own
    batch_norm,           // batch normalization, fused with a relu that follows
    flatten_into_linear,  // no stage: the following linear's inner product reads the 4-D input
    dropout_features,     // the layer's own mask on (N, F) features; 4-D inputs are not served
    none,                 // not served: a model with it runs the reference layers
};

struct FastPathDecision {
    std::string_view type;  // the registry name
    FastPathRole role;
    std::string_view how;  // what serves it, or why nothing does
};

// The one table of what the fast path covers, by registry name; null for a type it does not
// list (tests/unit/test_registry.cpp requires a row for every registered type).
const FastPathDecision* fast_path_decision(std::string_view type);

// The "onednn" backend.
class OnednnPath : public Executor {
public:
    // Null (with the reason in `why_not`) when some layer has no oneDNN counterpart here.
    static std::unique_ptr<Executor> create(const std::vector<LayerPlan>& layers, std::string& why_not);
    ~OnednnPath() override;

    // Training mode over (N, C, H, W); returns the logits (N, classes), valid until the next call.
    const Tensor& forward_train(const Tensor& input) override;
    // Writes the trainable gradients of the last forward_train into the network's arena.
    void backward(const Tensor& grad_logits) override;
    // Evaluation mode (running statistics). Weights are brought into the primitives' layouts only
    // when `parameter_version` differs from the last call's. Not thread-safe: the Network
    // serialises calls.
    void predict(const Tensor& input, Tensor& logits, std::uint64_t parameter_version) override;

private:
    struct Impl;
    explicit OnednnPath(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace convnet::engine
