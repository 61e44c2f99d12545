// How many threads to run on a machine that may be doing something else: the cores this process
// may use (its affinity mask) less the cores other processes keep busy, sampled from /proc/stat.
// OpenMP splits every layer evenly over its threads, so a thread that shares its core with a busy
// process holds back all the others at each barrier: on 2 cores with one busy, 2 threads train
// slower than 1 (docs/PERFORMANCE.md, "one core busy").
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace convnet {

// What the cores were doing during a sample.
struct CoreUsage {
    int usable_cores = 1;     // CPUs in this process's affinity mask
    double busy_cores = 0.0;  // cores' worth of non-idle time, summed over the usable CPUs
};

// Usage between two readings of /proc/stat (`before` and `after`, its whole text), over the CPUs
// numbered in `cpus`. Busy is everything but idle and iowait, as top counts it. CPUs missing
// from either reading, or whose counters did not move, count as idle. Throws convnet::Error when
// a `cpuN` line cannot be read.
CoreUsage core_usage_between(const std::string& before, const std::string& after, const std::vector<int>& cpus);

// Samples /proc/stat over `window` (sleeping meanwhile) for this process's usable CPUs. Where
// /proc/stat cannot be read it reports no busy cores.
CoreUsage measure_core_usage(std::chrono::milliseconds window);

// The usable cores that are free: usable − busy, rounded to the nearest, between 1 and usable.
int free_core_count(const CoreUsage& usage);

// The threads every parallel region of the library uses from now on, the reference layers' and
// oneDNN's alike (both run on OpenMP: this is omp_set_num_threads). Throws convnet::Error unless
// 1 ≤ count ≤ 1024.
void set_thread_count(int count);
int thread_count();

}  // namespace convnet
