// The Network: built from a plan (plan.h), it owns the parameter arena and runs the layers through
// a backend of the table (executor.h), the reference one or a faster one.
#pragma once

#include <convnet/core/distributed.h>
#include <convnet/core/tensor.h>
#include <convnet/nn/arena.h>
#include <convnet/nn/executor.h>
#include <convnet/nn/layer.h>
#include <convnet/nn/plan.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace convnet {

// A named view of one parameter or buffer in the arena: the unit of saving and loading.
struct NamedParameter {
    std::string name;  // "conv1.weight"
    const Parameter* parameter;
};

// One tensor of a network's state under PyTorch's state_dict name.
struct StateTensor {
    enum class DType { f32, i64 };
    std::string name;  // "conv1.weight", "bn1.num_batches_tracked"
    DType dtype = DType::f32;
    Shape shape;                // empty (rank 0) for a scalar
    std::vector<float> values;  // f32: the values, row-major (OIHW for convolution weights)
    std::int64_t integer = 0;   // i64: the scalar (batch norm's num_batches_tracked)
};

// What load_state_dict left alone, as torch's load_state_dict reports it.
struct LoadStateReport {
    std::vector<std::string> missing_keys;     // the network's, not in the state given
    std::vector<std::string> unexpected_keys;  // in the state given, not the network's
};

class Network {
public:
    // Builds and shape-checks every layer and allocates the parameters and their gradients,
    // zero-filled (initialize draws them); errors name FILE:LINE. Throws convnet::Error, before
    // allocating anything, when those and a backend's trial plan (kTrialBatch training images)
    // need more than the machine's memory (nn/costs.h, network_memory_need).
    explicit Network(const ModelSpec& spec);
    ~Network();
    Network(const Network&) = delete;
    Network& operator=(const Network&) = delete;

    // The backend that runs the network (convnet::backends(), executor.h): the first one that
    // can run every layer, "onednn" where it can, else "reference". Throws convnet::Error naming
    // the backends when `name` is not one, or naming the layer when it cannot run this model.
    void set_backend(std::string_view name);
    // The backend calls run on: "reference" when set so, or when no other can run this model.
    std::string backend() const { return fast_path() ? backend_name_ : "reference"; }
    // Deprecated: set_backend("reference") for false; set_backend of the default for true.
    [[deprecated("use set_backend(\"reference\") or set_backend(name)")]] void set_fast_path(bool enabled) { use_fast_path_ = enabled; }
    bool fast_path() const { return use_fast_path_ && fast_path_ != nullptr; }
    // Whether a call with `input` runs on the fast path: not when the input or a parameter holds
    // NaN or an infinity, or a batch norm's running variance is negative, since oneDNN's ReLU and max pooling compute max(x, 0) and would
    // turn a NaN into a number where PyTorch keeps it; those calls run the reference layers, which propagate NaN and infinities exactly as
    // PyTorch does.
    bool runs_fast(const Tensor& input) const;
    // Why there is no fast path for this model ("" when there is one).
    const std::string& fast_path_unavailable() const { return fast_path_unavailable_; }

    const std::string& source() const { return source_; }
    const Shape& sample_shape() const { return sample_shape_; }  // (C, H, W)
    std::int64_t output_features() const { return layers_.back().output[1]; }
    std::size_t layer_count() const { return layers_.size(); }
    const Layer& layer(std::size_t index) const { return *layers_[index].layer; }
    const LayerPlan& layer_plan(std::size_t index) const { return layers_[index]; }
    const std::vector<LayerPlan>& layer_plans() const { return layers_; }

    // The fewest images a training batch may hold: 2 when a batch norm sees one value per channel
    // per image (after linear, or at 1x1), which cannot be normalised over a batch of one (as
    // torch.nn.BatchNorm1d refuses); else 1.
    std::int64_t minimum_training_batch() const;

    // PyTorch's default initialisation, repeatable for a seed.
    void initialize(std::uint64_t seed);

    // Evaluation mode: (N, C, H, W) -> logits (N, classes). Const and thread-safe (calls on
    // the fast path take turns).
    void predict(const Tensor& input, Tensor& logits) const;

