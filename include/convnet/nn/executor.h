// The backend seam: an Executor runs a network's layer plans (training forward, backward,
// evaluation), and a table of backends says which exist. The Network holds executors through
// this interface alone, so a new backend (a GPU one, say) is a new row and a new class, with no
// change to Network.
#pragma once

#include <convnet/core/tensor.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace convnet {

struct LayerPlan;

// Called with each layer's index in the model, its plan (name, type, shapes, line) and its output
// in plain NCHW or (N, F), in layer order; the output is valid during the call.
using ActivationObserver = std::function<void(std::size_t index, const LayerPlan& plan, const Tensor& output)>;

// The batch a backend may build a trial plan at when it is created, to fail then rather than
// mid-training when its library rejects a shape (the oneDNN backend builds one for training and
// one for evaluation). Network counts its activations before creating any backend.
constexpr std::int64_t kTrialBatch = 2;

class Executor {
public:
    virtual ~Executor() = default;
    // Training mode over a batch (N, C, H, W): the logits (N, classes), valid until the next call.
    virtual const Tensor& forward_train(const Tensor& input) = 0;
    // After forward_train: writes every trainable parameter's gradient into the network's arena.
    virtual void backward(const Tensor& grad_logits) = 0;
    // Evaluation mode. `parameter_version` moves whenever the parameters change, so that an
    // executor may keep the weights in layouts of its own between calls. The Network serialises
    // calls unless concurrent_predict() says they may overlap.
    virtual void predict(const Tensor& input, Tensor& logits, std::uint64_t parameter_version) = 0;
    virtual bool concurrent_predict() const { return false; }
    // Evaluation mode, handing every layer's output to `observer` (the hook for pictures of
    // feature maps). Only a backend whose activations are plain tensors offers it (the reference
    // one); the others throw convnet::Error. Safe to call concurrently as predict is.
    virtual void observe(const Tensor& input, Tensor& logits, const ActivationObserver& observer);
};

// A row of the backend table.
struct Backend {
    std::string_view name;         // "onednn", "reference"
    std::string_view description;  // one line
    // Compiles the plans (whose layers, bound to the arena, outlive the executor); null, with the
    // reason in `why_not`, when this backend cannot run some layer.
    std::unique_ptr<Executor> (*create)(const std::vector<LayerPlan>& layers, std::string& why_not);
    bool by_name_only = false;  // never chosen by itself, only by Network::set_backend (--backend)
};

// Every backend this build has, the preferred first; the last, "reference", runs any model.
std::span<const Backend> backends();
// The row named `name`; null when this build has none.
const Backend* find_backend(std::string_view name);
// "onednn, reference": the names, for messages.
std::string backend_names();

}  // namespace convnet
