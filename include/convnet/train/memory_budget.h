// What a run needs of the machine's memory, worked out from the model's summary before anything
// is allocated. Linux grants an allocation larger than the memory and kills the process when the
// pages are first touched, so a model file or a batch size that cannot fit is refused with the
// figures instead (PyTorch's CPU allocator reports "not enough memory: you tried to allocate N
// bytes" where the system refuses; here it would not).
#pragma once

#include <convnet/nn/executor.h>
#include <convnet/inspect/summary.h>

#include <cstdint>
#include <string>

namespace convnet {

// The least memory a run holds, in bytes of float32 values. oneDNN's workspaces, the data set
// and the process itself come on top: a need below the machine's memory can still fail, one
// above it cannot succeed.
struct MemoryNeed {
    std::int64_t parameter_bytes = 0;   // values, gradients, optimiser state, averaged copies
    std::int64_t activation_bytes = 0;  // for the whole batch
    std::int64_t batch = 0;             // images the activations are for (0: none counted)
    // Their sum, saturating at INT64_MAX (a hostile model file can ask for more than 64 bits).
    std::int64_t total() const;
};

// The machine's physical memory in bytes (sysconf), or the control group's limit where one is set
// and lower (cgroup v2 memory.max, else v1 memory.limit_in_bytes), as a container sees it; 0 when
// neither can be read.
std::int64_t machine_memory_bytes();

// Training at `batch` images a step: every parameter and buffer, a gradient per trainable value,
// `optimizer_state_values` more per trainable value (Optimizer::state_values_per_parameter: 2 for
// Adam, 1 for SGD with momentum), `averaged_copies` more copies of every value (1 with --ema),
// and SummaryTotals::training_activation_bytes per image. Saturates rather than overflows.
MemoryNeed training_memory_need(const SummaryTotals& totals, std::int64_t batch, int optimizer_state_values, int averaged_copies);

// Evaluation at `batch` images a call: the parameters with the gradients a Network always holds
// (the arena), and SummaryTotals::forward_activation_bytes per image.
MemoryNeed inference_memory_need(const SummaryTotals& totals, std::int64_t batch);

// Building a Network: the arena (parameters and gradients) and a backend's trial plan for
// kTrialBatch images (executor.h), counted as a training batch.
MemoryNeed network_memory_need(const SummaryTotals& totals);

// The most images a batch of `need`'s kind may hold within `available_bytes`, by the same
// estimate: (available − parameters) / activations per image; 0 when the parameters alone, or
// they and one image, do not fit, or need.batch is 0.
std::int64_t largest_batch(const MemoryNeed& need, std::int64_t available_bytes);

// "1.25 TiB", "23.47 GiB", "40.1 MiB", "22.7 KiB", "512 bytes": sizes in messages, precise enough
// that a need just over the memory does not read as equal to it.
std::string memory_text(std::int64_t bytes);

// Throws convnet::Error "WHAT needs at least X GiB (parameters P MiB, activations A GiB for B
// images), more than MEMORY (M GiB)", the parenthesis only when need.batch > 0, followed by
// ": HINT" when `hint` is given, when need.total() exceeds `available_bytes`; MEMORY is `memory`
// ("this machine's memory", or a rank's share of it). Never throws when `available_bytes` is 0
// (unknown).
void require_memory(const MemoryNeed& need, std::int64_t available_bytes, const std::string& what, const std::string& hint = "",
                    const std::string& memory = "this machine's memory");

}  // namespace convnet
