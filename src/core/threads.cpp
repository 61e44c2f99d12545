// Sampling the load on this process's cores, for choosing a default thread count.
#include <convnet/core/error.h>
#include <convnet/core/threads.h>

#include <omp.h>
#include <sched.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

namespace convnet {

namespace {

struct CpuTimes {
    unsigned long long busy = 0, total = 0;  // in USER_HZ ticks since boot
};

// The per-CPU lines "cpuN user nice system idle iowait irq softirq steal ..." by N.
std::map<int, CpuTimes> per_cpu_times(const std::string& stat) {
    std::map<int, CpuTimes> times;
    std::istringstream lines(stat);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.size() < 4 || line.compare(0, 3, "cpu") != 0 || line[3] < '0' || line[3] > '9') continue;
        std::istringstream fields(line.substr(3));
        int cpu = -1;
        fields >> cpu;
        std::vector<unsigned long long> counters;
        for (unsigned long long value = 0; fields >> value;) counters.push_back(value);
        if (cpu < 0 || counters.size() < 4)
            throw Error("/proc/stat: cannot read the line '" + line + "' (expected cpuN and at least 4 counters)");
        CpuTimes entry;
        for (std::size_t i = 0; i < counters.size() && i < 8; ++i) entry.total += counters[i];  // guest time is inside user
        const unsigned long long idle = counters[3] + (counters.size() > 4 ? counters[4] : 0);
        entry.busy = entry.total - idle;
        times[cpu] = entry;
    }
    return times;
}

std::string read_proc_stat() {
    std::ifstream file("/proc/stat");
    std::ostringstream text;
    text << file.rdbuf();
    return file ? text.str() : std::string();
}

std::vector<int> usable_cpus() {
    std::vector<int> cpus;
    cpu_set_t mask;
    CPU_ZERO(&mask);
    if (sched_getaffinity(0, sizeof(mask), &mask) == 0)
        for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
            if (CPU_ISSET(cpu, &mask)) cpus.push_back(cpu);
    if (cpus.empty()) cpus.push_back(0);
    return cpus;
}

}  // namespace

CoreUsage core_usage_between(const std::string& before, const std::string& after, const std::vector<int>& cpus) {
    const std::map<int, CpuTimes> first = per_cpu_times(before), second = per_cpu_times(after);
    CoreUsage usage;
    usage.usable_cores = std::max<int>(1, static_cast<int>(cpus.size()));
    for (int cpu : cpus) {
        const auto a = first.find(cpu), b = second.find(cpu);
        if (a == first.end() || b == second.end() || b->second.total <= a->second.total || b->second.busy < a->second.busy) continue;
        usage.busy_cores += static_cast<double>(b->second.busy - a->second.busy) / static_cast<double>(b->second.total - a->second.total);
    }
    usage.busy_cores = std::min(usage.busy_cores, static_cast<double>(usage.usable_cores));
    return usage;
}

CoreUsage measure_core_usage(std::chrono::milliseconds window) {
    const std::vector<int> cpus = usable_cpus();
    const std::string before = read_proc_stat();
    std::this_thread::sleep_for(window);
    const std::string after = read_proc_stat();
    if (before.empty() || after.empty()) return CoreUsage{static_cast<int>(cpus.size()), 0.0};
    return core_usage_between(before, after, cpus);
}

void set_thread_count(int count) {
    if (count < 1 || count > 1024) throw Error("thread count " + std::to_string(count) + ": expected 1 to 1024");
    omp_set_num_threads(count);
}

int thread_count() { return omp_get_max_threads(); }

int free_core_count(const CoreUsage& usage) {
    const auto free_cores = static_cast<int>(std::lround(usage.usable_cores - usage.busy_cores));
    return std::clamp(free_cores, 1, std::max(1, usage.usable_cores));
}

}  // namespace convnet
