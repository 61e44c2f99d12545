// The memory a run needs against the machine's: the arithmetic saturates, the limit is the
// smaller of physical memory and the control group's.
#include <convnet/core/error.h>
#include <convnet/train/memory_budget.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <limits>

namespace convnet {

namespace {

constexpr std::int64_t kSaturated = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kBytesPerValue = 4;  // float32

std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
    std::int64_t sum = 0;
    return __builtin_add_overflow(a, b, &sum) ? kSaturated : sum;
}

std::int64_t saturating_multiply(std::int64_t a, std::int64_t b) {
    std::int64_t product = 0;
    return __builtin_mul_overflow(a, b, &product) ? kSaturated : product;
}

// A cgroup limit file's value: a byte count, or "max" (none) and unreadable files as 0.
std::int64_t cgroup_limit(const char* path) {
    std::ifstream file(path);
    long long value = 0;
    if (!(file >> value) || value <= 0) return 0;
    return value;
}

}  // namespace

std::int64_t MemoryNeed::total() const { return saturating_add(parameter_bytes, activation_bytes); }

std::int64_t machine_memory_bytes() {
    const long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGE_SIZE);
    std::int64_t memory = pages > 0 && page_size > 0 ? saturating_multiply(pages, page_size) : 0;
    // cgroup v1 writes "no limit" as a huge number, which the min leaves alone.
    for (const char* path : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"})
        if (const std::int64_t limit = cgroup_limit(path); limit > 0) memory = memory > 0 ? std::min(memory, limit) : limit;
    return memory;
}

MemoryNeed training_memory_need(const SummaryTotals& totals, std::int64_t batch, int optimizer_state_values, int averaged_copies) {
    const std::int64_t all_values = saturating_add(totals.trainable_parameters, totals.buffer_parameters);
    // Values and their averaged copies, then a gradient and the optimiser's state per trainable value.
    std::int64_t values = saturating_multiply(all_values, 1 + averaged_copies);
    values = saturating_add(values, saturating_multiply(totals.trainable_parameters, 1 + optimizer_state_values));
    return {saturating_multiply(values, kBytesPerValue), saturating_multiply(totals.training_activation_bytes, batch), batch};
}

MemoryNeed network_memory_need(const SummaryTotals& totals) {
    MemoryNeed need = inference_memory_need(totals, 0);
    need.activation_bytes = saturating_multiply(totals.training_activation_bytes, kTrialBatch);
    need.batch = kTrialBatch;
    return need;
}

std::int64_t largest_batch(const MemoryNeed& need, std::int64_t available_bytes) {
    if (need.batch <= 0 || available_bytes <= need.parameter_bytes) return 0;
    const std::int64_t per_image = need.activation_bytes == kSaturated ? kSaturated : need.activation_bytes / need.batch;
    return per_image > 0 ? (available_bytes - need.parameter_bytes) / per_image : 0;
}

std::string memory_text(std::int64_t bytes) {
    if (bytes == kSaturated) return "more than 8 EiB";
    if (bytes < 1024) return std::to_string(bytes) + " bytes";
    // Two decimals from GiB on; one below, where the figures are small next to the memory.
    constexpr struct {
        int shift;
        const char* format;
    } kUnits[] = {{40, "%.2f TiB"}, {30, "%.2f GiB"}, {20, "%.1f MiB"}, {10, "%.1f KiB"}};
    char text[48] = "";
    for (const auto& unit : kUnits)
        if (bytes >= (std::int64_t{1} << unit.shift)) {
            std::snprintf(text, sizeof text, unit.format, double(bytes) / double(std::int64_t{1} << unit.shift));
            break;
        }
    return text;
}

MemoryNeed inference_memory_need(const SummaryTotals& totals, std::int64_t batch) {
    const std::int64_t values =
        saturating_add(saturating_add(totals.trainable_parameters, totals.buffer_parameters), totals.trainable_parameters);
    return {saturating_multiply(values, kBytesPerValue), saturating_multiply(totals.forward_activation_bytes, batch), batch};
}

void require_memory(const MemoryNeed& need, std::int64_t available_bytes, const std::string& what, const std::string& hint,
                    const std::string& memory) {
    if (available_bytes <= 0 || need.total() <= available_bytes) return;
    std::string message = what + " needs at least " + memory_text(need.total());
    // With activations, the two parts; without, the total is the parameters'.
    if (need.batch > 0) {
        message += " (parameters " + memory_text(need.parameter_bytes) + ", activations " + memory_text(need.activation_bytes);
        message += " for " + std::to_string(need.batch) + (need.batch == 1 ? " image)" : " images)");
    }
    message += ", more than " + memory + " (" + memory_text(available_bytes) + ")";
    if (!hint.empty()) message += ": " + hint;
    throw Error(message);
}

}  // namespace convnet
