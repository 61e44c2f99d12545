// What a run needs of the machine's memory against what the machine has. Linux grants an
// allocation larger than the memory and kills the process when the pages are first touched, so a
// model file or a batch size that cannot fit is refused with the figures instead (PyTorch's CPU
// allocator reports "not enough memory: you tried to allocate N bytes" where the system refuses;
// here it would not). The needs of a model are worked out in nn/costs.h.
#pragma once

#include <cstdint>
#include <limits>
#include <string>

namespace convnet {

// Sums and products of sizes that stop at INT64_MAX instead of wrapping: a hostile model file can
// ask for more than 64 bits.
inline constexpr std::int64_t kSaturatedBytes = std::numeric_limits<std::int64_t>::max();
std::int64_t saturating_add(std::int64_t a, std::int64_t b);
std::int64_t saturating_multiply(std::int64_t a, std::int64_t b);

// The least memory a run holds, in bytes. oneDNN's workspaces, the data set and the process itself
// come on top: a need below the machine's memory can still fail, one above it cannot succeed.
struct MemoryNeed {
    std::int64_t parameter_bytes = 0;   // values, gradients, optimiser state, averaged copies
    std::int64_t activation_bytes = 0;  // for the whole batch
    std::int64_t batch = 0;             // images the activations are for (0: none counted)
    // Their sum, saturating at INT64_MAX.
    std::int64_t total() const;
};

// The machine's physical memory in bytes (sysconf), or the control group's limit where one is set
// and lower (cgroup v2 memory.max, else v1 memory.limit_in_bytes), as a container sees it; 0 when
// neither can be read.
std::int64_t machine_memory_bytes();

// The most images a batch of `need`'s kind may hold within `available_bytes`, by the same
// estimate: (available − parameters) / activations per image; 0 when the parameters alone, or
// they and one image, do not fit, or need.batch is 0.
std::int64_t largest_batch(const MemoryNeed& need, std::int64_t available_bytes);

// Throws convnet::Error "WHAT needs at least X GiB (parameters P MiB, activations A GiB for B
// images), more than MEMORY (M GiB)", the parenthesis only when need.batch > 0, followed by
// ": HINT" when `hint` is given, when need.total() exceeds `available_bytes`; MEMORY is `memory`
// ("this machine's memory", or a rank's share of it). Never throws when `available_bytes` is 0
// (unknown).
void require_memory(const MemoryNeed& need, std::int64_t available_bytes, const std::string& what, const std::string& hint = "",
                    const std::string& memory = "this machine's memory");

}  // namespace convnet