    // Called by observe() with each layer's output in layer order (executor.h).
    using ActivationObserver = convnet::ActivationObserver;
    // Evaluation mode like predict, handing every layer's output to `observer`: the hook for
    // pictures of feature maps. `input` is a batch (N, C, H, W) or one image (C, H, W). Runs the
    // reference layers (their outputs are plain tensors), so predict itself stays as fast as it
    // was. Const and thread-safe like predict; throws as predict does.
    void observe(const Tensor& input, Tensor& logits, const ActivationObserver& observer) const;

    // Training mode. forward_train keeps every activation for the backward that follows.
    const Tensor& forward_train(const Tensor& input);
    // Writes every trainable parameter's gradient for the last forward_train.
    void backward(const Tensor& grad_logits);

    // The trainable values and their gradients, each one contiguous block in the same order.
    // Asking for the values counts as changing them (see parameters_changed).
    std::span<float> trainable_values();
    std::span<float> gradients();
    std::int64_t trainable_count() const { return arena_->trainable_count(); }
    // The buffers (batch norm's running statistics), one block. Writing them counts as changing
    // the parameters, as trainable_values does.
    std::span<float> buffers();
    // Every parameter and buffer value, trainable first: one block (training checks it is finite).
    std::span<const float> all_values() const { return arena_->all_values(); }
    // The trainable parameters with their dotted names, in layer order, as
    // torch.nn.Module.named_parameters() (the optimiser's order: model.parameters()).
    std::vector<NamedParameter> named_parameters() const;
    // The buffers (batch norm's running_mean and running_var) with their dotted names, in layer
    // order, as torch.nn.Module.named_buffers() (num_batches_tracked, an integer, is in state_dict).
    std::vector<NamedParameter> named_buffers() const;

    // Synchronised batch norm (torch.nn.SyncBatchNorm) over the ranks of `communicator` for every
    // batch norm layer (BatchNorm::set_communicator); null: each process's own batch.
    void synchronise_batch_norm(Communicator* communicator);

    // Every layer's random generator by layer name (dropout's), in layer order: what a
    // checkpoint saves besides the state dict.
    std::vector<std::pair<std::string, Random*>> random_generators();

    // The whole state by name, as torch.nn.Module.state_dict(): per layer its parameters and
    // buffers in declaration order, then its integer buffers (num_batches_tracked).
    std::vector<StateTensor> state_dict() const;
    // Loads by name, all or nothing, as torch.nn.Module.load_state_dict. Throws convnet::Error
    // for an entry whose shape or type differs ("size mismatch for conv1.weight: ..."), and with
    // `strict` for missing or unexpected keys, listing them; otherwise returns them.
    LoadStateReport load_state_dict(const std::vector<StateTensor>& state, bool strict = true);
    // Call after writing values through named_parameters() or named_buffers(): evaluation caches the weights in
    // its own layouts and refreshes them only when this count moves.
    void parameters_changed() { ++parameter_version_; }

private:
    // Where each state_dict entry lives: a float view into the arena, or a layer's int64.
    struct StateSlot {
        std::string name;
        StateTensor::DType dtype;
        Shape shape;
        float* values;
        std::int64_t* integer;
    };
    std::vector<StateSlot> state_slots() const;
    void check_input(const Tensor& input) const;

    std::string source_;
    Shape sample_shape_;
    std::vector<LayerPlan> layers_;
    std::unique_ptr<ParameterArena> arena_;  // every layer's parameters, bound
    std::unique_ptr<Executor> reference_;    // runs any model, and any call the fast path should not take
    std::unique_ptr<Executor> fast_path_;    // the chosen backend when it is not the reference; else null
    std::string backend_name_ = "reference";
    std::string fast_path_unavailable_;
    bool use_fast_path_ = true;
    bool last_forward_fast_ = false;
    std::uint64_t parameter_version_ = 0;
    mutable std::mutex fast_predict_mutex_;
    // Whether every parameter was finite (and every running variance ≥ 0) at version
    // finite_checked_version_: one scan a version.
    mutable std::atomic<std::uint64_t> finite_checked_version_{~std::uint64_t{0}};
    mutable std::atomic<bool> parameters_finite_{true};
};

}  // namespace convnet
