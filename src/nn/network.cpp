// The Network: the parameter arena over the planned layers, the backends that run them, and the
// state dict by name.
#include <convnet/core/error.h>
#include <convnet/core/format.h>
#include <convnet/nn/costs.h>
#include <convnet/nn/layers/batchnorm.h>
#include <convnet/nn/network.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

namespace convnet {

Network::Network(const ModelSpec& spec) : source_(spec.source), sample_shape_(spec.input), layers_(plan_model(spec)) {
    const Shape& shape = layers_.back().output;
    if (shape.rank() != 2 && shape.rank() != 4)
        throw Error(spec.source + ": the last layer gives " + shape.to_string() +
                    " per batch; a classifier must end in (N, classes): add flatten and linear (or, for scores per pixel, "
                    "(N, classes, H, W))");

    // The arena is zero-filled at once and a backend builds a trial plan: a model larger than the
    // machine is refused before either, from the plan's costs (no allocation yet).
    const PlanCosts costs = plan_costs(layers_, spec.input.element_count(), spec.source);
    std::string what = spec.source;
    what += ": building the network (" + thousands_text(costs.trainable_parameters + costs.buffer_parameters) +
            " parameters, their gradients and a trial training batch)";
    require_memory(network_memory_need(costs), machine_memory_bytes(), what, "see `convnet summary " + spec.source + "`");
    std::vector<Layer*> layers;
    for (LayerPlan& plan : layers_) layers.push_back(plan.layer.get());
    arena_ = std::make_unique<ParameterArena>(layers);
    std::string unused;
    reference_ = find_backend("reference")->create(layers_, unused);
    // The first backend that can run every layer; the reference one always can.
    for (const Backend& candidate : backends()) {
        if (candidate.name == "reference") break;
        if (candidate.by_name_only) continue;
        std::string why_not;
        if ((fast_path_ = candidate.create(layers_, why_not))) {
            backend_name_ = std::string(candidate.name);
            break;
        }
        fast_path_unavailable_ += (fast_path_unavailable_.empty() ? "" : "; ") + why_not;
    }
}

void Network::set_backend(std::string_view name) {
    const Backend* chosen = find_backend(name);
    if (chosen == nullptr) throw Error("backend '" + std::string(name) + "': this build has " + backend_names());
    if (chosen->name == "reference") {
        use_fast_path_ = false;
        return;
    }
    if (backend_name_ != chosen->name) {
        std::string why_not;
        std::unique_ptr<Executor> executor = chosen->create(layers_, why_not);
        if (!executor) throw Error(source_ + ": the " + std::string(chosen->name) + " backend cannot run this model: " + why_not);
        fast_path_ = std::move(executor);
        backend_name_ = std::string(chosen->name);
        fast_path_unavailable_.clear();
    }
    use_fast_path_ = true;
}

Network::~Network() = default;

std::int64_t Network::minimum_training_batch() const {
    std::int64_t minimum = 1;
    for (const LayerPlan& plan : layers_) minimum = std::max(minimum, plan.layer->minimum_training_batch(plan.input));
    return minimum;
}

void Network::initialize(std::uint64_t seed) {
    Random random(seed);
    for (auto& plan : layers_) plan.layer->initialize(random);
    parameters_changed();
}

void Network::check_input(const Tensor& input) const {
    if (input.shape().rank() != sample_shape_.rank() + 1 ||
        !std::equal(sample_shape_.dims().begin(), sample_shape_.dims().end(), input.shape().dims().begin() + 1))
        throw Error(source_ + ": the model takes input " + sample_shape_.to_string() + " per sample, got a batch " +
                    input.shape().to_string());
}

bool Network::runs_fast(const Tensor& input) const {
    if (!fast_path()) return false;
    if (finite_checked_version_.load() != parameter_version_) {
        // A negative running variance is as bad: its square root is NaN in PyTorch and in the
        // reference batch norm, while oneDNN's gives a number.
        bool usable = all_finite(arena_->all_values());
        for (const NamedParameter& entry : named_buffers())
            if (usable && entry.name.ends_with(".running_var"))
                for (std::int64_t i = 0; i < entry.parameter->shape.element_count(); ++i)
                    usable = usable && entry.parameter->value[i] >= 0.0f;
        parameters_finite_ = usable;
        finite_checked_version_ = parameter_version_;
    }
    return parameters_finite_ && all_finite(std::span(input.data(), static_cast<std::size_t>(input.size())));
}

void Network::predict(const Tensor& input, Tensor& logits) const {
    check_input(input);
    if (runs_fast(input)) {
        std::lock_guard<std::mutex> lock(fast_predict_mutex_);
        fast_path_->predict(input, logits, parameter_version_);
        return;
    }
    reference_->predict(input, logits, parameter_version_);  // concurrent_predict: safe from several threads
}

void Network::observe(const Tensor& input, Tensor& logits, const ActivationObserver& observer) const {
    Tensor batch;
    const Tensor* first = &input;
    if (input.shape().rank() == sample_shape_.rank()) {  // one image: a batch of one
        std::vector<std::int64_t> dims{1};
        dims.insert(dims.end(), input.shape().dims().begin(), input.shape().dims().end());
        batch.resize(Shape(dims));
        std::copy(input.data(), input.data() + input.size(), batch.data());
        first = &batch;
    }
    check_input(*first);
    reference_->observe(*first, logits, observer);
}

std::span<float> Network::buffers() {
    parameters_changed();
    return arena_->buffers();
}

void Network::synchronise_batch_norm(Communicator* communicator) {
    for (LayerPlan& plan : layers_)
        if (auto* norm = dynamic_cast<BatchNorm*>(plan.layer.get())) norm->set_communicator(communicator);
}

const Tensor& Network::forward_train(const Tensor& input) {
    check_input(input);
    last_forward_fast_ = runs_fast(input);
    return (last_forward_fast_ ? fast_path_ : reference_)->forward_train(input);
}

void Network::backward(const Tensor& grad_logits) { (last_forward_fast_ ? fast_path_ : reference_)->backward(grad_logits); }

std::span<float> Network::trainable_values() {
    parameters_changed();
    return arena_->trainable_values();
}
std::span<float> Network::gradients() { return arena_->gradients(); }

std::vector<std::pair<std::string, Random*>> Network::random_generators() {
    std::vector<std::pair<std::string, Random*>> generators;
    for (LayerPlan& plan : layers_)
        if (Random* generator = plan.layer->random_generator()) generators.emplace_back(plan.name, generator);
    return generators;
}

namespace {

std::vector<NamedParameter> named_of_role(const std::vector<LayerPlan>& layers, ParameterRole role) {
    std::vector<NamedParameter> named;
    for (const LayerPlan& plan : layers)
        for (const Parameter& parameter : plan.layer->parameters())
            if (parameter.role == role) named.push_back({plan.name + "." + parameter.name, &parameter});
    return named;
}

}  // namespace

std::vector<NamedParameter> Network::named_parameters() const { return named_of_role(layers_, ParameterRole::trainable); }

std::vector<NamedParameter> Network::named_buffers() const { return named_of_role(layers_, ParameterRole::buffer); }

std::vector<Network::StateSlot> Network::state_slots() const {
    std::vector<StateSlot> slots;
    for (const LayerPlan& plan : layers_) {
        for (const Parameter& parameter : plan.layer->parameters())
            slots.push_back({plan.name + "." + parameter.name, StateTensor::DType::f32, parameter.shape, parameter.value, nullptr});
        for (const Layer::IntegerBuffer& buffer : plan.layer->integer_buffers())
            slots.push_back({plan.name + "." + buffer.name, StateTensor::DType::i64, Shape{}, nullptr, buffer.value});
    }
    return slots;
}

std::vector<StateTensor> Network::state_dict() const {
    std::vector<StateTensor> state;
    for (const StateSlot& slot : state_slots()) {
        if (slot.dtype == StateTensor::DType::i64) state.push_back({slot.name, slot.dtype, slot.shape, {}, *slot.integer});
        else
            state.push_back(
                {slot.name, slot.dtype, slot.shape, std::vector<float>(slot.values, slot.values + slot.shape.element_count()), 0});
    }
    return state;
}

LoadStateReport Network::load_state_dict(const std::vector<StateTensor>& state, bool strict) {
    std::map<std::string, const StateTensor*> given;
    for (const StateTensor& tensor : state) given[tensor.name] = &tensor;
    std::vector<std::pair<StateSlot, const StateTensor*>> accepted;  // checked before anything is written
    LoadStateReport report;
    std::string mismatches;
    const auto type_text = [](StateTensor::DType dtype, const Shape& shape) {
        return std::string(dtype == StateTensor::DType::i64 ? "int64 shape [" : "shape [") + shape.to_string() + "]";
    };
    // torch 1.13's batch norm fills a missing counter with 0 before the strict check
    // (_NormBase._load_from_state_dict, for state without a version: older writers, converters).
    const StateTensor zero_counter{"", StateTensor::DType::i64, Shape{}, {}, 0};
    for (StateSlot& slot : state_slots()) {
        const auto found = given.find(slot.name);
        if (found == given.end()) {
            if (slot.dtype == StateTensor::DType::i64 && slot.name.ends_with(".num_batches_tracked"))
                accepted.emplace_back(std::move(slot), &zero_counter);
            else report.missing_keys.push_back(slot.name);
            continue;
        }
        const StateTensor& theirs = *found->second;
        given.erase(found);
        // torch copies a one-element 1-D tensor into a 0-d one (Module._load_from_state_dict).
        const bool same_shape = theirs.shape == slot.shape || (slot.shape.rank() == 0 && theirs.shape == Shape{1});
        const bool fits = theirs.dtype == slot.dtype && same_shape &&
                          (theirs.dtype == StateTensor::DType::i64 || std::ssize(theirs.values) == slot.shape.element_count());
        if (!fits) {
            mismatches += "\n  size mismatch for " + slot.name + ": copying " + type_text(theirs.dtype, theirs.shape) +
                          " from the state, the model has " + type_text(slot.dtype, slot.shape);
            continue;
        }
        accepted.emplace_back(std::move(slot), &theirs);
    }
    for (const auto& [name, tensor] : given) report.unexpected_keys.push_back(name);
    std::string missing_text, unexpected_text;
    for (const std::string& key : report.missing_keys) missing_text += (missing_text.empty() ? "" : ", ") + ("\"" + key + "\"");
    for (const std::string& key : report.unexpected_keys) unexpected_text += (unexpected_text.empty() ? "" : ", ") + ("\"" + key + "\"");
    if (strict && !missing_text.empty()) mismatches += "\n  Missing key(s) in state_dict: " + missing_text + ".";
    if (strict && !unexpected_text.empty()) mismatches += "\n  Unexpected key(s) in state_dict: " + unexpected_text + ".";
    if (!mismatches.empty()) throw Error(source_ + ": error(s) in loading state_dict:" + mismatches);
    // Every check passed: write.
    for (const auto& [slot, source] : accepted) {
        if (slot.dtype == StateTensor::DType::i64) *slot.integer = source->integer;
        else std::copy(source->values.begin(), source->values.end(), slot.values);
    }
    parameters_changed();
    return report;
}

}  // namespace convnet
