// A plan's costs: one pass over the layers, following the graph's readers to know which
// activations are alive at each layer.
#include <convnet/core/error.h>
#include <convnet/nn/costs.h>
#include <convnet/nn/executor.h>

#include <algorithm>

namespace convnet {

namespace {

constexpr std::int64_t kBytesPerValue = 4;  // float32 everywhere

}  // namespace

PlanCosts plan_costs(const std::vector<LayerPlan>& plans, std::int64_t input_values, const std::string& source) {
    PlanCosts costs;
    costs.input_values = input_values;
    std::int64_t kept_activations = input_values;  // training keeps the input too
    std::int64_t largest_live_pair = 0, largest_gradient_pair = 0;
    // The last layer that reads each output (slot 0: the network's input, slot i + 1: layer i's).
    std::vector<std::size_t> last_reader(plans.size() + 1, 0);
    for (std::size_t index = 0; index < plans.size(); ++index)
        for (int input : plans[index].inputs) last_reader[static_cast<std::size_t>(input + 1)] = index;
    for (std::size_t index = 0; index < plans.size(); ++index) {
        const LayerPlan& plan = plans[index];
        const Layer& layer = *plan.layer;
        const std::int64_t trainable = layer.parameter_count(ParameterRole::trainable);
        costs.trainable_parameters += trainable;
        costs.buffer_parameters += layer.parameter_count(ParameterRole::buffer);
        const std::string what = source + ":" + std::to_string(plan.line) + ": " + layer.type() + " multiply-adds";
        std::int64_t multiply_adds = 0;
        try {
            multiply_adds = layer.multiply_adds(plan.input);
        } catch (const Error& error) {
            throw Error(source + ":" + std::to_string(plan.line) + ": " + error.what());
        }
        costs.inference_multiply_adds = checked_add(costs.inference_multiply_adds, multiply_adds, what);
        // The weight gradient costs about a forward pass, and so does the input gradient, which
        // the first layer skips (Network::backward passes it no grad_input).
        const bool reads_a_layer = std::any_of(plan.inputs.begin(), plan.inputs.end(), [](int input) { return input != kNetworkInput; });
        const std::int64_t backward_passes = (trainable > 0 ? 1 : 0) + (reads_a_layer ? 1 : 0);
        costs.training_multiply_adds =
            checked_add(costs.training_multiply_adds, checked_multiply(multiply_adds, 1 + backward_passes, what), what);
        const std::int64_t output_values = plan.output.element_count();
        kept_activations += output_values;
        // Alive while this layer runs: its output, and every earlier output (or the network's
        // input) that this or a later layer still reads.
        std::int64_t live = output_values;
        for (std::size_t slot = 0; slot <= index; ++slot)
            if (last_reader[slot] >= index) live += slot == 0 ? input_values : plans[slot - 1].output.element_count();
        largest_live_pair = std::max(largest_live_pair, live);
        std::int64_t gradient_inputs = 0;
        for (std::size_t k = 0; k < plan.inputs.size(); ++k)
            if (plan.inputs[k] != kNetworkInput) gradient_inputs += plan.input_shapes[k].element_count();
        largest_gradient_pair = std::max(largest_gradient_pair, gradient_inputs + output_values);
    }
    costs.parameter_bytes = (costs.trainable_parameters + costs.buffer_parameters) * kBytesPerValue;
    costs.forward_activation_bytes = largest_live_pair * kBytesPerValue;
    costs.training_activation_bytes = (kept_activations + largest_gradient_pair) * kBytesPerValue;
    return costs;
}

PlanCosts plan_costs(const ModelSpec& spec) { return plan_costs(plan_model(spec), spec.input.element_count(), spec.source); }

MemoryNeed training_memory_need(const PlanCosts& costs, std::int64_t batch, int optimizer_state_values, int averaged_copies) {
    const std::int64_t all_values = saturating_add(costs.trainable_parameters, costs.buffer_parameters);
    // Values and their averaged copies, then a gradient and the optimiser's state per trainable value.
    std::int64_t values = saturating_multiply(all_values, 1 + averaged_copies);
    values = saturating_add(values, saturating_multiply(costs.trainable_parameters, 1 + optimizer_state_values));
    return {saturating_multiply(values, kBytesPerValue), saturating_multiply(costs.training_activation_bytes, batch), batch};
}

MemoryNeed inference_memory_need(const PlanCosts& costs, std::int64_t batch) {
    const std::int64_t values =
        saturating_add(saturating_add(costs.trainable_parameters, costs.buffer_parameters), costs.trainable_parameters);
    return {saturating_multiply(values, kBytesPerValue), saturating_multiply(costs.forward_activation_bytes, batch), batch};
}

MemoryNeed network_memory_need(const PlanCosts& costs) {
    MemoryNeed need = inference_memory_need(costs, 0);
    need.activation_bytes = saturating_multiply(costs.training_activation_bytes, kTrialBatch);
    need.batch = kTrialBatch;
    return need;
}

}  // namespace convnet
