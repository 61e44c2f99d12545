// The memory a run needs against the machine's: the arithmetic saturates, the limit is the
// smaller of physical memory and the control group's.
#include <convnet/core/error.h>
#include <convnet/core/format.h>
#include <convnet/core/memory.h>

#include <unistd.h>

#include <algorithm>
#include <fstream>

namespace convnet {

namespace {

// A cgroup limit file's value: a byte count, or "max" (none) and unreadable files as 0.
std::int64_t cgroup_limit(const char* path) {
    std::ifstream file(path);
    long long value = 0;
    if (!(file >> value) || value <= 0) return 0;
    return value;
}

}  // namespace

std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
    std::int64_t sum = 0;
    return __builtin_add_overflow(a, b, &sum) ? kSaturatedBytes : sum;
}

std::int64_t saturating_multiply(std::int64_t a, std::int64_t b) {
    std::int64_t product = 0;
    return __builtin_mul_overflow(a, b, &product) ? kSaturatedBytes : product;
}

std::int64_t MemoryNeed::total() const { return saturating_add(parameter_bytes, activation_bytes); }

std::int64_t machine_memory_bytes() {
    const long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGE_SIZE);
    std::int64_t memory = pages > 0 && page_size > 0 ? saturating_multiply(pages, page_size) : 0;
    // cgroup v1 writes "no limit" as a huge number, which the min leaves alone.
    for (const char* path : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"})
        if (const std::int64_t limit = cgroup_limit(path); limit > 0) memory = memory > 0 ? std::min(memory, limit) : limit;
    return memory;
}

std::int64_t largest_batch(const MemoryNeed& need, std::int64_t available_bytes) {
    if (need.batch <= 0 || available_bytes <= need.parameter_bytes) return 0;
    const std::int64_t per_image = need.activation_bytes == kSaturatedBytes ? kSaturatedBytes : need.activation_bytes / need.batch;
    return per_image > 0 ? (available_bytes - need.parameter_bytes) / per_image : 0;
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
