// The "onednn" backend: a network compiled to oneDNN primitives that keep activations in oneDNN's
// blocked layouts (nChw16c) from layer to layer, with batch norm and ReLU fused, and memory
// planned once per batch size. Internal: the backend table (src/engine/backends.cpp) creates it
// when every layer has a stage, and the layer classes stay the readable reference it is tested
// against.
//
// Files: memory.h (helpers), stage.h (the stage interface), one file per op kind
// (convolution, batch_norm, eltwise, pooling, inner_product, dropout), stage_table.cpp (which
// stage serves which layer type), fusion.h (how layers group into stages), executor.cpp (plans per
// batch size, and this class).
#pragma once

#include <convnet/nn/executor.h>
#include <convnet/nn/network.h>

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace convnet::engine::onednn {

class Stage;
struct StageRequest;
// Builds the stage for a request; null when the layer needs no stage in this mode (dropout in
// evaluation is the identity).
using StageFactory = std::unique_ptr<Stage> (*)(const StageRequest& request);

// How the fast path serves a layer type: the fusion rules (fusion.h) read these, never type names.
enum class FastPathRole {
    stage,                // one stage of its own
    convolution,          // a stage that, in evaluation, absorbs a following batch norm (and its relu)
    batch_norm,           // batch normalization, fused with a relu that follows
    relu,                 // a stage of its own where no batch norm (or convolution folding one) before it takes it as a post-op
    max_pool,             // a stage of its own; in training a 2×2 one after batch norm (N, C, H, W) and relu joins them (our kernel)
    inner_product,        // a stage of its own that reads the 4-D input of a flatten before it
    flatten_into_linear,  // no stage where an inner_product alone reads it (its inner product reads the 4-D input)
    dropout_features,     // the layer's own mask on (N, F) features; 4-D inputs are not served
    none,                 // not served: a model with it runs the reference backend
};

// A row of the one table of what the fast path covers, keyed by the layer's registry name.
struct FastPathDecision {
    std::string_view type;  // the registry name
    FastPathRole role;
    std::string_view how;     // what serves it, or why nothing does
    StageFactory make_stage;  // null for roles without a stage of their own
};

std::span<const FastPathDecision> fast_path_table();
// The row for a registry name; null for a type the table does not list (tests/unit/test_fast_path
// requires a row for every registered type).
const FastPathDecision* fast_path_decision(std::string_view type);

// Whether the backend runs kernels of its own (src/kernels) where oneDNN's are weak, on any CPU
// with AVX2 (docs/PERFORMANCE.md, "Own kernels"):
// - the weight gradient of a convolution with at most 8 input channels (groups 1, dilation 1;
//   conv_weight_grad.h), where oneDNN 2.6's AVX2 kernel runs at a tenth of its speed (1 input
//   channel) and its AVX-512 one no faster;
// - in training, batch norm → relu → 2×2 max pool as one stage (batch_norm_relu_max_pool.h): two
//   sweeps over the activations each way instead of oneDNN's six.
// Decided by rules, not by timings, so that every run makes the same choice and a resumed run
// repeats an unbroken one's arithmetic; and the same on AVX2 and AVX-512 machines, so that they
// compute alike.
enum class OwnKernels {
    where_they_apply,  // the default
    never,             // oneDNN's primitives everywhere (for comparison)
};

class OnednnExecutor : public Executor {
public:
    // Null (with the reason in `why_not`) when some layer has no stage here or oneDNN refuses a
    // shape; the layers must outlive the executor.
    static std::unique_ptr<Executor> create(const std::vector<LayerPlan>& layers, std::string& why_not);
    static std::unique_ptr<Executor> create(const std::vector<LayerPlan>& layers, std::string& why_not, OwnKernels own_kernels);
    ~OnednnExecutor() override;

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
    explicit OnednnExecutor(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace convnet::engine::onednn
