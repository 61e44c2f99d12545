// The default thread count: reading /proc/stat samples and the rule that leaves busy cores alone.
#include <convnet/core/threads.h>

#include "test_support.h"

#include <gtest/gtest.h>

#include <sched.h>

namespace convnet {
namespace {

// Two /proc/stat readings 1 s apart (100 ticks per CPU): cpu0 spent 90 ticks in user and 10
// idle, cpu1 5 in system, 80 idle and 15 waiting for I/O (which counts as idle).
const char* kBefore =
    "cpu  2000 0 1000 9000 100 0 0 0 0 0\n"
    "cpu0 1000 0 500 4500 50 0 0 0 0 0\n"
    "cpu1 1000 0 500 4500 50 0 0 0 0 0\n"
    "intr 12345\nctxt 999\n";
const char* kAfter =
    "cpu  2090 0 1005 9090 115 0 0 0 0 0\n"
    "cpu0 1090 0 500 4510 50 0 0 0 0 0\n"
    "cpu1 1000 0 505 4580 65 0 0 0 0 0\n"
    "intr 12999\nctxt 1999\n";

TEST(Threads, BusyCoresAreSummedOverTheUsableCpus) {
    const CoreUsage both = core_usage_between(kBefore, kAfter, {0, 1});
    EXPECT_EQ(both.usable_cores, 2);
    EXPECT_NEAR(both.busy_cores, 0.90 + 0.05, 1e-12);
    const CoreUsage second_only = core_usage_between(kBefore, kAfter, {1});
    EXPECT_EQ(second_only.usable_cores, 1);
    EXPECT_NEAR(second_only.busy_cores, 0.05, 1e-12);
}

TEST(Threads, CpusMissingFromAReadingCountAsIdle) {
    const CoreUsage usage = core_usage_between(kBefore, kAfter, {0, 7});
    EXPECT_EQ(usage.usable_cores, 2);
    EXPECT_NEAR(usage.busy_cores, 0.90, 1e-12);
}

TEST(Threads, AMalformedCpuLineIsAnError) {
    testing::expect_error([] { core_usage_between("cpu0 12 x\n", kAfter, {0}); }, {"/proc/stat", "cpu0 12 x"});
}

TEST(Threads, FreeCoresLeaveBusyOnesAlone) {
    EXPECT_EQ(free_core_count({2, 0.03}), 2);  // a quiet machine keeps every core
    EXPECT_EQ(free_core_count({2, 1.0}), 1);   // one core busy: one thread
    EXPECT_EQ(free_core_count({2, 2.0}), 1);   // never fewer than one
    EXPECT_EQ(free_core_count({4, 1.4}), 3);
    EXPECT_EQ(free_core_count({4, 2.5}), 2);  // halves round up: 1.5 free cores is 2 threads
    EXPECT_EQ(free_core_count({1, 0.9}), 1);
}

TEST(Threads, MeasuringCountsThisProcesssCpus) {
    cpu_set_t mask;
    CPU_ZERO(&mask);
    ASSERT_EQ(sched_getaffinity(0, sizeof(mask), &mask), 0);
    const CoreUsage usage = measure_core_usage(std::chrono::milliseconds(20));
    EXPECT_EQ(usage.usable_cores, CPU_COUNT(&mask));
    EXPECT_GE(usage.busy_cores, 0.0);
    EXPECT_LE(usage.busy_cores, usage.usable_cores);
}

}  // namespace
}  // namespace convnet
