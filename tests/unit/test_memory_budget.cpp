// What a run needs of the machine's memory (core/memory.h, nn/costs.h): the arithmetic per optimiser and
// batch, saturation instead of overflow, the refusal's message, and a Network whose parameters
// cannot fit refused before they are allocated.
#include <convnet/core/error.h>
#include <convnet/core/format.h>
#include <convnet/core/memory.h>
#include <convnet/inspect/summary.h>
#include <convnet/nn/costs.h>
#include <convnet/nn/network.h>
#include <convnet/train/optim.h>

#include <gtest/gtest.h>
#include <unistd.h>

#include <limits>
#include <string>

namespace convnet::testing {
namespace {

constexpr std::int64_t kSaturated = std::numeric_limits<std::int64_t>::max();

PlanCosts small_totals() {
    PlanCosts totals;
    totals.trainable_parameters = 1000;
    totals.buffer_parameters = 10;
    totals.forward_activation_bytes = 100;
    totals.training_activation_bytes = 400;
    return totals;
}

TEST(MemoryBudget, TrainingCountsGradientsOptimiserStateAndAveragedCopies) {
    // Adam: every value, then a gradient and two moments per trainable value.
    MemoryNeed need = training_memory_need(small_totals(), 8, 2, 0);
    EXPECT_EQ(need.parameter_bytes, 4 * (1010 + 1000 * 3));
    EXPECT_EQ(need.activation_bytes, 400 * 8);
    EXPECT_EQ(need.batch, 8);
    EXPECT_EQ(need.total(), 4 * (1010 + 3000) + 3200);
    // With --ema, a second copy of every value (buffers too).
    EXPECT_EQ(training_memory_need(small_totals(), 8, 2, 1).parameter_bytes, 4 * (2 * 1010 + 3000));
    // Plain SGD keeps no state: values and gradients only.
    EXPECT_EQ(training_memory_need(small_totals(), 1, 0, 0).parameter_bytes, 4 * (1010 + 1000));
}

TEST(MemoryBudget, AdamAsTheSummaryCountsIt) {
    // The summary's "training with Adam" line and the estimate agree.
    const ModelSummary summary = summarize_model(read_model_file(std::string(CONVNET_SOURCE_DIR) + "/models/convnet1.model"));
    EXPECT_EQ(training_memory_need(summary.totals, 100, 2, 0).parameter_bytes, summary.totals.training_parameter_bytes);
    EXPECT_EQ(training_memory_need(summary.totals, 100, 2, 0).activation_bytes, 100 * summary.totals.training_activation_bytes);
}

// The checks read plan_costs, which skips the search behind the rounding warnings (up to a second
// a layer over a 40,000-pixel input): the summary's totals are the same numbers.
TEST(MemoryBudget, TotalsAloneAreTheSummarysTotals) {
    const ModelSpec spec = parse_model(
        "input 3x41x39\nconv2d out=8 kernel=4 stride=3\nbatchnorm2d\nrelu\nmaxpool2d kernel=2\n"
        "flatten name=f\nlinear out=5\nconcat from=fc1,f\nlinear out=3\n",
        "rounding.model");
    const ModelSummary summary = summarize_model(spec);
    ASSERT_FALSE(summary.warnings.empty());  // the case has windows that leave pixels out
    const PlanCosts totals = plan_costs(spec);
    const SummaryTotals& expected = summary.totals;
    EXPECT_EQ(totals.trainable_parameters, expected.trainable_parameters);
    EXPECT_EQ(totals.buffer_parameters, expected.buffer_parameters);
    EXPECT_EQ(training_memory_need(totals, 0, kAdamStateValuesPerParameter, 0).parameter_bytes, expected.training_parameter_bytes);
    EXPECT_EQ(totals.forward_activation_bytes, expected.forward_activation_bytes);
    EXPECT_EQ(totals.training_activation_bytes, expected.training_activation_bytes);
    EXPECT_EQ(totals.training_multiply_adds, expected.training_multiply_adds);
}

TEST(MemoryBudget, OptimisersReportTheirState) {
    EXPECT_EQ(make_optimizer(OptimizerOptions{})->state_values_per_parameter(), 2);  // adam
    OptimizerOptions sgd;
    sgd.name = "sgd";
    sgd.learning_rate = 0.1;
    EXPECT_EQ(make_optimizer(sgd)->state_values_per_parameter(), 1);  // momentum 0.9
    sgd.momentum = 0.0;
    EXPECT_EQ(make_optimizer(sgd)->state_values_per_parameter(), 0);
}

TEST(MemoryBudget, InferenceCountsTheArenaAndOneForwardPass) {
    const MemoryNeed need = inference_memory_need(small_totals(), 5);
    EXPECT_EQ(need.parameter_bytes, 4 * (1010 + 1000));  // values and the arena's gradients
    EXPECT_EQ(need.activation_bytes, 500);
}

TEST(MemoryBudget, SaturatesInsteadOfOverflowing) {
    PlanCosts totals;
    totals.trainable_parameters = std::int64_t{1} << 61;
    totals.training_activation_bytes = std::int64_t{1} << 40;
    const MemoryNeed need = training_memory_need(totals, 1 << 30, 2, 1);
    EXPECT_EQ(need.parameter_bytes, kSaturated);
    EXPECT_EQ(need.activation_bytes, kSaturated);
    EXPECT_EQ(need.total(), kSaturated);
    try {
        require_memory(need, std::int64_t{1} << 34, "m.model: training");
        FAIL() << "no error";
    } catch (const Error& error) {
        EXPECT_NE(std::string(error.what()).find("more than 8 EiB"), std::string::npos) << error.what();
    }
}

TEST(MemoryBudget, RefusesWithTheFiguresAndTheHint) {
    const MemoryNeed need{std::int64_t{40} << 20, std::int64_t{5} << 30, 200};
    EXPECT_NO_THROW(require_memory(need, (std::int64_t{40} << 20) + (std::int64_t{5} << 30), "m.model"));  // exactly fits
    EXPECT_NO_THROW(require_memory(need, 0, "m.model"));                                                   // unknown memory: not refused
    try {
        require_memory(need, std::int64_t{4} << 30, "m.model: training at --batch 200", "give --batch 20 or less");
        FAIL() << "no error";
    } catch (const Error& error) {
        // Sizes under a GiB in MiB (a newcomer read "parameters 0.0 GiB" for 40 MB), and two
        // decimals past it, so that a need just over the memory does not print as equal to it.
        EXPECT_STREQ(error.what(),
                     "m.model: training at --batch 200 needs at least 5.04 GiB (parameters 40.0 MiB, activations 5.00 GiB for 200 "
                     "images), more than this machine's memory (4.00 GiB): give --batch 20 or less");
    }
}

TEST(MemoryBudget, ARanksShareIsNamedAsSuch) {
    try {
        require_memory(MemoryNeed{std::int64_t{3} << 30, 0, 0}, std::int64_t{2} << 30, "m.model", "",
                       "this rank's share of the machine's 4.00 GiB");
        FAIL() << "no error";
    } catch (const Error& error) {
        EXPECT_STREQ(error.what(), "m.model needs at least 3.00 GiB, more than this rank's share of the machine's 4.00 GiB (2.00 GiB)");
    }
}

TEST(MemoryBudget, SizesReadInTheirUnits) {
    EXPECT_EQ(memory_text(512), "512 bytes");
    EXPECT_EQ(memory_text(23'200), "22.7 KiB");
    EXPECT_EQ(memory_text(std::int64_t{40} << 20), "40.0 MiB");
    EXPECT_EQ(memory_text(25'271'000'000), "23.54 GiB");
    EXPECT_EQ(memory_text(std::int64_t{5} << 40), "5.00 TiB");
}

TEST(MemoryBudget, LargestBatchThatFits) {
    const MemoryNeed need{1000, 100 * 50, 50};  // 100 bytes an image
    EXPECT_EQ(largest_batch(need, 1000 + 100 * 7 + 99), 7);
    EXPECT_EQ(largest_batch(need, 1050), 0);                    // the parameters and not one image
    EXPECT_EQ(largest_batch(need, 900), 0);                     // not the parameters
    EXPECT_EQ(largest_batch(MemoryNeed{1000, 0, 0}, 5000), 0);  // no batch counted
}

TEST(MemoryBudget, MachineMemoryIsAtMostThePhysicalMemory) {
    const std::int64_t physical = std::int64_t{sysconf(_SC_PHYS_PAGES)} * sysconf(_SC_PAGE_SIZE);
    const std::int64_t memory = machine_memory_bytes();
    EXPECT_GT(memory, 0);
    EXPECT_LE(memory, physical);
}

// Refused before the arena is allocated or a backend builds its trial plan (Linux would grant
// either and kill the process while they are written): 64 pairs of 2-million-wide linear layers,
// 256 G parameters, 2 TB with their gradients, each layer within the per-layer limit; and a
// network of few parameters whose activations take 512 GiB an image (a newcomer's find, with 48
// GiB: the trial plan for two images was allocated and zero-filled before any check).
TEST(MemoryBudget, NetworkLargerThanTheMachineIsRefusedBeforeAllocating) {
    std::string wide = "input 1x28x28\nflatten\n";
    for (int pair = 0; pair < 64; ++pair) wide += "linear out=2000000\nlinear out=1000\n";
    // 64 convolutions of 32 channels at 8192x8192, each output at the per-layer limit (8 GiB):
    // 68 K parameters, 512 GiB of activations kept for one training image.
    std::string deep = "input 1x8192x8192\n";
    for (int layer = 0; layer < 64; ++layer) deep += "conv2d out=32 kernel=1\n";
    deep += "globalavgpool2d\nflatten\nlinear out=10\n";
    for (const auto& [model, name] : {std::pair{wide, std::string("huge.model")}, std::pair{deep, std::string("activations.model")}}) {
        try {
            const Network network(parse_model(model, name));
            ADD_FAILURE() << name << ": no error";
        } catch (const Error& error) {
            const std::string message = error.what();
            EXPECT_EQ(message.rfind(name + ": building the network (", 0), 0u) << message;
            EXPECT_NE(message.find("more than this machine's memory"), std::string::npos) << message;
            EXPECT_NE(message.find("convnet summary " + name), std::string::npos) << message;
        }
    }
}

}  // namespace
}  // namespace convnet::testing
