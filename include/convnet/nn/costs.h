// What a planned network costs per image: parameters, multiply-adds and the bytes of activations
// that inference and training keep alive, worked out from the plan (plan.h) without allocating;
// and from them what a run needs of memory (core/memory.h). One computation serves the Network's
// own check, the CLI's checks before training and evaluation, and `convnet summary`.
#pragma once

#include <convnet/core/memory.h>
#include <convnet/nn/plan.h>

#include <cstdint>
#include <string>
#include <vector>

namespace convnet {

// Totals per image (batch of one). Bytes are float32, 4 per value.
struct PlanCosts {
    std::int64_t trainable_parameters = 0;
    std::int64_t buffer_parameters = 0;
    std::int64_t parameter_bytes = 0;  // (trainable + buffers)·4
    std::int64_t input_values = 0;     // C·H·W of one image
    // Inference keeps a layer's output alive until the last layer that reads it has run: the
    // largest sum of live activations while a layer runs (a chain: the largest input + output pair).
    std::int64_t forward_activation_bytes = 0;
    // Training keeps the input and every layer's output for the backward pass, plus the gradient
    // at one layer's output and at its input at a time (the largest such pair).
    std::int64_t training_activation_bytes = 0;
    std::int64_t inference_multiply_adds = 0;
    // Forward, plus per layer: the weight gradient (as many as forward, layers with trainable
    // parameters) and the input gradient (as many as forward, every layer but the first).
    std::int64_t training_multiply_adds = 0;
};

// The costs of `plans` (plan_model's) for an input of `input_values` values per image. Throws
// convnet::Error "SOURCE:LINE: ..." when a layer's multiply-adds pass 64 bits.
PlanCosts plan_costs(const std::vector<LayerPlan>& plans, std::int64_t input_values, const std::string& source);
// Plans `spec` (throwing as plan_model does) and returns its costs.
PlanCosts plan_costs(const ModelSpec& spec);

// Training at `batch` images a step: every parameter and buffer, a gradient per trainable value,
// `optimizer_state_values` more per trainable value (Optimizer::state_values_per_parameter: 2 for
// Adam, 1 for SGD with momentum), `averaged_copies` more copies of every value (1 with --ema),
// and PlanCosts::training_activation_bytes per image. Saturates rather than overflows.
MemoryNeed training_memory_need(const PlanCosts& costs, std::int64_t batch, int optimizer_state_values, int averaged_copies);

// Evaluation at `batch` images a call: the parameters with the gradients a Network always holds
// (the arena), and PlanCosts::forward_activation_bytes per image.
MemoryNeed inference_memory_need(const PlanCosts& costs, std::int64_t batch);

// Building a Network: the arena (parameters and gradients) and a backend's trial plan for
// kTrialBatch images (executor.h), counted as a training batch.
MemoryNeed network_memory_need(const PlanCosts& costs);

}  // namespace convnet
